//! A deliberately insecure provider, compiled only with the `insecure-fuzz-crypto` feature, so
//! that fuzzers get past the AEAD and the key agreement and reach the state machines behind
//! them (as rustls' fuzzing provider does). NEVER use it for anything else: "X448" is an XOR,
//! and "AES-GCM" leaves the plaintext as it is and accepts any tag.
use super::CryptoError;
use super::provider::{CryptoProvider, RustCryptoProvider};

#[derive(Debug, Default, Clone, Copy)]
pub struct InsecureFuzzProvider;

impl CryptoProvider for InsecureFuzzProvider {
    fn name(&self) -> &'static str {
        "insecure-fuzz"
    }

    /// The "public key" is the secret itself, so `x448(a, pub(b)) == x448(b, pub(a))`.
    fn x448_public_key(&self, secret: &[u8; 56], out: &mut [u8; 56]) {
        *out = *secret;
    }

    fn x448(&self, secret: &[u8; 56], public: &[u8; 56], out: &mut [u8; 56]) {
        for ((o, s), p) in out.iter_mut().zip(secret).zip(public) {
            *o = s ^ p;
        }
        // Never all zero (a == b), which the protocol would refuse.
        out[0] |= 1;
    }

    crate::delegate_symmetric_primitives!(self => RustCryptoProvider);

    fn aes256_gcm_seal(
        &self,
        _key: &[u8; 32],
        _nonce: &[u8; 12],
        _aad: &[u8],
        _in_out: &mut [u8],
    ) -> Result<[u8; 16], CryptoError> {
        Ok([0; 16])
    }

    fn aes256_gcm_open(
        &self,
        _key: &[u8; 32],
        _nonce: &[u8; 12],
        _aad: &[u8],
        _in_out: &mut [u8],
        _tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        Ok(())
    }
}

/// Insecure key agreement (the XOR "X448" above) with the real AES-256-GCM and HKDF: handshakes
/// cost nothing, while every datagram is still authenticated, so a fuzzer can check that no
/// forged or altered packet is ever delivered. NEVER use it outside fuzzing.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastAgreementProvider;

impl CryptoProvider for FastAgreementProvider {
    fn name(&self) -> &'static str {
        "insecure-agreement"
    }

    fn x448_public_key(&self, secret: &[u8; 56], out: &mut [u8; 56]) {
        InsecureFuzzProvider.x448_public_key(secret, out);
    }

    fn x448(&self, secret: &[u8; 56], public: &[u8; 56], out: &mut [u8; 56]) {
        InsecureFuzzProvider.x448(secret, public, out);
    }

    crate::delegate_symmetric_primitives!(self => RustCryptoProvider, with aead);
}
