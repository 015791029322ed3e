//! The initiator's side of the three key exchanges (docs/SPEC.md sections 4 and 7).
//!
//! First Contact: send InitiatorHello, await ResponderChallenge, send InitiatorComplete.
//! Immediate: send InitiatorExchange (with early data), await ResponderComplete, or a
//! ResponderDefer, in which case continue as Deferred: send InitiatorComplete.
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::schedule::{
    self, LABEL_EARLY_I2R, LABEL_HS_I2R, LABEL_HS_R2I, LABEL_MZ_I2R, LABEL_MZ_R2I, Mode,
    TrafficSecrets, Transcript,
};
use super::{Entropy, FirstStream, HandshakeError, Role, Session, Transmit};
use crate::crypto::hkdf::ChainingKey;
use crate::crypto::keyfile::KeyId;
use crate::crypto::keylog::{KeyLog, labels};
use crate::crypto::x448::{X448PublicKey, X448Secret};
use crate::crypto::{CryptoProvider, SecretBytes};
use crate::wire::samples::pad_to_min;
use crate::wire::{
    CONNECTION_STREAM_ID, Challenge, CompleteMezzanine, Datagram, ErrorCode, ExchangeMezzanine,
    ExtensionList, ExtensionValue, InitiatorComplete, InitiatorExchange, InitiatorHello,
    InnerSection, PROFILE_VERSION, PublicKey, ResponderCompleteMezzanine, Sealed, StreamId, parse,
    samples,
};

/// What the initiator brings to a handshake.
#[derive(Debug, Clone)]
pub struct InitiatorConfig {
    pub provider: Arc<dyn CryptoProvider>,
    pub keylog: Arc<dyn KeyLog>,
    /// The initiator's device key (its credential).
    pub static_key: X448Secret,
    /// The responder's key, if known: required for Immediate; with First Contact a Challenge
    /// presenting another key aborts the handshake (never a silent fallback).
    pub responder_key: Option<X448PublicKey>,
    /// Service the first stream binds to, and its characteristic.
    pub service: String,
    pub transactional: bool,
    /// Principal credentials (draft 3.4.2) presented, encrypted, with the first stream.
    pub credentials: Vec<super::PrincipalCredential>,
    /// First retransmission timeout; doubles on every resend.
    pub retransmit_after: Duration,
    /// Sends in all (the first plus resends) before giving up.
    pub max_attempts: u32,
}

impl InitiatorConfig {
    pub fn new(provider: Arc<dyn CryptoProvider>, static_key: X448Secret) -> Self {
        InitiatorConfig {
            provider,
            keylog: Arc::new(crate::crypto::keylog::NoKeyLog),
            static_key,
            responder_key: None,
            service: "echo".into(),
            transactional: true,
            credentials: Vec::new(),
            retransmit_after: Duration::from_millis(500),
            max_attempts: 5,
        }
    }
}

/// Progress reported by [`Initiator::poll_event`].
#[derive(Debug)]
pub enum InitiatorEvent {
    /// First Contact: the responder's credential and its plaintext answer to the Hello, both
    /// unauthenticated until the application validates the credential.
    Challenge {
        credential: X448PublicKey,
        payload: Vec<u8>,
    },
    /// The responder deferred the Exchange; an InitiatorComplete answering its challenge was sent.
    Deferred,
    Established(Box<Session>),
    Failed(HandshakeError),
}

enum State {
    /// First Contact: InitiatorHello sent.
    AwaitChallenge,
    /// Immediate: InitiatorExchange sent; the chain and transcript after TH1.
    AwaitResponse {
        ck2: ChainingKey,
        transcript: Transcript,
        responder: X448PublicKey,
        /// False for a ticketed Exchange: se is not mixed (the host has no share in S_r).
        static_dh: bool,
    },
    Done,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitChallenge => "await-challenge",
            State::AwaitResponse { .. } => "await-response",
            State::Done => "done",
        }
    }
}

