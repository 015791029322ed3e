//! The application's side: [`EndpointHandle`] and [`ConnectionHandle`] send commands to the
//! driver task and await its answers; events arrive on an [`EventStream`].
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::command::{Answer, Command, Connected, Reply};
use super::config::{ConnectOptions, UdpConfig};
use super::driver;
use super::error::UdpError;
use crate::connection::recovery::PathMetrics;
use crate::connection::{CloseReason, ConnectionCounters, StreamHandle, StreamKind, StreamStats};
use crate::crypto::x448::X448PublicKey;
use crate::endpoint::ConnectionId;
use crate::handshake::Mode;

/// What happened on a connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// The peer created a stream.
    StreamOpened {
        stream: StreamHandle,
        service: String,
        kind: StreamKind,
    },
    /// The peer accepted a stream this end opened.
    StreamAccepted { stream: StreamHandle },
    /// The peer refused a stream this end opened.
    StreamRefused { stream: StreamHandle, code: u64 },
    /// A message no pending request was waiting for (on a stream the peer sends on).
    Message {
        stream: StreamHandle,
        id: u64,
        bytes: Vec<u8>,
    },
    StreamClosed {
        stream: StreamHandle,
        code: u64,
        reason: String,
        by_peer: bool,
    },
    /// A connection forward-secrecy rekey was confirmed.
    Rekeyed { epoch: u32 },
    /// The responder issued a ticket on this connection (SPEC 7.10).
    Ticket(super::Ticket),
    /// The peer's address changed.
    PathChanged { from: SocketAddr, to: SocketAddr },
    /// The connection ended; nothing follows.
    Closed(CloseReason),
}

/// A connection's events as an async stream: `next().await`, or `poll_next` to adapt it to
/// any `Stream` trait.
#[derive(Debug)]
pub struct EventStream(mpsc::UnboundedReceiver<ConnEvent>);

impl EventStream {
    /// The next event; `None` once the connection is gone and every event was read.
    pub async fn next(&mut self) -> Option<ConnEvent> {
        self.0.recv().await
    }

