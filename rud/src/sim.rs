//! A deterministic in-memory network of endpoints (SPEC section 5 tests, fuzzing, benches):
//! simulated time, latency, jitter (which reorders), loss, duplication, an MTU, address
//! changes, and hooks to capture, drop, alter or inject packets. Everything is driven by one
//! seed: the same seed and the same calls give the same run, octet for octet.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::endpoint::{ConnectionId, Endpoint, EndpointEvent};

/// Timer steps at one instant, with nothing delivered, after which the simulator reports a
/// livelock.
const LIVELOCK_STEPS: u32 = 10_000;

/// A small deterministic generator (SplitMix64): the simulator's only source of chance.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.next_u64() % 1000 < u64::from(per_mille)
    }

    /// A value in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// What the links do to packets.
#[derive(Debug, Clone, Copy)]
pub struct LinkConfig {
    /// One-way delay.
    pub latency: Duration,
    /// Extra delay drawn uniformly in `0..jitter` per packet (reorders packets).
    pub jitter: Duration,
    /// Packets lost, per mille.
    pub loss_per_mille: u32,
    /// Packets delivered twice, per mille.
    pub duplicate_per_mille: u32,
    /// Packets larger than this are dropped.
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            loss_per_mille: 0,
            duplicate_per_mille: 0,
            mtu: 1500,
        }
    }
}

/// A packet on the simulated wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// What a tamper hook decides for a packet leaving a node.
#[derive(Debug)]
pub enum Verdict {
    Deliver,
    Drop,
    /// Deliver these instead (altered, duplicated, or more).
    Replace(Vec<Packet>),
}

/// Counters of the simulated network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub too_big: u64,
    pub misaddressed: u64,
    pub injected: u64,
}

/// One endpoint at an address.
#[derive(Debug)]
pub struct Node {
    pub address: SocketAddr,
    /// Further addresses the node receives on (a host with several ports or interfaces);
    /// it always sends from `address`.
    pub aliases: Vec<SocketAddr>,
    pub endpoint: Endpoint,
}

type Tamper = Box<dyn FnMut(&Packet, &mut SimRng) -> Verdict>;

