//! The send path of a connection: which datagram goes next, how it is built and sealed (once),
//! and how its packets are resent unchanged (SPEC sections 3.6 and 5).
use std::net::SocketAddr;
use std::time::Duration;

use super::conn::{Connection, GRACE_PTOS, MAX_HANDSHAKE_RETRANSMITS};
use super::event::{CloseReason, StreamHandle, StreamKind};
use super::packetize::SealedDatagram;
use super::path::HEARTBEAT_MAX_OCTETS;
use super::recovery::DatagramInfo;
use super::stream::{Half, StreamState};
use crate::crypto::datagram_key::ReplayWindow;
use crate::handshake::{Role, Transmit};
use crate::wire::{
    DataPlaintext, DatagramFlags, ExtensionCode, ExtensionValue, MessageType, StreamId, samples,
};

/// Pings sent while waiting for responses before only the keep-alive goes on.
const AWAITING_PINGS: u32 = 3;

/// What one new datagram carries.
#[derive(Default)]
struct Content {
    extensions: Vec<Owned>,
    payload: Vec<u8>,
    flags: u8,
    /// The datagram carries a Close (the stream's, or the refusal's).
    close: bool,
    ping: bool,
    ack: bool,
    /// A bare ping to this address (a standby path's heartbeat or a new primary's challenge):
    /// nothing but the ping, so its size is known in advance. Everything else goes to the
    /// primary path.
    bare_to: Option<SocketAddr>,
}

/// An extension value that owns its octets (the borrowed [`ExtensionValue`] is built at
/// encoding time).
enum Owned {
    Client(String),
    Receiver(String),
    Restart,
    StreamId(Vec<u8>),
    Params(u64),
    KeyExchange([u8; 56]),
    UseKeyOf(Vec<u8>),
    Credential(u64, Vec<u8>),
    Close(u64, String),
    Error(u64),
    Credit(u64, u64),
    OneTimeIds(Vec<Vec<u8>>),
    Ack(Vec<u8>),
    Metrics(crate::wire::Metrics),
    Ticket(u64, Vec<u8>),
}

impl Connection {
    /// The next packet to send, or `None` (then wait for input or the timeout).
    pub fn poll_transmit(&mut self, now: Duration) -> Option<Transmit> {
        if let Some(t) = self.out.pop_front() {
            return Some(t);
        }
        if self.is_closed() {
            return None;
        }
        self.fill(now);
        self.out.pop_front()
    }

    /// Builds the next datagram (or resend) into `out`.
    fn fill(&mut self, now: Duration) {
        self.pacing_blocked = None;
        // A new primary path is challenged with a bare ping: it fits three times what one
        // small packet from the address allows, where a datagram with Ack and Metrics did not,
        // and the path stayed unvalidated, its responses held back, until the connection died.
        if self.path_challenge_due {
            if self.path.validated {
                self.path_challenge_due = false;
            } else if self.emit_bare_ping(now, self.path.address) {
                self.path_challenge_due = false;
                return;
            }
        }
        if let Some(address) = self.heartbeat_due.first().copied()
            && self.emit_bare_ping(now, address)
        {
            return;
        }
        let handles = self.rotation();
        for &h in &handles {
            if self.emit_resend(now, h) {
                return;
            }
        }
        if self.is_open() || self.closing_deadline().is_some() {
            for &h in &handles {
                if self.emit_new(now, h) {
                    self.rr = h.0.wrapping_add(1);
                    return;
                }
            }
        }
        for &h in &handles {
            if self.emit_pure_ack(now, h) {
                return;
            }
        }
    }

    /// A bare ping to `address`: a ping on the first stream's current half and nothing else
    /// (no Ack, no Metrics, no identifiers), the heartbeat of a standby path (SPEC
    /// path-heartbeat) or the challenge of a new primary (SPEC path-validation). Being that
    /// small it fits the three-times budget of a path learned from one small packet, and it
    /// passes the congestion window and pacing, as a probe does.
    fn emit_bare_ping(&mut self, now: Duration, address: SocketAddr) -> bool {
        if !self.is_open() {
            return false;
        }
        // Not while the first stream ends a generation: its Restart or acceptance must be
        // the last datagram of the old half.
        let Some(g) = self
            .streams
            .get(&StreamHandle(0))
            .filter(|s| {
                s.restart_sent.is_none()
                    && s.control.restart.is_none()
                    && s.control.accept.is_none()
                    && s.older_complete()
            })
            .and_then(|s| s.current())
            .filter(|half| half.peer_id.is_some() && !half.send_closed && may_seal(half))
            .map(|half| half.g)
        else {
            return false;
        };
        let budget = self
            .path_of(address)
            .map_or(0, |p| p.amplification_budget());
        if budget < HEARTBEAT_MAX_OCTETS {
            return false;
        }
        let c = Content {
            flags: DatagramFlags::CONTROL | DatagramFlags::FINAL,
            ping: true,
            bare_to: Some(address),
            ..Content::default()
        };
        self.seal_and_send(now, StreamHandle(0), g, c, false)
    }

    /// Stream handles starting at the round-robin cursor.
    fn rotation(&self) -> Vec<StreamHandle> {
        let mut v: Vec<StreamHandle> = self.streams.keys().copied().collect();
        let start = v.iter().position(|h| h.0 >= self.rr).unwrap_or(0);
        v.rotate_left(start);
        v
    }

