//! Structured fuzzing of the key exchanges: an initiator and a responder, both on the insecure
//! provider so mutated messages get past the AEAD, driven by a sequence of operations (deliver,
//! mutate, replay, reorder, advance time). Invariants: nothing panics, the responder's
//! per-initiator state stays bounded by what was delivered, and no reply is ever larger than
//! three times the datagram that triggered it (docs/SPEC.md#amplification-3x).
// A panic here is an invariant failing: exactly what the fuzzer is meant to report.
#![allow(clippy::expect_used, clippy::panic)]
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::crypto::CryptoProvider;
use crate::crypto::insecure::InsecureFuzzProvider;
use crate::crypto::x448::X448Secret;
use crate::handshake::{
    DeferPolicy, Entropy, Initiator, InitiatorConfig, Responder, ResponderConfig, ResponderOutcome,
    SeededEntropy,
};

#[derive(Debug, Arbitrary)]
pub enum Mutation {
    None,
    Flip { at: u16, bit: u8 },
    Truncate { len: u16 },
    Overwrite { at: u16, bytes: Vec<u8> },
}

impl Mutation {
    fn apply(&self, mut b: Vec<u8>) -> Vec<u8> {
        match self {
            Mutation::None => {}
            Mutation::Flip { at, bit } => {
                let n = b.len().max(1);
                if let Some(x) = b.get_mut(usize::from(*at) % n) {
                    *x ^= 1 << (bit % 8);
                }
            }
            Mutation::Truncate { len } => b.truncate(usize::from(*len)),
            Mutation::Overwrite { at, bytes } => {
                for (k, v) in bytes.iter().enumerate() {
                    if let Some(x) = b.get_mut(usize::from(*at) + k) {
                        *x = *v;
                    }
                }
            }
        }
        b
    }
}

#[derive(Debug, Arbitrary)]
pub enum Op {
    /// Deliver the k-th datagram the initiator sent (mutated) to the responder.
    ToResponder {
        k: u8,
        mutation: Mutation,
        spoofed: bool,
    },
    /// Deliver the k-th reply of the responder (mutated) to the initiator.
    ToInitiator {
        k: u8,
        mutation: Mutation,
    },
    /// Raw bytes to either side.
    Raw {
        to_responder: bool,
        bytes: Vec<u8>,
    },
    Advance {
        secs: u8,
    },
    Timeout,
}

#[derive(Debug, Arbitrary)]
pub struct HandshakeInput {
    pub mode: u8,
    pub defer: bool,
    pub pin_wrong_key: bool,
    pub ops: Vec<Op>,
}

const T0: Duration = Duration::from_secs(1_800_000_000);

/// Entry point of the `handshake` target.
pub fn handshake(data: &[u8]) {
    let mut u = Unstructured::new(data);
    if let Ok(input) = HandshakeInput::arbitrary(&mut u) {
        run(&input);
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

/// Runs one sequence; panics only when an invariant breaks.
pub fn run(input: &HandshakeInput) {
    let p: Arc<dyn CryptoProvider> = Arc::new(InsecureFuzzProvider);
    let mut rng = SeededEntropy::new(b"fuzz handshake");
    let mut rcfg = ResponderConfig::new(p.clone(), X448Secret::generate(|b| rng.fill(b)));
    rcfg.defer = if input.defer {
        DeferPolicy::Always
    } else {
        DeferPolicy::Never
    };
    let Ok(mut responder) = Responder::new(rcfg, T0 - Duration::from_secs(60)) else {
        return;
    };
    let mut icfg = InitiatorConfig::new(p, X448Secret::generate(|b| rng.fill(b)));
    icfg.responder_key = if input.pin_wrong_key {
        Some(X448Secret::generate(|b| rng.fill(b)).public_key(&InsecureFuzzProvider))
    } else {
        responder.public_key().copied()
    };
    let (i_addr, r_addr) = (addr(40000), addr(21077));
    let mut now = T0;
    let started = match input.mode % 2 {
        0 => Initiator::first_contact(icfg, &mut rng, now, r_addr, b"q", b"request"),
        _ => Initiator::immediate(icfg, &mut rng, now, r_addr, b"request"),
    };
    let Ok(mut ini) = started else { return };
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut replies: Vec<Vec<u8>> = Vec::new();
    let mut delivered = 0usize;
    let drain = |ini: &mut Initiator, sent: &mut Vec<Vec<u8>>| {
        while let Some(t) = ini.poll_transmit() {
            sent.push(t.bytes);
        }
        while ini.poll_event().is_some() {}
    };
    drain(&mut ini, &mut sent);
    for op in input.ops.iter().take(64) {
        match op {
            Op::ToResponder {
                k,
                mutation,
                spoofed,
            } => {
                let Some(b) = pick(&sent, *k) else { continue };
                let b = mutation.apply(b.clone());
                let from = if *spoofed {
                    addr(50000 + u16::from(*k))
                } else {
                    i_addr
                };
                delivered += 1;
                respond(&mut responder, now, from, &b, &mut rng, &mut replies);
            }
            Op::ToInitiator { k, mutation } => {
                let Some(b) = pick(&replies, *k) else {
                    continue;
                };
                let _ = ini.handle_datagram(now, r_addr, &mutation.apply(b.clone()));
                drain(&mut ini, &mut sent);
            }
            Op::Raw {
                to_responder: true,
                bytes,
            } => {
                delivered += 1;
                respond(&mut responder, now, i_addr, bytes, &mut rng, &mut replies);
            }
            Op::Raw {
                to_responder: false,
                bytes,
            } => {
                let _ = ini.handle_datagram(now, r_addr, bytes);
                drain(&mut ini, &mut sent);
            }
            Op::Advance { secs } => now += Duration::from_secs(u64::from(*secs)),
            Op::Timeout => {
                ini.handle_timeout(now);
                drain(&mut ini, &mut sent);
            }
        }
        // Per-initiator state only grows by what was delivered.
        assert!(
            responder.per_initiator_state() <= 2 * delivered,
            "unbounded responder state"
        );
    }
}

fn pick(list: &[Vec<u8>], k: u8) -> Option<&Vec<u8>> {
    if list.is_empty() {
        None
    } else {
        list.get(usize::from(k) % list.len())
    }
}

fn respond(
    r: &mut Responder,
    now: Duration,
    from: SocketAddr,
    bytes: &[u8],
    rng: &mut dyn Entropy,
    replies: &mut Vec<Vec<u8>>,
) {
    let reply = match r.handle_datagram(now, from, bytes, rng) {
        ResponderOutcome::Reply(t) => Some(t),
        ResponderOutcome::Established { reply, .. } | ResponderOutcome::Refused { reply, .. } => {
            reply
        }
        ResponderOutcome::Dropped(_) => None,
    };
    if let Some(t) = reply {
        assert!(
            t.bytes.len() <= 3 * bytes.len(),
            "amplification: {} octets answered with {}",
            bytes.len(),
            t.bytes.len()
        );
        replies.push(t.bytes);
    }
}
