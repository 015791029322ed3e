//! The send side of one stream direction on one path: what is outstanding, what the peer
//! acknowledged, what is lost, and when to probe (RFC 9002 sections 5 and 6).
//!
//! A RUD datagram is sealed once and keeps its counter n when resent (SPEC seal-once), so
//! unlike QUIC a retransmission does not get a new number. Loss detection therefore counts
//! *transmissions*: every send (first or repeat) of a datagram gets a local transmission
//! sequence number, and an acknowledgement of a datagram is attributed to its first
//! transmission, the earliest it can be evidence of (so a retransmission never makes another
//! datagram look lost too early). For datagrams never resent this is exactly RFC 9002's rule
//! over datagram counters.
use std::collections::BTreeMap;
use std::time::Duration;

use super::RecoveryError;
use super::auth::Authenticated;
use super::rtt::RttEstimator;
use crate::wire::Ack;
use crate::wire::limits::MAX_PACKETS_PER_DATAGRAM;

/// Packet reordering threshold (RFC 9002 section 6.1.1, kPacketThreshold), in transmissions.
pub const PACKET_THRESHOLD: u64 = 3;
/// Time reordering threshold numerator (RFC 9002 section 6.1.2, kTimeThreshold = 9/8).
pub const TIME_THRESHOLD_NUMERATOR: u128 = 9;
/// Time reordering threshold denominator.
pub const TIME_THRESHOLD_DENOMINATOR: u128 = 8;
/// Highest exponent of the PTO backoff (keeps 2^pto_count finite).
const MAX_PTO_BACKOFF_EXPONENT: u32 = 16;

/// A datagram handed to [`SentTracker::on_sent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramInfo {
    /// Datagram counter n.
    pub n: u64,
    /// Packets it was split into (1..=16384).
    pub packet_count: u64,
    /// Octets of all its packets on the wire.
    pub bytes: u64,
    /// Whether it carries anything besides acknowledgements (and so needs an Ack itself).
    pub ack_eliciting: bool,
}

/// The per-send hint fields to write in one packet header (SPEC 3.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketSend {
    pub n: u64,
    pub packet_index: u64,
    /// Sent index: 15 bits, wrapping (bit 15 stays zero).
    pub sent_index: u16,
    /// Retransmit index: how many times this packet was sent before.
    pub retransmit: u64,
}

/// A datagram freed by an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckedDatagram {
    pub n: u64,
    /// Bytes it had in flight (zero when it was not in flight).
    pub bytes: u64,
    /// When it was last sent.
    pub time_sent: Duration,
    pub ack_eliciting: bool,
}

/// A datagram declared lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostDatagram {
    pub n: u64,
    /// Bytes it had in flight.
    pub bytes: u64,
    /// When it was last sent.
    pub time_sent: Duration,
    pub ack_eliciting: bool,
}

/// What an acknowledgement or a timeout changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryEvents {
    /// Datagrams newly acknowledged: their send buffers may be freed.
    pub acked: Vec<AckedDatagram>,
    /// Datagrams newly declared lost (congestion signals). Their buffers are kept.
    pub lost: Vec<LostDatagram>,
    /// Packets to resend, as (n, packet index): those of the lost datagrams that no partial
    /// marked as received.
    pub retransmit: Vec<(u64, u64)>,
    /// Packets to send as a probe after a PTO (may exceed the congestion window).
    pub probe: Vec<(u64, u64)>,
    /// The RTT sample taken, if any.
    pub rtt_sample: Option<Duration>,
    /// Whether the losses amount to persistent congestion (RFC 9002 section 7.6).
    pub persistent_congestion: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct PacketState {
    retransmit: u64,
    sent_index: u16,
    /// Marked received by a partial since the datagram was last declared lost.
    hinted: bool,
}

#[derive(Debug, Clone)]
struct Outstanding {
    info: DatagramInfo,
    last_sent: Duration,
    first_seq: u64,
    last_seq: u64,
    /// Bytes counted in bytes_in_flight for it.
    in_flight: u64,
    retransmitted: bool,
    /// Declared lost, waiting for [`SentTracker::on_retransmit`].
    awaiting_retransmit: bool,
    packets: Vec<PacketState>,
}

impl Outstanding {
    fn is_in_flight(&self) -> bool {
        !self.awaiting_retransmit
    }
}

