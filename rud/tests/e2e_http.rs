//! End to end over the HTTP binding on loopback (SPEC 3.2.1): every key exchange mode with
//! transactional requests, asynchronous streams refused, and the HTTP-level refusals (404,
//! 405, 413 without reading the body, 415, 400).
#![allow(clippy::expect_used, clippy::unwrap_used)]
mod tshark;

use std::net::SocketAddr;
use std::time::Duration;

use rud::capture::{CaptureFile, Overwrite};
use rud::connection::{StreamHandle, StreamKind};
use rud::crypto::x448::X448Secret;
use rud::crypto::{SecretBytes, default_provider};
use rud::handshake::ticket::TicketKeys;
use rud::handshake::{DeferPolicy, Entropy, HandshakeError, Mode, OsEntropy};
use rud::http::{EndpointHandle, HttpConfig, framing};
use rud::service::ServiceHost;
use rud::udp::{ConnEvent, ConnectOptions, ServerConfig, Ticket, UdpConfig, UdpError};
use rud::wire::error_message::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn server(defer: bool) -> EndpointHandle {
    server_with(defer, |_| {}).await
}

async fn server_with(defer: bool, tune: impl FnOnce(&mut UdpConfig)) -> EndpointHandle {
    let key = X448Secret::generate(|b| OsEntropy.fill(b));
    let mut sc = ServerConfig::new(key, ServiceHost::with_builtins(None));
    sc.keys_are_new = true;
    if defer {
        sc.defer = DeferPolicy::Always;
    }
    let http = HttpConfig {
        max_body: 64 * 1024,
        ..HttpConfig::default()
    };
    let mut cfg = UdpConfig::server(sc);
    tune(&mut cfg);
    rud::http::serve("127.0.0.1:0".parse().unwrap(), cfg, http)
        .await
        .unwrap()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let mut r = [0u8; 8];
    OsEntropy.fill(&mut r);
    let d = std::env::temp_dir().join(format!("rud-{name}-{}", hex::encode(r)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| (k * 7 + i) as u8).collect()
}

//= docs/SPEC.md#http-framing
//= type=test
//= docs/SPEC.md#http-response
//= type=test
//= docs/SPEC.md#http-address
//= type=test
//= docs/SPEC.md#http-poll
//= type=test
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_over_http() {
    let _serial = SERIAL.lock().await;
    for (mode, defer) in [
        (Mode::FirstContact, false),
        (Mode::Immediate, false),
        (Mode::Deferred, true),
    ] {
        let srv = server(defer).await;
        let key = srv.public_key().unwrap();
        let cli = rud::http::client(UdpConfig::client(), HttpConfig::default()).unwrap();
        let first = format!("first, {mode:?}").into_bytes();
        let opts = match mode {
            Mode::FirstContact => ConnectOptions::first_contact("echo", first.clone()),
            _ => ConnectOptions::immediate(key, "echo", first.clone()),
        };
        let conn = cli.connect(srv.local_addr(), opts).await.unwrap();
        assert_eq!(conn.info().mode, mode);
        assert_eq!(conn.info().responder_key, Some(key));
        assert_eq!(conn.first_response().await.unwrap(), first, "{mode:?}");
        let s = conn.open(StreamKind::Transactional, "echo").await.unwrap();
        // 30 000 octets span several datagrams and dozens of packets, so several bodies.
        for (i, len) in [(0, 10), (1, 3000), (2, 30_000)] {
            let req = payload(i, len);
            assert_eq!(conn.request(s, req.clone()).await.unwrap(), req, "{mode:?}");
        }
        conn.close().await.unwrap();
        cli.shutdown().await.unwrap();
        srv.shutdown().await.unwrap();
    }
}

/// An asynchronous stream is refused on an HTTP port, as the handshake's first stream and as
/// a later one. The first is answered with a StreamRefused Error (counted in the server's
/// metrics) addressed to the identifier the initiator issued in its Exchange, so the initiator
/// reports that hint when it gives up.
//= docs/SPEC.md#http-transactional-only
//= type=test
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_streams_are_refused() {
    let _serial = SERIAL.lock().await;
    let srv = server(false).await;
    let key = srv.public_key().unwrap();
    let cli = rud::http::client(UdpConfig::client(), HttpConfig::default()).unwrap();
    // As the handshake's first stream.
    let opts = ConnectOptions::immediate(key, "sink", b"x".to_vec())
        .kind(StreamKind::Asynchronous)
        .timeout(Duration::from_secs(3));
    let r = cli.connect(srv.local_addr(), opts).await;
    assert_eq!(
        srv.metrics().await.unwrap().refused,
        1,
        "the server refused it"
    );
    let hint = match &r {
        Err(UdpError::Handshake {
            source: HandshakeError::Timeout { hint, .. },
            ..
        }) => *hint,
        other => panic!("asynchronous first stream: {other:?}"),
    };
    assert_eq!(hint, Some(ErrorCode::STREAM_REFUSED), "{r:?}");
    // As a later stream.
    let opts = ConnectOptions::immediate(key, "echo", b"y".to_vec());
    let conn = cli.connect(srv.local_addr(), opts).await.unwrap();
    assert_eq!(conn.first_response().await.unwrap(), b"y");
    let s = conn.open(StreamKind::Asynchronous, "sink").await.unwrap();
    conn.send(s, b"data".to_vec()).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), conn.flush(s)).await;
    assert!(
        matches!(r, Ok(Err(UdpError::StreamRefused { .. }))),
        "flush: {r:?}"
    );
    cli.shutdown().await.unwrap();
    srv.shutdown().await.unwrap();
}

