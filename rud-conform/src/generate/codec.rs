//! The `codec` vector set (docs/SPEC.md sections 3 and 6): valid encodings of every element,
//! including non-minimal varints and unknown extensions, and malformed or rule-breaking ones.
use rud::wire::element::Element::*;
use rud::wire::samples::{self, extension_bytes, filler, pad_to_min};
use rud::wire::{Ack, CONNECTION_STREAM_ID, ExtensionValue, MessageType, PublicKey, varint};

use super::{Bytes, FileBuilder, GenerateError};
use crate::vectors::VectorFile;

fn sample(name: &str) -> Result<Vec<u8>, GenerateError> {
    samples::all()?
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.bytes)
        .ok_or_else(|| GenerateError {
            id: name.into(),
            message: "no such sample".into(),
        })
}

fn ext(v: &ExtensionValue<'_>) -> Result<(Vec<u8>, Vec<u8>), GenerateError> {
    Ok(extension_bytes(v)?)
}

/// An extension list from (tag, value) pairs, end marker included.
fn list_bytes(pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<u8>, GenerateError> {
    let mut out = Vec::new();
    samples::list(pairs).encode(&mut out)?;
    Ok(out)
}

/// An InitiatorHello with the given stream id, version and extension-list bytes, padded to
/// `total` octets (or unpadded if already longer).
fn hello(sid: &[u8], version: u64, exts: &[u8], payload: &[u8], total: usize) -> Vec<u8> {
    let b = Bytes::default()
        .binary(sid)
        .u8(MessageType::INITIATOR_HELLO.0)
        .varint(version)
        .binary(&filler("initiator stream id", 8))
        .raw(exts)
        .binary(payload);
    let n = total.saturating_sub(b.0.len());
    b.zeros(n).0
}

fn flip_last(mut b: Vec<u8>, to: u8) -> Vec<u8> {
    if let Some(x) = b.last_mut() {
        *x = to;
    }
    b
}

pub fn codec_files() -> Result<Vec<(String, VectorFile)>, GenerateError> {
    Ok(vec![
        ("codec/varint.yaml".into(), varint()?),
        ("codec/extension-list.yaml".into(), extension_list()?),
        ("codec/stream-id.yaml".into(), stream_id()?),
        ("codec/data-plaintext.yaml".into(), data_plaintext()?),
        ("codec/data-packet.yaml".into(), data_packet()?),
        ("codec/initiator-hello.yaml".into(), initiator_hello()?),
        (
            "codec/responder-challenge.yaml".into(),
            responder_challenge()?,
        ),
        (
            "codec/initiator-complete.yaml".into(),
            initiator_complete()?,
        ),
        (
            "codec/initiator-exchange.yaml".into(),
            initiator_exchange()?,
        ),
        (
            "codec/responder-complete.yaml".into(),
            responder_complete()?,
        ),
        ("codec/responder-defer.yaml".into(), responder_defer()?),
        ("codec/error.yaml".into(), error()?),
        ("codec/sections.yaml".into(), sections()?),
        ("codec/stream-creation.yaml".into(), stream_creation()?),
        ("codec/message-types.yaml".into(), message_types()?),
        ("codec/extensions.yaml".into(), extensions()?),
    ])
}

fn varint() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.0.1", "Integers (QUIC variable-length integers)");
    for (v, n) in [
        (151_288_809_941_952_652u64, 8),
        (494_878_333, 4),
        (15_293, 2),
        (37, 1),
    ] {
        let b = Bytes::default().varint_len(v, n).0;
        f.valid(
            "varint-encoding",
            "RFC 9000 appendix A.1 example",
            Varint,
            &b,
        )?;
    }
    f.valid(
        "varint-encoding",
        "RFC 9000 A.1: 37 on two octets (non-minimal, accepted)",
        Varint,
        &Bytes::default().varint_len(37, 2).0,
    )?;
    f.valid(
        "varint-encoding",
        "zero on eight octets (non-minimal, accepted)",
        Varint,
        &Bytes::default().varint_len(0, 8).0,
    )?;
    f.valid(
        "varint-encoding",
        "largest value 2^62-1",
        Varint,
        &Bytes::default().varint(varint::MAX).0,
    )?;
    f.malformed(
        "varint-encoding",
        "eight-octet prefix with four octets",
        Varint,
        &[0xc0, 0, 0, 1],
        "truncated",
    )?;
    f.malformed("varint-encoding", "empty input", Varint, &[], "truncated")?;
    f.malformed(
        "decode-trailing",
        "a varint followed by a stray octet",
        Varint,
        &[0x25, 0x00],
        "trailing-bytes",
    )?;
    Ok(f.finish())
}

