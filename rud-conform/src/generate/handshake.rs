//! The `handshake` vector set (docs/SPEC.md sections 4 and 7): byte-exact transcripts of each
//! key exchange between a reference initiator and responder built from fixed keys and seeds,
//! successful and failing (tampered, replayed, bound to another key, expired). Each scenario
//! states what it expects every receiver to do, and generation fails if the reference does
//! something else.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rud::crypto::keylog::{KeyLog, MemoryKeyLog};
use rud::crypto::x448::X448Secret;
use rud::crypto::{CryptoProvider, default_provider};
use rud::handshake::{Entropy, SeededEntropy};
use rud::wire::{Datagram, parse};

use super::GenerateError;
use crate::check::handshake::{Replay, message_name};
use crate::vectors::{
    Direction, HandshakeMode, HandshakeSetup, HandshakeVector, Origin, Step, StepResult,
    VectorFile, Vectors,
};

/// Unix seconds at which every transcript starts (2027-01-15T08:00:00Z, the start of a 30 s
/// cookie epoch).
pub(crate) const T0: u64 = 1_800_000_000;
pub(crate) const INITIATOR: &str = "192.0.2.1:40000";
pub(crate) const RESPONDER: &str = "198.51.100.7:21077";

fn fail(id: &str, message: impl Into<String>) -> GenerateError {
    GenerateError {
        id: id.to_owned(),
        message: message.into(),
    }
}

/// A private key from a seed (the first 56 octets of its SeededEntropy).
pub(crate) fn key(seed: &str) -> X448Secret {
    let mut r = SeededEntropy::new(seed.as_bytes());
    X448Secret::generate(|b| r.fill(b))
}

pub(crate) fn initiator_key() -> X448Secret {
    key("rud vectors: initiator device key")
}

pub(crate) fn responder_key() -> X448Secret {
    key("rud vectors: responder device key")
}

fn impostor_key() -> X448Secret {
    key("rud vectors: impostor device key")
}

/// Every draw an entropy source made, in order.
type Draws = Arc<Mutex<Vec<Vec<u8>>>>;

/// Entropy that keeps a copy of every draw, so the generator can name the ephemeral keys.
struct Recording {
    inner: SeededEntropy,
    draws: Draws,
}

impl Entropy for Recording {
    fn fill(&mut self, out: &mut [u8]) {
        self.inner.fill(out);
        if let Ok(mut d) = self.draws.lock() {
            d.push(out.to_vec());
        }
    }
}

/// The setup every scenario starts from; each changes what it needs.
pub(crate) fn setup(mode: HandshakeMode, name: &str) -> HandshakeSetup {
    let p = default_provider();
    HandshakeSetup {
        time: T0,
        initiator_address: INITIATOR.into(),
        responder_address: RESPONDER.into(),
        initiator_static_private: hex::encode(initiator_key().expose()),
        responder_static_private: vec![hex::encode(responder_key().expose())],
        pinned_responder_public: match mode {
            HandshakeMode::FirstContact => None,
            _ => Some(hex::encode(responder_key().public_key(&*p).as_bytes())),
        },
        initiator_seed: hex::encode(format!("{name}: initiator")),
        responder_seed: hex::encode(format!("{name}: responder")),
        responder_started: T0 - 60,
        defer: mode == HandshakeMode::Deferred,
        cookie_epoch: 30,
        early_window: 10,
        hello_payload: hex::encode("echo discard sink"),
        query: match mode {
            HandshakeMode::FirstContact => Some(hex::encode("services?")),
            _ => None,
        },
        request: hex::encode("GET /status"),
        service: "echo".into(),
    }
}

/// Drives a [`Replay`] and writes down every step.
pub(crate) struct Recorder {
    pub(crate) id: String,
    pub(crate) mode: HandshakeMode,
    pub(crate) setup: HandshakeSetup,
    pub(crate) replay: Replay,
    pub(crate) steps: Vec<Step>,
    now_ms: u64,
    pub(crate) initiator_draws: Draws,
    pub(crate) responder_draws: Draws,
    pub(crate) initiator_log: Arc<MemoryKeyLog>,
    pub(crate) responder_log: Arc<MemoryKeyLog>,
}

