//! Packetization of data datagrams (docs/SPEC.md sections 3.5, 3.6 and 7.3).
//!
//! A [`SealedDatagram`] is built once: it reserves the datagram counter n from the stream's
//! [`DatagramSealer`] (no interface here takes n from a caller), freezes the prefix
//! `stream id | type | n | packet count | flags`, seals the plaintext once with that prefix as
//! associated data, and keeps `ciphertext || tag` split into fragments. Every later call to
//! [`SealedDatagram::packet`] repeats the stored octets; only the per-send hints (sent index,
//! retransmit index), which lie outside the associated data and the ciphertext, change.
//!
//! ```text
//! frozen prefix (AAD) | packet index | sent index | retransmit | fragment
//! <---- same on every send ------->  <-- hints --------------->  <- same ->
//! ```
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use crate::crypto::CryptoError;
use crate::crypto::datagram_key::DatagramSealer;
use crate::wire::limits::{MAX_PACKETS_PER_DATAGRAM, MAX_STREAM_ID_LEN, TAG_LEN};
use crate::wire::sections::DataPlaintext;
use crate::wire::{DatagramFlags, DecodeError, EncodeError, MessageType, StreamId, parse, varint};

/// Default maximum UDP payload of one packet.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 1260;

/// Octets reserved for the retransmit index when sizing packets.
pub const RETRANSMIT_RESERVED_LEN: usize = 2;

/// Largest retransmit index sent; larger values are sent as this one (it is only a hint).
pub const MAX_RETRANSMIT_HINT: u64 = 16_383;

/// Octets of the sent index (u16).
const SENT_INDEX_LEN: usize = 2;

/// The smallest fragment a packet must be able to carry: one octet plus the tag.
pub const MIN_FRAGMENT_CAPACITY: usize = TAG_LEN + 1;

/// Why a datagram could not be packetized, or a packet not produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    /// Data packets are InitiatorData or ResponderData.
    #[error("message type {0:?} is not a data type")]
    NotData(MessageType),
    /// A reserved flag bit was set.
    #[error("reserved flag bits set: {0:#04x}")]
    ReservedFlags(u8),
    /// The stream identifier is longer than 16 octets.
    #[error("stream identifier of {0} octets is over the limit of 16")]
    StreamIdTooLong(usize),
    /// The plaintext is not a well-formed DataPlaintext.
    #[error("plaintext is not a DataPlaintext: {0}")]
    MalformedPlaintext(DecodeError),
    /// A packet of this maximum size cannot carry one fragment octet plus the tag.
    #[error("maximum packet size {max} is too small: at least {needed} octets are needed")]
    MaxPacketSizeTooSmall {
        /// The maximum size asked for.
        max: usize,
        /// The smallest maximum size that would work for this datagram.
        needed: usize,
    },
    /// The datagram would need more than 16384 packets.
    #[error("datagram needs {needed} packets, more than 16384")]
    TooManyPackets {
        /// Packets needed (a lower bound when very large).
        needed: u64,
    },
    /// No packet with this index.
    #[error("packet index {index} is not below the packet count {count}")]
    NoSuchPacket {
        /// Index asked for.
        index: usize,
        /// Packets in the datagram.
        count: usize,
    },
    /// The sealer failed (counters exhausted: rekey).
    #[error("sealing failed: {0}")]
    Crypto(#[from] CryptoError),
    /// An integer did not fit its encoding.
    #[error("encoding failed: {0}")]
    Encode(#[from] EncodeError),
}

/// Octets of every packet besides the fragment when the datagram has `count` packets: the frozen
/// prefix, the largest packet index, the sent index and the reserved retransmit index.
fn overhead(prefix_len: usize, count: u64) -> usize {
    prefix_len + varint::len(count.saturating_sub(1)) + SENT_INDEX_LEN + RETRANSMIT_RESERVED_LEN
}

/// Length of the frozen prefix for these fields.
fn prefix_len(stream_id: StreamId<'_>, n: u64, count: u64) -> usize {
    stream_id.encoded_len() + 1 + varint::len(n) + varint::len(count) + 1
}

/// The packet count and fragment capacity for `sealed_len` octets of `ciphertext || tag`.
//= docs/SPEC.md#packet-fit
//# A sender MUST split `ciphertext || tag` into the fewest packets that each fit its maximum packet size (default 1260 octets) with the retransmit index reserved two octets, filling packets in order.
fn plan(
    stream_id: StreamId<'_>,
    n: u64,
    sealed_len: usize,
    max: usize,
) -> Result<(u64, usize), PacketizeError> {
    let too_small = |count: u64| PacketizeError::MaxPacketSizeTooSmall {
        max,
        needed: overhead(prefix_len(stream_id, n, count), count) + MIN_FRAGMENT_CAPACITY,
    };
    // The overhead grows with the count (at varint boundaries), so the capacity shrinks; starting
    // from one packet, the count climbs to the smallest that fits and never past it.
    let mut count: u64 = 1;
    loop {
        let over = overhead(prefix_len(stream_id, n, count), count);
        let cap = max.saturating_sub(over);
        if cap < MIN_FRAGMENT_CAPACITY {
            return Err(too_small(count));
        }
        let need = u64::try_from(sealed_len.div_ceil(cap))
            .unwrap_or(u64::MAX)
            .max(1);
        if need > MAX_PACKETS_PER_DATAGRAM {
            return Err(PacketizeError::TooManyPackets { needed: need });
        }
        if need <= count {
            return Ok((count, cap));
        }
        count = need;
    }
}

/// Fragment boundaries: `count + 1` offsets into `ciphertext || tag`. Packets are filled in
/// order; when the last would hold fewer than the tag's 16 octets, the one before it gives up
/// the difference (it keeps at least one octet since `cap >= 17`).
//= docs/SPEC.md#packet-fit
//# when the last packet would hold fewer than the 16 tag octets, the packet before it gives up the difference.
fn bounds(sealed_len: usize, count: usize, cap: usize) -> Vec<usize> {
    let mut b: Vec<usize> = (0..count).map(|k| k.saturating_mul(cap)).collect();
    b.push(sealed_len);
    let len = b.len();
    if len >= 3 {
        let last_start = b.get(len - 2).copied().unwrap_or(0);
        let last = sealed_len.saturating_sub(last_start);
        if last < TAG_LEN
            && let Some(s) = b.get_mut(len - 2)
        {
            *s = sealed_len.saturating_sub(TAG_LEN);
        }
    }
    b
}

/// One data datagram, sealed once and stored as packets ready to (re)send.
///
/// Nothing in it can be changed after construction: a retransmission is the stored octets with
/// new hints.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedDatagram {
    nonce: u64,
    flags: DatagramFlags,
    /// The frozen prefix: the associated data of the seal.
    prefix: Vec<u8>,
    /// `ciphertext || tag`.
    sealed: Vec<u8>,
    /// `count + 1` fragment boundaries into `sealed`.
    bounds: Vec<usize>,
    max_packet_size: usize,
}

