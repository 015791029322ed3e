//! Streams over the in-memory network: every mode establishes and carries messages both ways,
//! stream creation, ordering, close, refusal, Restart and rekey.
#![allow(clippy::expect_used, clippy::unwrap_used)]
use std::time::Duration;

use rud::connection::{StreamHandle, StreamKind};
use rud::endpoint::EndpointEvent;
use rud::sim::{LinkConfig, Pair, PairConfig, PairMode};

const SECOND: Duration = Duration::from_secs(1);

fn pair(mode: PairMode, link: LinkConfig, seed: u64) -> Pair {
    let mut p = Pair::new(PairConfig {
        seed,
        link,
        mode,
        ..PairConfig::default()
    })
    .unwrap();
    p.establish(30 * SECOND).unwrap();
    p
}

/// Serves echo on the server: every request on a transactional stream the client created is
/// answered with its own octets.
fn echo(p: &mut Pair, node: usize, e: EndpointEvent) {
    let _ = (node, e);
    serve(p);
}

fn serve(p: &mut Pair) {
    let Some(c) = p.server() else { return };
    let streams: Vec<_> = c
        .streams()
        .filter(|(_, k, _)| *k == StreamKind::Transactional)
        .map(|(h, _, _)| h)
        .collect();
    for s in streams {
        while let Some(m) = c.read(s) {
            c.respond(s, m.id, m.bytes).unwrap();
        }
    }
}

#[test]
fn every_mode_answers_the_handshake_request_on_the_first_stream() {
    for mode in [
        PairMode::FirstContact,
        PairMode::Immediate,
        PairMode::Deferred,
    ] {
        let mut p = pair(mode, LinkConfig::default(), 7);
        let mut got = None;
        let ok = p.run(
            10 * SECOND,
            |p, node, e| {
                echo(p, node, e);
            },
            |p| {
                serve(p);
                if got.is_none() {
                    got = p.client().unwrap().read(StreamHandle(0));
                }
                got.is_some()
            },
        );
        assert!(ok, "{mode:?}: no response");
        let m = got.unwrap();
        assert_eq!((m.id, m.bytes.as_slice()), (0, &b"hello"[..]), "{mode:?}");
    }
}

#[test]
fn requests_on_a_new_stream_are_answered_in_order() {
    let mut p = pair(PairMode::Immediate, LinkConfig::default(), 3);
    let c = p.client().unwrap();
    let s = c.open(StreamKind::Transactional, "echo", vec![]).unwrap();
    let ids: Vec<u64> = (0..5)
        .map(|i| c.send(s, format!("request {i}").into_bytes()).unwrap())
        .collect();
    assert_eq!(ids, vec![0, 1, 2, 3, 4]);
    let mut got = Vec::new();
    let ok = p.run(10 * SECOND, echo, |p| {
        while let Some(m) = p.client().unwrap().read(s) {
            got.push(m);
        }
        got.len() == 5
    });
    assert!(ok, "got {got:?}");
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.id, i as u64);
        assert_eq!(m.bytes, format!("request {i}").into_bytes());
    }
}

#[test]
fn the_service_host_answers_the_handshake_request_and_new_streams() {
    use rud::service::ServiceHost;
    let dir = std::env::temp_dir().join(format!("rud-sink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut host = ServiceHost::with_builtins(Some(dir.clone()));
    let mut p = pair(PairMode::FirstContact, LinkConfig::default(), 9);
    let c = p.client().unwrap();
    let sink = c.open(StreamKind::Asynchronous, "sink", vec![]).unwrap();
    c.send(sink, b"part one ".to_vec()).unwrap();
    c.send(sink, b"part two".to_vec()).unwrap();
    let tx = c
        .open(StreamKind::Transactional, "discard", vec![])
        .unwrap();
    let req = c.send(tx, b"dropped".to_vec()).unwrap();
    let mut first = None;
    let mut discarded = None;
    let ok = p.run(
        10 * SECOND,
        |_, _, _| {},
        |p| {
            if let Some(s) = p.server() {
                assert!(host.pump(1, s).is_empty());
            }
            let c = p.client().unwrap();
            first = first.take().or_else(|| c.read(StreamHandle(0)));
            discarded = discarded.take().or_else(|| c.read(tx));
            let written = std::fs::metadata(dir.join("1-1.bin")).map_or(0, |m| m.len());
            first.is_some() && discarded.is_some() && written == 17
        },
    );
    assert!(ok);
    assert_eq!(first.unwrap().bytes, b"hello");
    let d = discarded.unwrap();
    assert_eq!((d.id, d.bytes.len()), (req, 0));
    let file = std::fs::read(dir.join("1-1.bin")).unwrap();
    assert_eq!(file, b"part one part two");
    std::fs::remove_dir_all(&dir).unwrap();
}
