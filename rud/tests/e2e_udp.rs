//! End to end over real loopback sockets (the UDP binding): every key exchange mode with both
//! stream kinds, a file that arrives byte-identical, many concurrent connections to one
//! responder, and transfers through a lossy relay.
#![allow(clippy::expect_used, clippy::unwrap_used)]
mod udp_relay;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rud::connection::{StreamHandle, StreamKind};
use rud::crypto::x448::X448Secret;
use rud::handshake::{DeferPolicy, Entropy, Mode, OsEntropy};
use rud::service::ServiceHost;
use rud::sim::SimRng;
use rud::udp::{ConnectOptions, ServerConfig, UdpConfig, UdpEndpoint};
use udp_relay::{Relay, RelayConfig};

/// `RUST_LOG=rud=debug cargo test ... -- --nocapture` shows the drivers' diagnostics.
fn trace() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The tests of this file run one at a time: they measure timing-sensitive recovery on a
/// two-core machine, and running them side by side only makes each slower and flakier.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let mut r = [0u8; 8];
    OsEntropy.fill(&mut r);
    let d = std::env::temp_dir().join(format!("rud-{name}-{}", hex::encode(r)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = SimRng::new(seed);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(len);
    v
}

async fn server(sink: &Path, defer: bool, tune: impl FnOnce(&mut UdpConfig)) -> UdpEndpoint {
    let key = X448Secret::generate(|b| OsEntropy.fill(b));
    let mut sc = ServerConfig::new(key, ServiceHost::with_builtins(Some(sink.to_owned())));
    sc.keys_are_new = true;
    if defer {
        sc.defer = DeferPolicy::Always;
    }
    let mut cfg = UdpConfig::server(sc);
    tune(&mut cfg);
    UdpEndpoint::bind(&[loopback()], cfg).await.unwrap()
}

/// The single file the sink wrote, once it holds `len` octets (the sink writes after the
/// acknowledgement may have left, so wait a little).
async fn sink_file(dir: &Path, len: usize) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        if let [f] = files.as_slice() {
            let data = std::fs::read(f).unwrap();
            if data.len() >= len || Instant::now() > deadline {
                return data;
            }
        }
        assert!(Instant::now() < deadline, "sink files: {files:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_with_both_stream_kinds() {
    let _serial = SERIAL.lock().await;
    for (mode, defer) in [
        (Mode::FirstContact, false),
        (Mode::Immediate, false),
        (Mode::Deferred, true),
    ] {
        for kind in [StreamKind::Transactional, StreamKind::Asynchronous] {
            let dir = temp_dir("modes");
            let srv = server(&dir, defer, |_| {}).await;
            let key = srv.public_key().unwrap();
            let cli = UdpEndpoint::bind(&[loopback()], UdpConfig::client())
                .await
                .unwrap();
            let service = match kind {
                StreamKind::Transactional => "echo",
                StreamKind::Asynchronous => "sink",
            };
            let first = format!("first message, {mode:?} {kind:?}").into_bytes();
            let opts = match mode {
                Mode::FirstContact => ConnectOptions::first_contact(service, first.clone()),
                _ => ConnectOptions::immediate(key, service, first.clone()),
            }
            .kind(kind);
            let conn = cli.connect(srv.local_addr(), opts).await.unwrap();
            let info = conn.info().clone();
            assert_eq!(info.mode, mode, "{mode:?} {kind:?}");
            assert_eq!(info.responder_key, Some(key));
            assert_eq!(info.authenticated, mode != Mode::FirstContact);
            if mode == Mode::FirstContact {
                assert_eq!(info.hello_answer, b"discard echo sink");
            }
            match kind {
                StreamKind::Transactional => {
                    assert_eq!(conn.first_response().await.unwrap(), first);
                    let s = conn.open(StreamKind::Transactional, "echo").await.unwrap();
                    for i in 0..5 {
                        let req = content(i, 100 + 3000 * i as usize);
                        assert_eq!(conn.request(s, req.clone()).await.unwrap(), req);
                    }
                }
                StreamKind::Asynchronous => {
                    let mut all = first.clone();
                    for i in 0..4 {
                        let m = content(i, 20_000);
                        all.extend_from_slice(&m);
                        conn.send(StreamHandle(0), m).await.unwrap();
                    }
                    conn.flush(StreamHandle(0)).await.unwrap();
                    assert!(sink_file(&dir, all.len()).await == all, "{mode:?}");
                }
            }
            let m = conn.metrics().await.unwrap();
            assert!(m.path.packets_sent > 0 && m.counters.datagrams_authenticated > 0);
            conn.close().await.unwrap();
            cli.shutdown().await.unwrap();
            srv.shutdown().await.unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}

/// Sends `len` octets to the sink over an asynchronous stream and checks what was written.
async fn transfer(len: usize) -> Duration {
    let dir = temp_dir("file");
    let srv = server(&dir, false, |_| {}).await;
    let cli = UdpEndpoint::bind(&[loopback()], UdpConfig::client())
        .await
        .unwrap();
    let file = content(len as u64, len);
    let opts = ConnectOptions::immediate(srv.public_key().unwrap(), "sink", Vec::new())
        .kind(StreamKind::Asynchronous);
    let conn = cli.connect(srv.local_addr(), opts).await.unwrap();
    let start = Instant::now();
    for chunk in file.chunks(256 * 1024) {
        conn.send(StreamHandle(0), chunk.to_vec()).await.unwrap();
    }
    conn.flush(StreamHandle(0)).await.unwrap();
    let took = start.elapsed();
    let got = sink_file(&dir, len).await;
    assert_eq!(got.len(), len);
    assert!(got == file, "the file differs");
    let m = conn.metrics().await.unwrap();
    println!(
        "{len} octets in {took:?} ({:.1} MB/s), {} packets sent, {} resent, srtt {:?}",
        len as f64 / took.as_secs_f64() / 1e6,
        m.path.packets_sent,
        m.counters.packets_retransmitted,
        m.path.smoothed_rtt
    );
    cli.shutdown().await.unwrap();
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_arrives_byte_identical() {
    let _serial = SERIAL.lock().await;
    transfer(5_000_000).await;
}

/// The 50 MB run: opt-in, in release mode (`bash scripts/e2e-large.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "50 MB: run in release with scripts/e2e-large.sh"]
async fn fifty_megabytes_arrive_byte_identical() {
    let _serial = SERIAL.lock().await;
    transfer(50_000_000).await;
}

/// 1000 in release (`bash scripts/e2e-large.sh` runs it, about 10 s); the unoptimised core of
/// a debug test build scans every connection on each poll and cannot keep 1000 alive in time,
/// so the default run holds 200.
const CONCURRENT: usize = if cfg!(debug_assertions) { 200 } else { 1000 };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_to_one_responder() {
    let _serial = SERIAL.lock().await;
    const N: usize = CONCURRENT;
    let dir = temp_dir("many");
    let srv = server(&dir, false, |c| {
        // Every client here shares 127.0.0.1: lift the per-address limit (64 by default).
        c.endpoint.max_connections_per_peer = N;
    })
    .await;
    let key = srv.public_key().unwrap();
    let cli = UdpEndpoint::bind(&[loopback()], UdpConfig::client())
        .await
        .unwrap();
    // At most this many handshakes in flight, so a burst of 1200-octet Exchanges does not
    // overflow the server's socket buffer; every connection stays open until all are up.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    let all_up = std::sync::Arc::new(tokio::sync::Barrier::new(N + 1));
    let addr = srv.local_addr();
    let mut tasks = Vec::new();
    for i in 0..N {
        let (cli, gate, all_up) = (cli.clone(), gate.clone(), all_up.clone());
        tasks.push(tokio::spawn(async move {
            let msg = format!("connection {i}").into_bytes();
            let permit = gate.acquire().await.unwrap();
            let opts = ConnectOptions::immediate(key, "echo", msg.clone())
                .timeout(Duration::from_secs(60));
            let conn = cli.connect(addr, opts).await;
            drop(permit);
            all_up.wait().await;
            let conn = conn.unwrap();
            assert_eq!(conn.first_response().await.unwrap(), msg);
            let s = conn.open(StreamKind::Transactional, "echo").await.unwrap();
            assert_eq!(conn.request(s, msg.clone()).await.unwrap(), msg);
            conn
        }));
    }
    all_up.wait().await;
    let held = srv.metrics().await.unwrap().connections;
    let mut conns = Vec::new();
    for t in tasks {
        conns.push(t.await.unwrap());
    }
    assert_eq!(held, N, "the responder holds every connection at once");
    let m = srv.metrics().await.unwrap();
    assert_eq!((m.accepted, m.refused), (N as u64, 0));
    drop(conns);
    cli.shutdown().await.unwrap();
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_complete_through_a_relay_losing_a_fifth() {
    let _serial = SERIAL.lock().await;
    trace();
    let stats = relay_run(relay_seed(), 200, None).await;
    assert!(stats.lost > 0 && stats.duplicated > 0, "{stats:?}");
}

/// Rebinding with 5 % loss. 20 % loss and a rebinding every second together is the opt-in
/// `transfers_complete_through_a_lossy_rebinding_relay` below (slow tail of up to 50 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_complete_through_a_rebinding_relay() {
    let _serial = SERIAL.lock().await;
    trace();
    let stats = relay_run(relay_seed(), 50, Some(Duration::from_secs(1))).await;
    assert!(stats.rebinds > 0, "the relay never rebound: {stats:?}");
    assert!(stats.via_rebound > 0, "the server never moved: {stats:?}");
}

/// Both at once: 20 % loss (with the duplication, delay and reordering above) and a rebinding
/// every second. It stalled in about half the runs until four connection fixes: the
/// anti-amplification budget counts every packet routed from the new address (not only the
/// last packet of the datagram that moved the path); a new path's challenge is a bare ping
/// that fits three times one small packet; a waiting initiator pings after max(3 PTO, 1 s) of
/// silence; and an acknowledgement on any stream direction resets every direction's probe
/// backoff. Since then seeds 20-29, twice each: 20 of 20 passed, in 4 to 50 s. Opt-in
/// (`bash scripts/e2e-large.sh` runs it): the slow tail is too long for the default suite,
/// and 20 runs cannot rule out a rare stall. Trace a run with `RUD_RELAY_SEED=N
/// RUD_RELAY_TRACE=1 RUD_RELAY_QLOG=DIR cargo test -p rud --test e2e_udp -- --ignored
/// lossy_rebinding --nocapture`.
#[ignore = "opt-in: 4-50 s per run (20 of 20 passed); run with --ignored or scripts/e2e-large.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_complete_through_a_lossy_rebinding_relay() {
    let _serial = SERIAL.lock().await;
    trace();
    let stats = relay_run(relay_seed(), 200, Some(Duration::from_secs(1))).await;
    assert!(stats.lost > 0 && stats.duplicated > 0, "{stats:?}");
    assert!(stats.rebinds > 0, "the relay never rebound: {stats:?}");
    assert!(stats.via_rebound > 0, "the server never moved: {stats:?}");
}

/// The relay's seed: 20, or `RUD_RELAY_SEED` to repeat a run with others. The seed fixes the
/// relay's choices (which packets are lost, duplicated, delayed); socket timing still varies.
fn relay_seed() -> u64 {
    std::env::var("RUD_RELAY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

async fn relay_run(
    seed: u64,
    loss_per_mille: u32,
    rebind_every: Option<Duration>,
) -> udp_relay::RelayStats {
    println!(
        "relay seed {seed} (RUD_RELAY_SEED), loss {loss_per_mille}/1000, rebinding {rebind_every:?}"
    );
    // A stall is a failure, not a hang.
    tokio::time::timeout(
        Duration::from_secs(120),
        relay_transfer(seed, loss_per_mille, rebind_every),
    )
    .await
    .expect("the transfer through the relay stalled for two minutes")
}

async fn relay_transfer(
    seed: u64,
    loss_per_mille: u32,
    rebind_every: Option<Duration>,
) -> udp_relay::RelayStats {
    let dir = temp_dir("lossy");
    // Diagnostics of a slow or stalled run: RUD_RELAY_QLOG=DIR writes both ends' qlogs,
    // RUD_RELAY_TRACE=1 prints the client's and the relay's counters every 500 ms.
    let qlog = std::env::var_os("RUD_RELAY_QLOG").map(PathBuf::from);
    let srv = server(&dir, false, |c| c.qlog_dir.clone_from(&qlog)).await;
    let relay = Relay::start(
        srv.local_addr(),
        RelayConfig {
            seed,
            loss_per_mille,
            duplicate_per_mille: 20,
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(10),
            rebind_every,
            // A NAT keeps the old mapping a while. Without it a client that can only resend
            // (its window full of datagrams the server already has, dropped there as replays)
            // never sends the newer datagram the server needs to move (SPEC migration).
            rebind_overlap: Duration::from_secs(2),
        },
    )
    .await;
    let mut ccfg = UdpConfig::client();
    ccfg.qlog_dir = qlog;
    let cli = UdpEndpoint::bind(&[loopback()], ccfg).await.unwrap();
    let key = srv.public_key().unwrap();
    let opts = ConnectOptions::immediate(key, "sink", Vec::new())
        .kind(StreamKind::Asynchronous)
        .timeout(Duration::from_secs(30));
    let conn = cli.connect(relay.addr, opts).await.unwrap();
    relay.start_rebinding();
    let file = content(7, 200_000);
    let start = Instant::now();
    let work = async {
        for chunk in file.chunks(64 * 1024) {
            conn.send(StreamHandle(0), chunk.to_vec()).await.unwrap();
        }
        let echo = conn.open(StreamKind::Transactional, "echo").await.unwrap();
        for i in 0..10u64 {
            let req = content(100 + i, 50 + 1400 * i as usize);
            assert_eq!(conn.request(echo, req.clone()).await.unwrap(), req);
        }
        conn.flush(StreamHandle(0)).await.unwrap();
        let got = sink_file(&dir, file.len()).await;
        assert!(got == file, "the file differs");
    };
    tokio::pin!(work);
    let trace = std::env::var_os("RUD_RELAY_TRACE").is_some();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            () = &mut work => break,
            _ = tick.tick(), if trace => {
                let (Ok(m), Ok(s)) = (conn.metrics().await, srv.metrics().await) else {
                    continue;
                };
                println!(
                    "{:6.1}s client: sent {} resent {} received {} cwnd {} in flight {} srtt {:?}; \
                     server: received {} sent {}; relay {:?}",
                    start.elapsed().as_secs_f64(),
                    m.counters.packets_sent,
                    m.counters.packets_retransmitted,
                    m.counters.packets_received,
                    m.congestion_window,
                    m.bytes_in_flight,
                    m.path.smoothed_rtt,
                    s.datagrams_received,
                    s.datagrams_sent,
                    relay.stats()
                );
            }
        }
    }
    let stats = relay.stats();
    let m = conn.metrics().await.unwrap();
    println!(
        "relay: {:?}, {stats:?}, {} packets resent by the client",
        start.elapsed(),
        m.counters.packets_retransmitted
    );
    assert!(m.counters.packets_retransmitted > 0);
    cli.shutdown().await.unwrap();
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    stats
}

/// Several ports per connection over real sockets (SPEC 5.6): a responder bound to two
/// loopback ports; the initiator connects to one and opens a standby path to the other,
/// which its heartbeats validate and measure while the traffic stays on the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_path_to_a_second_port_is_validated_over_udp() {
    let _serial = SERIAL.lock().await;
    let key = X448Secret::generate(|b| OsEntropy.fill(b));
    let mut sc = ServerConfig::new(key, ServiceHost::with_builtins(None));
    sc.keys_are_new = true;
    let srv = UdpEndpoint::bind(&[loopback(), loopback()], UdpConfig::server(sc))
        .await
        .unwrap();
    let (first, second) = (srv.local_addrs()[0], srv.local_addrs()[1]);
    assert_ne!(first.port(), second.port());
    let cli = UdpEndpoint::bind(&[loopback()], UdpConfig::client())
        .await
        .unwrap();
    let opts = ConnectOptions::immediate(srv.public_key().unwrap(), "echo", b"one".to_vec());
    let conn = cli.connect(first, opts).await.unwrap();
    assert_eq!(conn.first_response().await.unwrap(), b"one");
    conn.open_path(second).await.unwrap();
    assert!(conn.open_path(second).await.is_err(), "already a path");
    let deadline = Instant::now() + Duration::from_secs(10);
    let paths = loop {
        let m = conn.metrics().await.unwrap();
        if m.paths.len() == 2 && m.paths[1].validated {
            break m.paths;
        }
        assert!(Instant::now() < deadline, "not validated: {:?}", m.paths);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((paths[0].address, paths[1].address), (first, second));
    assert!(paths[0].primary && !paths[1].primary);
    assert!(paths[1].metrics.datagrams_sent >= 1, "{paths:?}");
    // Requests still go over the first port and are answered.
    let s = conn.open(StreamKind::Transactional, "echo").await.unwrap();
    let req = content(9, 50_000);
    assert_eq!(conn.request(s, req.clone()).await.unwrap(), req);
    let after = conn.metrics().await.unwrap().paths;
    assert!(after[0].octets_sent > 50_000, "{after:?}");
    assert!(
        after[1].octets_sent < 1_000,
        "only heartbeats on the standby: {after:?}"
    );
    conn.close().await.unwrap();
    cli.shutdown().await.unwrap();
    srv.shutdown().await.unwrap();
}
