//! `rud serve`: a responder on UDP, the HTTP binding or both, until interrupted.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::keys::{key_id, read_private};
use super::{CliError, Records, outputs};
use rud::crypto::SecretBytes;
use rud::crypto::default_provider;
use rud::handshake::DeferPolicy;
use rud::handshake::ticket::TicketKeys;
use rud::service::ServiceHost;
use rud::udp::{ServerConfig, UdpConfig, UdpEndpoint};
use rud::wire::DEFAULT_UDP_PORT;

/// Key exchanges completed in a cookie epoch (30 s) above which `--mode auto` defers.
const AUTO_DEFER_ABOVE: u64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServeMode {
    /// Complete every Exchange at once (1 RTT, 0-RTT data accepted).
    Immediate,
    /// Answer every Exchange with a stateless challenge first (2 RTT).
    Deferred,
    /// Immediate, deferring once more than 1000 exchanges completed in a cookie epoch.
    Auto,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The responder's private key (PEM PKCS#8 or hex); repeat to accept several (the first
    /// is presented to First Contact).
    #[arg(long, value_name = "FILE", required = true)]
    key: Vec<PathBuf>,
    /// Listen on ADDR (repeatable; default 0.0.0.0:21077 and [::]:21077).
    #[arg(long, value_name = "ADDR")]
    udp: Vec<SocketAddr>,
    /// Serve the HTTP binding on ADDR (transactional streams only); alone, UDP is not served
    /// unless --udp is given too. --keylog and --pcap record both when both run (HTTP
    /// exchanges as TCP connections carrying HTTP); --qlog records the UDP endpoint then.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// The HTTP binding's path.
    #[arg(long, value_name = "PATH", default_value = rud::http::WELL_KNOWN_PATH)]
    http_path: String,
    /// When to defer an Exchange with a stateless challenge.
    #[arg(long, value_enum, default_value_t = ServeMode::Immediate)]
    mode: ServeMode,
    /// The service's ticket key: [ID ]HEX (one octet key id, default 1, then 64 octets).
    /// With it this host accepts tickets naming --host-id and gives every initiator one.
    #[arg(long, value_name = "FILE")]
    ticket_key: Option<PathBuf>,
    /// This host's name in tickets (1 to 32 octets; default: the key id of the first --key).
    #[arg(long, value_name = "NAME")]
    host_id: Option<String>,
    /// Lifetime of the tickets this host issues, in seconds (0: issue none).
    #[arg(long, value_name = "S", default_value_t = 3600)]
    ticket_lifetime: u64,
    /// Name this host of the service in the tickets it issues (default: this host, --host-id).
    #[arg(long, value_name = "NAME")]
    ticket_host: Option<String>,
    /// Write each sink stream to DIR/<connection>-<stream>.bin (enables the sink service).
    #[arg(long, value_name = "DIR")]
    sink_dir: Option<PathBuf>,
    #[command(flatten)]
    records: Records,
}

fn ticket_keys(path: &PathBuf) -> Result<TicketKeys, CliError> {
    let bad = |what: &str| CliError::Setup(format!("--ticket-key {}: {what}", path.display()));
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| bad(&e.to_string()))?);
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (id, hex_key) = match parts.as_slice() {
        [k] => (1u8, *k),
        [id, k] => (id.parse().map_err(|_| bad("the key id is not 0-255"))?, *k),
        _ => return Err(bad("expected [ID ]HEX")),
    };
    let bytes = zeroize::Zeroizing::new(hex::decode(hex_key).map_err(|_| bad("not hex"))?);
    let key: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| bad("the key must be 64 octets (128 hex digits)"))?;
    Ok(TicketKeys {
        current: (id, SecretBytes::new(key)),
        previous: None,
    })
}

