//! The connection/streams target: `(Params, Vec<Op>)` drive two endpoints over the seeded
//! simulator (send, lose, reorder, duplicate, migrate, replay, forge, restart, rekey, close,
//! abandon, advance time), and after every step the invariants hold:
//!
//! - every message the server's application reads is one the client sent, byte for byte, read
//!   at most once, and in order on its stream (forged, altered or replayed packets never turn
//!   into a delivery: the AEAD is the real one, only the key agreement is the insecure XOR);
//! - every response the client reads answers the request with the same id;
//! - what either side buffers stays within its configured bounds.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::connection::{ConnectionConfig, StreamHandle, StreamKind};
use crate::crypto::CryptoProvider;
use crate::crypto::insecure::FastAgreementProvider;
use crate::service::ServiceHost;
use crate::sim::{LinkConfig, Packet, Pair, PairConfig, PairMode};

/// Network and connection parameters of one run.
#[derive(Debug, Arbitrary)]
pub struct Params {
    loss_per_mille: u8,
    duplicate_per_mille: u8,
    jitter_ms: u8,
    latency_ms: u8,
    mode: u8,
    one_time_ids: bool,
    small_datagrams: bool,
    seed: u16,
}

/// One step.
#[derive(Debug, Arbitrary)]
pub enum Op {
    Open {
        transactional: bool,
    },
    Send {
        stream: u8,
        len: u16,
    },
    Advance {
        ms: u16,
    },
    Migrate {
        port: u16,
    },
    Replay {
        index: u16,
    },
    Forge {
        index: u16,
        at: u16,
        xor: u8,
    },
    Truncate {
        index: u16,
        keep: u16,
    },
    Restart {
        stream: u8,
        rekey: bool,
    },
    Rekey,
    CloseStream {
        stream: u8,
    },
    Abandon {
        stream: u8,
    },
    /// The server gains a second port and the client opens a standby path to it.
    OpenPath {
        port: u8,
    },
    /// One of the server's extra ports goes dark.
    DarkPort {
        port: u8,
    },
}

/// The server's extra port `port` (four of them at most).
fn server_port(p: &Pair, port: u8) -> std::net::SocketAddr {
    std::net::SocketAddr::new(p.server_addr.ip(), 30_000 + u16::from(port % 4))
}

const MAX_OPS: usize = 64;
const STREAM_WINDOW: u64 = 1 << 20;
const MAX_SEND_BUFFER: usize = 4 << 20;

/// Message octets: client stream handle, sequence number, then filler derived from both, so a
/// reader can tell exactly which message it holds.
fn message(stream: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + len);
    m.extend_from_slice(&stream.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend((0..len).map(|i| (i as u64 ^ stream ^ seq.rotate_left(7)) as u8));
    m
}

/// Runs one input.
pub fn connection(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(params) = Params::arbitrary(&mut u) else {
        return;
    };
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    run(&params, &ops);
}

struct State {
    /// (client stream, seq) -> message sent.
    sent: BTreeMap<(u64, u64), Vec<u8>>,
    /// Server side: messages read, and the last sequence per client stream.
    delivered: BTreeSet<(u64, u64)>,
    last_seq: BTreeMap<u64, u64>,
    /// Client side: request id -> request, for transactional streams.
    requests: BTreeMap<(u64, u64), Vec<u8>>,
    streams: Vec<(StreamHandle, StreamKind)>,
    next_seq: BTreeMap<u64, u64>,
    host: ServiceHost,
}

