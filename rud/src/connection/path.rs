//! The peer's addresses as this endpoint sends to them, with what each may carry (SPEC section
//! 5.6): one primary path that carries the traffic, and up to `max_paths - 1` standby paths,
//! each with its own congestion controller, pacer, RTT estimate, metrics and anti-amplification
//! budget, probed by heartbeats and taken over when the primary fails (SCTP's multi-homing,
//! RFC 9260 section 8, in place of splitting one stream over paths: per-path ordering and loss
//! detection stay as simple as on one path).
use std::net::SocketAddr;
use std::time::Duration;

use super::recovery::{NewReno, Pacer, PathMetrics, RttEstimator};

/// Anti-amplification factor for a path that has not proved it receives (SPEC path-validation).
pub const AMPLIFICATION_FACTOR: u64 = 3;
/// Heartbeats in a row without an acknowledgement after which a standby path is dropped
/// (RFC 9260's Path.Max.Retrans is 5; paths here are cheaper to open again).
pub const PATH_MAX_FAILURES: u32 = 3;
/// Probe timeouts in a row on the primary after which a validated standby path takes over.
pub const FAILOVER_PTOS: u32 = 2;
/// Upper bound of a heartbeat on the wire: the packet header with a one-block identifier, an
/// empty plaintext and the tag (43 octets in practice), with room for the longest counters.
pub const HEARTBEAT_MAX_OCTETS: u64 = 96;
/// Addresses that are no path whose arrivals are counted (for the budget of a move there).
const MAX_ARRIVALS: usize = 4;

#[derive(Debug)]
pub(crate) struct Path {
    pub address: SocketAddr,
    /// True once the peer acknowledged a datagram sent to this address.
    pub validated: bool,
    /// Octets received from / sent to the address since it became a path.
    pub received: u64,
    pub sent: u64,
    /// The (generation, counter) of the datagram whose acknowledgement validates the path.
    pub challenge: Option<(u64, u64)>,
    pub cc: NewReno,
    pub pacer: Pacer,
    /// The latest estimate from any stream's acknowledgements (for new halves and reports).
    pub rtt: RttEstimator,
    pub metrics: PathMetrics,
    /// Standby path: the heartbeat in flight, as (generation, counter, sent at).
    pub heartbeat: Option<(u64, u64, Duration)>,
    /// When the next heartbeat is due (standby paths only).
    pub next_heartbeat: Duration,
    /// Heartbeats (or, on the primary, probe timeouts) in a row without an answer.
    pub failures: u32,
    /// When an authenticated datagram last came from the address.
    pub last_heard: Duration,
    /// Opened by this endpoint to an address its application gave ([`Connection::open_path`]),
    /// not learned from the network: it carries only heartbeats until validated.
    pub local: bool,
}

impl Path {
    pub fn new(address: SocketAddr, validated: bool, max_packet_size: u64) -> Self {
        let cc = NewReno::new(max_packet_size);
        let rtt = RttEstimator::default();
        Self {
            address,
            validated,
            received: 0,
            sent: 0,
            challenge: None,
            pacer: Pacer::new(max_packet_size, cc.window(), rtt.smoothed()),
            cc,
            rtt,
            metrics: PathMetrics::new(),
            heartbeat: None,
            next_heartbeat: Duration::ZERO,
            failures: 0,
            last_heard: Duration::ZERO,
            local: false,
        }
    }

    /// Octets that may still go to an unvalidated address.
    //= docs/SPEC.md#path-validation
    //# Until a new path is validated, an endpoint MUST NOT send to it more than three times the octets it received from it.
    pub fn amplification_budget(&self) -> u64 {
        // The limit protects addresses a datagram merely claims; an address the application
        // chose gets nothing but heartbeats until validated (see `Connection::open_path`).
        if self.validated || self.local {
            u64::MAX
        } else {
            self.received
                .saturating_mul(AMPLIFICATION_FACTOR)
                .saturating_sub(self.sent)
        }
    }

    /// When `bytes` more may leave under pacing.
    pub fn next_send_time(&self, now: Duration, bytes: u64) -> Duration {
        self.pacer.next_send_time(now, bytes)
    }

    /// Counts `bytes` received from this address.
    pub fn on_received(&mut self, bytes: u64) {
        self.received = self.received.saturating_add(bytes);
        self.metrics.on_packets_received(1, bytes);
    }

