//! What a path does: RTT, loss, volume, and the PDM-style timing of the Metrics extension
//! (SPEC 6.2.14, after draft-ietf-ippm-encrypted-pdmv2 and RFC 8250).
use std::collections::VecDeque;
use std::time::Duration;

use super::auth::Authenticated;
use super::rtt::RttEstimator;
use super::sent::RecoveryEvents;
use crate::wire::Metrics;

/// Send times a [`PdmEndpoint`] remembers (older packets cannot be matched to a PSNLR).
const PDM_HISTORY: usize = 256;
/// Bits of a PDM delta mantissa (PDM's 16-bit fields).
const PDM_MANTISSA_BITS: u32 = 16;

/// Encodes a delta as (scale, value) with value < 2^16 and the smallest scale that fits, so
/// value << scale nanoseconds is the delta rounded down (PDM's scaled 16-bit fields).
#[must_use]
pub fn encode_delta(delta: Duration) -> (u8, u64) {
    let ns = u64::try_from(delta.as_nanos()).unwrap_or(u64::MAX);
    let bits = u64::BITS - ns.leading_zeros();
    let scale = bits.saturating_sub(PDM_MANTISSA_BITS);
    (u8::try_from(scale).unwrap_or(u8::MAX), ns >> scale)
}

/// Decodes value << scale nanoseconds; `None` when that overflows 64 bits.
//= docs/SPEC.md#metrics-pdm
//# a delta that overflows 64 bits of nanoseconds is ignored.
#[must_use]
pub fn decode_delta(scale: u8, value: u64) -> Option<Duration> {
    if value == 0 {
        return Some(Duration::ZERO);
    }
    let scale = u32::from(scale);
    if scale >= u64::BITS || value.leading_zeros() < scale {
        return None;
    }
    Some(Duration::from_nanos(value << scale))
}

/// What one peer Metrics value says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PdmSample {
    /// The peer's processing delay: its DELTATLR, from receiving our packet PSNLR to sending
    /// this one.
    pub peer_processing: Option<Duration>,
    /// Network RTT seen here: time since we sent PSNLR minus the peer's processing delay.
    pub round_trip: Option<Duration>,
    /// The peer's round trip (its DELTATLS, which includes our processing delay).
    pub peer_round_trip: Option<Duration>,
    /// Network RTT seen by the peer: its DELTATLS minus the DELTATLR we sent it.
    pub peer_network_round_trip: Option<Duration>,
}

/// One end of a PDM exchange: numbers its packets (PSN), remembers when it sent them and when
/// it last received one, builds the Metrics value of each packet it sends and reads those of
/// the peer (draft-ietf-ippm-encrypted-pdmv2 section 6.2, RFC 8250 section 3).
#[derive(Debug, Clone)]
pub struct PdmEndpoint {
    next_psn: u64,
    sent: VecDeque<(u64, Duration, Duration)>, // (psn, sent at, DELTATLR it carried)
    last_received: Option<(u64, Duration)>,    // (peer psn, received at)
    last_sent_at: Option<Duration>,
}

impl PdmEndpoint {
    /// An endpoint whose first packet has PSN `initial_psn` (the draft starts at a random
    /// number; the caller draws it).
    #[must_use]
    pub fn new(initial_psn: u64) -> Self {
        Self {
            next_psn: initial_psn,
            sent: VecDeque::new(),
            last_received: None,
            last_sent_at: None,
        }
    }

    /// The Metrics value for a packet sent at `now`:
    /// DELTATLR = now - receive time of the peer's last packet;
    /// DELTATLS = receive time of the peer's last packet - send time of our previous packet.
    //= docs/SPEC.md#metrics-pdm
    //# delta time last received (DELTATLR) is the sender's processing delay, from receiving the packet named by PSNLR to sending this one; delta time last sent (DELTATLS) is the sender's round trip, from sending its previous packet to receiving the peer's.
    pub fn on_sent(&mut self, now: Duration) -> Metrics {
        let psn = self.next_psn;
        self.next_psn = self.next_psn.wrapping_add(1) & ((1 << 62) - 1);
        let (psn_last_received, dtlr, dtls) = match self.last_received {
            Some((peer_psn, received_at)) => (
                peer_psn,
                now.saturating_sub(received_at),
                self.last_sent_at
                    .map_or(Duration::ZERO, |s| received_at.saturating_sub(s)),
            ),
            None => (0, Duration::ZERO, Duration::ZERO),
        };
        let (scale_dtlr, delta_last_received) = encode_delta(dtlr);
        let (scale_dtls, delta_last_sent) = encode_delta(dtls);
        self.sent.push_back((psn, now, dtlr));
        if self.sent.len() > PDM_HISTORY {
            self.sent.pop_front();
        }
        self.last_sent_at = Some(now);
        Metrics {
            psn_this: psn,
            psn_last_received,
            scale_dtlr,
            delta_last_received,
            scale_dtls,
            delta_last_sent,
        }
    }

