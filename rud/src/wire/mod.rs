//! The RUD wire codec: the one codec the implementation, the dissector, the conformance runner
//! and the fuzzers share. It follows docs/SPEC.md sections 3 and 6.
//!
//! Decoders are nom parsers over complete inputs that borrow from the input (zero copy), check
//! every length against SPEC's limits and the remaining input before slicing, and return a
//! [`DecodeError`] naming the byte offset, the field and the reason. Encoders append to a caller
//! buffer and report `encoded_len()` exactly. Structure is the codec's concern; protocol rules
//! (such as "one stream creation extension per datagram") live in [`validate`], so a tool can
//! show a well-formed but invalid datagram and say what rule it breaks.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod challenge;
pub mod complete;
pub mod data;
pub mod datagram;
pub mod describe;
pub mod element;
pub mod error;
pub mod error_message;
pub mod exchange;
pub mod ext;
pub mod extension;
pub mod hello;
pub mod limits;
pub mod message_type;
pub mod parse;
pub mod public_key;
pub mod responder_complete;
pub mod samples;
pub mod sealed;
pub mod sections;
pub mod stream_id;
pub mod validate;
pub mod varint;

pub use challenge::Challenge;
pub use complete::InitiatorComplete;
pub use data::{DataPacket, DatagramFlags, split_aad};
pub use datagram::{Datagram, UnknownDatagram};
pub use error::{DecodeError, EncodeError, ErrorKind};
pub use error_message::{ErrorCode, ErrorMessage};
pub use exchange::InitiatorExchange;
pub use ext::{Ack, ExtensionCode, ExtensionValue, Metrics, PartialAck};
pub use extension::{Extension, ExtensionList, Tag};
pub use hello::InitiatorHello;
pub use message_type::MessageType;
pub use public_key::{KeyAlgorithm, PublicKey};
pub use responder_complete::ResponderComplete;
pub use sealed::Sealed;
pub use sections::{
    CompleteMezzanine, DataPlaintext, ExchangeMezzanine, InnerSection, ResponderCompleteMezzanine,
};
pub use stream_id::{CONNECTION_STREAM_ID, StreamId};

/// The protocol/profile version this codec speaks (SPEC section 3.0.7). Carried in
/// InitiatorHello, InitiatorExchange, ResponderChallenge and ResponderDefer.
pub const PROFILE_VERSION: u64 = 1;

/// Version of every JSON / YAML document the toolkit writes (`schema_version`).
pub const SCHEMA_VERSION: u64 = 1;

/// Default UDP port of the UDP binding (SPEC section 3.2): 21077, "RU" in ASCII.
pub const DEFAULT_UDP_PORT: u16 = 21077;

/// pcapng Decryption Secrets Block secrets type for RUD key logs: "RUDK".
pub const PCAPNG_SECRETS_TYPE: u32 = 0x5255_444B;
