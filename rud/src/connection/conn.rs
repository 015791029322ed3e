//! The connection: one established key exchange, its streams and its path (SPEC section 5).
//!
//! Sans-IO. Feed it with [`Connection::handle_datagram`] and [`Connection::handle_timeout`],
//! drive it with the application calls (`open`, `send`, `respond`, `read`, `restart`,
//! `rekey`, `close_stream`, `close`), and after every one of these poll, in this order:
//!
//! 1. [`Connection::poll_transmit`] until `None`: packets to send;
//! 2. [`Connection::poll_event`] until `None`: what happened ([`Event`]);
//! 3. [`Connection::poll_timeout`]: when to call `handle_timeout` at the latest.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::config::ConnectionConfig;
use super::event::{CloseReason, Event, Incoming, StreamHandle, StreamKind};
use super::keys::KeyData;
use super::path::Path;
use super::reassembly::{Reassembler, ReassemblyCounters};
use super::recovery::{FlowControl, PdmEndpoint, ReceiveWindow, ReceivedSet, SentTracker};
use super::stream::{Control, Half, OutMessage, RestartPlan, Stream, StreamState};
use crate::crypto::one_time_id::OneTimeIdIssuer;
use crate::crypto::x448::{X448PublicKey, X448Secret};
use crate::crypto::{CryptoError, CryptoProvider, SecretBytes};
use crate::handshake::{Entropy, Mode, Role, Session, Transmit};
use crate::wire::MessageType;

/// Flow credit a sender assumes before the receiver's first Credit (SPEC flow-credit).
pub const INITIAL_STREAM_CREDIT: u64 = 1 << 20;
/// Connection credit a sender assumes before the receiver's first Credit.
pub const INITIAL_CONNECTION_CREDIT: u64 = 4 << 20;
/// Old halves keep their keys this many probe timeouts after they stop being used.
pub const GRACE_PTOS: u32 = 3;
/// Bounds of the acknowledgement-only space's reassembly (acks rarely span packets).
const ACK_REASSEMBLY: super::reassembly::ReassemblyConfig = super::reassembly::ReassemblyConfig {
    max_incomplete: 4,
    max_buffered: 64 * 1024,
    max_candidates_per_nonce: 2,
};
/// Handshake datagram retransmissions before the initiator gives up.
pub const MAX_HANDSHAKE_RETRANSMITS: u32 = 8;

/// The identifier space a connection issues from: a key shared by the endpoint's connections
/// and the connection's slot, so the endpoint routes any identifier with one AES block and no
/// table (SPEC stream-identifiers).
#[derive(Clone)]
pub struct IdSpace {
    pub key: SecretBytes<32>,
    pub slot: u32,
}

impl std::fmt::Debug for IdSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdSpace").field("slot", &self.slot).finish()
    }
}

/// The slot of a stream index (`slot << 32 | generation`).
pub fn slot_of(stream_index: u64) -> u32 {
    (stream_index >> 32) as u32
}

/// Counters of what the connection received, dropped and sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionCounters {
    /// Packets handed to `handle_datagram`.
    pub packets_received: u64,
    /// Datagrams that authenticated.
    pub datagrams_authenticated: u64,
    /// Packets that did not decode, or were not data for this endpoint.
    pub malformed: u64,
    /// Packets for an identifier this connection does not know (or no longer does).
    pub unknown_stream: u64,
    /// Reassembly: fragments kept, tag failures, replays, duplicates, inconsistent fragments,
    /// evictions, invalid packets (summed over every stream half ever held).
    pub reassembly: ReassemblyCounters,
    /// Messages handed to the application.
    pub messages_delivered: u64,
    /// Messages fully sealed.
    pub messages_sent: u64,
    /// Datagrams sealed (each once).
    pub datagrams_sealed: u64,
    /// Packets sent, first transmissions and resends.
    pub packets_sent: u64,
    /// Packets resent.
    pub packets_retransmitted: u64,
    /// Error datagrams received (hints only).
    pub errors_received: u64,
    /// Datagrams refused after authentication because they broke a rule.
    pub violations: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Close sent; waiting for its acknowledgement or the deadline.
    Closing(Duration),
    Closed,
}

/// A connection forward-secrecy rekey in progress (initiator side).
struct Rekey {
    started: Duration,
    /// Set once the acceptance arrived and the new half exists: waiting for an authenticated
    /// datagram on it, since the time given.
    confirm_g: Option<u64>,
    confirm_from: Option<Duration>,
}

