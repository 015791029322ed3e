//! The driver's side of the HTTP binding: packets that arrived in request (or response)
//! bodies wait in a bounded channel, and packets the endpoint sends wait for the HTTP side to
//! carry them (the server's mailboxes, answered in the next response to that address; the
//! client's queue, posted by its task).
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};

use super::capture::HttpCapture;
use crate::capture::CaptureError;

/// Peers with a mailbox at once; beyond it the server forgets one (its packets are a loss).
const MAX_MAILBOXES: usize = 10_000;

pub type Packet = (SocketAddr, Vec<u8>);

/// The server's packets per peer address, taken by the next response to that address.
#[derive(Debug)]
pub struct Mailboxes {
    boxes: Mutex<HashMap<SocketAddr, VecDeque<Vec<u8>>>>,
    max_queue: usize,
    /// Woken whenever a packet is put in any mailbox.
    pub ready: Notify,
}

impl Mailboxes {
    pub fn new(max_queue: usize) -> Self {
        Self {
            boxes: Mutex::new(HashMap::new()),
            max_queue: max_queue.max(1),
            ready: Notify::new(),
        }
    }

    fn put(&self, to: SocketAddr, packet: Vec<u8>) {
        if let Ok(mut boxes) = self.boxes.lock() {
            if boxes.len() >= MAX_MAILBOXES
                && !boxes.contains_key(&to)
                && let Some(&k) = boxes.keys().next()
            {
                boxes.remove(&k);
            }
            let q = boxes.entry(to).or_default();
            if q.len() >= self.max_queue {
                q.pop_front();
            }
            q.push_back(packet);
        }
        self.ready.notify_waiters();
    }

    /// Whether packets wait for `to`.
    pub fn has(&self, to: SocketAddr) -> bool {
        self.boxes
            .lock()
            .is_ok_and(|b| b.get(&to).is_some_and(|q| !q.is_empty()))
    }

    /// Takes packets for `to`, framed, up to `max` body octets (the rest waits).
    pub fn take(&self, to: SocketAddr, max: usize) -> Vec<u8> {
        let mut body = Vec::new();
        let Ok(mut boxes) = self.boxes.lock() else {
            return body;
        };
        if let Some(q) = boxes.get_mut(&to) {
            while let Some(p) = q.front() {
                if body.len() + p.len() + 2 > max {
                    break;
                }
                if let Some(p) = q.pop_front() {
                    super::framing::push(&mut body, &p);
                }
            }
            if q.is_empty() {
                boxes.remove(&to);
            }
        }
        body
    }
}

enum Out {
    Server(Arc<Mailboxes>),
    Client(mpsc::UnboundedSender<Packet>),
}

/// What the driver holds in place of sockets.
pub struct Link {
    local: SocketAddr,
    inbound: mpsc::Receiver<Packet>,
    out: Out,
    /// `--pcap`: written by the HTTP side, finished by the driver at shutdown.
    capture: Option<Arc<HttpCapture>>,
}

impl Link {
    pub fn server(
        local: SocketAddr,
        inbound: mpsc::Receiver<Packet>,
        m: Arc<Mailboxes>,
        capture: Option<Arc<HttpCapture>>,
    ) -> Self {
        Self {
            local,
            inbound,
            out: Out::Server(m),
            capture,
        }
    }

    pub fn client(
        local: SocketAddr,
        inbound: mpsc::Receiver<Packet>,
        out: mpsc::UnboundedSender<Packet>,
        capture: Option<Arc<HttpCapture>>,
    ) -> Self {
        Self {
            local,
            inbound,
            out: Out::Client(out),
            capture,
        }
    }

    /// Finishes the capture, if any (the driver's shutdown).
    ///
    /// # Errors
    /// The capture's first failure.
    pub fn finish_capture(&self) -> Result<(), CaptureError> {
        self.capture.as_ref().map_or(Ok(()), |c| c.finish())
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    pub fn send(&self, to: SocketAddr, bytes: &[u8]) -> io::Result<()> {
        match &self.out {
            Out::Server(m) => m.put(to, bytes.to_vec()),
            Out::Client(tx) => tx
                .send((to, bytes.to_vec()))
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?,
        }
        Ok(())
    }

    /// The next packet that arrived; never returns once the HTTP side is gone.
    pub async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(SocketAddr, usize)> {
        match self.inbound.recv().await {
            Some(p) => Ok(copy(p, buf)),
            None => std::future::pending().await,
        }
    }

    pub fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<(SocketAddr, usize)> {
        self.inbound
            .try_recv()
            .map(|p| copy(p, buf))
            .map_err(|_| io::Error::from(io::ErrorKind::WouldBlock))
    }
}

/// Framing caps a packet at 65535 octets, below the driver's buffer.
fn copy((from, p): Packet, buf: &mut [u8]) -> (SocketAddr, usize) {
    let n = p.len().min(buf.len());
    if let (Some(d), Some(s)) = (buf.get_mut(..n), p.get(..n)) {
        d.copy_from_slice(s);
    }
    (from, n)
}
