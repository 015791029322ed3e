//! X448 key agreement (RFC 7748) with strict public-key checks.
//!
//! A public key is accepted only in its canonical 56-byte form. Before any scalar
//! multiplication this module refuses:
//! - any length other than 56 (including the 57-byte form with an extra sign byte that the
//!   earlier C# implementation sends: accepting it would give one key two encodings);
//! - a little-endian u-coordinate u >= p, p = 2^448 - 2^224 - 1 (RFC 7748 section 5 would
//!   reduce it; refusing it keeps one encoding per key, so caches keyed on bytes are sound);
//! - u in {0, 1, p - 1}, the points of low order.
//!
//! After the multiplication an all-zero shared secret is refused (RFC 7748 section 6.2).
//! Points on the quadratic twist are accepted: X448 is defined there and the clamped scalar
//! keeps the result safe; only the low-order cases above are contributory failures.
//!
//! Validation happens when an [`X448PublicKey`] is built, so a value of that type is always
//! canonical and never low order, and the cheap checks always run before the costly ones.

use core::fmt;

use subtle::ConstantTimeEq;

use super::provider::CryptoProvider;
use super::{CryptoError, SecretBytes};

/// Length of X448 keys and shared secrets in bytes.
pub const X448_LEN: usize = 56;

/// p = 2^448 - 2^224 - 1, little-endian.
const P: [u8; 56] = {
    let mut p = [0xff; 56];
    p[28] = 0xfe;
    p
};

/// p - 1, little-endian.
const P_MINUS_1: [u8; 56] = {
    let mut p = P;
    p[0] = 0xfe;
    p
};

/// Whether little-endian `u` is below p.
fn below_p(u: &[u8; 56]) -> bool {
    // Compare from the most significant byte down. Public data: no need for constant time.
    for (a, b) in u.iter().rev().zip(P.iter().rev()) {
        if a != b {
            return a < b;
        }
    }
    false
}

/// Checks a received X448 public key; cheap (no field arithmetic).
///
/// # Errors
/// [`CryptoError::PublicKeyLength`], [`CryptoError::NonCanonicalPublicKey`] or
/// [`CryptoError::LowOrderPublicKey`].
//= docs/SPEC.md#x448-point-checks
//# Before any scalar multiplication a receiver MUST reject a public key that is not 56 octets, u >= p, or u in {0, 1, p-1}.
pub fn validate_public_key(bytes: &[u8]) -> Result<[u8; 56], CryptoError> {
    let u: [u8; 56] = bytes
        .try_into()
        .map_err(|_| CryptoError::PublicKeyLength { len: bytes.len() })?;
    if !below_p(&u) {
        return Err(CryptoError::NonCanonicalPublicKey);
    }
    let low = u[1..].iter().all(|&b| b == 0) && u[0] <= 1;
    if low || u == P_MINUS_1 {
        return Err(CryptoError::LowOrderPublicKey);
    }
    Ok(u)
}

/// A validated X448 public key: 56 bytes, canonical, not of low order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct X448PublicKey([u8; 56]);

impl X448PublicKey {
    /// Parses and validates a public key received from a peer or read from a file.
    ///
    /// # Errors
    /// See [`validate_public_key`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        validate_public_key(bytes).map(Self)
    }

    /// The 56-byte encoding.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 56] {
        &self.0
    }
}

impl TryFrom<&[u8]> for X448PublicKey {
    type Error = CryptoError;

    fn try_from(bytes: &[u8]) -> Result<Self, CryptoError> {
        Self::from_bytes(bytes)
    }
}

impl fmt::Debug for X448PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X448PublicKey({})", hex::encode(self.0))
    }
}

/// An X448 private key (56 bytes, clamped when used), wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct X448Secret(SecretBytes<56>);

