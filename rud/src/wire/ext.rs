//! The packet extension registry (SPEC section 6.2) and the typed values of each extension.
//! `ExtensionValue::parse` turns a raw [`Extension`] into its typed value; unknown tags stay
//! `Unknown` so they can be shown and forwarded untouched.
use super::error::{EncodeError, ErrorKind};
use super::extension::Extension;
use super::limits::*;
use super::parse::{self, PResult, fail};
use super::public_key::PublicKey;
use super::stream_id::put_binary;
use super::varint;

/// One-octet tags SPEC assigns (all in 0x80-0xFE, so each is a complete tag on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtensionCode(pub u8);

impl ExtensionCode {
    pub const STREAM_ID: Self = Self(0x80);
    pub const ONE_TIME_IDS: Self = Self(0x81);
    pub const STREAM_CLIENT: Self = Self(0x82);
    pub const STREAM_RECEIVER: Self = Self(0x83);
    pub const RESTART: Self = Self(0x84);
    pub const CREDENTIAL: Self = Self(0x85);
    pub const KEY_EXCHANGE: Self = Self(0x86);
    pub const USE_KEY_OF: Self = Self(0x87);
    pub const ENCRYPTION_PARAMETERS: Self = Self(0x88);
    pub const ACK: Self = Self(0x89);
    pub const CLOSE: Self = Self(0x8A);
    pub const TICKET: Self = Self(0x8B);
    pub const ERROR: Self = Self(0x8C);
    pub const METRICS: Self = Self(0x8D);
    pub const SUPPORTED_VERSIONS: Self = Self(0x8E);
    pub const CREDIT: Self = Self(0x8F);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::STREAM_ID => "StreamId",
            Self::ONE_TIME_IDS => "OneTimeIds",
            Self::STREAM_CLIENT => "StreamClient",
            Self::STREAM_RECEIVER => "StreamReceiver",
            Self::RESTART => "Restart",
            Self::CREDENTIAL => "Credential",
            Self::KEY_EXCHANGE => "KeyExchange",
            Self::USE_KEY_OF => "UseKeyOf",
            Self::ENCRYPTION_PARAMETERS => "EncryptionParameters",
            Self::ACK => "Ack",
            Self::CLOSE => "Close",
            Self::TICKET => "Ticket",
            Self::ERROR => "Error",
            Self::METRICS => "Metrics",
            Self::SUPPORTED_VERSIONS => "SupportedVersions",
            Self::CREDIT => "Credit",
            _ => return None,
        })
    }

    /// Extensions that create a stream (rud-00 "Stream Creation and Binding").
    pub fn is_stream_creation(self) -> bool {
        matches!(
            self,
            Self::STREAM_CLIENT | Self::STREAM_RECEIVER | Self::RESTART
        )
    }

    /// Extensions valid only in a datagram that creates a stream (rud-00 "Stream Creation").
    pub fn is_creation_only(self) -> bool {
        matches!(
            self,
            Self::STREAM_ID
                | Self::CREDENTIAL
                | Self::KEY_EXCHANGE
                | Self::USE_KEY_OF
                | Self::ENCRYPTION_PARAMETERS
        )
    }
}

/// Acknowledgement of datagrams (SPEC section 6.2.10). Ranges count down from `largest` as in
/// QUIC ACK frames; `partials` report fragments of datagrams not yet complete (hints only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack<'a> {
    pub largest: u64,
    pub delay_us: u64,
    pub first_range: u64,
    /// (gap, length) pairs below the first range.
    pub ranges: Vec<(u64, u64)>,
    pub partials: Vec<PartialAck<'a>>,
}

/// Fragments received of a datagram whose tag has not been checked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialAck<'a> {
    pub nonce: u64,
    /// Bit k (LSB first within each octet) set when packet k arrived.
    pub bitmap: &'a [u8],
}