impl Recorder {
    pub(crate) fn new(
        id: &str,
        mode: HandshakeMode,
        setup: HandshakeSetup,
    ) -> Result<Self, GenerateError> {
        let draws = |seed: &str| -> Result<(Recording, Draws), GenerateError> {
            let d = Arc::new(Mutex::new(Vec::new()));
            let seed = hex::decode(seed).map_err(|e| fail(id, e.to_string()))?;
            Ok((
                Recording {
                    inner: SeededEntropy::new(&seed),
                    draws: d.clone(),
                },
                d,
            ))
        };
        let (irng, initiator_draws) = draws(&setup.initiator_seed)?;
        let (rrng, responder_draws) = draws(&setup.responder_seed)?;
        let initiator_log = Arc::new(MemoryKeyLog::new());
        let responder_log = Arc::new(MemoryKeyLog::new());
        let logs: (Arc<dyn KeyLog>, Arc<dyn KeyLog>) =
            (initiator_log.clone(), responder_log.clone());
        let p: Arc<dyn CryptoProvider> = default_provider();
        let replay = Replay::new(mode, &setup, p, Box::new(irng), Box::new(rrng), Some(logs))
            .map_err(|e| fail(id, e))?;
        Ok(Recorder {
            id: id.to_owned(),
            mode,
            setup,
            replay,
            steps: Vec::new(),
            now_ms: 0,
            initiator_draws,
            responder_draws,
            initiator_log,
            responder_log,
        })
    }

    fn natural_from(&self, d: Direction) -> SocketAddr {
        match d {
            Direction::I2r => self.replay.initiator_addr(),
            Direction::R2i => self.replay.responder_addr(),
        }
    }

    fn deliver(
        &mut self,
        direction: Direction,
        origin: Origin,
        forged: Option<Vec<u8>>,
        from: SocketAddr,
        note: Option<String>,
        want: StepResult,
    ) -> Result<(), GenerateError> {
        let d = self
            .replay
            .deliver(direction, origin, forged.as_deref(), from, self.now_ms)
            .map_err(|e| fail(&self.id, e))?;
        if d.result != want {
            return Err(fail(
                &self.id,
                format!(
                    "step {}: expected {want:?}, the reference did {:?}",
                    self.steps.len() + 1,
                    d.result
                ),
            ));
        }
        self.steps.push(Step {
            direction,
            origin,
            time_ms: self.now_ms,
            from: from.to_string(),
            message: message_name(&d.bytes).into(),
            hex: hex::encode(&d.bytes),
            result: d.result,
            note,
            delivered: d.delivered.as_ref().map(|(p, _)| hex::encode(p)),
            early_data: d.delivered.map(|(_, e)| e),
        });
        Ok(())
    }

    /// Delivers the reference's next datagram toward `d` from its sender's address.
    pub(crate) fn next(&mut self, d: Direction, want: StepResult) -> Result<(), GenerateError> {
        let origin = match d {
            Direction::I2r => Origin::Initiator,
            Direction::R2i => Origin::Responder,
        };
        let from = self.natural_from(d);
        self.deliver(d, origin, None, from, None, want)
    }

    /// Delivers a changed copy of the next datagram toward `d`; the original stays queued and
    /// can still arrive.
    pub(crate) fn inject(
        &mut self,
        d: Direction,
        note: &str,
        f: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
        want: StepResult,
    ) -> Result<(), GenerateError> {
        let original = self
            .replay
            .pending(d)
            .ok_or_else(|| fail(&self.id, "nothing to tamper with"))?
            .to_vec();
        let forged = f(&original).map_err(|e| fail(&self.id, e))?;
        let from = self.natural_from(d);
        self.deliver(
            d,
            Origin::Attacker,
            Some(forged),
            from,
            Some(note.into()),
            want,
        )
    }

