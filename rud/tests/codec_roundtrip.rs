//! Property tests of the RUD wire codec: for every message type, section plaintext and typed
//! extension value, a value built from random owned data encodes to exactly `encoded_len()`
//! octets and decodes back to itself; encoders refuse values the wire format cannot carry.
// Helpers outside #[test] fns fail the test run on a broken fixture, as the tests do.
#![allow(clippy::expect_used, clippy::unwrap_used)]
use proptest::collection::vec;
use proptest::prelude::*;
use rud::wire::limits::{
    MAX_ACK_PARTIALS, MAX_ACK_RANGES, MAX_COOKIE_LEN, MAX_EXTENSION_VALUE, MAX_EXTENSIONS,
    MAX_KEY_ID_LEN, MAX_NAME_LEN, MAX_ONE_TIME_IDS, MAX_PUBLIC_KEY_LEN, MAX_STREAM_ID_LEN,
    MAX_TAG_LEN, MAX_VERSIONS,
};
use rud::wire::{
    Ack, Challenge, CompleteMezzanine, DataPacket, DataPlaintext, Datagram, DatagramFlags,
    EncodeError, ErrorCode, ErrorMessage, ExchangeMezzanine, Extension, ExtensionList,
    ExtensionValue, InitiatorComplete, InitiatorExchange, InitiatorHello, InnerSection,
    KeyAlgorithm, MessageType, Metrics, PartialAck, PublicKey, ResponderComplete,
    ResponderCompleteMezzanine, Sealed, StreamId, UnknownDatagram, parse, split_aad, varint,
};

// ---------------------------------------------------------------------------------------------
// Owned model data and strategies
// ---------------------------------------------------------------------------------------------

/// A varint value, spread over the four encoded lengths.
fn vi() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..64u64,
        64..16_384u64,
        16_384..1_073_741_824u64,
        1_073_741_824..=varint::MAX,
    ]
}

fn bytes(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), min..=max)
}

fn sid() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![bytes(0, MAX_STREAM_ID_LEN), Just(vec![0u8; 16])]
}

/// A UTF-8 string of at most `max_chars` characters (at most 4 octets each).
fn text(max_chars: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("\\PC{{0,{max_chars}}}")).expect("regex")
}

#[derive(Debug, Clone)]
struct OKey {
    alg: u64,
    key: Vec<u8>,
}

impl OKey {
    fn b(&self) -> PublicKey<'_> {
        PublicKey {
            algorithm: KeyAlgorithm(self.alg),
            key: &self.key,
        }
    }
}

fn okey() -> impl Strategy<Value = OKey> {
    prop_oneof![
        bytes(56, 56).prop_map(|key| OKey { alg: 1, key }),
        (vi(), bytes(0, 120)).prop_map(|(alg, key)| OKey { alg, key }),
    ]
}

/// Owned mirror of every typed [`ExtensionValue`].
#[derive(Debug, Clone)]
enum OVal {
    StreamId(Vec<u8>),
    OneTimeIds(Vec<Vec<u8>>),
    StreamClient(String),
    StreamReceiver(String),
    Restart,
    Credential(u64, Vec<u8>),
    KeyExchange(OKey),
    UseKeyOf(Vec<u8>),
    EncryptionParameters(u64, u64),
    Credit(u64, u64),
    Ack {
        largest: u64,
        delay_us: u64,
        first_range: u64,
        ranges: Vec<(u64, u64)>,
        partials: Vec<(u64, Vec<u8>)>,
    },
    Close(u64, String),
    Ticket(u64, Vec<u8>),
    Error(u64),
    Metrics(Metrics),
    SupportedVersions(Vec<u64>),
}

impl OVal {
    fn b(&self) -> ExtensionValue<'_> {
        match self {
            OVal::StreamId(id) => ExtensionValue::StreamId(id),
            OVal::OneTimeIds(ids) => {
                ExtensionValue::OneTimeIds(ids.iter().map(|i| &i[..]).collect())
            }
            OVal::StreamClient(s) => ExtensionValue::StreamClient { service: s },
            OVal::StreamReceiver(s) => ExtensionValue::StreamReceiver { service: s },
            OVal::Restart => ExtensionValue::Restart,
            OVal::Credential(t, d) => ExtensionValue::Credential {
                credential_type: *t,
                data: d,
            },
            OVal::KeyExchange(k) => ExtensionValue::KeyExchange(k.b()),
            OVal::UseKeyOf(id) => ExtensionValue::UseKeyOf(id),
            OVal::EncryptionParameters(s, g) => ExtensionValue::EncryptionParameters {
                suite: *s,
                generation: *g,
            },
            OVal::Credit(s, c) => ExtensionValue::Credit {
                stream: *s,
                connection: *c,
            },
            OVal::Ack {
                largest,
                delay_us,
                first_range,
                ranges,
                partials,
            } => ExtensionValue::Ack(Ack {
                largest: *largest,
                delay_us: *delay_us,
                first_range: *first_range,
                ranges: ranges.clone(),
                partials: partials
                    .iter()
                    .map(|(nonce, bitmap)| PartialAck {
                        nonce: *nonce,
                        bitmap,
                    })
                    .collect(),
            }),
            OVal::Close(code, reason) => ExtensionValue::Close {
                code: *code,
                reason,
            },
            OVal::Ticket(l, t) => ExtensionValue::Ticket {
                lifetime_s: *l,
                ticket: t,
            },
            OVal::Error(code) => ExtensionValue::Error { code: *code },
            OVal::Metrics(m) => ExtensionValue::Metrics(*m),
            OVal::SupportedVersions(vs) => ExtensionValue::SupportedVersions(vs.clone()),
        }
    }
}

