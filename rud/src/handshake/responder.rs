//! The responder's side of the three key exchanges (docs/SPEC.md sections 4 and 7).
//!
//! One `Responder` serves every initiator. It answers an InitiatorHello with a
//! ResponderChallenge and an InitiatorExchange with a ResponderComplete (Immediate) or, when the
//! defer policy says so, a ResponderDefer. Challenges are stateless: a cookie binds them, and the
//! responder's ephemeral keys are per cookie epoch, not per initiator. The only per-initiator
//! state it keeps is bounded: the strike register of accepted early data and the initiator
//! ephemerals of accepted Completes (both expire).
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::initiator::header_only;
use super::schedule::{
    self, LABEL_EARLY_I2R, LABEL_HS_I2R, LABEL_HS_R2I, LABEL_MZ_I2R, LABEL_MZ_R2I, Mode,
    TrafficSecrets, Transcript,
};
use super::strike::{EarlyVerdict, StrikeRegister};
use super::{Entropy, FirstStream, HandshakeError, Role, Session, Transmit, first_stream_of};
use crate::crypto::CryptoProvider;
use crate::crypto::cookie::{CookieAddress, CookieError, CookieInput, CookieJar};
use crate::crypto::hkdf::ChainingKey;
use crate::crypto::keyfile::KeyId;
use crate::crypto::keylog::{KeyLog, labels};
use crate::crypto::x448::{X448PublicKey, X448Secret};
use crate::wire::{
    Challenge, CompleteMezzanine, Datagram, DecodeError, ErrorCode, ErrorMessage,
    ExchangeMezzanine, ExtensionList, ExtensionValue, InitiatorComplete, InitiatorExchange,
    InnerSection, MessageType, PROFILE_VERSION, PublicKey, ResponderComplete,
    ResponderCompleteMezzanine, Sealed, StreamId, parse, validate,
};

/// When to answer an Exchange with a challenge instead of completing it at once.
#[derive(Clone, Default)]
pub enum DeferPolicy {
    #[default]
    Never,
    Always,
    /// Called for every Exchange with the current load; true means defer.
    Hook(Arc<dyn Fn(&ResponderLoad) -> bool + Send + Sync>),
}

impl std::fmt::Debug for DeferPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeferPolicy::Never => "Never",
            DeferPolicy::Always => "Always",
            DeferPolicy::Hook(_) => "Hook(..)",
        })
    }
}

/// What the defer policy sees.
#[derive(Debug, Clone, Copy)]
pub struct ResponderLoad {
    /// Key exchanges completed in the current cookie epoch.
    pub established_this_epoch: u64,
}

#[derive(Debug, Clone)]
pub struct ResponderConfig {
    pub provider: Arc<dyn CryptoProvider>,
    pub keylog: Arc<dyn KeyLog>,
    /// Device keys; the first is presented in Challenges, all are accepted by key id (rotation).
    pub keys: Vec<X448Secret>,
    /// The plaintext answer to an InitiatorHello (for example the list of services).
    pub hello_payload: Vec<u8>,
    pub defer: DeferPolicy,
    /// How far an Exchange's timestamp may be from the responder's clock for early data.
    pub early_window: Duration,
    pub strike_capacity: usize,
    /// A strike register shared by every host that holds this responder's static key. Early
    /// data replayed to another host of the service is refused only if the hosts share one;
    /// hosts that cannot share one must set `accept_early_data` to false.
    pub shared_strike_register: Option<Arc<Mutex<StrikeRegister>>>,
    /// Whether early data is ever delivered (otherwise every Exchange completes in 1 RTT with
    /// its early data refused).
    pub accept_early_data: bool,
    /// Cookie and ephemeral-key epoch; a cookie is valid for one to two epochs.
    pub cookie_epoch: Duration,
    /// Accepted Complete ephemerals remembered (replay protection).
    pub replay_capacity: usize,
    /// The service's ticket keys (shared by its hosts), if this host issues or accepts tickets.
    pub ticket_keys: Option<super::ticket::TicketKeys>,
    /// This host's identifier: tickets are accepted only when they name it.
    pub host_id: Vec<u8>,
}

impl ResponderConfig {
    pub fn new(provider: Arc<dyn CryptoProvider>, key: X448Secret) -> Self {
        ResponderConfig {
            provider,
            keylog: Arc::new(crate::crypto::keylog::NoKeyLog),
            keys: vec![key],
            hello_payload: b"echo discard sink".to_vec(),
            defer: DeferPolicy::Never,
            early_window: Duration::from_secs(10),
            strike_capacity: 100_000,
            shared_strike_register: None,
            accept_early_data: true,
            cookie_epoch: Duration::from_secs(30),
            replay_capacity: 100_000,
            ticket_keys: None,
            host_id: Vec::new(),
        }
    }
}

