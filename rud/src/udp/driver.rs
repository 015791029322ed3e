//! The driver task: owns the [`Endpoint`], its sockets, its timer and its records, and runs
//! one loop: wait for a command, a datagram or the endpoint's timeout; feed it in; then send
//! what the endpoint has, dispatch its events, let the services answer, and repeat.
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::clock::Clock;
use super::command::{Command, Connected, Reply};
use super::config::{ConnectMode, ConnectOptions, UdpConfig};
use super::error::UdpError;
use super::handle::{ConnEvent, ConnectionInfo, ConnectionMetrics, EndpointMetrics};
use super::keylog_tee::TeeKeyLog;
use super::recorder::Recorder;
use super::sockets::{RECV_BUFFER, Sockets};
use super::transport::Transport;
use crate::connection::{Connection, Event, StreamHandle, StreamKind};
use crate::crypto::CryptoProvider;
use crate::crypto::keylog::KeyLog;
use crate::crypto::x448::{X448PublicKey, X448Secret};
use crate::endpoint::{ConnectionId, Endpoint, EndpointEvent};
use crate::handshake::{
    Entropy, HandshakeError, Initiator, InitiatorConfig, Mode, OsEntropy, Responder,
    ResponderConfig, Role,
};
use crate::service::{ServiceHost, StreamRef};
use crate::wire::ErrorCode;

/// Datagrams sent in one go before the driver looks at its sockets and commands again.
const SEND_BUDGET: usize = 256;
/// Datagrams read in one go (after the one that woke the driver) before answering.
const RECV_BATCH: usize = 64;

pub struct Started {
    pub tx: mpsc::UnboundedSender<Command>,
    pub locals: Vec<SocketAddr>,
    pub public_key: Option<X448PublicKey>,
    pub task: JoinHandle<()>,
}

/// A connect waiting for its handshake.
struct Connecting {
    peer: SocketAddr,
    options: ConnectOptions,
    reply: Reply<Connected>,
    /// First Contact: the key and Hello answer the Challenge presented.
    learned: Option<(X448PublicKey, Vec<u8>)>,
}

/// A message waiting for send-buffer space.
struct Blocked {
    stream: StreamHandle,
    bytes: Vec<u8>,
    reply: BlockedReply,
}

enum BlockedReply {
    Send(Reply<u64>),
    Request(Reply<Vec<u8>>),
}

/// What the driver keeps for each established connection.
struct AppConn {
    role: Role,
    events: Option<mpsc::UnboundedSender<ConnEvent>>,
    requests: HashMap<(StreamHandle, u64), Reply<Vec<u8>>>,
    /// Responses nobody reads: the empty answer to early data the responder refused.
    skip: HashSet<(StreamHandle, u64)>,
    blocked: VecDeque<Blocked>,
    flushes: Vec<(StreamHandle, Reply<()>)>,
    closes: Vec<Reply<()>>,
    /// Streams the peer opened (a server tells its services when they end).
    peer_streams: Vec<StreamHandle>,
    /// The services have messages to read.
    pump: bool,
}

impl AppConn {
    fn new(role: Role, events: Option<mpsc::UnboundedSender<ConnEvent>>) -> Self {
        Self {
            role,
            events,
            requests: HashMap::new(),
            skip: HashSet::new(),
            blocked: VecDeque::new(),
            flushes: Vec::new(),
            closes: Vec::new(),
            peer_streams: vec![StreamHandle(0)],
            pump: false,
        }
    }

    fn emit(&self, e: ConnEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }

    /// Fails everything waiting on `stream` (every stream when `None`).
    fn fail(&mut self, stream: Option<StreamHandle>, err: impl Fn() -> UdpError) {
        let on = |s: StreamHandle| stream.is_none_or(|x| x == s);
        let keys: Vec<_> = self.requests.keys().filter(|k| on(k.0)).copied().collect();
        for k in keys {
            if let Some(r) = self.requests.remove(&k) {
                let _ = r.send(Err(err()));
            }
        }
        let (gone, kept): (Vec<_>, Vec<_>) = self.blocked.drain(..).partition(|b| on(b.stream));
        self.blocked = kept.into();
        for b in gone {
            match b.reply {
                BlockedReply::Send(r) => drop(r.send(Err(err()))),
                BlockedReply::Request(r) => drop(r.send(Err(err()))),
            }
        }
        let (gone, kept): (Vec<_>, Vec<_>) = self.flushes.drain(..).partition(|f| on(f.0));
        self.flushes = kept;
        for (_, r) in gone {
            let _ = r.send(Err(err()));
        }
    }
}