/// How long a datagram of the new generation may take to authenticate after the acceptance of
/// a connection rekey arrived, at the least and in probe timeouts.
const REKEY_CONFIRM_MIN: Duration = Duration::from_secs(5);
const REKEY_CONFIRM_PTOS: u32 = 24;

/// A snapshot of one stream (see [`Connection::stream_stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStats {
    /// Generations held (more than one during a Restart).
    pub halves: usize,
    pub generation: u64,
    pub epoch: u32,
    /// Message octets queued, not yet sealed.
    pub queued: usize,
    /// Datagrams sealed and not yet acknowledged.
    pub unacknowledged: usize,
    pub in_flight: u64,
    pub resend_pending: usize,
    pub pto_count: u32,
    pub next_counter: u64,
    pub next_in_order: u64,
    /// Datagrams received out of order, waiting for earlier ones.
    pub out_of_order: usize,
    /// Flow credit left on the stream and on the connection.
    pub credit: u64,
    pub connection_credit: u64,
    /// The peer's identifier for the current generation is known.
    pub accepted: bool,
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("no such stream")]
    UnknownStream,
    #[error("this endpoint may not send on the stream (asynchronous, peer-created)")]
    WrongDirection,
    #[error("the stream is closing or closed")]
    Closed,
    #[error("message of {len} octets exceeds the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("send buffer full ({buffered} of {limit} octets)")]
    Blocked { buffered: usize, limit: usize },
    #[error("too many streams ({0})")]
    TooManyStreams(usize),
    #[error("only the stream's creator may restart it")]
    NotCreator,
    #[error("a restart of this stream is already in progress")]
    RestartInProgress,
    #[error("request {0} was already answered or never received")]
    NoSuchRequest(u64),
    #[error("the connection is closed")]
    ConnectionClosed,
    #[error("cryptographic failure: {0}")]
    Crypto(#[from] CryptoError),
}