/// Why a datagram got no processing.
#[derive(Debug)]
#[non_exhaustive]
pub enum DropReason {
    Malformed(DecodeError),
    /// Well-formed but breaks the rule named (docs/SPEC.md anchor).
    Invalid(&'static str),
    /// Not a message a responder handles (a responder message, data, an Error: never answered).
    NotForResponder(MessageType),
    /// A Complete whose ephemeral was already accepted: no redelivery.
    Duplicate,
}

/// The result of one datagram.
#[derive(Debug)]
pub enum ResponderOutcome {
    /// A stateless reply (Challenge, Defer, VersionMismatch).
    Reply(Transmit),
    /// A key exchange completed; `reply` is the ResponderComplete in Immediate.
    Established {
        session: Box<Session>,
        reply: Option<Transmit>,
    },
    /// The handshake failed; `reply` is a HandshakeFailed Error, identical whatever failed.
    Refused {
        reason: HandshakeError,
        reply: Option<Transmit>,
    },
    Dropped(DropReason),
}

/// The inputs `Responder::accept` shares between Immediate and ticketed Exchanges.
struct Accept<'m, 'a> {
    now: Duration,
    from: SocketAddr,
    mode: Mode,
    reply_sid: StreamId<'a>,
    e_i: X448PublicKey,
    s_i: X448PublicKey,
    responder: X448PublicKey,
    mz: &'m ExchangeMezzanine<'a>,
    /// The transcript after TH1.
    th: Transcript,
    ck2: ChainingKey,
    k_mz: crate::crypto::SecretBytes<32>,
    /// Whether se is mixed (Immediate) or not (tickets: the host has no share in S_r).
    static_dh: bool,
    ticket: Option<[u8; 16]>,
}

struct Key {
    secret: X448Secret,
    public: X448PublicKey,
    id: KeyId,
}

pub struct Responder {
    cfg: ResponderConfig,
    keys: Vec<Key>,
    cookies: CookieJar,
    /// One ephemeral key per cookie epoch (current and previous only).
    ephemerals: HashMap<u64, (X448Secret, X448PublicKey)>,
    strike: Arc<Mutex<StrikeRegister>>,
    /// Initiator ephemerals of accepted Completes, with their expiry.
    accepted: HashMap<[u8; 56], Duration>,
    redeemed: super::ticket::RedeemedTickets,
    established: (u64, u64),
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("keys", &self.keys.len())
            .field("per_initiator_state", &self.per_initiator_state())
            .finish()
    }
}

const SHORT_ID: usize = 8;

/// How far an InitiatorExchange's timestamp may be from the responder's clock; completed
/// Exchanges are remembered for twice this.
pub const EXCHANGE_WINDOW: Duration = Duration::from_secs(120);

impl Responder {
    /// # Errors
    /// A zero cookie epoch, or no key.
    pub fn new(cfg: ResponderConfig, now: Duration) -> Result<Self, HandshakeError> {
        if cfg.keys.is_empty() {
            return Err(HandshakeError::UnknownKeyId);
        }
        let p = cfg.provider.clone();
        let keys = cfg
            .keys
            .iter()
            .map(|s| {
                let public = s.public_key(&*p);
                Key {
                    secret: s.clone(),
                    id: KeyId::of(&*p, &public),
                    public,
                }
            })
            .collect();
        Ok(Responder {
            cookies: CookieJar::new(p, cfg.cookie_epoch)?,
            strike: cfg.shared_strike_register.clone().unwrap_or_else(|| {
                Arc::new(Mutex::new(StrikeRegister::new(
                    now,
                    cfg.early_window,
                    cfg.strike_capacity,
                )))
            }),
            keys,
            ephemerals: HashMap::new(),
            accepted: HashMap::new(),
            redeemed: super::ticket::RedeemedTickets::new(cfg.replay_capacity),
            established: (0, 0),
            cfg,
        })
    }

    /// Entries the responder holds for particular initiators (strike register and accepted
    /// Completes). Challenges and Defers never add to it.
    pub fn per_initiator_state(&self) -> usize {
        let strike = self.strike.lock().map_or(0, |s| s.len());
        strike + self.accepted.len() + self.redeemed.len()
    }

    /// Seals a ticket for the initiator of `session`, valid on host `host_id` until
    /// `now + lifetime` (docs/SPEC.md section 7.10).
    pub fn issue_ticket(
        &self,
        session: &Session,
        now: Duration,
        lifetime: Duration,
        host_id: &[u8],
        rng: &mut dyn Entropy,
    ) -> Result<Vec<u8>, HandshakeError> {
        let keys = self
            .cfg
            .ticket_keys
            .as_ref()
            .ok_or(HandshakeError::UnknownKeyId)?;
        super::ticket::seal(
            &*self.cfg.provider,
            keys,
            rng,
            &session.secrets.resumption,
            &session.initiator_credential,
            &session.responder_credential,
            host_id,
            (now + lifetime).as_secs(),
        )
    }