    fn in_flight_allows(&self, bytes: u64) -> bool {
        let in_flight = self.bytes_in_flight();
        in_flight == 0 || self.path.cc.can_send_bytes(in_flight, bytes)
    }

    fn pacing_allows(&mut self, now: Duration, bytes: u64) -> bool {
        let at = self.path.next_send_time(now, bytes);
        if at > now {
            self.pacing_blocked = Some(at);
            false
        } else {
            true
        }
    }

    /// Resends the packets of one lost or probed datagram, unchanged but for the hints.
    //= docs/SPEC.md#seal-once
    //# a retransmission resends the stored octets.
    fn emit_resend(&mut self, now: Duration, h: StreamHandle) -> bool {
        let Some(s) = self.streams.get(&h) else {
            return false;
        };
        // Probes first: they go whatever the congestion window says (RFC 9002 section 6.2.4),
        // and a lost datagram waiting for room must not hold them back.
        let pick = |half: &Half| {
            let n = half
                .probe
                .iter()
                .find(|n| half.resend.contains_key(n))
                .or_else(|| half.resend.keys().next())
                .copied()?;
            let ks = half.resend.get(&n)?;
            let sd = half.buffers.get(&n)?;
            let ks: Vec<u64> = ks.iter().copied().collect();
            let bytes: usize = ks
                .iter()
                .filter_map(|&k| sd.packet_len(k as usize, 1))
                .sum();
            Some((half.g, n, ks, half.probe.contains(&n), bytes as u64))
        };
        let candidates: Vec<_> = s.halves.iter().filter_map(pick).collect();
        let Some((g, n, ks, probe, bytes)) = candidates
            .iter()
            .find(|c| c.3)
            .or_else(|| candidates.first())
            .cloned()
        else {
            // Drop resend entries whose buffers are gone.
            if let Some(s) = self.streams.get_mut(&h) {
                for half in s.halves.iter_mut() {
                    let bufs = &half.buffers;
                    half.resend.retain(|n, _| bufs.contains_key(n));
                }
            }
            return false;
        };
        if !probe && (!self.in_flight_allows(bytes) || !self.pacing_allows(now, bytes)) {
            return false;
        }
        if bytes > self.path.amplification_budget() {
            return false;
        }
        let dest = self.path.address;
        let Some(half) = self.streams.get_mut(&h).and_then(|s| s.half_mut(g)) else {
            return false;
        };
        half.resend.remove(&n);
        half.probe.remove(&n);
        // A heartbeat resent goes to the primary: its acknowledgement no longer speaks for
        // the standby path (which counts the heartbeat as unanswered).
        if h == StreamHandle(0) {
            self.heartbeats.remove(&(g, n));
        }
        let Ok(sends) = half.sent.on_retransmit(now, n, &ks, bytes) else {
            return false;
        };
        let Some(sd) = half.buffers.get(&n) else {
            return false;
        };
        let mut total = 0u64;
        for p in sends {
            if let Ok(bytes) = sd.packet(p.packet_index as usize, p.sent_index, p.retransmit) {
                total += bytes.len() as u64;
                self.out.push_back(Transmit {
                    destination: dest,
                    bytes,
                });
                self.counters.packets_sent += 1;
            }
        }
        self.after_send(now, total, self.out.len() as u64);
        true
    }

    fn after_send(&mut self, now: Duration, bytes: u64, packets: u64) {
        let _ = packets;
        self.path.sent = self.path.sent.saturating_add(bytes);
        self.path.pacer.on_sent(now, bytes);
        self.last_sent = now;
    }