fn extension_list() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.0.4", "Packet extension lists");
    f.valid(
        "extension-list",
        "empty list: only the end marker",
        ExtensionList,
        &[0xFF],
    )?;
    let every = samples::every_extension()?;
    f.valid(
        "extension-list",
        "one of every registered extension and an unknown three-octet tag",
        ExtensionList,
        &list_bytes(&every)?,
    )?;
    let unknown = [
        (vec![0xA0], b"x".to_vec()),
        (vec![0x00, 0x7f, 0xff], vec![]),
    ];
    f.valid(
        "unknown-roundtrip",
        "unknown one-octet and three-octet tags are kept",
        ExtensionList,
        &list_bytes(&unknown)?,
    )?;
    let nonminimal = Bytes::default()
        .u8(0x82)
        .varint_len(5, 4)
        .binary(b"echo")
        .u8(0xFF)
        .0;
    f.valid(
        "varint-encoding",
        "StreamClient whose length uses a non-minimal varint",
        ExtensionList,
        &nonminimal,
    )?;
    f.malformed(
        "extension-list",
        "no end marker",
        ExtensionList,
        &Bytes::default().u8(0x8C).binary(&[3]).0,
        "truncated",
    )?;
    f.malformed(
        "extension-tag-format",
        "a tag of sixteen octets below 0x80 has no final octet",
        ExtensionList,
        &Bytes::default().raw(&[0x10; 16]).u8(0x80).u8(0).u8(0xFF).0,
        "tag-too-long",
    )?;
    f.malformed(
        "extension-tag-format",
        "tag cut off before its final octet",
        ExtensionList,
        &[0x01, 0x02],
        "truncated",
    )?;
    f.malformed(
        "decode-limits",
        "value length larger than the input",
        ExtensionList,
        &Bytes::default().u8(0xA0).varint(100).raw(b"short").0,
        "truncated",
    )?;
    f.malformed(
        "decode-limits",
        "value length over the 65535 limit",
        ExtensionList,
        &Bytes::default().u8(0xA0).varint(70_000).0,
        "length-over-limit",
    )?;
    let mut many = Bytes::default();
    for _ in 0..65 {
        many = many.u8(0xA0).varint(0);
    }
    f.malformed(
        "decode-limits",
        "65 extensions (limit 64)",
        ExtensionList,
        &many.u8(0xFF).0,
        "too-many-extensions",
    )?;
    Ok(f.finish())
}

fn stream_id() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.0.5", "Stream identifiers");
    let frag = filler("data fragment", 32);
    let data = |sid: &[u8]| {
        Bytes::default()
            .binary(sid)
            .u8(0x04)
            .varint(1)
            .varint(1)
            .u8(1)
            .varint(0)
            .raw(&[0, 1])
            .varint(0)
            .raw(&frag)
            .0
    };
    f.valid(
        "stream-id-length",
        "empty stream identifier",
        Datagram,
        &data(&[]),
    )?;
    f.valid(
        "stream-id-length",
        "sixteen-octet stream identifier (one-time id size)",
        Datagram,
        &data(&filler("one-time id", 16)),
    )?;
    let nonmin = Bytes::default()
        .varint_len(8, 2)
        .raw(&filler("sid", 8))
        .u8(0x04)
        .varint(1)
        .varint(1)
        .u8(1)
        .varint(0)
        .raw(&[0, 1])
        .varint(0)
        .raw(&frag)
        .0;
    f.valid(
        "varint-encoding",
        "stream identifier length on two octets",
        Datagram,
        &nonmin,
    )?;
    f.malformed(
        "stream-id-length",
        "seventeen-octet stream identifier",
        Datagram,
        &data(&filler("long", 17)),
        "length-over-limit",
    )?;
    f.malformed(
        "stream-id-length",
        "identifier longer than the datagram",
        Datagram,
        &[0x08, 1, 2, 3],
        "truncated",
    )?;
    f.malformed(
        "stream-id-length",
        "no message type after the identifier",
        Datagram,
        &[0x00],
        "truncated",
    )?;
    Ok(f.finish())
}

