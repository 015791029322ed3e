//! The fuzz corpora as ordinary tests (docs/FUZZING.md). Every file under
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` runs through the entry point the
//! target calls, so a crash libFuzzer found stays fixed under plain `cargo test`. Targets are the
//! files in `fuzz/fuzz_targets/`; each must have an entry point and a non-empty seed corpus.
//!
//! The seed corpora are generated from `rud::wire::samples` and the committed vectors;
//! `seed_corpora_are_current` checks them, and with `RUD_FUZZ_WRITE_SEEDS=1` rewrites them
//! (`scripts/fuzz.sh seed`).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers may panic with a message
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rud::fuzzing::{self, EntryPoint};
use rud::wire::element::Element;
use rud::wire::samples;
use rud_conform::vectors;

/// The fuzz crate's own entry points (`vector_loader`), compiled here from the same file.
#[path = "../../fuzz/src/lib.rs"]
mod rud_fuzz;

/// Seed corpora stay small: they are committed, and CI replays them on every test run.
const MAX_SEED_BYTES: usize = 200 * 1024;
/// Prefixes of generated seed files; anything else in a corpus directory was added by hand.
const SEED_PREFIXES: [&str; 3] = ["sample-", "vector-", "file-"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fuzz_dir() -> PathBuf {
    root().join("fuzz")
}

/// Every target: `fuzz/fuzz_targets/<name>.rs`, sorted.
fn targets() -> Vec<String> {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn entry_point(target: &str) -> Option<EntryPoint> {
    match target {
        "vector_loader" => Some(rud_fuzz::vector_loader),
        t => fuzzing::TARGETS
            .iter()
            .find(|(name, _)| *name == t)
            .map(|(_, f)| *f),
    }
}

/// The input files of a corpus or regression directory (none when it does not exist).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            p.is_file() && !name.starts_with('.') && !name.starts_with("README")
        })
        .collect();
    out.sort();
    out
}

/// Runs every file through `f`; returns the files that panicked, with the message.
fn replay(f: EntryPoint, files: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for file in files {
        let data = std::fs::read(file).unwrap();
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&data))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{}: {msg}", file.display()));
        }
    }
    failed
}

#[test]
fn every_target_has_an_entry_point() {
    let targets = targets();
    assert!(!targets.is_empty(), "no fuzz targets found");
    for t in &targets {
        assert!(
            entry_point(t).is_some(),
            "fuzz target {t} has no entry point: add it to rud::fuzzing::TARGETS"
        );
        // The target is one line calling the entry point of the same name.
        let src = std::fs::read_to_string(fuzz_dir().join("fuzz_targets").join(format!("{t}.rs")))
            .unwrap();
        assert!(
            src.contains(&format!("::{t}(data)")),
            "fuzz_targets/{t}.rs does not call the entry point {t}(data)"
        );
    }
    for (name, _) in fuzzing::TARGETS {
        assert!(
            targets.iter().any(|t| t == name),
            "rud::fuzzing::TARGETS names {name}, which has no fuzz_targets/{name}.rs"
        );
    }
}

//= docs/SPEC.md#roundtrip
//= type=test
//# Every committed fuzz input (seed corpora and minimized regressions) replays without breaking
//# a codec invariant.
#[test]
fn every_corpus_and_regression_file_replays() {
    let mut failed = Vec::new();
    for t in targets() {
        let f = entry_point(&t).unwrap_or_else(|| panic!("{t}: no entry point"));
        let corpus = inputs(&fuzz_dir().join("corpus").join(&t));
        let regressions = inputs(&fuzz_dir().join("regressions").join(&t));
        println!(
            "{t}: {} corpus files, {} regressions",
            corpus.len(),
            regressions.len()
        );
        if corpus.is_empty() {
            failed.push(format!(
                "{t}: fuzz/corpus/{t}/ is missing or empty (scripts/fuzz.sh seed)"
            ));
        }
        failed.extend(replay(f, &corpus));
        failed.extend(replay(f, &regressions));
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Seed corpora
// ---------------------------------------------------------------------------------------------

fn target_of(el: Element) -> Option<String> {
    (el != Element::Varint).then(|| format!("decode_{}", el.name().replace('-', "_")))
}

/// target -> file name -> contents. Decode targets get the samples and the vectors of their
/// element (identical contents once); `roundtrip_structured` gets the sample encodings as raw
/// material for its model; `vector_loader` gets each vector file cut to its first two vectors.
fn seeds() -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut add = |target: String, name: String, bytes: Vec<u8>| {
        let files = out.entry(target).or_default();
        if !files.values().any(|b| *b == bytes) {
            files.insert(name, bytes);
        }
    };
    for s in samples::all().expect("samples encode") {
        if let Some(t) = target_of(s.element) {
            add(t, format!("sample-{}", s.name), s.bytes.clone());
        }
        add(
            "roundtrip_structured".into(),
            format!("sample-{}", s.name),
            s.bytes,
        );
    }
    // The handshake target reads its input as a sequence of operations: deterministic filler
    // of a few lengths gives libFuzzer varied starting points.
    for i in 0..8usize {
        let bytes = samples::filler(&format!("handshake ops {i}"), 48 + 40 * i);
        add("handshake".into(), format!("sample-ops-{i}"), bytes);
        let bytes = samples::filler(&format!("connection ops {i}"), 64 + 48 * i);
        add("connection".into(), format!("sample-ops-{i}"), bytes);
    }
    // Key files as OpenSSL writes them, and a key log as the reference writes it.
    for name in ["x448_openssl_private.pem", "x448_openssl_public.pem"] {
        let path = root().join("rud/tests/data").join(name);
        add(
            "keyfile_parser".into(),
            format!("sample-{name}"),
            std::fs::read(path).unwrap(),
        );
    }
    let mut log = rud::crypto::keylog::KEYLOG_HEADER.to_owned();
    for (k, label) in rud::crypto::keylog::labels::ALL.iter().enumerate() {
        let secret = samples::filler(label, if k < 5 { 32 } else { 64 });
        let ctx = samples::filler("context", 56);
        log.push_str(&rud::crypto::keylog::format_line(label, &ctx, &secret));
    }
    add(
        "keylog_parser".into(),
        "sample-keylog.txt".into(),
        log.into_bytes(),
    );
    // HTTP binding requests: a valid POST with framed packets (samples), a poll, and each
    // refusal's selector (method, path, media type, declared length).
    let framed = rud::http::framing::encode(
        samples::all()
            .expect("samples encode")
            .iter()
            .filter(|s| s.bytes.len() < 1200)
            .take(4)
            .map(|s| s.bytes.as_slice()),
    );
    for (name, sel) in [
        ("post", 0u8),
        ("get", 1),
        ("path", 4),
        ("media", 0x20),
        ("length", 0x80),
    ] {
        let mut bytes = vec![sel];
        bytes.extend_from_slice(&framed);
        add("http_request".into(), format!("sample-{name}"), bytes);
    }
    add("http_request".into(), "sample-poll".into(), vec![0x40]);
    add(
        "http_request".into(),
        "sample-truncated".into(),
        vec![0, 0, 5, 1],
    );
    let files = vectors::files_below(&root().join("vectors")).expect("vectors directory");
    for path in files {
        let file = vectors::load(&path).unwrap_or_else(|e| panic!("{e}"));
        for v in &file.vectors {
            if let Some(t) = target_of(v.element) {
                let name = format!("vector-{}", v.id.replace('/', "_"));
                add(
                    t,
                    name,
                    hex::decode(&v.hex).expect("loader checked the hex"),
                );
            }
        }
        let mut short = file.clone();
        short.vectors.truncate(2);
        let stem = path.file_stem().unwrap().to_string_lossy();
        let text = vectors::render(&short).expect("vector file renders");
        add(
            "vector_loader".into(),
            format!("file-{}-{stem}.yaml", file.set),
            text.into_bytes(),
        );
    }
    out
}

fn is_generated(name: &str) -> bool {
    SEED_PREFIXES.iter().any(|p| name.starts_with(p))
}

#[test]
fn seed_corpora_are_current() {
    let write = std::env::var_os("RUD_FUZZ_WRITE_SEEDS").is_some_and(|v| v == "1");
    let seeds = seeds();
    let total: usize = seeds.values().flat_map(|f| f.values()).map(Vec::len).sum();
    assert!(
        total <= MAX_SEED_BYTES,
        "seed corpora total {total} octets, over the {MAX_SEED_BYTES} budget"
    );
    for t in targets() {
        assert!(
            t == "roundtrip_structured" || t == "vector_loader" || seeds.contains_key(&t),
            "no seeds generated for {t}: extend seeds() in tests/tests/fuzz_corpus.rs"
        );
    }
    let mut stale = Vec::new();
    for (target, files) in &seeds {
        let dir = fuzz_dir().join("corpus").join(target);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
        }
        for existing in inputs(&dir) {
            let name = existing.file_name().unwrap().to_string_lossy().into_owned();
            if is_generated(&name) && !files.contains_key(&name) {
                if write {
                    std::fs::remove_file(&existing).unwrap();
                } else {
                    stale.push(format!("{target}/{name}: no longer generated"));
                }
            }
        }
        for (name, bytes) in files {
            let path = dir.join(name);
            if write {
                std::fs::write(&path, bytes).unwrap();
            } else if std::fs::read(&path).ok().as_ref() != Some(bytes) {
                stale.push(format!("{target}/{name}: missing or different"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "seed corpora are out of date (run scripts/fuzz.sh seed):\n{}",
        stale.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Named regressions: one per minimized crash under fuzz/regressions/<target>/.
// ---------------------------------------------------------------------------------------------

/// Replays one minimized crash through its target's entry point.
#[allow(dead_code)]
fn regression(target: &str, name: &str) {
    let path = fuzz_dir().join("regressions").join(target).join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    entry_point(target).expect("entry point")(&data);
}

/// The first run of the `connection` target spun forever: after `handle_timeout` a connection
/// still reported a deadline already past (keep-alive while closing, the grace deadline of a half
/// that cannot go yet, or an Ack blocked by the data send window), so a driver would loop without
/// sleeping. The simulator now reports such a livelock and the target fails on it.
#[test]
fn connection_timers_never_stay_in_the_past() {
    regression("connection", "livelock-past-timer");
}

/// Abandoning a stream's message twice, the second time while the first ABORT was still
/// queued, subtracted past zero (`offset` held a marker value). Abandon is now explicit state.
#[test]
fn connection_abandon_twice() {
    regression("connection", "abandon-twice");
}

/// An abandoned request took no number on the server, so every later response paired with the
/// wrong request. An abandoned message now always sends an ABORT, which keeps its number, and
/// the server answers an abandoned request with an abandoned response.
#[test]
fn connection_abandoned_request_keeps_its_number() {
    regression("connection", "abandoned-request-number");
}
