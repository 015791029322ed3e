//! Tickets (draft 4.2; docs/SPEC.md section 7.10): a responder seals, under a key shared by the
//! hosts of its service, what another host needs to accept a connection from the holder without
//! the responder's static key: the peer identities, an expiry, the host it is for, and a secret
//! derived from the issuing connection's resumption secret. Tickets are bound to one host and
//! single use on it; a ticketed connection still mixes a fresh ephemeral-ephemeral DH before any
//! non-early data, and owes a forward-secrecy rekey with the host's device key.
use std::collections::HashMap;
use std::time::Duration;

use super::HandshakeError;
use super::entropy::Entropy;
use super::schedule;
use crate::crypto::hkdf::ChainingKey;
use crate::crypto::x448::X448PublicKey;
use crate::crypto::{CryptoError, CryptoProvider, SecretBytes};

pub const LABEL_TICKET_KEY: &[u8] = b"rud1 ticket key";
pub const LABEL_TICKET_PSK: &[u8] = b"rud1 ticket psk";
const TICKET_VERSION: u8 = 1;
const ID_LEN: usize = 16;
/// Longest host identifier a ticket carries.
pub const MAX_HOST_ID: usize = 32;

/// The ticket-sealing keys of a service: the current one and, during rotation, the previous.
/// Never written to a key log.
#[derive(Clone)]
pub struct TicketKeys {
    pub current: (u8, SecretBytes<64>),
    pub previous: Option<(u8, SecretBytes<64>)>,
}

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKeys")
            .field("current", &self.current.0)
            .finish()
    }
}

impl TicketKeys {
    fn key(&self, id: u8) -> Option<&SecretBytes<64>> {
        if self.current.0 == id {
            return Some(&self.current.1);
        }
        self.previous
            .as_ref()
            .filter(|(pid, _)| *pid == id)
            .map(|(_, k)| k)
    }
}

/// What a ticket says, once opened.
#[derive(Debug)]
pub struct TicketContents {
    pub id: [u8; ID_LEN],
    pub expiry_s: u64,
    pub host_id: Vec<u8>,
    pub initiator: X448PublicKey,
    pub issuer: X448PublicKey,
    pub psk: SecretBytes<64>,
}

/// psk = E(resumption, "rud1 ticket psk", ticket id): both ends of the issuing connection can
/// compute it; the ticket carries it sealed for the other hosts.
pub fn ticket_psk(
    p: &dyn CryptoProvider,
    resumption: &SecretBytes<64>,
    ticket: &[u8],
) -> Result<SecretBytes<64>, HandshakeError> {
    let id = ticket
        .get(1..1 + ID_LEN)
        .ok_or(CryptoError::AuthenticationFailed)?;
    let ck = ChainingKey::from_secret(resumption.clone());
    Ok(ck.expand(p, LABEL_TICKET_PSK, id)?)
}

/// Seals a ticket: key id (1) || ticket id (16) || AES-256-GCM(K_tk, 0, AAD = key id || ticket id,
/// plaintext) || tag, where K_tk = E(service key, "rud1 ticket key", ticket id) is unique per
/// ticket, so the zero nonce is never reused.
#[allow(clippy::too_many_arguments)]
pub fn seal(
    p: &dyn CryptoProvider,
    keys: &TicketKeys,
    rng: &mut dyn Entropy,
    resumption: &SecretBytes<64>,
    initiator: &X448PublicKey,
    issuer: &X448PublicKey,
    host_id: &[u8],
    expiry_s: u64,
) -> Result<Vec<u8>, HandshakeError> {
    if host_id.is_empty() || host_id.len() > MAX_HOST_ID {
        return Err(HandshakeError::Invalid {
            rule: "ticket-host-bound",
            message: "a ticket names exactly one host (1 to 32 octets)".into(),
        });
    }
    let mut id = [0u8; ID_LEN];
    rng.fill(&mut id);
    let mut out = vec![keys.current.0];
    out.extend_from_slice(&id);
    let psk = ticket_psk(p, resumption, &out)?;
    let mut plain = vec![TICKET_VERSION];
    plain.extend_from_slice(&expiry_s.to_be_bytes());
    plain.push(host_id.len() as u8);
    plain.extend_from_slice(host_id);
    plain.extend_from_slice(initiator.as_bytes());
    plain.extend_from_slice(issuer.as_bytes());
    plain.extend_from_slice(psk.expose());
    let k: SecretBytes<32> =
        ChainingKey::from_secret(keys.current.1.clone()).expand(p, LABEL_TICKET_KEY, &id)?;
    let aad = out.clone();
    schedule::seal_section(p, &k, &aad, &plain, &mut out)?;
    Ok(out)
}

/// Opens a ticket; every failure looks the same to the caller's peer.
pub fn open(
    p: &dyn CryptoProvider,
    keys: &TicketKeys,
    ticket: &[u8],
) -> Result<TicketContents, HandshakeError> {
    let bad = || HandshakeError::Crypto(CryptoError::AuthenticationFailed);
    let (head, sealed) = ticket.split_at_checked(1 + ID_LEN).ok_or_else(bad)?;
    let (kid, id) = head.split_first().ok_or_else(bad)?;
    let key = keys.key(*kid).ok_or_else(bad)?;
    let k: SecretBytes<32> =
        ChainingKey::from_secret(key.clone()).expand(p, LABEL_TICKET_KEY, id)?;
    let plain = schedule::open_section(p, &k, head, sealed)?;
    let mut r = plain.as_slice();
    let mut take = |n: usize| -> Result<&[u8], HandshakeError> {
        let (a, b) = r.split_at_checked(n).ok_or_else(bad)?;
        r = b;
        Ok(a)
    };
    if take(1)? != [TICKET_VERSION] {
        return Err(bad());
    }
    let expiry_s = u64::from_be_bytes(take(8)?.try_into().map_err(|_| bad())?);
    let host_len = usize::from(*take(1)?.first().ok_or_else(bad)?);
    let host_id = take(host_len)?.to_vec();
    let initiator = X448PublicKey::from_bytes(take(56)?)?;
    let issuer = X448PublicKey::from_bytes(take(56)?)?;
    let psk = SecretBytes::from_slice(take(64)?).ok_or_else(bad)?;
    Ok(TicketContents {
        id: id.try_into().map_err(|_| bad())?,
        expiry_s,
        host_id,
        initiator,
        issuer,
        psk,
    })
}

/// Ticket ids already redeemed on this host, kept until the ticket expires.
#[derive(Debug, Default)]
pub struct RedeemedTickets {
    seen: HashMap<[u8; ID_LEN], u64>,
    capacity: usize,
}

impl RedeemedTickets {
    pub fn new(capacity: usize) -> Self {
        RedeemedTickets {
            seen: HashMap::new(),
            capacity,
        }
    }

    /// Records a redemption; false if the ticket was already used (or the register is full of
    /// live entries: fail closed).
    //= docs/SPEC.md#ticket-single-use
    //# A host MUST accept a ticket at most once, and only a ticket bound to itself.
    pub fn redeem(&mut self, now: Duration, id: &[u8; ID_LEN], expiry_s: u64) -> bool {
        let now_s = now.as_secs();
        if self.seen.get(id).is_some_and(|exp| *exp >= now_s) {
            return false;
        }
        if self.seen.len() >= self.capacity {
            self.seen.retain(|_, exp| *exp >= now_s);
            if self.seen.len() >= self.capacity {
                return false;
            }
        }
        self.seen.insert(*id, expiry_s);
        true
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}