fn ack_value() -> impl Strategy<Value = OVal> {
    (
        vi(),
        0..1_000u64,
        vec((0..1_000u64, 0..1_000u64), 0..=20),
        0..(1u64 << 40),
        vec((vi(), bytes(0, 64)), 0..=4),
    )
        .prop_map(|(delay_us, first_range, ranges, extra, partials)| {
            // Largest high enough that no range goes below zero.
            let below: u64 = ranges.iter().map(|(g, l)| g + 2 + l).sum();
            OVal::Ack {
                largest: first_range + below + extra,
                delay_us,
                first_range,
                ranges,
                partials,
            }
        })
}

fn oval() -> impl Strategy<Value = OVal> {
    prop_oneof![
        bytes(0, MAX_STREAM_ID_LEN).prop_map(OVal::StreamId),
        vec(bytes(0, MAX_STREAM_ID_LEN), 0..=MAX_ONE_TIME_IDS).prop_map(OVal::OneTimeIds),
        text(60).prop_map(OVal::StreamClient),
        text(60).prop_map(OVal::StreamReceiver),
        Just(OVal::Restart),
        (vi(), bytes(0, 100)).prop_map(|(t, d)| OVal::Credential(t, d)),
        okey().prop_map(OVal::KeyExchange),
        bytes(0, MAX_STREAM_ID_LEN).prop_map(OVal::UseKeyOf),
        (vi(), vi()).prop_map(|(s, g)| OVal::EncryptionParameters(s, g)),
        (vi(), vi()).prop_map(|(s, c)| OVal::Credit(s, c)),
        ack_value(),
        (vi(), text(60)).prop_map(|(c, r)| OVal::Close(c, r)),
        (vi(), bytes(1, 100)).prop_map(|(l, t)| OVal::Ticket(l, t)),
        vi().prop_map(OVal::Error),
        (vi(), vi(), any::<u8>(), vi(), any::<u8>(), vi()).prop_map(|(a, b, c, d, e, f)| {
            OVal::Metrics(Metrics {
                psn_this: a,
                psn_last_received: b,
                scale_dtlr: c,
                delta_last_received: d,
                scale_dtls: e,
                delta_last_sent: f,
            })
        }),
        vec(vi(), 0..=MAX_VERSIONS).prop_map(OVal::SupportedVersions),
    ]
}

/// A well-formed tag SPEC does not assign: 2 to 16 octets, or one octet in 0x90-0xFE.
fn unknown_tag() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0x90u8..=0xFE).prop_map(|c| vec![c]),
        (vec(0u8..0x80, 1..MAX_TAG_LEN), 0x80u8..=0xFF).prop_map(|(mut lead, last)| {
            lead.push(last);
            lead
        }),
        Just(vec![0x01, 0x7f, 0x90]),
    ]
}

/// One raw extension (tag, value octets): a typed value encoded under its code, or an unknown
/// tag with arbitrary value octets.
#[derive(Debug, Clone)]
struct OExt {
    tag: Vec<u8>,
    value: Vec<u8>,
}

fn encode_val(v: &OVal) -> OExt {
    let b = v.b();
    let mut value = Vec::new();
    b.encode_value(&mut value).expect("typed value encodes");
    OExt {
        tag: vec![b.code().expect("typed value has a code").0],
        value,
    }
}

fn oext() -> impl Strategy<Value = OExt> {
    prop_oneof![
        3 => oval().prop_map(|v| encode_val(&v)),
        1 => (unknown_tag(), bytes(0, 60)).prop_map(|(tag, value)| OExt { tag, value }),
    ]
}

fn oexts() -> impl Strategy<Value = Vec<OExt>> {
    vec(oext(), 0..=6)
}

fn list(exts: &[OExt]) -> ExtensionList<'_> {
    ExtensionList(
        exts.iter()
            .map(|e| Extension::new(&e.tag, &e.value))
            .collect(),
    )
}

fn sealed() -> impl Strategy<Value = Vec<u8>> {
    bytes(16, 100)
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![bytes(0, 80), bytes(0, 400)]
}

fn padding() -> impl Strategy<Value = usize> {
    prop_oneof![0..20usize, 0..1_300usize]
}

// ---------------------------------------------------------------------------------------------
// Round-trip checks
// ---------------------------------------------------------------------------------------------

/// Encodes `d` after a junk prefix (encoders append), checks the length, decodes it back.
fn check_datagram(d: &Datagram<'_>, junk: &[u8]) -> Result<(), TestCaseError> {
    let mut out = junk.to_vec();
    d.encode(&mut out)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    prop_assert_eq!(&out[..junk.len()], junk, "encode appends");
    let enc = &out[junk.len()..];
    prop_assert_eq!(d.encoded_len(), enc.len(), "encoded_len");
    prop_assert_eq!(d.to_vec().expect("to_vec"), enc.to_vec());
    let back = Datagram::decode(enc).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&back, d);
    Ok(())
}

