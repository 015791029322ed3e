//! Per-datagram keys: one AES-256-GCM key and nonce for each datagram counter n.
//!
//! Draft section 3.5.2 derives a key for every datagram from the stream's primary key and the
//! nonce. Doing that with HKDF-SHA-512 would cost several times the AES-256-GCM seal of a
//! full-size datagram, so HKDF runs once per stream key (see [`super::stream_key`]) and each
//! datagram key comes from an AES-based PRF under the stream key `sk`, as RFC 8452 section 4
//! derives per-nonce keys for AES-GCM-SIV:
//!
//! ```text
//! block_j = be32(j) || be32(0) || be64(n)            for j = 0, 1, 2, 3
//! K_n     = AES256(sk, block_0)[0..8] || AES256(sk, block_1)[0..8]
//!        || AES256(sk, block_2)[0..8] || AES256(sk, block_3)[0..8]   (32 bytes)
//! N_n     = be32(0) || be64(n)                                        (12 bytes)
//! ```
//!
//! Only the first half of each AES output is kept: the outputs of a permutation on distinct
//! inputs never collide, which would distinguish a full-block key from random; truncating
//! removes that bias (RFC 8452 section 4 makes the same choice).
//!
//! n must be below 2^62 (the largest value the wire's variable-length integer can carry), so
//! the stream must be rekeyed before that.
//!
//! Nothing may ever be encrypted twice under one (key, nonce) pair: a resend with different
//! associated data would leak the GHASH key. Hence the only way to seal is through a
//! [`DatagramSealer`], which allocates n itself, hands out each n once as a [`DatagramSlot`],
//! and refuses to go past 2^62. A retransmission must resend the stored sealed bytes, never
//! seal again. The receive side uses a [`DatagramOpener`], which takes n from the wire.

use core::fmt;
use std::sync::Arc;

use zeroize::Zeroize;

use super::provider::{Aes256BlockKey, CryptoProvider};
use super::{CryptoError, SecretBytes};

/// Datagram counters must be strictly below this value (2^62).
pub const MAX_DATAGRAM_COUNTER: u64 = 1 << 62;

/// The GCM nonce for datagram `n`: be32(0) || be64(n).
#[must_use]
pub fn datagram_nonce(n: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_be_bytes());
    nonce
}

fn check_counter(n: u64) -> Result<(), CryptoError> {
    if n >= MAX_DATAGRAM_COUNTER {
        return Err(CryptoError::CounterOutOfRange { n });
    }
    Ok(())
}

/// A stream key `sk` with its AES-256 key schedule expanded once.
///
/// The raw 32 bytes are not kept: only the expanded schedule, which the provider wipes when it
/// is dropped.
pub struct StreamKey {
    provider: Arc<dyn CryptoProvider>,
    prf: Box<dyn Aes256BlockKey>,
}

impl StreamKey {
    /// Expands the AES-256 key schedule of `sk`. Normally called through
    /// [`super::stream_key::derive_stream_key`].
    #[must_use]
    pub fn new(provider: Arc<dyn CryptoProvider>, sk: &SecretBytes<32>) -> Self {
        let prf = provider.aes256_block_key(sk.expose());
        Self { provider, prf }
    }

    /// The provider this key uses.
    #[must_use]
    pub fn provider(&self) -> &Arc<dyn CryptoProvider> {
        &self.provider
    }

    /// Derives K_n and N_n for datagram `n`.
    ///
    /// Public so that tools holding logged secrets (the dissector, known-answer tests) can
    /// decrypt; sealing must still go through a [`DatagramSealer`].
    ///
    /// # Errors
    /// [`CryptoError::CounterOutOfRange`] if n >= 2^62.
    //= docs/SPEC.md#per-datagram-key
    //# The key and nonce of datagram n MUST be derived from four AES-256 blocks under sk (RFC 8452 section 4 style).
    pub fn datagram_key(&self, n: u64) -> Result<DatagramKey, CryptoError> {
        check_counter(n)?;
        let mut blocks = [[0u8; 16]; 4];
        for (j, block) in (0u32..).zip(blocks.iter_mut()) {
            block[..4].copy_from_slice(&j.to_be_bytes());
            block[8..].copy_from_slice(&n.to_be_bytes());
        }
        self.prf.encrypt_blocks(&mut blocks);
        let mut key = SecretBytes::<32>::zero();
        for (dst, src) in key.expose_mut().chunks_exact_mut(8).zip(blocks.iter()) {
            dst.copy_from_slice(&src[..8]);
        }
        blocks.zeroize();
        Ok(DatagramKey {
            key,
            nonce: datagram_nonce(n),
        })
    }

    fn seal_at(&self, n: u64, aad: &[u8], in_out: &mut [u8]) -> Result<[u8; 16], CryptoError> {
        let k = self.datagram_key(n)?;
        self.provider
            .aes256_gcm_seal(k.key.expose(), &k.nonce, aad, in_out)
    }

