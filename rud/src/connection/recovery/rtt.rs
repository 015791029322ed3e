//! Round-trip time estimation (RFC 9002 section 5).
use std::time::Duration;

use super::mul_div;
use super::sent::{TIME_THRESHOLD_DENOMINATOR, TIME_THRESHOLD_NUMERATOR};

/// RTT assumed before any sample (RFC 9002 section 6.2.2, kInitialRtt).
pub const INITIAL_RTT: Duration = Duration::from_millis(333);
/// Timer granularity (RFC 9002 section 6.1.2, kGranularity).
pub const GRANULARITY: Duration = Duration::from_millis(1);
/// The longest a receiver delays an acknowledgement (RFC 9000 section 18.2, default
/// max_ack_delay); a larger reported ack delay is capped to it.
pub const MAX_ACK_DELAY: Duration = Duration::from_millis(25);

/// Smoothed RTT, RTT variance, min RTT and latest RTT of one path.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    latest: Duration,
    smoothed: Duration,
    var: Duration,
    min: Duration,
    first_sample_at: Option<Duration>,
    max_ack_delay: Duration,
}

impl Default for RttEstimator {
    fn default() -> Self {
        Self::new(INITIAL_RTT)
    }
}

impl RttEstimator {
    /// An estimator with no sample yet: smoothed = `initial`, variance = `initial` / 2
    /// (RFC 9002 section 5.3).
    #[must_use]
    pub fn new(initial: Duration) -> Self {
        Self {
            latest: Duration::ZERO,
            smoothed: initial,
            var: initial / 2,
            min: Duration::ZERO,
            first_sample_at: None,
            max_ack_delay: MAX_ACK_DELAY,
        }
    }

    /// Changes the cap on the peer's ack delay (default [`MAX_ACK_DELAY`]).
    #[must_use]
    pub fn with_max_ack_delay(mut self, max_ack_delay: Duration) -> Self {
        self.max_ack_delay = max_ack_delay;
        self
    }

    /// Takes one RTT sample (`latest_rtt`, measured at `now`) with the peer's reported ack
    /// delay, as RFC 9002 section 5.3.
    //= docs/SPEC.md#rtt-estimation
    //# RTT is estimated as RFC 9002 section 5: initial RTT 333 ms; the ack delay is capped at 25 ms (RFC 9000 max_ack_delay default) and subtracted only when the sample stays at or above min RTT
    pub fn update(&mut self, now: Duration, latest_rtt: Duration, ack_delay: Duration) {
        self.latest = latest_rtt;
        if self.first_sample_at.is_none() {
            self.first_sample_at = Some(now);
            self.min = latest_rtt;
            self.smoothed = latest_rtt;
            self.var = latest_rtt / 2;
            return;
        }
        self.min = self.min.min(latest_rtt);
        let ack_delay = ack_delay.min(self.max_ack_delay);
        let adjusted = if latest_rtt >= self.min.saturating_add(ack_delay) {
            latest_rtt.saturating_sub(ack_delay)
        } else {
            latest_rtt
        };
        let var_sample = self.smoothed.abs_diff(adjusted);
        self.var = mul_div(self.var, 3, 4).saturating_add(mul_div(var_sample, 1, 4));
        self.smoothed = mul_div(self.smoothed, 7, 8).saturating_add(mul_div(adjusted, 1, 8));
    }

    /// Smoothed RTT ([`INITIAL_RTT`] before the first sample).
    #[must_use]
    pub fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// RTT variance.
    #[must_use]
    pub fn variance(&self) -> Duration {
        self.var
    }

    /// Minimum RTT seen (zero before the first sample).
    #[must_use]
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The latest sample (zero before the first sample).
    #[must_use]
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// When the first sample was taken, if any.
    #[must_use]
    pub fn first_sample_at(&self) -> Option<Duration> {
        self.first_sample_at
    }

    /// The ack delay cap.
    #[must_use]
    pub fn max_ack_delay(&self) -> Duration {
        self.max_ack_delay
    }

    /// One PTO period before backoff: smoothed + max(4 x variance, granularity) +
    /// max_ack_delay (RFC 9002 section 6.2.1).
    #[must_use]
    pub fn pto_base(&self) -> Duration {
        self.smoothed
            .saturating_add(mul_div(self.var, 4, 1).max(GRANULARITY))
            .saturating_add(self.max_ack_delay)
    }

    /// The time threshold of loss detection: 9/8 x max(smoothed, latest), at least the
    /// granularity (RFC 9002 section 6.1.2).
    #[must_use]
    pub fn loss_delay(&self) -> Duration {
        mul_div(
            self.smoothed.max(self.latest),
            TIME_THRESHOLD_NUMERATOR,
            TIME_THRESHOLD_DENOMINATOR,
        )
        .max(GRANULARITY)
    }
}
