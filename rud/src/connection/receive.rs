//! The receive path of a connection: route a packet to its stream half, reassemble and
//! authenticate, then apply what the datagram says (SPEC sections 3.6 and 5).
use std::net::SocketAddr;
use std::time::Duration;

use super::conn::{Connection, add_counters, public_of, slot_of};
use super::event::{CloseReason, Event, Incoming, StreamHandle, StreamKind};
use super::keys::KeyData;
use super::path::Path;
use super::reassembly::{Delivered, PacketError};
use super::recovery::{OpenedDatagram, RecoveryEvents};
use super::stream::{Accept, Piece, StreamState};
use crate::crypto::x448::X448PublicKey;
use crate::handshake::{PrincipalCredential, Role};
use crate::wire::{
    Datagram, DatagramFlags, ErrorCode, ErrorMessage, ExtensionValue, split_aad, validate,
};

/// What one authenticated datagram asks of the connection, lifted out of its extensions.
#[derive(Default)]
struct Parsed {
    create: Option<(StreamKind, String)>,
    restart: bool,
    stream_id: Option<Vec<u8>>,
    generation: Option<(u64, u64)>,
    key_exchange: Option<[u8; 56]>,
    use_key_of: Option<Vec<u8>>,
    credentials: Vec<PrincipalCredential>,
    close: Option<(u64, String)>,
    error: Option<u64>,
    credit: Option<(u64, u64)>,
    one_time: Vec<Vec<u8>>,
    ticket: Option<(u64, Vec<u8>)>,
    only_ack: bool,
}

impl Connection {
    /// Feeds one UDP payload received at `now` from `from`. Everything that is not an
    /// authenticated datagram of this connection is dropped and counted, never delivered.
    pub fn handle_datagram(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        if self.is_closed() {
            return;
        }
        self.counters.packets_received += 1;
        let pkt = match Datagram::decode(bytes) {
            Ok(Datagram::Data(p)) => p,
            Ok(Datagram::Error(e)) => return self.on_error_hint(now, &e),
            _ => {
                self.counters.malformed += 1;
                return;
            }
        };
        let Some((handle, g)) = self.route(pkt.stream_id.0) else {
            self.counters.unknown_stream += 1;
            return;
        };
        let Ok((aad, _)) = split_aad(bytes) else {
            self.counters.malformed += 1;
            return;
        };
        // Counted on the path it came over, per packet, before it authenticates: the octets
        // of every packet routed here bound what may go back to an unvalidated address.
        self.on_arrival(from, bytes.len() as u64);
        let Some(half) = self.streams.get_mut(&handle).and_then(|s| s.half_mut(g)) else {
            self.counters.unknown_stream += 1;
            return;
        };
        let reassembler = if pkt.flags.is_ack_only() {
            &mut half.ack_reassembler
        } else {
            &mut half.reassembler
        };
        let delivered = match reassembler.receive(&pkt, aad) {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(PacketError::Replayed { .. }) if !pkt.flags.is_ack_only() => {
                // The peer resent a datagram we accepted: our acknowledgement was probably lost.
                half.received.on_duplicate(now);
                return;
            }
            Err(_) => return,
        };
        // A one-time identifier issued for this half came back in use (each serves one
        // datagram): one fewer ahead, so the next datagram issues another. Never counted down,
        // the peer got `one_time_ids` identifiers per half in all, then reused the canonical one.
        if pkt.stream_id.0 != half.my_id.as_slice() {
            half.ids_ahead = half.ids_ahead.saturating_sub(1);
        }
        self.counters.datagrams_authenticated += 1;
        self.on_authenticated(now, from, handle, g, delivered);
    }

    /// The stream and generation an identifier this endpoint issued names.
    //= docs/SPEC.md#stream-identifiers
    //# A receiver MUST drop a packet whose stream identifier it did not issue, or whose one-time counter is above the highest it issued, before any key derivation.
    fn route(&self, id: &[u8]) -> Option<(StreamHandle, u64)> {
        let g = if id == self.handshake_id.as_slice() {
            0
        } else {
            let decoded = self.issuer.decode(id).ok()?;
            if slot_of(decoded.stream_index) != self.slot {
                return None;
            }
            decoded.stream_index & 0xFFFF_FFFF
        };
        let handle = *self.by_gen.get(&g)?;
        self.streams.get(&handle)?.half(g)?;
        Some((handle, g))
    }

    /// An unauthenticated Error: a hint. StateLost for an identifier we send with starts the
    /// StateLost timer: unless something authenticated arrives within three probe timeouts,
    /// the connection ends instead of retrying until the idle timeout.
    //= docs/SPEC.md#state-lost
    //# A StateLost Error is a hint: the receiver MUST NOT close before three probe timeouts pass without an authenticated datagram, and MUST NOT answer it.
    fn on_error_hint(&mut self, now: Duration, e: &ErrorMessage<'_>) {
        self.counters.errors_received += 1;
        let ours = self
            .streams
            .values()
            .flat_map(|s| s.halves.iter())
            .any(|h| h.peer_id.as_deref() == Some(e.stream_id.0));
        if ours && e.code == ErrorCode::STATE_LOST && self.state_lost_at.is_none() {
            self.state_lost_at = Some(now);
        }
    }