    pub fn info(&self, primary: bool) -> PathInfo {
        let mut metrics = self.metrics.clone();
        metrics.update_rtt(&self.rtt);
        PathInfo {
            address: self.address,
            primary,
            validated: self.validated,
            failures: self.failures,
            congestion_window: self.cc.window(),
            octets_sent: self.sent,
            octets_received: self.received,
            metrics,
        }
    }
}

/// One path of a connection as [`super::Connection::paths`] reports it (SPEC metrics: per
/// port RTT, loss, volume).
#[derive(Debug, Clone)]
pub struct PathInfo {
    /// The peer's address on this path.
    pub address: SocketAddr,
    /// Whether this path carries the connection's traffic (the others are standby).
    pub primary: bool,
    /// Whether the peer acknowledged a datagram sent on it.
    pub validated: bool,
    /// Heartbeats (standby) or probe timeouts (primary) in a row without an answer.
    pub failures: u32,
    /// The path's own congestion window, in octets.
    pub congestion_window: u64,
    /// Octets sent to and received from the address since it became a path.
    pub octets_sent: u64,
    pub octets_received: u64,
    /// RTT (smoothed, min, variance), loss and volume as measured on this path.
    pub metrics: PathMetrics,
}

/// Why [`super::Connection::open_path`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    #[error("{0} is already a path of this connection")]
    Exists(SocketAddr),
    #[error("the connection holds its maximum of {0} paths")]
    Full(usize),
    #[error("the connection is not open")]
    NotOpen,
}

use super::Connection;
use super::event::Event;

impl Connection {
    /// Opens a standby path to another address of the peer (a second port or interface of
    /// the responder, say). It carries only heartbeats until one is acknowledged; then it
    /// takes over if the primary path fails (SPEC multipath).
    ///
    /// # Errors
    /// [`PathError`]: the address is already a path, the table is full, or the connection
    /// is not open.
    pub fn open_path(&mut self, now: Duration, address: SocketAddr) -> Result<(), PathError> {
        if !self.is_open() {
            return Err(PathError::NotOpen);
        }
        if self.path.address == address || self.standby.iter().any(|p| p.address == address) {
            return Err(PathError::Exists(address));
        }
        let max = self.config.max_paths.max(1);
        if self.standby.len() + 1 >= max {
            return Err(PathError::Full(max));
        }
        let mut p = Path::new(address, false, self.config.max_packet_size as u64);
        p.local = true;
        p.next_heartbeat = now;
        self.standby.push(p);
        Ok(())
    }

    /// Every path, the primary first, with its own congestion window, RTT and volume.
    pub fn paths(&self) -> Vec<PathInfo> {
        std::iter::once(self.path.info(true))
            .chain(self.standby.iter().map(|p| p.info(false)))
            .collect()
    }

    /// The path for datagrams from `from`, if it is one.
    pub(super) fn path_of(&mut self, from: SocketAddr) -> Option<&mut Path> {
        if self.path.address == from {
            return Some(&mut self.path);
        }
        self.standby.iter_mut().find(|p| p.address == from)
    }

    /// Makes standby path `i` the primary; the old primary becomes a standby path, probed by
    /// heartbeats like the others (and dropped if they go unanswered).
    pub(super) fn promote(&mut self, now: Duration, i: usize) {
        if i >= self.standby.len() {
            return;
        }
        let mut old = std::mem::replace(&mut self.path, self.standby.remove(i));
        old.heartbeat = None;
        old.next_heartbeat = now.saturating_add(self.config.path_heartbeat);
        self.path.heartbeat = None;
        self.path.failures = 0;
        self.path.last_heard = self.path.last_heard.max(now);
        // A path promoted before its heartbeat came back is challenged as a new one is.
        self.path_challenge_due |= !self.path.validated;
        let (from, to) = (old.address, self.path.address);
        self.keep_standby(old);
        self.events.push_back(Event::PathChanged { from, to });
    }

    /// Keeps `p` as a standby path if the table has room (or `max_paths` allows standby
    /// paths at all), dropping the one with the most failures otherwise.
    pub(super) fn keep_standby(&mut self, p: Path) {
        let room = self.config.max_paths.max(1) - 1;
        if room == 0 {
            return;
        }
        self.standby.push(p);
        while self.standby.len() > room {
            let worst = (0..self.standby.len())
                .max_by_key(|&i| (self.standby[i].failures, std::cmp::Reverse(i)))
                .unwrap_or(0);
            self.standby.remove(worst);
        }
    }