fn data_plaintext() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.5.3", "Data datagram plaintext");
    f.valid(
        "data-plaintext",
        "Ack and Metrics extensions, payload, zero padding",
        DataPlaintext,
        &sample("data-plaintext")?,
    )?;
    f.valid(
        "data-plaintext",
        "empty list, empty payload, no padding",
        DataPlaintext,
        &[0xFF, 0x00],
    )?;
    let p = Bytes::default()
        .u8(0xFF)
        .binary(b"payload")
        .zeros(5)
        .u8(1)
        .0;
    f.malformed(
        "padding-zero",
        "a non-zero octet in the padding",
        DataPlaintext,
        &p,
        "non-zero-padding",
    )?;
    f.malformed(
        "decode-limits",
        "payload length beyond the plaintext",
        DataPlaintext,
        &Bytes::default().u8(0xFF).varint(500).raw(b"abc").0,
        "truncated",
    )?;
    let ack = ext(&ExtensionValue::Ack(Ack {
        largest: 3,
        delay_us: 0,
        first_range: 0,
        ranges: vec![],
        partials: vec![],
    }))?;
    let twice = list_bytes(&[ack.clone(), ack])?;
    f.breaks(
        "extension-once",
        "two Ack extensions in one datagram",
        DataPlaintext,
        &Bytes::default().raw(&twice).binary(b"").0,
    )?;
    let cred = list_bytes(&[ext(&ExtensionValue::Credential {
        credential_type: 1,
        data: b"cred",
    })?])?;
    f.breaks(
        "creation-only-extensions",
        "Credential outside a stream creation datagram",
        DataPlaintext,
        &Bytes::default().raw(&cred).binary(b"").0,
    )?;
    Ok(f.finish())
}

fn data_packet() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.6", "Data packets and the packet header");
    f.valid(
        "data-packet",
        "single-packet datagram from the initiator",
        Datagram,
        &sample("initiator-data")?,
    )?;
    f.valid(
        "data-packet",
        "middle packet of three from the responder (no tag), sent index 0x7fff",
        Datagram,
        &sample("responder-data-fragment")?,
    )?;
    let sid = filler("responder stream id", 8);
    let frag = filler("data fragment", 20);
    let pkt =
        |nonce: (u64, usize), count: u64, flags: u8, index: u64, sent: [u8; 2], frag: &[u8]| {
            Bytes::default()
                .binary(&sid)
                .u8(0x04)
                .varint_len(nonce.0, nonce.1)
                .varint(count)
                .u8(flags)
                .varint(index)
                .raw(&sent)
                .varint(0)
                .raw(frag)
                .0
        };
    f.valid(
        "varint-encoding",
        "nonce on eight octets (non-minimal; the received octets are the AAD)",
        Datagram,
        &pkt((5, 8), 1, 1, 0, [0, 5], &frag),
    )?;
    f.valid(
        "sent-index",
        "sent index with the reserved top bit set (a hint: ignored)",
        Datagram,
        &pkt((5, 1), 1, 1, 0, [0x80, 5], &frag),
    )?;
    f.malformed(
        "data-packet",
        "packet count zero",
        Datagram,
        &pkt((5, 1), 0, 1, 0, [0, 5], &frag),
        "invalid-value",
    )?;
    f.malformed(
        "data-packet",
        "packet index equal to the packet count",
        Datagram,
        &pkt((5, 1), 2, 1, 2, [0, 5], &frag),
        "invalid-value",
    )?;
    f.malformed(
        "decode-limits",
        "packet count over 16384",
        Datagram,
        &pkt((5, 1), 16_385, 1, 0, [0, 5], &frag),
        "count-over-limit",
    )?;
    f.malformed(
        "data-packet",
        "last packet shorter than its 16-octet tag",
        Datagram,
        &pkt((5, 1), 1, 1, 0, [0, 5], &frag[..15]),
        "truncated",
    )?;
    f.malformed(
        "data-packet",
        "middle packet with an empty fragment",
        Datagram,
        &pkt((5, 1), 3, 0, 1, [0, 5], &[]),
        "truncated",
    )?;
    f.malformed(
        "data-packet",
        "header cut inside the sent index",
        Datagram,
        &pkt((5, 1), 1, 1, 0, [0, 5], &[])[..14],
        "truncated",
    )?;
    f.breaks(
        "flags-reserved",
        "reserved flag bit 4 set",
        Datagram,
        &pkt((5, 1), 1, 0x11, 0, [0, 5], &frag),
    )?;
    Ok(f.finish())
}

