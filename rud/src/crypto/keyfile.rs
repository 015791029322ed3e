//! X448 key files and key identifiers.
//!
//! Formats read and written:
//! - PEM `PRIVATE KEY`: PKCS#8 OneAsymmetricKey (RFC 5958) as profiled for X448 by RFC 8410:
//!   version 0 (or 1 with an optional public key), AlgorithmIdentifier with OID 1.3.101.111
//!   and no parameters, and the private key as an OCTET STRING wrapped in the privateKey
//!   OCTET STRING. This is what `openssl genpkey -algorithm X448` writes.
//! - PEM `PUBLIC KEY`: SubjectPublicKeyInfo (RFC 5280) with the same AlgorithmIdentifier and
//!   the 56-byte key in a BIT STRING with no unused bits (`openssl pkey -pubout`).
//! - Raw hex: 56 bytes as 112 hex digits; whitespace and newlines anywhere are ignored.
//!
//! Only these structures are needed, so the DER reader is written here rather than pulled in
//! as a general ASN.1 library: it accepts exactly DER (definite, minimal lengths), checks every
//! length against its container, and reports errors with byte offsets. Base64 is decoded and
//! encoded without secret-dependent table lookups or branches on the data.
//!
//! Key identifier: `key_id = SHA-512("RUD key identifier" || 0x01 || public key)[0..16]`,
//! where 0x01 is the code of the X448 algorithm.

use core::fmt;

use thiserror::Error;
use zeroize::Zeroizing;

use super::CryptoError;
use super::provider::CryptoProvider;
use super::x448::{X448PublicKey, X448Secret};

/// DER of the AlgorithmIdentifier for X448: SEQUENCE { OID 1.3.101.111 }, no parameters.
const X448_ALGORITHM: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6f];

/// Prefix of the key identifier hash input.
pub const KEY_ID_LABEL: &[u8] = b"RUD key identifier";
/// Algorithm code of X448 in the key identifier.
pub const KEY_ID_X448: u8 = 0x01;

/// A 16-byte key identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    /// The identifier of an X448 public key.
    #[must_use]
    pub fn of(provider: &dyn CryptoProvider, public: &X448PublicKey) -> Self {
        let h = provider.sha512_digest(&[KEY_ID_LABEL, &[KEY_ID_X448], public.as_bytes()]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&h[..16]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// What was wrong in a DER structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DerProblem {
    /// The input ended inside a structure.
    #[error("truncated")]
    Truncated,
    /// A different tag was expected.
    #[error("expected tag 0x{expected:02x}, found 0x{found:02x}")]
    UnexpectedTag {
        /// Expected tag.
        expected: u8,
        /// Tag found.
        found: u8,
    },
    /// An indefinite, over-long or non-minimal length.
    #[error("length is not in DER form")]
    BadLength,
    /// Bytes after the end of the structure.
    #[error("trailing data")]
    TrailingData,
    /// A version other than 0 (v1) or 1 (v2).
    #[error("unsupported version")]
    Version,
    /// The algorithm is not X448 (OID 1.3.101.111, no parameters).
    #[error("algorithm is not X448")]
    Algorithm,
    /// A key of the wrong length.
    #[error("key must be 56 bytes, got {len}")]
    KeyLength {
        /// Length found.
        len: usize,
    },
    /// A BIT STRING with unused bits.
    #[error("BIT STRING has unused bits")]
    UnusedBits,
}

/// Why a key file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// No PEM block with the expected label (for example `PRIVATE KEY`).
    #[error("no PEM block labelled {label}")]
    NoPemBlock {
        /// Label looked for.
        label: &'static str,
    },
    /// The PEM block has no END line.
    #[error("PEM block labelled {label} is not terminated")]
    UnterminatedPem {
        /// Label.
        label: &'static str,
    },
    /// A character that is not base64, or misplaced padding, at a byte offset in the file.
    #[error("bad base64 at byte {offset}")]
    Base64 {
        /// Byte offset in the text.
        offset: usize,
    },
    /// A DER error at a byte offset in the decoded structure.
    #[error("DER error at byte {offset}: {problem}")]
    Der {
        /// Offset in the DER bytes.
        offset: usize,
        /// What was wrong.
        problem: DerProblem,
    },
    /// A character that is not a hex digit at a byte offset in the text.
    #[error("bad hex digit at byte {offset}")]
    Hex {
        /// Byte offset in the text.
        offset: usize,
    },
    /// Hex input with the wrong number of digits.
    #[error("hex key must be 112 hex digits, got {digits}")]
    HexLength {
        /// Digits found.
        digits: usize,
    },
    /// The public key is not acceptable.
    #[error("public key refused: {0}")]
    PublicKey(CryptoError),
    /// A version 1 private key whose embedded public key does not match the private key.
    #[error("embedded public key does not match the private key")]
    PublicKeyMismatch,
}

