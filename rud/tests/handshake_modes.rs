//! Each key exchange mode completes between an in-memory initiator and responder with simulated
//! time, and both sides derive the same secrets.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers may panic with a message
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rud::crypto::x448::X448Secret;
use rud::crypto::{CountingProvider, CryptoProvider, default_provider};
use rud::handshake::*;

const T0: Duration = Duration::from_secs(1_800_000_000);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Pair {
    responder: Responder,
    initiator_cfg: InitiatorConfig,
    rng: SeededEntropy,
    counting: Arc<CountingProvider>,
}

fn pair(defer: DeferPolicy) -> Pair {
    let counting = Arc::new(CountingProvider::new(default_provider()));
    let p: Arc<dyn CryptoProvider> = counting.clone();
    let mut rng = SeededEntropy::new(b"handshake modes");
    let r_key = X448Secret::generate(|b| rng.fill(b));
    let i_key = X448Secret::generate(|b| rng.fill(b));
    let mut rcfg = ResponderConfig::new(p.clone(), r_key);
    rcfg.defer = defer;
    // Started long enough ago that the strike register accepts early data.
    let responder = Responder::new(rcfg, T0 - Duration::from_secs(60)).unwrap();
    let mut icfg = InitiatorConfig::new(p, i_key);
    icfg.responder_key = responder.public_key().cloned();
    Pair {
        responder,
        initiator_cfg: icfg,
        rng,
        counting,
    }
}

const I: &str = "192.0.2.1:40000";
const R: &str = "198.51.100.7:21077";

fn established(events: &mut Initiator) -> Session {
    loop {
        match events.poll_event().expect("an event") {
            InitiatorEvent::Established(s) => return *s,
            InitiatorEvent::Failed(e) => panic!("failed: {e}"),
            _ => {}
        }
    }
}

fn same_secrets(a: &Session, b: &Session) {
    assert_eq!(a.secrets.i2r.expose(), b.secrets.i2r.expose());
    assert_eq!(a.secrets.r2i.expose(), b.secrets.r2i.expose());
    assert_eq!(a.secrets.exporter.expose(), b.secrets.exporter.expose());
    assert_ne!(a.secrets.i2r.expose(), a.secrets.r2i.expose());
    assert_eq!(a.context, b.context);
    assert_eq!(a.first_stream, b.first_stream);
    assert_eq!(a.initiator_credential, b.initiator_credential);
    assert_eq!(a.responder_credential, b.responder_credential);
}

#[test]
fn first_contact_completes_in_two_round_trips() {
    let mut p = pair(DeferPolicy::Never);
    let mut cfg = p.initiator_cfg.clone();
    cfg.responder_key = None; // First Contact learns the key
    let mut ini =
        Initiator::first_contact(cfg, &mut p.rng, T0, addr(R), b"services?", b"hello").unwrap();
    let hello = ini.poll_transmit().unwrap();
    assert_eq!(hello.bytes.len(), 1200);
    let ResponderOutcome::Reply(challenge) =
        p.responder
            .handle_datagram(T0, addr(I), &hello.bytes, &mut p.rng)
    else {
        panic!("expected a Challenge")
    };
    assert!(challenge.bytes.len() <= 3 * hello.bytes.len());
    assert_eq!(p.responder.per_initiator_state(), 0);
    let t1 = T0 + Duration::from_millis(30);
    ini.handle_datagram(t1, addr(R), &challenge.bytes).unwrap();
    match ini.poll_event().unwrap() {
        InitiatorEvent::Challenge { payload, .. } => assert_eq!(payload, b"echo discard sink"),
        e => panic!("{e:?}"),
    }
    let i_session = established(&mut ini);
    assert!(
        !i_session.responder_authenticated,
        "First Contact learns an unauthenticated key"
    );
    let complete = ini.poll_transmit().unwrap();
    assert!(complete.bytes.len() >= 1200);
    let ResponderOutcome::Established { session, reply } =
        p.responder
            .handle_datagram(t1, addr(I), &complete.bytes, &mut p.rng)
    else {
        panic!("expected the responder to establish")
    };
    assert!(reply.is_none());
    assert_eq!(session.mode, Mode::FirstContact);
    assert_eq!(session.payload, b"hello");
    same_secrets(&i_session, &session);
    // A duplicate Complete is not redelivered.
    assert!(matches!(
        p.responder
            .handle_datagram(t1, addr(I), &complete.bytes, &mut p.rng),
        ResponderOutcome::Dropped(DropReason::Duplicate)
    ));
}