    /// Heartbeat timers of the standby paths: counts an unanswered heartbeat as a failure,
    /// drops a path after [`PATH_MAX_FAILURES`], and marks the next heartbeats due.
    //= docs/SPEC.md#path-heartbeat
    //# An endpoint MUST drop a standby path after three heartbeats in a row went unacknowledged
    pub(super) fn path_heartbeats(&mut self, now: Duration) {
        let interval = self.config.path_heartbeat;
        let mut failed = Vec::new();
        for p in &mut self.standby {
            if now < p.next_heartbeat {
                continue;
            }
            if p.heartbeat.take().is_some() {
                p.failures = p.failures.saturating_add(1);
            }
            if p.failures >= PATH_MAX_FAILURES {
                failed.push(p.address);
                continue;
            }
            p.next_heartbeat = now.saturating_add(interval);
            if !self.heartbeat_due.contains(&p.address) {
                self.heartbeat_due.push(p.address);
            }
        }
        for address in failed {
            self.standby.retain(|p| p.address != address);
            self.heartbeat_due.retain(|a| *a != address);
            self.events.push_back(Event::PathFailed { address });
        }
    }

    /// Counts a packet routed to this connection from `from`: on its path, or, for an
    /// address that is no path (yet), in a short list of recent arrivals (the oldest
    /// forgotten), which a move to that address takes over.
    pub(super) fn on_arrival(&mut self, from: SocketAddr, octets: u64) {
        if let Some(p) = self.path_of(from) {
            return p.on_received(octets);
        }
        match self.arrivals.iter_mut().find(|a| a.0 == from) {
            Some(a) => {
                a.1 = a.1.saturating_add(1);
                a.2 = a.2.saturating_add(octets);
            }
            None => {
                if self.arrivals.len() >= MAX_ARRIVALS {
                    self.arrivals.remove(0);
                }
                self.arrivals.push((from, 1, octets));
            }
        }
    }

    /// Packets and octets received from `from` before it became a path.
    pub(super) fn take_arrivals(&mut self, from: SocketAddr) -> (u64, u64) {
        match self.arrivals.iter().position(|a| a.0 == from) {
            Some(i) => {
                let (_, packets, octets) = self.arrivals.remove(i);
                (packets, octets)
            }
            None => (0, 0),
        }
    }

    /// The earliest heartbeat deadline of the standby paths.
    pub(super) fn next_heartbeat(&self) -> Option<Duration> {
        self.standby.iter().map(|p| p.next_heartbeat).min()
    }

    /// After a probe timeout on the primary path: counts it, and after [`FAILOVER_PTOS`] in a
    /// row hands the traffic to a validated standby path that answers its heartbeats.
    //= docs/SPEC.md#path-failover
    //# An endpoint MUST NOT move its traffic to a standby path that is not validated
    pub(super) fn on_primary_probe(&mut self, now: Duration) {
        self.path.failures = self.path.failures.saturating_add(1);
        if self.path.failures < FAILOVER_PTOS {
            return;
        }
        let best = (0..self.standby.len())
            .filter(|&i| self.standby[i].validated && self.standby[i].failures == 0)
            .min_by_key(|&i| self.standby[i].rtt.smoothed());
        if let Some(i) = best {
            let failures = self.path.failures;
            self.promote(now, i);
            // The old primary must answer a heartbeat before it may take the traffic back.
            if let Some(old) = self.standby.last_mut() {
                old.failures = failures;
            }
        }
    }

    /// An acknowledged datagram (generation `g`, counter `n`) of the first stream that was a
    /// heartbeat validates its standby path, clears its failures and gives it an RTT sample.
    /// Returns whether it was one.
    pub(super) fn on_heartbeat_acked(&mut self, now: Duration, g: u64, n: u64) -> bool {
        let Some(p) = self
            .standby
            .iter_mut()
            .find(|p| p.heartbeat.is_some_and(|(hg, hn, _)| (hg, hn) == (g, n)))
        else {
            return false;
        };
        let Some((_, _, at)) = p.heartbeat.take() else {
            return false;
        };
        p.failures = 0;
        p.rtt.update(now, now.saturating_sub(at), Duration::ZERO);
        p.pacer.update(p.cc.window(), p.rtt.smoothed());
        if !p.validated {
            p.validated = true;
            let address = p.address;
            self.events.push_back(Event::PathValidated { address });
        }
        true
    }
}