struct Shutdown {
    deadline: Duration,
    replies: Vec<Reply<()>>,
}

struct Driver {
    endpoint: Endpoint,
    clock: Clock,
    sockets: Transport,
    commands: mpsc::UnboundedReceiver<Command>,
    commands_closed: bool,
    services: Option<ServiceHost>,
    provider: Arc<dyn CryptoProvider>,
    identity: X448Secret,
    keylog: Option<Arc<dyn KeyLog>>,
    recorder: Recorder,
    max_send_buffer: usize,
    grace: Duration,
    connecting: HashMap<ConnectionId, Connecting>,
    conns: HashMap<ConnectionId, AppConn>,
    /// Connections with blocked sends or flushes to look at after every round.
    waiting: BTreeSet<ConnectionId>,
    metrics: EndpointMetrics,
    shutdown: Option<Shutdown>,
    /// The send budget ran out: go round again at once.
    more_to_send: bool,
}

/// Builds the endpoint and spawns its driver on the current runtime.
///
/// # Errors
/// Binding, the responder's configuration and the qlog directory.
pub fn start(addrs: &[SocketAddr], config: UdpConfig) -> Result<Started, UdpError> {
    start_on(Transport::Udp(Sockets::bind(addrs)?), config)
}

/// The same over any transport (the HTTP binding's link).
pub fn start_on(sockets: Transport, config: UdpConfig) -> Result<Started, UdpError> {
    let clock = Clock::new();
    let now = clock.now();
    let tee = Arc::new(TeeKeyLog::new(config.keylog.clone(), config.pcap.is_some()));
    let keylog: Option<Arc<dyn KeyLog>> = tee.is_active().then(|| tee.clone() as Arc<dyn KeyLog>);
    let provider = config.provider.clone();
    let mut ecfg = config.endpoint.clone();
    if let Some(k) = &keylog {
        ecfg.connection.keylog = k.clone();
    }
    let mut services = None;
    let mut responder = None;
    if let Some(server) = config.server {
        let first = server
            .keys
            .first()
            .cloned()
            .ok_or(UdpError::Responder(HandshakeError::UnknownKeyId))?;
        let mut rcfg = ResponderConfig::new(provider.clone(), first);
        rcfg.keys = server.keys.clone();
        rcfg.defer = server.defer;
        rcfg.ticket_keys = server.ticket_keys;
        rcfg.host_id = server.host_id;
        rcfg.hello_payload = server.services.names().join(" ").into_bytes();
        if let Some(k) = &keylog {
            rcfg.keylog = k.clone();
        }
        // Fresh keys cannot have seen an Exchange before now: skip the strike register's
        // warm-up (two windows) by starting it that far back.
        let started = if server.keys_are_new {
            now.saturating_sub(rcfg.early_window.saturating_mul(2) + Duration::from_secs(1))
        } else {
            now
        };
        ecfg.connection.device_keys = server.keys;
        ecfg.connection.services = Some(server.services.names());
        responder = Some(Responder::new(rcfg, started).map_err(UdpError::Responder)?);
        services = Some(server.services);
    }
    let public_key = responder.as_ref().and_then(|r| r.public_key().copied());
    let max_send_buffer = ecfg.connection.max_send_buffer;
    let endpoint = Endpoint::new(ecfg, provider.clone(), responder, Box::new(OsEntropy));
    let identity = config
        .identity
        .unwrap_or_else(|| X448Secret::generate(|b| OsEntropy.fill(b)));
    let recorder = Recorder::new(config.pcap, tee, config.qlog_dir)?;
    let (tx, commands) = mpsc::unbounded_channel();
    let locals = sockets.local_addrs();
    let driver = Driver {
        endpoint,
        clock,
        sockets,
        commands,
        commands_closed: false,
        services,
        provider,
        identity,
        keylog,
        recorder,
        max_send_buffer,
        grace: config.shutdown_grace,
        connecting: HashMap::new(),
        conns: HashMap::new(),
        waiting: BTreeSet::new(),
        metrics: EndpointMetrics::default(),
        shutdown: None,
        more_to_send: false,
    };
    let task = tokio::spawn(driver.run());
    Ok(Started {
        tx,
        locals,
        public_key,
        task,
    })
}