    /// Changes the next datagram toward `d` on the way: the original is taken off the path (a
    /// `lost` step) and the changed copy delivered in its place.
    pub(crate) fn intercept(
        &mut self,
        d: Direction,
        note: &str,
        f: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
        want: StepResult,
    ) -> Result<(), GenerateError> {
        let original = self.replay.lose(d).map_err(|e| fail(&self.id, e))?;
        let origin = match d {
            Direction::I2r => Origin::Initiator,
            Direction::R2i => Origin::Responder,
        };
        self.steps.push(Step {
            direction: d,
            origin,
            time_ms: self.now_ms,
            from: self.natural_from(d).to_string(),
            message: message_name(&original).into(),
            hex: hex::encode(&original),
            result: StepResult::Lost,
            note: None,
            delivered: None,
            early_data: None,
        });
        let forged = f(&original).map_err(|e| fail(&self.id, e))?;
        let from = self.natural_from(d);
        self.deliver(
            d,
            Origin::Attacker,
            Some(forged),
            from,
            Some(note.into()),
            want,
        )
    }

    /// Delivers the octets of step `k` (1-based) again, as the attacker.
    pub(crate) fn again(
        &mut self,
        k: usize,
        note: &str,
        want: StepResult,
    ) -> Result<(), GenerateError> {
        let s = self
            .steps
            .get(k.wrapping_sub(1))
            .ok_or_else(|| fail(&self.id, format!("no step {k}")))?
            .clone();
        let bytes = hex::decode(&s.hex).map_err(|e| fail(&self.id, e.to_string()))?;
        let from: SocketAddr = s.from.parse().map_err(|_| fail(&self.id, "from"))?;
        self.deliver(
            s.direction,
            Origin::Attacker,
            Some(bytes),
            from,
            Some(note.into()),
            want,
        )
    }

    pub(crate) fn wait_ms(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    pub(crate) fn finish(
        &self,
        anchor: &str,
        comment: &str,
    ) -> Result<HandshakeVector, GenerateError> {
        for d in [Direction::I2r, Direction::R2i] {
            if let Some(b) = self.replay.pending(d) {
                return Err(fail(
                    &self.id,
                    format!("the transcript leaves a {} undelivered", message_name(b)),
                ));
            }
        }
        Ok(HandshakeVector {
            id: self.id.clone(),
            anchor: anchor.into(),
            comment: comment.into(),
            mode: self.mode,
            setup: self.setup.clone(),
            steps: self.steps.clone(),
            outcome: self.replay.outcome(),
        })
    }
}

/// Collects the vectors of one handshake file.
struct HsFile {
    section: &'static str,
    title: &'static str,
    vectors: Vec<HandshakeVector>,
}

impl HsFile {
    fn new(section: &'static str, title: &'static str) -> Self {
        HsFile {
            section,
            title,
            vectors: Vec::new(),
        }
    }

    fn next_id(&self) -> String {
        format!("rud/handshake/{}/{}", self.section, self.vectors.len() + 1)
    }

    /// Runs one scenario under the next id and keeps its vector.
    fn add(
        &mut self,
        mode: HandshakeMode,
        anchor: &str,
        comment: &str,
        adjust: impl FnOnce(&mut HandshakeSetup),
        script: impl FnOnce(&mut Recorder) -> Result<(), GenerateError>,
    ) -> Result<(), GenerateError> {
        let id = self.next_id();
        let mut s = setup(mode, &id);
        adjust(&mut s);
        let mut r = Recorder::new(&id, mode, s)?;
        script(&mut r)?;
        self.vectors.push(r.finish(anchor, comment)?);
        Ok(())
    }

