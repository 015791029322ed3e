//! Deterministic sample encodings of every element SPEC defines: the seeds of the codec vectors,
//! the fuzz corpora and the demo. Keys, cookies and ciphertexts here are filler octets (the codec
//! does not look inside them); the handshake vectors carry real cryptographic values.
use super::PROFILE_VERSION;
use super::challenge::Challenge;
use super::complete::InitiatorComplete;
use super::data::{DataPacket, DatagramFlags};
use super::datagram::{Datagram, UnknownDatagram};
use super::element::Element;
use super::error::EncodeError;
use super::error_message::{ErrorCode, ErrorMessage};
use super::exchange::InitiatorExchange;
use super::ext::{Ack, ExtensionCode, ExtensionValue, Metrics, PartialAck};
use super::extension::{Extension, ExtensionList};
use super::hello::InitiatorHello;
use super::limits::MIN_INITIATOR_DATAGRAM;
use super::message_type::MessageType;
use super::public_key::PublicKey;
use super::responder_complete::ResponderComplete;
use super::sealed::Sealed;
use super::sections::{
    CompleteMezzanine, DataPlaintext, ExchangeMezzanine, InnerSection, ResponderCompleteMezzanine,
};
use super::stream_id::{CONNECTION_STREAM_ID, StreamId};

/// Deterministic filler octets named by a label (FNV-1a seed, xorshift stream).
pub fn filler(label: &str, n: usize) -> Vec<u8> {
    let mut s: u64 = label.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s.to_le_bytes()[0]
        })
        .collect()
}

/// One sample: a name, the element it is, and its encoding.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: &'static str,
    pub element: Element,
    pub bytes: Vec<u8>,
}

/// An extension's tag and value octets, owned.
pub type OwnedExtension = (Vec<u8>, Vec<u8>);

/// Encodes one typed extension value under its registry tag.
pub fn extension_bytes(v: &ExtensionValue<'_>) -> Result<OwnedExtension, EncodeError> {
    let code = v.code().ok_or(EncodeError::InvalidValue {
        field: "extension",
        why: "unknown extensions have no registry tag",
    })?;
    let mut value = Vec::new();
    v.encode_value(&mut value)?;
    Ok((vec![code.0], value))
}

/// Builds an extension list from owned (tag, value) pairs.
pub fn list(pairs: &[OwnedExtension]) -> ExtensionList<'_> {
    ExtensionList(pairs.iter().map(|(t, v)| Extension::new(t, v)).collect())
}

/// Padding that brings an initiator datagram of `len` octets to the 1200-octet minimum.
pub fn pad_to_min(len: usize) -> usize {
    MIN_INITIATOR_DATAGRAM.saturating_sub(len)
}

