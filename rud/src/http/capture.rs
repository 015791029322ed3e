//! `--pcap` on the HTTP binding: every exchange the binding carries, written as a synthesised
//! TCP connection ([`TcpFlow`]) holding an HTTP/1.1 POST and its response, with the key log's
//! new lines in a Decryption Secrets Block ahead of them, so the capture is self-contained as
//! on UDP.
//!
//! hyper owns the sockets, so the capture sees requests and responses, not segments: the TCP
//! connection is rebuilt (handshake at its first exchange, data, FINs when it ends or at
//! shutdown) between the real addresses, and the HTTP messages are rebuilt from what was
//! exchanged: method, path, `Content-Type: application/rud`, `Content-Length` and the body
//! octets exactly (other headers hyper adds are not reproduced). Only exchanges that reached
//! the endpoint are captured: a request refused with an HTTP error status carries no packet.
//!
//! The client writes an exchange when its next one starts (or at shutdown) rather than when
//! the response arrives, so the secrets its endpoint derives from that response (the
//! initiator's handshake keys) precede it in the file. The server writes an exchange when it
//! answers, after the endpoint handled the request, for the same reason.
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::config::MEDIA_TYPE;
use crate::capture::{CaptureError, CaptureFile, Side, TcpFlow, TcpFlowConfig, TcpStep};
use crate::crypto::keylog::KeyLog;
use crate::udp::{TeeKeyLog, UdpConfig};

/// Takes the configuration's capture file for the HTTP side: the driver records no packets
/// (it sees no TCP), and the key log goes through a tee that keeps new lines for the capture's
/// secrets blocks (then on to the configured key log, if any).
pub fn take(config: &mut UdpConfig) -> Option<Arc<HttpCapture>> {
    let file = config.pcap.take()?;
    let tee = Arc::new(TeeKeyLog::new(config.keylog.take(), true));
    config.keylog = Some(tee.clone() as Arc<dyn KeyLog>);
    Some(Arc::new(HttpCapture::new(file, tee)))
}

/// Wall-clock time since the Unix epoch, the capture's timestamps (the HTTP side is not
/// sans-IO: hyper reads clocks too).
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// One HTTP exchange as the capture writes it.
pub struct Exchange {
    /// The TCP client's and server's addresses.
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub path: String,
    pub at_request: Duration,
    pub request: Vec<u8>,
    pub at_response: Duration,
    pub response: Vec<u8>,
}

impl Exchange {
    fn request_message(&self) -> Vec<u8> {
        let mut m = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {MEDIA_TYPE}\r\nContent-Length: {}\r\n\r\n",
            self.path,
            self.server,
            self.request.len()
        )
        .into_bytes();
        m.extend_from_slice(&self.request);
        m
    }

    fn response_message(&self) -> Vec<u8> {
        let mut m = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {MEDIA_TYPE}\r\nCache-Control: no-store\r\nContent-Length: {}\r\n\r\n",
            self.response.len()
        )
        .into_bytes();
        m.extend_from_slice(&self.response);
        m
    }
}

struct State {
    /// `None` once finished or after the first failure.
    file: Option<CaptureFile>,
    /// Open TCP connections by (client, server).
    flows: HashMap<(SocketAddr, SocketAddr), TcpFlow>,
    /// Client side: exchanges waiting for the next capture event.
    pending: Vec<Exchange>,
    failure: Option<CaptureError>,
}

/// The capture of one HTTP binding endpoint, shared by its HTTP tasks and its driver (which
/// finishes it at shutdown).
pub struct HttpCapture {
    state: Mutex<State>,
    keylog: Arc<TeeKeyLog>,
}

impl std::fmt::Debug for HttpCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCapture").finish_non_exhaustive()
    }
}