/// One RUD connection.
pub struct Connection {
    pub(super) role: Role,
    pub(super) mode: Mode,
    pub(super) config: ConnectionConfig,
    pub(super) provider: Arc<dyn CryptoProvider>,
    pub(super) entropy: Box<dyn Entropy>,
    pub(super) context: [u8; 56],
    /// Key data by epoch; `None` once wiped.
    pub(super) keys: Vec<Option<KeyData>>,
    pub(super) epoch: u32,
    pub(super) issuer: OneTimeIdIssuer,
    pub(super) slot: u32,
    /// Identifier this endpoint issued for the first stream during the handshake.
    pub(super) handshake_id: Vec<u8>,
    pub(super) next_gen: u64,
    pub(super) next_handle: u64,
    pub(super) streams: BTreeMap<StreamHandle, Stream>,
    pub(super) by_gen: HashMap<u64, StreamHandle>,
    pub(super) flow: FlowControl<StreamHandle>,
    pub(super) conn_window: ReceiveWindow,
    /// The primary path: where the traffic goes.
    pub(super) path: Path,
    /// Standby paths (SPEC multipath), probed by heartbeats.
    pub(super) standby: Vec<Path>,
    /// Standby paths whose heartbeat is due.
    pub(super) heartbeat_due: Vec<SocketAddr>,
    /// Heartbeat datagrams (generation, counter) of the first stream not yet acknowledged or
    /// lost: their fate is the standby path's, not the primary's congestion signal.
    pub(super) heartbeats: std::collections::HashSet<(u64, u64)>,
    /// (address, packets, octets) routed here from addresses that are no path.
    pub(super) arrivals: Vec<(SocketAddr, u64, u64)>,
    pub(super) pdm: PdmEndpoint,
    pub(super) events: VecDeque<Event>,
    pub(super) out: VecDeque<Transmit>,
    state: State,
    pub(super) last_activity: Duration,
    pub(super) last_sent: Duration,
    pub(super) state_lost_at: Option<Duration>,
    pub(super) handshake_retransmit: Option<(Vec<u8>, Duration, u32)>,
    rekey: Option<Rekey>,
    pub(super) rekey_owed: bool,
    /// Secrets of rekeys this endpoint started, by the new generation.
    pub(super) rekey_secrets: HashMap<u64, X448Secret>,
    pub(super) counters: ConnectionCounters,
    pub(super) rr: u64,
    pub(super) peer_static: X448PublicKey,
    pub(super) handshake_payload: Vec<u8>,
    pub(super) early_data: bool,
    /// The reason reported once our Close of the connection completes.
    pub(super) pending_close: Option<CloseReason>,
    /// Why the connection ended, once it did.
    closed_reason: Option<CloseReason>,
    /// Key data of a connection rekey waiting for confirmation (initiator).
    pub(super) pending_epoch: Option<u32>,
    /// A new primary path needs its challenge (a bare ping) sent.
    pub(super) path_challenge_due: bool,
    /// Pings sent while waiting for responses since message octets last arrived.
    pub(super) awaiting_pings: u32,
    /// A loss or probe timer fired since acknowledgements last reset every direction's probe
    /// backoff.
    pub(super) backed_off: bool,
    /// A probe timeout fired: a fresh ping goes on the first stream, past the congestion
    /// window as the probe does.
    pub(super) probe_ping: bool,
    /// When pacing held back the next packet.
    pub(super) pacing_blocked: Option<Duration>,
    /// This endpoint's own static key as the handshake used it (responder: its credential).
    pub(super) own_static: Option<X448PublicKey>,
    /// The handshake's resumption secret and credentials (initiator, responder): tickets.
    pub(super) resumption: crate::crypto::SecretBytes<64>,
    pub(super) credentials: (X448PublicKey, X448PublicKey),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("mode", &self.mode)
            .field("epoch", &self.epoch)
            .field("streams", &self.streams.len())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Takes over an established [`Session`]: the first stream (generation 0) is open, and on
    /// the responder the handshake's request is readable on it as message 0.
    ///
    /// # Errors
    /// A cryptographic failure deriving the first stream's keys.
    pub fn new(
        session: Session,
        config: ConnectionConfig,
        provider: Arc<dyn CryptoProvider>,
        entropy: Box<dyn Entropy>,
        ids: IdSpace,
        now: Duration,
    ) -> Result<Self, StreamError> {
        let role = session.role;
        let keys = KeyData::from_handshake(&session.secrets);
        let (my_id, peer_id) = match role {
            Role::Initiator => (
                session.first_stream.initiator_stream_id.clone(),
                session.first_stream.responder_stream_id.clone(),
            ),
            Role::Responder => (
                session.first_stream.responder_stream_id.clone(),
                session.first_stream.initiator_stream_id.clone(),
            ),
        };
        let peer_static = match role {
            Role::Initiator => config
                .peer_device_key
                .unwrap_or(session.responder_credential),
            Role::Responder => session.initiator_credential,
        };
        let mut me = Self {
            role,
            mode: session.mode,
            provider: provider.clone(),
            entropy,
            context: session.context,
            keys: vec![Some(keys)],
            epoch: 0,
            issuer: OneTimeIdIssuer::new(&*provider, &ids.key),
            slot: ids.slot,
            handshake_id: my_id.clone(),
            next_gen: match role {
                Role::Initiator => 2,
                Role::Responder => 1,
            },
            next_handle: 1,
            streams: BTreeMap::new(),
            by_gen: HashMap::new(),
            flow: FlowControl::new(INITIAL_CONNECTION_CREDIT),
            conn_window: ReceiveWindow::new(config.connection_window),
            path: {
                let mut p = Path::new(session.peer, true, config.max_packet_size as u64);
                p.last_heard = now;
                //= docs/SPEC.md#rtt-estimation
                //# The initiator takes its first sample from the handshake
                // The handshake's round trip is the first sample (initiator): probe timeouts
                // start near the path's RTT instead of the 1 s of RFC 9002's unknown path.
                if let Some(rtt) = session.handshake_rtt {
                    p.rtt.update(now, rtt, Duration::ZERO);
                }
                p
            },
            standby: Vec::new(),
            heartbeat_due: Vec::new(),
            heartbeats: std::collections::HashSet::new(),
            arrivals: Vec::new(),
            pdm: PdmEndpoint::new(0),
            events: VecDeque::new(),
            out: VecDeque::new(),
            state: State::Open,
            last_activity: now,
            last_sent: now,
            state_lost_at: None,
            handshake_retransmit: None,
            rekey: None,
            rekey_owed: session.rekey_owed,
            rekey_secrets: HashMap::new(),
            counters: ConnectionCounters::default(),
            rr: 0,
            peer_static,
            handshake_payload: Vec::new(),
            early_data: session.early_data,
            pending_close: None,
            closed_reason: None,
            pending_epoch: None,
            path_challenge_due: false,
            awaiting_pings: 0,
            backed_off: false,
            probe_ping: false,
            pacing_blocked: None,
            resumption: session.secrets.resumption.clone(),
            credentials: (session.initiator_credential, session.responder_credential),
            own_static: match role {
                Role::Responder => Some(session.responder_credential),
                Role::Initiator => None,
            },
            config,
        };
        let kind = if session.first_stream.transactional {
            StreamKind::Transactional
        } else {
            StreamKind::Asynchronous
        };
        let handle = StreamHandle(0);
        let half = me.new_half(0, 0, my_id, Some(peer_id))?;
        let mut stream = me.new_stream(handle, kind, session.first_stream.service, Role::Initiator);
        stream.halves.push_back(half);
        stream.state = StreamState::Open;
        match role {
            Role::Responder => {
                // The handshake carried message 0 (the first request, or the first message of
                // an asynchronous stream); the initiator's datagrams continue at message 1.
                stream.inbox.push_back(Incoming {
                    id: 0,
                    bytes: session.payload,
                });
                stream.next_recv_id = 1;
                me.events.push_back(Event::Readable { stream: handle });
                // Confirms the handshake, so the initiator stops resending its last datagram.
                stream.control.ping = true;
            }
            Role::Initiator => {
                stream.next_send_id = 1;
                me.handshake_payload = session.payload;
                if let Some(bytes) = session.retransmit {
                    let first = now.saturating_add(me.path.rtt.pto_base());
                    me.handshake_retransmit = Some((bytes, first, 0));
                }
            }
        }
        stream.control.credit = true;
        me.flow.open_stream(handle, INITIAL_STREAM_CREDIT);
        me.by_gen.insert(0, handle);
        me.streams.insert(handle, stream);
        if me.rekey_owed && role == Role::Initiator {
            //= docs/SPEC.md#ticket-rekey-owed
            //# A ticketed connection MUST be marked as owing a forward-secrecy rekey
            me.rekey(now)?;
        }
        Ok(me)
    }

