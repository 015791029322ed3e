//! RUD, the Reliable User Datagram protocol (draft-hallambaker-mesh-rud-00), reference
//! implementation. `docs/SPEC.md` in the repository is the normative profile this crate follows.
pub mod capture;
pub mod connection;
pub mod crypto;
pub mod endpoint;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod handshake;
pub mod http;
pub mod qlog;
pub mod service;
pub mod sim;
pub mod udp;
pub mod wire;
