//! Message type codes (SPEC section 6.1). One octet after the stream identifier of every
//! datagram. The high bit is set exactly on responder messages, so initiator and responder codes
//! are disjoint and one datagram decodes without knowing who sent it.
use std::fmt;

/// An open newtype: unknown codes are kept and round-trip byte-exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MessageType(pub u8);

impl MessageType {
    pub const INITIATOR_HELLO: Self = Self(0x01);
    pub const INITIATOR_EXCHANGE: Self = Self(0x02);
    pub const INITIATOR_COMPLETE: Self = Self(0x03);
    pub const INITIATOR_DATA: Self = Self(0x04);
    pub const INITIATOR_ERROR: Self = Self(0x05);
    pub const RESPONDER_CHALLENGE: Self = Self(0x81);
    pub const RESPONDER_DEFER: Self = Self(0x82);
    pub const RESPONDER_COMPLETE: Self = Self(0x83);
    pub const RESPONDER_DATA: Self = Self(0x84);
    pub const RESPONDER_ERROR: Self = Self(0x85);

    /// Every code SPEC assigns.
    pub const KNOWN: [Self; 10] = [
        Self::INITIATOR_HELLO,
        Self::INITIATOR_EXCHANGE,
        Self::INITIATOR_COMPLETE,
        Self::INITIATOR_DATA,
        Self::INITIATOR_ERROR,
        Self::RESPONDER_CHALLENGE,
        Self::RESPONDER_DEFER,
        Self::RESPONDER_COMPLETE,
        Self::RESPONDER_DATA,
        Self::RESPONDER_ERROR,
    ];

    /// Responder messages have the high bit set.
    pub fn is_responder(self) -> bool {
        self.0 & 0x80 != 0
    }

    pub fn is_data(self) -> bool {
        self == Self::INITIATOR_DATA || self == Self::RESPONDER_DATA
    }

    pub fn is_error(self) -> bool {
        self == Self::INITIATOR_ERROR || self == Self::RESPONDER_ERROR
    }

    /// SPEC's name for the code, or `None` for an unassigned one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::INITIATOR_HELLO => "InitiatorHello",
            Self::INITIATOR_EXCHANGE => "InitiatorExchange",
            Self::INITIATOR_COMPLETE => "InitiatorComplete",
            Self::INITIATOR_DATA => "InitiatorData",
            Self::INITIATOR_ERROR => "InitiatorError",
            Self::RESPONDER_CHALLENGE => "ResponderChallenge",
            Self::RESPONDER_DEFER => "ResponderDefer",
            Self::RESPONDER_COMPLETE => "ResponderComplete",
            Self::RESPONDER_DATA => "ResponderData",
            Self::RESPONDER_ERROR => "ResponderError",
            _ => return None,
        })
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (0x{:02x})", self.0),
            None => write!(f, "Unknown (0x{:02x})", self.0),
        }
    }
}
