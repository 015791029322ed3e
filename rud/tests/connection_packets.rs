//! Packetization and reassembly of data datagrams: round trips through lossy, duplicating and
//! reordering channels, byte-identical resends, seal-once under a seal audit, forged and
//! corrupted fragments, replays and memory bounds.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use rud::connection::packetize::{
    DEFAULT_MAX_PACKET_SIZE, MAX_RETRANSMIT_HINT, PacketizeError, SealedDatagram,
};
use rud::connection::reassembly::{
    DEFAULT_MAX_BUFFERED, DEFAULT_MAX_INCOMPLETE, Delivered, PacketError, Reassembler,
    ReassemblyConfig,
};
use rud::crypto::datagram_key::{DatagramOpener, DatagramSealer, StreamKey};
use rud::crypto::{CryptoProvider, SealAuditProvider, SecretBytes, default_provider};
use rud::wire::{
    DataPlaintext, Datagram, DatagramFlags, Extension, ExtensionList, MessageType, StreamId,
    split_aad, varint,
};

const SID: &[u8] = &[0x5a, 0x17, 0xc3, 0x02, 0x9e, 0x44, 0x81, 0x3b];
const DATA: MessageType = MessageType::INITIATOR_DATA;
const FINAL: DatagramFlags = DatagramFlags(DatagramFlags::FINAL);

/// xorshift64*: a seeded generator, so every run is the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

fn key_with(provider: Arc<dyn CryptoProvider>, byte: u8) -> StreamKey {
    StreamKey::new(provider, &SecretBytes::new([byte; 32]))
}

/// A sealer and the reassembler that opens what it seals.
fn pair_with(
    provider: Arc<dyn CryptoProvider>,
    config: ReassemblyConfig,
) -> (DatagramSealer, Reassembler) {
    let sealer = DatagramSealer::new(key_with(provider, 0x42));
    let opener = DatagramOpener::new(key_with(default_provider(), 0x42));
    (sealer, Reassembler::with_config(opener, DATA, config))
}

fn pair() -> (DatagramSealer, Reassembler) {
    pair_with(default_provider(), ReassemblyConfig::default())
}

/// An encoded DataPlaintext carrying `payload` (and one extension when `ext` is set).
fn plaintext(payload: &[u8], ext: bool, padding: usize) -> Vec<u8> {
    let mut extensions = ExtensionList::default();
    if ext {
        extensions.0.push(Extension::new(&[0x70, 0x81], b"hello"));
    }
    let mut out = Vec::new();
    DataPlaintext {
        extensions,
        payload,
        padding,
    }
    .encode(&mut out)
    .unwrap();
    out
}

fn seal(sealer: &mut DatagramSealer, pt: &[u8], max: usize) -> SealedDatagram {
    SealedDatagram::seal(sealer, StreamId(SID), DATA, FINAL, pt, max).unwrap()
}

/// Decodes a packet the way a receiver would and hands it over. `None` when the codec drops it.
fn feed(r: &mut Reassembler, bytes: &[u8]) -> Option<Result<Option<Delivered>, PacketError>> {
    let Ok(Datagram::Data(pkt)) = Datagram::decode(bytes) else {
        return None;
    };
    let (aad, _) = split_aad(bytes).unwrap();
    Some(r.receive(&pkt, aad))
}

fn all_packets(d: &SealedDatagram, retransmit: u64) -> Vec<Vec<u8>> {
    (0..d.packet_count())
        .map(|k| d.packet(k, k as u16, retransmit).unwrap())
        .collect()
}

/// Feeds packets and collects what was delivered.
fn feed_all(r: &mut Reassembler, packets: &[Vec<u8>]) -> Vec<Delivered> {
    packets
        .iter()
        .filter_map(|p| feed(r, p).and_then(|res| res.ok().flatten()))
        .collect()
}

