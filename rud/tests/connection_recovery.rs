//! Acknowledgements, loss recovery, congestion and flow control (`rud::connection::recovery`,
//! docs/SPEC.md section 3.6.2): Ack round trips, the RTT estimator against RFC 9002's formulas,
//! loss detection, partials, forged acknowledgements, NewReno, pacing, flow credit, PDM timing,
//! and a simulated transfer over a lossy in-memory path.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use proptest::prelude::*;
use rud::connection::recovery::{
    Authenticated, Credit, DatagramInfo, FlowControl, GRANULARITY, INITIAL_RTT, MAX_ACK_DELAY,
    NewReno, OpenedDatagram, Pacer, PathMetrics, PdmEndpoint, ReceiveWindow, ReceivedSet,
    RecoveryError, RttEstimator, SentTracker, decode_delta, encode_delta,
};
use rud::crypto::aead::seal_in_place;
use rud::crypto::datagram_key::{DatagramOpener, StreamKey};
use rud::crypto::{CryptoError, SecretBytes, default_provider};
use rud::wire::{
    Ack, DataPlaintext, Extension, ExtensionList, ExtensionValue, Metrics, PartialAck,
};

const AAD: &[u8] = b"frozen prefix";

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// One direction of a stream: seals at any counter n (tests need arbitrary counters; real
/// senders go through a `DatagramSealer`) and opens.
struct Channel {
    seal_key: StreamKey,
    opener: DatagramOpener,
}

struct SealedDatagram {
    n: u64,
    ciphertext: Vec<u8>,
    tag: [u8; 16],
}

impl Channel {
    fn new(seed: u8) -> Self {
        let sk = [seed; 32];
        Self {
            seal_key: StreamKey::new(default_provider(), &SecretBytes::new(sk)),
            opener: DatagramOpener::new(StreamKey::new(default_provider(), &SecretBytes::new(sk))),
        }
    }

