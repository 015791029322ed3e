//! An endpoint: one socket's worth of RUD (SPEC section 5.7), sans-IO. It routes every datagram
//! to the handshake or connection it belongs to, runs the responder, keeps the limits per peer,
//! answers data for unknown identifiers with a StateLost hint, and re-sends the reply of an
//! Immediate exchange whose reply was lost.
//!
//! Feed it with [`Endpoint::handle_datagram`] and [`Endpoint::handle_timeout`]; after each,
//! poll [`Endpoint::poll_transmit`] until `None`, then [`Endpoint::poll_event`] until `None`,
//! then [`Endpoint::poll_timeout`]. Connections are reached with [`Endpoint::connection`].
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::connection::{Connection, ConnectionConfig, Event, IdSpace, slot_of};
use crate::crypto::one_time_id::OneTimeIdIssuer;
use crate::crypto::{CryptoProvider, SecretBytes};
use crate::handshake::{
    Entropy, HandshakeError, Initiator, InitiatorEvent, Responder, ResponderConfig,
    ResponderOutcome, Role, Session, Transmit,
};
use crate::wire::{Datagram, ErrorCode, ErrorMessage, ExtensionList, MessageType, StreamId, parse};

/// A connection (or handshake in progress) of this endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u32);

/// What an endpoint reports.
#[derive(Debug)]
pub enum EndpointEvent {
    /// A handshake this endpoint started completed, or a peer's completed here.
    Connected { role: Role, peer: SocketAddr },
    /// First Contact: the responder's credential and Hello answer (unauthenticated).
    Challenge {
        credential: crate::crypto::x448::X448PublicKey,
        payload: Vec<u8>,
    },
    /// A handshake this endpoint started failed.
    HandshakeFailed(HandshakeError),
    /// A peer's connection was refused by the per-peer or total limit.
    Refused { peer: SocketAddr },
    /// An event of an established connection.
    Connection(Event),
}

/// Limits and configuration of an endpoint.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    pub connection: ConnectionConfig,
    /// Connections (and handshakes) at once.
    pub max_connections: usize,
    /// Connections from one IP address at once.
    pub max_connections_per_peer: usize,
    /// StateLost Errors sent per second at most (they answer data nobody here can open).
    pub state_lost_per_second: u32,
    /// Refuse handshakes whose first stream is asynchronous (an HTTP port, SPEC 3.2.1).
    pub transactional_only: bool,
    /// Responder: issue a ticket good for this long on every connection it accepts, under its
    /// ticket keys (SPEC 7.10). Off without ticket keys.
    pub ticket_lifetime: Option<Duration>,
    /// The host those tickets name (they are redeemable there only); `None`: this host (its
    /// `ResponderConfig::host_id`), a resumption ticket.
    pub ticket_host: Option<Vec<u8>>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            max_connections: 10_000,
            max_connections_per_peer: 64,
            state_lost_per_second: 100,
            transactional_only: false,
            ticket_lifetime: None,
            ticket_host: None,
        }
    }
}

enum Slot {
    Handshake(Box<Initiator>),
    Connected(Box<Connection>),
}

/// One endpoint (see the module documentation).
pub struct Endpoint {
    config: EndpointConfig,
    provider: Arc<dyn CryptoProvider>,
    entropy: Box<dyn Entropy>,
    responder: Option<Responder>,
    slots: BTreeMap<u32, Slot>,
    next_slot: u32,
    id_key: SecretBytes<32>,
    router: OneTimeIdIssuer,
    /// Identifiers issued during handshakes (8 octets) and the slot they name.
    routes: HashMap<Vec<u8>, u32>,
    /// Initiator ephemeral of each connection a responder holds, with the reply to resend
    /// when the same Exchange arrives again (its ResponderComplete was lost).
    replies: HashMap<[u8; 56], (u32, Option<Transmit>)>,
    per_peer: HashMap<IpAddr, usize>,
    peers: HashMap<u32, IpAddr>,
    out: VecDeque<Transmit>,
    events: VecDeque<(ConnectionId, EndpointEvent)>,
    state_lost_budget: (u64, u32),
    rr: u32,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("slots", &self.slots.len())
            .field("responder", &self.responder.is_some())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint; with `responder`, it accepts connections too. `entropy` seeds every key
    /// and identifier it makes (pass a seeded one for reproducible runs).
    pub fn new(
        config: EndpointConfig,
        provider: Arc<dyn CryptoProvider>,
        responder: Option<Responder>,
        mut entropy: Box<dyn Entropy>,
    ) -> Self {
        let mut key = [0u8; 32];
        entropy.fill(&mut key);
        let id_key = SecretBytes::new(key);
        Self {
            router: OneTimeIdIssuer::new(&*provider, &id_key),
            id_key,
            config,
            provider,
            entropy,
            responder,
            slots: BTreeMap::new(),
            next_slot: 1,
            routes: HashMap::new(),
            replies: HashMap::new(),
            per_peer: HashMap::new(),
            peers: HashMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            state_lost_budget: (0, 0),
            rr: 0,
        }
    }