//= docs/SPEC.md#packet-fit
//= type=test
//# A sender MUST split `ciphertext || tag` into the fewest packets that each fit its maximum packet size.
//= docs/SPEC.md#data-packet
//= type=test
//# A data packet MUST have the layout above.
#[test]
fn round_trip_0_to_200k_shuffled_and_duplicated() {
    let sizes = [
        0usize, 1, 15, 16, 17, 100, 1000, 1200, 1225, 1226, 1227, 1228, 1240, 1260, 2460, 2461,
        10_000, 65_536, 100_000, 150_001, 200_000,
    ];
    let (mut sealer, mut r) = pair();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut want = BTreeMap::new();
    let mut wire = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let payload = rng.bytes(size);
        let pt = plaintext(&payload, i % 3 == 0, i % 4);
        let d = seal(&mut sealer, &pt, DEFAULT_MAX_PACKET_SIZE);
        assert_eq!(d.sealed_len(), pt.len() + 16);
        for k in 0..d.packet_count() {
            // Even with the largest retransmit hint, every packet fits.
            let p = d.packet(k, 0x7fff, MAX_RETRANSMIT_HINT).unwrap();
            assert!(p.len() <= DEFAULT_MAX_PACKET_SIZE, "{} > 1260", p.len());
            let Ok(Datagram::Data(pkt)) = Datagram::decode(&p) else {
                panic!("packet {k} of datagram {i} does not decode")
            };
            assert_eq!(pkt.packet_count, d.packet_count() as u64);
            assert!(pkt.fragment.len() >= if pkt.is_last() { 16 } else { 1 });
            wire.push(d.packet(k, rng.next() as u16, 0).unwrap());
            if rng.chance(30) {
                wire.push(d.packet(k, rng.next() as u16, 1).unwrap());
            }
        }
        want.insert(d.nonce(), (payload, pt));
    }
    rng.shuffle(&mut wire);
    let delivered = feed_all(&mut r, &wire);
    assert_eq!(delivered.len(), sizes.len());
    let mut seen = BTreeSet::new();
    for d in &delivered {
        assert!(seen.insert(d.nonce()), "delivered twice");
        let (payload, pt) = &want[&d.nonce()];
        assert_eq!(d.payload(), &payload[..]);
        assert_eq!(d.plaintext(), &pt[..]);
        assert_eq!(d.data().unwrap().payload, &payload[..]);
        assert!(d.is_final());
        let ext = d.extensions().unwrap();
        assert_eq!(ext.0.len(), usize::from(d.nonce() % 3 == 0));
    }
    let c = r.counters();
    assert_eq!(c.delivered, sizes.len() as u64);
    assert!(c.duplicates + c.replays > 0);
    assert_eq!(
        (c.tag_failures, c.inconsistent_fragments, c.evicted),
        (0, 0, 0)
    );
    assert_eq!((r.incomplete(), r.buffered_octets()), (0, 0));
    assert!(r.partials().is_empty());
}

//= docs/SPEC.md#resend-identical
//= type=test
//# Every transmission of packet k of a datagram MUST carry the same frozen prefix, packet index and fragment octets as the first; only the sent and retransmit indexes may differ.
//= docs/SPEC.md#sent-index
//= type=test
//# A receiver MUST ignore bit 15 of the sent index, and MUST NOT let the sent or retransmit index change what it delivers.
#[test]
fn retransmissions_differ_only_in_the_hints() {
    let (mut sealer, mut r) = pair();
    let payload = Rng(7).bytes(5000);
    let pt = plaintext(&payload, true, 3);
    let d = seal(&mut sealer, &pt, 1000);
    assert_eq!(d.packet_count(), 6);
    let hints = [
        (0u16, 0u64),
        (0x8123, 1),
        (0x7fff, 63),
        (5, 64),
        (9, 16_383),
        (9, 16_384),
        (0xffff, u64::MAX),
    ];
    for k in 0..d.packet_count() {
        let first = d.packet(k, 0, 0).unwrap();
        let (aad0, _) = split_aad(&first).unwrap();
        assert_eq!(aad0, d.frozen_prefix());
        for &(sent, retransmit) in &hints {
            let p = d.packet(k, sent, retransmit).unwrap();
            assert!(p.len() <= 1000);
            assert_eq!(Some(p.len()), d.packet_len(k, retransmit));
            let Ok(Datagram::Data(pkt)) = Datagram::decode(&p) else {
                panic!("does not decode")
            };
            let (aad, rest) = split_aad(&p).unwrap();
            assert_eq!(aad, aad0, "frozen prefix changed");
            assert_eq!(pkt.packet_index, k as u64);
            assert_eq!(pkt.fragment, d.fragment(k).unwrap());
            // The octets between the prefix and the fragment: index, then the hints.
            let idx_len = varint::len(k as u64);
            assert_eq!(&rest[..idx_len], &first[aad0.len()..aad0.len() + idx_len]);
            assert_eq!(pkt.sent_index, sent & 0x7fff, "bit 15 is sent as zero");
            assert_eq!(pkt.retransmit, retransmit.min(MAX_RETRANSMIT_HINT));
            assert!(p.ends_with(pkt.fragment) && first.ends_with(pkt.fragment));
        }
    }
    assert_eq!(
        d.packet(6, 0, 0),
        Err(PacketizeError::NoSuchPacket { index: 6, count: 6 })
    );

    // Packets mixing every hint variant (and bit 15 set on the wire) deliver the same octets.
    let mut wire = Vec::new();
    for k in 0..d.packet_count() {
        let (sent, retransmit) = hints[k % hints.len()];
        let mut p = d.packet(k, sent, retransmit).unwrap();
        // Set the reserved bit 15 of the sent index by hand: the receiver ignores it.
        let at = d.frozen_prefix().len() + varint::len(k as u64);
        p[at] |= 0x80;
        wire.push(p);
    }
    wire.reverse();
    let got = feed_all(&mut r, &wire);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].plaintext(), &pt[..]);
}

