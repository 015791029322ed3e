//! The endpoint's UDP sockets: bound once, read from all at once, and the one to send from
//! chosen per destination.
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::task::Poll;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

use super::error::UdpError;

/// Kernel buffer asked for per socket (the kernel caps it at net.core.[rw]mem_max): a larger
/// receive buffer absorbs a congestion window's burst without drops on a busy host.
const SOCKET_BUFFER: usize = 4 << 20;

/// Largest datagram read; RUD packets are at most the configured maximum (1260 by default),
/// so anything up to the UDP limit is read whole and then judged by the codec.
pub const RECV_BUFFER: usize = 65_536;

#[derive(Debug)]
pub struct Sockets {
    list: Vec<UdpSocket>,
    locals: Vec<SocketAddr>,
    /// The socket a peer last reached us on: replies leave from the address it sent to.
    by_peer: HashMap<SocketAddr, usize>,
    /// Source addresses of unspecified binds toward a peer IP, for captures.
    source_ip: HashMap<IpAddr, IpAddr>,
}

fn bind_one(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // [::]:p and 0.0.0.0:p can then be bound side by side.
        s.set_only_v6(true)?;
    }
    // Best effort: a smaller buffer only costs drops under load.
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

impl Sockets {
    /// Binds every address (port 0 picks a free port).
    pub fn bind(addrs: &[SocketAddr]) -> Result<Self, UdpError> {
        if addrs.is_empty() {
            return Err(UdpError::NoAddress);
        }
        let mut list = Vec::new();
        let mut locals = Vec::new();
        for &addr in addrs {
            let sock = bind_one(addr).map_err(|source| UdpError::Bind { addr, source })?;
            let local = sock
                .local_addr()
                .map_err(|source| UdpError::Bind { addr, source })?;
            list.push(sock);
            locals.push(local);
        }
        Ok(Self {
            list,
            locals,
            by_peer: HashMap::new(),
            source_ip: HashMap::new(),
        })
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.locals
    }

    /// The socket to send to `dest` from: the one the peer last reached, else the first of
    /// its address family.
    pub fn for_destination(&self, dest: SocketAddr) -> Option<usize> {
        if let Some(&i) = self.by_peer.get(&dest) {
            return Some(i);
        }
        self.locals
            .iter()
            .position(|l| l.is_ipv4() == dest.is_ipv4())
    }

    /// Remembers that `from` reached us on socket `index`.
    pub fn seen(&mut self, index: usize, from: SocketAddr) {
        if self.by_peer.get(&from) != Some(&index) {
            // Bounded: forget everything rather than grow without limit under spoofed sources.
            if self.by_peer.len() >= 100_000 {
                self.by_peer.clear();
            }
            self.by_peer.insert(from, index);
        }
    }

    /// The local address socket `index` uses toward `peer`, for captures: an unspecified bind
    /// (0.0.0.0, ::) is resolved to the source address the kernel would pick (a connected
    /// probe socket sends nothing).
    pub fn local_toward(&mut self, index: usize, peer: SocketAddr) -> SocketAddr {
        let Some(&local) = self.locals.get(index) else {
            return unspecified(peer);
        };
        if !local.ip().is_unspecified() {
            return local;
        }
        let ip = *self.source_ip.entry(peer.ip()).or_insert_with(|| {
            let probe = std::net::UdpSocket::bind(unspecified(peer))
                .and_then(|s| s.connect(peer).and_then(|()| s.local_addr()));
            probe.map_or(local.ip(), |a| a.ip())
        });
        SocketAddr::new(ip, local.port())
    }

    /// Sends one datagram from socket `index` (waiting only if the socket buffer is full).
    pub async fn send(&self, index: usize, dest: SocketAddr, bytes: &[u8]) -> io::Result<()> {
        let Some(s) = self.list.get(index) else {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        };
        s.send_to(bytes, dest).await.map(|_| ())
    }

    /// Waits for a datagram on any socket: (socket index, sender, length in `buf`).
    pub async fn recv(&self, buf: &mut [u8]) -> (usize, io::Result<(SocketAddr, usize)>) {
        poll_fn(|cx| {
            for (i, s) in self.list.iter().enumerate() {
                let mut rb = ReadBuf::new(buf);
                match s.poll_recv_from(cx, &mut rb) {
                    Poll::Ready(Ok(from)) => {
                        return Poll::Ready((i, Ok((from, rb.filled().len()))));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready((i, Err(e))),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await
    }

    /// A datagram already waiting on socket `index`, without blocking.
    pub fn try_recv(&self, index: usize, buf: &mut [u8]) -> io::Result<(SocketAddr, usize)> {
        match self.list.get(index) {
            Some(s) => s.try_recv_from(buf).map(|(n, from)| (from, n)),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}

fn unspecified(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}