    /// Builds and seals a new ack-eliciting datagram on stream `h` if it has anything to say.
    fn emit_new(&mut self, now: Duration, h: StreamHandle) -> bool {
        let me = self.role;
        let Some(s) = self.streams.get(&h) else {
            return false;
        };
        // A stream created here is announced on the first stream.
        if s.creator == me && !s.creation_sent && h != StreamHandle(0) {
            return self.emit_creation(now, h);
        }
        let Some(cur) = s.current() else {
            return false;
        };
        //= docs/SPEC.md#rekey-before-exhaustion
        //# The creator of a stream MUST restart it before the data counter of its current generation reaches the configured limit (at most 2^62).
        if s.creator == me
            && cur.sealer.next_counter() >= self.config.rekey_after
            && s.control.restart.is_none()
            && s.restart_sent.is_none()
            && s.state == StreamState::Open
            && self.is_open()
        {
            let _ = self.restart(h, false, None);
        }
        let Some(s) = self.streams.get(&h) else {
            return false;
        };
        let Some(cur) = s.current() else {
            return false;
        };
        // Generations end with a handshake (SPEC 5.5), so that neither side waits for an
        // acknowledgement the other can no longer send once it dropped the old half: the
        // Restart is the restarter's last datagram on the old half; the acceptance goes once
        // everything up to the Restart arrived, and is the acceptor's last; the restarter's
        // first ack-eliciting datagram on the new half goes once everything up to the
        // acceptance arrived. Each side settles its old half on the other's next step.
        if s.restart_sent.is_some() {
            return false;
        }
        // Which half, and what.
        let accept_g = s.control.accept.as_ref().map(|a| a.g);
        let g = accept_g.unwrap_or(cur.g);
        let Some(half) = s.half(g) else {
            return false;
        };
        if half.peer_id.is_none() {
            return false;
        }
        // The acceptance of a Restart also waits for the end of the message in progress, which
        // is finished on the old half: a message never spans two generations (it went on the
        // new one, and the restarter closed the connection: "a message crosses a Restart").
        let restart_acceptance = s.control.accept_new_g.is_some_and(|n| n != g);
        let finishing = restart_acceptance && s.in_message;
        let accept_now =
            accept_g.is_some() && !finishing && (!restart_acceptance || half.receive_done());
        if (accept_g.is_some() && !accept_now && !finishing) || (g == cur.g && !s.older_complete())
        {
            return false;
        }
        let restart = s.control.restart.is_some() && !s.in_message && accept_g.is_none();
        //= docs/SPEC.md#multipath
        //# An endpoint MUST send nothing but heartbeats on a standby path it opened until a heartbeat is acknowledged
        let has_data = !s.queue.is_empty()
            && s.may_send(me)
            && !half.send_closed
            && s.restart_sent.is_none()
            && !restart
            && (accept_g.is_none_or(|a| a == cur.g) || finishing);
        let close_now =
            s.control.close.is_some() && s.queue.is_empty() && !s.in_message && !restart;
        let wants = restart
            || close_now
            || s.control.refuse.is_some()
            || accept_now
            || s.control.ping
            || (s.control.credit && self.is_open())
            || (s.control.ticket.is_some() && self.is_open())
            || has_data;
        if !wants || !may_seal(half) {
            return false;
        }
        let flow_room = if has_data {
            let stream_room = self.flow.stream(&h).map_or(0, |c| c.available());
            stream_room.min(self.flow.connection().available())
        } else {
            0
        };
        let chunk_len = s.queue.front().map_or(0, |m| {
            if m.aborted {
                0
            } else {
                m.bytes
                    .len()
                    .saturating_sub(m.offset)
                    .min(self.config.max_datagram_payload)
                    .min(flow_room as usize)
            }
        });
        let abort = has_data && s.queue.front().is_some_and(|m| m.aborted);
        let data = has_data
            && (chunk_len > 0 || abort || s.queue.front().is_some_and(|m| m.bytes.is_empty()));
        if !data
            && !restart
            && !close_now
            && s.control.refuse.is_none()
            && !accept_now
            && !s.control.ping
            && !s.control.credit
            && s.control.ticket.is_none()
        {
            return false;
        }
        let estimate = (chunk_len + 400) as u64;
        // The Restart, its acceptance and the confirming ping of a connection rekey, and the
        // ping that goes with a probe, pass a full congestion window as the probe does (one
        // small control datagram each): behind a lossy bulk transfer the window stays full of
        // resends, and the rekey ran out of time (RekeyFailed) before they left.
        let probe_like = h == StreamHandle(0)
            && !data
            && (self.rekey_started().is_some()
                || self.probe_ping
                || s.control
                    .accept
                    .as_ref()
                    .is_some_and(|a| a.key_exchange.is_some()));
        if (!probe_like && !self.in_flight_allows(estimate)) || !self.pacing_allows(now, estimate) {
            return false;
        }
        if estimate > self.path.amplification_budget() {
            return false;
        }
        // Compose.
        let mut c = Content::default();
        let mut connection_rekey_sent = false;
        let mut acceptance_sent = false;
        let Some(s) = self.streams.get_mut(&h) else {
            return false;
        };
        if accept_now && let Some(a) = s.control.accept.take() {
            let new_g = s.control.accept_new_g.take().unwrap_or(a.g);
            if let Some(id) = s.half(new_g).map(|x| x.my_id.clone()) {
                c.extensions.push(Owned::StreamId(id));
            }
            if let Some(k) = a.key_exchange {
                c.extensions.push(Owned::KeyExchange(k));
            }
            if new_g != a.g {
                // The acceptance of a Restart ends this side's old half.
                if let Some(old) = s.half_mut(a.g) {
                    old.send_closed = true;
                }
                acceptance_sent = true;
            }
        }
        if restart && let Some(plan) = s.control.restart.take() {
            c.extensions.push(Owned::Restart);
            c.extensions.push(Owned::StreamId(Vec::new())); // filled below
            c.extensions.push(Owned::Params(plan.g));
            if let Some(k) = plan.key_exchange {
                c.extensions.push(Owned::KeyExchange(k));
            }
            if let Some((id, _)) = plan.use_key_of.clone() {
                c.extensions.push(Owned::UseKeyOf(id));
            }
            connection_rekey_sent = h == StreamHandle(0) && plan.key_exchange.is_some();
            s.restart_sent = Some(plan);
        }
        if let Some(code) = s.control.refuse.take() {
            c.extensions.push(Owned::Error(code));
            c.extensions.push(Owned::Close(code, "refused".into()));
            c.close = true;
            s.close_reason = Some((code, "refused".into()));
        } else if close_now && let Some((code, reason)) = s.control.close.take() {
            c.extensions.push(Owned::Close(code, reason.clone()));
            c.close = true;
            s.close_reason = Some((code, reason));
            s.state = StreamState::Closing;
        }
        if let Some((lifetime, ticket)) = s.control.ticket.take() {
            c.extensions.push(Owned::Ticket(lifetime, ticket));
        }
        if s.control.credit {
            s.control.credit = false;
            c.extensions
                .push(Owned::Credit(s.window.limit(), self.conn_window.limit()));
        }
        if s.control.ping {
            s.control.ping = false;
            c.ping = true;
            self.probe_ping = false;
        }
        // Message octets.
        c.flags = DatagramFlags::CONTROL | DatagramFlags::FINAL;
        if data {
            if let Some(m) = s.queue.front_mut() {
                if m.aborted {
                    c.flags = DatagramFlags::ABORT | DatagramFlags::FINAL;
                    s.queue.pop_front();
                    s.in_message = false;
                } else {
                    let end = m.offset + chunk_len;
                    c.payload = m.bytes[m.offset..end].to_vec();
                    m.offset = end;
                    s.queued_bytes = s.queued_bytes.saturating_sub(chunk_len);
                    if end == m.bytes.len() {
                        c.flags = DatagramFlags::FINAL;
                        s.queue.pop_front();
                        s.in_message = false;
                        self.counters.messages_sent += 1;
                    } else {
                        c.flags = 0;
                        s.in_message = true;
                    }
                }
            }
            let _ = self.flow.consume(&h, chunk_len as u64);
        }
        if connection_rekey_sent {
            self.rekey_restart_sent(now);
        }
        let sent = self.seal_and_send(now, h, g, c, false);
        if sent
            && acceptance_sent
            && let Some(old) = self.streams.get_mut(&h).and_then(|s| s.half_mut(g))
        {
            old.acceptance = old.sealer.next_counter().checked_sub(1);
        }
        sent
    }

