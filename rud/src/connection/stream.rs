//! Streams (SPEC section 5): a stream is a chain of *halves*, one per generation. Creation
//! gives the first; each Restart (and so each rekey) adds one, and the older half only
//! finishes what it already carries.
//!
//! Ordering inside one direction of a half (SPEC ack-space): every datagram of the data
//! counter space is ack-eliciting and resent until acknowledged, while acknowledgement-only
//! datagrams travel in a separate counter space under their own key. A receiver therefore waits
//! for every data counter in turn, and hands messages to the application in the order they
//! were sent.
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use super::event::{Incoming, StreamHandle, StreamKind};
use super::packetize::SealedDatagram;
use super::reassembly::Reassembler;
use super::recovery::{ReceiveWindow, ReceivedSet, SentTracker};
use crate::crypto::datagram_key::DatagramSealer;
use crate::handshake::Role;
use crate::wire::DatagramFlags;

/// What a data counter contributed to the message sequence.
#[derive(Debug)]
pub(crate) enum Piece {
    /// A control datagram (or a creation / Restart datagram for the stream it creates).
    Skip,
    /// Message octets.
    Data {
        flags: DatagramFlags,
        payload: Vec<u8>,
    },
    /// Close of the stream, after the message octets it may carry.
    Close {
        code: u64,
        reason: String,
        payload: Option<(DatagramFlags, Vec<u8>)>,
    },
}

/// One generation of a stream: both directions under one pair of stream keys.
#[derive(Debug)]
pub(crate) struct Half {
    pub g: u64,
    /// Key data (epoch) the keys came from.
    pub epoch: u32,
    // --- send direction ---
    /// The identifier the peer issued for this half; `None` until its acceptance arrives.
    pub peer_id: Option<Vec<u8>>,
    /// One-time identifiers the peer issued, each used for one new datagram.
    pub one_time: VecDeque<Vec<u8>>,
    pub sealer: DatagramSealer,
    /// Acknowledgement-only datagrams: their own key and counters, never resent.
    pub ack_sealer: DatagramSealer,
    pub sent: SentTracker,
    /// Sealed datagrams not yet acknowledged, resent byte for byte.
    pub buffers: BTreeMap<u64, SealedDatagram>,
    /// Packets to resend, by datagram counter; `probe` ones ignore the congestion window.
    pub resend: BTreeMap<u64, BTreeSet<u64>>,
    pub probe: BTreeSet<u64>,
    /// No new ack-eliciting datagram goes on this half (a Restart or its acceptance was sent).
    pub send_closed: bool,
    // --- receive direction ---
    /// The canonical identifier this endpoint issued for the half.
    pub my_id: Vec<u8>,
    pub reassembler: Reassembler,
    pub ack_reassembler: Reassembler,
    pub received: ReceivedSet,
    /// The next data counter to hand to the message sequence.
    pub next_in_order: u64,
    pub pending: BTreeMap<u64, Piece>,
    /// The counter of the peer's Restart (or acceptance of ours) that ends this half's receive
    /// direction: nothing at or above it belongs here.
    pub recv_end: Option<u64>,
    /// The message being assembled.
    pub partial: Option<Vec<u8>>,
    /// When the half stopped being current; its keys are wiped a grace period later.
    pub retired_at: Option<Duration>,
    /// One-time identifiers issued to the peer for this half and not yet seen in use.
    pub ids_ahead: usize,
    /// Acceptor of a Restart: the counter of the acceptance sent on this (old) half, its last
    /// datagram. The restarter's first ack-eliciting datagram on the newer half proves that it
    /// holds everything up to it; what is unacknowledged here is settled then (the restarter
    /// may already have dropped this half, with its keys, and could no longer acknowledge).
    pub acceptance: Option<u64>,
}

impl Half {
    /// True once every data counter up to `recv_end` went through the sequence.
    pub fn receive_done(&self) -> bool {
        self.recv_end.is_some_and(|end| self.next_in_order > end)
    }

    /// True when nothing sent on the half is still unacknowledged.
    pub fn send_idle(&self) -> bool {
        self.buffers.is_empty()
    }
}

/// A message waiting to be sent (or partly sent).
#[derive(Debug)]
pub(crate) struct OutMessage {
    pub bytes: Vec<u8>,
    pub offset: usize,
    /// Abandoned after some of it was sealed: the next datagram carries ABORT instead.
    pub aborted: bool,
}

/// The stream's lifecycle (SPEC stream state diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamState {
    /// Created here; the creation datagram is queued or sent, the acceptance not yet seen.
    Opening,
    Open,
    /// Close queued or sent, not yet acknowledged.
    Closing,
    Closed,
}

