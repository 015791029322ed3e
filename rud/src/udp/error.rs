//! Errors of the UDP binding.
use std::net::SocketAddr;
use std::time::Duration;

use crate::capture::CaptureError;
use crate::connection::{CloseReason, StreamError};
use crate::handshake::HandshakeError;
use crate::wire::ErrorCode;

/// Why a UDP binding call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UdpError {
    #[error("no local address given")]
    NoAddress,
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no local socket can reach {0} (bind one of its address family)")]
    NoRoute(SocketAddr),
    #[error("responder configuration: {0}")]
    Responder(HandshakeError),
    #[error("cannot start a handshake: {0}")]
    Start(HandshakeError),
    #[error("the responder at {peer} presented a key other than the one given")]
    WrongResponderKey { peer: SocketAddr },
    #[error("{}", handshake_text(*.peer, .source))]
    Handshake {
        peer: SocketAddr,
        source: HandshakeError,
    },
    #[error("no connection to {peer} within {timeout:?}")]
    Timeout { peer: SocketAddr, timeout: Duration },
    #[error("the peer refused the stream (code {code})")]
    StreamRefused { code: u64 },
    #[error("the stream was closed (code {code}{})", if .reason.is_empty() { String::new() } else { format!(": {}", .reason) })]
    StreamClosed { code: u64, reason: String },
    #[error("{0}")]
    Stream(#[from] StreamError),
    #[error("{0}")]
    Path(#[from] crate::connection::PathError),
    #[error("the connection ended: {}", close_reason_text(.0))]
    Closed(CloseReason),
    #[error("no such connection (it ended)")]
    UnknownConnection,
    #[error("capture: {0}")]
    Capture(#[from] CaptureError),
    #[error("qlog directory {path}: {source}")]
    Qlog {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the endpoint has shut down")]
    Shutdown,
}

fn handshake_text(peer: SocketAddr, e: &HandshakeError) -> String {
    match e {
        HandshakeError::Timeout {
            hint: Some(code), ..
        } if *code == ErrorCode::HANDSHAKE_FAILED => format!(
            "the responder at {peer} refused the handshake (HandshakeFailed): is the responder key right?"
        ),
        HandshakeError::Timeout { attempts, hint } => format!(
            "no answer from {peer} after {attempts} attempts{}",
            hint.map(|c| format!(" (last hint: {c})"))
                .unwrap_or_default()
        ),
        other => format!("handshake with {peer} failed: {other}"),
    }
}

/// One line saying why a connection ended.
pub fn close_reason_text(r: &CloseReason) -> String {
    match r {
        CloseReason::Local { code, reason } => format!("closed here (code {code}) {reason}"),
        CloseReason::Peer { code, reason } => format!("closed by the peer (code {code}) {reason}"),
        CloseReason::IdleTimeout => "idle timeout (nothing authenticated arrived)".into(),
        CloseReason::StateLost => "the peer lost its state".into(),
        CloseReason::RekeyFailed => "the rekey was not confirmed".into(),
        CloseReason::ProtocolViolation(s) => format!("protocol violation: {s}"),
        CloseReason::Internal(s) => format!("internal failure: {s}"),
    }
    .trim_end()
    .to_owned()
}