    /// The creation datagram of stream `h`, on the first stream's current half.
    fn emit_creation(&mut self, now: Duration, h: StreamHandle) -> bool {
        // Not while the first stream restarts: the Restart is the last datagram on its old
        // generation, and in a connection rekey a creation (with its first message) on the old
        // keys would reach a peer that cannot derive the new ones, such as a ticket holder
        // without the host's device key (SPEC ticket-rekey-owed). It waits for the new half.
        let Some((parent_g, parent_epoch)) = self
            .streams
            .get(&StreamHandle(0))
            .filter(|s| {
                s.control.restart.is_none() && s.restart_sent.is_none() && s.older_complete()
            })
            .and_then(|s| s.current())
            .filter(|half| half.peer_id.is_some() && !half.send_closed && may_seal(half))
            .map(|half| (half.g, half.epoch))
        else {
            return false;
        };
        // The new stream is keyed from the key data of the half that carries its creation (the
        // receiver does the same); nothing was sealed on it yet, so it can be keyed again.
        if let Some((g, epoch, my_id)) = self
            .streams
            .get(&h)
            .and_then(|s| s.current())
            .map(|c| (c.g, c.epoch, c.my_id.clone()))
            && epoch != parent_epoch
        {
            let Ok(half) = self.new_half(g, parent_epoch, my_id, None) else {
                return false;
            };
            if let Some(s) = self.streams.get_mut(&h) {
                s.halves = std::collections::VecDeque::from([half]);
            }
        }
        let Some(s) = self.streams.get(&h) else {
            return false;
        };
        let flow_room = self
            .flow
            .stream(&h)
            .map_or(0, |c| c.available())
            .min(self.flow.connection().available());
        let chunk_len = s.queue.front().map_or(0, |m| {
            m.bytes
                .len()
                .saturating_sub(m.offset)
                .min(self.config.max_datagram_payload)
                .min(flow_room as usize)
        });
        let estimate = (chunk_len + 400) as u64;
        if !self.in_flight_allows(estimate) || !self.pacing_allows(now, estimate) {
            return false;
        }
        let Some(s) = self.streams.get(&h) else {
            return false;
        };
        let Some(child) = s.current() else {
            return false;
        };
        let mut c = Content::default();
        c.extensions.push(match s.kind {
            StreamKind::Transactional => Owned::Client(s.service.clone()),
            StreamKind::Asynchronous => Owned::Receiver(s.service.clone()),
        });
        c.extensions.push(Owned::StreamId(child.my_id.clone()));
        c.extensions.push(Owned::Params(child.g));
        for cred in &s.credentials {
            c.extensions
                .push(Owned::Credential(cred.credential_type, cred.data.clone()));
        }
        c.flags = DatagramFlags::CONTROL | DatagramFlags::FINAL;
        let Some(s) = self.streams.get_mut(&h) else {
            return false;
        };
        s.creation_sent = true;
        if let Some(m) = s.queue.front_mut() {
            let end = m.offset + chunk_len;
            if m.aborted {
                // Abandoned before any of it went: the creation carries its ABORT.
                c.flags = DatagramFlags::ABORT | DatagramFlags::FINAL;
                s.queue.pop_front();
            } else if chunk_len > 0 || m.bytes.is_empty() {
                c.payload = m.bytes[m.offset..end].to_vec();
                m.offset = end;
                s.queued_bytes = s.queued_bytes.saturating_sub(chunk_len);
                if end == m.bytes.len() {
                    c.flags = DatagramFlags::FINAL;
                    s.queue.pop_front();
                    self.counters.messages_sent += 1;
                } else {
                    c.flags = 0;
                    s.in_message = true;
                }
                let _ = self.flow.consume(&h, chunk_len as u64);
            }
        }
        self.seal_and_send(now, StreamHandle(0), parent_g, c, false)
    }