    /// The ticket keys this responder issues tickets with, and its own host id.
    pub fn ticket_issuer(&self) -> Option<(&super::ticket::TicketKeys, &[u8])> {
        let keys = self.cfg.ticket_keys.as_ref()?;
        Some((keys, self.cfg.host_id.as_slice()))
    }

    /// The presented credential (the first key).
    pub fn public_key(&self) -> Option<&X448PublicKey> {
        self.keys.first().map(|k| &k.public)
    }

    pub fn handle_datagram(
        &mut self,
        now: Duration,
        from: SocketAddr,
        bytes: &[u8],
        rng: &mut dyn Entropy,
    ) -> ResponderOutcome {
        let d = match Datagram::decode(bytes) {
            Ok(d) => d,
            Err(e) => return ResponderOutcome::Dropped(DropReason::Malformed(e)),
        };
        let t = d.msg_type();
        if !matches!(
            t,
            MessageType::INITIATOR_HELLO
                | MessageType::INITIATOR_EXCHANGE
                | MessageType::INITIATOR_COMPLETE
        ) {
            //= docs/SPEC.md#error-message
            //# A receiver MUST NOT answer an Error with an Error.
            return ResponderOutcome::Dropped(DropReason::NotForResponder(t));
        }
        let violations = validate::datagram(&d, bytes);
        if let Some(v) = violations.iter().find(|v| v.rule != "version") {
            return ResponderOutcome::Dropped(DropReason::Invalid(v.rule));
        }
        // Replies go to the identifier the initiator issued (the Complete names only the
        // responder's, so an Error to a Complete goes there).
        //= docs/SPEC.md#connection-stream-id
        //# Replies carry the identifier the initiator issued in them.
        let reply_sid = reply_stream_id(&d);
        if !violations.is_empty() {
            // Version mismatch: say which versions we speak (small, well under 3x).
            return match version_mismatch(from, reply_sid) {
                Ok(t) => ResponderOutcome::Reply(t),
                Err(_) => ResponderOutcome::Dropped(DropReason::Invalid("version")),
            };
        }
        self.expire(now);
        let result = match &d {
            Datagram::InitiatorHello(h) => {
                self.challenge(now, from, h.initiator_stream_id, None, bytes, rng)
            }
            Datagram::InitiatorExchange(x) => self.exchange(now, from, x, bytes, rng),
            Datagram::InitiatorComplete(c) => self.complete(now, from, c, bytes),
            _ => return ResponderOutcome::Dropped(DropReason::NotForResponder(t)),
        };
        match result {
            Ok(outcome) => outcome,
            Err(reason) => {
                //= docs/SPEC.md#handshake-failure-opaque
                //# A responder MUST answer every failed Exchange or Complete with the same
                //# ResponderError HandshakeFailed, or with nothing.
                let reply = error_reply(from, reply_sid, ErrorCode::HANDSHAKE_FAILED).ok();
                ResponderOutcome::Refused { reason, reply }
            }
        }
    }

    fn expire(&mut self, now: Duration) {
        let current = self.cookies.epoch_at(now);
        self.ephemerals.retain(|e, _| *e + 1 >= current);
        if self.established.0 != current {
            self.established = (current, 0);
        }
        if self.accepted.len() >= self.cfg.replay_capacity {
            self.accepted.retain(|_, exp| *exp > now);
        }
    }

    fn ephemeral(&mut self, epoch: u64, rng: &mut dyn Entropy) -> X448PublicKey {
        let p = self.cfg.provider.clone();
        self.ephemerals
            .entry(epoch)
            .or_insert_with(|| {
                let s = X448Secret::generate(|b| rng.fill(b));
                let public = s.public_key(&*p);
                (s, public)
            })
            .1
    }

    /// The cookie's transcript input: what the responder offered, which it can recompute when
    /// the Complete comes back (its key, the epoch's ephemeral, the identifier it issued), and
    /// the offer transcript the cookie carries.
    fn offer_hash(
        &self,
        mode: Mode,
        sid: &[u8],
        key: &Key,
        e_r: &X448PublicKey,
        offer: &[u8],
    ) -> [u8; 64] {
        self.cfg.provider.sha512_digest(&[
            b"rud1 offer",
            &[mode as u8],
            &[sid.len() as u8],
            sid,
            key.public.as_bytes(),
            e_r.as_bytes(),
            offer,
        ])
    }

