//! The body of a binding request or response: RUD packets exactly as on UDP, each preceded by
//! its length as a 2-octet big-endian integer.

/// Why a body is not a sequence of framed packets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("truncated length at offset {offset}")]
    TruncatedLength { offset: usize },
    #[error("empty packet at offset {offset}")]
    EmptyPacket { offset: usize },
    #[error("packet at offset {offset} claims {len} octets, {left} left")]
    TruncatedPacket {
        offset: usize,
        len: usize,
        left: usize,
    },
}

/// Splits a body into its packets (an empty body is a poll: no packets).
///
/// # Errors
/// A length that does not fit the body, or a zero length.
//= docs/SPEC.md#http-framing
//# Each packet MUST be preceded by its length as a 2-octet big-endian integer; a body whose framing does not account for every octet, or with a zero length, is malformed.
pub fn decode(body: &[u8]) -> Result<Vec<&[u8]>, FramingError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < body.len() {
        let Some(&[hi, lo]) = body.get(offset..offset + 2) else {
            return Err(FramingError::TruncatedLength { offset });
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len == 0 {
            return Err(FramingError::EmptyPacket { offset });
        }
        let start = offset + 2;
        let Some(p) = body.get(start..start + len) else {
            return Err(FramingError::TruncatedPacket {
                offset,
                len,
                left: body.len() - start,
            });
        };
        out.push(p);
        offset = start + len;
    }
    Ok(out)
}

/// Appends one framed packet; a packet longer than 65535 octets cannot be framed and is
/// dropped (false): no RUD packet is that long (SPEC 3.6.3).
pub fn push(body: &mut Vec<u8>, packet: &[u8]) -> bool {
    let (Ok(len), false) = (u16::try_from(packet.len()), packet.is_empty()) else {
        return false;
    };
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(packet);
    true
}

/// Frames every packet.
pub fn encode<'a>(packets: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for p in packets {
        push(&mut body, p);
    }
    body
}
