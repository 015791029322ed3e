//! Real loopback traffic captured by tcpdump (issue 5, Captures): a responder and an initiator
//! on UDP exchange a transactional request and an asynchronous stream with a key log; tcpdump
//! captures the responder's port on `lo`. The capture must hold exactly the datagrams the two
//! endpoints report sending, every payload must decode with the reference codec, and the key
//! log must open the handshake's mezzanine sections.
//!
//! Needs tcpdump and the right to capture (root, or CAP_NET_RAW): `.ci/run` installs tcpdump
//! and CI runs as root. Where it cannot run the test says why, and fails when `CI=true`.
#![allow(clippy::expect_used, clippy::unwrap_used)]
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rud::connection::{StreamHandle, StreamKind};
use rud::crypto::default_provider;
use rud::crypto::keylog::{FileKeyLog, KeyLog, labels, parse};
use rud::crypto::x448::X448Secret;
use rud::handshake::{Entropy, OsEntropy};
use rud::service::ServiceHost;
use rud::udp::{ConnectOptions, EndpointMetrics, ServerConfig, UdpConfig, UdpEndpoint};
use rud::wire::Datagram;

fn temp_dir(name: &str) -> PathBuf {
    let mut r = [0u8; 8];
    OsEntropy.fill(&mut r);
    let d = std::env::temp_dir().join(format!("rud-{name}-{}", hex::encode(r)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Why tcpdump cannot capture here, if it cannot.
fn unavailable() -> Option<String> {
    match Command::new("tcpdump").arg("--version").output() {
        Err(e) => return Some(format!("tcpdump is not installed ({e})")),
        Ok(o) if !o.status.success() => return Some("tcpdump --version failed".into()),
        Ok(_) => {}
    }
    // Listing interfaces needs no privilege; opening one does: probe with a capture of
    // nothing that ends at once.
    let probe = Command::new("tcpdump")
        .args([
            "-i",
            "lo",
            "-c",
            "1",
            "-w",
            "/dev/null",
            "udp port 9 and udp port 10",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match probe {
        Ok(c) => c,
        Err(e) => return Some(format!("cannot start tcpdump: {e}")),
    };
    std::thread::sleep(Duration::from_millis(300));
    if let Ok(Some(status)) = child.try_wait() {
        let mut err = String::new();
        if let Some(mut s) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut s, &mut err);
        }
        return Some(format!(
            "tcpdump cannot capture on lo ({status}): {}",
            err.trim()
        ));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A running tcpdump writing `file`, stopped with SIGINT.
struct Tcpdump {
    child: Child,
    /// Its stderr after "listening on", read by a thread.
    stderr: std::thread::JoinHandle<String>,
}

impl Tcpdump {
    /// Starts tcpdump on `lo` for UDP to or from `port`, and waits until it reports that it
    /// is listening. `--immediate-mode` has the kernel hand each packet over at once (not a
    /// ring block at a time, which a stop can leave unread) and `-U` writes it at once. The
    /// ring holds frames of the snapshot length: the default (256 KiB) leaves room for a few
    /// packets only, and a burst of the stream overflows it, so the snapshot length is 4 KiB
    /// (more than any RUD packet; a truncated packet fails the reader) and the buffer 32 MiB.
    fn start(file: &Path, port: u16) -> Tcpdump {
        let mut child = Command::new("tcpdump")
            .args(["-i", "lo", "-n", "--immediate-mode", "-U", "-s", "4096"])
            .args(["-B", "32768", "-w"])
            .arg(file)
            .arg(format!("udp port {port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tcpdump");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut rest = String::new();
            let mut told = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !told && line.contains("listening on") {
                    let _ = tx.send(());
                    told = true;
                }
                rest.push_str(&line);
                rest.push('\n');
            }
            rest
        });
        if rx.recv_timeout(Duration::from_secs(5)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "tcpdump did not report listening within 5 s: {}",
                thread.join().unwrap_or_default()
            );
        }
        Tcpdump {
            child,
            stderr: thread,
        }
    }

    /// SIGINT, then waits; returns tcpdump's report ("N packets captured", "N dropped").
    fn stop(mut self) -> String {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::INT,
        )
        .expect("signalling tcpdump");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "tcpdump exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "tcpdump did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stderr.join().unwrap_or_default()
    }
}

/// One UDP datagram from a classic pcap file.
#[derive(Debug)]
struct Udp {
    from: SocketAddr,
    to: SocketAddr,
    payload: Vec<u8>,
}

fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let four: [u8; 4] = b[at..at + 4].try_into().unwrap();
    if big {
        u32::from_be_bytes(four)
    } else {
        u32::from_le_bytes(four)
    }
}

