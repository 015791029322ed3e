//! ResponderChallenge and ResponderDefer (draft 4.1.1 "First Contact", 4.1.3 "Deferred";
//! SPEC sections 3.7.2 and 3.7.6). Both carry the same plaintext fields; the type octet tells
//! the initiator which exchange it is in.
//!
//! ```text
//! +-----------+-----------+---------+-------------+-----------------------+---------+
//! | stream id | 0x81/0x82 | version | credential  | ephemerals: count(vi) | cookie  |
//! | (binary)  |           | (vi)    | (public key)| x public key          | (binary)|
//! +-----------+-----------+---------+-------------+-----------------------+---------+
//! | responder sid (binary) | extensions | payload (binary) | zero padding          |
//! +------------------------+------------+------------------+-----------------------+
//! ```
use super::error::EncodeError;
use super::extension::ExtensionList;
use super::limits::{MAX_COOKIE_LEN, MAX_EPHEMERALS, MAX_PAYLOAD};
use super::message_type::MessageType;
use super::parse::{self, PResult};
use super::public_key::PublicKey;
use super::stream_id::{StreamId, binary_len, put_binary};
use super::varint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// The initiator's issued identifier, echoed so it can match the reply to its handshake.
    pub stream_id: StreamId<'a>,
    pub version: u64,
    /// The responder's device credential (its static public key).
    pub credential: PublicKey<'a>,
    /// The responder's current ephemeral keys; the initiator picks one by index.
    pub ephemerals: Vec<PublicKey<'a>>,
    /// The stateless challenge the initiator must return.
    pub cookie: &'a [u8],
    /// Identifier the responder issues; InitiatorComplete carries it.
    pub responder_stream_id: StreamId<'a>,
    pub extensions: ExtensionList<'a>,
    pub payload: &'a [u8],
    pub padding: usize,
}

impl<'a> Challenge<'a> {
    //= docs/SPEC.md#responder-challenge
    //# A ResponderChallenge MUST have this layout.
    //= docs/SPEC.md#responder-defer
    //# A ResponderDefer MUST have the ResponderChallenge layout.
    pub fn decode_body(stream_id: StreamId<'a>, i: &'a [u8]) -> PResult<'a, Self> {
        let (i, version) = parse::varint(i, "version")?;
        let (i, credential) = PublicKey::decode(i, "responder credential")?;
        let (mut i, count) = parse::count(i, MAX_EPHEMERALS, "ephemeral key count")?;
        let mut ephemerals = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let (r, k) = PublicKey::decode(i, "responder ephemeral key")?;
            ephemerals.push(k);
            i = r;
        }
        let (i, cookie) = parse::binary(i, MAX_COOKIE_LEN, "cookie")?;
        let (i, responder_stream_id) = StreamId::decode(i, "responder stream identifier")?;
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, payload) = parse::binary(i, MAX_PAYLOAD, "payload")?;
        let (i, padding) = parse::zero_padding(i, "padding")?;
        Ok((
            i,
            Challenge {
                stream_id,
                version,
                credential,
                ephemerals,
                cookie,
                responder_stream_id,
                extensions,
                payload,
                padding,
            },
        ))
    }

    pub fn encoded_len(&self) -> usize {
        self.stream_id.encoded_len()
            + 1
            + varint::len(self.version)
            + self.credential.encoded_len()
            + varint::len(self.ephemerals.len() as u64)
            + self
                .ephemerals
                .iter()
                .map(PublicKey::encoded_len)
                .sum::<usize>()
            + binary_len(self.cookie)
            + self.responder_stream_id.encoded_len()
            + self.extensions.encoded_len()
            + binary_len(self.payload)
            + self.padding
    }

    /// Encodes with `msg_type` RESPONDER_CHALLENGE or RESPONDER_DEFER.
    pub fn encode(&self, msg_type: MessageType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if msg_type != MessageType::RESPONDER_CHALLENGE && msg_type != MessageType::RESPONDER_DEFER
        {
            return Err(EncodeError::InvalidValue {
                field: "message type",
                why: "a Challenge is sent as ResponderChallenge or ResponderDefer",
            });
        }
        if self.ephemerals.len() as u64 > MAX_EPHEMERALS {
            return Err(EncodeError::LengthOverLimit {
                field: "ephemeral keys",
                length: self.ephemerals.len(),
                limit: MAX_EPHEMERALS as usize,
            });
        }
        self.stream_id.encode(out, "stream identifier")?;
        out.push(msg_type.0);
        varint::write(out, self.version, "version")?;
        self.credential.encode(out, "responder credential")?;
        varint::write(out, self.ephemerals.len() as u64, "ephemeral key count")?;
        for k in &self.ephemerals {
            k.encode(out, "responder ephemeral key")?;
        }
        put_binary(out, self.cookie, MAX_COOKIE_LEN, "cookie")?;
        self.responder_stream_id
            .encode(out, "responder stream identifier")?;
        self.extensions.encode(out)?;
        put_binary(out, self.payload, MAX_PAYLOAD, "payload")?;
        out.resize(out.len() + self.padding, 0);
        Ok(())
    }
}