fn initiator_hello() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.7.1", "InitiatorHello");
    let zero = CONNECTION_STREAM_ID;
    f.valid(
        "initiator-hello",
        "plaintext query, padded to 1200 octets",
        Datagram,
        &sample("initiator-hello")?,
    )?;
    let nonmin = Bytes::default()
        .varint_len(16, 2)
        .raw(&zero)
        .u8(0x01)
        .varint_len(1, 4)
        .binary(&filler("initiator stream id", 8))
        .u8(0xFF)
        .binary(b"hi");
    let n = pad_to_min(nonmin.0.len());
    f.valid(
        "varint-encoding",
        "non-minimal identifier length and version",
        Datagram,
        &nonmin.zeros(n).0,
    )?;
    let unknown = list_bytes(&[(vec![0x05, 0xC0], b"future".to_vec())])?;
    f.valid(
        "unknown-roundtrip",
        "an unknown two-octet extension tag",
        Datagram,
        &hello(&zero, 1, &unknown, b"", 1200),
    )?;
    f.malformed(
        "padding-zero",
        "last padding octet non-zero",
        Datagram,
        &flip_last(sample("initiator-hello")?, 0x01),
        "non-zero-padding",
    )?;
    f.malformed(
        "decode-limits",
        "payload length beyond the datagram",
        Datagram,
        &Bytes::default()
            .binary(&zero)
            .u8(1)
            .varint(1)
            .binary(&[1; 8])
            .u8(0xFF)
            .varint(2000)
            .raw(&[0; 100])
            .0,
        "truncated",
    )?;
    f.malformed(
        "initiator-hello",
        "cut inside the extension list",
        Datagram,
        &sample("initiator-hello")?[..28],
        "truncated",
    )?;
    f.breaks(
        "connection-stream-id",
        "a stream identifier other than sixteen zero octets",
        Datagram,
        &hello(&filler("x", 16), 1, &[0xFF], b"", 1200),
    )?;
    f.breaks(
        "initiator-min-size",
        "unpadded: 40 octets",
        Datagram,
        &hello(&zero, 1, &[0xFF], b"", 0),
    )?;
    f.breaks(
        "version",
        "version 2",
        Datagram,
        &hello(&zero, 2, &[0xFF], b"", 1200),
    )?;
    Ok(f.finish())
}

fn challenge_bytes(t: u8, eph: &[Vec<u8>], cred_len: usize, cookie_len: usize) -> Vec<u8> {
    let mut b = Bytes::default()
        .binary(&filler("initiator stream id", 8))
        .u8(t)
        .varint(1)
        .varint(1)
        .binary(&filler("responder static key", cred_len))
        .varint(eph.len() as u64);
    for e in eph {
        b = b.varint(1).binary(e);
    }
    b.binary(&filler("cookie", cookie_len))
        .binary(&filler("responder stream id", 8))
        .u8(0xFF)
        .binary(b"")
        .0
}

