//! InitiatorExchange (draft 4.1.2 "Immediate"; SPEC section 3.7.4).
//!
//! ```text
//! +-----------+------+---------+---------------+------------------+----------------------+
//! | stream id | 0x02 | version | initiator sid | responder key id | initiator ephemeral  |
//! | (16 x 00) |      | (vi)    | (binary <=16) | (binary <=32)    | (public key)         |
//! +-----------+------+---------+---------------+------------------+----------------------+
//! | extensions (list) | mezzanine: AES-256-GCM ciphertext || 16-octet tag (to the end)   |
//! +-------------------+-------------------------------------------------------------------+
//! ```
//! The mezzanine's plaintext is an [`ExchangeMezzanine`](super::sections::ExchangeMezzanine).
use super::error::EncodeError;
use super::extension::ExtensionList;
use super::limits::{MAX_KEY_ID_LEN, TAG_LEN};
use super::message_type::MessageType;
use super::parse::{self, PResult};
use super::public_key::PublicKey;
use super::sealed::Sealed;
use super::stream_id::{StreamId, binary_len, put_binary};
use super::varint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiatorExchange<'a> {
    pub stream_id: StreamId<'a>,
    pub version: u64,
    pub initiator_stream_id: StreamId<'a>,
    pub responder_key_id: &'a [u8],
    pub initiator_ephemeral: PublicKey<'a>,
    pub extensions: ExtensionList<'a>,
    pub mezzanine: Sealed<'a>,
}

impl<'a> InitiatorExchange<'a> {
    //= docs/SPEC.md#initiator-exchange
    //# An InitiatorExchange MUST have this layout.
    pub fn decode_body(stream_id: StreamId<'a>, i: &'a [u8]) -> PResult<'a, Self> {
        let (i, version) = parse::varint(i, "version")?;
        let (i, initiator_stream_id) = StreamId::decode(i, "initiator stream identifier")?;
        let (i, responder_key_id) = parse::binary(i, MAX_KEY_ID_LEN, "responder key id")?;
        let (i, initiator_ephemeral) = PublicKey::decode(i, "initiator ephemeral key")?;
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, mezzanine) = parse::rest_min(i, TAG_LEN, "mezzanine section")?;
        Ok((
            i,
            InitiatorExchange {
                stream_id,
                version,
                initiator_stream_id,
                responder_key_id,
                initiator_ephemeral,
                extensions,
                mezzanine: Sealed(mezzanine),
            },
        ))
    }

    /// Length of everything before the mezzanine section (its associated data).
    pub fn header_len(&self) -> usize {
        self.stream_id.encoded_len()
            + 1
            + varint::len(self.version)
            + self.initiator_stream_id.encoded_len()
            + binary_len(self.responder_key_id)
            + self.initiator_ephemeral.encoded_len()
            + self.extensions.encoded_len()
    }

    pub fn encoded_len(&self) -> usize {
        self.header_len() + self.mezzanine.0.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.stream_id.encode(out, "stream identifier")?;
        out.push(MessageType::INITIATOR_EXCHANGE.0);
        varint::write(out, self.version, "version")?;
        self.initiator_stream_id
            .encode(out, "initiator stream identifier")?;
        put_binary(
            out,
            self.responder_key_id,
            MAX_KEY_ID_LEN,
            "responder key id",
        )?;
        self.initiator_ephemeral
            .encode(out, "initiator ephemeral key")?;
        self.extensions.encode(out)?;
        put_sealed(out, self.mezzanine, "mezzanine section")
    }
}

/// Appends a sealed section, which must at least hold its tag.
pub(crate) fn put_sealed(
    out: &mut Vec<u8>,
    s: Sealed<'_>,
    field: &'static str,
) -> Result<(), EncodeError> {
    if s.0.len() < TAG_LEN {
        return Err(EncodeError::InvalidValue {
            field,
            why: "shorter than its 16-octet tag",
        });
    }
    out.extend_from_slice(s.0);
    Ok(())
}
