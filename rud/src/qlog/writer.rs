//! The JSON Text Sequences writer: the header record, then one record per event.
use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use super::error::QlogError;
use super::event::QlogEvent;
use crate::handshake::Role;

/// qlog schema version written in the header.
pub const QLOG_VERSION: &str = "0.3";
/// qlog serialisation format written in the header.
pub const QLOG_FORMAT: &str = "JSON-SEQ";
/// Record separator that starts every record (RFC 7464 section 2).
pub const RECORD_SEPARATOR: u8 = 0x1E;
/// The file extension qlog tools expect for JSON-SEQ files.
pub const FILE_EXTENSION: &str = "sqlog";

/// Which end of the connection wrote the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VantagePointType {
    /// The initiator.
    Client,
    /// The responder.
    Server,
}

impl From<Role> for VantagePointType {
    fn from(role: Role) -> Self {
        match role {
            Role::Initiator => Self::Client,
            Role::Responder => Self::Server,
        }
    }
}

/// What the header record says about the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QlogConfig {
    /// Client (initiator) or server (responder).
    pub vantage_point: VantagePointType,
    /// A name for the endpoint (optional).
    pub name: Option<String>,
    /// A title for the trace (optional).
    pub title: Option<String>,
    /// Groups the traces of one connection (for example the hex key-log context, which both
    /// ends know), so tools can pair a client's and a server's trace.
    pub group_id: Option<String>,
    /// The time every event's `time` is relative to, since the Unix epoch: normally the `now`
    /// of the connection's first event.
    pub reference_time: Duration,
}

#[derive(Serialize)]
struct Header<'a> {
    qlog_version: &'static str,
    qlog_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    trace: Trace<'a>,
}

#[derive(Serialize)]
struct Trace<'a> {
    vantage_point: VantagePoint<'a>,
    common_fields: CommonFields<'a>,
}

#[derive(Serialize)]
struct VantagePoint<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(rename = "type")]
    ty: VantagePointType,
}

#[derive(Serialize)]
struct CommonFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<&'a str>,
    protocol_type: [&'static str; 1],
    time_format: &'static str,
    /// Milliseconds since the Unix epoch.
    reference_time: f64,
}

#[derive(Serialize)]
struct Record<'a> {
    time: f64,
    name: &'static str,
    data: &'a QlogEvent,
}

fn nanos(d: Duration) -> i128 {
    // A Duration holds at most about 1.8e28 ns, far below i128::MAX.
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
}

/// Milliseconds from `reference` to `now`, negative if `now` is earlier. The difference is
/// taken in integer nanoseconds first: as f64, milliseconds since 1970 keep only about a
/// quarter of a microsecond of precision.
#[must_use]
pub fn relative_millis(reference: Duration, now: Duration) -> f64 {
    (nanos(now) - nanos(reference)) as f64 / 1e6
}

/// Writes a qlog trace as JSON Text Sequences (RFC 7464): every record is 0x1E, one line of
/// JSON, `\n`. A record is written with one `write_all`; should a write fail half-way, readers
/// resynchronise at the next 0x1E (that is what the separator is for), so the writer goes on.
#[derive(Debug)]
pub struct QlogWriter<W: Write> {
    out: W,
    reference: Duration,
    events: u64,
}

impl<W: Write> QlogWriter<W> {
    /// Writes the header record.
    ///
    /// # Errors
    /// [`QlogError::Io`] if the writer fails.
    pub fn new(out: W, config: &QlogConfig) -> Result<Self, QlogError> {
        let mut w = Self {
            out,
            reference: config.reference_time,
            events: 0,
        };
        let header = Header {
            qlog_version: QLOG_VERSION,
            qlog_format: QLOG_FORMAT,
            title: config.title.as_deref(),
            trace: Trace {
                vantage_point: VantagePoint {
                    name: config.name.as_deref(),
                    ty: config.vantage_point,
                },
                common_fields: CommonFields {
                    group_id: config.group_id.as_deref(),
                    protocol_type: ["RUD"],
                    time_format: "relative",
                    reference_time: config.reference_time.as_nanos() as f64 / 1e6,
                },
            },
        };
        w.record(&header)?;
        Ok(w)
    }

    fn record<T: Serialize>(&mut self, value: &T) -> Result<(), QlogError> {
        let mut buf = vec![RECORD_SEPARATOR];
        // serde_json escapes control characters in strings, so no 0x1E or newline can appear
        // inside the JSON text.
        serde_json::to_writer(&mut buf, value)?;
        buf.push(b'\n');
        self.out.write_all(&buf)?;
        Ok(())
    }

    /// Writes one event that happened at `now` (since the Unix epoch, like every `now` in this
    /// crate); its `time` is milliseconds since the reference time.
    ///
    /// # Errors
    /// [`QlogError::Io`] if the writer fails.
    pub fn event(&mut self, now: Duration, ev: &QlogEvent) -> Result<(), QlogError> {
        self.record(&Record {
            time: relative_millis(self.reference, now),
            name: ev.name(),
            data: ev,
        })?;
        self.events += 1;
        Ok(())
    }

    /// Events written so far.
    #[must_use]
    pub fn events_written(&self) -> u64 {
        self.events
    }

    /// Flushes the underlying writer.
    ///
    /// # Errors
    /// [`QlogError::Io`] if flushing fails.
    pub fn flush(&mut self) -> Result<(), QlogError> {
        self.out.flush()?;
        Ok(())
    }

    /// Gives the underlying writer back (unflushed).
    #[must_use]
    pub fn into_inner(self) -> W {
        self.out
    }
}