fn responder_challenge() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.7.2", "ResponderChallenge");
    f.valid(
        "responder-challenge",
        "credential, two ephemeral keys, cookie and a plaintext payload",
        Datagram,
        &sample("responder-challenge")?,
    )?;
    let eph = vec![filler("e", 56)];
    f.valid(
        "responder-challenge",
        "one ephemeral key, no payload",
        Datagram,
        &challenge_bytes(0x81, &eph, 56, 21),
    )?;
    f.malformed(
        "decode-limits",
        "nine ephemeral keys (limit 8)",
        Datagram,
        &challenge_bytes(0x81, &vec![filler("e", 56); 9], 56, 21),
        "count-over-limit",
    )?;
    f.malformed(
        "decode-limits",
        "cookie of 65 octets (limit 64)",
        Datagram,
        &challenge_bytes(0x81, &eph, 56, 65),
        "length-over-limit",
    )?;
    f.breaks(
        "challenge-ephemerals",
        "no ephemeral key offered",
        Datagram,
        &challenge_bytes(0x81, &[], 56, 21),
    )?;
    f.breaks(
        "x448-key-length",
        "57-octet X448 credential (the C# form with a sign octet)",
        Datagram,
        &challenge_bytes(0x81, &eph, 57, 21),
    )?;
    Ok(f.finish())
}

fn responder_defer() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.7.6", "ResponderDefer");
    f.valid(
        "responder-defer",
        "deferral with two ephemeral keys and a cookie",
        Datagram,
        &sample("responder-defer")?,
    )?;
    let mut cut = sample("responder-defer")?;
    cut.truncate(cut.len() - 3);
    f.malformed(
        "responder-defer",
        "cut inside the responder stream identifier",
        Datagram,
        &cut,
        "truncated",
    )?;
    Ok(f.finish())
}

fn complete_bytes(index: u64, mezzanine_len: usize) -> Vec<u8> {
    Bytes::default()
        .binary(&filler("responder stream id", 8))
        .u8(0x03)
        .binary(&filler("responder key id", 16))
        .varint(1)
        .binary(&filler("initiator ephemeral", 56))
        .varint(index)
        .binary(&filler("cookie", 21))
        .u8(0xFF)
        .raw(&filler("mezzanine", mezzanine_len))
        .0
}

fn initiator_complete() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.7.3", "InitiatorComplete");
    f.valid(
        "initiator-complete",
        "padded to 1200 octets with an opaque mezzanine section",
        Datagram,
        &sample("initiator-complete")?,
    )?;
    f.malformed(
        "decode-limits",
        "ephemeral index 8 (limit 7)",
        Datagram,
        &complete_bytes(8, 1100),
        "count-over-limit",
    )?;
    f.malformed(
        "initiator-complete",
        "mezzanine shorter than its tag",
        Datagram,
        &complete_bytes(0, 15),
        "truncated",
    )?;
    f.breaks(
        "initiator-min-size",
        "an InitiatorComplete of 150 octets",
        Datagram,
        &complete_bytes(0, 20),
    )?;
    Ok(f.finish())
}

fn exchange_bytes(sid: &[u8], key_id_len: usize, mezzanine_len: usize) -> Vec<u8> {
    Bytes::default()
        .binary(sid)
        .u8(0x02)
        .varint(1)
        .binary(&filler("initiator stream id", 8))
        .binary(&filler("responder key id", key_id_len))
        .varint(1)
        .binary(&filler("initiator ephemeral", 56))
        .u8(0xFF)
        .raw(&filler("mezzanine", mezzanine_len))
        .0
}

fn initiator_exchange() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.7.4", "InitiatorExchange");
    f.valid(
        "initiator-exchange",
        "padded to 1200 octets with an opaque mezzanine section",
        Datagram,
        &sample("initiator-exchange")?,
    )?;
    f.malformed(
        "decode-limits",
        "responder key id of 33 octets (limit 32)",
        Datagram,
        &exchange_bytes(&CONNECTION_STREAM_ID, 33, 1100),
        "length-over-limit",
    )?;
    f.breaks(
        "connection-stream-id",
        "an eight-octet stream identifier",
        Datagram,
        &exchange_bytes(&filler("x", 8), 16, 1110),
    )?;
    Ok(f.finish())
}

