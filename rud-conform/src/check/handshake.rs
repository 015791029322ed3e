//! The `handshake` set: a transcript is replayed through a reference [`Initiator`] and
//! [`Responder`] built from the vector's setup and seeds. Steps the reference produced must come
//! out byte for byte; attacker steps are delivered as written; every receiver must do what the
//! step says, and the end state must match the outcome.
//!
//! The generator drives the same [`Replay`] to write the transcripts, so a vector records what
//! the reference did.
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rud::crypto::keylog::{KeyLog, NoKeyLog};
use rud::crypto::x448::{X448PublicKey, X448Secret};
use rud::crypto::{CryptoProvider, default_provider};
use rud::handshake::{
    DeferPolicy, DropReason, Entropy, HandshakeError, Initiator, InitiatorConfig, InitiatorEvent,
    Responder, ResponderConfig, ResponderOutcome, SeededEntropy, Session,
};
use rud::wire::Datagram;

use super::crypto::unhex;
use crate::vectors::{
    Direction, HandshakeMode, HandshakeOutcome, HandshakeSetup, HandshakeVector, InitiatorState,
    Origin, SessionSummary, StepResult,
};

/// What delivering one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub bytes: Vec<u8>,
    pub result: StepResult,
    /// Responder `established`: the request handed to the application, and whether it was
    /// early data.
    pub delivered: Option<(Vec<u8>, bool)>,
}

/// A reference initiator and responder with the datagrams each has sent and not yet had
/// delivered.
pub struct Replay {
    t0: Duration,
    initiator_addr: SocketAddr,
    responder_addr: SocketAddr,
    initiator: Initiator,
    responder: Responder,
    rrng: Box<dyn Entropy>,
    to_responder: VecDeque<Vec<u8>>,
    to_initiator: VecDeque<Vec<u8>>,
    initiator_session: Option<Box<Session>>,
    initiator_error: Option<&'static str>,
    responder_sessions: Vec<Session>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("to_responder", &self.to_responder.len())
            .field("to_initiator", &self.to_initiator.len())
            .finish_non_exhaustive()
    }
}

fn addr(what: &str, s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|e| format!("{what} {s:?}: {e}"))
}

fn secret(what: &str, s: &str) -> Result<X448Secret, String> {
    X448Secret::from_slice(&unhex(what, s)?).map_err(|e| format!("{what}: {e}"))
}

/// The stable name of why an initiator failed.
pub fn error_name(e: &HandshakeError) -> &'static str {
    match e {
        HandshakeError::WrongResponderKey => "wrong-responder-key",
        HandshakeError::Timeout { .. } => "timeout",
        _ => "other",
    }
}

/// The message type name of a datagram, or `malformed`.
pub fn message_name(bytes: &[u8]) -> &'static str {
    match Datagram::decode(bytes) {
        Ok(Datagram::InitiatorHello(_)) => "InitiatorHello",
        Ok(Datagram::InitiatorExchange(_)) => "InitiatorExchange",
        Ok(Datagram::InitiatorComplete(_)) => "InitiatorComplete",
        Ok(Datagram::ResponderChallenge(_)) => "ResponderChallenge",
        Ok(Datagram::ResponderDefer(_)) => "ResponderDefer",
        Ok(Datagram::ResponderComplete(_)) => "ResponderComplete",
        Ok(Datagram::Error(e)) if e.msg_type.0 & 0x80 != 0 => "ResponderError",
        Ok(Datagram::Error(_)) => "InitiatorError",
        Ok(Datagram::Data(_)) => "Data",
        Ok(Datagram::Unknown(_)) => "Unknown",
        Err(_) => "malformed",
    }
}

