//! Security requirements of the connection layer (docs/SPEC.md sections 3.5, 3.6, 5, 7.3 and
//! 7.10), checked end to end over the seeded in-memory network: seal-once under loss, restarts,
//! rekeys and lost handshake datagrams; forged untagged fragments and hints; key and nonce
//! separation between streams and directions; associated data and encodings; one-time
//! identifiers; anti-amplification and migration; the connection rekey; ticketed connections.
//!
//! Every test counts: what was sealed, what authenticated, what was dropped and why, and what
//! the applications read, octet for octet.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic with a message
use std::cell::{Cell, RefCell};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rud::connection::{
    CloseReason, Connection, ConnectionConfig, ConnectionCounters, Event, StreamHandle, StreamKind,
};
use rud::crypto::keylog::{MemoryKeyLog, labels};
use rud::crypto::x448::X448Secret;
use rud::crypto::{
    CountingProvider, SealAuditProvider, SecretBytes, SymmetricCounts, default_provider,
};
use rud::endpoint::{ConnectionId, Endpoint, EndpointConfig, EndpointEvent};
use rud::handshake::ticket::{TicketKeys, ticket_psk};
use rud::handshake::{
    Entropy, Initiator, InitiatorConfig, InitiatorEvent, Responder, ResponderConfig,
    ResponderOutcome, SeededEntropy,
};
use rud::sim::{LinkConfig, Packet, Pair, PairConfig, SIM_EPOCH, Sim, SimRng, Verdict};
use rud::wire::{DataPacket, Datagram, DatagramFlags, MessageType, StreamId, split_aad, varint};

const SECOND: Duration = Duration::from_secs(1);
const FINAL: u8 = DatagramFlags::FINAL;
const CONTROL: u8 = DatagramFlags::CONTROL;
const ABORT: u8 = DatagramFlags::ABORT;
const ACK_ONLY: u8 = DatagramFlags::ACK_ONLY;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = SimRng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

fn lossless() -> LinkConfig {
    LinkConfig {
        latency: ms(20),
        ..LinkConfig::default()
    }
}

fn established(cfg: PairConfig) -> Pair {
    let mut p = Pair::new(cfg).unwrap();
    p.establish(60 * SECOND).unwrap();
    p
}

// ---------------------------------------------------------------------------------------------
// Packets on the wire.

/// One data packet, parsed.
#[derive(Debug, Clone)]
struct Wire {
    bytes: Vec<u8>,
    aad: Vec<u8>,
    sid: Vec<u8>,
    msg_type: MessageType,
    n: u64,
    count: u64,
    flags: u8,
    index: u64,
    sent: u16,
    retransmit: u64,
    fragment: Vec<u8>,
}

fn wire(bytes: &[u8]) -> Option<Wire> {
    let Ok(Datagram::Data(p)) = Datagram::decode(bytes) else {
        return None;
    };
    let (aad, _) = split_aad(bytes).ok()?;
    Some(Wire {
        bytes: bytes.to_vec(),
        aad: aad.to_vec(),
        sid: p.stream_id.0.to_vec(),
        msg_type: p.msg_type,
        n: p.nonce,
        count: p.packet_count,
        flags: p.flags.0,
        index: p.packet_index,
        sent: p.sent_index,
        retransmit: p.retransmit,
        fragment: p.fragment.to_vec(),
    })
}

impl Wire {
    fn ack_only(&self) -> bool {
        self.flags & ACK_ONLY != 0
    }

    /// The packet encoded again (minimally) from its fields, as a forger would.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        DataPacket {
            stream_id: StreamId(&self.sid),
            msg_type: self.msg_type,
            nonce: self.n,
            packet_count: self.count,
            flags: DatagramFlags(self.flags),
            packet_index: self.index,
            sent_index: self.sent,
            retransmit: self.retransmit,
            fragment: &self.fragment,
        }
        .encode(&mut out)
        .unwrap();
        out
    }
}

/// Data packets captured from `from`, in the order they were sent.
fn captured_from(sim: &Sim, from: SocketAddr) -> Vec<(Duration, Wire)> {
    sim.captured()
        .iter()
        .filter(|(_, p)| p.from == from)
        .filter_map(|(t, p)| Some((*t, wire(&p.bytes)?)))
        .collect()
}

