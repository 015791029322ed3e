//! Several paths per connection (SPEC 5.6): a standby path validated and measured by its own
//! heartbeats, failover when the primary dies, a dead standby path dropped without touching the
//! primary's congestion state, and the old address of a peer that moved kept as standby.
#![allow(clippy::expect_used, clippy::unwrap_used)]
use std::net::SocketAddr;
use std::time::Duration;

use rud::connection::{ConnectionConfig, Event, HEARTBEAT_MAX_OCTETS, PathError, StreamKind};
use rud::endpoint::EndpointEvent;
use rud::sim::{LinkConfig, Pair, PairConfig, Verdict};

const SECOND: Duration = Duration::from_secs(1);

fn pair(seed: u64, connection: ConnectionConfig) -> Pair {
    let mut p = Pair::new(PairConfig {
        seed,
        link: LinkConfig {
            latency: Duration::from_millis(20),
            ..LinkConfig::default()
        },
        connection,
        ..PairConfig::default()
    })
    .unwrap();
    p.establish(30 * SECOND).unwrap();
    p
}

fn second_port(p: &Pair) -> SocketAddr {
    SocketAddr::new(p.server_addr.ip(), p.server_addr.port() + 1)
}

/// Runs until `done` or `limit`, collecting (node, event) pairs of connection events.
fn run(
    p: &mut Pair,
    limit: Duration,
    events: &mut Vec<(usize, Event)>,
    mut done: impl FnMut(&mut Pair) -> bool,
) -> bool {
    p.run(
        limit,
        |_, node, e| {
            if let EndpointEvent::Connection(e) = e {
                events.push((node, e));
            }
        },
        |p| done(p),
    )
}

/// Whether either side moved its traffic to another path.
fn moved(events: &[(usize, Event)]) -> bool {
    events
        .iter()
        .any(|(_, e)| matches!(e, Event::PathChanged { .. }))
}

fn saw(events: &[(usize, Event)], node: usize, want: &Event) -> bool {
    events.iter().any(|(n, e)| *n == node && e == want)
}

/// Messages of `len` octets, each different, sent on a new asynchronous "sink" stream.
fn send_messages(p: &mut Pair, count: usize, len: usize) -> Vec<Vec<u8>> {
    let c = p.client().unwrap();
    let s = c.open(StreamKind::Asynchronous, "sink", vec![]).unwrap();
    let msgs: Vec<Vec<u8>> = (0..count)
        .map(|i| (0..len).map(|k| (i * 31 + k * 7) as u8).collect())
        .collect();
    for m in &msgs {
        c.send(s, m.clone()).unwrap();
    }
    msgs
}

/// What the server's application reads on its "sink" stream, appended to `got`.
fn read_sink(p: &mut Pair, got: &mut Vec<Vec<u8>>) {
    let Some(srv) = p.server() else { return };
    let Some(h) = srv.streams().find(|x| x.2 == "sink").map(|x| x.0) else {
        return;
    };
    while let Some(m) = srv.read(h) {
        got.push(m.bytes);
    }
}

