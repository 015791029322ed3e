//! What a UDP endpoint is built from, and what a connection attempt asks for.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::capture::CaptureFile;
use crate::connection::StreamKind;
use crate::crypto::CryptoProvider;
use crate::crypto::keylog::KeyLog;
use crate::crypto::x448::{X448PublicKey, X448Secret};
use crate::endpoint::EndpointConfig;
use crate::handshake::DeferPolicy;
use crate::handshake::ticket::TicketKeys;
use crate::service::ServiceHost;

/// The responder side of an endpoint: its keys and the services it runs.
pub struct ServerConfig {
    /// Device keys: the first is presented in Challenges; every one is accepted by key id.
    pub keys: Vec<X448Secret>,
    /// When to answer an Exchange with a Defer (a stateless challenge) instead of at once.
    pub defer: DeferPolicy,
    /// The service's ticket keys, if this host issues or accepts tickets.
    pub ticket_keys: Option<TicketKeys>,
    /// This host's identifier: tickets are accepted only when they name it (empty: none is).
    pub host_id: Vec<u8>,
    /// What answers the streams peers open (`echo`, `discard`, `sink`, or the application's).
    pub services: ServiceHost,
    /// The keys were generated for this run, so no Exchange to them can predate it: early
    /// data is accepted at once. Otherwise the strike register refuses early data for its
    /// first two windows (20 s by default) after start, since an earlier process with the
    /// same keys may have accepted an Exchange that an attacker now replays (SPEC 7.5).
    pub keys_are_new: bool,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("keys", &self.keys.len())
            .field("defer", &self.defer)
            .field("services", &self.services)
            .field("keys_are_new", &self.keys_are_new)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// A responder with one key serving `services`, never deferring.
    pub fn new(key: X448Secret, services: ServiceHost) -> Self {
        Self {
            keys: vec![key],
            defer: DeferPolicy::Never,
            ticket_keys: None,
            host_id: Vec::new(),
            services,
            keys_are_new: false,
        }
    }
}

/// Everything a [`super::EndpointHandle`] is built from (on either binding).
pub struct UdpConfig {
    /// Limits of the endpoint and its connections.
    pub endpoint: EndpointConfig,
    /// The cryptographic provider.
    pub provider: Arc<dyn CryptoProvider>,
    /// This endpoint's device key as an initiator (a fresh one when `None`).
    pub identity: Option<X448Secret>,
    /// Accept connections too.
    pub server: Option<ServerConfig>,
    /// Where secrets are logged (the handshakes' and every rekey's).
    pub keylog: Option<Arc<dyn KeyLog>>,
    /// Write every datagram sent and received here, with the secrets in Decryption Secrets
    /// Blocks (the key log's text as it grows).
    pub pcap: Option<CaptureFile>,
    /// Write one qlog file per connection into this directory.
    pub qlog_dir: Option<PathBuf>,
    /// How long [`super::EndpointHandle::shutdown`] waits for connections to close.
    pub shutdown_grace: Duration,
}

impl std::fmt::Debug for UdpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpConfig")
            .field("endpoint", &self.endpoint)
            .field("server", &self.server)
            .field("pcap", &self.pcap.as_ref().map(|c| c.path().to_owned()))
            .field("qlog_dir", &self.qlog_dir)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

impl UdpConfig {
    /// An initiator-only endpoint with the default limits and provider.
    pub fn client() -> Self {
        Self {
            endpoint: EndpointConfig::default(),
            provider: crate::crypto::default_provider(),
            identity: None,
            server: None,
            keylog: None,
            pcap: None,
            qlog_dir: None,
            shutdown_grace: Duration::from_secs(2),
        }
    }

    /// An endpoint that also accepts connections and serves `server.services`.
    pub fn server(server: ServerConfig) -> Self {
        Self {
            server: Some(server),
            ..Self::client()
        }
    }
}

/// Which key exchange a connection attempt starts (a responder may still turn an Immediate
/// exchange into Deferred).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectMode {
    /// First Contact: learns the responder's key if none is given (unauthenticated then).
    FirstContact,
    /// Immediate, with the first message as 0-RTT early data: needs the responder's key.
    Immediate,
}

/// A ticket (docs/SPEC.md 7.10) that opens a connection to the host it names without that
/// host's key: the sealed ticket, the credential of the responder that issued it, and the psk
/// the issuing connection derived for it; a connection receives one as
/// [`super::ConnEvent::Ticket`]. The connection that redeems it must use the initiator identity
/// the ticket was issued to ([`UdpConfig::identity`]), and it owes a forward-secrecy rekey with
/// the host's device key, which the initiator needs as
/// `UdpConfig.endpoint.connection.peer_device_key`.
pub use crate::connection::IssuedTicket as Ticket;

/// What [`super::EndpointHandle::connect`] opens.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub mode: ConnectMode,
    /// The responder's key: required for Immediate; with First Contact a Challenge presenting
    /// another key aborts the handshake.
    pub responder_key: Option<X448PublicKey>,
    /// The first stream's service and kind.
    pub service: String,
    pub kind: StreamKind,
    /// The first stream's first message (carried by the handshake).
    pub first_message: Vec<u8>,
    /// First Contact's plaintext query (the responder answers it unauthenticated).
    pub hello: Vec<u8>,
    /// Give up the handshake after about this long (resends back off from 250 ms).
    pub timeout: Duration,
    /// Redeem this ticket (an Exchange in ticket mode, the first message as early data)
    /// instead of running `mode`.
    pub ticket: Option<Ticket>,
}

impl ConnectOptions {
    /// First Contact on a transactional stream to `service`, learning the responder's key.
    pub fn first_contact(service: &str, first_message: Vec<u8>) -> Self {
        Self {
            mode: ConnectMode::FirstContact,
            responder_key: None,
            service: service.to_owned(),
            kind: StreamKind::Transactional,
            first_message,
            hello: Vec::new(),
            timeout: Duration::from_secs(10),
            ticket: None,
        }
    }

    /// A ticketed Exchange on a transactional stream to `service`, the first message as early
    /// data protected by the ticket's psk.
    pub fn ticket(ticket: Ticket, service: &str, first_message: Vec<u8>) -> Self {
        Self {
            mode: ConnectMode::Immediate,
            ticket: Some(ticket),
            ..Self::first_contact(service, first_message)
        }
    }

    /// Immediate on a transactional stream to `service`, the first message as early data.
    pub fn immediate(key: X448PublicKey, service: &str, first_message: Vec<u8>) -> Self {
        Self {
            mode: ConnectMode::Immediate,
            responder_key: Some(key),
            ..Self::first_contact(service, first_message)
        }
    }

    /// The same, on a stream of `kind`.
    #[must_use]
    pub fn kind(mut self, kind: StreamKind) -> Self {
        self.kind = kind;
        self
    }

    /// The same, giving up after `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The first resend delay and the number of sends that fit in `timeout` (at least 2).
    pub(crate) fn retransmits(&self) -> (Duration, u32) {
        let first = Duration::from_millis(250);
        let mut attempts = 1u32;
        let mut total = first;
        while attempts < 16 {
            let next = first.saturating_mul(1 << attempts);
            if total.saturating_add(next) > self.timeout {
                break;
            }
            total = total.saturating_add(next);
            attempts += 1;
        }
        (first, attempts.max(2))
    }
}