/// A lossy, duplicating, reordering exchange with resends and lost acknowledgements: every
/// datagram is sealed exactly once, no (key, nonce) pair is used twice, and every resend of a
/// packet repeats the first transmission outside the hints.
//= docs/SPEC.md#seal-once
//= type=test
//# A datagram MUST be sealed exactly once: the sealer allocates n, n never repeats within a generation and stays below 2^62, and a retransmission resends the stored octets.
#[test]
fn seal_audit_lossy_run_seals_each_datagram_once() {
    let audit = Arc::new(SealAuditProvider::new(default_provider()));
    let (mut sealer, mut r) = pair_with(audit.clone(), ReassemblyConfig::default());
    let mut rng = Rng(0xfeed_beef);
    let mut datagrams = Vec::new();
    let mut payloads = BTreeMap::new();
    for i in 0..40usize {
        let len = rng.below(6000) + i;
        let payload = rng.bytes(len);
        let d = seal(&mut sealer, &plaintext(&payload, false, 0), 1200);
        payloads.insert(d.nonce(), payload);
        datagrams.push(d);
    }
    assert_eq!(audit.seal_count(), 40);

    let mut first_sent: BTreeMap<(u64, usize), Vec<u8>> = BTreeMap::new();
    let mut acked = BTreeSet::new();
    let mut delivered = BTreeMap::new();
    let mut sent_index = 0u16;
    for round in 0u64..60 {
        let mut wire = Vec::new();
        for d in datagrams.iter().filter(|d| !acked.contains(&d.nonce())) {
            for k in 0..d.packet_count() {
                let p = d.packet(k, sent_index, round).unwrap();
                sent_index = sent_index.wrapping_add(1);
                let hint_len = 2 + varint::len(round.min(MAX_RETRANSMIT_HINT));
                let fixed = d.frozen_prefix().len() + varint::len(k as u64);
                let first = first_sent
                    .entry((d.nonce(), k))
                    .or_insert_with(|| p.clone());
                assert_eq!(&p[..fixed], &first[..fixed]);
                assert_eq!(&p[fixed + hint_len..], &first[fixed + 2 + 1..]);
                if !rng.chance(25) {
                    wire.push(p.clone());
                }
                if rng.chance(10) {
                    wire.push(p);
                }
            }
        }
        if wire.is_empty() {
            break;
        }
        rng.shuffle(&mut wire);
        for got in feed_all(&mut r, &wire) {
            assert_eq!(got.payload(), &payloads[&got.nonce()][..]);
            assert!(
                delivered.insert(got.nonce(), round).is_none(),
                "delivered twice"
            );
        }
        // Acknowledgements get lost too: the sender learns of half the deliveries per round.
        for n in delivered.keys() {
            if rng.chance(50) {
                acked.insert(*n);
            }
        }
    }
    assert_eq!(delivered.len(), 40);
    assert!(
        r.counters().replays > 0,
        "lost acks caused resends of delivered datagrams"
    );
    // Still exactly one seal per datagram, each under its own (key, nonce).
    assert_eq!(audit.seal_count(), 40);
    assert_eq!(audit.reseals(), 0);
    assert!(audit.conflicts().is_empty());
    let pairs: HashSet<_> = audit
        .records()
        .iter()
        .map(|rec| (rec.key_fingerprint, rec.nonce))
        .collect();
    assert_eq!(pairs.len(), 40);
}