// ---------------------------------------------------------------------------------------------
// DER

struct Der<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Self {
        Self {
            bytes,
            pos: 0,
            base,
        }
    }

    fn err(&self, at: usize, problem: DerProblem) -> KeyFileError {
        KeyFileError::Der {
            offset: self.base + at,
            problem,
        }
    }

    fn byte(&mut self) -> Result<u8, KeyFileError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(self.err(self.pos, DerProblem::Truncated))?;
        self.pos += 1;
        Ok(b)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Reads one TLV with the given tag; returns a reader over its contents.
    fn tlv(&mut self, tag: u8) -> Result<Der<'a>, KeyFileError> {
        let start = self.pos;
        let found = self.byte()?;
        if found != tag {
            return Err(self.err(
                start,
                DerProblem::UnexpectedTag {
                    expected: tag,
                    found,
                },
            ));
        }
        let len_at = self.pos;
        let first = self.byte()?;
        let len = match first {
            0..=0x7f => usize::from(first),
            0x81 => {
                let l = self.byte()?;
                if l < 0x80 {
                    return Err(self.err(len_at, DerProblem::BadLength));
                }
                usize::from(l)
            }
            0x82 => {
                let hi = self.byte()?;
                let lo = self.byte()?;
                let l = usize::from(u16::from_be_bytes([hi, lo]));
                if l < 0x100 {
                    return Err(self.err(len_at, DerProblem::BadLength));
                }
                l
            }
            // Indefinite (0x80) and anything longer than 64 KiB: not for these structures.
            _ => return Err(self.err(len_at, DerProblem::BadLength)),
        };
        let body_at = self.pos;
        let end = body_at
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(self.err(body_at, DerProblem::Truncated))?;
        let body = self
            .bytes
            .get(body_at..end)
            .ok_or(self.err(body_at, DerProblem::Truncated))?;
        self.pos = end;
        Ok(Der::new(body, self.base + body_at))
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }

    fn finish(&self) -> Result<(), KeyFileError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(self.pos, DerProblem::TrailingData))
        }
    }

    fn algorithm(&mut self) -> Result<(), KeyFileError> {
        let at = self.pos;
        let alg = self.tlv(0x30)?;
        if alg.bytes != &X448_ALGORITHM[2..] {
            return Err(self.err(at, DerProblem::Algorithm));
        }
        Ok(())
    }

    fn key56(&self) -> Result<[u8; 56], KeyFileError> {
        self.bytes.try_into().map_err(|_| {
            self.err(
                0,
                DerProblem::KeyLength {
                    len: self.bytes.len(),
                },
            )
        })
    }
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    // Only the short form is needed: every structure here is under 128 bytes.
    out.push(u8::try_from(len).unwrap_or(0x7f));
}

/// A private key decoded from PKCS#8, with the public key if the file carried one.
#[derive(Debug)]
pub struct DecodedPrivateKey {
    /// The private key.
    pub secret: X448Secret,
    /// The public key of a version 1 (RFC 5958 v2) structure, unchecked.
    pub public: Option<[u8; 56]>,
}

