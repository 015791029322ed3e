//! Robustness of the RUD wire codec: no panic on any input, every truncation reported at or
//! before the cut, exact errors (kind, field, offset) for malformed structures, and the protocol
//! rules `validate::datagram` reports on well-formed but invalid datagrams.
// Helpers outside #[test] fns fail the test run on a broken fixture, as the tests do.
#![allow(clippy::expect_used, clippy::unwrap_used)]
use proptest::collection::vec;
use proptest::prelude::*;
use rud::wire::{
    Challenge, CompleteMezzanine, DataPacket, DataPlaintext, Datagram, DatagramFlags, DecodeError,
    ErrorCode, ErrorMessage, ExchangeMezzanine, Extension, ExtensionList, ExtensionValue,
    InitiatorComplete, InitiatorExchange, InitiatorHello, InnerSection, MessageType, PublicKey,
    ResponderComplete, ResponderCompleteMezzanine, Sealed, StreamId, UnknownDatagram, describe,
    parse, validate,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const ZERO16: [u8; 16] = [0; 16];
const KEY56: [u8; 56] = [0x42; 56];
const TAG16: [u8; 16] = [0x7A; 16];

fn enc(d: &Datagram<'_>) -> Vec<u8> {
    let out = d.to_vec().expect("fixture encodes");
    assert_eq!(out.len(), d.encoded_len());
    out
}

fn decode_err(bytes: &[u8]) -> DecodeError {
    match Datagram::decode(bytes) {
        Ok(d) => panic!(
            "expected an error, decoded {d:?} from {}",
            hex::encode(bytes)
        ),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_err(e: &DecodeError, kind: &str, field: &str, offset: usize) {
    assert_eq!(
        (e.kind.name(), e.field, e.offset),
        (kind, field, offset),
        "got {e}"
    );
}

/// The raw octets of an extension list (entries already encoded, end marker appended).
fn raw_list(entries: &[&[u8]]) -> Vec<u8> {
    let mut v: Vec<u8> = entries.concat();
    v.push(0xFF);
    v
}

/// InitiatorHello with the connection stream id, version 1, an empty initiator stream id, the
/// given raw extension list and the given raw tail (payload and padding). The list starts at
/// offset [`HELLO_LIST_AT`].
fn hello_raw(list: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut v = vec![0x10];
    v.extend_from_slice(&ZERO16);
    v.extend_from_slice(&[0x01, 0x01, 0x00]);
    v.extend_from_slice(list);
    v.extend_from_slice(tail);
    v
}
const HELLO_LIST_AT: usize = 20;

/// Checks everything the codec offers on whatever decodes: validation, description, tree
/// rendering, and canonical re-encoding (decode(encode(d)) == d, never longer than the input).
fn exercise(d: &Datagram<'_>, raw: &[u8]) -> Result<(), TestCaseError> {
    let _ = validate::datagram(d, raw);
    let desc = describe::datagram(d, raw.len());
    let mut tree = String::new();
    describe::render_tree(&desc, &mut tree);
    let again = d
        .to_vec()
        .map_err(|e| TestCaseError::fail(format!("decoded datagram does not re-encode: {e}")))?;
    prop_assert_eq!(again.len(), d.encoded_len());
    prop_assert!(again.len() <= raw.len());
    let back = Datagram::decode(&again)
        .map_err(|e| TestCaseError::fail(format!("re-encoding does not decode: {e}")))?;
    prop_assert_eq!(&back, d);
    Ok(())
}

fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((aad, rest)) = rud::wire::split_aad(bytes) {
        prop_assert_eq!(aad.len() + rest.len(), bytes.len());
    }
    match Datagram::decode(bytes) {
        Ok(d) => exercise(&d, bytes),
        Err(e) => {
            prop_assert!(e.offset <= bytes.len(), "offset {} past input", e.offset);
            let _ = e.to_string();
            Ok(())
        }
    }
}

macro_rules! section_no_panic {
    ($bytes:expr, $ty:ident, $describe:path) => {{
        let bytes: &[u8] = $bytes;
        match parse::all(bytes, $ty::decode) {
            Ok(v) => {
                let _ = $describe(&v);
                let mut out = Vec::new();
                v.encode(&mut out)
                    .map_err(|e| TestCaseError::fail(format!("re-encode: {e}")))?;
                prop_assert_eq!(out.len(), v.encoded_len());
                prop_assert!(out.len() <= bytes.len());
                let back = parse::all(&out, $ty::decode)
                    .map_err(|e| TestCaseError::fail(format!("re-decode: {e}")))?;
                prop_assert_eq!(back, v);
            }
            Err(e) => prop_assert!(e.offset <= bytes.len()),
        }
    }};
}

// ---------------------------------------------------------------------------------------------
// Valid fixtures: one per message type and section, each with its "tail" (where a to-the-end
// field starts and how many octets of it must be present), for the truncation tests.
// ---------------------------------------------------------------------------------------------

struct Fixture {
    name: &'static str,
    bytes: Vec<u8>,
    /// (start of the padding / to-the-end field, minimum octets it needs); `None` when every
    /// strict prefix must fail.
    tail: Option<(usize, usize)>,
}

/// A varied extension list: typed values, a multi-octet unknown tag, an empty value.
fn fixture_exts() -> ExtensionList<'static> {
    ExtensionList(vec![
        Extension::new(&[0x82], &[0x04, b'e', b'c', b'h', b'o']),
        Extension::new(&[0x80], &[1, 2, 3, 4, 5, 6, 7, 8]),
        Extension::new(&[0x01, 0x7f, 0x90], &[0xde, 0xad]),
        Extension::new(&[0x84], &[]),
        Extension::new(
            &[0x89],
            &[
                0x40, 0x64, 0x05, 0x01, 0x03, 0x01, 0x02, 0x01, 0x07, 0x01, 0xff,
            ],
        ),
        Extension::new(&[0x8C], &[0x05]),
    ])
}

fn datagram_fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    let hello = InitiatorHello {
        stream_id: StreamId(&ZERO16),
        version: 1,
        initiator_stream_id: StreamId(&[9, 8, 7, 6]),
        extensions: fixture_exts(),
        payload: b"payload",
        padding: 40,
    };
    let bytes = enc(&Datagram::InitiatorHello(hello));
    out.push(Fixture {
        name: "InitiatorHello",
        tail: Some((bytes.len() - 40, 0)),
        bytes,
    });
    let challenge = Challenge {
        stream_id: StreamId(&[9, 8, 7, 6]),
        version: 1,
        credential: PublicKey::x448(&KEY56),
        ephemerals: vec![PublicKey::x448(&KEY56), PublicKey::x448(&KEY56[..8])],
        cookie: &[0xC0; 24],
        responder_stream_id: StreamId(&[5, 5]),
        extensions: fixture_exts(),
        payload: b"hi",
        padding: 10,
    };
    for (name, d) in [
        (
            "ResponderChallenge",
            Datagram::ResponderChallenge(challenge.clone()),
        ),
        ("ResponderDefer", Datagram::ResponderDefer(challenge)),
    ] {
        let bytes = enc(&d);
        out.push(Fixture {
            name,
            tail: Some((bytes.len() - 10, 0)),
            bytes,
        });
    }
    let mezz = [0x33u8; 40];
    let x = InitiatorExchange {
        stream_id: StreamId(&ZERO16),
        version: 1,
        initiator_stream_id: StreamId(&[1]),
        responder_key_id: &[0xAB; 32],
        initiator_ephemeral: PublicKey::x448(&KEY56),
        extensions: fixture_exts(),
        mezzanine: Sealed(&mezz),
    };
    out.push(Fixture {
        name: "InitiatorExchange",
        tail: Some((x.header_len(), 16)),
        bytes: enc(&Datagram::InitiatorExchange(x)),
    });
    let c = InitiatorComplete {
        stream_id: StreamId(&[5, 5]),
        responder_key_id: &[0xAB; 8],
        initiator_ephemeral: PublicKey::x448(&KEY56),
        ephemeral_index: 1,
        cookie: &[0xC0; 24],
        extensions: fixture_exts(),
        mezzanine: Sealed(&mezz),
    };
    out.push(Fixture {
        name: "InitiatorComplete",
        tail: Some((c.header_len(), 16)),
        bytes: enc(&Datagram::InitiatorComplete(c)),
    });
    let r = ResponderComplete {
        stream_id: StreamId(&[1]),
        extensions: fixture_exts(),
        mezzanine: Sealed(&mezz),
    };
    out.push(Fixture {
        name: "ResponderComplete",
        tail: Some((r.header_len(), 16)),
        bytes: enc(&Datagram::ResponderComplete(r)),
    });
    for (name, count, index) in [("Data (last packet)", 3, 2), ("Data (middle packet)", 3, 1)] {
        let p = DataPacket {
            stream_id: StreamId(&[1, 2, 3]),
            msg_type: MessageType::RESPONDER_DATA,
            nonce: 70_000,
            packet_count: count,
            flags: DatagramFlags(1),
            packet_index: index,
            sent_index: 0x1234,
            retransmit: 2,
            fragment: &mezz,
        };
        let min = if p.is_last() { 16 } else { 1 };
        let start = p.encoded_len() - mezz.len();
        out.push(Fixture {
            name,
            tail: Some((start, min)),
            bytes: enc(&Datagram::Data(p)),
        });
    }
    let e = ErrorMessage {
        stream_id: StreamId(&[1]),
        msg_type: MessageType::INITIATOR_ERROR,
        code: ErrorCode::STATE_LOST,
        extensions: fixture_exts(),
        padding: 5,
    };
    let bytes = enc(&Datagram::Error(e));
    out.push(Fixture {
        name: "Error",
        tail: Some((bytes.len() - 5, 0)),
        bytes,
    });
    let u = UnknownDatagram {
        stream_id: StreamId(&[1, 2]),
        msg_type: MessageType(0x42),
        body: &[1, 2, 3, 4],
    };
    out.push(Fixture {
        name: "Unknown",
        tail: Some((4, 0)),
        bytes: enc(&Datagram::Unknown(u)),
    });
    out
}

