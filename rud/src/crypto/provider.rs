//! The cryptographic provider: every primitive RUD uses, behind one object-safe trait.
//!
//! The protocol code holds an `Arc<dyn CryptoProvider>` (or a `&dyn CryptoProvider`) chosen at
//! run time. That keeps three doors open without touching the protocol:
//! - a faster X448 backend can be measured against the default one;
//! - tests wrap the provider in a [`CountingProvider`] to assert that a refused datagram cost
//!   zero X448 operations (the cheap checks must run before any scalar multiplication);
//! - a deliberately insecure provider for fuzzing (planned behind an `insecure-fuzz-crypto`
//!   cargo feature, not implemented yet) can make every tag verify, so fuzzers reach the code
//!   behind the AEAD. Nothing in this module assumes the provider is the default one.
//!
//! The X448 methods here are raw scalar multiplications without checks: use the checked entry
//! points in [`crate::crypto::x448`], which validate public keys first and refuse an all-zero
//! shared secret. Secret outputs are written into caller buffers, so the caller decides where
//! they live and wipes them.

use core::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aes::cipher::array::Array;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes_gcm::AeadInOut;
use hkdf::HmacImpl;
use sha2::Digest;
use zeroize::Zeroize;

use super::CryptoError;

/// Writes, inside an `impl CryptoProvider for W`, the methods a wrapper passes through to the
/// provider it wraps: hashing, HKDF, HMAC and the AES block cipher (`$inner` is an expression
/// of type `&dyn CryptoProvider` built from `self`). Wrappers then write only what they change:
/// counting X448 (`CountingProvider`), recording seals (`SealAuditProvider`), faking the AEAD
/// for fuzzing, caching X448 in tests.
#[macro_export]
macro_rules! delegate_symmetric_primitives {
    ($self:ident => $inner:expr) => {
        fn sha512(&$self) -> Box<dyn $crate::crypto::Sha512Hasher> {
            $inner.sha512()
        }

        fn hkdf_sha512_extract(&$self, salt: &[u8], ikm: &[&[u8]], prk: &mut [u8; 64]) {
            $inner.hkdf_sha512_extract(salt, ikm, prk);
        }

        fn hkdf_sha512_expand(
            &$self,
            prk: &[u8; 64],
            info: &[&[u8]],
            okm: &mut [u8],
        ) -> Result<(), $crate::crypto::CryptoError> {
            $inner.hkdf_sha512_expand(prk, info, okm)
        }

        fn hmac_sha256(&$self, key: &[u8], data: &[&[u8]], out: &mut [u8; 32]) {
            $inner.hmac_sha256(key, data, out);
        }

        fn aes256_block_key(&$self, key: &[u8; 32]) -> Box<dyn $crate::crypto::Aes256BlockKey> {
            $inner.aes256_block_key(key)
        }
    };
    // The same, plus AES-256-GCM seal and open, for wrappers that change only X448.
    ($self:ident => $inner:expr, with aead) => {
        $crate::delegate_symmetric_primitives!($self => $inner);

        fn aes256_gcm_seal(
            &$self,
            key: &[u8; 32],
            nonce: &[u8; 12],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<[u8; 16], $crate::crypto::CryptoError> {
            $inner.aes256_gcm_seal(key, nonce, aad, in_out)
        }

        fn aes256_gcm_open(
            &$self,
            key: &[u8; 32],
            nonce: &[u8; 12],
            aad: &[u8],
            in_out: &mut [u8],
            tag: &[u8; 16],
        ) -> Result<(), $crate::crypto::CryptoError> {
            $inner.aes256_gcm_open(key, nonce, aad, in_out, tag)
        }
    };
}

/// SHA-512 state that can be fed incrementally and read without being consumed.
pub trait Sha512Hasher: Send + Sync + fmt::Debug {
    /// Absorbs more input.
    fn update(&mut self, data: &[u8]);
    /// SHA-512 of everything absorbed so far; the state is kept, so absorbing can go on.
    fn snapshot(&self) -> [u8; 64];
    /// An independent copy of the state.
    fn box_clone(&self) -> Box<dyn Sha512Hasher>;
}

/// An AES-256 key with its key schedule expanded once.
///
/// Used for raw single-block operations: the per-datagram key PRF and one-time stream ids.
/// Implementations wipe the key schedule when dropped.
pub trait Aes256BlockKey: Send + Sync + fmt::Debug {
    /// Encrypts each 16-byte block in place (independent blocks, no chaining).
    fn encrypt_blocks(&self, blocks: &mut [[u8; 16]]);
    /// Decrypts each 16-byte block in place (independent blocks, no chaining).
    fn decrypt_blocks(&self, blocks: &mut [[u8; 16]]);
}

/// Every primitive the RUD key schedule and record layer need.
///
/// Object safe, so the choice is made at run time. All methods are deterministic: a provider
/// holds no random number generator and no clock.
pub trait CryptoProvider: Send + Sync + fmt::Debug {
    /// Short name for logs and benchmark reports.
    fn name(&self) -> &'static str;

    /// X448(k, 5): the public key of a 56-byte secret (clamped as in RFC 7748 section 5).
    fn x448_public_key(&self, secret: &[u8; 56], out: &mut [u8; 56]);

    /// X448(k, u) without any check on `u` or on the result (RFC 7748 section 5).
    ///
    /// Callers must validate `u` first; [`crate::crypto::x448::X448Secret::diffie_hellman`]
    /// does, and refuses an all-zero output.
    fn x448(&self, secret: &[u8; 56], public: &[u8; 56], out: &mut [u8; 56]);

    /// A fresh SHA-512 state.
    fn sha512(&self) -> Box<dyn Sha512Hasher>;

    /// SHA-512 of the concatenation of `parts`.
    fn sha512_digest(&self, parts: &[&[u8]]) -> [u8; 64] {
        let mut h = self.sha512();
        for p in parts {
            h.update(p);
        }
        h.snapshot()
    }

    /// HKDF-SHA-512-Extract (RFC 5869 section 2.2) of the concatenation of `ikm` parts.
    ///
    /// An empty salt is the same as the RFC's default (HMAC pads a short key with zeros).
    fn hkdf_sha512_extract(&self, salt: &[u8], ikm: &[&[u8]], prk: &mut [u8; 64]);

    /// HKDF-SHA-512-Expand (RFC 5869 section 2.3) with `info` the concatenation of `info`
    /// parts, filling `okm`.
    ///
    /// # Errors
    /// [`CryptoError::HkdfOutputTooLong`] if `okm` is longer than 255 * 64 bytes.
    fn hkdf_sha512_expand(
        &self,
        prk: &[u8; 64],
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// HMAC-SHA-256 (RFC 2104) of the concatenation of `data` parts.
    fn hmac_sha256(&self, key: &[u8], data: &[&[u8]], out: &mut [u8; 32]);

    /// Expands an AES-256 key schedule for single-block use.
    fn aes256_block_key(&self, key: &[u8; 32]) -> Box<dyn Aes256BlockKey>;

    /// AES-256-GCM encryption in place with a 96-bit nonce, returning the 16-byte tag.
    ///
    /// # Errors
    /// [`CryptoError::AuthenticationFailed`] if the input exceeds the GCM length limits.
    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; 16], CryptoError>;

    /// AES-256-GCM decryption in place. The tag is verified before any plaintext is written,
    /// so on failure `in_out` holds no plaintext.
    ///
    /// # Errors
    /// [`CryptoError::AuthenticationFailed`] if the tag does not verify.
    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError>;
}

/// The default provider, backed by the RustCrypto crates (`aes`, `aes-gcm`, `sha2`, `hmac`,
/// `hkdf`) and the `x448` crate.
///
/// AES-NI and carry-less multiplication are detected at run time by those crates. The `x448`
/// crate does not wipe its internal copies of the scalar; this wrapper wipes the copies it
/// owns, and a backend that wipes everything can replace it through [`CryptoProvider`].
#[derive(Debug, Default, Clone, Copy)]
pub struct RustCryptoProvider;

/// The default provider as a shared trait object.
#[must_use]
pub fn default_provider() -> Arc<dyn CryptoProvider> {
    Arc::new(RustCryptoProvider)
}

/// AES-256-GCM over the encryption-only AES key schedule: GCM never runs AES backwards, and a
/// per-datagram key pays for every round key it expands (and wipes).
type Gcm = aes_gcm::AesGcm<aes::Aes256Enc, aes_gcm::aead::consts::U12>;

struct RcSha512(sha2::Sha512);

impl fmt::Debug for RcSha512 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha512(..)")
    }
}