    /// An acknowledgement-only datagram (odd counter) for a half whose Ack is due.
    fn emit_pure_ack(&mut self, now: Duration, h: StreamHandle) -> bool {
        let Some(g) = self.streams.get(&h).and_then(|s| {
            s.halves
                .iter()
                .find(|half| half.peer_id.is_some() && half.received.ack_due(now))
                .map(|half| half.g)
        }) else {
            return false;
        };
        let c = Content {
            flags: DatagramFlags::CONTROL | DatagramFlags::FINAL,
            ..Content::default()
        };
        self.seal_and_send(now, h, g, c, true)
    }

    /// Adds Ack, Metrics and one-time identifiers, seals once, records and queues the
    /// packets.
    fn seal_and_send(
        &mut self,
        now: Duration,
        h: StreamHandle,
        g: u64,
        mut c: Content,
        ack_only: bool,
    ) -> bool {
        let my_type = match self.role {
            Role::Initiator => MessageType::INITIATOR_DATA,
            Role::Responder => MessageType::RESPONDER_DATA,
        };
        let target = self.config.one_time_ids;
        let pdm = self.config.pdm;
        let max_packet = self.config.max_packet_size;
        //= docs/SPEC.md#multipath
        //# An endpoint MUST send nothing but heartbeats on a standby path it opened until a heartbeat is acknowledged
        // Only a bare ping leaves the primary path.
        let heartbeat = c.bare_to;
        let dest = heartbeat.unwrap_or(self.path.address);
        let slot = self.slot;
        let Some(s) = self.streams.get_mut(&h) else {
            return false;
        };
        // The StreamId of a Restart names the new half (issued when the plan was made).
        let restart_id = s.restart_sent.as_ref().map(|p| p.g);
        let Some(half) = s.half_mut(g) else {
            return false;
        };
        let mut ids_to_issue = 0;
        // A bare ping carries its ping and nothing else, so its size is known in advance.
        let bare = heartbeat.is_some();
        if !ack_only && !bare && target > 0 && half.ids_ahead < target {
            ids_to_issue = target - half.ids_ahead;
        }
        if !bare
            && half.received.largest().is_some()
            && (ack_only || half.received.ack_deadline().is_some() || half.received.ack_due(now))
            && let Some(ack) = half.received.build_ack(now)
        {
            let mut v = Vec::new();
            if ExtensionValue::Ack(ack).encode_value(&mut v).is_ok() {
                c.extensions.push(Owned::Ack(v));
                c.ack = true;
            }
        }
        let _ = slot;
        // Issue one-time ids (needs &mut self.issuer, outside the borrow of the stream).
        let my_id_len = half.my_id.len();
        let _ = my_id_len;
        let mut new_ids = Vec::new();
        for _ in 0..ids_to_issue.min(crate::wire::limits::MAX_ONE_TIME_IDS) {
            let index = (u64::from(self.slot) << 32) | g;
            match self.issuer.issue(index) {
                Ok(id) => new_ids.push(id.to_vec()),
                Err(_) => break,
            }
        }
        if !new_ids.is_empty() {
            c.extensions.push(Owned::OneTimeIds(new_ids.clone()));
        }
        if pdm && !ack_only && !bare {
            c.extensions.push(Owned::Metrics(self.pdm.on_sent(now)));
        }
        // Restart: the StreamId placeholder is the new half's identifier (issued now).
        let mut restart_my_id = None;
        if c.extensions.iter().any(|e| matches!(e, Owned::Restart))
            && let Some(ng) = restart_id
        {
            match self.issue_id(ng) {
                Ok(id) => restart_my_id = Some(id),
                Err(e) => {
                    self.terminate(CloseReason::Internal(e.to_string()));
                    return false;
                }
            }
        }
        let Some(s) = self.streams.get_mut(&h) else {
            return false;
        };
        if let (Some(id), Some(plan)) = (&restart_my_id, s.restart_sent.as_mut()) {
            plan.my_id = Some(id.clone());
        }
        let Some(half) = s.half_mut(g) else {
            return false;
        };
        half.ids_ahead += new_ids.len();
        let plaintext = match encode_plaintext(&c, restart_my_id.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                self.terminate(CloseReason::Internal(e));
                return false;
            }
        };
        let wire_id = half
            .one_time
            .pop_front()
            .or_else(|| half.peer_id.clone())
            .unwrap_or_default();
        //= docs/SPEC.md#ack-space
        //# A sender MUST seal acknowledgement-only datagrams in the acknowledgement space and every other datagram in the data space.
        let (sealer, flags) = if ack_only {
            (&mut half.ack_sealer, c.flags | DatagramFlags::ACK_ONLY)
        } else {
            (&mut half.sealer, c.flags)
        };
        let sealed = match SealedDatagram::seal(
            sealer,
            StreamId(&wire_id),
            my_type,
            DatagramFlags(flags),
            &plaintext,
            max_packet,
        ) {
            Ok(sd) => sd,
            Err(e) => {
                self.terminate(CloseReason::Internal(e.to_string()));
                return false;
            }
        };
        let n = sealed.nonce();
        let count = sealed.packet_count();
        let bytes: usize = (0..count).filter_map(|k| sealed.packet_len(k, 0)).sum();
        if ack_only {
            // Never resent and never acknowledged: not tracked by loss recovery.
            for k in 0..count {
                if let Ok(b) = sealed.packet(k, 0, 0) {
                    self.out.push_back(Transmit {
                        destination: dest,
                        bytes: b,
                    });
                }
            }
        } else {
            let info = DatagramInfo {
                n,
                packet_count: count as u64,
                bytes: bytes as u64,
                ack_eliciting: true,
            };
            let Ok(sends) = half.sent.on_sent(now, info) else {
                return false;
            };
            for p in &sends {
                if let Ok(b) = sealed.packet(p.packet_index as usize, p.sent_index, p.retransmit) {
                    self.out.push_back(Transmit {
                        destination: dest,
                        bytes: b,
                    });
                }
            }
        }
        if c.ack {
            half.received.on_ack_sent();
        }
        if !ack_only {
            half.buffers.insert(n, sealed);
        }
        if c.close {
            s.close_sent = Some((g, n));
            s.close_sent_at = Some(now);
        }
        self.counters.datagrams_sealed += 1;
        self.counters.packets_sent += count as u64;
        if let Some(address) = heartbeat
            && address == self.path.address
        {
            self.path.challenge = Some((g, n));
        } else if let Some(address) = heartbeat {
            debug_assert!(bytes as u64 <= HEARTBEAT_MAX_OCTETS, "heartbeat of {bytes}");
            self.heartbeats.retain(|&(hg, _)| hg >= g.saturating_sub(2));
            self.heartbeats.insert((g, n));
            if let Some(p) = self.path_of(address) {
                p.heartbeat = Some((g, n, now));
                p.sent = p.sent.saturating_add(bytes as u64);
                p.metrics.on_datagram_sent(count as u64, bytes as u64);
            }
            self.heartbeat_due.retain(|a| *a != address);
            self.last_sent = now;
            return true;
        }
        self.path
            .metrics
            .on_datagram_sent(count as u64, bytes as u64);
        self.after_send(now, bytes as u64, count as u64);
        true
    }

    /// A pure acknowledgement of the first stream, built right before the connection ends
    /// (the peer's Close must be acknowledged once).
    pub(super) fn flush_close_ack(&mut self) -> Vec<Transmit> {
        let now = self.last_activity;
        let before = self.out.len();
        // Due now: an ack held for the ack delay would never leave, the state being gone.
        if let Some(s) = self.streams.get_mut(&StreamHandle(0)) {
            s.halves
                .iter_mut()
                .for_each(|h| h.received.ack_immediately());
        }
        if self.emit_pure_ack(now, StreamHandle(0)) {
            self.out.drain(before..).collect()
        } else {
            Vec::new()
        }
    }

    /// When [`Connection::handle_timeout`] must run at the latest.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.is_closed() {
            return None;
        }
        let pto = self.path.rtt.pto_base();
        let mut t: Vec<Duration> = Vec::new();
        t.push(self.last_activity.saturating_add(self.config.idle_timeout));
        // Every deadline below moves once handled, so a caller never spins on a past one.
        if let Some(k) = self.config.keep_alive
            && self.is_open()
        {
            t.push(self.last_sent.saturating_add(k));
        }
        if let Some(d) = self.closing_deadline() {
            t.push(d);
        }
        if let Some(at) = self.state_lost_at {
            t.push(at.saturating_add(pto.saturating_mul(GRACE_PTOS)));
        }
        t.extend(self.rekey_deadline());
        if let Some((_, at, _)) = &self.handshake_retransmit {
            t.push(*at);
        }
        if let Some(at) = self.pacing_blocked {
            t.push(at);
        }
        if self.is_open() {
            t.extend(self.next_heartbeat());
            t.extend(self.awaiting_ping_at());
        }
        let grace = pto.saturating_mul(GRACE_PTOS);
        for s in self.streams.values() {
            // Only what `collect` will then drop: a deadline that handle_timeout cannot clear
            // would stay in the past and spin the caller's event loop at one instant.
            let closed = s.handle != StreamHandle(0)
                && s.state == StreamState::Closed
                && s.inbox.is_empty()
                && s.halves.iter().all(Half::send_idle);
            if closed && let Some(r) = s.halves.iter().filter_map(|h| h.retired_at).max() {
                t.push(r.saturating_add(grace));
            }
            if let Some(at) = close_deadline(s) {
                t.push(at.saturating_add(grace));
            }
            let last = s.halves.len().saturating_sub(1);
            for (i, half) in s.halves.iter().enumerate() {
                t.extend(half.sent.poll_timeout());
                if half.peer_id.is_some() {
                    t.extend(half.received.ack_deadline());
                }
                if let Some(r) = half.retired_at
                    && i < last
                    && s.may_drop(half)
                {
                    t.push(r.saturating_add(grace));
                }
            }
        }
        t.into_iter().min()
    }

    /// When to send a ping because this endpoint waits for responses to its requests and has
    /// neither heard nor said anything for max(3 PTO, 1 s): after a NAT rebinding on this side
    /// the peer's responses go to the old address, and without a datagram from the new one the
    /// peer learns of it only at the next keep-alive (10 s). The interval doubles, and after
    /// three pings with no message octets arriving the keep-alive alone goes on (a request
    /// that takes long to answer is no reason to chatter).
    //= docs/SPEC.md#awaiting-ping
    //# An endpoint that waits for responses to its requests and has neither received an authenticated datagram nor sent one for max(3 PTO, 1 s) SHOULD send an ack-eliciting datagram.
    fn awaiting_ping_at(&self) -> Option<Duration> {
        let waiting = self.streams.values().any(|s| {
            s.kind == StreamKind::Transactional
                && s.reads_responses
                && s.next_recv_id < s.next_send_id
        });
        if !self.is_open() || !waiting || self.awaiting_pings >= AWAITING_PINGS {
            return None;
        }
        let quiet = self
            .path
            .rtt
            .pto_base()
            .saturating_mul(3)
            .max(Duration::from_secs(1))
            .saturating_mul(1 << self.awaiting_pings);
        Some(self.last_activity.max(self.last_sent).saturating_add(quiet))
    }

    /// Runs the timers that expired at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.is_closed() {
            return;
        }
        let pto = self.path.rtt.pto_base();
        if let Some(d) = self.closing_deadline()
            && now >= d
        {
            let reason = self.pending_close.take().unwrap_or(CloseReason::Local {
                code: 0,
                reason: String::new(),
            });
            return self.terminate(reason);
        }
        //= docs/SPEC.md#idle-timeout
        //# An endpoint MUST close a connection on which nothing authenticated arrived for its idle timeout, without sending anything.
        if now >= self.last_activity.saturating_add(self.config.idle_timeout) {
            return self.terminate(CloseReason::IdleTimeout);
        }
        if let Some(at) = self.state_lost_at
            && now >= at.saturating_add(pto.saturating_mul(GRACE_PTOS))
        {
            return self.terminate(CloseReason::StateLost);
        }
        if self.rekey_deadline().is_some_and(|d| now >= d) {
            return self.terminate(CloseReason::RekeyFailed);
        }
        if let Some((bytes, at, attempts)) = self.handshake_retransmit.take() {
            if now >= at {
                if attempts >= MAX_HANDSHAKE_RETRANSMITS {
                    return self.terminate(CloseReason::IdleTimeout);
                }
                self.out.push_back(Transmit {
                    destination: self.path.address,
                    bytes: bytes.clone(),
                });
                let next = now.saturating_add(pto.saturating_mul(1 << (attempts + 1).min(6)));
                self.handshake_retransmit = Some((bytes, next, attempts + 1));
            } else {
                self.handshake_retransmit = Some((bytes, at, attempts));
            }
        }
        //= docs/SPEC.md#keep-alive
        //# An endpoint with a keep-alive interval MUST send an ack-eliciting datagram when it sent nothing for that interval.
        if let Some(k) = self.config.keep_alive
            && now >= self.last_sent.saturating_add(k)
            && self.is_open()
        {
            if let Some(s) = self.streams.get_mut(&StreamHandle(0)) {
                s.control.ping = true;
            }
            self.last_sent = now;
        }
        if self.awaiting_ping_at().is_some_and(|t| now >= t) {
            if let Some(s) = self.streams.get_mut(&StreamHandle(0)) {
                s.control.ping = true;
            }
            self.last_sent = now;
            self.awaiting_pings += 1;
        }
        let mut fired = Vec::new();
        for s in self.streams.values_mut() {
            for half in s.halves.iter_mut() {
                if half.sent.poll_timeout().is_some_and(|t| now >= t) {
                    fired.push((s.handle, half.g, half.sent.on_timeout(now)));
                }
            }
        }
        // A probe timeout may have backed a direction off (see `on_recovery`).
        self.backed_off |= !fired.is_empty();
        // A probe resends stored octets, and a peer that already holds them drops them as a
        // replay, which never moves its path (SPEC migration): after a NAT rebinding with the
        // window full, its acknowledgements kept going to the old address and the connection
        // hung until the idle timeout. From the second probe timeout in a row, a fresh ping
        // goes with the probe; it authenticates from the new address.
        let repeated_probe =
            |s: &super::stream::Stream, g: u64| s.half(g).is_some_and(|h| h.sent.pto_count() >= 2);
        if self.is_open() {
            self.path_heartbeats(now);
            // A probe of a heartbeat says nothing about the primary.
            let beats = &self.heartbeats;
            let primary_probed = fired.iter().any(|(h, g, ev)| {
                ev.probe
                    .iter()
                    .any(|&(n, _)| *h != StreamHandle(0) || !beats.contains(&(*g, n)))
            });
            if primary_probed {
                self.on_primary_probe(now);
            }
        }
        if self.is_open()
            && fired.iter().any(|(h, g, ev)| {
                !ev.probe.is_empty() && self.streams.get(h).is_some_and(|s| repeated_probe(s, *g))
            })
        {
            self.probe_ping = true;
            if let Some(s) = self.streams.get_mut(&StreamHandle(0)) {
                s.control.ping = true;
            }
        }
        for (h, g, ev) in fired {
            self.on_recovery(now, h, g, ev);
        }
        let expired: Vec<StreamHandle> = self
            .streams
            .values()
            .filter(|s| {
                close_deadline(s)
                    .is_some_and(|at| now >= at.saturating_add(pto.saturating_mul(GRACE_PTOS)))
            })
            .map(|s| s.handle)
            .collect();
        for h in expired {
            if let Some(s) = self.streams.get_mut(&h) {
                s.halves.iter_mut().for_each(super::receive::settle);
            }
            self.on_close_acked(h);
        }
        self.collect(now);
    }

    /// Forgets halves and streams that are done: receive complete, nothing outstanding, and a
    /// grace period of three probe timeouts passed (late retransmissions still get acks).
    fn collect(&mut self, now: Duration) {
        let grace = self.path.rtt.pto_base().saturating_mul(GRACE_PTOS);
        let mut retired = Vec::new();
        for s in self.streams.values_mut() {
            let n = s.halves.len();
            let mut keep = std::collections::VecDeque::new();
            for (i, half) in std::mem::take(&mut s.halves).into_iter().enumerate() {
                let old = i + 1 < n;
                let done = s.may_drop(&half)
                    && half
                        .retired_at
                        .is_some_and(|r| now >= r.saturating_add(grace));
                if old && done {
                    retired.push((half.g, half));
                } else {
                    keep.push_back(half);
                }
            }
            s.halves = keep;
        }
        for (g, half) in retired {
            self.by_gen.remove(&g);
            self.retire_half_counters(&half);
        }
        let closed: Vec<StreamHandle> = self
            .streams
            .values()
            .filter(|s| {
                s.handle != StreamHandle(0)
                    && s.state == StreamState::Closed
                    && s.inbox.is_empty()
                    && s.halves.iter().all(Half::send_idle)
                    && s.halves
                        .iter()
                        .all(|h| h.retired_at.is_none_or(|r| now >= r.saturating_add(grace)))
            })
            .map(|s| s.handle)
            .collect();
        for h in closed {
            if let Some(s) = self.streams.remove(&h) {
                for half in &s.halves {
                    self.by_gen.remove(&half.g);
                    self.retire_half_counters(half);
                }
                self.flow.close_stream(&h);
            }
        }
        self.wipe_unused_keys();
    }
}