    /// Which side this endpoint is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The key exchange that opened the connection.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The current key data epoch (0 until the first connection rekey).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The peer's address as this endpoint sends to it.
    pub fn remote_address(&self) -> SocketAddr {
        self.path.address
    }

    /// The responder's handshake payload (initiator side: the ResponderComplete's or Hello
    /// answer's octets).
    pub fn handshake_payload(&self) -> &[u8] {
        &self.handshake_payload
    }

    /// Responder: whether message 0 arrived as 0-RTT early data (replayable, not forward
    /// secret). Initiator: whether the responder accepted the early data (if not, the request
    /// must be sent again).
    pub fn early_data(&self) -> bool {
        self.early_data
    }

    /// Whether a ticketed connection still owes its forward-secrecy rekey.
    pub fn rekey_owed(&self) -> bool {
        self.rekey_owed
    }

    /// Why the connection ended, once it did (the same reason as [`Event::Closed`]).
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.closed_reason.as_ref()
    }

    /// True once the connection ended (see the [`Event::Closed`] reason).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Counters of what was received, dropped and sent.
    pub fn counters(&self) -> ConnectionCounters {
        let mut c = self.counters.clone();
        for h in self.streams.values().flat_map(|s| s.halves.iter()) {
            add_counters(&mut c.reassembly, &h.reassembler.counters());
            add_counters(&mut c.reassembly, &h.ack_reassembler.counters());
            c.packets_retransmitted += h.sent.packets_retransmitted();
        }
        c
    }

    /// Path metrics (SPEC metrics): RTT, loss, volume, PDM timing, time since the last
    /// forward-secrecy exchange is `now - last_rekey_at`.
    pub fn path_metrics(&self) -> super::recovery::PathMetrics {
        let mut m = self.path.metrics.clone();
        m.update_rtt(&self.path.rtt);
        m
    }

    /// Congestion window and octets in flight on the path.
    pub fn congestion(&self) -> (u64, u64) {
        (self.path.cc.window(), self.bytes_in_flight())
    }

    /// Octets held for the peer (reassembly, ordering, unread messages) and for sending.
    pub fn buffered(&self) -> (usize, usize) {
        let recv = self.streams.values().map(Stream::buffered).sum();
        let send = self.streams.values().map(Stream::send_buffered).sum();
        (recv, send)
    }

    /// Epochs of the key data still held (wiped ones are gone).
    pub fn key_epochs(&self) -> Vec<u32> {
        self.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.is_some())
            .map(|(e, _)| e as u32)
            .collect()
    }

    /// The state of one stream, for reports and tests.
    pub fn stream_stats(&self, stream: StreamHandle) -> Option<StreamStats> {
        let s = self.streams.get(&stream)?;
        let cur = s.halves.back()?;
        Some(StreamStats {
            halves: s.halves.len(),
            generation: cur.g,
            epoch: cur.epoch,
            queued: s.queued_bytes,
            unacknowledged: s.halves.iter().map(|h| h.buffers.len()).sum(),
            in_flight: s.halves.iter().map(|h| h.sent.bytes_in_flight()).sum(),
            resend_pending: s.halves.iter().map(|h| h.resend.len()).sum(),
            pto_count: cur.sent.pto_count(),
            next_counter: cur.sealer.next_counter(),
            next_in_order: cur.next_in_order,
            out_of_order: s.halves.iter().map(|h| h.pending.len()).sum(),
            credit: self.flow.stream(&stream).map_or(0, |c| c.available()),
            connection_credit: self.flow.connection().available(),
            accepted: cur.peer_id.is_some(),
        })
    }

    /// Which side created `stream` (and may restart it).
    pub fn stream_creator(&self, stream: StreamHandle) -> Option<Role> {
        self.streams.get(&stream).map(|s| s.creator)
    }

    /// Streams currently held.
    pub fn streams(&self) -> impl Iterator<Item = (StreamHandle, StreamKind, &str)> + '_ {
        self.streams
            .values()
            .map(|s| (s.handle, s.kind, s.service.as_str()))
    }

    pub(super) fn bytes_in_flight(&self) -> u64 {
        self.streams
            .values()
            .flat_map(|s| s.halves.iter())
            .map(|h| h.sent.bytes_in_flight())
            .sum()
    }

    pub(super) fn key_data(&self, epoch: u32) -> Result<&KeyData, StreamError> {
        self.keys
            .get(epoch as usize)
            .and_then(Option::as_ref)
            .ok_or(StreamError::Crypto(CryptoError::CountersExhausted))
    }

    /// A new half of generation `g` under key data `epoch`.
    pub(super) fn new_half(
        &mut self,
        g: u64,
        epoch: u32,
        my_id: Vec<u8>,
        peer_id: Option<Vec<u8>>,
    ) -> Result<Half, StreamError> {
        let keys = self
            .key_data(epoch)?
            .stream_keys(&self.provider, self.role, g)?;
        let peer_type = match self.role {
            Role::Initiator => MessageType::RESPONDER_DATA,
            Role::Responder => MessageType::INITIATOR_DATA,
        };
        Ok(Half {
            g,
            epoch,
            peer_id,
            one_time: VecDeque::new(),
            sealer: keys.sealer,
            ack_sealer: keys.ack_sealer,
            sent: SentTracker::new(self.path.rtt.clone()),
            buffers: BTreeMap::new(),
            resend: BTreeMap::new(),
            probe: std::collections::BTreeSet::new(),
            send_closed: false,
            my_id,
            reassembler: Reassembler::with_config(keys.opener, peer_type, self.config.reassembly),
            ack_reassembler: Reassembler::with_config(keys.ack_opener, peer_type, ACK_REASSEMBLY),
            received: ReceivedSet::new(),
            next_in_order: 0,
            pending: BTreeMap::new(),
            recv_end: None,
            partial: None,
            retired_at: None,
            ids_ahead: 0,
            acceptance: None,
        })
    }

    pub(super) fn new_stream(
        &self,
        handle: StreamHandle,
        kind: StreamKind,
        service: String,
        creator: Role,
    ) -> Stream {
        Stream {
            handle,
            kind,
            service,
            creator,
            halves: VecDeque::new(),
            state: StreamState::Opening,
            control: Control::default(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_send_id: 0,
            responses: BTreeMap::new(),
            next_response: 0,
            in_message: false,
            inbox: VecDeque::new(),
            next_recv_id: 0,
            window: ReceiveWindow::new(self.config.stream_window),
            created_by: None,
            reads_responses: creator == self.role,
            creation_sent: false,
            credentials: Vec::new(),
            restart_sent: None,
            close_sent: None,
            close_reason: None,
            close_sent_at: None,
        }
    }

    /// Allocates a generation (initiator even, responder odd: never the same twice).
    //= docs/SPEC.md#stream-generation
    //# The creator of a stream or of a Restart MUST allocate its generation: the initiator uses even numbers, the responder odd ones, each never used before in the connection.
    pub(super) fn allocate_generation(&mut self) -> Result<u64, StreamError> {
        let g = self.next_gen;
        if g >= 1 << 32 {
            return Err(StreamError::Crypto(CryptoError::CountersExhausted));
        }
        self.next_gen = g + 2;
        Ok(g)
    }

    /// Issues this endpoint's canonical identifier for generation `g`.
    pub(super) fn issue_id(&mut self, g: u64) -> Result<Vec<u8>, StreamError> {
        let index = (u64::from(self.slot) << 32) | g;
        self.issuer
            .issue(index)
            .map(|id| id.to_vec())
            .map_err(|_| StreamError::Crypto(CryptoError::CountersExhausted))
    }

    // ----- application calls -----

    /// Opens a stream bound to `service`: transactional (this endpoint is the client) or
    /// asynchronous (this endpoint sends). The creation travels on the first stream with the
    /// first message (or alone when `first` is `None`); further messages wait for the peer's
    /// acceptance.
    ///
    /// # Errors
    /// [`StreamError::TooManyStreams`], [`StreamError::ConnectionClosed`], or a message error.
    pub fn open(
        &mut self,
        kind: StreamKind,
        service: &str,
        credentials: Vec<crate::handshake::PrincipalCredential>,
    ) -> Result<StreamHandle, StreamError> {
        if self.state != State::Open {
            return Err(StreamError::ConnectionClosed);
        }
        if self.streams.len() >= self.config.max_streams {
            return Err(StreamError::TooManyStreams(self.config.max_streams));
        }
        let g = self.allocate_generation()?;
        let my_id = self.issue_id(g)?;
        let half = self.new_half(g, self.epoch, my_id, None)?;
        let handle = StreamHandle(self.next_handle);
        self.next_handle += 1;
        let mut stream = self.new_stream(handle, kind, service.to_owned(), self.role);
        stream.halves.push_back(half);
        stream.credentials = credentials;
        stream.control.credit = true;
        self.flow.open_stream(handle, INITIAL_STREAM_CREDIT);
        self.by_gen.insert(g, handle);
        self.streams.insert(handle, stream);
        Ok(handle)
    }

    /// Queues a message: a request on a transactional stream this endpoint created, or a
    /// message on an asynchronous stream it sends on. Returns the message id (a request's id
    /// is the id of its response).
    ///
    /// # Errors
    /// [`StreamError::WrongDirection`] on a stream this endpoint only receives on, and the
    /// size and buffer limits.
    pub fn send(&mut self, stream: StreamHandle, bytes: Vec<u8>) -> Result<u64, StreamError> {
        let me = self.role;
        let s = self.check_send(stream, bytes.len())?;
        if !s.may_send(me) || (s.kind == StreamKind::Transactional && s.creator != me) {
            return Err(StreamError::WrongDirection);
        }
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(StreamError::UnknownStream)?;
        let id = s.next_send_id;
        s.next_send_id += 1;
        s.queued_bytes += bytes.len();
        s.queue.push_back(OutMessage {
            bytes,
            offset: 0,
            aborted: false,
        });
        Ok(id)
    }

    /// Answers request `id` on a transactional stream the peer created. Responses go out in
    /// request order; one given early waits for those before it.
    ///
    /// # Errors
    /// [`StreamError::NoSuchRequest`], [`StreamError::WrongDirection`] and the size limits.
    pub fn respond(
        &mut self,
        stream: StreamHandle,
        id: u64,
        bytes: Vec<u8>,
    ) -> Result<(), StreamError> {
        let me = self.role;
        let s = self.check_send(stream, bytes.len())?;
        if s.kind != StreamKind::Transactional || s.creator == me {
            return Err(StreamError::WrongDirection);
        }
        if id < s.next_response || id >= s.next_recv_id || s.responses.contains_key(&id) {
            return Err(StreamError::NoSuchRequest(id));
        }
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(StreamError::UnknownStream)?;
        s.responses.insert(id, Some(bytes));
        s.flush_responses();
        Ok(())
    }

    fn check_send(&self, stream: StreamHandle, len: usize) -> Result<&Stream, StreamError> {
        if self.state != State::Open {
            return Err(StreamError::ConnectionClosed);
        }
        let s = self
            .streams
            .get(&stream)
            .ok_or(StreamError::UnknownStream)?;
        if matches!(s.state, StreamState::Closing | StreamState::Closed)
            || s.control.close.is_some()
        {
            return Err(StreamError::Closed);
        }
        if len > self.config.max_message_size {
            return Err(StreamError::TooLarge {
                len,
                limit: self.config.max_message_size,
            });
        }
        let (_, buffered) = self.buffered();
        if buffered.saturating_add(len) > self.config.max_send_buffer {
            return Err(StreamError::Blocked {
                buffered,
                limit: self.config.max_send_buffer,
            });
        }
        Ok(s)
    }

    /// Takes the next message that arrived on `stream`, in order. Reading returns flow credit
    /// to the peer.
    pub fn read(&mut self, stream: StreamHandle) -> Option<Incoming> {
        let s = self.streams.get_mut(&stream)?;
        let m = s.inbox.pop_front()?;
        let len = m.bytes.len() as u64;
        if s.window.on_consumed(len).is_some() {
            s.control.credit = true;
        }
        if self.conn_window.on_consumed(len).is_some() {
            s.control.credit = true;
        }
        Some(m)
    }

    /// Abandons the oldest message not yet fully sent on `stream` (draft 1.1.2 "pre-empt"):
    /// octets not yet sealed are dropped, and an empty datagram with the ABORT flag takes its
    /// place, so the receiver discards what it has and the message keeps its number (an aborted
    /// request is answered by an aborted response, which `read` skips). Datagrams already sealed are still
    /// delivered to the receiver's reassembly (they are resent until acknowledged) but never
    /// handed to its application. Returns false when nothing was queued.
    pub fn abandon(&mut self, stream: StreamHandle) -> bool {
        let Some(s) = self.streams.get_mut(&stream) else {
            return false;
        };
        let Some(m) = s.queue.front_mut() else {
            return false;
        };
        if m.aborted {
            // Already abandoned; its ABORT is on the way.
            return false;
        }
        let rest = m.bytes.len().saturating_sub(m.offset);
        s.queued_bytes = s.queued_bytes.saturating_sub(rest);
        // Keep an empty remainder: an ABORT datagram goes in its place, sent or not, so the
        // message still takes its number (a request's id pairs it with its response).
        m.bytes.clear();
        m.offset = 0;
        m.aborted = true;
        true
    }

    /// Restarts a stream this endpoint created: closes its current generation and opens a new
    /// one with the same service and kind; with `rekey`, over fresh key data (a KeyExchange);
    /// with `use_key_of`, over the key data of that other stream.
    ///
    /// # Errors
    /// [`StreamError::NotCreator`], [`StreamError::RestartInProgress`].
    pub fn restart(
        &mut self,
        stream: StreamHandle,
        rekey: bool,
        use_key_of: Option<StreamHandle>,
    ) -> Result<(), StreamError> {
        if self.state != State::Open {
            return Err(StreamError::ConnectionClosed);
        }
        let s = self
            .streams
            .get(&stream)
            .ok_or(StreamError::UnknownStream)?;
        //= docs/SPEC.md#restart-creator
        //# Only the creator of a stream MAY restart it.
        if s.creator != self.role {
            return Err(StreamError::NotCreator);
        }
        if s.control.restart.is_some() || s.state != StreamState::Open {
            return Err(StreamError::RestartInProgress);
        }
        // The peer's identifier of the other stream's current half, and the epoch of its key
        // data: the acceptance cannot be resolved through that identifier here (the peer
        // issued it, not this endpoint), so the restarter keeps the epoch it meant.
        let use_key_of = match use_key_of {
            None => None,
            Some(h) => Some(
                self.streams
                    .get(&h)
                    .and_then(Stream::current)
                    .and_then(|half| Some((half.peer_id.clone()?, half.epoch)))
                    .ok_or(StreamError::UnknownStream)?,
            ),
        };
        let g = self.allocate_generation()?;
        let key_exchange = if rekey {
            let mut bytes = [0u8; 56];
            self.entropy.fill(&mut bytes);
            let secret = X448Secret::from_bytes(bytes);
            let public = *secret.public_key(&*self.provider).as_bytes();
            self.rekey_secrets.insert(g, secret);
            Some(public)
        } else {
            None
        };
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(StreamError::UnknownStream)?;
        s.control.restart = Some(RestartPlan {
            g,
            key_exchange,
            use_key_of,
            my_id: None,
        });
        self.by_gen.insert(g, stream);
        Ok(())
    }

    /// Starts a connection forward-secrecy rekey (draft 4.3): a Restart of the first stream
    /// with a KeyExchange that also mixes the responder's device key. Once confirmed, every
    /// stream moves to the new key data. Initiator only.
    ///
    /// # Errors
    /// [`StreamError::NotCreator`] on the responder, [`StreamError::RestartInProgress`].
    pub fn rekey(&mut self, now: Duration) -> Result<(), StreamError> {
        if self.rekey.is_some() {
            return Err(StreamError::RestartInProgress);
        }
        self.restart(StreamHandle(0), true, None)?;
        self.rekey = Some(Rekey {
            confirm_from: None,
            started: now,
            confirm_g: None,
        });
        Ok(())
    }

    /// Closes a stream after its queued messages: a Close with `code` and `reason` follows
    /// them. Closing the first stream closes the connection.
    ///
    /// # Errors
    /// [`StreamError::UnknownStream`].
    pub fn close_stream(
        &mut self,
        stream: StreamHandle,
        code: u64,
        reason: &str,
    ) -> Result<(), StreamError> {
        if stream == StreamHandle(0) {
            self.close(Duration::ZERO, code, reason);
            return Ok(());
        }
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(StreamError::UnknownStream)?;
        if s.control.close.is_none() {
            s.control.close = Some((code, truncate(reason)));
        }
        Ok(())
    }

    /// Closes the connection: a Close on the first stream, resent until acknowledged or three
    /// probe timeouts pass, then [`Event::Closed`].
    pub fn close(&mut self, now: Duration, code: u64, reason: &str) {
        if self.state != State::Open {
            return;
        }
        if let Some(s) = self.streams.get_mut(&StreamHandle(0)) {
            s.queue.clear();
            s.queued_bytes = 0;
            s.in_message = false;
            s.control.close = Some((code, truncate(reason)));
        }
        let deadline = now.saturating_add(self.path.rtt.pto_base().saturating_mul(GRACE_PTOS));
        self.state = State::Closing(deadline);
        self.pending_close = Some(CloseReason::Local {
            code,
            reason: truncate(reason),
        });
    }

    /// Ends the connection at once, without telling the peer.
    pub(super) fn terminate(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.out.clear();
        self.closed_reason = Some(reason.clone());
        self.events.push_back(Event::Closed(reason));
        for s in self.streams.values_mut() {
            s.halves.clear();
        }
        self.keys.iter_mut().for_each(|k| *k = None);
    }

    pub(super) fn is_open(&self) -> bool {
        self.state == State::Open
    }

    pub(super) fn closing_deadline(&self) -> Option<Duration> {
        match self.state {
            State::Closing(d) => Some(d),
            _ => None,
        }
    }

    /// The next event, in the order they happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----- rekey bookkeeping used by the receive path -----

    pub(super) fn rekey_started(&self) -> Option<Duration> {
        self.rekey.as_ref().map(|r| r.started)
    }

    pub(super) fn rekey_confirm_generation(&self) -> Option<u64> {
        self.rekey.as_ref().and_then(|r| r.confirm_g)
    }

    /// The rekey's Restart is sealed now: the confirmation deadline counts from here. Counted
    /// from `rekey()`, a Restart held back by a full congestion window (resends go first) used
    /// the whole deadline before it left, and a lossy but working connection ended RekeyFailed.
    pub(super) fn rekey_restart_sent(&mut self, now: Duration) {
        if let Some(r) = self.rekey.as_mut() {
            r.started = now;
        }
    }

    pub(super) fn set_rekey_confirm(&mut self, now: Duration, g: u64) {
        if let Some(r) = self.rekey.as_mut() {
            r.confirm_g = Some(g);
            r.confirm_from = Some(now);
        }
    }

    /// When an unconfirmed connection rekey ends the connection (RekeyFailed). Once the
    /// acceptance arrived: max(24 PTO, 5 s) for a datagram of the new generation to
    /// authenticate, which is what a party without the right keys never produces. Before it,
    /// the idle timeout: the acceptance waits for every datagram before the Restart, which at
    /// 30 % loss behind a bulk transfer takes many round trips (a 1 s deadline ended 18 of 40
    /// such rekeys), and a peer that stopped answering is caught by the idle timeout anyway.
    pub(super) fn rekey_deadline(&self) -> Option<Duration> {
        let r = self.rekey.as_ref()?;
        Some(match r.confirm_from {
            Some(at) => at.saturating_add(
                self.path
                    .rtt
                    .pto_base()
                    .saturating_mul(REKEY_CONFIRM_PTOS)
                    .max(REKEY_CONFIRM_MIN),
            ),
            None => r.started.saturating_add(self.config.idle_timeout),
        })
    }

    pub(super) fn finish_rekey(&mut self) {
        self.rekey = None;
        self.rekey_owed = false;
    }
}

pub(super) fn truncate(reason: &str) -> String {
    let mut end = reason.len().min(255);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

pub(super) fn add_counters(total: &mut ReassemblyCounters, c: &ReassemblyCounters) {
    total.delivered += c.delivered;
    total.fragments += c.fragments;
    total.duplicates += c.duplicates;
    total.replays += c.replays;
    total.tag_failures += c.tag_failures;
    total.inconsistent_fragments += c.inconsistent_fragments;
    total.evicted += c.evicted;
    total.invalid += c.invalid;
}

/// Lets the receive path create halves for a peer's Restart under `KeyData::next`.
pub(super) fn public_of(provider: &dyn CryptoProvider, s: &X448Secret) -> [u8; 56] {
    *s.public_key(provider).as_bytes()
}