impl Sha512Hasher for RcSha512 {
    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    fn snapshot(&self) -> [u8; 64] {
        self.0.clone().finalize().into()
    }

    fn box_clone(&self) -> Box<dyn Sha512Hasher> {
        Box::new(RcSha512(self.0.clone()))
    }
}

struct RcAes256(aes::Aes256);

impl fmt::Debug for RcAes256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Aes256(..)")
    }
}

impl Aes256BlockKey for RcAes256 {
    fn encrypt_blocks(&self, blocks: &mut [[u8; 16]]) {
        self.0
            .encrypt_blocks(Array::cast_slice_from_core_mut(blocks));
    }

    fn decrypt_blocks(&self, blocks: &mut [[u8; 16]]) {
        self.0
            .decrypt_blocks(Array::cast_slice_from_core_mut(blocks));
    }
}

impl CryptoProvider for RustCryptoProvider {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn x448_public_key(&self, secret: &[u8; 56], out: &mut [u8; 56]) {
        *out = ::x448::x448_unchecked(*secret, ::x448::X448_BASEPOINT_BYTES);
    }

    fn x448(&self, secret: &[u8; 56], public: &[u8; 56], out: &mut [u8; 56]) {
        *out = ::x448::x448_unchecked(*secret, *public);
    }

    fn sha512(&self) -> Box<dyn Sha512Hasher> {
        Box::new(RcSha512(sha2::Sha512::new()))
    }