    fn open_at(
        &self,
        n: u64,
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        let k = self.datagram_key(n)?;
        super::aead::open_in_place(&*self.provider, k.key.expose(), &k.nonce, aad, in_out, tag)
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamKey")
            .field("provider", &self.provider.name())
            .finish_non_exhaustive()
    }
}

/// K_n and N_n for one datagram. The key is wiped on drop.
pub struct DatagramKey {
    key: SecretBytes<32>,
    nonce: [u8; 12],
}

impl DatagramKey {
    /// The 32-byte AES-256-GCM key K_n.
    #[must_use]
    pub fn key(&self) -> &[u8; 32] {
        self.key.expose()
    }

    /// The 12-byte GCM nonce N_n.
    #[must_use]
    pub fn nonce(&self) -> &[u8; 12] {
        &self.nonce
    }
}

impl fmt::Debug for DatagramKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramKey")
            .field("nonce", &hex::encode(self.nonce))
            .finish_non_exhaustive()
    }
}

/// The send side of one stream key: allocates datagram counters and seals each at most once.
#[derive(Debug)]
pub struct DatagramSealer {
    key: StreamKey,
    next: u64,
}

impl DatagramSealer {
    /// A sealer whose first datagram is n = 0. Each stream key (each generation) gets a new
    /// sealer, so counters restart only under a new key.
    #[must_use]
    pub fn new(key: StreamKey) -> Self {
        Self { key, next: 0 }
    }

    /// The counter the next [`DatagramSealer::reserve`] will hand out.
    #[must_use]
    pub fn next_counter(&self) -> u64 {
        self.next
    }

    /// How many counters are left before the stream must be rekeyed.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        MAX_DATAGRAM_COUNTER.saturating_sub(self.next)
    }

    /// Allocates the next counter. The counter is spent even if the slot is dropped unused,
    /// so it can never be handed out twice. The caller writes `slot.counter()` into the
    /// datagram header (which is part of the associated data) and then seals.
    ///
    /// # Errors
    /// [`CryptoError::CountersExhausted`] once every counter below 2^62 has been used.
    //= docs/SPEC.md#seal-once
    //# A datagram MUST be sealed exactly once: the sealer allocates n, n never repeats and stays below 2^62.
    pub fn reserve(&mut self) -> Result<DatagramSlot<'_>, CryptoError> {
        if self.next >= MAX_DATAGRAM_COUNTER {
            return Err(CryptoError::CountersExhausted);
        }
        let n = self.next;
        self.next += 1;
        Ok(DatagramSlot { key: &self.key, n })
    }

    #[cfg(test)]
    fn starting_at(key: StreamKey, next: u64) -> Self {
        Self { key, next }
    }
}

/// One allocated datagram counter. Sealing consumes it, so each counter seals at most once.
#[derive(Debug)]
pub struct DatagramSlot<'a> {
    key: &'a StreamKey,
    n: u64,
}

impl DatagramSlot<'_> {
    /// The datagram counter n to put on the wire.
    #[must_use]
    pub fn counter(&self) -> u64 {
        self.n
    }

    /// Encrypts `in_out` in place under K_n, N_n with associated data `aad` (the frozen
    /// datagram prefix, including the encoded counter) and returns the 16-byte tag.
    ///
    /// # Errors
    /// [`CryptoError::AuthenticationFailed`] if the input exceeds the GCM length limits.
    pub fn seal(self, aad: &[u8], in_out: &mut [u8]) -> Result<[u8; 16], CryptoError> {
        self.key.seal_at(self.n, aad, in_out)
    }
}

/// The receive side of one stream key.
///
/// It does not detect replays: a retransmitted datagram is byte-identical and opens again, and
/// the connection layer decides what a duplicate means (see [`ReplayWindow`]).
#[derive(Debug)]
pub struct DatagramOpener {
    key: StreamKey,
}

impl DatagramOpener {
    /// Wraps a stream key for opening.
    #[must_use]
    pub fn new(key: StreamKey) -> Self {
        Self { key }
    }

    /// Verifies and decrypts datagram `n` (taken from the wire) in place. On failure `in_out`
    /// is zeroed and holds no plaintext.
    ///
    /// # Errors
    /// [`CryptoError::CounterOutOfRange`] if n >= 2^62 (checked before any work), or
    /// [`CryptoError::AuthenticationFailed`].
    pub fn open(
        &self,
        n: u64,
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        self.key.open_at(n, aad, in_out, tag)
    }
}

/// What a [`ReplayWindow`] says about a datagram counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayStatus {
    /// Not seen yet and inside (or ahead of) the window.
    Fresh,
    /// Already accepted once.
    Duplicate,
    /// Too far behind the highest accepted counter to tell.
    TooOld,
}