impl Replay {
    /// Builds both endpoints; the initiator sends its first datagram at `setup.time`.
    pub fn new(
        mode: HandshakeMode,
        setup: &HandshakeSetup,
        provider: Arc<dyn CryptoProvider>,
        mut irng: Box<dyn Entropy>,
        rrng: Box<dyn Entropy>,
        keylogs: Option<(Arc<dyn KeyLog>, Arc<dyn KeyLog>)>,
    ) -> Result<Self, String> {
        let (ilog, rlog): (Arc<dyn KeyLog>, Arc<dyn KeyLog>) =
            keylogs.unwrap_or_else(|| (Arc::new(NoKeyLog), Arc::new(NoKeyLog)));
        let keys = setup
            .responder_static_private
            .iter()
            .map(|k| secret("responder_static_private", k))
            .collect::<Result<Vec<_>, _>>()?;
        let first = keys.first().ok_or("no responder key")?.clone();
        let mut rcfg = ResponderConfig::new(provider.clone(), first);
        rcfg.keys = keys;
        rcfg.keylog = rlog;
        rcfg.hello_payload = unhex("hello_payload", &setup.hello_payload)?;
        rcfg.defer = if setup.defer {
            DeferPolicy::Always
        } else {
            DeferPolicy::Never
        };
        rcfg.cookie_epoch = Duration::from_secs(setup.cookie_epoch);
        rcfg.early_window = Duration::from_secs(setup.early_window);
        let responder = Responder::new(rcfg, Duration::from_secs(setup.responder_started))
            .map_err(|e| format!("responder: {e}"))?;

        let mut icfg = InitiatorConfig::new(
            provider,
            secret("initiator_static_private", &setup.initiator_static_private)?,
        );
        icfg.keylog = ilog;
        icfg.service = setup.service.clone();
        icfg.responder_key = match &setup.pinned_responder_public {
            Some(k) => Some(
                X448PublicKey::from_bytes(&unhex("pinned_responder_public", k)?)
                    .map_err(|e| format!("pinned_responder_public: {e}"))?,
            ),
            None => None,
        };
        let t0 = Duration::from_secs(setup.time);
        let responder_addr = addr("responder_address", &setup.responder_address)?;
        let initiator_addr = addr("initiator_address", &setup.initiator_address)?;
        let request = unhex("request", &setup.request)?;
        let initiator = match mode {
            HandshakeMode::FirstContact => {
                let query = unhex("query", setup.query.as_deref().unwrap_or_default())?;
                Initiator::first_contact(icfg, &mut *irng, t0, responder_addr, &query, &request)
            }
            HandshakeMode::Immediate | HandshakeMode::Deferred => {
                Initiator::immediate(icfg, &mut *irng, t0, responder_addr, &request)
            }
        }
        .map_err(|e| format!("initiator: {e}"))?;
        let mut me = Replay {
            t0,
            initiator_addr,
            responder_addr,
            initiator,
            responder,
            rrng,
            to_responder: VecDeque::new(),
            to_initiator: VecDeque::new(),
            initiator_session: None,
            initiator_error: None,
            responder_sessions: Vec::new(),
        };
        me.collect_initiator();
        Ok(me)
    }

    pub fn initiator_addr(&self) -> SocketAddr {
        self.initiator_addr
    }

    pub fn responder_addr(&self) -> SocketAddr {
        self.responder_addr
    }

    /// The next datagram the reference sent toward `d` and has not been delivered.
    pub fn pending(&self, d: Direction) -> Option<&[u8]> {
        match d {
            Direction::I2r => self.to_responder.front(),
            Direction::R2i => self.to_initiator.front(),
        }
        .map(Vec::as_slice)
    }

    /// The initiator's session, once established.
    pub fn initiator_session(&self) -> Option<&Session> {
        self.initiator_session.as_deref()
    }

    /// The responder's sessions, in the order established.
    pub fn responder_sessions(&self) -> &[Session] {
        &self.responder_sessions
    }