fn handshake_error(peer: SocketAddr, e: HandshakeError) -> UdpError {
    match e {
        HandshakeError::WrongResponderKey => UdpError::WrongResponderKey { peer },
        source => UdpError::Handshake { peer, source },
    }
}

impl Driver {
    async fn run(mut self) {
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            if self.finished() {
                break;
            }
            let deadline = if self.more_to_send {
                Some(self.clock.now())
            } else {
                [
                    self.endpoint.poll_timeout(),
                    self.shutdown.as_ref().map(|s| s.deadline),
                ]
                .into_iter()
                .flatten()
                .min()
            };
            let wake = self.clock.instant(deadline.unwrap_or(Duration::MAX));
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(wake));
            tokio::select! {
                biased;
                cmd = self.commands.recv(), if !self.commands_closed => match cmd {
                    Some(c) => self.command(c),
                    None => {
                        // Every handle is gone: nobody can use the endpoint any more.
                        self.commands_closed = true;
                        self.begin_shutdown(None);
                    }
                },
                (i, r) = self.sockets.recv(&mut buf) => {
                    self.received(i, r, &buf);
                    self.drain_sockets(&mut buf);
                },
                () = sleep, if deadline.is_some() => {
                    self.endpoint.handle_timeout(self.clock.now());
                }
            }
            self.process().await;
        }
        let result = self.recorder.finish(self.clock.now());
        let transport = self.sockets.finish_capture().map_err(UdpError::Capture);
        let result = result.and(transport);
        let replies = self.shutdown.take().map(|s| s.replies).unwrap_or_default();
        let mut result = Some(result);
        for r in replies {
            let _ = r.send(result.take().unwrap_or(Ok(())));
        }
        for (_, c) in self.connecting.drain() {
            let _ = c.reply.send(Err(UdpError::Shutdown));
        }
        for (_, mut app) in self.conns.drain() {
            app.fail(None, || UdpError::Shutdown);
            for r in app.closes.drain(..) {
                let _ = r.send(Ok(()));
            }
        }
    }

    fn finished(&self) -> bool {
        let Some(s) = &self.shutdown else {
            return false;
        };
        self.endpoint.connections().next().is_none() || self.clock.now() >= s.deadline
    }

    /// Reads what else is already waiting, up to a batch, so one round answers all of it.
    fn drain_sockets(&mut self, buf: &mut [u8]) {
        let mut read = 0;
        'outer: while read < RECV_BATCH {
            let mut any = false;
            for i in 0..self.sockets.len() {
                match self.sockets.try_recv(i, buf) {
                    Ok(r) => {
                        self.received(i, Ok(r), buf);
                        any = true;
                        read += 1;
                        if read >= RECV_BATCH {
                            break 'outer;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => self.received(i, Err(e), buf),
                }
            }
            if !any {
                break;
            }
        }
    }

    fn received(&mut self, i: usize, r: std::io::Result<(SocketAddr, usize)>, buf: &[u8]) {
        let (from, len) = match r {
            Ok(x) => x,
            Err(e) => {
                // An ICMP error reported on the socket, for example: nothing to do but count.
                self.metrics.recv_errors += 1;
                tracing::debug!("receive error: {e}");
                return;
            }
        };
        let Some(bytes) = buf.get(..len) else {
            return;
        };
        let now = self.clock.now();
        self.sockets.seen(i, from);
        self.metrics.datagrams_received += 1;
        self.metrics.bytes_received += len as u64;
        let record = self.recorder.wants_packets();
        let conn = if record {
            self.endpoint.connection_of(bytes)
        } else {
            None
        };
        self.endpoint.handle_datagram(now, from, bytes);
        if record {
            let local = self.sockets.local_toward(i, from);
            self.recorder.received(now, conn, from, local, bytes);
        }
    }

    /// Sends, dispatches and serves until nothing more happens (bounded).
    async fn process(&mut self) {
        for _ in 0..64 {
            self.transmit().await;
            let events = self.events();
            let served = self.serve();
            self.retry_waiting();
            if !events && !served {
                break;
            }
        }
        self.transmit().await;
    }

    async fn transmit(&mut self) {
        self.more_to_send = false;
        for _ in 0..SEND_BUDGET {
            let now = self.clock.now();
            let Some((conn, t)) = self.endpoint.poll_transmit_tagged(now) else {
                return;
            };
            let Some(i) = self.sockets.for_destination(t.destination) else {
                self.metrics.send_errors += 1;
                continue;
            };
            match self.sockets.send(i, t.destination, &t.bytes).await {
                Ok(()) => {
                    self.metrics.datagrams_sent += 1;
                    self.metrics.bytes_sent += t.bytes.len() as u64;
                }
                Err(e) => {
                    // Treated as a loss: recovery resends (or the handshake times out).
                    self.metrics.send_errors += 1;
                    tracing::debug!("send to {}: {e}", t.destination);
                }
            }
            if self.recorder.wants_packets() {
                let local = self.sockets.local_toward(i, t.destination);
                self.recorder
                    .sent(now, conn, local, t.destination, &t.bytes);
            }
        }
        self.more_to_send = true;
    }

    fn events(&mut self) -> bool {
        let mut any = false;
        while let Some((cid, ev)) = self.endpoint.poll_event() {
            any = true;
            match ev {
                EndpointEvent::Connected { role, peer } => self.connected(cid, role, peer),
                EndpointEvent::Challenge {
                    credential,
                    payload,
                } => {
                    if let Some(c) = self.connecting.get_mut(&cid) {
                        c.learned = Some((credential, payload));
                    }
                }
                EndpointEvent::HandshakeFailed(e) => {
                    self.metrics.handshakes_failed += 1;
                    match self.connecting.remove(&cid) {
                        Some(c) => drop(c.reply.send(Err(handshake_error(c.peer, e)))),
                        None => tracing::debug!("handshake failed: {e}"),
                    }
                }
                EndpointEvent::Refused { peer } => {
                    self.metrics.refused += 1;
                    tracing::info!(
                        "refused a connection from {peer}: a connection limit, or an asynchronous first stream on an HTTP port"
                    );
                }
                EndpointEvent::Connection(e) => self.connection_event(cid, e),
            }
        }
        any
    }

    fn connected(&mut self, cid: ConnectionId, role: Role, peer: SocketAddr) {
        let now = self.clock.now();
        self.recorder.opened(now, cid, role, peer);
        tracing::debug!(connection = cid.0, %peer, ?role, "connected");
        let Some(conn) = self.endpoint.connection(cid) else {
            return;
        };
        if role == Role::Responder {
            self.metrics.accepted += 1;
            let mut app = AppConn::new(role, None);
            app.pump = true;
            // The handshake bound the first stream to a service without asking the host:
            // refuse one nobody here runs (its request would never be answered).
            if let Some(host) = &self.services {
                let unknown = conn
                    .streams()
                    .find(|(h, _, _)| *h == StreamHandle(0))
                    .map(|(_, _, s)| s.to_owned())
                    .filter(|s| !host.names().contains(s));
                if let Some(service) = unknown {
                    let reason = format!("unknown service {service}");
                    conn.close(now, ErrorCode::STREAM_REFUSED.0, &reason);
                    app.pump = false;
                }
            }
            self.conns.insert(cid, app);
            return;
        }
        self.metrics.opened += 1;
        let Some(c) = self.connecting.remove(&cid) else {
            // Its connect was abandoned (timed out on the caller's side).
            conn.close(now, 0, "abandoned");
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let mut app = AppConn::new(role, Some(tx));
        app.peer_streams.clear();
        let mode = conn.mode();
        let early = conn.early_data();
        let mut first_id = 0;
        if matches!(mode, Mode::Immediate | Mode::Ticket) && !early {
            // The responder refused the 0-RTT copy (it delivered an empty message 0): send
            // the first message again, now under forward-secret keys.
            match conn.send(StreamHandle(0), c.options.first_message.clone()) {
                Ok(id) => {
                    first_id = id;
                    app.skip.insert((StreamHandle(0), 0));
                }
                Err(e) => {
                    // Closed meanwhile (a refused service, say): report why, not just that.
                    let err = match conn.close_reason() {
                        Some(r) => UdpError::Closed(r.clone()),
                        None => UdpError::Stream(e),
                    };
                    let _ = c.reply.send(Err(err));
                    conn.close(now, 0, "");
                    return;
                }
            }
        }
        let mut first_response = None;
        if c.options.kind == StreamKind::Transactional {
            let (ftx, frx) = oneshot::channel();
            app.requests.insert((StreamHandle(0), first_id), ftx);
            first_response = Some(frx);
        }
        let (learned_key, hello_answer) = match c.learned {
            Some((k, p)) => (Some(k), p),
            None => (None, Vec::new()),
        };
        let info = ConnectionInfo {
            peer,
            mode,
            responder_key: c.options.responder_key.or(learned_key),
            // A ticket authenticates the service through its psk.
            authenticated: c.options.responder_key.is_some() || c.options.ticket.is_some(),
            early_data_accepted: early,
            hello_answer,
        };
        let connected = Connected {
            id: cid,
            info,
            events: rx,
            first_response,
        };
        if c.reply.send(Ok(connected)).is_err() {
            conn.close(now, 0, "abandoned");
        }
        self.conns.insert(cid, app);
    }

    fn connection_event(&mut self, cid: ConnectionId, e: Event) {
        let now = self.clock.now();
        let Some(app) = self.conns.get_mut(&cid) else {
            return;
        };
        let serve = app.role == Role::Responder && self.services.is_some();
        match e {
            Event::StreamOpened {
                stream,
                service,
                kind,
                ..
            } => {
                app.peer_streams.push(stream);
                app.pump |= serve;
                app.emit(ConnEvent::StreamOpened {
                    stream,
                    service,
                    kind,
                });
            }
            Event::StreamAccepted { stream } => app.emit(ConnEvent::StreamAccepted { stream }),
            Event::StreamRefused { stream, code } => {
                app.fail(Some(stream), || UdpError::StreamRefused { code });
                app.emit(ConnEvent::StreamRefused { stream, code });
            }
            Event::Readable { stream } => {
                let Some(conn) = self.endpoint.connection(cid) else {
                    return;
                };
                if serve && conn.stream_creator(stream) != Some(app.role) {
                    app.pump = true;
                    return;
                }
                while let Some(m) = conn.read(stream) {
                    if let Some(r) = app.requests.remove(&(stream, m.id)) {
                        let _ = r.send(Ok(m.bytes));
                    } else if !app.skip.remove(&(stream, m.id)) {
                        app.emit(ConnEvent::Message {
                            stream,
                            id: m.id,
                            bytes: m.bytes,
                        });
                    }
                }
            }
            Event::StreamClosed {
                stream,
                code,
                reason,
                by_peer,
            } => {
                if serve && let Some(host) = self.services.as_mut() {
                    host.closed(StreamRef {
                        connection: u64::from(cid.0),
                        stream,
                    });
                }
                let r = reason.clone();
                app.fail(Some(stream), || UdpError::StreamClosed {
                    code,
                    reason: r.clone(),
                });
                app.emit(ConnEvent::StreamClosed {
                    stream,
                    code,
                    reason,
                    by_peer,
                });
            }
            Event::Rekeyed { epoch } => app.emit(ConnEvent::Rekeyed { epoch }),
            Event::Ticket(t) => app.emit(ConnEvent::Ticket(t)),
            Event::PathChanged { from, to } => app.emit(ConnEvent::PathChanged { from, to }),
            Event::StreamRestarted { .. }
            | Event::PathValidated { .. }
            | Event::PathFailed { .. } => {}
            Event::Closed(reason) => {
                let Some(mut app) = self.conns.remove(&cid) else {
                    return;
                };
                tracing::debug!(connection = cid.0, "closed: {reason:?}");
                let r = reason.clone();
                app.fail(None, || UdpError::Closed(r.clone()));
                for c in app.closes.drain(..) {
                    let _ = c.send(Ok(()));
                }
                if serve && let Some(host) = self.services.as_mut() {
                    for &stream in &app.peer_streams {
                        host.closed(StreamRef {
                            connection: u64::from(cid.0),
                            stream,
                        });
                    }
                }
                app.emit(ConnEvent::Closed(reason));
                self.recorder.closed(now, cid);
                self.waiting.remove(&cid);
            }
        }
    }

    /// Lets the services read and answer what arrived. True when any connection was served.
    fn serve(&mut self) -> bool {
        let Some(host) = self.services.as_mut() else {
            return false;
        };
        let mut any = false;
        for (&cid, app) in self.conns.iter_mut().filter(|(_, a)| a.pump) {
            app.pump = false;
            any = true;
            if let Some(conn) = self.endpoint.connection(cid) {
                for e in host.pump(u64::from(cid.0), conn) {
                    tracing::warn!(connection = cid.0, "{e}");
                }
            }
        }
        any
    }

    /// Retries sends that waited for buffer space and answers flushes that are done.
    fn retry_waiting(&mut self) {
        let ids: Vec<ConnectionId> = self.waiting.iter().copied().collect();
        for cid in ids {
            let (Some(app), Some(conn)) = (self.conns.get_mut(&cid), self.endpoint.connection(cid))
            else {
                self.waiting.remove(&cid);
                continue;
            };
            while let Some(b) = app.blocked.front() {
                if !fits(conn, b.bytes.len(), self.max_send_buffer) {
                    break;
                }
                let Some(b) = app.blocked.pop_front() else {
                    break;
                };
                queue(app, conn, b);
            }
            let flushes = std::mem::take(&mut app.flushes);
            for (stream, reply) in flushes {
                if flushed(app, conn, stream) {
                    let _ = reply.send(Ok(()));
                } else {
                    app.flushes.push((stream, reply));
                }
            }
            if app.blocked.is_empty() && app.flushes.is_empty() {
                self.waiting.remove(&cid);
            }
        }
    }

    fn command(&mut self, c: Command) {
        let now = self.clock.now();
        match c {
            Command::Connect {
                peer,
                options,
                reply,
            } => self.connect(now, peer, *options, reply),
            Command::Open {
                conn,
                kind,
                service,
                reply,
            } => {
                let r = match self.endpoint.connection(conn) {
                    Some(c) => c.open(kind, &service, Vec::new()).map_err(UdpError::Stream),
                    None => Err(UdpError::UnknownConnection),
                };
                let _ = reply.send(r);
            }
            Command::Send {
                conn,
                stream,
                bytes,
                reply,
            } => self.enqueue(conn, stream, bytes, BlockedReply::Send(reply)),
            Command::Request {
                conn,
                stream,
                bytes,
                reply,
            } => self.enqueue(conn, stream, bytes, BlockedReply::Request(reply)),
            Command::Flush {
                conn,
                stream,
                reply,
            } => match self.conns.get_mut(&conn) {
                Some(app) => {
                    app.flushes.push((stream, reply));
                    self.waiting.insert(conn);
                }
                None => drop(reply.send(Err(UdpError::UnknownConnection))),
            },
            Command::CloseStream {
                conn,
                stream,
                reply,
            } => {
                let r = match self.endpoint.connection(conn) {
                    Some(c) => c.close_stream(stream, 0, "").map_err(UdpError::Stream),
                    None => Err(UdpError::UnknownConnection),
                };
                let _ = reply.send(r);
            }
            Command::Close {
                conn,
                code,
                reason,
                reply,
            } => match (self.conns.get_mut(&conn), self.endpoint.connection(conn)) {
                (Some(app), Some(c)) => {
                    c.close(now, code, &reason);
                    app.closes.push(reply);
                }
                _ => drop(reply.send(Ok(()))),
            },
            Command::Metrics { conn, reply } => {
                let r = self
                    .endpoint
                    .connection(conn)
                    .map(|c| {
                        let (congestion_window, bytes_in_flight) = c.congestion();
                        ConnectionMetrics {
                            path: c.path_metrics(),
                            paths: c.paths(),
                            counters: c.counters(),
                            congestion_window,
                            bytes_in_flight,
                        }
                    })
                    .ok_or(UdpError::UnknownConnection);
                let _ = reply.send(r);
            }
            Command::OpenPath {
                conn,
                address,
                reply,
            } => {
                let r = match self.endpoint.connection(conn) {
                    Some(c) => c.open_path(now, address).map_err(UdpError::from),
                    None => Err(UdpError::UnknownConnection),
                };
                let _ = reply.send(r);
            }
            Command::StreamStats {
                conn,
                stream,
                reply,
            } => {
                let r = self
                    .endpoint
                    .connection(conn)
                    .map(|c| c.stream_stats(stream))
                    .ok_or(UdpError::UnknownConnection);
                let _ = reply.send(r);
            }
            Command::EndpointMetrics { reply } => {
                let mut m = self.metrics.clone();
                m.connections = self.endpoint.connections().count();
                let _ = reply.send(Ok(m));
            }
            Command::Shutdown { reply } => self.begin_shutdown(Some(reply)),
        }
    }

    fn connect(
        &mut self,
        now: Duration,
        peer: SocketAddr,
        options: ConnectOptions,
        reply: Reply<Connected>,
    ) {
        if self.shutdown.is_some() {
            let _ = reply.send(Err(UdpError::Shutdown));
            return;
        }
        if self.sockets.for_destination(peer).is_none() {
            let _ = reply.send(Err(UdpError::NoRoute(peer)));
            return;
        }
        let mut icfg = InitiatorConfig::new(self.provider.clone(), self.identity.clone());
        if let Some(k) = &self.keylog {
            icfg.keylog = k.clone();
        }
        icfg.responder_key = options.responder_key;
        icfg.service = options.service.clone();
        icfg.transactional = options.kind == StreamKind::Transactional;
        (icfg.retransmit_after, icfg.max_attempts) = options.retransmits();
        let (mode, hello, first) = (options.mode, &options.hello, &options.first_message);
        let ticket = options.ticket.clone();
        let started = self.endpoint.connect(|rng| match (ticket, mode) {
            (Some(t), _) => {
                Initiator::with_ticket(icfg, rng, now, peer, &t.ticket, t.issuer, t.psk, first)
            }
            (None, ConnectMode::FirstContact) => {
                Initiator::first_contact(icfg, rng, now, peer, hello, first)
            }
            (None, ConnectMode::Immediate) => Initiator::immediate(icfg, rng, now, peer, first),
        });
        match started {
            Ok(cid) => {
                self.connecting.insert(
                    cid,
                    Connecting {
                        peer,
                        options,
                        reply,
                        learned: None,
                    },
                );
            }
            Err(e) => drop(reply.send(Err(UdpError::Start(e)))),
        }
    }

    fn enqueue(
        &mut self,
        cid: ConnectionId,
        stream: StreamHandle,
        bytes: Vec<u8>,
        r: BlockedReply,
    ) {
        let (Some(app), Some(conn)) = (self.conns.get_mut(&cid), self.endpoint.connection(cid))
        else {
            fail_blocked(r, UdpError::UnknownConnection);
            return;
        };
        let b = Blocked {
            stream,
            bytes,
            reply: r,
        };
        // Messages keep their order: behind a blocked one, wait too.
        if app.blocked.is_empty() && fits(conn, b.bytes.len(), self.max_send_buffer) {
            queue(app, conn, b);
        } else {
            app.blocked.push_back(b);
            self.waiting.insert(cid);
        }
    }

    fn begin_shutdown(&mut self, reply: Option<Reply<()>>) {
        let now = self.clock.now();
        if self.shutdown.is_none() {
            let ids: Vec<ConnectionId> = self.endpoint.connections().map(|(id, _)| id).collect();
            for id in ids {
                if let Some(c) = self.endpoint.connection(id) {
                    c.close(now, 0, "shutdown");
                }
            }
            for (_, c) in self.connecting.drain() {
                let _ = c.reply.send(Err(UdpError::Shutdown));
            }
            self.shutdown = Some(Shutdown {
                deadline: now.saturating_add(self.grace),
                replies: Vec::new(),
            });
        }
        if let (Some(s), Some(r)) = (self.shutdown.as_mut(), reply) {
            s.replies.push(r);
        }
    }
}

/// Whether `len` more octets fit the connection's send buffer now. A message larger than the
/// whole buffer is let through, so `send` reports the error instead of waiting forever.
fn fits(conn: &Connection, len: usize, limit: usize) -> bool {
    let (_, buffered) = conn.buffered();
    len > limit || buffered.saturating_add(len) <= limit
}

/// Queues one message now (the caller checked that it fits).
fn queue(app: &mut AppConn, conn: &mut Connection, b: Blocked) {
    let sent = conn.send(b.stream, b.bytes);
    match b.reply {
        BlockedReply::Send(r) => drop(r.send(sent.map_err(UdpError::Stream))),
        BlockedReply::Request(r) => match sent {
            Ok(id) => {
                app.requests.insert((b.stream, id), r);
            }
            Err(e) => drop(r.send(Err(UdpError::Stream(e)))),
        },
    }
}

fn fail_blocked(r: BlockedReply, e: UdpError) {
    match r {
        BlockedReply::Send(r) => drop(r.send(Err(e))),
        BlockedReply::Request(r) => drop(r.send(Err(e))),
    }
}

/// Everything handed to `stream` was sent and acknowledged.
fn flushed(app: &AppConn, conn: &Connection, stream: StreamHandle) -> bool {
    if app.blocked.iter().any(|b| b.stream == stream) {
        return false;
    }
    match conn.stream_stats(stream) {
        Some(s) => s.queued == 0 && s.unacknowledged == 0,
        // A stream that is gone was closed after delivering everything.
        None => true,
    }
}
