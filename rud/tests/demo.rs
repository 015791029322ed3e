//! The README's demo command runs, checks every sample and completes every key exchange mode,
//! over UDP and over the HTTP binding; with `--pcap` it captures both parts in one file.
#![allow(clippy::expect_used, clippy::unwrap_used)]
mod tshark;

use std::process::Command;

use rud::handshake::{Entropy, OsEntropy};

/// The HTTP part's lines: each mode on a transactional stream, the asynchronous ones skipped
/// with the reason, a server refusing one, and a ticket resumption.
fn assert_http_part(text: &str) {
    for mode in ["first-contact", "immediate", "deferred"] {
        let line = format!("http {mode}, transactional: {mode} in ");
        assert!(text.contains(&line), "{line} missing:\n{text}");
        let line = format!(
            "http {mode}, asynchronous: skipped: HTTP ports carry transactional streams only"
        );
        assert!(text.contains(&line), "{line} missing:\n{text}");
    }
    assert!(
        text.contains("http asynchronous stream offered anyway: the server refused the handshake"),
        "{text}"
    );
    assert!(
        text.contains("http ticket resumption, transactional: ticket in ")
            && text.contains("the owed rekey with the host's key confirmed"),
        "{text}"
    );
    assert_eq!(
        text.matches("a 32 KiB request on a new stream").count(),
        6,
        "three over UDP, three over HTTP:\n{text}"
    );
}

#[test]
fn demo_runs_on_embedded_defaults() {
    let out = Command::new(env!("CARGO_BIN_EXE_rud"))
        .arg("demo")
        .output()
        .expect("run rud demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("DECODE ERROR") && !text.contains("FAILED"),
        "{text}"
    );
    for mode in ["first-contact:", "immediate:", "deferred:"] {
        assert!(text.contains(mode), "{mode} missing:\n{text}");
    }
    assert_eq!(
        text.matches("traffic secrets match on both sides").count(),
        3,
        "{text}"
    );
    assert!(text.contains("as 0-RTT early data"), "{text}");
    // Over loopback UDP: every mode with both stream kinds.
    for mode in ["first-contact", "immediate", "deferred"] {
        for kind in ["transactional", "asynchronous"] {
            let line = format!("udp {mode}, {kind}: {mode} in ");
            assert!(text.contains(&line), "{line} missing:\n{text}");
        }
    }
    assert!(text.contains("went as 0-RTT early data);"), "{text}");
    assert_eq!(text.matches("byte-identical").count(), 3, "{text}");
    assert_http_part(&text);
}

#[test]
fn demo_captures_its_udp_and_http_parts() {
    if !tshark::available("demo_captures_its_udp_and_http_parts") {
        return;
    }
    let mut r = [0u8; 8];
    OsEntropy.fill(&mut r);
    let path = std::env::temp_dir().join(format!("rud-demo-{}.pcapng", hex::encode(r)));
    let out = Command::new(env!("CARGO_BIN_EXE_rud"))
        .args(["demo", "--pcap"])
        .arg(&path)
        .output()
        .expect("run rud demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_http_part(&text);
    let seen = tshark::check(&path);
    println!("{seen:?}");
    // The UDP part: six connections, two of them with a 256 KiB stream.
    assert!(seen.udp > 400, "{seen:?}");
    // The HTTP part: three connections with a 32 KiB request each.
    assert!(seen.posts > 20 && seen.rud_packets > 100, "{seen:?}");
    std::fs::remove_file(&path).unwrap();
}
