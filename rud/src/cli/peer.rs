//! Peers as URLs (`udp://HOST:PORT`), resolved once.
use std::net::{SocketAddr, ToSocketAddrs};

use super::CliError;
use rud::wire::DEFAULT_UDP_PORT;

/// Resolves `udp://HOST[:PORT]` (port 21077 by default) to its first address.
pub fn udp_peer(url: &str) -> Result<SocketAddr, CliError> {
    let rest = if let Some(r) = url.strip_prefix("udp://") {
        r
    } else if url.starts_with("http://") || url.starts_with("https://") {
        return Err(CliError::Usage(format!(
            "--to {url}: the HTTP binding is not yet available; use udp://HOST:PORT"
        )));
    } else {
        return Err(CliError::Usage(format!(
            "--to {url}: expected udp://HOST:PORT"
        )));
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(CliError::Usage(format!(
            "--to {url}: expected udp://HOST:PORT"
        )));
    }
    // Literal IPv6 addresses come in brackets; a bare host gets the default port.
    let with_port = if rest.ends_with(']') || !rest.contains(':') {
        format!("{rest}:{DEFAULT_UDP_PORT}")
    } else {
        rest.to_owned()
    };
    let mut addrs = with_port
        .to_socket_addrs()
        .map_err(|e| CliError::Usage(format!("--to {url}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| CliError::Usage(format!("--to {url}: no address")))
}

/// The local address a client binds to reach `peer`: any port of its family.
pub fn client_bind(peer: SocketAddr) -> SocketAddr {
    if peer.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    }
}
