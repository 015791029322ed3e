//! Reassembly of data datagrams from packets (docs/SPEC.md sections 3.6 and 7.3).
//!
//! One [`Reassembler`] serves one stream direction (one stream key generation). Packets only
//! carry the tag in the last fragment, so nothing a fragment says can be trusted until the whole
//! datagram opens:
//!
//! - a packet whose n the [`ReplayWindow`] reports as accepted or too old is dropped before it
//!   is buffered;
//! - fragments are grouped by n *and* the exact frozen prefix received (a *candidate*); a
//!   fragment whose prefix disagrees with what is buffered for its n is counted and kept apart,
//!   so it can neither poison the genuine fragments nor be poisoned by them;
//! - a fragment at an index the candidate already holds is ignored;
//! - a complete candidate is opened with its prefix as associated data; on a tag failure every
//!   fragment of it is discarded (fresh copies are welcome), on success n is marked in the window
//!   and the plaintext, checked as a DataPlaintext, is delivered;
//! - memory is bounded by a number of candidates and a number of octets; over either bound the
//!   candidate least recently extended is evicted.
//!
//! The sent and retransmit indexes are never looked at.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::ops::Range;

use crate::crypto::datagram_key::{
    DatagramOpener, MAX_DATAGRAM_COUNTER, ReplayStatus, ReplayWindow,
};
use crate::wire::limits::{MAX_ACK_PARTIALS, MAX_PACKETS_PER_DATAGRAM, TAG_LEN};
use crate::wire::sections::DataPlaintext;
use crate::wire::{
    DataPacket, DatagramFlags, DecodeError, ExtensionList, MessageType, StreamId, parse,
};

/// Default bound on incomplete candidates per stream direction.
pub const DEFAULT_MAX_INCOMPLETE: usize = 64;
/// Default bound on buffered octets per stream direction (4 MiB).
pub const DEFAULT_MAX_BUFFERED: usize = 4 * 1024 * 1024;
/// Default bound on candidates (distinct frozen prefixes) for one n.
pub const DEFAULT_MAX_CANDIDATES_PER_NONCE: usize = 4;
/// Octets charged per buffered fragment on top of its length (map node, vector header).
pub const FRAGMENT_OVERHEAD: usize = 64;
/// Octets charged per candidate on top of its prefix and bitmap.
pub const CANDIDATE_OVERHEAD: usize = 128;

/// Memory bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// At most this many incomplete candidates are buffered (at least 1 is used).
    pub max_incomplete: usize,
    /// At most this many octets are buffered, overheads included.
    pub max_buffered: usize,
    /// At most this many candidates are kept for one n (at least 1 is used).
    pub max_candidates_per_nonce: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        Self {
            max_incomplete: DEFAULT_MAX_INCOMPLETE,
            max_buffered: DEFAULT_MAX_BUFFERED,
            max_candidates_per_nonce: DEFAULT_MAX_CANDIDATES_PER_NONCE,
        }
    }
}

/// What a [`Reassembler`] has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyCounters {
    /// Datagrams delivered (tag verified, plaintext well formed).
    pub delivered: u64,
    /// Fragments buffered.
    pub fragments: u64,
    /// Fragments at an index their candidate already held.
    pub duplicates: u64,
    /// Packets of a datagram already accepted, or too old for the window.
    pub replays: u64,
    /// Candidates whose tag failed (all their fragments discarded).
    pub tag_failures: u64,
    /// Fragments whose frozen prefix disagreed with the first buffered for their n.
    pub inconsistent_fragments: u64,
    /// Candidates evicted by a memory bound.
    pub evicted: u64,
    /// Packets dropped as invalid: wrong type, reserved flags, counter out of range, bad shape,
    /// or an authenticated plaintext that is not a DataPlaintext.
    pub invalid: u64,
}