    fn hkdf_sha512_extract(&self, salt: &[u8], ikm: &[&[u8]], prk: &mut [u8; 64]) {
        let mut ctx = hkdf::HkdfExtract::<sha2::Sha512>::new(Some(salt));
        for part in ikm {
            ctx.input_ikm(part);
        }
        let (mut out, _) = ctx.finalize();
        prk.copy_from_slice(&out);
        out.as_mut_slice().zeroize();
    }

    fn hkdf_sha512_expand(
        &self,
        prk: &[u8; 64],
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        let too_long = CryptoError::HkdfOutputTooLong { len: okm.len() };
        let hk = hkdf::Hkdf::<sha2::Sha512>::from_prk(prk).map_err(|_| too_long)?;
        hk.expand_multi_info(info, okm).map_err(|_| too_long)
    }

    fn hmac_sha256(&self, key: &[u8], data: &[&[u8]], out: &mut [u8; 32]) {
        let mut mac = <hmac::Hmac<sha2::Sha256> as HmacImpl>::new_from_slice(key);
        for part in data {
            HmacImpl::update(&mut mac, part);
        }
        let mut tag = HmacImpl::finalize(mac);
        out.copy_from_slice(&tag);
        tag.as_mut_slice().zeroize();
    }

    fn aes256_block_key(&self, key: &[u8; 32]) -> Box<dyn Aes256BlockKey> {
        Box::new(RcAes256(aes::Aes256::new(key.into())))
    }

    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; 16], CryptoError> {
        let cipher = Gcm::new(key.into());
        let tag = cipher
            .encrypt_inout_detached(nonce.into(), aad, in_out.into())
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        Ok(tag.into())
    }

    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        let cipher = Gcm::new(key.into());
        cipher
            .decrypt_inout_detached(nonce.into(), aad, in_out.into(), tag.into())
            .map_err(|_| CryptoError::AuthenticationFailed)
    }
}

/// Number of X448 operations seen by a [`CountingProvider`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct X448Counts {
    /// Public-key derivations (X448(k, 5)).
    pub public_keys: u64,
    /// Diffie-Hellman scalar multiplications (X448(k, u)).
    pub dh: u64,
}

impl X448Counts {
    /// Both kinds together.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.public_keys.saturating_add(self.dh)
    }
}

/// Symmetric work seen by a [`CountingProvider`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SymmetricCounts {
    /// HKDF-SHA-512 extracts and expands.
    pub hkdf: u64,
    pub gcm_seal: u64,
    pub gcm_open: u64,
    /// AES-256 key schedules (per-datagram key PRF, one-time identifiers).
    pub block_keys: u64,
    /// Single AES blocks encrypted and decrypted with those keys.
    pub encrypt_blocks: u64,
    pub decrypt_blocks: u64,
}

#[derive(Debug, Default)]
struct Tally {
    public_keys: AtomicU64,
    dh: AtomicU64,
    hkdf: AtomicU64,
    gcm_seal: AtomicU64,
    gcm_open: AtomicU64,
    block_keys: AtomicU64,
    encrypt_blocks: AtomicU64,
    decrypt_blocks: AtomicU64,
}

impl Tally {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
}

