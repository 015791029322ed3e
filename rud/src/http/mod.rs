//! The HTTP binding (SPEC 3.2.1): RUD packets as the bodies of POST requests to
//! `/.well-known/rud` and of their responses, framed with 2-octet lengths. HTTP ports carry
//! transactional streams only (draft 3.2).
//!
//! [`serve`] and [`client`] return an [`EndpointHandle`] (re-exported from [`crate::udp`]):
//! the endpoint and its driver are the UDP binding's; only the transport differs: a
//! [`link::Link`] in place of sockets. The server answers each request
//! with what the endpoint has for that TCP peer address; the client posts what its endpoint
//! sends and polls with empty bodies while a peer may still answer.
//!
//! ```no_run
//! # async fn run() -> Result<(), rud::http::HttpError> {
//! use rud::http::HttpConfig;
//! use rud::udp::{ConnectOptions, UdpConfig};
//! let client = rud::http::client(UdpConfig::client(), HttpConfig::default())?;
//! let server = "127.0.0.1:8080".parse().unwrap();
//! let conn = client.connect(server, ConnectOptions::first_contact("echo", b"hi".to_vec())).await?;
//! println!("{:?}", conn.first_response().await?);
//! # Ok(()) }
//! ```
mod capture;
mod client;
mod config;
mod error;
pub mod framing;
pub(crate) mod link;
pub mod request;
mod server;

pub use crate::udp::EndpointHandle;
pub use client::client;
pub use config::{HttpConfig, MEDIA_TYPE, WELL_KNOWN_PATH};
pub use error::HttpError;
pub use server::serve;
