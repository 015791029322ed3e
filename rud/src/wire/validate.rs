//! Protocol rules over decoded datagrams (SPEC section 6.5). The codec accepts anything
//! well-formed; these checks say which rule a well-formed datagram breaks, so a receiver can
//! drop it and a dissector can show it as a protocol violation with the rule's anchor.
use serde::Serialize;

use super::PROFILE_VERSION;
use super::datagram::Datagram;
use super::ext::ExtensionCode;
use super::extension::ExtensionList;
use super::limits::MIN_INITIATOR_DATAGRAM;
use super::parse::offset_in;
use super::public_key::{KeyAlgorithm, PublicKey};

/// One broken rule: the SPEC anchor, what is wrong, and where (offset in the checked input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: &'static str,
    pub message: String,
    pub offset: Option<usize>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(
                f,
                "at byte {o}: {} [docs/SPEC.md#{}]",
                self.message, self.rule
            ),
            None => write!(f, "{} [docs/SPEC.md#{}]", self.message, self.rule),
        }
    }
}

fn v(rule: &'static str, message: impl Into<String>, offset: Option<usize>) -> Violation {
    Violation {
        rule,
        message: message.into(),
        offset,
    }
}

/// Checks the rules that the outer (plaintext) structure of a datagram can break. `raw` is the
/// input the datagram was decoded from, for offsets.
pub fn datagram(d: &Datagram<'_>, raw: &[u8]) -> Vec<Violation> {
    let mut out = Vec::new();
    let t = d.msg_type();
    //= docs/SPEC.md#message-type-known
    //# A receiver MUST drop a datagram of an unassigned type.
    if t.name().is_none() {
        out.push(v(
            "message-type-known",
            format!("unassigned message type 0x{:02x}", t.0),
            None,
        ));
        return out;
    }
    let sid = d.stream_id();
    let needs_connection_id = matches!(
        d,
        Datagram::InitiatorHello(_) | Datagram::InitiatorExchange(_)
    );
    //= docs/SPEC.md#connection-stream-id
    //# InitiatorHello and InitiatorExchange MUST carry the stream identifier of sixteen zero octets.
    if needs_connection_id && !sid.is_connection_id() {
        out.push(v(
            "connection-stream-id",
            "InitiatorHello and InitiatorExchange must use the sixteen-zero-octet stream identifier",
            Some(0),
        ));
    }
    //= docs/SPEC.md#initiator-min-size
    //# Every initiator connection datagram MUST be at least 1200 octets long.
    let initiator_connection = matches!(
        d,
        Datagram::InitiatorHello(_)
            | Datagram::InitiatorExchange(_)
            | Datagram::InitiatorComplete(_)
    );
    if initiator_connection && raw.len() < MIN_INITIATOR_DATAGRAM {
        out.push(v(
            "initiator-min-size",
            format!(
                "initiator connection datagram of {} octets, under {MIN_INITIATOR_DATAGRAM}",
                raw.len()
            ),
            None,
        ));
    }
    let version = match d {
        Datagram::InitiatorHello(m) => Some(m.version),
        Datagram::InitiatorExchange(m) => Some(m.version),
        Datagram::ResponderChallenge(m) | Datagram::ResponderDefer(m) => Some(m.version),
        _ => None,
    };
    //= docs/SPEC.md#version
    //# A receiver MUST NOT process a connection datagram of a version it does not support.
    if let Some(ver) = version.filter(|ver| *ver != PROFILE_VERSION) {
        out.push(v(
            "version",
            format!("unsupported version {ver} (this profile is {PROFILE_VERSION})"),
            None,
        ));
    }
    let mut keys: Vec<PublicKey<'_>> = Vec::new();
    let mut lists: Vec<&ExtensionList<'_>> = Vec::new();
    match d {
        Datagram::InitiatorHello(m) => lists.push(&m.extensions),
        Datagram::InitiatorExchange(m) => {
            keys.push(m.initiator_ephemeral);
            lists.push(&m.extensions);
        }
        Datagram::InitiatorComplete(m) => {
            keys.push(m.initiator_ephemeral);
            lists.push(&m.extensions);
        }
        Datagram::ResponderChallenge(m) | Datagram::ResponderDefer(m) => {
            keys.push(m.credential);
            keys.extend(m.ephemerals.iter().copied());
            lists.push(&m.extensions);
            //= docs/SPEC.md#challenge-ephemerals
            //# A ResponderChallenge or ResponderDefer MUST offer at least one ephemeral key.
            if m.ephemerals.is_empty() {
                out.push(v(
                    "challenge-ephemerals",
                    "no responder ephemeral key offered",
                    None,
                ));
            }
        }
        Datagram::ResponderComplete(m) => lists.push(&m.extensions),
        Datagram::Error(m) => lists.push(&m.extensions),
        Datagram::Data(m) => {
            //= docs/SPEC.md#flags-reserved
            //# Senders MUST set the reserved flag bits to zero; receivers MUST drop a datagram
            //# with any of them set.
            if m.flags.0 & super::DatagramFlags::RESERVED != 0 {
                out.push(v(
                    "flags-reserved",
                    format!("reserved flag bits set: 0x{:02x}", m.flags.0),
                    None,
                ));
            }
        }
        Datagram::Unknown(_) => {}
    }
    for k in keys {
        public_key(&k, raw, &mut out);
    }
    out.extend(extension_lists(&lists, raw));
    out
}

