//! Fuzzing entry points (cargo feature `fuzzing`), shared by the cargo-fuzz targets in `fuzz/`
//! and by the corpus replay test (`tests/tests/fuzz_corpus.rs`), so a crash found by libFuzzer
//! reproduces under plain `cargo test`. docs/FUZZING.md lists the targets and their invariants.
//!
//! Every entry point accepts any input without panicking, except through the assertions below:
//! each one is an invariant of the codec, and a failing one is a bug for fuzzing to report.
//!
//! * `decode_*` (one per [`Element`]): decode → describe → validate; when the input decodes,
//!   re-encode it (exactly `encoded_len()` octets, never longer than the input), decode the
//!   re-encoding and require the same value, description, rules broken and bytes (the minimal
//!   re-encoding is a fixed point). Every known extension value in a decoded list re-encodes and
//!   parses back to itself.
//! * [`roundtrip_structured`]: an owned [`Message`] model (lengths and counts clamped to
//!   `wire::limits`) is built into the borrowed codec structs, encoded and decoded; the encoder
//!   may refuse a value, but a value it accepts must decode to exactly what was built.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use arbitrary::{Arbitrary, Unstructured};
use serde_json::Value;

use crate::wire::element::{self, Element};
use crate::wire::extension::END_OF_LIST;
use crate::wire::limits::{
    MAX_ACK_BITMAP, MAX_ACK_PARTIALS, MAX_ACK_RANGES, MAX_COOKIE_LEN, MAX_EPHEMERALS,
    MAX_EXTENSION_VALUE, MAX_EXTENSIONS, MAX_KEY_ID_LEN, MAX_NAME_LEN, MAX_ONE_TIME_IDS,
    MAX_PACKETS_PER_DATAGRAM, MAX_PUBLIC_KEY_LEN, MAX_STREAM_ID_LEN, MAX_TAG_LEN, MAX_VERSIONS,
    TAG_LEN,
};
use crate::wire::parse::{self, PResult};
use crate::wire::samples::{self, OwnedExtension};
use crate::wire::validate::{self, Violation};
use crate::wire::{
    Ack, Challenge, CompleteMezzanine, DataPacket, DataPlaintext, Datagram, DatagramFlags,
    DecodeError, EncodeError, ErrorCode, ErrorMessage, ExchangeMezzanine, Extension, ExtensionList,
    ExtensionValue, InitiatorComplete, InitiatorExchange, InitiatorHello, InnerSection,
    KeyAlgorithm, MessageType, Metrics, PartialAck, PublicKey, ResponderComplete,
    ResponderCompleteMezzanine, Sealed, StreamId, UnknownDatagram, describe, split_aad, varint,
};

/// A fuzz target's entry point: any input, no panic unless an invariant breaks.
pub type EntryPoint = fn(&[u8]);

/// Every byte-input entry point, by fuzz target name (`fuzz/fuzz_targets/<name>.rs`). The corpus
/// replay test looks targets up here; `vector_loader` lives in the fuzz crate (it needs
/// rud-conform, which depends on this crate).
pub mod connection;
pub mod handshake;
pub mod http;
pub mod keys;

pub const TARGETS: &[(&str, EntryPoint)] = &[
    ("decode_datagram", decode_datagram),
    ("decode_data_plaintext", decode_data_plaintext),
    ("decode_inner_section", decode_inner_section),
    ("decode_exchange_mezzanine", decode_exchange_mezzanine),
    ("decode_complete_mezzanine", decode_complete_mezzanine),
    (
        "decode_responder_complete_mezzanine",
        decode_responder_complete_mezzanine,
    ),
    ("decode_extension_list", decode_extension_list),
    ("roundtrip_structured", roundtrip_structured),
    ("handshake", handshake::handshake),
    ("connection", connection::connection),
    ("keylog_parser", keys::keylog_parser),
    ("keyfile_parser", keys::keyfile_parser),
    ("http_request", http::http_request),
];

pub fn decode_datagram(data: &[u8]) {
    decode_element(Element::Datagram, data);
}

pub fn decode_data_plaintext(data: &[u8]) {
    decode_element(Element::DataPlaintext, data);
}

pub fn decode_inner_section(data: &[u8]) {
    decode_element(Element::InnerSection, data);
}

pub fn decode_exchange_mezzanine(data: &[u8]) {
    decode_element(Element::ExchangeMezzanine, data);
}

pub fn decode_complete_mezzanine(data: &[u8]) {
    decode_element(Element::CompleteMezzanine, data);
}

pub fn decode_responder_complete_mezzanine(data: &[u8]) {
    decode_element(Element::ResponderCompleteMezzanine, data);
}

pub fn decode_extension_list(data: &[u8]) {
    decode_element(Element::ExtensionList, data);
}

// ---------------------------------------------------------------------------------------------
// Decode targets
// ---------------------------------------------------------------------------------------------

/// What one decode of an element produced, owned so that decodes of different buffers compare.
#[derive(Debug)]
struct Checked {
    /// `Debug` of the decoded value: equal strings mean equal values, whatever the borrow.
    value: String,
    /// The description, without what depends on the octets (see [`comparable`]).
    description: Value,
    violations: Vec<Violation>,
    /// The minimal re-encoding.
    encoding: Vec<u8>,
}