/// Control to send on the stream, each until acknowledged.
#[derive(Debug, Default)]
pub(crate) struct Control {
    /// The acceptance of a creation (sent on the new half) or of a Restart (sent on the old
    /// half): our new identifier, and our KeyExchange key when the Restart carried one.
    pub accept: Option<Accept>,
    /// A Restart to send on the current half.
    pub restart: Option<RestartPlan>,
    /// Close (code, reason).
    pub close: Option<(u64, String)>,
    /// Refuse the stream with this Error code (sent on the new half, with a Close).
    pub refuse: Option<u64>,
    /// An ack-eliciting datagram with nothing else (keep-alive, path challenge, rekey
    /// confirmation).
    pub ping: bool,
    /// Credit to advertise.
    pub credit: bool,
    /// With `accept` for a Restart: the new half whose identifier the acceptance carries.
    pub accept_new_g: Option<u64>,
    /// A ticket for the peer (first stream, responder): lifetime in seconds and the ticket.
    pub ticket: Option<(u64, Vec<u8>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Accept {
    /// Generation of the half the accepted identifier belongs to.
    pub g: u64,
    pub key_exchange: Option<[u8; 56]>,
}

#[derive(Debug, Clone)]
pub(crate) struct RestartPlan {
    /// The new half's generation (already created, waiting for the peer's identifier).
    pub g: u64,
    pub key_exchange: Option<[u8; 56]>,
    /// UseKeyOf: the peer-issued identifier of the stream whose key data the new half takes,
    /// and the epoch of that key data.
    pub use_key_of: Option<(Vec<u8>, u32)>,
    /// The identifier this endpoint issued for the new half (set when the Restart is sealed).
    pub my_id: Option<Vec<u8>>,
}

/// A stream: its halves, queues, credit and control.
#[derive(Debug)]
pub(crate) struct Stream {
    pub handle: StreamHandle,
    pub kind: StreamKind,
    pub service: String,
    /// Which side created it (and may Restart it).
    pub creator: Role,
    pub halves: VecDeque<Half>,
    pub state: StreamState,
    pub control: Control,
    // --- sending ---
    pub queue: VecDeque<OutMessage>,
    /// Octets in `queue` not yet sealed.
    pub queued_bytes: usize,
    /// Id of the next message sent (requests on a transactional client; any message on an
    /// asynchronous sender).
    pub next_send_id: u64,
    /// Transactional server: responses given out of order, held until their turn; `None`
    /// answers a request the client abandoned.
    pub responses: BTreeMap<u64, Option<Vec<u8>>>,
    pub next_response: u64,
    /// A message is partly sealed on the current half: nothing else goes on it meanwhile.
    pub in_message: bool,
    // --- receiving ---
    pub inbox: VecDeque<Incoming>,
    pub next_recv_id: u64,
    pub window: ReceiveWindow,
    /// Creation datagram of this stream (the generation of the parent's half and the counter
    /// that carried it), so a retransmitted copy is recognised.
    pub created_by: Option<(u64, u64)>,
    /// A transactional stream this endpoint created: it reads responses, not requests.
    pub reads_responses: bool,
    /// Created here: whether the creation datagram was sealed.
    pub creation_sent: bool,
    /// Principal credentials carried by the creation datagram.
    pub credentials: Vec<crate::handshake::PrincipalCredential>,
    /// The Restart sent and not yet accepted.
    pub restart_sent: Option<RestartPlan>,
    /// The datagram that carried our Close (generation, counter).
    pub close_sent: Option<(u64, u64)>,
    pub close_reason: Option<(u64, String)>,
    /// When our Close was sealed. Like the connection's, it completes when acknowledged or
    /// three probe timeouts later if only control datagrams are unacknowledged on the stream:
    /// the peer forgets a closed stream after a grace period, and a lost final
    /// acknowledgement left the Close resent into the void for good, its probes filling the
    /// congestion window.
    pub close_sent_at: Option<Duration>,
}

impl Stream {
    /// The half new datagrams go on.
    pub fn current(&self) -> Option<&Half> {
        self.halves.back()
    }

    pub fn half(&self, g: u64) -> Option<&Half> {
        self.halves.iter().find(|h| h.g == g)
    }

    pub fn half_mut(&mut self, g: u64) -> Option<&mut Half> {
        self.halves.iter_mut().find(|h| h.g == g)
    }

    /// Whether a half that stopped being current may be dropped (after its grace period):
    /// everything delivered and acknowledged, and no acceptance still to send on it. An
    /// acceptance held back by a full congestion window is not in `buffers` yet; dropping its
    /// half lost it for good, and the peer's Restart (and every message after) hung.
    pub fn may_drop(&self, half: &Half) -> bool {
        half.receive_done()
            && half.send_idle()
            && self.control.accept.as_ref().is_none_or(|a| a.g != half.g)
    }

    /// Whether every half before the current one received all the peer sent on it. Until then
    /// nothing ack-eliciting goes on the current half: the peer takes such a datagram as
    /// proof that its old half was received in full (see `Half::acceptance`).
    pub fn older_complete(&self) -> bool {
        let n = self.halves.len();
        self.halves
            .iter()
            .take(n.saturating_sub(1))
            .all(Half::receive_done)
    }

    /// Whether this endpoint may send messages on the stream.
    pub fn may_send(&self, me: Role) -> bool {
        match self.kind {
            StreamKind::Transactional => true,
            StreamKind::Asynchronous => self.creator == me,
        }
    }

    /// Runs the message sequence of every half, oldest first: completed messages go to the
    /// inbox; a Close in its turn is returned.
    //= docs/SPEC.md#message-order
    //# A receiver MUST hand messages of a stream to the application in data-counter order, each exactly once and only after every datagram of it authenticated
    pub fn drain(&mut self, max_message: usize) -> Result<Option<(u64, String)>, &'static str> {
        for half in self.halves.iter_mut() {
            while let Some(piece) = half.pending.remove(&half.next_in_order) {
                half.next_in_order = half.next_in_order.saturating_add(1);
                let (data, close) = match piece {
                    Piece::Skip => continue,
                    Piece::Data { flags, payload } => (Some((flags, payload)), None),
                    Piece::Close {
                        code,
                        reason,
                        payload,
                    } => (payload, Some((code, reason))),
                };
                if let Some((flags, payload)) = data {
                    if flags.is_abort() {
                        // The sender gave up on the message (draft 1.1.2 "pre-empt"). It keeps
                        // its number; an abandoned request gets an abandoned response.
                        half.partial = None;
                        if self.kind == StreamKind::Transactional && !self.reads_responses {
                            self.responses.insert(self.next_recv_id, None);
                        }
                        self.next_recv_id = self.next_recv_id.saturating_add(1);
                    } else {
                        let mut msg = half.partial.take().unwrap_or_default();
                        if msg.len().saturating_add(payload.len()) > max_message {
                            return Err("message larger than the receiver's limit");
                        }
                        msg.extend_from_slice(&payload);
                        if flags.is_final() {
                            self.inbox.push_back(Incoming {
                                id: self.next_recv_id,
                                bytes: msg,
                            });
                            self.next_recv_id = self.next_recv_id.saturating_add(1);
                        } else {
                            half.partial = Some(msg);
                        }
                    }
                }
                if close.is_some() {
                    return Ok(close);
                }
            }
            if !half.receive_done() {
                // Later halves wait until this one has delivered everything it carries.
                break;
            }
            if half.partial.is_some() {
                return Err("a message crosses a Restart");
            }
        }
        Ok(None)
    }

    /// Queues the responses whose turn has come, in request order.
    pub fn flush_responses(&mut self) {
        while let Some(r) = self.responses.remove(&self.next_response) {
            self.next_response += 1;
            let aborted = r.is_none();
            let bytes = r.unwrap_or_default();
            self.queued_bytes += bytes.len();
            self.queue.push_back(OutMessage {
                bytes,
                offset: 0,
                aborted,
            });
        }
    }

    /// Total octets held in reassembly and ordering buffers.
    pub fn buffered(&self) -> usize {
        self.halves
            .iter()
            .map(|h| {
                h.reassembler.buffered_octets()
                    + h.pending
                        .values()
                        .map(|p| match p {
                            Piece::Skip | Piece::Close { payload: None, .. } => 0,
                            Piece::Data { payload, .. }
                            | Piece::Close {
                                payload: Some((_, payload)),
                                ..
                            } => payload.len(),
                        })
                        .sum::<usize>()
                    + h.partial.as_ref().map_or(0, Vec::len)
            })
            .sum::<usize>()
            + self.inbox.iter().map(|m| m.bytes.len()).sum::<usize>()
    }

    /// Octets sealed or queued and not yet acknowledged.
    pub fn send_buffered(&self) -> usize {
        self.queued_bytes
            + self
                .halves
                .iter()
                .flat_map(|h| h.buffers.values())
                .map(SealedDatagram::sealed_len)
                .sum::<usize>()
    }
}