/// A provider wrapper that counts the operations it passes through, for tests that require a
/// refused input to cost no scalar multiplication (a Complete with a bad cookie, a low-order
/// public key) or no key derivation at all (a packet with an identifier nobody issued).
#[derive(Debug)]
pub struct CountingProvider {
    inner: Arc<dyn CryptoProvider>,
    tally: Arc<Tally>,
}

impl CountingProvider {
    /// Wraps `inner`; counts start at zero.
    #[must_use]
    pub fn new(inner: Arc<dyn CryptoProvider>) -> Self {
        Self {
            inner,
            tally: Arc::default(),
        }
    }

    /// X448 operations so far.
    #[must_use]
    pub fn counts(&self) -> X448Counts {
        X448Counts {
            public_keys: self.tally.public_keys.load(Ordering::SeqCst),
            dh: self.tally.dh.load(Ordering::SeqCst),
        }
    }

    /// Symmetric operations so far.
    #[must_use]
    pub fn symmetric_counts(&self) -> SymmetricCounts {
        let t = &self.tally;
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        SymmetricCounts {
            hkdf: get(&t.hkdf),
            gcm_seal: get(&t.gcm_seal),
            gcm_open: get(&t.gcm_open),
            block_keys: get(&t.block_keys),
            encrypt_blocks: get(&t.encrypt_blocks),
            decrypt_blocks: get(&t.decrypt_blocks),
        }
    }

    /// Sets the X448 counts back to zero.
    pub fn reset(&self) {
        self.tally.public_keys.store(0, Ordering::SeqCst);
        self.tally.dh.store(0, Ordering::SeqCst);
    }
}

/// An AES key whose block operations a [`CountingProvider`] counts.
#[derive(Debug)]
struct CountingBlockKey {
    inner: Box<dyn Aes256BlockKey>,
    tally: Arc<Tally>,
}

impl Aes256BlockKey for CountingBlockKey {
    fn encrypt_blocks(&self, blocks: &mut [[u8; 16]]) {
        Tally::add(&self.tally.encrypt_blocks, blocks.len());
        self.inner.encrypt_blocks(blocks);
    }

    fn decrypt_blocks(&self, blocks: &mut [[u8; 16]]) {
        Tally::add(&self.tally.decrypt_blocks, blocks.len());
        self.inner.decrypt_blocks(blocks);
    }
}

impl CryptoProvider for CountingProvider {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn x448_public_key(&self, secret: &[u8; 56], out: &mut [u8; 56]) {
        Tally::add(&self.tally.public_keys, 1);
        self.inner.x448_public_key(secret, out);
    }

    fn x448(&self, secret: &[u8; 56], public: &[u8; 56], out: &mut [u8; 56]) {
        Tally::add(&self.tally.dh, 1);
        self.inner.x448(secret, public, out);
    }

    fn sha512(&self) -> Box<dyn Sha512Hasher> {
        self.inner.sha512()
    }

    fn hkdf_sha512_extract(&self, salt: &[u8], ikm: &[&[u8]], prk: &mut [u8; 64]) {
        Tally::add(&self.tally.hkdf, 1);
        self.inner.hkdf_sha512_extract(salt, ikm, prk);
    }

    fn hkdf_sha512_expand(
        &self,
        prk: &[u8; 64],
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        Tally::add(&self.tally.hkdf, 1);
        self.inner.hkdf_sha512_expand(prk, info, okm)
    }

    fn hmac_sha256(&self, key: &[u8], data: &[&[u8]], out: &mut [u8; 32]) {
        self.inner.hmac_sha256(key, data, out);
    }

    fn aes256_block_key(&self, key: &[u8; 32]) -> Box<dyn Aes256BlockKey> {
        Tally::add(&self.tally.block_keys, 1);
        Box::new(CountingBlockKey {
            inner: self.inner.aes256_block_key(key),
            tally: self.tally.clone(),
        })
    }

    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; 16], CryptoError> {
        Tally::add(&self.tally.gcm_seal, 1);
        self.inner.aes256_gcm_seal(key, nonce, aad, in_out)
    }

    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        Tally::add(&self.tally.gcm_open, 1);
        self.inner.aes256_gcm_open(key, nonce, aad, in_out, tag)
    }
}

/// A running SHA-512 hash of handshake messages (the transcript hash).
///
/// Each handshake message's raw bytes are absorbed in order; a key for a section uses the
/// hash of every byte before it, read with [`TranscriptHash::current`] without ending the
/// transcript. [`Clone`] forks it (for example to try two branches of a handshake).
#[derive(Debug)]
pub struct TranscriptHash {
    state: Box<dyn Sha512Hasher>,
}