/// Why a packet was not taken. Every variant is a drop that has been counted; none is fatal to
/// the stream. [`PacketError::Replayed`] and [`PacketError::TooOld`] tell the caller that the
/// peer resent a datagram already accepted, so its acknowledgement may have been lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The associated data given is not this packet's frozen prefix (a caller error).
    #[error("associated data does not match the packet's frozen prefix")]
    AadMismatch,
    /// The packet is not of the type this direction receives.
    #[error("message type {0:?} is not the one this stream direction receives")]
    WrongMessageType(MessageType),
    /// Reserved flag bits were set.
    #[error("datagram {n}: reserved flag bits set")]
    ReservedFlags {
        /// Datagram counter.
        n: u64,
    },
    /// The packet breaks the shape of a data packet (count, index, fragment length, counter).
    #[error("datagram {n}: not a valid data packet")]
    InvalidPacket {
        /// Datagram counter.
        n: u64,
    },
    /// The datagram was already accepted.
    #[error("datagram {n} already accepted")]
    Replayed {
        /// Datagram counter.
        n: u64,
    },
    /// The datagram is too far behind the highest accepted one to tell.
    #[error("datagram {n} is too old for the replay window")]
    TooOld {
        /// Datagram counter.
        n: u64,
    },
    /// A fragment at an index already held.
    #[error("datagram {n}: packet {index} already held")]
    DuplicateFragment {
        /// Datagram counter.
        n: u64,
        /// Packet index.
        index: u64,
    },
    /// The datagram completed and failed its tag; its fragments were discarded.
    #[error("datagram {n}: authentication failed")]
    TagFailure {
        /// Datagram counter.
        n: u64,
    },
    /// The candidate alone is larger than the octet bound; it was evicted.
    #[error("datagram {n} is larger than the reassembly buffer")]
    TooLarge {
        /// Datagram counter.
        n: u64,
    },
    /// The tag verified but the plaintext is not a DataPlaintext (n is marked accepted).
    #[error("datagram {n}: malformed plaintext: {error}")]
    MalformedPlaintext {
        /// Datagram counter.
        n: u64,
        /// The decode error.
        error: DecodeError,
    },
}

/// A datagram that opened and decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Delivered {
    nonce: u64,
    flags: DatagramFlags,
    plaintext: Vec<u8>,
    extensions_len: usize,
    payload: Range<usize>,
}

impl core::fmt::Debug for Delivered {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Delivered")
            .field("nonce", &self.nonce)
            .field("flags", &self.flags)
            .field("plaintext_len", &self.plaintext.len())
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl Delivered {
    /// The datagram counter n.
    #[must_use]
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// The (authenticated) flags octet.
    #[must_use]
    pub fn flags(&self) -> DatagramFlags {
        self.flags
    }

    /// True on the final datagram of a message.
    #[must_use]
    pub fn is_final(&self) -> bool {
        self.flags.is_final()
    }

    /// The whole decrypted DataPlaintext, padding included.
    #[must_use]
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// The payload octets.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        self.plaintext.get(self.payload.clone()).unwrap_or_default()
    }

    /// The extension list (decoded again from the stored plaintext, which was checked).
    ///
    /// # Errors
    /// None in practice: the same octets decoded when the datagram was delivered.
    pub fn extensions(&self) -> Result<ExtensionList<'_>, DecodeError> {
        let ext = self
            .plaintext
            .get(..self.extensions_len)
            .unwrap_or_default();
        parse::all(ext, ExtensionList::decode)
    }

    /// The decoded DataPlaintext.
    ///
    /// # Errors
    /// None in practice: the same octets decoded when the datagram was delivered.
    pub fn data(&self) -> Result<DataPlaintext<'_>, DecodeError> {
        parse::all(&self.plaintext, DataPlaintext::decode)
    }

    /// The plaintext octets, consuming the delivery.
    #[must_use]
    pub fn into_plaintext(self) -> Vec<u8> {
        self.plaintext
    }
}