    /// Returns whether the initiator established (`Some(true)`) or failed (`Some(false)`).
    fn collect_initiator(&mut self) -> Option<bool> {
        let mut change = None;
        while let Some(e) = self.initiator.poll_event() {
            match e {
                InitiatorEvent::Established(s) => {
                    self.initiator_session = Some(s);
                    change = Some(true);
                }
                InitiatorEvent::Failed(e) => {
                    self.initiator_error = Some(error_name(&e));
                    change = Some(false);
                }
                _ => {}
            }
        }
        while let Some(t) = self.initiator.poll_transmit() {
            self.to_responder.push_back(t.bytes);
        }
        change
    }

    /// Takes the reference's next datagram toward `d` off the path, undelivered.
    pub fn lose(&mut self, d: Direction) -> Result<Vec<u8>, String> {
        match d {
            Direction::I2r => self.to_responder.pop_front(),
            Direction::R2i => self.to_initiator.pop_front(),
        }
        .ok_or_else(|| format!("nothing to lose toward {d:?}"))
    }

    /// Delivers one datagram: the reference's next one toward `direction` (origin initiator
    /// or responder) or `forged` (origin attacker), from `from`, `time_ms` after the start.
    pub fn deliver(
        &mut self,
        direction: Direction,
        origin: Origin,
        forged: Option<&[u8]>,
        from: SocketAddr,
        time_ms: u64,
    ) -> Result<Delivery, String> {
        let bytes = match (origin, direction, forged) {
            (Origin::Attacker, _, Some(b)) => b.to_vec(),
            (Origin::Initiator, Direction::I2r, None) => self
                .to_responder
                .pop_front()
                .ok_or("the initiator has sent nothing more")?,
            (Origin::Responder, Direction::R2i, None) => self
                .to_initiator
                .pop_front()
                .ok_or("the responder has sent nothing more")?,
            _ => return Err(format!("{origin:?} cannot send {direction:?}")),
        };
        let now = self.t0 + Duration::from_millis(time_ms);
        let mut delivered = None;
        let result = match direction {
            Direction::I2r => {
                let o = self
                    .responder
                    .handle_datagram(now, from, &bytes, &mut *self.rrng);
                match o {
                    ResponderOutcome::Reply(t) => {
                        self.to_initiator.push_back(t.bytes);
                        StepResult::Reply
                    }
                    ResponderOutcome::Established { session, reply } => {
                        delivered = Some((session.payload.clone(), session.early_data));
                        self.responder_sessions.push(*session);
                        if let Some(t) = reply {
                            self.to_initiator.push_back(t.bytes);
                        }
                        StepResult::Established
                    }
                    ResponderOutcome::Refused { reply, .. } => {
                        if let Some(t) = reply {
                            self.to_initiator.push_back(t.bytes);
                        }
                        StepResult::Refused
                    }
                    ResponderOutcome::Dropped(DropReason::Duplicate) => StepResult::Duplicate,
                    ResponderOutcome::Dropped(_) => StepResult::Dropped,
                }
            }
            Direction::R2i => {
                let r = self.initiator.handle_datagram(now, from, &bytes);
                match (self.collect_initiator(), r) {
                    (Some(true), _) => StepResult::Established,
                    (Some(false), _) => StepResult::Aborted,
                    (None, Err(_)) => StepResult::Ignored,
                    (None, Ok(()))
                        if matches!(Datagram::decode(&bytes), Ok(Datagram::Error(_))) =>
                    {
                        StepResult::Hint
                    }
                    (None, Ok(())) => StepResult::Accepted,
                }
            }
        };
        Ok(Delivery {
            bytes,
            result,
            delivered,
        })
    }