impl TranscriptHash {
    /// An empty transcript.
    #[must_use]
    pub fn new(provider: &dyn CryptoProvider) -> Self {
        Self {
            state: provider.sha512(),
        }
    }

    /// Absorbs the bytes of one message (or part of one).
    pub fn absorb(&mut self, bytes: &[u8]) {
        self.state.update(bytes);
    }

    /// SHA-512 of everything absorbed so far.
    #[must_use]
    pub fn current(&self) -> [u8; 64] {
        self.state.snapshot()
    }
}

impl Clone for TranscriptHash {
    fn clone(&self) -> Self {
        Self {
            state: self.state.box_clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_provider_counts_each_kind_of_operation() {
        let c = CountingProvider::new(default_provider());
        let mut out = [0u8; 56];
        c.x448_public_key(&[7; 56], &mut out);
        c.x448(&[9; 56], &out.clone(), &mut out);
        let _ = c.sha512_digest(&[b"abc"]);
        let mut prk = [0u8; 64];
        c.hkdf_sha512_extract(b"", &[b"x"], &mut prk);
        let mut okm = [0u8; 32];
        c.hkdf_sha512_expand(&prk, &[b"y"], &mut okm).unwrap();
        let key = c.aes256_block_key(&okm);
        let mut blocks = [[0u8; 16]; 3];
        key.encrypt_blocks(&mut blocks);
        key.decrypt_blocks(&mut blocks[..1]);
        let mut data = *b"datagram";
        let tag = c.aes256_gcm_seal(&okm, &[0; 12], b"", &mut data).unwrap();
        c.aes256_gcm_open(&okm, &[0; 12], b"", &mut data, &tag)
            .unwrap();
        assert_eq!(&data, b"datagram");
        assert_eq!(
            c.counts(),
            X448Counts {
                public_keys: 1,
                dh: 1
            }
        );
        assert_eq!(
            c.symmetric_counts(),
            SymmetricCounts {
                hkdf: 2,
                gcm_seal: 1,
                gcm_open: 1,
                block_keys: 1,
                encrypt_blocks: 3,
                decrypt_blocks: 1,
            }
        );
        c.reset();
        assert_eq!(c.counts().total(), 0);
    }

    #[test]
    fn sha512_abc_and_transcript_snapshot() {
        let p = RustCryptoProvider;
        // FIPS 180-2 appendix C.1 "abc".
        let want = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                    2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
        let mut th = TranscriptHash::new(&p);
        th.absorb(b"a");
        let fork = th.clone();
        th.absorb(b"bc");
        assert_eq!(hex::encode(th.current()), want);
        // Reading does not consume; the fork is independent.
        assert_eq!(hex::encode(th.current()), want);
        assert_eq!(fork.current(), p.sha512_digest(&[b"a"]));
        assert_eq!(p.sha512_digest(&[b"ab", b"c"]), th.current());
    }

    #[test]
    fn aes256_block_fips197() {
        // FIPS 197 appendix C.3.
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let mut blocks = [[0u8; 16]; 2];
        blocks[0] = core::array::from_fn(|i| (i as u8) * 0x11);
        blocks[1] = blocks[0];
        let k = RustCryptoProvider.aes256_block_key(&key);
        k.encrypt_blocks(&mut blocks);
        assert_eq!(hex::encode(blocks[0]), "8ea2b7ca516745bfeafc49904b496089");
        assert_eq!(blocks[0], blocks[1]);
        k.decrypt_blocks(&mut blocks);
        assert_eq!(hex::encode(blocks[1]), "00112233445566778899aabbccddeeff");
    }

    #[test]
    fn gcm_open_failure_leaves_no_plaintext() {
        let p = RustCryptoProvider;
        let key = [1u8; 32];
        let nonce = [2u8; 12];
        let mut buf = *b"attack at dawn!!";
        let tag = p.aes256_gcm_seal(&key, &nonce, b"hdr", &mut buf).unwrap();
        let ct = buf;
        let mut bad = tag;
        bad[0] ^= 1;
        assert_eq!(
            p.aes256_gcm_open(&key, &nonce, b"hdr", &mut buf, &bad),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_eq!(buf, ct, "ciphertext must be left untouched on failure");
        p.aes256_gcm_open(&key, &nonce, b"hdr", &mut buf, &tag)
            .unwrap();
        assert_eq!(&buf, b"attack at dawn!!");
    }
}
