//! The connection layer (docs/SPEC.md sections 3.5, 3.6, 5): packetization and reassembly of
//! data datagrams, acknowledgements, loss recovery and congestion control, streams, rekeys and
//! path changes. Sans-IO like the handshake: time comes in as `now`, nothing here touches a
//! socket or a clock, and randomness comes from the caller's [`crate::handshake::Entropy`].
//!
//! [`Connection`] takes over an established [`crate::handshake::Session`]; see its module
//! documentation for the order in which to feed and poll it.
mod config;
mod conn;
mod event;
mod keys;
pub mod packetize;
mod path;
pub mod reassembly;
mod receive;
pub mod recovery;
mod stream;
#[cfg(test)]
mod tests;
mod ticket;
mod transmit;

pub use config::{ConnectionConfig, DEFAULT_MAX_DATAGRAM_PAYLOAD, DEFAULT_MAX_PACKET_SIZE};
pub use conn::{
    Connection, ConnectionCounters, GRACE_PTOS, INITIAL_CONNECTION_CREDIT, INITIAL_STREAM_CREDIT,
    IdSpace, StreamError, StreamStats, slot_of,
};
pub use event::{CloseReason, Event, Incoming, StreamHandle, StreamKind};
pub use keys::REKEY_TRANSCRIPT_LABEL;
pub use path::{
    AMPLIFICATION_FACTOR, FAILOVER_PTOS, HEARTBEAT_MAX_OCTETS, PATH_MAX_FAILURES, PathError,
    PathInfo,
};
pub use ticket::IssuedTicket;