pub struct Initiator {
    cfg: InitiatorConfig,
    mode: Mode,
    state: State,
    peer: SocketAddr,
    /// Identifier the responder's replies carry (random, so off-path replies cannot be forged).
    handshake_sid: [u8; 8],
    /// Canonical identifier of the first stream (StreamId extension).
    first_sid: [u8; 8],
    ephemeral: X448Secret,
    ephemeral_pub: X448PublicKey,
    static_pub: X448PublicKey,
    request: Vec<u8>,
    cached: Vec<u8>,
    attempts: u32,
    /// When the current message was first sent, and when a reply to it arrived (RTT sample).
    sent_at: Option<Duration>,
    reply_at: Option<Duration>,
    deadline: Option<Duration>,
    hint: Option<ErrorCode>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<InitiatorEvent>,
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("mode", &self.mode)
            .field("state", &self.state.name())
            .field("peer", &self.peer)
            .field("attempts", &self.attempts)
            .finish()
    }
}

fn ext_pair(v: &ExtensionValue<'_>) -> Result<samples::OwnedExtension, HandshakeError> {
    Ok(samples::extension_bytes(v)?)
}

impl Initiator {
    fn new(
        cfg: InitiatorConfig,
        rng: &mut dyn Entropy,
        mode: Mode,
        peer: SocketAddr,
        request: &[u8],
    ) -> Self {
        let p = cfg.provider.clone();
        let ephemeral = X448Secret::generate(|b| rng.fill(b));
        let ephemeral_pub = ephemeral.public_key(&*p);
        let static_pub = cfg.static_key.public_key(&*p);
        let mut handshake_sid = [0u8; 8];
        rng.fill(&mut handshake_sid);
        let mut first_sid = [0u8; 8];
        rng.fill(&mut first_sid);
        Initiator {
            cfg,
            mode,
            state: State::Done,
            peer,
            handshake_sid,
            first_sid,
            ephemeral,
            ephemeral_pub,
            static_pub,
            request: request.to_vec(),
            cached: Vec::new(),
            attempts: 0,
            sent_at: None,
            reply_at: None,
            deadline: None,
            hint: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Starts First Contact: sends an InitiatorHello carrying the plaintext `query`; `request`
    /// becomes the first encrypted payload (in the InitiatorComplete).
    pub fn first_contact(
        cfg: InitiatorConfig,
        rng: &mut dyn Entropy,
        now: Duration,
        peer: SocketAddr,
        query: &[u8],
        request: &[u8],
    ) -> Result<Self, HandshakeError> {
        let mut me = Self::new(cfg, rng, Mode::FirstContact, peer, request);
        let mut hello = InitiatorHello {
            stream_id: StreamId(&CONNECTION_STREAM_ID),
            version: PROFILE_VERSION,
            initiator_stream_id: StreamId(&me.handshake_sid),
            extensions: ExtensionList::default(),
            payload: query,
            padding: 0,
        };
        //= docs/SPEC.md#initiator-min-size
        //# Every initiator connection datagram MUST be at least 1200 octets long.
        hello.padding = pad_to_min(hello.encoded_len());
        let bytes = Datagram::InitiatorHello(hello).to_vec()?;
        me.state = State::AwaitChallenge;
        me.send(now, bytes);
        Ok(me)
    }

    /// Starts Immediate: sends an InitiatorExchange whose early data is `request`.
    pub fn immediate(
        cfg: InitiatorConfig,
        rng: &mut dyn Entropy,
        now: Duration,
        peer: SocketAddr,
        request: &[u8],
    ) -> Result<Self, HandshakeError> {
        let responder = cfg.responder_key.ok_or(HandshakeError::NeedResponderKey)?;
        let me = Self::new(cfg, rng, Mode::Immediate, peer, request);
        me.exchange(now, responder, None)
    }

    /// Opens a connection with a ticket (docs/SPEC.md section 7.10) to any host it names:
    /// `issuer` is the credential of the responder that issued it, `psk` the secret from
    /// [`super::ticket::ticket_psk`] on the issuing connection.
    #[allow(clippy::too_many_arguments)]
    pub fn with_ticket(
        cfg: InitiatorConfig,
        rng: &mut dyn Entropy,
        now: Duration,
        peer: SocketAddr,
        ticket: &[u8],
        issuer: X448PublicKey,
        psk: SecretBytes<64>,
        request: &[u8],
    ) -> Result<Self, HandshakeError> {
        let me = Self::new(cfg, rng, Mode::Ticket, peer, request);
        me.exchange(now, issuer, Some((ticket, psk)))
    }

    /// Sends an InitiatorExchange: keyed by es and ss (Immediate) or by a ticket's psk.
    fn exchange(
        mut self,
        now: Duration,
        responder: X448PublicKey,
        ticket: Option<(&[u8], SecretBytes<64>)>,
    ) -> Result<Self, HandshakeError> {
        let p = self.cfg.provider.clone();
        let p = &*p;
        let key_id = KeyId::of(p, &responder);
        let ticket_ext = match &ticket {
            Some((t, _)) => vec![ext_pair(&ExtensionValue::Ticket {
                lifetime_s: 0,
                ticket: t,
            })?],
            None => Vec::new(),
        };
        let header = InitiatorExchange {
            stream_id: StreamId(&CONNECTION_STREAM_ID),
            version: PROFILE_VERSION,
            initiator_stream_id: StreamId(&self.handshake_sid),
            // A ticketed Exchange names no key: the ticket says who it is for.
            responder_key_id: if ticket.is_some() { &[] } else { &key_id.0 },
            initiator_ephemeral: PublicKey::x448(self.ephemeral_pub.as_bytes()),
            extensions: samples::list(&ticket_ext),
            mezzanine: Sealed(&[0; 16]),
        };
        let header_bytes = header_only(&Datagram::InitiatorExchange(header))?;
        let ctx = *self.ephemeral_pub.as_bytes();

        let mut th = Transcript::start(p, self.mode, responder.as_bytes());
        // TH0 = H(name || mode || S_r || Exchange up to the mezzanine)
        th.absorb(&header_bytes);
        let th0 = th.hash();
        let ck0 = ChainingKey::initial(p, schedule::PROTOCOL_NAME);
        let ck1 = match &ticket {
            // Tickets: ck1 = X(ck0, psk)
            Some((_, psk)) => ck0.mix(p, &[psk.expose()]),
            // es = X448(e_i, S_r); ck1 = X(ck0, es)
            None => ck0.mix(p, &[self.ephemeral.diffie_hellman(p, &responder)?.expose()]),
        };
        // k_mz = E(ck1, "rud1 mz i2r" || TH0)
        let k_mz = schedule::section_key(p, &ck1, LABEL_MZ_I2R, &th0)?;
        // TH1 = H(TH0-state || S_i)
        th.absorb(self.static_pub.as_bytes());
        let th1 = th.hash();
        let ck2 = match &ticket {
            Some(_) => ck1,
            // ss = X448(s_i, S_r); ck2 = X(ck1, ss)
            None => ck1.mix(
                p,
                &[self.cfg.static_key.diffie_hellman(p, &responder)?.expose()],
            ),
        };
        // k_early = E(ck2, "rud1 early i2r" || TH1)
        let k_early = schedule::section_key(p, &ck2, LABEL_EARLY_I2R, &th1)?;
        self.cfg
            .keylog
            .log(labels::MEZZANINE_I2R, &ctx, k_mz.expose());
        self.cfg
            .keylog
            .log(labels::EARLY_I2R, &ctx, k_early.expose());

        let early_plain = self.inner_plaintext()?;
        let mut early = Vec::new();
        schedule::seal_section(p, &k_early, &[], &early_plain, &mut early)?;
        let mut mz = ExchangeMezzanine {
            credential: PublicKey::x448(self.static_pub.as_bytes()),
            timestamp: now.as_secs(),
            extensions: ExtensionList::default(),
            early: Sealed(&early),
            padding: 0,
        };
        let bytes = schedule::seal_padded_mezzanine(
            p,
            &k_mz,
            &header_bytes,
            mz.encoded_len(),
            |pad, out| {
                mz.padding = pad;
                mz.encode(out)
            },
        )?;
        self.state = State::AwaitResponse {
            ck2,
            transcript: th,
            responder,
            static_dh: ticket.is_none(),
        };
        self.send(now, bytes);
        Ok(self)
    }

    fn inner_plaintext(&self) -> Result<Vec<u8>, HandshakeError> {
        let service = self.cfg.service.as_str();
        let create = if self.cfg.transactional {
            ExtensionValue::StreamClient { service }
        } else {
            ExtensionValue::StreamReceiver { service }
        };
        let mut pairs = vec![
            ext_pair(&create)?,
            ext_pair(&ExtensionValue::StreamId(&self.first_sid))?,
        ];
        for c in &self.cfg.credentials {
            pairs.push(ext_pair(&ExtensionValue::Credential {
                credential_type: c.credential_type,
                data: &c.data,
            })?);
        }
        let inner = InnerSection {
            extensions: samples::list(&pairs),
            payload: &self.request,
        };
        let mut out = Vec::new();
        inner.encode(&mut out)?;
        Ok(out)
    }

    fn send(&mut self, now: Duration, bytes: Vec<u8>) {
        self.cached = bytes.clone();
        self.attempts = 1;
        self.sent_at = Some(now);
        self.deadline = Some(now + self.cfg.retransmit_after);
        self.transmits.push_back(Transmit {
            destination: self.peer,
            bytes,
        });
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The address the handshake talks to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<InitiatorEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Duration> {
        self.deadline
    }

    /// Resends the cached datagram byte-identical, or gives up after `max_attempts`.
    pub fn handle_timeout(&mut self, now: Duration) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        if self.attempts >= self.cfg.max_attempts {
            self.deadline = None;
            self.state = State::Done;
            self.events
                .push_back(InitiatorEvent::Failed(HandshakeError::Timeout {
                    attempts: self.attempts,
                    hint: self.hint,
                }));
            return;
        }
        self.attempts += 1;
        let backoff = self
            .cfg
            .retransmit_after
            .saturating_mul(1 << (self.attempts - 1).min(16));
        self.deadline = Some(now + backoff);
        self.transmits.push_back(Transmit {
            destination: self.peer,
            bytes: self.cached.clone(),
        });
    }

    /// Feeds one received datagram. `Err` means this datagram was refused; the handshake goes on
    /// unless a `Failed` event was queued.
    pub fn handle_datagram(
        &mut self,
        now: Duration,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), HandshakeError> {
        // Replies count only from the address we sent to and for our random identifier.
        if from != self.peer || matches!(self.state, State::Done) {
            return Err(HandshakeError::Unexpected {
                message: "datagram",
                state: self.state.name(),
            });
        }
        let d = Datagram::decode(bytes)?;
        if d.stream_id().0 != self.handshake_sid {
            return Err(HandshakeError::Unexpected {
                message: "stream identifier",
                state: self.state.name(),
            });
        }
        self.reply_at = Some(now);
        if let Some(v) = crate::wire::validate::datagram(&d, bytes).first() {
            return Err(HandshakeError::Invalid {
                rule: v.rule,
                message: v.message.clone(),
            });
        }
        match (&self.state, d) {
            (State::AwaitChallenge, Datagram::ResponderChallenge(c)) => {
                let credential = X448PublicKey::from_bytes(c.credential.key)?;
                //= docs/SPEC.md#pinned-responder-key
                //# With a pinned responder key, a Challenge or Defer presenting another key MUST
                //# abort the handshake.
                if self
                    .cfg
                    .responder_key
                    .as_ref()
                    .is_some_and(|k| *k != credential)
                {
                    return self.fail(HandshakeError::WrongResponderKey);
                }
                self.events.push_back(InitiatorEvent::Challenge {
                    credential,
                    payload: c.payload.to_vec(),
                });
                let authenticated = self.cfg.responder_key.is_some();
                self.complete(
                    now,
                    &c,
                    bytes,
                    Mode::FirstContact,
                    credential,
                    authenticated,
                )
            }
            (State::AwaitResponse { responder, .. }, Datagram::ResponderDefer(c)) => {
                let credential = X448PublicKey::from_bytes(c.credential.key)?;
                if credential != *responder {
                    return self.fail(HandshakeError::WrongResponderKey);
                }
                self.events.push_back(InitiatorEvent::Deferred);
                self.complete(now, &c, bytes, Mode::Deferred, credential, true)
            }
            (State::AwaitResponse { .. }, Datagram::ResponderComplete(rc)) => {
                let header = bytes.split_at(bytes.len() - rc.mezzanine.0.len()).0;
                let session = self.finish_immediate(header, rc.mezzanine)?;
                self.established(session);
                Ok(())
            }
            (_, Datagram::Error(e)) => {
                // Unauthenticated: only a hint, reported if the handshake then times out.
                self.hint = Some(e.code);
                Ok(())
            }
            (state, _) => Err(HandshakeError::Unexpected {
                message: "message type",
                state: state.name(),
            }),
        }
    }

    fn fail(&mut self, e: HandshakeError) -> Result<(), HandshakeError> {
        self.state = State::Done;
        self.deadline = None;
        let msg = e.to_string();
        self.events.push_back(InitiatorEvent::Failed(e));
        Err(HandshakeError::Invalid {
            rule: "handshake-aborted",
            message: msg,
        })
    }

    fn established(&mut self, mut session: Session) {
        if self.attempts == 1
            && let (Some(sent), Some(reply)) = (self.sent_at, self.reply_at)
        {
            session.handshake_rtt = Some(reply.saturating_sub(sent));
        }
        self.state = State::Done;
        self.deadline = None;
        self.events
            .push_back(InitiatorEvent::Established(Box::new(session)));
    }

    /// Builds and sends the InitiatorComplete answering a Challenge or Defer.
    fn complete(
        &mut self,
        now: Duration,
        c: &Challenge<'_>,
        reply: &[u8],
        mode: Mode,
        responder: X448PublicKey,
        authenticated: bool,
    ) -> Result<(), HandshakeError> {
        let p = self.cfg.provider.clone();
        let p = &*p;
        let Some(eph) = c.ephemerals.first() else {
            return Err(HandshakeError::Invalid {
                rule: "challenge-ephemerals",
                message: "no ephemeral key".into(),
            });
        };
        let e_r = X448PublicKey::from_bytes(eph.key)?;
        let key_id = KeyId::of(p, &responder);
        let header = InitiatorComplete {
            stream_id: c.responder_stream_id,
            responder_key_id: &key_id.0,
            initiator_ephemeral: PublicKey::x448(self.ephemeral_pub.as_bytes()),
            ephemeral_index: 0,
            cookie: c.cookie,
            extensions: ExtensionList::default(),
            mezzanine: Sealed(&[0; 16]),
        };
        let header_bytes = header_only(&Datagram::InitiatorComplete(header))?;
        let ctx = *self.ephemeral_pub.as_bytes();

        // The offer transcript binds what we sent and everything the reply said except the
        // cookie's content; the responder's copy travels in the cookie under its MAC.
        let offer = super::responder::offer_transcript(p, &self.cached, reply)?;
        let mut th = Transcript::start(p, mode, responder.as_bytes());
        // TH0 = H(name || mode || S_r || offer || e_r || Complete up to the mezzanine)
        th.absorb(&offer);
        th.absorb(e_r.as_bytes());
        th.absorb(&header_bytes);
        let th0 = th.hash();
        // ck1 = X(ck0, es); ck2 = X(ck1, ee); k_mz = E(ck2, "rud1 mz i2r" || TH0)
        let es = self.ephemeral.diffie_hellman(p, &responder)?;
        let ee = self.ephemeral.diffie_hellman(p, &e_r)?;
        let ck2 = ChainingKey::initial(p, schedule::PROTOCOL_NAME)
            .mix(p, &[es.expose()])
            .mix(p, &[ee.expose()]);
        let k_mz = schedule::section_key(p, &ck2, LABEL_MZ_I2R, &th0)?;
        // TH1 = H(TH0-state || S_i); ck3 = X(ck2, se); k_hs = E(ck3, "rud1 hs i2r" || TH1)
        th.absorb(self.static_pub.as_bytes());
        let th1 = th.hash();
        let se = self.cfg.static_key.diffie_hellman(p, &e_r)?;
        let ck3 = ck2.mix(p, &[se.expose()]);
        let k_hs = schedule::section_key(p, &ck3, LABEL_HS_I2R, &th1)?;
        // ms = ck3; traffic secrets from TH1
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

        let inner_plain = self.inner_plaintext()?;
        let mut inner = Vec::new();
        schedule::seal_section(p, &k_hs, &[], &inner_plain, &mut inner)?;
        let mut mz = CompleteMezzanine {
            credential: PublicKey::x448(self.static_pub.as_bytes()),
            extensions: ExtensionList::default(),
            inner: Sealed(&inner),
            padding: 0,
        };
        let bytes = schedule::seal_padded_mezzanine(
            p,
            &k_mz,
            &header_bytes,
            mz.encoded_len(),
            |pad, out| {
                mz.padding = pad;
                mz.encode(out)
            },
        )?;

        let session = Session {
            role: Role::Initiator,
            mode,
            peer: self.peer,
            secrets,
            initiator_credential: self.static_pub,
            responder_credential: responder,
            responder_authenticated: authenticated,
            context: ctx,
            first_stream: FirstStream {
                initiator_stream_id: self.first_sid.to_vec(),
                responder_stream_id: c.responder_stream_id.0.to_vec(),
                service: self.cfg.service.clone(),
                transactional: self.cfg.transactional,
                credentials: self.cfg.credentials.clone(),
            },
            payload: Vec::new(),
            early_data: false,
            retransmit: Some(bytes.clone()),
            rekey_owed: false,
            handshake_rtt: None,
        };
        self.transmits.push_back(Transmit {
            destination: self.peer,
            bytes,
        });
        self.established(session);
        let _ = now;
        Ok(())
    }

    /// Opens a ResponderComplete (Immediate) and derives the traffic secrets.
    fn finish_immediate(&self, header: &[u8], mz: Sealed<'_>) -> Result<Session, HandshakeError> {
        // Borrowed, not taken: a forged or damaged reply leaves the state as it was, so the
        // genuine reply can still complete the handshake.
        let State::AwaitResponse {
            ck2,
            transcript,
            responder,
            static_dh,
        } = &self.state
        else {
            return Err(HandshakeError::Unexpected {
                message: "ResponderComplete",
                state: self.state.name(),
            });
        };
        let p = &*self.cfg.provider;
        let ctx = *self.ephemeral_pub.as_bytes();
        let mut th = transcript.clone();
        // TH2 = H(TH1-state || ResponderComplete up to the mezzanine)
        th.absorb(header);
        let th2 = th.hash();
        // k_mz_r = E(ck2, "rud1 mz r2i" || TH2)
        let k_mz_r = schedule::section_key(p, ck2, LABEL_MZ_R2I, &th2)?;
        let plain = schedule::open_section(p, &k_mz_r, header, mz.0)?;
        let rcm = parse::all(&plain, ResponderCompleteMezzanine::decode)?;
        if rcm.initiator_key_id != KeyId::of(p, &self.static_pub).0 {
            return Err(HandshakeError::UnknownKeyId);
        }
        let e_r = X448PublicKey::from_bytes(rcm.responder_ephemeral.key)?;
        // TH3 = H(TH2-state || e_r); ck3 = X(X(ck2, ee), se) (tickets: X(ck2, ee));
        // k_hs_r = E(ck3, "rud1 hs r2i" || TH3)
        th.absorb(e_r.as_bytes());
        let th3 = th.hash();
        let ee = self.ephemeral.diffie_hellman(p, &e_r)?;
        let mut ck3 = ck2.mix(p, &[ee.expose()]);
        if *static_dh {
            let se = self.cfg.static_key.diffie_hellman(p, &e_r)?;
            ck3 = ck3.mix(p, &[se.expose()]);
        }
        let k_hs_r = schedule::section_key(p, &ck3, LABEL_HS_R2I, &th3)?;
        let inner_plain = schedule::open_section(p, &k_hs_r, &[], rcm.inner.0)?;
        let inner = parse::all(&inner_plain, InnerSection::decode)?;
        let secrets = TrafficSecrets::derive(p, &ck3, &th3)?;
        schedule::log_keys(
            &*self.cfg.keylog,
            &ctx,
            &[
                (labels::MEZZANINE_R2I, &k_mz_r),
                (labels::HANDSHAKE_R2I, &k_hs_r),
            ],
            &secrets,
        );
        Ok(Session {
            role: Role::Initiator,
            mode: self.mode,
            peer: self.peer,
            secrets,
            initiator_credential: self.static_pub,
            responder_credential: *responder,
            responder_authenticated: true,
            context: ctx,
            first_stream: FirstStream {
                initiator_stream_id: self.first_sid.to_vec(),
                responder_stream_id: rcm.responder_stream_id.0.to_vec(),
                service: self.cfg.service.clone(),
                transactional: self.cfg.transactional,
                credentials: self.cfg.credentials.clone(),
            },
            payload: inner.payload.to_vec(),
            early_data: rcm.early_data_accepted,
            retransmit: None,
            rekey_owed: !*static_dh,
            handshake_rtt: None,
        })
    }
}

/// The octets of a connection datagram before its mezzanine section (its associated data).
pub(super) fn header_only(d: &Datagram<'_>) -> Result<Vec<u8>, HandshakeError> {
    let mut v = d.to_vec()?;
    v.truncate(v.len().saturating_sub(16));
    Ok(v)
}