    /// Waits up to `wait` for a ticket from the responder (SPEC 7.10), passing over other
    /// events; `None` when none came in time or the connection ended first.
    pub async fn ticket(&mut self, wait: std::time::Duration) -> Option<super::Ticket> {
        tokio::time::timeout(wait, async {
            while let Some(e) = self.next().await {
                if let ConnEvent::Ticket(t) = e {
                    return Some(t);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }

    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<ConnEvent>> {
        self.0.poll_recv(cx)
    }
}

/// What the handshake established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    /// The key exchange that ran (Deferred when the responder deferred an Immediate one).
    pub mode: Mode,
    /// The responder's key: the one given, or the one learned by First Contact.
    pub responder_key: Option<X448PublicKey>,
    /// False after First Contact without a pinned key: the key was learned unauthenticated.
    pub authenticated: bool,
    /// Immediate: the responder took the first message as 0-RTT early data (if not, the
    /// driver sent it again once connected).
    pub early_data_accepted: bool,
    /// First Contact: the responder's plaintext answer to the Hello (unauthenticated).
    pub hello_answer: Vec<u8>,
}

/// A snapshot of a connection's path and counters.
#[derive(Debug, Clone)]
pub struct ConnectionMetrics {
    /// The primary path's RTT, loss and volume.
    pub path: PathMetrics,
    /// Every path, the primary first, each with its own congestion window (SPEC 5.6).
    pub paths: Vec<crate::connection::PathInfo>,
    pub counters: ConnectionCounters,
    pub congestion_window: u64,
    pub bytes_in_flight: u64,
}

/// Counters of the whole endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointMetrics {
    /// Connections held now.
    pub connections: usize,
    pub datagrams_received: u64,
    pub datagrams_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// Sends the socket refused (counted as losses; recovery resends).
    pub send_errors: u64,
    pub recv_errors: u64,
    /// Connections this endpoint accepted / opened.
    pub accepted: u64,
    pub opened: u64,
    pub handshakes_failed: u64,
    /// Handshakes refused by the connection limits.
    pub refused: u64,
}

async fn call<T>(
    tx: &mpsc::UnboundedSender<Command>,
    make: impl FnOnce(Reply<T>) -> Command,
) -> Result<T, UdpError> {
    let (reply, rx) = oneshot::channel();
    tx.send(make(reply)).map_err(|_| UdpError::Shutdown)?;
    rx.await.map_err(|_| UdpError::Shutdown)?
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::UnboundedSender<Command>,
    locals: Vec<SocketAddr>,
    public_key: Option<X448PublicKey>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A RUD endpoint: a client, or a server too when configured with one, on UDP sockets
/// ([`EndpointHandle::bind`], also named [`super::UdpEndpoint`]) or on the HTTP binding
/// ([`crate::http::serve`], [`crate::http::client`]): one driver and one API for both. Cheap to
/// clone; the driver stops after [`EndpointHandle::shutdown`], or when every clone and every
/// connection handle is dropped.
#[derive(Debug, Clone)]
pub struct EndpointHandle {
    inner: Arc<Inner>,
}

impl EndpointHandle {
    /// Binds `addrs` (IPv4 and IPv6, port 0 for any) and starts the driver on the current
    /// tokio runtime.
    ///
    /// # Errors
    /// [`UdpError::Bind`], [`UdpError::NoAddress`], the responder's configuration errors and
    /// the qlog directory's.
    pub async fn bind(addrs: &[SocketAddr], config: UdpConfig) -> Result<Self, UdpError> {
        Ok(Self::started(driver::start(addrs, config)?))
    }

    /// An endpoint driven over another transport (the HTTP binding).
    pub(crate) fn on_transport(
        transport: super::transport::Transport,
        config: UdpConfig,
    ) -> Result<Self, UdpError> {
        Ok(Self::started(driver::start_on(transport, config)?))
    }

    fn started(started: driver::Started) -> Self {
        Self {
            inner: Arc::new(Inner {
                tx: started.tx,
                locals: started.locals,
                public_key: started.public_key,
                task: Mutex::new(Some(started.task)),
            }),
        }
    }

    /// The bound addresses (with the ports picked for port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.inner.locals
    }

    /// The first bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.locals.first().copied().unwrap_or_else(|| {
            SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0)
        })
    }

    /// The key a server presents (its first key).
    pub fn public_key(&self) -> Option<X448PublicKey> {
        self.inner.public_key
    }

    /// Opens a connection to `peer`; returns once the key exchange completed.
    ///
    /// # Errors
    /// [`UdpError::Handshake`] (no answer, refused), [`UdpError::WrongResponderKey`],
    /// [`UdpError::Timeout`], [`UdpError::Start`].
    pub async fn connect(
        &self,
        peer: SocketAddr,
        options: ConnectOptions,
    ) -> Result<ConnectionHandle, UdpError> {
        // The initiator gives up on its own within the timeout; this is the backstop.
        let limit = options.timeout.saturating_add(Duration::from_secs(2));
        let timeout = options.timeout;
        let call = call(&self.inner.tx, |reply| Command::Connect {
            peer,
            options: Box::new(options),
            reply,
        });
        let c: Connected = tokio::time::timeout(limit, call)
            .await
            .map_err(|_| UdpError::Timeout { peer, timeout })??;
        Ok(ConnectionHandle {
            id: c.id,
            info: c.info,
            tx: self.inner.tx.clone(),
            events: Mutex::new(Some(EventStream(c.events))),
            first: tokio::sync::Mutex::new(c.first_response),
        })
    }

    /// Counters of the endpoint.
    ///
    /// # Errors
    /// [`UdpError::Shutdown`].
    pub async fn metrics(&self) -> Result<EndpointMetrics, UdpError> {
        call(&self.inner.tx, |reply| Command::EndpointMetrics { reply }).await
    }

    /// Closes every connection, waits for them (at most the configured grace period), flushes
    /// the capture and qlog files and stops the driver.
    ///
    /// # Errors
    /// The first capture write failure of the run.
    pub async fn shutdown(&self) -> Result<(), UdpError> {
        let result = call(&self.inner.tx, |reply| Command::Shutdown { reply }).await;
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
        match result {
            Err(UdpError::Shutdown) => Ok(()),
            other => other,
        }
    }
}

/// One established connection. Requests, sends and flushes may run concurrently. Dropping
/// the handle closes the connection (without waiting).
#[derive(Debug)]
pub struct ConnectionHandle {
    id: ConnectionId,
    info: ConnectionInfo,
    tx: mpsc::UnboundedSender<Command>,
    events: Mutex<Option<EventStream>>,
    first: tokio::sync::Mutex<Option<Answer<Vec<u8>>>>,
}