    /// A ResponderChallenge (First Contact) or ResponderDefer (Deferred): no X448, no state.
    /// `request` is the Hello or Exchange it answers, bound through the cookie's offer
    /// transcript so the Complete fails if either message was altered.
    #[allow(clippy::too_many_arguments)]
    fn challenge(
        &mut self,
        now: Duration,
        from: SocketAddr,
        reply_sid: StreamId<'_>,
        deferred_ephemeral: Option<&[u8; 56]>,
        request: &[u8],
        rng: &mut dyn Entropy,
    ) -> Result<ResponderOutcome, HandshakeError> {
        let epoch = self.cookies.epoch_at(now);
        let e_r = self.ephemeral(epoch, rng);
        let Some(key) = self.keys.first() else {
            return Err(HandshakeError::UnknownKeyId);
        };
        let mut sid = [0u8; SHORT_ID];
        rng.fill(&mut sid);
        let (mode, e_i) = match deferred_ephemeral {
            Some(e) => (Mode::Deferred, *e),
            // First Contact: the initiator has no ephemeral yet; 56 zero octets stand in.
            None => (Mode::FirstContact, [0u8; 56]),
        };
        let mut payload: &[u8] = if mode == Mode::FirstContact {
            &self.cfg.hello_payload
        } else {
            &[]
        };
        //= docs/SPEC.md#amplification-3x
        //# Every response to an initiator connection datagram MUST be at most three times the
        //# size of that datagram.
        let fixed = 300 + sid.len() + reply_sid.0.len();
        if fixed + payload.len() > 3 * request.len() {
            payload = &[];
        }
        let mut cookie = [0u8; WIRE_COOKIE_LEN];
        let build = |cookie: &[u8]| -> Result<Vec<u8>, HandshakeError> {
            let c = Challenge {
                stream_id: reply_sid,
                version: PROFILE_VERSION,
                credential: PublicKey::x448(key.public.as_bytes()),
                ephemerals: vec![PublicKey::x448(e_r.as_bytes())],
                cookie,
                responder_stream_id: StreamId(&sid),
                extensions: ExtensionList::default(),
                payload,
                padding: 0,
            };
            let d = if mode == Mode::FirstContact {
                Datagram::ResponderChallenge(c)
            } else {
                Datagram::ResponderDefer(c)
            };
            Ok(d.to_vec()?)
        };
        // Encode once with a placeholder cookie to hash the offer around it, then fill it in.
        let draft = build(&cookie)?;
        let offer = offer_transcript(&*self.cfg.provider, request, &draft)?;
        let th = self.offer_hash(mode, &sid, key, &e_r, &offer);
        let address = CookieAddress::socket(from);
        let input = CookieInput {
            mode: mode as u8,
            address: &address,
            initiator_ephemeral: &e_i,
            responder_key_id: &key.id.0,
            transcript_hash: &th,
        };
        let mac = self.cookies.issue(now, &input, |s| rng.fill(s));
        let (jar, rest) = cookie.split_at_mut(mac.len());
        jar.copy_from_slice(&mac);
        rest.copy_from_slice(&offer);
        let bytes = build(&cookie)?;
        Ok(ResponderOutcome::Reply(Transmit {
            destination: from,
            bytes,
        }))
    }

    fn key_by_id(&self, id: &[u8]) -> Result<&Key, HandshakeError> {
        self.keys
            .iter()
            .find(|k| k.id.0 == id)
            .ok_or(HandshakeError::UnknownKeyId)
    }

    fn exchange(
        &mut self,
        now: Duration,
        from: SocketAddr,
        x: &InitiatorExchange<'_>,
        bytes: &[u8],
        rng: &mut dyn Entropy,
    ) -> Result<ResponderOutcome, HandshakeError> {
        if x.responder_key_id.is_empty() {
            return self.ticket_exchange(now, from, x, bytes, rng);
        }
        // Cheap checks first: key id, point validity; no X448 before they pass.
        let key = self.key_by_id(x.responder_key_id)?;
        let (secret, public) = (key.secret.clone(), key.public);
        let e_i = X448PublicKey::from_bytes(x.initiator_ephemeral.key)?;
        let load = ResponderLoad {
            established_this_epoch: self.established.1,
        };
        let defer = match &self.cfg.defer {
            DeferPolicy::Never => false,
            DeferPolicy::Always => true,
            DeferPolicy::Hook(f) => f(&load),
        };
        if defer {
            // The early data of a deferred Exchange is never decrypted.
            return self.challenge(
                now,
                from,
                x.initiator_stream_id,
                Some(e_i.as_bytes()),
                bytes,
                rng,
            );
        }
        let p = self.cfg.provider.clone();
        let p = &*p;
        let header = bytes.split_at(bytes.len() - x.mezzanine.0.len()).0;
        let mut th = Transcript::start(p, Mode::Immediate, public.as_bytes());
        th.absorb(header);
        let th0 = th.hash();
        // es = X448(s_r, e_i); ck1 = X(ck0, es); k_mz = E(ck1, "rud1 mz i2r" || TH0)
        let es = secret.diffie_hellman(p, &e_i)?;
        let ck1 = ChainingKey::initial(p, schedule::PROTOCOL_NAME).mix(p, &[es.expose()]);
        let k_mz = schedule::section_key(p, &ck1, LABEL_MZ_I2R, &th0)?;
        let plain = schedule::open_section(p, &k_mz, header, x.mezzanine.0)?;
        let mz = parse::all(&plain, ExchangeMezzanine::decode)?;
        let s_i = X448PublicKey::from_bytes(mz.credential.key)?;
        // TH1 = H(TH0-state || S_i); ss = X448(s_r, S_i); ck2 = X(ck1, ss)
        th.absorb(s_i.as_bytes());
        let ss = secret.diffie_hellman(p, &s_i)?;
        let ck2 = ck1.mix(p, &[ss.expose()]);
        self.accept(
            Accept {
                now,
                from,
                mode: Mode::Immediate,
                reply_sid: x.initiator_stream_id,
                e_i,
                s_i,
                responder: public,
                mz: &mz,
                th,
                ck2,
                k_mz,
                static_dh: true,
                ticket: None,
            },
            rng,
        )
    }

