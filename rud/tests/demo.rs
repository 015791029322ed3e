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
}
