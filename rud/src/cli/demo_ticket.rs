//! Ticket resumption in `rud demo` over the HTTP binding (docs/SPEC.md 7.10): a first
//! connection to one host of the service receives a ticket on its first stream, which then
//! opens a connection to another host of the service without that host's key.
use std::time::{Duration, Instant};

use rud::capture::CaptureFile;
use rud::connection::StreamKind;
use rud::crypto::x448::X448Secret;
use rud::crypto::{SecretBytes, default_provider};
use rud::handshake::ticket::TicketKeys;
use rud::handshake::{Entropy, OsEntropy};
use rud::http::{EndpointHandle, HttpConfig};
use rud::service::ServiceHost;
use rud::udp::{ConnEvent, ConnectOptions, ServerConfig, Ticket, UdpConfig};

const HOST_ID: &[u8] = b"demo-http-host";

type Failure = Box<dyn std::error::Error>;

/// The issuing connection, over HTTP: Immediate to a host of the service that sends a ticket
/// naming [`HOST_ID`] on every connection it accepts; returns the ticket the connection
/// reported.
async fn issue(
    identity: &X448Secret,
    keys: &TicketKeys,
    pcap: Option<CaptureFile>,
) -> Result<Ticket, Failure> {
    let key = X448Secret::generate(|b| OsEntropy.fill(b));
    let public = key.public_key(&*default_provider());
    let mut s = ServerConfig::new(key, ServiceHost::with_builtins(None));
    s.keys_are_new = true;
    s.ticket_keys = Some(keys.clone());
    s.host_id = b"demo-issuer".to_vec();
    let mut scfg = UdpConfig::server(s);
    scfg.endpoint.ticket_lifetime = Some(Duration::from_secs(600));
    scfg.endpoint.ticket_host = Some(HOST_ID.to_vec());
    let loopback = super::demo_udp::LOOPBACK;
    let server = rud::http::serve(loopback, scfg, HttpConfig::default()).await?;
    let mut cfg = UdpConfig::client();
    cfg.pcap = pcap;
    cfg.identity = Some(identity.clone());
    let client = rud::http::client(cfg, HttpConfig::default())?;
    let result = async {
        let opts = ConnectOptions::immediate(public, "echo", b"ticket, please".to_vec())
            .timeout(Duration::from_secs(5));
        let conn = client.connect(server.local_addr(), opts).await?;
        let mut events = conn.events().ok_or("no event stream")?;
        conn.first_response().await?;
        let ticket = events
            .ticket(Duration::from_secs(5))
            .await
            .ok_or("the issuing host sent no ticket")?;
        conn.close().await?;
        Ok::<_, Failure>(ticket)
    }
    .await;
    client.shutdown().await?;
    server.shutdown().await?;
    result
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
    let ticket = issue(&identity, &keys, pcap.as_ref().map(CaptureFile::share)).await?;
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
