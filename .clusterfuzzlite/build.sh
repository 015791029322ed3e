#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: every cargo-fuzz target of fuzz/ into $OUT, each with its
# committed seed corpus as <target>_seed_corpus.zip. The builder's cargo wrapper adds the
# sanitizer and coverage flags for $SANITIZER.
cd "$SRC/rud"
cargo fuzz build -O --debug-assertions --fuzz-dir fuzz
release=fuzz/target/x86_64-unknown-linux-gnu/release
for src in fuzz/fuzz_targets/*.rs; do
    target=$(basename "$src" .rs)
    cp "$release/$target" "$OUT/"
    if [ -d "fuzz/corpus/$target" ]; then
        (cd "fuzz/corpus/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
    fi
done
