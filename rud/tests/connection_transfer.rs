//! The in-memory harness of SPEC section 5 (issue "Streams, packetization and reliability"):
//! a 10 MB asynchronous transfer and 1000 transactional requests arrive byte-identical and
//! exactly once at 0 %, 10 % and 30 % loss, with reordering and duplication. Prints the
//! retransmission counts.
#![allow(clippy::expect_used, clippy::unwrap_used)]
use std::collections::BTreeMap;
use std::time::Duration;

use rud::connection::{StreamHandle, StreamKind};
use rud::sim::{LinkConfig, Pair, PairConfig, PairMode, SimRng};

const TOTAL: usize = 10 * 1000 * 1000;
const CHUNK: usize = 256 * 1024;
const REQUESTS: usize = 1000;
const TX_STREAMS: usize = 4;

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = SimRng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

struct Report {
    loss: u32,
    simulated: Duration,
    packets_sent: u64,
    retransmitted_client: u64,
    retransmitted_server: u64,
    lost_by_network: u64,
    duplicated_by_network: u64,
}

fn run(loss_percent: u32, seed: u64) -> Report {
    let link = LinkConfig {
        latency: Duration::from_millis(15),
        jitter: Duration::from_millis(10),
        loss_per_mille: loss_percent * 10,
        duplicate_per_mille: 20,
        mtu: 1500,
    };
    let mut p = Pair::new(PairConfig {
        seed,
        link,
        mode: PairMode::Immediate,
        ..PairConfig::default()
    })
    .unwrap();
    p.establish(Duration::from_secs(60)).unwrap();
    let start = p.sim.now;
    let file = content(seed, TOTAL);
    let c = p.client().unwrap();
    let sink = c.open(StreamKind::Asynchronous, "sink", vec![]).unwrap();
    for chunk in file.chunks(CHUNK) {
        c.send(sink, chunk.to_vec()).unwrap();
    }
    let tx: Vec<StreamHandle> = (0..TX_STREAMS)
        .map(|_| c.open(StreamKind::Transactional, "echo", vec![]).unwrap())
        .collect();
    let mut requests: BTreeMap<(StreamHandle, u64), Vec<u8>> = BTreeMap::new();
    for i in 0..REQUESTS {
        let s = tx[i % TX_STREAMS];
        let body = content(seed ^ (i as u64) << 20, 50 + (i * 37) % 3000);
        let id = c.send(s, body.clone()).unwrap();
        assert!(requests.insert((s, id), body).is_none());
    }

    let mut received = Vec::with_capacity(TOTAL);
    let mut sink_messages = 0usize;
    let mut responses: BTreeMap<(StreamHandle, u64), Vec<u8>> = BTreeMap::new();
    let mut duplicate_responses = 0;
    let done = p.run(
        Duration::from_secs(3600),
        |_, _, _| {},
        |p| {
            if let Some(srv) = p.server() {
                let streams: Vec<_> = srv
                    .streams()
                    .map(|(h, k, svc)| (h, k, svc.to_owned()))
                    .collect();
                for (h, kind, svc) in streams {
                    while let Some(m) = srv.read(h) {
                        match (kind, svc.as_str()) {
                            (StreamKind::Asynchronous, "sink") => {
                                received.extend_from_slice(&m.bytes);
                                sink_messages += 1;
                            }
                            (StreamKind::Transactional, _) if h != StreamHandle(0) => {
                                srv.respond(h, m.id, m.bytes).unwrap()
                            }
                            _ => {}
                        }
                    }
                }
            }
            let cl = p.client().unwrap();
            for &s in &tx {
                while let Some(m) = cl.read(s) {
                    if responses.insert((s, m.id), m.bytes).is_some() {
                        duplicate_responses += 1;
                    }
                }
            }
            received.len() >= TOTAL && responses.len() >= REQUESTS
        },
    );
    assert!(
        done,
        "loss {loss_percent}%: incomplete after an hour of simulated time: {} of {TOTAL} octets, {} of {REQUESTS} responses",
        received.len(),
        responses.len()
    );
    // Byte-identical and exactly once.
    assert_eq!(received.len(), TOTAL, "loss {loss_percent}%: octets");
    assert!(received == file, "loss {loss_percent}%: the file differs");
    assert_eq!(sink_messages, TOTAL.div_ceil(CHUNK));
    assert_eq!(duplicate_responses, 0);
    assert_eq!(
        responses, requests,
        "loss {loss_percent}%: responses differ"
    );
    let simulated = p.sim.now - start;
    let net = p.sim.stats;
    let cc = p.client().unwrap().counters();
    let sc = p.server().unwrap().counters();
    // Nothing was delivered twice although the network duplicated packets.
    assert!(net.duplicated > 0);
    assert_eq!(
        cc.messages_delivered as usize,
        REQUESTS + 1 /* handshake answer unread */ - 1
    );
    Report {
        loss: loss_percent,
        simulated,
        packets_sent: cc.packets_sent + sc.packets_sent,
        retransmitted_client: cc.packets_retransmitted,
        retransmitted_server: sc.packets_retransmitted,
        lost_by_network: net.lost,
        duplicated_by_network: net.duplicated,
    }
}

fn report(r: &Report) {
    println!(
        "loss {:>2}%: {:>7.1} s simulated, {:>6} packets sent, retransmitted {:>6} (client) {:>5} (server), network lost {:>6}, duplicated {:>4}",
        r.loss,
        r.simulated.as_secs_f64(),
        r.packets_sent,
        r.retransmitted_client,
        r.retransmitted_server,
        r.lost_by_network,
        r.duplicated_by_network
    );
}

//= docs/SPEC.md#message-order
//= type=test
//# A receiver MUST hand messages of a stream to the application in data-counter order, each exactly once
#[test]
fn ten_megabytes_and_a_thousand_requests_without_loss() {
    let r = run(0, 11);
    report(&r);
}

#[test]
fn ten_megabytes_and_a_thousand_requests_at_ten_percent_loss() {
    let r = run(10, 12);
    report(&r);
    assert!(r.retransmitted_client > 0);
}

#[test]
fn ten_megabytes_and_a_thousand_requests_at_thirty_percent_loss() {
    let r = run(30, 13);
    report(&r);
    assert!(r.retransmitted_client > 0);
}
