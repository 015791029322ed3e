//! The events a RUD endpoint logs. Names and field shapes follow the qlog QUIC event
//! definitions where a counterpart exists (a `header` object and `raw.length` on packet events,
//! `recovery:metrics_updated` with its field names and milliseconds), so qvis and other qlog
//! tools find what they look for; RUD's own header fields keep RUD's names (SPEC 3.6.1).
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::wire::{DataPacket, MessageType};

/// Octets serialised as lower-case hex (stream identifiers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hex(pub Vec<u8>);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl From<&[u8]> for Hex {
    fn from(b: &[u8]) -> Self {
        Self(b.to_vec())
    }
}

/// A message type serialised by SPEC name ("InitiatorData"), or "0xNN" when unassigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageTypeName(pub MessageType);

impl Serialize for MessageTypeName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.name() {
            Some(name) => s.serialize_str(name),
            None => s.serialize_str(&format!("0x{:02x}", self.0.0)),
        }
    }
}

/// Durations in qlog are milliseconds as floating point.
fn millis(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn opt_millis<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(millis(d)),
        None => s.serialize_none(),
    }
}

/// The header of one packet (SPEC 3.6.1). Connection datagrams (the handshake) are not
/// packetized and leave the packet fields out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketHeader {
    /// The stream identifier, hex.
    pub stream_id: Hex,
    /// The message type.
    pub message_type: MessageTypeName,
    /// The datagram counter n (data datagrams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    /// Position of this packet in its datagram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet_index: Option<u64>,
    /// Packets of the datagram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet_count: Option<u64>,
    /// The per-send counter (15 bits, wrapping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_index: Option<u16>,
    /// How many times this packet was sent before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmit: Option<u64>,
}

impl PacketHeader {
    /// The header of a connection datagram (no packet fields).
    #[must_use]
    pub fn connection(stream_id: &[u8], message_type: MessageType) -> Self {
        Self {
            stream_id: Hex::from(stream_id),
            message_type: MessageTypeName(message_type),
            n: None,
            packet_index: None,
            packet_count: None,
            sent_index: None,
            retransmit: None,
        }
    }

    /// The header of one packet of a data datagram.
    #[must_use]
    pub fn data(stream_id: &[u8], message_type: MessageType, packet: PacketFields) -> Self {
        Self {
            stream_id: Hex::from(stream_id),
            message_type: MessageTypeName(message_type),
            n: Some(packet.n),
            packet_index: Some(packet.packet_index),
            packet_count: Some(packet.packet_count),
            sent_index: Some(packet.sent_index),
            retransmit: Some(packet.retransmit),
        }
    }
}

impl From<&DataPacket<'_>> for PacketHeader {
    /// The header of a decoded data packet (a received one, or a sent one decoded again).
    fn from(p: &DataPacket<'_>) -> Self {
        let fields = PacketFields {
            n: p.nonce,
            packet_index: p.packet_index,
            packet_count: p.packet_count,
            sent_index: p.sent_index,
            retransmit: p.retransmit,
        };
        Self::data(p.stream_id.0, p.msg_type, fields)
    }
}

/// The packet fields of a data packet, for [`PacketHeader::data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketFields {
    /// Datagram counter.
    pub n: u64,
    /// Position in the datagram.
    pub packet_index: u64,
    /// Packets of the datagram.
    pub packet_count: u64,
    /// Per-send counter.
    pub sent_index: u16,
    /// Earlier sends of this packet.
    pub retransmit: u64,
}

/// qlog's `RawInfo`: the packet's size on the wire (the UDP payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RawInfo {
    /// Octets.
    pub length: u64,
}

/// A packet sent or received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketEvent {
    /// Its header.
    pub header: PacketHeader,
    /// Its size.
    pub raw: RawInfo,
}

/// What declared a datagram lost (RFC 9002 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossTrigger {
    /// kPacketThreshold later transmissions were acknowledged.
    ReorderingThreshold,
    /// It is older than the time threshold.
    TimeThreshold,
    /// A probe timeout expired.
    PtoExpired,
}

/// A packet declared lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketLost {
    /// Its header.
    pub header: PacketHeader,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<LossTrigger>,
}

/// A received packet discarded before delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketDropped {
    /// Its header, when it decoded far enough to have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<PacketHeader>,
    /// Its size.
    pub raw: RawInfo,
    /// Why (a local diagnostic: "malformed", "replay", "authentication failed", ...).
    pub reason: String,
}

/// A datagram the sender gave up on (its send buffer freed without acknowledgement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatagramAbandoned {
    /// The stream identifier, hex.
    pub stream_id: Hex,
    /// Its counter n.
    pub n: u64,
    /// Its packets.
    pub packet_count: u64,
    /// Why.
    pub reason: String,
}

