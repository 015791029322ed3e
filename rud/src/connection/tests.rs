//! Rules a well-behaved peer never breaks, checked by making one side break them (the fields
//! and hooks used here are private to the crate).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::time::Duration;

use super::{CloseReason, Event, StreamKind};
use crate::endpoint::EndpointEvent;
use crate::sim::{Pair, PairConfig, PairMode};
use crate::wire::DatagramFlags;

const SECOND: Duration = Duration::from_secs(1);

fn pair(seed: u64) -> Pair {
    let mut p = Pair::new(PairConfig {
        seed,
        mode: PairMode::Immediate,
        ..PairConfig::default()
    })
    .unwrap();
    p.establish(30 * SECOND).unwrap();
    p
}

fn server_close(p: &mut Pair, limit: Duration) -> Option<CloseReason> {
    let mut reason = None;
    let server = p.server;
    p.run(
        limit,
        |_, node, e| {
            if node == server
                && let EndpointEvent::Connection(Event::Closed(r)) = e
            {
                reason = Some(r);
            }
        },
        |_| false,
    );
    reason
}

//= docs/SPEC.md#stream-creation-generation
//= type=test
//# A datagram that creates a stream MUST carry an EncryptionParameters extension with suite 1 and a generation of the creator's parity that the connection has not used; a receiver MUST treat anything else as a protocol violation.
#[test]
fn a_creation_with_the_wrong_parity_or_a_used_generation_is_a_violation() {
    for (seed, g) in [(1, 3), (2, 0)] {
        let mut p = pair(seed);
        let c = p.client().unwrap();
        c.next_gen = g; // 3: the responder's parity; 0: the first stream's
        let s = c.open(StreamKind::Transactional, "echo", vec![]).unwrap();
        c.send(s, b"x".to_vec()).unwrap();
        let r = server_close(&mut p, 5 * SECOND);
        assert!(
            matches!(&r, Some(CloseReason::ProtocolViolation(m)) if m.contains("generation")),
            "g={g}: {r:?}"
        );
    }
}

//= docs/SPEC.md#stream-generation
//= type=test
//# The creator of a stream or of a Restart MUST allocate its generation: the initiator uses even numbers, the responder odd ones
#[test]
fn both_ends_create_streams_at_once_without_a_collision() {
    let mut p = pair(3);
    let a = p
        .client()
        .unwrap()
        .open(StreamKind::Transactional, "echo", vec![])
        .unwrap();
    let b = p
        .server()
        .unwrap()
        .open(StreamKind::Transactional, "client-svc", vec![])
        .unwrap();
    p.client()
        .unwrap()
        .send(a, b"from the initiator".to_vec())
        .unwrap();
    p.server()
        .unwrap()
        .send(b, b"from the responder".to_vec())
        .unwrap();
    let mut answered = (false, false);
    p.run(
        5 * SECOND,
        |_, _, _| {},
        |p| {
            for side in [p.client, p.server] {
                let conn = if side == p.client {
                    p.client()
                } else {
                    p.server()
                };
                let Some(conn) = conn else { continue };
                let me = conn.role();
                let theirs: Vec<_> = conn
                    .streams()
                    .map(|x| x.0)
                    .filter(|h| h.0 != 0 && conn.stream_creator(*h) != Some(me))
                    .collect();
                for h in theirs {
                    while let Some(m) = conn.read(h) {
                        conn.respond(h, m.id, m.bytes).unwrap();
                    }
                }
            }
            if p.client().unwrap().read(a).is_some() {
                answered.0 = true;
            }
            if p.server().unwrap().read(b).is_some() {
                answered.1 = true;
            }
            answered == (true, true)
        },
    );
    assert_eq!(answered, (true, true));
    let ga = p.client().unwrap().stream_stats(a).unwrap().generation;
    let gb = p.server().unwrap().stream_stats(b).unwrap().generation;
    assert_eq!((ga % 2, gb % 2), (0, 1));
}

//= docs/SPEC.md#control-flag
//= type=test
//# A datagram with the CONTROL flag MUST carry an empty payload and the FINAL flag, and no ABORT flag.
#[test]
fn a_control_datagram_with_a_payload_is_a_violation() {
    for flags in [
        DatagramFlags::CONTROL | DatagramFlags::FINAL,
        DatagramFlags::CONTROL,
        DatagramFlags::CONTROL | DatagramFlags::FINAL | DatagramFlags::ABORT,
    ] {
        let mut p = pair(4 + u64::from(flags));
        let now = p.sim.now;
        let payload: &[u8] = if flags == DatagramFlags::CONTROL | DatagramFlags::FINAL {
            b"smuggled"
        } else {
            b""
        };
        let c = p.client().unwrap();
        c.send_raw(now, super::StreamHandle(0), flags, payload);
        let r = server_close(&mut p, 5 * SECOND);
        assert!(
            matches!(&r, Some(CloseReason::ProtocolViolation(m)) if m.contains("control")),
            "flags {flags:#x}: {r:?}"
        );
        assert_eq!(p.server().map_or(0, |s| s.counters().messages_delivered), 0);
    }
}