//= docs/SPEC.md#multipath
//= type=test
//# An endpoint MUST send nothing but heartbeats on a standby path it opened until a heartbeat is acknowledged
#[test]
fn a_standby_path_is_validated_by_its_heartbeat_and_measured_on_its_own() {
    let mut p = pair(1, ConnectionConfig::default());
    let b = second_port(&p);
    let (client, server) = (p.client, p.server);
    p.sim.alias(server, b);
    let now = p.sim.now;
    let c = p.client().unwrap();
    c.open_path(now, b).unwrap();
    assert_eq!(c.open_path(now, b), Err(PathError::Exists(b)));
    let mut events = Vec::new();
    run(&mut p, 5 * SECOND, &mut events, |_| false);
    assert!(saw(&events, client, &Event::PathValidated { address: b }));
    let paths = p.client().unwrap().paths();
    assert_eq!(paths.len(), 2, "{paths:?}");
    let (primary, standby) = (&paths[0], &paths[1]);
    assert!(primary.primary && primary.address == p.server_addr);
    assert!(!standby.primary && standby.validated && standby.failures == 0);
    // 40 ms round trip on the link, measured by the standby path's own heartbeats.
    let m = &standby.metrics;
    assert!(m.min_rtt >= Duration::from_millis(40), "{m:?}");
    assert!(m.min_rtt <= Duration::from_millis(80), "{m:?}");
    // Nothing but heartbeats: one a second, each a single small packet.
    assert!(
        (3..=7).contains(&m.datagrams_sent) && m.packets_sent == m.datagrams_sent,
        "{m:?}"
    );
    assert!(
        standby.octets_sent <= HEARTBEAT_MAX_OCTETS * m.datagrams_sent,
        "{standby:?}"
    );
    // The server answers from its primary port: nothing came from the second one.
    assert_eq!(standby.octets_received, 0);
    // The server saw one peer address throughout: one path.
    assert_eq!(p.server().unwrap().paths().len(), 1);
    // A table of two paths is full with one standby.
    let mut q = pair(
        2,
        ConnectionConfig {
            max_paths: 2,
            ..ConnectionConfig::default()
        },
    );
    let b = second_port(&q);
    let now = q.sim.now;
    let c = q.client().unwrap();
    c.open_path(now, b).unwrap();
    let third = SocketAddr::new(b.ip(), b.port() + 1);
    assert_eq!(c.open_path(now, third), Err(PathError::Full(2)));
    c.close(now, 0, "done");
    let mut events = Vec::new();
    run(&mut q, 5 * SECOND, &mut events, |_| false);
    let now = q.sim.now;
    if let Some(c) = q.client() {
        assert_eq!(c.open_path(now, third), Err(PathError::NotOpen));
    }
}

//= docs/SPEC.md#path-failover
//= type=test
//# An endpoint MUST NOT move its traffic to a standby path that is not validated
#[test]
fn traffic_fails_over_to_the_standby_path_when_the_primary_dies() {
    let mut p = pair(3, ConnectionConfig::default());
    let (a, b) = (p.server_addr, second_port(&p));
    let (client, server) = (p.client, p.server);
    p.sim.alias(server, b);
    let now = p.sim.now;
    p.client().unwrap().open_path(now, b).unwrap();
    let mut events = Vec::new();
    assert!(run(&mut p, 5 * SECOND, &mut events, |p| {
        p.client().unwrap().paths().iter().all(|x| x.validated)
    }));
    let msgs = send_messages(&mut p, 60, 20_000);
    let mut got = Vec::new();
    assert!(run(&mut p, 30 * SECOND, &mut events, |p| {
        read_sink(p, &mut got);
        got.len() >= 10
    }));
    let before = p.client().unwrap().paths();
    // The primary port goes dark for what the client sends to it.
    p.sim.set_tamper(move |pk, _| {
        if pk.to == a {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    });
    assert!(
        run(&mut p, 60 * SECOND, &mut events, |p| {
            read_sink(p, &mut got);
            got.len() == msgs.len()
        }),
        "{} of {} after failover",
        got.len(),
        msgs.len()
    );
    assert_eq!(got, msgs, "byte-identical, in order, exactly once");
    assert!(saw(&events, client, &Event::PathChanged { from: a, to: b }));
    // The dead port keeps failing its heartbeats and is dropped.
    run(&mut p, 10 * SECOND, &mut events, |_| false);
    assert!(saw(&events, client, &Event::PathFailed { address: a }));
    let after = p.client().unwrap().paths();
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].primary && after[0].address == b);
    // The second port carried the rest of the transfer under its own congestion controller.
    let carried = after[0].octets_sent - before[1].octets_sent;
    assert!(carried > 500_000, "{carried} octets on the new primary");
    println!(
        "failover: {} octets on {a} before, {carried} on {b} after; window {} -> {}",
        before[0].octets_sent, before[0].congestion_window, after[0].congestion_window
    );
}

