//! nom plumbing shared by every decoder: an error type that remembers where it happened, and the
//! primitive parsers (varint, length-prefixed binary and string, padding) that check limits
//! before slicing. All parsers are `complete`: a UDP datagram is never streamed.
use nom::error::{ErrorKind as NomKind, ParseError};
use nom::{IResult, Input, Parser};

use super::error::{DecodeError, ErrorKind};
use super::varint;

/// A parse failure: the input that remained where it failed, the field and the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PErr<'a> {
    pub(crate) rest: &'a [u8],
    pub(crate) field: &'static str,
    pub(crate) kind: ErrorKind,
}

impl<'a> PErr<'a> {
    pub(crate) fn new(rest: &'a [u8], field: &'static str, kind: ErrorKind) -> Self {
        PErr { rest, field, kind }
    }

    /// Converts to a [`DecodeError`] whose offset counts from the first byte of `base`.
    /// `rest` is always a sub-slice of `base` (decoders only ever narrow their input), so the
    /// pointer difference is the offset; it is clamped in case a caller passes another slice.
    pub fn at(self, base: &[u8]) -> DecodeError {
        DecodeError {
            offset: offset_in(base, self.rest),
            field: self.field,
            kind: self.kind,
        }
    }
}

/// Offset of `part` inside `base`, clamped to `base.len()` when `part` lies elsewhere.
pub fn offset_in(base: &[u8], part: &[u8]) -> usize {
    let start = base.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    p.checked_sub(start)
        .filter(|o| *o <= base.len())
        .unwrap_or(base.len())
}

impl<'a> ParseError<&'a [u8]> for PErr<'a> {
    fn from_error_kind(input: &'a [u8], _kind: NomKind) -> Self {
        PErr::new(
            input,
            "input",
            ErrorKind::Truncated {
                needed: 1,
                available: input.len(),
            },
        )
    }
    fn append(_input: &'a [u8], _kind: NomKind, other: Self) -> Self {
        other
    }
}

pub type PResult<'a, T> = IResult<&'a [u8], T, PErr<'a>>;

pub(crate) fn fail<'a, T>(rest: &'a [u8], field: &'static str, kind: ErrorKind) -> PResult<'a, T> {
    Err(nom::Err::Error(PErr::new(rest, field, kind)))
}

/// Runs a parser over a whole input and rejects trailing bytes (top-level decode).
//= docs/SPEC.md#decode-trailing
//# A receiver MUST decode each element completely: octets left over are malformed.
pub fn all<'a, T>(
    input: &'a [u8],
    parse: impl FnOnce(&'a [u8]) -> PResult<'a, T>,
) -> Result<T, DecodeError> {
    match parse(input) {
        Ok(([], value)) => Ok(value),
        Ok((rest, _)) => Err(PErr::new(
            rest,
            "end of input",
            ErrorKind::TrailingBytes { count: rest.len() },
        )
        .at(input)),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.at(input)),
        Err(nom::Err::Incomplete(_)) => Err(DecodeError {
            offset: input.len(),
            field: "input",
            kind: ErrorKind::Truncated {
                needed: 1,
                available: 0,
            },
        }),
    }
}

/// Exactly `n` bytes.
pub fn take<'a>(i: &'a [u8], n: usize, field: &'static str) -> PResult<'a, &'a [u8]> {
    nom::bytes::complete::take::<usize, &'a [u8], PErr<'a>>(n)
        .parse(i)
        .map_err(|_| nom::Err::Error(truncated(i, n, field)))
}

fn truncated<'a>(i: &'a [u8], needed: usize, field: &'static str) -> PErr<'a> {
    PErr::new(
        i,
        field,
        ErrorKind::Truncated {
            needed,
            available: i.input_len(),
        },
    )
}

pub fn u8<'a>(i: &'a [u8], field: &'static str) -> PResult<'a, u8> {
    nom::number::complete::be_u8::<&'a [u8], PErr<'a>>
        .parse(i)
        .map_err(|_| nom::Err::Error(truncated(i, 1, field)))
}

pub fn u16_be<'a>(i: &'a [u8], field: &'static str) -> PResult<'a, u16> {
    nom::number::complete::be_u16::<&'a [u8], PErr<'a>>
        .parse(i)
        .map_err(|_| nom::Err::Error(truncated(i, 2, field)))
}

/// A QUIC variable-length integer (RFC 9000 section 16); non-minimal encodings are accepted.
//= docs/SPEC.md#varint-encoding
//# Integers MUST be encoded as QUIC variable-length integers; receivers MUST accept non-minimal encodings.
pub fn varint<'a>(i: &'a [u8], field: &'static str) -> PResult<'a, u64> {
    let (_, first) = u8(i, field)?;
    let len = varint::encoded_len_from_first_byte(first);
    let (rest, bytes) = take(i, len, field)?;
    Ok((rest, varint::value_of(bytes)))
}

/// A varint that must not exceed `limit` (reported as a count over the limit).
pub fn count<'a>(i: &'a [u8], limit: u64, field: &'static str) -> PResult<'a, u64> {
    let (rest, v) = varint(i, field)?;
    if v > limit {
        return fail(i, field, ErrorKind::CountOverLimit { count: v, limit });
    }
    Ok((rest, v))
}

/// Binary data: varint length, then that many bytes. The length is checked against `limit`
/// and against the remaining input before anything is sliced.
//= docs/SPEC.md#decode-limits
//# A receiver MUST check every length and count against its limit and the octets remaining before it slices or allocates anything.
pub fn binary<'a>(i: &'a [u8], limit: usize, field: &'static str) -> PResult<'a, &'a [u8]> {
    let (after_len, len) = varint(i, field)?;
    if len > limit as u64 {
        return fail(
            i,
            field,
            ErrorKind::LengthOverLimit {
                length: len,
                limit: limit as u64,
            },
        );
    }
    // `len <= limit` fits in usize.
    take(after_len, len as usize, field)
}

/// A string: binary data that must be valid UTF-8.
//= docs/SPEC.md#utf8-strings
//# A receiver MUST reject invalid UTF-8 as malformed, at the offset of the first invalid octet.
pub fn string<'a>(i: &'a [u8], limit: usize, field: &'static str) -> PResult<'a, &'a str> {
    let (rest, bytes) = binary(i, limit, field)?;
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((rest, s)),
        Err(e) => {
            let bad = bytes.get(e.valid_up_to()..).unwrap_or(bytes);
            fail(bad, field, ErrorKind::InvalidUtf8)
        }
    }
}

/// Zero padding to the end of the input; returns its length. The first non-zero byte is an error
/// at its own offset.
//= docs/SPEC.md#padding-zero
//# Padding octets MUST be zero; a non-zero padding octet is malformed, at its offset.
pub fn zero_padding<'a>(i: &'a [u8], field: &'static str) -> PResult<'a, usize> {
    match i.iter().position(|b| *b != 0) {
        None => Ok((i.split_at(i.len()).1, i.len())),
        Some(pos) => fail(i.get(pos..).unwrap_or(i), field, ErrorKind::NonZeroPadding),
    }
}

/// Everything that remains (opaque bytes such as a ciphertext), at least `min` bytes of it.
pub fn rest_min<'a>(i: &'a [u8], min: usize, field: &'static str) -> PResult<'a, &'a [u8]> {
    if i.len() < min {
        return Err(nom::Err::Error(truncated(i, min, field)));
    }
    Ok((i.split_at(i.len()).1, i))
}
