//! What a connection reports to its application, and the handles it gives out.
use std::net::SocketAddr;

use crate::handshake::PrincipalCredential;

/// A stream of this connection, stable across Restart and rekey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamHandle(pub u64);

/// The two stream characteristics of draft section 3.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamKind {
    /// Requests from the creator, each answered by a response (StreamClient).
    Transactional,
    /// Messages from the creator to the peer; only control datagrams flow back
    /// (StreamReceiver).
    Asynchronous,
}

/// A message read from a stream. On a transactional stream `id` pairs a response with its
/// request: the server answers request `id` with `respond(stream, id, ..)`, and the client
/// reads the response with the `id` that `send` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub id: u64,
    pub bytes: Vec<u8>,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// This endpoint closed it.
    Local { code: u64, reason: String },
    /// The peer closed it (Close on the connection's first stream).
    Peer { code: u64, reason: String },
    /// Nothing authenticated arrived for the idle timeout.
    IdleTimeout,
    /// The peer said it has no state for the connection (a StateLost Error, then silence).
    StateLost,
    /// A forward-secrecy rekey was not confirmed in time (or the peer could not derive it).
    RekeyFailed,
    /// The peer broke a rule of SPEC; the detail stays local.
    ProtocolViolation(String),
    /// A local failure (counters exhausted, encoding failure).
    Internal(String),
}

/// Events, polled with `Connection::poll_event` after every input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer created a stream, bound to `service`.
    StreamOpened {
        stream: StreamHandle,
        service: String,
        kind: StreamKind,
        credentials: Vec<PrincipalCredential>,
    },
    /// The peer accepted a stream this endpoint created: further messages can go.
    StreamAccepted { stream: StreamHandle },
    /// The peer refused a stream this endpoint created (an Error extension with the code).
    StreamRefused { stream: StreamHandle, code: u64 },
    /// A message can be read with `Connection::read`.
    Readable { stream: StreamHandle },
    /// A stream was closed, by the peer or after this endpoint's Close was acknowledged.
    StreamClosed {
        stream: StreamHandle,
        code: u64,
        reason: String,
        by_peer: bool,
    },
    /// A Restart completed: the stream runs on a new generation (and new key data if
    /// `rekeyed`).
    StreamRestarted { stream: StreamHandle, rekeyed: bool },
    /// The connection forward-secrecy rekey was confirmed by an authenticated datagram under
    /// the new keys.
    Rekeyed { epoch: u32 },
    /// The peer's address changed (after a datagram from the new one authenticated).
    PathChanged { from: SocketAddr, to: SocketAddr },
    /// The new path proved it receives what is sent to it.
    PathValidated { address: SocketAddr },
    /// A standby path left unanswered three heartbeats in a row and was dropped.
    PathFailed { address: SocketAddr },
    /// The peer (the responder) issued a ticket on this connection (SPEC 7.10).
    Ticket(super::ticket::IssuedTicket),
    /// The connection ended; nothing more will be sent or delivered.
    Closed(CloseReason),
}