impl X448Secret {
    /// Takes the 56 secret bytes. The caller should wipe its own copy.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 56]) -> Self {
        Self(SecretBytes::new(bytes))
    }

    /// Copies a 56-byte slice.
    ///
    /// # Errors
    /// [`CryptoError::Length`] if the slice is not 56 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        SecretBytes::from_slice(bytes)
            .map(Self)
            .ok_or(CryptoError::Length {
                what: "X448 private key",
                expected: X448_LEN,
                got: bytes.len(),
            })
    }

    /// Builds a key from fresh random bytes written by `fill` straight into the wiped
    /// storage (no stray copy). The randomness source is the caller's.
    pub fn generate(fill: impl FnOnce(&mut [u8; 56])) -> Self {
        let mut s = SecretBytes::zero();
        fill(s.expose_mut());
        Self(s)
    }

    /// The secret bytes, for writing key files.
    #[must_use]
    pub fn expose(&self) -> &[u8; 56] {
        self.0.expose()
    }

    /// The public key X448(k, 5). Costs one X448 operation.
    #[must_use]
    pub fn public_key(&self, provider: &dyn CryptoProvider) -> X448PublicKey {
        let mut out = [0u8; 56];
        provider.x448_public_key(self.0.expose(), &mut out);
        X448PublicKey(out)
    }

    /// X448(k, peer), refusing an all-zero result. Costs one X448 operation; the peer key was
    /// validated when it was parsed.
    ///
    /// # Errors
    /// [`CryptoError::ZeroSharedSecret`].
    //= docs/SPEC.md#zero-shared-secret
    //# A party MUST abort when an X448 output is all zero.
    pub fn diffie_hellman(
        &self,
        provider: &dyn CryptoProvider,
        peer: &X448PublicKey,
    ) -> Result<X448SharedSecret, CryptoError> {
        let mut out = SecretBytes::<56>::zero();
        provider.x448(self.0.expose(), &peer.0, out.expose_mut());
        if bool::from(out.expose().ct_eq(&[0u8; 56])) {
            return Err(CryptoError::ZeroSharedSecret);
        }
        Ok(X448SharedSecret(out))
    }

    /// Validates `peer` and then computes the shared secret: the checks run first, so a
    /// refused key costs no X448 operation.
    ///
    /// # Errors
    /// Any error of [`validate_public_key`] or [`X448Secret::diffie_hellman`].
    pub fn diffie_hellman_bytes(
        &self,
        provider: &dyn CryptoProvider,
        peer: &[u8],
    ) -> Result<X448SharedSecret, CryptoError> {
        let peer = X448PublicKey::from_bytes(peer)?;
        self.diffie_hellman(provider, &peer)
    }
}

impl fmt::Debug for X448Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("X448Secret(..)")
    }
}

/// An X448 shared secret (never all zero), wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct X448SharedSecret(SecretBytes<56>);

impl X448SharedSecret {
    /// The 56 bytes, to feed into HKDF-Extract.
    #[must_use]
    pub fn expose(&self) -> &[u8; 56] {
        self.0.expose()
    }
}

impl fmt::Debug for X448SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("X448SharedSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_constants() {
        assert!(!below_p(&P));
        assert!(below_p(&P_MINUS_1));
        let mut above = P;
        above[0] = 0xff;
        above[28] = 0xff;
        assert!(!below_p(&above));
        let mut below = P;
        below[27] = 0xfe;
        assert!(below_p(&below));
    }

    #[test]
    fn rejects_before_multiplying() {
        let mut zero = [0u8; 56];
        assert_eq!(
            validate_public_key(&zero),
            Err(CryptoError::LowOrderPublicKey)
        );
        zero[0] = 1;
        assert_eq!(
            validate_public_key(&zero),
            Err(CryptoError::LowOrderPublicKey)
        );
        assert_eq!(
            validate_public_key(&P_MINUS_1),
            Err(CryptoError::LowOrderPublicKey)
        );
        assert_eq!(
            validate_public_key(&P),
            Err(CryptoError::NonCanonicalPublicKey)
        );
        assert_eq!(
            validate_public_key(&[5u8; 57]),
            Err(CryptoError::PublicKeyLength { len: 57 })
        );
        let mut two = [0u8; 56];
        two[0] = 2;
        assert!(validate_public_key(&two).is_ok());
    }
}
