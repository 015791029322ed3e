//! The README's demo command runs, checks every sample and completes every key exchange mode.
use std::process::Command;

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
}
