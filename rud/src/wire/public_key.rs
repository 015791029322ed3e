//! Public keys on the wire (SPEC section 3.4.1): device credentials, ephemeral keys, key shares.
//!
//! ```text
//! +-----------------+----------------+-------------------+
//! | algorithm (vi)  | length (vi)    | key octets        |
//! +-----------------+----------------+-------------------+
//! ```
//! Algorithm 1 is X448 (RFC 7748) and its keys are exactly 56 octets (checked by validation and
//! again before any scalar multiplication); other codes are kept opaque.
use super::error::EncodeError;
use super::limits::MAX_PUBLIC_KEY_LEN;
use super::parse::{self, PResult};
use super::stream_id::{binary_len, put_binary};
use super::varint;

/// Key agreement algorithm code (open newtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyAlgorithm(pub u64);

impl KeyAlgorithm {
    pub const X448: Self = Self(1);
    /// Length of an X448 public key (RFC 7748).
    pub const X448_KEY_LEN: usize = 56;

    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::X448 => Some("X448"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey<'a> {
    pub algorithm: KeyAlgorithm,
    pub key: &'a [u8],
}

impl<'a> PublicKey<'a> {
    pub fn x448(key: &'a [u8]) -> Self {
        PublicKey {
            algorithm: KeyAlgorithm::X448,
            key,
        }
    }

    pub fn decode(i: &'a [u8], field: &'static str) -> PResult<'a, Self> {
        let (i, alg) = parse::varint(i, field)?;
        let (i, key) = parse::binary(i, MAX_PUBLIC_KEY_LEN, field)?;
        Ok((
            i,
            PublicKey {
                algorithm: KeyAlgorithm(alg),
                key,
            },
        ))
    }

    pub fn encoded_len(&self) -> usize {
        varint::len(self.algorithm.0) + binary_len(self.key)
    }

    pub fn encode(&self, out: &mut Vec<u8>, field: &'static str) -> Result<(), EncodeError> {
        varint::write(out, self.algorithm.0, field)?;
        put_binary(out, self.key, MAX_PUBLIC_KEY_LEN, field)
    }
}
