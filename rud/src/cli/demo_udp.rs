//! The UDP part of `rud demo`: two responders on loopback (one completing Exchanges at once,
//! one always deferring) and an initiator running every mode with both stream kinds.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::CliError;
use rud::capture::CaptureFile;
use rud::connection::StreamKind;
use rud::crypto::x448::{X448PublicKey, X448Secret};
use rud::handshake::{DeferPolicy, Entropy, Mode, OsEntropy};
use rud::service::ServiceHost;
use rud::udp::{ConnectMode, ConnectOptions, ServerConfig, UdpConfig, UdpEndpoint, UdpError};

pub(super) const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

async fn responder(key: &X448Secret, sink: &Path, defer: bool) -> Result<UdpEndpoint, UdpError> {
    let mut s = ServerConfig::new(
        key.clone(),
        ServiceHost::with_builtins(Some(sink.to_owned())),
    );
    // A key made for this run: no earlier Exchange to replay, so 0-RTT data is taken at once.
    s.keys_are_new = true;
    if defer {
        s.defer = DeferPolicy::Always;
    }
    UdpEndpoint::bind(&[LOOPBACK], UdpConfig::server(s)).await
}

pub(super) fn sample(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Waits (briefly) for a sink file holding exactly `want`.
async fn sink_holds(dir: &Path, want: &[u8]) -> bool {
    for _ in 0..100 {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if std::fs::read(e.path()).is_ok_and(|d| d == want) {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn one(
    client: &UdpEndpoint,
    server: SocketAddr,
    mode: ConnectMode,
    key: Option<X448PublicKey>,
    kind: StreamKind,
    sink: &Path,
) -> Result<String, UdpError> {
    let start = Instant::now();
    let first = sample(1000, kind as u8);
    let service = if kind == StreamKind::Transactional {
        "echo"
    } else {
        "sink"
    };
    let opts = ConnectOptions {
        mode,
        responder_key: key,
        hello: b"services?".to_vec(),
        ..ConnectOptions::first_contact(service, first.clone()).kind(kind)
    }
    .timeout(Duration::from_secs(5));
    let conn = client.connect(server, opts).await?;
    let connected = start.elapsed();
    let info = conn.info().clone();
    let what = match kind {
        StreamKind::Transactional => {
            let echoed = conn.first_response().await? == first;
            let s = conn.open(StreamKind::Transactional, "echo").await?;
            let big = sample(32 * 1024, 7);
            let again = conn.request(s, big.clone()).await? == big;
            if echoed && again {
                "echo answered the handshake's request and a 32 KiB request on a new stream"
                    .to_owned()
            } else {
                return Err(UdpError::Shutdown);
            }
        }
        StreamKind::Asynchronous => {
            let mut all = first;
            let more = sample(256 * 1024, 9);
            all.extend_from_slice(&more);
            conn.send(conn.first_stream(), more).await?;
            conn.flush(conn.first_stream()).await?;
            if !sink_holds(sink, &all).await {
                return Err(UdpError::Shutdown);
            }
            format!(
                "{} octets acknowledged and written by the sink, byte-identical",
                all.len()
            )
        }
    };
    let m = conn.metrics().await?;
    conn.close().await?;
    Ok(report(&info, connected, &what, &m))
}

/// Prints `  what: line`, or `  what: FAILED: error`; returns the failures (0 or 1).
pub fn print_outcome<E: std::fmt::Display>(what: &str, outcome: Result<String, E>) -> usize {
    match outcome {
        Ok(line) => {
            println!("  {what}: {line}");
            0
        }
        Err(e) => {
            println!("  {what}: FAILED: {e}");
            1
        }
    }
}

/// The line for one connection: mode, time to connect, how the key exchange went, what the
/// streams did, and the path's smoothed RTT (the HTTP part prints the same).
pub fn report(
    info: &rud::udp::ConnectionInfo,
    connected: Duration,
    what: &str,
    m: &rud::udp::ConnectionMetrics,
) -> String {
    let how = match (info.authenticated, info.early_data_accepted) {
        (false, _) => format!(
            "learned key {}.. (unauthenticated); answer to the Hello: {:?}",
            info.responder_key
                .map(|k| hex::encode(k.as_bytes())
                    .chars()
                    .take(12)
                    .collect::<String>())
                .unwrap_or_default(),
            String::from_utf8_lossy(&info.hello_answer)
        ),
        (true, true) => "the first message went as 0-RTT early data".to_owned(),
        (true, false) if info.mode == Mode::Deferred => {
            "deferred by a stateless challenge; the first message went in the Complete".to_owned()
        }
        (true, false) => "0-RTT data refused; the first message was sent again".to_owned(),
    };
    format!(
        "{} in {:.1} ms ({how});\n      {what}; srtt {:.2} ms",
        info.mode.name(),
        connected.as_secs_f64() * 1e3,
        m.path.smoothed_rtt.as_secs_f64() * 1e3
    )
}

/// Runs every case; returns how many failed.
pub async fn run(pcap: Option<CaptureFile>) -> Result<usize, CliError> {
    let mut r = [0u8; 8];
    OsEntropy.fill(&mut r);
    let sink: PathBuf = std::env::temp_dir().join(format!("rud-demo-{}", hex::encode(r)));
    std::fs::create_dir_all(&sink)
        .map_err(|e| CliError::Setup(format!("{}: {e}", sink.display())))?;
    let key = X448Secret::generate(|b| OsEntropy.fill(b));
    let public = key.public_key(&*rud::crypto::default_provider());
    // One sink directory per responder: each names its files by its own connection numbers.
    let (sink_now, sink_deferred) = (sink.join("immediate"), sink.join("deferred"));
    for d in [&sink_now, &sink_deferred] {
        std::fs::create_dir_all(d).map_err(|e| CliError::Setup(format!("{}: {e}", d.display())))?;
    }
    let at_once = responder(&key, &sink_now, false).await?;
    let deferring = responder(&key, &sink_deferred, true).await?;
    let mut cfg = UdpConfig::client();
    cfg.pcap = pcap;
    let client = UdpEndpoint::bind(&[LOOPBACK], cfg).await?;
    println!(
        "  responders on udp://{} (immediate) and udp://{} (deferred), initiator on {}",
        at_once.local_addr(),
        deferring.local_addr(),
        client.local_addr()
    );
    let (now_addr, deferred_addr) = (at_once.local_addr(), deferring.local_addr());
    let cases = [
        (
            "first-contact",
            now_addr,
            ConnectMode::FirstContact,
            None,
            &sink_now,
        ),
        (
            "immediate",
            now_addr,
            ConnectMode::Immediate,
            Some(public),
            &sink_now,
        ),
        (
            "deferred",
            deferred_addr,
            ConnectMode::Immediate,
            Some(public),
            &sink_deferred,
        ),
    ];
    let mut failures = 0;
    for (name, server, mode, key, sink) in cases {
        for kind in [StreamKind::Transactional, StreamKind::Asynchronous] {
            let label = format!(
                "{name}, {}",
                if kind == StreamKind::Transactional {
                    "transactional"
                } else {
                    "asynchronous"
                }
            );
            let outcome = one(&client, server, mode, key, kind, sink).await;
            failures += print_outcome(&format!("udp {label}"), outcome);
        }
    }
    let m = client.metrics().await?;
    client.shutdown().await?;
    at_once.shutdown().await?;
    deferring.shutdown().await?;
    let _ = std::fs::remove_dir_all(&sink);
    println!(
        "\n  initiator: {} connections, {} datagrams sent, {} received",
        m.opened, m.datagrams_sent, m.datagrams_received
    );
    Ok(failures)
}