    /// A responder for `config`, created at `now`.
    ///
    /// # Errors
    /// The responder's configuration errors.
    pub fn responder(config: ResponderConfig, now: Duration) -> Result<Responder, HandshakeError> {
        Responder::new(config, now)
    }

    /// Starts a handshake with `start`, which builds the initiator from the endpoint's
    /// entropy (e.g. `|rng| Initiator::immediate(cfg, rng, now, peer, request)`).
    ///
    /// # Errors
    /// The initiator's errors.
    pub fn connect(
        &mut self,
        start: impl FnOnce(&mut dyn Entropy) -> Result<Initiator, HandshakeError>,
    ) -> Result<ConnectionId, HandshakeError> {
        let mut initiator = start(&mut *self.entropy)?;
        let slot = self.allocate();
        while let Some(t) = initiator.poll_transmit() {
            if let Ok(Datagram::InitiatorHello(h)) = Datagram::decode(&t.bytes) {
                self.routes.insert(h.initiator_stream_id.0.to_vec(), slot);
            } else if let Ok(Datagram::InitiatorExchange(x)) = Datagram::decode(&t.bytes) {
                self.routes.insert(x.initiator_stream_id.0.to_vec(), slot);
            }
            self.out.push_back(t);
        }
        self.slots
            .insert(slot, Slot::Handshake(Box::new(initiator)));
        Ok(ConnectionId(slot))
    }

    fn allocate(&mut self) -> u32 {
        while self.slots.contains_key(&self.next_slot) || self.next_slot == 0 {
            self.next_slot = self.next_slot.wrapping_add(1);
        }
        let s = self.next_slot;
        self.next_slot = self.next_slot.wrapping_add(1);
        s
    }

    /// The connection behind `id`, once established.
    pub fn connection(&mut self, id: ConnectionId) -> Option<&mut Connection> {
        match self.slots.get_mut(&id.0) {
            Some(Slot::Connected(c)) => Some(c),
            _ => None,
        }
    }