/// The UDP datagrams of a classic pcap file (what tcpdump -w writes): a minimal reader for
/// the link types tcpdump uses on lo (Ethernet, raw IP, Linux cooked v1), IPv4 and IPv6.
fn read_pcap(bytes: &[u8]) -> Vec<Udp> {
    assert!(bytes.len() >= 24, "pcap shorter than its header");
    let magic = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    let big = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => false,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
        m => panic!("not a classic pcap file (magic {m:#x})"),
    };
    let linktype = u32_at(bytes, 20, big) & 0x0fff_ffff;
    let mut out = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        assert!(at + 16 <= bytes.len(), "truncated record header at {at}");
        let incl = u32_at(bytes, at + 8, big) as usize;
        let orig = u32_at(bytes, at + 12, big) as usize;
        assert_eq!(incl, orig, "a packet was truncated by the snap length");
        let frame = &bytes[at + 16..at + 16 + incl];
        at += 16 + incl;
        let ip = match linktype {
            1 => {
                let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
                assert!(ethertype == 0x0800 || ethertype == 0x86dd, "{ethertype:#x}");
                &frame[14..]
            }
            101 => frame,
            113 => &frame[16..],
            other => panic!("unexpected link type {other}"),
        };
        out.push(udp_of(ip));
    }
    out
}

fn udp_of(ip: &[u8]) -> Udp {
    let (src, dst, udp) = match ip[0] >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            assert_eq!(ip[9], 17, "not UDP");
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let a: [u8; 4] = ip[12..16].try_into().unwrap();
            let b: [u8; 4] = ip[16..20].try_into().unwrap();
            (
                std::net::IpAddr::from(a),
                std::net::IpAddr::from(b),
                &ip[ihl..total],
            )
        }
        6 => {
            assert_eq!(ip[6], 17, "not UDP (or extension headers)");
            let a: [u8; 16] = ip[8..24].try_into().unwrap();
            let b: [u8; 16] = ip[24..40].try_into().unwrap();
            (
                std::net::IpAddr::from(a),
                std::net::IpAddr::from(b),
                &ip[40..],
            )
        }
        v => panic!("IP version {v}"),
    };
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    Udp {
        from: SocketAddr::new(src, u16::from_be_bytes([udp[0], udp[1]])),
        to: SocketAddr::new(dst, u16::from_be_bytes([udp[2], udp[3]])),
        payload: udp[8..len].to_vec(),
    }
}

/// Metrics once nothing more is being sent (two reads 300 ms apart agree).
async fn settled(e: &UdpEndpoint) -> EndpointMetrics {
    let mut last = e.metrics().await.unwrap();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = e.metrics().await.unwrap();
        if now.datagrams_sent == last.datagrams_sent
            && now.datagrams_received == last.datagrams_received
        {
            return now;
        }
        last = now;
    }
    panic!("the endpoint kept sending: {last:?}");
}