/// Every sample, in SPEC order.
pub fn all() -> Result<Vec<Sample>, EncodeError> {
    let isid = filler("initiator stream id", 8);
    let rsid = filler("responder stream id", 8);
    let static_r = filler("responder static key", 56);
    let static_i = filler("initiator static key", 56);
    let eph_i = filler("initiator ephemeral", 56);
    let eph_r1 = filler("responder ephemeral 1", 56);
    let eph_r2 = filler("responder ephemeral 2", 56);
    let key_id = filler("responder key id", 16);
    let ikey_id = filler("initiator key id", 16);
    let cookie = filler("cookie", 21);
    let mut out = Vec::new();
    let mut push = |name, element, bytes| {
        out.push(Sample {
            name,
            element,
            bytes,
        })
    };

    let mut hello = InitiatorHello {
        stream_id: StreamId(&CONNECTION_STREAM_ID),
        version: PROFILE_VERSION,
        initiator_stream_id: StreamId(&isid),
        extensions: ExtensionList::default(),
        payload: b"services?",
        padding: 0,
    };
    hello.padding = pad_to_min(hello.encoded_len());
    push(
        "initiator-hello",
        Element::Datagram,
        Datagram::InitiatorHello(hello).to_vec()?,
    );

    let challenge = Challenge {
        stream_id: StreamId(&isid),
        version: PROFILE_VERSION,
        credential: PublicKey::x448(&static_r),
        ephemerals: vec![PublicKey::x448(&eph_r1), PublicKey::x448(&eph_r2)],
        cookie: &cookie,
        responder_stream_id: StreamId(&rsid),
        extensions: ExtensionList::default(),
        payload: b"echo discard sink",
        padding: 0,
    };
    push(
        "responder-challenge",
        Element::Datagram,
        Datagram::ResponderChallenge(challenge.clone()).to_vec()?,
    );
    push(
        "responder-defer",
        Element::Datagram,
        Datagram::ResponderDefer(Challenge {
            payload: b"",
            ..challenge
        })
        .to_vec()?,
    );

    let mz = filler("complete mezzanine", 1_000);
    let mut complete = InitiatorComplete {
        stream_id: StreamId(&rsid),
        responder_key_id: &key_id,
        initiator_ephemeral: PublicKey::x448(&eph_i),
        ephemeral_index: 1,
        cookie: &cookie,
        extensions: ExtensionList::default(),
        mezzanine: Sealed(&mz),
    };
    let mz_full = filler(
        "complete mezzanine",
        mz.len() + pad_to_min(complete.encoded_len()),
    );
    complete.mezzanine = Sealed(&mz_full);
    push(
        "initiator-complete",
        Element::Datagram,
        Datagram::InitiatorComplete(complete).to_vec()?,
    );

    let mut exchange = InitiatorExchange {
        stream_id: StreamId(&CONNECTION_STREAM_ID),
        version: PROFILE_VERSION,
        initiator_stream_id: StreamId(&isid),
        responder_key_id: &key_id,
        initiator_ephemeral: PublicKey::x448(&eph_i),
        extensions: ExtensionList::default(),
        mezzanine: Sealed(&mz),
    };
    let xmz = filler(
        "exchange mezzanine",
        mz.len() + pad_to_min(exchange.encoded_len()),
    );
    exchange.mezzanine = Sealed(&xmz);
    push(
        "initiator-exchange",
        Element::Datagram,
        Datagram::InitiatorExchange(exchange).to_vec()?,
    );

    let rmz = filler("responder complete mezzanine", 180);
    push(
        "responder-complete",
        Element::Datagram,
        Datagram::ResponderComplete(ResponderComplete {
            stream_id: StreamId(&isid),
            extensions: ExtensionList::default(),
            mezzanine: Sealed(&rmz),
        })
        .to_vec()?,
    );

    let frag = filler("data fragment", 64);
    let data = DataPacket {
        stream_id: StreamId(&rsid),
        msg_type: MessageType::INITIATOR_DATA,
        nonce: 7,
        packet_count: 1,
        flags: DatagramFlags(DatagramFlags::FINAL),
        packet_index: 0,
        sent_index: 7,
        retransmit: 0,
        fragment: &frag,
    };
    push(
        "initiator-data",
        Element::Datagram,
        Datagram::Data(data.clone()).to_vec()?,
    );
    let mid = filler("middle fragment", 1_200);
    push(
        "responder-data-fragment",
        Element::Datagram,
        Datagram::Data(DataPacket {
            stream_id: StreamId(&isid),
            msg_type: MessageType::RESPONDER_DATA,
            nonce: 300,
            packet_count: 3,
            flags: DatagramFlags(0),
            packet_index: 1,
            sent_index: 0x7fff,
            retransmit: 2,
            fragment: &mid,
        })
        .to_vec()?,
    );

    let versions = extension_bytes(&ExtensionValue::SupportedVersions(vec![PROFILE_VERSION]))?;
    let err_ext = [versions];
    push(
        "responder-error",
        Element::Datagram,
        Datagram::Error(ErrorMessage {
            stream_id: StreamId(&isid),
            msg_type: MessageType::RESPONDER_ERROR,
            code: ErrorCode::VERSION_MISMATCH,
            extensions: list(&err_ext),
            padding: 0,
        })
        .to_vec()?,
    );
    push(
        "unknown-type",
        Element::Datagram,
        Datagram::Unknown(UnknownDatagram {
            stream_id: StreamId(&rsid),
            msg_type: MessageType(0x42),
            body: b"future",
        })
        .to_vec()?,
    );

    let bitmap = [0b0000_0101u8];
    let data_ext = [
        extension_bytes(&ExtensionValue::Ack(Ack {
            largest: 41,
            delay_us: 250,
            first_range: 3,
            ranges: vec![(1, 4)],
            partials: vec![PartialAck {
                nonce: 42,
                bitmap: &bitmap,
            }],
        }))?,
        extension_bytes(&ExtensionValue::Metrics(Metrics {
            psn_this: 12,
            psn_last_received: 40,
            scale_dtlr: 10,
            delta_last_received: 3,
            scale_dtls: 10,
            delta_last_sent: 1,
        }))?,
    ];
    push(
        "data-plaintext",
        Element::DataPlaintext,
        section(|o| {
            DataPlaintext {
                extensions: list(&data_ext),
                payload: b"hello, world",
                padding: 11,
            }
            .encode(o)
        })?,
    );

    let sid_ext = filler("new stream id", 8);
    let create = [
        extension_bytes(&ExtensionValue::StreamClient { service: "echo" })?,
        extension_bytes(&ExtensionValue::StreamId(&sid_ext))?,
    ];
    push(
        "inner-section",
        Element::InnerSection,
        section(|o| {
            InnerSection {
                extensions: list(&create),
                payload: b"ping",
            }
            .encode(o)
        })?,
    );
    let early = filler("early data", 48);
    push(
        "exchange-mezzanine",
        Element::ExchangeMezzanine,
        section(|o| {
            ExchangeMezzanine {
                credential: PublicKey::x448(&static_i),
                timestamp: 1_790_000_000,
                extensions: ExtensionList::default(),
                early: Sealed(&early),
                padding: 30,
            }
            .encode(o)
        })?,
    );
    let inner = filler("inner section", 40);
    push(
        "complete-mezzanine",
        Element::CompleteMezzanine,
        section(|o| {
            CompleteMezzanine {
                credential: PublicKey::x448(&static_i),
                extensions: ExtensionList::default(),
                inner: Sealed(&inner),
                padding: 20,
            }
            .encode(o)
        })?,
    );
    push(
        "responder-complete-mezzanine",
        Element::ResponderCompleteMezzanine,
        section(|o| {
            ResponderCompleteMezzanine {
                initiator_key_id: &ikey_id,
                responder_ephemeral: PublicKey::x448(&eph_r1),
                early_data_accepted: true,
                responder_stream_id: StreamId(&rsid),
                extensions: ExtensionList::default(),
                inner: Sealed(&inner),
                padding: 0,
            }
            .encode(o)
        })?,
    );
    let every = every_extension()?;
    push(
        "every-extension",
        Element::ExtensionList,
        section(|o| list(&every).encode(o))?,
    );
    Ok(out)
}

