//! Ticket resumption in `rud demo` over the HTTP binding (docs/SPEC.md 7.10). No connection
//! hands a ticket to its initiator over the wire yet, so the issuing connection's key exchange
//! runs in memory (sans-IO, as in the first part of the demo); the ticket then opens a
//! connection to another host of the service, served over HTTP.
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rud::capture::CaptureFile;
use rud::connection::StreamKind;
use rud::crypto::x448::X448Secret;
use rud::crypto::{SecretBytes, default_provider};
use rud::handshake::ticket::{TicketKeys, ticket_psk};
use rud::handshake::{
    Entropy, Initiator, InitiatorConfig, InitiatorEvent, OsEntropy, Responder, ResponderConfig,
    ResponderOutcome,
};
use rud::http::{EndpointHandle, HttpConfig};
use rud::service::ServiceHost;
use rud::udp::{ConnEvent, ConnectOptions, ServerConfig, Ticket, UdpConfig};

const HOST_ID: &[u8] = b"demo-http-host";

type Failure = Box<dyn std::error::Error>;

/// The issuing connection's handshake, in memory: Immediate with a responder holding the
/// service's ticket keys, which issues a ticket for [`HOST_ID`].
fn issue(identity: &X448Secret, keys: &TicketKeys) -> Result<Ticket, Failure> {
    let p = default_provider();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let mut rng = OsEntropy;
    let mut rcfg = ResponderConfig::new(p.clone(), X448Secret::generate(|b| OsEntropy.fill(b)));
    rcfg.ticket_keys = Some(keys.clone());
    rcfg.host_id = b"demo-issuer".to_vec();
    let mut issuer = Responder::new(rcfg, now.saturating_sub(Duration::from_secs(60)))?;
    let mut icfg = InitiatorConfig::new(p.clone(), identity.clone());
    icfg.responder_key = issuer.public_key().copied();
    let (i_addr, r_addr): (SocketAddr, SocketAddr) =
        ("127.0.0.1:40000".parse()?, "127.0.0.1:40001".parse()?);
    let mut ini = Initiator::immediate(icfg, &mut rng, now, r_addr, b"first")?;
    let x = ini.poll_transmit().ok_or("the initiator sent nothing")?;
    let ResponderOutcome::Established { session, reply } =
        issuer.handle_datagram(now, i_addr, &x.bytes, &mut rng)
    else {
        return Err("the issuer did not complete the Exchange".into());
    };
    let reply = reply.ok_or("no ResponderComplete")?;
    ini.handle_datagram(now, r_addr, &reply.bytes)?;
    let mine = loop {
        match ini.poll_event().ok_or("the initiator did not finish")? {
            InitiatorEvent::Established(s) => break *s,
            InitiatorEvent::Failed(e) => return Err(e.into()),
            _ => {}
        }
    };
    let ticket = issuer.issue_ticket(&session, now, Duration::from_secs(600), HOST_ID, &mut rng)?;
    let psk = ticket_psk(&*p, &mine.secrets, &ticket)?;
    Ok(Ticket {
        ticket,
        issuer: mine.responder_credential,
        psk,
    })
}

/// Issues a ticket, redeems it at a host served over HTTP, and checks the answer and the owed
/// rekey; returns the line to print.
pub async fn run(pcap: Option<CaptureFile>) -> Result<String, Failure> {
    let mut key = [0u8; 64];
    OsEntropy.fill(&mut key);
    let keys = TicketKeys {
        current: (1, SecretBytes::new(key)),
        previous: None,
    };
    let identity = X448Secret::generate(|b| OsEntropy.fill(b));
    let ticket = issue(&identity, &keys)?;
    let host = X448Secret::generate(|b| OsEntropy.fill(b));
    let host_public = host.public_key(&*default_provider());
    let mut s = ServerConfig::new(host, ServiceHost::with_builtins(None));
    s.keys_are_new = true;
    s.ticket_keys = Some(keys);
    s.host_id = HOST_ID.to_vec();
    let loopback = super::demo_udp::LOOPBACK;
    let server = rud::http::serve(loopback, UdpConfig::server(s), HttpConfig::default()).await?;
    let mut cfg = UdpConfig::client();
    cfg.pcap = pcap;
    cfg.identity = Some(identity);
    cfg.endpoint.connection.peer_device_key = Some(host_public);
    let client = rud::http::client(cfg, HttpConfig::default())?;
    let result = redeem(&client, &server, ticket).await;
    client.shutdown().await?;
    server.shutdown().await?;
    result
}

async fn redeem(
    client: &EndpointHandle,
    server: &EndpointHandle,
    ticket: Ticket,
) -> Result<String, Failure> {
    let start = Instant::now();
    let first = super::demo_udp::sample(1000, 3);
    let opts =
        ConnectOptions::ticket(ticket, "echo", first.clone()).timeout(Duration::from_secs(5));
    let conn = client.connect(server.local_addr(), opts).await?;
    let connected = start.elapsed();
    let mut events = conn.events().ok_or("no event stream")?;
    let early = conn.info().early_data_accepted;
    if conn.first_response().await? != first {
        return Err("the echo differs".into());
    }
    let rekeyed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = events.next().await {
            if let ConnEvent::Rekeyed { epoch } = e {
                return Some(epoch);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or("the rekey the ticket owes was not confirmed")?;
    let s = conn.open(StreamKind::Transactional, "echo").await?;
    let big = super::demo_udp::sample(32 * 1024, 7);
    if conn.request(s, big.clone()).await? != big {
        return Err("the echo differs".into());
    }
    conn.close().await?;
    Ok(format!(
        "ticket in {:.1} ms (a ticket issued by another host of the service{}); the owed rekey \
         with the host's key confirmed (epoch {rekeyed});\n      echo answered the handshake's \
         request and a 32 KiB request after it",
        connected.as_secs_f64() * 1e3,
        if early {
            ", the first message as 0-RTT early data"
        } else {
            ""
        }
    ))
}
