//! NewReno congestion control (RFC 9002 section 7 and appendix B) and pacing (section 7.7).
use std::time::Duration;

use super::from_nanos_sat;
use super::sent::RecoveryEvents;

/// Maximum packet size assumed (octets of one packet on the wire; RFC 9000 section 14's
/// smallest maximum datagram size, and SPEC's minimum initiator datagram).
pub const DEFAULT_MAX_PACKET_SIZE: u64 = 1200;
/// The window is divided by this on a congestion event (kLossReductionFactor = 0.5).
pub const LOSS_REDUCTION_DIVISOR: u64 = 2;
/// Persistent congestion spans this many PTO periods (kPersistentCongestionThreshold).
pub const PERSISTENT_CONGESTION_THRESHOLD: u32 = 3;
/// Pacing gain N = 5/4 (RFC 9002 section 7.7 suggests 1.25).
pub const PACING_GAIN_NUMERATOR: u128 = 5;
pub const PACING_GAIN_DENOMINATOR: u128 = 4;
/// Packets a pacer lets go back to back.
pub const BURST_PACKETS: u64 = 10;

/// NewReno over bytes of packets on the wire.
#[derive(Debug, Clone)]
pub struct NewReno {
    max_packet_size: u64,
    window: u64,
    ssthresh: u64,
    recovery_start: Option<Duration>,
    /// Bytes acknowledged in congestion avoidance since the window last grew.
    avoidance_acked: u64,
}

impl Default for NewReno {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PACKET_SIZE)
    }
}

impl NewReno {
    /// A controller in slow start with the initial window of RFC 9002 section 7.2:
    /// min(10 x size, max(14720, 2 x size)).
    #[must_use]
    pub fn new(max_packet_size: u64) -> Self {
        let max_packet_size = max_packet_size.max(1);
        let window = max_packet_size
            .saturating_mul(10)
            .min(max_packet_size.saturating_mul(2).max(14_720));
        Self {
            max_packet_size,
            window,
            ssthresh: u64::MAX,
            recovery_start: None,
            avoidance_acked: 0,
        }
    }

    /// The congestion window in bytes.
    #[must_use]
    pub fn window(&self) -> u64 {
        self.window
    }

    /// The slow start threshold (`u64::MAX` until the first congestion event).
    #[must_use]
    pub fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    /// The smallest window: 2 packets (RFC 9002 section 7.2, kMinimumWindow).
    #[must_use]
    pub fn minimum_window(&self) -> u64 {
        self.max_packet_size.saturating_mul(2)
    }

    /// The maximum packet size assumed.
    #[must_use]
    pub fn max_packet_size(&self) -> u64 {
        self.max_packet_size
    }

    /// Whether the window is in slow start.
    #[must_use]
    pub fn in_slow_start(&self) -> bool {
        self.window < self.ssthresh
    }

    /// Whether a datagram sent at `time_sent` falls in the current recovery period.
    #[must_use]
    pub fn in_recovery(&self, time_sent: Duration) -> bool {
        self.recovery_start.is_some_and(|start| time_sent <= start)
    }

    /// Whether one more full-size packet fits in the window.
    //= docs/SPEC.md#congestion-newreno
    //# A sender MUST NOT have more bytes of packets in flight than its congestion window, except for PTO probes and a datagram sent when nothing is in flight.
    #[must_use]
    pub fn can_send(&self, bytes_in_flight: u64) -> bool {
        self.can_send_bytes(bytes_in_flight, self.max_packet_size)
    }

    /// Whether a datagram of `bytes` may go: it fits in the window, or nothing is in flight (a
    /// datagram of more packets than the window holds would otherwise never go).
    #[must_use]
    pub fn can_send_bytes(&self, bytes_in_flight: u64, bytes: u64) -> bool {
        bytes_in_flight == 0
            || bytes_in_flight
                .checked_add(bytes)
                .is_some_and(|total| total <= self.window)
    }

    /// Bytes that still fit in the window.
    #[must_use]
    pub fn available(&self, bytes_in_flight: u64) -> u64 {
        self.window.saturating_sub(bytes_in_flight)
    }