impl core::fmt::Debug for SealedDatagram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SealedDatagram")
            .field("nonce", &self.nonce)
            .field("flags", &self.flags)
            .field("packets", &self.packet_count())
            .field("sealed_len", &self.sealed.len())
            .finish_non_exhaustive()
    }
}

impl SealedDatagram {
    /// Seals `plaintext` (an encoded [`DataPlaintext`]) as the next datagram of `sealer` and
    /// splits it into packets of at most `max_packet_size` octets.
    ///
    /// Every check runs before the counter is reserved, so a refused datagram spends no counter.
    ///
    /// # Errors
    /// A [`PacketizeError`] for a non-data message type, reserved flags, an over-long stream
    /// identifier, a malformed plaintext, a maximum size too small for one fragment octet plus
    /// the tag, more than 16384 packets, or an exhausted sealer.
    pub fn seal(
        sealer: &mut DatagramSealer,
        stream_id: StreamId<'_>,
        msg_type: MessageType,
        flags: DatagramFlags,
        plaintext: &[u8],
        max_packet_size: usize,
    ) -> Result<Self, PacketizeError> {
        if !msg_type.is_data() {
            return Err(PacketizeError::NotData(msg_type));
        }
        //= docs/SPEC.md#flags-reserved
        //# Senders MUST set the reserved flag bits to zero
        if flags.0 & DatagramFlags::RESERVED != 0 {
            return Err(PacketizeError::ReservedFlags(flags.0));
        }
        if stream_id.0.len() > MAX_STREAM_ID_LEN {
            return Err(PacketizeError::StreamIdTooLong(stream_id.0.len()));
        }
        //= docs/SPEC.md#data-plaintext
        //# The plaintext of a data datagram MUST be an extension list, the payload as binary data, then zero padding to the end.
        parse::all(plaintext, DataPlaintext::decode).map_err(PacketizeError::MalformedPlaintext)?;

        let sealed_len = plaintext.len().saturating_add(TAG_LEN);
        let n = sealer.next_counter();
        let (count, cap) = plan(stream_id, n, sealed_len, max_packet_size)?;
        let count_usize =
            usize::try_from(count).map_err(|_| PacketizeError::TooManyPackets { needed: count })?;

        //= docs/SPEC.md#seal-once
        //# A datagram MUST be sealed exactly once: the sealer allocates n (no interface takes n from a caller)
        let slot = sealer.reserve()?;
        if slot.counter() != n {
            // The sealer is borrowed mutably, so this cannot happen; refuse rather than send a
            // datagram sized for another counter.
            return Err(PacketizeError::Crypto(CryptoError::CountersExhausted));
        }
        let mut prefix = Vec::with_capacity(prefix_len(stream_id, n, count));
        stream_id.encode(&mut prefix, "stream identifier")?;
        prefix.push(msg_type.0);
        varint::write(&mut prefix, n, "nonce")?;
        varint::write(&mut prefix, count, "packet count")?;
        prefix.push(flags.0);

        let mut sealed = Vec::with_capacity(sealed_len);
        sealed.extend_from_slice(plaintext);
        let tag = slot.seal(&prefix, &mut sealed)?;
        sealed.extend_from_slice(&tag);

        Ok(Self {
            nonce: n,
            flags,
            bounds: bounds(sealed.len(), count_usize, cap),
            prefix,
            sealed,
            max_packet_size,
        })
    }

