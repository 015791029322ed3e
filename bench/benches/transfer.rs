//! The full stack in memory: a bulk asynchronous transfer between two endpoints on the seeded
//! simulator (no loss), with every packet sealed, split, reassembled, opened, acknowledged and
//! paced. Reports packets per second of wall time on one core (the simulator is single-threaded,
//! so both endpoints share it): the cost of the protocol, not of a network.
//!
//! Run with `cargo bench -p rud-bench --bench transfer`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use rud::connection::StreamKind;
use rud::sim::{Pair, PairConfig, PairMode};

const MESSAGE: usize = 256 * 1024;

/// Transfers `messages` messages; returns (packets on the wire, wall time of the transfer).
fn transfer(messages: usize, seed: u64) -> (u64, Duration) {
    let mut p = Pair::new(PairConfig {
        seed,
        mode: PairMode::Immediate,
        ..PairConfig::default()
    })
    .unwrap();
    p.establish(Duration::from_secs(30)).unwrap();
    let before = p.sim.stats.sent;
    let start = Instant::now();
    let c = p.client().unwrap();
    let s = c.open(StreamKind::Asynchronous, "sink", vec![]).unwrap();
    for i in 0..messages {
        c.send(s, vec![i as u8; MESSAGE]).unwrap();
    }
    let mut got = 0;
    let ok = p.run(
        Duration::from_secs(3600),
        |_, _, _| {},
        |p| {
            if let Some(srv) = p.server() {
                let h: Vec<_> = srv.streams().map(|x| x.0).collect();
                for h in h {
                    while srv.read(h).is_some() {
                        got += 1;
                    }
                }
            }
            got == messages + 1 // the handshake's message 0 on the first stream
        },
    );
    assert!(ok, "transfer incomplete");
    (p.sim.stats.sent - before, start.elapsed())
}

fn bench(c: &mut Criterion) {
    let messages = 16; // 4 MiB
    let (packets, _) = transfer(messages, 1);
    let mut g = c.benchmark_group("transfer");
    g.throughput(Throughput::Elements(packets));
    g.sample_size(10);
    g.bench_function("in_memory_4MiB", |b| b.iter(|| transfer(messages, 1)));
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // An independent figure from plain runs: packets per second of wall time.
    let mut rates = Vec::new();
    for seed in 1..=5 {
        let (packets, t) = transfer(16, seed);
        rates.push(packets as f64 / t.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "in-memory bulk transfer, full stack on one core: median {:.0} packets/s (min {:.0}, max {:.0}) over 5 runs of 4 MiB",
        rates[2], rates[0], rates[4]
    );
}
