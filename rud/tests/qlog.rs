//! rud::qlog: the output is a JSON text sequence (RFC 7464) whose first record is a qlog 0.3
//! JSON-SEQ header and whose other records are the events written, with times relative to the
//! reference time and the fields each event promises; key updates carry no secrets.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use rud::crypto::keylog::{KeyLog, labels};
use rud::handshake::Role;
use rud::qlog::{
    ConnectionState, ConnectionStateUpdated, DatagramAbandoned, Hex, KeyType, KeyUpdateTrigger,
    KeyUpdated, LossTrigger, MetricsUpdated, PacketDropped, PacketEvent, PacketFields,
    PacketHeader, PacketLost, QlogConfig, QlogError, QlogEvent, QlogWriter, RawInfo,
    VantagePointType,
};
use rud::wire::{DataPacket, DatagramFlags, MessageType, StreamId};
use serde_json::Value;

const REFERENCE: Duration = Duration::new(1_700_000_000, 123_456_789);
const STREAM: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

fn config(vp: VantagePointType) -> QlogConfig {
    QlogConfig {
        vantage_point: vp,
        name: Some("test initiator".into()),
        title: Some("rud qlog test".into()),
        group_id: Some("00112233".into()),
        reference_time: REFERENCE,
    }
}

/// Splits on 0x1E, checking the RFC 7464 framing, and parses every record.
fn records(out: &[u8]) -> Vec<Value> {
    assert_eq!(
        out.first(),
        Some(&0x1e),
        "the file starts with a record separator"
    );
    let mut parts = out.split(|&b| b == 0x1e);
    assert_eq!(parts.next(), Some(&[][..]));
    parts
        .map(|r| {
            assert_eq!(r.last(), Some(&b'\n'), "every record ends with a newline");
            assert!(!r[..r.len() - 1].contains(&b'\n'), "one line per record");
            serde_json::from_slice(r).unwrap()
        })
        .collect()
}

fn data_header(n: u64, index: u64, retransmit: u64) -> PacketHeader {
    let fields = PacketFields {
        n,
        packet_index: index,
        packet_count: 3,
        sent_index: 0x7fff,
        retransmit,
    };
    PacketHeader::data(&STREAM, MessageType::INITIATOR_DATA, fields)
}

/// (time since reference, event) for every kind of event.
fn events() -> Vec<(Duration, QlogEvent)> {
    let hello = PacketHeader::connection(&[0; 16], MessageType::INITIATOR_HELLO);
    let decoded = DataPacket {
        stream_id: StreamId(&STREAM),
        msg_type: MessageType::RESPONDER_DATA,
        nonce: 9,
        packet_count: 2,
        flags: DatagramFlags::default(),
        packet_index: 1,
        sent_index: 12,
        retransmit: 0,
        fragment: &[0; 16],
    };
    vec![
        (
            Duration::ZERO,
            QlogEvent::PacketSent(PacketEvent {
                header: hello,
                raw: RawInfo { length: 1200 },
            }),
        ),
        (
            Duration::from_micros(1500),
            QlogEvent::ConnectionStateUpdated(ConnectionStateUpdated {
                old: Some(ConnectionState::Attempted),
                new: ConnectionState::Established,
            }),
        ),
        (
            Duration::from_micros(1600),
            QlogEvent::KeyUpdated(KeyUpdated {
                key_type: KeyType::TrafficI2r,
                trigger: KeyUpdateTrigger::Handshake,
                generation: None,
                stream_id: None,
            }),
        ),
        (
            Duration::from_millis(2),
            QlogEvent::PacketSent(PacketEvent {
                header: data_header(5, 2, 1),
                raw: RawInfo { length: 640 },
            }),
        ),
        (
            Duration::from_millis(3),
            QlogEvent::PacketReceived(PacketEvent {
                header: PacketHeader::from(&decoded),
                raw: RawInfo { length: 77 },
            }),
        ),
        (
            Duration::from_millis(40),
            QlogEvent::PacketLost(PacketLost {
                header: data_header(6, 0, 0),
                trigger: Some(LossTrigger::TimeThreshold),
            }),
        ),
        (
            Duration::from_millis(41),
            QlogEvent::PacketDropped(PacketDropped {
                header: None,
                raw: RawInfo { length: 3 },
                // A separator and a newline inside a string must not break the framing.
                reason: "malformed\u{1e}\nat octet 2".into(),
            }),
        ),
        (
            Duration::from_millis(42),
            QlogEvent::PacketDropped(PacketDropped {
                header: Some(PacketHeader::connection(&[1], MessageType(0x07))),
                raw: RawInfo { length: 20 },
                reason: "unknown message type".into(),
            }),
        ),
        (
            Duration::from_secs(2) + Duration::from_micros(1),
            QlogEvent::DatagramAbandoned(DatagramAbandoned {
                stream_id: Hex(STREAM.to_vec()),
                n: 6,
                packet_count: 3,
                reason: "stream closed".into(),
            }),
        ),
        (
            Duration::from_secs(3),
            QlogEvent::MetricsUpdated(MetricsUpdated {
                min_rtt: Some(Duration::from_micros(20_250)),
                smoothed_rtt: Some(Duration::from_micros(33_500)),
                latest_rtt: Some(Duration::from_millis(40)),
                rtt_variance: Some(Duration::from_nanos(1_000_001)),
                congestion_window: Some(14_720),
                bytes_in_flight: None,
            }),
        ),
    ]
}

