//! The receive side of one stream direction: which datagram counters verified, which packets
//! of unverified datagrams arrived, and the Ack that says so.
use std::collections::BTreeMap;
use std::time::Duration;

use super::auth::OpenedDatagram;
use super::rtt::MAX_ACK_DELAY;
use crate::wire::limits::{MAX_ACK_BITMAP, MAX_ACK_PARTIALS, MAX_ACK_RANGES};
use crate::wire::{Ack, PartialAck};

/// Ranges a [`ReceivedSet`] keeps by default (SPEC 6.4: an Ack carries at most 256 ranges
/// besides the first).
pub const DEFAULT_MAX_RANGES: usize = 256;

/// The largest value a varint carries (2^62 - 1).
const VARINT_MAX: u64 = (1 << 62) - 1;

/// Datagram counters received and verified on one stream direction, as disjoint,
/// non-adjacent inclusive ranges in ascending order, at most `max_ranges` of them (the oldest
/// are forgotten first), plus the partial bitmaps of datagrams not verified yet.
#[derive(Debug, Clone)]
pub struct ReceivedSet {
    ranges: Vec<(u64, u64)>,
    max_ranges: usize,
    largest_at: Option<Duration>,
    partials: BTreeMap<u64, Vec<u8>>,
    pending_eliciting: u64,
    pending_since: Option<Duration>,
    ack_now: bool,
    max_ack_delay: Duration,
}

impl Default for ReceivedSet {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceivedSet {
    /// An empty set keeping [`DEFAULT_MAX_RANGES`] ranges.
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_ranges(DEFAULT_MAX_RANGES)
    }

    /// An empty set keeping at most `max_ranges` (at least 1) ranges.
    #[must_use]
    pub fn with_max_ranges(max_ranges: usize) -> Self {
        Self {
            ranges: Vec::new(),
            max_ranges: max_ranges.max(1),
            largest_at: None,
            partials: BTreeMap::new(),
            pending_eliciting: 0,
            pending_since: None,
            ack_now: false,
            max_ack_delay: MAX_ACK_DELAY,
        }
    }

    /// Records a verified datagram received at `now`. Returns false when its counter was
    /// already recorded (a retransmitted copy). Its partial bitmap, if any, is dropped.
    //= docs/SPEC.md#ack-authenticated
    //# A receiver MUST acknowledge only counters of datagrams whose tag verified
    pub fn on_received(
        &mut self,
        now: Duration,
        datagram: &OpenedDatagram<'_>,
        ack_eliciting: bool,
    ) -> bool {
        let n = datagram.counter();
        self.partials.remove(&n);
        let largest = self.largest();
        if !self.insert(n) {
            return false;
        }
        match largest {
            Some(l) if n <= l => self.ack_now = true, // fills a gap: ack at once
            Some(l) if n > l.saturating_add(1) => {
                self.ack_now = true; // opens a gap
                self.largest_at = Some(now);
            }
            _ => self.largest_at = Some(now),
        }
        if ack_eliciting {
            self.pending_eliciting = self.pending_eliciting.saturating_add(1);
            self.pending_since.get_or_insert(now);
        }
        true
    }

    /// A packet arrived of a datagram already verified: the sender resent it, so an Ack was
    /// probably lost. Schedules an Ack as an ack-eliciting receipt would. The trigger is not
    /// authenticated, but the Ack only repeats verified counters, so it cannot be made to lie;
    /// callers should still bound how often they call this.
    pub fn on_duplicate(&mut self, now: Duration) {
        self.pending_eliciting = self.pending_eliciting.saturating_add(1);
        self.pending_since.get_or_insert(now);
    }

    fn insert(&mut self, n: u64) -> bool {
        // First range whose high end is at or above n - 1 (could merge or contain n).
        let i = self
            .ranges
            .partition_point(|&(_, high)| high.saturating_add(1) < n);
        match self.ranges.get(i).copied() {
            Some((low, high)) if low <= n && n <= high => return false,
            Some((low, high)) if high.saturating_add(1) == n => {
                // Extends range i upward; maybe joins range i + 1.
                let mut merged = (low, n);
                if let Some(&(nl, nh)) = self.ranges.get(i + 1)
                    && nl == n.saturating_add(1)
                {
                    merged.1 = nh;
                    self.ranges.remove(i + 1);
                }
                if let Some(r) = self.ranges.get_mut(i) {
                    *r = merged;
                }
            }
            Some((low, high)) if n.saturating_add(1) == low => {
                if let Some(r) = self.ranges.get_mut(i) {
                    *r = (n, high);
                }
            }
            _ => self.ranges.insert(i, (n, n)),
        }
        if self.ranges.len() > self.max_ranges {
            self.ranges.remove(0);
        }
        true
    }

