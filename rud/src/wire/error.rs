//! Typed decode and encode errors. Every decode error names the byte offset (from the start of the
//! top-level input), the field that was being read, and what was wrong, so tools can point at it.
use std::fmt;

/// What went wrong while decoding. The `name()` strings are stable: vectors and JSON output use them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before the field did.
    Truncated { needed: usize, available: usize },
    /// A length field exceeds the limit SPEC sets for that field.
    LengthOverLimit { length: u64, limit: u64 },
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// A padding byte is not zero.
    NonZeroPadding,
    /// Bytes follow a complete element where nothing may follow.
    TrailingBytes { count: usize },
    /// An extension tag runs past 16 octets without a final octet (128-255).
    TagTooLong,
    /// An extension list holds more entries than SPEC allows.
    TooManyExtensions { limit: usize },
    /// A count of items exceeds the limit SPEC sets for it.
    CountOverLimit { count: u64, limit: u64 },
    /// A field holds a value SPEC does not allow (the message says which).
    InvalidValue(&'static str),
}

impl ErrorKind {
    /// Stable short name, used in vectors and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::Truncated { .. } => "truncated",
            ErrorKind::LengthOverLimit { .. } => "length-over-limit",
            ErrorKind::InvalidUtf8 => "invalid-utf8",
            ErrorKind::NonZeroPadding => "non-zero-padding",
            ErrorKind::TrailingBytes { .. } => "trailing-bytes",
            ErrorKind::TagTooLong => "tag-too-long",
            ErrorKind::TooManyExtensions { .. } => "too-many-extensions",
            ErrorKind::CountOverLimit { .. } => "count-over-limit",
            ErrorKind::InvalidValue(_) => "invalid-value",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} available")
            }
            ErrorKind::LengthOverLimit { length, limit } => {
                write!(f, "length {length} exceeds the limit of {limit}")
            }
            ErrorKind::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            ErrorKind::NonZeroPadding => f.write_str("padding byte is not zero"),
            ErrorKind::TrailingBytes { count } => write!(f, "{count} unexpected trailing bytes"),
            ErrorKind::TagTooLong => f.write_str("extension tag longer than 16 octets"),
            ErrorKind::TooManyExtensions { limit } => {
                write!(f, "more than {limit} extensions in one list")
            }
            ErrorKind::CountOverLimit { count, limit } => {
                write!(f, "count {count} exceeds the limit of {limit}")
            }
            ErrorKind::InvalidValue(why) => write!(f, "invalid value: {why}"),
        }
    }
}

/// A decode failure at a byte offset of the top-level input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {field}: {kind}")]
pub struct DecodeError {
    /// Offset from the first byte of the top-level input.
    pub offset: usize,
    /// The field being read (SPEC's name for it).
    pub field: &'static str,
    /// What was wrong.
    pub kind: ErrorKind,
}

/// An encode failure: the value cannot be represented in the wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("{field}: integer {value} exceeds the varint maximum 2^62-1")]
    VarintTooLarge { field: &'static str, value: u64 },
    #[error("{field}: length {length} exceeds the limit of {limit}")]
    LengthOverLimit {
        field: &'static str,
        length: usize,
        limit: usize,
    },
    #[error("{field}: {why}")]
    InvalidValue {
        field: &'static str,
        why: &'static str,
    },
}