fn write(vp: VantagePointType, evs: &[(Duration, QlogEvent)]) -> Vec<u8> {
    let mut w = QlogWriter::new(Vec::new(), &config(vp)).unwrap();
    for (dt, ev) in evs {
        w.event(REFERENCE + *dt, ev).unwrap();
    }
    assert_eq!(w.events_written(), evs.len() as u64);
    w.into_inner()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn header_record() {
    let out = write(VantagePointType::Client, &[]);
    let recs = records(&out);
    assert_eq!(recs.len(), 1);
    let h = &recs[0];
    assert_eq!(h["qlog_version"], "0.3");
    assert_eq!(h["qlog_format"], "JSON-SEQ");
    assert_eq!(h["title"], "rud qlog test");
    let trace = &h["trace"];
    assert_eq!(trace["vantage_point"]["type"], "client");
    assert_eq!(trace["vantage_point"]["name"], "test initiator");
    let common = &trace["common_fields"];
    assert_eq!(common["time_format"], "relative");
    assert_eq!(common["group_id"], "00112233");
    assert_eq!(common["protocol_type"], serde_json::json!(["RUD"]));
    let reference = common["reference_time"].as_f64().unwrap();
    // Milliseconds since the epoch; an f64 of this size resolves about 0.24 us.
    let expected = 1_700_000_000_123.0 + 0.456_789;
    assert!((reference - expected).abs() < 1e-3, "{reference}");

    let server = write(VantagePointType::from(Role::Responder), &[]);
    assert_eq!(
        records(&server)[0]["trace"]["vantage_point"]["type"],
        "server"
    );
    assert_eq!(
        VantagePointType::from(Role::Initiator),
        VantagePointType::Client
    );
}

#[test]
fn every_event_with_its_fields() {
    let evs = events();
    let recs = records(&write(VantagePointType::Client, &evs));
    assert_eq!(recs.len(), 1 + evs.len());
    let ev = &recs[1..];
    for (r, (dt, e)) in ev.iter().zip(&evs) {
        assert_eq!(r["name"], e.name());
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["time", "name", "data"]);
        let t = r["time"].as_f64().unwrap();
        assert!(close(t, dt.as_secs_f64() * 1000.0), "time {t} for {dt:?}");
    }
    let names: Vec<&str> = ev.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "rud:packet_sent",
            "rud:connection_state_updated",
            "rud:key_updated",
            "rud:packet_sent",
            "rud:packet_received",
            "rud:packet_lost",
            "rud:packet_dropped",
            "rud:packet_dropped",
            "rud:datagram_abandoned",
            "recovery:metrics_updated",
        ]
    );
    // Sub-millisecond times survive the epoch-sized reference.
    assert_eq!(ev[1]["time"].as_f64(), Some(1.5));
    assert!(close(ev[8]["time"].as_f64().unwrap(), 2000.001));

    // A connection datagram: no packet fields.
    let hello = &ev[0]["data"];
    assert_eq!(hello["header"]["stream_id"], "00".repeat(16));
    assert_eq!(hello["header"]["message_type"], "InitiatorHello");
    assert_eq!(hello["header"].as_object().unwrap().len(), 2);
    assert_eq!(hello["raw"]["length"], 1200);

    assert_eq!(
        ev[1]["data"],
        serde_json::json!({"old": "attempted", "new": "established"})
    );

    // A data packet: every field of SPEC 3.6.1's header.
    let sent = &ev[3]["data"];
    assert_eq!(
        sent["header"],
        serde_json::json!({
            "stream_id": "deadbeef", "message_type": "InitiatorData", "n": 5,
            "packet_index": 2, "packet_count": 3, "sent_index": 32767, "retransmit": 1
        })
    );
    assert_eq!(sent["raw"]["length"], 640);
    // From a decoded wire packet.
    let recv = &ev[4]["data"]["header"];
    assert_eq!(recv["message_type"], "ResponderData");
    assert_eq!(
        (recv["n"].as_u64(), recv["packet_index"].as_u64()),
        (Some(9), Some(1))
    );
    assert_eq!(
        (recv["packet_count"].as_u64(), recv["sent_index"].as_u64()),
        (Some(2), Some(12))
    );

    assert_eq!(ev[5]["data"]["trigger"], "time_threshold");
    assert_eq!(ev[5]["data"]["header"]["n"], 6);

    let dropped = &ev[6]["data"];
    assert_eq!(dropped["reason"], "malformed\u{1e}\nat octet 2");
    assert!(dropped.get("header").is_none());
    assert_eq!(dropped["raw"]["length"], 3);
    assert_eq!(ev[7]["data"]["header"]["message_type"], "0x07");

    assert_eq!(
        ev[8]["data"],
        serde_json::json!({"stream_id": "deadbeef", "n": 6, "packet_count": 3, "reason": "stream closed"})
    );

    let m = &ev[9]["data"];
    assert_eq!(m["min_rtt"].as_f64(), Some(20.25));
    assert_eq!(m["smoothed_rtt"].as_f64(), Some(33.5));
    assert_eq!(m["latest_rtt"].as_f64(), Some(40.0));
    assert!(close(m["rtt_variance"].as_f64().unwrap(), 1.000_001));
    assert_eq!(m["congestion_window"], 14_720);
    assert!(
        m.get("bytes_in_flight").is_none(),
        "fields not given are left out"
    );
}