impl HttpCapture {
    /// Captures into `file`; `keylog` must be the endpoint's key log, buffering for a capture.
    pub fn new(file: CaptureFile, keylog: Arc<TeeKeyLog>) -> Self {
        Self {
            state: Mutex::new(State {
                file: Some(file),
                flows: HashMap::new(),
                pending: Vec::new(),
                failure: None,
            }),
            keylog,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Server: an answered exchange, written now.
    pub fn answered(&self, e: Exchange) {
        let mut s = self.state();
        self.write_secrets(&mut s);
        let pending = std::mem::take(&mut s.pending);
        for p in pending.into_iter().chain([e]) {
            write_exchange(&mut s, &p);
        }
    }

    /// Client: an exchange whose response just arrived, written at the next event.
    pub fn posted(&self, e: Exchange) {
        let mut s = self.state();
        self.write_secrets(&mut s);
        let pending = std::mem::take(&mut s.pending);
        for p in &pending {
            write_exchange(&mut s, p);
        }
        s.pending.push(e);
    }

    /// Server: the TCP connection from `client` ended.
    pub fn closed(&self, client: SocketAddr, server: SocketAddr) {
        let mut s = self.state();
        if let Some(mut flow) = s.flows.remove(&(client, server)) {
            close(&mut s, &mut flow, now());
        }
    }

    /// Writes what waits, closes every flow and flushes; later exchanges are not captured.
    ///
    /// # Errors
    /// The first failure of the capture.
    pub fn finish(&self) -> Result<(), CaptureError> {
        let mut s = self.state();
        self.write_secrets(&mut s);
        let pending = std::mem::take(&mut s.pending);
        for p in &pending {
            write_exchange(&mut s, p);
        }
        let at = now();
        let flows: Vec<TcpFlow> = s.flows.drain().map(|(_, f)| f).collect();
        for mut flow in flows {
            close(&mut s, &mut flow, at);
        }
        if let Some(file) = s.file.take()
            && let Err(e) = file.finish()
        {
            s.failure.get_or_insert(e);
        }
        match s.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn write_secrets(&self, s: &mut State) {
        let secrets = self.keylog.take_pending();
        if secrets.is_empty() {
            return;
        }
        let r = match s.file.as_mut() {
            Some(f) => f.secrets(&secrets),
            None => return,
        };
        fail_on(s, r);
    }
}

/// Stops capturing at the first failure, keeping it for [`HttpCapture::finish`].
fn fail_on(s: &mut State, r: Result<(), CaptureError>) {
    if let Err(e) = r {
        tracing::warn!("capture stopped: {e}");
        s.file = None;
        s.failure.get_or_insert(e);
    }
}

fn write_exchange(s: &mut State, e: &Exchange) {
    let Some(file) = s.file.as_mut() else {
        return;
    };
    let mut r = Ok(());
    let flow = match s.flows.entry((e.client, e.server)) {
        Entry::Occupied(o) => o.into_mut(),
        Entry::Vacant(v) => match TcpFlow::new(e.client, e.server, TcpFlowConfig::default()) {
            Ok(mut flow) => {
                r = file.tcp_flow(e.at_request, &mut flow, TcpStep::Open);
                v.insert(flow)
            }
            Err(err) => {
                // Addresses of two families (cannot happen with real TCP peers): not framed.
                tracing::debug!("capture: no TCP flow {} -> {}: {err}", e.client, e.server);
                return;
            }
        },
    };
    let (req, resp) = (e.request_message(), e.response_message());
    r = r
        .and_then(|()| file.tcp_flow(e.at_request, flow, TcpStep::Send(Side::Client, &req)))
        .and_then(|()| file.tcp_flow(e.at_response, flow, TcpStep::Send(Side::Server, &resp)));
    fail_on(s, r);
}

fn close(s: &mut State, flow: &mut TcpFlow, at: Duration) {
    let Some(file) = s.file.as_mut() else {
        return;
    };
    let r = file
        .tcp_flow(at, flow, TcpStep::Close(Side::Client))
        .and_then(|()| file.tcp_flow(at, flow, TcpStep::Close(Side::Server)));
    fail_on(s, r);
}