/// Decodes a DER PKCS#8 X448 private key (RFC 8410 section 7).
///
/// # Errors
/// [`KeyFileError::Der`] with the offset of the problem.
pub fn private_key_from_der(der: &[u8]) -> Result<DecodedPrivateKey, KeyFileError> {
    let mut outer = Der::new(der, 0);
    let mut seq = outer.tlv(0x30)?;
    outer.finish()?;
    let v_at = seq.pos;
    let version = seq.tlv(0x02)?;
    let v2 = match version.bytes {
        [0] => false,
        [1] => true,
        _ => return Err(seq.err(v_at, DerProblem::Version)),
    };
    seq.algorithm()?;
    let mut wrapped = seq.tlv(0x04)?;
    let inner = wrapped.tlv(0x04)?;
    wrapped.finish()?;
    let secret = Zeroizing::new(inner.key56()?);
    let mut public = None;
    if v2 {
        // attributes [0] IMPLICIT SET OF Attribute OPTIONAL: skipped.
        if seq.peek() == Some(0xa0) {
            seq.tlv(0xa0)?;
        }
        // publicKey [1] IMPLICIT BIT STRING OPTIONAL.
        if seq.peek() == Some(0x81) {
            let bits = seq.tlv(0x81)?;
            public = Some(bit_string_key(&bits)?);
        }
    }
    seq.finish()?;
    Ok(DecodedPrivateKey {
        secret: X448Secret::from_bytes(*secret),
        public,
    })
}

fn bit_string_key(bits: &Der<'_>) -> Result<[u8; 56], KeyFileError> {
    let mut b = Der::new(bits.bytes, bits.base);
    let unused = b.byte()?;
    if unused != 0 {
        return Err(b.err(0, DerProblem::UnusedBits));
    }
    let key = Der::new(b.rest(), bits.base + 1);
    key.key56()
}

/// Decodes a DER SubjectPublicKeyInfo holding an X448 key (RFC 8410 section 4) and validates
/// the key.
///
/// # Errors
/// [`KeyFileError::Der`] or [`KeyFileError::PublicKey`].
pub fn public_key_from_der(der: &[u8]) -> Result<X448PublicKey, KeyFileError> {
    let mut outer = Der::new(der, 0);
    let mut seq = outer.tlv(0x30)?;
    outer.finish()?;
    seq.algorithm()?;
    let bits = seq.tlv(0x03)?;
    seq.finish()?;
    let key = bit_string_key(&bits)?;
    X448PublicKey::from_bytes(&key).map_err(KeyFileError::PublicKey)
}

/// Encodes a private key as DER PKCS#8 version 0 (the form OpenSSL writes).
#[must_use]
pub fn private_key_to_der(secret: &X448Secret) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(72));
    out.extend_from_slice(&[0x30]);
    der_len(3 + X448_ALGORITHM.len() + 2 + 2 + 56, &mut out);
    out.extend_from_slice(&[0x02, 0x01, 0x00]);
    out.extend_from_slice(&X448_ALGORITHM);
    out.push(0x04);
    der_len(58, &mut out);
    out.push(0x04);
    der_len(56, &mut out);
    out.extend_from_slice(secret.expose());
    out
}

/// Encodes a public key as DER SubjectPublicKeyInfo.
#[must_use]
pub fn public_key_to_der(public: &X448PublicKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(68);
    out.push(0x30);
    der_len(X448_ALGORITHM.len() + 3 + 56, &mut out);
    out.extend_from_slice(&X448_ALGORITHM);
    out.extend_from_slice(&[0x03, 57, 0x00]);
    out.extend_from_slice(public.as_bytes());
    out
}

// ---------------------------------------------------------------------------------------------
// Base64 (RFC 4648 section 4) without data-dependent branches or table lookups.

/// Maps a base64 character to its value, or -1. Arithmetic on masks only.
fn b64_decode_char(c: u8) -> i16 {
    let c = i16::from(c);
    let mut v: i16 = -1;
    // Each term is (value + 1) when c is in the range, 0 otherwise.
    v += (((0x40 - c) & (c - 0x5b)) >> 8) & (c - 64); // 'A'..='Z' -> 0..25
    v += (((0x60 - c) & (c - 0x7b)) >> 8) & (c - 70); // 'a'..='z' -> 26..51
    v += (((0x2f - c) & (c - 0x3a)) >> 8) & (c + 5); // '0'..='9' -> 52..61
    v += (((0x2a - c) & (c - 0x2c)) >> 8) & 63; // '+' -> 62
    v += (((0x2e - c) & (c - 0x30)) >> 8) & 64; // '/' -> 63
    v
}

