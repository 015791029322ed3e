//! What application handles ask of the driver; each carries the channel its answer goes to.
use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

use super::config::ConnectOptions;
use super::error::UdpError;
use super::handle::{ConnEvent, ConnectionInfo, ConnectionMetrics, EndpointMetrics};
use crate::connection::{StreamHandle, StreamKind, StreamStats};
use crate::endpoint::ConnectionId;

pub type Reply<T> = oneshot::Sender<Result<T, UdpError>>;
/// Where an answer arrives.
pub type Answer<T> = oneshot::Receiver<Result<T, UdpError>>;

/// What a successful connect hands back to the [`super::ConnectionHandle`].
#[derive(Debug)]
pub struct Connected {
    pub id: ConnectionId,
    pub info: ConnectionInfo,
    pub events: mpsc::UnboundedReceiver<ConnEvent>,
    /// The response to the first message (transactional first stream only).
    pub first_response: Option<Answer<Vec<u8>>>,
}

#[derive(Debug)]
pub enum Command {
    Connect {
        peer: SocketAddr,
        /// Boxed: the largest command by far (a ticket rides in it), and rare.
        options: Box<ConnectOptions>,
        reply: Reply<Connected>,
    },
    Open {
        conn: ConnectionId,
        kind: StreamKind,
        service: String,
        reply: Reply<StreamHandle>,
    },
    /// Queue a message (waits for send-buffer space); answers with its id.
    Send {
        conn: ConnectionId,
        stream: StreamHandle,
        bytes: Vec<u8>,
        reply: Reply<u64>,
    },
    /// Queue a request and answer with its response.
    Request {
        conn: ConnectionId,
        stream: StreamHandle,
        bytes: Vec<u8>,
        reply: Reply<Vec<u8>>,
    },
    /// Answer once everything queued on the stream was acknowledged.
    Flush {
        conn: ConnectionId,
        stream: StreamHandle,
        reply: Reply<()>,
    },
    CloseStream {
        conn: ConnectionId,
        stream: StreamHandle,
        reply: Reply<()>,
    },
    /// Close the connection; answers once it is closed.
    Close {
        conn: ConnectionId,
        code: u64,
        reason: String,
        reply: Reply<()>,
    },
    Metrics {
        conn: ConnectionId,
        reply: Reply<ConnectionMetrics>,
    },
    /// Open a standby path to another address of the peer.
    OpenPath {
        conn: ConnectionId,
        address: SocketAddr,
        reply: Reply<()>,
    },
    StreamStats {
        conn: ConnectionId,
        stream: StreamHandle,
        reply: Reply<Option<StreamStats>>,
    },
    EndpointMetrics {
        reply: Reply<EndpointMetrics>,
    },
    /// Close every connection, wait up to the grace period, then stop.
    Shutdown {
        reply: Reply<()>,
    },
}