    /// Reads the peer's Metrics, received at `now` in a verified datagram.
    //= docs/SPEC.md#metrics-pdm
    //# A receiver computes the network RTT as the time since it sent packet PSNLR minus the peer's DELTATLR, and the peer's view of it as the peer's DELTATLS minus the DELTATLR it sent itself.
    pub fn on_received(&mut self, now: Duration, metrics: &Authenticated<Metrics>) -> PdmSample {
        self.last_received = Some((metrics.psn_this, now));
        let peer_processing = decode_delta(metrics.scale_dtlr, metrics.delta_last_received);
        let peer_round_trip = decode_delta(metrics.scale_dtls, metrics.delta_last_sent);
        let ours = self
            .sent
            .iter()
            .find(|(psn, _, _)| *psn == metrics.psn_last_received)
            .copied();
        let round_trip = match (ours, peer_processing) {
            (Some((_, sent_at, _)), Some(p)) => now.saturating_sub(sent_at).checked_sub(p),
            _ => None,
        };
        // The peer's DELTATLS runs from its previous send to receiving our packet PSNLR, whose
        // DELTATLR was our processing delay.
        let peer_network_round_trip = match (ours, peer_round_trip) {
            (Some((_, _, our_dtlr)), Some(r)) if r > Duration::ZERO => r.checked_sub(our_dtlr),
            _ => None,
        };
        PdmSample {
            peer_processing,
            round_trip,
            peer_round_trip,
            peer_network_round_trip,
        }
    }
}

/// Counters and estimates of one path, for reporting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathMetrics {
    pub smoothed_rtt: Duration,
    pub min_rtt: Duration,
    pub rtt_variance: Duration,
    pub datagrams_sent: u64,
    pub datagrams_lost: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    /// The latest PDM sample.
    pub pdm: Option<PdmSample>,
}

impl PathMetrics {
    /// All zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies the RTT estimates.
    pub fn update_rtt(&mut self, rtt: &RttEstimator) {
        self.smoothed_rtt = rtt.smoothed();
        self.min_rtt = rtt.min();
        self.rtt_variance = rtt.variance();
    }

    /// A datagram of `packets` packets and `bytes` octets went out for the first time.
    pub fn on_datagram_sent(&mut self, packets: u64, bytes: u64) {
        self.datagrams_sent = self.datagrams_sent.saturating_add(1);
        self.on_packets_sent(packets, bytes);
    }

    /// Packets went out (first sends or resends).
    pub fn on_packets_sent(&mut self, packets: u64, bytes: u64) {
        self.packets_sent = self.packets_sent.saturating_add(packets);
        self.bytes_sent = self.bytes_sent.saturating_add(bytes);
    }

    /// Packets arrived.
    pub fn on_packets_received(&mut self, packets: u64, bytes: u64) {
        self.packets_received = self.packets_received.saturating_add(packets);
        self.bytes_received = self.bytes_received.saturating_add(bytes);
    }

    /// Counts the losses a tracker reported.
    pub fn on_events(&mut self, events: &RecoveryEvents) {
        let lost = u64::try_from(events.lost.len()).unwrap_or(u64::MAX);
        self.datagrams_lost = self.datagrams_lost.saturating_add(lost);
    }

    /// Records a PDM sample.
    pub fn on_pdm(&mut self, sample: PdmSample) {
        self.pdm = Some(sample);
    }

    /// Loss declarations per datagram sent (0 when nothing was sent).
    #[must_use]
    pub fn loss_rate(&self) -> f64 {
        if self.datagrams_sent == 0 {
            0.0
        } else {
            // Precision loss above 2^53 datagrams is irrelevant for a ratio.
            #[allow(clippy::cast_precision_loss)]
            let r = self.datagrams_lost as f64 / self.datagrams_sent as f64;
            r
        }
    }
}