/// Fragments of one n under one exact frozen prefix.
#[derive(Debug)]
struct Candidate {
    id: u64,
    aad: Vec<u8>,
    count: u64,
    flags: DatagramFlags,
    fragments: BTreeMap<u64, Vec<u8>>,
    /// Bit k (LSB first in each octet) set when packet k is held.
    bitmap: Vec<u8>,
    cost: usize,
    /// Logical time of the last fragment added.
    touched: u64,
}

impl Candidate {
    fn holds(&self, index: u64) -> bool {
        let (byte, bit) = bit_of(index);
        self.bitmap.get(byte).is_some_and(|b| b & bit != 0)
    }

    fn is_complete(&self) -> bool {
        self.fragments.len() as u64 == self.count
    }
}

fn bit_of(index: u64) -> (usize, u8) {
    (
        usize::try_from(index / 8).unwrap_or(usize::MAX),
        1u8 << (index % 8),
    )
}

/// Reassembles, authenticates and delivers the data datagrams of one stream direction.
#[derive(Debug)]
pub struct Reassembler {
    opener: DatagramOpener,
    msg_type: MessageType,
    config: ReassemblyConfig,
    window: ReplayWindow,
    pending: BTreeMap<u64, Vec<Candidate>>,
    candidates: usize,
    buffered: usize,
    clock: u64,
    counters: ReassemblyCounters,
}

impl Reassembler {
    /// A reassembler for packets of `msg_type` (InitiatorData or ResponderData) opened with
    /// `opener`, with the default bounds.
    #[must_use]
    pub fn new(opener: DatagramOpener, msg_type: MessageType) -> Self {
        Self::with_config(opener, msg_type, ReassemblyConfig::default())
    }

    /// As [`Reassembler::new`] with explicit bounds.
    #[must_use]
    pub fn with_config(
        opener: DatagramOpener,
        msg_type: MessageType,
        config: ReassemblyConfig,
    ) -> Self {
        Self {
            opener,
            msg_type,
            config: ReassemblyConfig {
                max_incomplete: config.max_incomplete.max(1),
                max_buffered: config.max_buffered,
                max_candidates_per_nonce: config.max_candidates_per_nonce.max(1),
            },
            window: ReplayWindow::new(),
            pending: BTreeMap::new(),
            candidates: 0,
            buffered: 0,
            clock: 0,
            counters: ReassemblyCounters::default(),
        }
    }

    /// The bounds in force.
    #[must_use]
    pub fn config(&self) -> ReassemblyConfig {
        self.config
    }

    /// The counters so far.
    #[must_use]
    pub fn counters(&self) -> ReassemblyCounters {
        self.counters
    }

    /// The anti-replay window (authenticated counters only).
    #[must_use]
    pub fn window(&self) -> &ReplayWindow {
        &self.window
    }

    /// Incomplete candidates buffered.
    #[must_use]
    pub fn incomplete(&self) -> usize {
        self.candidates
    }

    /// Octets buffered, overheads included.
    #[must_use]
    pub fn buffered_octets(&self) -> usize {
        self.buffered
    }

    /// Partially received datagrams for the Ack extension's partials: `(n, bitmap)` with bit k
    /// (least significant first in each octet) set when packet k is held, for at most 64
    /// datagrams (the highest n). For an n with several candidates, the one holding the most
    /// fragments is reported. These are hints: nothing here has been authenticated.
    #[must_use]
    pub fn partials(&self) -> Vec<(u64, Vec<u8>)> {
        let limit = usize::try_from(MAX_ACK_PARTIALS).unwrap_or(64);
        let mut out: Vec<(u64, Vec<u8>)> = self
            .pending
            .iter()
            .rev()
            .filter_map(|(n, cands)| {
                cands
                    .iter()
                    .max_by_key(|c| (c.fragments.len(), c.touched))
                    .map(|c| (*n, c.bitmap.clone()))
            })
            .take(limit)
            .collect();
        out.reverse();
        out
    }