    fn on_authenticated(
        &mut self,
        now: Duration,
        from: SocketAddr,
        handle: StreamHandle,
        g: u64,
        delivered: Delivered,
    ) {
        let n = delivered.nonce();
        let flags = delivered.flags();
        let opened = OpenedDatagram::from_delivered(&delivered);
        let decoded = match opened.decode() {
            Ok(d) => d,
            Err(e) => return self.violation(format!("datagram {n}: {e}")),
        };
        let plain = decoded.plaintext();
        if let Some(v) =
            validate::data_extensions(&[&plain.extensions], delivered.plaintext()).first()
        {
            return self.violation(format!("datagram {n}: {} ({})", v.rule, v.message));
        }
        let parsed = match parse(&decoded) {
            Ok(p) => p,
            Err(e) => return self.violation(format!("datagram {n}: {e}")),
        };
        //= docs/SPEC.md#ack-space
        //# An acknowledgement-only datagram MUST carry the CONTROL flag and no extension other than Ack and Metrics; a receiver MUST treat anything else in that space as a protocol violation.
        let ack_only = flags.is_ack_only();
        if ack_only && !(flags.is_control() && parsed.only_ack) {
            return self.violation(format!(
                "datagram {n}: acknowledgement-only datagram carries more"
            ));
        }
        //= docs/SPEC.md#control-flag
        //# A datagram with the CONTROL flag MUST carry an empty payload and the FINAL flag, and no ABORT flag.
        if flags.is_control()
            && (!plain.payload.is_empty() || !flags.is_final() || flags.is_abort())
        {
            return self.violation(format!("datagram {n}: control datagram with a payload"));
        }
        self.last_activity = now;
        self.state_lost_at = None;
        if !plain.payload.is_empty() {
            self.awaiting_pings = 0;
        }
        self.handshake_retransmit = None;
        if !ack_only {
            // A bare ping (a heartbeat) probes a path; anything else is the peer's traffic.
            let bare =
                flags.is_control() && plain.payload.is_empty() && plain.extensions.0.is_empty();
            self.migrate_if_needed(now, from, handle, g, n, bare);
        }
        if let Some(p) = self.path_of(from) {
            p.last_heard = now;
        }

        if let Some(s) = self.streams.get_mut(&handle) {
            // Acceptor: an ack-eliciting datagram of the restarter on a newer half proves it
            // holds everything we sent on the older ones, up to our acceptance (it sends none
            // before, see `emit_new`): what is still unacknowledged there is settled.
            if !ack_only {
                for old in s.halves.iter_mut().take_while(|h| h.g != g) {
                    if old.acceptance.take().is_some() {
                        settle(old);
                    }
                }
            }
        }
        // Acknowledgement state of this half, then what the peer acknowledged of ours.
        let Some(half) = self.streams.get_mut(&handle).and_then(|s| s.half_mut(g)) else {
            return;
        };
        if !ack_only {
            half.received.on_received(now, &opened, true);
        }
        if let Some(ack) = decoded.ack() {
            match half.sent.on_ack(now, ack) {
                Ok(events) => self.on_recovery(now, handle, g, events),
                Err(e) => return self.violation(format!("datagram {n}: {e}")),
            }
        }
        if let Some(m) = decoded.metrics() {
            let sample = self.pdm.on_received(now, m);
            self.path.metrics.on_pdm(sample);
        }
        if let Some((stream, connection)) = parsed.credit {
            self.flow.on_connection_credit(&opened, connection);
            self.flow.on_stream_credit(&opened, &handle, stream);
        }
        //= docs/SPEC.md#ticket-issue
        //# An initiator MUST take a ticket only from an authenticated datagram of the first stream
        if handle == StreamHandle(0)
            && let Some((lifetime_s, ticket)) = &parsed.ticket
        {
            self.on_ticket(*lifetime_s, ticket);
        }
        if let Some(half) = self.streams.get_mut(&handle).and_then(|s| s.half_mut(g)) {
            // One-time identifiers the peer issued for this half (draft 5.3).
            for id in parsed
                .one_time
                .iter()
                .take(crate::wire::limits::MAX_ONE_TIME_IDS)
            {
                if half.one_time.len() < 64 {
                    half.one_time.push_back(id.clone());
                }
            }
        }
        self.confirm_rekey(g);
        if ack_only {
            return;
        }

        // Creation of a new stream: the datagram belongs to it, not to this one.
        if let Some((kind, service)) = parsed.create.clone() {
            self.set_piece(handle, g, n, Piece::Skip);
            self.on_create(
                now,
                handle,
                g,
                n,
                kind,
                service,
                &parsed,
                flags,
                plain.payload,
            );
            return self.drain(handle);
        }
        if parsed.restart {
            self.set_piece(handle, g, n, Piece::Skip);
            self.on_restart(now, handle, g, n, &parsed);
            return self.drain(handle);
        }
        if parsed.stream_id.is_some()
            && let Err(e) = self.on_accept(now, handle, g, n, &parsed)
        {
            return self.violation(format!("datagram {n}: {e}"));
        }
        if let Some(code) = parsed.error {
            self.set_piece(handle, g, n, Piece::Skip);
            return self.on_refused(handle, code);
        }
        let piece = match (&parsed.close, flags.is_control()) {
            (Some((code, reason)), _) => Piece::Close {
                code: *code,
                reason: reason.clone(),
                payload: (!flags.is_control()).then(|| (flags, plain.payload.to_vec())),
            },
            (None, true) => Piece::Skip,
            (None, false) => Piece::Data {
                flags,
                payload: plain.payload.to_vec(),
            },
        };
        if let Piece::Data { payload, .. } = &piece
            && !self.account_received(handle, payload.len() as u64)
        {
            return;
        }
        self.set_piece(handle, g, n, piece);
        self.drain(handle);
    }

