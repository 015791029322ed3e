//! Cross-checks every `crypto` vector with an independent implementation: Python's
//! `cryptography` package (tests/data/crosscheck_crypto.py recomputes X448, HKDF-SHA-512,
//! HMAC-SHA-256, AES-256 and AES-256-GCM from the vectors' inputs). Skipped, saying so, when
//! python3 or the package is missing. By hand:
//!
//! ```sh
//! python3 rud-conform/tests/data/crosscheck_crypto.py vectors/crypto/*.yaml   # needs PyYAML
//! ```
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers may panic with a message
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use rud_conform::vectors::{self, Vectors};

//= docs/SPEC.md#transcript-binding
//= type=test
//# Every handshake key MUST be derived with the transcript hash TH of the exchange so far.
#[test]
fn python_cryptography_agrees_with_every_crypto_vector() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/data/crosscheck_crypto.py");
    let probe = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!("SKIPPED: python3 with the `cryptography` package is not available");
        return;
    }
    let mut all = Vec::new();
    for f in vectors::files_below(&root.join("../vectors/crypto")).expect("crypto vectors") {
        if let Vectors::Crypto(v) = vectors::load(&f).expect("load").vectors {
            all.extend(v);
        }
    }
    assert!(all.len() >= 10, "too few crypto vectors: {}", all.len());
    let json = serde_json::to_string(&all).expect("json");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(json.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3 finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    if out.status.code() == Some(77) {
        println!("SKIPPED: {}", stdout.trim());
        return;
    }
    assert!(out.status.success(), "the Python cross-check failed");
    assert!(
        stdout.contains(&format!("checked {} crypto vectors, 0 failed", all.len())),
        "{stdout}"
    );
}
