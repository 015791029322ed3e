//! Packet rate on loopback: raw UDP against the RUD endpoint, in one run.
//!
//! - raw: one tokio socket sends 1200-octet datagrams as fast as it can to another for a few
//!   seconds; the rate is what the receiver got (the kernel drops what it cannot take).
//! - RUD: a client `UdpEndpoint` streams a file over an asynchronous stream to a server
//!   `UdpEndpoint` running the `discard` service (nothing written to disk); the rate is data
//!   packets (up to 1260 octets each) the server received per second, from its counters.
//!
//! Both run on the same two-worker runtime, sender and receiver in one process, as the CLI
//! and the tests do. The ratio says how much of what the sockets can carry the endpoint uses;
//! what it does not use is the endpoint's own work (AEAD per datagram, the core's per-packet
//! bookkeeping, acks), not system calls, so batching them (sendmmsg/recvmmsg) could not pay.
//!
//! Run with `cargo bench -p rud-bench --bench udp_rate` (RUD_BENCH_SECS and RUD_BENCH_MB tune
//! the run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rud::connection::StreamKind;
use rud::crypto::x448::X448Secret;
use rud::handshake::{Entropy, OsEntropy};
use rud::service::ServiceHost;
use rud::udp::{ConnectOptions, ServerConfig, UdpConfig, UdpEndpoint};
use tokio::net::UdpSocket;

const PACKET: usize = 1200;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Datagrams per second a receiver got from a sender going flat out. The receiver reads as
/// the driver does: wait for one, then take what else is queued without waiting.
async fn raw_rate(secs: u64) -> (f64, u64, u64) {
    let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = rx.local_addr().unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let g = got.clone();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        // A one-octet datagram says stop.
        while let Ok((n, _)) = rx.recv_from(&mut buf).await {
            if n == 1 {
                return;
            }
            g.fetch_add(1, Ordering::Relaxed);
            for _ in 0..63 {
                match rx.try_recv_from(&mut buf) {
                    Ok((1, _)) => return,
                    Ok(_) => drop(g.fetch_add(1, Ordering::Relaxed)),
                    Err(_) => break,
                }
            }
        }
    });
    let payload = vec![0x5au8; PACKET];
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        for _ in 0..64 {
            if tx.send_to(&payload, to).await.is_ok() {
                sent += 1;
            }
        }
    }
    let took = start.elapsed();
    let received = got.load(Ordering::Relaxed);
    for _ in 0..100 {
        let _ = tx.send_to(&[0], to).await;
        if reader.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    reader.abort();
    (received as f64 / took.as_secs_f64(), sent, received)
}

/// Data packets per second the RUD server received while a file streamed to it.
async fn rud_rate(megabytes: u64) -> (f64, f64, u64, u64) {
    let key = X448Secret::generate(|b| OsEntropy.fill(b));
    let mut sc = ServerConfig::new(key, ServiceHost::with_builtins(None));
    sc.keys_are_new = true;
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = UdpEndpoint::bind(&[local], UdpConfig::server(sc))
        .await
        .unwrap();
    let client = UdpEndpoint::bind(&[local], UdpConfig::client())
        .await
        .unwrap();
    let opts = ConnectOptions::immediate(server.public_key().unwrap(), "discard", Vec::new())
        .kind(StreamKind::Asynchronous);
    let conn = client.connect(server.local_addr(), opts).await.unwrap();
    let before = server.metrics().await.unwrap().datagrams_received;
    let total = (megabytes as usize) << 20;
    let chunk = vec![0xa5u8; 1 << 20];
    let start = Instant::now();
    let mut sent = 0;
    while sent < total {
        conn.send(conn.first_stream(), chunk.clone()).await.unwrap();
        sent += chunk.len();
    }
    conn.flush(conn.first_stream()).await.unwrap();
    let took = start.elapsed();
    let received = server.metrics().await.unwrap().datagrams_received - before;
    let m = conn.metrics().await.unwrap();
    client.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
    (
        received as f64 / took.as_secs_f64(),
        total as f64 / took.as_secs_f64() / 1e6,
        m.path.packets_sent,
        m.counters.packets_retransmitted,
    )
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing and
    // should stay short.
    let benching = std::env::args().any(|a| a == "--bench");
    let secs = env_or("RUD_BENCH_SECS", if benching { 3 } else { 1 });
    let mb = env_or("RUD_BENCH_MB", if benching { 64 } else { 4 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (raw, raw_sent, raw_received) = rt.block_on(raw_rate(secs));
    let (rud, goodput, rud_sent, resent) = rt.block_on(rud_rate(mb));
    println!(
        "raw UDP, {PACKET}-octet datagrams on loopback: {raw:>9.0} received/s ({raw_received} of {raw_sent} sent in {secs} s)"
    );
    println!(
        "RUD endpoint, {mb} MiB over one asynchronous stream: {rud:>9.0} data packets/s received ({goodput:.1} MB/s of messages; {rud_sent} packets sent, {resent} resent)"
    );
    println!("ratio RUD / raw: {:.3}", rud / raw);
}
