//! CPU cost of each key exchange per side, against the X448 operations that side performs.
//!
//! X448 dominates a handshake; everything else (HKDF, SHA-512, AES-GCM of two or three
//! sections, encoding, cookies) should add little. The goal is that a side's whole share of a
//! handshake costs at most 1.15 times the X448 operations it performs. For each mode this
//! benchmark measures, in one run:
//!
//! - `handshake-<mode>/initiator` and `handshake-<mode>/responder`: one full handshake between
//!   a fresh initiator (new ephemeral key each time) and a long-lived responder, timing only
//!   the calls into that side (`iter_custom`);
//! - `handshake-<mode>/x448-initiator` and `handshake-<mode>/x448-responder`: as many X448
//!   scalar multiplications as that side performs per handshake, counted beforehand with a
//!   `CountingProvider` (key generation and agreement cost the same ladder).
//!
//! At the end it prints handshake / X448 per side and mode from criterion's medians, and from a
//! plain interleaved loop of its own.
//!
//! Run with `cargo bench -p rud-bench --bench handshake`.

// A benchmark is not library code: failing loudly on a broken setup is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use rud::crypto::x448::X448Secret;
use rud::crypto::{CountingProvider, CryptoProvider, default_provider};
use rud::handshake::{
    DeferPolicy, Entropy, Initiator, InitiatorConfig, InitiatorEvent, Mode, Responder,
    ResponderConfig, ResponderOutcome, SeededEntropy,
};

const T0: Duration = Duration::from_secs(1_800_000_000);
const MODES: [Mode; 3] = [Mode::FirstContact, Mode::Immediate, Mode::Deferred];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn key(seed: &str) -> X448Secret {
    let mut r = SeededEntropy::new(seed.as_bytes());
    X448Secret::generate(|b| r.fill(b))
}

/// A long-lived responder and the configuration of the initiators that talk to it.
struct Pair {
    responder: Responder,
    icfg: InitiatorConfig,
    irng: SeededEntropy,
    rrng: SeededEntropy,
    mode: Mode,
    i_addr: SocketAddr,
    r_addr: SocketAddr,
}

impl Pair {
    fn new(mode: Mode, iprov: Arc<dyn CryptoProvider>, rprov: Arc<dyn CryptoProvider>) -> Self {
        let r_key = key("bench responder");
        let mut rcfg = ResponderConfig::new(rprov, r_key.clone());
        rcfg.defer = if mode == Mode::Deferred {
            DeferPolicy::Always
        } else {
            DeferPolicy::Never
        };
        let responder = Responder::new(rcfg, T0 - Duration::from_secs(60)).unwrap();
        let mut icfg = InitiatorConfig::new(iprov.clone(), key("bench initiator"));
        if mode != Mode::FirstContact {
            icfg.responder_key = Some(r_key.public_key(&*iprov));
        }
        Pair {
            responder,
            icfg,
            irng: SeededEntropy::new(b"bench initiator entropy"),
            rrng: SeededEntropy::new(b"bench responder entropy"),
            mode,
            i_addr: addr("192.0.2.1:40000"),
            r_addr: addr("198.51.100.7:21077"),
        }
    }

    /// One whole handshake; returns the time spent in the initiator's and the responder's
    /// calls.
    fn handshake(&mut self) -> (Duration, Duration) {
        let t = Instant::now();
        let mut ini = match self.mode {
            Mode::FirstContact => Initiator::first_contact(
                self.icfg.clone(),
                &mut self.irng,
                T0,
                self.r_addr,
                b"services?",
                b"GET /status",
            ),
            _ => Initiator::immediate(
                self.icfg.clone(),
                &mut self.irng,
                T0,
                self.r_addr,
                b"GET /status",
            ),
        }
        .unwrap();
        let first = ini.poll_transmit().unwrap().bytes;
        let mut ti = t.elapsed();

        let t = Instant::now();
        let reply = match self
            .responder
            .handle_datagram(T0, self.i_addr, &first, &mut self.rrng)
        {
            ResponderOutcome::Reply(r) => r.bytes,
            ResponderOutcome::Established { reply, session } => {
                black_box(session);
                reply.unwrap().bytes
            }
            o => panic!("{o:?}"),
        };
        let mut tr = t.elapsed();

        let t = Instant::now();
        ini.handle_datagram(T0, self.r_addr, &reply).unwrap();
        let mut established = false;
        while let Some(e) = ini.poll_event() {
            if let InitiatorEvent::Established(s) = e {
                black_box(s);
                established = true;
            }
        }
        let complete = ini.poll_transmit();
        ti += t.elapsed();
        assert!(established);

        if let Some(c) = complete {
            let t = Instant::now();
            let o = self
                .responder
                .handle_datagram(T0, self.i_addr, &c.bytes, &mut self.rrng);
            tr += t.elapsed();
            assert!(matches!(o, ResponderOutcome::Established { .. }), "{o:?}");
        }
        (ti, tr)
    }
}

