//! Flow control: how many payload octets the receiver lets the sender send, per stream and per
//! connection. Credits are cumulative limits (like QUIC's MAX_DATA): the sender may have sent
//! at most `limit` octets in total, and a limit never goes down.
//!
//! A credit update changes what the sender may do, so it takes effect only for a datagram
//! whose tag verified: [`Credit::on_credit`] and [`FlowControl`]'s update methods take the
//! [`OpenedDatagram`] that carried the new limit. The caller must pass the datagram of the
//! stream (or connection) the credit is about.
use std::collections::BTreeMap;

use super::auth::OpenedDatagram;

/// Sending would exceed a credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("flow control: {bytes} more octets exceed the credit ({available} available)")]
pub struct FlowBlocked {
    pub bytes: u64,
    pub available: u64,
}

/// The peer sent beyond the credit it was given: a protocol violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("flow control violated: {received} octets received, limit {limit}")]
pub struct FlowViolation {
    pub received: u64,
    pub limit: u64,
}

/// One send credit: a cumulative limit and the octets used so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credit {
    limit: u64,
    used: u64,
}

impl Credit {
    /// A credit of `initial_limit` octets, none used.
    #[must_use]
    pub fn new(initial_limit: u64) -> Self {
        Self {
            limit: initial_limit,
            used: 0,
        }
    }

    /// The current limit.
    #[must_use]
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Octets used.
    #[must_use]
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Octets that may still be sent.
    #[must_use]
    pub fn available(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// Whether sending `bytes` more would exceed the limit.
    //= docs/SPEC.md#flow-credit
    //# A sender MUST NOT exceed either credit
    #[must_use]
    pub fn would_block(&self, bytes: u64) -> bool {
        self.used.checked_add(bytes).is_none_or(|t| t > self.limit)
    }

    /// Uses `bytes` of the credit.
    ///
    /// # Errors
    /// [`FlowBlocked`] (nothing is used) when they do not fit.
    pub fn consume(&mut self, bytes: u64) -> Result<(), FlowBlocked> {
        if self.would_block(bytes) {
            return Err(FlowBlocked {
                bytes,
                available: self.available(),
            });
        }
        self.used = self.used.saturating_add(bytes);
        Ok(())
    }

    /// Raises the limit to `new_limit`, carried by the authenticated datagram `carrier`.
    /// Returns whether the limit grew; a lower or equal value is ignored.
    //= docs/SPEC.md#flow-credit
    //# a credit only grows (a lower value is ignored) and takes effect only when a datagram whose tag verified carries it.
    pub fn on_credit(&mut self, carrier: &OpenedDatagram<'_>, new_limit: u64) -> bool {
        let _ = carrier.counter(); // the proof is the point: only an opened datagram gets here
        if new_limit > self.limit {
            self.limit = new_limit;
            true
        } else {
            false
        }
    }
}

/// The connection credit and the credit of each stream (keyed by `K`, the caller's stream
/// handle).
#[derive(Debug, Clone)]
pub struct FlowControl<K: Ord> {
    connection: Credit,
    streams: BTreeMap<K, Credit>,
}

impl<K: Ord> FlowControl<K> {
    /// A connection credit of `connection_limit` and no stream.
    #[must_use]
    pub fn new(connection_limit: u64) -> Self {
        Self {
            connection: Credit::new(connection_limit),
            streams: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a stream with an initial credit.
    pub fn open_stream(&mut self, stream: K, initial_limit: u64) {
        self.streams.insert(stream, Credit::new(initial_limit));
    }

    /// Forgets a stream. Octets it used stay counted against the connection.
    pub fn close_stream(&mut self, stream: &K) {
        self.streams.remove(stream);
    }

    /// The connection credit.
    #[must_use]
    pub fn connection(&self) -> &Credit {
        &self.connection
    }

    /// A stream's credit.
    #[must_use]
    pub fn stream(&self, stream: &K) -> Option<&Credit> {
        self.streams.get(stream)
    }

    /// Whether `bytes` more on `stream` would exceed its credit or the connection's (an
    /// unknown stream is always blocked).
    #[must_use]
    pub fn would_block(&self, stream: &K, bytes: u64) -> bool {
        self.connection.would_block(bytes)
            || self
                .streams
                .get(stream)
                .is_none_or(|c| c.would_block(bytes))
    }

    /// Uses `bytes` of both credits.
    ///
    /// # Errors
    /// [`FlowBlocked`] (nothing is used) when they do not fit.
    pub fn consume(&mut self, stream: &K, bytes: u64) -> Result<(), FlowBlocked> {
        if self.would_block(stream, bytes) {
            let available = self
                .streams
                .get(stream)
                .map_or(0, Credit::available)
                .min(self.connection.available());
            return Err(FlowBlocked { bytes, available });
        }
        self.connection.consume(bytes)?;
        if let Some(c) = self.streams.get_mut(stream) {
            c.consume(bytes)?;
        }
        Ok(())
    }

    /// A new connection limit from an authenticated datagram (see [`Credit::on_credit`]).
    pub fn on_connection_credit(&mut self, carrier: &OpenedDatagram<'_>, new_limit: u64) -> bool {
        self.connection.on_credit(carrier, new_limit)
    }

    /// A new stream limit from an authenticated datagram (see [`Credit::on_credit`]).
    pub fn on_stream_credit(
        &mut self,
        carrier: &OpenedDatagram<'_>,
        stream: &K,
        new_limit: u64,
    ) -> bool {
        self.streams
            .get_mut(stream)
            .is_some_and(|c| c.on_credit(carrier, new_limit))
    }
}

/// The receive side of one credit: enforces the limit advertised and decides when to raise it
/// (when less than half the window remains, to consumed + window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveWindow {
    window: u64,
    limit: u64,
    received: u64,
    consumed: u64,
}

impl ReceiveWindow {
    /// A window of `window` octets; the first limit advertised is `window`.
    #[must_use]
    pub fn new(window: u64) -> Self {
        Self {
            window,
            limit: window,
            received: 0,
            consumed: 0,
        }
    }

    /// The limit advertised so far.
    #[must_use]
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// `bytes` of payload arrived in a verified datagram.
    ///
    /// # Errors
    /// [`FlowViolation`] when the peer exceeded the limit.
    pub fn on_received(&mut self, bytes: u64) -> Result<(), FlowViolation> {
        let received = self.received.saturating_add(bytes);
        if received > self.limit {
            return Err(FlowViolation {
                received,
                limit: self.limit,
            });
        }
        self.received = received;
        Ok(())
    }

    /// The application consumed `bytes`; returns the new limit to advertise, if it is time.
    pub fn on_consumed(&mut self, bytes: u64) -> Option<u64> {
        self.consumed = self.consumed.saturating_add(bytes).min(self.received);
        if self.limit.saturating_sub(self.consumed) < self.window / 2 {
            self.limit = self.consumed.saturating_add(self.window);
            Some(self.limit)
        } else {
            None
        }
    }
}