    fn seal(&self, n: u64, extensions: &[ExtensionValue<'_>], payload: &[u8]) -> SealedDatagram {
        let values: Vec<(u8, Vec<u8>)> = extensions
            .iter()
            .map(|e| {
                let mut v = Vec::new();
                e.encode_value(&mut v).unwrap();
                (e.code().unwrap().0, v)
            })
            .collect();
        let list = ExtensionList(
            values
                .iter()
                .map(|(t, v)| Extension::new(std::slice::from_ref(t), v))
                .collect(),
        );
        let mut plaintext = Vec::new();
        DataPlaintext {
            extensions: list,
            payload,
            padding: 0,
        }
        .encode(&mut plaintext)
        .unwrap();
        let k = self.seal_key.datagram_key(n).unwrap();
        let provider = default_provider();
        let tag = seal_in_place(&*provider, k.key(), k.nonce(), AAD, &mut plaintext).unwrap();
        SealedDatagram {
            n,
            ciphertext: plaintext,
            tag,
        }
    }

    /// Opens a sealed datagram and hands the proof to `f`.
    fn with_opened<R>(&self, d: &SealedDatagram, f: impl FnOnce(&OpenedDatagram<'_>) -> R) -> R {
        let mut buf = d.ciphertext.clone();
        let opened = OpenedDatagram::open(&self.opener, d.n, AAD, &mut buf, &d.tag).unwrap();
        f(&opened)
    }

    /// Seals an empty datagram at n and records it as received.
    fn receive(&self, set: &mut ReceivedSet, now: Duration, n: u64) -> bool {
        let d = self.seal(n, &[], b"");
        self.with_opened(&d, |o| set.on_received(now, o, true))
    }

    /// Carries `ack` in a datagram sealed at `carrier_n`, opens it and applies it.
    fn apply_ack(
        &self,
        tracker: &mut SentTracker,
        now: Duration,
        carrier_n: u64,
        ack: Ack<'_>,
    ) -> Result<rud::connection::recovery::RecoveryEvents, RecoveryError> {
        let d = self.seal(carrier_n, &[ExtensionValue::Ack(ack)], b"");
        self.with_opened(&d, |o| {
            let decoded = o.decode().unwrap();
            tracker.on_ack(now, decoded.ack().unwrap())
        })
    }

    fn metrics(&self, n: u64, m: Metrics) -> Authenticated<Metrics> {
        let d = self.seal(n, &[ExtensionValue::Metrics(m)], b"");
        self.with_opened(&d, |o| o.decode().unwrap().metrics().unwrap().clone())
    }
}

fn ack_of(largest: u64, first_range: u64, ranges: Vec<(u64, u64)>) -> Ack<'static> {
    Ack {
        largest,
        delay_us: 0,
        first_range,
        ranges,
        partials: Vec::new(),
    }
}

fn datagram(n: u64, packet_count: u64) -> DatagramInfo {
    DatagramInfo {
        n,
        packet_count,
        bytes: 1200 * packet_count,
        ack_eliciting: true,
    }
}

/// Maximal runs of a set, ascending.
fn runs(set: &BTreeSet<u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &n in set {
        match out.last_mut() {
            Some((_, h)) if *h + 1 == n => *h = n,
            _ => out.push((n, n)),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// ReceivedSet and the Ack it builds
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    //= docs/SPEC.md#ack-authenticated
    //= type=test
    //# A receiver keeps at most 256 ranges, forgetting the oldest.
    #[test]
    fn ack_built_from_random_received_sets_round_trips(
        counters in proptest::collection::vec(0u64..1500, 1..300),
        max_ranges in 1usize..600,
        delay_ms in 0u64..100,
    ) {
        let ch = Channel::new(1);
        let mut set = ReceivedSet::with_max_ranges(max_ranges);
        let mut seen = BTreeSet::new();
        for &n in &counters {
            let known = set.contains(n);
            prop_assert_eq!(ch.receive(&mut set, ms(1), n), !known);
            seen.insert(n);
        }
        let all = runs(&seen);
        let kept = set.ranges().to_vec();
        prop_assert!(kept.len() <= max_ranges);
        prop_assert_eq!(kept.last().map(|r| r.1), seen.last().copied());
        for &(low, high) in &kept {
            prop_assert!(all.iter().any(|&(l, h)| l <= low && high <= h), "kept only what arrived");
        }
        if max_ranges >= counters.len() {
            // Nothing could be forgotten: exactly the runs received.
            prop_assert_eq!(&kept, &all);
        }

        let ack = set.build_ack(ms(1 + delay_ms)).unwrap();
        prop_assert_eq!(ack.delay_us, delay_ms * 1000, "since the largest arrived");
        let expected: Vec<(u64, u64)> = kept.iter().rev().take(257).copied().collect();
        prop_assert_eq!(ack.acked_ranges().unwrap(), expected.clone());

        // Through the codec and back.
        let mut value = Vec::new();
        ExtensionValue::Ack(ack.clone()).encode_value(&mut value).unwrap();
        let parsed = ExtensionValue::parse(&Extension::new(&[0x89], &value)).unwrap();
        let ExtensionValue::Ack(parsed) = parsed else { panic!("not an ack") };
        prop_assert_eq!(&parsed, &ack);
        prop_assert_eq!(parsed.acked_ranges().unwrap(), expected);
    }
}

//= docs/SPEC.md#ack-authenticated
//= type=test
//# A receiver MUST acknowledge only counters of datagrams whose tag verified
#[test]
fn ack_delay_counts_from_the_largest_arrival_and_duplicates_are_reported() {
    let ch = Channel::new(1);
    let mut set = ReceivedSet::new();
    assert!(set.build_ack(ms(0)).is_none());
    assert!(ch.receive(&mut set, ms(10), 5));
    assert!(ch.receive(&mut set, ms(12), 3));
    assert!(
        !ch.receive(&mut set, ms(13), 5),
        "a second copy is a duplicate"
    );
    let ack = set.build_ack(ms(17)).unwrap();
    assert_eq!(ack.largest, 5);
    assert_eq!(ack.delay_us, 7_000, "from 10 ms, when 5 arrived, to 17 ms");
    assert_eq!(ack.acked_ranges().unwrap(), vec![(5, 5), (3, 3)]);
    // A datagram that fails to open never reaches the set.
    let forged = ch.seal(9, &[], b"");
    let mut buf = forged.ciphertext.clone();
    buf[0] ^= 1;
    assert!(OpenedDatagram::open(&ch.opener, 9, AAD, &mut buf, &forged.tag).is_err());
    assert!(!set.contains(9));
}

#[test]
fn ack_is_due_every_second_datagram_out_of_order_or_after_max_ack_delay() {
    let ch = Channel::new(1);
    let mut set = ReceivedSet::new();
    ch.receive(&mut set, ms(0), 0);
    assert!(!set.ack_due(ms(0)));
    assert_eq!(set.ack_deadline(), Some(MAX_ACK_DELAY));
    assert!(set.ack_due(MAX_ACK_DELAY));
    ch.receive(&mut set, ms(1), 1);
    assert!(set.ack_due(ms(1)), "second ack-eliciting datagram");
    set.on_ack_sent();
    assert!(!set.ack_due(ms(100)));
    ch.receive(&mut set, ms(2), 5);
    assert!(set.ack_due(ms(2)), "a gap opened");
    set.on_ack_sent();
    set.on_duplicate(ms(3));
    assert!(!set.ack_due(ms(3)));
    assert!(
        set.ack_due(ms(3) + MAX_ACK_DELAY),
        "a resent packet asks for an ack"
    );
}

//= docs/SPEC.md#ack-partials-hint
//= type=test
//# Partials MUST NOT free a send buffer or count as an acknowledgement
#[test]
fn partials_are_merged_bounded_and_dropped_once_verified() {
    let ch = Channel::new(1);
    let mut set = ReceivedSet::new();
    set.merge_partial(7, &[0b0000_0001]);
    set.merge_partial(7, &[0b0000_0100, 0b1]);
    ch.receive(&mut set, ms(0), 2);
    let ack = set.build_ack(ms(0)).unwrap();
    assert_eq!(
        ack.partials,
        vec![PartialAck {
            nonce: 7,
            bitmap: &[0b0000_0101, 0b1]
        }]
    );
    assert_eq!(
        ack.acked_ranges().unwrap(),
        vec![(2, 2)],
        "a partial acknowledges nothing"
    );
    ch.receive(&mut set, ms(1), 7);
    assert!(set.build_ack(ms(1)).unwrap().partials.is_empty());
    set.merge_partial(7, &[0xFF]);
    assert!(
        set.build_ack(ms(1)).unwrap().partials.is_empty(),
        "7 is verified"
    );
    for n in 100..200 {
        set.merge_partial(n, &[1]);
    }
    let ack = set.build_ack(ms(1)).unwrap();
    assert_eq!(ack.partials.len(), 64);
    assert_eq!(
        ack.partials[0].nonce, 199,
        "the highest are kept, highest first"
    );
}

// ---------------------------------------------------------------------------------------------
// RTT
// ---------------------------------------------------------------------------------------------

//= docs/SPEC.md#rtt-estimation
//= type=test
//# smoothed RTT = 7/8 smoothed + 1/8 sample, variance = 3/4 variance + 1/4 |smoothed - sample|.
#[test]
fn rtt_estimator_follows_rfc9002_on_a_fixed_sequence() {
    let mut rtt = RttEstimator::default();
    assert_eq!(rtt.smoothed(), INITIAL_RTT);
    assert_eq!(rtt.variance(), INITIAL_RTT / 2);
    assert_eq!(
        rtt.pto_base(),
        ms(333) + ms(666) + MAX_ACK_DELAY,
        "PTO before any sample"
    );
    // (latest, ack delay) in ms; the ack delay of 40 ms is capped at 25.
    let samples = [
        (100.0, 0.0),
        (120.0, 10.0),
        (80.0, 5.0),
        (200.0, 40.0),
        (90.0, 20.0),
    ];
    let (mut srtt, mut var, mut min) = (0.0f64, 0.0f64, f64::MAX);
    for (i, &(latest, delay)) in samples.iter().enumerate() {
        let now = ms(1000 * (i as u64 + 1));
        rtt.update(
            now,
            Duration::from_secs_f64(latest / 1e3),
            Duration::from_secs_f64(delay / 1e3),
        );
        if i == 0 {
            srtt = latest;
            var = latest / 2.0;
            min = latest;
        } else {
            min = min.min(latest);
            let delay = f64::min(delay, 25.0);
            let adjusted = if latest >= min + delay {
                latest - delay
            } else {
                latest
            };
            var = 0.75 * var + 0.25 * (srtt - adjusted).abs();
            srtt = 0.875 * srtt + 0.125 * adjusted;
        }
        let close = |d: Duration, v: f64| (d.as_secs_f64() * 1e3 - v).abs() < 1e-5;
        assert!(
            close(rtt.smoothed(), srtt),
            "sample {i}: {:?} vs {srtt}",
            rtt.smoothed()
        );
        assert!(
            close(rtt.variance(), var),
            "sample {i}: {:?} vs {var}",
            rtt.variance()
        );
        assert!(close(rtt.min(), min));
        assert!(close(rtt.latest(), latest));
    }
    assert_eq!(rtt.first_sample_at(), Some(ms(1000)));
    // 80 ms sample with a 5 ms delay: 80 < min (80) + 5, so the delay was not subtracted.
    let loss_delay = rtt.loss_delay().as_secs_f64() * 1e3;
    assert!((loss_delay - 9.0 / 8.0 * f64::max(srtt, 90.0)).abs() < 1e-5);
}

// ---------------------------------------------------------------------------------------------
// Loss detection and the PTO
// ---------------------------------------------------------------------------------------------

//= docs/SPEC.md#loss-detection
//= type=test
//# when a transmission sent at least 3 transmissions after it was acknowledged, or when one sent after it was acknowledged and it was sent at least 9/8 x max(smoothed RTT, latest RTT) (and at least 1 ms) ago
#[test]
fn loss_by_packet_threshold_then_by_time_threshold() {
    let ch = Channel::new(2);
    let mut t = SentTracker::default();
    for n in 0..4 {
        t.on_sent(ms(n), datagram(n, 1)).unwrap();
    }
    assert_eq!(t.bytes_in_flight(), 4800);
    // Only 3 is acknowledged, at 53 ms: a 50 ms sample.
    let ev = ch
        .apply_ack(&mut t, ms(53), 0, ack_of(3, 0, vec![]))
        .unwrap();
    assert_eq!(ev.acked.iter().map(|a| a.n).collect::<Vec<_>>(), vec![3]);
    assert_eq!(ev.rtt_sample, Some(ms(50)));
    assert_eq!(
        ev.lost.iter().map(|l| l.n).collect::<Vec<_>>(),
        vec![0],
        "3 sent after 0"
    );
    assert_eq!(ev.retransmit, vec![(0, 0)]);
    assert!(t.is_outstanding(0), "a lost datagram keeps its buffer");
    assert_eq!(t.bytes_in_flight(), 2400);
    // 1 and 2 wait for the time threshold: 9/8 x 50 ms after they were sent.
    let loss_delay = Duration::from_micros(56_250);
    assert_eq!(t.poll_timeout(), Some(ms(1) + loss_delay));
    assert!(
        t.on_timeout(ms(56)).lost.is_empty(),
        "too early: nothing happens"
    );
    let ev = t.on_timeout(ms(1) + loss_delay);
    assert_eq!(ev.lost.iter().map(|l| l.n).collect::<Vec<_>>(), vec![1]);
    assert_eq!(t.poll_timeout(), Some(ms(2) + loss_delay));
    let ev = t.on_timeout(ms(2) + loss_delay);
    assert_eq!(ev.lost.iter().map(|l| l.n).collect::<Vec<_>>(), vec![2]);
    assert_eq!(t.bytes_in_flight(), 0);
    assert_eq!(t.poll_timeout(), None, "nothing in flight");
    assert_eq!(t.pending_retransmissions(), vec![(0, 0), (1, 0), (2, 0)]);
}

#[test]
fn retransmission_counts_transmissions_not_counters() {
    let ch = Channel::new(2);
    let mut t = SentTracker::default();
    for n in 0..5 {
        t.on_sent(ms(n), datagram(n, 1)).unwrap();
    }
    let ev = ch
        .apply_ack(&mut t, ms(50), 0, ack_of(4, 1, vec![]))
        .unwrap();
    assert_eq!(ev.lost.iter().map(|l| l.n).collect::<Vec<_>>(), vec![0, 1]);
    // 0 is resent after 4: acknowledging 4 again (or 2) does not make the resend look lost.
    let sends = t.on_retransmit(ms(51), 0, &[0], 1200).unwrap();
    assert_eq!(sends[0].retransmit, 1);
    let ev = ch
        .apply_ack(&mut t, ms(52), 1, ack_of(4, 2, vec![]))
        .unwrap();
    assert!(ev.lost.is_empty(), "{ev:?}");
    // Three later first transmissions acknowledged: now it is lost again.
    for n in 5..8 {
        t.on_sent(ms(53), datagram(n, 1)).unwrap();
    }
    let ev = ch
        .apply_ack(&mut t, ms(60), 2, ack_of(7, 2, vec![]))
        .unwrap();
    assert_eq!(ev.lost.iter().map(|l| l.n).collect::<Vec<_>>(), vec![0]);
    assert_eq!(ev.rtt_sample, Some(ms(7)));
}

//= docs/SPEC.md#loss-detection
//= type=test
//# A retransmission resends the sealed packets unchanged (seal-once) with a new sent index and a retransmit index one higher
#[test]
fn no_rtt_sample_from_a_resent_datagram_and_resend_hints_advance() {
    let ch = Channel::new(2);
    let mut t = SentTracker::default();
    let sends = t.on_sent(ms(0), datagram(0, 3)).unwrap();
    assert_eq!(
        sends
            .iter()
            .map(|s| (s.packet_index, s.sent_index, s.retransmit))
            .collect::<Vec<_>>(),
        vec![(0, 0, 0), (1, 1, 0), (2, 2, 0)]
    );
    let again = t.on_retransmit(ms(5), 0, &[2], 1200).unwrap();
    assert_eq!((again[0].sent_index, again[0].retransmit), (3, 1));
    let again = t.on_retransmit(ms(6), 0, &[2, 0], 2400).unwrap();
    assert_eq!(
        again
            .iter()
            .map(|s| (s.packet_index, s.retransmit))
            .collect::<Vec<_>>(),
        vec![(2, 2), (0, 1)]
    );
    assert!(matches!(
        t.on_retransmit(ms(6), 0, &[3], 1200),
        Err(RecoveryError::BadPacketIndex { n: 0, index: 3 })
    ));
    let ev = ch
        .apply_ack(&mut t, ms(40), 0, ack_of(0, 0, vec![]))
        .unwrap();
    assert_eq!(ev.acked.len(), 1);
    assert_eq!(ev.rtt_sample, None, "Karn: ambiguous sample");
    assert_eq!(t.rtt().smoothed(), INITIAL_RTT);
    assert!(matches!(
        t.on_retransmit(ms(41), 0, &[0], 1200),
        Err(RecoveryError::NotOutstanding(0))
    ));
    // An Ack held longer than max_ack_delay (say, answering a resent packet after the first
    // Acks were lost) gives no sample either.
    t.on_sent(
        ms(41),
        DatagramInfo {
            n: 1,
            packet_count: 1,
            bytes: 1200,
            ack_eliciting: true,
        },
    )
    .unwrap();
    let mut late = ack_of(1, 0, vec![]);
    late.delay_us = 26_000;
    let ev = ch.apply_ack(&mut t, ms(500), 1, late).unwrap();
    assert_eq!((ev.acked.len(), ev.rtt_sample), (1, None));
    // Sent indexes are 15 bits and wrap.
    let big = t.on_sent(ms(550), datagram(2, 16_384)).unwrap();
    let big2 = t.on_sent(ms(550), datagram(3, 16_384)).unwrap();
    assert!(big.iter().chain(&big2).all(|s| s.sent_index < 0x8000));
    assert_eq!(
        big2.last().unwrap().sent_index,
        (7 + 2 * 16_384 - 1) % 0x8000
    );
    assert!(matches!(
        t.on_sent(ms(550), datagram(3, 1)),
        Err(RecoveryError::DuplicateCounter(3))
    ));
    assert!(matches!(
        t.on_sent(ms(550), datagram(4, 0)),
        Err(RecoveryError::BadPacketCount(0))
    ));
}

//= docs/SPEC.md#loss-detection
//= type=test
//# a probe timeout (PTO) of smoothed RTT + max(4 x RTT variance, 1 ms) + 25 ms, doubled at each expiry, resends the oldest outstanding datagram.
#[test]
fn pto_probes_the_oldest_datagram_and_backs_off() {
    let ch = Channel::new(2);
    let mut t = SentTracker::default();
    assert_eq!(t.poll_timeout(), None);
    t.on_sent(ms(0), datagram(0, 2)).unwrap();
    t.on_sent(ms(10), datagram(1, 1)).unwrap();
    let pto = ms(333) + ms(666) + ms(25);
    assert_eq!(t.poll_timeout(), Some(ms(10) + pto));
    let ev = t.on_timeout(ms(10) + pto);
    assert_eq!(ev.probe, vec![(0, 0), (0, 1)]);
    assert!(ev.lost.is_empty(), "a PTO declares nothing lost");
    assert_eq!(t.pto_count(), 1);
    let probe_at = ms(10) + pto;
    t.on_retransmit(probe_at, 0, &[0, 1], 2400).unwrap();
    assert_eq!(t.poll_timeout(), Some(probe_at + pto * 2));
    let ev = t.on_timeout(probe_at + pto * 2);
    assert_eq!(ev.probe, vec![(1, 0)], "1 is now the oldest transmission");
    assert_eq!(t.pto_count(), 2);
    // An acknowledgement resets the backoff.
    ch.apply_ack(&mut t, probe_at + pto * 2, 0, ack_of(1, 1, vec![]))
        .unwrap();
    assert_eq!(t.pto_count(), 0);
    assert_eq!(t.outstanding(), 0);
    assert!(GRANULARITY <= t.rtt().loss_delay());
}

//= docs/SPEC.md#ack-partials-hint
//= type=test
//# a packet they mark is left out of the next retransmission of its datagram (one loss round), then resent like any other if the datagram is still unacknowledged.
#[test]
fn partials_postpone_retransmission_but_never_free() {
    let ch = Channel::new(3);
    let mut t = SentTracker::default();
    t.on_sent(ms(0), datagram(0, 4)).unwrap();
    for n in 1..4 {
        t.on_sent(ms(n), datagram(n, 1)).unwrap();
    }
    // 1..=3 acknowledged; of 0, packets 0, 1 and 3 arrived.
    let mut ack = ack_of(3, 2, vec![]);
    ack.partials = vec![PartialAck {
        nonce: 0,
        bitmap: &[0b1011],
    }];
    let ev = ch.apply_ack(&mut t, ms(20), 0, ack).unwrap();
    assert_eq!(ev.acked.len(), 3);
    assert_eq!(ev.lost.iter().map(|l| l.n).collect::<Vec<_>>(), vec![0]);
    assert_eq!(ev.retransmit, vec![(0, 2)], "only the packet not marked");
    assert!(t.is_outstanding(0));
    t.on_retransmit(ms(21), 0, &[2], 1200).unwrap();

    // Every packet of 0 is marked now: still not acknowledged, still outstanding.
    let mut ack = ack_of(3, 2, vec![]);
    ack.partials = vec![PartialAck {
        nonce: 0,
        bitmap: &[0b1111],
    }];
    let ev = ch.apply_ack(&mut t, ms(22), 1, ack).unwrap();
    assert!(ev.acked.is_empty() && ev.lost.is_empty());
    assert!(t.is_outstanding(0));
    assert_eq!(t.bytes_in_flight(), 1200);

    // Three later datagrams acknowledged: 0 would be lost, but the receiver holds every
    // packet, so its loss clock restarts instead of a resend.
    for n in 4..7 {
        t.on_sent(ms(23), datagram(n, 1)).unwrap();
    }
    let ev = ch
        .apply_ack(&mut t, ms(30), 2, ack_of(6, 5, vec![]))
        .unwrap();
    assert!(ev.lost.is_empty() && ev.retransmit.is_empty(), "{ev:?}");
    assert!(t.is_outstanding(0));

    // The hint is spent: the next loss round (3 transmissions after the restart) resends
    // every packet.
    for n in 7..11 {
        t.on_sent(ms(31), datagram(n, 1)).unwrap();
    }
    let ev = ch
        .apply_ack(&mut t, ms(40), 3, ack_of(10, 9, vec![]))
        .unwrap();
    assert_eq!(ev.retransmit, vec![(0, 0), (0, 1), (0, 2), (0, 3)]);
    assert!(t.is_outstanding(0));
    // Only an acknowledgement frees it.
    let ev = ch
        .apply_ack(&mut t, ms(50), 4, ack_of(10, 10, vec![]))
        .unwrap();
    assert_eq!(ev.acked.iter().map(|a| a.n).collect::<Vec<_>>(), vec![0]);
    assert_eq!(t.outstanding(), 0);
}

// ---------------------------------------------------------------------------------------------
// Forged acknowledgements
// ---------------------------------------------------------------------------------------------

//= docs/SPEC.md#ack-authenticated
//= type=test
//# a sender MUST act on an Ack (free a send buffer, take an RTT sample, declare a loss, change its congestion state) only when the Ack arrived in a datagram whose tag verified.
#[test]
fn a_forged_ack_cannot_be_applied() {
    let ch = Channel::new(4);
    let mut t = SentTracker::default();
    for n in 0..4 {
        t.on_sent(ms(n), datagram(n, 1)).unwrap();
    }
    let genuine = ch.seal(0, &[ExtensionValue::Ack(ack_of(3, 3, vec![]))], b"");

    // Every single-bit change of ciphertext or tag, the wrong counter, the wrong key and other
    // associated data all fail to open, so no `Authenticated<Ack>` exists to pass to on_ack
    // (and `Authenticated` has no public constructor: see the compile_fail example in
    // `rud::connection::recovery`).
    for i in 0..genuine.ciphertext.len() * 8 {
        let mut buf = genuine.ciphertext.clone();
        buf[i / 8] ^= 1 << (i % 8);
        assert!(OpenedDatagram::open(&ch.opener, 0, AAD, &mut buf, &genuine.tag).is_err());
    }
    for i in 0..128 {
        let mut tag = genuine.tag;
        tag[i / 8] ^= 1 << (i % 8);
        let mut buf = genuine.ciphertext.clone();
        assert!(OpenedDatagram::open(&ch.opener, 0, AAD, &mut buf, &tag).is_err());
    }
    let mut buf = genuine.ciphertext.clone();
    assert_eq!(
        OpenedDatagram::open(&ch.opener, 1, AAD, &mut buf, &genuine.tag).unwrap_err(),
        CryptoError::AuthenticationFailed
    );
    let mut buf = genuine.ciphertext.clone();
    assert!(OpenedDatagram::open(&ch.opener, 0, b"other", &mut buf, &genuine.tag).is_err());
    let other = Channel::new(5);
    let mut buf = genuine.ciphertext.clone();
    assert!(OpenedDatagram::open(&other.opener, 0, AAD, &mut buf, &genuine.tag).is_err());
    assert_eq!(t.outstanding(), 4);
    assert_eq!(t.bytes_in_flight(), 4800);

    // An authentic Ack of counters never sent is refused and changes nothing.
    let err = ch
        .apply_ack(&mut t, ms(10), 1, ack_of(10, 10, vec![]))
        .unwrap_err();
    assert_eq!(err, RecoveryError::AckOfUnsent { largest: 10 });
    assert_eq!(t.outstanding(), 4);
    assert_eq!(t.bytes_in_flight(), 4800);
    assert_eq!(t.rtt().first_sample_at(), None);

    // The genuine one works.
    let mut buf = genuine.ciphertext.clone();
    let opened = OpenedDatagram::open(&ch.opener, 0, AAD, &mut buf, &genuine.tag).unwrap();
    let decoded = opened.decode().unwrap();
    let ack = decoded.ack().unwrap();
    assert_eq!(ack.carried_by(), 0);
    let ev = t.on_ack(ms(10), ack).unwrap();
    assert_eq!(ev.acked.len(), 4);
}

#[test]
fn a_datagram_with_two_acks_is_refused() {
    let ch = Channel::new(4);
    let d = ch.seal(
        0,
        &[
            ExtensionValue::Ack(ack_of(0, 0, vec![])),
            ExtensionValue::Ack(ack_of(0, 0, vec![])),
        ],
        b"",
    );
    ch.with_opened(&d, |o| {
        assert_eq!(
            o.decode().unwrap_err(),
            RecoveryError::RepeatedExtension("Ack")
        );
    });
}

// ---------------------------------------------------------------------------------------------
// NewReno and pacing
// ---------------------------------------------------------------------------------------------

#[test]
fn newreno_slow_start_then_avoidance() {
    let mut cc = NewReno::default();
    assert_eq!(cc.window(), 12_000, "min(10 x 1200, max(14720, 2400))");
    assert_eq!(cc.minimum_window(), 2_400);
    assert!(cc.in_slow_start());
    assert!(cc.can_send(10_800));
    assert!(!cc.can_send(10_801));
    for _ in 0..10 {
        cc.on_acked(ms(0), 1200);
    }
    assert_eq!(
        cc.window(),
        24_000,
        "slow start doubles per window acknowledged"
    );
    cc.on_congestion_event(ms(10), ms(5));
    assert_eq!(cc.window(), 12_000);
    assert!(!cc.in_slow_start());
    // Acknowledgements of packets sent before the recovery began do not grow the window.
    cc.on_acked(ms(9), 1200);
    assert_eq!(cc.window(), 12_000);
    // Congestion avoidance: one packet per window of bytes acknowledged.
    for _ in 0..9 {
        cc.on_acked(ms(11), 1200);
    }
    assert_eq!(cc.window(), 12_000);
    cc.on_acked(ms(11), 1200);
    assert_eq!(cc.window(), 13_200);
}

//= docs/SPEC.md#congestion-newreno
//= type=test
//# halved at most once per recovery period, collapsed to the minimum on persistent congestion
#[test]
fn newreno_halves_once_per_recovery_period() {
    let mut cc = NewReno::default();
    cc.on_congestion_event(ms(100), ms(90));
    assert_eq!((cc.window(), cc.ssthresh()), (6_000, 6_000));
    cc.on_congestion_event(ms(110), ms(95));
    cc.on_congestion_event(ms(120), ms(100));
    assert_eq!(cc.window(), 6_000, "losses from before the recovery began");
    cc.on_congestion_event(ms(130), ms(101));
    assert_eq!(cc.window(), 3_000, "a loss sent after the recovery began");
    cc.on_congestion_event(ms(200), ms(150));
    assert_eq!(cc.window(), 2_400, "never below the minimum");
}

#[test]
fn persistent_congestion_collapses_the_window() {
    let ch = Channel::new(6);
    for (spacing, expect) in [(50, true), (10, false)] {
        let mut t = SentTracker::default();
        let mut cc = NewReno::default();
        t.on_sent(ms(0), datagram(0, 1)).unwrap();
        let ev = ch
            .apply_ack(&mut t, ms(10), 0, ack_of(0, 0, vec![]))
            .unwrap();
        cc.on_events(ms(10), &ev);
        // PTO = 10 + 4 x 5 + 25 = 55 ms; persistent congestion needs 165 ms of losses.
        assert_eq!(t.rtt().pto_base(), ms(55));
        let mut at = ms(20);
        for n in 1..=8 {
            t.on_sent(at, datagram(n, 1)).unwrap();
            at += ms(spacing);
        }
        t.on_sent(at, datagram(9, 1)).unwrap();
        let ev = ch
            .apply_ack(&mut t, at + ms(10), 1, ack_of(9, 0, vec![]))
            .unwrap();
        assert_eq!(ev.lost.len(), 8);
        assert_eq!(ev.persistent_congestion, expect, "spacing {spacing} ms");
        cc.on_events(at + ms(10), &ev);
        let want = if expect {
            2_400
        } else {
            (12_000 + 1_200 * 2) / 2
        };
        assert_eq!(cc.window(), want, "spacing {spacing} ms");
    }
}

//= docs/SPEC.md#congestion-newreno
//= type=test
//# Packets are paced at 1.25 x window / smoothed RTT with bursts of at most 10 packets.
#[test]
fn pacing_spreads_a_burst() {
    // 100 packets per 100 ms: 1.25 x that rate is one 1200-octet packet per 0.8 ms.
    let mut pacer = Pacer::new(1200, 120_000, ms(100));
    let mut now = ms(1000);
    let mut times = Vec::new();
    for _ in 0..30 {
        now = pacer.next_send_time(now, 1200);
        pacer.on_sent(now, 1200);
        times.push(now);
    }
    assert!(times[..10].iter().all(|&t| t == ms(1000)), "a burst of 10");
    for pair in times[10..].windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_micros(800));
    }
    assert_eq!(times[29] - times[0], Duration::from_micros(800 * 20));
    // An idle period refills the bucket, but never beyond 10 packets.
    let later = times[29] + ms(1000);
    assert_eq!(pacer.next_send_time(later, 1200), later);
    let mut n = 0;
    while pacer.next_send_time(later, 1200) == later {
        pacer.on_sent(later, 1200);
        n += 1;
    }
    assert_eq!(n, 10);
    // A smaller window slows it down.
    pacer.update(60_000, ms(100));
    let mut t = later;
    let mut sent = Vec::new();
    for _ in 0..20 {
        t = pacer.next_send_time(t, 1200);
        pacer.on_sent(t, 1200);
        sent.push(t);
    }
    assert_eq!(sent[19] - sent[18], Duration::from_micros(1600));
}

// ---------------------------------------------------------------------------------------------
// Flow control
// ---------------------------------------------------------------------------------------------

//= docs/SPEC.md#flow-credit
//= type=test
//# A sender MUST NOT exceed either credit; a credit only grows (a lower value is ignored) and takes effect only when a datagram whose tag verified carries it.
#[test]
fn flow_control_blocks_at_the_limit_and_never_goes_back() {
    let ch = Channel::new(7);
    let carrier = ch.seal(0, &[], b"");
    let mut credit = Credit::new(1000);
    credit.consume(600).unwrap();
    assert!(!credit.would_block(400));
    assert!(credit.would_block(401));
    assert!(credit.would_block(u64::MAX));
    let err = credit.consume(401).unwrap_err();
    assert_eq!(err.available, 400);
    assert_eq!(credit.used(), 600, "a refused send uses nothing");
    ch.with_opened(&carrier, |o| {
        assert!(!credit.on_credit(o, 500));
        assert!(!credit.on_credit(o, 1000));
        assert_eq!(credit.limit(), 1000, "never goes backwards");
        assert!(credit.on_credit(o, 2000));
    });
    assert_eq!(credit.available(), 1400);

    let mut fc: FlowControl<u8> = FlowControl::new(1500);
    fc.open_stream(1, 1000);
    fc.open_stream(2, 1000);
    assert!(fc.would_block(&3, 1), "unknown stream");
    fc.consume(&1, 1000).unwrap();
    assert!(fc.would_block(&1, 1), "stream credit spent");
    assert!(!fc.would_block(&2, 500));
    assert!(fc.would_block(&2, 501), "connection credit binds");
    assert!(fc.consume(&2, 501).is_err());
    assert_eq!(fc.stream(&2).unwrap().used(), 0);
    ch.with_opened(&carrier, |o| {
        assert!(fc.on_connection_credit(o, 3000));
        assert!(fc.on_stream_credit(o, &1, 1500));
        assert!(!fc.on_stream_credit(o, &1, 1200));
        assert!(!fc.on_stream_credit(o, &9, 1200));
    });
    fc.consume(&1, 500).unwrap();
    assert_eq!(fc.connection().used(), 1500);

    let mut rw = ReceiveWindow::new(1000);
    rw.on_received(1000).unwrap();
    assert!(rw.on_received(1).is_err(), "the peer overran the credit");
    assert_eq!(rw.on_consumed(400), None);
    assert_eq!(
        rw.on_consumed(200),
        Some(1600),
        "less than half the window left"
    );
    assert_eq!(rw.limit(), 1600);
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

//= docs/SPEC.md#metrics-pdm
//= type=test
//# A receiver computes the network RTT as the time since it sent packet PSNLR minus the peer's DELTATLR, and the peer's view of it as the peer's DELTATLS minus the DELTATLR it sent itself.
#[test]
fn pdm_timing_between_two_endpoints() {
    let (a_to_b, b_to_a) = (Channel::new(8), Channel::new(9));
    let mut a = PdmEndpoint::new(100);
    let mut b = PdmEndpoint::new(7000);
    // A sends at 0; B receives at 7 ms, answers at 10 ms; A receives at 16 ms and sends again
    // at 18 ms; B receives that at 25 ms. The network RTT is 13 ms (7 + 6) both ways. (These
    // deltas are exact in a 16-bit mantissa.)
    let m1 = a.on_sent(ms(0));
    assert_eq!(
        (m1.psn_this, m1.delta_last_received, m1.delta_last_sent),
        (100, 0, 0)
    );
    let s = b.on_received(ms(7), &a_to_b.metrics(0, m1));
    assert_eq!(s.round_trip, None, "B sent nothing yet");
    let m2 = b.on_sent(ms(10));
    assert_eq!((m2.psn_this, m2.psn_last_received), (7000, 100));
    let s = a.on_received(ms(16), &b_to_a.metrics(0, m2));
    assert_eq!(s.peer_processing, Some(ms(3)));
    assert_eq!(s.round_trip, Some(ms(13)), "16 - 0 - 3");
    let m3 = a.on_sent(ms(18));
    assert_eq!(
        decode_delta(m3.scale_dtlr, m3.delta_last_received),
        Some(ms(2))
    );
    assert_eq!(
        decode_delta(m3.scale_dtls, m3.delta_last_sent),
        Some(ms(16))
    );
    let s = b.on_received(ms(25), &a_to_b.metrics(1, m3));
    assert_eq!(s.peer_processing, Some(ms(2)));
    assert_eq!(s.round_trip, Some(ms(13)), "25 - 10 - 2");
    assert_eq!(s.peer_round_trip, Some(ms(16)));
    assert_eq!(s.peer_network_round_trip, Some(ms(13)), "16 - 3");

    let mut pm = PathMetrics::new();
    pm.on_pdm(s);
    pm.on_datagram_sent(2, 2400);
    pm.on_datagram_sent(1, 1200);
    pm.on_packets_received(1, 100);
    let mut rtt = RttEstimator::default();
    rtt.update(ms(1), ms(20), Duration::ZERO);
    pm.update_rtt(&rtt);
    let ev = rud::connection::recovery::RecoveryEvents {
        lost: vec![rud::connection::recovery::LostDatagram {
            n: 0,
            bytes: 2400,
            time_sent: ms(0),
            ack_eliciting: true,
        }],
        ..Default::default()
    };
    pm.on_events(&ev);
    assert_eq!(
        (pm.packets_sent, pm.bytes_sent, pm.bytes_received),
        (3, 3600, 100)
    );
    assert!((pm.loss_rate() - 0.5).abs() < 1e-12);
    assert_eq!(
        (pm.smoothed_rtt, pm.min_rtt, pm.rtt_variance),
        (ms(20), ms(20), ms(10))
    );
}

//= docs/SPEC.md#metrics-pdm
//= type=test
//# Deltas are encoded with a 16-bit mantissa and the smallest scale that fits; a delta that overflows 64 bits of nanoseconds is ignored.
#[test]
fn pdm_deltas_scale_and_overflow() {
    assert_eq!(encode_delta(Duration::ZERO), (0, 0));
    assert_eq!(encode_delta(Duration::from_nanos(65_535)), (0, 65_535));
    assert_eq!(encode_delta(Duration::from_nanos(65_536)), (1, 32_768));
    for ns in [1u64, 999, 1_000_000, 123_456_789, 10_000_000_000, u64::MAX] {
        let (scale, value) = encode_delta(Duration::from_nanos(ns));
        assert!(value < 1 << 16);
        let back = decode_delta(scale, value).unwrap().as_nanos() as u64;
        assert!(back <= ns && ns - back < (1u64 << scale), "{ns}");
    }
    assert_eq!(decode_delta(64, 1), None);
    assert_eq!(decode_delta(49, 1 << 15), None);
    assert_eq!(
        decode_delta(48, 1 << 15),
        Some(Duration::from_nanos(1 << 63))
    );
    assert_eq!(decode_delta(255, 0), Some(Duration::ZERO));
}

// ---------------------------------------------------------------------------------------------
// A simulated transfer
// ---------------------------------------------------------------------------------------------

/// Deterministic xorshift64* for the loss draws.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn lost(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

enum Msg {
    Data {
        n: u64,
        k: u64,
        count: u64,
        fragment: Vec<u8>,
    },
    Ack(SealedDatagram),
}

#[derive(Debug)]
struct Report {
    delivered: usize,
    packets_sent: u64,
    packets_retransmitted: u64,
    loss_declarations: u64,
    acks_sent: u64,
    elapsed: Duration,
    final_window: u64,
}

const PACKET_SIZE: u64 = 1200;
const ONE_WAY: Duration = Duration::from_millis(20);

fn simulate(datagrams: u64, loss_percent: u64, seed: u64) -> Report {
    let data = Channel::new(10);
    let acks = Channel::new(11);
    let mut rng = Rng(seed);
    let mut wire: BinaryHeap<Reverse<(Duration, u64)>> = BinaryHeap::new();
    let mut in_transit: HashMap<u64, Msg> = HashMap::new();
    let mut wire_seq = 0u64;
    let mut send = |wire: &mut BinaryHeap<Reverse<(Duration, u64)>>,
                    in_transit: &mut HashMap<u64, Msg>,
                    now: Duration,
                    msg: Msg| {
        wire_seq += 1;
        if !rng.lost(loss_percent) {
            wire.push(Reverse((now + ONE_WAY, wire_seq)));
            in_transit.insert(wire_seq, msg);
        }
    };

    // Sender.
    let mut tracker = SentTracker::default();
    let mut cc = NewReno::default();
    let mut pacer = Pacer::new(PACKET_SIZE, cc.window(), tracker.rtt().smoothed());
    let mut buffers: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    let mut resend: VecDeque<(u64, u64)> = VecDeque::new();
    let mut next_n = 0u64;
    // Receiver.
    let mut received = ReceivedSet::new();
    let mut fragments: HashMap<u64, Vec<Option<Vec<u8>>>> = HashMap::new();
    let mut delivered: BTreeSet<u64> = BTreeSet::new();
    let mut ack_counter = 0u64;

    let mut now = Duration::ZERO;
    let step = ms(1);
    let limit = Duration::from_secs(600);
    while now < limit && !(next_n == datagrams && tracker.outstanding() == 0) {
        // Arrivals.
        while let Some(&Reverse((at, id))) = wire.peek() {
            if at > now {
                break;
            }
            wire.pop();
            match in_transit.remove(&id).unwrap() {
                Msg::Data {
                    n,
                    k,
                    count,
                    fragment,
                } => {
                    if received.contains(n) {
                        received.on_duplicate(now);
                        continue;
                    }
                    let slots = fragments
                        .entry(n)
                        .or_insert_with(|| vec![None; count as usize]);
                    slots[k as usize] = Some(fragment);
                    let mut bitmap = vec![0u8; (count as usize).div_ceil(8)];
                    for (i, s) in slots.iter().enumerate() {
                        if s.is_some() {
                            bitmap[i / 8] |= 1 << (i % 8);
                        }
                    }
                    received.merge_partial(n, &bitmap);
                    if slots.iter().all(Option::is_some) {
                        let mut sealed: Vec<u8> =
                            slots.iter().flatten().flatten().copied().collect();
                        let tag: [u8; 16] = sealed.split_off(sealed.len() - 16).try_into().unwrap();
                        let opened =
                            OpenedDatagram::open(&data.opener, n, AAD, &mut sealed, &tag).unwrap();
                        let payload = opened.decode().unwrap().plaintext().payload.to_vec();
                        assert_eq!(payload, n.to_be_bytes());
                        assert!(received.on_received(now, &opened, true));
                        assert!(delivered.insert(n), "{n} delivered twice");
                        fragments.remove(&n);
                    }
                }
                Msg::Ack(sealed) => {
                    let mut buf = sealed.ciphertext.clone();
                    let opened =
                        OpenedDatagram::open(&acks.opener, sealed.n, AAD, &mut buf, &sealed.tag)
                            .unwrap();
                    let decoded = opened.decode().unwrap();
                    let events = tracker.on_ack(now, decoded.ack().unwrap()).unwrap();
                    cc.on_events(now, &events);
                    for a in &events.acked {
                        assert!(buffers.remove(&a.n).is_some(), "freed once, by an ack");
                    }
                    resend.extend(events.retransmit);
                }
            }
        }

        // The receiver acknowledges.
        if received.ack_due(now) {
            let sealed = {
                let ack = received.build_ack(now).unwrap();
                acks.seal(ack_counter, &[ExtensionValue::Ack(ack)], b"")
            };
            ack_counter += 1;
            received.on_ack_sent();
            send(&mut wire, &mut in_transit, now, Msg::Ack(sealed));
        }

        // Sender timers.
        if tracker.poll_timeout().is_some_and(|t| t <= now) {
            let events = tracker.on_timeout(now);
            cc.on_events(now, &events);
            resend.extend(events.retransmit);
            if let Some(&(n, _)) = events.probe.first() {
                let ks: Vec<u64> = events.probe.iter().map(|&(_, k)| k).collect();
                let hints = tracker
                    .on_retransmit(now, n, &ks, PACKET_SIZE * ks.len() as u64)
                    .unwrap();
                for h in hints {
                    let count = buffers[&n].len() as u64;
                    let fragment = buffers[&n][h.packet_index as usize].clone();
                    let msg = Msg::Data {
                        n,
                        k: h.packet_index,
                        count,
                        fragment,
                    };
                    send(&mut wire, &mut in_transit, now, msg);
                }
            }
        }

        // Sending, within the window and the pacer.
        pacer.update(cc.window(), tracker.rtt().smoothed());
        loop {
            let (n, ks) = if let Some(&(n, _)) = resend.front() {
                let mut ks = Vec::new();
                while let Some(&(m, k)) = resend.front() {
                    if m != n {
                        break;
                    }
                    ks.push(k);
                    resend.pop_front();
                }
                (n, Some(ks))
            } else if next_n < datagrams {
                (next_n, None)
            } else {
                break;
            };
            let count = match &ks {
                Some(ks) => ks.len() as u64,
                None => 1 + n % 3,
            };
            let bytes = PACKET_SIZE * count;
            if !tracker.is_outstanding(n) && ks.is_some() {
                continue; // acknowledged meanwhile
            }
            if !cc.can_send_bytes(tracker.bytes_in_flight(), bytes)
                || pacer.next_send_time(now, bytes) > now
            {
                if let Some(ks) = ks {
                    for k in ks.into_iter().rev() {
                        resend.push_front((n, k));
                    }
                }
                break;
            }
            pacer.on_sent(now, bytes);
            let hints = match ks {
                Some(ks) => tracker.on_retransmit(now, n, &ks, bytes).unwrap(),
                None => {
                    let d = data.seal(n, &[], &n.to_be_bytes());
                    let mut sealed = d.ciphertext;
                    sealed.extend_from_slice(&d.tag);
                    let chunk = sealed.len().div_ceil(count as usize);
                    buffers.insert(n, sealed.chunks(chunk).map(<[u8]>::to_vec).collect());
                    assert_eq!(buffers[&n].len() as u64, count);
                    next_n += 1;
                    tracker.on_sent(now, datagram(n, count)).unwrap()
                }
            };
            for h in hints {
                let fragment = buffers[&n][h.packet_index as usize].clone();
                let count = buffers[&n].len() as u64;
                let msg = Msg::Data {
                    n,
                    k: h.packet_index,
                    count,
                    fragment,
                };
                send(&mut wire, &mut in_transit, now, msg);
            }
        }
        now += step;
    }
    assert!(
        buffers.is_empty(),
        "every buffer freed by an acknowledgement"
    );
    Report {
        delivered: delivered.len(),
        packets_sent: tracker.packets_sent(),
        packets_retransmitted: tracker.packets_retransmitted(),
        loss_declarations: tracker.datagrams_lost(),
        acks_sent: ack_counter,
        elapsed: now,
        final_window: cc.window(),
    }
}

//= docs/SPEC.md#loss-detection
//= type=test
//# A sender declares a datagram lost as RFC 9002 section 6 does, with transmissions in place of packet numbers
#[test]
fn simulated_transfer_delivers_everything_at_0_10_and_30_percent_loss() {
    const DATAGRAMS: u64 = 300;
    for (loss, seed) in [(0, 1), (10, 2), (30, 3)] {
        let r = simulate(DATAGRAMS, loss, seed);
        println!("loss {loss:>2} %: {r:?}");
        assert_eq!(r.delivered, DATAGRAMS as usize, "loss {loss} %");
        assert!(r.elapsed < Duration::from_secs(600), "loss {loss} %: {r:?}");
        if loss == 0 {
            assert_eq!(r.packets_retransmitted, 0);
            assert_eq!(r.loss_declarations, 0);
            assert!(r.final_window > 12_000, "the window grew");
        } else {
            assert!(
                r.packets_retransmitted > 0 && r.loss_declarations > 0,
                "{r:?}"
            );
        }
        assert!(r.acks_sent > 0);
        assert!(r.packets_sent >= (1..=DATAGRAMS).map(|n| 1 + (n - 1) % 3).sum::<u64>());
    }
}