/// Decodes `data` as `el` through the shared entry point ([`element::decode`]) and through the
/// element's own decoder, and checks the invariants listed in the module documentation.
pub fn decode_element(el: Element, data: &[u8]) {
    let shared = element::decode(el, data);
    let first = inspect(el, data);
    let first = match (shared, first) {
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "element::decode and the element's decoder disagree");
            assert!(
                a.offset <= data.len(),
                "error offset {} past the input",
                a.offset
            );
            let _ = a.to_string();
            return;
        }
        (Ok(shared), Ok(first)) => {
            assert_eq!(
                comparable(shared.description),
                first.description,
                "element::decode describes differently"
            );
            assert_eq!(shared.violations, first.violations, "validation differs");
            first
        }
        (a, b) => panic!("element::decode gives {a:?}, the element's decoder {b:?}"),
    };
    let second = match inspect(el, &first.encoding) {
        Ok(s) => s,
        Err(e) => panic!(
            "the re-encoding {} does not decode: {e}",
            hex::encode(&first.encoding)
        ),
    };
    assert_eq!(
        first.value, second.value,
        "decode→encode→decode changed the value"
    );
    assert_eq!(
        first.description, second.description,
        "decode→encode→decode changed the description"
    );
    assert_eq!(
        first.encoding, second.encoding,
        "the minimal re-encoding is not a fixed point"
    );
    let rules = |c: &Checked, drop_size: bool| -> Vec<&'static str> {
        c.violations
            .iter()
            .map(|v| v.rule)
            .filter(|r| !(drop_size && *r == "initiator-min-size"))
            .collect()
    };
    // Only the 1200-octet minimum depends on the length, which shrinks when varints do.
    let shrunk = first.encoding.len() != data.len();
    assert_eq!(
        rules(&first, shrunk),
        rules(&second, shrunk),
        "decode→encode→decode changed the rules broken"
    );
    if el == Element::Datagram
        && let Ok(Datagram::Data(m)) = Datagram::decode(&first.encoding)
    {
        match split_aad(&first.encoding) {
            Ok((aad, _)) => assert_eq!(aad.len(), m.aad_len(), "aad_len disagrees with split_aad"),
            Err(e) => panic!("split_aad refuses a data packet that decodes: {e}"),
        }
    }
}

/// A description without what depends on the input's octets rather than on the value: a
/// datagram's `length` and a varint's `minimal`.
fn comparable(mut description: Value) -> Value {
    if let Value::Object(o) = &mut description {
        o.remove("length");
        o.remove("minimal");
    }
    description
}

fn inspect(el: Element, bytes: &[u8]) -> Result<Checked, DecodeError> {
    match el {
        Element::Datagram => check::<Datagram<'_>>(bytes),
        Element::DataPlaintext => check::<DataPlaintext<'_>>(bytes),
        Element::InnerSection => check::<InnerSection<'_>>(bytes),
        Element::ExchangeMezzanine => check::<ExchangeMezzanine<'_>>(bytes),
        Element::CompleteMezzanine => check::<CompleteMezzanine<'_>>(bytes),
        Element::ResponderCompleteMezzanine => check::<ResponderCompleteMezzanine<'_>>(bytes),
        Element::ExtensionList => check::<ExtensionList<'_>>(bytes),
        Element::Varint => check::<VarintElement>(bytes),
    }
}

/// The parts of a decoded element the invariants look at.
/// The parse / encode / encoded_len of a [`Decodable`] that are its type's own codec.
macro_rules! codec_of {
    ($a:lifetime, $t:ident) => {
        fn parse(i: &$a [u8]) -> PResult<$a, Self> {
            $t::decode(i)
        }
        fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
            $t::encode(self, out)
        }
        fn encoded_len(&self) -> usize {
            $t::encoded_len(self)
        }
    };
}

trait Decodable<'a>: Sized + std::fmt::Debug {
    fn parse(i: &'a [u8]) -> PResult<'a, Self>;
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError>;
    fn encoded_len(&self) -> usize;
    fn describe(&self) -> Value;
    /// The same rules `element::decode` checks for this element.
    fn validate(&self, raw: &[u8]) -> Vec<Violation>;
    fn lists(&self) -> Vec<&ExtensionList<'a>> {
        Vec::new()
    }
    fn sealed(&self) -> Vec<Sealed<'a>> {
        Vec::new()
    }
    fn keys(&self) -> Vec<PublicKey<'a>> {
        Vec::new()
    }
}

fn check<'a, T: Decodable<'a>>(bytes: &'a [u8]) -> Result<Checked, DecodeError> {
    let v = parse::all(bytes, T::parse)?;
    let mut encoding = Vec::new();
    if let Err(e) = v.encode(&mut encoding) {
        panic!("a decoded value does not re-encode: {e}; value {v:?}");
    }
    assert_eq!(
        encoding.len(),
        v.encoded_len(),
        "encoded_len() differs from the octets written"
    );
    assert!(
        encoding.len() <= bytes.len(),
        "the minimal re-encoding ({} octets) is longer than the input ({})",
        encoding.len(),
        bytes.len()
    );
    for list in v.lists() {
        assert!(
            list.0.len() <= MAX_EXTENSIONS,
            "list over the limit decoded"
        );
        for e in list.iter() {
            extension(e);
        }
    }
    for s in v.sealed() {
        if !s.0.is_empty() {
            assert_eq!(
                s.tag().len(),
                TAG_LEN,
                "a sealed section's tag is not 16 octets"
            );
            assert_eq!(s.ciphertext().len() + TAG_LEN, s.0.len());
        }
    }
    for k in v.keys() {
        assert!(
            k.key.len() <= MAX_PUBLIC_KEY_LEN,
            "public key over the limit decoded"
        );
    }
    let violations = v.validate(bytes);
    for x in &violations {
        if let Some(o) = x.offset {
            assert!(o <= bytes.len(), "violation offset {o} past the input: {x}");
        }
        let _ = x.to_string();
    }
    let description = v.describe();
    let mut tree = String::new();
    describe::render_tree(&description, &mut tree);
    if let Err(e) = serde_json::to_string(&description) {
        panic!("description does not serialize: {e}");
    }
    Ok(Checked {
        value: format!("{v:?}"),
        description,
        violations,
        encoding,
    })
}

