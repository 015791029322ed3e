//! Every requirement of docs/SPEC.md (an `<a id="...">` anchor) must be implemented (a
//! `//= docs/SPEC.md#anchor` comment in non-test code) and tested (the same comment followed by
//! `//= type=test`, or a vector whose `anchor` names it), unless docs/traceability-exceptions.yaml
//! lists the gap with a reason. Run with `--nocapture` for the full report.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers may panic with a message
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                walk(&p, ext, out);
            }
        } else if name.ends_with(ext) {
            out.push(p);
        }
    }
}

/// Anchors of requirements, in document order.
fn spec_anchors() -> Vec<String> {
    let spec = std::fs::read_to_string(root().join("docs/SPEC.md")).expect("docs/SPEC.md");
    let mut out = Vec::new();
    let mut rest = spec.as_str();
    while let Some(at) = rest.find("<a id=\"") {
        rest = &rest[at + 7..];
        let end = rest.find('"').expect("closing quote");
        out.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    out
}

#[derive(Default, Debug)]
struct Where {
    implemented: Vec<String>,
    tested: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Exception {
    anchor: String,
    missing: Vec<String>,
    reason: String,
}

//= docs/SPEC.md#roundtrip
//= type=test
//# Every requirement is traced to code and to a test or vector.
#[test]
fn every_requirement_is_implemented_and_tested() {
    let anchors = spec_anchors();
    assert!(
        anchors.len() > 30,
        "too few anchors parsed: {}",
        anchors.len()
    );
    let unique: BTreeSet<_> = anchors.iter().collect();
    assert_eq!(unique.len(), anchors.len(), "duplicate anchors in SPEC.md");

    let mut found: BTreeMap<String, Where> = BTreeMap::new();
    let mut rs = Vec::new();
    for d in ["rud", "rud-dissect", "rud-conform", "tests", "fuzz"] {
        walk(&root().join(d), ".rs", &mut rs);
    }
    let mut unknown = Vec::new();
    for f in &rs {
        let text = std::fs::read_to_string(f).expect("read");
        let rel = f.strip_prefix(root()).unwrap_or(f).display().to_string();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let Some(anchor) = line.trim().strip_prefix("//= docs/SPEC.md#") else {
                continue;
            };
            let anchor = anchor.trim().to_owned();
            if !unique.contains(&anchor) {
                unknown.push(format!("{rel}:{}: {anchor}", n + 1));
            }
            let is_test = lines
                .get(n + 1)
                .is_some_and(|l| l.trim() == "//= type=test");
            let place = format!("{rel}:{}", n + 1);
            let w = found.entry(anchor).or_default();
            if is_test {
                w.tested.push(place)
            } else {
                w.implemented.push(place)
            }
        }
    }
    let mut yaml = Vec::new();
    walk(&root().join("vectors"), ".yaml", &mut yaml);
    for f in &yaml {
        let text = std::fs::read_to_string(f).expect("read");
        let rel = f.strip_prefix(root()).unwrap_or(f).display().to_string();
        for line in text.lines() {
            if let Some(a) = line.trim().strip_prefix("anchor: ") {
                let w = found.entry(a.trim().to_owned()).or_default();
                if !w.tested.contains(&rel) {
                    w.tested.push(rel.clone());
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "annotations naming no SPEC anchor: {unknown:#?}"
    );

    let exceptions: Vec<Exception> = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("docs/traceability-exceptions.yaml")).expect("read"),
    )
    .expect("exceptions file");
    let mut problems = Vec::new();
    println!("{:<32} {:>5} {:>5}  status", "requirement", "impl", "test");
    for a in &anchors {
        let w = found.get(a);
        let (i, t) = w.map_or((0, 0), |w| (w.implemented.len(), w.tested.len()));
        let mut missing = Vec::new();
        if i == 0 {
            missing.push("implementation".to_owned());
        }
        if t == 0 {
            missing.push("test".to_owned());
        }
        let exc = exceptions.iter().find(|e| &e.anchor == a);
        let status = match (&missing[..], exc) {
            ([], None) => "ok".to_owned(),
            ([], Some(_)) => {
                problems.push(format!(
                    "{a}: listed as an exception but fully traced; remove it"
                ));
                "stale exception".to_owned()
            }
            (m, Some(e)) if e.missing == m => format!("exception: {}", e.reason),
            (m, _) => {
                problems.push(format!("{a}: missing {m:?}"));
                format!("MISSING {m:?}")
            }
        };
        println!("{a:<32} {i:>5} {t:>5}  {status}");
    }
    for e in &exceptions {
        if !anchors.contains(&e.anchor) {
            problems.push(format!("exception for unknown anchor {}", e.anchor));
        }
    }
    assert!(
        problems.is_empty(),
        "traceability gaps:\n{}",
        problems.join("\n")
    );
}
