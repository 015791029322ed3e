//! Data datagrams and their packets (draft 3.5 "Datagram Format", 3.6 "Packet Format";
//! SPEC sections 3.5 and 3.6).
//!
//! ```text
//! +-----------+-----------+-----------+--------------+--------+
//! | stream id | 0x04/0x84 | nonce n   | packet count | flags  |   <- associated data, frozen
//! | (binary)  |           | (vi)      | (vi, >= 1)   | (1 o.) |      when the datagram is sealed
//! +-----------+-----------+-----------+--------------+--------+
//! | packet index (vi) | sent index (u16) | retransmit (vi) | fragment ...           |
//! +-------------------+------------------+-----------------+------------------------+
//!   per packet            per send: unauthenticated hints     ciphertext slice; the last
//!                                                              packet ends with the tag
//! ```
//! The draft puts the per-send fields of 3.6.1 inside the associated data; resending with a
//! bumped retransmit index would then re-seal under the same key and nonce. This profile moves
//! them after the frozen prefix (SPEC section 3.6.1 explains).
use super::error::{EncodeError, ErrorKind};
use super::limits::{MAX_PACKETS_PER_DATAGRAM, TAG_LEN};
use super::message_type::MessageType;
use super::parse::{self, PResult, fail};
use super::stream_id::StreamId;
use super::varint;

/// Flags octet (in the associated data, SPEC section 3.6.1).
///
/// Bit 0 (FINAL): the last datagram of a message; clear: a continuation datagram follows
/// (draft 3.6.1). Bit 1 (CONTROL): the datagram carries no message octets, only extensions
/// (acknowledgements, credit, stream control). Bit 2 (ABORT): the sender abandoned the message
/// this datagram would have continued (draft 1.1.2 "pre-empt"). Bit 3 (ACK_ONLY): an
/// acknowledgement-only datagram, sealed in the stream's separate acknowledgement counter space
/// (SPEC ack-space). Bits 4-7 are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DatagramFlags(pub u8);

impl DatagramFlags {
    pub const FINAL: u8 = 0x01;
    pub const CONTROL: u8 = 0x02;
    pub const ABORT: u8 = 0x04;
    pub const ACK_ONLY: u8 = 0x08;
    pub const RESERVED: u8 = 0xF0;

    pub fn is_final(self) -> bool {
        self.0 & Self::FINAL != 0
    }

    pub fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }

    pub fn is_abort(self) -> bool {
        self.0 & Self::ABORT != 0
    }

    pub fn is_ack_only(self) -> bool {
        self.0 & Self::ACK_ONLY != 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPacket<'a> {
    pub stream_id: StreamId<'a>,
    /// INITIATOR_DATA or RESPONDER_DATA.
    pub msg_type: MessageType,
    /// Datagram counter of the stream: the AEAD nonce input and datagram index.
    pub nonce: u64,
    pub packet_count: u64,
    pub flags: DatagramFlags,
    pub packet_index: u64,
    /// Packet sent index, 15 bits, wrapping (the top bit is reserved).
    pub sent_index: u16,
    pub retransmit: u64,
    /// This packet's slice of `ciphertext || tag`.
    pub fragment: &'a [u8],
}