/// A decoded extension: well-formed tag, a typed value that re-encodes and parses back.
fn extension(e: &Extension<'_>) {
    assert!(
        e.tag.is_well_formed() && e.tag.0 != [END_OF_LIST],
        "malformed tag decoded"
    );
    assert!(e.value.len() <= MAX_EXTENSION_VALUE);
    let v = match e.parse_value() {
        Ok(v) => v,
        Err(err) => panic!("a decoded list holds a value that does not parse: {err:?}"),
    };
    let Some(code) = v.code() else {
        return;
    };
    assert_eq!(Some(code.0), e.tag.code(), "typed value under another tag");
    let mut value = Vec::new();
    if let Err(err) = v.encode_value(&mut value) {
        panic!("a decoded extension value does not re-encode: {err}; value {v:?}");
    }
    assert!(
        value.len() <= e.value.len(),
        "re-encoded extension value longer than received"
    );
    match Extension::new(e.tag.0, &value).parse_value() {
        Ok(back) => assert_eq!(back, v, "extension value changed on re-encoding"),
        Err(err) => panic!(
            "re-encoded extension value {} does not parse: {err:?}",
            hex::encode(&value)
        ),
    }
}

impl<'a> Decodable<'a> for Datagram<'a> {
    fn parse(i: &'a [u8]) -> PResult<'a, Self> {
        Datagram::parse(i)
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        Datagram::encode(self, out)
    }
    fn encoded_len(&self) -> usize {
        Datagram::encoded_len(self)
    }
    fn describe(&self) -> Value {
        comparable(describe::datagram(self, 0))
    }
    fn validate(&self, raw: &[u8]) -> Vec<Violation> {
        validate::datagram(self, raw)
    }
    fn lists(&self) -> Vec<&ExtensionList<'a>> {
        match self {
            Datagram::InitiatorHello(m) => vec![&m.extensions],
            Datagram::InitiatorExchange(m) => vec![&m.extensions],
            Datagram::InitiatorComplete(m) => vec![&m.extensions],
            Datagram::ResponderChallenge(m) | Datagram::ResponderDefer(m) => vec![&m.extensions],
            Datagram::ResponderComplete(m) => vec![&m.extensions],
            Datagram::Error(m) => vec![&m.extensions],
            Datagram::Data(_) | Datagram::Unknown(_) => Vec::new(),
        }
    }
    fn sealed(&self) -> Vec<Sealed<'a>> {
        match self {
            Datagram::InitiatorExchange(m) => vec![m.mezzanine],
            Datagram::InitiatorComplete(m) => vec![m.mezzanine],
            Datagram::ResponderComplete(m) => vec![m.mezzanine],
            _ => Vec::new(),
        }
    }
    fn keys(&self) -> Vec<PublicKey<'a>> {
        match self {
            Datagram::InitiatorExchange(m) => vec![m.initiator_ephemeral],
            Datagram::InitiatorComplete(m) => vec![m.initiator_ephemeral],
            Datagram::ResponderChallenge(m) | Datagram::ResponderDefer(m) => {
                assert!(m.ephemerals.len() as u64 <= MAX_EPHEMERALS);
                let mut k = vec![m.credential];
                k.extend(m.ephemerals.iter().copied());
                k
            }
            _ => Vec::new(),
        }
    }
}

impl<'a> Decodable<'a> for DataPlaintext<'a> {
    codec_of!('a, DataPlaintext);
    fn describe(&self) -> Value {
        describe::data_plaintext(self)
    }
    fn validate(&self, raw: &[u8]) -> Vec<Violation> {
        validate::data_extensions(&[&self.extensions], raw)
    }
    fn lists(&self) -> Vec<&ExtensionList<'a>> {
        vec![&self.extensions]
    }
}

impl<'a> Decodable<'a> for InnerSection<'a> {
    codec_of!('a, InnerSection);
    fn describe(&self) -> Value {
        describe::inner_section(self)
    }
    fn validate(&self, raw: &[u8]) -> Vec<Violation> {
        validate::extension_lists(&[&self.extensions], raw)
    }
    fn lists(&self) -> Vec<&ExtensionList<'a>> {
        vec![&self.extensions]
    }
}

fn key_rules(k: &PublicKey<'_>, raw: &[u8]) -> Vec<Violation> {
    let mut v = Vec::new();
    validate::public_key(k, raw, &mut v);
    v
}

impl<'a> Decodable<'a> for ExchangeMezzanine<'a> {
    codec_of!('a, ExchangeMezzanine);
    fn describe(&self) -> Value {
        describe::exchange_mezzanine(self)
    }
    fn validate(&self, raw: &[u8]) -> Vec<Violation> {
        key_rules(&self.credential, raw)
    }
    fn lists(&self) -> Vec<&ExtensionList<'a>> {
        vec![&self.extensions]
    }
    fn sealed(&self) -> Vec<Sealed<'a>> {
        vec![self.early]
    }
    fn keys(&self) -> Vec<PublicKey<'a>> {
        vec![self.credential]
    }
}

impl<'a> Decodable<'a> for CompleteMezzanine<'a> {
    codec_of!('a, CompleteMezzanine);
    fn describe(&self) -> Value {
        describe::complete_mezzanine(self)
    }
    fn validate(&self, raw: &[u8]) -> Vec<Violation> {
        key_rules(&self.credential, raw)
    }
    fn lists(&self) -> Vec<&ExtensionList<'a>> {
        vec![&self.extensions]
    }
    fn sealed(&self) -> Vec<Sealed<'a>> {
        vec![self.inner]
    }
    fn keys(&self) -> Vec<PublicKey<'a>> {
        vec![self.credential]
    }
}

