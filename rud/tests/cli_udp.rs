//! The `rud` command over real loopback sockets: keys, serve, post, send, and its errors
//! (bad flags, unreadable keys, unreachable peers, wrong responder keys): one line
//! `rud: error: ...`, a non-zero exit status, no panic and no hang.
#![allow(clippy::expect_used, clippy::unwrap_used)]
mod tshark;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rud::handshake::{Entropy, OsEntropy};

const RUD: &str = env!("CARGO_BIN_EXE_rud");

fn temp_dir(name: &str) -> PathBuf {
    let mut r = [0u8; 8];
    OsEntropy.fill(&mut r);
    let d = std::env::temp_dir().join(format!("rud-cli-{name}-{}", hex::encode(r)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `rud args`, failing the test if it takes longer than `limit`.
fn rud(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(RUD)
        .args(args)
        .env_remove("RUDKEYLOGFILE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "rud {args:?} hung for {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Exit status `code` and exactly one stderr line `rud: error: ...` containing `needle`.
/// The command succeeded; returns its stderr (notes such as a learned key).
fn assert_success(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

fn assert_error(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("rud: error: "), "{err}");
    assert!(lines[0].contains(needle), "{needle:?} not in {err}");
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = rud(
        &["keygen", "--out", key.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let hex = text
        .lines()
        .find(|l| l.len() == 112 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap()
        .to_owned();
    (key, hex)
}

/// A `rud serve` child on a free loopback port; stopped with SIGTERM on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(key: &Path, extra: &[&str]) -> Server {
        Self::spawn(
            &["--key", key.to_str().unwrap(), "--udp", "127.0.0.1:0"],
            extra,
        )
    }

    /// `rud serve --http 127.0.0.1:0 extra...` (HTTP alone); `url` is the binding's.
    fn http(key: &Path, extra: &[&str]) -> Server {
        let server = Self::spawn(
            &["--key", key.to_str().unwrap(), "--http", "127.0.0.1:0"],
            extra,
        );
        assert!(
            server.url.starts_with("http://127.0.0.1:") && server.url.ends_with("/.well-known/rud"),
            "{}",
            server.url
        );
        server
    }

    /// `rud serve args extra...`; the URL is what its first line says it serves.
    fn spawn(args: &[&str], extra: &[&str]) -> Server {
        let mut child = Command::new(RUD)
            .arg("serve")
            .args(args)
            .args(extra)
            .env_remove("RUDKEYLOGFILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let url = first
            .strip_prefix("rud: serving ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        // Keep reading stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    /// SIGTERM, then the exit status (graceful shutdown within a few seconds).
    fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bad_flags_give_one_line_and_status_2() {
    let t = Duration::from_secs(10);
    assert_error(&rud(&["post", "--bogus"], t), 2, "--bogus");
    assert_error(&rud(&["serve"], t), 2, "--key");
    assert_error(&rud(&["post", "--to", "udp://127.0.0.1:1"], t), 2, "DATA");
    assert_error(
        &rud(&["post", "--to", "tcp://x", "hi"], t),
        2,
        "expected udp://HOST:PORT",
    );
    assert_error(
        &rud(&["post", "--to", "https://127.0.0.1:1/", "hi"], t),
        2,
        "https is not supported",
    );
    assert_error(
        &rud(
            &["post", "--to", "udp://127.0.0.1:1", "--timeout", "0", "hi"],
            t,
        ),
        2,
        "--timeout",
    );
    assert_error(
        &rud(
            &[
                "post",
                "--to",
                "udp://127.0.0.1:1",
                "--mode",
                "immediate",
                "hi",
            ],
            t,
        ),
        2,
        "--responder-key",
    );
    assert_error(
        &rud(
            &[
                "post",
                "--to",
                "udp://127.0.0.1:1",
                "--responder-key",
                "abcd",
                "hi",
            ],
            t,
        ),
        2,
        "--responder-key",
    );
    let out = rud(&["--help"], t);
    assert_success(&out);
    for cmd in ["serve", "post", "send", "keygen", "pubkey", "demo"] {
        let out = rud(&[cmd, "--help"], t);
        assert!(out.status.success(), "{cmd} --help");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: rud"));
    }
}

#[test]
fn unreadable_and_malformed_keys_are_setup_errors() {
    let dir = temp_dir("keys");
    let t = Duration::from_secs(10);
    let missing = dir.join("missing.pem");
    let m = missing.to_str().unwrap();
    assert_error(
        &rud(&["serve", "--key", m, "--udp", "127.0.0.1:0"], t),
        2,
        m,
    );
    assert_error(&rud(&["pubkey", m], t), 2, m);
    let junk = dir.join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let j = junk.to_str().unwrap();
    assert_error(
        &rud(&["serve", "--key", j, "--udp", "127.0.0.1:0"], t),
        2,
        "base64",
    );
    assert_error(
        &rud(
            &[
                "post",
                "--to",
                "udp://127.0.0.1:9",
                "--responder-key",
                j,
                "hi",
            ],
            t,
        ),
        2,
        j,
    );
    // keygen writes 0600 and never overwrites.
    let (key, hex) = keygen(&dir, "k.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_error(
        &rud(&["keygen", "--out", key.to_str().unwrap()], t),
        2,
        "exists",
    );
    let out = rud(&["pubkey", key.to_str().unwrap()], t);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&hex));
    let out = rud(&["pubkey", &format!("{}.pub", key.display())], t);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&hex) && text.contains("key id:"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unreachable_peer_fails_within_the_timeout() {
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let to = format!("udp://127.0.0.1:{port}");
    let start = Instant::now();
    let out = rud(
        &["post", "--to", &to, "--timeout", "1", "hi"],
        Duration::from_secs(10),
    );
    assert_error(&out, 1, "no answer");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn serve_post_send_pin_and_wrong_keys() {
    let dir = temp_dir("serve");
    let t = Duration::from_secs(30);
    let (key, public) = keygen(&dir, "server.pem");
    let (_, other) = keygen(&dir, "other.pem");
    let sink = dir.join("sink");
    let server = Server::start(&key, &["--sink-dir", sink.to_str().unwrap()]);
    let to = server.url.clone();

    // First Contact: the response, the learned key and the warning.
    let out = rud(&["post", "--to", &to, "hello there"], t);
    let err = assert_success(&out);
    assert_eq!(out.stdout, b"hello there");
    assert!(
        err.contains(&public) && err.contains("unauthenticated"),
        "{err}"
    );

    // Immediate with the right key, the request read from a file.
    let req = dir.join("req.bin");
    std::fs::write(&req, b"from a file").unwrap();
    let at = format!("@{}", req.display());
    let out = rud(&["post", "--to", &to, "--responder-key", &public, &at], t);
    assert_success(&out);
    assert_eq!(out.stdout, b"from a file");

    // A wrong key: Immediate is refused (HandshakeFailed), First Contact aborts at once.
    let out = rud(
        &[
            "post",
            "--to",
            &to,
            "--responder-key",
            &other,
            "--timeout",
            "2",
            "x",
        ],
        t,
    );
    assert_error(&out, 1, "refused the handshake");
    let out = rud(
        &[
            "post",
            "--to",
            &to,
            "--mode",
            "first-contact",
            "--responder-key",
            &other,
            "x",
        ],
        t,
    );
    assert_error(&out, 1, "presented a key other than");

    // An unknown service ends the connection with a reason.
    let out = rud(
        &[
            "post",
            "--to",
            &to,
            "--responder-key",
            &public,
            "--service",
            "nope",
            "x",
        ],
        t,
    );
    assert_error(&out, 1, "unknown service nope");

    // send: a file to the sink, with the metrics at the end.
    let file = dir.join("data.bin");
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 + i / 255) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let out = rud(
        &[
            "send",
            "--to",
            &to,
            "--responder-key",
            &public,
            file.to_str().unwrap(),
        ],
        t,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    assert!(
        text.contains("all acknowledged") && text.contains("rtt:") && text.contains("loss:"),
        "{text}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let written = loop {
        let files: Vec<_> = std::fs::read_dir(&sink).unwrap().flatten().collect();
        let found = files
            .iter()
            .map(|f| std::fs::read(f.path()).unwrap())
            .find(|d| d.len() == data.len());
        if let Some(d) = found {
            break d;
        }
        assert!(Instant::now() < deadline, "no sink file of the right size");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(written == data, "the sink file differs");

    // --pin: the first run stores the key, a server with another key is then refused.
    let pins = dir.join("pins");
    let p = pins.to_str().unwrap();
    let out = rud(&["post", "--to", &to, "--pin", p, "a"], t);
    assert_success(&out);
    assert!(std::fs::read_to_string(&pins).unwrap().contains(&public));
    assert_eq!(server.stop(), Some(0), "graceful shutdown on SIGTERM");
    let (key2, _) = keygen(&dir, "server2.pem");
    let server2 = Server::start(&key2, &[]);
    let to2 = server2.url.clone();
    let pins2 = dir.join("pins2");
    std::fs::write(&pins2, format!("{to2} {public}\n")).unwrap();
    let out = rud(
        &["post", "--to", &to2, "--pin", pins2.to_str().unwrap(), "a"],
        t,
    );
    assert_error(&out, 1, "pinned");
    drop(server2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `rud post --to http://...` against `rud serve --http` (HTTP alone, then beside UDP): every
/// mode, a wrong path, and an asynchronous `send` refused.
//= docs/SPEC.md#http-transactional-only
//= type=test
#[test]
fn post_over_http() {
    let dir = temp_dir("http");
    let t = Duration::from_secs(30);
    let (key, public) = keygen(&dir, "k.pem");
    let server = Server::http(&key, &["--mode", "auto"]);
    let url = server.url.clone();
    let out = rud(&["post", "--to", &url, "over http"], t);
    assert_success(&out);
    assert_eq!(out.stdout, b"over http");
    // The default path, with a key: Immediate.
    let base = url.trim_end_matches("/.well-known/rud");
    let out = rud(
        &["post", "--to", base, "--responder-key", &public, "again"],
        t,
    );
    assert_success(&out);
    assert_eq!(out.stdout, b"again");
    // Another path is a 404 at every post: no connection.
    let wrong = format!("{base}/elsewhere");
    let out = rud(&["post", "--to", &wrong, "--timeout", "2", "x"], t);
    assert_ne!(out.status.code(), Some(0));
    // An asynchronous stream is refused over HTTP.
    let out = rud(
        &[
            "send",
            "--to",
            base,
            "--responder-key",
            &public,
            "--timeout",
            "3",
            "--service",
            "discard",
            key.to_str().unwrap(),
        ],
        t,
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(server.stop(), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn post_writes_a_capture_with_secrets_and_a_qlog() {
    let dir = temp_dir("records");
    let t = Duration::from_secs(30);
    let (key, public) = keygen(&dir, "server.pem");
    let server = Server::start(&key, &[]);
    let pcap = dir.join("post.pcapng");
    let qlog = dir.join("qlog");
    let keylog = dir.join("keys.log");
    let out = rud(
        &[
            "post",
            "--to",
            &server.url,
            "--responder-key",
            &public,
            "--pcap",
            pcap.to_str().unwrap(),
            "--qlog",
            qlog.to_str().unwrap(),
            "--keylog",
            keylog.to_str().unwrap(),
            "recorded",
        ],
        t,
    );
    assert_success(&out);
    let blocks = tshark::blocks(&std::fs::read(&pcap).unwrap());
    let kinds: Vec<u32> = blocks.iter().map(|b| b.0).collect();
    // Section header, interface, then secrets before the first packet, and packets both ways.
    assert_eq!(&kinds[..2], &[0x0A0D_0D0A, 1]);
    let first_dsb = kinds
        .iter()
        .position(|&k| k == 0x0A)
        .expect("a secrets block");
    let first_packet = kinds.iter().position(|&k| k == 6).expect("a packet");
    assert!(first_dsb < first_packet, "{kinds:?}");
    assert!(kinds.iter().filter(|&&k| k == 6).count() >= 4, "{kinds:?}");
    // The Exchange's keys come first; the traffic secrets follow once the handshake ends.
    let mut text = String::new();
    for (_, body) in blocks.iter().filter(|b| b.0 == 0x0A) {
        assert_eq!(&body[..4], &0x5255_444Bu32.to_le_bytes(), "RUDK");
        text.push_str(&String::from_utf8_lossy(&body[8..]));
    }
    assert!(text.contains("RUD_TRAFFIC_I2R"), "{text}");
    assert!(text.contains("RUD_EARLY_I2R"), "{text}");
    let log = std::fs::read_to_string(&keylog).unwrap();
    assert!(log.contains("RUD_TRAFFIC_R2I"), "{log}");
    let files: Vec<_> = std::fs::read_dir(&qlog).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one qlog file per connection");
    let q = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(
        q.contains("rud:packet_sent") && q.contains("rud:packet_received"),
        "{q}"
    );
    assert!(q.starts_with('\u{1e}'), "JSON-SEQ");
    // The capture refuses to overwrite.
    let again = rud(
        &[
            "post",
            "--to",
            &server.url,
            "--pcap",
            pcap.to_str().unwrap(),
            "x",
        ],
        t,
    );
    assert_error(&again, 2, "exists");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--pcap` over HTTP from the command line: `serve --http` and `post --to http://` each write
/// a capture that tshark reads as HTTP POSTs to /.well-known/rud (application/rud) answered by
/// 200s whose bodies are RUD packets, with the secrets inside and no UDP.
#[test]
fn serve_and_post_over_http_write_tcp_http_captures() {
    if !tshark::available("serve_and_post_over_http_write_tcp_http_captures") {
        return;
    }
    let dir = temp_dir("http-pcap");
    let t = Duration::from_secs(30);
    let (key, public) = keygen(&dir, "k.pem");
    let (served, posted) = (dir.join("serve.pcapng"), dir.join("post.pcapng"));
    let server = Server::http(&key, &["--pcap", served.to_str().unwrap()]);
    let out = rud(
        &[
            "post",
            "--to",
            &server.url,
            "--responder-key",
            &public,
            "--pcap",
            posted.to_str().unwrap(),
            "captured over http",
        ],
        t,
    );
    assert_success(&out);
    assert_eq!(out.stdout, b"captured over http");
    // The server's capture is complete once it shut down.
    assert_eq!(server.stop(), Some(0));
    let (s, c) = (tshark::check(&served), tshark::check(&posted));
    println!("serve: {s:?}\npost: {c:?}");
    assert_eq!(s.udp + c.udp, 0, "UDP in an HTTP capture");
    assert!(c.rud_packets >= 4, "{c:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `serve --ticket-key` gives every initiator a ticket; `post --ticket FILE` keeps it (0600)
/// and redeems it on the next run, over UDP and over HTTP; a ticket is good once, and a
/// spent one is refused with a line that says so.
#[test]
fn post_keeps_and_redeems_tickets() {
    let dir = temp_dir("tickets");
    let t = Duration::from_secs(30);
    let (key, public) = keygen(&dir, "k.pem");
    let ticket_key = dir.join("ticket.hex");
    std::fs::write(&ticket_key, "07 ".to_owned() + &"5a".repeat(64)).unwrap();
    let tk = ticket_key.to_str().unwrap();
    for http in [false, true] {
        let extra = ["--ticket-key", tk, "--host-id", "cli-host"];
        let server = if http {
            Server::http(&key, &extra)
        } else {
            Server::start(&key, &extra)
        };
        let file = dir.join(if http { "http.ticket" } else { "udp.ticket" });
        let f = file.to_str().unwrap();
        let post = |args: &[&str]| {
            let mut all = vec!["post", "--to", server.url.as_str(), "--ticket", f];
            all.extend_from_slice(args);
            rud(&all, t)
        };
        // First: a full key exchange, and the ticket kept.
        let out = post(&["--responder-key", &public, "first"]);
        let err = assert_success(&out);
        assert_eq!(out.stdout, b"first");
        assert!(err.contains("kept the responder's ticket"), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let spent = std::fs::read(&file).unwrap();
        // Second: redeemed (no responder key given), and a fresh ticket kept.
        let out = post(&["second"]);
        assert_success(&out);
        assert_eq!(out.stdout, b"second");
        assert_ne!(std::fs::read(&file).unwrap(), spent, "a new ticket");
        // The first ticket again: refused, with a line that says why.
        let old = dir.join("spent.ticket");
        std::fs::write(&old, &spent).unwrap();
        let out = rud(
            &[
                "post",
                "--to",
                &server.url,
                "--ticket",
                old.to_str().unwrap(),
                "--timeout",
                "3",
                "third",
            ],
            t,
        );
        assert_error(&out, 1, "refused the ticket");
        // A damaged ticket file is a setup error naming the file.
        std::fs::write(
            &old,
            "-----BEGIN RUD TICKET-----\nAQID\n-----END RUD TICKET-----\n",
        )
        .unwrap();
        let out = rud(
            &[
                "post",
                "--to",
                &server.url,
                "--ticket",
                old.to_str().unwrap(),
                "x",
            ],
            t,
        );
        assert_error(&out, 2, "spent.ticket: ticket file ends at octet 3");
        assert_eq!(server.stop(), Some(0));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
