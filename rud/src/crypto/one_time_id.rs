//! One-time stream identifiers (draft section 5.3).
//!
//! A receiver that wants every datagram of a stream to carry a different, unlinkable stream
//! identifier issues one-time identifiers: a single AES-256 block
//!
//! ```text
//! id = AES256(issuer key, be64(stream index) || be64(counter))      (16 bytes)
//! ```
//!
//! under a random issuer key per port (supplied by the caller; it must never be logged). A
//! single block of a permutation, never a stream-cipher mode: every (index, counter) pair gives
//! a distinct id, and decrypting gives the pair back without any table.
//!
//! Counters never repeat: the issuer remembers the highest counter issued per stream index and
//! hands out the next one. An id that decrypts to a counter above the highest issued (or to a
//! stream index never issued) is forged or garbled, and is refused right after the one block
//! decryption, before any key derivation.

use core::fmt;
use std::collections::HashMap;

use thiserror::Error;

use super::SecretBytes;
use super::provider::{Aes256BlockKey, CryptoProvider};

/// Length of a one-time identifier.
pub const ONE_TIME_ID_LEN: usize = 16;

/// Why a one-time identifier was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OneTimeIdError {
    /// Not 16 bytes.
    #[error("one-time id must be {ONE_TIME_ID_LEN} bytes, got {len}")]
    Length {
        /// Length received.
        len: usize,
    },
    /// No id was ever issued for this stream index.
    #[error("one-time id names a stream index that was never issued")]
    UnknownStream,
    /// The counter is above the highest one issued for the stream.
    #[error("one-time id counter {counter} was never issued (highest {highest})")]
    CounterNotIssued {
        /// Decrypted counter.
        counter: u64,
        /// Highest counter issued for that stream.
        highest: u64,
    },
    /// Every counter of this stream index has been used.
    #[error("one-time id counters exhausted for this stream")]
    Exhausted,
}

/// A decoded one-time identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OneTimeId {
    /// The stream index chosen by the issuer.
    pub stream_index: u64,
    /// The per-stream counter.
    pub counter: u64,
}

/// Issues and decodes one-time identifiers for one port.
pub struct OneTimeIdIssuer {
    key: Box<dyn Aes256BlockKey>,
    highest: HashMap<u64, u64>,
}

impl fmt::Debug for OneTimeIdIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimeIdIssuer")
            .field("streams", &self.highest.len())
            .finish_non_exhaustive()
    }
}

impl OneTimeIdIssuer {
    /// An issuer under a fresh random 32-byte key (the caller's randomness).
    #[must_use]
    pub fn new(provider: &dyn CryptoProvider, issuer_key: &SecretBytes<32>) -> Self {
        Self {
            key: provider.aes256_block_key(issuer_key.expose()),
            highest: HashMap::new(),
        }
    }

    /// Issues the next identifier for `stream_index` (counters start at 0).
    ///
    /// # Errors
    /// [`OneTimeIdError::Exhausted`] once counter 2^64 - 1 has been issued.
    pub fn issue(&mut self, stream_index: u64) -> Result<[u8; ONE_TIME_ID_LEN], OneTimeIdError> {
        let counter = match self.highest.get(&stream_index) {
            None => 0,
            Some(h) => h.checked_add(1).ok_or(OneTimeIdError::Exhausted)?,
        };
        self.highest.insert(stream_index, counter);
        let mut block = [[0u8; 16]];
        block[0][..8].copy_from_slice(&stream_index.to_be_bytes());
        block[0][8..].copy_from_slice(&counter.to_be_bytes());
        self.key.encrypt_blocks(&mut block);
        Ok(block[0])
    }

    /// The highest counter issued for `stream_index`, if any.
    #[must_use]
    pub fn highest_issued(&self, stream_index: u64) -> Option<u64> {
        self.highest.get(&stream_index).copied()
    }

    /// Decrypts an identifier without checking that this issuer issued it: for routing by an
    /// endpoint whose connections share the issuer key (the connection then checks).
    ///
    /// # Errors
    /// [`OneTimeIdError::Length`].
    pub fn decrypt_unchecked(&self, id: &[u8]) -> Result<OneTimeId, OneTimeIdError> {
        let id: [u8; 16] = id
            .try_into()
            .map_err(|_| OneTimeIdError::Length { len: id.len() })?;
        let mut block = [id];
        self.key.decrypt_blocks(&mut block);
        let [b] = block;
        let (index, counter) = b.split_at(8);
        Ok(OneTimeId {
            stream_index: u64::from_be_bytes(index.try_into().unwrap_or([0; 8])),
            counter: u64::from_be_bytes(counter.try_into().unwrap_or([0; 8])),
        })
    }

    /// Decrypts an identifier and checks that it was issued.
    ///
    /// Only checks that the counter is not above the highest issued; whether an earlier
    /// counter is still current is the connection layer's decision.
    ///
    /// # Errors
    /// [`OneTimeIdError::Length`], [`OneTimeIdError::UnknownStream`] or
    /// [`OneTimeIdError::CounterNotIssued`].
    pub fn decode(&self, id: &[u8]) -> Result<OneTimeId, OneTimeIdError> {
        let OneTimeId {
            stream_index,
            counter,
        } = self.decrypt_unchecked(id)?;
        let highest = *self
            .highest
            .get(&stream_index)
            .ok_or(OneTimeIdError::UnknownStream)?;
        if counter > highest {
            return Err(OneTimeIdError::CounterNotIssued { counter, highest });
        }
        Ok(OneTimeId {
            stream_index,
            counter,
        })
    }
}
