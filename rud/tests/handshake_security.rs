//! Security properties of the three key exchanges (docs/SPEC.md sections 3.7, 4 and 7), checked
//! between in-memory initiators and responders with simulated time: tampering anywhere in a
//! transcript, stateless floods, cookie binding before any X448 operation, replays, early data,
//! pinned keys, opaque failures, amplification, curve points and key logs.
//!
//! The exhaustive bit-flip tests run tens of thousands of handshakes. They use [`MemoX448`], a
//! provider that remembers X448 results, so a scalar multiplication is computed once per
//! distinct (scalar, point) pair; results are identical to the default provider's.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic with a message
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rud::crypto::keylog::{MemoryKeyLog, labels};
use rud::crypto::x448::{X448PublicKey, X448Secret};
use rud::crypto::{CountingProvider, CryptoProvider, default_provider};
use rud::handshake::*;
use rud::wire::{
    CompleteMezzanine, Datagram, ErrorCode, ExchangeMezzanine, InitiatorComplete,
    InitiatorExchange, InnerSection, MessageType, ResponderCompleteMezzanine, StreamId, parse,
};

const T0: Duration = Duration::from_secs(1_800_000_000);
const EPOCH: Duration = Duration::from_secs(30);
const I: &str = "192.0.2.1:40000";
const R: &str = "198.51.100.7:21077";
const QUERY: &[u8] = b"services?";
const REQUEST: &[u8] = b"hello";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn secret(seed: &str) -> X448Secret {
    let mut r = SeededEntropy::new(seed.as_bytes());
    X448Secret::generate(|b| r.fill(b))
}

// ---------------------------------------------------------------------------------------------
// A provider that computes each distinct X448 operation once.

const BASE_POINT: [u8; 56] = {
    let mut b = [0u8; 56];
    b[0] = 5;
    b
};

#[derive(Debug)]
struct MemoX448 {
    inner: Arc<dyn CryptoProvider>,
    cache: Mutex<HashMap<[u8; 112], [u8; 56]>>,
}