impl ConnectionHandle {
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The first stream (the handshake's).
    pub fn first_stream(&self) -> StreamHandle {
        StreamHandle(0)
    }

    /// The connection's events, once (later calls get `None`).
    pub fn events(&self) -> Option<EventStream> {
        self.events.lock().ok().and_then(|mut e| e.take())
    }

    /// The response to the first message, on a transactional first stream (once).
    ///
    /// # Errors
    /// [`UdpError::Closed`] and the like when the connection ended first;
    /// [`UdpError::Shutdown`] when there is no response to wait for.
    pub async fn first_response(&self) -> Result<Vec<u8>, UdpError> {
        let rx = self.first.lock().await.take().ok_or(UdpError::Shutdown)?;
        rx.await.map_err(|_| UdpError::Shutdown)?
    }

    /// Opens a stream bound to `service`.
    ///
    /// # Errors
    /// The connection's stream errors (too many streams, closed).
    pub async fn open(&self, kind: StreamKind, service: &str) -> Result<StreamHandle, UdpError> {
        let service = service.to_owned();
        call(&self.tx, |reply| Command::Open {
            conn: self.id,
            kind,
            service,
            reply,
        })
        .await
    }

    /// Queues a message (waiting while the send buffer is full); returns its id.
    ///
    /// # Errors
    /// The connection's stream errors.
    pub async fn send(&self, stream: StreamHandle, bytes: Vec<u8>) -> Result<u64, UdpError> {
        call(&self.tx, |reply| Command::Send {
            conn: self.id,
            stream,
            bytes,
            reply,
        })
        .await
    }

    /// Sends a request on a transactional stream this end opened and returns the response.
    ///
    /// # Errors
    /// The connection's stream errors, [`UdpError::StreamRefused`], [`UdpError::Closed`].
    pub async fn request(&self, stream: StreamHandle, bytes: Vec<u8>) -> Result<Vec<u8>, UdpError> {
        call(&self.tx, |reply| Command::Request {
            conn: self.id,
            stream,
            bytes,
            reply,
        })
        .await
    }

    /// Waits until everything queued on `stream` was acknowledged by the peer.
    ///
    /// # Errors
    /// [`UdpError::Closed`] or [`UdpError::StreamRefused`] if that can no longer happen.
    pub async fn flush(&self, stream: StreamHandle) -> Result<(), UdpError> {
        call(&self.tx, |reply| Command::Flush {
            conn: self.id,
            stream,
            reply,
        })
        .await
    }

    /// Closes a stream after what is queued on it.
    ///
    /// # Errors
    /// [`UdpError::Stream`] for an unknown stream.
    pub async fn close_stream(&self, stream: StreamHandle) -> Result<(), UdpError> {
        call(&self.tx, |reply| Command::CloseStream {
            conn: self.id,
            stream,
            reply,
        })
        .await
    }

    /// Closes the connection and waits until it is closed (acknowledged, or three probe
    /// timeouts).
    ///
    /// # Errors
    /// [`UdpError::Shutdown`] if the driver stopped first.
    pub async fn close(&self) -> Result<(), UdpError> {
        call(&self.tx, |reply| Command::Close {
            conn: self.id,
            code: 0,
            reason: String::new(),
            reply,
        })
        .await
    }

    /// The path's RTT, loss and volume, and the connection's counters.
    ///
    /// # Errors
    /// [`UdpError::UnknownConnection`] once it ended.
    pub async fn metrics(&self) -> Result<ConnectionMetrics, UdpError> {
        call(&self.tx, |reply| Command::Metrics {
            conn: self.id,
            reply,
        })
        .await
    }

    /// Opens a standby path to another address of the peer (a second port of the responder,
    /// say): validated and measured by heartbeats, it takes the traffic if the primary fails
    /// (SPEC 5.6). See [`ConnectionMetrics::paths`].
    ///
    /// # Errors
    /// [`UdpError::Path`] (already a path, table full, connection not open) or
    /// [`UdpError::UnknownConnection`].
    pub async fn open_path(&self, address: SocketAddr) -> Result<(), UdpError> {
        call(&self.tx, |reply| Command::OpenPath {
            conn: self.id,
            address,
            reply,
        })
        .await
    }

    /// The state of one stream (queued octets, datagrams not yet acknowledged, ...).
    ///
    /// # Errors
    /// [`UdpError::UnknownConnection`] once it ended.
    pub async fn stream_stats(
        &self,
        stream: StreamHandle,
    ) -> Result<Option<StreamStats>, UdpError> {
        call(&self.tx, |reply| Command::StreamStats {
            conn: self.id,
            stream,
            reply,
        })
        .await
    }
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        // Nobody can use the connection any more: close it rather than keep it alive with
        // keep-alives until the endpoint stops. A connection already closed ignores this.
        let (reply, _) = oneshot::channel();
        let _ = self.tx.send(Command::Close {
            conn: self.id,
            code: 0,
            reason: String::new(),
            reply,
        });
    }
}
