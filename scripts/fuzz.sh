#!/usr/bin/env bash
# Coverage-guided fuzzing of the RUD codec with cargo-fuzz (docs/FUZZING.md).
#
#   scripts/fuzz.sh build                     build every target
#   scripts/fuzz.sh run [TARGET|all] [SECS]   fuzz each target SECS seconds (default all, 10)
#   scripts/fuzz.sh smoke                     every target for 5 seconds (CI)
#   scripts/fuzz.sh minimize [TARGET|all]     cargo fuzz cmin of the grown corpus
#   scripts/fuzz.sh seed                      regenerate the committed seed corpora
#   scripts/fuzz.sh list                      the targets
#
# Sanitizer: none by default (stable Rust). ASAN=1 builds with AddressSanitizer, which needs
# nightly flags: RUSTC_BOOTSTRAP=1 lets the stable compiler accept them.
# The committed seeds (fuzz/corpus/<target>/) are only read; what a run discovers goes to
# $RUD_FUZZ_WORK/<target>/ (default fuzz/corpus-work, git-ignored), crashes to
# fuzz/artifacts/<target>/, and libFuzzer's log to $RUD_FUZZ_WORK/logs/<target>.log.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ=$ROOT/fuzz
WORK=${RUD_FUZZ_WORK:-$FUZZ/corpus-work}
case "$WORK" in /*) ;; *) WORK=$ROOT/$WORK ;; esac

if [[ ${ASAN:-0} == 1 ]]; then
    SANITIZER=(--sanitizer address)
    export RUSTC_BOOTSTRAP=1
else
    SANITIZER=(--sanitizer none)
fi
# Debug assertions also turn on integer overflow checks in the codec.
BUILD_FLAGS=("${SANITIZER[@]}" --debug-assertions --fuzz-dir "$FUZZ")

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "== installing cargo-fuzz" >&2
        cargo install cargo-fuzz --locked
    fi
}

all_targets() {
    local f
    for f in "$FUZZ"/fuzz_targets/*.rs; do
        basename "$f" .rs
    done
}

# The targets named by $1 (a target or `all`), one per line; unknown names are an error.
select_targets() {
    local want=${1:-all}
    if [[ $want == all ]]; then
        all_targets
    elif [[ -f $FUZZ/fuzz_targets/$want.rs ]]; then
        echo "$want"
    else
        echo "unknown target '$want'; targets:" >&2
        all_targets >&2
        exit 2
    fi
}

build() {
    ensure_cargo_fuzz
    echo "== building fuzz targets (${SANITIZER[*]})"
    cargo fuzz build "${BUILD_FLAGS[@]}"
}

# Summary rows, filled by fuzz_one: target, exec/s, corpus units, corpus size, result.
SUMMARY=()

# fuzz_one TARGET SECONDS: one libFuzzer run; returns libFuzzer's status.
fuzz_one() {
    local t=$1 secs=$2 log status=0
    mkdir -p "$WORK/$t" "$WORK/logs" "$FUZZ/corpus/$t"
    log=$WORK/logs/$t.log
    echo "== $t: ${secs}s (${SANITIZER[*]}), log $log"
    cargo fuzz run "${BUILD_FLAGS[@]}" "$t" "$WORK/$t" "$FUZZ/corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        >"$log" 2>&1 || status=$?
    # libFuzzer's final status line: "#N DONE cov: C ft: F corp: UNITS/SIZE ... exec/s: E ...".
    local last execs units size result
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(sed -nE 's/^stat::average_exec_per_sec:[[:space:]]*([0-9]+).*/\1/p' "$log" | tail -n 1)
    [[ -n $execs ]] || execs=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")
    units=$(sed -nE 's/.*corp: ([0-9]+)\/([0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
    size=$(sed -nE 's/.*corp: ([0-9]+)\/([0-9]+[a-zA-Z]*).*/\2/p' <<<"$last")
    if [[ $status -eq 0 ]]; then
        result=ok
    else
        result="FAILED (status $status)"
        echo "-- $t failed; end of the log:"
        tail -n 40 "$log"
        ls -1 "$FUZZ/artifacts/$t" 2>/dev/null | sed "s|^|   artifact: fuzz/artifacts/$t/|" || true
    fi
    SUMMARY+=("$(printf '%-38s %10s %8s %10s  %s' "$t" "${execs:-?}" "${units:-?}" "${size:-?}" "$result")")
    return "$status"
}

print_summary() {
    echo
    printf '%-38s %10s %8s %10s  %s\n' target exec/s corpus size result
    printf '%s\n' "${SUMMARY[@]}"
}

# run_targets SECONDS TARGET...: fuzz each in turn (all of them, even after a failure).
run_targets() {
    local secs=$1 t failed=()
    shift
    build
    for t in "$@"; do
        fuzz_one "$t" "$secs" || failed+=("$t")
    done
    print_summary
    if [[ ${#failed[@]} -gt 0 ]]; then
        echo "failed: ${failed[*]} (inputs under fuzz/artifacts/; see docs/FUZZING.md)" >&2
        return 1
    fi
}

minimize() {
    local t
    ensure_cargo_fuzz
    for t in "$@"; do
        mkdir -p "$WORK/$t"
        # Keep the seeds in the minimized set: they carry the structure libFuzzer starts from.
        cp -n "$FUZZ/corpus/$t"/* "$WORK/$t"/ 2>/dev/null || true
        echo "== cmin $t: $(find "$WORK/$t" -type f | wc -l) files"
        cargo fuzz cmin "${BUILD_FLAGS[@]}" "$t" "$WORK/$t"
        echo "== $t: $(find "$WORK/$t" -type f | wc -l) files, $(du -sh "$WORK/$t" | cut -f1)"
    done
}

seed() {
    echo "== writing seed corpora (fuzz/corpus/<target>/) from samples and vectors"
    RUD_FUZZ_WRITE_SEEDS=1 cargo test --locked -p rud-tests --test fuzz_corpus \
        seed_corpora_are_current
    cargo test --locked -p rud-tests --test fuzz_corpus
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case "$cmd" in
    build) build ;;
    run)
        mapfile -t ts < <(select_targets "${1:-all}")
        run_targets "${2:-10}" "${ts[@]}"
        ;;
    smoke)
        mapfile -t ts < <(all_targets)
        run_targets 5 "${ts[@]}"
        ;;
    minimize)
        mapfile -t ts < <(select_targets "${1:-all}")
        minimize "${ts[@]}"
        ;;
    seed) seed ;;
    list) all_targets ;;
    *) usage ;;
esac