/// The simulator.
pub struct Sim {
    pub now: Duration,
    pub link: LinkConfig,
    pub nodes: Vec<Node>,
    pub stats: NetStats,
    rng: SimRng,
    queue: BTreeMap<(Duration, u64), Packet>,
    seq: u64,
    events: Vec<(usize, ConnectionId, EndpointEvent)>,
    capture: Option<Vec<(Duration, Packet)>>,
    tamper: Option<Tamper>,
    /// Steps in a row that neither advanced time nor delivered a packet.
    idle_steps: u32,
    livelock: bool,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("in_flight", &self.queue.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// An empty network at time `start` (time since the Unix epoch, as the endpoints see it).
    pub fn new(seed: u64, link: LinkConfig, start: Duration) -> Self {
        Self {
            now: start,
            link,
            nodes: Vec::new(),
            stats: NetStats::default(),
            rng: SimRng::new(seed),
            queue: BTreeMap::new(),
            seq: 0,
            events: Vec::new(),
            capture: None,
            tamper: None,
            idle_steps: 0,
            livelock: false,
        }
    }

    /// True once an endpoint kept asking for a timer that had already passed without anything
    /// changing (a bug the simulator stops at rather than spin forever).
    pub fn livelocked(&self) -> bool {
        self.livelock
    }

    /// Adds an endpoint at `address`; returns its index.
    pub fn add(&mut self, address: SocketAddr, endpoint: Endpoint) -> usize {
        self.nodes.push(Node {
            address,
            aliases: Vec::new(),
            endpoint,
        });
        self.nodes.len() - 1
    }

    /// Keeps a copy of every packet sent from now on.
    pub fn capture(&mut self) {
        self.capture = Some(Vec::new());
    }

    /// The packets captured so far.
    pub fn captured(&self) -> &[(Duration, Packet)] {
        self.capture.as_deref().unwrap_or_default()
    }

    /// Every packet leaving a node passes through `hook` first.
    pub fn set_tamper(&mut self, hook: impl FnMut(&Packet, &mut SimRng) -> Verdict + 'static) {
        self.tamper = Some(Box::new(hook));
    }

    pub fn clear_tamper(&mut self) {
        self.tamper = None;
    }

    /// Puts a packet on the wire as if sent now (after the link latency).
    pub fn inject(&mut self, packet: Packet) {
        self.stats.injected += 1;
        let at = self.now.saturating_add(self.link.latency);
        self.enqueue(at, packet);
    }

    /// Moves node `index` to a new address (NAT rebinding, a new network): packets to the old
    /// address are lost from now on.
    pub fn rebind(&mut self, index: usize, address: SocketAddr) {
        if let Some(n) = self.nodes.get_mut(index) {
            n.address = address;
        }
    }

    /// Makes node `index` receive on `address` too (a second port of the same host).
    pub fn alias(&mut self, index: usize, address: SocketAddr) {
        if let Some(n) = self.nodes.get_mut(index) {
            n.aliases.push(address);
        }
    }

    /// Stops node `index` receiving on alias `address` (that port went dark).
    pub fn unalias(&mut self, index: usize, address: SocketAddr) {
        if let Some(n) = self.nodes.get_mut(index) {
            n.aliases.retain(|a| *a != address);
        }
    }

    fn enqueue(&mut self, at: Duration, packet: Packet) {
        self.seq += 1;
        self.queue.insert((at, self.seq), packet);
    }

    fn send(&mut self, packet: Packet) {
        self.stats.sent += 1;
        if let Some(c) = self.capture.as_mut() {
            c.push((self.now, packet.clone()));
        }
        let packets = match self.tamper.as_mut() {
            None => vec![packet],
            Some(hook) => match hook(&packet, &mut self.rng) {
                Verdict::Deliver => vec![packet],
                Verdict::Drop => Vec::new(),
                Verdict::Replace(v) => v,
            },
        };
        for p in packets {
            if p.bytes.len() > self.link.mtu {
                self.stats.too_big += 1;
                continue;
            }
            if self.rng.chance(self.link.loss_per_mille) {
                self.stats.lost += 1;
                continue;
            }
            let copies = if self.rng.chance(self.link.duplicate_per_mille) {
                self.stats.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..copies {
                let jitter = self.rng.below(self.link.jitter.as_nanos() as u64);
                let at = self
                    .now
                    .saturating_add(self.link.latency)
                    .saturating_add(Duration::from_nanos(jitter));
                self.enqueue(at, p.clone());
            }
        }
    }

    /// Sends what every node has to send, then advances time to the next delivery or timer
    /// (but not past `limit`) and processes it. Returns false when nothing is left to happen
    /// before `limit`.
    pub fn step(&mut self, limit: Duration) -> bool {
        self.flush();
        let next_packet = self.queue.keys().next().map(|k| k.0);
        let next_timer = self
            .nodes
            .iter()
            .filter_map(|n| n.endpoint.poll_timeout())
            .min();
        let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
            return false;
        };
        if next > limit {
            self.now = limit;
            return false;
        }
        if next <= self.now && next_packet.is_none_or(|t| t > self.now) {
            self.idle_steps += 1;
            if self.idle_steps > LIVELOCK_STEPS {
                self.livelock = true;
                return false;
            }
        } else {
            self.idle_steps = 0;
        }
        self.now = self.now.max(next);
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let p = entry.remove();
            match self
                .nodes
                .iter()
                .position(|n| n.address == p.to || n.aliases.contains(&p.to))
            {
                Some(i) => {
                    self.stats.delivered += 1;
                    let now = self.now;
                    if let Some(n) = self.nodes.get_mut(i) {
                        n.endpoint.handle_datagram(now, p.from, &p.bytes);
                    }
                }
                None => self.stats.misaddressed += 1,
            }
        }
        let now = self.now;
        for n in &mut self.nodes {
            if n.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                n.endpoint.handle_timeout(now);
            }
        }
        self.flush();
        true
    }

    /// Sends everything the nodes have queued and collects their events.
    pub fn flush(&mut self) {
        let now = self.now;
        for i in 0..self.nodes.len() {
            while let Some((from, t)) = self
                .nodes
                .get_mut(i)
                .and_then(|n| Some((n.address, n.endpoint.poll_transmit(now)?)))
            {
                self.send(Packet {
                    from,
                    to: t.destination,
                    bytes: t.bytes,
                });
            }
            while let Some((c, e)) = self.nodes.get_mut(i).and_then(|n| n.endpoint.poll_event()) {
                self.events.push((i, c, e));
            }
        }
    }

    /// Events collected since the last call: (node index, connection, event).
    pub fn take_events(&mut self) -> Vec<(usize, ConnectionId, EndpointEvent)> {
        std::mem::take(&mut self.events)
    }

    /// Packets in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