impl Ack<'_> {
    /// Acknowledged datagram counters as inclusive (low, high) ranges, highest first.
    /// `None` when a range would go below zero (the value is malformed).
    pub fn acked_ranges(&self) -> Option<Vec<(u64, u64)>> {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut high = self.largest;
        let mut low = high.checked_sub(self.first_range)?;
        out.push((low, high));
        for (gap, len) in &self.ranges {
            high = low.checked_sub(gap.checked_add(2)?)?;
            low = high.checked_sub(*len)?;
            out.push((low, high));
        }
        Some(out)
    }
}

/// PDM-style timing (SPEC section 6.2.14, after draft-ietf-ippm-encrypted-pdmv2): lets the peer
/// compute RTT and processing delay; travels only inside the encrypted section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metrics {
    /// Packet sequence number of this packet (PSNTP).
    pub psn_this: u64,
    /// Packet sequence number last received (PSNLR).
    pub psn_last_received: u64,
    /// Delta time last received (DELTATLR) = value << scale, in nanoseconds.
    pub scale_dtlr: u8,
    pub delta_last_received: u64,
    /// Delta time last sent (DELTATLS) = value << scale, in nanoseconds.
    pub scale_dtls: u8,
    pub delta_last_sent: u64,
}

/// A typed extension value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionValue<'a> {
    StreamId(&'a [u8]),
    OneTimeIds(Vec<&'a [u8]>),
    StreamClient {
        service: &'a str,
    },
    StreamReceiver {
        service: &'a str,
    },
    Restart,
    Credential {
        credential_type: u64,
        data: &'a [u8],
    },
    KeyExchange(PublicKey<'a>),
    UseKeyOf(&'a [u8]),
    /// The cipher suite and key generation of the stream being created (SPEC 6.2.9).
    EncryptionParameters {
        suite: u64,
        generation: u64,
    },
    Ack(Ack<'a>),
    Close {
        code: u64,
        reason: &'a str,
    },
    Ticket {
        lifetime_s: u64,
        ticket: &'a [u8],
    },
    Error {
        code: u64,
    },
    Metrics(Metrics),
    SupportedVersions(Vec<u64>),
    /// Flow credit (SPEC 6.2.16): cumulative message octets the sender of this extension allows
    /// its peer to send on this stream and on the whole connection.
    Credit {
        stream: u64,
        connection: u64,
    },
    Unknown,
}

impl<'a> ExtensionValue<'a> {
    /// Parses the value of `ext` by its tag. The whole value must be consumed.
    //= docs/SPEC.md#extension-values
    //# The value of a registered extension MUST have exactly the layout section 6.2 gives it.
    pub fn parse(ext: &Extension<'a>) -> Result<Self, parse::PErr<'a>> {
        let Some(code) = ext.tag.code().map(ExtensionCode) else {
            return Ok(ExtensionValue::Unknown);
        };
        let v = ext.value;
        let result: PResult<'a, Self> = match code {
            ExtensionCode::STREAM_ID => id_value(v).map(|(r, id)| (r, Self::StreamId(id))),
            ExtensionCode::USE_KEY_OF => id_value(v).map(|(r, id)| (r, Self::UseKeyOf(id))),
            ExtensionCode::ONE_TIME_IDS => one_time_ids(v),
            ExtensionCode::STREAM_CLIENT => parse::string(v, MAX_NAME_LEN, "service name")
                .map(|(r, service)| (r, Self::StreamClient { service })),
            ExtensionCode::STREAM_RECEIVER => parse::string(v, MAX_NAME_LEN, "service name")
                .map(|(r, service)| (r, Self::StreamReceiver { service })),
            ExtensionCode::RESTART => Ok((v, Self::Restart)),
            ExtensionCode::CREDENTIAL => {
                parse::varint(v, "credential type").and_then(|(r, credential_type)| {
                    parse::rest_min(r, 0, "credential data").map(|(r, data)| {
                        (
                            r,
                            Self::Credential {
                                credential_type,
                                data,
                            },
                        )
                    })
                })
            }
            ExtensionCode::KEY_EXCHANGE => PublicKey::decode(v, "key exchange public key")
                .map(|(r, k)| (r, Self::KeyExchange(k))),
            ExtensionCode::ENCRYPTION_PARAMETERS => {
                parse::varint(v, "cipher suite").and_then(|(r, suite)| {
                    parse::varint(r, "key generation").map(|(r, generation)| {
                        (r, Self::EncryptionParameters { suite, generation })
                    })
                })
            }
            ExtensionCode::ACK => ack(v),
            ExtensionCode::CLOSE => parse::varint(v, "close code").and_then(|(r, code)| {
                parse::string(r, MAX_NAME_LEN, "close reason")
                    .map(|(r, reason)| (r, Self::Close { code, reason }))
            }),
            ExtensionCode::TICKET => parse::varint(v, "ticket lifetime").and_then(|(r, life)| {
                parse::rest_min(r, 1, "ticket").map(|(r, ticket)| {
                    (
                        r,
                        Self::Ticket {
                            lifetime_s: life,
                            ticket,
                        },
                    )
                })
            }),
            ExtensionCode::ERROR => {
                parse::varint(v, "error code").map(|(r, code)| (r, Self::Error { code }))
            }
            ExtensionCode::METRICS => metrics(v),
            ExtensionCode::SUPPORTED_VERSIONS => versions(v),
            ExtensionCode::CREDIT => parse::varint(v, "stream credit").and_then(|(r, stream)| {
                parse::varint(r, "connection credit")
                    .map(|(r, connection)| (r, Self::Credit { stream, connection }))
            }),
            _ => Ok((v.split_at(v.len()).1, Self::Unknown)),
        };
        match result {
            Ok(([], value)) => Ok(value),
            Ok((rest, _)) => Err(parse::PErr::new(
                rest,
                "extension value",
                ErrorKind::TrailingBytes { count: rest.len() },
            )),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
            Err(nom::Err::Incomplete(_)) => Err(parse::PErr::new(
                v,
                "extension value",
                ErrorKind::Truncated {
                    needed: 1,
                    available: 0,
                },
            )),
        }
    }

    /// The tag this value is carried under (`None` for `Unknown`).
    pub fn code(&self) -> Option<ExtensionCode> {
        Some(match self {
            Self::StreamId(_) => ExtensionCode::STREAM_ID,
            Self::OneTimeIds(_) => ExtensionCode::ONE_TIME_IDS,
            Self::StreamClient { .. } => ExtensionCode::STREAM_CLIENT,
            Self::StreamReceiver { .. } => ExtensionCode::STREAM_RECEIVER,
            Self::Restart => ExtensionCode::RESTART,
            Self::Credential { .. } => ExtensionCode::CREDENTIAL,
            Self::KeyExchange(_) => ExtensionCode::KEY_EXCHANGE,
            Self::UseKeyOf(_) => ExtensionCode::USE_KEY_OF,
            Self::EncryptionParameters { .. } => ExtensionCode::ENCRYPTION_PARAMETERS,
            Self::Ack(_) => ExtensionCode::ACK,
            Self::Close { .. } => ExtensionCode::CLOSE,
            Self::Ticket { .. } => ExtensionCode::TICKET,
            Self::Error { .. } => ExtensionCode::ERROR,
            Self::Metrics(_) => ExtensionCode::METRICS,
            Self::SupportedVersions(_) => ExtensionCode::SUPPORTED_VERSIONS,
            Self::Credit { .. } => ExtensionCode::CREDIT,
            Self::Unknown => return None,
        })
    }

    /// Writes the value octets (not the tag or length) for this extension.
    pub fn encode_value(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::StreamId(id) | Self::UseKeyOf(id) => {
                if id.len() > MAX_STREAM_ID_LEN {
                    return Err(EncodeError::LengthOverLimit {
                        field: "stream identifier",
                        length: id.len(),
                        limit: MAX_STREAM_ID_LEN,
                    });
                }
                out.extend_from_slice(id);
            }
            Self::OneTimeIds(ids) => {
                if ids.len() > MAX_ONE_TIME_IDS {
                    return Err(EncodeError::LengthOverLimit {
                        field: "one-time identifiers",
                        length: ids.len(),
                        limit: MAX_ONE_TIME_IDS,
                    });
                }
                for id in ids {
                    put_binary(out, id, MAX_STREAM_ID_LEN, "one-time identifier")?;
                }
            }
            Self::StreamClient { service } | Self::StreamReceiver { service } => {
                put_binary(out, service.as_bytes(), MAX_NAME_LEN, "service name")?;
            }
            Self::Restart | Self::Unknown => {}
            Self::Credential {
                credential_type,
                data,
            } => {
                varint::write(out, *credential_type, "credential type")?;
                out.extend_from_slice(data);
            }
            Self::KeyExchange(k) => k.encode(out, "key exchange public key")?,
            Self::Credit { stream, connection } => {
                varint::write(out, *stream, "stream credit")?;
                varint::write(out, *connection, "connection credit")?;
            }
            Self::EncryptionParameters { suite, generation } => {
                varint::write(out, *suite, "cipher suite")?;
                varint::write(out, *generation, "key generation")?;
            }
            Self::Ack(a) => {
                // Refuse what the decoder would refuse, so encode/decode stay symmetric.
                if a.ranges.len() as u64 > MAX_ACK_RANGES {
                    return Err(EncodeError::LengthOverLimit {
                        field: "ack ranges",
                        length: a.ranges.len(),
                        limit: MAX_ACK_RANGES as usize,
                    });
                }
                if a.partials.len() as u64 > MAX_ACK_PARTIALS {
                    return Err(EncodeError::LengthOverLimit {
                        field: "ack partials",
                        length: a.partials.len(),
                        limit: MAX_ACK_PARTIALS as usize,
                    });
                }
                if a.acked_ranges().is_none() {
                    return Err(EncodeError::InvalidValue {
                        field: "ack ranges",
                        why: "a range goes below zero",
                    });
                }
                varint::write(out, a.largest, "ack largest")?;
                varint::write(out, a.delay_us, "ack delay")?;
                varint::write(out, a.ranges.len() as u64, "ack range count")?;
                varint::write(out, a.first_range, "ack first range")?;
                for (gap, len) in &a.ranges {
                    varint::write(out, *gap, "ack gap")?;
                    varint::write(out, *len, "ack range length")?;
                }
                varint::write(out, a.partials.len() as u64, "ack partial count")?;
                for p in &a.partials {
                    varint::write(out, p.nonce, "partial nonce")?;
                    put_binary(out, p.bitmap, MAX_ACK_BITMAP, "partial bitmap")?;
                }
            }
            Self::Close { code, reason } => {
                varint::write(out, *code, "close code")?;
                put_binary(out, reason.as_bytes(), MAX_NAME_LEN, "close reason")?;
            }
            Self::Ticket { lifetime_s, ticket } => {
                if ticket.is_empty() {
                    return Err(EncodeError::InvalidValue {
                        field: "ticket",
                        why: "a ticket holds at least one octet",
                    });
                }
                varint::write(out, *lifetime_s, "ticket lifetime")?;
                out.extend_from_slice(ticket);
            }
            Self::Error { code } => varint::write(out, *code, "error code")?,
            Self::Metrics(m) => {
                varint::write(out, m.psn_this, "psn this packet")?;
                varint::write(out, m.psn_last_received, "psn last received")?;
                out.push(m.scale_dtlr);
                varint::write(out, m.delta_last_received, "delta time last received")?;
                out.push(m.scale_dtls);
                varint::write(out, m.delta_last_sent, "delta time last sent")?;
            }
            Self::SupportedVersions(vs) => {
                if vs.len() > MAX_VERSIONS {
                    return Err(EncodeError::LengthOverLimit {
                        field: "supported versions",
                        length: vs.len(),
                        limit: MAX_VERSIONS,
                    });
                }
                for v in vs {
                    varint::write(out, *v, "supported version")?;
                }
            }
        }
        Ok(())
    }
}

fn id_value(v: &[u8]) -> PResult<'_, &[u8]> {
    if v.len() > MAX_STREAM_ID_LEN {
        return fail(
            v,
            "stream identifier",
            ErrorKind::LengthOverLimit {
                length: v.len() as u64,
                limit: MAX_STREAM_ID_LEN as u64,
            },
        );
    }
    Ok((v.split_at(v.len()).1, v))
}

fn one_time_ids(mut v: &[u8]) -> PResult<'_, ExtensionValue<'_>> {
    let mut ids = Vec::new();
    while !v.is_empty() {
        if ids.len() == MAX_ONE_TIME_IDS {
            return fail(
                v,
                "one-time identifiers",
                ErrorKind::CountOverLimit {
                    count: ids.len() as u64 + 1,
                    limit: MAX_ONE_TIME_IDS as u64,
                },
            );
        }
        let (rest, id) = parse::binary(v, MAX_STREAM_ID_LEN, "one-time identifier")?;
        ids.push(id);
        v = rest;
    }
    Ok((v, ExtensionValue::OneTimeIds(ids)))
}

fn ack(v: &[u8]) -> PResult<'_, ExtensionValue<'_>> {
    let (i, largest) = parse::varint(v, "ack largest")?;
    let (i, delay_us) = parse::varint(i, "ack delay")?;
    let (i, range_count) = parse::count(i, MAX_ACK_RANGES, "ack range count")?;
    let at_first = i;
    let (mut i, first_range) = parse::varint(i, "ack first range")?;
    let mut ranges = Vec::with_capacity(range_count as usize);
    for _ in 0..range_count {
        let (r, gap) = parse::varint(i, "ack gap")?;
        let (r, len) = parse::varint(r, "ack range length")?;
        ranges.push((gap, len));
        i = r;
    }
    let (mut i, partial_count) = parse::count(i, MAX_ACK_PARTIALS, "ack partial count")?;
    let mut partials = Vec::with_capacity(partial_count as usize);
    for _ in 0..partial_count {
        let (r, nonce) = parse::varint(i, "partial nonce")?;
        let (r, bitmap) = parse::binary(r, MAX_ACK_BITMAP, "partial bitmap")?;
        partials.push(PartialAck { nonce, bitmap });
        i = r;
    }
    let a = Ack {
        largest,
        delay_us,
        first_range,
        ranges,
        partials,
    };
    if a.acked_ranges().is_none() {
        return fail(
            at_first,
            "ack ranges",
            ErrorKind::InvalidValue("ack range below zero"),
        );
    }
    Ok((i, ExtensionValue::Ack(a)))
}

fn metrics(v: &[u8]) -> PResult<'_, ExtensionValue<'_>> {
    let (i, psn_this) = parse::varint(v, "psn this packet")?;
    let (i, psn_last_received) = parse::varint(i, "psn last received")?;
    let (i, scale_dtlr) = parse::u8(i, "scale dtlr")?;
    let (i, delta_last_received) = parse::varint(i, "delta time last received")?;
    let (i, scale_dtls) = parse::u8(i, "scale dtls")?;
    let (i, delta_last_sent) = parse::varint(i, "delta time last sent")?;
    Ok((
        i,
        ExtensionValue::Metrics(Metrics {
            psn_this,
            psn_last_received,
            scale_dtlr,
            delta_last_received,
            scale_dtls,
            delta_last_sent,
        }),
    ))
}

fn versions(mut v: &[u8]) -> PResult<'_, ExtensionValue<'_>> {
    let mut out = Vec::new();
    while !v.is_empty() {
        if out.len() == MAX_VERSIONS {
            return fail(
                v,
                "supported versions",
                ErrorKind::CountOverLimit {
                    count: out.len() as u64 + 1,
                    limit: MAX_VERSIONS as u64,
                },
            );
        }
        let (rest, ver) = parse::varint(v, "supported version")?;
        out.push(ver);
        v = rest;
    }
    Ok((v, ExtensionValue::SupportedVersions(out)))
}
