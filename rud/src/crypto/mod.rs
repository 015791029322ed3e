//! Cryptographic primitives and the key schedule (docs/SPEC.md section 7).
//!
//! Everything here is sans-IO: no clock, no global random number generator and no
//! sockets. Time and fresh random bytes come in as parameters, so a seeded run is
//! reproducible byte for byte.
//!
//! The primitives (X448, SHA-512, HKDF, HMAC-SHA-256, AES-256 and AES-256-GCM) are reached
//! through a [`CryptoProvider`] chosen at run time, so that a faster backend or a counting
//! wrapper for tests can be swapped in without touching the protocol code.
//!
//! Module map:
//! - [`provider`]: the provider trait, the RustCrypto-backed default and a counting wrapper.
//! - [`seal_audit`]: a wrapper recording every AES-GCM seal, to prove no (key, nonce) reuse.
//! - [`x448`]: X448 keys with the public-key checks done before any scalar multiplication.
//! - [`hkdf`]: HKDF-SHA-512 (and HKDF-SHA-256) wrappers for the key schedule.
//! - [`aead`]: AES-256-GCM seal/open on caller buffers.
//! - [`stream_key`] and [`datagram_key`]: one HKDF per stream, one AES-based PRF per datagram.
//! - [`cookie`]: the stateless challenge cookie used by the Deferred handshake.
//! - [`one_time_id`]: one-time stream identifiers (one AES block each).
//! - [`keylog`]: key log sinks and the key log parser.
//! - [`keyfile`]: X448 key files (PEM PKCS#8, SubjectPublicKeyInfo, raw hex) and key ids.

pub mod aead;
pub mod cookie;
pub mod datagram_key;
mod error;
pub mod hkdf;
#[cfg(feature = "insecure-fuzz-crypto")]
pub mod insecure;
pub mod keyfile;
pub mod keylog;
pub mod one_time_id;
pub mod provider;
pub mod seal_audit;
mod secret;
pub mod stream_key;
pub mod x448;

pub use error::CryptoError;
pub use provider::{
    Aes256BlockKey, CountingProvider, CryptoProvider, RustCryptoProvider, Sha512Hasher,
    SymmetricCounts, TranscriptHash, X448Counts, default_provider,
};
pub use seal_audit::SealAuditProvider;
pub use secret::SecretBytes;