    /// Takes one received packet. `aad` is the packet's frozen prefix exactly as received
    /// (from [`crate::wire::split_aad`] on the same octets).
    ///
    /// Returns `Ok(Some(_))` when this packet completed a datagram that authenticated,
    /// `Ok(None)` when the fragment was buffered, and `Err` when the packet was dropped (and
    /// counted).
    ///
    /// # Errors
    /// A [`PacketError`] naming why the packet was dropped.
    pub fn receive(
        &mut self,
        pkt: &DataPacket<'_>,
        aad: &[u8],
    ) -> Result<Option<Delivered>, PacketError> {
        if !aad_matches(pkt, aad) {
            self.counters.invalid += 1;
            return Err(PacketError::AadMismatch);
        }
        let n = pkt.nonce;
        if pkt.msg_type != self.msg_type {
            self.counters.invalid += 1;
            return Err(PacketError::WrongMessageType(pkt.msg_type));
        }
        //= docs/SPEC.md#flags-reserved
        //# receivers MUST drop a datagram with any of them set
        if pkt.flags.0 & DatagramFlags::RESERVED != 0 {
            self.counters.invalid += 1;
            return Err(PacketError::ReservedFlags { n });
        }
        //= docs/SPEC.md#data-packet
        //# a packet count of at least 1, a packet index below the packet count, at least one fragment octet in a packet that is not the last, and at least the 16 tag octets in the last packet.
        let min_fragment = if pkt.is_last() { TAG_LEN } else { 1 };
        if n >= MAX_DATAGRAM_COUNTER
            || pkt.packet_count == 0
            || pkt.packet_count > MAX_PACKETS_PER_DATAGRAM
            || pkt.packet_index >= pkt.packet_count
            || pkt.fragment.len() < min_fragment
        {
            self.counters.invalid += 1;
            return Err(PacketError::InvalidPacket { n });
        }
        //= docs/SPEC.md#reassembly-release
        //# A receiver MUST drop a packet whose n the anti-replay window reports as accepted or too old before buffering it
        match self.window.status(n) {
            ReplayStatus::Fresh => {}
            ReplayStatus::Duplicate => {
                self.counters.replays += 1;
                return Err(PacketError::Replayed { n });
            }
            ReplayStatus::TooOld => {
                self.counters.replays += 1;
                return Err(PacketError::TooOld { n });
            }
        }
        self.clock += 1;
        let now = self.clock;

        // The candidate for this exact prefix, or a new one.
        //= docs/SPEC.md#reassembly-candidates
        //# A receiver MUST group fragments by n and the exact frozen prefix received.
        let existing = self
            .pending
            .get(&n)
            .and_then(|c| c.iter().find(|c| c.aad == aad))
            .map(|c| c.id);
        let id = match existing {
            Some(id) => id,
            None => self.new_candidate(pkt, aad, now),
        };
        let first = self
            .pending
            .get(&n)
            .and_then(|c| c.iter().map(|c| c.id).min());
        if first != Some(id) {
            //= docs/SPEC.md#reassembly-candidates
            //# A fragment whose prefix differs from the first one buffered for its n MUST be counted and kept apart
            self.counters.inconsistent_fragments += 1;
        }
        let Some(cand) = self.candidate_mut(n, id) else {
            return Ok(None);
        };
        if cand.holds(pkt.packet_index) {
            //= docs/SPEC.md#reassembly-candidates
            //# a fragment at an index already held is ignored.
            self.counters.duplicates += 1;
            return Err(PacketError::DuplicateFragment {
                n,
                index: pkt.packet_index,
            });
        }
        let (byte, bit) = bit_of(pkt.packet_index);
        if let Some(b) = cand.bitmap.get_mut(byte) {
            *b |= bit;
        }
        let cost = pkt.fragment.len().saturating_add(FRAGMENT_OVERHEAD);
        cand.fragments
            .insert(pkt.packet_index, pkt.fragment.to_vec());
        cand.cost = cand.cost.saturating_add(cost);
        cand.touched = now;
        let complete = cand.is_complete();
        self.buffered = self.buffered.saturating_add(cost);
        self.counters.fragments += 1;

        if complete {
            return self.complete(n, id);
        }
        //= docs/SPEC.md#reassembly-bounds
        //# Over a bound it evicts the candidate least recently extended, and counts the eviction
        while self.buffered > self.config.max_buffered {
            if !self.evict_lru(Some(id)) {
                // Nothing else to evict: this datagram alone is over the bound.
                self.remove_candidate(n, id);
                self.counters.evicted += 1;
                return Err(PacketError::TooLarge { n });
            }
        }
        Ok(None)
    }