fn responder_complete() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.7.5", "ResponderComplete");
    f.valid(
        "responder-complete",
        "an opaque mezzanine section of 180 octets",
        Datagram,
        &sample("responder-complete")?,
    )?;
    let short = Bytes::default()
        .binary(&filler("initiator stream id", 8))
        .u8(0x83)
        .u8(0xFF)
        .raw(&[7; 15])
        .0;
    f.malformed(
        "responder-complete",
        "mezzanine of 15 octets",
        Datagram,
        &short,
        "truncated",
    )?;
    Ok(f.finish())
}

fn error() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "3.7.7", "InitiatorError and ResponderError");
    f.valid(
        "error-message",
        "VersionMismatch listing the supported versions",
        Datagram,
        &sample("responder-error")?,
    )?;
    let padded = Bytes::default()
        .binary(&[])
        .u8(0x05)
        .varint(3)
        .u8(0xFF)
        .zeros(40)
        .0;
    f.valid(
        "error-message",
        "initiator HandshakeFailed with zero padding",
        Datagram,
        &padded,
    )?;
    f.malformed(
        "padding-zero",
        "padding with a non-zero octet",
        Datagram,
        &flip_last(padded, 9),
        "non-zero-padding",
    )?;
    Ok(f.finish())
}

fn sections() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new(
        "codec",
        "3.7.8",
        "Mezzanine and ciphertext section plaintexts",
    );
    f.valid(
        "inner-section",
        "StreamClient + StreamId creating a stream, and a payload",
        InnerSection,
        &sample("inner-section")?,
    )?;
    f.valid(
        "exchange-mezzanine",
        "credential, timestamp and an early-data section",
        ExchangeMezzanine,
        &sample("exchange-mezzanine")?,
    )?;
    f.valid(
        "complete-mezzanine",
        "credential and the nested ciphertext section",
        CompleteMezzanine,
        &sample("complete-mezzanine")?,
    )?;
    f.valid(
        "responder-complete-mezzanine",
        "ephemeral key, early data accepted, responder stream id",
        ResponderCompleteMezzanine,
        &sample("responder-complete-mezzanine")?,
    )?;
    let mut inner = sample("inner-section")?;
    inner.push(0);
    f.malformed(
        "inner-section",
        "the ciphertext section is never padded",
        InnerSection,
        &inner,
        "trailing-bytes",
    )?;
    let mut rcm = sample("responder-complete-mezzanine")?;
    let flag_at = 1 + 16 + 1 + 1 + 56;
    if let Some(b) = rcm.get_mut(flag_at) {
        *b = 2;
    }
    f.malformed(
        "responder-complete-mezzanine",
        "early-data flag 2",
        ResponderCompleteMezzanine,
        &rcm,
        "invalid-value",
    )?;
    let short_early = Bytes::default()
        .varint(1)
        .binary(&filler("k", 56))
        .varint(0)
        .u8(0xFF)
        .binary(&[1; 5])
        .0;
    f.malformed(
        "exchange-mezzanine",
        "early-data section of 5 octets (shorter than a tag)",
        ExchangeMezzanine,
        &short_early,
        "invalid-value",
    )?;
    f.breaks(
        "x448-key-length",
        "a 32-octet key labelled X448",
        CompleteMezzanine,
        &Bytes::default()
            .varint(1)
            .binary(&filler("k", 32))
            .u8(0xFF)
            .binary(&filler("c", 16))
            .0,
    )?;
    Ok(f.finish())
}