/// Datagrams sent on one stream direction over one path and not yet acknowledged.
#[derive(Debug, Clone)]
pub struct SentTracker {
    sent: BTreeMap<u64, Outstanding>,
    rtt: RttEstimator,
    next_seq: u64,
    next_sent_index: u16,
    largest_sent: Option<u64>,
    largest_acked: Option<u64>,
    largest_acked_seq: Option<u64>,
    bytes_in_flight: u64,
    loss_time: Option<Duration>,
    pto_count: u32,
    datagrams_sent: u64,
    datagrams_lost: u64,
    datagrams_acked: u64,
    packets_sent: u64,
    packets_retransmitted: u64,
}

impl Default for SentTracker {
    fn default() -> Self {
        Self::new(RttEstimator::default())
    }
}

impl SentTracker {
    /// An empty tracker using (and updating) `rtt`.
    #[must_use]
    pub fn new(rtt: RttEstimator) -> Self {
        Self {
            sent: BTreeMap::new(),
            rtt,
            next_seq: 0,
            next_sent_index: 0,
            largest_sent: None,
            largest_acked: None,
            largest_acked_seq: None,
            bytes_in_flight: 0,
            loss_time: None,
            pto_count: 0,
            datagrams_sent: 0,
            datagrams_lost: 0,
            datagrams_acked: 0,
            packets_sent: 0,
            packets_retransmitted: 0,
        }
    }

    /// The path's RTT estimate.
    #[must_use]
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Bytes of ack-eliciting datagrams sent and neither acknowledged nor declared lost.
    #[must_use]
    pub fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// Datagrams whose buffers are kept (sent and not acknowledged).
    #[must_use]
    pub fn outstanding(&self) -> usize {
        self.sent.len()
    }

    /// Whether datagram `n` is outstanding (its send buffer must be kept).
    #[must_use]
    pub fn is_outstanding(&self, n: u64) -> bool {
        self.sent.contains_key(&n)
    }

    /// Forgets datagram `n` without an acknowledgement, when the connection knows otherwise
    /// that it arrived (the peer moved on to the stream's next generation): its octets no
    /// longer count as in flight and it is no longer probed. Returns whether it was
    /// outstanding.
    pub fn discard(&mut self, n: u64) -> bool {
        let Some(d) = self.sent.remove(&n) else {
            return false;
        };
        self.bytes_in_flight = self.bytes_in_flight.saturating_sub(d.in_flight);
        true
    }

    /// The largest counter the peer acknowledged.
    #[must_use]
    pub fn largest_acked(&self) -> Option<u64> {
        self.largest_acked
    }

    /// Resets the probe backoff: an acknowledgement on another stream direction over the same
    /// path proves the path delivers (RFC 9002 resets it on any acknowledgement of its one
    /// packet number space).
    pub fn reset_pto_backoff(&mut self) {
        self.pto_count = 0;
    }

    /// Consecutive PTO expiries without an acknowledgement.
    #[must_use]
    pub fn pto_count(&self) -> u32 {
        self.pto_count
    }

    /// Datagrams first sent so far.
    #[must_use]
    pub fn datagrams_sent(&self) -> u64 {
        self.datagrams_sent
    }

    /// Loss declarations so far (a datagram lost twice counts twice).
    #[must_use]
    pub fn datagrams_lost(&self) -> u64 {
        self.datagrams_lost
    }

    /// Datagrams acknowledged so far.
    #[must_use]
    pub fn datagrams_acked(&self) -> u64 {
        self.datagrams_acked
    }

