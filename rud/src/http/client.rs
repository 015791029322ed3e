//! The client: an initiator endpoint whose packets are posted to the server, one request in
//! flight per server (so every request leaves from the same pooled TCP connection, one peer
//! address), and which polls with empty bodies while a peer may still have data for it.
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::CONTENT_TYPE;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{HttpConnector, HttpInfo};
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::capture::{self, Exchange, HttpCapture};
use super::config::{HttpConfig, MEDIA_TYPE};
use super::error::HttpError;
use super::framing;
use super::link::{Link, Packet};
use crate::udp::transport::Transport;
use crate::udp::{EndpointHandle, UdpConfig};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// An initiator endpoint over HTTP: `connect(addr, ...)` posts to `http://addr{path}`. With
/// `config.pcap`, every exchange is captured as a TCP connection carrying HTTP, with the
/// secrets.
///
/// # Errors
/// The path and the endpoint's configuration.
pub fn client(mut config: UdpConfig, http: HttpConfig) -> Result<EndpointHandle, HttpError> {
    if !http.path.starts_with('/') {
        return Err(HttpError::Path(http.path));
    }
    let (in_tx, in_rx) = mpsc::channel(http.max_queue.max(1));
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let local = SocketAddr::from(([0, 0, 0, 0], 0));
    let capture = capture::take(&mut config);
    let link = Link::client(local, in_rx, out_tx, capture.clone());
    let endpoint = EndpointHandle::on_transport(Transport::Http(link), config)?;
    tokio::spawn(run(out_rx, in_tx, http, capture));
    Ok(endpoint)
}

struct Peer {
    queue: VecDeque<Vec<u8>>,
    busy: bool,
    delay: Duration,
    next_poll: Instant,
    last_active: Instant,
}

async fn run(
    mut out: mpsc::UnboundedReceiver<Packet>,
    inbound: mpsc::Sender<Packet>,
    http: HttpConfig,
    capture: Option<Arc<HttpCapture>>,
) {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build_http();
    let mut peers: HashMap<SocketAddr, Peer> = HashMap::new();
    let mut inflight: JoinSet<(SocketAddr, bool)> = JoinSet::new();
    loop {
        let now = Instant::now();
        for (&dest, p) in &mut peers {
            //= docs/SPEC.md#http-poll
            //# A client with nothing to send MUST NOT poll more often than its minimum delay, MUST back off while polls come back empty, and MUST stop polling a peer with which nothing was exchanged for its polling period.
            let poll = now >= p.next_poll && now.duration_since(p.last_active) < http.poll_for;
            if p.busy || (p.queue.is_empty() && !poll) {
                continue;
            }
            let mut body = Vec::new();
            while let Some(pk) = p.queue.front() {
                if !body.is_empty() && body.len() + pk.len() + 2 > http.max_body {
                    break;
                }
                if let Some(pk) = p.queue.pop_front() {
                    framing::push(&mut body, &pk);
                }
            }
            p.busy = true;
            inflight.spawn(post(
                client.clone(),
                Target {
                    dest,
                    path: http.path.clone(),
                    max: http.max_body,
                },
                body,
                inbound.clone(),
                capture.clone(),
            ));
        }
        peers.retain(|_, p| {
            p.busy || !p.queue.is_empty() || now.duration_since(p.last_active) < http.poll_for
        });
        let next = peers
            .values()
            .filter(|p| !p.busy)
            .map(|p| p.next_poll)
            .min();
        tokio::select! {
            m = out.recv() => {
                let Some((dest, bytes)) = m else { break };
                let p = peers.entry(dest).or_insert_with(|| Peer {
                    queue: VecDeque::new(),
                    busy: false,
                    delay: http.poll_min,
                    next_poll: now,
                    last_active: now,
                });
                if p.queue.len() >= http.max_queue {
                    p.queue.pop_front();
                }
                p.queue.push_back(bytes);
                p.last_active = Instant::now();
            }
            Some(r) = inflight.join_next(), if !inflight.is_empty() => {
                if let Ok((dest, active)) = r && let Some(p) = peers.get_mut(&dest) {
                    let now = Instant::now();
                    p.busy = false;
                    if active {
                        p.delay = http.poll_min;
                        p.last_active = now;
                    } else {
                        p.delay = p.delay.saturating_mul(2).min(http.poll_max);
                    }
                    p.next_poll = now + p.delay;
                }
            }
            () = tokio::time::sleep_until(next.unwrap_or(now)), if next.is_some() => {}
        }
    }
}

/// Where one POST goes.
struct Target {
    dest: SocketAddr,
    path: String,
    /// The response body cap.
    max: usize,
}

/// One POST; the response's packets go to the endpoint as if `dest` sent them. True when
/// packets went either way. Failures are losses: recovery (or the handshake) resends.
async fn post(
    client: HttpClient,
    target: Target,
    body: Vec<u8>,
    inbound: mpsc::Sender<Packet>,
    capture: Option<Arc<HttpCapture>>,
) -> (SocketAddr, bool) {
    let Target { dest, path, max } = target;
    let sent = !body.is_empty();
    let at_request = capture::now();
    let request = Bytes::from(body);
    let Ok(req) = Request::post(format!("http://{dest}{path}"))
        .header(CONTENT_TYPE, MEDIA_TYPE)
        .body(Full::new(request.clone()))
    else {
        return (dest, sent);
    };
    let resp = match client.request(req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("post to {dest}: {e}");
            // Do not spin on a dead server: the back-off applies.
            return (dest, false);
        }
    };
    if !resp.status().is_success() {
        tracing::debug!("post to {dest}: {}", resp.status());
        return (dest, false);
    }
    // The TCP connection the request went on (the connector reports it), for captures.
    let tcp = resp
        .extensions()
        .get::<HttpInfo>()
        .map(|i| (i.local_addr(), i.remote_addr()));
    let Ok(collected) = Limited::new(resp.into_body(), max).collect().await else {
        return (dest, sent);
    };
    let bytes = collected.to_bytes();
    if let (Some(c), Some((client, server))) = (&capture, tcp) {
        c.posted(Exchange {
            client,
            server,
            path,
            at_request,
            request: request.to_vec(),
            at_response: capture::now(),
            response: bytes.to_vec(),
        });
    }
    let Ok(packets) = framing::decode(&bytes) else {
        return (dest, sent);
    };
    let got = !packets.is_empty();
    for p in packets {
        let _ = inbound.send((dest, p.to_vec())).await;
    }
    (dest, sent || got)
}