/// Opens a handshake mezzanine (AAD: every octet before it, zero nonce) with any key of
/// `label` logged for `context`.
fn opens(
    log: &[rud::crypto::keylog::KeyLogEntry],
    label: &str,
    context: &[u8],
    datagram: &[u8],
    sealed: &[u8],
) -> bool {
    let p = default_provider();
    let aad = &datagram[..datagram.len() - sealed.len()];
    let (ct, tag) = sealed.split_at(sealed.len() - 16);
    let tag: [u8; 16] = tag.try_into().unwrap();
    log.iter()
        .filter(|e| e.label == label && e.context == context)
        .any(|e| {
            let Ok(key) = <[u8; 32]>::try_from(e.secret.as_slice()) else {
                return false;
            };
            let mut buf = ct.to_vec();
            p.aes256_gcm_open(&key, &[0; 12], aad, &mut buf, &tag)
                .is_ok()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcpdump_sees_what_the_endpoints_sent_and_the_key_log_opens_the_handshake() {
    if let Some(why) = unavailable() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "CI=true but {why}: .ci/run installs tcpdump and CI must run as root"
        );
        println!("SKIPPED (not in CI): {why}; install tcpdump and run as root to run it");
        return;
    }
    let start = Instant::now();
    let dir = temp_dir("tcpdump");
    let key = X448Secret::generate(|b| OsEntropy.fill(b));
    let mut sc = ServerConfig::new(key, ServiceHost::with_builtins(Some(dir.join("sink"))));
    sc.keys_are_new = true;
    std::fs::create_dir_all(dir.join("sink")).unwrap();
    let srv = UdpEndpoint::bind(&["127.0.0.1:0".parse().unwrap()], UdpConfig::server(sc))
        .await
        .unwrap();
    let port = srv.local_addr().port();
    let pcap = dir.join("lo.pcap");
    let tcpdump = Tcpdump::start(&pcap, port);

    let keylog_path = dir.join("keys.log");
    let mut cfg = UdpConfig::client();
    cfg.keylog = Some(Arc::new(FileKeyLog::open(&keylog_path).unwrap()) as Arc<dyn KeyLog>);
    let cli = UdpEndpoint::bind(&["127.0.0.1:0".parse().unwrap()], cfg)
        .await
        .unwrap();
    let opts = ConnectOptions::immediate(srv.public_key().unwrap(), "echo", b"first".to_vec());
    let conn = cli.connect(srv.local_addr(), opts).await.unwrap();
    assert_eq!(conn.first_response().await.unwrap(), b"first");
    let echo = StreamHandle(0);
    let req: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(conn.request(echo, req.clone()).await.unwrap(), req);
    let sink = conn.open(StreamKind::Asynchronous, "sink").await.unwrap();
    let file: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    conn.send(sink, file).await.unwrap();
    conn.flush(sink).await.unwrap();
    conn.close().await.unwrap();
    let (c, s) = (settled(&cli).await, settled(&srv).await);
    let report = tcpdump.stop();
    cli.shutdown().await.unwrap();
    srv.shutdown().await.unwrap();

    let packets = read_pcap(&std::fs::read(&pcap).unwrap());
    let client_addr = cli.local_addr();
    let to_server = packets.iter().filter(|p| p.from == client_addr).count() as u64;
    let to_client = packets.iter().filter(|p| p.to == client_addr).count() as u64;
    println!(
        "tcpdump: {} UDP packets on port {port} ({to_server} to the responder, {to_client} back); \
         the endpoints sent {} and {}; {:?}; {}",
        packets.len(),
        c.datagrams_sent,
        s.datagrams_sent,
        start.elapsed(),
        report.trim().replace('\n', "; ")
    );
    assert!(
        report
            .lines()
            .any(|l| l.trim() == "0 packets dropped by kernel"),
        "tcpdump dropped packets: {report}"
    );
    // Every packet on the port is between these two endpoints, and each datagram sent on
    // loopback is captured once: the counts must match exactly.
    assert_eq!(
        to_server + to_client,
        packets.len() as u64,
        "foreign packets"
    );
    assert_eq!(to_server, c.datagrams_sent, "client -> responder");
    assert_eq!(to_client, s.datagrams_sent, "responder -> client");
    assert_eq!(c.datagrams_received, s.datagrams_sent);
    assert_eq!(s.datagrams_received, c.datagrams_sent);

    // Every payload decodes with the reference codec; the handshake is there.
    let decoded: Vec<Datagram<'_>> = packets
        .iter()
        .map(|p| Datagram::decode(&p.payload).expect("a captured payload does not decode"))
        .collect();
    let data = decoded
        .iter()
        .filter(|d| matches!(d, Datagram::Data(_)))
        .count();
    assert!(data > 70, "only {data} data packets for 120 kB");

    // The key log opens the handshake: the Exchange's mezzanine (initiator to responder) and
    // the ResponderComplete's (back), both under keys logged for the Exchange's ephemeral key.
    let text = std::fs::read_to_string(&keylog_path).unwrap();
    let log = parse(&text, labels::ALL).unwrap().entries;
    let (x, xi) = decoded
        .iter()
        .enumerate()
        .find_map(|(i, d)| match d {
            Datagram::InitiatorExchange(x) => Some((x, i)),
            _ => None,
        })
        .expect("no InitiatorExchange captured");
    let eph = x.initiator_ephemeral.key;
    assert!(
        opens(
            &log,
            labels::MEZZANINE_I2R,
            eph,
            &packets[xi].payload,
            x.mezzanine.0
        ),
        "the key log does not open the captured InitiatorExchange"
    );
    let (rc, ri) = decoded
        .iter()
        .enumerate()
        .find_map(|(i, d)| match d {
            Datagram::ResponderComplete(r) => Some((r, i)),
            _ => None,
        })
        .expect("no ResponderComplete captured");
    assert!(
        opens(
            &log,
            labels::MEZZANINE_R2I,
            eph,
            &packets[ri].payload,
            rc.mezzanine.0
        ),
        "the key log does not open the captured ResponderComplete"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
