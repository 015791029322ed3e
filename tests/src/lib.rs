//! End-to-end tests across the crates live in `tests/tests/`; this crate has no library code.
