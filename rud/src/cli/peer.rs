//! Peers as URLs (`udp://HOST:PORT`, `http://HOST[:PORT][/PATH]`), resolved once.
use std::net::{SocketAddr, ToSocketAddrs};

use super::CliError;
use rud::wire::DEFAULT_UDP_PORT;

/// Where `--to` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Udp(SocketAddr),
    /// The HTTP binding: the server's address and the path posted to.
    Http(SocketAddr, String),
}

/// Parses `udp://...` or `http://HOST[:PORT][/PATH]` (port 80, path /.well-known/rud by
/// default). `https://` is refused: the binding has no TLS here (RUD protects its datagrams).
pub fn peer(url: &str) -> Result<Peer, CliError> {
    let Some(rest) = url.strip_prefix("http://") else {
        if url.starts_with("https://") {
            return Err(CliError::Usage(format!(
                "--to {url}: https is not supported; use http:// (RUD protects the datagrams)"
            )));
        }
        return udp_peer(url).map(Peer::Udp);
    };
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let path = match path.trim_end_matches('/') {
        "" => rud::http::WELL_KNOWN_PATH.to_owned(),
        p => p.to_owned(),
    };
    if host.is_empty() || path.contains(['?', '#']) {
        return Err(CliError::Usage(format!(
            "--to {url}: expected http://HOST[:PORT][/PATH]"
        )));
    }
    Ok(Peer::Http(resolve(url, host, 80)?, path))
}

fn resolve(url: &str, host: &str, port: u16) -> Result<SocketAddr, CliError> {
    // Literal IPv6 addresses come in brackets; a bare host gets the default port.
    let with_port = if host.ends_with(']') || !host.contains(':') {
        format!("{host}:{port}")
    } else {
        host.to_owned()
    };
    let mut addrs = with_port
        .to_socket_addrs()
        .map_err(|e| CliError::Usage(format!("--to {url}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| CliError::Usage(format!("--to {url}: no address")))
}

/// Resolves `udp://HOST[:PORT]` (port 21077 by default) to its first address.
pub fn udp_peer(url: &str) -> Result<SocketAddr, CliError> {
    let rest = if let Some(r) = url.strip_prefix("udp://") {
        r
    } else {
        return Err(CliError::Usage(format!(
            "--to {url}: expected udp://HOST:PORT or http://HOST:PORT"
        )));
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(CliError::Usage(format!(
            "--to {url}: expected udp://HOST:PORT or http://HOST:PORT"
        )));
    }
    resolve(url, rest, DEFAULT_UDP_PORT)
}

/// The local address a client binds to reach `peer`: any port of its family.
pub fn client_bind(peer: SocketAddr) -> SocketAddr {
    if peer.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    }
}
