//! The HTTP part of `rud demo`: two responders served over the HTTP binding on loopback (one
//! completing Exchanges at once, one always deferring) and an initiator posting to them, each
//! key exchange mode on transactional streams. HTTP carries transactional streams only (draft
//! 3.2, docs/SPEC.md http-transactional-only): the asynchronous cases are skipped, and the
//! demo shows a server refusing one. Then a ticket resumption (demo_ticket.rs).
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::CliError;
use super::demo_udp::{LOOPBACK, print_outcome, sample};
use rud::capture::CaptureFile;
use rud::connection::StreamKind;
use rud::crypto::x448::{X448PublicKey, X448Secret};
use rud::handshake::{DeferPolicy, Entropy, OsEntropy};
use rud::http::{EndpointHandle, HttpConfig, HttpError};
use rud::service::ServiceHost;
use rud::udp::{ConnectMode, ConnectOptions, ServerConfig, UdpConfig, UdpError};

async fn responder(key: &X448Secret, defer: bool) -> Result<EndpointHandle, HttpError> {
    let mut s = ServerConfig::new(key.clone(), ServiceHost::with_builtins(None));
    // A key made for this run: no earlier Exchange to replay, so 0-RTT data is taken at once.
    s.keys_are_new = true;
    if defer {
        s.defer = DeferPolicy::Always;
    }
    rud::http::serve(LOOPBACK, UdpConfig::server(s), HttpConfig::default()).await
}

fn options(mode: ConnectMode, key: Option<X448PublicKey>, kind: StreamKind) -> ConnectOptions {
    let service = match kind {
        StreamKind::Transactional => "echo",
        StreamKind::Asynchronous => "sink",
    };
    ConnectOptions {
        mode,
        responder_key: key,
        hello: b"services?".to_vec(),
        ..ConnectOptions::first_contact(service, sample(1000, kind as u8)).kind(kind)
    }
    .timeout(Duration::from_secs(5))
}

/// One connection with a transactional first stream: the handshake's request, then a 32 KiB
/// request on a second stream (many packets, several bodies each way).
async fn one(
    client: &EndpointHandle,
    server: SocketAddr,
    mode: ConnectMode,
    key: Option<X448PublicKey>,
) -> Result<String, UdpError> {
    let start = Instant::now();
    let opts = options(mode, key, StreamKind::Transactional);
    let first = opts.first_message.clone();
    let conn = client.connect(server, opts).await?;
    let connected = start.elapsed();
    let info = conn.info().clone();
    if conn.first_response().await? != first {
        return Err(UdpError::Shutdown);
    }
    let s = conn.open(StreamKind::Transactional, "echo").await?;
    let big = sample(32 * 1024, 7);
    if conn.request(s, big.clone()).await? != big {
        return Err(UdpError::Shutdown);
    }
    let m = conn.metrics().await?;
    conn.close().await?;
    Ok(super::demo_udp::report(
        &info,
        connected,
        "echo answered the handshake's request and a 32 KiB request on a new stream",
        &m,
    ))
}

/// An asynchronous first stream: the server must refuse it (its count of refused handshakes
/// goes up by one), no connection may come of it, and the initiator must report the
/// StreamRefused hint. Ok(line) when so.
async fn refused(
    client: &EndpointHandle,
    server: &EndpointHandle,
    key: X448PublicKey,
) -> Result<String, String> {
    let before = server.metrics().await.map_err(|e| e.to_string())?.refused;
    let opts = options(ConnectMode::Immediate, Some(key), StreamKind::Asynchronous)
        .timeout(Duration::from_secs(1));
    let outcome = client.connect(server.local_addr(), opts).await;
    let after = server.metrics().await.map_err(|e| e.to_string())?.refused;
    match outcome {
        Ok(conn) => {
            let _ = conn.close().await;
            Err("the server accepted an asynchronous stream".to_owned())
        }
        Err(_) if after != before + 1 => Err(format!(
            "the server refused {} handshakes, not one",
            after - before
        )),
        Err(e) if !e.to_string().contains("StreamRefused") => Err(format!(
            "the initiator did not learn why it was refused: {e}"
        )),
        Err(e) => Ok(format!(
            "the server refused the handshake (StreamRefused); the initiator gave up: {e}"
        )),
    }
}

/// Runs every case; returns how many failed.
pub async fn run(pcap: Option<CaptureFile>) -> Result<usize, CliError> {
    let http_err = super::post::http_error;
    let key = X448Secret::generate(|b| OsEntropy.fill(b));
    let public = key.public_key(&*rud::crypto::default_provider());
    let at_once = responder(&key, false).await.map_err(http_err)?;
    let deferring = responder(&key, true).await.map_err(http_err)?;
    let mut cfg = UdpConfig::client();
    cfg.pcap = pcap.as_ref().map(CaptureFile::share);
    let client = rud::http::client(cfg, HttpConfig::default()).map_err(http_err)?;
    let path = rud::http::WELL_KNOWN_PATH;
    let (now_addr, deferred_addr) = (at_once.local_addr(), deferring.local_addr());
    println!(
        "  responders on http://{now_addr}{path} (immediate) and http://{deferred_addr}{path} (deferred)"
    );
    let cases = [
        ("first-contact", now_addr, ConnectMode::FirstContact, None),
        ("immediate", now_addr, ConnectMode::Immediate, Some(public)),
        (
            "deferred",
            deferred_addr,
            ConnectMode::Immediate,
            Some(public),
        ),
    ];
    let mut failures = 0;
    for (name, server, mode, key) in cases {
        let outcome = one(&client, server, mode, key).await;
        failures += print_outcome(&format!("http {name}, transactional"), outcome);
        println!(
            "  http {name}, asynchronous: skipped: HTTP ports carry transactional streams only (draft 3.2)"
        );
    }
    let outcome = refused(&client, &at_once, public).await;
    failures += print_outcome("http asynchronous stream offered anyway", outcome);
    let outcome = super::demo_ticket::run(pcap).await;
    failures += print_outcome("http ticket resumption, transactional", outcome);
    let m = client.metrics().await?;
    client.shutdown().await?;
    at_once.shutdown().await?;
    deferring.shutdown().await?;
    println!(
        "\n  initiator: {} connections, {} datagrams sent, {} received, in HTTP POST bodies",
        m.opened, m.datagrams_sent, m.datagrams_received
    );
    Ok(failures)
}
