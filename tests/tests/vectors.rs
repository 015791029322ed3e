//! Every committed vector of every set is checked against the reference, the committed files (and
//! docs/EXAMPLES.md) are exactly what the generator produces, and the decoded tree of every codec
//! vector is snapshotted.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers may panic with a message
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rud::wire::element;
use rud_conform::vectors::Vectors;
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
    let mut per_set: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for f in &files {
        let file = vectors::load(f).unwrap_or_else(|e| panic!("{e}"));
        *per_set.entry(file.vectors.set()).or_default() += file.vectors.len();
        let rel = f
            .strip_prefix(vectors_dir())
            .expect("below")
            .to_string_lossy()
            .replace('\\', "/");
        assert!(
            rel.starts_with(&format!("{}/", file.vectors.set())),
            "{rel}: a {} file outside its set's directory",
            file.vectors.set()
        );
        for (n, v) in file.vectors.all().into_iter().enumerate() {
            let want = format!("rud/{}/{}/{}", file.vectors.set(), file.section, n + 1);
            assert_eq!(
                v.id(),
                want,
                "{rel}: ids are rud/<set>/<section>/<n> in order"
            );
            assert!(ids.insert(v.id().to_owned()), "duplicate id {}", v.id());
        }
        tally.add_file(&file);
    }
    for (id, why) in &tally.failed {
        eprintln!("FAIL {id}: {why}");
    }
    let total: usize = per_set.values().sum();
    println!(
        "vectors: {} passed, {} failed, {} files, per set {per_set:?}",
        tally.passed,
        tally.failed.len(),
        files.len()
    );
    assert_eq!(
        tally.passed + tally.failed.len(),
        total,
        "every vector is run"
    );
    for (set, least) in [("codec", 90), ("crypto", 10), ("handshake", 18)] {
        let n = per_set.get(set).copied().unwrap_or(0);
        assert!(n >= least, "suspiciously few {set} vectors: {n}");
    }
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
fn examples_md_is_what_the_generator_writes() {
    let want = generate::examples::examples_markdown().expect("examples");
    let have =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/EXAMPLES.md"))
            .unwrap_or_default();
    assert!(
        want == have,
        "docs/EXAMPLES.md is stale (run `cargo run -p rud-conform -- generate`)"
    );
}

/// A committed file's text with `from` replaced by `to` (which must occur).
fn edited(rel: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(vectors_dir().join(rel)).expect("committed file");
    assert!(text.contains(from), "{rel} lacks {from:?}");
    text.replacen(from, to, 1)
}

fn first_failure(path: &Path, text: &str) -> Option<String> {
    let file = vectors::parse(path, text).unwrap_or_else(|e| panic!("{e}"));
    file.vectors
        .all()
        .into_iter()
        .find_map(|v| check::run_any(v).err())
}

#[test]
fn crypto_and_handshake_vectors_are_strict_and_checked() {
    let path = Path::new("inline.yaml");
    // Crypto: unknown keys, a block that does not match `kind`, a wrong output.
    let rel = "crypto/datagram-keys.yaml";
    let text = std::fs::read_to_string(vectors_dir().join(rel)).expect("committed");
    assert!(vectors::parse(path, &text).is_ok());
    let e = vectors::parse(
        path,
        &edited(
            rel,
            "      generation: 0\n",
            "      generation: 0\n      extra: 1\n",
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("unknown field `extra`") && e.starts_with("inline.yaml:"),
        "{e}"
    );
    let e = vectors::parse(path, &edited(rel, "kind: datagram-key", "kind: seal"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("exactly the block"), "{e}");
    let e = vectors::parse(path, &edited(rel, "set: crypto", "set: cryptography"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown set"), "{e}");
    let stream_key = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("stream_key: "))
        .expect("a stream key");
    let mut wrong = stream_key.to_owned();
    wrong.replace_range(
        ..2,
        if stream_key.starts_with("00") {
            "01"
        } else {
            "00"
        },
    );
    let why = first_failure(path, &edited(rel, stream_key, &wrong)).expect("a wrong output fails");
    assert!(why.contains("stream_key"), "{why}");

    // Handshake: unknown keys, inconsistent steps, changed octets or results.
    let rel = "handshake/failures.yaml";
    let text = std::fs::read_to_string(vectors_dir().join(rel)).expect("committed");
    assert!(first_failure(path, &text).is_none());
    let e = vectors::parse(
        path,
        &edited(
            rel,
            "    result: aborted\n",
            "    result: aborted\n    extra: 1\n",
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field `extra`"), "{e}");
    let e = vectors::parse(
        path,
        &edited(rel, "    origin: responder\n", "    origin: attacker\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("note"), "{e}");
    let why = first_failure(
        path,
        &edited(rel, "    result: aborted\n", "    result: ignored\n"),
    )
    .expect("a wrong result fails");
    assert!(why.contains("Aborted"), "{why}");
    // One octet of the responder's Challenge changed: the reference sends other octets.
    let challenge = text
        .lines()
        .skip_while(|l| !l.contains("message: ResponderChallenge"))
        .find_map(|l| l.trim().strip_prefix("hex: "))
        .expect("a Challenge");
    let mut other = challenge.to_owned();
    other.replace_range(2..4, if &challenge[2..4] == "00" { "01" } else { "00" });
    let why = first_failure(path, &edited(rel, challenge, &other)).expect("changed octets fail");
    assert!(why.contains("other octets"), "{why}");
}

#[test]
fn loader_rejects_unknown_keys_and_inconsistent_vectors() {
    let path = Path::new("inline.yaml");
    let ok = "schema_version: 1\nset: codec\nsection: '3.0.1'\ntitle: t\nvectors:\n- id: rud/codec/3.0.1/1\n  anchor: varint-encoding\n  comment: c\n  element: varint\n  hex: '25'\n  result: valid\n  decoded: {value: 37, minimal: true}\n";
    let file = vectors::parse(path, ok).expect("valid file");
    let Vectors::Codec(v) = &file.vectors else {
        panic!("a codec file")
    };
    assert!(check::run(&v[0]).is_ok());

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
    let Vectors::Codec(v) = &file.vectors else {
        panic!("a codec file")
    };
    assert!(check::run(&v[0]).is_err());
}

//= docs/SPEC.md#roundtrip
//= type=test
//# The decoded tree of each codec vector is reviewed as a snapshot.
#[test]
fn decoded_tree_snapshots() {
    let mut count = 0;
    for f in vectors::files_below(&vectors_dir().join("codec")).expect("codec vectors") {
        let Vectors::Codec(vs) = vectors::load(&f).expect("load").vectors else {
            panic!("{}: not a codec file", f.display())
        };
        for v in vs {
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
