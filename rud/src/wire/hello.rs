//! InitiatorHello (draft 4.1.1 "First Contact"; SPEC section 3.7.1).
//!
//! ```text
//! +-----------+------+-------------+----------------+------------+-----------+---------+
//! | stream id | 0x01 | version(vi) | initiator sid  | extensions | payload   | zeros   |
//! | (16 x 00) |      |             | (binary <=16)  | (list)     | (binary)  | padding |
//! +-----------+------+-------------+----------------+------------+-----------+---------+
//! ```
//! Everything is plaintext; the zero padding brings the datagram to at least 1200 octets.
use super::error::EncodeError;
use super::extension::ExtensionList;
use super::limits::MAX_PAYLOAD;
use super::message_type::MessageType;
use super::parse::{self, PResult};
use super::stream_id::{StreamId, binary_len, put_binary};
use super::varint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiatorHello<'a> {
    pub stream_id: StreamId<'a>,
    pub version: u64,
    /// Identifier the initiator issues; the responder's replies carry it.
    pub initiator_stream_id: StreamId<'a>,
    pub extensions: ExtensionList<'a>,
    pub payload: &'a [u8],
    pub padding: usize,
}

impl<'a> InitiatorHello<'a> {
    /// Decodes the body after the stream identifier and type octet.
    //= docs/SPEC.md#initiator-hello
    //# An InitiatorHello MUST have this layout.
    pub fn decode_body(stream_id: StreamId<'a>, i: &'a [u8]) -> PResult<'a, Self> {
        let (i, version) = parse::varint(i, "version")?;
        let (i, initiator_stream_id) = StreamId::decode(i, "initiator stream identifier")?;
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, payload) = parse::binary(i, MAX_PAYLOAD, "payload")?;
        let (i, padding) = parse::zero_padding(i, "padding")?;
        Ok((
            i,
            InitiatorHello {
                stream_id,
                version,
                initiator_stream_id,
                extensions,
                payload,
                padding,
            },
        ))
    }

    pub fn encoded_len(&self) -> usize {
        self.stream_id.encoded_len()
            + 1
            + varint::len(self.version)
            + self.initiator_stream_id.encoded_len()
            + self.extensions.encoded_len()
            + binary_len(self.payload)
            + self.padding
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.stream_id.encode(out, "stream identifier")?;
        out.push(MessageType::INITIATOR_HELLO.0);
        varint::write(out, self.version, "version")?;
        self.initiator_stream_id
            .encode(out, "initiator stream identifier")?;
        self.extensions.encode(out)?;
        put_binary(out, self.payload, MAX_PAYLOAD, "payload")?;
        out.resize(out.len() + self.padding, 0);
        Ok(())
    }
}