    /// Whether counter `n` is recorded.
    #[must_use]
    pub fn contains(&self, n: u64) -> bool {
        let i = self.ranges.partition_point(|&(_, high)| high < n);
        self.ranges.get(i).is_some_and(|&(low, _)| low <= n)
    }

    /// The largest counter recorded.
    #[must_use]
    pub fn largest(&self) -> Option<u64> {
        self.ranges.last().map(|&(_, high)| high)
    }

    /// The ranges kept, ascending.
    #[must_use]
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// ORs the reassembler's bitmap of packets received of datagram `n` (not verified yet)
    /// into the one kept. Ignored when `n` is already verified. At most 64 partials of at most
    /// 2048 octets are kept, those of the highest counters.
    pub fn merge_partial(&mut self, n: u64, bitmap: &[u8]) {
        if self.contains(n) || bitmap.is_empty() {
            return;
        }
        let bitmap = bitmap.get(..MAX_ACK_BITMAP).unwrap_or(bitmap);
        let kept = self.partials.entry(n).or_default();
        if kept.len() < bitmap.len() {
            kept.resize(bitmap.len(), 0);
        }
        for (k, b) in kept.iter_mut().zip(bitmap) {
            *k |= *b;
        }
        while self.partials.len() > usize::try_from(MAX_ACK_PARTIALS).unwrap_or(64) {
            self.partials.pop_first();
        }
    }

    /// Forgets the partial bitmap of `n` (the reassembler gave the datagram up).
    pub fn forget_partial(&mut self, n: u64) {
        self.partials.remove(&n);
    }

    /// The Ack to send at `now`, or `None` when nothing was received. The delay is the time
    /// since the largest counter arrived; at most 256 ranges below the first and 64 partials
    /// (the highest) are included.
    #[must_use]
    pub fn build_ack(&self, now: Duration) -> Option<Ack<'_>> {
        let mut iter = self.ranges.iter().rev();
        let &(first_low, largest) = iter.next()?;
        let delay = self
            .largest_at
            .map_or(Duration::ZERO, |t| now.saturating_sub(t));
        let delay_us = u64::try_from(delay.as_micros())
            .unwrap_or(VARINT_MAX)
            .min(VARINT_MAX);
        let mut ranges = Vec::new();
        let mut low = first_low;
        for &(l, h) in iter.take(usize::try_from(MAX_ACK_RANGES).unwrap_or(256)) {
            // Ranges are disjoint and non-adjacent, so low >= h + 2.
            ranges.push((low.saturating_sub(h).saturating_sub(2), h.saturating_sub(l)));
            low = l;
        }
        let partials = self
            .partials
            .iter()
            .rev()
            .map(|(&nonce, bitmap)| PartialAck {
                nonce,
                bitmap: bitmap.as_slice(),
            })
            .collect();
        Some(Ack {
            largest,
            delay_us,
            first_range: largest.saturating_sub(first_low),
            ranges,
            partials,
        })
    }

    /// Whether an Ack should go out now (RFC 9000 section 13.2): after every second
    /// ack-eliciting datagram, at once when a datagram arrived out of order, and otherwise
    /// no later than max_ack_delay after the first unacknowledged ack-eliciting one.
    #[must_use]
    pub fn ack_due(&self, now: Duration) -> bool {
        if self.pending_eliciting == 0 {
            return false;
        }
        self.ack_now
            || self.pending_eliciting >= 2
            || self.ack_deadline().is_some_and(|deadline| now >= deadline)
    }

    /// When the pending acknowledgement must go at the latest.
    #[must_use]
    pub fn ack_deadline(&self) -> Option<Duration> {
        if self.pending_eliciting == 0 {
            return None;
        }
        self.pending_since
            .map(|t| t.saturating_add(self.max_ack_delay))
    }

    /// Makes a pending Ack due now, whatever the ack delay says (a Close that ends the
    /// connection is acknowledged before the state goes).
    pub fn ack_immediately(&mut self) {
        self.ack_now = true;
    }

    /// Notes that an Ack was sent: nothing is pending any more.
    pub fn on_ack_sent(&mut self) {
        self.pending_eliciting = 0;
        self.pending_since = None;
        self.ack_now = false;
    }
}
