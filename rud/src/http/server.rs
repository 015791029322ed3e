//! The server: an HTTP/1.1 listener whose requests feed one endpoint (its driver is the UDP
//! binding's, over a [`Link`]) and whose responses carry what the endpoint sends back.
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use super::capture::{self, Exchange, HttpCapture};
use super::config::{HttpConfig, MEDIA_TYPE};
use super::error::HttpError;
use super::framing;
use super::link::{Link, Mailboxes, Packet};
use super::request::{Head, Reject, read_capped, validate};
use crate::udp::transport::Transport;
use crate::udp::{EndpointHandle, UdpConfig};

/// TCP connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 1024;
/// A client has this long to send its request head (slow-header clients hold no slot forever).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

struct Shared {
    http: HttpConfig,
    inbound: mpsc::Sender<Packet>,
    mailboxes: Arc<Mailboxes>,
    capture: Option<Arc<HttpCapture>>,
}

/// Listens on `addr` and serves `config.server` over HTTP. The returned endpoint's
/// `local_addr` is the listener's. With `config.pcap`, every exchange is captured as a TCP
/// connection carrying HTTP (see the module `capture`), with the secrets.
///
/// # Errors
/// Listening, the path, and the endpoint's configuration.
//= docs/SPEC.md#http-transactional-only
//# A server on an HTTP port MUST refuse a stream creation of an asynchronous stream, the handshake's first stream included, with StreamRefused.
pub async fn serve(
    addr: SocketAddr,
    mut config: UdpConfig,
    http: HttpConfig,
) -> Result<EndpointHandle, HttpError> {
    if !http.path.starts_with('/') {
        return Err(HttpError::Path(http.path));
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| HttpError::Bind { addr, source })?;
    config.endpoint.transactional_only = true;
    config.endpoint.connection.transactional_only = true;
    let (tx, rx) = mpsc::channel(http.max_queue.max(1));
    let mailboxes = Arc::new(Mailboxes::new(http.max_queue));
    let capture = capture::take(&mut config);
    let link = Link::server(local, rx, mailboxes.clone(), capture.clone());
    let endpoint = EndpointHandle::on_transport(Transport::Http(link), config)?;
    let shared = Arc::new(Shared {
        http,
        inbound: tx,
        mailboxes,
        capture,
    });
    tokio::spawn(accept(listener, shared));
    Ok(endpoint)
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        // The address the peer reached (the listener's may be unspecified), for captures.
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        if shared.inbound.is_closed() {
            // The endpoint shut down: nothing will answer.
            return;
        }
        let s = shared.clone();
        tokio::spawn(async move {
            let svc = {
                let s = s.clone();
                service_fn(move |req| handle(req, peer, local, s.clone()))
            };
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!("http connection from {peer}: {e}");
            }
            if let Some(c) = &s.capture {
                c.closed(peer, local);
            }
            drop(permit);
        });
    }
}

fn reply(status: hyper::StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if status.is_success() {
        r.headers_mut().insert(
            CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(MEDIA_TYPE),
        );
    }
    r.headers_mut().insert(
        CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    s: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match exchange(req, peer, local, &s).await {
        Ok(body) => reply(hyper::StatusCode::OK, body),
        Err(r) => {
            tracing::debug!("http request from {peer}: {r}");
            reply(r.status(), Vec::new())
        }
    })
}

/// One request: validate, read (capped), hand the packets in, and wait (bounded) for what the
/// endpoint sends back to this peer address.
async fn exchange(
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    s: &Shared,
) -> Result<Vec<u8>, Reject> {
    let at_request = capture::now();
    let headers = req.headers();
    let head = Head {
        method: req.method().as_str(),
        path: req.uri().path(),
        content_type: headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        content_length: headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    };
    validate(&head, &s.http.path, s.http.max_body)?;
    let body = read_capped(req.into_body(), s.http.max_body).await?;
    let packets = framing::decode(&body).map_err(|_| Reject::BadRequest)?;
    if s.inbound.capacity() < packets.len() {
        return Err(Reject::Overloaded);
    }
    for p in packets {
        //= docs/SPEC.md#http-address
        //# The server MUST give the endpoint the TCP peer address of the connection a request came on as the packet's source address.
        if s.inbound.try_send((peer, p.to_vec())).is_err() {
            return Err(Reject::Overloaded);
        }
    }
    //= docs/SPEC.md#http-response
    //# The response body MUST carry, in the same framing, the packets the endpoint has for the request's peer address, after waiting at most the configured time for the first of them.
    let deadline = tokio::time::Instant::now() + s.http.max_wait;
    loop {
        let notified = s.mailboxes.ready.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if s.mailboxes.has(peer) {
            // The rest of the endpoint's round (an acknowledgement, then the response).
            tokio::time::sleep(s.http.linger).await;
            break;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            break;
        }
    }
    let answer = s.mailboxes.take(peer, s.http.max_body);
    if let Some(c) = &s.capture {
        c.answered(Exchange {
            client: peer,
            server: local,
            path: s.http.path.clone(),
            at_request,
            request: body,
            at_response: capture::now(),
            response: answer.clone(),
        });
    }
    Ok(answer)
}