//= docs/SPEC.md#path-heartbeat
//= type=test
//# An endpoint MUST drop a standby path after three heartbeats in a row went unacknowledged (event PathFailed). The loss of a heartbeat MUST NOT count as a congestion signal on the primary path
#[test]
fn a_dead_standby_path_is_dropped_without_touching_the_primary() {
    let mut p = pair(4, ConnectionConfig::default());
    let client = p.client;
    let nowhere: SocketAddr = "203.0.113.9:9".parse().unwrap();
    let now = p.sim.now;
    p.client().unwrap().open_path(now, nowhere).unwrap();
    let msgs = send_messages(&mut p, 40, 20_000);
    let mut got = Vec::new();
    let mut events = Vec::new();
    assert!(run(&mut p, 30 * SECOND, &mut events, |p| {
        read_sink(p, &mut got);
        got.len() == msgs.len()
    }));
    assert_eq!(got, msgs);
    run(&mut p, 6 * SECOND, &mut events, |_| false);
    let failed_at = events
        .iter()
        .position(|(n, e)| *n == client && *e == Event::PathFailed { address: nowhere });
    assert!(failed_at.is_some(), "the dead standby path stays");
    assert!(!events.iter().any(|(n, e)| *n == client
        && matches!(e, Event::PathValidated { .. } | Event::PathChanged { .. })));
    let paths = p.client().unwrap().paths();
    assert_eq!(paths.len(), 1);
    // The unanswered heartbeats are the standby path's failures, not losses of the primary:
    // on a lossless link the primary lost nothing and its window never shrank.
    let m = &paths[0].metrics;
    assert_eq!(m.datagrams_lost, 0, "{m:?}");
    assert!(m.bytes_sent > 800_000, "{m:?}");
}

//= docs/SPEC.md#multipath
//= type=test
//# When the peer moves to a new address, an endpoint SHOULD keep the old one as a standby path while its table has room
#[test]
fn the_old_address_of_a_peer_that_moved_is_standby_until_it_fails() {
    for max_paths in [4, 1] {
        let mut p = pair(
            5,
            ConnectionConfig {
                max_paths,
                ..ConnectionConfig::default()
            },
        );
        let (client, server, ca) = (p.client, p.server, p.client_addr);
        let moved: SocketAddr = "192.0.2.77:40001".parse().unwrap();
        p.sim.capture();
        p.sim.rebind(client, moved);
        let msgs = send_messages(&mut p, 3, 5_000);
        let mut got = Vec::new();
        let mut events = Vec::new();
        let done = run(&mut p, 10 * SECOND, &mut events, |p| {
            read_sink(p, &mut got);
            got.len() == msgs.len()
        });
        assert!(
            done,
            "max_paths {max_paths}: {} of {}; {events:?}; client {:?}; server {:?}",
            got.len(),
            msgs.len(),
            p.client().map(|c| c.paths()),
            p.server().map(|c| c.paths())
        );
        assert!(saw(
            &events,
            server,
            &Event::PathChanged {
                from: ca,
                to: moved
            }
        ));
        let rebound_at = p.sim.now;
        if max_paths > 1 {
            assert_eq!(p.server().unwrap().paths().len(), 2);
        }
        run(&mut p, 6 * SECOND, &mut events, |_| false);
        let to_old = p
            .sim
            .captured()
            .iter()
            .filter(|(t, pk)| pk.to == ca && *t > rebound_at)
            .count();
        if max_paths > 1 {
            assert!(saw(&events, server, &Event::PathFailed { address: ca }));
            // Three heartbeats, one a second, then nothing.
            assert!(
                (1..=4).contains(&to_old),
                "{to_old} packets to the old address"
            );
        } else {
            assert_eq!(to_old, 0, "one path: the old address is forgotten");
            assert!(
                !events
                    .iter()
                    .any(|(_, e)| matches!(e, Event::PathFailed { .. }))
            );
        }
        let paths = p.server().unwrap().paths();
        assert_eq!(paths.len(), 1, "{paths:?}");
        assert_eq!(paths[0].address, moved);
    }
}

/// Paths with their addresses, for assertions.
fn addresses(p: &mut Pair, server: bool) -> Vec<SocketAddr> {
    let c = if server { p.server() } else { p.client() };
    c.unwrap().paths().iter().map(|x| x.address).collect()
}