    fn finish(self) -> VectorFile {
        VectorFile::new(self.section, self.title, Vectors::Handshake(self.vectors))
    }
}

use Direction::{I2r, R2i};
use StepResult::*;

/// The successful transcript of `mode`, as the `modes` file and the key schedule vectors use
/// it.
pub(crate) fn success(mode: HandshakeMode, id: &str) -> Result<Recorder, GenerateError> {
    let mut r = Recorder::new(id, mode, setup(mode, id))?;
    match mode {
        HandshakeMode::FirstContact | HandshakeMode::Deferred => {
            r.next(I2r, Reply)?;
            r.wait_ms(30);
            r.next(R2i, Established)?;
            r.wait_ms(30);
            r.next(I2r, Established)?;
        }
        HandshakeMode::Immediate => {
            r.next(I2r, Established)?;
            r.wait_ms(30);
            r.next(R2i, Established)?;
        }
    }
    Ok(r)
}

/// Ids of the three successful transcripts (`handshake/modes.yaml`).
pub(crate) const SUCCESS: [(HandshakeMode, &str); 3] = [
    (HandshakeMode::FirstContact, "rud/handshake/4/1"),
    (HandshakeMode::Immediate, "rud/handshake/4/2"),
    (HandshakeMode::Deferred, "rud/handshake/4/3"),
];

fn modes() -> Result<VectorFile, GenerateError> {
    let mut f = HsFile::new("4", "Key exchanges: one successful transcript per mode");
    let notes = [
        (
            "responder-challenge",
            "First Contact: InitiatorHello (plaintext query), ResponderChallenge (credential, \
             ephemeral, cookie, plaintext answer), InitiatorComplete (credential and first \
             request under es+ee, then es+ee+se)",
        ),
        (
            "responder-complete",
            "Immediate: InitiatorExchange with the request as early data (es+ss), accepted; \
             ResponderComplete (ee+se) says so",
        ),
        (
            "responder-defer",
            "Deferred: InitiatorExchange answered with a stateless ResponderDefer; the \
             InitiatorComplete returns its cookie",
        ),
    ];
    for ((mode, id), (anchor, comment)) in SUCCESS.into_iter().zip(notes) {
        if f.next_id() != id {
            return Err(fail(id, "success ids out of order"));
        }
        let r = success(mode, id)?;
        f.vectors.push(r.finish(anchor, comment)?);
    }
    Ok(f.finish())
}

fn flip_at(bytes: &[u8], offset: usize) -> Result<Vec<u8>, String> {
    let mut v = bytes.to_vec();
    let b = v.get_mut(offset).ok_or("offset beyond the datagram")?;
    *b ^= 0x01;
    Ok(v)
}

/// Offset of a field (a slice of `bytes` the decoder returned) in the datagram.
fn field_offset(
    bytes: &[u8],
    pick: impl Fn(&Datagram<'_>) -> Option<usize>,
) -> Result<usize, String> {
    let d = Datagram::decode(bytes).map_err(|e| e.to_string())?;
    pick(&d).ok_or_else(|| "no such field".into())
}

fn cookie_offset(bytes: &[u8]) -> Result<usize, String> {
    field_offset(bytes, |d| match d {
        Datagram::InitiatorComplete(c) => Some(parse::offset_in(bytes, c.cookie)),
        _ => None,
    })
}

fn mezzanine_offset(bytes: &[u8]) -> Result<usize, String> {
    field_offset(bytes, |d| match d {
        Datagram::InitiatorComplete(c) => Some(parse::offset_in(bytes, c.mezzanine.0)),
        Datagram::InitiatorExchange(x) => Some(parse::offset_in(bytes, x.mezzanine.0)),
        Datagram::ResponderComplete(x) => Some(parse::offset_in(bytes, x.mezzanine.0)),
        _ => None,
    })
}

fn transcript() -> Result<VectorFile, GenerateError> {
    let mut f = HsFile::new(
        "7.2",
        "Transcript binding: a changed message fails the handshake",
    );
    f.add(
        HandshakeMode::FirstContact,
        "transcript-binding",
        "First Contact: the query of the InitiatorHello is changed on the way; the responder \
         answers the changed Hello, the initiator answers the Challenge, and the Complete fails \
         because the two offer transcripts differ (the responder's Error arrives after the \
         initiator has finished and is ignored)",
        |_| {},
        |r| {
            r.intercept(
                I2r,
                "octet 30 (in the query) of the Hello flipped",
                |b| flip_at(b, 30),
                Reply,
            )?;
            r.next(R2i, Established)?;
            r.next(I2r, Refused)?;
            r.next(R2i, Ignored)
        },
    )?;
    f.add(
        HandshakeMode::Deferred,
        "transcript-binding",
        "Deferred: one octet of the Exchange's mezzanine is changed; a deferring responder does \
         not open it and answers with a Defer, but the offer transcript binds the Exchange as \
         received, so the Complete fails",
        |_| {},
        |r| {
            r.intercept(
                I2r,
                "first octet of the Exchange's mezzanine flipped",
                |b| flip_at(b, mezzanine_offset(b)?),
                Reply,
            )?;
            r.next(R2i, Established)?;
            r.next(I2r, Refused)?;
            r.next(R2i, Ignored)
        },
    )?;
    f.add(
        HandshakeMode::Immediate,
        "transcript-binding",
        "Immediate: a changed ResponderComplete fails to open and is ignored; the genuine one \
         that follows completes the handshake",
        |_| {},
        |r| {
            r.next(I2r, Established)?;
            r.inject(
                R2i,
                "last octet (in the tag) of the ResponderComplete flipped",
                |b| flip_at(b, b.len().saturating_sub(1)),
                Ignored,
            )?;
            r.next(R2i, Established)
        },
    )?;
    Ok(f.finish())
}

fn cookie() -> Result<VectorFile, GenerateError> {
    let mut f = HsFile::new("7.4", "The challenge cookie: bad, expired and replayed");
    f.add(
        HandshakeMode::Deferred,
        "cookie-before-x448",
        "Deferred: a Complete whose cookie MAC is garbled is refused (before any X448 \
         operation) with HandshakeFailed; the genuine Complete is then accepted",
        |_| {},
        |r| {
            r.next(I2r, Reply)?;
            r.next(R2i, Established)?;
            r.inject(
                I2r,
                "octet 10 of the cookie (in its MAC) flipped",
                |b| flip_at(b, cookie_offset(b)? + 10),
                Refused,
            )?;
            r.next(R2i, Ignored)?;
            r.next(I2r, Established)
        },
    )?;
    f.add(
        HandshakeMode::FirstContact,
        "cookie-before-x448",
        "First Contact: the Complete arrives 60 s after the Challenge, when its cookie (issued \
         at the start of an epoch, valid through the next) has expired: refused",
        |_| {},
        |r| {
            r.next(I2r, Reply)?;
            r.next(R2i, Established)?;
            r.wait_ms(60_000);
            r.next(I2r, Refused)?;
            r.next(R2i, Ignored)
        },
    )?;
    f.add(
        HandshakeMode::Deferred,
        "complete-replay",
        "Deferred: the accepted Complete replayed is dropped as a duplicate (no second session, \
         no redelivery)",
        |_| {},
        |r| {
            r.next(I2r, Reply)?;
            r.next(R2i, Established)?;
            r.next(I2r, Established)?;
            r.wait_ms(5_000);
            r.again(3, "step 3 replayed", Duplicate)
        },
    )?;
    f.add(
        HandshakeMode::Deferred,
        "cookie-before-x448",
        "Deferred: the Exchange replayed after the handshake gets a fresh Defer (the responder \
         keeps no state for it), which the finished initiator ignores",
        |_| {},
        |r| {
            r.next(I2r, Reply)?;
            r.next(R2i, Established)?;
            r.next(I2r, Established)?;
            r.again(1, "step 1 replayed", Reply)?;
            r.next(R2i, Ignored)
        },
    )?;
    Ok(f.finish())
}

fn early_data() -> Result<VectorFile, GenerateError> {
    let mut f = HsFile::new("7.5", "Early data: delivered at most once");
    f.add(
        HandshakeMode::Immediate,
        "exchange-replay",
        "Immediate: the Exchange replayed is dropped as a duplicate: no second handshake (its \
         ResponderComplete would be sealed again under the same key and zero nonce) and its \
         early data is not delivered again",
        |_| {},
        |r| {
            r.next(I2r, Established)?;
            r.next(R2i, Established)?;
            r.wait_ms(2_000);
            r.again(1, "step 1 replayed", Duplicate)
        },
    )?;
    f.add(
        HandshakeMode::Immediate,
        "early-data-once",
        "Immediate: a responder whose strike register started less than two windows ago fails \
         closed: early data rejected, the handshake completes, both sides say early_data false",
        |s| s.responder_started = T0 - 5,
        |r| {
            r.next(I2r, Established)?;
            r.next(R2i, Established)
        },
    )?;
    f.add(
        HandshakeMode::Immediate,
        "early-data-once",
        "Immediate: the Exchange arrives 11 s after its timestamp, outside the 10 s window: \
         early data rejected, the handshake completes",
        |_| {},
        |r| {
            r.wait_ms(11_000);
            r.next(I2r, Established)?;
            r.next(R2i, Established)
        },
    )?;
    Ok(f.finish())
}

fn failures() -> Result<VectorFile, GenerateError> {
    let p = default_provider();
    let genuine_public = hex::encode(responder_key().public_key(&*p).as_bytes());
    let mut f = HsFile::new(
        "7.7",
        "Failures: wrong keys, tampered mezzanines, unknown key ids",
    );
    let pinned = genuine_public.clone();
    f.add(
        HandshakeMode::FirstContact,
        "pinned-responder-key",
        "First Contact with a pinned responder key: the Challenge presents another credential, \
         and the initiator aborts (no fallback, no Complete)",
        move |s| {
            s.pinned_responder_public = Some(pinned);
            s.responder_static_private = vec![hex::encode(impostor_key().expose())];
        },
        |r| {
            r.next(I2r, Reply)?;
            r.next(R2i, Aborted)
        },
    )?;
    f.add(
        HandshakeMode::Deferred,
        "pinned-responder-key",
        "Deferred: the responder accepts the pinned key's id but its Defer presents another \
         credential; the initiator aborts",
        |s| {
            s.responder_static_private
                .insert(0, hex::encode(impostor_key().expose()));
        },
        |r| {
            r.next(I2r, Reply)?;
            r.next(R2i, Aborted)
        },
    )?;
    f.add(
        HandshakeMode::FirstContact,
        "handshake-failure-opaque",
        "First Contact: one octet of the Complete's mezzanine ciphertext changed: refused with \
         HandshakeFailed; the genuine Complete is then accepted",
        |_| {},
        |r| {
            r.next(I2r, Reply)?;
            r.next(R2i, Established)?;
            r.inject(
                I2r,
                "octet 100 of the Complete's mezzanine flipped",
                |b| flip_at(b, mezzanine_offset(b)? + 100),
                Refused,
            )?;
            r.next(R2i, Ignored)?;
            r.next(I2r, Established)
        },
    )?;
    f.add(
        HandshakeMode::Immediate,
        "handshake-failure-opaque",
        "Immediate: one octet of the Exchange's mezzanine changed: refused with HandshakeFailed, \
         which the initiator keeps as a hint; the genuine Exchange then completes",
        |_| {},
        |r| {
            r.inject(
                I2r,
                "octet 100 of the Exchange's mezzanine flipped",
                |b| flip_at(b, mezzanine_offset(b)? + 100),
                Refused,
            )?;
            r.next(R2i, Hint)?;
            r.next(I2r, Established)?;
            r.next(R2i, Established)
        },
    )?;
    f.add(
        HandshakeMode::Immediate,
        "handshake-failure-opaque",
        "Immediate: an Exchange naming an unknown responder key id is refused with the same \
         HandshakeFailed octets as a bad tag",
        |_| {},
        |r| {
            r.inject(
                I2r,
                "first octet of the responder key id flipped",
                |b| {
                    field_offset(b, |d| match d {
                        Datagram::InitiatorExchange(x) => {
                            Some(parse::offset_in(b, x.responder_key_id))
                        }
                        _ => None,
                    })
                    .and_then(|o| flip_at(b, o))
                },
                Refused,
            )?;
            r.next(R2i, Hint)?;
            r.next(I2r, Established)?;
            r.next(R2i, Established)
        },
    )?;
    Ok(f.finish())
}

/// Every handshake vector file.
pub fn handshake_files() -> Result<Vec<(String, VectorFile)>, GenerateError> {
    Ok(vec![
        ("handshake/modes.yaml".into(), modes()?),
        ("handshake/transcript.yaml".into(), transcript()?),
        ("handshake/cookie.yaml".into(), cookie()?),
        ("handshake/early-data.yaml".into(), early_data()?),
        ("handshake/failures.yaml".into(), failures()?),
    ])
}