#[test]
fn immediate_completes_in_one_round_trip_with_early_data() {
    let mut p = pair(DeferPolicy::Never);
    let mut ini = Initiator::immediate(
        p.initiator_cfg.clone(),
        &mut p.rng,
        T0,
        addr(R),
        b"early request",
    )
    .unwrap();
    let exchange = ini.poll_transmit().unwrap();
    assert_eq!(exchange.bytes.len(), 1200);
    let ResponderOutcome::Established { session, reply } =
        p.responder
            .handle_datagram(T0, addr(I), &exchange.bytes, &mut p.rng)
    else {
        panic!("expected Established")
    };
    assert_eq!(session.payload, b"early request");
    assert!(session.early_data);
    let reply = reply.unwrap();
    assert!(reply.bytes.len() <= 3 * exchange.bytes.len());
    ini.handle_datagram(T0, addr(R), &reply.bytes).unwrap();
    let i_session = established(&mut ini);
    assert!(
        i_session.early_data,
        "the initiator learns its early data was accepted"
    );
    assert!(i_session.responder_authenticated);
    same_secrets(&i_session, &session);

    // The same Exchange replayed: no second completion (it would reseal the ResponderComplete
    // mezzanine under the same key and zero nonce), and no redelivery.
    //= docs/SPEC.md#exchange-replay
    //= type=test
    //# A responder MUST NOT complete the same InitiatorExchange twice
    assert!(matches!(
        p.responder
            .handle_datagram(T0, addr(I), &exchange.bytes, &mut p.rng),
        ResponderOutcome::Dropped(DropReason::Duplicate)
    ));
}

#[test]
fn deferred_completes_with_zero_responder_state_before_the_answer() {
    let mut p = pair(DeferPolicy::Always);
    let mut ini =
        Initiator::immediate(p.initiator_cfg.clone(), &mut p.rng, T0, addr(R), b"request").unwrap();
    let exchange = ini.poll_transmit().unwrap();
    let before = p.counting.counts();
    let ResponderOutcome::Reply(defer) =
        p.responder
            .handle_datagram(T0, addr(I), &exchange.bytes, &mut p.rng)
    else {
        panic!("expected a Defer")
    };
    let after = p.counting.counts();
    assert_eq!(
        after.dh, before.dh,
        "no X448 agreement before the cookie is answered"
    );
    assert_eq!(p.responder.per_initiator_state(), 0);
    ini.handle_datagram(T0, addr(R), &defer.bytes).unwrap();
    assert!(matches!(ini.poll_event(), Some(InitiatorEvent::Deferred)));
    let i_session = established(&mut ini);
    let complete = ini.poll_transmit().unwrap();
    let ResponderOutcome::Established { session, .. } =
        p.responder
            .handle_datagram(T0, addr(I), &complete.bytes, &mut p.rng)
    else {
        panic!("expected Established")
    };
    assert_eq!(session.mode, Mode::Deferred);
    assert_eq!(session.payload, b"request");
    assert!(!session.early_data);
    same_secrets(&i_session, &session);
}

#[test]
fn seeded_runs_are_byte_identical() {
    let run = || {
        let mut p = pair(DeferPolicy::Never);
        let mut ini =
            Initiator::immediate(p.initiator_cfg.clone(), &mut p.rng, T0, addr(R), b"x").unwrap();
        let x = ini.poll_transmit().unwrap().bytes;
        let ResponderOutcome::Established { reply, .. } =
            p.responder.handle_datagram(T0, addr(I), &x, &mut p.rng)
        else {
            panic!()
        };
        (x, reply.unwrap().bytes)
    };
    assert_eq!(run(), run());
}

fn ticket_keys() -> rud::handshake::ticket::TicketKeys {
    rud::handshake::ticket::TicketKeys {
        current: (1, rud::crypto::SecretBytes::new([7u8; 64])),
        previous: None,
    }
}