//= docs/SPEC.md#reassembly-candidates
//= type=test
//# A fragment whose prefix differs from the first one buffered for its n MUST be counted and kept apart; when a candidate's tag fails, every fragment of that candidate MUST be discarded and fresh copies accepted.
#[test]
fn forged_fragments_ahead_of_real_ones_do_not_stop_the_transfer() {
    let mut rng = Rng(99);
    let payload = rng.bytes(6000);
    let pt = plaintext(&payload, false, 0);

    // 1. Forgeries with the genuine header and random fragments, for every index, first.
    let (mut sealer, mut r) = pair();
    let d = seal(&mut sealer, &pt, 1260);
    assert_eq!(d.packet_count(), 5);
    let real = all_packets(&d, 0);
    let forged: Vec<Vec<u8>> = (0..d.packet_count())
        .map(|k| {
            let mut p = Vec::new();
            p.extend_from_slice(d.frozen_prefix());
            varint::write(&mut p, k as u64, "index").unwrap();
            p.extend_from_slice(&[0, 0, 0]);
            p.extend(rng.bytes(d.fragment(k).unwrap().len()));
            p
        })
        .collect();
    for p in &forged[..4] {
        assert_eq!(feed(&mut r, p).unwrap(), Ok(None));
    }
    // The real packets: 0..4 are duplicates of the forged ones; 4 completes and fails the tag.
    let mut results: Vec<_> = real.iter().map(|p| feed(&mut r, p).unwrap()).collect();
    assert_eq!(
        results.pop().unwrap(),
        Err(PacketError::TagFailure { n: 0 })
    );
    assert!(
        results
            .iter()
            .all(|x| matches!(x, Err(PacketError::DuplicateFragment { .. })))
    );
    assert_eq!(r.counters().tag_failures, 1);
    assert_eq!(
        (r.incomplete(), r.buffered_octets()),
        (0, 0),
        "every fragment discarded"
    );
    // The real packets again (a resend): delivered byte-exact.
    let got = feed_all(&mut r, &real);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload(), &payload[..]);

    // 2. Forgeries with a different packet count, flags or stream id for the same n, and
    //    forgeries for later n, arrive first: kept apart, the real datagram completes at once.
    let (mut sealer, mut r) = pair();
    let d = seal(&mut sealer, &pt, 1260);
    let real = all_packets(&d, 0);
    let mut wire = Vec::new();
    for (count, flags, sid, n) in [
        (7u64, 1u8, SID, 0u64),
        (5, 0, SID, 0),
        (5, 1, &SID[..4], 0),
        (5, 1, SID, 1),
        (4, 1, SID, 9),
    ] {
        for k in 0..(count - 1).min(3) {
            let mut p = Vec::new();
            StreamId(sid).encode(&mut p, "sid").unwrap();
            p.push(DATA.0);
            varint::write(&mut p, n, "n").unwrap();
            varint::write(&mut p, count, "count").unwrap();
            p.push(flags);
            varint::write(&mut p, k, "index").unwrap();
            p.extend_from_slice(&[0, 0, 0]);
            p.extend(rng.bytes(1000));
            wire.push(p);
        }
    }
    for p in &wire {
        assert_eq!(feed(&mut r, p).unwrap(), Ok(None));
    }
    // 3 forged candidates for n = 0 so far: the real one is the 4th (the per-n limit).
    let got = feed_all(&mut r, &real);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload(), &payload[..]);
    let c = r.counters();
    assert_eq!(c.tag_failures, 0);
    // Two forged candidates disagreeing with the first one for n = 0, then the 5 real packets.
    assert_eq!(c.inconsistent_fragments, 6 + 5);
    // Delivery of n = 0 settled every candidate of n = 0; those of n = 1 and 9 remain.
    assert_eq!(r.incomplete(), 2);
    let partials = r.partials();
    assert_eq!(partials, vec![(1, vec![0b111]), (9, vec![0b111])]);

    // 3. Forged copies of some indexes only, then the real packets twice.
    let (mut sealer, mut r) = pair();
    let d = seal(&mut sealer, &pt, 1260);
    let real = all_packets(&d, 0);
    let mut p = real[2].clone();
    let len = p.len();
    p[len - 100] ^= 0x40;
    assert_eq!(feed(&mut r, &p).unwrap(), Ok(None));
    assert!(feed_all(&mut r, &real).is_empty());
    assert_eq!(r.counters().tag_failures, 1);
    let got = feed_all(&mut r, &real);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload(), &payload[..]);
}

