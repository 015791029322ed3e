//! Reads a capture with tshark (Wireshark's command line) and checks the HTTP binding's part of
//! it: the file reads cleanly, every HTTP request is a POST to /.well-known/rud with
//! Content-Type application/rud, every response a 200 with the same type, every body is RUD
//! packets in the binding's framing that the reference codec decodes, and the key log travels
//! in RUDK Decryption Secrets Blocks. Shared by the tests that capture HTTP (`mod tshark;`).
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use rud::http::framing;
use rud::wire::Datagram;

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct Seen {
    pub posts: usize,
    pub responses: usize,
    /// RUD packets in request and response bodies.
    pub rud_packets: usize,
    /// UDP datagrams (other than the HTTP part).
    pub udp: usize,
    /// Key log lines in the secrets blocks.
    pub secrets_lines: usize,
}

/// Whether tshark runs here. Without it: fails under `CI=true` (CI must run these checks),
/// otherwise prints why and returns false.
pub fn available(test: &str) -> bool {
    if Command::new("tshark").arg("--version").output().is_ok() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{test}: CI=true but tshark is not installed (.ci/run installs it)"
    );
    println!("SKIPPED {test} (not in CI): tshark is not installed");
    false
}

fn tshark(path: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(args)
        .output()
        .expect("running tshark");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark {args:?}: {err}");
    // tshark reports a damaged file on stderr ("appears to have been cut short", "isn't a
    // capture file in a format TShark understands") even when it still exits 0.
    assert!(
        !err.contains("cut short") && !err.contains("isn't a capture file"),
        "tshark {args:?}: {err}"
    );
    String::from_utf8(out.stdout).expect("tshark output is UTF-8")
}

/// pcapng blocks (type, body) in file order; the writer writes little-endian.
pub fn blocks(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let t = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        assert!(len >= 12 && at + len <= bytes.len(), "bad block at {at}");
        out.push((t, bytes[at + 8..at + len - 4].to_vec()));
        at += len;
    }
    assert_eq!(at, bytes.len(), "trailing octets");
    out
}

/// Decodes one body (tshark's media dissector prints it as colon-separated hex; an empty body,
/// a poll, has none) of `len` octets: zero or more framed RUD packets.
fn decode_body(hex_body: &str, len: &str) -> usize {
    let body = hex::decode(hex_body.replace(':', "")).expect("a hex body");
    assert_eq!(
        body.len().to_string(),
        len,
        "the body is not Content-Length long"
    );
    let packets = framing::decode(&body).expect("a body in the binding's framing");
    for p in &packets {
        Datagram::decode(p).expect("a RUD packet the codec decodes");
    }
    packets.len()
}

/// Checks `path` as described in the module documentation.
pub fn check(path: &Path) -> Seen {
    let mut seen = Seen::default();
    // Every packet reads, with good checksums and no warning or error.
    let all = tshark(
        path,
        &[
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.number",
            "-e",
            "_ws.expert.severity",
            "-e",
            "_ws.malformed",
            "-e",
            "udp.port",
        ],
    );
    for line in all.lines() {
        let f: Vec<&str> = line.split('|').collect();
        for sev in f[1].split(',').filter(|s| !s.is_empty()) {
            // 2097152 chat, 4194304 note; 6291456 warning, 8388608 error.
            assert!(
                ["2097152", "4194304"].contains(&sev),
                "frame {}: expert severity {sev}",
                f[0]
            );
        }
        assert!(f[2].is_empty(), "frame {}: malformed", f[0]);
        if !f[3].is_empty() {
            seen.udp += 1;
        }
    }
    // The HTTP servers' ports, from the SYNs: Wireshark decodes HTTP only on known ports.
    let syns = tshark(
        path,
        &[
            "-Y",
            "tcp.flags.syn == 1 && tcp.flags.ack == 0",
            "-T",
            "fields",
            "-e",
            "tcp.dstport",
        ],
    );
    let ports: BTreeSet<&str> = syns.lines().collect();
    assert!(!ports.is_empty(), "no TCP connection in the capture");
    let mut decode_as = Vec::new();
    for p in &ports {
        decode_as.push("-d".to_owned());
        decode_as.push(format!("tcp.port=={p},http"));
    }
    let mut args: Vec<&str> = decode_as.iter().map(String::as_str).collect();
    args.extend([
        "-Y",
        "http",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "http.request.method",
        "-e",
        "http.request.uri",
        "-e",
        "http.response.code",
        "-e",
        "http.content_type",
        "-e",
        "http.content_length",
        "-e",
        "media.type",
    ]);
    let http = tshark(path, &args);
    for line in http.lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f[3], "application/rud", "{line}");
        if f[0].is_empty() {
            assert_eq!(f[2], "200", "{line}");
            seen.responses += 1;
        } else {
            assert_eq!((f[0], f[1]), ("POST", "/.well-known/rud"), "{line}");
            seen.posts += 1;
        }
        seen.rud_packets += decode_body(f[5], f[4]);
    }
    assert!(seen.posts > 0, "no POST in the capture:\n{http}");
    assert_eq!(seen.posts, seen.responses, "{http}");
    // The secrets travel in the file, ahead of the first packet.
    let blocks = blocks(&std::fs::read(path).unwrap());
    let first_packet = blocks.iter().position(|b| b.0 == 6).expect("a packet");
    let first_dsb = blocks
        .iter()
        .position(|b| b.0 == 0x0A)
        .expect("a secrets block");
    assert!(first_dsb < first_packet, "secrets after the first packet");
    let mut text = String::new();
    for (_, body) in blocks.iter().filter(|b| b.0 == 0x0A) {
        assert_eq!(&body[..4], &0x5255_444Bu32.to_le_bytes(), "RUDK");
        let len = u32::from_le_bytes(body[4..8].try_into().unwrap()) as usize;
        text.push_str(std::str::from_utf8(&body[8..8 + len]).unwrap());
    }
    let log = rud::crypto::keylog::parse(&text, rud::crypto::keylog::labels::ALL).unwrap();
    assert!(
        log.entries.iter().any(|e| e.label == "RUD_TRAFFIC_I2R"),
        "no traffic secret in the capture"
    );
    seen.secrets_lines = log.entries.len();
    seen
}