#[allow(clippy::panic)] // a broken invariant is the finding
fn run(params: &Params, ops: &[Op]) {
    let provider: Arc<dyn CryptoProvider> = Arc::new(FastAgreementProvider);
    let connection = ConnectionConfig {
        one_time_ids: if params.one_time_ids { 3 } else { 0 },
        max_datagram_payload: if params.small_datagrams {
            700
        } else {
            8 * 1024
        },
        stream_window: STREAM_WINDOW,
        max_message_size: STREAM_WINDOW as usize,
        connection_window: 4 * STREAM_WINDOW,
        max_send_buffer: MAX_SEND_BUFFER,
        max_streams: 16,
        ..ConnectionConfig::default()
    };
    let link = LinkConfig {
        latency: Duration::from_millis(1 + u64::from(params.latency_ms % 100)),
        jitter: Duration::from_millis(u64::from(params.jitter_ms % 50)),
        loss_per_mille: u32::from(params.loss_per_mille) % 400,
        duplicate_per_mille: u32::from(params.duplicate_per_mille) % 200,
        mtu: 1500,
    };
    let mode = match params.mode % 3 {
        0 => PairMode::FirstContact,
        1 => PairMode::Immediate,
        _ => PairMode::Deferred,
    };
    let Ok(mut p) = Pair::new(PairConfig {
        seed: u64::from(params.seed),
        link,
        mode,
        connection,
        provider: Some(provider),
        ..PairConfig::default()
    }) else {
        return;
    };
    p.sim.capture();
    if p.establish(Duration::from_secs(60)).is_err() {
        return;
    }
    let mut st = State {
        sent: BTreeMap::new(),
        delivered: BTreeSet::new(),
        last_seq: BTreeMap::new(),
        requests: BTreeMap::new(),
        streams: Vec::new(),
        next_seq: BTreeMap::new(),
        host: ServiceHost::with_builtins(None),
    };
    for op in ops {
        apply(&mut p, &mut st, op);
        step(&mut p, &mut st, Duration::from_millis(5));
    }
    step(&mut p, &mut st, Duration::from_secs(20));
}

fn pick(st: &State, i: u8) -> Option<(StreamHandle, StreamKind)> {
    if st.streams.is_empty() {
        return None;
    }
    st.streams.get(usize::from(i) % st.streams.len()).copied()
}

fn captured(p: &Pair, index: u16) -> Option<Packet> {
    let c = p.sim.captured();
    if c.is_empty() {
        return None;
    }
    c.get(usize::from(index) % c.len())
        .map(|(_, pk)| pk.clone())
}

fn apply(p: &mut Pair, st: &mut State, op: &Op) {
    let now = p.sim.now;
    match *op {
        Op::Open { transactional } => {
            let (kind, service) = if transactional {
                (StreamKind::Transactional, "echo")
            } else {
                (StreamKind::Asynchronous, "discard")
            };
            if let Some(c) = p.client()
                && let Ok(h) = c.open(kind, service, vec![])
            {
                st.streams.push((h, kind));
            }
        }
        Op::Send { stream, len } => {
            let Some((h, kind)) = pick(st, stream) else {
                return;
            };
            let seq = *st.next_seq.get(&h.0).unwrap_or(&0);
            let m = message(h.0, seq, usize::from(len % 20_000));
            if let Some(c) = p.client()
                && let Ok(id) = c.send(h, m.clone())
            {
                st.next_seq.insert(h.0, seq + 1);
                match kind {
                    StreamKind::Transactional => {
                        st.requests.insert((h.0, id), m);
                    }
                    StreamKind::Asynchronous => {
                        st.sent.insert((h.0, seq), m);
                    }
                }
            }
        }
        Op::Advance { ms } => {
            let limit = Duration::from_millis(u64::from(ms % 5000));
            step(p, st, limit);
        }
        Op::Migrate { port } => {
            let addr = std::net::SocketAddr::from(([192, 0, 2, 1], 1024 + port % 60000));
            let client = p.client;
            p.sim.rebind(client, addr);
        }
        Op::Replay { index } => {
            if let Some(pk) = captured(p, index) {
                p.sim.inject(pk);
            }
        }
        Op::Forge { index, at, xor } => {
            if let Some(mut pk) = captured(p, index) {
                let n = pk.bytes.len().max(1);
                if let Some(b) = pk.bytes.get_mut(usize::from(at) % n) {
                    *b ^= xor.max(1);
                    p.sim.inject(pk);
                }
            }
        }
        Op::Truncate { index, keep } => {
            if let Some(mut pk) = captured(p, index) {
                pk.bytes.truncate(usize::from(keep) % (pk.bytes.len() + 1));
                p.sim.inject(pk);
            }
        }
        Op::Restart { stream, rekey } => {
            if let Some((h, _)) = pick(st, stream)
                && let Some(c) = p.client()
            {
                let _ = c.restart(h, rekey, None);
            }
        }
        Op::Rekey => {
            if let Some(c) = p.client() {
                let _ = c.rekey(now);
            }
        }
        Op::CloseStream { stream } => {
            if let Some((h, _)) = pick(st, stream)
                && let Some(c) = p.client()
            {
                let _ = c.close_stream(h, 0, "fuzz");
            }
        }
        Op::Abandon { stream } => {
            if let Some((h, _)) = pick(st, stream)
                && let Some(c) = p.client()
            {
                c.abandon(h);
            }
        }
        Op::OpenPath { port } => {
            let addr = server_port(p, port);
            let server = p.server;
            p.sim.unalias(server, addr);
            p.sim.alias(server, addr);
            if let Some(c) = p.client() {
                let _ = c.open_path(now, addr);
            }
        }
        Op::DarkPort { port } => {
            let addr = server_port(p, port);
            let server = p.server;
            p.sim.unalias(server, addr);
        }
    }
}

