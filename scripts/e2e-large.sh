#!/usr/bin/env bash
# End-to-end runs too slow for the debug test build, in release (rud/tests/e2e_udp.rs): the
# 50 MB file over loopback UDP (`fifty_megabytes_arrive_byte_identical`, ignored by default) and
# 1000 concurrent connections (the debug run holds 200), and the relay with 20 % loss and a
# rebinding every second together. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked -p rud --test e2e_udp -- --include-ignored --nocapture "$@"
