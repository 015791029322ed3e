//! Cryptographic primitives and the key schedule (docs/SPEC.md section 7).
