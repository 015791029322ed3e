//! The three key exchanges of draft-hallambaker-mesh-rud-00 section 4.1 (First Contact,
//! Immediate, Deferred) as sans-IO state machines (docs/SPEC.md sections 4 and 7).
//!
//! Nothing here opens a socket, reads a clock or draws from a global generator: the caller
//! passes `now` (time since the Unix epoch), the peer address, the datagram octets and an
//! [`Entropy`]; the cryptographic primitives come from the run-time [`CryptoProvider`] in the
//! configuration, so tests count X448 operations and fuzzers can plug in a cheap provider.
//!
//! [`Initiator`]: create it with [`Initiator::first_contact`] or [`Initiator::immediate`], then
//! feed it datagrams with `handle_datagram`, and poll in this order after every input:
//! `poll_transmit` (datagrams to send), `poll_event` (progress: challenge seen, established,
//! failed), `poll_timeout` (when to call `handle_timeout`, which resends the cached datagram).
//!
//! [`Responder`]: one per endpoint, shared by all initiators. `handle_datagram` returns a
//! [`ResponderOutcome`]: a reply to send, an established [`Session`], or why the datagram was
//! dropped. Before an initiator answers a challenge correctly the responder keeps no state for
//! it; a Complete with a bad cookie costs no X448 operation.
mod entropy;
mod initiator;
mod responder;
mod schedule;
mod strike;
pub mod ticket;
pub mod ticket_file;

use std::net::SocketAddr;
use std::time::Duration;

pub use entropy::{Entropy, OsEntropy, SeededEntropy};
pub use initiator::{Initiator, InitiatorConfig, InitiatorEvent};
pub(crate) use responder::reply_stream_id;
pub use responder::{DeferPolicy, DropReason, Responder, ResponderConfig, ResponderOutcome};
pub use schedule::{Mode, PROTOCOL_NAME, TrafficSecrets};
pub use strike::{EarlyVerdict, StrikeRegister};

use crate::crypto::CryptoError;
use crate::crypto::x448::X448PublicKey;
use crate::wire::{DecodeError, ErrorCode, ExtensionValue, InnerSection, validate};

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Which side of the connection this endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Initiator,
    Responder,
}

/// The stream the handshake creates (draft 4.1: the initiator's first datagram creates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstStream {
    /// The canonical identifier the initiator issued (StreamId extension): the responder sends
    /// on the stream with it.
    pub initiator_stream_id: Vec<u8>,
    /// The identifier the responder issued: the initiator sends on the stream with it.
    pub responder_stream_id: Vec<u8>,
    pub service: String,
    /// True for a transactional stream (StreamClient), false for asynchronous (StreamReceiver).
    pub transactional: bool,
    /// Principal credentials the initiator presented when it created the stream.
    pub credentials: Vec<PrincipalCredential>,
}

/// A principal credential (draft 3.4.2) carried opaquely in a Credential extension of the
/// stream creation datagram: validating it is the application's concern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalCredential {
    pub credential_type: u64,
    pub data: Vec<u8>,
}

/// The outcome of a completed key exchange, for the connection layer.
#[derive(Debug)]
pub struct Session {
    pub role: Role,
    pub mode: Mode,
    pub peer: SocketAddr,
    pub secrets: TrafficSecrets,
    pub initiator_credential: X448PublicKey,
    pub responder_credential: X448PublicKey,
    /// False after First Contact until the application has validated the responder's
    /// credential (it was learned from an unauthenticated Challenge).
    pub responder_authenticated: bool,
    /// The initiator's ephemeral public key: the key log context of this connection.
    pub context: [u8; 56],
    pub first_stream: FirstStream,
    /// The first payload carried by the handshake: on the responder, the initiator's request
    /// (from the Complete's ciphertext section, or the Exchange's early data); on the
    /// initiator, the responder's ResponderComplete payload (Immediate).
    pub payload: Vec<u8>,
    /// Early data (Immediate): on the responder, whether `payload` arrived as 0-RTT data (it is
    /// replayable and has no forward secrecy); on the initiator, whether the responder accepted
    /// it (if not, the request must be sent again on the stream).
    pub early_data: bool,
    /// The initiator's handshake datagram, kept so the connection layer can resend it
    /// byte-identical until the responder's first authenticated datagram arrives.
    pub retransmit: Option<Vec<u8>>,
    /// A ticketed connection owes a forward-secrecy rekey with the host's device key before it
    /// carries data that needs forward secrecy against compromise of the ticket key.
    pub rekey_owed: bool,
    /// Initiator: the round trip of its last handshake message and the reply that completed
    /// the handshake, when that message was not resent (Karn); the connection's first RTT
    /// sample, so its first probe timeouts are not the 1 s of an unknown path.
    pub handshake_rtt: Option<Duration>,
}