/// Sends `head` then `body`, returns the status code.
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    status(&mut s).await
}

async fn status(s: &mut TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut b = [0u8; 512];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut b).await.unwrap();
        assert!(n > 0, "connection closed before a status line");
        buf.extend_from_slice(&b[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

fn post(path: &str, ct: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\n\r\n"
    )
}

//= docs/SPEC.md#http-status
//= type=test
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_are_http_statuses() {
    let _serial = SERIAL.lock().await;
    let srv = server(false).await;
    let a = srv.local_addr();
    let rud = "application/rud";
    let get = "GET /.well-known/rud HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(raw(a, get, b"").await, 405);
    assert_eq!(raw(a, &post("/other", rud, 0), b"").await, 404);
    assert_eq!(
        raw(a, &post("/.well-known/rud", "text/plain", 0), b"").await,
        415
    );
    // Truncated length, zero length, a length past the end.
    for bad in [&b"\x00"[..], b"\x00\x00", b"\x00\x05abc"] {
        assert_eq!(
            raw(a, &post("/.well-known/rud", rud, bad.len()), bad).await,
            400
        );
    }
    // A declared length above the cap: refused before any body octet.
    assert_eq!(
        raw(a, &post("/.well-known/rud", rud, 1 << 20), b"").await,
        413
    );
    // An empty body is a poll; a packet nobody can open is dropped: 200 either way.
    assert_eq!(raw(a, &post("/.well-known/rud", rud, 0), b"").await, 200);
    let junk = framing::encode([&[0x55u8; 40][..]]);
    assert_eq!(
        raw(a, &post("/.well-known/rud", rud, junk.len()), &junk).await,
        200
    );
    srv.shutdown().await.unwrap();
}

//= docs/SPEC.md#http-body-cap
//= type=test
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_body_over_the_cap_gets_413_before_it_ends() {
    let _serial = SERIAL.lock().await;
    let srv = server(false).await;
    let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
    let head = "POST /.well-known/rud HTTP/1.1\r\nHost: x\r\nContent-Type: application/rud\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    // 1 GiB in 64 KiB chunks: far more than the cap (64 KiB) and than socket buffers.
    const TOTAL: usize = 1 << 30;
    let writer = tokio::spawn(async move {
        let chunk = vec![0u8; 64 * 1024];
        let mut sent = 0;
        while sent < TOTAL {
            let h = format!("{:x}\r\n", chunk.len());
            if wr.write_all(h.as_bytes()).await.is_err()
                || wr.write_all(&chunk).await.is_err()
                || wr.write_all(b"\r\n").await.is_err()
            {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut buf))
        .await
        .expect("no answer while the body streams")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 413"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    drop(rd);
    let sent = writer.await.unwrap();
    assert!(
        sent < TOTAL,
        "the server read the whole body ({sent} octets)"
    );
    srv.shutdown().await.unwrap();
}

/// `--pcap` on the HTTP binding: the server's and the client's captures each read in tshark as
/// HTTP POSTs to /.well-known/rud (application/rud) answered by 200s, carrying RUD packets
/// the codec decodes, with the secrets in the file; the client's holds every packet it sent
/// and received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_captures_read_in_tshark_as_posts_with_their_secrets() {
    let _serial = SERIAL.lock().await;
    if !tshark::available("http_captures_read_in_tshark_as_posts_with_their_secrets") {
        return;
    }
    let dir = temp_dir("http-pcap");
    let (srv_pcap, cli_pcap) = (dir.join("server.pcapng"), dir.join("client.pcapng"));
    let srv = server_with(false, |c| {
        c.pcap = Some(CaptureFile::create(&srv_pcap, Overwrite::Refuse).unwrap());
    })
    .await;
    let mut cfg = UdpConfig::client();
    cfg.pcap = Some(CaptureFile::create(&cli_pcap, Overwrite::Refuse).unwrap());
    let cli = rud::http::client(cfg, HttpConfig::default()).unwrap();
    let key = srv.public_key().unwrap();
    let opts = ConnectOptions::immediate(key, "echo", b"captured".to_vec());
    let conn = cli.connect(srv.local_addr(), opts).await.unwrap();
    assert_eq!(conn.first_response().await.unwrap(), b"captured");
    let req = payload(3, 30_000);
    assert_eq!(
        conn.request(StreamHandle(0), req.clone()).await.unwrap(),
        req
    );
    conn.close().await.unwrap();
    // An exchange is captured once its response arrived: let the last POST (the Close's
    // acknowledgement, say) finish before counting, or shutdown cuts it off uncaptured.
    let mut m = cli.metrics().await.unwrap();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = cli.metrics().await.unwrap();
        if now == m {
            break;
        }
        m = now;
    }
    cli.shutdown().await.unwrap();
    srv.shutdown().await.unwrap();
    let server_seen = tshark::check(&srv_pcap);
    let client_seen = tshark::check(&cli_pcap);
    println!("server capture: {server_seen:?}\nclient capture: {client_seen:?}\nclient: {m:?}");
    assert_eq!(
        server_seen.udp + client_seen.udp,
        0,
        "UDP in an HTTP capture"
    );
    let exchanged = (m.datagrams_sent + m.datagrams_received) as usize;
    assert!(
        client_seen.rud_packets >= exchanged,
        "the client's capture holds {} packets, it exchanged {exchanged}",
        client_seen.rud_packets
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

//= docs/SPEC.md#ticket-issue
//= type=test
//# An initiator MUST take a ticket only from an authenticated datagram of the first stream
/// The first connection: Immediate, over HTTP, to a host of the service that issues a ticket
/// naming the host `host_id` on every connection it accepts (SPEC 7.10); returns the ticket
/// as the connection reported it.
async fn ticket_from_a_first_connection(
    identity: &X448Secret,
    keys: &TicketKeys,
    host_id: &[u8],
) -> Ticket {
    let issuer_key = X448Secret::generate(|b| OsEntropy.fill(b));
    let issuer = issuer_key.public_key(&*default_provider());
    let mut sc = ServerConfig::new(issuer_key, ServiceHost::with_builtins(None));
    sc.keys_are_new = true;
    sc.ticket_keys = Some(keys.clone());
    sc.host_id = b"issuer".to_vec();
    let mut ucfg = UdpConfig::server(sc);
    ucfg.endpoint.ticket_lifetime = Some(Duration::from_secs(3600));
    ucfg.endpoint.ticket_host = Some(host_id.to_vec());
    let srv = rud::http::serve("127.0.0.1:0".parse().unwrap(), ucfg, HttpConfig::default())
        .await
        .unwrap();
    let mut cfg = UdpConfig::client();
    cfg.identity = Some(identity.clone());
    let cli = rud::http::client(cfg, HttpConfig::default()).unwrap();
    let opts = ConnectOptions::immediate(issuer, "echo", b"first".to_vec());
    let conn = cli.connect(srv.local_addr(), opts).await.unwrap();
    let mut events = conn.events().unwrap();
    assert_eq!(conn.first_response().await.unwrap(), b"first");
    let ticket = events
        .ticket(Duration::from_secs(10))
        .await
        .expect("no ticket within 10 s");
    assert_eq!(ticket.issuer, issuer);
    assert_eq!(ticket.lifetime, Duration::from_secs(3600));
    conn.close().await.unwrap();
    cli.shutdown().await.unwrap();
    srv.shutdown().await.unwrap();
    ticket
}

/// Tickets over HTTP (SPEC 7.10): a ticket obtained on a first connection opens a connection
/// to another host of the service served over HTTP, whose key the initiator never used in the
/// exchange: the first message goes as early data and is answered, the connection carries a
/// request on a new stream once the owed forward-secrecy rekey ran, and the ticket is single
/// use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_from_a_first_connection_resumes_over_http() {
    let _serial = SERIAL.lock().await;
    let keys = TicketKeys {
        current: (1, SecretBytes::new([0x5a; 64])),
        previous: None,
    };
    let identity = X448Secret::generate(|b| OsEntropy.fill(b));
    let ticket = ticket_from_a_first_connection(&identity, &keys, b"http-host").await;
    let host = X448Secret::generate(|b| OsEntropy.fill(b));
    let host_public = host.public_key(&*default_provider());
    let mut sc = ServerConfig::new(host, ServiceHost::with_builtins(None));
    sc.keys_are_new = true;
    sc.ticket_keys = Some(keys);
    sc.host_id = b"http-host".to_vec();
    let srv = rud::http::serve(
        "127.0.0.1:0".parse().unwrap(),
        UdpConfig::server(sc),
        HttpConfig::default(),
    )
    .await
    .unwrap();
    let mut cfg = UdpConfig::client();
    cfg.identity = Some(identity);
    cfg.endpoint.connection.peer_device_key = Some(host_public);
    let cli = rud::http::client(cfg, HttpConfig::default()).unwrap();
    let opts = ConnectOptions::ticket(ticket.clone(), "echo", b"resumed".to_vec());
    let conn = cli.connect(srv.local_addr(), opts).await.unwrap();
    let mut events = conn.events().unwrap();
    assert_eq!(conn.info().mode, Mode::Ticket);
    assert!(conn.info().early_data_accepted, "{:?}", conn.info());
    assert_eq!(conn.first_response().await.unwrap(), b"resumed");
    // The rekey the ticket owes (mixing the host's device key) is confirmed.
    let rekeyed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = events.next().await {
            if let ConnEvent::Rekeyed { epoch } = e {
                return Some(epoch);
            }
        }
        None
    })
    .await
    .expect("no rekey within 10 s");
    assert!(rekeyed.is_some_and(|e| e > 0), "{rekeyed:?}");
    let s = conn.open(StreamKind::Transactional, "echo").await.unwrap();
    let req = payload(5, 5000);
    assert_eq!(conn.request(s, req.clone()).await.unwrap(), req);
    conn.close().await.unwrap();
    // Single use: the same ticket again is refused.
    let again = ConnectOptions::ticket(ticket, "echo", b"replayed".to_vec())
        .timeout(Duration::from_secs(2));
    assert!(cli.connect(srv.local_addr(), again).await.is_err());
    cli.shutdown().await.unwrap();
    srv.shutdown().await.unwrap();
}