/// Flip bits all over each packet of a 3-packet datagram. Nothing but the genuine plaintext is
/// ever delivered, a flipped fragment costs a tag failure, and the genuine packets sent again
/// are accepted.
//= docs/SPEC.md#reassembly-release
//= type=test
//# A receiver MUST NOT release any plaintext of a datagram before its tag verifies.
#[test]
fn bit_flips_never_deliver_and_fresh_copies_are_accepted() {
    let payload = Rng(3).bytes(2400);
    let pt = plaintext(&payload, true, 0);
    let (mut sealer, _) = pair();
    let d = seal(&mut sealer, &pt, 1000);
    assert_eq!(d.packet_count(), 3);
    let real = all_packets(&d, 2);
    let mut trials = 0;
    for k in 0..real.len() {
        let fixed = d.frozen_prefix().len() + varint::len(k as u64);
        let hints = fixed..fixed + 3;
        for bit in (0..real[k].len() * 8).step_by(5) {
            let (_, mut r) = pair();
            let mut flipped = real[k].clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let mut got = Vec::new();
            if let Some(Ok(Some(x))) = feed(&mut r, &flipped) {
                got.push(x);
            }
            got.extend(feed_all(&mut r, &real));
            let in_fragment = bit / 8 >= hints.end;
            if in_fragment {
                assert!(
                    got.is_empty(),
                    "packet {k} bit {bit}: delivered a corrupted datagram"
                );
                assert_eq!(r.counters().tag_failures, 1);
            }
            if bit / 8 >= hints.start && bit / 8 < hints.start + 2 {
                // The sent index is a hint: the datagram is delivered unchanged.
                assert_eq!(got.len(), 1);
            }
            got.extend(feed_all(&mut r, &real));
            assert_eq!(got.len(), 1, "packet {k} bit {bit}: delivered once");
            assert_eq!(got[0].plaintext(), &pt[..]);
            assert_eq!(got[0].nonce(), 0);
            trials += 1;
        }
    }
    assert!(trials > 1000);
}

//= docs/SPEC.md#reassembly-release
//= type=test
//# A receiver MUST drop a packet whose n the anti-replay window reports as accepted or too old before buffering it, and MUST mark n in the window only then.
#[test]
fn replayed_datagrams_are_not_delivered_twice() {
    let (mut sealer, mut r) = pair();
    let payload = b"pay me once".to_vec();
    let d = seal(&mut sealer, &plaintext(&payload, false, 0), 1260);
    let wire = all_packets(&d, 0);
    assert_eq!(feed_all(&mut r, &wire).len(), 1);
    for _ in 0..3 {
        assert_eq!(
            feed(&mut r, &wire[0]).unwrap(),
            Err(PacketError::Replayed { n: 0 })
        );
    }
    let big = seal(&mut sealer, &plaintext(&[9; 4000], false, 0), 1260);
    let big_wire = all_packets(&big, 0);
    assert_eq!(feed_all(&mut r, &big_wire).len(), 1);
    // Every packet of the replayed datagram is dropped before buffering.
    for p in &big_wire {
        assert_eq!(
            feed(&mut r, p).unwrap(),
            Err(PacketError::Replayed { n: 1 })
        );
    }
    assert_eq!((r.incomplete(), r.buffered_octets()), (0, 0));
    assert_eq!(r.counters().delivered, 2);
    assert_eq!(r.counters().replays, 3 + big_wire.len() as u64);

    // Far behind the highest accepted counter: too old.
    let mut old = Vec::new();
    for _ in 0..1100 {
        old.push(seal(&mut sealer, &plaintext(b"x", false, 0), 1260));
    }
    assert_eq!(
        feed_all(&mut r, &all_packets(old.last().unwrap(), 0)).len(),
        1
    );
    assert_eq!(
        feed(&mut r, &old[0].packet(0, 0, 0).unwrap()).unwrap(),
        Err(PacketError::TooOld { n: 2 })
    );
    // A forged packet never moves the window: a forged n far ahead fails its tag and the
    // genuine next datagram is still fresh.
    let next = seal(&mut sealer, &plaintext(b"after", false, 0), 1260);
    let mut forged = next.packet(0, 0, 0).unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        feed(&mut r, &forged).unwrap(),
        Err(PacketError::TagFailure { n: next.nonce() })
    );
    assert_eq!(feed_all(&mut r, &all_packets(&next, 0)).len(), 1);
}

