//! Tickets over an established connection (SPEC 7.10, draft 4.2): the responder seals one for
//! the initiator and sends it in a Ticket extension on the first stream; the initiator derives
//! the ticket's psk from the connection's resumption secret and reports it.
use std::time::Duration;

use super::Connection;
use super::event::{Event, StreamHandle};
use crate::crypto::SecretBytes;
use crate::crypto::x448::X448PublicKey;
use crate::handshake::ticket::{TicketKeys, seal, ticket_psk};
use crate::handshake::{HandshakeError, Role};

/// A ticket the peer issued on this connection: with it, [`crate::handshake::Initiator`] opens a
/// connection to the host the ticket names (SPEC 7.10) without that host's static key.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedTicket {
    /// The sealed ticket, as the Ticket extension of the redeeming Exchange carries it.
    pub ticket: Vec<u8>,
    /// The issuer's credential (the responder of this connection).
    pub issuer: X448PublicKey,
    /// psk = E(resumption, "rud1 ticket psk", key id || ticket id).
    pub psk: SecretBytes<64>,
    /// How long the issuer says the ticket is good for.
    pub lifetime: Duration,
}

impl std::fmt::Debug for IssuedTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTicket")
            .field("len", &self.ticket.len())
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Responder: seals a ticket for the initiator, good at the host `host_id` until
    /// `unix_now + lifetime`, and sends it on the first stream (resent until acknowledged).
    ///
    /// # Errors
    /// On the initiator ([`HandshakeError::Invalid`]), or a host id that is empty or longer
    /// than 32 octets, or a cryptographic failure.
    pub fn send_ticket(
        &mut self,
        keys: &TicketKeys,
        host_id: &[u8],
        unix_now: Duration,
        lifetime: Duration,
    ) -> Result<(), HandshakeError> {
        if self.role != Role::Responder || !self.is_open() {
            return Err(HandshakeError::Invalid {
                rule: "ticket-issuer",
                message: "only the responder of an open connection issues tickets".into(),
            });
        }
        let (initiator, responder) = self.credentials;
        let ticket = seal(
            &*self.provider,
            keys,
            &mut *self.entropy,
            &self.resumption,
            &initiator,
            &responder,
            host_id,
            unix_now.saturating_add(lifetime).as_secs(),
        )?;
        if let Some(s) = self.streams.get_mut(&StreamHandle(0)) {
            s.control.ticket = Some((lifetime.as_secs(), ticket));
        }
        Ok(())
    }

    /// Initiator: a Ticket extension arrived (authenticated) on the first stream.
    pub(super) fn on_ticket(&mut self, lifetime_s: u64, ticket: &[u8]) {
        if self.role != Role::Initiator {
            return;
        }
        let Ok(psk) = ticket_psk(&*self.provider, &self.resumption, ticket) else {
            return;
        };
        self.events.push_back(Event::Ticket(IssuedTicket {
            ticket: ticket.to_vec(),
            issuer: self.credentials.1,
            psk,
            lifetime: Duration::from_secs(lifetime_s),
        }));
    }
}