    /// Packet sends so far (first sends and resends).
    #[must_use]
    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }

    /// Packet resends so far (retransmissions and probes).
    #[must_use]
    pub fn packets_retransmitted(&self) -> u64 {
        self.packets_retransmitted
    }

    /// Packets of lost datagrams still waiting to be resent, as (n, packet index).
    #[must_use]
    pub fn pending_retransmissions(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for (n, d) in self.sent.iter().filter(|(_, d)| d.awaiting_retransmit) {
            out.extend((0..d.info.packet_count).map(|k| (*n, k)));
        }
        out
    }

    fn next_sent_index(&mut self) -> u16 {
        let i = self.next_sent_index;
        self.next_sent_index = (i + 1) & 0x7FFF;
        i
    }

    /// Records the first transmission of a datagram, all of its packets at `now`, and returns
    /// the header hints of each packet (sent index, retransmit index 0).
    ///
    /// # Errors
    /// [`RecoveryError::BadPacketCount`] or [`RecoveryError::DuplicateCounter`] (a counter
    /// already outstanding or not above every acknowledged one).
    pub fn on_sent(
        &mut self,
        now: Duration,
        info: DatagramInfo,
    ) -> Result<Vec<PacketSend>, RecoveryError> {
        if info.packet_count == 0 || info.packet_count > MAX_PACKETS_PER_DATAGRAM {
            return Err(RecoveryError::BadPacketCount(info.packet_count));
        }
        if self.sent.contains_key(&info.n) || self.largest_sent.is_some_and(|l| info.n <= l) {
            return Err(RecoveryError::DuplicateCounter(info.n));
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        let mut packets = Vec::new();
        let mut sends = Vec::new();
        for k in 0..info.packet_count {
            let sent_index = self.next_sent_index();
            packets.push(PacketState {
                retransmit: 0,
                sent_index,
                hinted: false,
            });
            sends.push(PacketSend {
                n: info.n,
                packet_index: k,
                sent_index,
                retransmit: 0,
            });
        }
        let in_flight = if info.ack_eliciting { info.bytes } else { 0 };
        self.bytes_in_flight = self.bytes_in_flight.saturating_add(in_flight);
        self.largest_sent = Some(info.n);
        self.datagrams_sent = self.datagrams_sent.saturating_add(1);
        self.packets_sent = self.packets_sent.saturating_add(info.packet_count);
        self.sent.insert(
            info.n,
            Outstanding {
                info,
                last_sent: now,
                first_seq: seq,
                last_seq: seq,
                in_flight,
                retransmitted: false,
                awaiting_retransmit: false,
                packets,
            },
        );
        Ok(sends)
    }

    /// Records a resend at `now` of some packets of outstanding datagram `n` (after a loss or
    /// as a probe), `bytes` octets on the wire, and returns their header hints: a new sent
    /// index and the retransmit index bumped. The packets themselves are resent unchanged.
    ///
    /// # Errors
    /// [`RecoveryError::NotOutstanding`] (acknowledged meanwhile: do not resend) or
    /// [`RecoveryError::BadPacketIndex`].
    //= docs/SPEC.md#loss-detection
    //# A retransmission resends the sealed packets unchanged (seal-once) with a new sent index and a retransmit index one higher
    pub fn on_retransmit(
        &mut self,
        now: Duration,
        n: u64,
        packet_indexes: &[u64],
        bytes: u64,
    ) -> Result<Vec<PacketSend>, RecoveryError> {
        let count = match self.sent.get(&n) {
            Some(d) => d.info.packet_count,
            None => return Err(RecoveryError::NotOutstanding(n)),
        };
        if let Some(&index) = packet_indexes.iter().find(|&&k| k >= count) {
            return Err(RecoveryError::BadPacketIndex { n, index });
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        let mut indexes = Vec::with_capacity(packet_indexes.len());
        for _ in packet_indexes {
            indexes.push(self.next_sent_index());
        }
        let Some(d) = self.sent.get_mut(&n) else {
            return Err(RecoveryError::NotOutstanding(n));
        };
        let mut sends = Vec::with_capacity(packet_indexes.len());
        for (&k, sent_index) in packet_indexes.iter().zip(indexes) {
            let Some(p) = usize::try_from(k).ok().and_then(|k| d.packets.get_mut(k)) else {
                continue;
            };
            p.retransmit = p.retransmit.saturating_add(1);
            p.sent_index = sent_index;
            sends.push(PacketSend {
                n,
                packet_index: k,
                sent_index,
                retransmit: p.retransmit,
            });
        }
        d.last_sent = now;
        d.last_seq = seq;
        d.retransmitted = true;
        d.awaiting_retransmit = false;
        if d.info.ack_eliciting {
            d.in_flight = d.in_flight.saturating_add(bytes);
            self.bytes_in_flight = self.bytes_in_flight.saturating_add(bytes);
        }
        let resent = u64::try_from(sends.len()).unwrap_or(u64::MAX);
        self.packets_sent = self.packets_sent.saturating_add(resent);
        self.packets_retransmitted = self.packets_retransmitted.saturating_add(resent);
        Ok(sends)
    }

    /// Applies an authenticated acknowledgement received at `now`: frees the datagrams it
    /// names, takes an RTT sample, notes the partials (which free nothing), and detects loss.
    ///
    /// # Errors
    /// [`RecoveryError::MalformedAck`] or [`RecoveryError::AckOfUnsent`]; the tracker is then
    /// unchanged.
    //= docs/SPEC.md#ack-authenticated
    //# An Ack that names a counter never sent is a protocol violation and changes nothing.
    pub fn on_ack(
        &mut self,
        now: Duration,
        ack: &Authenticated<Ack<'_>>,
    ) -> Result<RecoveryEvents, RecoveryError> {
        let ranges = ack.acked_ranges().ok_or(RecoveryError::MalformedAck)?;
        if self.largest_sent.is_none_or(|l| ack.largest > l) {
            return Err(RecoveryError::AckOfUnsent {
                largest: ack.largest,
            });
        }
        let mut events = RecoveryEvents::default();
        // The largest is looked up before it is removed, for the RTT sample.
        let largest_info = self
            .sent
            .get(&ack.largest)
            .map(|d| (d.last_sent, d.retransmitted));
        for (low, high) in ranges {
            let names: Vec<u64> = self.sent.range(low..=high).map(|(n, _)| *n).collect();
            for n in names {
                let Some(d) = self.sent.remove(&n) else {
                    continue;
                };
                self.bytes_in_flight = self.bytes_in_flight.saturating_sub(d.in_flight);
                self.largest_acked_seq = Some(
                    self.largest_acked_seq
                        .map_or(d.first_seq, |s| s.max(d.first_seq)),
                );
                events.acked.push(AckedDatagram {
                    n,
                    bytes: d.in_flight,
                    time_sent: d.last_sent,
                    ack_eliciting: d.info.ack_eliciting,
                });
            }
        }
        self.datagrams_acked = self
            .datagrams_acked
            .saturating_add(u64::try_from(events.acked.len()).unwrap_or(u64::MAX));
        self.largest_acked = Some(
            self.largest_acked
                .map_or(ack.largest, |l| l.max(ack.largest)),
        );

        // RFC 9002 section 5.1: a sample when the largest acknowledged is newly acknowledged
        // and something newly acknowledged was ack-eliciting; Karn: not from a resent one; and
        // not when the receiver says it held the acknowledgement longer than max_ack_delay.
        let ack_delay = Duration::from_micros(ack.delay_us);
        if let Some((sent_at, retransmitted)) = largest_info
            && !retransmitted
            && ack_delay <= self.rtt.max_ack_delay()
            && events.acked.iter().any(|a| a.ack_eliciting)
        {
            let latest = now.saturating_sub(sent_at);
            self.rtt.update(now, latest, ack_delay);
            events.rtt_sample = Some(latest);
        }

        self.note_partials(ack);
        // RFC 9002 section 6.2.1: the backoff is reset when an acknowledgement arrives.
        self.pto_count = 0;
        self.detect_lost(now, &mut events);
        Ok(events)
    }

    //= docs/SPEC.md#ack-partials-hint
    //# Partials MUST NOT free a send buffer or count as an acknowledgement
    fn note_partials(&mut self, ack: &Ack<'_>) {
        for p in &ack.partials {
            let Some(d) = self.sent.get_mut(&p.nonce) else {
                continue;
            };
            for (k, packet) in d.packets.iter_mut().enumerate() {
                let (byte, bit) = (k / 8, k % 8);
                if p.bitmap.get(byte).is_some_and(|b| b & (1 << bit) != 0) {
                    packet.hinted = true;
                }
            }
        }
    }

    //= docs/SPEC.md#loss-detection
    //# A sender declares a datagram lost as RFC 9002 section 6 does, with transmissions in place of packet numbers
    fn detect_lost(&mut self, now: Duration, events: &mut RecoveryEvents) {
        self.loss_time = None;
        let Some(largest_acked_seq) = self.largest_acked_seq else {
            return;
        };
        let loss_delay = self.rtt.loss_delay();
        let lost_send_time = now.checked_sub(loss_delay);
        let mut lost_now = Vec::new();
        let mut postponed = Vec::new();
        for (&n, d) in &self.sent {
            if !d.is_in_flight() || d.last_seq >= largest_acked_seq {
                continue;
            }
            let by_time = lost_send_time.is_some_and(|t| d.last_sent <= t);
            let by_count = largest_acked_seq >= d.last_seq.saturating_add(PACKET_THRESHOLD);
            if by_time || by_count {
                if d.info.ack_eliciting && d.packets.iter().all(|p| p.hinted) {
                    postponed.push(n);
                } else {
                    lost_now.push(n);
                }
            } else {
                let at = d.last_sent.saturating_add(loss_delay);
                self.loss_time = Some(self.loss_time.map_or(at, |t| t.min(at)));
            }
        }
        for n in postponed {
            // The receiver holds every packet: restart the datagram's loss clock once, as if
            // sent now, instead of resending (the partials were consumed).
            if let Some(d) = self.sent.get_mut(&n) {
                for p in &mut d.packets {
                    p.hinted = false;
                }
                d.last_sent = now;
                d.last_seq = self.next_seq;
            }
        }
        for n in lost_now {
            self.declare_lost(n, events);
        }
        events.persistent_congestion = self.persistent_congestion(events);
    }

    fn declare_lost(&mut self, n: u64, events: &mut RecoveryEvents) {
        self.datagrams_lost = self.datagrams_lost.saturating_add(1);
        let Some(d) = self.sent.get_mut(&n) else {
            return;
        };
        events.lost.push(LostDatagram {
            n,
            bytes: d.in_flight,
            time_sent: d.last_sent,
            ack_eliciting: d.info.ack_eliciting,
        });
        self.bytes_in_flight = self.bytes_in_flight.saturating_sub(d.in_flight);
        d.in_flight = 0;
        if !d.info.ack_eliciting {
            // Holds no send buffer (SPEC ack-authenticated): forgotten.
            self.sent.remove(&n);
            return;
        }
        d.awaiting_retransmit = true;
        for (k, p) in (0u64..).zip(d.packets.iter_mut()) {
            if p.hinted {
                p.hinted = false; // postponed for this round only
            } else {
                events.retransmit.push((n, k));
            }
        }
    }

    /// RFC 9002 section 7.6, over runs of consecutive counters declared lost (now or before
    /// and still awaiting a resend) that include a datagram lost now: persistent congestion
    /// when two ack-eliciting ones sent after the first RTT sample are at least
    /// 3 x PTO apart.
    fn persistent_congestion(&self, events: &RecoveryEvents) -> bool {
        let Some(first_sample) = self.rtt.first_sample_at() else {
            return false;
        };
        if events.lost.is_empty() {
            return false;
        }
        let duration = self
            .rtt
            .pto_base()
            .saturating_mul(super::congestion::PERSISTENT_CONGESTION_THRESHOLD);
        let mut lost: BTreeMap<u64, (Duration, bool, bool)> = BTreeMap::new();
        for l in &events.lost {
            lost.insert(l.n, (l.time_sent, l.ack_eliciting, true));
        }
        for (&n, d) in self.sent.iter().filter(|(_, d)| d.awaiting_retransmit) {
            lost.entry(n)
                .or_insert((d.last_sent, d.info.ack_eliciting, false));
        }
        let mut prev: Option<u64> = None;
        let mut run: Option<(Duration, Duration, bool)> = None; // (earliest, latest, has new)
        for (&n, &(sent, eliciting, new)) in &lost {
            if prev.is_none_or(|p| p.saturating_add(1) != n) {
                run = None;
            }
            prev = Some(n);
            if !eliciting || sent <= first_sample {
                continue;
            }
            let r = run.get_or_insert((sent, sent, false));
            r.0 = r.0.min(sent);
            r.1 = r.1.max(sent);
            r.2 |= new;
            if r.2 && r.1.saturating_sub(r.0) >= duration {
                return true;
            }
        }
        false
    }

    /// When [`SentTracker::on_timeout`] must be called: the loss timer if armed, otherwise the
    /// PTO (RFC 9002 section 6.2.1) of the latest ack-eliciting send still in flight.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.loss_time.is_some() {
            return self.loss_time;
        }
        let last = self
            .sent
            .values()
            .filter(|d| d.info.ack_eliciting && d.is_in_flight())
            .map(|d| d.last_sent)
            .max()?;
        let backoff = 1u32 << self.pto_count.min(MAX_PTO_BACKOFF_EXPONENT);
        Some(last.saturating_add(self.rtt.pto_base().saturating_mul(backoff)))
    }

    /// Runs the timer that fired at `now`: loss detection when the loss timer expired, or a
    /// probe (the packets of the oldest ack-eliciting datagram in flight) when the PTO did.
    /// Does nothing before the deadline.
    //= docs/SPEC.md#loss-detection
    //# a probe timeout (PTO) of smoothed RTT + max(4 x RTT variance, 1 ms) + 25 ms, doubled at each expiry, resends the oldest outstanding datagram.
    pub fn on_timeout(&mut self, now: Duration) -> RecoveryEvents {
        let mut events = RecoveryEvents::default();
        let Some(deadline) = self.poll_timeout() else {
            return events;
        };
        if now < deadline {
            return events;
        }
        if self.loss_time.is_some() {
            self.detect_lost(now, &mut events);
            return events;
        }
        self.pto_count = self.pto_count.saturating_add(1);
        if let Some((&n, d)) = self
            .sent
            .iter()
            .filter(|(_, d)| d.info.ack_eliciting && d.is_in_flight())
            .min_by_key(|(_, d)| d.last_seq)
        {
            events
                .probe
                .extend((0..d.info.packet_count).map(|k| (n, k)));
        }
        events
    }
}
