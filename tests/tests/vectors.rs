//! Every committed vector is checked against the reference, the committed files are exactly what
//! the generator produces, and the decoded tree of every codec vector is snapshotted.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers may panic with a message
use std::path::{Path, PathBuf};

use rud::wire::element;
use rud_conform::{check, generate, vectors};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

//= docs/SPEC.md#roundtrip
//= type=test
//# Every vector is checked; a failure of any one fails the suite.
#[test]
fn every_committed_vector_passes() {
    let files = vectors::files_below(&vectors_dir()).expect("vectors directory");
    assert!(!files.is_empty(), "no vector files found");
    let mut tally = check::Tally::default();
    for f in &files {
        let file = vectors::load(f).unwrap_or_else(|e| panic!("{e}"));
        for v in &file.vectors {
            tally.add(v);
        }
    }
    for (id, why) in &tally.failed {
        eprintln!("FAIL {id}: {why}");
    }
    println!(
        "vectors: {} passed, {} failed, {} files",
        tally.passed,
        tally.failed.len(),
        files.len()
    );
    assert!(
        tally.passed >= 90,
        "suspiciously few vectors: {}",
        tally.passed
    );
    assert!(
        tally.failed.is_empty(),
        "{} vectors failed",
        tally.failed.len()
    );
}

#[test]
fn committed_vectors_match_the_generator() {
    let generated = generate::all_files().expect("generator");
    let mut stale = Vec::new();
    for (rel, file) in &generated {
        let want = vectors::render(file).expect("render");
        let have = std::fs::read_to_string(vectors_dir().join(rel)).unwrap_or_default();
        if want != have {
            stale.push(rel.clone());
        }
    }
    // Files on disk that the generator no longer writes are stale too.
    for f in vectors::files_below(&vectors_dir()).expect("vectors directory") {
        let rel = f
            .strip_prefix(vectors_dir())
            .expect("below")
            .to_string_lossy()
            .replace('\\', "/");
        if !generated.iter().any(|(r, _)| *r == rel) {
            stale.push(rel);
        }
    }
    assert!(
        stale.is_empty(),
        "stale vector files (run `cargo run -p rud-conform -- generate`): {stale:?}"
    );
}

#[test]
fn loader_rejects_unknown_keys_and_inconsistent_vectors() {
    let path = Path::new("inline.yaml");
    let ok = "schema_version: 1\nset: codec\nsection: '3.0.1'\ntitle: t\nvectors:\n- id: rud/codec/3.0.1/1\n  anchor: varint-encoding\n  comment: c\n  element: varint\n  hex: '25'\n  result: valid\n  decoded: {value: 37, minimal: true}\n";
    let file = vectors::parse(path, ok).expect("valid file");
    assert!(check::run(&file.vectors[0]).is_ok());

    let typo = ok.replace("  comment: c\n", "  coment: c\n");
    let e = vectors::parse(path, &typo).unwrap_err().to_string();
    assert!(
        e.contains("unknown field `coment`") && e.starts_with("inline.yaml:"),
        "{e}"
    );

    let top = format!("{ok}extra: 1\n");
    assert!(
        vectors::parse(path, &top)
            .unwrap_err()
            .to_string()
            .contains("unknown field `extra`")
    );

    let version = ok.replace("schema_version: 1", "schema_version: 9");
    assert!(
        vectors::parse(path, &version)
            .unwrap_err()
            .to_string()
            .contains("schema_version 9")
    );

    let no_decoded = ok.replace("  decoded: {value: 37, minimal: true}\n", "");
    assert!(
        vectors::parse(path, &no_decoded)
            .unwrap_err()
            .to_string()
            .contains("do not fit together")
    );

    let bad_hex = ok.replace("hex: '25'", "hex: '2g'");
    assert!(
        vectors::parse(path, &bad_hex)
            .unwrap_err()
            .to_string()
            .contains("hexadecimal")
    );

    // A vector whose expectation is wrong fails the check (the harness cannot pass silently).
    let wrong = ok.replace("value: 37", "value: 38");
    let file = vectors::parse(path, &wrong).expect("well-formed file");
    assert!(check::run(&file.vectors[0]).is_err());
}

//= docs/SPEC.md#roundtrip
//= type=test
//# The decoded tree of each codec vector is reviewed as a snapshot.
#[test]
fn decoded_tree_snapshots() {
    let mut count = 0;
    for f in vectors::files_below(&vectors_dir().join("codec")).expect("codec vectors") {
        for v in vectors::load(&f).expect("load").vectors {
            let bytes = hex::decode(&v.hex).expect("hex");
            let text = match element::decode(v.element, &bytes) {
                Ok(d) => rud_dissect::output::text(v.element, &bytes, &d),
                Err(e) => format!("error: {e}\n"),
            };
            let name = v.id.replace('/', "_");
            insta::with_settings!({
                snapshot_path => "snapshots",
                prepend_module_to_snapshot => false,
                description => v.comment.clone(),
            }, {
                insta::assert_snapshot!(name, text);
            });
            count += 1;
        }
    }
    println!("snapshots checked: {count}");
    assert!(count >= 90);
}