/// Every strict prefix of `f` fails with a truncation at or before the cut, or (cut inside the
/// tail, past its minimum) decodes to something that re-encodes to exactly the prefix.
fn assert_prefixes(f: &Fixture, decode: impl Fn(&[u8]) -> Result<usize, DecodeError>) {
    for k in 0..f.bytes.len() {
        let prefix = &f.bytes[..k];
        let may_decode = f.tail.is_some_and(|(start, min)| k >= start + min);
        match decode(prefix) {
            Err(e) => {
                assert!(
                    !may_decode,
                    "{}: prefix of {k} octets should decode, got {e}",
                    f.name
                );
                assert!(
                    e.offset <= k,
                    "{}: prefix {k}: offset past the cut: {e}",
                    f.name
                );
                assert_eq!(e.kind.name(), "truncated", "{}: prefix {k}: {e}", f.name);
            }
            Ok(len) => {
                assert!(may_decode, "{}: prefix of {k} octets decoded", f.name);
                // Fixtures are minimally encoded, so what decodes re-encodes to the prefix.
                assert_eq!(len, k, "{}: prefix {k} re-encodes to {len} octets", f.name);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (1) No panic on arbitrary input
// ---------------------------------------------------------------------------------------------

fn known_type() -> impl Strategy<Value = u8> {
    prop::sample::select(MessageType::KNOWN.iter().map(|t| t.0).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    //= docs/SPEC.md#decode-limits
    //= type=test
    //# Decoders check every length against its limit and the remaining input before slicing:
    //# no input makes them panic.
    #[test]
    fn datagram_decode_never_panics(bytes in vec(any::<u8>(), 0..=2000)) {
        check_decode(&bytes)?;
    }

    //= docs/SPEC.md#decode-limits
    //= type=test
    //# Decoders check every length against its limit and the remaining input before slicing.
    #[test]
    fn datagram_decode_never_panics_on_known_types(
        sid in vec(any::<u8>(), 0..=16), t in known_type(),
        body in prop_oneof![vec(any::<u8>(), 0..=64), vec(any::<u8>(), 0..=1500)],
    ) {
        let mut bytes = vec![sid.len() as u8];
        bytes.extend_from_slice(&sid);
        bytes.push(t);
        bytes.extend_from_slice(&body);
        check_decode(&bytes)?;
    }

    //= docs/SPEC.md#decode-limits
    //= type=test
    //# Decoders check every length against its limit and the remaining input before slicing.
    #[test]
    fn mutated_valid_datagrams_never_panic(
        which in any::<prop::sample::Index>(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..=4),
        cut in any::<prop::sample::Index>(), do_cut in any::<bool>(),
    ) {
        let fixtures = datagram_fixtures();
        let mut bytes = fixtures[which.index(fixtures.len())].bytes.clone();
        for (at, b) in &edits {
            let k = at.index(bytes.len());
            bytes[k] = *b;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        check_decode(&bytes)?;
    }

    //= docs/SPEC.md#decode-limits
    //= type=test
    //# Decoders check every length against its limit and the remaining input before slicing.
    #[test]
    fn section_decoders_never_panic(bytes in prop_oneof![vec(any::<u8>(), 0..=2000), vec(any::<u8>(), 0..=40)]) {
        section_no_panic!(&bytes, DataPlaintext, describe::data_plaintext);
        section_no_panic!(&bytes, InnerSection, describe::inner_section);
        section_no_panic!(&bytes, ExchangeMezzanine, describe::exchange_mezzanine);
        section_no_panic!(&bytes, CompleteMezzanine, describe::complete_mezzanine);
        section_no_panic!(&bytes, ResponderCompleteMezzanine, describe::responder_complete_mezzanine);
        section_no_panic!(&bytes, ExtensionList, describe::extensions);
    }

    //= docs/SPEC.md#decode-limits
    //= type=test
    //# Decoders check every length against its limit and the remaining input before slicing.
    #[test]
    fn extension_value_parsers_never_panic(code in 0x80u8..=0xFE, value in vec(any::<u8>(), 0..=300)) {
        let tag = [code];
        let ext = Extension::new(&tag, &value);
        match ext.parse_value() {
            Ok(v) => {
                // What parses re-encodes to a value that parses to the same thing.
                let mut out = Vec::new();
                v.encode_value(&mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let again = Extension::new(&tag, &out);
                let back = again.parse_value().map_err(|e| TestCaseError::fail(e.at(&out).to_string()))?;
                if v != ExtensionValue::Unknown {
                    prop_assert_eq!(back, v);
                }
            }
            Err(e) => prop_assert!(e.at(&value).offset <= value.len()),
        }
        // The same value inside a list, through the list decoder and the describer.
        let mut raw = vec![code];
        rud::wire::varint::write(&mut raw, value.len() as u64, "len").map_err(|e| TestCaseError::fail(e.to_string()))?;
        raw.extend_from_slice(&value);
        raw.push(0xFF);
        section_no_panic!(&raw, ExtensionList, describe::extensions);
    }
}

// ---------------------------------------------------------------------------------------------
// (2) Truncation
// ---------------------------------------------------------------------------------------------

//= docs/SPEC.md#decode-limits
//= type=test
//# Lengths are checked against the remaining input before slicing: a cut datagram is refused
//# at or before the cut, unless the cut falls inside its padding or to-the-end field.
#[test]
fn every_strict_prefix_of_every_datagram_fails_or_ends_in_its_tail() {
    let fixtures = datagram_fixtures();
    assert_eq!(fixtures.len(), 10);
    for f in &fixtures {
        // The fixture itself decodes.
        let d = Datagram::decode(&f.bytes).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(d.encoded_len(), f.bytes.len(), "{}", f.name);
        assert_prefixes(f, |p| Datagram::decode(p).map(|d| d.encoded_len()));
    }
}

//= docs/SPEC.md#decode-limits
//= type=test
//# Lengths are checked against the remaining input before slicing (section plaintexts).
#[test]
fn every_strict_prefix_of_every_section_fails_or_ends_in_its_padding() {
    let sealed = [0x5Au8; 20];
    let dp = DataPlaintext {
        extensions: fixture_exts(),
        payload: b"data",
        padding: 7,
    };
    let inner = InnerSection {
        extensions: fixture_exts(),
        payload: b"inner",
    };
    let xm = ExchangeMezzanine {
        credential: PublicKey::x448(&KEY56),
        timestamp: 1_700_000_000,
        extensions: fixture_exts(),
        early: Sealed(&sealed),
        padding: 3,
    };
    let cm = CompleteMezzanine {
        credential: PublicKey::x448(&KEY56),
        extensions: fixture_exts(),
        inner: Sealed(&sealed),
        padding: 3,
    };
    let rm = ResponderCompleteMezzanine {
        initiator_key_id: &[7; 32],
        responder_ephemeral: PublicKey::x448(&KEY56),
        early_data_accepted: true,
        responder_stream_id: StreamId(&[1, 2]),
        extensions: fixture_exts(),
        inner: Sealed(&sealed),
        padding: 3,
    };
    macro_rules! fixture {
        ($name:expr, $v:expr, $ty:ident, $pad:expr) => {{
            let mut bytes = Vec::new();
            $v.encode(&mut bytes).expect("encodes");
            assert_eq!(bytes.len(), $v.encoded_len());
            let f = Fixture {
                name: $name,
                tail: $pad.map(|p: usize| (bytes.len() - p, 0)),
                bytes,
            };
            assert_eq!(parse::all(&f.bytes, $ty::decode).as_ref(), Ok(&$v));
            assert_prefixes(&f, |p| parse::all(p, $ty::decode).map(|v| v.encoded_len()));
        }};
    }
    fixture!("DataPlaintext", dp, DataPlaintext, Some(7));
    fixture!("InnerSection", inner, InnerSection, None);
    fixture!("ExchangeMezzanine", xm, ExchangeMezzanine, Some(3));
    fixture!("CompleteMezzanine", cm, CompleteMezzanine, Some(3));
    fixture!(
        "ResponderCompleteMezzanine",
        rm,
        ResponderCompleteMezzanine,
        Some(3)
    );
    let l = fixture_exts();
    fixture!("ExtensionList", l, ExtensionList, None);
}

// ---------------------------------------------------------------------------------------------
// (3) Exact errors
// ---------------------------------------------------------------------------------------------

//= docs/SPEC.md#decode-limits
//= type=test
//# A length is checked against the remaining input before slicing: a length that runs past
//# the input is "truncated", reported where the field's octets start (after its length).
#[test]
fn length_longer_than_input_is_truncated_at_the_field() {
    // Payload length 5 at offset 21, two octets follow from offset 22.
    let bytes = hello_raw(&[0xFF], &[0x05, 0xAA, 0xBB]);
    let e = decode_err(&bytes);
    assert_err(&e, "truncated", "payload", 22);
    assert!(matches!(
        e.kind,
        rud::wire::ErrorKind::Truncated {
            needed: 5,
            available: 2
        }
    ));
    // The stream identifier: length 5, three octets.
    assert_err(
        &decode_err(&[0x05, 1, 2, 3]),
        "truncated",
        "stream identifier",
        1,
    );
    // A varint that is itself cut is reported at its first octet.
    assert_err(&decode_err(&[0x40]), "truncated", "stream identifier", 0);
    assert_err(
        &decode_err(&hello_raw(&[0xFF], &[0x80, 0x00])),
        "truncated",
        "payload",
        21,
    );
    // Inside an extension: the value length runs past the input.
    assert_err(
        &decode_err(&hello_raw(&[0x82, 0x09, 0x01], &[])),
        "truncated",
        "extension value",
        HELLO_LIST_AT + 2,
    );
    // Empty input.
    assert_err(&decode_err(&[]), "truncated", "stream identifier", 0);
    // Missing message type.
    assert_err(&decode_err(&[0x01, 0xAA]), "truncated", "message type", 2);
}

//= docs/SPEC.md#decode-limits
//= type=test
//# Stream identifiers are 0 to 16 octets; the length is checked against the limit before
//# slicing.
#[test]
fn stream_id_of_17_octets_is_length_over_limit_at_0() {
    let mut bytes = vec![0x11];
    bytes.extend_from_slice(&[0; 17]);
    bytes.extend_from_slice(&[0x01, 0x01, 0x00, 0xFF, 0x00]);
    let e = decode_err(&bytes);
    assert_err(&e, "length-over-limit", "stream identifier", 0);
    assert!(matches!(
        e.kind,
        rud::wire::ErrorKind::LengthOverLimit {
            length: 17,
            limit: 16
        }
    ));
    // A huge length (no slicing happens, so no allocation or panic either).
    assert_err(
        &decode_err(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        "length-over-limit",
        "stream identifier",
        0,
    );
    // Non-minimal length of 17.
    assert_err(
        &decode_err(&[0x40, 0x11, 0x00]),
        "length-over-limit",
        "stream identifier",
        0,
    );
    // The initiator stream identifier, at offset 19.
    let mut bytes = vec![0x10];
    bytes.extend_from_slice(&ZERO16);
    bytes.extend_from_slice(&[0x01, 0x01, 0x11]);
    bytes.extend_from_slice(&[0; 17]);
    assert_err(
        &decode_err(&bytes),
        "length-over-limit",
        "initiator stream identifier",
        19,
    );
    // The StreamId extension value: 17 octets, reported at the value.
    let mut ext = vec![0x80, 0x11];
    ext.extend_from_slice(&[0; 17]);
    assert_err(
        &decode_err(&hello_raw(&raw_list(&[&ext]), &[0x00])),
        "length-over-limit",
        "stream identifier",
        HELLO_LIST_AT + 2,
    );
}

//= docs/SPEC.md#decode-limits
//= type=test
//# Every length and count is checked against its SPEC limit.
#[test]
fn other_limits_are_enforced_at_the_field() {
    // Extension value length 65536 (4-octet varint 0x80010000), reported at the length.
    let bytes = hello_raw(&[0x90, 0x80, 0x01, 0x00, 0x00], &[]);
    assert_err(
        &decode_err(&bytes),
        "length-over-limit",
        "extension value",
        HELLO_LIST_AT + 1,
    );
    // Challenge: 9 ephemeral keys (count at offset 61), cookie of 65 (at offset 62).
    let mut ch = vec![0x00, 0x81, 0x01, 0x01, 0x38];
    ch.extend_from_slice(&KEY56);
    let mut nine = ch.clone();
    nine.push(0x09);
    assert_err(
        &decode_err(&nine),
        "count-over-limit",
        "ephemeral key count",
        61,
    );
    let mut cookie = ch.clone();
    cookie.extend_from_slice(&[0x00, 0x40, 0x41]);
    assert_err(&decode_err(&cookie), "length-over-limit", "cookie", 62);
    // Public key of 1025 octets (length 0x4401 at offset 4).
    let mut big = vec![0x00, 0x81, 0x01, 0x01, 0x44, 0x01];
    big.extend_from_slice(&[0; 1025]);
    assert_err(
        &decode_err(&big),
        "length-over-limit",
        "responder credential",
        4,
    );
    // InitiatorComplete: key id of 33, ephemeral index 8.
    let kid = [0x00, 0x03, 0x21];
    assert_err(
        &decode_err(&kid),
        "length-over-limit",
        "responder key id",
        2,
    );
    let mut c = vec![0x00, 0x03, 0x00, 0x01, 0x38];
    c.extend_from_slice(&KEY56);
    c.push(0x08);
    assert_err(&decode_err(&c), "count-over-limit", "ephemeral index", 61);
    // Data: packet count 16385, at offset 3.
    assert_err(
        &decode_err(&[0x00, 0x04, 0x00, 0x80, 0x00, 0x40, 0x01, 0x01]),
        "count-over-limit",
        "packet count",
        3,
    );
    // OneTimeIds of 17 identifiers: the 17th is reported.
    let mut v = vec![0x81, 0x11];
    v.extend_from_slice(&[0x00; 17]);
    assert_err(
        &decode_err(&hello_raw(&raw_list(&[&v]), &[0x00])),
        "count-over-limit",
        "one-time identifiers",
        HELLO_LIST_AT + 2 + 16,
    );
    // SupportedVersions of 17.
    let mut v = vec![0x8E, 0x11];
    v.extend_from_slice(&[0x01; 17]);
    assert_err(
        &decode_err(&hello_raw(&raw_list(&[&v]), &[0x00])),
        "count-over-limit",
        "supported versions",
        HELLO_LIST_AT + 2 + 16,
    );
    // Ack of 257 ranges.
    let v = [0x89, 0x05, 0x00, 0x00, 0x41, 0x01, 0x00];
    assert_err(
        &decode_err(&hello_raw(&raw_list(&[&v]), &[0x00])),
        "count-over-limit",
        "ack range count",
        HELLO_LIST_AT + 4,
    );
}

//= docs/SPEC.md#utf8-strings
//= type=test
//# Service names and close reasons are UTF-8; invalid UTF-8 is refused at the first bad octet.
#[test]
fn bad_utf8_service_name_is_reported_at_the_first_bad_octet() {
    // StreamClient "ec" 0xC3 0x28 "o": 0xC3 lacks its continuation octet.
    let ext: &[u8] = &[0x82, 0x06, 0x05, b'e', b'c', 0xC3, 0x28, b'o'];
    let bytes = hello_raw(&raw_list(&[ext]), &[0x00]);
    assert_eq!(bytes[HELLO_LIST_AT + 5], 0xC3);
    assert_err(
        &decode_err(&bytes),
        "invalid-utf8",
        "service name",
        HELLO_LIST_AT + 5,
    );
    // StreamReceiver ending in a cut multi-octet sequence.
    let ext: &[u8] = &[0x83, 0x04, 0x03, b'a', 0xE2, 0x82];
    assert_err(
        &decode_err(&hello_raw(&raw_list(&[ext]), &[0x00])),
        "invalid-utf8",
        "service name",
        HELLO_LIST_AT + 4,
    );
    // Close reason in an Error message: [sid 0][0x85][code 1][0x8A len 4: code 0, "\xFF"...]
    let bytes = [0x00, 0x85, 0x01, 0x8A, 0x04, 0x00, 0x02, b'x', 0xFF, 0xFF];
    assert_err(&decode_err(&bytes), "invalid-utf8", "close reason", 8);
    // Valid multi-octet UTF-8 passes.
    let ext: &[u8] = &[0x82, 0x04, 0x03, 0xE2, 0x82, 0xAC];
    Datagram::decode(&hello_raw(&raw_list(&[ext]), &[0x00])).expect("euro sign");
}

//= docs/SPEC.md#padding-zero
//= type=test
//# Padding octets must be zero; the first non-zero one is refused at its offset.
#[test]
fn non_zero_padding_is_reported_at_its_offset() {
    // Payload length 0 at offset 21, padding from 22; the 7 is at 25.
    let bytes = hello_raw(&[0xFF], &[0x00, 0, 0, 0, 7, 0, 9]);
    assert_err(&decode_err(&bytes), "non-zero-padding", "padding", 25);
    // Error message padding.
    let bytes = [0x00, 0x05, 0x01, 0xFF, 0x00, 0x01];
    assert_err(&decode_err(&bytes), "non-zero-padding", "padding", 5);
    // Challenge padding.
    let mut ch = vec![0x00, 0x82, 0x01, 0x01, 0x38];
    ch.extend_from_slice(&KEY56);
    ch.extend_from_slice(&[0x00, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x80]);
    let at = ch.len() - 1;
    assert_err(&decode_err(&ch), "non-zero-padding", "padding", at);
    // Section plaintexts.
    let e = parse::all(&[0xFF, 0x00, 0x00, 0x01], DataPlaintext::decode).unwrap_err();
    assert_err(&e, "non-zero-padding", "padding", 3);
    let mut cm = vec![0x01, 0x00, 0xFF, 0x10];
    cm.extend_from_slice(&TAG16);
    cm.extend_from_slice(&[0x00, 0x02]);
    let e = parse::all(&cm, CompleteMezzanine::decode).unwrap_err();
    assert_err(&e, "non-zero-padding", "padding", 21);
}

//= docs/SPEC.md#extension-tag-format
//= type=test
//# Tags are 1 to 16 octets: leading octets 0x00-0x7F, final octet 0x80-0xFF.
#[test]
fn tag_of_16_octets_without_final_octet_is_tag_too_long() {
    let mut list = vec![0x01; 16];
    list.extend_from_slice(&[0x80, 0x00, 0xFF]);
    assert_err(
        &decode_err(&hello_raw(&list, &[0x00])),
        "tag-too-long",
        "extension tag",
        HELLO_LIST_AT,
    );
    // 15 leading octets then a final one: a valid 16-octet tag.
    let mut list = vec![0x01; 15];
    list.extend_from_slice(&[0x80, 0x00, 0xFF]);
    let raw = hello_raw(&list, &[0x00]);
    let d = Datagram::decode(&raw).expect("16-octet tag");
    let Datagram::InitiatorHello(h) = d else {
        panic!("not a hello")
    };
    assert_eq!(h.extensions.0[0].tag.0.len(), 16);
    // Input ending inside a tag: truncated at the tag.
    assert_err(
        &decode_err(&hello_raw(&[0x01; 15], &[])),
        "truncated",
        "extension tag",
        HELLO_LIST_AT,
    );
    // List with no end marker.
    assert_err(
        &decode_err(&hello_raw(&[0x84, 0x00], &[])),
        "truncated",
        "extension tag or end of list",
        HELLO_LIST_AT + 2,
    );
}

//= docs/SPEC.md#decode-limits
//= type=test
//# An extension list holds at most 64 entries.
#[test]
fn sixty_five_extensions_are_too_many() {
    let entry: &[u8] = &[0x84, 0x00];
    let list = raw_list(&[entry; 65]);
    let e = decode_err(&hello_raw(&list, &[0x00]));
    assert_err(
        &e,
        "too-many-extensions",
        "extension list",
        HELLO_LIST_AT + 64 * 2,
    );
    let list = raw_list(&[entry; 64]);
    Datagram::decode(&hello_raw(&list, &[0x00])).expect("64 extensions");
}

//= docs/SPEC.md#decode-limits
//= type=test
//# A data packet's index is below its packet count, and the count is at least one.
#[test]
fn packet_index_not_below_count_is_invalid() {
    let frag = [0u8; 16];
    let packet = |count: u8, index: u8| {
        let mut v = vec![0x00, 0x04, 0x00, count, 0x01, index, 0x00, 0x00, 0x00];
        v.extend_from_slice(&frag);
        v
    };
    assert_err(
        &decode_err(&packet(2, 2)),
        "invalid-value",
        "packet index",
        5,
    );
    assert_err(
        &decode_err(&packet(2, 9)),
        "invalid-value",
        "packet index",
        5,
    );
    assert_err(
        &decode_err(&packet(0, 0)),
        "invalid-value",
        "packet count",
        3,
    );
    Datagram::decode(&packet(2, 1)).expect("index 1 of 2");
    // A last fragment shorter than the tag; a middle fragment may be one octet.
    let mut short = packet(1, 0);
    short.truncate(9 + 15);
    assert_err(&decode_err(&short), "truncated", "fragment", 9);
    let mut middle = packet(2, 0);
    middle.truncate(10);
    Datagram::decode(&middle).expect("one-octet middle fragment");
    middle.truncate(9);
    assert_err(&decode_err(&middle), "truncated", "fragment", 9);
}

//= docs/SPEC.md#decode-limits
//= type=test
//# Sealed sections hold at least their 16-octet tag; flags that are octets hold 0 or 1.
#[test]
fn sealed_sections_and_booleans_are_checked() {
    // ResponderComplete whose mezzanine is 15 octets: truncated at the mezzanine.
    let mut r = vec![0x00, 0x83, 0xFF];
    r.extend_from_slice(&TAG16[..15]);
    assert_err(&decode_err(&r), "truncated", "mezzanine section", 3);
    // CompleteMezzanine whose inner section is 15 octets: invalid at its length.
    let mut cm = vec![0x01, 0x00, 0xFF, 0x0F];
    cm.extend_from_slice(&TAG16[..15]);
    let e = parse::all(&cm, CompleteMezzanine::decode).unwrap_err();
    assert_err(&e, "invalid-value", "ciphertext section", 3);
    // ExchangeMezzanine: an empty early section is allowed, 1 octet is not.
    let xm = [0x01, 0x00, 0x05, 0xFF, 0x00];
    parse::all(&xm, ExchangeMezzanine::decode).expect("no early data");
    let xm = [0x01, 0x00, 0x05, 0xFF, 0x01, 0x00];
    let e = parse::all(&xm, ExchangeMezzanine::decode).unwrap_err();
    assert_err(&e, "invalid-value", "early data section", 4);
    // ResponderCompleteMezzanine: early data accepted octet 2.
    let rm = [0x00, 0x01, 0x00, 0x02, 0x00, 0xFF, 0x10];
    let e = parse::all(&rm, ResponderCompleteMezzanine::decode).unwrap_err();
    assert_err(&e, "invalid-value", "early data accepted", 3);
    // Ack whose first range goes below zero: invalid at the first range.
    let v: &[u8] = &[0x89, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00];
    assert_err(
        &decode_err(&hello_raw(&raw_list(&[v]), &[0x00])),
        "invalid-value",
        "ack ranges",
        HELLO_LIST_AT + 5,
    );
}

//= docs/SPEC.md#decode-trailing
//= type=test
//# An extension value is consumed whole: octets after a value that parses are refused.
#[test]
fn trailing_bytes_after_an_extension_value_are_refused() {
    // Error message: [sid 0][0x05][code 1][0x8C len 2: code 5, extra 0x00][end]
    let bytes = [0x00, 0x05, 0x01, 0x8C, 0x02, 0x05, 0x00, 0xFF];
    let e = decode_err(&bytes);
    assert_err(&e, "trailing-bytes", "extension value", 6);
    assert!(matches!(
        e.kind,
        rud::wire::ErrorKind::TrailingBytes { count: 1 }
    ));
    // Restart carries no value.
    let bytes = [0x00, 0x05, 0x01, 0x84, 0x01, 0x00, 0xFF];
    assert_err(&decode_err(&bytes), "trailing-bytes", "extension value", 5);
    // A StreamClient value with octets after the name.
    let bytes = [0x00, 0x85, 0x01, 0x82, 0x03, 0x01, b'a', b'b', 0xFF];
    assert_err(&decode_err(&bytes), "trailing-bytes", "extension value", 7);
    // A Metrics value cut short is truncated inside the value.
    let bytes = [0x00, 0x85, 0x01, 0x8D, 0x03, 0x01, 0x01, 0x00, 0xFF];
    assert_err(
        &decode_err(&bytes),
        "truncated",
        "delta time last received",
        8,
    );
}

//= docs/SPEC.md#decode-trailing
//= type=test
//# Top-level decode rejects trailing bytes.
#[test]
fn top_level_decode_rejects_trailing_bytes() {
    // InnerSection ends at its payload: anything after it is trailing.
    let e = parse::all(&[0xFF, 0x01, 0xAA, 0xBB, 0xCC], InnerSection::decode).unwrap_err();
    assert_err(&e, "trailing-bytes", "end of input", 3);
    assert!(matches!(
        e.kind,
        rud::wire::ErrorKind::TrailingBytes { count: 2 }
    ));
    let e = parse::all(&[0x84, 0x00, 0xFF, 0x00], ExtensionList::decode).unwrap_err();
    assert_err(&e, "trailing-bytes", "end of input", 3);
    // Every datagram body ends in padding or a to-the-end field, so an extra octet after a
    // padded datagram is more padding (or, non-zero, a padding error), never ignored.
    let bytes = hello_raw(&[0xFF], &[0x00, 0x00]);
    let Datagram::InitiatorHello(h) = Datagram::decode(&bytes).expect("hello") else {
        panic!("not a hello")
    };
    assert_eq!(h.padding, 1);
    let bytes = hello_raw(&[0xFF], &[0x00, 0x01]);
    assert_err(&decode_err(&bytes), "non-zero-padding", "padding", 22);
}

// ---------------------------------------------------------------------------------------------
// (4) Protocol rules
// ---------------------------------------------------------------------------------------------

fn rules(bytes: &[u8]) -> Vec<(&'static str, Option<usize>)> {
    let d = Datagram::decode(bytes).unwrap_or_else(|e| panic!("{e}: {}", hex::encode(bytes)));
    validate::datagram(&d, bytes)
        .into_iter()
        .map(|v| (v.rule, v.offset))
        .collect()
}

/// A Hello with the connection identifier, `version`, `sid` as stream identifier and the given
/// extensions, padded to `size` octets (or unpadded when it is longer).
fn hello(sid: &[u8], version: u64, exts: &[(&[u8], &[u8])], size: usize) -> Vec<u8> {
    let mut h = InitiatorHello {
        stream_id: StreamId(sid),
        version,
        initiator_stream_id: StreamId(&[]),
        extensions: ExtensionList(exts.iter().map(|(t, v)| Extension::new(t, v)).collect()),
        payload: &[],
        padding: 0,
    };
    h.padding = size.saturating_sub(h.encoded_len());
    enc(&Datagram::InitiatorHello(h))
}

const SVC_A: &[u8] = &[0x01, b'a'];
const ID8: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8];

#[test]
fn valid_padded_hello_has_no_violations() {
    let bytes = hello(&ZERO16, 1, &[(&[0x82], SVC_A), (&[0x80], ID8)], 1200);
    assert_eq!(bytes.len(), 1200);
    assert_eq!(rules(&bytes), vec![]);
    let bytes = hello(&ZERO16, 1, &[], 1500);
    assert_eq!(rules(&bytes), vec![]);
}

//= docs/SPEC.md#stream-creation-single
//= type=test
//# Senders MUST NOT specify more than one stream creation extension in a single datagram.
#[test]
fn two_stream_creation_extensions_are_refused() {
    // The list starts at 20; StreamClient "a" takes 4 octets, so the second tag is at 24.
    let bytes = hello(
        &ZERO16,
        1,
        &[(&[0x82], SVC_A), (&[0x83], SVC_A), (&[0x80], ID8)],
        1200,
    );
    assert_eq!(bytes[24], 0x83);
    assert_eq!(rules(&bytes), vec![("stream-creation-single", Some(24))]);
    // Restart counts as stream creation too.
    let bytes = hello(
        &ZERO16,
        1,
        &[(&[0x80], ID8), (&[0x84], &[]), (&[0x82], SVC_A)],
        1200,
    );
    assert_eq!(rules(&bytes), vec![("stream-creation-single", Some(32))]);
}

//= docs/SPEC.md#stream-creation-stream-id
//= type=test
//# A datagram that creates a stream MUST carry exactly one StreamId extension.
#[test]
fn stream_creation_without_stream_id_is_refused() {
    let bytes = hello(&ZERO16, 1, &[(&[0x82], SVC_A)], 1200);
    assert_eq!(rules(&bytes), vec![("stream-creation-stream-id", None)]);
    // Two StreamIds: reported at the second (20 + 4 + 10).
    let bytes = hello(
        &ZERO16,
        1,
        &[(&[0x82], SVC_A), (&[0x80], ID8), (&[0x80], ID8)],
        1200,
    );
    assert_eq!(bytes[34], 0x80);
    assert_eq!(rules(&bytes), vec![("stream-creation-stream-id", Some(34))]);
}

//= docs/SPEC.md#creation-only-extensions
//= type=test
//# StreamId, Credential, KeyExchange, UseKeyOf and EncryptionParameters MUST NOT appear in a
//# datagram that does not create a stream.
#[test]
fn creation_only_extensions_without_creation_are_refused() {
    let mut key = vec![0x01, 0x38];
    key.extend_from_slice(&KEY56);
    let cases: [(&[u8], &[u8]); 5] = [
        (&[0x80], ID8),
        (&[0x85], &[0x01, 0xAA]),
        (&[0x86], &key),
        (&[0x87], ID8),
        (&[0x88], &[0x01, 0x02]),
    ];
    for (tag, value) in cases {
        // After an unrelated Error extension (3 octets), at offset 23.
        let bytes = hello(&ZERO16, 1, &[(&[0x8C], &[0x01]), (tag, value)], 1200);
        assert_eq!(
            rules(&bytes),
            vec![("creation-only-extensions", Some(23))],
            "tag {tag:02x?}"
        );
    }
}

//= docs/SPEC.md#extension-once
//= type=test
//# Ack, Metrics, Close, Error and UseKeyOf MUST appear at most once in a datagram.
#[test]
fn repeated_once_only_extensions_are_refused() {
    // Error message: [sid 0][0x85][code 1] list at 3; each Error extension is 3 octets.
    let bytes = [0x00, 0x85, 0x01, 0x8C, 0x01, 0x01, 0x8C, 0x01, 0x02, 0xFF];
    assert_eq!(rules(&bytes), vec![("extension-once", Some(6))]);
}

//= docs/SPEC.md#connection-stream-id
//= type=test
//# InitiatorHello and InitiatorExchange MUST carry the stream identifier of sixteen zero octets.
#[test]
fn hello_with_non_zero_stream_id_is_refused() {
    let mut sid = ZERO16;
    sid[15] = 1;
    assert_eq!(
        rules(&hello(&sid, 1, &[], 1200)),
        vec![("connection-stream-id", Some(0))]
    );
    assert_eq!(
        rules(&hello(&[], 1, &[], 1200)),
        vec![("connection-stream-id", Some(0))]
    );
    let x = InitiatorExchange {
        stream_id: StreamId(&[1]),
        version: 1,
        initiator_stream_id: StreamId(&[]),
        responder_key_id: &[],
        initiator_ephemeral: PublicKey::x448(&KEY56),
        extensions: ExtensionList::default(),
        mezzanine: Sealed(&[0; 1200]),
    };
    assert_eq!(
        rules(&enc(&Datagram::InitiatorExchange(x))),
        vec![("connection-stream-id", Some(0))]
    );
}

//= docs/SPEC.md#initiator-min-size
//= type=test
//# Every initiator connection datagram MUST be at least 1200 octets long.
#[test]
fn initiator_datagrams_under_1200_octets_are_refused() {
    assert_eq!(
        rules(&hello(&ZERO16, 1, &[], 1199)),
        vec![("initiator-min-size", None)]
    );
    assert_eq!(
        rules(&hello(&ZERO16, 1, &[], 0)),
        vec![("initiator-min-size", None)]
    );
    let c = InitiatorComplete {
        stream_id: StreamId(&[1]),
        responder_key_id: &[],
        initiator_ephemeral: PublicKey::x448(&KEY56),
        ephemeral_index: 0,
        cookie: &[],
        extensions: ExtensionList::default(),
        mezzanine: Sealed(&TAG16),
    };
    assert_eq!(
        rules(&enc(&Datagram::InitiatorComplete(c))),
        vec![("initiator-min-size", None)]
    );
}

//= docs/SPEC.md#version
//= type=test
//# A receiver MUST NOT process a connection datagram of a version it does not support.
#[test]
fn unsupported_version_is_refused() {
    assert_eq!(
        rules(&hello(&ZERO16, 2, &[], 1200)),
        vec![("version", None)]
    );
}

fn challenge_bytes(credential: &[u8], ephemerals: &[&[u8]]) -> Vec<u8> {
    let c = Challenge {
        stream_id: StreamId(&[]),
        version: 1,
        credential: PublicKey::x448(credential),
        ephemerals: ephemerals.iter().map(|k| PublicKey::x448(k)).collect(),
        cookie: &[],
        responder_stream_id: StreamId(&[]),
        extensions: ExtensionList::default(),
        payload: &[],
        padding: 0,
    };
    enc(&Datagram::ResponderChallenge(c))
}

//= docs/SPEC.md#x448-key-length
//= type=test
//# An X448 public key MUST be exactly 56 octets.
#[test]
fn x448_key_of_57_octets_is_refused() {
    // [sid 0][0x81][version 1][credential: alg 1, len 56, key][count 1][alg 1, len 57, key]
    let k57 = [0x42u8; 57];
    let bytes = challenge_bytes(&KEY56, &[&k57]);
    assert_eq!(rules(&bytes), vec![("x448-key-length", Some(64))]);
    assert_eq!(bytes[63], 57);
    // A 55-octet credential, at offset 5.
    let bytes = challenge_bytes(&KEY56[..55], &[&KEY56]);
    assert_eq!(rules(&bytes), vec![("x448-key-length", Some(5))]);
    // An empty key: reported where its (empty) octets would start, after its length.
    let bytes = challenge_bytes(&[], &[&KEY56]);
    assert_eq!(rules(&bytes), vec![("x448-key-length", Some(5))]);
    // The valid form passes.
    assert_eq!(rules(&challenge_bytes(&KEY56, &[&KEY56])), vec![]);
}

//= docs/SPEC.md#challenge-ephemerals
//= type=test
//# A ResponderChallenge or ResponderDefer MUST offer at least one ephemeral key.
#[test]
fn challenge_without_ephemerals_is_refused() {
    assert_eq!(
        rules(&challenge_bytes(&KEY56, &[])),
        vec![("challenge-ephemerals", None)]
    );
}

//= docs/SPEC.md#flags-reserved
//= type=test
//# Senders MUST set the reserved flag bits to zero; receivers MUST drop a datagram with any of
//# them set.
#[test]
fn reserved_flag_bits_are_refused() {
    let data = |flags: u8| {
        enc(&Datagram::Data(DataPacket {
            stream_id: StreamId(&[1]),
            msg_type: MessageType::INITIATOR_DATA,
            nonce: 0,
            packet_count: 1,
            flags: DatagramFlags(flags),
            packet_index: 0,
            sent_index: 0,
            retransmit: 0,
            fragment: &TAG16,
        }))
    };
    for flags in [0x10, 0x11, 0x80, 0xFE, 0xFF] {
        assert_eq!(
            rules(&data(flags)),
            vec![("flags-reserved", None)],
            "{flags:#x}"
        );
    }
    // FINAL, CONTROL, ABORT and ACK_ONLY are defined (SPEC 3.6.1).
    for flags in [0x00, 0x01, 0x03, 0x05, 0x0B] {
        assert_eq!(rules(&data(flags)), vec![], "{flags:#x}");
    }
}

//= docs/SPEC.md#unknown-roundtrip
//= type=test
//# Unknown message types decode (their body opaque) and are reported, not processed.
#[test]
fn unknown_message_type_is_reported() {
    for t in [0x00u8, 0x06, 0x42, 0x80, 0x86, 0xFF] {
        let bytes = [0x01, 0xAA, t, 0x01, 0x02];
        assert_eq!(rules(&bytes), vec![("message-type-known", None)], "{t:#x}");
    }
}
