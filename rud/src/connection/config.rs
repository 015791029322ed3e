//! What a connection may do and hold (SPEC section 5.6 lists the defaults).
use std::sync::Arc;
use std::time::Duration;

use super::reassembly::ReassemblyConfig;
use crate::crypto::keylog::{KeyLog, NoKeyLog};
use crate::crypto::x448::{X448PublicKey, X448Secret};

/// Default maximum UDP payload of one packet (SPEC packet-fit).
pub const DEFAULT_MAX_PACKET_SIZE: usize = 1260;
/// Default message octets per datagram: a datagram's packets go out together, so this keeps
/// a datagram within the initial congestion window.
pub const DEFAULT_MAX_DATAGRAM_PAYLOAD: usize = 8 * 1024;

/// Configuration of one connection. `Default` gives the values of SPEC section 5.6.
#[derive(Clone)]
pub struct ConnectionConfig {
    /// Largest UDP payload of one packet.
    pub max_packet_size: usize,
    /// Message octets carried by one datagram at most; longer messages span datagrams.
    pub max_datagram_payload: usize,
    /// Largest message this endpoint sends or accepts.
    pub max_message_size: usize,
    /// Flow credit per stream (message octets buffered, not yet read by the application).
    pub stream_window: u64,
    /// Flow credit for the whole connection.
    pub connection_window: u64,
    /// Octets of messages queued or sent and not yet acknowledged, over all streams; `send`
    /// refuses beyond it.
    pub max_send_buffer: usize,
    /// Streams open at once (both creators together).
    pub max_streams: usize,
    /// Close when nothing authenticated arrived for this long.
    pub idle_timeout: Duration,
    /// Send an ack-eliciting datagram when nothing was sent for this long (NAT bindings).
    pub keep_alive: Option<Duration>,
    /// One-time identifiers kept issued ahead for each stream the peer sends on (0: off).
    pub one_time_ids: usize,
    /// Services peers may bind new streams to; `None` accepts every name.
    pub services: Option<Vec<String>>,
    /// Refuse asynchronous streams the peer creates (an HTTP port, SPEC 3.2.1).
    pub transactional_only: bool,
    /// Bounds of the reassembly buffer of each stream direction.
    pub reassembly: ReassemblyConfig,
    /// Carry PDM timing (Metrics extension) in every ack-eliciting datagram.
    pub pdm: bool,
    /// Responder: device keys, one of which the connection rekey mixes in (the handshake's key,
    /// or for a ticketed connection this host's own).
    pub device_keys: Vec<X448Secret>,
    /// Initiator: the responder device key the connection rekey mixes in. Defaults to the
    /// handshake's responder credential; a ticketed connection needs the host's key here.
    pub peer_device_key: Option<X448PublicKey>,
    /// Rekey the connection on its own after this many datagrams sealed on one stream key.
    pub rekey_after: u64,
    /// Where new traffic secrets are logged after a rekey.
    pub keylog: Arc<dyn KeyLog>,
    /// Paths held at once, the primary included (1: no standby paths, the old address is
    /// forgotten when the peer moves).
    pub max_paths: usize,
    /// Interval between heartbeats on each standby path.
    pub path_heartbeat: Duration,
}

impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("max_packet_size", &self.max_packet_size)
            .field("max_datagram_payload", &self.max_datagram_payload)
            .field("max_message_size", &self.max_message_size)
            .field("stream_window", &self.stream_window)
            .field("connection_window", &self.connection_window)
            .field("max_streams", &self.max_streams)
            .field("idle_timeout", &self.idle_timeout)
            .field("keep_alive", &self.keep_alive)
            .field("one_time_ids", &self.one_time_ids)
            .field("max_paths", &self.max_paths)
            .field("path_heartbeat", &self.path_heartbeat)
            .finish_non_exhaustive()
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            max_datagram_payload: DEFAULT_MAX_DATAGRAM_PAYLOAD,
            max_message_size: 16 << 20,
            stream_window: 16 << 20,
            connection_window: 64 << 20,
            max_send_buffer: 64 << 20,
            max_streams: 256,
            idle_timeout: Duration::from_secs(30),
            keep_alive: Some(Duration::from_secs(10)),
            one_time_ids: 0,
            services: None,
            transactional_only: false,
            reassembly: ReassemblyConfig::default(),
            pdm: true,
            device_keys: Vec::new(),
            peer_device_key: None,
            rekey_after: 1 << 40,
            keylog: Arc::new(NoKeyLog),
            max_paths: 4,
            path_heartbeat: Duration::from_secs(1),
        }
    }
}