fn stream_creation() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "5.1", "Stream creation rules");
    let sid = filler("new stream id", 8);
    let client = ext(&ExtensionValue::StreamClient { service: "echo" })?;
    let receiver = ext(&ExtensionValue::StreamReceiver { service: "sink" })?;
    let restart = ext(&ExtensionValue::Restart)?;
    let id = ext(&ExtensionValue::StreamId(&sid))?;
    let kx = ext(&ExtensionValue::KeyExchange(PublicKey::x448(&filler(
        "kx", 56,
    ))))?;
    let inner = |pairs: &[(Vec<u8>, Vec<u8>)]| -> Result<Vec<u8>, GenerateError> {
        Ok(Bytes::default().raw(&list_bytes(pairs)?).binary(b"req").0)
    };
    f.valid(
        "stream-creation-single",
        "StreamClient with its StreamId",
        InnerSection,
        &inner(&[client.clone(), id.clone()])?,
    )?;
    f.valid(
        "stream-creation-single",
        "Restart with a new StreamId and a KeyExchange",
        InnerSection,
        &inner(&[restart, id.clone(), kx])?,
    )?;
    f.breaks(
        "stream-creation-single",
        "StreamClient and StreamReceiver in one datagram",
        InnerSection,
        &inner(&[client.clone(), receiver, id.clone()])?,
    )?;
    f.breaks(
        "stream-creation-stream-id",
        "StreamClient without a StreamId",
        InnerSection,
        &inner(std::slice::from_ref(&client))?,
    )?;
    f.breaks(
        "stream-creation-stream-id",
        "StreamClient with two StreamId extensions",
        InnerSection,
        &inner(&[client, id.clone(), id.clone()])?,
    )?;
    let long_kx = ext(&ExtensionValue::KeyExchange(PublicKey::x448(&filler(
        "kx", 57,
    ))))?;
    f.breaks(
        "x448-key-length",
        "Restart whose KeyExchange carries a 57-octet X448 key",
        InnerSection,
        &inner(&[ext(&ExtensionValue::Restart)?, id, long_kx])?,
    )?;
    Ok(f.finish())
}

fn message_types() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "6.1", "Message types");
    f.breaks(
        "message-type-known",
        "unassigned type 0x42: decoded, kept, and not processed",
        Datagram,
        &sample("unknown-type")?,
    )?;
    f.breaks(
        "message-type-known",
        "unassigned responder type 0xC0 with an empty body",
        Datagram,
        &[0x00, 0xC0],
    )?;
    Ok(f.finish())
}

fn extensions() -> Result<VectorFile, GenerateError> {
    let mut f = FileBuilder::new("codec", "6.2", "Packet extension values");
    let one = |b: Bytes| -> Vec<u8> { b.u8(0xFF).0 };
    let bad_utf8 = one(Bytes::default()
        .u8(0x82)
        .binary(&Bytes::default().binary(&[0x65, 0x63, 0xff, 0x6f]).0));
    f.malformed(
        "utf8-strings",
        "StreamClient service name with an invalid UTF-8 octet",
        ExtensionList,
        &bad_utf8,
        "invalid-utf8",
    )?;
    let long_name = one(Bytes::default()
        .u8(0x82)
        .binary(&Bytes::default().binary(&[b'a'; 256]).0));
    f.malformed(
        "decode-limits",
        "service name of 256 octets (limit 255)",
        ExtensionList,
        &long_name,
        "length-over-limit",
    )?;
    f.malformed(
        "extension-values",
        "Error extension with a stray octet after the code",
        ExtensionList,
        &one(Bytes::default().u8(0x8C).binary(&[0x03, 0x00])),
        "trailing-bytes",
    )?;
    f.malformed(
        "extension-values",
        "StreamId extension of 17 octets",
        ExtensionList,
        &one(Bytes::default().u8(0x80).binary(&[1; 17])),
        "length-over-limit",
    )?;
    let below_zero = Bytes::default()
        .varint(2)
        .varint(0)
        .varint(0)
        .varint(5)
        .varint(0)
        .0;
    f.malformed(
        "extension-values",
        "Ack whose first range goes below zero",
        ExtensionList,
        &one(Bytes::default().u8(0x89).binary(&below_zero)),
        "invalid-value",
    )?;
    f.malformed(
        "extension-values",
        "Metrics cut after two fields",
        ExtensionList,
        &one(Bytes::default().u8(0x8D).binary(&[1, 2])),
        "truncated",
    )?;
    f.malformed(
        "extension-values",
        "Ticket with a lifetime but no ticket octets",
        ExtensionList,
        &one(Bytes::default().u8(0x8B).binary(&[0x05])),
        "truncated",
    )?;
    Ok(f.finish())
}
