//! Acknowledgements, loss recovery, congestion and flow control (docs/SPEC.md section 3.6.2,
//! after RFC 9002), sans-IO: every time is a `now: Duration` the caller passes in, measured from
//! any fixed origin it likes; nothing here reads a clock or draws randomness.
//!
//! The pieces, and who feeds them:
//!
//! - [`OpenedDatagram`] is a datagram whose tag verified. It is the only way to get an
//!   [`Authenticated`] Ack or Metrics value, and [`ReceivedSet`], [`SentTracker::on_ack`] and
//!   the credit updates of [`FlowControl`] demand one, so nothing an attacker can forge changes
//!   what a sender frees, believes lost, or is allowed to send.
//! - [`ReceivedSet`] (receive side of one stream direction) remembers the verified datagram
//!   counters and the partial bitmaps the reassembler reports, and builds the Ack to send.
//! - [`SentTracker`] (send side of one stream direction on one path) remembers what was sent,
//!   frees what is acknowledged, detects loss, runs the probe timer and says which packets to
//!   resend; it owns the path's [`RttEstimator`].
//! - [`NewReno`] and [`Pacer`] decide how much may be in flight and when the next packet goes.
//! - [`FlowControl`] / [`Credit`] / [`ReceiveWindow`] hold the receiver's flow credit.
//! - [`PathMetrics`] and [`PdmEndpoint`] report what the path does (RTT, loss, volume, and the
//!   PDM-style timing of the Metrics extension).
//!
//! ```compile_fail,E0451
//! // An authenticated acknowledgement cannot be made up: the fields are private and the only
//! // constructors open a datagram under the stream key.
//! use rud::connection::recovery::Authenticated;
//! use rud::wire::Ack;
//! let forged = Authenticated { value: Ack { largest: 9, delay_us: 0, first_range: 9,
//!     ranges: vec![], partials: vec![] }, carried_by: 0 };
//! ```
mod auth;
mod congestion;
mod flow;
mod metrics;
mod received;
mod rtt;
mod sent;

pub use auth::{Authenticated, DecodedDatagram, OpenedDatagram};
pub use congestion::{
    BURST_PACKETS, DEFAULT_MAX_PACKET_SIZE, LOSS_REDUCTION_DIVISOR, NewReno,
    PACING_GAIN_DENOMINATOR, PACING_GAIN_NUMERATOR, PERSISTENT_CONGESTION_THRESHOLD, Pacer,
};
pub use flow::{Credit, FlowBlocked, FlowControl, FlowViolation, ReceiveWindow};
pub use metrics::{PathMetrics, PdmEndpoint, PdmSample, decode_delta, encode_delta};
pub use received::{DEFAULT_MAX_RANGES, ReceivedSet};
pub use rtt::{GRANULARITY, INITIAL_RTT, MAX_ACK_DELAY, RttEstimator};
pub use sent::{
    AckedDatagram, DatagramInfo, LostDatagram, PACKET_THRESHOLD, PacketSend, RecoveryEvents,
    SentTracker, TIME_THRESHOLD_DENOMINATOR, TIME_THRESHOLD_NUMERATOR,
};

/// What the recovery state refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// The datagram plaintext does not decode.
    #[error("malformed datagram plaintext: {0}")]
    Malformed(#[from] crate::wire::DecodeError),
    /// An extension that may appear once appeared twice (SPEC extension-once).
    #[error("the {0} extension appears more than once")]
    RepeatedExtension(&'static str),
    /// An Ack whose ranges go below zero.
    #[error("malformed ack ranges")]
    MalformedAck,
    /// An Ack names a counter above every counter sent: a protocol violation.
    #[error("ack of datagram {largest}, never sent")]
    AckOfUnsent { largest: u64 },
    /// A datagram counter recorded twice.
    #[error("datagram {0} is already recorded as sent")]
    DuplicateCounter(u64),
    /// A packet count of zero or above the limit.
    #[error("packet count {0} is outside 1..=16384")]
    BadPacketCount(u64),
    /// A retransmission of a datagram that is not outstanding (already acknowledged or never
    /// sent): its buffer may be gone.
    #[error("datagram {0} is not outstanding")]
    NotOutstanding(u64),
    /// A packet index at or above the datagram's packet count.
    #[error("packet index {index} of datagram {n} is not below its packet count")]
    BadPacketIndex { n: u64, index: u64 },
}

/// `d * num / den` without overflow (saturating at `u64::MAX` nanoseconds).
pub(crate) fn mul_div(d: std::time::Duration, num: u128, den: u128) -> std::time::Duration {
    let ns = d
        .as_nanos()
        .saturating_mul(num)
        .checked_div(den)
        .unwrap_or(0);
    from_nanos_sat(ns)
}

pub(crate) fn from_nanos_sat(ns: u128) -> std::time::Duration {
    std::time::Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}
