//! The connection layer (docs/SPEC.md sections 3.5, 3.6, 5): packetization and reassembly of
//! data datagrams, acknowledgements, loss recovery and congestion control, streams. Sans-IO like
//! the handshake: time comes in as `now`, nothing here touches a socket or a clock.
//!
//! Building blocks so far; the `Connection` that ties them to a handshake `Session` comes next.
pub mod packetize;
pub mod reassembly;
pub mod recovery;
