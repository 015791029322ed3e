//! Stream identifier (draft "Stream Identifier", rdp-00 section 3.5.1; SPEC section 3.0.5).
//!
//! ```text
//! +--------------+---------------------+
//! | length (vi)  | identifier (0..16)  |
//! +--------------+---------------------+
//! ```
//! The draft leaves the identifier's length to its issuer. This profile prefixes it with its
//! length so that every datagram decodes without context (dissector, fuzzers, conformance runner
//! facing any implementation); the prefix costs one octet and reveals only the length.
use super::error::EncodeError;
use super::limits::MAX_STREAM_ID_LEN;
use super::parse::{self, PResult};
use super::varint;

/// The identifier InitiatorHello and InitiatorExchange carry (draft 4.1): sixteen zero bytes.
pub const CONNECTION_STREAM_ID: [u8; 16] = [0; 16];

/// A borrowed stream identifier of 0 to 16 octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StreamId<'a>(pub &'a [u8]);

impl<'a> StreamId<'a> {
    //= docs/SPEC.md#stream-id-length
    //# Every datagram MUST begin with its stream identifier encoded as binary data of 0 to 16 octets.
    pub fn decode(i: &'a [u8], field: &'static str) -> PResult<'a, Self> {
        let (rest, id) = parse::binary(i, MAX_STREAM_ID_LEN, field)?;
        Ok((rest, StreamId(id)))
    }

    pub fn encoded_len(&self) -> usize {
        varint::len(self.0.len() as u64) + self.0.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>, field: &'static str) -> Result<(), EncodeError> {
        put_binary(out, self.0, MAX_STREAM_ID_LEN, field)
    }

    /// True for the sixteen-zero-byte identifier of draft 4.1.
    pub fn is_connection_id(&self) -> bool {
        self.0 == CONNECTION_STREAM_ID
    }
}

/// Appends binary data (varint length + bytes), refusing lengths over `limit`.
pub fn put_binary(
    out: &mut Vec<u8>,
    bytes: &[u8],
    limit: usize,
    field: &'static str,
) -> Result<(), EncodeError> {
    if bytes.len() > limit {
        return Err(EncodeError::LengthOverLimit {
            field,
            length: bytes.len(),
            limit,
        });
    }
    varint::write_len(out, bytes.len(), field)?;
    out.extend_from_slice(bytes);
    Ok(())
}

/// Encoded length of binary data.
pub fn binary_len(bytes: &[u8]) -> usize {
    varint::len(bytes.len() as u64) + bytes.len()
}