//= docs/SPEC.md#reassembly-bounds
//= type=test
//# A receiver MUST bound what it buffers per stream direction: at most N incomplete candidates (default 64) and B octets (default 4 MiB).
#[test]
fn memory_bound_holds_under_endless_incomplete_datagrams() {
    let (mut sealer, mut r) = pair();
    assert_eq!(r.config().max_incomplete, DEFAULT_MAX_INCOMPLETE);
    assert_eq!(r.config().max_buffered, DEFAULT_MAX_BUFFERED);
    let mut rng = Rng(0xabad_cafe);
    // A peer (or forger) sends first packets of ever new, never completed datagrams: genuine
    // ones from the sealer and forged ones claiming up to 16384 packets.
    let mut max_seen = (0, 0);
    for i in 0..3000u64 {
        let p = if i % 3 == 0 {
            let d = seal(&mut sealer, &plaintext(&rng.bytes(5000), false, 0), 1260);
            d.packet(rng.below(d.packet_count() - 1), 0, 0).unwrap()
        } else {
            let mut p = Vec::new();
            StreamId(SID).encode(&mut p, "sid").unwrap();
            p.push(DATA.0);
            varint::write(&mut p, rng.next() % (1 << 40), "n").unwrap();
            varint::write(&mut p, 16_384, "count").unwrap();
            p.push(1);
            varint::write(&mut p, rng.next() % 16_000, "index").unwrap();
            p.extend_from_slice(&[0, 0, 0]);
            p.extend(rng.bytes(1240));
            p
        };
        // More fragments for a few of the forged datagrams, to fill the octet bound too.
        let _ = feed(&mut r, &p).unwrap();
        assert!(r.incomplete() <= DEFAULT_MAX_INCOMPLETE);
        assert!(r.buffered_octets() <= DEFAULT_MAX_BUFFERED);
        max_seen = (
            max_seen.0.max(r.incomplete()),
            max_seen.1.max(r.buffered_octets()),
        );
    }
    assert_eq!(max_seen.0, DEFAULT_MAX_INCOMPLETE);
    assert!(r.counters().evicted >= 3000 - 64);
    assert!(r.partials().len() <= 64);
    for (_, bitmap) in r.partials() {
        assert!(bitmap.len() <= 2048);
    }
    // A genuine datagram still goes through.
    let d = seal(&mut sealer, &plaintext(b"still here", false, 0), 1260);
    assert_eq!(feed_all(&mut r, &all_packets(&d, 0)).len(), 1);

    // The octet bound: a small buffer, many fragments of one forged datagram per n.
    let config = ReassemblyConfig {
        max_incomplete: 8,
        max_buffered: 64 * 1024,
        max_candidates_per_nonce: 2,
    };
    let (mut sealer, mut r) = pair_with(default_provider(), config);
    for i in 0..2000u64 {
        let mut p = Vec::new();
        StreamId(SID).encode(&mut p, "sid").unwrap();
        p.push(DATA.0);
        varint::write(&mut p, i % 5, "n").unwrap();
        varint::write(&mut p, 100 + (i % 3), "count").unwrap();
        p.push(1);
        varint::write(&mut p, i % 97, "index").unwrap();
        p.extend_from_slice(&[0, 0, 0]);
        p.extend(rng.bytes(1200));
        let _ = feed(&mut r, &p);
        assert!(r.incomplete() <= 8);
        assert!(r.buffered_octets() <= 64 * 1024);
    }
    assert!(r.counters().inconsistent_fragments > 0);
    // A datagram larger than the octet bound cannot be received; it is evicted, not kept.
    let d = seal(&mut sealer, &plaintext(&[1; 100_000], false, 0), 1260);
    let results: Vec<_> = all_packets(&d, 0)
        .iter()
        .map(|p| feed(&mut r, p).unwrap())
        .collect();
    assert!(results.contains(&Err(PacketError::TooLarge { n: d.nonce() })));
    assert!(r.buffered_octets() <= 64 * 1024);
    // A datagram within the bound is received.
    let d = seal(&mut sealer, &plaintext(&[2; 30_000], false, 0), 1260);
    assert_eq!(feed_all(&mut r, &all_packets(&d, 0)).len(), 1);
}

