//! Top-level datagram decoding (SPEC section 3): the stream identifier, the message type octet,
//! then the body the type selects. Unknown types keep their body as opaque bytes, so they can be
//! shown and re-encoded byte-exact.
use super::challenge::Challenge;
use super::complete::InitiatorComplete;
use super::data::DataPacket;
use super::error::{DecodeError, EncodeError};
use super::error_message::ErrorMessage;
use super::exchange::InitiatorExchange;
use super::hello::InitiatorHello;
use super::message_type::MessageType;
use super::parse::{self, PResult};
use super::responder_complete::ResponderComplete;
use super::stream_id::StreamId;

/// A datagram of an unassigned type: identifier, type and the undecoded rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDatagram<'a> {
    pub stream_id: StreamId<'a>,
    pub msg_type: MessageType,
    pub body: &'a [u8],
}

/// One decoded UDP payload or HTTP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram<'a> {
    InitiatorHello(InitiatorHello<'a>),
    InitiatorExchange(InitiatorExchange<'a>),
    InitiatorComplete(InitiatorComplete<'a>),
    ResponderChallenge(Challenge<'a>),
    ResponderDefer(Challenge<'a>),
    ResponderComplete(ResponderComplete<'a>),
    Data(DataPacket<'a>),
    Error(ErrorMessage<'a>),
    Unknown(UnknownDatagram<'a>),
}

impl<'a> Datagram<'a> {
    /// Decodes a whole datagram; trailing bytes are an error (none can follow a padded or
    /// to-the-end field, so this only fires through a body parser that stops early).
    pub fn decode(input: &'a [u8]) -> Result<Self, DecodeError> {
        parse::all(input, Self::parse)
    }

    pub fn parse(i: &'a [u8]) -> PResult<'a, Self> {
        let (i, stream_id) = StreamId::decode(i, "stream identifier")?;
        let (i, t) = parse::u8(i, "message type")?;
        let t = MessageType(t);
        match t {
            MessageType::INITIATOR_HELLO => {
                InitiatorHello::decode_body(stream_id, i).map(|(r, m)| (r, Self::InitiatorHello(m)))
            }
            MessageType::INITIATOR_EXCHANGE => InitiatorExchange::decode_body(stream_id, i)
                .map(|(r, m)| (r, Self::InitiatorExchange(m))),
            MessageType::INITIATOR_COMPLETE => InitiatorComplete::decode_body(stream_id, i)
                .map(|(r, m)| (r, Self::InitiatorComplete(m))),
            MessageType::RESPONDER_CHALLENGE => {
                Challenge::decode_body(stream_id, i).map(|(r, m)| (r, Self::ResponderChallenge(m)))
            }
            MessageType::RESPONDER_DEFER => {
                Challenge::decode_body(stream_id, i).map(|(r, m)| (r, Self::ResponderDefer(m)))
            }
            MessageType::RESPONDER_COMPLETE => ResponderComplete::decode_body(stream_id, i)
                .map(|(r, m)| (r, Self::ResponderComplete(m))),
            t if t.is_data() => {
                DataPacket::decode_body(stream_id, t, i).map(|(r, m)| (r, Self::Data(m)))
            }
            t if t.is_error() => {
                ErrorMessage::decode_body(stream_id, t, i).map(|(r, m)| (r, Self::Error(m)))
            }
            //= docs/SPEC.md#unknown-roundtrip
            //# Datagrams of unassigned message types are kept as the octets received.
            _ => Ok((
                i.split_at(i.len()).1,
                Self::Unknown(UnknownDatagram {
                    stream_id,
                    msg_type: t,
                    body: i,
                }),
            )),
        }
    }

    pub fn msg_type(&self) -> MessageType {
        match self {
            Self::InitiatorHello(_) => MessageType::INITIATOR_HELLO,
            Self::InitiatorExchange(_) => MessageType::INITIATOR_EXCHANGE,
            Self::InitiatorComplete(_) => MessageType::INITIATOR_COMPLETE,
            Self::ResponderChallenge(_) => MessageType::RESPONDER_CHALLENGE,
            Self::ResponderDefer(_) => MessageType::RESPONDER_DEFER,
            Self::ResponderComplete(_) => MessageType::RESPONDER_COMPLETE,
            Self::Data(m) => m.msg_type,
            Self::Error(m) => m.msg_type,
            Self::Unknown(m) => m.msg_type,
        }
    }

    pub fn stream_id(&self) -> StreamId<'a> {
        match self {
            Self::InitiatorHello(m) => m.stream_id,
            Self::InitiatorExchange(m) => m.stream_id,
            Self::InitiatorComplete(m) => m.stream_id,
            Self::ResponderChallenge(m) | Self::ResponderDefer(m) => m.stream_id,
            Self::ResponderComplete(m) => m.stream_id,
            Self::Data(m) => m.stream_id,
            Self::Error(m) => m.stream_id,
            Self::Unknown(m) => m.stream_id,
        }
    }

    pub fn encoded_len(&self) -> usize {
        match self {
            Self::InitiatorHello(m) => m.encoded_len(),
            Self::InitiatorExchange(m) => m.encoded_len(),
            Self::InitiatorComplete(m) => m.encoded_len(),
            Self::ResponderChallenge(m) | Self::ResponderDefer(m) => m.encoded_len(),
            Self::ResponderComplete(m) => m.encoded_len(),
            Self::Data(m) => m.encoded_len(),
            Self::Error(m) => m.encoded_len(),
            Self::Unknown(m) => m.stream_id.encoded_len() + 1 + m.body.len(),
        }
    }

    /// Appends the encoding (minimal varints) to `out`.
    //= docs/SPEC.md#roundtrip
    //# Encoders MUST produce exactly encoded_len() octets, minimal integers, and an encoding that decodes to the value encoded.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::InitiatorHello(m) => m.encode(out),
            Self::InitiatorExchange(m) => m.encode(out),
            Self::InitiatorComplete(m) => m.encode(out),
            Self::ResponderChallenge(m) => m.encode(MessageType::RESPONDER_CHALLENGE, out),
            Self::ResponderDefer(m) => m.encode(MessageType::RESPONDER_DEFER, out),
            Self::ResponderComplete(m) => m.encode(out),
            Self::Data(m) => m.encode(out),
            Self::Error(m) => m.encode(out),
            Self::Unknown(m) => {
                if MessageType::KNOWN.contains(&m.msg_type) {
                    return Err(EncodeError::InvalidValue {
                        field: "message type",
                        why: "an assigned type cannot be encoded as Unknown",
                    });
                }
                m.stream_id.encode(out, "stream identifier")?;
                out.push(m.msg_type.0);
                out.extend_from_slice(m.body);
                Ok(())
            }
        }
    }

    /// Convenience: encode into a fresh vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out)
    }
}
