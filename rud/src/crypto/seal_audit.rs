//! A provider wrapper that audits every AES-256-GCM seal, for tests.
//!
//! Encrypting two different messages under one (key, nonce) pair breaks AES-GCM: the XOR of
//! the plaintexts leaks and so does the GHASH key, which lets anyone forge tags. RUD rules it
//! out by construction (a datagram is sealed once; a retransmission resends the stored bytes),
//! and this wrapper lets tests check it end to end: wrap the provider, run a lossy,
//! duplicating, reordering exchange, and assert that no (key, nonce) pair was ever used with two
//! different (associated data, ciphertext) digests.
//!
//! Keys are recorded only as fingerprints (a hash), never in clear, so the wrapper does not
//! turn into a key log.

use core::fmt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::CryptoError;
use super::provider::CryptoProvider;

/// One audited seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SealRecord {
    /// SHA-512("rud seal audit key" || key), first 32 bytes.
    pub key_fingerprint: [u8; 32],
    /// The GCM nonce.
    pub nonce: [u8; 12],
    /// SHA-512(be64(len(aad)) || aad || ciphertext || tag), first 32 bytes.
    pub digest: [u8; 32],
}

#[derive(Default)]
struct AuditState {
    first: HashMap<([u8; 32], [u8; 12]), [u8; 32]>,
    records: Vec<SealRecord>,
    reseals: u64,
    conflicts: Vec<(SealRecord, SealRecord)>,
}

/// Passes everything through to an inner provider and records each AES-256-GCM seal.
pub struct SealAuditProvider {
    inner: Arc<dyn CryptoProvider>,
    state: Mutex<AuditState>,
}

impl fmt::Debug for SealAuditProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealAuditProvider")
            .field("seals", &self.seal_count())
            .field("conflicts", &self.conflicts().len())
            .finish_non_exhaustive()
    }
}

impl SealAuditProvider {
    /// Wraps `inner` with an empty audit.
    #[must_use]
    pub fn new(inner: Arc<dyn CryptoProvider>) -> Self {
        Self {
            inner,
            state: Mutex::new(AuditState::default()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&AuditState) -> T) -> Option<T> {
        self.state.lock().ok().map(|s| f(&s))
    }

    /// Every seal so far, in order.
    #[must_use]
    pub fn records(&self) -> Vec<SealRecord> {
        self.with(|s| s.records.clone()).unwrap_or_default()
    }

    /// Number of seals so far.
    #[must_use]
    pub fn seal_count(&self) -> usize {
        self.with(|s| s.records.len()).unwrap_or(0)
    }

    /// Seals that repeated an earlier (key, nonce, digest) exactly: not a leak, but a sign that
    /// something was sealed again instead of resent from storage.
    #[must_use]
    pub fn reseals(&self) -> u64 {
        self.with(|s| s.reseals).unwrap_or(0)
    }

    /// Pairs of seals that used one (key, nonce) with different digests: each is a broken
    /// AES-GCM instance. A correct implementation has none.
    #[must_use]
    pub fn conflicts(&self) -> Vec<(SealRecord, SealRecord)> {
        self.with(|s| s.conflicts.clone()).unwrap_or_default()
    }

    fn record(&self, key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], ct: &[u8], tag: &[u8; 16]) {
        let fp = self.inner.sha512_digest(&[b"rud seal audit key", key]);
        let len = u64::try_from(aad.len()).unwrap_or(u64::MAX).to_be_bytes();
        let dg = self.inner.sha512_digest(&[&len, aad, ct, tag]);
        let mut rec = SealRecord {
            key_fingerprint: [0; 32],
            nonce: *nonce,
            digest: [0; 32],
        };
        rec.key_fingerprint.copy_from_slice(&fp[..32]);
        rec.digest.copy_from_slice(&dg[..32]);
        if let Ok(mut s) = self.state.lock() {
            match s.first.get(&(rec.key_fingerprint, rec.nonce)).copied() {
                None => {
                    s.first.insert((rec.key_fingerprint, rec.nonce), rec.digest);
                }
                Some(d) if d == rec.digest => s.reseals += 1,
                Some(d) => {
                    let earlier = SealRecord { digest: d, ..rec };
                    s.conflicts.push((earlier, rec));
                }
            }
            s.records.push(rec);
        }
    }
}

impl CryptoProvider for SealAuditProvider {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn x448_public_key(&self, secret: &[u8; 56], out: &mut [u8; 56]) {
        self.inner.x448_public_key(secret, out);
    }

    fn x448(&self, secret: &[u8; 56], public: &[u8; 56], out: &mut [u8; 56]) {
        self.inner.x448(secret, public, out);
    }

    crate::delegate_symmetric_primitives!(self => self.inner);

    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; 16], CryptoError> {
        let tag = self.inner.aes256_gcm_seal(key, nonce, aad, in_out)?;
        self.record(key, nonce, aad, in_out, &tag);
        Ok(tag)
    }

    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        self.inner.aes256_gcm_open(key, nonce, aad, in_out, tag)
    }
}
