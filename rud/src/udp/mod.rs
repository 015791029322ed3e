//! The UDP binding: a tokio driver around the sans-IO [`crate::endpoint::Endpoint`].
//!
//! One task (the *driver*) owns the endpoint, its sockets, its timer and the optional capture,
//! qlog and key-log sinks; nothing else touches them, so the core needs no locks. Application
//! handles ([`EndpointHandle`], [`ConnectionHandle`]) talk to it over a channel and get answers on
//! one-shot channels. The clock is read only here: `now` is the Unix time read once at start,
//! advanced by a monotonic clock, so a wall-clock step cannot fire or stall every timer.
//!
//! ```no_run
//! # async fn run() -> Result<(), rud::udp::UdpError> {
//! use rud::udp::{ConnectOptions, UdpConfig, UdpEndpoint};
//! let client = UdpEndpoint::bind(&["0.0.0.0:0".parse().unwrap()], UdpConfig::client()).await?;
//! let peer = "127.0.0.1:21077".parse().unwrap();
//! let conn = client.connect(peer, ConnectOptions::first_contact("echo", b"hi".to_vec())).await?;
//! println!("{:?}", conn.first_response().await?);
//! client.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Sockets use plain `send_to`/`recv_from` (no sendmmsg/recvmmsg batching): docs/PERFORMANCE.md
//! measures why the system calls are not what limits the endpoint.
mod clock;
mod command;
mod config;
mod driver;
mod error;
mod handle;
mod keylog_tee;
mod recorder;
mod sockets;
pub(crate) mod transport;

pub use clock::Clock;
pub use config::{ConnectMode, ConnectOptions, ServerConfig, Ticket, UdpConfig};
pub use error::{UdpError, close_reason_text};
pub use handle::{
    ConnEvent, ConnectionHandle, ConnectionInfo, ConnectionMetrics, EndpointHandle,
    EndpointMetrics, EventStream,
};

/// The endpoint handle under the name of the binding that binds sockets
/// (`UdpEndpoint::bind`). The HTTP binding returns the same type, as
/// [`EndpointHandle`]: the driver and the API are shared, only the transport differs.
pub type UdpEndpoint = EndpointHandle;
pub use keylog_tee::TeeKeyLog;