    /// An Exchange that presents a ticket (docs/SPEC.md section 7.10) instead of a key id.
    fn ticket_exchange(
        &mut self,
        now: Duration,
        from: SocketAddr,
        x: &InitiatorExchange<'_>,
        bytes: &[u8],
        rng: &mut dyn Entropy,
    ) -> Result<ResponderOutcome, HandshakeError> {
        let keys = self
            .cfg
            .ticket_keys
            .as_ref()
            .ok_or(HandshakeError::UnknownKeyId)?;
        let ticket = x
            .extensions
            .iter()
            .find_map(|e| match e.parse_value() {
                Ok(ExtensionValue::Ticket { ticket, .. }) => Some(ticket),
                _ => None,
            })
            .ok_or(HandshakeError::UnknownKeyId)?;
        let p = self.cfg.provider.clone();
        let p = &*p;
        // Symmetric checks only, before any X448: the ticket opens, is live and names this host.
        let t = super::ticket::open(p, keys, ticket)?;
        if t.expiry_s < now.as_secs() || t.host_id != self.cfg.host_id {
            return Err(HandshakeError::Crypto(
                crate::crypto::CryptoError::AuthenticationFailed,
            ));
        }
        let e_i = X448PublicKey::from_bytes(x.initiator_ephemeral.key)?;
        let header = bytes.split_at(bytes.len() - x.mezzanine.0.len()).0;
        let mut th = Transcript::start(p, Mode::Ticket, t.issuer.as_bytes());
        th.absorb(header);
        let th0 = th.hash();
        // ck1 = X(ck0, psk); k_mz = E(ck1, "rud1 mz i2r" || TH0)
        let ck1 = ChainingKey::initial(p, schedule::PROTOCOL_NAME).mix(p, &[t.psk.expose()]);
        let k_mz = schedule::section_key(p, &ck1, LABEL_MZ_I2R, &th0)?;
        let plain = schedule::open_section(p, &k_mz, header, x.mezzanine.0)?;
        let mz = parse::all(&plain, ExchangeMezzanine::decode)?;
        let s_i = X448PublicKey::from_bytes(mz.credential.key)?;
        if s_i != t.initiator {
            return Err(HandshakeError::WrongResponderKey);
        }
        if !self.redeemed.redeem(now, &t.id, t.expiry_s) {
            return Err(HandshakeError::Crypto(
                crate::crypto::CryptoError::AuthenticationFailed,
            ));
        }
        th.absorb(s_i.as_bytes());
        self.accept(
            Accept {
                now,
                from,
                mode: Mode::Ticket,
                reply_sid: x.initiator_stream_id,
                e_i,
                s_i,
                responder: t.issuer,
                mz: &mz,
                th,
                ck2: ck1,
                k_mz,
                static_dh: false,
                ticket: Some(t.id),
            },
            rng,
        )
    }