/// Why a handshake failed or a datagram was refused. Detailed reasons stay local: what goes to
/// the peer is at most an Error with code HandshakeFailed (docs/SPEC.md section 7.7).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    #[error("malformed datagram: {0}")]
    Malformed(#[from] DecodeError),
    #[error("datagram breaks {rule}: {message}")]
    Invalid { rule: &'static str, message: String },
    #[error("unexpected {message} in state {state}")]
    Unexpected {
        message: &'static str,
        state: &'static str,
    },
    #[error("the responder presented a credential other than the pinned key")]
    WrongResponderKey,
    #[error("unknown responder key id")]
    UnknownKeyId,
    #[error("bad cookie: {0}")]
    BadCookie(#[from] crate::crypto::cookie::CookieError),
    #[error("cryptographic failure: {0}")]
    Crypto(#[from] CryptoError),
    #[error("the stream creation rules are not met: {0}")]
    StreamCreation(&'static str),
    #[error("Immediate mode needs the responder's public key")]
    NeedResponderKey,
    #[error("no answer after {attempts} attempts{}", .hint.map(|c| format!(" (last hint from the peer: {c})")).unwrap_or_default())]
    Timeout {
        attempts: u32,
        hint: Option<ErrorCode>,
    },
    #[error("could not encode: {0}")]
    Encode(#[from] crate::wire::EncodeError),
}

/// What a stream creation datagram says about the stream it creates.
pub(crate) struct Creation {
    pub id: Vec<u8>,
    pub service: String,
    pub transactional: bool,
    pub credentials: Vec<PrincipalCredential>,
}

/// Checks a decrypted ciphertext or early-data section: exactly one stream creation extension
/// with exactly one StreamId, and returns the stream it creates with any principal credentials.
//= docs/SPEC.md#initiator-creates-stream
//# An initiator MUST include a stream creation extension in any connection datagram that has a
//# mezzanine or ciphertext section with extensions.
fn first_stream_of(inner: &InnerSection<'_>, raw: &[u8]) -> Result<Creation, HandshakeError> {
    if let Some(v) = validate::extension_lists(&[&inner.extensions], raw).first() {
        return Err(HandshakeError::Invalid {
            rule: v.rule,
            message: v.message.clone(),
        });
    }
    let mut id = None;
    let mut kind = None;
    let mut credentials = Vec::new();
    for e in inner.extensions.iter() {
        match e.parse_value() {
            Ok(ExtensionValue::StreamId(s)) => id = Some(s.to_vec()),
            Ok(ExtensionValue::StreamClient { service }) => kind = Some((service.to_owned(), true)),
            Ok(ExtensionValue::StreamReceiver { service }) => {
                kind = Some((service.to_owned(), false))
            }
            Ok(ExtensionValue::Credential {
                credential_type,
                data,
            }) => credentials.push(PrincipalCredential {
                credential_type,
                data: data.to_vec(),
            }),
            _ => {}
        }
    }
    match (id, kind) {
        (Some(id), Some((service, transactional))) => Ok(Creation {
            id,
            service,
            transactional,
            credentials,
        }),
        _ => Err(HandshakeError::StreamCreation(
            "no StreamClient or StreamReceiver with a StreamId",
        )),
    }
}