/// Which key exchange a [`Pair`] opens its connection with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairMode {
    FirstContact,
    Immediate,
    Deferred,
}

/// How to build a [`Pair`].
#[derive(Debug, Clone)]
pub struct PairConfig {
    pub seed: u64,
    pub link: LinkConfig,
    pub mode: PairMode,
    /// Configuration of both connections (the responder's device key is added).
    pub connection: crate::connection::ConnectionConfig,
    /// The first stream: its service, kind and first message (carried by the handshake).
    pub service: String,
    pub transactional: bool,
    pub first_message: Vec<u8>,
    /// The crypto provider of both endpoints (default: the RustCrypto one); tests plug in a
    /// counting or seal-auditing provider here.
    pub provider: Option<std::sync::Arc<dyn crate::crypto::CryptoProvider>>,
    /// Key log of both handshakes (the connections log through `connection.keylog`).
    pub keylog: Option<std::sync::Arc<dyn crate::crypto::keylog::KeyLog>>,
}

impl Default for PairConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            link: LinkConfig::default(),
            mode: PairMode::Immediate,
            connection: crate::connection::ConnectionConfig::default(),
            service: "echo".into(),
            transactional: true,
            first_message: b"hello".to_vec(),
            provider: None,
            keylog: None,
        }
    }
}

/// A client and a server endpoint on one simulated network, the client connecting.
#[derive(Debug)]
pub struct Pair {
    pub sim: Sim,
    pub client: usize,
    pub server: usize,
    /// The client's connection (set once the handshake started).
    pub client_conn: ConnectionId,
    /// The server's connection, once established.
    pub server_conn: Option<ConnectionId>,
    pub client_addr: SocketAddr,
    pub server_addr: SocketAddr,
    /// Events seen while establishing (and by [`Pair::run`]), for the test to inspect.
    pub log: Vec<(usize, ConnectionId, EndpointEvent)>,
}

/// The time the simulator starts at (an arbitrary, fixed Unix time).
pub const SIM_EPOCH: Duration = Duration::from_secs(1_800_000_000);