pub async fn run(a: ServeArgs) -> Result<ExitCode, CliError> {
    let keys = a
        .key
        .iter()
        .map(|p| read_private(p))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(dir) = &a.sink_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Setup(format!("--sink-dir {}: {e}", dir.display())))?;
    }
    let names = ServiceHost::with_builtins(a.sink_dir.clone())
        .names()
        .join(", ");
    let make = |a: &ServeArgs| -> Result<UdpConfig, CliError> { server_config(a, &keys) };
    let public = keys[0].public_key(&*default_provider());
    // The records are opened once: with both bindings, both endpoints write the same files.
    let mut first = make(&a)?;
    outputs::apply(&a.records, &mut first)?;
    let serve_udp = a.http.is_none() || !a.udp.is_empty();
    let (http_config, udp_config) = match (a.http, serve_udp) {
        (Some(_), false) => (Some(first), None),
        (Some(_), true) => {
            let mut c = make(&a)?;
            outputs::share(&first, &mut c);
            (Some(c), Some(first))
        }
        (None, _) => (None, Some(first)),
    };
    let http = match (a.http, http_config) {
        (Some(addr), Some(config)) => {
            let cfg = rud::http::HttpConfig {
                path: a.http_path.clone(),
                ..rud::http::HttpConfig::default()
            };
            let e = rud::http::serve(addr, config, cfg)
                .await
                .map_err(super::post::http_error)?;
            println!("rud: serving http://{}{}", e.local_addr(), a.http_path);
            Some(e)
        }
        _ => None,
    };
    let endpoint = match udp_config {
        None => None,
        Some(config) => {
            let e = if a.udp.is_empty() {
                bind_default(config).await?
            } else {
                UdpEndpoint::bind(&a.udp, config).await?
            };
            for addr in e.local_addrs() {
                println!("rud: serving udp://{addr}");
            }
            Some(e)
        }
    };
    println!("rud: responder key {}", hex::encode(public.as_bytes()));
    println!(
        "rud: key id {}; services: {names}; mode {:?}",
        key_id(&public),
        a.mode
    );
    wait_for_signal().await;
    println!("rud: shutting down (closing every connection)");
    for e in [&endpoint, &http].into_iter().flatten() {
        let m = e.metrics().await.unwrap_or_default();
        e.shutdown().await?;
        println!(
            "rud: {} connections accepted, {} datagrams received, {} sent",
            m.accepted, m.datagrams_received, m.datagrams_sent
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A fresh responder configuration (each endpoint owns its services).
fn server_config(
    a: &ServeArgs,
    keys: &[rud::crypto::x448::X448Secret],
) -> Result<UdpConfig, CliError> {
    let services = ServiceHost::with_builtins(a.sink_dir.clone());
    let mut server = ServerConfig::new(keys[0].clone(), services);
    server.keys = keys.to_vec();
    server.defer = match a.mode {
        ServeMode::Immediate => DeferPolicy::Never,
        ServeMode::Deferred => DeferPolicy::Always,
        ServeMode::Auto => DeferPolicy::Hook(Arc::new(|load| {
            load.established_this_epoch > AUTO_DEFER_ABOVE
        })),
    };
    let host_id = match &a.host_id {
        Some(h) => h.as_bytes().to_vec(),
        None => {
            super::keys::key_id(&keys[0].public_key(&*rud::crypto::default_provider())).into_bytes()
        }
    };
    for (flag, name) in [("--host-id", &a.host_id), ("--ticket-host", &a.ticket_host)] {
        if let Some(n) = name
            && (n.is_empty() || n.len() > rud::handshake::ticket::MAX_HOST_ID)
        {
            return Err(CliError::Usage(format!(
                "{flag} {n:?}: a host name is 1 to 32 octets"
            )));
        }
    }
    let issue = a.ticket_key.is_some() && a.ticket_lifetime > 0;
    if let Some(p) = &a.ticket_key {
        server.ticket_keys = Some(ticket_keys(p)?);
        server.host_id = host_id;
    }
    let mut config = UdpConfig::server(server);
    if issue {
        config.endpoint.ticket_lifetime = Some(Duration::from_secs(a.ticket_lifetime));
        config.endpoint.ticket_host = a.ticket_host.as_ref().map(|h| h.as_bytes().to_vec());
    }
    config.shutdown_grace = Duration::from_secs(3);
    Ok(config)
}

/// 0.0.0.0:21077 and [::]:21077, or IPv4 alone where IPv6 is not available.
async fn bind_default(config: UdpConfig) -> Result<UdpEndpoint, CliError> {
    let v4 = SocketAddr::from(([0, 0, 0, 0], DEFAULT_UDP_PORT));
    let v6 = SocketAddr::from(([0u16; 8], DEFAULT_UDP_PORT));
    // Probe IPv6 first: the configuration (with its capture file) can be used only once.
    let v6_ok = std::net::UdpSocket::bind(SocketAddr::from(([0u16; 8], 0))).is_ok();
    let addrs = if v6_ok { vec![v4, v6] } else { vec![v4] };
    Ok(UdpEndpoint::bind(&addrs, config).await?)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