impl<'a> Decodable<'a> for ResponderCompleteMezzanine<'a> {
    codec_of!('a, ResponderCompleteMezzanine);
    fn describe(&self) -> Value {
        describe::responder_complete_mezzanine(self)
    }
    fn validate(&self, raw: &[u8]) -> Vec<Violation> {
        key_rules(&self.responder_ephemeral, raw)
    }
    fn lists(&self) -> Vec<&ExtensionList<'a>> {
        vec![&self.extensions]
    }
    fn sealed(&self) -> Vec<Sealed<'a>> {
        vec![self.inner]
    }
    fn keys(&self) -> Vec<PublicKey<'a>> {
        vec![self.responder_ephemeral]
    }
}

impl<'a> Decodable<'a> for ExtensionList<'a> {
    codec_of!('a, ExtensionList);
    fn describe(&self) -> Value {
        serde_json::json!({ "extensions": describe::extensions(self) })
    }
    fn validate(&self, _raw: &[u8]) -> Vec<Violation> {
        Vec::new()
    }
    fn lists(&self) -> Vec<&ExtensionList<'a>> {
        vec![self]
    }
}

/// The `varint` element (no target of its own; `decode_element` accepts every element).
#[derive(Debug)]
struct VarintElement(u64);

impl<'a> Decodable<'a> for VarintElement {
    fn parse(i: &'a [u8]) -> PResult<'a, Self> {
        parse::varint(i, "varint").map(|(r, v)| (r, VarintElement(v)))
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        varint::write(out, self.0, "varint")
    }
    fn encoded_len(&self) -> usize {
        varint::len(self.0)
    }
    fn describe(&self) -> Value {
        serde_json::json!({ "value": self.0 })
    }
    fn validate(&self, _raw: &[u8]) -> Vec<Violation> {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------------
// Structured round trip
// ---------------------------------------------------------------------------------------------

/// Decodes `data` into a [`Message`] the way libFuzzer's typed targets do
/// (`arbitrary_take_rest`) and runs [`roundtrip_message`] on it.
pub fn roundtrip_structured(data: &[u8]) {
    if let Ok(m) = Message::arbitrary_take_rest(Unstructured::new(data)) {
        roundtrip_message(m);
    }
}

/// A varint value, spread over the four encoded lengths and never above 2^62-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vi(pub u64);

impl<'a> Arbitrary<'a> for Vi {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let x = u64::arbitrary(u)?;
        Ok(Vi(match x >> 62 {
            0 => x & 0x3f,
            1 => x & 0x3fff,
            2 => x & 0x3fff_ffff,
            _ => x & varint::MAX,
        }))
    }
    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        u64::size_hint(depth)
    }
}

/// An AEAD output: a tag's worth of octets and any ciphertext (never shorter than the tag).
#[derive(Debug, Clone, Arbitrary)]
pub struct OSealed {
    pub tag: [u8; TAG_LEN],
    pub ciphertext: Vec<u8>,
}

impl OSealed {
    fn bytes(&self) -> Vec<u8> {
        let mut v = self.ciphertext.clone();
        v.extend_from_slice(&self.tag);
        v
    }
}

#[derive(Debug, Clone, Arbitrary)]
pub struct OKey {
    /// Mostly X448 with 56 octets; otherwise any algorithm code and length.
    pub x448: bool,
    pub algorithm: Vi,
    pub key: Vec<u8>,
}

impl OKey {
    fn normalize(&mut self) {
        if self.x448 {
            self.algorithm = Vi(KeyAlgorithm::X448.0);
            self.key.resize(KeyAlgorithm::X448_KEY_LEN, 0x58);
        }
        self.key.truncate(MAX_PUBLIC_KEY_LEN);
    }
    fn build(&self) -> PublicKey<'_> {
        PublicKey {
            algorithm: KeyAlgorithm(self.algorithm.0),
            key: &self.key,
        }
    }
}

/// Every typed extension value (SPEC section 6.2).
#[derive(Debug, Clone, Arbitrary)]
pub enum OVal {
    StreamId(Vec<u8>),
    OneTimeIds(Vec<Vec<u8>>),
    StreamClient(String),
    StreamReceiver(String),
    Restart,
    Credential {
        credential_type: Vi,
        data: Vec<u8>,
    },
    KeyExchange(OKey),
    UseKeyOf(Vec<u8>),
    EncryptionParameters(Vi, Vi),
    Ack {
        largest: Vi,
        delay_us: Vi,
        first_range: Vi,
        ranges: Vec<(Vi, Vi)>,
        partials: Vec<(Vi, Vec<u8>)>,
        /// Fit the ranges under `largest` (otherwise they are as generated, usually invalid).
        fit: bool,
    },
    Close {
        code: Vi,
        reason: String,
    },
    Ticket {
        lifetime_s: Vi,
        ticket: Vec<u8>,
    },
    Error(Vi),
    Metrics {
        psn_this: Vi,
        psn_last_received: Vi,
        scale_dtlr: u8,
        delta_last_received: Vi,
        scale_dtls: u8,
        delta_last_sent: Vi,
    },
    SupportedVersions(Vec<Vi>),
    Credit(Vi, Vi),
}

fn clamp_str(s: &mut String, max: usize) {
    let mut n = s.len().min(max);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    s.truncate(n);
}