impl Pair {
    /// Builds both endpoints from `cfg.seed` and starts the handshake.
    ///
    /// # Errors
    /// A message when the handshake cannot start.
    pub fn new(cfg: PairConfig) -> Result<Self, String> {
        use crate::crypto::x448::X448Secret;
        use crate::endpoint::EndpointConfig;
        use crate::handshake::{
            DeferPolicy, Entropy, Initiator, InitiatorConfig, ResponderConfig, SeededEntropy,
        };
        let provider = cfg
            .provider
            .clone()
            .unwrap_or_else(crate::crypto::default_provider);
        let mut rng = SeededEntropy::new(&cfg.seed.to_be_bytes());
        let r_key = X448Secret::generate(|b| rng.fill(b));
        let i_key = X448Secret::generate(|b| rng.fill(b));
        let mut rcfg = ResponderConfig::new(provider.clone(), r_key.clone());
        if cfg.mode == PairMode::Deferred {
            rcfg.defer = DeferPolicy::Always;
        }
        if let Some(log) = &cfg.keylog {
            rcfg.keylog = log.clone();
        }
        // Started a while ago, so the strike register accepts early data.
        let responder =
            Endpoint::responder(rcfg, SIM_EPOCH.saturating_sub(Duration::from_secs(60)))
                .map_err(|e| e.to_string())?;
        let r_pub = responder.public_key().cloned();
        let mut server_conn_cfg = cfg.connection.clone();
        server_conn_cfg.device_keys = vec![r_key];
        let mut seed = [0u8; 32];
        rng.fill(&mut seed);
        let server = Endpoint::new(
            EndpointConfig {
                connection: server_conn_cfg,
                ..EndpointConfig::default()
            },
            provider.clone(),
            Some(responder),
            Box::new(SeededEntropy::new(&seed)),
        );
        rng.fill(&mut seed);
        let mut client = Endpoint::new(
            EndpointConfig {
                connection: cfg.connection.clone(),
                ..EndpointConfig::default()
            },
            provider.clone(),
            None,
            Box::new(SeededEntropy::new(&seed)),
        );
        let client_addr: SocketAddr = "192.0.2.1:40000".parse().map_err(|_| "address")?;
        let server_addr: SocketAddr = "198.51.100.7:21077".parse().map_err(|_| "address")?;
        let mut icfg = InitiatorConfig::new(provider, i_key);
        icfg.service = cfg.service.clone();
        icfg.transactional = cfg.transactional;
        icfg.retransmit_after = Duration::from_millis(300);
        icfg.max_attempts = 12;
        if let Some(log) = &cfg.keylog {
            icfg.keylog = log.clone();
        }
        let mode = cfg.mode;
        let request = cfg.first_message.clone();
        let now = SIM_EPOCH;
        let client_conn = client
            .connect(|rng| match mode {
                PairMode::FirstContact => {
                    Initiator::first_contact(icfg, rng, now, server_addr, b"", &request)
                }
                PairMode::Immediate | PairMode::Deferred => {
                    let mut icfg = icfg;
                    icfg.responder_key = r_pub;
                    Initiator::immediate(icfg, rng, now, server_addr, &request)
                }
            })
            .map_err(|e| e.to_string())?;
        let mut sim = Sim::new(cfg.seed, cfg.link, now);
        let client = sim.add(client_addr, client);
        let server = sim.add(server_addr, server);
        Ok(Self {
            sim,
            client,
            server,
            client_conn,
            server_conn: None,
            client_addr,
            server_addr,
            log: Vec::new(),
        })
    }

    /// Runs until both sides hold an established connection.
    ///
    /// # Errors
    /// A message when the handshake failed or did not finish within `limit` of simulated
    /// time.
    pub fn establish(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = self.sim.now.saturating_add(limit);
        let mut client_up = false;
        loop {
            let progressed = self.sim.step(deadline);
            for (node, c, e) in self.sim.take_events() {
                match &e {
                    EndpointEvent::Connected { .. } if node == self.server => {
                        self.server_conn = Some(c)
                    }
                    EndpointEvent::Connected { .. } => client_up = true,
                    EndpointEvent::HandshakeFailed(err) => return Err(err.to_string()),
                    _ => {}
                }
                self.log.push((node, c, e));
            }
            if client_up && self.server_conn.is_some() {
                return Ok(());
            }
            if !progressed {
                return Err(format!("not established after {limit:?}"));
            }
        }
    }

    /// The client's connection.
    pub fn client(&mut self) -> Option<&mut crate::connection::Connection> {
        let id = self.client_conn;
        self.sim.nodes.get_mut(self.client)?.endpoint.connection(id)
    }

    /// The server's connection.
    pub fn server(&mut self) -> Option<&mut crate::connection::Connection> {
        let id = self.server_conn?;
        self.sim.nodes.get_mut(self.server)?.endpoint.connection(id)
    }

    /// Steps until `done` says so or `limit` of simulated time passes; `on_event` sees every
    /// event (node, connection, event) and may act on the pair. Returns whether `done` held.
    pub fn run(
        &mut self,
        limit: Duration,
        mut on_event: impl FnMut(&mut Pair, usize, EndpointEvent),
        mut done: impl FnMut(&mut Pair) -> bool,
    ) -> bool {
        let deadline = self.sim.now.saturating_add(limit);
        loop {
            if done(self) {
                return true;
            }
            let progressed = self.sim.step(deadline);
            for (node, _, e) in self.sim.take_events() {
                on_event(self, node, e);
            }
            if !progressed {
                return done(self);
            }
        }
    }
}