/// Runs the simulation for `limit` and checks every delivery.
#[allow(clippy::panic)]
fn step(p: &mut Pair, st: &mut State, limit: Duration) {
    p.run(limit, |_, _, _| {}, |_| false);
    if p.sim.livelocked() {
        panic!("an endpoint asks for a timer already past and nothing changes (livelock)");
    }
    // The server's application: echo answers requests; asynchronous messages are checked.
    if let Some(srv) = p.server() {
        let streams: Vec<_> = srv
            .streams()
            .filter(|x| x.1 == StreamKind::Asynchronous)
            .map(|x| x.0)
            .collect();
        for h in streams {
            while let Some(m) = srv.read(h) {
                check_delivery(st, &m.bytes);
            }
        }
        let _ = st.host.pump(1, srv);
        let (recv, _) = srv.buffered();
        // Every stream's window plus the reassembly bound of each stream half.
        let bound = 16 * (STREAM_WINDOW as usize + 2 * (4 << 20)) + (4 << 20);
        if recv > bound {
            panic!("server buffers {recv} octets, above {bound}");
        }
    }
    if let Some(c) = p.client() {
        let (_, send) = c.buffered();
        if send > MAX_SEND_BUFFER + (1 << 20) {
            panic!("client send buffer {send} above its bound");
        }
        let tx: Vec<StreamHandle> = st
            .streams
            .iter()
            .filter(|x| x.1 == StreamKind::Transactional)
            .map(|x| x.0)
            .collect();
        for h in tx {
            while let Some(m) = c.read(h) {
                match st.requests.remove(&(h.0, m.id)) {
                    Some(req) if req == m.bytes => {}
                    Some(_) => panic!(
                        "response {} on stream {} differs from its request",
                        m.id, h.0
                    ),
                    None => panic!("response {} on stream {} answers nothing sent", m.id, h.0),
                }
            }
        }
    }
}

#[allow(clippy::panic)]
fn check_delivery(st: &mut State, bytes: &[u8]) {
    let (Some(s), Some(q)) = (bytes.get(..8), bytes.get(8..16)) else {
        panic!(
            "delivered a message of {} octets that was never sent",
            bytes.len()
        );
    };
    let stream = u64::from_be_bytes(s.try_into().unwrap_or_default());
    let seq = u64::from_be_bytes(q.try_into().unwrap_or_default());
    match st.sent.get(&(stream, seq)) {
        Some(m) if m.as_slice() == bytes => {}
        Some(_) => panic!("message {seq} of stream {stream} delivered altered"),
        None => panic!("message {seq} of stream {stream} delivered but never sent"),
    }
    if !st.delivered.insert((stream, seq)) {
        panic!("message {seq} of stream {stream} delivered twice");
    }
    if let Some(&last) = st.last_seq.get(&stream)
        && seq <= last
    {
        panic!("message {seq} of stream {stream} delivered after {last}");
    }
    st.last_seq.insert(stream, seq);
}
