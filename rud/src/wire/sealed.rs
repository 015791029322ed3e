//! An encrypted section as it travels: AES-256-GCM ciphertext followed by its 16-octet tag
//! (SPEC section 3.7). The codec never looks inside; the key schedule opens it.
use super::limits::TAG_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed<'a>(pub &'a [u8]);

impl<'a> Sealed<'a> {
    /// The ciphertext without the tag.
    pub fn ciphertext(&self) -> &'a [u8] {
        self.0.split_at(self.0.len().saturating_sub(TAG_LEN)).0
    }

    /// The authentication tag (the last 16 octets).
    pub fn tag(&self) -> &'a [u8] {
        self.0.split_at(self.0.len().saturating_sub(TAG_LEN)).1
    }
}