impl OVal {
    fn normalize(&mut self) {
        match self {
            OVal::StreamId(id) | OVal::UseKeyOf(id) => id.truncate(MAX_STREAM_ID_LEN),
            OVal::OneTimeIds(ids) => {
                ids.truncate(MAX_ONE_TIME_IDS);
                ids.iter_mut().for_each(|i| i.truncate(MAX_STREAM_ID_LEN));
            }
            OVal::StreamClient(s) | OVal::StreamReceiver(s) => clamp_str(s, MAX_NAME_LEN),
            OVal::Close { reason, .. } => clamp_str(reason, MAX_NAME_LEN),
            OVal::Credential { data, .. } => data.truncate(MAX_EXTENSION_VALUE - 8),
            OVal::Ticket { ticket, .. } => ticket.truncate(MAX_EXTENSION_VALUE - 8),
            OVal::KeyExchange(k) => k.normalize(),
            OVal::Ack {
                largest,
                first_range,
                ranges,
                partials,
                fit,
                ..
            } => {
                ranges.truncate(MAX_ACK_RANGES as usize);
                partials.truncate(MAX_ACK_PARTIALS as usize);
                partials
                    .iter_mut()
                    .for_each(|(_, b)| b.truncate(MAX_ACK_BITMAP));
                if *fit {
                    // Each range must stay at or above zero: walk down from `largest`.
                    first_range.0 %= largest.0 + 1;
                    let mut low = largest.0 - first_range.0;
                    let mut kept = 0;
                    for (gap, len) in ranges.iter_mut() {
                        if low < 2 {
                            break;
                        }
                        gap.0 %= low - 1;
                        let high = low - gap.0 - 2;
                        len.0 %= high + 1;
                        low = high - len.0;
                        kept += 1;
                    }
                    ranges.truncate(kept);
                }
            }
            OVal::SupportedVersions(vs) => vs.truncate(MAX_VERSIONS),
            OVal::Restart
            | OVal::EncryptionParameters(..)
            | OVal::Error(_)
            | OVal::Metrics { .. }
            | OVal::Credit(..) => {}
        }
    }

    fn build(&self) -> ExtensionValue<'_> {
        match self {
            OVal::StreamId(id) => ExtensionValue::StreamId(id),
            OVal::OneTimeIds(ids) => {
                ExtensionValue::OneTimeIds(ids.iter().map(Vec::as_slice).collect())
            }
            OVal::StreamClient(s) => ExtensionValue::StreamClient { service: s },
            OVal::StreamReceiver(s) => ExtensionValue::StreamReceiver { service: s },
            OVal::Restart => ExtensionValue::Restart,
            OVal::Credential {
                credential_type,
                data,
            } => ExtensionValue::Credential {
                credential_type: credential_type.0,
                data,
            },
            OVal::KeyExchange(k) => ExtensionValue::KeyExchange(k.build()),
            OVal::UseKeyOf(id) => ExtensionValue::UseKeyOf(id),
            OVal::EncryptionParameters(s, g) => ExtensionValue::EncryptionParameters {
                suite: s.0,
                generation: g.0,
            },
            OVal::Ack {
                largest,
                delay_us,
                first_range,
                ranges,
                partials,
                ..
            } => ExtensionValue::Ack(Ack {
                largest: largest.0,
                delay_us: delay_us.0,
                first_range: first_range.0,
                ranges: ranges.iter().map(|(g, l)| (g.0, l.0)).collect(),
                partials: partials
                    .iter()
                    .map(|(n, b)| PartialAck {
                        nonce: n.0,
                        bitmap: b,
                    })
                    .collect(),
            }),
            OVal::Close { code, reason } => ExtensionValue::Close {
                code: code.0,
                reason,
            },
            OVal::Ticket { lifetime_s, ticket } => ExtensionValue::Ticket {
                lifetime_s: lifetime_s.0,
                ticket,
            },
            OVal::Error(c) => ExtensionValue::Error { code: c.0 },
            OVal::Metrics {
                psn_this,
                psn_last_received,
                scale_dtlr,
                delta_last_received,
                scale_dtls,
                delta_last_sent,
            } => ExtensionValue::Metrics(Metrics {
                psn_this: psn_this.0,
                psn_last_received: psn_last_received.0,
                scale_dtlr: *scale_dtlr,
                delta_last_received: delta_last_received.0,
                scale_dtls: *scale_dtls,
                delta_last_sent: delta_last_sent.0,
            }),
            OVal::Credit(s, c) => ExtensionValue::Credit {
                stream: s.0,
                connection: c.0,
            },
            OVal::SupportedVersions(vs) => {
                ExtensionValue::SupportedVersions(vs.iter().map(|v| v.0).collect())
            }
        }
    }
}

/// One entry of an extension list: a typed value under its registry tag, or any tag (forced
/// well-formed; a one-octet registry code here carries a raw, possibly malformed, value).
#[derive(Debug, Clone, Arbitrary)]
pub enum OExt {
    Typed(OVal),
    Other { tag: Vec<u8>, value: Vec<u8> },
}

impl OExt {
    fn normalize(&mut self) {
        match self {
            OExt::Typed(v) => v.normalize(),
            OExt::Other { tag, value } => {
                tag.truncate(MAX_TAG_LEN);
                if tag.is_empty() {
                    tag.push(0x90);
                }
                let last = tag.len() - 1;
                for (k, b) in tag.iter_mut().enumerate() {
                    *b = if k == last { *b | 0x80 } else { *b & 0x7F };
                }
                value.truncate(MAX_EXTENSION_VALUE);
            }
        }
    }