/// First transmissions only (a resend repeats the frozen prefix and the packet index).
fn first_transmissions(packets: &[(Duration, Wire)]) -> Vec<Wire> {
    let mut seen = HashSet::new();
    packets
        .iter()
        .filter(|(_, w)| seen.insert((w.aad.clone(), w.index)))
        .map(|(_, w)| w.clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Driving a pair.

type Events = Vec<(usize, Event)>;

/// Steps the pair until `done` holds or `limit` of simulated time passes, collecting the
/// connections' events.
fn drive(
    p: &mut Pair,
    events: &mut Events,
    limit: Duration,
    mut done: impl FnMut(&mut Pair, &Events) -> bool,
) -> bool {
    let deadline = p.sim.now.saturating_add(limit);
    let mut same_instant = (p.sim.now, 0u32);
    loop {
        if done(p, events) {
            return true;
        }
        let progressed = p.sim.step(deadline);
        // A timer that never clears spins the event loop at one instant.
        if p.sim.now == same_instant.0 {
            same_instant.1 += 1;
            assert!(same_instant.1 < 10_000, "livelock at {:?}", p.sim.now);
        } else {
            same_instant = (p.sim.now, 0);
        }
        for (node, _, e) in p.sim.take_events() {
            if let EndpointEvent::Connection(e) = e {
                events.push((node, e));
            }
        }
        if !progressed {
            return done(p, events);
        }
    }
}

fn saw(events: &Events, node: usize, f: impl Fn(&Event) -> bool) -> bool {
    events.iter().any(|(n, e)| *n == node && f(e))
}

fn accepted(ev: &Events, node: usize, h: StreamHandle) -> bool {
    saw(
        ev,
        node,
        |e| matches!(e, Event::StreamAccepted { stream } if *stream == h),
    )
}

fn restarted(ev: &Events, node: usize, h: StreamHandle) -> usize {
    ev.iter()
        .filter(|(n, e)| {
            *n == node && matches!(e, Event::StreamRestarted { stream, .. } if *stream == h)
        })
        .count()
}

fn rekeyed(ev: &Events, node: usize) -> bool {
    saw(ev, node, |e| matches!(e, Event::Rekeyed { epoch: 1 }))
}

fn closed_by_us(ev: &Events, node: usize, h: StreamHandle) -> bool {
    saw(
        ev,
        node,
        |e| matches!(e, Event::StreamClosed { stream, by_peer: false, .. } if *stream == h),
    )
}

/// What the applications sent and read: an echo server answers every request on a stream the
/// client created, and reads asynchronous streams as sinks (by service name).
#[derive(Debug, Default)]
struct Load {
    requests: BTreeMap<(StreamHandle, u64), Vec<u8>>,
    responses: BTreeMap<(StreamHandle, u64), Vec<u8>>,
    duplicate_responses: usize,
    sent: BTreeMap<String, Vec<Vec<u8>>>,
    received: BTreeMap<String, Vec<Vec<u8>>>,
    /// Messages the server application read (requests and sink messages).
    server_reads: usize,
}

impl Load {
    /// The handshake carried request 0 of the first stream. When the responder refused it as
    /// early data (the Exchange came too late for its strike register), the server read an
    /// empty request 0 in its place and echoes that.
    fn new(p: &mut Pair, first: &[u8]) -> Self {
        let mut l = Self::default();
        let accepted = p.client().unwrap().early_data();
        let request = if accepted { first.to_vec() } else { Vec::new() };
        l.requests.insert((StreamHandle(0), 0), request);
        l
    }

    fn request(&mut self, c: &mut Connection, s: StreamHandle, body: Vec<u8>) {
        let id = c.send(s, body.clone()).unwrap();
        assert!(self.requests.insert((s, id), body).is_none());
    }

    fn push(&mut self, c: &mut Connection, s: StreamHandle, service: &str, body: Vec<u8>) {
        c.send(s, body.clone()).unwrap();
        self.sent.entry(service.into()).or_default().push(body);
    }

    fn serve(&mut self, p: &mut Pair) {
        if let Some(srv) = p.server() {
            let streams: Vec<_> = srv
                .streams()
                .map(|(h, k, s)| (h, k, s.to_owned()))
                .collect();
            for (h, kind, svc) in streams {
                while let Some(m) = srv.read(h) {
                    self.server_reads += 1;
                    match kind {
                        StreamKind::Transactional => {
                            let _ = srv.respond(h, m.id, m.bytes);
                        }
                        StreamKind::Asynchronous => {
                            self.received.entry(svc.clone()).or_default().push(m.bytes)
                        }
                    }
                }
            }
        }
        if let Some(cl) = p.client() {
            let streams: Vec<_> = cl
                .streams()
                .filter(|(_, k, _)| *k == StreamKind::Transactional)
                .map(|(h, _, _)| h)
                .collect();
            for h in streams {
                while let Some(m) = cl.read(h) {
                    if self.responses.insert((h, m.id), m.bytes).is_some() {
                        self.duplicate_responses += 1;
                    }
                }
            }
        }
    }

    fn complete(&self) -> bool {
        self.responses.len() >= self.requests.len()
            && self
                .sent
                .iter()
                .all(|(k, v)| self.received.get(k).map_or(0, Vec::len) >= v.len())
    }

    /// Byte-exact and exactly once.
    fn check(&self) {
        assert_eq!(
            self.duplicate_responses, 0,
            "a response was delivered twice"
        );
        assert_eq!(self.responses.len(), self.requests.len());
        let wrong: Vec<_> = self
            .requests
            .iter()
            .filter(|(k, v)| self.responses.get(k) != Some(v))
            .map(|(k, v)| (k, v.len(), self.responses.get(k).map(Vec::len)))
            .collect();
        assert!(
            wrong.is_empty(),
            "responses differ (request, its length, the response's length): {wrong:?}"
        );
        assert!(self.received == self.sent, "sink messages differ");
    }

    /// Messages the client sent after the handshake (what the server delivers).
    fn client_messages(&self) -> u64 {
        (self.requests.len() - 1 + self.sent.values().map(Vec::len).sum::<usize>()) as u64
    }
}

/// The drops a connection counts, one per packet: every packet handed to `handle_datagram`
/// lands in exactly one of these (or authenticates as the last fragment of a datagram).
fn drops(c: &ConnectionCounters) -> u64 {
    c.malformed
        + c.unknown_stream
        + c.reassembly.invalid
        + c.reassembly.replays
        + c.reassembly.duplicates
        + c.reassembly.fragments
}

// ---------------------------------------------------------------------------------------------
// 1. Seal once.

/// A lossy, duplicating, reordering run that opens, restarts (with and without UseKeyOf),
/// rekeys and closes streams, and loses handshake datagrams: no (key, nonce) pair is ever
/// sealed twice, and every resent packet repeats its first transmission but for the hints.
//= docs/SPEC.md#seal-once
//= type=test
//# A datagram MUST be sealed exactly once: the sealer allocates n (no interface takes n from a caller), n never repeats within a generation and stays below 2^62, and a retransmission resends the stored octets.
//= docs/SPEC.md#resend-identical
//= type=test
//# Every transmission of packet k of a datagram MUST carry the same frozen prefix, packet index and fragment octets as the first; only the sent and retransmit indexes may differ.
//= docs/SPEC.md#ack-space
//= type=test
//# Acknowledgement-only datagrams of generation g MUST be sealed under the stream key of generation g + 2^32, in their own counter space, with the ACK_ONLY and CONTROL flags
//= docs/SPEC.md#control-flag
//= type=test
//# A datagram with the CONTROL flag MUST carry an empty payload and the FINAL flag, and no ABORT flag.
#[test]
fn seal_once_through_loss_restarts_rekey_and_lost_handshake_datagrams() {
    // At 20 % loss. Besides 101, each of these seeds hung or broke a rule before one of the
    // fixes of this change (see `seal_once_soak` for more).
    for seed in [101, 1, 2, 6, 10, 22, 29, 32] {
        seal_once_run(seed, 200);
    }
}

/// The same over many seeds: `LOSS` per mille (200), `FROM` (1), `COUNT` (40). Known to fail
/// at 300 per mille: the rekey is not confirmed within max(6 PTO, 1 s) (SPEC rekey-derivation,
/// the initiator then closes with RekeyFailed), the handshake does not complete in 60 s, and
/// the handshake seals a ResponderComplete mezzanine twice (see
/// `a_replayed_exchange_after_the_connection_ended_is_not_sealed_again`).
#[test]
#[ignore = "soak: 40 runs of the seal-once scenario"]
fn seal_once_soak() {
    let var =
        |name: &str, default: u64| std::env::var(name).map_or(default, |v| v.parse().unwrap());
    let (loss, from, count) = (var("LOSS", 200) as u32, var("FROM", 1), var("COUNT", 40));
    let mut failed = Vec::new();
    for seed in from..from + count {
        if let Err(e) = std::panic::catch_unwind(|| seal_once_run(seed, loss)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            println!("seed {seed}: {}", msg.chars().take(160).collect::<String>());
            failed.push(seed);
        }
    }
    assert!(
        failed.is_empty(),
        "failed seeds at {loss} per mille: {failed:?}"
    );
}

fn seal_once_run(seed: u64, loss_per_mille: u32) {
    let audit = Arc::new(SealAuditProvider::new(default_provider()));
    let link = LinkConfig {
        latency: ms(15),
        jitter: ms(10),
        loss_per_mille,
        duplicate_per_mille: 50,
        mtu: 1500,
    };
    let mut p = Pair::new(PairConfig {
        seed,
        link,
        provider: Some(audit.clone()),
        ..PairConfig::default()
    })
    .unwrap();
    p.sim.capture();
    // Lose the first InitiatorExchange and the first ResponderComplete: both are resent.
    let lost = Rc::new(Cell::new((0u32, 0u32)));
    let l = lost.clone();
    p.sim.set_tamper(move |pkt, _| {
        let (x, c) = l.get();
        match Datagram::decode(&pkt.bytes) {
            Ok(Datagram::InitiatorExchange(_)) if x == 0 => {
                l.set((1, c));
                Verdict::Drop
            }
            Ok(Datagram::ResponderComplete(_)) if c == 0 => {
                l.set((x, 1));
                Verdict::Drop
            }
            _ => Verdict::Deliver,
        }
    });
    p.establish(60 * SECOND).unwrap();
    assert_eq!(lost.get(), (1, 1));
    let (client, server) = (p.client, p.server);

    let mut load = Load::new(&mut p, b"hello");
    let mut events = Events::new();
    let c = p.client().unwrap();
    let t1 = c.open(StreamKind::Transactional, "echo", vec![]).unwrap();
    let a1 = c.open(StreamKind::Asynchronous, "sink-1", vec![]).unwrap();
    for i in 0..30u64 {
        load.request(c, t1, content(i, 1 + (i as usize * 977) % 12_000));
    }
    for i in 0..10u64 {
        load.push(
            c,
            a1,
            "sink-1",
            content(1000 + i, 500 + (i as usize * 7919) % 30_000),
        );
    }
    for i in 0..5u64 {
        load.request(
            c,
            StreamHandle(0),
            content(2000 + i, 100 + i as usize * 300),
        );
    }
    let mut phase = 0;
    let mut t2 = None;
    let ok = drive(&mut p, &mut events, 600 * SECOND, |p, ev| {
        load.serve(p);
        let now = p.sim.now;
        match phase {
            0 if accepted(ev, client, t1)
                && accepted(ev, client, a1)
                && load.responses.len() >= 8 =>
            {
                let c = p.client().unwrap();
                c.restart(t1, false, None).unwrap();
                c.restart(a1, false, Some(StreamHandle(0))).unwrap();
                phase = 1;
            }
            1 if restarted(ev, client, t1) == 1 && restarted(ev, client, a1) == 1 => {
                let c = p.client().unwrap();
                c.rekey(now).unwrap();
                let s = c.open(StreamKind::Transactional, "echo", vec![]).unwrap();
                for i in 0..20u64 {
                    load.request(c, s, content(3000 + i, 50 + i as usize * 400));
                }
                t2 = Some(s);
                phase = 2;
            }
            2 if rekeyed(ev, client) && rekeyed(ev, server) => {
                let c = p.client().unwrap();
                for i in 0..10u64 {
                    load.request(c, t1, content(4000 + i, 3000 + i as usize * 1000));
                }
                for i in 0..4u64 {
                    load.push(c, a1, "sink-1", content(5000 + i, 20_000));
                }
                c.close_stream(a1, 0, "done").unwrap();
                phase = 3;
            }
            3 if load.complete() => {
                let s = t2.unwrap();
                p.client().unwrap().close_stream(s, 0, "done").unwrap();
                phase = 4;
            }
            4 if closed_by_us(ev, client, a1)
                && t2.is_some_and(|s| closed_by_us(ev, client, s)) =>
            {
                return true;
            }
            _ => {}
        }
        false
    });
    if !ok {
        // What each side still holds: (halves, octets in flight, unacknowledged) per stream.
        for (name, c) in [("client", p.client), ("server", p.server)] {
            let c = p.sim.nodes[c].endpoint.connections().next().map(|(_, c)| {
                c.streams()
                    .filter_map(|(h, _, _)| c.stream_stats(h))
                    .map(|s| (s.halves, s.in_flight, s.unacknowledged))
                    .collect::<Vec<_>>()
            });
            eprintln!("seed {seed} {name}: {c:?}");
        }
    }
    assert!(
        ok,
        "stuck in phase {phase}: {:?}",
        events
            .iter()
            .filter(|(_, e)| !matches!(e, Event::Readable { .. }))
            .collect::<Vec<_>>()
    );
    // Late retransmissions and acknowledgements.
    drive(&mut p, &mut events, 3 * SECOND, |p, _| {
        load.serve(p);
        false
    });
    load.check();
    assert!(
        restarted(&events, client, t1) >= 2,
        "Restart, then the rekey's Restart"
    );

    // No (key, nonce) pair sealed with two digests, and nothing sealed twice.
    let cc = p.client().unwrap().counters();
    let sc = p.server().unwrap().counters();
    let conflicts = audit.conflicts();
    assert!(
        conflicts.is_empty(),
        "{} (key, nonce) reuses",
        conflicts.len()
    );
    assert_eq!(audit.reseals(), 0);
    assert!(audit.seal_count() as u64 >= cc.datagrams_sealed + sc.datagrams_sealed);

    // Every resent packet is its first transmission but for the hints.
    let mut first: HashMap<(Vec<u8>, u64), (Vec<u8>, u64)> = HashMap::new();
    let mut resends = 0u64;
    let mut data_space = HashSet::new();
    let mut ack_space = HashSet::new();
    let mut exchanges = Vec::new();
    let mut completes = Vec::new();
    for (_, pkt) in p.sim.captured() {
        match Datagram::decode(&pkt.bytes) {
            Ok(Datagram::InitiatorExchange(_)) => exchanges.push(pkt.bytes.clone()),
            Ok(Datagram::ResponderComplete(_)) => completes.push(pkt.bytes.clone()),
            _ => {}
        }
        let Some(w) = wire(&pkt.bytes) else {
            continue;
        };
        assert_eq!(w.flags & DatagramFlags::RESERVED, 0);
        if w.flags & CONTROL != 0 {
            assert!(
                w.flags & FINAL != 0 && w.flags & ABORT == 0,
                "flags {:#x}",
                w.flags
            );
        }
        if w.ack_only() {
            assert_eq!(w.flags, ACK_ONLY | CONTROL | FINAL);
            ack_space.insert((w.sid.clone(), w.n));
        } else {
            data_space.insert((w.sid.clone(), w.n));
        }
        match first.entry((w.aad.clone(), w.index)) {
            Entry::Vacant(e) => {
                assert_eq!(w.retransmit, 0, "a first transmission");
                e.insert((w.fragment.clone(), 1));
            }
            Entry::Occupied(mut e) => {
                let (fragment, sends) = e.get_mut();
                assert!(
                    !w.ack_only(),
                    "acknowledgement-only datagrams are never resent"
                );
                assert_eq!(*fragment, w.fragment, "a resent fragment differs");
                assert_eq!(w.retransmit, *sends, "retransmit index: earlier sends");
                *sends += 1;
                resends += 1;
            }
        }
    }
    // The handshake's resends are stored octets too.
    assert!(exchanges.len() >= 2 && completes.len() >= 2);
    assert!(exchanges.iter().all(|x| *x == exchanges[0]));
    assert!(completes.iter().all(|x| *x == completes[0]));
    // The same identifier and counter in both spaces, under different keys (no conflict).
    let shared = data_space.intersection(&ack_space).count();
    assert!(shared > 0);
    let net = p.sim.stats;
    println!(
        "seal audit: {} seals, {} data packets resent ({} + {} by the counters), \
         {} handshake resends, {} (id, n) in both spaces; network lost {} duplicated {}",
        audit.seal_count(),
        resends,
        cc.packets_retransmitted,
        sc.packets_retransmitted,
        exchanges.len() + completes.len() - 2,
        shared,
        net.lost,
        net.duplicated
    );
    assert!(resends > 50 && net.lost > 0 && net.duplicated > 0);
    assert_eq!(resends, cc.packets_retransmitted + sc.packets_retransmitted);
}

// ---------------------------------------------------------------------------------------------
// 2. Untagged fragments.

#[derive(Debug, Default)]
struct Forged {
    fragment: u64,
    count: u64,
    flags: u64,
    hints: u64,
}

/// Forged fragments (other octets, another packet count, other flags) go ahead of the real
/// packets both ways, and the unauthenticated hints of real packets are rewritten: the transfer
/// completes byte-exact, nothing forged is delivered, and the drops are counted.
//= docs/SPEC.md#reassembly-candidates
//= type=test
//# A fragment whose prefix differs from the first one buffered for its n MUST be counted and kept apart (a separate candidate, at most 4 per n, least recently extended replaced first), never mixed in; a fragment at an index already held is ignored. When a candidate's tag fails, every fragment of that candidate MUST be discarded and fresh copies accepted.
//= docs/SPEC.md#sent-index
//= type=test
//# A receiver MUST ignore bit 15 of the sent index, and MUST NOT let the sent or retransmit index change what it delivers.
#[test]
fn forged_fragments_and_hints_are_dropped_and_never_block_the_transfer() {
    let link = LinkConfig {
        latency: ms(15),
        ..LinkConfig::default()
    };
    let mut p = established(PairConfig {
        seed: 202,
        link,
        ..PairConfig::default()
    });
    let forged = Rc::new(RefCell::new(Forged::default()));
    let f = forged.clone();
    p.sim.set_tamper(move |pkt, rng| {
        let Some(w) = wire(&pkt.bytes) else {
            return Verdict::Deliver;
        };
        let mut f = f.borrow_mut();
        let mut out = Vec::new();
        match rng.below(20) {
            0 => {
                let mut x = w.clone();
                x.fragment
                    .iter_mut()
                    .for_each(|b| *b = rng.next_u64() as u8);
                out.push(x.encode());
                f.fragment += 1;
            }
            1 if w.count < 1000 => {
                let mut x = w.clone();
                x.count += 1;
                out.push(x.encode());
                f.count += 1;
            }
            2 => {
                let mut x = w.clone();
                x.flags ^= if rng.chance(500) { FINAL } else { CONTROL };
                out.push(x.encode());
                f.flags += 1;
            }
            _ => {}
        }
        let mut real = w;
        if rng.chance(300) {
            real.sent = rng.next_u64() as u16;
            real.retransmit = rng.below(20_000);
            f.hints += 1;
        }
        out.push(real.encode());
        Verdict::Replace(
            out.into_iter()
                .map(|bytes| Packet {
                    from: pkt.from,
                    to: pkt.to,
                    bytes,
                })
                .collect(),
        )
    });
    let mut load = Load::new(&mut p, b"hello");
    let mut events = Events::new();
    let c = p.client().unwrap();
    let t1 = c.open(StreamKind::Transactional, "echo", vec![]).unwrap();
    let a1 = c.open(StreamKind::Asynchronous, "sink-1", vec![]).unwrap();
    for i in 0..40u64 {
        load.request(c, t1, content(i, 10 + (i as usize * 1231) % 9000));
    }
    for i in 0..10u64 {
        load.push(c, a1, "sink-1", content(100 + i, 15_000 + i as usize));
    }
    for i in 0..10u64 {
        load.request(c, StreamHandle(0), content(200 + i, 40));
    }
    let ok = drive(&mut p, &mut events, 600 * SECOND, |p, _| {
        load.serve(p);
        load.complete()
    });
    assert!(ok, "transfer incomplete");
    load.check();
    let cc = p.client().unwrap().counters();
    let sc = p.server().unwrap().counters();
    let f = forged.borrow();
    println!(
        "forged: {} fragments, {} packet counts, {} flags, {} hint rewrites; \
         server: {:?}; client: {:?}; retransmitted {} + {}",
        f.fragment,
        f.count,
        f.flags,
        f.hints,
        sc.reassembly,
        cc.reassembly,
        cc.packets_retransmitted,
        sc.packets_retransmitted
    );
    assert!(f.fragment > 10 && f.count > 10 && f.flags > 10 && f.hints > 100);
    // Nothing forged was delivered: exactly the messages sent, each once.
    assert_eq!(sc.messages_delivered, load.client_messages());
    assert_eq!(cc.messages_delivered, load.requests.len() as u64);
    assert!(sc.datagrams_authenticated <= cc.datagrams_sealed);
    assert!(cc.datagrams_authenticated <= sc.datagrams_sealed);
    assert_eq!(sc.violations + cc.violations, 0);
    for c in [&sc, &cc] {
        // Forged fragments with the genuine prefix poisoned their candidate (a tag failure,
        // then fresh copies were accepted); the others were kept apart.
        assert!(c.reassembly.tag_failures > 0);
        assert!(c.reassembly.inconsistent_fragments > 0);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Key and nonce separation.

/// After a run with several streams, every captured data packet is reflected to its sender
/// (as is, and under each identifier the sender issued, with either message type) and replayed
/// to its receiver on every other stream: nothing authenticates, nothing is delivered, and every
/// packet is counted as a drop.
//= docs/SPEC.md#stream-generation
//= type=test
//# Both directions of a stream use the same generation, each under its own direction's traffic secret
#[test]
fn captured_datagrams_reflected_or_replayed_on_other_streams_never_authenticate() {
    let mut p = established(PairConfig {
        seed: 303,
        link: lossless(),
        ..PairConfig::default()
    });
    p.sim.capture();
    let (ca, sa) = (p.client_addr, p.server_addr);
    let mut load = Load::new(&mut p, b"hello");
    let mut events = Events::new();
    let c = p.client().unwrap();
    let t1 = c.open(StreamKind::Transactional, "echo", vec![]).unwrap();
    let a1 = c.open(StreamKind::Asynchronous, "sink-1", vec![]).unwrap();
    let t2 = c.open(StreamKind::Transactional, "echo", vec![]).unwrap();
    // Very different datagram counts per stream, so replays land on fresh counters too.
    for i in 0..60u64 {
        load.request(c, t1, content(i, 20 + i as usize));
    }
    for i in 0..8u64 {
        load.push(c, a1, "sink-1", content(100 + i, 20_000));
    }
    load.request(c, t2, b"one".to_vec());
    for i in 0..3u64 {
        load.request(c, StreamHandle(0), content(200 + i, 3000));
    }
    assert!(drive(&mut p, &mut events, 60 * SECOND, |p, _| {
        load.serve(p);
        load.complete()
    }));
    drive(&mut p, &mut events, SECOND, |p, _| {
        load.serve(p);
        false
    });
    load.check();

    let c2s = first_transmissions(&captured_from(&p.sim, ca));
    let s2c = first_transmissions(&captured_from(&p.sim, sa));
    // The identifiers each side issued, as the other side uses them.
    let server_ids: BTreeSet<Vec<u8>> = c2s.iter().map(|w| w.sid.clone()).collect();
    let client_ids: BTreeSet<Vec<u8>> = s2c.iter().map(|w| w.sid.clone()).collect();
    assert!(server_ids.len() >= 4 && client_ids.len() >= 4);

    // Everything a forger can build from the capture.
    let attack =
        |packets: &[Wire], sender_ids: &BTreeSet<Vec<u8>>, receiver_ids: &BTreeSet<Vec<u8>>| {
            let mut to_sender = Vec::new();
            let mut to_receiver = Vec::new();
            for w in packets {
                to_sender.push(w.bytes.clone());
                let flipped = MessageType(w.msg_type.0 ^ 0x80);
                for id in sender_ids {
                    for t in [w.msg_type, flipped] {
                        let mut x = w.clone();
                        x.sid = id.clone();
                        x.msg_type = t;
                        to_sender.push(x.encode());
                    }
                }
                for id in receiver_ids.iter().filter(|id| **id != w.sid) {
                    let mut x = w.clone();
                    x.sid = id.clone();
                    to_receiver.push(x.encode());
                }
            }
            (to_sender, to_receiver)
        };
    let (c2s_reflected, c2s_moved) = attack(&c2s, &client_ids, &server_ids);
    let (s2c_reflected, s2c_moved) = attack(&s2c, &server_ids, &client_ids);
    let to_client: Vec<Vec<u8>> = c2s_reflected.into_iter().chain(s2c_moved).collect();
    let to_server: Vec<Vec<u8>> = s2c_reflected.into_iter().chain(c2s_moved).collect();

    let now = p.sim.now;
    for (name, conn, from, packets) in [
        ("client", p.client, sa, &to_client),
        ("server", p.server, ca, &to_server),
    ] {
        let conn = if conn == p.client {
            p.client().unwrap()
        } else {
            p.server().unwrap()
        };
        let before = conn.counters();
        for b in packets {
            conn.handle_datagram(now, from, b);
        }
        let after = conn.counters();
        let d = |f: fn(&ConnectionCounters) -> u64| f(&after) - f(&before);
        println!(
            "{name}: {} forged packets: {} unknown identifier, {} invalid (type), {} replays, \
             {} fragments buffered, {} tag failures, {} authenticated",
            packets.len(),
            d(|c| c.unknown_stream),
            d(|c| c.reassembly.invalid),
            d(|c| c.reassembly.replays),
            d(|c| c.reassembly.fragments),
            d(|c| c.reassembly.tag_failures),
            d(|c| c.datagrams_authenticated),
        );
        assert_eq!(
            after.datagrams_authenticated,
            before.datagrams_authenticated
        );
        assert_eq!(after.reassembly.delivered, before.reassembly.delivered);
        assert_eq!(after.messages_delivered, before.messages_delivered);
        assert_eq!(after.violations, 0);
        assert_eq!(d(|c| c.packets_received), packets.len() as u64);
        assert_eq!(
            drops(&after) - drops(&before),
            packets.len() as u64,
            "every packet counted"
        );
        assert!(d(|c| c.unknown_stream) > 0);
        assert!(d(|c| c.reassembly.invalid) > 0);
        assert!(
            d(|c| c.reassembly.tag_failures) > 10,
            "fresh counters reached the AEAD"
        );
        assert!(!conn.is_closed());
    }
    // The connection still carries messages.
    let c = p.client().unwrap();
    load.request(c, t1, b"still there".to_vec());
    assert!(drive(&mut p, &mut events, 10 * SECOND, |p, _| {
        load.serve(p);
        load.complete()
    }));
    load.check();
    assert!(!events.iter().any(|(_, e)| matches!(e, Event::Closed(_))));
}

// ---------------------------------------------------------------------------------------------
// 4. Associated data and encodings.

/// Holds back the first packet `pick` chooses among those leaving `from`.
fn hold(
    p: &mut Pair,
    from: SocketAddr,
    pick: impl Fn(&Wire) -> bool + 'static,
) -> Rc<RefCell<Option<Vec<u8>>>> {
    let held = Rc::new(RefCell::new(None));
    let h = held.clone();
    p.sim.set_tamper(move |pkt, _| {
        if h.borrow().is_none() && pkt.from == from && wire(&pkt.bytes).is_some_and(|w| pick(&w)) {
            *h.borrow_mut() = Some(pkt.bytes.clone());
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    held
}

/// The AAD is the frozen prefix as received: the same prefix with a non-minimal nonce fails the
/// tag, reserved flags drop the datagram, and replayed packets are never delivered twice.
//= docs/SPEC.md#aad-received-bytes
//= type=test
//# A receiver MUST authenticate the octets it received, never a re-encoding of them.
//= docs/SPEC.md#flags-reserved
//= type=test
//# receivers MUST drop a datagram with any of them set
//= docs/SPEC.md#reassembly-release
//= type=test
//# A receiver MUST drop a packet whose n the anti-replay window reports as accepted or too old before buffering it
#[test]
fn non_minimal_prefix_fails_reserved_flags_drop_and_replays_deliver_once() {
    let mut p = established(PairConfig {
        seed: 404,
        link: lossless(),
        ..PairConfig::default()
    });
    p.sim.capture();
    let (ca, sa) = (p.client_addr, p.server_addr);
    let held = hold(&mut p, ca, |w| {
        !w.ack_only() && w.count == 1 && w.flags == FINAL && w.n >= 1
    });
    let mut load = Load::new(&mut p, b"hello");
    let mut events = Events::new();
    let c = p.client().unwrap();
    for i in 0..5u64 {
        load.request(c, StreamHandle(0), content(i, 200));
    }
    assert!(drive(&mut p, &mut events, 5 * SECOND, |_, _| held
        .borrow()
        .is_some()));
    p.sim.clear_tamper();
    let genuine = held.borrow().clone().unwrap();
    let w = wire(&genuine).unwrap();
    let rest = &genuine[w.aad.len()..];

    // The frozen prefix again, with the nonce on 8 octets: the same values.
    let mut forged = Vec::new();
    StreamId(&w.sid).encode(&mut forged, "sid").unwrap();
    forged.push(w.msg_type.0);
    varint::write_with_len(&mut forged, w.n, 8);
    varint::write(&mut forged, w.count, "count").unwrap();
    forged.push(w.flags);
    forged.extend_from_slice(rest);
    let fw = wire(&forged).unwrap();
    assert_eq!(
        (fw.n, fw.count, fw.flags, fw.index),
        (w.n, w.count, w.flags, w.index)
    );
    assert_eq!(
        (fw.sid.as_slice(), fw.fragment.as_slice()),
        (w.sid.as_slice(), w.fragment.as_slice())
    );
    assert_ne!(fw.aad, w.aad);

    let mut reserved = genuine.clone();
    reserved[w.aad.len() - 1] |= 0x10;

    let now = p.sim.now;
    let srv = p.server().unwrap();
    let c0 = srv.counters();
    srv.handle_datagram(now, ca, &forged);
    let c1 = srv.counters();
    assert_eq!(
        c1.reassembly.tag_failures,
        c0.reassembly.tag_failures + 1,
        "non-minimal nonce"
    );
    assert_eq!(c1.datagrams_authenticated, c0.datagrams_authenticated);
    srv.handle_datagram(now, ca, &reserved);
    let c2 = srv.counters();
    assert_eq!(
        c2.reassembly.invalid,
        c1.reassembly.invalid + 1,
        "reserved flag bit"
    );
    assert_eq!(c2.datagrams_authenticated, c1.datagrams_authenticated);
    // The genuine packet, after both: it authenticates (fresh copies are accepted), once.
    srv.handle_datagram(now, ca, &genuine);
    let c3 = srv.counters();
    assert_eq!(c3.datagrams_authenticated, c2.datagrams_authenticated + 1);
    srv.handle_datagram(now, ca, &genuine);
    let c4 = srv.counters();
    assert_eq!(c4.datagrams_authenticated, c3.datagrams_authenticated);
    assert_eq!(c4.reassembly.replays, c3.reassembly.replays + 1);

    assert!(drive(&mut p, &mut events, 10 * SECOND, |p, _| {
        load.serve(p);
        load.complete()
    }));
    drive(&mut p, &mut events, SECOND, |p, _| {
        load.serve(p);
        false
    });
    load.check();

    // Every data packet the client ever sent, again, through the network.
    let before = p.server().unwrap().counters();
    let reads = load.server_reads;
    let replayed: Vec<Wire> = captured_from(&p.sim, ca)
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    for w in &replayed {
        p.sim.inject(Packet {
            from: ca,
            to: sa,
            bytes: w.bytes.clone(),
        });
    }
    drive(&mut p, &mut events, 3 * SECOND, |p, _| {
        load.serve(p);
        false
    });
    let after = p.server().unwrap().counters();
    println!(
        "replayed {} packets: {} replays counted, {} authenticated, {} delivered",
        replayed.len(),
        after.reassembly.replays - before.reassembly.replays,
        after.datagrams_authenticated - before.datagrams_authenticated,
        after.messages_delivered - before.messages_delivered
    );
    assert_eq!(load.server_reads, reads, "a replay reached the application");
    assert_eq!(after.messages_delivered, before.messages_delivered);
    // The client sent nothing new meanwhile: nothing authenticated, every replay was counted.
    assert_eq!(
        after.datagrams_authenticated,
        before.datagrams_authenticated
    );
    assert_eq!(
        after.reassembly.replays - before.reassembly.replays,
        replayed.len() as u64
    );
    load.check();
}

// ---------------------------------------------------------------------------------------------
// 5. One-time identifiers.

/// With one-time identifiers on both sides a transfer completes, nearly every datagram carries
/// an identifier of its own, and identifiers nobody issued are dropped after one AES block
/// decryption, before any key derivation or AEAD.
//= docs/SPEC.md#stream-identifiers
//= type=test
//# A receiver MUST drop a packet whose stream identifier it did not issue, or whose one-time counter is above the highest it issued, before any key derivation.
#[test]
fn one_time_identifiers_are_distinct_and_unknown_ones_cost_no_key_derivation() {
    let provider = Arc::new(CountingProvider::new(default_provider()));
    let counts = provider.clone();
    let link = LinkConfig {
        latency: ms(15),
        jitter: ms(5),
        loss_per_mille: 50,
        duplicate_per_mille: 20,
        mtu: 1500,
    };
    let mut p = established(PairConfig {
        seed: 505,
        link,
        provider: Some(provider),
        connection: ConnectionConfig {
            one_time_ids: 4,
            ..ConnectionConfig::default()
        },
        ..PairConfig::default()
    });
    p.sim.capture();
    let (ca, sa) = (p.client_addr, p.server_addr);
    let mut load = Load::new(&mut p, b"hello");
    let mut events = Events::new();
    let c = p.client().unwrap();
    let t1 = c.open(StreamKind::Transactional, "echo", vec![]).unwrap();
    let t2 = c.open(StreamKind::Transactional, "echo", vec![]).unwrap();
    // Request, response, next request, on three streams at once: every response issues the
    // identifiers that replace those the client used (a burst larger than the identifiers
    // ahead falls back to the canonical identifier until the next ones arrive).
    let streams = [StreamHandle(0), t1, t2];
    let mut sent = [0u64; 3];
    assert!(drive(&mut p, &mut events, 120 * SECOND, |p, _| {
        load.serve(p);
        for (k, &s) in streams.iter().enumerate() {
            let answered = load.responses.keys().filter(|(h, _)| *h == s).count() as u64;
            let asked = load.requests.keys().filter(|(h, _)| *h == s).count() as u64;
            if answered == asked && sent[k] < 40 {
                let body = content(
                    100 * k as u64 + sent[k],
                    30 + (sent[k] as usize * 331) % 5000,
                );
                load.request(p.client().unwrap(), s, body);
                sent[k] += 1;
            }
        }
        load.complete() && sent.iter().all(|&n| n == 40)
    }));
    load.check();

    for (name, from) in [("client", ca), ("server", sa)] {
        let packets = captured_from(&p.sim, from);
        // One entry per datagram (its frozen prefix), with the identifier it used.
        let datagrams: BTreeMap<Vec<u8>, Vec<u8>> = packets
            .iter()
            .map(|(_, w)| (w.aad.clone(), w.sid.clone()))
            .collect();
        let mut uses: HashMap<&[u8], usize> = HashMap::new();
        for sid in datagrams.values() {
            *uses.entry(sid.as_slice()).or_default() += 1;
        }
        let one_time = datagrams.values().filter(|s| s.len() == 16).count();
        let reused = uses
            .values()
            .filter(|&&n| n > 1)
            .map(|n| n - 1)
            .sum::<usize>();
        println!(
            "{name}: {} datagrams, {} distinct identifiers, {one_time} of 16 octets, {reused} reuses",
            datagrams.len(),
            uses.len()
        );
        assert!(datagrams.len() > 100);
        // Nearly all distinct: an identifier repeats only when the issuer had none ahead.
        assert!(uses.len() * 10 >= datagrams.len() * 9, "identifiers repeat");
    }

    // Identifiers nobody issued: dropped before any key derivation.
    let w = captured_from(&p.sim, ca)
        .into_iter()
        .map(|(_, w)| w)
        .rfind(|w| w.sid.len() == 16 && !w.ack_only() && w.count == 1)
        .unwrap();
    let mut random = w.clone();
    random.sid = content(7, 16);
    let mut garbled = w.clone();
    garbled.sid[5] ^= 0x01;
    // 17 octets: not even a datagram (the encoder refuses it, so by hand).
    let mut longer = vec![17u8];
    longer.extend_from_slice(&w.sid);
    longer.push(0);
    longer.extend_from_slice(&w.bytes[1 + w.sid.len()..]);
    let now = p.sim.now;
    let srv = p.server().unwrap();
    for (what, x) in [
        ("random", random.encode()),
        ("garbled", garbled.encode()),
        ("17 octets", longer),
    ] {
        let b = srv.counters();
        let k = counts.symmetric_counts();
        srv.handle_datagram(now, ca, &x);
        let a = srv.counters();
        let k2 = counts.symmetric_counts();
        assert_eq!(
            a.unknown_stream + a.malformed,
            b.unknown_stream + b.malformed + 1,
            "{what}"
        );
        assert_eq!(drops(&a), drops(&b) + 1);
        let blocks = k2.decrypt_blocks - k.decrypt_blocks;
        assert_eq!(
            SymmetricCounts {
                decrypt_blocks: k.decrypt_blocks,
                ..k2
            },
            k,
            "{what}: key derivation or AEAD work"
        );
        assert!(blocks <= 1, "{what}: one AES block at most");
        println!("{what} identifier: dropped after {blocks} AES block decryption(s)");
    }
    // The genuine identifier of the same packet reaches the AEAD (so the counts above could move).
    let b = counts.symmetric_counts();
    let mut again = w.clone();
    again.n += 5000;
    srv.handle_datagram(now, ca, &again.encode());
    let a = counts.symmetric_counts();
    assert!(
        a.gcm_open > b.gcm_open || a.encrypt_blocks > b.encrypt_blocks,
        "a routed packet costs key derivation"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Amplification and migration.

/// A replayed packet from a spoofed address moves nothing; an older datagram that authenticates
/// from another address moves nothing either; a real rebinding moves the path, which is
/// validated, and until then the server sends at most three times what it received there.
//= docs/SPEC.md#migration
//= type=test
//# An endpoint MUST move to a new peer address only after a datagram from it authenticated, and only if that datagram is the newest it received on its stream half.
//= docs/SPEC.md#path-validation
//= type=test
//# Until a new path is validated, an endpoint MUST NOT send to it more than three times the octets it received from it. The endpoint sends an ack-eliciting datagram on the new path at once; its authenticated acknowledgement validates the path.
#[test]
fn spoofed_replays_do_not_migrate_and_a_rebinding_is_validated_within_3x() {
    let link = lossless();
    let mut p = established(PairConfig {
        seed: 606,
        link,
        ..PairConfig::default()
    });
    p.sim.capture();
    let (client, server) = (p.client, p.server);
    let (ca, sa) = (p.client_addr, p.server_addr);
    let spoof: SocketAddr = "203.0.113.9:5555".parse().unwrap();
    let older: SocketAddr = "203.0.113.10:6666".parse().unwrap();
    let moved: SocketAddr = "192.0.2.99:41000".parse().unwrap();
    let mut load = Load::new(&mut p, b"hello");
    let mut events = Events::new();

    // A burst of small requests on the first stream; hold back the 5th.
    let n_seen = Rc::new(Cell::new(0));
    let ns = n_seen.clone();
    let held = hold(&mut p, ca, move |w| {
        if w.sid.len() == 8 && !w.ack_only() && w.count == 1 && w.flags == FINAL {
            ns.set(ns.get() + 1);
            ns.get() == 5
        } else {
            false
        }
    });
    let c = p.client().unwrap();
    for i in 0..20u64 {
        load.request(c, StreamHandle(0), content(100 + i, 60));
    }
    // Until a newer datagram of the same half arrived (the held one is missing before it), and
    // before the client resends the held one.
    assert!(drive(&mut p, &mut events, 5 * SECOND, |p, _| {
        load.serve(p);
        held.borrow().is_some()
            && p.server()
                .unwrap()
                .stream_stats(StreamHandle(0))
                .unwrap()
                .out_of_order
                > 0
    }));
    p.sim.clear_tamper();
    let older_packet = held.borrow().clone().unwrap();
    let now = p.sim.now;
    let srv = p.server().unwrap();
    let b = srv.counters();
    srv.handle_datagram(now, older, &older_packet);
    let a = srv.counters();
    assert_eq!(
        a.datagrams_authenticated,
        b.datagrams_authenticated + 1,
        "fresh, authentic"
    );
    assert_eq!(srv.remote_address(), ca, "an older datagram moved the path");

    // A bulk transfer; replays of authenticated packets from a spoofed address meanwhile.
    let c = p.client().unwrap();
    let a1 = c.open(StreamKind::Asynchronous, "sink-1", vec![]).unwrap();
    for i in 0..60u64 {
        load.push(c, a1, "sink-1", content(i, 16_000));
    }
    assert!(drive(&mut p, &mut events, 10 * SECOND, |p, _| {
        load.serve(p);
        load.received.get("sink-1").map_or(0, Vec::len) >= 5
    }));
    let now = p.sim.now;
    let replays: Vec<Vec<u8>> = captured_from(&p.sim, ca)
        .into_iter()
        .filter(|(t, w)| !w.ack_only() && *t + link.latency < now)
        .map(|(_, w)| w.bytes)
        .collect();
    assert!(replays.len() > 20);
    let b = p.server().unwrap().counters();
    for bytes in &replays {
        p.sim.inject(Packet {
            from: spoof,
            to: sa,
            bytes: bytes.clone(),
        });
    }
    drive(&mut p, &mut events, 5 * link.latency, |p, _| {
        load.serve(p);
        false
    });
    let a = p.server().unwrap().counters();
    assert_eq!(p.server().unwrap().remote_address(), ca);
    assert_eq!(
        a.reassembly.replays - b.reassembly.replays,
        replays.len() as u64
    );
    assert!(!saw(&events, server, |e| matches!(
        e,
        Event::PathChanged { .. }
    )));
    assert_eq!(
        sent_to(&p.sim, sa, spoof).len() + sent_to(&p.sim, sa, older).len(),
        0,
        "sent to a spoofed address"
    );

    // A real rebinding, mid-transfer.
    assert!(!load.complete());
    p.sim.rebind(client, moved);
    let rebound_at = p.sim.now;
    let mut validated_at = None;
    assert!(drive(&mut p, &mut events, 120 * SECOND, |p, ev| {
        load.serve(p);
        if validated_at.is_none()
            && saw(
                ev,
                server,
                |e| matches!(e, Event::PathValidated { address } if *address == moved),
            )
        {
            validated_at = Some(p.sim.now);
        }
        load.complete() && validated_at.is_some()
    }));
    load.check();
    let validated_at = validated_at.unwrap();
    let server_events: Vec<&Event> = events
        .iter()
        .filter(|(n, _)| *n == server)
        .map(|(_, e)| e)
        .filter(|e| matches!(e, Event::PathChanged { .. } | Event::PathValidated { .. }))
        .collect();
    assert_eq!(
        server_events,
        vec![
            &Event::PathChanged {
                from: ca,
                to: moved
            },
            &Event::PathValidated { address: moved }
        ]
    );
    assert_eq!(p.server().unwrap().remote_address(), moved);
    let before: Vec<(Duration, Vec<u8>)> = sent_to(&p.sim, sa, moved)
        .into_iter()
        .filter(|(t, _)| *t < validated_at)
        .collect();
    let sent_octets: usize = before.iter().map(|(_, b)| b.len()).sum();
    let received_octets: usize = sent_to(&p.sim, moved, sa)
        .into_iter()
        .filter(|(t, _)| *t + link.latency <= validated_at)
        .map(|(_, b)| b.len())
        .sum();
    println!(
        "migration: validated {:?} after the rebinding; before that the server sent {sent_octets} \
         octets ({} packets) to the new address and received {received_octets}",
        validated_at - rebound_at,
        before.len()
    );
    assert!(
        before
            .iter()
            .any(|(_, b)| wire(b).is_some_and(|w| !w.ack_only())),
        "an ack-eliciting challenge"
    );
    assert!(sent_octets <= 3 * received_octets, "amplification over 3x");
}

/// Packets captured from `from` to `to`, with the time they were sent.
fn sent_to(sim: &Sim, from: SocketAddr, to: SocketAddr) -> Vec<(Duration, Vec<u8>)> {
    sim.captured()
        .iter()
        .filter(|(_, x)| x.from == from && x.to == to)
        .map(|(t, x)| (*t, x.bytes.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 7. Rekey.

fn traffic_lines(log: &MemoryKeyLog) -> Vec<(String, Vec<u8>)> {
    log.entries()
        .into_iter()
        .filter(|e| e.label == labels::TRAFFIC_I2R || e.label == labels::TRAFFIC_R2I)
        .map(|e| (e.label.clone(), e.secret.to_vec()))
        .collect()
}

/// The server-side handle of the stream the client opened for `service`.
fn server_stream(p: &mut Pair, service: &str) -> StreamHandle {
    p.server()
        .unwrap()
        .streams()
        .find(|(_, _, s)| *s == service)
        .map(|(h, _, _)| h)
        .unwrap()
}

/// After `rekey`, both sides report Rekeyed, every open stream of either creator runs on a new
/// generation under epoch 1, the key log holds the new traffic secrets, the old key data is
/// wiped after the grace period, and messages keep flowing. A Restart without KeyExchange keeps
/// the epoch.
//= docs/SPEC.md#rekey-derivation
//= type=test
//# A new stream identifier over the same key data is not a rekey (SECURITY 17).
//= docs/SPEC.md#rekey-all-streams
//= type=test
//# After a connection rekey each endpoint MUST restart every open stream it created with UseKeyOf naming the first stream, so that every stream gets a new generation under the new key data.
//= docs/SPEC.md#rekey-keylog
//= type=test
//# Each new key data MUST be written to the key log, if any, under the connection's context
//= docs/SPEC.md#rekey-wipe
//= type=test
//# Key data no stream half uses MUST be wiped. A half whose messages are all delivered and whose datagrams are all acknowledged is dropped, with its keys, three probe timeouts after it stopped being current.
//= docs/SPEC.md#restart-creator
//= type=test
//# Only the creator of a stream MAY restart it.
#[test]
fn rekey_moves_every_stream_logs_the_secrets_and_wipes_the_old_keys() {
    let keylog = Arc::new(MemoryKeyLog::new());
    let mut p = established(PairConfig {
        seed: 707,
        link: lossless(),
        connection: ConnectionConfig {
            keylog: keylog.clone(),
            ..ConnectionConfig::default()
        },
        keylog: Some(keylog.clone()),
        ..PairConfig::default()
    });
    let (client, server) = (p.client, p.server);
    let handshake_secrets = traffic_lines(&keylog);
    assert_eq!(
        handshake_secrets.len(),
        4,
        "both handshakes log I2R and R2I"
    );
    let context = keylog.entries()[0].context.clone();

    let mut load = Load::new(&mut p, b"hello");
    let mut events = Events::new();
    let c = p.client().unwrap();
    let t1 = c.open(StreamKind::Transactional, "echo-1", vec![]).unwrap();
    let a1 = c.open(StreamKind::Asynchronous, "sink-1", vec![]).unwrap();
    load.request(c, t1, b"before".to_vec());
    load.push(c, a1, "sink-1", b"before".to_vec());
    // A stream the server creates.
    let srv = p.server().unwrap();
    let news = srv.open(StreamKind::Asynchronous, "news", vec![]).unwrap();
    srv.send(news, b"news 0".to_vec()).unwrap();
    let mut news_read: Vec<Vec<u8>> = Vec::new();
    let read_news = |p: &mut Pair, out: &mut Vec<Vec<u8>>| {
        let c = p.client().unwrap();
        let hs: Vec<_> = c
            .streams()
            .filter(|(_, _, s)| *s == "news")
            .map(|(h, _, _)| h)
            .collect();
        for h in hs {
            while let Some(m) = c.read(h) {
                out.push(m.bytes);
            }
        }
    };
    assert!(drive(&mut p, &mut events, 10 * SECOND, |p, _| {
        load.serve(p);
        read_news(p, &mut news_read);
        load.complete() && news_read.len() == 1
    }));
    let server_t1 = server_stream(&mut p, "echo-1");
    assert_eq!(
        p.server().unwrap().restart(server_t1, false, None),
        Err(rud::connection::StreamError::NotCreator)
    );

    // A Restart without KeyExchange: a new generation, the same key data. The client's
    // acknowledgements are lost meanwhile, that of the server's acceptance too.
    let ca = p.client_addr;
    p.sim.set_tamper(move |pkt, _| match wire(&pkt.bytes) {
        Some(w) if pkt.from == ca && w.ack_only() => Verdict::Drop,
        _ => Verdict::Deliver,
    });
    let before = p.client().unwrap().stream_stats(t1).unwrap();
    p.client().unwrap().restart(t1, false, None).unwrap();
    assert!(drive(&mut p, &mut events, 10 * SECOND, |_, ev| {
        saw(ev, client, |e| {
            *e == Event::StreamRestarted {
                stream: t1,
                rekeyed: false,
            }
        })
    }));
    let after = p.client().unwrap().stream_stats(t1).unwrap();
    assert_ne!(after.generation, before.generation);
    assert_eq!((before.epoch, after.epoch), (0, 0));
    assert_eq!(
        traffic_lines(&keylog).len(),
        4,
        "a plain Restart is no rekey"
    );
    // Both ends drop the old generation after the grace period, though the application sends
    // nothing more on the stream and no acknowledgement of the acceptance arrives: the
    // restarter's first datagram on the new generation tells the acceptor that everything it
    // sent on the old one arrived.
    let one_half = |p: &mut Pair| {
        p.client().unwrap().stream_stats(t1).unwrap().halves == 1
            && p.server().unwrap().stream_stats(server_t1).unwrap().halves == 1
    };
    assert!(drive(&mut p, &mut events, 10 * SECOND, |p, _| one_half(p)));
    p.sim.clear_tamper();

    // The rekey.
    let mut handles: Vec<(usize, StreamHandle)> = vec![
        (client, StreamHandle(0)),
        (client, t1),
        (client, a1),
        (server, StreamHandle(0)),
        (server, server_stream(&mut p, "echo-1")),
        (server, server_stream(&mut p, "sink-1")),
        (server, news),
    ];
    let client_news = p
        .client()
        .unwrap()
        .streams()
        .find(|(_, _, s)| *s == "news")
        .map(|(h, _, _)| h)
        .unwrap();
    handles.push((client, client_news));
    let stats = |p: &mut Pair, node: usize, h: StreamHandle| {
        let c = if node == client {
            p.client().unwrap()
        } else {
            p.server().unwrap()
        };
        c.stream_stats(h).unwrap()
    };
    let generations: Vec<u64> = handles
        .iter()
        .map(|&(n, h)| stats(&mut p, n, h).generation)
        .collect();
    let started = p.sim.now;
    p.client().unwrap().rekey(started).unwrap();
    assert_eq!(
        p.server().unwrap().rekey(started),
        Err(rud::connection::StreamError::NotCreator)
    );
    let moved = |p: &mut Pair| {
        handles.iter().all(|&(n, h)| {
            let s = stats(p, n, h);
            s.epoch == 1 && s.accepted
        })
    };
    assert!(drive(&mut p, &mut events, 20 * SECOND, |p, ev| {
        load.serve(p);
        rekeyed(ev, client) && rekeyed(ev, server) && moved(p)
    }));
    let rekeyed_at = p.sim.now;
    for (&(n, h), g) in handles.iter().zip(&generations) {
        let s = stats(&mut p, n, h);
        assert_ne!(
            s.generation, *g,
            "node {n} stream {h:?} kept its generation"
        );
        assert_eq!(s.epoch, 1);
    }
    assert_eq!(p.client().unwrap().epoch(), 1);
    assert_eq!(p.server().unwrap().epoch(), 1);

    // The key log: both sides logged the same new secrets, under the connection's context.
    let lines = traffic_lines(&keylog);
    assert_eq!(lines.len(), 8);
    let new: Vec<_> = lines[4..].to_vec();
    for (label, secret) in &new {
        assert!(
            !handshake_secrets.iter().any(|(_, s)| s == secret),
            "{label} not new"
        );
        assert_eq!(
            new.iter()
                .filter(|(l, s)| l == label && s == secret)
                .count(),
            2
        );
    }
    assert_eq!(
        new.iter().map(|(l, _)| l.as_str()).collect::<BTreeSet<_>>(),
        [labels::TRAFFIC_I2R, labels::TRAFFIC_R2I]
            .into_iter()
            .collect()
    );
    assert!(keylog.entries()[4..].iter().all(|e| e.context == context));

    // Old key data is wiped after the grace period.
    let wiped = |p: &mut Pair| {
        p.client().unwrap().key_epochs() == [1] && p.server().unwrap().key_epochs() == [1]
    };
    assert!(
        drive(&mut p, &mut events, 20 * SECOND, |p, _| {
            load.serve(p);
            wiped(p)
        }),
        "still holding key data of epochs {:?} / {:?}",
        p.client().unwrap().key_epochs(),
        p.server().unwrap().key_epochs()
    );
    println!(
        "rekey: confirmed and every stream moved {:?} after the start; epoch 0 wiped {:?} later",
        rekeyed_at - started,
        p.sim.now - rekeyed_at
    );
    assert!(p.sim.now - rekeyed_at < 5 * SECOND);

    // Transfers continue, and a plain Restart now keeps epoch 1.
    let c = p.client().unwrap();
    for i in 0..10u64 {
        load.request(c, t1, content(i, 3000));
        load.push(c, a1, "sink-1", content(100 + i, 9000));
        load.request(c, StreamHandle(0), content(200 + i, 10));
    }
    c.restart(a1, false, None).unwrap();
    p.server().unwrap().send(news, b"news 1".to_vec()).unwrap();
    assert!(drive(&mut p, &mut events, 20 * SECOND, |p, ev| {
        load.serve(p);
        read_news(p, &mut news_read);
        load.complete() && news_read.len() == 2 && restarted(ev, client, a1) >= 2
    }));
    load.check();
    assert_eq!(news_read, vec![b"news 0".to_vec(), b"news 1".to_vec()]);
    assert_eq!(p.client().unwrap().stream_stats(a1).unwrap().epoch, 1);
    assert_eq!(traffic_lines(&keylog).len(), 8);
    assert!(!events.iter().any(|(_, e)| matches!(e, Event::Closed(_))));
}

// ---------------------------------------------------------------------------------------------
// 8. Tickets.

struct TicketRun {
    client_events: Vec<Event>,
    host_events: Vec<Event>,
    /// What the host's application read: (service, message).
    host_read: Vec<(String, Vec<u8>)>,
    client_read: Vec<Vec<u8>>,
    host_counters: ConnectionCounters,
}

/// An initiator redeems a ticket issued by host A at a host that has the service's ticket keys
/// and host B's identity, and holds B's device key (`genuine`) or another one. The initiator
/// pins B's device key for the connection rekey the ticket owes.
fn ticket_run(genuine: bool) -> TicketRun {
    let t0 = SIM_EPOCH;
    let provider = default_provider();
    let mut rng = SeededEntropy::new(b"connection security tickets");
    let i_key = X448Secret::generate(|b| rng.fill(b));
    let a_key = X448Secret::generate(|b| rng.fill(b));
    let b_key = X448Secret::generate(|b| rng.fill(b));
    let other_key = X448Secret::generate(|b| rng.fill(b));
    let keys = || TicketKeys {
        current: (1, SecretBytes::new([7u8; 64])),
        previous: None,
    };
    let c_addr: SocketAddr = "192.0.2.1:40000".parse().unwrap();
    let a_addr: SocketAddr = "198.51.100.7:21077".parse().unwrap();
    let b_addr: SocketAddr = "198.51.100.8:21077".parse().unwrap();

    // Host A issues a ticket for host B at the end of an ordinary handshake.
    let mut a_cfg = ResponderConfig::new(provider.clone(), a_key);
    a_cfg.ticket_keys = Some(keys());
    a_cfg.host_id = b"host-a".to_vec();
    let mut host_a = Responder::new(a_cfg, t0 - 60 * SECOND).unwrap();
    let mut icfg = InitiatorConfig::new(provider.clone(), i_key);
    icfg.responder_key = host_a.public_key().cloned();
    let mut ini = Initiator::immediate(icfg.clone(), &mut rng, t0, a_addr, b"hi").unwrap();
    let x = ini.poll_transmit().unwrap();
    let ResponderOutcome::Established {
        session: a_session,
        reply,
    } = host_a.handle_datagram(t0, c_addr, &x.bytes, &mut rng)
    else {
        panic!("host A refused")
    };
    ini.handle_datagram(t0, a_addr, &reply.unwrap().bytes)
        .unwrap();
    let i_session = loop {
        match ini.poll_event().expect("an event") {
            InitiatorEvent::Established(s) => break *s,
            InitiatorEvent::Failed(e) => panic!("{e}"),
            _ => {}
        }
    };
    let ticket = host_a
        .issue_ticket(&a_session, t0, 3600 * SECOND, b"host-b", &mut rng)
        .unwrap();
    let psk = ticket_psk(&*provider, &i_session.secrets.resumption, &ticket).unwrap();
    let issuer = i_session.responder_credential;

    // The host the ticket is redeemed at.
    let device = if genuine { b_key.clone() } else { other_key };
    let mut h_cfg = ResponderConfig::new(provider.clone(), device.clone());
    h_cfg.ticket_keys = Some(keys());
    h_cfg.host_id = b"host-b".to_vec();
    let responder = Endpoint::responder(h_cfg, t0 - 60 * SECOND).unwrap();
    let host = Endpoint::new(
        EndpointConfig {
            connection: ConnectionConfig {
                device_keys: vec![device],
                ..ConnectionConfig::default()
            },
            ..EndpointConfig::default()
        },
        provider.clone(),
        Some(responder),
        Box::new(SeededEntropy::new(b"host")),
    );
    let mut client = Endpoint::new(
        EndpointConfig {
            connection: ConnectionConfig {
                peer_device_key: Some(b_key.public_key(&*provider)),
                ..ConnectionConfig::default()
            },
            ..EndpointConfig::default()
        },
        provider.clone(),
        None,
        Box::new(SeededEntropy::new(b"client")),
    );
    let cid = client
        .connect(|rng| {
            Initiator::with_ticket(
                icfg,
                rng,
                t0,
                b_addr,
                &ticket,
                issuer,
                psk,
                b"ticket request",
            )
        })
        .unwrap();
    let mut sim = Sim::new(9, lossless(), t0);
    let ci = sim.add(c_addr, client);
    let hi = sim.add(b_addr, host);

    let mut run = TicketRun {
        client_events: Vec::new(),
        host_events: Vec::new(),
        host_read: Vec::new(),
        client_read: Vec::new(),
        host_counters: ConnectionCounters::default(),
    };
    let mut host_conn: Option<ConnectionId> = None;
    let mut client_up = false;
    let mut sent = false;
    let deadline = t0 + 20 * SECOND;
    let mut steps = 0u32;
    while sim.step(deadline) {
        steps += 1;
        assert!(steps < 100_000, "livelock at {:?}", sim.now);
        for (node, id, e) in sim.take_events() {
            match e {
                EndpointEvent::Connected { .. } if node == hi => host_conn = Some(id),
                EndpointEvent::Connected { .. } => client_up = true,
                EndpointEvent::HandshakeFailed(e) => panic!("{e}"),
                EndpointEvent::Connection(e) if node == ci => run.client_events.push(e),
                EndpointEvent::Connection(e) => run.host_events.push(e),
                _ => {}
            }
        }
        // The client's application: right after the handshake, so after the rekey started.
        if client_up
            && !sent
            && let Some(c) = sim.nodes[ci].endpoint.connection(cid)
        {
            assert!(c.rekey_owed(), "the ticket's rekey is owed");
            c.send(
                StreamHandle(0),
                b"request 1: after the rekey started".to_vec(),
            )
            .unwrap();
            let s = c.open(StreamKind::Asynchronous, "sink", vec![]).unwrap();
            c.send(s, b"a new stream: after the rekey started".to_vec())
                .unwrap();
            sent = true;
        }
        if let Some(c) = sim.nodes[ci].endpoint.connection(cid) {
            while let Some(m) = c.read(StreamHandle(0)) {
                run.client_read.push(m.bytes);
            }
        }
        // The host's application: echo on the first stream, read everything.
        if let Some(h) = host_conn
            && let Some(c) = sim.nodes[hi].endpoint.connection(h)
        {
            let streams: Vec<_> = c.streams().map(|(h, _, s)| (h, s.to_owned())).collect();
            for (s, svc) in streams {
                while let Some(m) = c.read(s) {
                    if s == StreamHandle(0) {
                        let _ = c.respond(s, m.id, m.bytes.clone());
                    }
                    run.host_read.push((svc.clone(), m.bytes));
                }
            }
            run.host_counters = c.counters();
        }
        let done = if genuine {
            run.client_read.len() == 2 && run.host_read.len() == 3
        } else {
            run.client_events
                .iter()
                .any(|e| matches!(e, Event::Closed(_)))
        };
        if done {
            break;
        }
    }
    run
}

/// A ticketed connection rekeys at once, mixing the host's device key: at the genuine host the
/// rekey completes and the connection carries messages; at a host that has the ticket keys but
/// not the device key, the initiator closes with RekeyFailed and nothing it sent after the
/// rekey started reaches that host's application.
//= docs/SPEC.md#ticket-rekey-owed
//= type=test
//# A ticketed connection MUST be marked as owing a forward-secrecy rekey (rdp-00 4.3) that mixes the host's device key, so that a party holding the ticket keys but not the host's device key cannot keep a connection going past the rekey
//= docs/SPEC.md#rekey-derivation
//= type=test
//# The new key data MUST be derived from the rekey secret of the key data being replaced, the fresh ephemeral-ephemeral DH output and, in a connection rekey, the DH of the initiator's fresh ephemeral with the responder's device key (es').
#[test]
fn ticketed_connection_rekeys_only_with_the_pinned_device_key() {
    let a = ticket_run(true);
    assert!(
        a.client_events.contains(&Event::Rekeyed { epoch: 1 }),
        "{:?}",
        a.client_events
    );
    assert!(a.host_events.contains(&Event::Rekeyed { epoch: 1 }));
    assert!(
        !a.client_events
            .iter()
            .any(|e| matches!(e, Event::Closed(_)))
    );
    let read: Vec<(&str, &[u8])> = a
        .host_read
        .iter()
        .map(|(s, m)| (s.as_str(), m.as_slice()))
        .collect();
    assert!(read.contains(&("sink", &b"a new stream: after the rekey started"[..])));
    assert!(read.contains(&(read[0].0, &b"request 1: after the rekey started"[..])));
    assert_eq!(read[0].1, b"ticket request");
    assert_eq!(
        a.client_read,
        vec![
            b"ticket request".to_vec(),
            b"request 1: after the rekey started".to_vec()
        ]
    );

    let b = ticket_run(false);
    println!(
        "host without the device key: client events {:?}; host read {} message(s); host counters {:?}",
        b.client_events,
        b.host_read.len(),
        b.host_counters.reassembly
    );
    assert_eq!(
        b.client_events.last(),
        Some(&Event::Closed(CloseReason::RekeyFailed))
    );
    assert!(!b.client_events.contains(&Event::Rekeyed { epoch: 1 }));
    // Only the ticket's early data (sent before the rekey) reached the application.
    let host_read: Vec<&[u8]> = b.host_read.iter().map(|(_, m)| m.as_slice()).collect();
    assert_eq!(host_read, vec![&b"ticket request"[..]]);
    assert!(
        b.host_counters.reassembly.tag_failures > 0,
        "it could not open the new keys"
    );
}

/// A stream's Close whose acknowledgement is lost: once, and the peer, which keeps the closed
/// stream a while, acknowledges the resent Close; for long, and the peer forgets the stream,
/// yet the closer reports it closed (nothing but control datagrams was left unacknowledged)
/// and the connection carries on.
#[test]
fn a_close_whose_acknowledgement_is_lost_still_completes() {
    let mut p = established(PairConfig {
        seed: 808,
        link: lossless(),
        ..PairConfig::default()
    });
    let (client, sa) = (p.client, p.server_addr);
    let mut load = Load::new(&mut p, b"hello");
    let mut events = Events::new();
    for (round, lose) in [(0u64, 1u32), (1, u32::MAX)] {
        let service = format!("sink-{round}");
        let c = p.client().unwrap();
        let s = c.open(StreamKind::Asynchronous, &service, vec![]).unwrap();
        load.push(c, s, &service, content(round, 3000));
        assert!(drive(&mut p, &mut events, 5 * SECOND, |p, ev| {
            load.serve(p);
            load.complete() && accepted(ev, client, s)
        }));
        // The next `lose` acknowledgements from the server are lost (for at most 2 s).
        let dropped = Rc::new(Cell::new(0u32));
        let d = dropped.clone();
        p.sim.set_tamper(move |pkt, _| match wire(&pkt.bytes) {
            Some(w) if pkt.from == sa && w.ack_only() && d.get() < lose => {
                d.set(d.get() + 1);
                Verdict::Drop
            }
            _ => Verdict::Deliver,
        });
        p.client().unwrap().close_stream(s, 0, "done").unwrap();
        let until = p.sim.now + 2 * SECOND;
        let closed = drive(&mut p, &mut events, 2 * SECOND, |p, ev| {
            load.serve(p);
            closed_by_us(ev, client, s) || p.sim.now >= until
        });
        p.sim.clear_tamper();
        let unknown = p.server().unwrap().counters().unknown_stream;
        println!(
            "round {round}: {} acknowledgements lost, closed {closed}, {unknown} packets for a \
             stream the server had forgotten",
            dropped.get()
        );
        assert!(dropped.get() > 0);
        assert!(
            closed_by_us(&events, client, s),
            "round {round}: the Close never completed"
        );
        if round == 0 {
            assert_eq!(unknown, 0, "the server forgot the closed stream at once");
        }
    }
    // The connection carries on.
    let c = p.client().unwrap();
    load.request(c, StreamHandle(0), b"after".to_vec());
    assert!(drive(&mut p, &mut events, 5 * SECOND, |p, _| {
        load.serve(p);
        load.complete()
    }));
    load.check();
}

// ---------------------------------------------------------------------------------------------
// A finding outside the connection layer.

/// The responder answers an InitiatorExchange once per connection (SPEC exchange-reply-cache),
/// but only while it holds that connection: once it is gone, the same Exchange (retransmitted
/// late, or replayed by anyone who saw it) runs the key exchange again, and the second
/// ResponderComplete's mezzanine is sealed under the same key (it depends only on the
/// initiator's side of the transcript) and the same zero nonce as the first, with another
/// plaintext (a new ephemeral and identifier): AES-GCM with a repeated (key, nonce).
/// Ignored until the handshake remembers accepted Exchange ephemerals (as it does for
/// Complete, SPEC complete-replay) or refuses Exchanges outside the early-data window.
//= docs/SPEC.md#exchange-replay
//= type=test
//# A responder MUST NOT complete the same InitiatorExchange twice
#[test]
fn a_replayed_exchange_after_the_connection_ended_is_not_sealed_again() {
    let audit = Arc::new(SealAuditProvider::new(default_provider()));
    let mut p = Pair::new(PairConfig {
        seed: 111,
        link: lossless(),
        provider: Some(audit.clone()),
        ..PairConfig::default()
    })
    .unwrap();
    p.sim.capture();
    p.establish(10 * SECOND).unwrap();
    let (ca, sa) = (p.client_addr, p.server_addr);
    let exchange = p
        .sim
        .captured()
        .iter()
        .find(|(_, x)| {
            matches!(
                Datagram::decode(&x.bytes),
                Ok(Datagram::InitiatorExchange(_))
            )
        })
        .map(|(_, x)| x.bytes.clone())
        .unwrap();
    let now = p.sim.now;
    p.client().unwrap().close(now, 0, "done");
    let mut events = Events::new();
    drive(&mut p, &mut events, 5 * SECOND, |p, _| {
        p.sim.nodes[p.server].endpoint.is_empty()
    });
    assert!(
        p.sim.nodes[p.server].endpoint.is_empty(),
        "the server forgot the connection"
    );
    p.sim.inject(Packet {
        from: ca,
        to: sa,
        bytes: exchange,
    });
    drive(&mut p, &mut events, SECOND, |_, _| false);
    assert!(audit.conflicts().is_empty(), "a (key, nonce) sealed twice");
}

// ---------------------------------------------------------------------------------------------
// 9. The send window.

/// One datagram of the first stream is lost again and again while a thousand more follow: the
/// sender never seals a counter 1024 or more above it, and once it gets through, everything is
/// delivered in order.
//= docs/SPEC.md#send-window
//= type=test
//# A sender MUST NOT seal a datagram whose counter is 1024 or more above the oldest datagram of the same stream half it has not seen acknowledged
#[test]
fn the_sender_stays_within_the_receivers_replay_window_of_its_oldest_unacknowledged_datagram() {
    let mut p = established(PairConfig {
        seed: 909,
        link: LinkConfig {
            latency: ms(5),
            ..LinkConfig::default()
        },
        ..PairConfig::default()
    });
    p.sim.capture();
    let ca = p.client_addr;
    // Drop every transmission of datagram 5 of the client's first stream for three seconds.
    let blocking = Rc::new(Cell::new(true));
    let blocked = Rc::new(Cell::new(0usize));
    let (on, bl) = (blocking.clone(), blocked.clone());
    p.sim.set_tamper(move |pkt, _| match wire(&pkt.bytes) {
        Some(w) if on.get() && pkt.from == ca && w.sid.len() == 8 && !w.ack_only() && w.n == 5 => {
            bl.set(bl.get() + 1);
            Verdict::Drop
        }
        _ => Verdict::Deliver,
    });
    let mut load = Load::new(&mut p, b"hello");
    let mut events = Events::new();
    let c = p.client().unwrap();
    for i in 0..1500u64 {
        load.request(c, StreamHandle(0), content(i, 16));
    }
    let until = p.sim.now + 3 * SECOND;
    drive(&mut p, &mut events, 3 * SECOND, |p, _| {
        load.serve(p);
        p.sim.now >= until
    });
    blocking.set(false);
    assert!(drive(&mut p, &mut events, 600 * SECOND, |p, _| {
        load.serve(p);
        load.complete()
    }));
    load.check();
    let blocked = blocked.get();
    assert!(blocked >= 2);
    // The client's data counters on the first stream, until datagram 5 first got through.
    let sent = captured_from(&p.sim, ca);
    let through = sent
        .iter()
        .filter(|(_, w)| w.sid.len() == 8 && !w.ack_only() && w.n == 5)
        .nth(blocked)
        .map(|(t, _)| *t)
        .unwrap();
    let highest = sent
        .iter()
        .filter(|(t, w)| *t < through && w.sid.len() == 8 && !w.ack_only())
        .map(|(_, w)| w.n)
        .max()
        .unwrap();
    println!("datagram 5 blocked {blocked} times; highest counter sealed meanwhile {highest}");
    assert!(
        highest < 5 + 1024,
        "counter {highest} outside the receiver's window"
    );
    assert!(
        highest > 5 + 900,
        "the window, not something else, held the sender back"
    );
}
