//! What the driver sends and receives through: UDP sockets, or the HTTP binding's link (the
//! same calls, so one driver serves both bindings).
use std::io;
use std::net::SocketAddr;

use super::sockets::Sockets;
use crate::http::link::Link;

pub enum Transport {
    Udp(Sockets),
    Http(Link),
}

impl Transport {
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        match self {
            Self::Udp(s) => s.local_addrs().to_vec(),
            Self::Http(l) => vec![l.local()],
        }
    }

    pub fn for_destination(&self, dest: SocketAddr) -> Option<usize> {
        match self {
            Self::Udp(s) => s.for_destination(dest),
            Self::Http(_) => Some(0),
        }
    }

    pub fn seen(&mut self, index: usize, from: SocketAddr) {
        if let Self::Udp(s) = self {
            s.seen(index, from);
        }
    }

    pub fn local_toward(&mut self, index: usize, peer: SocketAddr) -> SocketAddr {
        match self {
            Self::Udp(s) => s.local_toward(index, peer),
            Self::Http(l) => l.local(),
        }
    }

    pub async fn send(&self, index: usize, dest: SocketAddr, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Udp(s) => s.send(index, dest, bytes).await,
            Self::Http(l) => l.send(dest, bytes),
        }
    }

    pub async fn recv(&mut self, buf: &mut [u8]) -> (usize, io::Result<(SocketAddr, usize)>) {
        match self {
            Self::Udp(s) => s.recv(buf).await,
            Self::Http(l) => (0, l.recv(buf).await),
        }
    }

    pub fn try_recv(&mut self, index: usize, buf: &mut [u8]) -> io::Result<(SocketAddr, usize)> {
        match self {
            Self::Udp(s) => s.try_recv(index, buf),
            Self::Http(l) => l.try_recv(buf),
        }
    }

    /// Finishes a capture the transport writes itself (the HTTP binding's TCP flows).
    ///
    /// # Errors
    /// The capture's first failure.
    pub fn finish_capture(&self) -> Result<(), crate::capture::CaptureError> {
        match self {
            Self::Udp(_) => Ok(()),
            Self::Http(l) => l.finish_capture(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Udp(s) => s.len(),
            Self::Http(_) => 1,
        }
    }
}