#[test]
fn events_before_the_reference_have_negative_times() {
    let mut w = QlogWriter::new(Vec::new(), &config(VantagePointType::Server)).unwrap();
    let ev = QlogEvent::ConnectionStateUpdated(ConnectionStateUpdated {
        old: None,
        new: ConnectionState::Closed,
    });
    w.event(REFERENCE - Duration::from_micros(250), &ev)
        .unwrap();
    w.event(Duration::ZERO, &ev).unwrap();
    let recs = records(&w.into_inner());
    assert_eq!(recs[1]["time"].as_f64(), Some(-0.25));
    assert!(recs[2]["time"].as_f64().unwrap() < -1.7e12);
    assert_eq!(recs[1]["data"], serde_json::json!({"new": "closed"}));
}

/// A key-log sink that reports key updates to qlog, the way a driver would wire them.
#[derive(Debug, Default)]
struct QlogKeySink {
    events: std::sync::Mutex<Vec<QlogEvent>>,
}

impl KeyLog for QlogKeySink {
    fn log(&self, label: &str, _context: &[u8], _secret: &[u8]) {
        let key_type = KeyType::from_label(label).unwrap();
        self.events
            .lock()
            .unwrap()
            .push(QlogEvent::KeyUpdated(KeyUpdated {
                key_type,
                trigger: KeyUpdateTrigger::Handshake,
                generation: None,
                stream_id: None,
            }));
    }
}

#[test]
fn key_updates_carry_no_secret_material() {
    let sink = QlogKeySink::default();
    let context = [0x5a; 56];
    let secrets: Vec<Vec<u8>> = (0..labels::ALL.len())
        .map(|i| (0..64).map(|j| (i * 64 + j) as u8 ^ 0xa5).collect())
        .collect();
    for (label, secret) in labels::ALL.iter().zip(&secrets) {
        sink.log(label, &context, secret);
    }
    let mut evs: Vec<(Duration, QlogEvent)> = sink
        .events
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|e| (Duration::ZERO, e))
        .collect();
    evs.push((
        Duration::ZERO,
        QlogEvent::KeyUpdated(KeyUpdated {
            key_type: KeyType::StreamR2i,
            trigger: KeyUpdateTrigger::Rekey,
            generation: Some(4),
            stream_id: Some(Hex(STREAM.to_vec())),
        }),
    ));
    let out = write(VantagePointType::Client, &evs);
    let text = String::from_utf8(out.clone()).unwrap();
    for s in &secrets {
        // Any 8 consecutive octets of a secret, in hex, would be a leak.
        for w in s.windows(8) {
            assert!(!text.contains(&hex::encode(w)), "secret octets in the qlog");
        }
    }
    assert!(
        !text.contains(&hex::encode(context)),
        "key-log context in the qlog"
    );

    let recs = records(&out);
    let allowed: BTreeSet<&str> = ["key_type", "trigger", "generation", "stream_id"].into();
    let mut types = Vec::new();
    for r in &recs[1..] {
        assert_eq!(r["name"], "rud:key_updated");
        let data = r["data"].as_object().unwrap();
        let keys: BTreeSet<&str> = data.keys().map(String::as_str).collect();
        assert!(keys.is_subset(&allowed), "unexpected fields {keys:?}");
        types.push(data["key_type"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        types,
        [
            "mezzanine_i2r",
            "mezzanine_r2i",
            "early_i2r",
            "handshake_i2r",
            "handshake_r2i",
            "traffic_i2r",
            "traffic_r2i",
            "exporter",
            "stream_r2i"
        ]
    );
    assert_eq!(recs.last().unwrap()["data"]["generation"], 4);
    assert_eq!(KeyType::from_label("RUD_COOKIE"), None);
}

#[derive(Debug)]
struct Failing;

impl std::io::Write for Failing {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_are_typed() {
    let err = QlogWriter::new(Failing, &config(VantagePointType::Client)).unwrap_err();
    assert!(matches!(err, QlogError::Io(_)), "{err}");
    assert!(err.to_string().contains("disk full"));
}
