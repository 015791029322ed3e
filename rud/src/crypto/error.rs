//! Errors of the cryptographic layer.

use thiserror::Error;

/// Why a cryptographic operation was refused.
///
/// The detail is for local logs and tests only: the protocol must not tell the peer which
/// check failed (a bad tag, a bad cookie and an unknown key all look the same from outside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// An X448 public key was not exactly 56 bytes (the 57-byte form some
    /// implementations send is refused, so that one key has one encoding).
    #[error("X448 public key must be 56 bytes, got {len}")]
    PublicKeyLength {
        /// Length received.
        len: usize,
    },
    /// The little-endian u-coordinate was not below p = 2^448 - 2^224 - 1.
    #[error("X448 public key is not canonical (u >= p)")]
    NonCanonicalPublicKey,
    /// The u-coordinate was 0, 1 or p - 1: a point of low order.
    #[error("X448 public key is a low-order point")]
    LowOrderPublicKey,
    /// The Diffie-Hellman output was all zero (RFC 7748 section 6.2).
    #[error("X448 shared secret is all zero")]
    ZeroSharedSecret,
    /// An input had the wrong length.
    #[error("{what} must be {expected} bytes, got {got}")]
    Length {
        /// What was being checked.
        what: &'static str,
        /// Length required.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// HKDF-Expand was asked for more than 255 hash lengths.
    #[error("HKDF output of {len} bytes is longer than 255 hash lengths")]
    HkdfOutputTooLong {
        /// Length asked for.
        len: usize,
    },
    /// AEAD authentication failed (or the input was too long for AES-GCM).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A datagram counter was at or above 2^62, the limit of the wire encoding.
    #[error("datagram counter {n} is at or above 2^62")]
    CounterOutOfRange {
        /// The counter.
        n: u64,
    },
    /// A sealer has used every counter below 2^62: the stream must be rekeyed.
    #[error("datagram counters exhausted: rekey the stream")]
    CountersExhausted,
}