    /// The (tag, value) octets, or `None` when the value encoder refuses the typed value.
    fn encode(&self) -> Option<OwnedExtension> {
        match self {
            OExt::Typed(v) => samples::extension_bytes(&v.build()).ok(),
            OExt::Other { tag, value } => Some((tag.clone(), value.clone())),
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
pub struct OList(pub Vec<OExt>);

impl OList {
    fn normalize(&mut self) {
        self.0.truncate(MAX_EXTENSIONS);
        self.0.iter_mut().for_each(OExt::normalize);
    }

    fn encode(&self) -> Option<Vec<OwnedExtension>> {
        self.0.iter().map(OExt::encode).collect()
    }

    /// The decoded list holds exactly the typed values that were built.
    fn check_typed(&self, decoded: &ExtensionList<'_>) {
        for (o, e) in self.0.iter().zip(decoded.iter()) {
            if let OExt::Typed(v) = o {
                match e.parse_value() {
                    Ok(got) => assert_eq!(got, v.build(), "typed extension value changed"),
                    Err(err) => panic!("typed extension value does not parse back: {err:?}"),
                }
            }
        }
    }
}

fn pad(p: u16) -> usize {
    usize::from(p) % 1201
}

/// Every datagram variant, with owned fields.
#[derive(Debug, Clone, Arbitrary)]
pub enum ODatagram {
    InitiatorHello {
        stream_id: Vec<u8>,
        version: Vi,
        initiator_stream_id: Vec<u8>,
        extensions: OList,
        payload: Vec<u8>,
        padding: u16,
    },
    InitiatorExchange {
        stream_id: Vec<u8>,
        version: Vi,
        initiator_stream_id: Vec<u8>,
        responder_key_id: Vec<u8>,
        initiator_ephemeral: OKey,
        extensions: OList,
        mezzanine: OSealed,
    },
    InitiatorComplete {
        stream_id: Vec<u8>,
        responder_key_id: Vec<u8>,
        initiator_ephemeral: OKey,
        ephemeral_index: u8,
        cookie: Vec<u8>,
        extensions: OList,
        mezzanine: OSealed,
    },
    /// ResponderChallenge, or ResponderDefer when `defer`.
    Challenge {
        defer: bool,
        stream_id: Vec<u8>,
        version: Vi,
        credential: OKey,
        ephemerals: Vec<OKey>,
        cookie: Vec<u8>,
        responder_stream_id: Vec<u8>,
        extensions: OList,
        payload: Vec<u8>,
        padding: u16,
    },
    ResponderComplete {
        stream_id: Vec<u8>,
        extensions: OList,
        mezzanine: OSealed,
    },
    /// InitiatorData, or ResponderData when `responder`.
    Data {
        responder: bool,
        stream_id: Vec<u8>,
        nonce: Vi,
        packet_count: u16,
        flags: u8,
        packet_index: u16,
        sent_index: u16,
        retransmit: Vi,
        fragment: OSealed,
    },
    /// InitiatorError, or ResponderError when `responder`.
    Error {
        responder: bool,
        stream_id: Vec<u8>,
        code: Vi,
        extensions: OList,
        padding: u16,
    },
    Unknown {
        stream_id: Vec<u8>,
        msg_type: MessageType,
        body: Vec<u8>,
    },
}

/// The structured fuzzer's input: one element of any kind.
#[derive(Debug, Clone, Arbitrary)]
pub enum Message {
    Datagram(ODatagram),
    DataPlaintext {
        extensions: OList,
        payload: Vec<u8>,
        padding: u16,
    },
    InnerSection {
        extensions: OList,
        payload: Vec<u8>,
    },
    ExchangeMezzanine {
        credential: OKey,
        timestamp: Vi,
        extensions: OList,
        early: Option<OSealed>,
        padding: u16,
    },
    CompleteMezzanine {
        credential: OKey,
        extensions: OList,
        inner: OSealed,
        padding: u16,
    },
    ResponderCompleteMezzanine {
        initiator_key_id: Vec<u8>,
        responder_ephemeral: OKey,
        early_data_accepted: bool,
        responder_stream_id: Vec<u8>,
        extensions: OList,
        inner: OSealed,
        padding: u16,
    },
    ExtensionList(OList),
    ExtensionValue(OVal),
}

fn sid(v: &mut Vec<u8>) {
    v.truncate(MAX_STREAM_ID_LEN);
}

/// Encodes `built` (a refusal ends the case), checks the length, decodes the encoding and
/// requires exactly the value built (typed extension values included), then runs the decode
/// target's invariants on the encoding. A macro rather than a generic function so that the value
/// decoded from the local buffer compares with the value built: one concrete type, two borrows.
macro_rules! roundtrip {
    ($built:expr, $ty:ident, $element:expr, $model:expr) => {{
        let built: &$ty<'_> = $built;
        let model: &OList = $model;
        let mut out = Vec::new();
        if built.encode(&mut out).is_ok() {
            assert_eq!(
                out.len(),
                built.encoded_len(),
                "encoded_len() differs from the octets written"
            );
            match parse::all(&out, |i| <$ty<'_> as Decodable<'_>>::parse(i)) {
                Ok(back) => {
                    assert_eq!(&back, built, "decode(encode(x)) != x");
                    for list in Decodable::lists(&back) {
                        model.check_typed(list);
                    }
                }
                Err(e) => panic!(
                    "the encoder accepted {built:?} as {}, which its decoder refuses: {e}",
                    hex::encode(&out)
                ),
            }
            decode_element($element, &out);
        }
    }};
}

impl ODatagram {
    fn normalize(&mut self) {
        match self {
            ODatagram::InitiatorHello {
                stream_id,
                initiator_stream_id,
                extensions,
                ..
            } => {
                sid(stream_id);
                sid(initiator_stream_id);
                extensions.normalize();
            }
            ODatagram::InitiatorExchange {
                stream_id,
                initiator_stream_id,
                responder_key_id,
                initiator_ephemeral,
                extensions,
                ..
            } => {
                sid(stream_id);
                sid(initiator_stream_id);
                responder_key_id.truncate(MAX_KEY_ID_LEN);
                initiator_ephemeral.normalize();
                extensions.normalize();
            }
            ODatagram::InitiatorComplete {
                stream_id,
                responder_key_id,
                initiator_ephemeral,
                ephemeral_index,
                cookie,
                extensions,
                ..
            } => {
                sid(stream_id);
                responder_key_id.truncate(MAX_KEY_ID_LEN);
                initiator_ephemeral.normalize();
                *ephemeral_index %= MAX_EPHEMERALS as u8;
                cookie.truncate(MAX_COOKIE_LEN);
                extensions.normalize();
            }
            ODatagram::Challenge {
                stream_id,
                credential,
                ephemerals,
                cookie,
                responder_stream_id,
                extensions,
                ..
            } => {
                sid(stream_id);
                credential.normalize();
                ephemerals.truncate(MAX_EPHEMERALS as usize);
                ephemerals.iter_mut().for_each(OKey::normalize);
                cookie.truncate(MAX_COOKIE_LEN);
                sid(responder_stream_id);
                extensions.normalize();
            }
            ODatagram::ResponderComplete {
                stream_id,
                extensions,
                ..
            } => {
                sid(stream_id);
                extensions.normalize();
            }
            ODatagram::Data {
                stream_id,
                packet_count,
                packet_index,
                ..
            } => {
                sid(stream_id);
                *packet_count = *packet_count % MAX_PACKETS_PER_DATAGRAM as u16 + 1;
                *packet_index %= *packet_count;
            }
            ODatagram::Error {
                stream_id,
                extensions,
                ..
            } => {
                sid(stream_id);
                extensions.normalize();
            }
            ODatagram::Unknown { stream_id, .. } => sid(stream_id),
        }
    }

    fn roundtrip(&self) {
        match self {
            ODatagram::InitiatorHello {
                stream_id,
                version,
                initiator_stream_id,
                extensions,
                payload,
                padding,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let built = Datagram::InitiatorHello(InitiatorHello {
                    stream_id: StreamId(stream_id),
                    version: version.0,
                    initiator_stream_id: StreamId(initiator_stream_id),
                    extensions: samples::list(&exts),
                    payload,
                    padding: pad(*padding),
                });
                roundtrip!(&built, Datagram, Element::Datagram, extensions);
            }
            ODatagram::InitiatorExchange {
                stream_id,
                version,
                initiator_stream_id,
                responder_key_id,
                initiator_ephemeral,
                extensions,
                mezzanine,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let mz = mezzanine.bytes();
                let built = Datagram::InitiatorExchange(InitiatorExchange {
                    stream_id: StreamId(stream_id),
                    version: version.0,
                    initiator_stream_id: StreamId(initiator_stream_id),
                    responder_key_id,
                    initiator_ephemeral: initiator_ephemeral.build(),
                    extensions: samples::list(&exts),
                    mezzanine: Sealed(&mz),
                });
                roundtrip!(&built, Datagram, Element::Datagram, extensions);
            }
            ODatagram::InitiatorComplete {
                stream_id,
                responder_key_id,
                initiator_ephemeral,
                ephemeral_index,
                cookie,
                extensions,
                mezzanine,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let mz = mezzanine.bytes();
                let built = Datagram::InitiatorComplete(InitiatorComplete {
                    stream_id: StreamId(stream_id),
                    responder_key_id,
                    initiator_ephemeral: initiator_ephemeral.build(),
                    ephemeral_index: u64::from(*ephemeral_index),
                    cookie,
                    extensions: samples::list(&exts),
                    mezzanine: Sealed(&mz),
                });
                roundtrip!(&built, Datagram, Element::Datagram, extensions);
            }
            ODatagram::Challenge {
                defer,
                stream_id,
                version,
                credential,
                ephemerals,
                cookie,
                responder_stream_id,
                extensions,
                payload,
                padding,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let c = Challenge {
                    stream_id: StreamId(stream_id),
                    version: version.0,
                    credential: credential.build(),
                    ephemerals: ephemerals.iter().map(OKey::build).collect(),
                    cookie,
                    responder_stream_id: StreamId(responder_stream_id),
                    extensions: samples::list(&exts),
                    payload,
                    padding: pad(*padding),
                };
                let built = if *defer {
                    Datagram::ResponderDefer(c)
                } else {
                    Datagram::ResponderChallenge(c)
                };
                roundtrip!(&built, Datagram, Element::Datagram, extensions);
            }
            ODatagram::ResponderComplete {
                stream_id,
                extensions,
                mezzanine,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let mz = mezzanine.bytes();
                let built = Datagram::ResponderComplete(ResponderComplete {
                    stream_id: StreamId(stream_id),
                    extensions: samples::list(&exts),
                    mezzanine: Sealed(&mz),
                });
                roundtrip!(&built, Datagram, Element::Datagram, extensions);
            }
            ODatagram::Data {
                responder,
                stream_id,
                nonce,
                packet_count,
                flags,
                packet_index,
                sent_index,
                retransmit,
                fragment,
            } => {
                let frag = fragment.bytes();
                let built = Datagram::Data(DataPacket {
                    stream_id: StreamId(stream_id),
                    msg_type: if *responder {
                        MessageType::RESPONDER_DATA
                    } else {
                        MessageType::INITIATOR_DATA
                    },
                    nonce: nonce.0,
                    packet_count: u64::from(*packet_count),
                    flags: DatagramFlags(*flags),
                    packet_index: u64::from(*packet_index),
                    sent_index: *sent_index,
                    retransmit: retransmit.0,
                    fragment: &frag,
                });
                roundtrip!(&built, Datagram, Element::Datagram, &OList(Vec::new()));
            }
            ODatagram::Error {
                responder,
                stream_id,
                code,
                extensions,
                padding,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let built = Datagram::Error(ErrorMessage {
                    stream_id: StreamId(stream_id),
                    msg_type: if *responder {
                        MessageType::RESPONDER_ERROR
                    } else {
                        MessageType::INITIATOR_ERROR
                    },
                    code: ErrorCode(code.0),
                    extensions: samples::list(&exts),
                    padding: pad(*padding),
                });
                roundtrip!(&built, Datagram, Element::Datagram, extensions);
            }
            ODatagram::Unknown {
                stream_id,
                msg_type,
                body,
            } => {
                let built = Datagram::Unknown(UnknownDatagram {
                    stream_id: StreamId(stream_id),
                    msg_type: *msg_type,
                    body,
                });
                roundtrip!(&built, Datagram, Element::Datagram, &OList(Vec::new()));
            }
        }
    }
}

/// Normalizes `m` (clamps every length and count to `wire::limits`), builds the codec value,
/// and checks `decode(encode(x)) == x` for every value the encoder accepts.
pub fn roundtrip_message(mut m: Message) {
    m.normalize();
    m.roundtrip();
}

impl Message {
    fn normalize(&mut self) {
        match self {
            Message::Datagram(d) => d.normalize(),
            Message::DataPlaintext { extensions, .. }
            | Message::InnerSection { extensions, .. } => {
                extensions.normalize();
            }
            Message::ExchangeMezzanine {
                credential,
                extensions,
                ..
            }
            | Message::CompleteMezzanine {
                credential,
                extensions,
                ..
            } => {
                credential.normalize();
                extensions.normalize();
            }
            Message::ResponderCompleteMezzanine {
                initiator_key_id,
                responder_ephemeral,
                responder_stream_id,
                extensions,
                ..
            } => {
                initiator_key_id.truncate(MAX_KEY_ID_LEN);
                responder_ephemeral.normalize();
                sid(responder_stream_id);
                extensions.normalize();
            }
            Message::ExtensionList(l) => l.normalize(),
            Message::ExtensionValue(v) => v.normalize(),
        }
    }

    fn roundtrip(&self) {
        match self {
            Message::Datagram(d) => d.roundtrip(),
            Message::DataPlaintext {
                extensions,
                payload,
                padding,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let built = DataPlaintext {
                    extensions: samples::list(&exts),
                    payload,
                    padding: pad(*padding),
                };
                roundtrip!(&built, DataPlaintext, Element::DataPlaintext, extensions);
            }
            Message::InnerSection {
                extensions,
                payload,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let built = InnerSection {
                    extensions: samples::list(&exts),
                    payload,
                };
                roundtrip!(&built, InnerSection, Element::InnerSection, extensions);
            }
            Message::ExchangeMezzanine {
                credential,
                timestamp,
                extensions,
                early,
                padding,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let early = early.as_ref().map(OSealed::bytes).unwrap_or_default();
                let built = ExchangeMezzanine {
                    credential: credential.build(),
                    timestamp: timestamp.0,
                    extensions: samples::list(&exts),
                    early: Sealed(&early),
                    padding: pad(*padding),
                };
                roundtrip!(
                    &built,
                    ExchangeMezzanine,
                    Element::ExchangeMezzanine,
                    extensions
                );
            }
            Message::CompleteMezzanine {
                credential,
                extensions,
                inner,
                padding,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let inner = inner.bytes();
                let built = CompleteMezzanine {
                    credential: credential.build(),
                    extensions: samples::list(&exts),
                    inner: Sealed(&inner),
                    padding: pad(*padding),
                };
                roundtrip!(
                    &built,
                    CompleteMezzanine,
                    Element::CompleteMezzanine,
                    extensions
                );
            }
            Message::ResponderCompleteMezzanine {
                initiator_key_id,
                responder_ephemeral,
                early_data_accepted,
                responder_stream_id,
                extensions,
                inner,
                padding,
            } => {
                let Some(exts) = extensions.encode() else {
                    return;
                };
                let inner = inner.bytes();
                let built = ResponderCompleteMezzanine {
                    initiator_key_id,
                    responder_ephemeral: responder_ephemeral.build(),
                    early_data_accepted: *early_data_accepted,
                    responder_stream_id: StreamId(responder_stream_id),
                    extensions: samples::list(&exts),
                    inner: Sealed(&inner),
                    padding: pad(*padding),
                };
                roundtrip!(
                    &built,
                    ResponderCompleteMezzanine,
                    Element::ResponderCompleteMezzanine,
                    extensions
                );
            }
            Message::ExtensionList(l) => {
                let Some(exts) = l.encode() else {
                    return;
                };
                let built = samples::list(&exts);
                roundtrip!(&built, ExtensionList, Element::ExtensionList, l);
            }
            Message::ExtensionValue(v) => {
                let built = v.build();
                let Ok((tag, value)) = samples::extension_bytes(&built) else {
                    return;
                };
                match Extension::new(&tag, &value).parse_value() {
                    Ok(back) => assert_eq!(back, built, "typed value changed on a round trip"),
                    Err(e) => panic!(
                        "the value encoder accepted {built:?} as {}, which its decoder refuses: {e:?}",
                        hex::encode(&value)
                    ),
                }
            }
        }
    }
}