    /// The end state.
    pub fn outcome(&self) -> HandshakeOutcome {
        let session = self.initiator_session.as_ref().map(|s| SessionSummary {
            mode: match s.mode {
                rud::handshake::Mode::FirstContact => HandshakeMode::FirstContact,
                rud::handshake::Mode::Deferred => HandshakeMode::Deferred,
                _ => HandshakeMode::Immediate,
            },
            confirmed: self.responder_sessions.iter().any(|r| {
                r.secrets.i2r.expose() == s.secrets.i2r.expose()
                    && r.secrets.r2i.expose() == s.secrets.r2i.expose()
            }),
            responder_authenticated: s.responder_authenticated,
            early_data: s.early_data,
            initiator_stream_id: hex::encode(&s.first_stream.initiator_stream_id),
            responder_stream_id: hex::encode(&s.first_stream.responder_stream_id),
            ts_i2r: hex::encode(s.secrets.i2r.expose()),
            ts_r2i: hex::encode(s.secrets.r2i.expose()),
            exporter: hex::encode(s.secrets.exporter.expose()),
        });
        HandshakeOutcome {
            initiator: if session.is_some() {
                InitiatorState::Established
            } else if self.initiator_error.is_some() {
                InitiatorState::Failed
            } else {
                InitiatorState::Waiting
            },
            initiator_error: self.initiator_error.map(str::to_owned),
            responder_sessions: self.responder_sessions.len() as u64,
            session,
        }
    }
}

/// Replays one handshake vector.
pub fn run(v: &HandshakeVector) -> Result<(), String> {
    let seed = |what, s: &str| -> Result<Box<dyn Entropy>, String> {
        Ok(Box::new(SeededEntropy::new(&unhex(what, s)?)))
    };
    let mut replay = Replay::new(
        v.mode,
        &v.setup,
        default_provider(),
        seed("initiator_seed", &v.setup.initiator_seed)?,
        seed("responder_seed", &v.setup.responder_seed)?,
        None,
    )?;
    for (k, s) in v.steps.iter().enumerate() {
        let step = |m: String| format!("step {}: {m}", k + 1);
        let from = addr("from", &s.from).map_err(step)?;
        let forged = match s.origin {
            Origin::Attacker => Some(unhex("hex", &s.hex).map_err(step)?),
            _ => None,
        };
        let d = if s.result == StepResult::Lost {
            if s.origin == Origin::Attacker {
                return Err(step("only the reference's datagrams can be lost".into()));
            }
            let bytes = replay.lose(s.direction).map_err(step)?;
            Delivery {
                bytes,
                result: StepResult::Lost,
                delivered: None,
            }
        } else {
            replay
                .deliver(s.direction, s.origin, forged.as_deref(), from, s.time_ms)
                .map_err(step)?
        };
        if hex::encode(&d.bytes) != s.hex {
            return Err(step(format!(
                "the reference {:?} sent other octets:\n  expected {}\n  got      {}",
                s.origin,
                s.hex,
                hex::encode(&d.bytes)
            )));
        }
        if message_name(&d.bytes) != s.message {
            return Err(step(format!(
                "message is {}, not {}",
                message_name(&d.bytes),
                s.message
            )));
        }
        if d.result != s.result {
            return Err(step(format!(
                "expected {:?}, the receiver's result is {:?}",
                s.result, d.result
            )));
        }
        let want = s
            .delivered
            .as_ref()
            .zip(s.early_data)
            .map(|(h, e)| (h.clone(), e));
        let got = d.delivered.map(|(p, e)| (hex::encode(p), e));
        if want != got {
            return Err(step(format!("delivered {got:?}, expected {want:?}")));
        }
    }
    for d in [Direction::I2r, Direction::R2i] {
        if let Some(b) = replay.pending(d) {
            return Err(format!(
                "the reference sent a {} that the transcript does not deliver",
                message_name(b)
            ));
        }
    }
    let got = replay.outcome();
    if got != v.outcome {
        return Err(format!(
            "outcome differs:\n  expected {}\n  got      {}",
            serde_json::to_string(&v.outcome).unwrap_or_default(),
            serde_json::to_string(&got).unwrap_or_default()
        ));
    }
    Ok(())
}