//= docs/SPEC.md#flags-reserved
//= type=test
//# Senders MUST set the reserved flag bits to zero; receivers MUST drop a datagram with any of them set.
#[test]
fn refusals_spend_no_counter() {
    let (mut sealer, mut r) = pair();
    let pt = plaintext(b"abc", false, 0);
    let sid = StreamId(SID);
    let refuse = |s: &mut DatagramSealer, t, f, pt: &[u8], max| {
        SealedDatagram::seal(s, sid, t, f, pt, max).unwrap_err()
    };
    assert_eq!(
        refuse(&mut sealer, MessageType::INITIATOR_HELLO, FINAL, &pt, 1260),
        PacketizeError::NotData(MessageType::INITIATOR_HELLO)
    );
    assert_eq!(
        refuse(&mut sealer, DATA, DatagramFlags(0x81), &pt, 1260),
        PacketizeError::ReservedFlags(0x81)
    );
    let mut bad_padding = plaintext(b"abc", false, 2);
    *bad_padding.last_mut().unwrap() = 1;
    assert!(matches!(
        refuse(&mut sealer, DATA, FINAL, &bad_padding, 1260),
        PacketizeError::MalformedPlaintext(_)
    ));
    // Prefix 8 + 1 + 1 + 1 + 1 + 1 = 13, index 1, sent 2, retransmit 2: 18 + 17 octets needed.
    assert_eq!(
        refuse(&mut sealer, DATA, FINAL, &pt, 34),
        PacketizeError::MaxPacketSizeTooSmall {
            max: 34,
            needed: 35
        }
    );
    assert!(matches!(
        refuse(
            &mut sealer,
            DATA,
            FINAL,
            &plaintext(&[0; 1_000_000], false, 0),
            60
        ),
        PacketizeError::TooManyPackets { .. }
    ));
    assert!(matches!(
        SealedDatagram::seal(&mut sealer, StreamId(&[0; 17]), DATA, FINAL, &pt, 1260),
        Err(PacketizeError::StreamIdTooLong(17))
    ));
    assert_eq!(sealer.next_counter(), 0, "no counter spent on a refusal");
    // The smallest maximum size works: 21 sealed octets in packets of 17 fragment octets; the
    // first gives up 12 so that the last holds the 16 tag octets.
    let d = seal(&mut sealer, &pt, 35);
    assert_eq!(d.packet_count(), 2);
    assert_eq!(
        (d.fragment(0).unwrap().len(), d.fragment(1).unwrap().len()),
        (5, 16)
    );
    assert_eq!(d.nonce(), 0);

    // Reserved flags set by a (hypothetical) sender: the receiver drops the packet.
    let mut p = d.packet(0, 0, 0).unwrap();
    let flags_at = d.frozen_prefix().len() - 1;
    p[flags_at] |= 0x10;
    assert_eq!(
        feed(&mut r, &p).unwrap(),
        Err(PacketError::ReservedFlags { n: 0 })
    );
    // Wrong direction: a ResponderData packet on an InitiatorData reassembler.
    let mut p = d.packet(0, 0, 0).unwrap();
    p[SID.len() + 1] = MessageType::RESPONDER_DATA.0;
    assert_eq!(
        feed(&mut r, &p).unwrap(),
        Err(PacketError::WrongMessageType(MessageType::RESPONDER_DATA))
    );
    // Associated data that is not the packet's prefix (a caller error).
    let p = d.packet(0, 0, 0).unwrap();
    let Ok(Datagram::Data(pkt)) = Datagram::decode(&p) else {
        panic!()
    };
    assert_eq!(r.receive(&pkt, b"other"), Err(PacketError::AadMismatch));
    assert_eq!(r.counters().invalid, 3);
    assert_eq!(feed_all(&mut r, &all_packets(&d, 0)).len(), 1);
}

