//! The driver's records of traffic: the pcapng capture (with the key log's text in Decryption
//! Secrets Blocks ahead of the packets it decrypts) and one qlog file per connection.
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::error::UdpError;
use super::keylog_tee::TeeKeyLog;
use crate::capture::CaptureFile;
use crate::endpoint::ConnectionId;
use crate::handshake::Role;
use crate::qlog::{
    ConnectionState, ConnectionStateUpdated, PacketEvent, PacketHeader, QlogConfig, QlogEvent,
    QlogWriter, RawInfo, VantagePointType,
};
use crate::wire::Datagram;

#[derive(Debug)]
pub struct Recorder {
    pcap: Option<CaptureFile>,
    keylog: Arc<TeeKeyLog>,
    qlog_dir: Option<PathBuf>,
    qlogs: HashMap<ConnectionId, QlogWriter<BufWriter<File>>>,
    /// The first write failure; recording stops at it and shutdown reports it.
    failure: Option<UdpError>,
}

impl Recorder {
    /// # Errors
    /// [`UdpError::Qlog`] when the qlog directory cannot be created.
    pub fn new(
        pcap: Option<CaptureFile>,
        keylog: Arc<TeeKeyLog>,
        qlog_dir: Option<PathBuf>,
    ) -> Result<Self, UdpError> {
        if let Some(dir) = &qlog_dir {
            std::fs::create_dir_all(dir).map_err(|source| UdpError::Qlog {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(Self {
            pcap,
            keylog,
            qlog_dir,
            qlogs: HashMap::new(),
            failure: None,
        })
    }

    /// Whether a sent or received datagram needs its addresses worked out at all.
    pub fn wants_packets(&self) -> bool {
        self.pcap.is_some() || !self.qlogs.is_empty()
    }

    fn capture(&mut self, now: Duration, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let Some(pcap) = self.pcap.as_mut() else {
            return;
        };
        let secrets = self.keylog.take_pending();
        let mut result = Ok(());
        if !secrets.is_empty() {
            result = pcap.secrets(&secrets);
        }
        if result.is_ok() {
            result = pcap.udp(now, from, to, bytes);
        }
        if let Err(e) = result {
            tracing::warn!("capture stopped: {e}");
            self.pcap = None;
            self.failure.get_or_insert(UdpError::Capture(e));
        }
    }

    fn qlog(&mut self, now: Duration, conn: Option<ConnectionId>, sent: bool, bytes: &[u8]) {
        let Some(w) = conn.and_then(|c| self.qlogs.get_mut(&c)) else {
            return;
        };
        let Ok(d) = Datagram::decode(bytes) else {
            return;
        };
        let header = match &d {
            Datagram::Data(p) => PacketHeader::from(p),
            other => PacketHeader::connection(other.stream_id().0, other.msg_type()),
        };
        let ev = PacketEvent {
            header,
            raw: RawInfo {
                length: bytes.len() as u64,
            },
        };
        let ev = if sent {
            QlogEvent::PacketSent(ev)
        } else {
            QlogEvent::PacketReceived(ev)
        };
        // qlog is a diagnostic: a failed write is logged, not fatal (readers resynchronise).
        if let Err(e) = w.event(now, &ev) {
            tracing::warn!("qlog: {e}");
        }
    }

    /// A datagram sent from `local` to `peer`.
    pub fn sent(
        &mut self,
        now: Duration,
        conn: Option<ConnectionId>,
        local: SocketAddr,
        peer: SocketAddr,
        bytes: &[u8],
    ) {
        self.capture(now, local, peer, bytes);
        self.qlog(now, conn, true, bytes);
    }

    /// A datagram received from `peer` on `local`. Call after the endpoint handled it, so the
    /// secrets it produced (a responder's handshake keys) precede it in the capture.
    pub fn received(
        &mut self,
        now: Duration,
        conn: Option<ConnectionId>,
        peer: SocketAddr,
        local: SocketAddr,
        bytes: &[u8],
    ) {
        self.capture(now, peer, local, bytes);
        self.qlog(now, conn, false, bytes);
    }

    /// A connection was established: its qlog file starts.
    pub fn opened(&mut self, now: Duration, conn: ConnectionId, role: Role, peer: SocketAddr) {
        let Some(dir) = &self.qlog_dir else {
            return;
        };
        let vantage = VantagePointType::from(role);
        let side = match vantage {
            VantagePointType::Client => "client",
            VantagePointType::Server => "server",
        };
        let name = format!(
            "{}-{side}-{}-{}.{}",
            now.as_millis(),
            std::process::id(),
            conn.0,
            crate::qlog::FILE_EXTENSION
        );
        let path = dir.join(name);
        let file = match File::options().write(true).create_new(true).open(&path) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("qlog {}: {e}", path.display());
                return;
            }
        };
        let config = QlogConfig {
            vantage_point: vantage,
            name: Some(format!("rud {side}")),
            title: Some(format!("RUD connection {} with {peer}", conn.0)),
            group_id: None,
            reference_time: now,
        };
        match QlogWriter::new(BufWriter::new(file), &config) {
            Ok(mut w) => {
                let ev = QlogEvent::ConnectionStateUpdated(ConnectionStateUpdated {
                    old: None,
                    new: ConnectionState::Established,
                });
                let _ = w.event(now, &ev);
                self.qlogs.insert(conn, w);
            }
            Err(e) => tracing::warn!("qlog {}: {e}", path.display()),
        }
    }

    /// A connection ended: its qlog file is closed.
    pub fn closed(&mut self, now: Duration, conn: ConnectionId) {
        if let Some(mut w) = self.qlogs.remove(&conn) {
            let ev = QlogEvent::ConnectionStateUpdated(ConnectionStateUpdated {
                old: Some(ConnectionState::Established),
                new: ConnectionState::Closed,
            });
            let _ = w.event(now, &ev);
            if let Err(e) = w.flush() {
                tracing::warn!("qlog: {e}");
            }
        }
    }

    /// Writes pending secrets (a handshake that never sent a packet after logging) and flushes.
    ///
    /// # Errors
    /// The first capture failure of the run.
    pub fn finish(&mut self, now: Duration) -> Result<(), UdpError> {
        let conns: Vec<ConnectionId> = self.qlogs.keys().copied().collect();
        for c in conns {
            self.closed(now, c);
        }
        if let Some(mut pcap) = self.pcap.take() {
            let secrets = self.keylog.take_pending();
            let mut r = Ok(());
            if !secrets.is_empty() {
                r = pcap.secrets(&secrets);
            }
            r = r.and_then(|()| pcap.finish());
            if let Err(e) = r {
                self.failure.get_or_insert(UdpError::Capture(e));
            }
        }
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
