//! Packet extension lists (draft "Packet Extension List"; SPEC section 3.0.4).
//!
//! ```text
//! +-------------------+--------------+-----------------+     +------+
//! | tag (1..16 oct.)  | length (vi)  | value (length)  | ... | 0xFF |
//! +-------------------+--------------+-----------------+     +------+
//! tag: leading octets 0x00-0x7F, final octet 0x80-0xFF; the one-octet tag 0xFF ends the list.
//! ```
//! Tags and values are kept as the bytes received, so unknown extensions round-trip byte-exact.
use super::error::{EncodeError, ErrorKind};
use super::ext::ExtensionValue;
use super::limits::{MAX_EXTENSION_VALUE, MAX_EXTENSIONS, MAX_TAG_LEN};
use super::parse::{self, PResult, fail};
use super::stream_id::{binary_len, put_binary};

/// The one-octet tag that ends an extension list.
pub const END_OF_LIST: u8 = 0xFF;

/// An extension tag: 1 to 16 octets, the last one 0x80-0xFF, the others 0x00-0x7F.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag<'a>(pub &'a [u8]);

impl<'a> Tag<'a> {
    /// Reads a tag (the caller has already checked it is not the end marker).
    //= docs/SPEC.md#extension-tag-format
    //# A tag MUST be 1 to 16 octets whose leading octets are 0x00-0x7F and whose final octet is 0x80-0xFF.
    pub fn decode(i: &'a [u8]) -> PResult<'a, Self> {
        let Some(pos) = i.iter().take(MAX_TAG_LEN).position(|b| *b >= 0x80) else {
            if i.len() < MAX_TAG_LEN {
                return Err(nom::Err::Error(parse::PErr::new(
                    i,
                    "extension tag",
                    ErrorKind::Truncated {
                        needed: i.len() + 1,
                        available: i.len(),
                    },
                )));
            }
            return fail(i, "extension tag", ErrorKind::TagTooLong);
        };
        let (rest, tag) = parse::take(i, pos + 1, "extension tag")?;
        Ok((rest, Tag(tag)))
    }

    /// True when the octets form a tag as the draft defines it.
    pub fn is_well_formed(&self) -> bool {
        match self.0.split_last() {
            Some((last, lead)) => {
                self.0.len() <= MAX_TAG_LEN && *last >= 0x80 && lead.iter().all(|b| *b < 0x80)
            }
            None => false,
        }
    }

    /// The tag of a one-octet code from SPEC's registry, if it is one.
    pub fn code(&self) -> Option<u8> {
        match self.0 {
            [c] => Some(*c),
            _ => None,
        }
    }
}

/// One extension as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
//= docs/SPEC.md#unknown-roundtrip
//# A receiver MUST keep extensions with unknown tags as the octets received.
pub struct Extension<'a> {
    pub tag: Tag<'a>,
    pub value: &'a [u8],
}

impl<'a> Extension<'a> {
    pub fn new(tag: &'a [u8], value: &'a [u8]) -> Self {
        Extension {
            tag: Tag(tag),
            value,
        }
    }

    pub fn encoded_len(&self) -> usize {
        self.tag.0.len() + binary_len(self.value)
    }

    /// The typed value (lists decoded by the codec have already been checked to parse).
    pub fn parse_value(&self) -> Result<ExtensionValue<'a>, super::parse::PErr<'a>> {
        ExtensionValue::parse(self)
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !self.tag.is_well_formed() || self.tag.0 == [END_OF_LIST] {
            return Err(EncodeError::InvalidValue {
                field: "extension tag",
                why: "not a well-formed tag, or the end-of-list marker",
            });
        }
        // A registered tag with a malformed value would not decode: refuse it here.
        if ExtensionValue::parse(self).is_err() {
            return Err(EncodeError::InvalidValue {
                field: "extension value",
                why: "not the layout its registered tag requires",
            });
        }
        out.extend_from_slice(self.tag.0);
        put_binary(out, self.value, MAX_EXTENSION_VALUE, "extension value")
    }
}

/// An extension list, in wire order, without its end marker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtensionList<'a>(pub Vec<Extension<'a>>);

impl<'a> ExtensionList<'a> {
    //= docs/SPEC.md#extension-list
    //# An extension list MUST be a sequence of tag-length-value entries ended by the one-octet tag 0xFF, of at most 64 entries.
    pub fn decode(i: &'a [u8]) -> PResult<'a, Self> {
        let mut list = Vec::new();
        let mut i = i;
        loop {
            let (after, first) = parse::u8(i, "extension tag or end of list")?;
            if first == END_OF_LIST {
                return Ok((after, ExtensionList(list)));
            }
            if list.len() == MAX_EXTENSIONS {
                return fail(
                    i,
                    "extension list",
                    ErrorKind::TooManyExtensions {
                        limit: MAX_EXTENSIONS,
                    },
                );
            }
            let (rest, tag) = Tag::decode(i)?;
            let (rest, value) = parse::binary(rest, MAX_EXTENSION_VALUE, "extension value")?;
            let ext = Extension { tag, value };
            // A known extension whose value is malformed makes the list malformed: the
            // structure is the codec's concern, not a protocol rule.
            if let Err(e) = ExtensionValue::parse(&ext) {
                return Err(nom::Err::Error(e));
            }
            list.push(ext);
            i = rest;
        }
    }

    pub fn encoded_len(&self) -> usize {
        self.0.iter().map(Extension::encoded_len).sum::<usize>() + 1
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.0.len() > MAX_EXTENSIONS {
            return Err(EncodeError::LengthOverLimit {
                field: "extension list",
                length: self.0.len(),
                limit: MAX_EXTENSIONS,
            });
        }
        for e in &self.0 {
            e.encode(out)?;
        }
        out.push(END_OF_LIST);
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Extension<'a>> {
        self.0.iter()
    }
}
