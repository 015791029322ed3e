//! Benchmarks for the RUD cryptographic layer live in `benches/`; this library is empty.
//!
//! Run them with `cargo bench -p rud-bench`.