//= docs/SPEC.md#padding-zero
//= type=test
//# a receiver MUST treat a non-zero padding octet as malformed, at its offset.
#[test]
fn authenticated_plaintext_with_non_zero_padding_is_not_delivered() {
    // A peer that seals a bad plaintext itself, bypassing the packetizer's check: the raw slot.
    let (mut sealer, mut r) = pair();
    let mut pt = plaintext(b"abc", false, 3);
    let bad_at = pt.len() - 1;
    pt[bad_at] = 7;
    let slot = sealer.reserve().unwrap();
    let mut prefix = Vec::new();
    StreamId(SID).encode(&mut prefix, "sid").unwrap();
    prefix.push(DATA.0);
    varint::write(&mut prefix, slot.counter(), "n").unwrap();
    varint::write(&mut prefix, 1, "count").unwrap();
    prefix.push(1);
    let mut ct = pt.clone();
    let tag = slot.seal(&prefix, &mut ct).unwrap();
    let mut p = prefix.clone();
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(&ct);
    p.extend_from_slice(&tag);
    match feed(&mut r, &p).unwrap() {
        Err(PacketError::MalformedPlaintext { n: 0, error }) => assert_eq!(error.offset, bad_at),
        other => panic!("{other:?}"),
    }
    // Authenticated, so marked: a resend is a replay, not a second decryption.
    assert_eq!(
        feed(&mut r, &p).unwrap(),
        Err(PacketError::Replayed { n: 0 })
    );
    assert_eq!(r.counters().delivered, 0);
}

#[test]
fn partials_report_held_packets() {
    let (mut sealer, mut r) = pair();
    let d = seal(&mut sealer, &plaintext(&[5; 12_000], false, 0), 1260);
    assert_eq!(d.packet_count(), 10);
    let wire = all_packets(&d, 0);
    for k in [0usize, 3, 8, 9] {
        assert_eq!(feed(&mut r, &wire[k]).unwrap(), Ok(None));
    }
    assert_eq!(r.partials(), vec![(0, vec![0b0000_1001, 0b11])]);
    assert_eq!(
        feed(&mut r, &wire[3]).unwrap(),
        Err(PacketError::DuplicateFragment { n: 0, index: 3 })
    );
    assert_eq!(feed_all(&mut r, &wire).len(), 1);
    assert!(r.partials().is_empty());
}

/// The header sizes of a datagram with `count` packets, as a receiver sees them.
fn capacity(prefix_len: usize, count: u64, max: usize) -> usize {
    max - prefix_len - varint::len(count - 1) - 2 - 2
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    //= docs/SPEC.md#packet-fit
    //= type=test
    //# the fewest packets that each fit its maximum packet size; the last packet holds the 16 tag octets.
    #[test]
    fn any_size_any_max_round_trips(
        size in 0usize..40_000,
        max in 20usize..1600,
        sid_len in 0usize..=16,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let sid = rng.bytes(sid_len);
        let payload = rng.bytes(size);
        let pt = plaintext(&payload, false, 0);
        let (mut sealer, mut r) = pair();
        match SealedDatagram::seal(&mut sealer, StreamId(&sid), DATA, FINAL, &pt, max) {
            Err(PacketizeError::MaxPacketSizeTooSmall { max: m, needed }) => {
                prop_assert_eq!(m, max);
                prop_assert!(needed > max);
                prop_assert_eq!(sealer.next_counter(), 0);
            }
            Err(PacketizeError::TooManyPackets { needed }) => {
                prop_assert!(needed > 16_384);
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
            Ok(d) => {
                let count = d.packet_count() as u64;
                let sealed = pt.len() + 16;
                let cap = capacity(d.frozen_prefix().len(), count, max);
                prop_assert!(cap >= 17);
                prop_assert_eq!(count, (sealed as u64).div_ceil(cap as u64).max(1));
                let mut wire = Vec::new();
                let mut total = 0;
                for k in 0..d.packet_count() {
                    let p = d.packet(k, k as u16, MAX_RETRANSMIT_HINT).unwrap();
                    prop_assert!(p.len() <= max);
                    let frag = d.fragment(k).unwrap().len();
                    let min = if k + 1 == d.packet_count() { 16 } else { 1 };
                    prop_assert!(frag >= min);
                    total += frag;
                    wire.push(p);
                }
                prop_assert_eq!(total, sealed);
                rng.shuffle(&mut wire);
                let got = feed_all(&mut r, &wire);
                prop_assert_eq!(got.len(), 1);
                prop_assert_eq!(got[0].payload(), &payload[..]);
            }
        }
    }
}