/// Same for a section plaintext: encode after a junk octet, check the length, decode it back
/// with `parse::all` (a macro, as each section type has its own `decode`).
macro_rules! section_roundtrip {
    ($value:expr, $ty:ident) => {{
        let value = $value;
        let mut out = vec![0xEE];
        value
            .encode(&mut out)
            .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
        prop_assert_eq!(out[0], 0xEE, "encode appends");
        prop_assert_eq!(value.encoded_len(), out.len() - 1, "encoded_len");
        let back = parse::all(&out[1..], $ty::decode)
            .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
        prop_assert_eq!(back, value);
    }};
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every InitiatorHello.
    #[test]
    fn initiator_hello_roundtrip(
        s in sid(), version in vi(), isid in sid(), exts in oexts(), p in payload(),
        pad in padding(), junk in bytes(0, 4),
    ) {
        let d = Datagram::InitiatorHello(InitiatorHello {
            stream_id: StreamId(&s),
            version,
            initiator_stream_id: StreamId(&isid),
            extensions: list(&exts),
            payload: &p,
            padding: pad,
        });
        check_datagram(&d, &junk)?;
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every ResponderChallenge and ResponderDefer.
    #[test]
    fn challenge_and_defer_roundtrip(
        s in sid(), version in vi(), cred in okey(), eph in vec(okey(), 0..=8),
        cookie in bytes(0, MAX_COOKIE_LEN), rsid in sid(), exts in oexts(), p in payload(),
        pad in padding(), defer in any::<bool>(),
    ) {
        let c = Challenge {
            stream_id: StreamId(&s),
            version,
            credential: cred.b(),
            ephemerals: eph.iter().map(OKey::b).collect(),
            cookie: &cookie,
            responder_stream_id: StreamId(&rsid),
            extensions: list(&exts),
            payload: &p,
            padding: pad,
        };
        let d = if defer { Datagram::ResponderDefer(c) } else { Datagram::ResponderChallenge(c) };
        check_datagram(&d, &[])?;
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every InitiatorExchange.
    #[test]
    fn initiator_exchange_roundtrip(
        s in sid(), version in vi(), isid in sid(), kid in bytes(0, MAX_KEY_ID_LEN),
        eph in okey(), exts in oexts(), mezz in sealed(),
    ) {
        let d = Datagram::InitiatorExchange(InitiatorExchange {
            stream_id: StreamId(&s),
            version,
            initiator_stream_id: StreamId(&isid),
            responder_key_id: &kid,
            initiator_ephemeral: eph.b(),
            extensions: list(&exts),
            mezzanine: Sealed(&mezz),
        });
        check_datagram(&d, &[0x55])?;
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every InitiatorComplete.
    #[test]
    fn initiator_complete_roundtrip(
        s in sid(), kid in bytes(0, MAX_KEY_ID_LEN), eph in okey(), index in 0..8u64,
        cookie in bytes(0, MAX_COOKIE_LEN), exts in oexts(), mezz in sealed(),
    ) {
        let d = Datagram::InitiatorComplete(InitiatorComplete {
            stream_id: StreamId(&s),
            responder_key_id: &kid,
            initiator_ephemeral: eph.b(),
            ephemeral_index: index,
            cookie: &cookie,
            extensions: list(&exts),
            mezzanine: Sealed(&mezz),
        });
        check_datagram(&d, &[])?;
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every ResponderComplete.
    #[test]
    fn responder_complete_roundtrip(s in sid(), exts in oexts(), mezz in sealed()) {
        let d = Datagram::ResponderComplete(ResponderComplete {
            stream_id: StreamId(&s),
            extensions: list(&exts),
            mezzanine: Sealed(&mezz),
        });
        check_datagram(&d, &[])?;
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every data packet (packet index < packet count; the last
    //# fragment holds at least the 16-octet tag).
    #[test]
    fn data_packet_roundtrip(
        s in sid(), responder in any::<bool>(), nonce in vi(),
        (count, index) in (1..=16_384u64).prop_flat_map(|c| (Just(c), 0..c)),
        last in any::<bool>(), flags in any::<u8>(), sent in any::<u16>(), retransmit in vi(),
        frag in bytes(1, 120),
    ) {
        // Half the cases exercise the last packet explicitly.
        let index = if last { count - 1 } else { index };
        let mut frag = frag;
        if index + 1 == count && frag.len() < 16 {
            frag.resize(16, 0xA5);
        }
        let d = Datagram::Data(DataPacket {
            stream_id: StreamId(&s),
            msg_type: if responder { MessageType::RESPONDER_DATA } else { MessageType::INITIATOR_DATA },
            nonce,
            packet_count: count,
            flags: DatagramFlags(flags),
            packet_index: index,
            sent_index: sent,
            retransmit,
            fragment: &frag,
        });
        check_datagram(&d, &[1, 2, 3])?;
        // The associated data is the frozen prefix, exactly as encoded.
        let raw = d.to_vec().expect("encode");
        let (aad, rest) = split_aad(&raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Datagram::Data(p) = &d else { unreachable!() };
        prop_assert_eq!(aad.len(), p.aad_len());
        prop_assert_eq!(rest.len(), raw.len() - p.aad_len());
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every InitiatorError and ResponderError.
    #[test]
    fn error_message_roundtrip(
        s in sid(), responder in any::<bool>(), code in vi(), exts in oexts(), pad in padding(),
    ) {
        let d = Datagram::Error(ErrorMessage {
            stream_id: StreamId(&s),
            msg_type: if responder { MessageType::RESPONDER_ERROR } else { MessageType::INITIATOR_ERROR },
            code: ErrorCode(code),
            extensions: list(&exts),
            padding: pad,
        });
        check_datagram(&d, &[])?;
    }

    //= docs/SPEC.md#unknown-roundtrip
    //= type=test
    //# Unknown message types round-trip byte-exact.
    #[test]
    fn unknown_datagram_roundtrip(
        s in sid(),
        t in any::<u8>().prop_filter("unassigned", |t| !MessageType::KNOWN.contains(&MessageType(*t))),
        body in bytes(0, 300),
    ) {
        let d = Datagram::Unknown(UnknownDatagram {
            stream_id: StreamId(&s),
            msg_type: MessageType(t),
            body: &body,
        });
        check_datagram(&d, &[9])?;
        // Byte-exact: the received octets are re-encoded unchanged.
        let raw = d.to_vec().expect("encode");
        let back = Datagram::decode(&raw).expect("decode");
        prop_assert_eq!(back.to_vec().expect("re-encode"), raw);
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every DataPlaintext.
    #[test]
    fn data_plaintext_roundtrip(exts in oexts(), p in payload(), pad in padding()) {
        section_roundtrip!(DataPlaintext { extensions: list(&exts), payload: &p, padding: pad }, DataPlaintext);
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every InnerSection.
    #[test]
    fn inner_section_roundtrip(exts in oexts(), p in payload()) {
        section_roundtrip!(InnerSection { extensions: list(&exts), payload: &p }, InnerSection);
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every ExchangeMezzanine (early data sealed, or empty).
    #[test]
    fn exchange_mezzanine_roundtrip(
        cred in okey(), ts in vi(), exts in oexts(),
        early in prop_oneof![Just(Vec::new()), sealed()], pad in padding(),
    ) {
        section_roundtrip!(ExchangeMezzanine {
            credential: cred.b(),
            timestamp: ts,
            extensions: list(&exts),
            early: Sealed(&early),
            padding: pad,
        }, ExchangeMezzanine);
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every CompleteMezzanine.
    #[test]
    fn complete_mezzanine_roundtrip(cred in okey(), exts in oexts(), inner in sealed(), pad in padding()) {
        section_roundtrip!(CompleteMezzanine {
            credential: cred.b(),
            extensions: list(&exts),
            inner: Sealed(&inner),
            padding: pad,
        }, CompleteMezzanine);
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every ResponderCompleteMezzanine.
    #[test]
    fn responder_complete_mezzanine_roundtrip(
        kid in bytes(0, MAX_KEY_ID_LEN), eph in okey(), accepted in any::<bool>(), rsid in sid(),
        exts in oexts(), inner in sealed(), pad in padding(),
    ) {
        section_roundtrip!(ResponderCompleteMezzanine {
            initiator_key_id: &kid,
            responder_ephemeral: eph.b(),
            early_data_accepted: accepted,
            responder_stream_id: StreamId(&rsid),
            extensions: list(&exts),
            inner: Sealed(&inner),
            padding: pad,
        }, ResponderCompleteMezzanine);
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for every typed extension value.
    #[test]
    fn typed_extension_value_roundtrip(v in oval()) {
        let typed = v.b();
        let code = typed.code().expect("typed");
        let mut value = Vec::new();
        typed.encode_value(&mut value).expect("encode_value");
        let tag = [code.0];
        let ext = Extension::new(&tag, &value);
        prop_assert_eq!(ext.parse_value().map_err(|e| TestCaseError::fail(format!("{:?}", e)))?, typed.clone());
        // And inside a list, through the list codec.
        let l = ExtensionList(vec![ext]);
        let mut out = Vec::new();
        l.encode(&mut out).expect("list encodes");
        prop_assert_eq!(l.encoded_len(), out.len());
        let back = parse::all(&out, ExtensionList::decode).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &l);
        prop_assert_eq!(back.0[0].parse_value().map_err(|e| TestCaseError::fail(format!("{:?}", e)))?, typed);
    }

    //= docs/SPEC.md#unknown-roundtrip
    //= type=test
    //# Unknown extension tags (one octet outside the registry, or up to 16 octets) round-trip
    //# byte-exact, their values opaque.
    #[test]
    fn unknown_extension_roundtrip(tag in unknown_tag(), value in bytes(0, 300)) {
        let ext = Extension::new(&tag, &value);
        prop_assert_eq!(ext.parse_value().map_err(|e| TestCaseError::fail(format!("{:?}", e)))?, ExtensionValue::Unknown);
        let l = ExtensionList(vec![ext]);
        let mut out = Vec::new();
        l.encode(&mut out).expect("list encodes");
        prop_assert_eq!(l.encoded_len(), out.len());
        prop_assert_eq!(&out[..tag.len()], &tag[..]);
        let back = parse::all(&out, ExtensionList::decode).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.0[0].tag.0, &tag[..]);
        prop_assert_eq!(back.0[0].value, &value[..]);
        let mut again = Vec::new();
        back.encode(&mut again).expect("re-encode");
        prop_assert_eq!(again, out);
    }

    //= docs/SPEC.md#roundtrip
    //= type=test
    //# decode(encode(x)) == x for extension lists of up to 64 entries.
    #[test]
    fn extension_list_roundtrip(exts in vec(oext(), 0..=MAX_EXTENSIONS)) {
        let l = list(&exts);
        let mut out = Vec::new();
        l.encode(&mut out).expect("list encodes");
        prop_assert_eq!(l.encoded_len(), out.len());
        prop_assert_eq!(out.last().copied(), Some(0xFF));
        let back = parse::all(&out, ExtensionList::decode).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, l);
    }

    //= docs/SPEC.md#varint-encoding
    //= type=test
    //# Integers are QUIC variable-length integers; receivers accept non-minimal encodings.
    #[test]
    fn non_minimal_varints_decode_to_the_same_value(version in 0..64u64, code in 0..64u64, width in prop_oneof![Just(2usize), Just(4), Just(8)]) {
        // InitiatorHello with its version on `width` octets.
        let mut wide = vec![0x10];
        wide.extend_from_slice(&[0; 16]);
        wide.push(0x01);
        varint::write_with_len(&mut wide, version, width);
        wide.extend_from_slice(&[0x00, 0xFF, 0x00]);
        let d = Datagram::decode(&wide).expect("non-minimal decodes");
        let Datagram::InitiatorHello(h) = &d else { panic!("not a hello: {d:?}") };
        prop_assert_eq!(h.version, version);
        let minimal = d.to_vec().expect("encode");
        prop_assert_eq!(minimal.len(), wide.len() - (width - 1));
        prop_assert_eq!(Datagram::decode(&minimal).expect("decode"), d.clone());
        // An extension value with a non-minimal varint inside.
        let mut value = Vec::new();
        varint::write_with_len(&mut value, code, width);
        let ext = Extension::new(&[0x8C], &value);
        prop_assert_eq!(ext.parse_value().map_err(|e| TestCaseError::fail(format!("{:?}", e)))?, ExtensionValue::Error { code });
    }
}

// ---------------------------------------------------------------------------------------------
// Boundaries at exactly the limits
// ---------------------------------------------------------------------------------------------

//= docs/SPEC.md#decode-limits
//= type=test
//# Every length read from the wire is checked against its limit: values at the limit pass.
#[test]
fn values_exactly_at_the_limits_roundtrip() {
    let id = [7u8; MAX_STREAM_ID_LEN];
    let kid = [1u8; MAX_KEY_ID_LEN];
    let cookie = [2u8; MAX_COOKIE_LEN];
    let key = [3u8; MAX_PUBLIC_KEY_LEN];
    let name = "n".repeat(MAX_NAME_LEN);
    let big_value = vec![4u8; MAX_EXTENSION_VALUE];
    let long_tag: Vec<u8> = [vec![0x01; 15], vec![0x80]].concat();
    let mut exts: Vec<OExt> = (0..MAX_EXTENSIONS - 3)
        .map(|k| OExt {
            tag: vec![0x10, 0x90 + (k % 16) as u8],
            value: vec![],
        })
        .collect();
    exts.push(encode_val(&OVal::StreamClient(name.clone())));
    exts.push(OExt {
        tag: long_tag,
        value: big_value,
    });
    exts.push(encode_val(&OVal::OneTimeIds(vec![
        id.to_vec();
        MAX_ONE_TIME_IDS
    ])));
    let eph: Vec<PublicKey<'_>> = (0..8).map(|_| PublicKey::x448(&key[..56])).collect();
    let d = Datagram::ResponderChallenge(Challenge {
        stream_id: StreamId(&id),
        version: varint::MAX,
        credential: PublicKey {
            algorithm: KeyAlgorithm(varint::MAX),
            key: &key,
        },
        ephemerals: eph,
        cookie: &cookie,
        responder_stream_id: StreamId(&id),
        extensions: list(&exts),
        payload: &[],
        padding: 0,
    });
    check_datagram(&d, &[]).expect("at-limit challenge");
    let c = Datagram::InitiatorComplete(InitiatorComplete {
        stream_id: StreamId(&id),
        responder_key_id: &kid,
        initiator_ephemeral: PublicKey::x448(&key[..56]),
        ephemeral_index: 7,
        cookie: &cookie,
        extensions: ExtensionList::default(),
        mezzanine: Sealed(&key[..16]),
    });
    check_datagram(&c, &[]).expect("at-limit complete");
    let ack = OVal::Ack {
        largest: 10_000,
        delay_us: 0,
        first_range: 0,
        ranges: vec![(0, 0); MAX_ACK_RANGES as usize],
        partials: vec![(1, vec![0xFF; 2048]); MAX_ACK_PARTIALS as usize],
    };
    let raw = encode_val(&ack);
    assert_eq!(
        Extension::new(&raw.tag, &raw.value)
            .parse_value()
            .expect("ack at limits"),
        ack.b()
    );
}

// ---------------------------------------------------------------------------------------------
// Encoders refuse what the wire cannot carry
// ---------------------------------------------------------------------------------------------

fn hello_with<'a>(sid: &'a [u8], exts: ExtensionList<'a>) -> Datagram<'a> {
    Datagram::InitiatorHello(InitiatorHello {
        stream_id: StreamId(sid),
        version: 1,
        initiator_stream_id: StreamId(&[]),
        extensions: exts,
        payload: &[],
        padding: 0,
    })
}

fn encode_err(d: &Datagram<'_>) -> EncodeError {
    let mut out = Vec::new();
    d.encode(&mut out).expect_err("encoder must refuse")
}

fn value_err(v: &ExtensionValue<'_>) -> EncodeError {
    let mut out = Vec::new();
    v.encode_value(&mut out).expect_err("encoder must refuse")
}

fn assert_invalid(e: &EncodeError, want_field: &str) {
    match e {
        EncodeError::InvalidValue { field, .. } => assert_eq!(*field, want_field, "{e}"),
        other => panic!("expected InvalidValue on {want_field}, got {other:?}"),
    }
}

//= docs/SPEC.md#decode-limits
//= type=test
//# Stream identifiers are 0 to 16 octets.
#[test]
fn encoder_refuses_stream_id_of_17_octets() {
    let id = [0u8; 17];
    assert_eq!(
        encode_err(&hello_with(&id, ExtensionList::default())),
        EncodeError::LengthOverLimit {
            field: "stream identifier",
            length: 17,
            limit: 16
        }
    );
    let h = Datagram::InitiatorHello(InitiatorHello {
        stream_id: StreamId(&[0; 16]),
        version: 1,
        initiator_stream_id: StreamId(&id),
        extensions: ExtensionList::default(),
        payload: &[],
        padding: 0,
    });
    assert_eq!(
        encode_err(&h),
        EncodeError::LengthOverLimit {
            field: "initiator stream identifier",
            length: 17,
            limit: 16
        }
    );
    for v in [ExtensionValue::StreamId(&id), ExtensionValue::UseKeyOf(&id)] {
        assert_eq!(
            value_err(&v),
            EncodeError::LengthOverLimit {
                field: "stream identifier",
                length: 17,
                limit: 16
            }
        );
    }
    assert_eq!(
        value_err(&ExtensionValue::OneTimeIds(vec![&id])),
        EncodeError::LengthOverLimit {
            field: "one-time identifier",
            length: 17,
            limit: 16
        }
    );
}

//= docs/SPEC.md#decode-limits
//= type=test
//# An extension list holds at most 64 entries.
#[test]
fn encoder_refuses_65_extensions() {
    let l = ExtensionList(vec![Extension::new(&[0x84], &[]); MAX_EXTENSIONS + 1]);
    let mut out = Vec::new();
    assert_eq!(
        l.encode(&mut out),
        Err(EncodeError::LengthOverLimit {
            field: "extension list",
            length: 65,
            limit: 64
        })
    );
    assert_eq!(
        encode_err(&hello_with(&[0; 16], l)),
        EncodeError::LengthOverLimit {
            field: "extension list",
            length: 65,
            limit: 64
        }
    );
}

//= docs/SPEC.md#extension-tag-format
//= type=test
//# Tags are 1 to 16 octets: leading octets 0x00-0x7F, final octet 0x80-0xFF; 0xFF alone ends
//# the list.
#[test]
fn encoder_refuses_malformed_tags() {
    let seventeen: Vec<u8> = [vec![0x01; 16], vec![0x80]].concat();
    let bad: [&[u8]; 6] = [
        &[0x80, 0x80],
        &[0xFF],
        &[],
        &[0x01],
        &[0x01, 0x7f],
        &seventeen,
    ];
    for tag in bad {
        let mut out = Vec::new();
        let e = Extension::new(tag, &[])
            .encode(&mut out)
            .expect_err("bad tag refused");
        assert_invalid(&e, "extension tag");
        let l = ExtensionList(vec![Extension::new(tag, &[])]);
        assert_invalid(&encode_err(&hello_with(&[0; 16], l)), "extension tag");
    }
}

//= docs/SPEC.md#unknown-roundtrip
//= type=test
//# Only unassigned message types are carried as Unknown.
#[test]
fn encoder_refuses_unknown_datagram_with_assigned_type() {
    for t in MessageType::KNOWN {
        let d = Datagram::Unknown(UnknownDatagram {
            stream_id: StreamId(&[]),
            msg_type: t,
            body: &[0; 20],
        });
        assert_invalid(&encode_err(&d), "message type");
    }
}

//= docs/SPEC.md#decode-limits
//= type=test
//# Lengths and counts have SPEC limits; packet index < packet count; sealed sections hold at
//# least their 16-octet tag; ephemeral index < 8.
#[test]
fn encoders_refuse_other_over_limit_values() {
    let big = vec![0u8; 70_000];
    let key = PublicKey::x448(&big[..56]);
    // Lengths over their limits.
    let over_key = PublicKey {
        algorithm: KeyAlgorithm::X448,
        key: &big[..MAX_PUBLIC_KEY_LEN + 1],
    };
    assert_eq!(
        value_err(&ExtensionValue::KeyExchange(over_key)),
        EncodeError::LengthOverLimit {
            field: "key exchange public key",
            length: 1025,
            limit: 1024
        }
    );
    let name = "x".repeat(MAX_NAME_LEN + 1);
    assert_eq!(
        value_err(&ExtensionValue::StreamClient { service: &name }),
        EncodeError::LengthOverLimit {
            field: "service name",
            length: 256,
            limit: 255
        }
    );
    assert_eq!(
        value_err(&ExtensionValue::Close {
            code: 0,
            reason: &name
        }),
        EncodeError::LengthOverLimit {
            field: "close reason",
            length: 256,
            limit: 255
        }
    );
    assert_eq!(
        value_err(&ExtensionValue::OneTimeIds(vec![&[]; 17])),
        EncodeError::LengthOverLimit {
            field: "one-time identifiers",
            length: 17,
            limit: 16
        }
    );
    assert_eq!(
        value_err(&ExtensionValue::Error {
            code: varint::MAX + 1
        }),
        EncodeError::VarintTooLarge {
            field: "error code",
            value: varint::MAX + 1
        }
    );
    let mut out = Vec::new();
    assert_eq!(
        Extension::new(&[0x90], &big[..MAX_EXTENSION_VALUE + 1]).encode(&mut out),
        Err(EncodeError::LengthOverLimit {
            field: "extension value",
            length: 65_536,
            limit: 65_535
        })
    );
    let c = |eph: Vec<PublicKey<'static>>, cookie: &'static [u8]| Challenge {
        stream_id: StreamId(&[]),
        version: 1,
        credential: PublicKey::x448(&[0; 56]),
        ephemerals: eph,
        cookie,
        responder_stream_id: StreamId(&[]),
        extensions: ExtensionList::default(),
        payload: &[],
        padding: 0,
    };
    assert_eq!(
        encode_err(&Datagram::ResponderChallenge(c(
            vec![PublicKey::x448(&[0; 56]); 9],
            &[]
        ))),
        EncodeError::LengthOverLimit {
            field: "ephemeral keys",
            length: 9,
            limit: 8
        }
    );
    assert_eq!(
        encode_err(&Datagram::ResponderDefer(c(vec![], &[0; 65]))),
        EncodeError::LengthOverLimit {
            field: "cookie",
            length: 65,
            limit: 64
        }
    );
    let mut out = Vec::new();
    assert_invalid(
        &c(vec![], &[])
            .encode(MessageType::INITIATOR_HELLO, &mut out)
            .expect_err("wrong type"),
        "message type",
    );
    // Structural rules.
    let complete = |index: u64, kid: &'static [u8], mezz: &'static [u8]| {
        Datagram::InitiatorComplete(InitiatorComplete {
            stream_id: StreamId(&[]),
            responder_key_id: kid,
            initiator_ephemeral: PublicKey::x448(&[0; 56]),
            ephemeral_index: index,
            cookie: &[],
            extensions: ExtensionList::default(),
            mezzanine: Sealed(mezz),
        })
    };
    assert_invalid(&encode_err(&complete(8, &[], &[0; 16])), "ephemeral index");
    assert_invalid(
        &encode_err(&complete(0, &[], &[0; 15])),
        "mezzanine section",
    );
    assert_eq!(
        encode_err(&complete(0, &[0; 33], &[0; 16])),
        EncodeError::LengthOverLimit {
            field: "responder key id",
            length: 33,
            limit: 32
        }
    );
    let data = |t: MessageType, count: u64, index: u64, frag: &'static [u8]| {
        Datagram::Data(DataPacket {
            stream_id: StreamId(&[]),
            msg_type: t,
            nonce: 0,
            packet_count: count,
            flags: DatagramFlags(1),
            packet_index: index,
            sent_index: 0,
            retransmit: 0,
            fragment: frag,
        })
    };
    let d = MessageType::INITIATOR_DATA;
    assert_invalid(&encode_err(&data(d, 2, 2, &[0; 16])), "packet count");
    assert_invalid(&encode_err(&data(d, 0, 0, &[0; 16])), "packet count");
    assert_invalid(&encode_err(&data(d, 16_385, 0, &[0; 16])), "packet count");
    assert_invalid(&encode_err(&data(d, 2, 1, &[0; 15])), "fragment");
    assert_invalid(&encode_err(&data(d, 2, 0, &[])), "fragment");
    assert_invalid(
        &encode_err(&data(MessageType::INITIATOR_ERROR, 1, 0, &[0; 16])),
        "message type",
    );
    let e = Datagram::Error(ErrorMessage {
        stream_id: StreamId(&[]),
        msg_type: MessageType::RESPONDER_DATA,
        code: ErrorCode(1),
        extensions: ExtensionList::default(),
        padding: 0,
    });
    assert_invalid(&encode_err(&e), "message type");
    let x = Datagram::InitiatorExchange(InitiatorExchange {
        stream_id: StreamId(&[0; 16]),
        version: 1,
        initiator_stream_id: StreamId(&[]),
        responder_key_id: &[],
        initiator_ephemeral: key,
        extensions: ExtensionList::default(),
        mezzanine: Sealed(&big[..15]),
    });
    assert_invalid(&encode_err(&x), "mezzanine section");
    let r = Datagram::ResponderComplete(ResponderComplete {
        stream_id: StreamId(&[]),
        extensions: ExtensionList::default(),
        mezzanine: Sealed(&[]),
    });
    assert_invalid(&encode_err(&r), "mezzanine section");
    // Sealed sections inside plaintexts.
    let mut out = Vec::new();
    let m = CompleteMezzanine {
        credential: key,
        extensions: ExtensionList::default(),
        inner: Sealed(&[]),
        padding: 0,
    };
    assert_invalid(
        &m.encode(&mut out).expect_err("empty inner"),
        "ciphertext section",
    );
    let m = ExchangeMezzanine {
        credential: key,
        timestamp: 0,
        extensions: ExtensionList::default(),
        early: Sealed(&big[..15]),
        padding: 0,
    };
    assert_invalid(
        &m.encode(&mut out).expect_err("short early"),
        "early data section",
    );
    let m = ResponderCompleteMezzanine {
        initiator_key_id: &[],
        responder_ephemeral: key,
        early_data_accepted: false,
        responder_stream_id: StreamId(&[]),
        extensions: ExtensionList::default(),
        inner: Sealed(&big[..15]),
        padding: 0,
    };
    assert_invalid(
        &m.encode(&mut out).expect_err("short inner"),
        "ciphertext section",
    );
}

// The next tests check that every typed value the encoder accepts is one its own decoder
// accepts (encode/decode symmetry at the limits of each typed extension value).

/// Encodes `v` under its code; the encoder must either refuse it or produce a value that
/// parses back to `v`.
fn assert_refused_or_roundtrips(v: &ExtensionValue<'_>) {
    let mut value = Vec::new();
    if v.encode_value(&mut value).is_err() {
        return;
    }
    let tag = [v.code().expect("typed").0];
    match Extension::new(&tag, &value).parse_value() {
        Ok(back) => assert_eq!(&back, v),
        Err(e) => panic!(
            "encoder accepted a value its decoder rejects: value octets {}, decode error {}",
            hex::encode(&value),
            e.at(&value)
        ),
    }
}

//= docs/SPEC.md#decode-limits
//= type=test
//# An Ack carries at most 256 ranges.
#[test]
fn ack_encoder_refuses_257_ranges() {
    assert_refused_or_roundtrips(&ExtensionValue::Ack(Ack {
        largest: 10_000,
        delay_us: 0,
        first_range: 0,
        ranges: vec![(0, 0); MAX_ACK_RANGES as usize + 1],
        partials: vec![],
    }));
}

//= docs/SPEC.md#decode-limits
//= type=test
//# An Ack reports at most 64 partially received datagrams.
#[test]
fn ack_encoder_refuses_65_partials() {
    assert_refused_or_roundtrips(&ExtensionValue::Ack(Ack {
        largest: 0,
        delay_us: 0,
        first_range: 0,
        ranges: vec![],
        partials: vec![
            PartialAck {
                nonce: 0,
                bitmap: &[]
            };
            MAX_ACK_PARTIALS as usize + 1
        ],
    }));
}

//= docs/SPEC.md#roundtrip
//= type=test
//# decode(encode(x)) == x: an Ack the decoder refuses (a range below zero) cannot be encoded.
#[test]
fn ack_encoder_refuses_ranges_below_zero() {
    assert_refused_or_roundtrips(&ExtensionValue::Ack(Ack {
        largest: 0,
        delay_us: 0,
        first_range: 1,
        ranges: vec![],
        partials: vec![],
    }));
}

//= docs/SPEC.md#decode-limits
//= type=test
//# A SupportedVersions extension lists at most 16 versions.
#[test]
fn supported_versions_encoder_refuses_17_versions() {
    assert_refused_or_roundtrips(&ExtensionValue::SupportedVersions(vec![
        1;
        MAX_VERSIONS + 1
    ]));
}

//= docs/SPEC.md#roundtrip
//= type=test
//# decode(encode(x)) == x: a Ticket holds at least one octet, so an empty one cannot be encoded.
#[test]
fn ticket_encoder_refuses_empty_ticket() {
    assert_refused_or_roundtrips(&ExtensionValue::Ticket {
        lifetime_s: 0,
        ticket: &[],
    });
}

//= docs/SPEC.md#roundtrip
//= type=test
//# decode(encode(x)) == x: a list whose known extension has a malformed value (which the
//# decoder refuses) cannot be encoded.
#[test]
fn extension_list_encoder_refuses_malformed_known_values() {
    // Error extension with an extra octet; Restart with a value; Ticket with no ticket.
    let cases: [(&[u8], &[u8]); 3] = [
        (&[0x8C], &[0x05, 0x00]),
        (&[0x84], &[0x00]),
        (&[0x8B], &[0x00]),
    ];
    for (tag, value) in cases {
        let l = ExtensionList(vec![Extension::new(tag, value)]);
        let mut out = Vec::new();
        if l.encode(&mut out).is_err() {
            continue;
        }
        if let Err(e) = parse::all(&out, ExtensionList::decode) {
            panic!(
                "ExtensionList::encode accepted {} which ExtensionList::decode refuses: {e}",
                hex::encode(&out)
            );
        }
    }
}