    /// Checks the flow limits of a verified payload.
    //= docs/SPEC.md#flow-credit
    //# A sender MUST NOT exceed either credit
    fn account_received(&mut self, handle: StreamHandle, len: u64) -> bool {
        let conn = self.conn_window.on_received(len);
        let stream = self
            .streams
            .get_mut(&handle)
            .map(|s| s.window.on_received(len));
        match (conn, stream) {
            (Ok(()), Some(Ok(()))) => true,
            _ => {
                self.violation("flow credit exceeded".into());
                false
            }
        }
    }

    fn set_piece(&mut self, handle: StreamHandle, g: u64, n: u64, piece: Piece) {
        if let Some(half) = self.streams.get_mut(&handle).and_then(|s| s.half_mut(g))
            && n >= half.next_in_order
            && half.recv_end.is_none_or(|end| n <= end)
        {
            half.pending.insert(n, piece);
        }
    }

    /// Hands completed messages to the inbox, in order, and applies Close in its turn.
    fn drain(&mut self, handle: StreamHandle) {
        let max = self.config.max_message_size;
        let Some(s) = self.streams.get_mut(&handle) else {
            return;
        };
        let before = s.inbox.len();
        let closed = match s.drain(max) {
            Ok(c) => c,
            Err(e) => return self.violation(e.into()),
        };
        s.flush_responses();
        let delivered = s.inbox.len() - before;
        self.counters.messages_delivered += delivered as u64;
        if delivered > 0 {
            self.events.push_back(Event::Readable { stream: handle });
        }
        if let Some((code, reason)) = closed {
            if handle == StreamHandle(0) {
                // Close on the first stream closes the connection; acknowledge it once.
                // terminate() empties the send queue, so the acknowledgement is queued again
                // after it (it used to be dropped: the peer then waited three PTOs to close).
                let ack = self.flush_close_ack();
                self.terminate(CloseReason::Peer { code, reason });
                self.out.extend(ack);
            } else {
                self.events.push_back(Event::StreamClosed {
                    stream: handle,
                    code,
                    reason,
                    by_peer: true,
                });
                if let Some(s) = self.streams.get_mut(&handle) {
                    s.state = StreamState::Closed;
                    // Kept for a grace period (see `collect`), so that a resent Close is still
                    // acknowledged: forgotten at once, a lost acknowledgement left the closer
                    // resending its Close into the void for good.
                    let at = self.last_activity;
                    s.halves.iter_mut().for_each(|h| h.retired_at = Some(at));
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_create(
        &mut self,
        now: Duration,
        parent: StreamHandle,
        parent_g: u64,
        n: u64,
        kind: StreamKind,
        service: String,
        p: &Parsed,
        flags: DatagramFlags,
        payload: &[u8],
    ) {
        let _ = now;
        // A resent creation datagram is already known (the window drops replays, but the
        // parent may have been restarted meanwhile).
        if self
            .streams
            .values()
            .any(|s| s.created_by == Some((parent_g, n)))
        {
            return;
        }
        //= docs/SPEC.md#stream-creation-generation
        //# A datagram that creates a stream MUST carry an EncryptionParameters extension with suite 1 and a generation of the creator's parity that the connection has not used; a receiver MUST treat anything else as a protocol violation.
        let Some((suite, g)) = p.generation else {
            return self.violation("stream creation without EncryptionParameters".into());
        };
        let peer_parity = match self.role {
            Role::Initiator => 1,
            Role::Responder => 0,
        };
        if suite != 1 || g % 2 != peer_parity || g >= 1 << 32 || self.by_gen.contains_key(&g) {
            return self.violation(format!("stream creation with generation {g}"));
        }
        let Some(peer_id) = p.stream_id.clone() else {
            return self.violation("stream creation without StreamId".into());
        };
        let my_id = match self.issue_id(g) {
            Ok(id) => id,
            Err(e) => return self.terminate(CloseReason::Internal(e.to_string())),
        };
        // The new stream takes the key data of the half its creation travelled on, which is
        // what its creator keyed it with (not this endpoint's epoch: a creation sent before a
        // connection rekey may arrive after it).
        let parent_epoch = self
            .streams
            .get(&parent)
            .and_then(|s| s.half(parent_g))
            .map_or(self.epoch, |h| h.epoch);
        let half = match self.new_half(g, parent_epoch, my_id, Some(peer_id)) {
            Ok(h) => h,
            Err(e) => return self.terminate(CloseReason::Internal(e.to_string())),
        };
        let handle = StreamHandle(self.next_handle);
        self.next_handle += 1;
        let creator = match self.role {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        };
        let mut s = self.new_stream(handle, kind, service.clone(), creator);
        // By the parent's generation, not its handle: the first stream's counters start again
        // at 0 after its Restart, and a new creation there was taken for a resent old one
        // (never opened, yet acknowledged).
        s.created_by = Some((parent_g, n));
        s.halves.push_back(half);
        s.state = StreamState::Open;
        self.by_gen.insert(g, handle);
        //= docs/SPEC.md#stream-refuse
        //# A receiver that refuses a stream creation (unknown service, too many streams) MUST answer on the new stream with an Error extension (StreamRefused) and a Close, and MUST NOT deliver its payload.
        let refused = self.streams.len() >= self.config.max_streams
            || (self.config.transactional_only && kind != StreamKind::Transactional)
            || self
                .config
                .services
                .as_ref()
                .is_some_and(|list| !list.contains(&service));
        if refused {
            s.control.refuse = Some(ErrorCode::STREAM_REFUSED.0);
            s.state = StreamState::Closing;
            self.streams.insert(handle, s);
            return;
        }
        s.control.accept = Some(Accept {
            g,
            key_exchange: None,
        });
        s.control.credit = true;
        if !flags.is_control() {
            let half = s.halves.back_mut();
            if let Some(half) = half {
                if flags.is_abort() {
                    // The first message was abandoned: it keeps its number (and, for a request,
                    // gets an abandoned response).
                    s.next_recv_id = 1;
                    if kind == StreamKind::Transactional {
                        s.responses.insert(0, None);
                        s.flush_responses();
                    }
                } else if flags.is_final() {
                    s.inbox.push_back(Incoming {
                        id: 0,
                        bytes: payload.to_vec(),
                    });
                    s.next_recv_id = 1;
                } else {
                    half.partial = Some(payload.to_vec());
                }
            }
        }
        let readable = !s.inbox.is_empty();
        self.flow
            .open_stream(handle, super::conn::INITIAL_STREAM_CREDIT);
        self.streams.insert(handle, s);
        if !flags.is_control() && !self.account_received(handle, payload.len() as u64) {
            return;
        }
        self.events.push_back(Event::StreamOpened {
            stream: handle,
            service,
            kind,
            credentials: p.credentials.clone(),
        });
        if readable {
            self.counters.messages_delivered += 1;
            self.events.push_back(Event::Readable { stream: handle });
        }
    }

    /// The peer restarted a stream it created (rud-00 Restart): a new half with a new
    /// generation, over fresh key data (KeyExchange), another stream's (UseKeyOf) or the same.
    fn on_restart(&mut self, now: Duration, handle: StreamHandle, g_old: u64, n: u64, p: &Parsed) {
        let _ = now;
        let Some(s) = self.streams.get(&handle) else {
            return;
        };
        if s.creator == self.role {
            return self.violation("Restart of a stream this endpoint created".into());
        }
        if s.current().map(|h| h.g) != Some(g_old) {
            // A resent Restart of a half already replaced: nothing new.
            return;
        }
        let (Some((1, g)), Some(peer_id)) = (p.generation, p.stream_id.clone()) else {
            return self.violation("Restart without EncryptionParameters or StreamId".into());
        };
        let peer_parity = match self.role {
            Role::Initiator => 1,
            Role::Responder => 0,
        };
        if g % 2 != peer_parity || g >= 1 << 32 || self.by_gen.contains_key(&g) {
            return self.violation(format!("Restart with generation {g}"));
        }
        let base_epoch = s.current().map_or(self.epoch, |h| h.epoch);
        // Key data of the new half.
        let mut my_key = None;
        let epoch = if let Some(theirs) = p.key_exchange {
            let connection_rekey = handle == StreamHandle(0);
            match self.derive_as_acceptor(base_epoch, &theirs, connection_rekey) {
                Ok((epoch, mine)) => {
                    my_key = Some(mine);
                    epoch
                }
                Err(e) => return self.violation(format!("rekey: {e}")),
            }
        } else if let Some(other) = &p.use_key_of {
            match self.epoch_of_peer_id(other) {
                Some(e) => e,
                None => return self.violation("UseKeyOf names no stream".into()),
            }
        } else {
            base_epoch
        };
        let my_id = match self.issue_id(g) {
            Ok(id) => id,
            Err(e) => return self.terminate(CloseReason::Internal(e.to_string())),
        };
        let half = match self.new_half(g, epoch, my_id, Some(peer_id)) {
            Ok(h) => h,
            Err(e) => return self.terminate(CloseReason::Internal(e.to_string())),
        };
        self.by_gen.insert(g, handle);
        let connection_rekey = handle == StreamHandle(0) && p.key_exchange.is_some();
        let Some(s) = self.streams.get_mut(&handle) else {
            return;
        };
        if let Some(old) = s.half_mut(g_old) {
            old.recv_end = Some(n);
            old.retired_at = Some(now);
        }
        s.halves.push_back(half);
        // The acceptance goes on the old half, where the peer can still open it.
        s.control.accept = Some(Accept {
            g: g_old,
            key_exchange: my_key,
        });
        s.control.accept_new_g = Some(g);
        let rekeyed = p.key_exchange.is_some();
        self.events.push_back(Event::StreamRestarted {
            stream: handle,
            rekeyed,
        });
        if connection_rekey {
            self.epoch = epoch;
            self.follow_connection_rekey();
            self.events.push_back(Event::Rekeyed { epoch });
        }
    }

    /// The acceptance of a creation (on the new half) or of our Restart (on the old half).
    fn on_accept(
        &mut self,
        now: Duration,
        handle: StreamHandle,
        g: u64,
        n: u64,
        p: &Parsed,
    ) -> Result<(), String> {
        let _ = n;
        let Some(peer_id) = p.stream_id.clone() else {
            return Ok(());
        };
        let me = self.role;
        let Some(s) = self.streams.get_mut(&handle) else {
            return Ok(());
        };
        if s.creator != me {
            return Err("StreamId outside a creation or acceptance".into());
        }
        // Acceptance of a creation: the first datagram on the half we created.
        if let Some(half) = s.half_mut(g)
            && half.peer_id.is_none()
        {
            half.peer_id = Some(peer_id);
            s.state = StreamState::Open;
            self.events
                .push_back(Event::StreamAccepted { stream: handle });
            return Ok(());
        }
        // Acceptance of our Restart: arrives on the old (current) half.
        let Some(plan) = s.restart_sent.clone() else {
            return Ok(());
        };
        if s.current().map(|h| h.g) != Some(g) {
            return Ok(());
        }
        let base_epoch = s.current().map_or(self.epoch, |h| h.epoch);
        let epoch = match (&plan.key_exchange, p.key_exchange) {
            (Some(_), Some(theirs)) => {
                let connection = handle == StreamHandle(0);
                self.derive_as_restarter(base_epoch, plan.g, &theirs, connection)
                    .map_err(|e| format!("rekey: {e}"))?
            }
            (Some(_), None) => return Err("rekey acceptance without KeyExchange".into()),
            (None, Some(_)) => {
                return Err("KeyExchange in the acceptance of a plain Restart".into());
            }
            // Not `epoch_of_peer_id`: that routes identifiers this endpoint issued, and the
            // UseKeyOf of our own Restart names the peer's (every UseKeyOf Restart failed here).
            (None, None) => plan.use_key_of.as_ref().map_or(base_epoch, |(_, e)| *e),
        };
        let my_id = match plan.my_id.clone() {
            Some(id) => id,
            None => self.issue_id(plan.g).map_err(|e| e.to_string())?,
        };
        let half = self
            .new_half(plan.g, epoch, my_id, Some(peer_id))
            .map_err(|e| e.to_string())?;
        let Some(s) = self.streams.get_mut(&handle) else {
            return Ok(());
        };
        if let Some(old) = s.half_mut(g) {
            old.recv_end = Some(n);
            // The restarter's old half stops being current too: without this it was never
            // collected, and its key data (epoch 0 after a rekey) never wiped (SPEC rekey-wipe).
            old.retired_at = Some(now);
        }
        s.halves.push_back(half);
        s.restart_sent = None;
        // The acceptor answers only once it holds everything we sent on the old half up to the
        // Restart (our last datagram there): what is still unacknowledged there is settled. The
        // acceptor may already have dropped that half, with its keys, and could not
        // acknowledge a resend; waiting for the acknowledgement stranded the datagram, and its
        // probes filled the congestion window for good.
        if let Some(old) = s.half_mut(g) {
            settle(old);
        }
        // Something on the new half at once: it tells the acceptor that its acceptance arrived
        // (see `Half::acceptance`), even when this side has nothing else to send.
        s.control.ping = true;
        if plan.key_exchange.is_some() && handle == StreamHandle(0) {
            // Confirmed when the first authenticated datagram arrives on the new half.
            self.set_rekey_confirm(now, plan.g);
            if let Some(s) = self.streams.get_mut(&handle) {
                s.control.ping = true;
            }
            self.pending_epoch = Some(epoch);
        } else {
            self.events.push_back(Event::StreamRestarted {
                stream: handle,
                rekeyed: plan.key_exchange.is_some(),
            });
        }
        Ok(())
    }

    /// The peer refused a stream we created.
    fn on_refused(&mut self, handle: StreamHandle, code: u64) {
        let me = self.role;
        if let Some(s) = self.streams.get_mut(&handle)
            && s.creator == me
            && s.state == StreamState::Opening
        {
            s.state = StreamState::Closed;
            s.queue.clear();
            s.queued_bytes = 0;
            self.events.push_back(Event::StreamRefused {
                stream: handle,
                code,
            });
        }
    }

    /// The first authenticated datagram on the new half of a connection rekey confirms it.
    fn confirm_rekey(&mut self, g: u64) {
        if self.rekey_confirm_generation() != Some(g) {
            return;
        }
        let epoch = self.pending_epoch.take().unwrap_or(self.epoch);
        self.epoch = epoch;
        self.finish_rekey();
        self.events.push_back(Event::StreamRestarted {
            stream: StreamHandle(0),
            rekeyed: true,
        });
        self.events.push_back(Event::Rekeyed { epoch });
        self.follow_connection_rekey();
    }

    /// After a connection rekey, every stream this endpoint created moves to the new key
    /// data with a Restart naming the first stream (UseKeyOf).
    //= docs/SPEC.md#rekey-all-streams
    //# After a connection rekey each endpoint MUST restart every open stream it created with UseKeyOf naming the first stream, so that every stream gets a new generation under the new key data.
    fn follow_connection_rekey(&mut self) {
        let me = self.role;
        let handles: Vec<_> = self
            .streams
            .values()
            .filter(|s| {
                s.handle != StreamHandle(0)
                    && s.creator == me
                    && s.state == StreamState::Open
                    && s.current().is_some_and(|h| h.epoch != self.epoch)
            })
            .map(|s| s.handle)
            .collect();
        for h in handles {
            let _ = self.restart(h, false, Some(StreamHandle(0)));
        }
        self.wipe_unused_keys();
    }

    /// Wipes key data no half uses any more.
    //= docs/SPEC.md#rekey-wipe
    //# Key data no stream half uses MUST be wiped.
    pub(super) fn wipe_unused_keys(&mut self) {
        let used: std::collections::BTreeSet<u32> = self
            .streams
            .values()
            .flat_map(|s| s.halves.iter().map(|h| h.epoch))
            .chain(std::iter::once(self.epoch))
            .chain(self.pending_epoch)
            .collect();
        for (e, k) in self.keys.iter_mut().enumerate() {
            if !used.contains(&(e as u32)) {
                *k = None;
            }
        }
    }

    fn epoch_of_peer_id(&self, peer_issued: &[u8]) -> Option<u32> {
        // UseKeyOf carries the identifier the *receiver* of the Restart issued: ours.
        let (handle, g) = self.route(peer_issued)?;
        self.streams.get(&handle)?.half(g).map(|h| h.epoch)
    }

    /// Acceptor side of a rekey: our fresh ephemeral, ee, and es with our device key when it
    /// is the connection rekey.
    fn derive_as_acceptor(
        &mut self,
        base: u32,
        theirs: &[u8; 56],
        connection: bool,
    ) -> Result<(u32, [u8; 56]), String> {
        let peer = X448PublicKey::from_bytes(theirs).map_err(|e| e.to_string())?;
        let mut bytes = [0u8; 56];
        self.entropy.fill(&mut bytes);
        let mine = crate::crypto::x448::X448Secret::from_bytes(bytes);
        let my_public = public_of(&*self.provider, &mine);
        let ee = mine
            .diffie_hellman(&*self.provider, &peer)
            .map_err(|e| e.to_string())?;
        let es = if connection {
            let device = self
                .device_key()
                .ok_or("no device key configured for the connection rekey")?;
            Some(
                device
                    .diffie_hellman(&*self.provider, &peer)
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        let epoch = self.next_key_data(base, &ee, es.as_ref(), theirs, &my_public)?;
        Ok((epoch, my_public))
    }

    /// Derives and installs the key data after `base` (`restarter_key` first, as in TH').
    fn next_key_data(
        &mut self,
        base: u32,
        ee: &crate::crypto::x448::X448SharedSecret,
        es: Option<&crate::crypto::x448::X448SharedSecret>,
        restarter_key: &[u8; 56],
        acceptor_key: &[u8; 56],
    ) -> Result<u32, String> {
        let next = self
            .key_data(base)
            .map_err(|e| e.to_string())?
            .next(
                &*self.provider,
                ee.expose(),
                es.map(|s| s.expose()),
                restarter_key,
                acceptor_key,
            )
            .map_err(|e| e.to_string())?;
        Ok(self.install(next))
    }

    /// Restarter side: our ephemeral for `g` with the acceptor's key.
    fn derive_as_restarter(
        &mut self,
        base: u32,
        g: u64,
        theirs: &[u8; 56],
        connection: bool,
    ) -> Result<u32, String> {
        let peer = X448PublicKey::from_bytes(theirs).map_err(|e| e.to_string())?;
        let mine = self
            .rekey_secrets
            .remove(&g)
            .ok_or("no ephemeral for this rekey")?;
        let my_public = public_of(&*self.provider, &mine);
        let ee = mine
            .diffie_hellman(&*self.provider, &peer)
            .map_err(|e| e.to_string())?;
        let es = if connection {
            // The initiator mixes its fresh ephemeral with the responder's device key.
            Some(
                mine.diffie_hellman(&*self.provider, &self.peer_static)
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        self.next_key_data(base, &ee, es.as_ref(), &my_public, theirs)
    }

    fn install(&mut self, next: KeyData) -> u32 {
        next.log(&*self.config.keylog, &self.context);
        let epoch = next.epoch;
        let i = epoch as usize;
        if self.keys.len() <= i {
            self.keys.resize_with(i + 1, || None);
        }
        if let Some(slot) = self.keys.get_mut(i) {
            *slot = Some(next);
        }
        epoch
    }

    /// The responder's device key for a connection rekey: the one matching the handshake's
    /// credential, or (ticketed connection) the first configured.
    fn device_key(&self) -> Option<&crate::crypto::x448::X448Secret> {
        let wanted = self.own_static.as_ref();
        self.config
            .device_keys
            .iter()
            .find(|k| Some(&k.public_key(&*self.provider)) == wanted)
            .or_else(|| self.config.device_keys.first())
    }

    /// Moves to a new peer address after an authenticated datagram from it, if it is the
    /// newest datagram of its half (so a reordered old one does not move the path back). A
    /// bare ping (`bare`: a heartbeat) moves nothing while the primary still speaks: its
    /// address becomes a standby path (the peer is multi-homed, or probes a path of its own).
    //= docs/SPEC.md#migration
    //# An endpoint MUST move to a new peer address only after a datagram from it authenticated, and only if that datagram is the newest it received on its stream half.
    fn migrate_if_needed(
        &mut self,
        now: Duration,
        from: SocketAddr,
        handle: StreamHandle,
        g: u64,
        n: u64,
        bare: bool,
    ) {
        if from == self.path.address {
            return;
        }
        let newest = self
            .streams
            .get(&handle)
            .and_then(|s| s.half(g))
            .is_none_or(|h| h.received.largest().is_none_or(|l| n > l));
        if !newest {
            return;
        }
        //= docs/SPEC.md#multipath
        //# While the primary path is not quiet, an endpoint MUST NOT move its traffic to an address a bare ping came from
        let quiet = now.saturating_sub(self.path.last_heard) >= self.path.rtt.pto_base();
        let moves = quiet || !bare;
        let single = self.config.max_paths <= 1;
        //= docs/SPEC.md#multipath
        //# When the peer moves to a new address, an endpoint SHOULD keep the old one as a standby path while its table has room
        // A standby path the peer moved to becomes the primary with what it learned; one this
        // endpoint opened itself moves only by failover (the peer's choice of reply port does
        // not move it).
        if let Some(i) = self.standby.iter().position(|p| p.address == from) {
            if moves && !self.standby[i].local {
                self.promote(now, i);
            }
            return;
        }
        let (packets, octets) = self.take_arrivals(from);
        let mut path = Path::new(from, false, self.config.max_packet_size as u64);
        path.rtt = self.path.rtt.clone();
        path.received = octets;
        path.last_heard = now;
        path.metrics.on_packets_received(packets, octets);
        if !moves && !single {
            path.next_heartbeat = now;
            self.keep_standby(path);
            return;
        }
        let old = self.path.address;
        let mut previous = std::mem::replace(&mut self.path, path);
        previous.challenge = None;
        previous.next_heartbeat = now.saturating_add(self.config.path_heartbeat);
        self.keep_standby(previous);
        self.path_challenge_due = true;
        self.events.push_back(Event::PathChanged {
            from: old,
            to: from,
        });
    }

    /// Applies loss recovery events of one half: frees buffers, schedules resends, feeds the
    /// congestion controller and the metrics, validates the path.
    pub(super) fn on_recovery(
        &mut self,
        now: Duration,
        handle: StreamHandle,
        g: u64,
        events: RecoveryEvents,
    ) {
        //= docs/SPEC.md#path-heartbeat
        //# The loss of a heartbeat MUST NOT count as a congestion signal on the primary path
        // Heartbeats to standby paths are no signal about the primary: their acknowledgement
        // validates their own path, and their loss counts as that path's failure.
        let mut primary = std::borrow::Cow::Borrowed(&events);
        if handle == StreamHandle(0) && !self.heartbeats.is_empty() {
            let beats = &self.heartbeats;
            let mut e = events.clone();
            e.acked.retain(|a| !beats.contains(&(g, a.n)));
            e.lost.retain(|l| !beats.contains(&(g, l.n)));
            for a in &events.acked {
                if self.heartbeats.remove(&(g, a.n)) {
                    self.on_heartbeat_acked(now, g, a.n);
                }
            }
            for l in &events.lost {
                self.heartbeats.remove(&(g, l.n));
            }
            primary = std::borrow::Cow::Owned(e);
        }
        if primary.acked.iter().any(|a| a.ack_eliciting) {
            self.path.failures = 0;
            // The path delivers: no stream direction keeps backing off its probes. A response
            // whose datagram lost packets at every try otherwise waited 10-20 s between
            // probes while acknowledgements flowed on the other streams. Only after a timer
            // fired can a direction be backed off, so acknowledgements walk the streams rarely.
            //= docs/SPEC.md#loss-detection
            //# An acknowledgement on any stream direction of the path resets the probe backoff of every direction
            if std::mem::take(&mut self.backed_off) {
                for s in self.streams.values_mut() {
                    s.halves.iter_mut().for_each(|h| h.sent.reset_pto_backoff());
                }
            }
        }
        self.path.cc.on_events(now, &primary);
        self.path.metrics.on_events(&primary);
        let Some(s) = self.streams.get_mut(&handle) else {
            return;
        };
        let mut validated = false;
        let mut close_acked = false;
        let close_sent = s.close_sent;
        if let Some(half) = s.half_mut(g) {
            if events.rtt_sample.is_some() {
                self.path.rtt = half.sent.rtt().clone();
            }
            for a in &events.acked {
                half.buffers.remove(&a.n);
                half.resend.remove(&a.n);
                half.probe.remove(&a.n);
                if self.path.challenge == Some((g, a.n)) {
                    validated = true;
                }
                if close_sent == Some((g, a.n)) {
                    close_acked = true;
                }
            }
            for l in &events.lost {
                if !l.ack_eliciting {
                    half.buffers.remove(&l.n);
                }
            }
            for &(n, k) in &events.retransmit {
                if half.buffers.contains_key(&n) {
                    half.resend.entry(n).or_default().insert(k);
                }
            }
            for &(n, k) in &events.probe {
                if half.buffers.contains_key(&n) {
                    half.resend.entry(n).or_default().insert(k);
                    half.probe.insert(n);
                }
            }
        }
        self.path
            .pacer
            .update(self.path.cc.window(), self.path.rtt.smoothed());
        if validated && !self.path.validated {
            self.path.validated = true;
            self.path.challenge = None;
            self.events.push_back(Event::PathValidated {
                address: self.path.address,
            });
        }
        if close_acked {
            self.on_close_acked(handle);
        }
    }

    pub(super) fn on_close_acked(&mut self, handle: StreamHandle) {
        if handle == StreamHandle(0) {
            let reason = self.pending_close.take().unwrap_or(CloseReason::Local {
                code: 0,
                reason: String::new(),
            });
            self.terminate(reason);
            return;
        }
        if let Some(s) = self.streams.get_mut(&handle) {
            let (code, reason) = s.close_reason.clone().unwrap_or_default();
            s.state = StreamState::Closed;
            self.events.push_back(Event::StreamClosed {
                stream: handle,
                code,
                reason,
                by_peer: false,
            });
        }
    }

    /// Records a protocol violation: the connection ends (the peer learns nothing more).
    pub(super) fn violation(&mut self, what: String) {
        self.counters.violations += 1;
        self.terminate(CloseReason::ProtocolViolation(what));
    }

    /// Keeps the counts of a half that is dropped, as `counters` adds them for live ones (the
    /// acknowledgement space and the resends were lost with the half, so totals went down).
    pub(super) fn retire_half_counters(&mut self, half: &super::stream::Half) {
        add_counters(&mut self.counters.reassembly, &half.reassembler.counters());
        add_counters(
            &mut self.counters.reassembly,
            &half.ack_reassembler.counters(),
        );
        self.counters.packets_retransmitted += half.sent.packets_retransmitted();
    }
}

/// Forgets what is unacknowledged on a half whose peer is known to hold it all.
pub(super) fn settle(half: &mut super::stream::Half) {
    for n in std::mem::take(&mut half.buffers).into_keys() {
        half.sent.discard(n);
    }
    half.resend.clear();
    half.probe.clear();
}

/// Lifts the extensions of a verified datagram into [`Parsed`].
fn parse(d: &super::recovery::DecodedDatagram<'_>) -> Result<Parsed, String> {
    let mut p = Parsed {
        only_ack: true,
        ..Parsed::default()
    };
    for e in d.plaintext().extensions.iter() {
        let v = e.parse_value().map_err(|e| e.kind.to_string())?;
        if !matches!(v, ExtensionValue::Ack(_) | ExtensionValue::Metrics(_)) {
            p.only_ack = false;
        }
        match v {
            ExtensionValue::StreamClient { service } => {
                p.create = Some((StreamKind::Transactional, service.to_owned()))
            }
            ExtensionValue::StreamReceiver { service } => {
                p.create = Some((StreamKind::Asynchronous, service.to_owned()))
            }
            ExtensionValue::Restart => p.restart = true,
            ExtensionValue::StreamId(id) => p.stream_id = Some(id.to_vec()),
            ExtensionValue::EncryptionParameters { suite, generation } => {
                p.generation = Some((suite, generation))
            }
            ExtensionValue::KeyExchange(k) => {
                let key: [u8; 56] = k
                    .key
                    .try_into()
                    .map_err(|_| "KeyExchange key is not 56 octets".to_owned())?;
                p.key_exchange = Some(key);
            }
            ExtensionValue::UseKeyOf(id) => p.use_key_of = Some(id.to_vec()),
            ExtensionValue::Credential {
                credential_type,
                data,
            } => p.credentials.push(PrincipalCredential {
                credential_type,
                data: data.to_vec(),
            }),
            ExtensionValue::Close { code, reason } => p.close = Some((code, reason.to_owned())),
            ExtensionValue::Error { code } => p.error = Some(code),
            ExtensionValue::Credit { stream, connection } => p.credit = Some((stream, connection)),
            ExtensionValue::OneTimeIds(ids) => {
                p.one_time = ids.iter().map(|i| i.to_vec()).collect()
            }
            ExtensionValue::Ticket { lifetime_s, ticket } => {
                p.ticket = Some((lifetime_s, ticket.to_vec()))
            }
            _ => {}
        }
    }
    if p.create.is_some() && p.restart {
        return Err("creation and Restart together".into());
    }
    Ok(p)
}
