//! Event logs in the qlog format (draft-ietf-quic-qlog-main-schema, version 0.3), written as
//! JSON Text Sequences (RFC 7464): the `rud --qlog DIR` option writes one file per connection
//! and vantage point, with the extension `.sqlog`.
//!
//! The first record is the header: `qlog_version` "0.3", `qlog_format` "JSON-SEQ", and a
//! `trace` with its `vantage_point` (client for the initiator, server for the responder) and
//! `common_fields` (`reference_time` in milliseconds since the Unix epoch, `time_format`
//! "relative", an optional `group_id` shared by both ends' traces). Each later record is one
//! event, `{"time": ms since reference_time, "name": "rud:packet_sent", "data": {...}}`, from a
//! typed [`QlogEvent`]. Times are passed in by the caller; nothing here reads a clock.
//!
//! What a qvis user does with the output: load the `.sqlog` files in qvis (or any qlog tool,
//! or `jq --seq`) to see the connection's timeline: packets sent, received, lost and dropped
//! with their RUD header fields, state changes and key updates; `recovery:metrics_updated`
//! uses qlog's standard names so the RTT and congestion window can be plotted. Key updates say
//! which key changed and why, never the key: secrets go to a key log (or a capture's
//! Decryption Secrets Block) only when asked for.
pub mod error;
pub mod event;
pub mod writer;

pub use error::QlogError;
pub use event::{
    ConnectionState, ConnectionStateUpdated, DatagramAbandoned, Hex, KeyType, KeyUpdateTrigger,
    KeyUpdated, LossTrigger, MessageTypeName, MetricsUpdated, PacketDropped, PacketEvent,
    PacketFields, PacketHeader, PacketLost, QlogEvent, RawInfo,
};
pub use writer::{
    FILE_EXTENSION, QLOG_FORMAT, QLOG_VERSION, QlogConfig, QlogWriter, RECORD_SEPARATOR,
    VantagePointType, relative_millis,
};
