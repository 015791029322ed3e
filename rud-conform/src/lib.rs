//! RUD conformance runner and vector generator. `vectors` is the YAML schema (docs/VECTORS.md)
//! with a loader that rejects unknown keys; `generate` produces every vector set from the
//! reference implementation; `check` runs vectors against the reference codec.
pub mod check;
pub mod generate;
pub mod vectors;