    /// Established connections.
    pub fn connections(&self) -> impl Iterator<Item = (ConnectionId, &Connection)> + '_ {
        self.slots.iter().filter_map(|(&s, slot)| match slot {
            Slot::Connected(c) => Some((ConnectionId(s), &**c)),
            Slot::Handshake(_) => None,
        })
    }

    /// Changes the connection limits (connections per peer address, in total).
    pub fn set_limits(&mut self, per_peer: usize, total: usize) {
        self.config.max_connections_per_peer = per_peer;
        self.config.max_connections = total;
    }

    /// The responder, if this endpoint accepts connections.
    pub fn responder_mut(&mut self) -> Option<&mut Responder> {
        self.responder.as_mut()
    }

    /// Feeds one UDP payload received at `now` from `from`.
    pub fn handle_datagram(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        let Ok((_, (sid, t))) = header(bytes) else {
            return;
        };
        match t {
            MessageType::INITIATOR_DATA
            | MessageType::RESPONDER_DATA
            | MessageType::INITIATOR_ERROR
            | MessageType::RESPONDER_ERROR => match self.route(sid) {
                Some(slot) => self.deliver_to_slot(now, slot, from, bytes),
                None if t.is_data() => self.state_lost(now, from, sid, t),
                None => {
                    // An Error names the identifier *we* sent with, which the peer issued: offer
                    // it to the connections with that peer (each checks the identifier).
                    let slots: Vec<u32> = self
                        .slots
                        .iter()
                        .filter_map(|(&s, slot)| match slot {
                            Slot::Connected(c) if c.remote_address() == from => Some(s),
                            _ => None,
                        })
                        .collect();
                    for s in slots {
                        self.deliver_to_slot(now, s, from, bytes);
                    }
                }
            },
            MessageType::INITIATOR_HELLO
            | MessageType::INITIATOR_EXCHANGE
            | MessageType::INITIATOR_COMPLETE => self.deliver_to_responder(now, from, bytes),
            _ => {
                // Handshake replies carry the identifier the initiator issued.
                if let Some(&slot) = self.routes.get(sid) {
                    self.deliver_to_slot(now, slot, from, bytes);
                }
            }
        }
    }

    /// The connection or handshake a received datagram would be routed to, if any (for a
    /// driver's per-connection logs; routing itself happens in `handle_datagram`).
    pub fn connection_of(&self, bytes: &[u8]) -> Option<ConnectionId> {
        let (_, (sid, _)) = header(bytes).ok()?;
        self.route(sid).map(ConnectionId)
    }

    fn route(&self, sid: &[u8]) -> Option<u32> {
        if let Some(&slot) = self.routes.get(sid) {
            return Some(slot);
        }
        let id = self.router.decrypt_unchecked(sid).ok()?;
        let slot = slot_of(id.stream_index);
        self.slots.contains_key(&slot).then_some(slot)
    }

    fn deliver_to_slot(&mut self, now: Duration, slot: u32, from: SocketAddr, bytes: &[u8]) {
        match self.slots.get_mut(&slot) {
            Some(Slot::Connected(c)) => c.handle_datagram(now, from, bytes),
            Some(Slot::Handshake(i)) => {
                let _ = i.handle_datagram(now, from, bytes);
                self.drive_initiator(now, slot);
            }
            None => {}
        }
    }

    fn drive_initiator(&mut self, now: Duration, slot: u32) {
        let Some(Slot::Handshake(i)) = self.slots.get_mut(&slot) else {
            return;
        };
        let mut established = None;
        let mut failed = None;
        while let Some(t) = i.poll_transmit() {
            self.out.push_back(t);
        }
        while let Some(e) = i.poll_event() {
            match e {
                InitiatorEvent::Established(s) => established = Some(s),
                InitiatorEvent::Failed(e) => failed = Some(e),
                InitiatorEvent::Challenge {
                    credential,
                    payload,
                } => self.events.push_back((
                    ConnectionId(slot),
                    EndpointEvent::Challenge {
                        credential,
                        payload,
                    },
                )),
                InitiatorEvent::Deferred => {}
            }
        }
        if let Some(e) = failed {
            self.slots.remove(&slot);
            self.routes.retain(|_, s| *s != slot);
            self.events
                .push_back((ConnectionId(slot), EndpointEvent::HandshakeFailed(e)));
        } else if let Some(session) = established {
            self.routes.retain(|_, s| *s != slot);
            self.establish(now, slot, *session, None);
        }
    }

    fn establish(&mut self, now: Duration, slot: u32, session: Session, reply: Option<Transmit>) {
        let role = session.role;
        let peer = session.peer;
        let my_id = match role {
            Role::Initiator => session.first_stream.initiator_stream_id.clone(),
            Role::Responder => session.first_stream.responder_stream_id.clone(),
        };
        let context = session.context;
        let entropy = self.entropy.fork();
        let ids = IdSpace {
            key: self.id_key.clone(),
            slot,
        };
        match Connection::new(
            session,
            self.config.connection.clone(),
            self.provider.clone(),
            entropy,
            ids,
            now,
        ) {
            Ok(mut c) => {
                if role == Role::Responder
                    && let Some(lifetime) = self.config.ticket_lifetime
                    && let Some((keys, own)) =
                        self.responder.as_ref().and_then(|r| r.ticket_issuer())
                {
                    let host = self.config.ticket_host.as_deref().unwrap_or(own);
                    // The ticket goes on the first stream with the first datagrams.
                    if let Err(e) = c.send_ticket(keys, host, now, lifetime) {
                        tracing::debug!(slot, "no ticket issued: {e}");
                    }
                }
                self.routes.insert(my_id, slot);
                if role == Role::Responder {
                    self.replies.insert(context, (slot, reply));
                    *self.per_peer.entry(peer.ip()).or_default() += 1;
                    self.peers.insert(slot, peer.ip());
                }
                self.slots.insert(slot, Slot::Connected(Box::new(c)));
                self.events
                    .push_back((ConnectionId(slot), EndpointEvent::Connected { role, peer }));
            }
            Err(e) => self.events.push_back((
                ConnectionId(slot),
                EndpointEvent::HandshakeFailed(HandshakeError::Invalid {
                    rule: "connection",
                    message: e.to_string(),
                }),
            )),
        }
    }

    fn deliver_to_responder(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        // The same Exchange again: its ResponderComplete was lost. Resend it; no new state.
        //= docs/SPEC.md#exchange-reply-cache
        //# A responder that receives again an InitiatorExchange it completed MUST answer with the same ResponderComplete, without a second key exchange or delivery.
        if let Ok(Datagram::InitiatorExchange(x)) = Datagram::decode(bytes)
            && let Ok(key) = <[u8; 56]>::try_from(x.initiator_ephemeral.key)
            && let Some((_, reply)) = self.replies.get(&key)
        {
            if let Some(r) = reply
                && r.destination == from
            {
                self.out.push_back(r.clone());
            }
            return;
        }
        let Some(responder) = self.responder.as_mut() else {
            return;
        };
        let outcome = responder.handle_datagram(now, from, bytes, &mut *self.entropy);
        match outcome {
            ResponderOutcome::Reply(t) => self.out.push_back(t),
            ResponderOutcome::Refused { reply, .. } => self.out.extend(reply),
            ResponderOutcome::Dropped(_) => {}
            ResponderOutcome::Established { session, reply } => {
                //= docs/SPEC.md#connection-limits
                //# An endpoint MUST bound the connections it holds in total and per peer address, and refuse a handshake beyond either bound with a StreamRefused Error.
                let per_peer = self.per_peer.get(&from.ip()).copied().unwrap_or(0);
                //= docs/SPEC.md#http-transactional-only
                //# A server on an HTTP port MUST refuse a stream creation of an asynchronous stream, the handshake's first stream included, with StreamRefused.
                let asynchronous =
                    self.config.transactional_only && !session.first_stream.transactional;
                if per_peer >= self.config.max_connections_per_peer
                    || self.slots.len() >= self.config.max_connections
                    || asynchronous
                {
                    // Addressed to the identifier the initiator issued in its handshake
                    // datagram: it takes nothing else before it is established.
                    if let Ok(d) = Datagram::decode(bytes) {
                        let sid = crate::handshake::reply_stream_id(&d);
                        self.out.extend(refusal(sid.0, from));
                    }
                    self.events
                        .push_back((ConnectionId(0), EndpointEvent::Refused { peer: from }));
                    return;
                }
                self.out.extend(reply.clone());
                let slot = self.allocate();
                self.establish(now, slot, *session, reply);
            }
        }
    }

    /// A data packet for an identifier nobody here issued: answer with a StateLost Error,
    /// rate-limited, never larger than the packet, never for an Error.
    //= docs/SPEC.md#state-lost
    //# An endpoint that receives a data packet for an identifier it holds no state for SHOULD answer with an Error datagram carrying code StateLost and the packet's stream identifier, at most as large as that packet, rate-limited.
    fn state_lost(&mut self, now: Duration, to: SocketAddr, sid: &[u8], t: MessageType) {
        // Data from a responder whose handshake with us is still open (its reply was lost) is
        // early, not stale: it names an identifier the handshake will issue.
        if self
            .slots
            .values()
            .any(|s| matches!(s, Slot::Handshake(i) if i.peer() == to))
        {
            return;
        }
        let second = now.as_secs();
        if self.state_lost_budget.0 != second {
            self.state_lost_budget = (second, 0);
        }
        if self.state_lost_budget.1 >= self.config.state_lost_per_second {
            return;
        }
        self.state_lost_budget.1 += 1;
        let msg_type = if t == MessageType::INITIATOR_DATA {
            MessageType::RESPONDER_ERROR
        } else {
            MessageType::INITIATOR_ERROR
        };
        let e = ErrorMessage {
            stream_id: StreamId(sid),
            msg_type,
            code: ErrorCode::STATE_LOST,
            extensions: ExtensionList::default(),
            padding: 0,
        };
        if let Ok(bytes) = Datagram::Error(e).to_vec() {
            self.out.push_back(Transmit {
                destination: to,
                bytes,
            });
        }
    }

    /// The next datagram to send, from the endpoint or any connection (round-robin).
    pub fn poll_transmit(&mut self, now: Duration) -> Option<Transmit> {
        self.poll_transmit_tagged(now).map(|(_, t)| t)
    }

    /// [`Endpoint::poll_transmit`], naming the connection that sent the datagram (`None` for
    /// the endpoint's own: handshake datagrams and replies, StateLost, refusals). Drivers use
    /// it to write one event log per connection; the core keeps no per-datagram record of it.
    pub fn poll_transmit_tagged(
        &mut self,
        now: Duration,
    ) -> Option<(Option<ConnectionId>, Transmit)> {
        if let Some(t) = self.out.pop_front() {
            return Some((None, t));
        }
        let keys: Vec<u32> = self.slots.keys().copied().collect();
        let start = keys.iter().position(|&k| k >= self.rr).unwrap_or(0);
        for i in 0..keys.len() {
            let slot = keys[(start + i) % keys.len()];
            if let Some(Slot::Connected(c)) = self.slots.get_mut(&slot)
                && let Some(t) = c.poll_transmit(now)
            {
                self.rr = slot.wrapping_add(1);
                return Some((Some(ConnectionId(slot)), t));
            }
        }
        None
    }

    /// The next event, with the connection it concerns.
    pub fn poll_event(&mut self) -> Option<(ConnectionId, EndpointEvent)> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        let mut closed = Vec::new();
        let mut found = None;
        for (&slot, s) in self.slots.iter_mut() {
            if let Slot::Connected(c) = s {
                if let Some(e) = c.poll_event() {
                    found = Some((ConnectionId(slot), EndpointEvent::Connection(e)));
                    break;
                }
                if c.is_closed() {
                    closed.push(slot);
                }
            }
        }
        for slot in closed {
            self.forget(slot);
        }
        found
    }

    fn forget(&mut self, slot: u32) {
        self.slots.remove(&slot);
        self.routes.retain(|_, s| *s != slot);
        self.replies.retain(|_, (s, _)| *s != slot);
        if let Some(ip) = self.peers.remove(&slot)
            && let Some(n) = self.per_peer.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_peer.remove(&ip);
            }
        }
    }

    /// When [`Endpoint::handle_timeout`] must run at the latest.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.slots
            .values()
            .filter_map(|s| match s {
                Slot::Connected(c) => c.poll_timeout(),
                Slot::Handshake(i) => i.poll_timeout(),
            })
            .min()
    }

    /// Runs every timer that expired at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        let slots: Vec<u32> = self.slots.keys().copied().collect();
        for slot in slots {
            match self.slots.get_mut(&slot) {
                Some(Slot::Connected(c)) if c.poll_timeout().is_some_and(|t| now >= t) => {
                    c.handle_timeout(now);
                }
                Some(Slot::Handshake(i)) if i.poll_timeout().is_some_and(|t| now >= t) => {
                    i.handle_timeout(now);
                    self.drive_initiator(now, slot);
                }
                _ => {}
            }
        }
    }

    /// Connections and handshakes held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Stream identifier and message type of any datagram (enough to route it).
fn header(bytes: &[u8]) -> parse::PResult<'_, (&[u8], MessageType)> {
    let (i, sid) = StreamId::decode(bytes, "stream identifier")?;
    let (i, t) = parse::u8(i, "message type")?;
    Ok((i, (sid.0, MessageType(t))))
}

/// A StreamRefused Error for a completed handshake the endpoint will not hold.
fn refusal(sid: &[u8], to: SocketAddr) -> Option<Transmit> {
    let e = ErrorMessage {
        stream_id: StreamId(sid),
        msg_type: MessageType::RESPONDER_ERROR,
        code: ErrorCode::STREAM_REFUSED,
        extensions: ExtensionList::default(),
        padding: 0,
    };
    Datagram::Error(e).to_vec().ok().map(|bytes| Transmit {
        destination: to,
        bytes,
    })
}