/// X448 operations per handshake on each side, in the steady state (the responder's ephemeral
/// of the cookie epoch already exists).
fn x448_counts(mode: Mode) -> (u64, u64) {
    let ic = Arc::new(CountingProvider::new(default_provider()));
    let rc = Arc::new(CountingProvider::new(default_provider()));
    let mut pair = Pair::new(mode, ic.clone(), rc.clone());
    pair.handshake();
    ic.reset();
    rc.reset();
    let n = 4;
    for _ in 0..n {
        pair.handshake();
    }
    (ic.counts().total() / n, rc.counts().total() / n)
}

struct Dh {
    secret: X448Secret,
    peer: rud::crypto::x448::X448PublicKey,
    provider: Arc<dyn CryptoProvider>,
}

impl Dh {
    fn new() -> Self {
        let provider = default_provider();
        Dh {
            secret: key("bench dh a"),
            peer: key("bench dh b").public_key(&*provider),
            provider,
        }
    }

    fn run(&self, n: u64) {
        for _ in 0..n {
            black_box(
                self.secret
                    .diffie_hellman(&*self.provider, black_box(&self.peer))
                    .unwrap(),
            );
        }
    }
}

fn bench_mode(c: &mut Criterion, mode: Mode, counts: (u64, u64)) {
    let mut g = c.benchmark_group(format!("handshake-{}", mode.name()));
    g.sample_size(30);
    for (side, initiator) in [("initiator", true), ("responder", false)] {
        let mut pair = Pair::new(mode, default_provider(), default_provider());
        g.bench_function(side, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (ti, tr) = pair.handshake();
                    total += if initiator { ti } else { tr };
                }
                total
            });
        });
        let dh = Dh::new();
        let n = if initiator { counts.0 } else { counts.1 };
        g.bench_function(format!("x448-{side}"), |b| b.iter(|| dh.run(n)));
    }
    g.finish();
}

/// Where criterion writes its estimates (the same rule as criterion's own default).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// Median estimate in nanoseconds of one benchmark, if criterion wrote it.
fn median_ns(id: &str) -> Option<f64> {
    let path = criterion_dir().join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Interleaved timing, independent of criterion: alternate one handshake with the matching
/// X448 operations and keep the median of each.
fn side_by_side(mode: Mode, counts: (u64, u64)) -> [(f64, f64); 2] {
    let mut pair = Pair::new(mode, default_provider(), default_provider());
    let dh = Dh::new();
    let (mut hi, mut hr, mut xi, mut xr) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let (ti, tr) = pair.handshake();
        hi.push(ti.as_nanos() as f64);
        hr.push(tr.as_nanos() as f64);
        let t = Instant::now();
        dh.run(counts.0);
        xi.push(t.elapsed().as_nanos() as f64);
        let t = Instant::now();
        dh.run(counts.1);
        xr.push(t.elapsed().as_nanos() as f64);
    }
    [
        (median(&mut hi), median(&mut xi)),
        (median(&mut hr), median(&mut xr)),
    ]
}

fn main() {
    let counts: Vec<(Mode, (u64, u64))> = MODES.iter().map(|&m| (m, x448_counts(m))).collect();
    let mut c = Criterion::default().configure_from_args();
    for &(mode, n) in &counts {
        bench_mode(&mut c, mode, n);
    }
    c.final_summary();

    // Only report when benchmarks actually ran (not under `cargo test --benches`).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!("\n== RUD handshake CPU per side against its X448 operations (goal <= 1.15) ==");
    println!(
        "{:<14} {:<10} {:>5} {:>14} {:>14} {:>7} {:>14}",
        "mode", "side", "X448", "handshake us", "X448 us", "ratio", "loop ratio"
    );
    for &(mode, (ni, nr)) in &counts {
        let loops = side_by_side(mode, (ni, nr));
        for ((side, n), (lh, lx)) in [("initiator", ni), ("responder", nr)]
            .into_iter()
            .zip(loops)
        {
            let group = format!("handshake-{}", mode.name());
            let h = median_ns(&format!("{group}/{side}"));
            let x = median_ns(&format!("{group}/x448-{side}"));
            let (hs, xs, ratio) = match (h, x) {
                (Some(h), Some(x)) => (
                    format!("{:.1}", h / 1000.0),
                    format!("{:.1}", x / 1000.0),
                    format!("{:.3}", h / x),
                ),
                _ => ("?".into(), "?".into(), "?".into()),
            };
            println!(
                "{:<14} {:<10} {:>5} {:>14} {:>14} {:>7} {:>14.3}",
                mode.name(),
                side,
                n,
                hs,
                xs,
                ratio,
                lh / lx
            );
        }
    }
}