    /// The datagram counter n this datagram was sealed under.
    #[must_use]
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// The flags octet.
    #[must_use]
    pub fn flags(&self) -> DatagramFlags {
        self.flags
    }

    /// Number of packets.
    #[must_use]
    pub fn packet_count(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    /// The frozen prefix: the associated data every packet starts with.
    #[must_use]
    pub fn frozen_prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Length of `ciphertext || tag`.
    #[must_use]
    pub fn sealed_len(&self) -> usize {
        self.sealed.len()
    }

    /// The maximum packet size the datagram was split for.
    #[must_use]
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    /// The fragment of packet `index`.
    #[must_use]
    pub fn fragment(&self, index: usize) -> Option<&[u8]> {
        let start = *self.bounds.get(index)?;
        let end = *self.bounds.get(index.checked_add(1)?)?;
        self.sealed.get(start..end)
    }

    /// Encoded length of packet `index` sent with this retransmit index.
    #[must_use]
    pub fn packet_len(&self, index: usize, retransmit: u64) -> Option<usize> {
        let frag = self.fragment(index)?.len();
        Some(
            self.prefix.len()
                + varint::len(index as u64)
                + SENT_INDEX_LEN
                + varint::len(retransmit.min(MAX_RETRANSMIT_HINT))
                + frag,
        )
    }

    /// Appends packet `index` to `out`, with the sent index (bit 15 is reserved and sent as
    /// zero) and the retransmit index (sent as at most 16383) as hints. Returns its length.
    ///
    /// # Errors
    /// [`PacketizeError::NoSuchPacket`] when `index` is not below the packet count.
    //= docs/SPEC.md#resend-identical
    //# Every transmission of packet k of a datagram MUST carry the same frozen prefix, packet index and fragment octets as the first; only the sent and retransmit indexes may differ.
    pub fn write_packet(
        &self,
        index: usize,
        sent_index: u16,
        retransmit: u64,
        out: &mut Vec<u8>,
    ) -> Result<usize, PacketizeError> {
        let count = self.packet_count();
        let fragment = self
            .fragment(index)
            .ok_or(PacketizeError::NoSuchPacket { index, count })?;
        let start = out.len();
        out.extend_from_slice(&self.prefix);
        varint::write(out, index as u64, "packet index")?;
        //= docs/SPEC.md#sent-index
        //# bit 15 is reserved (sent as zero, ignored on receipt).
        out.extend_from_slice(&(sent_index & 0x7fff).to_be_bytes());
        //= docs/SPEC.md#packet-fit
        //# A retransmit index above 16383 is sent as 16383 (it is a hint).
        varint::write(out, retransmit.min(MAX_RETRANSMIT_HINT), "retransmit index")?;
        out.extend_from_slice(fragment);
        Ok(out.len() - start)
    }

    /// Packet `index` as a new buffer; see [`SealedDatagram::write_packet`].
    ///
    /// # Errors
    /// [`PacketizeError::NoSuchPacket`] when `index` is not below the packet count.
    pub fn packet(
        &self,
        index: usize,
        sent_index: u16,
        retransmit: u64,
    ) -> Result<Vec<u8>, PacketizeError> {
        let mut out = Vec::with_capacity(self.packet_len(index, retransmit).unwrap_or(0));
        self.write_packet(index, sent_index, retransmit, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_move_tag_octets_into_the_last_packet() {
        // 3 packets of 20: 40 + 5 -> the middle packet gives 11 octets to the last.
        assert_eq!(bounds(45, 3, 20), vec![0, 20, 29, 45]);
        assert_eq!(bounds(56, 3, 20), vec![0, 20, 40, 56]);
        assert_eq!(bounds(16, 1, 20), vec![0, 16]);
        assert_eq!(bounds(21, 2, 20), vec![0, 5, 21]);
    }

    #[test]
    fn plan_climbs_past_varint_boundaries() {
        let id = StreamId(&[1, 2, 3, 4]);
        // 64 packets of capacity exactly cap(64) needs a 2-octet count.
        let (count, cap) = plan(id, 0, 100_000, 1260).unwrap_or((0, 0));
        assert!(count > 64);
        assert_eq!(cap, 1260 - overhead(prefix_len(id, 0, count), count));
        assert_eq!(count, 100_000u64.div_ceil(cap as u64));
        assert!(matches!(
            plan(id, 0, 100, 10),
            Err(PacketizeError::MaxPacketSizeTooSmall { .. })
        ));
        assert!(matches!(
            plan(id, 0, 100_000_000, 100),
            Err(PacketizeError::TooManyPackets { .. })
        ));
    }
}