//= docs/SPEC.md#ticket-single-use
//= type=test
//# A host MUST accept a ticket at most once, and only a ticket bound to itself.
#[test]
fn ticket_opens_a_connection_to_another_host_once() {
    let mut p = pair(DeferPolicy::Never);
    // Host A issues; host B (another device key, same service ticket keys) redeems.
    let provider = p.initiator_cfg.provider.clone();
    let mut a_cfg = ResponderConfig::new(provider.clone(), X448Secret::generate(|b| p.rng.fill(b)));
    a_cfg.ticket_keys = Some(ticket_keys());
    a_cfg.host_id = b"host-a".to_vec();
    let mut host_a = Responder::new(a_cfg, T0 - Duration::from_secs(60)).unwrap();
    let mut b_cfg = ResponderConfig::new(provider.clone(), X448Secret::generate(|b| p.rng.fill(b)));
    b_cfg.ticket_keys = Some(ticket_keys());
    b_cfg.host_id = b"host-b".to_vec();
    let mut host_b = Responder::new(b_cfg, T0 - Duration::from_secs(60)).unwrap();

    let mut cfg = p.initiator_cfg.clone();
    cfg.responder_key = host_a.public_key().cloned();
    let mut ini = Initiator::immediate(cfg.clone(), &mut p.rng, T0, addr(R), b"hi").unwrap();
    let x = ini.poll_transmit().unwrap();
    let ResponderOutcome::Established {
        session: a_session,
        reply,
    } = host_a.handle_datagram(T0, addr(I), &x.bytes, &mut p.rng)
    else {
        panic!()
    };
    ini.handle_datagram(T0, addr(R), &reply.unwrap().bytes)
        .unwrap();
    let i_session = established(&mut ini);
    let ticket = host_a
        .issue_ticket(
            &a_session,
            T0,
            Duration::from_secs(3600),
            b"host-b",
            &mut p.rng,
        )
        .unwrap();
    let psk =
        rud::handshake::ticket::ticket_psk(&*provider, &i_session.secrets.resumption, &ticket)
            .unwrap();

    let b_addr = addr("198.51.100.8:21077");
    let t1 = T0 + Duration::from_secs(5);
    let issuer = i_session.responder_credential;
    let mut tini = Initiator::with_ticket(
        cfg.clone(),
        &mut p.rng,
        t1,
        b_addr,
        &ticket,
        issuer,
        psk.clone(),
        b"via ticket",
    )
    .unwrap();
    let tx = tini.poll_transmit().unwrap();
    let before = p.counting.counts();
    let ResponderOutcome::Established {
        session: b_session,
        reply,
    } = host_b.handle_datagram(t1, addr(I), &tx.bytes, &mut p.rng)
    else {
        panic!("host B refused the ticket")
    };
    // Only the responder's fresh ephemeral: one key generation and one DH (ee).
    let after = p.counting.counts();
    assert_eq!(after.dh - before.dh, 1);
    assert_eq!(b_session.mode, Mode::Ticket);
    //= docs/SPEC.md#ticket-rekey-owed
    //= type=test
    //# A ticketed connection MUST be marked as owing a forward-secrecy rekey.
    assert!(b_session.rekey_owed);
    assert_eq!(b_session.payload, b"via ticket");
    tini.handle_datagram(t1, b_addr, &reply.unwrap().bytes)
        .unwrap();
    let ti_session = established(&mut tini);
    assert!(ti_session.rekey_owed);
    same_secrets(&ti_session, &b_session);

    // A second use on the same host, and any use on another host, are refused.
    assert!(matches!(
        host_b.handle_datagram(t1, addr(I), &tx.bytes, &mut p.rng),
        ResponderOutcome::Refused { .. }
    ));
    let mut again =
        Initiator::with_ticket(cfg, &mut p.rng, t1, addr(R), &ticket, issuer, psk, b"x").unwrap();
    let ax = again.poll_transmit().unwrap();
    assert!(matches!(
        host_a.handle_datagram(t1, addr(I), &ax.bytes, &mut p.rng),
        ResponderOutcome::Refused { .. }
    ));
}

//= docs/SPEC.md#early-data-shared-register
//= type=test
//# Hosts that share a static key MUST share one strike register, or refuse early data.
#[test]
fn early_data_replayed_to_a_second_host_is_refused() {
    use std::sync::Mutex;
    let mut p = pair(DeferPolicy::Never);
    let provider = p.initiator_cfg.provider.clone();
    let key = X448Secret::generate(|b| p.rng.fill(b));
    let start = T0 - Duration::from_secs(60);
    let shared = Arc::new(Mutex::new(StrikeRegister::new(
        start,
        Duration::from_secs(10),
        1000,
    )));
    let host = |shared: Option<Arc<Mutex<StrikeRegister>>>, early: bool| {
        let mut cfg = ResponderConfig::new(provider.clone(), key.clone());
        cfg.shared_strike_register = shared;
        cfg.accept_early_data = early;
        Responder::new(cfg, start).unwrap()
    };
    let (mut a, mut b) = (host(Some(shared.clone()), true), host(Some(shared), true));
    let mut cfg = p.initiator_cfg.clone();
    cfg.responder_key = a.public_key().copied();
    let mut ini = Initiator::immediate(cfg, &mut p.rng, T0, addr(R), b"pay once").unwrap();
    let x = ini.poll_transmit().unwrap();
    let early = |r: &mut Responder, rng: &mut SeededEntropy| match r.handle_datagram(
        T0,
        addr(I),
        &x.bytes,
        rng,
    ) {
        ResponderOutcome::Established { session, .. } => (session.early_data, session.payload),
        other => panic!("{other:?}"),
    };
    assert_eq!(early(&mut a, &mut p.rng), (true, b"pay once".to_vec()));
    // The replay to the other host of the service completes, without the early data.
    assert_eq!(early(&mut b, &mut p.rng), (false, Vec::new()));
    // A host that cannot share the register refuses early data outright.
    let mut c = host(None, false);
    assert_eq!(early(&mut c, &mut p.rng), (false, Vec::new()));
}

#[test]
fn principal_credentials_travel_encrypted_to_the_application() {
    let mut p = pair(DeferPolicy::Never);
    let mut cfg = p.initiator_cfg.clone();
    let cred = PrincipalCredential {
        credential_type: 2,
        data: b"alice@example".to_vec(),
    };
    cfg.credentials = vec![cred.clone()];
    let mut ini = Initiator::immediate(cfg, &mut p.rng, T0, addr(R), b"req").unwrap();
    let x = ini.poll_transmit().unwrap();
    assert!(
        !x.bytes.windows(cred.data.len()).any(|w| w == cred.data),
        "a principal credential never travels in clear"
    );
    let ResponderOutcome::Established { session, .. } =
        p.responder
            .handle_datagram(T0, addr(I), &x.bytes, &mut p.rng)
    else {
        panic!()
    };
    assert_eq!(session.first_stream.credentials, vec![cred]);
}