    /// The second half of an Immediate or ticketed Exchange: early data, the responder's fresh
    /// ephemeral, the ResponderComplete, the session.
    fn accept(
        &mut self,
        a: Accept<'_, '_>,
        rng: &mut dyn Entropy,
    ) -> Result<ResponderOutcome, HandshakeError> {
        let p = self.cfg.provider.clone();
        let p = &*p;
        let Accept {
            now,
            from,
            mode,
            reply_sid,
            e_i,
            s_i,
            responder,
            mz,
            mut th,
            ck2,
            k_mz,
            static_dh,
            ticket,
        } = a;
        let ctx = *e_i.as_bytes();
        //= docs/SPEC.md#exchange-replay
        //# A responder MUST NOT complete the same InitiatorExchange twice: it remembers the initiator ephemeral of every Exchange it completed for twice the Exchange window, and refuses an Exchange whose timestamp lies outside that window.
        // The ResponderComplete's mezzanine key depends only on the Exchange, so a second
        // completion would seal under the same key and zero nonce again.
        if self.accepted.get(&ctx).is_some_and(|exp| *exp > now) {
            return Ok(ResponderOutcome::Dropped(DropReason::Duplicate));
        }
        let age = now.as_secs().abs_diff(mz.timestamp);
        if age > EXCHANGE_WINDOW.as_secs() {
            return Err(HandshakeError::Invalid {
                rule: "exchange-replay",
                message: format!("Exchange timestamp {age} s away from the responder's clock"),
            });
        }
        let th1 = th.hash();
        if mz.early.0.is_empty() {
            return Err(HandshakeError::StreamCreation(
                "an Exchange must create a stream",
            ));
        }
        // k_early = E(ck2, "rud1 early i2r" || TH1)
        let k_early = schedule::section_key(p, &ck2, LABEL_EARLY_I2R, &th1)?;
        let early_plain = schedule::open_section(p, &k_early, &[], mz.early.0)?;
        let early = parse::all(&early_plain, InnerSection::decode)?;
        let creation = first_stream_of(&early, &early_plain)?;
        //= docs/SPEC.md#early-data-once
        //# A responder MUST deliver the early data of an Exchange at most once.
        //= docs/SPEC.md#early-data-shared-register
        //# Hosts that share a static key MUST share one strike register, or refuse early data.
        let verdict = match self.strike.lock() {
            Ok(mut register) if self.cfg.accept_early_data => {
                register.check(now, e_i.as_bytes(), mz.timestamp)
            }
            // Disabled, or a poisoned lock: fail closed.
            _ => EarlyVerdict::Full,
        };
        let accepted = verdict == EarlyVerdict::Accepted;

        // The responder's fresh ephemeral: forward secrecy for everything after this point.
        let e_r = X448Secret::generate(|b| rng.fill(b));
        let e_r_pub = e_r.public_key(p);
        let mut rsid = [0u8; SHORT_ID];
        rng.fill(&mut rsid);
        let rc_header = header_only(&Datagram::ResponderComplete(ResponderComplete {
            stream_id: reply_sid,
            extensions: ExtensionList::default(),
            mezzanine: Sealed(&[0; 16]),
        }))?;
        // TH2 = H(TH1-state || ResponderComplete up to the mezzanine); k_mz_r = E(ck2, "rud1 mz r2i" || TH2)
        th.absorb(&rc_header);
        let th2 = th.hash();
        let k_mz_r = schedule::section_key(p, &ck2, LABEL_MZ_R2I, &th2)?;
        // TH3 = H(TH2-state || e_r); ck3 = X(X(ck2, ee), se) (tickets: X(ck2, ee));
        // k_hs_r = E(ck3, "rud1 hs r2i" || TH3)
        th.absorb(e_r_pub.as_bytes());
        let th3 = th.hash();
        let ee = e_r.diffie_hellman(p, &e_i)?;
        let mut ck3 = ck2.mix(p, &[ee.expose()]);
        if static_dh {
            let se = e_r.diffie_hellman(p, &s_i)?;
            ck3 = ck3.mix(p, &[se.expose()]);
        }
        let k_hs_r = schedule::section_key(p, &ck3, LABEL_HS_R2I, &th3)?;
        let secrets = TrafficSecrets::derive(p, &ck3, &th3)?;

        let inner = InnerSection {
            extensions: ExtensionList::default(),
            payload: &[],
        };
        let mut inner_plain = Vec::new();
        inner.encode(&mut inner_plain)?;
        let mut inner_sealed = Vec::new();
        schedule::seal_section(p, &k_hs_r, &[], &inner_plain, &mut inner_sealed)?;
        let s_i_id = KeyId::of(p, &s_i);
        let rcm = ResponderCompleteMezzanine {
            initiator_key_id: &s_i_id.0,
            responder_ephemeral: PublicKey::x448(e_r_pub.as_bytes()),
            early_data_accepted: accepted,
            responder_stream_id: StreamId(&rsid),
            extensions: ExtensionList::default(),
            inner: Sealed(&inner_sealed),
            padding: 0,
        };
        let mut rcm_plain = Vec::new();
        rcm.encode(&mut rcm_plain)?;
        let mut reply = rc_header.clone();
        schedule::seal_section(p, &k_mz_r, &rc_header, &rcm_plain, &mut reply)?;

        schedule::log_keys(
            &*self.cfg.keylog,
            &ctx,
            &[
                (labels::MEZZANINE_I2R, &k_mz),
                (labels::EARLY_I2R, &k_early),
                (labels::MEZZANINE_R2I, &k_mz_r),
                (labels::HANDSHAKE_R2I, &k_hs_r),
            ],
            &secrets,
        );
        self.accepted
            .insert(ctx, now.saturating_add(EXCHANGE_WINDOW.saturating_mul(2)));
        self.established.1 += 1;
        let session = Session {
            role: Role::Responder,
            mode,
            peer: from,
            secrets,
            initiator_credential: s_i,
            responder_credential: responder,
            responder_authenticated: true,
            context: ctx,
            first_stream: FirstStream {
                initiator_stream_id: creation.id,
                responder_stream_id: rsid.to_vec(),
                service: creation.service,
                transactional: creation.transactional,
                credentials: creation.credentials,
            },
            payload: if accepted {
                early.payload.to_vec()
            } else {
                Vec::new()
            },
            early_data: accepted,
            retransmit: Some(reply.clone()),
            //= docs/SPEC.md#ticket-rekey-owed
            //# A ticketed connection MUST be marked as owing a forward-secrecy rekey.
            rekey_owed: ticket.is_some(),
            handshake_rtt: None,
        };
        Ok(ResponderOutcome::Established {
            session: Box::new(session),
            reply: Some(Transmit {
                destination: from,
                bytes: reply,
            }),
        })
    }