/// Recovery state (qlog's `recovery:metrics_updated`): only the fields given are logged, as
/// qlog recommends for values that did not change. RTTs are in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MetricsUpdated {
    /// Minimum RTT.
    #[serde(serialize_with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub min_rtt: Option<Duration>,
    /// Smoothed RTT.
    #[serde(serialize_with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub smoothed_rtt: Option<Duration>,
    /// Latest RTT sample.
    #[serde(serialize_with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub latest_rtt: Option<Duration>,
    /// RTT variation.
    #[serde(serialize_with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub rtt_variance: Option<Duration>,
    /// Congestion window, octets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub congestion_window: Option<u64>,
    /// Octets in flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_in_flight: Option<u64>,
}

/// Connection states (the handshake's events, then the connection's life).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// The initiator sent its first datagram.
    Attempted,
    /// First Contact: a Challenge was sent or received.
    Challenged,
    /// Deferred: a Defer was sent or received.
    Deferred,
    /// The key exchange completed.
    Established,
    /// A close was sent or received.
    Closing,
    /// Closed.
    Closed,
    /// The handshake failed or the connection was refused.
    Failed,
}

/// A connection state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectionStateUpdated {
    /// The state before, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<ConnectionState>,
    /// The state now.
    pub new: ConnectionState,
}

/// Which key changed (the key-log labels of docs/SPEC.md 7.8, and per-stream keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    /// Mezzanine key, initiator to responder.
    MezzanineI2r,
    /// Mezzanine key, responder to initiator.
    MezzanineR2i,
    /// Early data key.
    EarlyI2r,
    /// Handshake key, initiator to responder.
    HandshakeI2r,
    /// Handshake key, responder to initiator.
    HandshakeR2i,
    /// Traffic secret, initiator to responder.
    TrafficI2r,
    /// Traffic secret, responder to initiator.
    TrafficR2i,
    /// Exporter secret.
    Exporter,
    /// A stream key (one per stream and generation), initiator to responder.
    StreamI2r,
    /// A stream key, responder to initiator.
    StreamR2i,
}

impl KeyType {
    /// The key type of a key-log label (`crate::crypto::keylog::labels`), so a key-log sink
    /// can report what it was given without passing the secret on; `None` for a label this
    /// version does not know.
    #[must_use]
    pub fn from_label(label: &str) -> Option<Self> {
        use crate::crypto::keylog::labels;
        Some(match label {
            labels::MEZZANINE_I2R => Self::MezzanineI2r,
            labels::MEZZANINE_R2I => Self::MezzanineR2i,
            labels::EARLY_I2R => Self::EarlyI2r,
            labels::HANDSHAKE_I2R => Self::HandshakeI2r,
            labels::HANDSHAKE_R2I => Self::HandshakeR2i,
            labels::TRAFFIC_I2R => Self::TrafficI2r,
            labels::TRAFFIC_R2I => Self::TrafficR2i,
            labels::EXPORTER => Self::Exporter,
            _ => return None,
        })
    }
}

/// Why a key changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUpdateTrigger {
    /// Derived by the key exchange.
    Handshake,
    /// A stream was created or restarted.
    StreamCreated,
    /// A rekey.
    Rekey,
}

/// A key was installed. Carries which key and why, never key material: the type has no field
/// that could hold it (a key log is the place for secrets, and is written only on request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyUpdated {
    /// Which key.
    pub key_type: KeyType,
    /// Why.
    pub trigger: KeyUpdateTrigger,
    /// The stream key generation, for stream keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// The stream, for stream keys (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<Hex>,
}

/// One event. Serialises as its `data` object; [`QlogEvent::name`] gives its `name`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum QlogEvent {
    /// `rud:packet_sent`.
    PacketSent(PacketEvent),
    /// `rud:packet_received`.
    PacketReceived(PacketEvent),
    /// `rud:packet_lost`.
    PacketLost(PacketLost),
    /// `rud:packet_dropped`.
    PacketDropped(PacketDropped),
    /// `rud:datagram_abandoned`.
    DatagramAbandoned(DatagramAbandoned),
    /// `recovery:metrics_updated`.
    MetricsUpdated(MetricsUpdated),
    /// `rud:connection_state_updated`.
    ConnectionStateUpdated(ConnectionStateUpdated),
    /// `rud:key_updated`.
    KeyUpdated(KeyUpdated),
}

impl QlogEvent {
    /// The event's qlog name, `category:event`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::PacketSent(_) => "rud:packet_sent",
            Self::PacketReceived(_) => "rud:packet_received",
            Self::PacketLost(_) => "rud:packet_lost",
            Self::PacketDropped(_) => "rud:packet_dropped",
            Self::DatagramAbandoned(_) => "rud:datagram_abandoned",
            Self::MetricsUpdated(_) => "recovery:metrics_updated",
            Self::ConnectionStateUpdated(_) => "rud:connection_state_updated",
            Self::KeyUpdated(_) => "rud:key_updated",
        }
    }
}
