//! Stream keys: one HKDF-SHA-512-Expand per stream and generation.
//!
//! ```text
//! sk = HKDF-SHA-512-Expand(ts_dir, "rud1 stream" || be64(generation), 32)
//! ```
//!
//! - `ts_dir` is the 64-byte traffic secret of one direction (initiator to responder, or
//!   responder to initiator), so the two directions never share a key.
//! - `generation` is a per-connection counter, bumped whenever a stream is created, restarted
//!   or rekeyed, and never reused. The stream's identity enters here through the generation
//!   rather than through the wire stream identifier, because one-time identifiers and rekeys
//!   change the wire identifier while ids may be reused after a stream closes: keying on the
//!   wire id could repeat a (key, nonce) pair, keying on a never-reused counter cannot.
//!
//! Each datagram key is then derived from `sk` with AES (see [`super::datagram_key`]).

use core::fmt;
use std::sync::Arc;

use super::datagram_key::StreamKey;
use super::provider::CryptoProvider;
use super::{CryptoError, SecretBytes};

/// The HKDF info label of stream keys; be64(generation) follows it.
pub const STREAM_KEY_LABEL: &[u8] = b"rud1 stream";

/// A 64-byte traffic secret for one direction, wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct TrafficSecret(SecretBytes<64>);

impl TrafficSecret {
    /// Wraps the output of the handshake key schedule.
    #[must_use]
    pub fn new(secret: SecretBytes<64>) -> Self {
        Self(secret)
    }

    /// Copies a 64-byte slice (for example from a key log).
    ///
    /// # Errors
    /// [`CryptoError::Length`] unless the slice is 64 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        SecretBytes::from_slice(bytes)
            .map(Self)
            .ok_or(CryptoError::Length {
                what: "traffic secret",
                expected: 64,
                got: bytes.len(),
            })
    }

    /// The secret bytes (for key logs).
    #[must_use]
    pub fn expose(&self) -> &[u8; 64] {
        self.0.expose()
    }
}

impl fmt::Debug for TrafficSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrafficSecret(..)")
    }
}

/// The 32 bytes of `sk` for one direction and generation.
///
/// # Errors
/// None in practice (32 bytes is far below the HKDF limit); the provider's error is passed on.
//= docs/SPEC.md#stream-key
//# Each stream key MUST be derived once per stream and generation: sk = E(ts_dir, "rud1 stream" || be64(g), 32).
pub fn stream_key_bytes(
    provider: &dyn CryptoProvider,
    ts: &TrafficSecret,
    generation: u64,
) -> Result<SecretBytes<32>, CryptoError> {
    let mut sk = SecretBytes::<32>::zero();
    provider.hkdf_sha512_expand(
        ts.expose(),
        &[STREAM_KEY_LABEL, &generation.to_be_bytes()],
        sk.expose_mut(),
    )?;
    Ok(sk)
}

/// Derives `sk` for one direction and generation and expands its AES key schedule.
///
/// # Errors
/// As [`stream_key_bytes`].
pub fn derive_stream_key(
    provider: Arc<dyn CryptoProvider>,
    ts: &TrafficSecret,
    generation: u64,
) -> Result<StreamKey, CryptoError> {
    let sk = stream_key_bytes(&*provider, ts, generation)?;
    Ok(StreamKey::new(provider, &sk))
}

/// Allocates stream generations for one connection: 0, 1, 2, ... and never the same twice.
#[derive(Debug, Clone, Default)]
pub struct Generations {
    next: u64,
}

impl Generations {
    /// Starts at generation 0.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The next unused generation.
    ///
    /// # Errors
    /// [`CryptoError::CountersExhausted`] after 2^64 - 1 generations (the connection must end).
    pub fn allocate(&mut self) -> Result<u64, CryptoError> {
        let g = self.next;
        self.next = g.checked_add(1).ok_or(CryptoError::CountersExhausted)?;
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RustCryptoProvider;

    #[test]
    fn label_and_generation_enter_the_info() {
        let p = RustCryptoProvider;
        let ts = TrafficSecret::new(SecretBytes::new([7; 64]));
        let a = stream_key_bytes(&p, &ts, 1).unwrap();
        let mut want = [0u8; 32];
        p.hkdf_sha512_expand(&[7; 64], &[b"rud1 stream\0\0\0\0\0\0\0\x01"], &mut want)
            .unwrap();
        assert_eq!(a.expose(), &want);
        assert_ne!(stream_key_bytes(&p, &ts, 2).unwrap(), a);
    }

    #[test]
    fn generations_never_repeat() {
        let mut g = Generations::new();
        assert_eq!(g.allocate(), Ok(0));
        assert_eq!(g.allocate(), Ok(1));
        let mut g = Generations { next: u64::MAX };
        assert_eq!(g.allocate(), Err(CryptoError::CountersExhausted));
        assert_eq!(g.allocate(), Err(CryptoError::CountersExhausted));
    }
}