/// A sliding anti-replay window over datagram counters of one stream generation, as in
/// RFC 4303 section 3.4.3: remembers the highest accepted counter and which of the previous
/// [`ReplayWindow::WIDTH`] counters were accepted.
///
/// Check with [`ReplayWindow::status`] before (or after) opening, and call
/// [`ReplayWindow::accept`] only once the tag has verified, so forgeries cannot move it.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    highest: Option<u64>,
    bits: [u64; 16],
}

impl ReplayWindow {
    /// Number of counters remembered behind the highest one.
    pub const WIDTH: u64 = 1024;

    /// An empty window.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn bit(n: u64) -> (usize, u64) {
        let pos = n % Self::WIDTH;
        (
            usize::try_from(pos / 64).unwrap_or(0) % 16,
            1u64 << (pos % 64),
        )
    }

    /// Whether `n` would be fresh, a duplicate or too old.
    #[must_use]
    pub fn status(&self, n: u64) -> ReplayStatus {
        let Some(h) = self.highest else {
            return ReplayStatus::Fresh;
        };
        if n > h {
            return ReplayStatus::Fresh;
        }
        if h - n >= Self::WIDTH {
            return ReplayStatus::TooOld;
        }
        let (w, m) = Self::bit(n);
        if self.bits[w] & m != 0 {
            ReplayStatus::Duplicate
        } else {
            ReplayStatus::Fresh
        }
    }

    /// Records an authenticated counter. Returns its status before recording; only a
    /// [`ReplayStatus::Fresh`] counter changes the window.
    pub fn accept(&mut self, n: u64) -> ReplayStatus {
        let status = self.status(n);
        if status != ReplayStatus::Fresh {
            return status;
        }
        match self.highest {
            Some(h) if n <= h => {}
            Some(h) if n - h < Self::WIDTH => {
                // Forget the counters that slide out of the window.
                let mut k = h + 1;
                while k < n {
                    let (w, m) = Self::bit(k);
                    self.bits[w] &= !m;
                    k += 1;
                }
                self.highest = Some(n);
            }
            _ => {
                self.bits = [0; 16];
                self.highest = Some(n);
            }
        }
        let (w, m) = Self::bit(n);
        self.bits[w] |= m;
        ReplayStatus::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::default_provider;

    fn key(byte: u8) -> StreamKey {
        StreamKey::new(default_provider(), &SecretBytes::new([byte; 32]))
    }

    #[test]
    fn sealer_refuses_past_2_62() {
        let mut s = DatagramSealer::starting_at(key(1), MAX_DATAGRAM_COUNTER - 2);
        assert_eq!(s.remaining(), 2);
        let mut buf = [0u8; 4];
        let slot = s.reserve().unwrap();
        assert_eq!(slot.counter(), MAX_DATAGRAM_COUNTER - 2);
        slot.seal(b"", &mut buf).unwrap();
        // Reserved and never sealed: the counter is spent all the same.
        assert_eq!(s.reserve().unwrap().counter(), MAX_DATAGRAM_COUNTER - 1);
        assert_eq!(s.reserve().unwrap_err(), CryptoError::CountersExhausted);
        assert_eq!(s.reserve().unwrap_err(), CryptoError::CountersExhausted);
        assert_eq!(s.remaining(), 0);
        let k = key(1);
        assert!(k.datagram_key(MAX_DATAGRAM_COUNTER - 1).is_ok());
        assert_eq!(
            k.datagram_key(MAX_DATAGRAM_COUNTER).unwrap_err(),
            CryptoError::CounterOutOfRange {
                n: MAX_DATAGRAM_COUNTER
            }
        );
    }

    #[test]
    fn replay_window() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.accept(5), ReplayStatus::Fresh);
        assert_eq!(w.accept(5), ReplayStatus::Duplicate);
        assert_eq!(w.accept(3), ReplayStatus::Fresh);
        assert_eq!(w.status(3), ReplayStatus::Duplicate);
        assert_eq!(w.status(4), ReplayStatus::Fresh);
        assert_eq!(w.accept(5 + 1023), ReplayStatus::Fresh);
        assert_eq!(w.status(5), ReplayStatus::Duplicate);
        assert_eq!(w.status(4), ReplayStatus::TooOld);
        assert_eq!(w.accept(6 + 1023), ReplayStatus::Fresh);
        assert_eq!(w.status(5), ReplayStatus::TooOld);
        assert_eq!(w.status(1029), ReplayStatus::Duplicate);
        // 1027 shares its slot with 3, which had to be cleared when the window slid.
        assert_eq!(w.status(1027), ReplayStatus::Fresh);
        assert_eq!(w.accept(1_000_000), ReplayStatus::Fresh);
        assert_eq!(w.status(1029), ReplayStatus::TooOld);
        assert_eq!(w.status(999_999), ReplayStatus::Fresh);
        assert_eq!(w.accept(u64::MAX), ReplayStatus::Fresh);
        assert_eq!(w.status(u64::MAX), ReplayStatus::Duplicate);
    }
}