/// Maps a 6-bit value to its base64 character. Arithmetic on masks only.
fn b64_encode_char(v: u8) -> u8 {
    let v = i16::from(v & 63);
    let mut d: i16 = 0x41;
    d += ((25 - v) >> 8) & 6;
    d -= ((51 - v) >> 8) & 75;
    d -= ((61 - v) >> 8) & 15;
    d += ((62 - v) >> 8) & 3;
    u8::try_from(v + d).unwrap_or(b'A')
}

/// Decodes base64 text starting at byte `base` of the file, skipping whitespace.
fn b64_decode(text: &[u8], base: usize) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 4 * 3));
    let mut acc: u32 = 0;
    let mut n = 0u8;
    let mut pad = 0u8;
    for (i, &c) in text.iter().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let offset = base + i;
        if c == b'=' {
            pad += 1;
            if pad > 2 {
                return Err(KeyFileError::Base64 { offset });
            }
            continue;
        }
        let v = b64_decode_char(c);
        if v < 0 || pad > 0 {
            return Err(KeyFileError::Base64 { offset });
        }
        acc = (acc << 6) | u32::from(v.unsigned_abs());
        n += 1;
        if n == 4 {
            out.extend_from_slice(&acc.to_be_bytes()[1..]);
            acc = 0;
            n = 0;
        }
    }
    let end = base + text.len();
    match (n, pad) {
        (0, 0) => {}
        (2, 2) => {
            if acc & 0xf != 0 {
                return Err(KeyFileError::Base64 { offset: end });
            }
            out.push(((acc >> 4) & 0xff) as u8);
        }
        (3, 1) => {
            if acc & 0x3 != 0 {
                return Err(KeyFileError::Base64 { offset: end });
            }
            out.extend_from_slice(&((acc >> 2) as u16).to_be_bytes());
        }
        _ => return Err(KeyFileError::Base64 { offset: end }),
    }
    Ok(out)
}

fn b64_encode(data: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(data.len().div_ceil(3) * 4));
    for chunk in data.chunks(3) {
        let mut b = [0u8; 3];
        b[..chunk.len()].copy_from_slice(chunk);
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = [
            b64_encode_char((v >> 18) as u8),
            b64_encode_char((v >> 12) as u8),
            b64_encode_char((v >> 6) as u8),
            b64_encode_char(v as u8),
        ];
        let keep = chunk.len() + 1;
        for (i, &c) in chars.iter().enumerate() {
            out.push(if i < keep { char::from(c) } else { '=' });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// PEM (RFC 7468)

const PRIVATE_LABEL: &str = "PRIVATE KEY";
const PUBLIC_LABEL: &str = "PUBLIC KEY";

/// Finds the PEM block with `label` and decodes its body.
pub(crate) fn pem_decode(
    text: &str,
    label: &'static str,
) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    // The BEGIN line must start a line (explanatory text may come before it).
    let start = text
        .match_indices(&begin)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || text.as_bytes().get(i - 1) == Some(&b'\n'))
        .ok_or(KeyFileError::NoPemBlock { label })?;
    let body_start = start + begin.len();
    let rest = text.get(body_start..).unwrap_or("");
    let body_len = rest
        .find(&end)
        .ok_or(KeyFileError::UnterminatedPem { label })?;
    let body = rest.get(..body_len).unwrap_or("");
    b64_decode(body.as_bytes(), body_start)
}