    /// Creates an empty candidate for `pkt`'s n and prefix, evicting to stay within the bounds,
    /// and returns its id.
    fn new_candidate(&mut self, pkt: &DataPacket<'_>, aad: &[u8], now: u64) -> u64 {
        let n = pkt.nonce;
        let siblings = self.pending.get(&n).map_or(0, Vec::len);
        if siblings >= self.config.max_candidates_per_nonce {
            let lru = self
                .pending
                .get(&n)
                .and_then(|c| c.iter().min_by_key(|c| c.touched))
                .map(|c| c.id);
            if let Some(old) = lru {
                self.remove_candidate(n, old);
                self.counters.evicted += 1;
            }
        }
        //= docs/SPEC.md#reassembly-bounds
        //# at most N incomplete candidates (default 64) and B octets (default 4 MiB, counting a fixed overhead per fragment and per candidate).
        while self.candidates >= self.config.max_incomplete {
            if !self.evict_lru(None) {
                break;
            }
        }
        let bitmap_len = usize::try_from(pkt.packet_count.div_ceil(8)).unwrap_or(0);
        let cost = aad
            .len()
            .saturating_add(bitmap_len)
            .saturating_add(CANDIDATE_OVERHEAD);
        let cand = Candidate {
            id: now,
            aad: aad.to_vec(),
            count: pkt.packet_count,
            flags: pkt.flags,
            fragments: BTreeMap::new(),
            bitmap: vec![0; bitmap_len],
            cost,
            touched: now,
        };
        self.pending.entry(n).or_default().push(cand);
        self.candidates += 1;
        self.buffered = self.buffered.saturating_add(cost);
        now
    }

    fn candidate_mut(&mut self, n: u64, id: u64) -> Option<&mut Candidate> {
        self.pending
            .get_mut(&n)
            .and_then(|c| c.iter_mut().find(|c| c.id == id))
    }

    /// Removes one candidate and releases its octets.
    fn remove_candidate(&mut self, n: u64, id: u64) -> Option<Candidate> {
        let cands = self.pending.get_mut(&n)?;
        let pos = cands.iter().position(|c| c.id == id)?;
        let cand = cands.swap_remove(pos);
        if cands.is_empty() {
            self.pending.remove(&n);
        }
        self.candidates = self.candidates.saturating_sub(1);
        self.buffered = self.buffered.saturating_sub(cand.cost);
        Some(cand)
    }

    /// Evicts the candidate least recently extended, other than `keep`. False when there is none.
    fn evict_lru(&mut self, keep: Option<u64>) -> bool {
        let victim = self
            .pending
            .iter()
            .flat_map(|(n, cands)| cands.iter().map(move |c| (*n, c.id, c.touched)))
            .filter(|(_, id, _)| Some(*id) != keep)
            .min_by_key(|(_, _, touched)| *touched);
        match victim {
            Some((n, id, _)) => {
                self.remove_candidate(n, id);
                self.counters.evicted += 1;
                true
            }
            None => false,
        }
    }