    fn complete(
        &mut self,
        now: Duration,
        from: SocketAddr,
        c: &InitiatorComplete<'_>,
        bytes: &[u8],
    ) -> Result<ResponderOutcome, HandshakeError> {
        let key = self.key_by_id(c.responder_key_id)?;
        let e_i = X448PublicKey::from_bytes(c.initiator_ephemeral.key)?;
        // The cookie names its epoch; the epoch names the ephemeral offered with it.
        let epoch = cookie_epoch(c.cookie, self.cookies.epoch_at(now))?;
        let Some((e_r_secret, e_r)) = self.ephemerals.get(&epoch) else {
            return Err(CookieError::Expired {
                epoch: epoch as u32,
            }
            .into());
        };
        if c.ephemeral_index != 0 {
            return Err(HandshakeError::Invalid {
                rule: "ephemeral-index",
                message: "this responder offers one ephemeral key".into(),
            });
        }
        //= docs/SPEC.md#cookie-before-x448
        //# A responder MUST verify the cookie before any X448 operation for a Complete.
        let (mac, offer) = split_cookie(c.cookie)?;
        let address = CookieAddress::socket(from);
        let mut mode = None;
        for (m, eph) in [
            (Mode::Deferred, *e_i.as_bytes()),
            (Mode::FirstContact, [0u8; 56]),
        ] {
            let th = self.offer_hash(m, c.stream_id.0, key, e_r, offer);
            let input = CookieInput {
                mode: m as u8,
                address: &address,
                initiator_ephemeral: &eph,
                responder_key_id: &key.id.0,
                transcript_hash: &th,
            };
            if self.cookies.verify(now, mac, &input).is_ok() {
                mode = Some(m);
                break;
            }
        }
        let Some(mode) = mode else {
            return Err(CookieError::Invalid.into());
        };
        //= docs/SPEC.md#complete-replay
        //# A responder MUST NOT accept the same initiator ephemeral twice while its cookie lives.
        if self
            .accepted
            .get(e_i.as_bytes())
            .is_some_and(|exp| *exp > now)
        {
            return Ok(ResponderOutcome::Dropped(DropReason::Duplicate));
        }
        let p = self.cfg.provider.clone();
        let p = &*p;
        let header = bytes.split_at(bytes.len() - c.mezzanine.0.len()).0;
        let ctx = *e_i.as_bytes();
        let mut th = Transcript::start(p, mode, key.public.as_bytes());
        th.absorb(offer);
        th.absorb(e_r.as_bytes());
        th.absorb(header);
        let th0 = th.hash();
        // es = X448(s_r, e_i); ee = X448(e_r, e_i); ck2 = X(X(ck0, es), ee)
        let es = key.secret.diffie_hellman(p, &e_i)?;
        let ee = e_r_secret.diffie_hellman(p, &e_i)?;
        let ck2 = ChainingKey::initial(p, schedule::PROTOCOL_NAME)
            .mix(p, &[es.expose()])
            .mix(p, &[ee.expose()]);
        let k_mz = schedule::section_key(p, &ck2, LABEL_MZ_I2R, &th0)?;
        let plain = schedule::open_section(p, &k_mz, header, c.mezzanine.0)?;
        let mz = parse::all(&plain, CompleteMezzanine::decode)?;
        let s_i = X448PublicKey::from_bytes(mz.credential.key)?;
        th.absorb(s_i.as_bytes());
        let th1 = th.hash();
        // se = X448(e_r, S_i); ck3 = X(ck2, se); k_hs = E(ck3, "rud1 hs i2r" || TH1)
        let se = e_r_secret.diffie_hellman(p, &s_i)?;
        let ck3 = ck2.mix(p, &[se.expose()]);
        let k_hs = schedule::section_key(p, &ck3, LABEL_HS_I2R, &th1)?;
        let inner_plain = schedule::open_section(p, &k_hs, &[], mz.inner.0)?;
        let inner = parse::all(&inner_plain, InnerSection::decode)?;
        let creation = first_stream_of(&inner, &inner_plain)?;
        let secrets = TrafficSecrets::derive(p, &ck3, &th1)?;
        schedule::log_keys(
            &*self.cfg.keylog,
            &ctx,
            &[
                (labels::MEZZANINE_I2R, &k_mz),
                (labels::HANDSHAKE_I2R, &k_hs),
            ],
            &secrets,
        );
        let keep = self.cfg.cookie_epoch.saturating_mul(2);
        let responder_credential = key.public;
        self.accepted.insert(*e_i.as_bytes(), now + keep);
        self.established.1 += 1;
        let session = Session {
            role: Role::Responder,
            mode,
            peer: from,
            secrets,
            initiator_credential: s_i,
            responder_credential,
            responder_authenticated: true,
            context: ctx,
            first_stream: FirstStream {
                initiator_stream_id: creation.id,
                responder_stream_id: c.stream_id.0.to_vec(),
                service: creation.service,
                transactional: creation.transactional,
                credentials: creation.credentials,
            },
            payload: inner.payload.to_vec(),
            early_data: false,
            retransmit: None,
            rekey_owed: false,
            handshake_rtt: None,
        };
        Ok(ResponderOutcome::Established {
            session: Box::new(session),
            reply: None,
        })
    }
}