/// X448 keys are exactly 56 octets (RFC 7748); the 57-octet form is refused.
pub fn public_key(k: &PublicKey<'_>, raw: &[u8], out: &mut Vec<Violation>) {
    //= docs/SPEC.md#x448-key-length
    //# An X448 public key MUST be exactly 56 octets.
    if k.algorithm == KeyAlgorithm::X448 && k.key.len() != KeyAlgorithm::X448_KEY_LEN {
        out.push(v(
            "x448-key-length",
            format!("X448 public key of {} octets, not 56", k.key.len()),
            Some(offset_in(raw, k.key)),
        ));
    }
}

/// Stream creation rules over every extension list of one connection datagram (plaintext and
/// decrypted sections together: the rules speak of the datagram).
pub fn extension_lists(lists: &[&ExtensionList<'_>], raw: &[u8]) -> Vec<Violation> {
    rules(lists, raw, false)
}

/// The same rules for the plaintext of a data datagram, where StreamId and KeyExchange may also
/// appear without a creation extension: in the acceptance of a stream or of a Restart (SPEC
/// section 5.2), which only the connection state can tell apart from a violation.
pub fn data_extensions(lists: &[&ExtensionList<'_>], raw: &[u8]) -> Vec<Violation> {
    rules(lists, raw, true)
}

fn rules(lists: &[&ExtensionList<'_>], raw: &[u8], data: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    let all = || lists.iter().flat_map(|l| l.iter());
    let creation: Vec<_> = all()
        .filter(|e| {
            e.tag
                .code()
                .is_some_and(|c| ExtensionCode(c).is_stream_creation())
        })
        .collect();
    //= docs/SPEC.md#stream-creation-single
    //# Senders MUST NOT specify more than one stream creation extension in a single datagram;
    //# a receiver MUST reject a datagram with more than one.
    if let Some(second) = creation.get(1) {
        out.push(v(
            "stream-creation-single",
            format!(
                "{} stream creation extensions in one datagram",
                creation.len()
            ),
            Some(offset_in(raw, second.tag.0)),
        ));
    }
    let ids: Vec<_> = all()
        .filter(|e| e.tag.code() == Some(ExtensionCode::STREAM_ID.0))
        .collect();
    //= docs/SPEC.md#stream-creation-stream-id
    //# A datagram that creates a stream MUST carry exactly one StreamId extension.
    if !creation.is_empty() && ids.len() != 1 {
        out.push(v(
            "stream-creation-stream-id",
            format!(
                "stream creation with {} StreamId extensions (exactly one required)",
                ids.len()
            ),
            ids.get(1).map(|e| offset_in(raw, e.tag.0)),
        ));
    }
    //= docs/SPEC.md#creation-only-extensions
    //# StreamId, Credential, KeyExchange, UseKeyOf and EncryptionParameters MUST NOT appear in a
    //# datagram that does not create a stream.
    if creation.is_empty() {
        let acceptance =
            |c: u8| data && (c == ExtensionCode::STREAM_ID.0 || c == ExtensionCode::KEY_EXCHANGE.0);
        for e in all().filter(|e| {
            e.tag
                .code()
                .is_some_and(|c| ExtensionCode(c).is_creation_only() && !acceptance(c))
        }) {
            let name = e
                .tag
                .code()
                .and_then(|c| ExtensionCode(c).name())
                .unwrap_or("?");
            out.push(v(
                "creation-only-extensions",
                format!("{name} outside a stream creation datagram"),
                Some(offset_in(raw, e.tag.0)),
            ));
        }
    }
    // Keys inside KeyExchange extensions obey the same length rule as those in fields.
    for e in all().filter(|e| e.tag.code() == Some(ExtensionCode::KEY_EXCHANGE.0)) {
        if let Ok(super::ext::ExtensionValue::KeyExchange(k)) = e.parse_value() {
            public_key(&k, raw, &mut out);
        }
    }
    //= docs/SPEC.md#extension-once
    //# Ack, Metrics, Close, Error and UseKeyOf MUST appear at most once in a datagram.
    for code in [
        ExtensionCode::ACK,
        ExtensionCode::METRICS,
        ExtensionCode::CLOSE,
        ExtensionCode::ERROR,
        ExtensionCode::USE_KEY_OF,
        ExtensionCode::CREDIT,
    ] {
        let same: Vec<_> = all().filter(|e| e.tag.code() == Some(code.0)).collect();
        if let Some(second) = same.get(1) {
            out.push(v(
                "extension-once",
                format!(
                    "{} appears {} times",
                    code.name().unwrap_or("?"),
                    same.len()
                ),
                Some(offset_in(raw, second.tag.0)),
            ));
        }
    }
    out
}
