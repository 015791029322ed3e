//! ResponderComplete (draft 4.1.2 "Immediate"; SPEC section 3.7.5).
//!
//! ```text
//! +-----------+------+-------------------+------------------------------------------+
//! | stream id | 0x83 | extensions (list) | mezzanine: ciphertext || tag (to the end)|
//! +-----------+------+-------------------+------------------------------------------+
//! ```
//! The mezzanine plaintext is a
//! [`ResponderCompleteMezzanine`](super::sections::ResponderCompleteMezzanine).
use super::error::EncodeError;
use super::exchange::put_sealed;
use super::extension::ExtensionList;
use super::limits::TAG_LEN;
use super::message_type::MessageType;
use super::parse::{self, PResult};
use super::sealed::Sealed;
use super::stream_id::StreamId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponderComplete<'a> {
    /// The initiator's issued identifier from the Exchange.
    pub stream_id: StreamId<'a>,
    pub extensions: ExtensionList<'a>,
    pub mezzanine: Sealed<'a>,
}

impl<'a> ResponderComplete<'a> {
    //= docs/SPEC.md#responder-complete
    //# A ResponderComplete MUST have this layout.
    pub fn decode_body(stream_id: StreamId<'a>, i: &'a [u8]) -> PResult<'a, Self> {
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, mezzanine) = parse::rest_min(i, TAG_LEN, "mezzanine section")?;
        Ok((
            i,
            ResponderComplete {
                stream_id,
                extensions,
                mezzanine: Sealed(mezzanine),
            },
        ))
    }

    pub fn header_len(&self) -> usize {
        self.stream_id.encoded_len() + 1 + self.extensions.encoded_len()
    }

    pub fn encoded_len(&self) -> usize {
        self.header_len() + self.mezzanine.0.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.stream_id.encode(out, "stream identifier")?;
        out.push(MessageType::RESPONDER_COMPLETE.0);
        self.extensions.encode(out)?;
        put_sealed(out, self.mezzanine, "mezzanine section")
    }
}
