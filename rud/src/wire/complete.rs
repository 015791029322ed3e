//! InitiatorComplete (draft 4.1.1 "First Contact" and 4.1.3 "Deferred"; SPEC section 3.7.3).
//!
//! ```text
//! +-----------+------+------------------+---------------------+-----------------+
//! | stream id | 0x03 | responder key id | initiator ephemeral | ephemeral index |
//! | (binary)  |      | (binary <=32)    | (public key)        | (vi, < 8)       |
//! +-----------+------+------------------+---------------------+-----------------+
//! | cookie (binary <=64) | extensions | mezzanine: ciphertext || tag (to the end) |
//! +----------------------+------------+-------------------------------------------+
//! ```
//! The mezzanine plaintext is a [`CompleteMezzanine`](super::sections::CompleteMezzanine), which
//! nests the mutually-keyed ciphertext section (draft 3.7: "encrypted twice").
use super::error::EncodeError;
use super::exchange::put_sealed;
use super::extension::ExtensionList;
use super::limits::{MAX_COOKIE_LEN, MAX_EPHEMERALS, MAX_KEY_ID_LEN, TAG_LEN};
use super::message_type::MessageType;
use super::parse::{self, PResult};
use super::public_key::PublicKey;
use super::sealed::Sealed;
use super::stream_id::{StreamId, binary_len, put_binary};
use super::varint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiatorComplete<'a> {
    /// The responder's issued identifier from the Challenge or Defer.
    pub stream_id: StreamId<'a>,
    pub responder_key_id: &'a [u8],
    pub initiator_ephemeral: PublicKey<'a>,
    /// Which of the responder's ephemeral keys the initiator used.
    pub ephemeral_index: u64,
    /// The cookie returned unchanged.
    pub cookie: &'a [u8],
    pub extensions: ExtensionList<'a>,
    pub mezzanine: Sealed<'a>,
}

impl<'a> InitiatorComplete<'a> {
    //= docs/SPEC.md#initiator-complete
    //# An InitiatorComplete MUST have this layout.
    pub fn decode_body(stream_id: StreamId<'a>, i: &'a [u8]) -> PResult<'a, Self> {
        let (i, responder_key_id) = parse::binary(i, MAX_KEY_ID_LEN, "responder key id")?;
        let (i, initiator_ephemeral) = PublicKey::decode(i, "initiator ephemeral key")?;
        let (i, ephemeral_index) = parse::count(i, MAX_EPHEMERALS - 1, "ephemeral index")?;
        let (i, cookie) = parse::binary(i, MAX_COOKIE_LEN, "cookie")?;
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, mezzanine) = parse::rest_min(i, TAG_LEN, "mezzanine section")?;
        Ok((
            i,
            InitiatorComplete {
                stream_id,
                responder_key_id,
                initiator_ephemeral,
                ephemeral_index,
                cookie,
                extensions,
                mezzanine: Sealed(mezzanine),
            },
        ))
    }

    pub fn header_len(&self) -> usize {
        self.stream_id.encoded_len()
            + 1
            + binary_len(self.responder_key_id)
            + self.initiator_ephemeral.encoded_len()
            + varint::len(self.ephemeral_index)
            + binary_len(self.cookie)
            + self.extensions.encoded_len()
    }

    pub fn encoded_len(&self) -> usize {
        self.header_len() + self.mezzanine.0.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.ephemeral_index >= MAX_EPHEMERALS {
            return Err(EncodeError::InvalidValue {
                field: "ephemeral index",
                why: "must be below the ephemeral key limit of 8",
            });
        }
        self.stream_id.encode(out, "stream identifier")?;
        out.push(MessageType::INITIATOR_COMPLETE.0);
        put_binary(
            out,
            self.responder_key_id,
            MAX_KEY_ID_LEN,
            "responder key id",
        )?;
        self.initiator_ephemeral
            .encode(out, "initiator ephemeral key")?;
        varint::write(out, self.ephemeral_index, "ephemeral index")?;
        put_binary(out, self.cookie, MAX_COOKIE_LEN, "cookie")?;
        self.extensions.encode(out)?;
        put_sealed(out, self.mezzanine, "mezzanine section")
    }
}