/// Octets of the cookie field: the 21-octet stateless cookie, then the 32-octet offer transcript.
pub const WIRE_COOKIE_LEN: usize = 21 + 32;

/// The offer transcript: H(request || reply without the cookie's content)[0..32], where the
/// reply is a Challenge or Defer. Binds the Hello or Exchange and everything the responder said.
pub(super) fn offer_transcript(
    p: &dyn CryptoProvider,
    request: &[u8],
    reply: &[u8],
) -> Result<[u8; 32], HandshakeError> {
    let d = Datagram::decode(reply)?;
    let (Datagram::ResponderChallenge(c) | Datagram::ResponderDefer(c)) = &d else {
        return Err(HandshakeError::Unexpected {
            message: "reply",
            state: "offer",
        });
    };
    let start = crate::wire::parse::offset_in(reply, c.cookie);
    let (before, rest) = reply.split_at(start.min(reply.len()));
    let after = rest.get(c.cookie.len()..).unwrap_or(&[]);
    let full = p.sha512_digest(&[b"rud1 offer transcript", request, before, after]);
    let mut out = [0u8; 32];
    out.copy_from_slice(&full[..32]);
    Ok(out)
}

fn split_cookie(cookie: &[u8]) -> Result<(&[u8], &[u8]), HandshakeError> {
    if cookie.len() != WIRE_COOKIE_LEN {
        return Err(CookieError::Length { len: cookie.len() }.into());
    }
    Ok(cookie.split_at(21))
}

/// The full epoch number of a cookie (which carries its low 32 bits): the current or previous.
fn cookie_epoch(cookie: &[u8], current: u64) -> Result<u64, HandshakeError> {
    let low = cookie
        .get(1..5)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or(CookieError::Length { len: cookie.len() })?;
    [current, current.saturating_sub(1)]
        .into_iter()
        .find(|e| *e as u32 == low)
        .ok_or(CookieError::Expired { epoch: low }.into())
}

/// The identifier a reply to an initiator's handshake datagram carries: the one the initiator
/// issued in its Hello or Exchange, or the header's of a Complete.
pub(crate) fn reply_stream_id<'a>(d: &Datagram<'a>) -> StreamId<'a> {
    match d {
        Datagram::InitiatorHello(h) => h.initiator_stream_id,
        Datagram::InitiatorExchange(x) => x.initiator_stream_id,
        _ => d.stream_id(),
    }
}

fn error_reply(
    to: SocketAddr,
    sid: StreamId<'_>,
    code: ErrorCode,
) -> Result<Transmit, HandshakeError> {
    let e = ErrorMessage {
        stream_id: sid,
        msg_type: MessageType::RESPONDER_ERROR,
        code,
        extensions: ExtensionList::default(),
        padding: 0,
    };
    Ok(Transmit {
        destination: to,
        bytes: Datagram::Error(e).to_vec()?,
    })
}

fn version_mismatch(to: SocketAddr, sid: StreamId<'_>) -> Result<Transmit, HandshakeError> {
    let versions = crate::wire::samples::extension_bytes(
        &crate::wire::ExtensionValue::SupportedVersions(vec![PROFILE_VERSION]),
    )?;
    let pairs = [versions];
    let e = ErrorMessage {
        stream_id: sid,
        msg_type: MessageType::RESPONDER_ERROR,
        code: ErrorCode::VERSION_MISMATCH,
        extensions: crate::wire::samples::list(&pairs),
        padding: 0,
    };
    Ok(Transmit {
        destination: to,
        bytes: Datagram::Error(e).to_vec()?,
    })
}
