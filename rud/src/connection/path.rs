//! The peer's address as this endpoint sends to it, with what the path is allowed to carry
//! (SPEC section 5.5): congestion window, pacing, anti-amplification until validated.
use std::net::SocketAddr;
use std::time::Duration;

use super::recovery::{NewReno, Pacer, PathMetrics, RttEstimator};

/// Anti-amplification factor for a path that has not proved it receives (SPEC path-validation).
pub const AMPLIFICATION_FACTOR: u64 = 3;

#[derive(Debug)]
pub(crate) struct Path {
    pub address: SocketAddr,
    /// True once the peer acknowledged a datagram sent to this address.
    pub validated: bool,
    /// Octets received from / sent to the address since it became the path.
    pub received: u64,
    pub sent: u64,
    /// The (generation, counter) of the datagram whose acknowledgement validates the path.
    pub challenge: Option<(u64, u64)>,
    pub cc: NewReno,
    pub pacer: Pacer,
    /// The latest estimate from any stream's acknowledgements (for new halves and reports).
    pub rtt: RttEstimator,
    pub metrics: PathMetrics,
}

impl Path {
    pub fn new(address: SocketAddr, validated: bool, max_packet_size: u64) -> Self {
        let cc = NewReno::new(max_packet_size);
        let rtt = RttEstimator::default();
        Self {
            address,
            validated,
            received: 0,
            sent: 0,
            challenge: None,
            pacer: Pacer::new(max_packet_size, cc.window(), rtt.smoothed()),
            cc,
            rtt,
            metrics: PathMetrics::new(),
        }
    }

    /// Octets that may still go to an unvalidated address.
    //= docs/SPEC.md#path-validation
    //# Until a new path is validated, an endpoint MUST NOT send to it more than three times the octets it received from it.
    pub fn amplification_budget(&self) -> u64 {
        if self.validated {
            u64::MAX
        } else {
            self.received
                .saturating_mul(AMPLIFICATION_FACTOR)
                .saturating_sub(self.sent)
        }
    }

    /// When `bytes` more may leave under pacing.
    pub fn next_send_time(&self, now: Duration, bytes: u64) -> Duration {
        self.pacer.next_send_time(now, bytes)
    }
}
