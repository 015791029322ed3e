//! Errors of the HTTP binding.
use std::net::SocketAddr;

use crate::udp::UdpError;

/// Why starting an HTTP binding endpoint failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the path {0:?} must start with '/'")]
    Path(String),
    #[error(transparent)]
    Endpoint(#[from] UdpError),
}
