//! AES-256-GCM with a 96-bit nonce and a 16-byte tag, on caller buffers.
//!
//! Opening verifies the tag before any plaintext is produced; on failure the output buffer is
//! wiped, so no unauthenticated plaintext is ever released (draft section 3.5 leaves this to
//! the implementation; returning plaintext before the tag check would let an attacker use the
//! receiver as a decryption oracle).

use super::CryptoError;
use super::provider::CryptoProvider;

/// AES-256 key length.
pub const KEY_LEN: usize = 32;
/// GCM nonce length (96 bits).
pub const NONCE_LEN: usize = 12;
/// GCM tag length (128 bits).
pub const TAG_LEN: usize = 16;

/// Encrypts `in_out` in place and returns the tag.
///
/// # Errors
/// [`CryptoError::AuthenticationFailed`] if the input exceeds the GCM length limits.
pub fn seal_in_place(
    provider: &dyn CryptoProvider,
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<[u8; TAG_LEN], CryptoError> {
    provider.aes256_gcm_seal(key, nonce, aad, in_out)
}

/// Verifies `tag` and decrypts `in_out` in place. On failure `in_out` is zeroed.
///
/// # Errors
/// [`CryptoError::AuthenticationFailed`].
pub fn open_in_place(
    provider: &dyn CryptoProvider,
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    in_out: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), CryptoError> {
    let r = provider.aes256_gcm_open(key, nonce, aad, in_out, tag);
    if r.is_err() {
        // Belt and braces: a provider should not have written plaintext, but make sure.
        in_out.fill(0);
    }
    r
}

/// Encrypts `plaintext` into `out` as ciphertext || tag; `out` must be exactly
/// `plaintext.len() + 16` bytes. Returns the number of bytes written.
///
/// # Errors
/// [`CryptoError::Length`] for a wrong output size, or the errors of [`seal_in_place`].
pub fn seal_into(
    provider: &dyn CryptoProvider,
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    let want = plaintext.len().saturating_add(TAG_LEN);
    if out.len() != want {
        return Err(CryptoError::Length {
            what: "AEAD output buffer",
            expected: want,
            got: out.len(),
        });
    }
    let (ct, tag_out) = out.split_at_mut(plaintext.len());
    ct.copy_from_slice(plaintext);
    let tag = seal_in_place(provider, key, nonce, aad, ct)?;
    tag_out.copy_from_slice(&tag);
    Ok(want)
}

/// Verifies and decrypts `ciphertext || tag` into `out`, which must be exactly
/// `sealed.len() - 16` bytes. On failure `out` is zeroed. Returns the plaintext length.
///
/// # Errors
/// [`CryptoError::Length`] if `sealed` is shorter than a tag or `out` has the wrong size;
/// [`CryptoError::AuthenticationFailed`] if the tag does not verify.
pub fn open_into(
    provider: &dyn CryptoProvider,
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    sealed: &[u8],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    let Some(ct_len) = sealed.len().checked_sub(TAG_LEN) else {
        return Err(CryptoError::Length {
            what: "sealed AEAD input",
            expected: TAG_LEN,
            got: sealed.len(),
        });
    };
    if out.len() != ct_len {
        return Err(CryptoError::Length {
            what: "AEAD output buffer",
            expected: ct_len,
            got: out.len(),
        });
    }
    let (ct, tag) = sealed.split_at(ct_len);
    let tag: &[u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| CryptoError::AuthenticationFailed)?;
    out.copy_from_slice(ct);
    open_in_place(provider, key, nonce, aad, out, tag)?;
    Ok(ct_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RustCryptoProvider;

    #[test]
    fn into_round_trip_and_sizes() {
        let p = RustCryptoProvider;
        let (k, n) = ([3u8; 32], [4u8; 12]);
        let mut sealed = [0u8; 21];
        assert_eq!(seal_into(&p, &k, &n, b"a", b"hello", &mut sealed), Ok(21));
        let mut out = [0u8; 5];
        assert_eq!(open_into(&p, &k, &n, b"a", &sealed, &mut out), Ok(5));
        assert_eq!(&out, b"hello");
        assert!(matches!(
            open_into(&p, &k, &n, b"b", &sealed, &mut out),
            Err(CryptoError::AuthenticationFailed)
        ));
        assert_eq!(out, [0u8; 5]);
        assert!(matches!(
            open_into(&p, &k, &n, b"a", &sealed[..15], &mut out),
            Err(CryptoError::Length { .. })
        ));
        assert!(matches!(
            seal_into(&p, &k, &n, b"a", b"hello", &mut [0u8; 20]),
            Err(CryptoError::Length { .. })
        ));
    }
}
