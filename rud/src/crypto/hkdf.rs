//! HKDF (RFC 5869) wrappers and key-schedule helpers.
//!
//! The key schedule uses HKDF-SHA-512 throughout (as the earlier C# implementation does), but
//! only where it is needed once per handshake or once per stream: per-datagram keys come from
//! an AES-based PRF instead (see [`super::datagram_key`]), because HKDF-SHA-512 costs several
//! times an AES-256-GCM seal of a full datagram.
//!
//! HKDF-SHA-256 is provided as well, built on the provider's HMAC-SHA-256, so the RFC 5869
//! test vectors (all SHA-256 or SHA-1) exercise the same construction.

use super::provider::CryptoProvider;
use super::{CryptoError, SecretBytes};

/// Output length of SHA-512, and so of an HKDF-SHA-512 pseudorandom key.
pub const SHA512_LEN: usize = 64;

/// HKDF-SHA-512-Extract(salt, IKM) with IKM the concatenation of `ikm` parts.
#[must_use]
pub fn extract(provider: &dyn CryptoProvider, salt: &[u8], ikm: &[&[u8]]) -> SecretBytes<64> {
    let mut prk = SecretBytes::zero();
    provider.hkdf_sha512_extract(salt, ikm, prk.expose_mut());
    prk
}

/// HKDF-SHA-512-Expand(PRK, info, L) with info the concatenation of `info` parts and L the
/// length of `okm`.
///
/// # Errors
/// [`CryptoError::HkdfOutputTooLong`] if L > 255 * 64.
pub fn expand(
    provider: &dyn CryptoProvider,
    prk: &SecretBytes<64>,
    info: &[&[u8]],
    okm: &mut [u8],
) -> Result<(), CryptoError> {
    provider.hkdf_sha512_expand(prk.expose(), info, okm)
}

/// HKDF-SHA-512-Expand into a fixed-size secret.
///
/// # Errors
/// [`CryptoError::HkdfOutputTooLong`] if N > 255 * 64.
pub fn expand_secret<const N: usize>(
    provider: &dyn CryptoProvider,
    prk: &SecretBytes<64>,
    info: &[&[u8]],
) -> Result<SecretBytes<N>, CryptoError> {
    let mut out = SecretBytes::<N>::zero();
    expand(provider, prk, info, out.expose_mut())?;
    Ok(out)
}

/// HKDF-SHA-256-Extract (RFC 5869 section 2.2) over the provider's HMAC-SHA-256.
#[must_use]
pub fn extract_sha256(
    provider: &dyn CryptoProvider,
    salt: &[u8],
    ikm: &[&[u8]],
) -> SecretBytes<32> {
    let mut prk = SecretBytes::zero();
    provider.hmac_sha256(salt, ikm, prk.expose_mut());
    prk
}

/// HKDF-SHA-256-Expand (RFC 5869 section 2.3) over the provider's HMAC-SHA-256:
/// T(i) = HMAC(PRK, T(i-1) || info || i).
///
/// # Errors
/// [`CryptoError::HkdfOutputTooLong`] if the output is longer than 255 * 32 bytes, and
/// [`CryptoError::Length`] if the PRK is shorter than 32 bytes (RFC 5869 section 2.3).
pub fn expand_sha256(
    provider: &dyn CryptoProvider,
    prk: &[u8],
    info: &[&[u8]],
    okm: &mut [u8],
) -> Result<(), CryptoError> {
    if okm.len() > 255 * 32 {
        return Err(CryptoError::HkdfOutputTooLong { len: okm.len() });
    }
    if prk.len() < 32 {
        return Err(CryptoError::Length {
            what: "HKDF-SHA-256 PRK",
            expected: 32,
            got: prk.len(),
        });
    }
    let mut t = SecretBytes::<32>::zero();
    for (i, chunk) in okm.chunks_mut(32).enumerate() {
        // At most 255 chunks, checked above.
        let counter = [u8::try_from(i + 1).unwrap_or(u8::MAX)];
        let prev = t.clone();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(info.len() + 2);
        if i > 0 {
            parts.push(prev.expose());
        }
        parts.extend_from_slice(info);
        parts.push(&counter);
        provider.hmac_sha256(prk, &parts, t.expose_mut());
        chunk.copy_from_slice(&t.expose()[..chunk.len()]);
    }
    Ok(())
}

/// A chaining key of the handshake key schedule: each DH output is mixed in with
/// HKDF-Extract, and each key is an HKDF-Expand of the current chaining key with a label
/// naming the message and direction, followed by a context (normally the transcript hash),
/// so that no two messages share a key.
#[derive(Clone, PartialEq, Eq)]
pub struct ChainingKey(SecretBytes<64>);

impl ChainingKey {
    /// ck0 = SHA-512(protocol name and suite).
    #[must_use]
    pub fn initial(provider: &dyn CryptoProvider, protocol_name: &[u8]) -> Self {
        Self(SecretBytes::new(provider.sha512_digest(&[protocol_name])))
    }

    /// Wraps an existing 64-byte secret (for example a resumption secret).
    #[must_use]
    pub fn from_secret(secret: SecretBytes<64>) -> Self {
        Self(secret)
    }

    /// ck' = HKDF-SHA-512-Extract(salt = ck, IKM = concatenation of `ikm`).
    #[must_use]
    pub fn mix(&self, provider: &dyn CryptoProvider, ikm: &[&[u8]]) -> Self {
        Self(extract(provider, self.0.expose(), ikm))
    }

    /// HKDF-SHA-512-Expand(ck, label || context, N).
    ///
    /// # Errors
    /// [`CryptoError::HkdfOutputTooLong`] if N > 255 * 64.
    pub fn expand<const N: usize>(
        &self,
        provider: &dyn CryptoProvider,
        label: &[u8],
        context: &[u8],
    ) -> Result<SecretBytes<N>, CryptoError> {
        expand_secret(provider, &self.0, &[label, context])
    }

    /// The chaining key bytes (for key logs of the master secret).
    #[must_use]
    pub fn expose(&self) -> &[u8; 64] {
        self.0.expose()
    }
}

impl core::fmt::Debug for ChainingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChainingKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RustCryptoProvider;

    #[test]
    fn chaining_key_is_extract_then_expand() {
        let p = RustCryptoProvider;
        let ck0 = ChainingKey::initial(&p, b"RUD test");
        let ck1 = ck0.mix(&p, &[b"dh"]);
        let direct = extract(&p, ck0.expose(), &[b"d", b"h"]);
        assert_eq!(ck1.expose(), direct.expose());
        let k: SecretBytes<32> = ck1.expand(&p, b"label ", b"ctx").unwrap();
        let mut want = [0u8; 32];
        expand(&p, &direct, &[b"label ctx"], &mut want).unwrap();
        assert_eq!(k.expose(), &want);
        let too_long = expand_secret::<{ 255 * 64 + 1 }>(&p, &direct, &[]);
        assert!(matches!(
            too_long,
            Err(CryptoError::HkdfOutputTooLong { len: 16321 })
        ));
    }
}