/// A sender keeps every counter it seals within the receiver's replay window of the oldest
/// datagram it may still resend, or that datagram could never be accepted.
//= docs/SPEC.md#send-window
//# A sender MUST NOT seal a datagram whose counter is 1024 or more above the oldest datagram of the same stream half it has not seen acknowledged.
fn may_seal(half: &Half) -> bool {
    match half.buffers.keys().next() {
        Some(&oldest) => half.sealer.next_counter() + 2 < oldest + ReplayWindow::WIDTH,
        None => true,
    }
}

/// Encodes the DataPlaintext of a new datagram.
fn encode_plaintext(c: &Content, restart_id: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let mut pairs: Vec<samples::OwnedExtension> = Vec::with_capacity(c.extensions.len());
    for e in &c.extensions {
        let v = match e {
            Owned::Client(s) => ExtensionValue::StreamClient { service: s },
            Owned::Receiver(s) => ExtensionValue::StreamReceiver { service: s },
            Owned::Restart => ExtensionValue::Restart,
            Owned::StreamId(id) if id.is_empty() => {
                ExtensionValue::StreamId(restart_id.unwrap_or_default())
            }
            Owned::StreamId(id) => ExtensionValue::StreamId(id),
            Owned::Params(g) => ExtensionValue::EncryptionParameters {
                suite: 1,
                generation: *g,
            },
            Owned::KeyExchange(k) => ExtensionValue::KeyExchange(crate::wire::PublicKey::x448(k)),
            Owned::UseKeyOf(id) => ExtensionValue::UseKeyOf(id),
            Owned::Credential(t, d) => ExtensionValue::Credential {
                credential_type: *t,
                data: d,
            },
            Owned::Close(code, reason) => ExtensionValue::Close {
                code: *code,
                reason,
            },
            Owned::Error(code) => ExtensionValue::Error { code: *code },
            Owned::Credit(s, c) => ExtensionValue::Credit {
                stream: *s,
                connection: *c,
            },
            Owned::OneTimeIds(ids) => {
                ExtensionValue::OneTimeIds(ids.iter().map(Vec::as_slice).collect())
            }
            Owned::Ack(v) => {
                pairs.push((vec![ExtensionCode::ACK.0], v.clone()));
                continue;
            }
            Owned::Metrics(m) => ExtensionValue::Metrics(*m),
            Owned::Ticket(lifetime_s, ticket) => ExtensionValue::Ticket {
                lifetime_s: *lifetime_s,
                ticket,
            },
        };
        pairs.push(samples::extension_bytes(&v).map_err(|e| e.to_string())?);
    }
    let plain = DataPlaintext {
        extensions: samples::list(&pairs),
        payload: &c.payload,
        padding: 0,
    };
    let mut out = Vec::with_capacity(plain.encoded_len());
    plain.encode(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// When our Close of stream `s` was sent, if nothing but control datagrams (the Close, credit,
/// pings: no message octets) is unacknowledged there: the Close then completes three probe
/// timeouts later even without its acknowledgement.
fn close_deadline(s: &super::stream::Stream) -> Option<Duration> {
    s.close_sent?;
    let at = s.close_sent_at?;
    let control_only = s.state == StreamState::Closing
        && s.halves
            .iter()
            .all(|h| h.buffers.values().all(|d| d.flags().is_control()));
    control_only.then_some(at)
}

#[cfg(test)]
impl Connection {
    /// Seals a datagram with exactly these flags and payload on stream `h` (tests inject
    /// what a broken peer would send).
    pub(super) fn send_raw(&mut self, now: Duration, h: StreamHandle, flags: u8, payload: &[u8]) {
        let Some(g) = self.streams.get(&h).and_then(|s| s.current()).map(|x| x.g) else {
            return;
        };
        let c = Content {
            flags,
            payload: payload.to_vec(),
            ..Content::default()
        };
        self.seal_and_send(now, h, g, c, false);
    }
}