impl MemoX448 {
    fn new() -> Arc<Self> {
        Arc::new(MemoX448 {
            inner: default_provider(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn lookup(
        &self,
        scalar: &[u8; 56],
        point: &[u8; 56],
        out: &mut [u8; 56],
        compute: impl FnOnce(&mut [u8; 56]),
    ) {
        let mut k = [0u8; 112];
        k[..56].copy_from_slice(scalar);
        k[56..].copy_from_slice(point);
        if let Some(v) = self.cache.lock().unwrap().get(&k) {
            *out = *v;
            return;
        }
        compute(out);
        self.cache.lock().unwrap().insert(k, *out);
    }
}

impl CryptoProvider for MemoX448 {
    fn name(&self) -> &'static str {
        "memo-x448"
    }
    fn x448_public_key(&self, secret: &[u8; 56], out: &mut [u8; 56]) {
        self.lookup(secret, &BASE_POINT, out, |o| {
            self.inner.x448_public_key(secret, o)
        });
    }
    fn x448(&self, secret: &[u8; 56], public: &[u8; 56], out: &mut [u8; 56]) {
        self.lookup(secret, public, out, |o| self.inner.x448(secret, public, o));
    }
    rud::delegate_symmetric_primitives!(self => self.inner, with aead);
}

/// One memoising provider for the whole test binary (proptest cases share it).
fn memo() -> Arc<dyn CryptoProvider> {
    static MEMO: OnceLock<Arc<MemoX448>> = OnceLock::new();
    MEMO.get_or_init(MemoX448::new).clone()
}

/// A counting provider over the memoising one: counts every X448 call, computes few.
fn counting() -> (Arc<CountingProvider>, Arc<dyn CryptoProvider>) {
    let c = Arc::new(CountingProvider::new(memo()));
    let p: Arc<dyn CryptoProvider> = c.clone();
    (c, p)
}

// ---------------------------------------------------------------------------------------------
// Peers.

struct Peers {
    responder: Responder,
    rrng: SeededEntropy,
    icfg: InitiatorConfig,
    responder_key: X448PublicKey,
    initiator_key: X448PublicKey,
}

fn responder_with(
    p: &Arc<dyn CryptoProvider>,
    keys: Vec<X448Secret>,
    defer: DeferPolicy,
    started: Duration,
) -> Responder {
    let mut cfg = ResponderConfig::new(p.clone(), keys[0].clone());
    cfg.keys = keys;
    cfg.defer = defer;
    Responder::new(cfg, started).unwrap()
}

impl Peers {
    fn new(p: Arc<dyn CryptoProvider>, mode: Mode) -> Self {
        let defer = if mode == Mode::Deferred {
            DeferPolicy::Always
        } else {
            DeferPolicy::Never
        };
        let r_key = secret("security responder key");
        let i_key = secret("security initiator key");
        let responder_key = r_key.public_key(&*p);
        let initiator_key = i_key.public_key(&*p);
        // Started long enough ago that the strike register accepts early data.
        let responder = responder_with(&p, vec![r_key], defer, T0 - Duration::from_secs(60));
        let mut icfg = InitiatorConfig::new(p, i_key);
        // First Contact learns the key; the others pin it.
        if mode != Mode::FirstContact {
            icfg.responder_key = Some(responder_key);
        }
        Peers {
            responder,
            rrng: SeededEntropy::new(b"security responder entropy"),
            icfg,
            responder_key,
            initiator_key,
        }
    }

    /// A fresh initiator (always the same ephemeral and identifiers) and its first datagram.
    fn start(&self, mode: Mode, now: Duration) -> (Initiator, Vec<u8>) {
        let mut rng = SeededEntropy::new(b"security initiator entropy");
        let mut ini = match mode {
            Mode::FirstContact => {
                Initiator::first_contact(self.icfg.clone(), &mut rng, now, addr(R), QUERY, REQUEST)
            }
            _ => Initiator::immediate(self.icfg.clone(), &mut rng, now, addr(R), REQUEST),
        }
        .unwrap();
        let first = ini.poll_transmit().unwrap().bytes;
        (ini, first)
    }
}

/// What one handshake run ended with.
#[derive(Default)]
struct Run {
    initiator: Option<Box<Session>>,
    initiator_failed: bool,
    responder: Option<Box<Session>>,
    /// Where the run stopped (for the statistics).
    end: &'static str,
    /// Lengths of the messages exchanged, in order.
    sizes: Vec<usize>,
}

fn drain(ini: &mut Initiator, run: &mut Run) {
    while let Some(e) = ini.poll_event() {
        match e {
            InitiatorEvent::Established(s) => run.initiator = Some(s),
            InitiatorEvent::Failed(_) => run.initiator_failed = true,
            _ => {}
        }
    }
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[bit / 8] ^= 1 << (bit % 8);
    v
}

/// Runs one handshake of `mode`, flipping bit `flip.1` of message `flip.0` on the way (message
/// indices: First Contact 0 Hello, 1 Challenge, 2 Complete; Immediate 0 Exchange,
/// 1 ResponderComplete; Deferred 0 Exchange, 1 Defer, 2 Complete). Every other message is
/// delivered as produced.
fn run(peers: &mut Peers, mode: Mode, flip_at: Option<(usize, usize)>) -> Run {
    let mut out = Run::default();
    let mut index = 0;
    let mut tamper = |bytes: Vec<u8>, sizes: &mut Vec<usize>| {
        sizes.push(bytes.len());
        let b = match flip_at {
            Some((m, bit)) if m == index => flip(&bytes, bit),
            _ => bytes,
        };
        index += 1;
        b
    };
    let (mut ini, first) = peers.start(mode, T0);
    let mut to_responder = tamper(first, &mut out.sizes);
    loop {
        let to_initiator =
            match peers
                .responder
                .handle_datagram(T0, addr(I), &to_responder, &mut peers.rrng)
            {
                ResponderOutcome::Reply(t) => tamper(t.bytes, &mut out.sizes),
                ResponderOutcome::Established { session, reply } => {
                    out.responder = Some(session);
                    match reply {
                        Some(t) => tamper(t.bytes, &mut out.sizes),
                        None => {
                            drain(&mut ini, &mut out);
                            out.end = "both sides done";
                            return out;
                        }
                    }
                }
                ResponderOutcome::Refused { .. } => {
                    drain(&mut ini, &mut out);
                    out.end = "responder refused";
                    return out;
                }
                ResponderOutcome::Dropped(_) => {
                    drain(&mut ini, &mut out);
                    out.end = "responder dropped";
                    return out;
                }
            };
        let r = ini.handle_datagram(T0, addr(R), &to_initiator);
        drain(&mut ini, &mut out);
        if r.is_err() {
            out.end = if out.initiator_failed {
                "initiator aborted"
            } else {
                "initiator refused"
            };
            return out;
        }
        match ini.poll_transmit() {
            Some(t) => to_responder = tamper(t.bytes, &mut out.sizes),
            None => {
                out.end = if out.initiator.is_some() {
                    "initiator done"
                } else {
                    "initiator waiting"
                };
                return out;
            }
        }
    }
}

fn same_secrets(a: &Session, b: &Session) -> bool {
    a.secrets.i2r.expose() == b.secrets.i2r.expose()
        && a.secrets.r2i.expose() == b.secrets.r2i.expose()
}

/// The genuine run: both sides established with the same secrets.
fn genuine(mode: Mode) -> Run {
    let mut peers = Peers::new(memo(), mode);
    let r = run(&mut peers, mode, None);
    let (i, s) = (r.initiator.as_ref().unwrap(), r.responder.as_ref().unwrap());
    assert!(same_secrets(i, s));
    assert_eq!(s.payload, REQUEST);
    r
}

/// Flips every bit of messages `messages` of `mode`, one run per bit, and checks each run.
/// Returns how many runs ended where.
fn flip_every_bit(mode: Mode, messages: std::ops::Range<usize>) -> BTreeMap<&'static str, usize> {
    let started = Instant::now();
    let good = genuine(mode);
    let g_resp = good.responder.as_ref().unwrap();
    // The message before which the responder establishes (it must never establish after a flip
    // of it or of an earlier message); the initiator establishes only on later messages.
    let responder_establishes_on = match mode {
        Mode::Immediate => 0,
        _ => 2,
    };
    let mut peers = Peers::new(memo(), mode);
    let mut stats = BTreeMap::new();
    let mut runs = 0usize;
    for m in messages.clone() {
        for bit in 0..good.sizes[m] * 8 {
            if m > responder_establishes_on {
                // The responder has established before this message: give each run a fresh
                // one (seeded alike, so its reply is the same), else the replayed Exchange's
                // early data would be refused and the runs would differ from the genuine one.
                peers = Peers::new(memo(), mode);
            }
            let r = run(&mut peers, mode, Some((m, bit)));
            runs += 1;
            let at = format!("{} message {m} bit {bit}", mode.name());
            if m <= responder_establishes_on {
                assert!(r.responder.is_none(), "{at}: the responder established");
            } else {
                assert!(r.initiator.is_none(), "{at}: the initiator established");
            }
            if let (Some(i), Some(s)) = (&r.initiator, &r.responder) {
                assert!(!same_secrets(i, s), "{at}: both established, same secrets");
            }
            if let Some(s) = &r.responder {
                assert_eq!(s.payload, g_resp.payload, "{at}: payload differs");
                assert_eq!(s.initiator_credential, peers.initiator_key, "{at}");
            }
            if let Some(i) = &r.initiator {
                // First Contact learns the credential from an unauthenticated Challenge: a
                // tampered one may be learned, but only ever reported as unauthenticated.
                if i.responder_credential != peers.responder_key {
                    assert!(!i.responder_authenticated, "{at}: wrong key authenticated");
                }
            }
            *stats.entry(r.end).or_insert(0) += 1;
        }
    }
    // The shared responder still completes the genuine handshake. (In Immediate the last runs
    // completed this very Exchange already, and a responder never completes one twice, SPEC
    // exchange-replay: a fresh one, seeded alike, then.)
    if responder_establishes_on == 0 && messages.clone().any(|m| m > 0) {
        peers = Peers::new(memo(), mode);
    }
    let r = run(&mut peers, mode, None);
    assert!(same_secrets(
        r.initiator.as_ref().unwrap(),
        r.responder.as_ref().unwrap()
    ));
    println!(
        "{}: messages {messages:?} of sizes {:?}: {runs} runs in {:.1?}: {stats:?}",
        mode.name(),
        good.sizes,
        started.elapsed()
    );
    stats
}

//= docs/SPEC.md#transcript-binding
//= type=test
//# Every handshake key MUST be derived with the transcript hash TH of the exchange so far.
//= docs/SPEC.md#handshake-failure-opaque
//= type=test
//# A responder MUST answer every failed Exchange or Complete with the same ResponderError.
#[test]
fn first_contact_hello_every_bit_flip_is_rejected() {
    flip_every_bit(Mode::FirstContact, 0..1);
}

//= docs/SPEC.md#transcript-binding
//= type=test
//# so no two messages share a key.
#[test]
fn first_contact_challenge_and_complete_every_bit_flip_is_rejected() {
    flip_every_bit(Mode::FirstContact, 1..3);
}

//= docs/SPEC.md#transcript-binding
//= type=test
//# TH ... absorbs, in order, the octets listed below.
#[test]
fn immediate_every_bit_flip_is_rejected() {
    flip_every_bit(Mode::Immediate, 0..2);
}

//= docs/SPEC.md#transcript-binding
//= type=test
//# Any change to either message makes the two differ, and the Complete then fails to open.
#[test]
fn deferred_exchange_every_bit_flip_is_rejected() {
    flip_every_bit(Mode::Deferred, 0..1);
}

//= docs/SPEC.md#transcript-binding
//= type=test
//# Every handshake key MUST be derived with the transcript hash TH of the exchange so far.
#[test]
fn deferred_defer_and_complete_every_bit_flip_is_rejected() {
    flip_every_bit(Mode::Deferred, 1..3);
}

// ---------------------------------------------------------------------------------------------
// Floods.

fn spoofed(i: u32) -> SocketAddr {
    let [a, b, c, d] = i.to_be_bytes();
    SocketAddr::from(([10, b ^ a, c, d], 1024 + (i % 60_000) as u16))
}

//= docs/SPEC.md#cookie-before-x448
//= type=test
//# MUST keep no per-initiator state before a Complete verifies.
#[test]
fn deferred_flood_of_exchanges_keeps_no_state_and_no_x448() {
    let (count, p) = counting();
    let mut peers = Peers::new(p, Mode::Deferred);
    let (_, exchange) = peers.start(Mode::Deferred, T0);
    let Datagram::InitiatorExchange(x) = Datagram::decode(&exchange).unwrap() else {
        panic!()
    };
    let at = parse::offset_in(&exchange, x.initiator_ephemeral.key);
    count.reset();
    let started = Instant::now();
    for i in 0..100_000u32 {
        let mut forged = exchange.clone();
        forged[at..at + 4].copy_from_slice(&i.to_le_bytes());
        let from = spoofed(i);
        // 1 ms apart: the flood spans several cookie epochs.
        let now = T0 + Duration::from_millis(u64::from(i));
        match peers
            .responder
            .handle_datagram(now, from, &forged, &mut peers.rrng)
        {
            ResponderOutcome::Reply(t) => {
                assert_eq!(t.destination, from);
                assert_eq!(t.bytes[9], MessageType::RESPONDER_DEFER.0);
                assert!(t.bytes.len() <= 3 * forged.len());
            }
            o => panic!("exchange {i}: {o:?}"),
        }
        if i % 10_000 == 0 {
            assert_eq!(peers.responder.per_initiator_state(), 0);
        }
    }
    assert_eq!(peers.responder.per_initiator_state(), 0);
    let c = count.counts();
    assert_eq!(c.dh, 0, "no X448 agreement for a deferred Exchange");
    // One ephemeral key per cookie epoch (100 s: at most 5 epochs).
    assert!(c.public_keys <= 5, "{c:?}");
    println!(
        "100000 deferred Exchanges in {:.1?}, {c:?}",
        started.elapsed()
    );
}

//= docs/SPEC.md#cookie-before-x448
//= type=test
//# MUST keep no per-initiator state before a Complete verifies.
#[test]
fn flood_of_hellos_keeps_no_state_and_no_x448() {
    let (count, p) = counting();
    let mut peers = Peers::new(p, Mode::FirstContact);
    let (_, hello) = peers.start(Mode::FirstContact, T0);
    let Datagram::InitiatorHello(h) = Datagram::decode(&hello).unwrap() else {
        panic!()
    };
    let at = parse::offset_in(&hello, h.initiator_stream_id.0);
    count.reset();
    let started = Instant::now();
    for i in 0..100_000u32 {
        let mut forged = hello.clone();
        forged[at..at + 4].copy_from_slice(&i.to_le_bytes());
        let from = spoofed(i);
        let now = T0 + Duration::from_millis(u64::from(i));
        match peers
            .responder
            .handle_datagram(now, from, &forged, &mut peers.rrng)
        {
            ResponderOutcome::Reply(t) => {
                assert_eq!(t.destination, from);
                assert!(t.bytes.len() <= 3 * forged.len());
            }
            o => panic!("hello {i}: {o:?}"),
        }
    }
    assert_eq!(peers.responder.per_initiator_state(), 0);
    let c = count.counts();
    assert_eq!(c.dh, 0);
    assert!(c.public_keys <= 5, "{c:?}");
    println!("100000 Hellos in {:.1?}, {c:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Cookies.

/// Runs `mode` (First Contact or Deferred) up to the initiator's Complete, which is returned
/// undelivered with the peers.
fn up_to_complete(p: Arc<dyn CryptoProvider>, mode: Mode) -> (Peers, Vec<u8>) {
    let mut peers = Peers::new(p, mode);
    let (mut ini, first) = peers.start(mode, T0);
    let ResponderOutcome::Reply(reply) =
        peers
            .responder
            .handle_datagram(T0, addr(I), &first, &mut peers.rrng)
    else {
        panic!("expected a Challenge or Defer")
    };
    ini.handle_datagram(T0, addr(R), &reply.bytes).unwrap();
    let complete = ini.poll_transmit().unwrap().bytes;
    (peers, complete)
}

/// Re-encodes a Complete with some header field changed. The mezzanine is kept as it was, and
/// lengthened if the header shrank, so the datagram keeps its size (a short one is dropped
/// before anything else is looked at).
fn edit_complete<'a>(bytes: &'a [u8], f: impl FnOnce(&mut InitiatorComplete<'a>)) -> Vec<u8> {
    let Datagram::InitiatorComplete(mut c) = Datagram::decode(bytes).unwrap() else {
        panic!("not a Complete")
    };
    f(&mut c);
    let mut out = Datagram::InitiatorComplete(c).to_vec().unwrap();
    if out.len() < bytes.len() {
        out.resize(bytes.len(), 0);
    }
    out
}

fn cookie_variants(
    mode: Mode,
    complete: &[u8],
    other_key: &[u8; 56],
) -> Vec<(&'static str, Vec<u8>)> {
    let Datagram::InitiatorComplete(c) = Datagram::decode(complete).unwrap() else {
        panic!()
    };
    let cookie_at = parse::offset_in(complete, c.cookie);
    let mut v = vec![
        (
            "missing cookie",
            edit_complete(complete, |c| c.cookie = &[]),
        ),
        ("garbled cookie MAC", flip(complete, (cookie_at + 10) * 8)),
        ("garbled cookie epoch", flip(complete, (cookie_at + 4) * 8)),
        (
            "garbled offer transcript",
            flip(complete, (cookie_at + 40) * 8),
        ),
        (
            "truncated cookie",
            edit_complete(complete, |c| c.cookie = &c.cookie[..21]),
        ),
        (
            "rebound to another stream id",
            edit_complete(complete, |c| c.stream_id = StreamId(&[0x5a; 8])),
        ),
    ];
    if mode == Mode::Deferred {
        // First Contact cookies bind 56 zero octets for E_i (docs/SPEC.md section 7.4): the
        // initiator has no ephemeral when the Challenge is made.
        v.push((
            "rebound to another initiator ephemeral",
            edit_complete(complete, |c| c.initiator_ephemeral.key = other_key),
        ));
    }
    v
}

fn assert_cookie_refusals(mode: Mode) {
    let (count, p) = counting();
    let other = secret("another ephemeral").public_key(&*p);
    let (mut peers, complete) = up_to_complete(p, mode);
    let refuse = |peers: &mut Peers, what: &str, now: Duration, from: SocketAddr, bytes: &[u8]| {
        count.reset();
        let o = peers
            .responder
            .handle_datagram(now, from, bytes, &mut peers.rrng);
        assert!(
            matches!(o, ResponderOutcome::Refused { .. }),
            "{} {what}: {o:?}",
            mode.name()
        );
        assert_eq!(
            count.counts().total(),
            0,
            "{} {what}: X448 used",
            mode.name()
        );
    };
    for (what, bytes) in cookie_variants(mode, &complete, other.as_bytes()) {
        refuse(&mut peers, what, T0, addr(I), &bytes);
    }
    refuse(
        &mut peers,
        "from another address",
        T0,
        addr("192.0.2.2:40000"),
        &complete,
    );
    refuse(
        &mut peers,
        "from another port",
        T0,
        addr("192.0.2.1:40001"),
        &complete,
    );
    refuse(
        &mut peers,
        "before its epoch",
        T0 - EPOCH,
        addr(I),
        &complete,
    );
    // Issued at T0, the start of an epoch: the genuine Complete is still accepted one second
    // before the end of the next epoch (so the refusals above were about the cookie, not a
    // broken harness) ...
    count.reset();
    let later = T0 + EPOCH * 2 - Duration::from_secs(1);
    let o = peers
        .responder
        .handle_datagram(later, addr(I), &complete, &mut peers.rrng);
    assert!(matches!(o, ResponderOutcome::Established { .. }), "{o:?}");
    assert_eq!(count.counts().dh, 3, "es, ee, se");
    // ... and refused once two epochs have passed.
    refuse(
        &mut peers,
        "expired (two epochs)",
        T0 + EPOCH * 2,
        addr(I),
        &complete,
    );
    refuse(
        &mut peers,
        "expired (three epochs)",
        T0 + EPOCH * 3,
        addr(I),
        &complete,
    );
    // A fresh Complete whose cookie expired is refused the same way.
    let (mut peers, complete) = up_to_complete(count.clone() as Arc<dyn CryptoProvider>, mode);
    count.reset();
    let o = peers
        .responder
        .handle_datagram(T0 + EPOCH * 2, addr(I), &complete, &mut peers.rrng);
    assert!(matches!(o, ResponderOutcome::Refused { .. }), "{o:?}");
    assert_eq!(count.counts().total(), 0, "expired: X448 used");
}

//= docs/SPEC.md#cookie-before-x448
//= type=test
//# A responder MUST verify the cookie before any X448 operation for a Complete.
#[test]
fn deferred_complete_with_a_bad_cookie_costs_no_x448() {
    assert_cookie_refusals(Mode::Deferred);
}

//= docs/SPEC.md#cookie-before-x448
//= type=test
//# A responder MUST verify the cookie before any X448 operation for a Complete.
#[test]
fn first_contact_complete_with_a_bad_cookie_costs_no_x448() {
    assert_cookie_refusals(Mode::FirstContact);
}

/// First Contact cookies cannot bind the initiator's ephemeral (it is first sent in the
/// Complete): a Complete rebound to another ephemeral is refused, but only after es and ee.
//= docs/SPEC.md#cookie-before-x448
//= type=test
//# In First Contact the initiator has no ephemeral yet: E_i is 56 zero octets there.
#[test]
fn first_contact_complete_with_another_ephemeral_is_refused() {
    let (count, p) = counting();
    let other = secret("another ephemeral").public_key(&*p);
    let (mut peers, complete) = up_to_complete(p, Mode::FirstContact);
    let rebound = edit_complete(&complete, |c| c.initiator_ephemeral.key = other.as_bytes());
    count.reset();
    let o = peers
        .responder
        .handle_datagram(T0, addr(I), &rebound, &mut peers.rrng);
    assert!(matches!(o, ResponderOutcome::Refused { .. }), "{o:?}");
    assert!(count.counts().dh <= 2, "{:?}", count.counts());
    println!("First Contact, rebound ephemeral: {:?}", count.counts());
}

// ---------------------------------------------------------------------------------------------
// Replays and early data.

//= docs/SPEC.md#complete-replay
//= type=test
//# A responder MUST NOT accept the same initiator ephemeral twice while its cookie lives.
#[test]
fn replayed_complete_is_not_redelivered() {
    for mode in [Mode::FirstContact, Mode::Deferred] {
        let (count, p) = counting();
        let (mut peers, complete) = up_to_complete(p, mode);
        let o = peers
            .responder
            .handle_datagram(T0, addr(I), &complete, &mut peers.rrng);
        let ResponderOutcome::Established { session, .. } = o else {
            panic!("{o:?}")
        };
        assert_eq!(session.payload, REQUEST);
        for now in [T0, T0 + Duration::from_secs(1), T0 + EPOCH + EPOCH / 2] {
            count.reset();
            let o = peers
                .responder
                .handle_datagram(now, addr(I), &complete, &mut peers.rrng);
            assert!(
                matches!(o, ResponderOutcome::Dropped(DropReason::Duplicate)),
                "{} replay at {now:?}: {o:?}",
                mode.name()
            );
            assert_eq!(count.counts().total(), 0);
        }
        // After the cookie has expired the replay is refused as expired, still without X448.
        count.reset();
        let o =
            peers
                .responder
                .handle_datagram(T0 + EPOCH * 2, addr(I), &complete, &mut peers.rrng);
        assert!(matches!(o, ResponderOutcome::Refused { .. }), "{o:?}");
        assert_eq!(count.counts().total(), 0);
    }
}

/// Runs an Immediate handshake with the initiator's clock at `initiator_now` against `peers`
/// at `T0`; returns both sessions.
fn immediate_at(
    peers: &mut Peers,
    initiator_now: Duration,
) -> (Box<Session>, Box<Session>, Vec<u8>) {
    let (mut ini, exchange) = peers.start(Mode::Immediate, initiator_now);
    let o = peers
        .responder
        .handle_datagram(T0, addr(I), &exchange, &mut peers.rrng);
    let ResponderOutcome::Established { session, reply } = o else {
        panic!("{o:?}")
    };
    ini.handle_datagram(T0, addr(R), &reply.unwrap().bytes)
        .unwrap();
    let mut r = Run::default();
    drain(&mut ini, &mut r);
    let i = r.initiator.expect("initiator established");
    assert!(same_secrets(&i, &session));
    (i, session, exchange)
}

//= docs/SPEC.md#early-data-once
//= type=test
//# A responder MUST deliver the early data of an Exchange at most once.
#[test]
fn early_data_is_delivered_once_inside_the_window_and_after_warm_up() {
    let p = memo();
    // Replay to the same responder: delivered once.
    let mut peers = Peers::new(p.clone(), Mode::Immediate);
    let (i, s, exchange) = immediate_at(&mut peers, T0);
    assert!(s.early_data && i.early_data);
    assert_eq!(s.payload, REQUEST);
    let mut delivered = 1;
    for k in 0..3 {
        let now = T0 + Duration::from_secs(k * 7);
        match peers
            .responder
            .handle_datagram(now, addr(I), &exchange, &mut peers.rrng)
        {
            ResponderOutcome::Established { session, .. } => {
                if session.early_data || !session.payload.is_empty() {
                    delivered += 1;
                }
            }
            // Not completed again at all (SPEC exchange-replay).
            ResponderOutcome::Dropped(DropReason::Duplicate) => {}
            o => panic!("{o:?}"),
        }
    }
    assert_eq!(delivered, 1, "early data delivered more than once");

    // Timestamps outside the 10 s window: rejected; the handshake still completes in 1 RTT.
    // (Beyond the 120 s Exchange window the Exchange itself is refused, SPEC exchange-replay.)
    for skew in [-11i64, 11, -110, 110] {
        let mut peers = Peers::new(p.clone(), Mode::Immediate);
        let now = if skew < 0 {
            T0 - Duration::from_secs(skew.unsigned_abs())
        } else {
            T0 + Duration::from_secs(skew as u64)
        };
        let (i, s, _) = immediate_at(&mut peers, now);
        assert!(!s.early_data && !i.early_data, "skew {skew} s accepted");
        assert!(s.payload.is_empty());
    }
    // Beyond the Exchange window the responder refuses the Exchange itself.
    for skew in [-600i64, 600] {
        let mut peers = Peers::new(p.clone(), Mode::Immediate);
        let now = T0.checked_add_signed(skew).unwrap();
        let (_, exchange) = peers.start(Mode::Immediate, now);
        let o = peers
            .responder
            .handle_datagram(T0, addr(I), &exchange, &mut peers.rrng);
        assert!(
            matches!(o, ResponderOutcome::Refused { .. }),
            "skew {skew}: {o:?}"
        );
    }
    // At the edge of the window it is still accepted.
    for skew in [-10i64, 10] {
        let mut peers = Peers::new(p.clone(), Mode::Immediate);
        let now = T0.checked_add_signed(skew).unwrap();
        let (i, s, _) = immediate_at(&mut peers, now);
        assert!(s.early_data && i.early_data, "skew {skew} s rejected");
    }

    // A fresh responder (less than 2W since its register started) fails closed.
    let mut peers = Peers::new(p.clone(), Mode::Immediate);
    let key = secret("security responder key");
    peers.responder = responder_with(
        &p,
        vec![key],
        DeferPolicy::Never,
        T0 - Duration::from_secs(5),
    );
    let (i, s, _) = immediate_at(&mut peers, T0);
    assert!(
        !s.early_data && !i.early_data,
        "warm-up accepted early data"
    );
    assert!(s.payload.is_empty());
}

trait AddSigned: Sized {
    fn checked_add_signed(self, secs: i64) -> Option<Self>;
}
impl AddSigned for Duration {
    fn checked_add_signed(self, secs: i64) -> Option<Self> {
        if secs < 0 {
            self.checked_sub(Duration::from_secs(secs.unsigned_abs()))
        } else {
            self.checked_add(Duration::from_secs(secs as u64))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pinned keys, addresses and identifiers.

fn failed_with_wrong_key(ini: &mut Initiator) -> bool {
    let mut wrong = false;
    while let Some(e) = ini.poll_event() {
        match e {
            InitiatorEvent::Failed(HandshakeError::WrongResponderKey) => wrong = true,
            InitiatorEvent::Established(_) => panic!("established with another key"),
            _ => {}
        }
    }
    wrong
}

//= docs/SPEC.md#pinned-responder-key
//= type=test
//# With a pinned responder key, a Challenge or Defer presenting another key MUST abort the handshake.
#[test]
fn another_credential_aborts_a_pinned_initiator() {
    let p = memo();
    let genuine = secret("security responder key");
    let impostor = secret("impostor key");
    // First Contact with a pinned key, answered by a responder with another key.
    let mut peers = Peers::new(p.clone(), Mode::FirstContact);
    peers.icfg.responder_key = Some(peers.responder_key);
    let mut other = responder_with(&p, vec![impostor.clone()], DeferPolicy::Never, T0);
    let (mut ini, hello) = peers.start(Mode::FirstContact, T0);
    let ResponderOutcome::Reply(ch) = other.handle_datagram(T0, addr(I), &hello, &mut peers.rrng)
    else {
        panic!()
    };
    assert!(ini.handle_datagram(T0, addr(R), &ch.bytes).is_err());
    assert!(
        failed_with_wrong_key(&mut ini),
        "no Failed(WrongResponderKey)"
    );
    assert!(ini.poll_transmit().is_none(), "a Complete was sent");
    assert_eq!(ini.poll_timeout(), None);
    // Aborted for good: the genuine Challenge is not taken afterwards.
    let ResponderOutcome::Reply(good) =
        peers
            .responder
            .handle_datagram(T0, addr(I), &hello, &mut peers.rrng)
    else {
        panic!()
    };
    assert!(ini.handle_datagram(T0, addr(R), &good.bytes).is_err());
    assert!(ini.poll_transmit().is_none());

    // Deferred: the responder accepts the pinned key id but presents another credential.
    let mut peers = Peers::new(p.clone(), Mode::Deferred);
    let mut other = responder_with(&p, vec![impostor, genuine], DeferPolicy::Always, T0);
    let (mut ini, exchange) = peers.start(Mode::Deferred, T0);
    let ResponderOutcome::Reply(defer) =
        other.handle_datagram(T0, addr(I), &exchange, &mut peers.rrng)
    else {
        panic!()
    };
    assert!(ini.handle_datagram(T0, addr(R), &defer.bytes).is_err());
    assert!(failed_with_wrong_key(&mut ini));
    assert!(ini.poll_transmit().is_none());
}

/// Re-encodes a Challenge or Defer with another stream identifier.
fn with_stream_id(bytes: &[u8], sid: &[u8]) -> Vec<u8> {
    match Datagram::decode(bytes).unwrap() {
        Datagram::ResponderChallenge(mut c) => {
            c.stream_id = StreamId(sid);
            Datagram::ResponderChallenge(c).to_vec().unwrap()
        }
        Datagram::ResponderDefer(mut c) => {
            c.stream_id = StreamId(sid);
            Datagram::ResponderDefer(c).to_vec().unwrap()
        }
        Datagram::ResponderComplete(mut c) => {
            c.stream_id = StreamId(sid);
            Datagram::ResponderComplete(c).to_vec().unwrap()
        }
        d => panic!("{d:?}"),
    }
}

//= docs/SPEC.md#pinned-responder-key
//= type=test
//# An initiator MUST accept replies only from the address it sent to and for the identifier it issued.
#[test]
fn replies_from_another_address_or_for_another_identifier_are_refused() {
    for mode in [Mode::FirstContact, Mode::Immediate, Mode::Deferred] {
        let mut peers = Peers::new(memo(), mode);
        let (mut ini, first) = peers.start(mode, T0);
        let reply = match peers
            .responder
            .handle_datagram(T0, addr(I), &first, &mut peers.rrng)
        {
            ResponderOutcome::Reply(t) => t.bytes,
            ResponderOutcome::Established { reply, .. } => reply.unwrap().bytes,
            o => panic!("{o:?}"),
        };
        for from in [
            "198.51.100.8:21077",
            "198.51.100.7:21078",
            "[2001:db8::7]:21077",
        ] {
            assert!(ini.handle_datagram(T0, addr(from), &reply).is_err());
        }
        assert!(
            ini.handle_datagram(T0, addr(R), &with_stream_id(&reply, &[7; 8]))
                .is_err()
        );
        assert!(
            ini.handle_datagram(T0, addr(R), &with_stream_id(&reply, &[]))
                .is_err()
        );
        let mut r = Run::default();
        drain(&mut ini, &mut r);
        assert!(
            r.initiator.is_none() && !r.initiator_failed,
            "{}",
            mode.name()
        );
        assert!(ini.poll_transmit().is_none());
        // The genuine reply is still taken.
        ini.handle_datagram(T0, addr(R), &reply).unwrap();
        drain(&mut ini, &mut r);
        assert!(r.initiator.is_some(), "{}", mode.name());
    }
}

// ---------------------------------------------------------------------------------------------
// Opaque failures.

fn refusal_reply(o: ResponderOutcome) -> Vec<u8> {
    let ResponderOutcome::Refused { reply: Some(t), .. } = o else {
        panic!("expected a refusal with a reply: {o:?}")
    };
    let Datagram::Error(e) = Datagram::decode(&t.bytes).unwrap() else {
        panic!()
    };
    assert_eq!(e.msg_type, MessageType::RESPONDER_ERROR);
    assert_eq!(e.code, ErrorCode::HANDSHAKE_FAILED);
    t.bytes
}

fn edit_exchange<'a>(bytes: &'a [u8], f: impl FnOnce(&mut InitiatorExchange<'a>)) -> Vec<u8> {
    let Datagram::InitiatorExchange(mut x) = Datagram::decode(bytes).unwrap() else {
        panic!("not an Exchange")
    };
    f(&mut x);
    let mut out = Datagram::InitiatorExchange(x).to_vec().unwrap();
    if out.len() < bytes.len() {
        out.resize(bytes.len(), 0);
    }
    out
}

//= docs/SPEC.md#handshake-failure-opaque
//= type=test
//# A responder MUST answer every failed Exchange or Complete (unknown key id, bad cookie, bad tag) with the same ResponderError HandshakeFailed.
#[test]
fn unknown_key_bad_tag_and_bad_cookie_get_identical_replies() {
    // Exchanges (Immediate).
    let mut peers = Peers::new(memo(), Mode::Immediate);
    let (_, exchange) = peers.start(Mode::Immediate, T0);
    let last = exchange.len() * 8 - 1;
    let cases = [
        (
            "unknown key id",
            edit_exchange(&exchange, |x| x.responder_key_id = &[0x55; 16]),
        ),
        ("bad mezzanine tag", flip(&exchange, last)),
        ("bad mezzanine ciphertext", flip(&exchange, 400 * 8)),
    ];
    let replies: Vec<_> = cases
        .iter()
        .map(|(_, b)| {
            refusal_reply(
                peers
                    .responder
                    .handle_datagram(T0, addr(I), b, &mut peers.rrng),
            )
        })
        .collect();
    for (k, r) in replies.iter().enumerate() {
        assert_eq!(r, &replies[0], "{} differs from {}", cases[k].0, cases[0].0);
    }

    // Completes (Deferred and First Contact).
    for mode in [Mode::Deferred, Mode::FirstContact] {
        let (mut peers, complete) = up_to_complete(memo(), mode);
        let Datagram::InitiatorComplete(c) = Datagram::decode(&complete).unwrap() else {
            panic!()
        };
        let cookie_at = parse::offset_in(&complete, c.cookie);
        let last = complete.len() * 8 - 1;
        let cases = [
            (
                "unknown key id",
                edit_complete(&complete, |c| c.responder_key_id = &[0x55; 16]),
            ),
            ("bad mezzanine tag", flip(&complete, last)),
            ("bad cookie", flip(&complete, (cookie_at + 8) * 8)),
            (
                "missing cookie",
                edit_complete(&complete, |c| c.cookie = &[]),
            ),
        ];
        let replies: Vec<_> = cases
            .iter()
            .map(|(_, b)| {
                refusal_reply(
                    peers
                        .responder
                        .handle_datagram(T0, addr(I), b, &mut peers.rrng),
                )
            })
            .collect();
        let expired = refusal_reply(peers.responder.handle_datagram(
            T0 + EPOCH * 3,
            addr(I),
            &complete,
            &mut peers.rrng,
        ));
        for (k, r) in replies.iter().enumerate() {
            assert_eq!(r, &replies[0], "{}: {} differs", mode.name(), cases[k].0);
        }
        assert_eq!(expired, replies[0]);
    }
}

//= docs/SPEC.md#error-message
//= type=test
//# Errors are plaintext and unauthenticated: a receiver MUST treat one as a hint only.
#[test]
fn a_handshake_failed_error_is_only_a_hint_to_the_initiator() {
    let mut peers = Peers::new(memo(), Mode::Immediate);
    let (mut ini, exchange) = peers.start(Mode::Immediate, T0);
    let bad = flip(&exchange, exchange.len() * 8 - 1);
    let error = refusal_reply(
        peers
            .responder
            .handle_datagram(T0, addr(I), &bad, &mut peers.rrng),
    );
    // Delivered to the initiator, the Error neither aborts nor completes the handshake.
    let _ = ini.handle_datagram(T0, addr(R), &error);
    let mut r = Run::default();
    drain(&mut ini, &mut r);
    assert!(r.initiator.is_none() && !r.initiator_failed);
    // The genuine exchange still completes.
    let ResponderOutcome::Established { reply, .. } =
        peers
            .responder
            .handle_datagram(T0, addr(I), &exchange, &mut peers.rrng)
    else {
        panic!()
    };
    ini.handle_datagram(T0, addr(R), &reply.unwrap().bytes)
        .unwrap();
    drain(&mut ini, &mut r);
    assert!(r.initiator.is_some());
}

/// The Error answering a refused Exchange goes to the identifier the initiator issued, so the
/// initiator can keep it as the hint it reports when it gives up (docs/SPEC.md section 3.7:
/// replies carry the identifier the initiator issued in them).
//= docs/SPEC.md#connection-stream-id
//= type=test
//# Replies carry the identifier the initiator issued in them.
#[test]
fn error_replies_carry_the_initiator_identifier() {
    let mut peers = Peers::new(memo(), Mode::Immediate);
    let (mut ini, exchange) = peers.start(Mode::Immediate, T0);
    let Datagram::InitiatorExchange(x) = Datagram::decode(&exchange).unwrap() else {
        panic!()
    };
    let bad = edit_exchange(&exchange, |x| x.responder_key_id = &[0x55; 16]);
    let error = refusal_reply(
        peers
            .responder
            .handle_datagram(T0, addr(I), &bad, &mut peers.rrng),
    );
    let Datagram::Error(e) = Datagram::decode(&error).unwrap() else {
        panic!()
    };
    assert_eq!(
        e.stream_id.0, x.initiator_stream_id.0,
        "Error to the wrong identifier"
    );
    ini.handle_datagram(T0, addr(R), &error).unwrap();
    // Giving up reports the hint.
    let mut now = T0;
    loop {
        now += Duration::from_secs(60);
        ini.handle_timeout(now);
        if let Some(InitiatorEvent::Failed(HandshakeError::Timeout { hint, .. })) = ini.poll_event()
        {
            assert_eq!(hint, Some(ErrorCode::HANDSHAKE_FAILED));
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Amplification.

/// Every reply the responder sends in one handshake of `mode`, with the datagram that caused
/// it, when the initiator sits at `from` (spoofed or not) and asks with `query` and `request`.
fn replies(
    p: &Arc<dyn CryptoProvider>,
    mode: Mode,
    from: SocketAddr,
    hello_payload: Vec<u8>,
    query: &[u8],
    request: &[u8],
) -> Vec<(usize, usize)> {
    let mut peers = Peers::new(p.clone(), mode);
    let mut cfg = ResponderConfig::new(p.clone(), secret("security responder key"));
    cfg.hello_payload = hello_payload;
    if mode == Mode::Deferred {
        cfg.defer = DeferPolicy::Always;
    }
    peers.responder = Responder::new(cfg, T0 - Duration::from_secs(60)).unwrap();
    let mut rng = SeededEntropy::new(b"amplification initiator");
    let mut ini = match mode {
        Mode::FirstContact => {
            Initiator::first_contact(peers.icfg.clone(), &mut rng, T0, addr(R), query, request)
        }
        _ => Initiator::immediate(peers.icfg.clone(), &mut rng, T0, addr(R), request),
    }
    .unwrap();
    let mut out = Vec::new();
    while let Some(t) = ini.poll_transmit() {
        let o = peers
            .responder
            .handle_datagram(T0, from, &t.bytes, &mut peers.rrng);
        let reply = match o {
            ResponderOutcome::Reply(r) => Some(r),
            ResponderOutcome::Established { reply, .. } => reply,
            ResponderOutcome::Refused { reply, .. } => reply,
            ResponderOutcome::Dropped(_) => None,
        };
        if let Some(r) = reply {
            assert_eq!(r.destination, from);
            out.push((t.bytes.len(), r.bytes.len()));
            let _ = ini.handle_datagram(T0, addr(R), &r.bytes);
        }
        // A tampered copy of the initiator's datagram draws at most an Error.
        let bad = flip(&t.bytes, t.bytes.len() * 8 - 1);
        match peers
            .responder
            .handle_datagram(T0, from, &bad, &mut peers.rrng)
        {
            ResponderOutcome::Reply(r)
            | ResponderOutcome::Refused { reply: Some(r), .. }
            | ResponderOutcome::Established { reply: Some(r), .. } => {
                out.push((bad.len(), r.bytes.len()))
            }
            _ => {}
        }
    }
    out
}

//= docs/SPEC.md#amplification-3x
//= type=test
//# Every response to an initiator connection datagram MUST be at most three times the size of that datagram.
#[test]
fn every_reply_is_at_most_three_times_its_trigger_in_each_mode() {
    let p = memo();
    for mode in [Mode::FirstContact, Mode::Immediate, Mode::Deferred] {
        let pairs = replies(
            &p,
            mode,
            addr(I),
            b"echo discard sink".to_vec(),
            QUERY,
            REQUEST,
        );
        assert!(!pairs.is_empty());
        for (req, rep) in pairs {
            assert!(rep <= 3 * req, "{}: {rep} > 3 x {req}", mode.name());
        }
    }
    // A large answer to the Hello is left out rather than sent to an unvalidated address.
    let pairs = replies(
        &p,
        Mode::FirstContact,
        addr(I),
        vec![b'x'; 5000],
        QUERY,
        REQUEST,
    );
    for (req, rep) in pairs {
        assert!(rep <= 3 * req, "{rep} > 3 x {req}");
    }
    // A version the responder does not speak gets a small VersionMismatch.
    let (_, hello) = Peers::new(p.clone(), Mode::FirstContact).start(Mode::FirstContact, T0);
    let mut v2 = hello.clone();
    v2[18] = 2; // the version octet after the 17-octet stream id and the type
    let mut peers = Peers::new(p, Mode::FirstContact);
    match peers
        .responder
        .handle_datagram(T0, addr(I), &v2, &mut peers.rrng)
    {
        ResponderOutcome::Reply(r) => assert!(r.bytes.len() <= 3 * v2.len()),
        o => panic!("{o:?}"),
    }
}

fn any_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1u16..).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), 1u16..).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    //= docs/SPEC.md#amplification-3x
    //= type=test
    //# Every response to an initiator connection datagram MUST be at most three times the size of that datagram.
    #[test]
    fn spoofed_sources_never_get_more_than_three_times_what_they_sent(
        mode in 0..3u8,
        from in any_addr(),
        query_len in 0usize..3000,
        answer_len in 0usize..8000,
        request_len in 0usize..1500,
    ) {
        let mode = [Mode::FirstContact, Mode::Immediate, Mode::Deferred][mode as usize];
        let p = memo();
        let pairs = replies(
            &p,
            mode,
            from,
            vec![b'a'; answer_len],
            &vec![b'q'; query_len],
            &vec![b'r'; request_len],
        );
        let sent: usize = pairs.iter().map(|(a, _)| a).sum();
        let got: usize = pairs.iter().map(|(_, b)| b).sum();
        prop_assert!(got <= 3 * sent, "{} to {from}: {got} > 3 x {sent}", mode.name());
        for (req, rep) in pairs {
            prop_assert!(rep <= 3 * req, "{}: {rep} > 3 x {req}", mode.name());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Curve points.

/// Little-endian 56-octet values of the u-coordinates the receiver must refuse.
fn bad_points() -> Vec<(&'static str, Vec<u8>)> {
    let mut p = [0xffu8; 56];
    p[28] = 0xfe;
    let mut p_minus_1 = p;
    p_minus_1[0] = 0xfe;
    let mut one = [0u8; 56];
    one[0] = 1;
    let mut long = secret("57")
        .public_key(&*default_provider())
        .as_bytes()
        .to_vec();
    long.push(0);
    vec![
        ("u = 0", vec![0; 56]),
        ("u = 1", one.to_vec()),
        ("u = p - 1", p_minus_1.to_vec()),
        ("u = p", p.to_vec()),
        ("u = 2^448 - 1", vec![0xff; 56]),
        ("57 octets", long),
        ("55 octets", vec![9; 55]),
    ]
}

//= docs/SPEC.md#x448-point-checks
//= type=test
//# Before any scalar multiplication a receiver MUST reject a public key that is not 56 octets, whose u is not below p, or whose u is 0, 1 or p-1.
//= docs/SPEC.md#zero-shared-secret
//= type=test
//# A party MUST abort when an X448 output is all zero (the low-order inputs that give one are refused first).
#[test]
fn bad_points_are_refused_before_any_x448() {
    let (count, p) = counting();
    for mode in [Mode::Immediate, Mode::Deferred] {
        let mut peers = Peers::new(p.clone(), mode);
        let (_, exchange) = peers.start(mode, T0);
        for (what, key) in bad_points() {
            let bytes = edit_exchange(&exchange, |x| x.initiator_ephemeral.key = &key);
            count.reset();
            let o = peers
                .responder
                .handle_datagram(T0, addr(I), &bytes, &mut peers.rrng);
            assert!(
                matches!(
                    o,
                    ResponderOutcome::Refused { .. } | ResponderOutcome::Dropped(_)
                ),
                "{} Exchange with {what}: {o:?}",
                mode.name()
            );
            assert_eq!(
                count.counts().total(),
                0,
                "{} Exchange with {what}",
                mode.name()
            );
        }
    }
    for mode in [Mode::FirstContact, Mode::Deferred] {
        let (mut peers, complete) = up_to_complete(p.clone(), mode);
        for (what, key) in bad_points() {
            let bytes = edit_complete(&complete, |c| c.initiator_ephemeral.key = &key);
            count.reset();
            let o = peers
                .responder
                .handle_datagram(T0, addr(I), &bytes, &mut peers.rrng);
            assert!(
                matches!(
                    o,
                    ResponderOutcome::Refused { .. } | ResponderOutcome::Dropped(_)
                ),
                "{} Complete with {what}: {o:?}",
                mode.name()
            );
            assert_eq!(
                count.counts().total(),
                0,
                "{} Complete with {what}",
                mode.name()
            );
        }
    }
    // The initiator checks the responder's keys in a Challenge or Defer the same way.
    for mode in [Mode::FirstContact, Mode::Deferred] {
        let mut peers = Peers::new(p.clone(), mode);
        let (_, first) = peers.start(mode, T0);
        let ResponderOutcome::Reply(reply) =
            peers
                .responder
                .handle_datagram(T0, addr(I), &first, &mut peers.rrng)
        else {
            panic!()
        };
        for (what, key) in bad_points() {
            for field in ["credential", "ephemeral"] {
                let edited = match Datagram::decode(&reply.bytes).unwrap() {
                    Datagram::ResponderChallenge(mut c) => {
                        if field == "credential" {
                            c.credential.key = &key;
                        } else {
                            c.ephemerals[0].key = &key;
                        }
                        Datagram::ResponderChallenge(c).to_vec().unwrap()
                    }
                    Datagram::ResponderDefer(mut c) => {
                        if field == "credential" {
                            c.credential.key = &key;
                        } else {
                            c.ephemerals[0].key = &key;
                        }
                        Datagram::ResponderDefer(c).to_vec().unwrap()
                    }
                    d => panic!("{d:?}"),
                };
                let (mut ini, _) = peers.start(mode, T0);
                count.reset();
                assert!(ini.handle_datagram(T0, addr(R), &edited).is_err());
                assert_eq!(count.counts().total(), 0, "{} {field} {what}", mode.name());
                assert!(ini.poll_transmit().is_none());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Key logs.

fn entries(log: &MemoryKeyLog) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    log.entries()
        .into_iter()
        .map(|e| (e.label.clone(), e.context.clone(), e.secret.to_vec()))
        .collect()
}

fn find<'a>(log: &'a [(String, Vec<u8>, Vec<u8>)], label: &str) -> Vec<&'a [u8]> {
    log.iter()
        .filter(|(l, _, _)| l == label)
        .map(|(_, _, s)| s.as_slice())
        .collect()
}

fn key32(s: &[u8]) -> [u8; 32] {
    s.try_into().expect("a 32-octet section key")
}

fn open(p: &dyn CryptoProvider, key: &[u8], aad: &[u8], sealed: &[u8]) -> Vec<u8> {
    let (ct, tag) = sealed.split_at(sealed.len() - 16);
    let mut buf = ct.to_vec();
    p.aes256_gcm_open(
        &key32(key),
        &[0; 12],
        aad,
        &mut buf,
        tag.try_into().unwrap(),
    )
    .expect("the logged key opens the section");
    buf
}

//= docs/SPEC.md#transcript-binding
//= type=test
//# with a label that names the message section and direction, so no two messages share a key.
#[test]
fn every_logged_key_is_distinct_and_the_log_decrypts_the_handshake() {
    let p = memo();
    for mode in [Mode::FirstContact, Mode::Immediate, Mode::Deferred] {
        let ilog = Arc::new(MemoryKeyLog::new());
        let rlog = Arc::new(MemoryKeyLog::new());
        let mut peers = Peers::new(p.clone(), mode);
        peers.icfg.keylog = ilog.clone();
        let mut rcfg = ResponderConfig::new(p.clone(), secret("security responder key"));
        rcfg.keylog = rlog.clone();
        if mode == Mode::Deferred {
            rcfg.defer = DeferPolicy::Always;
        }
        peers.responder = Responder::new(rcfg, T0 - Duration::from_secs(60)).unwrap();

        // Record every datagram.
        let (mut ini, first) = peers.start(mode, T0);
        let mut wire = vec![first.clone()];
        let mut next = first;
        let mut r = Run::default();
        loop {
            let reply = match peers
                .responder
                .handle_datagram(T0, addr(I), &next, &mut peers.rrng)
            {
                ResponderOutcome::Reply(t) => t.bytes,
                ResponderOutcome::Established { session, reply } => {
                    r.responder = Some(session);
                    match reply {
                        Some(t) => t.bytes,
                        None => break,
                    }
                }
                o => panic!("{o:?}"),
            };
            wire.push(reply.clone());
            ini.handle_datagram(T0, addr(R), &reply).unwrap();
            drain(&mut ini, &mut r);
            match ini.poll_transmit() {
                Some(t) => {
                    wire.push(t.bytes.clone());
                    next = t.bytes;
                }
                None => break,
            }
        }
        drain(&mut ini, &mut r);
        let (i, s) = (r.initiator.unwrap(), r.responder.unwrap());
        assert!(same_secrets(&i, &s));

        let il = entries(&ilog);
        let rl = entries(&rlog);
        // Every secret either side logged is distinct from every other.
        let all: HashSet<&[u8]> = il.iter().chain(&rl).map(|(_, _, s)| s.as_slice()).collect();
        let distinct_labels: HashSet<(&str, &[u8])> = il
            .iter()
            .chain(&rl)
            .map(|(l, _, s)| (l.as_str(), s.as_slice()))
            .collect();
        assert_eq!(
            all.len(),
            distinct_labels.len(),
            "{}: a secret under two labels",
            mode.name()
        );
        // One context, the initiator's ephemeral.
        for (_, ctx, _) in il.iter().chain(&rl) {
            assert_eq!(ctx.as_slice(), i.context.as_slice());
        }
        // The two sides agree on every label they both log.
        for (label, _, secret) in &rl {
            let mine = find(&il, label);
            assert!(
                mine.contains(&secret.as_slice()),
                "{}: {label} differs",
                mode.name()
            );
        }
        // The traffic secrets of both directions are there, equal to the sessions'.
        for log in [&il, &rl] {
            assert_eq!(
                find(log, labels::TRAFFIC_I2R),
                [i.secrets.i2r.expose().as_slice()]
            );
            assert_eq!(
                find(log, labels::TRAFFIC_R2I),
                [i.secrets.r2i.expose().as_slice()]
            );
            assert_eq!(
                find(log, labels::EXPORTER),
                [i.secrets.exporter.expose().as_slice()]
            );
        }
        // The section keys decrypt every encrypted section on the wire.
        match mode {
            Mode::Immediate => {
                let (x, rc) = (&wire[0], &wire[1]);
                let Datagram::InitiatorExchange(xd) = Datagram::decode(x).unwrap() else {
                    panic!()
                };
                let header = &x[..x.len() - xd.mezzanine.0.len()];
                let mz = open(
                    &*p,
                    find(&il, labels::MEZZANINE_I2R)[0],
                    header,
                    xd.mezzanine.0,
                );
                let mz = parse::all(&mz, ExchangeMezzanine::decode).unwrap();
                let early = open(&*p, find(&il, labels::EARLY_I2R)[0], &[], mz.early.0);
                let early = parse::all(&early, InnerSection::decode).unwrap();
                assert_eq!(early.payload, REQUEST);
                let Datagram::ResponderComplete(rd) = Datagram::decode(rc).unwrap() else {
                    panic!()
                };
                let header = &rc[..rc.len() - rd.mezzanine.0.len()];
                let mz = open(
                    &*p,
                    find(&rl, labels::MEZZANINE_R2I)[0],
                    header,
                    rd.mezzanine.0,
                );
                let mz = parse::all(&mz, ResponderCompleteMezzanine::decode).unwrap();
                let inner = open(&*p, find(&rl, labels::HANDSHAKE_R2I)[0], &[], mz.inner.0);
                parse::all(&inner, InnerSection::decode).unwrap();
                for label in [
                    labels::MEZZANINE_I2R,
                    labels::EARLY_I2R,
                    labels::MEZZANINE_R2I,
                    labels::HANDSHAKE_R2I,
                ] {
                    assert_eq!(find(&il, label).len(), 1, "{label}");
                    assert_eq!(find(&rl, label).len(), 1, "{label}");
                }
            }
            _ => {
                let complete = wire.last().unwrap();
                let Datagram::InitiatorComplete(cd) = Datagram::decode(complete).unwrap() else {
                    panic!()
                };
                let header = &complete[..complete.len() - cd.mezzanine.0.len()];
                // The responder logs exactly the Complete's keys.
                let mz_key = find(&rl, labels::MEZZANINE_I2R);
                assert_eq!(mz_key.len(), 1);
                let mz = open(&*p, mz_key[0], header, cd.mezzanine.0);
                let mz = parse::all(&mz, CompleteMezzanine::decode).unwrap();
                let hs = find(&rl, labels::HANDSHAKE_I2R);
                assert_eq!(hs.len(), 1);
                let inner = open(&*p, hs[0], &[], mz.inner.0);
                let inner = parse::all(&inner, InnerSection::decode).unwrap();
                assert_eq!(inner.payload, REQUEST);
            }
        }
        println!(
            "{}: initiator logged {:?}",
            mode.name(),
            il.iter().map(|(l, _, _)| l.as_str()).collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Stream creation.

fn seal(p: &dyn CryptoProvider, key: &[u8], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    let tag = p
        .aes256_gcm_seal(&key32(key), &[0; 12], aad, &mut buf)
        .unwrap();
    buf.extend_from_slice(&tag);
    buf
}

fn inner(extensions: &[rud::wire::samples::OwnedExtension], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    InnerSection {
        extensions: rud::wire::samples::list(extensions),
        payload,
    }
    .encode(&mut out)
    .unwrap();
    out
}

/// Inner sections without a complete stream creation: none at all, a StreamClient without its
/// StreamId, a StreamId alone.
fn without_stream_creation() -> Vec<(&'static str, Vec<u8>)> {
    use rud::wire::ExtensionValue;
    use rud::wire::samples::extension_bytes;
    let client = extension_bytes(&ExtensionValue::StreamClient { service: "echo" }).unwrap();
    let id = extension_bytes(&ExtensionValue::StreamId(&[9; 8])).unwrap();
    vec![
        ("no extensions", inner(&[], REQUEST)),
        ("StreamClient without StreamId", inner(&[client], REQUEST)),
        ("StreamId alone", inner(&[id], REQUEST)),
    ]
}

//= docs/SPEC.md#initiator-creates-stream
//= type=test
//# An initiator MUST include a stream creation extension in any connection datagram that has a mezzanine or ciphertext section with extensions.
#[test]
fn a_handshake_that_creates_no_stream_is_refused() {
    let p = memo();
    // First Contact: the Complete re-sealed (with the keys the initiator logged) around an inner
    // section that creates no stream.
    for (what, plain) in without_stream_creation() {
        let log = Arc::new(MemoryKeyLog::new());
        let mut peers = Peers::new(p.clone(), Mode::FirstContact);
        peers.icfg.keylog = log.clone();
        let (mut ini, hello) = peers.start(Mode::FirstContact, T0);
        let ResponderOutcome::Reply(ch) =
            peers
                .responder
                .handle_datagram(T0, addr(I), &hello, &mut peers.rrng)
        else {
            panic!()
        };
        ini.handle_datagram(T0, addr(R), &ch.bytes).unwrap();
        let complete = ini.poll_transmit().unwrap().bytes;
        let l = entries(&log);
        let (k_mz, k_hs) = (
            find(&l, labels::MEZZANINE_I2R)[0],
            find(&l, labels::HANDSHAKE_I2R)[0],
        );
        let Datagram::InitiatorComplete(c) = Datagram::decode(&complete).unwrap() else {
            panic!()
        };
        let header = &complete[..complete.len() - c.mezzanine.0.len()];
        let mz_plain = open(&*p, k_mz, header, c.mezzanine.0);
        let mz = parse::all(&mz_plain, CompleteMezzanine::decode).unwrap();
        let sealed_inner = seal(&*p, k_hs, &[], &plain);
        let mut forged_mz = CompleteMezzanine {
            credential: mz.credential,
            extensions: mz.extensions.clone(),
            inner: rud::wire::Sealed(&sealed_inner),
            padding: 0,
        };
        forged_mz.padding = mz_plain.len().saturating_sub(forged_mz.encoded_len());
        let mut forged_plain = Vec::new();
        forged_mz.encode(&mut forged_plain).unwrap();
        let forged = [header, &seal(&*p, k_mz, header, &forged_plain)].concat();
        let o = peers
            .responder
            .handle_datagram(T0, addr(I), &forged, &mut peers.rrng);
        assert!(
            matches!(
                o,
                ResponderOutcome::Refused {
                    reason: HandshakeError::StreamCreation(_) | HandshakeError::Invalid { .. },
                    ..
                }
            ),
            "Complete with {what}: {o:?}"
        );
        // The genuine Complete still establishes: only the stream creation was missing.
        let o = peers
            .responder
            .handle_datagram(T0, addr(I), &complete, &mut peers.rrng);
        assert!(matches!(o, ResponderOutcome::Established { .. }), "{o:?}");
    }

    // Immediate: the Exchange's early-data section without stream creation, or empty.
    let mut cases = without_stream_creation();
    cases.push(("no early-data section", Vec::new()));
    for (what, plain) in cases {
        let log = Arc::new(MemoryKeyLog::new());
        let mut peers = Peers::new(p.clone(), Mode::Immediate);
        peers.icfg.keylog = log.clone();
        let (_, exchange) = peers.start(Mode::Immediate, T0);
        let l = entries(&log);
        let (k_mz, k_early) = (
            find(&l, labels::MEZZANINE_I2R)[0],
            find(&l, labels::EARLY_I2R)[0],
        );
        let Datagram::InitiatorExchange(x) = Datagram::decode(&exchange).unwrap() else {
            panic!()
        };
        let header = &exchange[..exchange.len() - x.mezzanine.0.len()];
        let mz_plain = open(&*p, k_mz, header, x.mezzanine.0);
        let mz = parse::all(&mz_plain, ExchangeMezzanine::decode).unwrap();
        let sealed_early = if plain.is_empty() {
            Vec::new()
        } else {
            seal(&*p, k_early, &[], &plain)
        };
        let mut forged_mz = ExchangeMezzanine {
            credential: mz.credential,
            timestamp: mz.timestamp,
            extensions: mz.extensions.clone(),
            early: rud::wire::Sealed(&sealed_early),
            padding: 0,
        };
        forged_mz.padding = mz_plain.len().saturating_sub(forged_mz.encoded_len());
        let mut forged_plain = Vec::new();
        forged_mz.encode(&mut forged_plain).unwrap();
        let forged = [header, &seal(&*p, k_mz, header, &forged_plain)].concat();
        let o = peers
            .responder
            .handle_datagram(T0, addr(I), &forged, &mut peers.rrng);
        assert!(
            matches!(
                o,
                ResponderOutcome::Refused {
                    reason: HandshakeError::StreamCreation(_) | HandshakeError::Invalid { .. },
                    ..
                }
            ),
            "Exchange with {what}: {o:?}"
        );
        assert_eq!(peers.responder.per_initiator_state(), 0, "{what}");
    }
}
