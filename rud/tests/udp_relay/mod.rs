//! An in-process lossy UDP relay between real sockets, for the end-to-end tests: clients send
//! to the relay's address, and it forwards to the server from one socket per client (like a
//! NAT), losing, duplicating, delaying and reordering packets by a seeded generator. With
//! `rebind_every` it replaces each client's outward socket now and then (a NAT rebinding: the
//! server sees the client at a new port). The old mapping still forwards for
//! `rebind_overlap`, then packets to it are lost.
#![allow(dead_code)]
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rud::sim::SimRng;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    pub seed: u64,
    pub loss_per_mille: u32,
    pub duplicate_per_mille: u32,
    pub delay: Duration,
    /// Extra delay drawn in `0..jitter` per packet: reorders.
    pub jitter: Duration,
    pub rebind_every: Option<Duration>,
    pub rebind_overlap: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub forwarded: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub rebinds: u64,
    /// Packets that arrived at an outward socket whose mapping expired (lost).
    pub stale: u64,
    /// Packets from the server that reached a client through a rebound mapping: the server
    /// moved to the client's new address.
    pub via_rebound: u64,
}

enum Input {
    FromClient(SocketAddr, Vec<u8>),
    FromServer(SocketAddr, u64, Vec<u8>),
}

struct Back {
    socket: Arc<UdpSocket>,
    generation: u64,
    rebound: bool,
    reader: JoinHandle<()>,
}

pub struct Relay {
    pub addr: SocketAddr,
    stats: Arc<Mutex<RelayStats>>,
    rebinding: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

fn reader(
    socket: Arc<UdpSocket>,
    tx: mpsc::UnboundedSender<Input>,
    wrap: impl Fn(SocketAddr, Vec<u8>) -> Input + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            if tx.send(wrap(from, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    })
}

impl Relay {
    /// Relays to `server` from a new loopback address.
    pub async fn start(server: SocketAddr, cfg: RelayConfig) -> Relay {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("relay bind"));
        let addr = front.local_addr().expect("relay address");
        let stats = Arc::new(Mutex::new(RelayStats::default()));
        let (tx, rx) = mpsc::unbounded_channel();
        let front_reader = reader(front.clone(), tx.clone(), Input::FromClient);
        let rebinding = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run(
            front,
            front_reader,
            server,
            cfg,
            (tx, rx),
            stats.clone(),
            rebinding.clone(),
        ));
        Relay {
            addr,
            stats,
            rebinding,
            task,
        }
    }

    /// Starts the rebinding of `rebind_every` (a handshake in flight would not survive one:
    /// its cookie and reply are bound to the address it came from).
    pub fn start_rebinding(&self) {
        self.rebinding.store(true, Ordering::Relaxed);
    }

    pub fn stats(&self) -> RelayStats {
        *self.stats.lock().expect("relay stats")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    front: Arc<UdpSocket>,
    front_reader: JoinHandle<()>,
    server: SocketAddr,
    cfg: RelayConfig,
    (tx, mut rx): (mpsc::UnboundedSender<Input>, mpsc::UnboundedReceiver<Input>),
    stats: Arc<Mutex<RelayStats>>,
    rebinding: Arc<AtomicBool>,
) {
    let mut rng = SimRng::new(cfg.seed);
    let mut backs: HashMap<SocketAddr, Back> = HashMap::new();
    // Replaced mappings that still forward until their expiry.
    let mut old: Vec<(SocketAddr, Back, Instant)> = Vec::new();
    let mut generation = 0u64;
    // (due, seq) -> (to the server?, client, octets)
    let mut queue: BTreeMap<(Instant, u64), (bool, SocketAddr, Vec<u8>)> = BTreeMap::new();
    let mut seq = 0u64;
    let mut next_rebind = cfg.rebind_every.map(|d| Instant::now() + d);
    let _keep = front_reader;
    loop {
        let next_due = queue.keys().next().map(|k| k.0);
        let wake = [next_due, next_rebind].into_iter().flatten().min();
        let sleep = tokio::time::sleep_until(
            wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
        );
        tokio::select! {
            input = rx.recv() => {
                let Some(input) = input else { return };
                let (to_server, client, bytes) = match input {
                    Input::FromClient(c, b) => (true, c, b),
                    Input::FromServer(c, g, b) => {
                        let now = Instant::now();
                        old.retain(|(_, b, until)| {
                            let keep = *until > now;
                            if !keep {
                                b.reader.abort();
                            }
                            keep
                        });
                        let current = backs.get(&c).map(|b| b.generation) == Some(g);
                        if !current && !old.iter().any(|(_, b, _)| b.generation == g) {
                            stats.lock().expect("stats").stale += 1;
                            continue;
                        }
                        if current && backs.get(&c).is_some_and(|b| b.rebound) {
                            stats.lock().expect("stats").via_rebound += 1;
                        }
                        (false, c, b)
                    }
                };
                if to_server && !backs.contains_key(&client) {
                    generation += 1;
                    backs.insert(client, new_back(client, generation, &tx).await);
                }
                let mut s = stats.lock().expect("stats");
                if rng.chance(cfg.loss_per_mille) {
                    s.lost += 1;
                    continue;
                }
                let copies = if rng.chance(cfg.duplicate_per_mille) { s.duplicated += 1; 2 } else { 1 };
                for _ in 0..copies {
                    let jitter = Duration::from_nanos(rng.below(cfg.jitter.as_nanos() as u64));
                    seq += 1;
                    queue.insert((Instant::now() + cfg.delay + jitter, seq), (to_server, client, bytes.clone()));
                }
            }
            () = sleep, if wake.is_some() => {
                let now = Instant::now();
                if next_rebind.is_some_and(|t| t <= now) && rebinding.load(Ordering::Relaxed) {
                    let clients: Vec<SocketAddr> = backs.keys().copied().collect();
                    for c in clients {
                        generation += 1;
                        let mut fresh = new_back(c, generation, &tx).await;
                        fresh.rebound = true;
                        if let Some(b) = backs.insert(c, fresh) {
                            old.push((c, b, now + cfg.rebind_overlap));
                        }
                        stats.lock().expect("stats").rebinds += 1;
                    }
                    next_rebind = cfg.rebind_every.map(|d| now + d);
                } else if next_rebind.is_some_and(|t| t <= now) {
                    next_rebind = cfg.rebind_every.map(|d| now + d);
                }
                while let Some(e) = queue.first_entry() {
                    if e.key().0 > now {
                        break;
                    }
                    let (to_server, client, bytes) = e.remove();
                    let sent = if to_server {
                        match backs.get(&client) {
                            Some(b) => b.socket.send_to(&bytes, server).await.is_ok(),
                            None => false,
                        }
                    } else {
                        front.send_to(&bytes, client).await.is_ok()
                    };
                    if sent {
                        stats.lock().expect("stats").forwarded += 1;
                    }
                }
            }
        }
    }
}

async fn new_back(client: SocketAddr, generation: u64, tx: &mpsc::UnboundedSender<Input>) -> Back {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("relay bind"));
    let r = reader(socket.clone(), tx.clone(), move |_, b| {
        Input::FromServer(client, generation, b)
    });
    Back {
        socket,
        generation,
        rebound: false,
        reader: r,
    }
}