    /// Opens a complete candidate.
    fn complete(&mut self, n: u64, id: u64) -> Result<Option<Delivered>, PacketError> {
        let Some(cand) = self.remove_candidate(n, id) else {
            return Ok(None);
        };
        let total: usize = cand.fragments.values().map(Vec::len).sum();
        let mut buf = Vec::with_capacity(total);
        for fragment in cand.fragments.values() {
            buf.extend_from_slice(fragment);
        }
        let tag_at = buf.len().saturating_sub(TAG_LEN);
        let Some((ct, tag)) = buf.split_at_mut_checked(tag_at) else {
            self.counters.tag_failures += 1;
            return Err(PacketError::TagFailure { n });
        };
        let Ok(tag) = <[u8; TAG_LEN]>::try_from(&*tag) else {
            self.counters.tag_failures += 1;
            return Err(PacketError::TagFailure { n });
        };
        //= docs/SPEC.md#reassembly-candidates
        //# When a candidate's tag fails, every fragment of that candidate MUST be discarded and fresh copies accepted.
        if self.opener.open(n, &cand.aad, ct, &tag).is_err() {
            self.counters.tag_failures += 1;
            return Err(PacketError::TagFailure { n });
        }
        buf.truncate(tag_at);

        //= docs/SPEC.md#reassembly-release
        //# MUST NOT release any plaintext of a datagram before its tag verifies, and MUST mark n in the window only then.
        self.window.accept(n);
        self.forget_settled();

        //= docs/SPEC.md#padding-zero
        //# a receiver MUST treat a non-zero padding octet as malformed, at its offset.
        let decoded = parse::all(&buf, DataPlaintext::decode).map(|d| {
            let payload_start = parse::offset_in(&buf, d.payload);
            // The extension list as received (its integers may be encoded non-minimally).
            let ext_len = ExtensionList::decode(&buf)
                .map_or(0, |(rest, _)| buf.len().saturating_sub(rest.len()));
            (ext_len, payload_start..payload_start + d.payload.len())
        });
        match decoded {
            Ok((extensions_len, payload)) => {
                self.counters.delivered += 1;
                Ok(Some(Delivered {
                    nonce: n,
                    flags: cand.flags,
                    plaintext: buf,
                    extensions_len,
                    payload,
                }))
            }
            Err(error) => {
                self.counters.invalid += 1;
                Err(PacketError::MalformedPlaintext { n, error })
            }
        }
    }

    /// Drops candidates whose n the window now reports as accepted or too old: they can never
    /// be delivered.
    fn forget_settled(&mut self) {
        let settled: Vec<u64> = self
            .pending
            .keys()
            .copied()
            .filter(|n| self.window.status(*n) != ReplayStatus::Fresh)
            .collect();
        for n in settled {
            if let Some(cands) = self.pending.remove(&n) {
                for c in cands {
                    self.candidates = self.candidates.saturating_sub(1);
                    self.buffered = self.buffered.saturating_sub(c.cost);
                }
            }
        }
    }
}

/// True when `aad` is exactly the frozen prefix that `pkt` was decoded with.
fn aad_matches(pkt: &DataPacket<'_>, aad: &[u8]) -> bool {
    let fields = |i| -> parse::PResult<'_, (StreamId<'_>, u8, u64, u64, u8)> {
        let (i, id) = StreamId::decode(i, "stream identifier")?;
        let (i, t) = parse::u8(i, "message type")?;
        let (i, n) = parse::varint(i, "nonce")?;
        let (i, c) = parse::varint(i, "packet count")?;
        let (i, f) = parse::u8(i, "flags")?;
        Ok((i, (id, t, n, c, f)))
    };
    parse::all(aad, fields).is_ok_and(|(id, t, n, c, f)| {
        id == pkt.stream_id
            && t == pkt.msg_type.0
            && n == pkt.nonce
            && c == pkt.packet_count
            && f == pkt.flags.0
    })
}
