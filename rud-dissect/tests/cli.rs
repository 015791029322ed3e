//! The `rud-dissect hex` command as a user runs it.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers may panic with a message
use std::process::Command;

fn dissect(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rud-dissect"))
        .args(args)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sample(name: &str) -> String {
    let s = rud::wire::samples::all()
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap();
    hex::encode(s.bytes)
}

#[test]
fn decodes_every_sample_as_a_tree_and_as_json() {
    for s in rud::wire::samples::all().unwrap() {
        let h = hex::encode(&s.bytes);
        let el = s.element.name();
        let (code, out, err) = dissect(&["hex", "--element", el, &h]);
        let expect = if s.name == "unknown-type" { 1 } else { 0 };
        assert_eq!(code, expect, "{}: {err}", s.name);
        assert!(out.contains(&format!("{} octets", s.bytes.len())), "{out}");
        let (code, out, _) = dissect(&["hex", "-T", "json", "--element", el, &h]);
        assert_eq!(code, expect);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["length"], s.bytes.len());
    }
}

#[test]
fn marks_encrypted_sections() {
    let (code, out, _) = dissect(&["hex", &sample("initiator-exchange")]);
    assert_eq!(code, 0);
    assert!(
        out.contains("mezzanine:\n") && out.contains("encrypted: true"),
        "{out}"
    );
}

#[test]
fn malformed_input_names_offset_and_exits_2() {
    let mut h = sample("initiator-hello");
    h.truncate(60);
    let (code, out, err) = dissect(&["hex", &h]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("at byte") && err.contains("truncated"),
        "{err}"
    );

    let (code, out, _) = dissect(&["hex", "-T", "json", &h]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["error"]["kind"], "truncated");
    assert!(v["error"]["offset"].as_u64().is_some());
}

#[test]
fn bad_hex_and_bad_flags_exit_2() {
    let (code, _, err) = dissect(&["hex", "00zz"]);
    assert_eq!(code, 2);
    assert!(err.contains("character 2"), "{err}");
    let (code, _, err) = dissect(&["hex", "--element", "nonsense", "00"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown element"), "{err}");
    let (code, _, _) = dissect(&["frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn protocol_violation_exits_1_with_rule_anchor() {
    // A Hello that is well-formed but far under 1200 octets.
    let short = "1000000000000000000000000000000000010108aaaaaaaaaaaaaaaaff00";
    let (code, out, _) = dissect(&["hex", short]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[Protocol violation]") && out.contains("initiator-min-size"),
        "{out}"
    );
}

#[test]
fn reads_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rud-dissect"))
        .args(["hex", "-", "--element", "varint"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().unwrap().write_all(b"0x40 25\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("value: 37"));
}