fn section(
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    f(&mut out)?;
    Ok(out)
}

/// One instance of every registered extension, plus an unknown three-octet tag.
pub fn every_extension() -> Result<Vec<OwnedExtension>, EncodeError> {
    let id = filler("stream id", 8);
    let ot1 = filler("one-time id 1", 16);
    let ot2 = filler("one-time id 2", 16);
    let kx = filler("rekey ephemeral", 56);
    let ticket = filler("ticket", 48);
    let cred = filler("principal credential", 24);
    let values = [
        ExtensionValue::StreamId(&id),
        ExtensionValue::OneTimeIds(vec![&ot1, &ot2]),
        ExtensionValue::StreamClient { service: "echo" },
        ExtensionValue::StreamReceiver { service: "sink" },
        ExtensionValue::Restart,
        ExtensionValue::Credential {
            credential_type: 2,
            data: &cred,
        },
        ExtensionValue::KeyExchange(PublicKey::x448(&kx)),
        ExtensionValue::UseKeyOf(&id),
        ExtensionValue::EncryptionParameters {
            suite: 1,
            generation: 2,
        },
        ExtensionValue::Ack(Ack {
            largest: 9,
            delay_us: 0,
            first_range: 9,
            ranges: vec![],
            partials: vec![],
        }),
        ExtensionValue::Close {
            code: 0,
            reason: "done",
        },
        ExtensionValue::Ticket {
            lifetime_s: 3600,
            ticket: &ticket,
        },
        ExtensionValue::Error {
            code: ErrorCode::STREAM_REFUSED.0,
        },
        ExtensionValue::Metrics(Metrics {
            psn_this: 1,
            psn_last_received: 0,
            scale_dtlr: 0,
            delta_last_received: 0,
            scale_dtls: 0,
            delta_last_sent: 0,
        }),
        ExtensionValue::SupportedVersions(vec![1, 2]),
        ExtensionValue::Credit {
            stream: 1 << 20,
            connection: 1 << 24,
        },
    ];
    let mut out = values
        .iter()
        .map(extension_bytes)
        .collect::<Result<Vec<_>, _>>()?;
    debug_assert!(out.iter().all(|(t, _)| {
        t.first()
            .is_some_and(|c| ExtensionCode(*c).name().is_some())
    }));
    out.push((vec![0x01, 0x7f, 0x90], b"experimental".to_vec()));
    Ok(out)
}