/// The client is multi-homed: what it sends to the server's second port leaves through
/// another public address (a NAT that maps each destination apart). The server learns that
/// address as a standby path without moving its traffic there, until the primary goes quiet.
//= docs/SPEC.md#multipath
//= type=test
//# While the primary path is not quiet, an endpoint MUST NOT move its traffic to an address a bare ping came from
#[test]
fn a_multihomed_peer_gives_the_other_side_a_standby_path_too() {
    let mut p = pair(6, ConnectionConfig::default());
    let (a, b) = (p.server_addr, second_port(&p));
    let (client, server, ca) = (p.client, p.server, p.client_addr);
    let ca2: SocketAddr = "192.0.2.2:50000".parse().unwrap();
    p.sim.alias(server, b);
    p.sim.alias(client, ca2);
    let dark = std::rc::Rc::new(std::cell::Cell::new(false));
    let hook = dark.clone();
    p.sim.set_tamper(move |pk, _| {
        if hook.get() && pk.to == a {
            return Verdict::Drop;
        }
        if pk.from == ca && pk.to == b {
            let mut moved = pk.clone();
            moved.from = ca2;
            return Verdict::Replace(vec![moved]);
        }
        Verdict::Deliver
    });
    let now = p.sim.now;
    p.client().unwrap().open_path(now, b).unwrap();
    let msgs = send_messages(&mut p, 50, 20_000);
    let mut got = Vec::new();
    let mut events = Vec::new();
    assert!(run(&mut p, 30 * SECOND, &mut events, |p| {
        read_sink(p, &mut got);
        got.len() >= 25
    }));
    // Both sides hold two paths; neither moved its traffic.
    assert_eq!(addresses(&mut p, false), vec![a, b]);
    assert_eq!(addresses(&mut p, true), vec![ca, ca2]);
    assert!(!moved(&events), "{events:?}");
    let srv_paths = p.server().unwrap().paths();
    assert!(srv_paths[1].validated, "{srv_paths:?}");
    assert!(srv_paths[1].metrics.min_rtt >= Duration::from_millis(40));
    // The client's primary port goes dark: the client fails over to the second port, and the
    // server, hearing only from the client's second address, moves there too.
    dark.set(true);
    assert!(run(&mut p, 60 * SECOND, &mut events, |p| {
        read_sink(p, &mut got);
        got.len() == msgs.len()
    }));
    assert_eq!(got, msgs);
    assert!(saw(&events, client, &Event::PathChanged { from: a, to: b }));
    assert!(saw(
        &events,
        server,
        &Event::PathChanged { from: ca, to: ca2 }
    ));
}

/// A server that answers from whichever of its ports it was last reached on (as a socket per
/// port does) does not drag the client's traffic to the port of its standby path.
#[test]
fn replies_from_another_port_do_not_move_a_path_this_side_opened() {
    let mut p = pair(7, ConnectionConfig::default());
    let (a, b) = (p.server_addr, second_port(&p));
    let server = p.server;
    p.sim.alias(server, b);
    // Every second packet of the server leaves from its second port.
    let mut flip = false;
    p.sim.set_tamper(move |pk, _| {
        if pk.from == a {
            flip = !flip;
            if flip {
                let mut moved = pk.clone();
                moved.from = b;
                return Verdict::Replace(vec![moved]);
            }
        }
        Verdict::Deliver
    });
    let now = p.sim.now;
    p.client().unwrap().open_path(now, b).unwrap();
    let msgs = send_messages(&mut p, 30, 20_000);
    let mut got = Vec::new();
    let mut events = Vec::new();
    assert!(run(&mut p, 60 * SECOND, &mut events, |p| {
        read_sink(p, &mut got);
        got.len() == msgs.len()
    }));
    assert_eq!(got, msgs);
    assert!(!moved(&events), "{events:?}");
    let paths = p.client().unwrap().paths();
    assert_eq!(paths[0].address, a);
    // What came from the second port is counted there.
    assert!(paths[1].metrics.packets_received > 5, "{paths:?}");
}