    /// A datagram of `bytes` in flight, sent at `time_sent`, was acknowledged (RFC 9002
    /// appendix B.5). In congestion avoidance the window grows by one packet per window of
    /// bytes acknowledged (the integer form of size x acked / window).
    pub fn on_acked(&mut self, time_sent: Duration, bytes: u64) {
        if self.in_recovery(time_sent) || bytes == 0 {
            return;
        }
        if self.in_slow_start() {
            self.window = self.window.saturating_add(bytes);
            return;
        }
        self.avoidance_acked = self.avoidance_acked.saturating_add(bytes);
        while self.avoidance_acked >= self.window && self.window > 0 {
            self.avoidance_acked -= self.window;
            self.window = self.window.saturating_add(self.max_packet_size);
        }
    }

    /// A loss (of a datagram sent at `time_sent`) detected at `now`: halves the window once per
    /// recovery period (RFC 9002 appendix B.6).
    //= docs/SPEC.md#congestion-newreno
    //# halved at most once per recovery period, collapsed to the minimum on persistent congestion
    pub fn on_congestion_event(&mut self, now: Duration, time_sent: Duration) {
        if self.in_recovery(time_sent) {
            return;
        }
        self.recovery_start = Some(now);
        self.ssthresh = (self.window / LOSS_REDUCTION_DIVISOR).max(self.minimum_window());
        self.window = self.ssthresh;
        self.avoidance_acked = 0;
    }

    /// Persistent congestion: the window collapses to the minimum (RFC 9002 section 7.6.2).
    pub fn on_persistent_congestion(&mut self) {
        self.window = self.minimum_window();
        self.recovery_start = None;
        self.avoidance_acked = 0;
    }

    /// Applies what a [`super::SentTracker`] reported at `now`.
    pub fn on_events(&mut self, now: Duration, events: &RecoveryEvents) {
        for a in &events.acked {
            self.on_acked(a.time_sent, a.bytes);
        }
        let latest_lost = events
            .lost
            .iter()
            .filter(|l| l.ack_eliciting)
            .map(|l| l.time_sent)
            .max();
        if let Some(sent) = latest_lost {
            self.on_congestion_event(now, sent);
        }
        if events.persistent_congestion {
            self.on_persistent_congestion();
        }
    }
}

/// A token bucket that spreads a window's worth of packets over a smoothed RTT: rate
/// 1.25 x window / smoothed RTT, capacity [`BURST_PACKETS`] packets. Kept as the time the
/// bucket is full again, so no fractional tokens are lost.
#[derive(Debug, Clone)]
pub struct Pacer {
    capacity: u64,
    window: u64,
    rtt: Duration,
    full_at: Duration,
}

impl Pacer {
    /// A full bucket of [`BURST_PACKETS`] packets of `max_packet_size`, at the rate of
    /// `window` per `smoothed_rtt`.
    #[must_use]
    pub fn new(max_packet_size: u64, window: u64, smoothed_rtt: Duration) -> Self {
        Self {
            capacity: max_packet_size.saturating_mul(BURST_PACKETS).max(1),
            window,
            rtt: smoothed_rtt,
            full_at: Duration::ZERO,
        }
    }

    /// Follows the current window and RTT.
    pub fn update(&mut self, window: u64, smoothed_rtt: Duration) {
        self.window = window;
        self.rtt = smoothed_rtt;
    }

    /// Time the rate takes to refill `bytes` (zero when pacing is off: no window or RTT).
    fn refill_time(&self, bytes: u64) -> Duration {
        let den = u128::from(self.window).saturating_mul(PACING_GAIN_NUMERATOR);
        if den == 0 {
            return Duration::ZERO;
        }
        let num = u128::from(bytes)
            .saturating_mul(self.rtt.as_nanos())
            .saturating_mul(PACING_GAIN_DENOMINATOR);
        from_nanos_sat(num.div_ceil(den))
    }

    /// The earliest time at or after `now` that a packet of `bytes` may go.
    //= docs/SPEC.md#congestion-newreno
    //# Packets are paced at 1.25 x window / smoothed RTT with bursts of at most 10 packets.
    #[must_use]
    pub fn next_send_time(&self, now: Duration, bytes: u64) -> Duration {
        let need = bytes.min(self.capacity);
        // Level at t is capacity - rate x (full_at - t); enough once full_at - t fits.
        let allowed = self
            .full_at
            .saturating_sub(self.refill_time(self.capacity.saturating_sub(need)));
        now.max(allowed)
    }

    /// A packet of `bytes` went at `now`.
    pub fn on_sent(&mut self, now: Duration, bytes: u64) {
        self.full_at = self
            .full_at
            .max(now)
            .saturating_add(self.refill_time(bytes));
    }
}