pub(crate) fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = b64_encode(der);
    let mut out = Zeroizing::new(format!("-----BEGIN {label}-----\n"));
    for line in b64.as_bytes().chunks(64) {
        for &c in line {
            out.push(char::from(c));
        }
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// ---------------------------------------------------------------------------------------------
// Hex

fn hex_key(text: &str) -> Result<Zeroizing<[u8; 56]>, KeyFileError> {
    let mut out = Zeroizing::new([0u8; 56]);
    let mut digits = 0usize;
    let mut hi = 0u8;
    for (offset, c) in text.bytes().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(KeyFileError::Hex { offset }),
        };
        if digits.is_multiple_of(2) {
            hi = v;
        } else if let Some(slot) = out.get_mut(digits / 2) {
            *slot = (hi << 4) | v;
        }
        digits += 1;
    }
    if digits != 112 {
        return Err(KeyFileError::HexLength { digits });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Public entry points

fn is_pem(text: &str) -> bool {
    text.contains("-----BEGIN ")
}

/// Reads a private key from PEM PKCS#8 or raw hex text. If a version 1 structure embeds the
/// public key, it must match the private key (this costs one X448 operation).
///
/// # Errors
/// A [`KeyFileError`].
pub fn parse_private_key(
    provider: &dyn CryptoProvider,
    text: &str,
) -> Result<X448Secret, KeyFileError> {
    if is_pem(text) {
        let der = pem_decode(text, PRIVATE_LABEL)?;
        let decoded = private_key_from_der(&der)?;
        if let Some(public) = decoded.public
            && decoded.secret.public_key(provider).as_bytes() != &public
        {
            return Err(KeyFileError::PublicKeyMismatch);
        }
        Ok(decoded.secret)
    } else {
        let bytes = hex_key(text)?;
        Ok(X448Secret::from_bytes(*bytes))
    }
}

/// Reads a public key from PEM SubjectPublicKeyInfo or raw hex text, and validates it.
///
/// # Errors
/// A [`KeyFileError`].
pub fn parse_public_key(text: &str) -> Result<X448PublicKey, KeyFileError> {
    if is_pem(text) {
        let der = pem_decode(text, PUBLIC_LABEL)?;
        public_key_from_der(&der)
    } else {
        let bytes = hex_key(text)?;
        X448PublicKey::from_bytes(&*bytes).map_err(KeyFileError::PublicKey)
    }
}

/// PEM `PRIVATE KEY` text (PKCS#8 version 0, 64-column base64, as OpenSSL writes it).
#[must_use]
pub fn private_key_to_pem(secret: &X448Secret) -> Zeroizing<String> {
    pem_encode(PRIVATE_LABEL, &private_key_to_der(secret))
}

/// PEM `PUBLIC KEY` text.
#[must_use]
pub fn public_key_to_pem(public: &X448PublicKey) -> String {
    pem_encode(PUBLIC_LABEL, &public_key_to_der(public)).to_string()
}

/// 112 lower-case hex digits and a newline.
#[must_use]
pub fn private_key_to_hex(secret: &X448Secret) -> Zeroizing<String> {
    let mut s = Zeroizing::new(hex::encode(secret.expose()));
    s.push('\n');
    s
}

/// 112 lower-case hex digits and a newline.
#[must_use]
pub fn public_key_to_hex(public: &X448PublicKey) -> String {
    let mut s = hex::encode(public.as_bytes());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_alphabet_round_trip() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (v, &c) in alphabet.iter().enumerate() {
            assert_eq!(b64_decode_char(c), v as i16, "{}", c as char);
            assert_eq!(b64_encode_char(v as u8), c);
        }
        for c in 0..=255u8 {
            if !alphabet.contains(&c) {
                assert_eq!(b64_decode_char(c), -1, "{c}");
            }
        }
        for len in 0..10 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = b64_encode(&data);
            assert_eq!(&**b64_decode(enc.as_bytes(), 0).unwrap(), &data[..]);
        }
        assert!(b64_decode(b"QQ=", 0).is_err());
        assert!(b64_decode(b"QR==", 0).is_err(), "non-zero trailing bits");
        assert!(b64_decode(b"QQ==QQ==", 0).is_err());
        assert_eq!(
            b64_decode(b"Q Q\n=\t=", 7).unwrap().as_slice(),
            b"A".as_slice()
        );
        assert_eq!(
            b64_decode(b"QQ*=", 10).unwrap_err(),
            KeyFileError::Base64 { offset: 12 }
        );
    }

    #[test]
    fn der_rejects_non_minimal_and_long_lengths() {
        assert_eq!(
            public_key_from_der(&[0x30, 0x81, 0x05]).unwrap_err(),
            KeyFileError::Der {
                offset: 1,
                problem: DerProblem::BadLength
            }
        );
        assert_eq!(
            public_key_from_der(&[0x30, 0x80]).unwrap_err(),
            KeyFileError::Der {
                offset: 1,
                problem: DerProblem::BadLength
            }
        );
        assert_eq!(
            public_key_from_der(&[0x30, 0x05, 0x00]).unwrap_err(),
            KeyFileError::Der {
                offset: 2,
                problem: DerProblem::Truncated
            }
        );
    }
}
