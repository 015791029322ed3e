#!/usr/bin/env bash
# The whole test suite, as README states it. Needs only a Rust toolchain (stable 1.95); every
# dependency comes from crates.io through Cargo.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