impl<'a> DataPacket<'a> {
    //= docs/SPEC.md#data-packet
    //# A data packet MUST have a packet count of at least 1, a packet index below it, at least one fragment octet in a packet that is not the last, and at least the 16 tag octets in the last packet.
    pub fn decode_body(
        stream_id: StreamId<'a>,
        msg_type: MessageType,
        i: &'a [u8],
    ) -> PResult<'a, Self> {
        let (i, nonce) = parse::varint(i, "nonce")?;
        let at_count = i;
        let (i, packet_count) = parse::count(i, MAX_PACKETS_PER_DATAGRAM, "packet count")?;
        if packet_count == 0 {
            return fail(
                at_count,
                "packet count",
                ErrorKind::InvalidValue("zero packets"),
            );
        }
        let (i, flags) = parse::u8(i, "flags")?;
        let at_index = i;
        let (i, packet_index) = parse::varint(i, "packet index")?;
        if packet_index >= packet_count {
            return fail(
                at_index,
                "packet index",
                ErrorKind::InvalidValue("packet index not below packet count"),
            );
        }
        let (i, sent_index) = parse::u16_be(i, "sent index")?;
        let (i, retransmit) = parse::varint(i, "retransmit index")?;
        let min = if packet_index + 1 == packet_count {
            TAG_LEN
        } else {
            1
        };
        let (i, fragment) = parse::rest_min(i, min, "fragment")?;
        Ok((
            i,
            DataPacket {
                stream_id,
                msg_type,
                nonce,
                packet_count,
                flags: DatagramFlags(flags),
                packet_index,
                sent_index,
                retransmit,
                fragment,
            },
        ))
    }

    /// The sent index with its reserved bit 15 cleared.
    //= docs/SPEC.md#sent-index
    //# A receiver MUST ignore bit 15 of the sent index.
    pub fn sent_index15(&self) -> u16 {
        self.sent_index & 0x7fff
    }

    /// True for the packet that ends with the tag.
    pub fn is_last(&self) -> bool {
        self.packet_index + 1 == self.packet_count
    }

    /// Length of the associated data when this packet is encoded minimally.
    pub fn aad_len(&self) -> usize {
        self.stream_id.encoded_len()
            + 1
            + varint::len(self.nonce)
            + varint::len(self.packet_count)
            + 1
    }

    pub fn encoded_len(&self) -> usize {
        self.aad_len()
            + varint::len(self.packet_index)
            + 2
            + varint::len(self.retransmit)
            + self.fragment.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !self.msg_type.is_data() {
            return Err(EncodeError::InvalidValue {
                field: "message type",
                why: "a data packet is sent as InitiatorData or ResponderData",
            });
        }
        if self.packet_count == 0
            || self.packet_count > MAX_PACKETS_PER_DATAGRAM
            || self.packet_index >= self.packet_count
        {
            return Err(EncodeError::InvalidValue {
                field: "packet count",
                why: "need 1 <= count <= 16384 and index < count",
            });
        }
        let min = if self.is_last() { TAG_LEN } else { 1 };
        if self.fragment.len() < min {
            return Err(EncodeError::InvalidValue {
                field: "fragment",
                why: "a last fragment holds at least the tag; others at least one octet",
            });
        }
        self.stream_id.encode(out, "stream identifier")?;
        out.push(self.msg_type.0);
        varint::write(out, self.nonce, "nonce")?;
        varint::write(out, self.packet_count, "packet count")?;
        out.push(self.flags.0);
        varint::write(out, self.packet_index, "packet index")?;
        out.extend_from_slice(&self.sent_index.to_be_bytes());
        varint::write(out, self.retransmit, "retransmit index")?;
        out.extend_from_slice(self.fragment);
        Ok(())
    }
}

/// Splits a received data packet into its associated data (the frozen prefix, exactly as
/// received) and the rest. Authentication uses these bytes, never a re-encoding.
//= docs/SPEC.md#aad-received-bytes
//# A receiver MUST authenticate the octets it received, never a re-encoding of them.
pub fn split_aad(packet: &[u8]) -> Result<(&[u8], &[u8]), super::DecodeError> {
    let prefix = |i| -> PResult<'_, ()> {
        let (i, _) = StreamId::decode(i, "stream identifier")?;
        let (i, _) = parse::u8(i, "message type")?;
        let (i, _) = parse::varint(i, "nonce")?;
        let (i, _) = parse::varint(i, "packet count")?;
        let (i, _) = parse::u8(i, "flags")?;
        Ok((i, ()))
    };
    match prefix(packet) {
        Ok((rest, ())) => Ok(packet.split_at(packet.len() - rest.len())),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.at(packet)),
        Err(nom::Err::Incomplete(_)) => Err(parse::PErr::new(
            packet,
            "input",
            ErrorKind::Truncated {
                needed: 1,
                available: 0,
            },
        )
        .at(packet)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    //= docs/SPEC.md#aad-received-bytes
    //= type=test
    //# A receiver MUST authenticate the octets it received, never a re-encoding of them.
    #[test]
    fn aad_is_the_received_prefix_even_when_non_minimal() {
        // stream id 2 octets | type | nonce 5 on 8 octets | count 1 on 2 octets | flags | rest
        let mut pkt = vec![0x02, 0xaa, 0xbb, 0x04];
        pkt.extend_from_slice(&[0xc0, 0, 0, 0, 0, 0, 0, 5]);
        pkt.extend_from_slice(&[0x40, 0x01, 0x01]);
        let prefix_len = pkt.len();
        pkt.extend_from_slice(&[0x00, 0x00, 0x05, 0x00]);
        pkt.extend_from_slice(&[0x11; 16]);
        let (aad, rest) = split_aad(&pkt).unwrap();
        assert_eq!(aad, &pkt[..prefix_len]);
        assert_eq!(rest.len(), pkt.len() - prefix_len);
        let decoded = crate::wire::Datagram::decode(&pkt).unwrap();
        let crate::wire::Datagram::Data(d) = decoded else {
            panic!("not data")
        };
        assert_eq!(d.nonce, 5);
        // A re-encoding is minimal and therefore differs from what was authenticated.
        assert!(d.aad_len() < aad.len());
    }

    #[test]
    fn split_aad_reports_truncation_offset() {
        let e = split_aad(&[0x02, 0xaa, 0xbb, 0x04, 0xc0]).unwrap_err();
        assert_eq!((e.offset, e.field), (4, "nonce"));
    }
}
