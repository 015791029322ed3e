//! InitiatorError and ResponderError (SPEC section 3.7.7). Plaintext and unauthenticated: a
//! receiver treats one as a hint only, and never answers an Error.
//!
//! ```text
//! +-----------+-----------+------------+-------------------+--------------+
//! | stream id | 0x05/0x85 | code (vi)  | extensions (list) | zero padding |
//! +-----------+-----------+------------+-------------------+--------------+
//! ```
use std::fmt;

use super::error::EncodeError;
use super::extension::ExtensionList;
use super::message_type::MessageType;
use super::parse::{self, PResult};
use super::stream_id::StreamId;
use super::varint;

/// Error codes (SPEC section 6.3), an open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u64);

impl ErrorCode {
    pub const PROTOCOL_VIOLATION: Self = Self(1);
    pub const VERSION_MISMATCH: Self = Self(2);
    pub const HANDSHAKE_FAILED: Self = Self(3);
    pub const STREAM_REFUSED: Self = Self(4);
    pub const STATE_LOST: Self = Self(5);
    pub const TOO_LARGE: Self = Self(6);
    pub const INTERNAL: Self = Self(7);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::PROTOCOL_VIOLATION => "ProtocolViolation",
            Self::VERSION_MISMATCH => "VersionMismatch",
            Self::HANDSHAKE_FAILED => "HandshakeFailed",
            Self::STREAM_REFUSED => "StreamRefused",
            Self::STATE_LOST => "StateLost",
            Self::TOO_LARGE => "TooLarge",
            Self::INTERNAL => "InternalError",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name().unwrap_or("Unknown"), self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage<'a> {
    pub stream_id: StreamId<'a>,
    /// INITIATOR_ERROR or RESPONDER_ERROR.
    pub msg_type: MessageType,
    pub code: ErrorCode,
    pub extensions: ExtensionList<'a>,
    pub padding: usize,
}

impl<'a> ErrorMessage<'a> {
    //= docs/SPEC.md#error-message
    //# An Error MUST have this layout with a code from section 6.3.
    pub fn decode_body(
        stream_id: StreamId<'a>,
        msg_type: MessageType,
        i: &'a [u8],
    ) -> PResult<'a, Self> {
        let (i, code) = parse::varint(i, "error code")?;
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, padding) = parse::zero_padding(i, "padding")?;
        Ok((
            i,
            ErrorMessage {
                stream_id,
                msg_type,
                code: ErrorCode(code),
                extensions,
                padding,
            },
        ))
    }

    pub fn encoded_len(&self) -> usize {
        self.stream_id.encoded_len()
            + 1
            + varint::len(self.code.0)
            + self.extensions.encoded_len()
            + self.padding
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !self.msg_type.is_error() {
            return Err(EncodeError::InvalidValue {
                field: "message type",
                why: "an Error is sent as InitiatorError or ResponderError",
            });
        }
        self.stream_id.encode(out, "stream identifier")?;
        out.push(self.msg_type.0);
        varint::write(out, self.code.0, "error code")?;
        self.extensions.encode(out)?;
        out.resize(out.len() + self.padding, 0);
        Ok(())
    }
}
