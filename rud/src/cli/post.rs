//! `rud post`: one request, its response on stdout.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::keys::{key_id, read_private, read_public_arg};
use super::peer::{Peer, client_bind, peer as parse_peer};
use super::{CliError, ClientMode, Records, outputs, pin, ticket};
use rud::crypto::x448::X448PublicKey;
use rud::udp::{ConnectMode, ConnectOptions, EndpointHandle, UdpConfig, UdpEndpoint, UdpError};

/// What `post` and `send` share: where to, which key, how long to wait.
#[derive(Args, Debug)]
pub struct Target {
    /// The responder: udp://HOST:PORT (port 21077 by default) or http://HOST[:PORT][/PATH]
    /// (the HTTP binding, path /.well-known/rud by default).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The responder's public key: 112 hex digits or a key file. Without it, First Contact
    /// learns the key (unauthenticated).
    #[arg(long, value_name = "HEX|FILE")]
    pub responder_key: Option<String>,
    /// The key exchange (default: immediate with --responder-key, else first-contact, which
    /// requires a pinned key when there is one).
    #[arg(long, value_enum)]
    pub mode: Option<ClientMode>,
    /// This end's private key (default: a fresh one per run).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Keep keys learned by First Contact in FILE and refuse a responder whose key changed.
    #[arg(long, value_name = "FILE")]
    pub pin: Option<PathBuf>,
    /// Give up after S seconds without a connection or an answer.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub timeout: f64,
    #[command(flatten)]
    pub records: Records,
}

#[derive(Args, Debug)]
pub struct PostArgs {
    #[command(flatten)]
    target: Target,
    /// The service the request goes to.
    #[arg(long, default_value = "echo")]
    service: String,
    /// Redeem the ticket kept in FILE (SPEC 7.10) when there is one, and keep the ticket the
    /// responder sends in FILE (mode 0600: it holds the ticket's secret and this end's key).
    /// The owed rekey mixes --responder-key, or the issuer's key for a ticket of the same host.
    #[arg(long, value_name = "FILE")]
    ticket: Option<PathBuf>,
    /// The request: literal text, or @FILE for a file's contents.
    data: String,
}

/// A connection as `post` and `send` open it, with the client endpoint behind it.
pub struct Opened {
    pub endpoint: EndpointHandle,
    pub conn: rud::udp::ConnectionHandle,
    pub timeout: Duration,
}

impl Target {
    pub fn timeout(&self) -> Result<Duration, CliError> {
        Duration::try_from_secs_f64(self.timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "--timeout {}: not a positive number of seconds",
                    self.timeout
                ))
            })
    }

    /// Resolves the peer and key, binds a client and completes the handshake. `tune` sees
    /// the configuration and the key given with --responder-key, if any.
    pub async fn open(
        &self,
        options: impl FnOnce(ConnectMode, Option<X448PublicKey>) -> ConnectOptions,
        tune: impl FnOnce(&mut UdpConfig, Option<X448PublicKey>),
    ) -> Result<Opened, CliError> {
        let timeout = self.timeout()?;
        let target = parse_peer(&self.to)?;
        let peer = match &target {
            Peer::Udp(a) | Peer::Http(a, _) => *a,
        };
        let given = self
            .responder_key
            .as_deref()
            .map(read_public_arg)
            .transpose()?;
        let pinned = match &self.pin {
            Some(f) => pin::lookup(f, &self.to)?,
            None => None,
        };
        if let (Some(g), Some(p)) = (given, pinned)
            && g != p
        {
            return Err(CliError::Failed(format!(
                "--responder-key differs from the key pinned for {} in the pin file",
                self.to
            )));
        }
        let key = given.or(pinned);
        // A given key means Immediate; a pinned one First Contact with the key required, so
        // a changed key is reported as such (Immediate would only see a refusal).
        let mode = match (self.mode, key) {
            (Some(ClientMode::Immediate), None) => {
                return Err(CliError::Usage(
                    "--mode immediate needs --responder-key (or a key pinned with --pin)".into(),
                ));
            }
            (Some(ClientMode::Immediate), Some(_)) => ConnectMode::Immediate,
            (None, Some(_)) if given.is_some() => ConnectMode::Immediate,
            _ => ConnectMode::FirstContact,
        };
        let mut config = UdpConfig::client();
        config.identity = self.key.as_deref().map(read_private).transpose()?;
        outputs::apply(&self.records, &mut config)?;
        tune(&mut config, given);
        let endpoint = match target {
            Peer::Udp(_) => UdpEndpoint::bind(&[client_bind(peer)], config).await?,
            Peer::Http(_, path) => {
                let http = rud::http::HttpConfig {
                    path,
                    ..rud::http::HttpConfig::default()
                };
                rud::http::client(config, http).map_err(http_error)?
            }
        };
        let mut opts = options(mode, key);
        opts.timeout = timeout;
        let conn = match endpoint.connect(peer, opts).await {
            Ok(c) => c,
            Err(e) => {
                let _ = endpoint.shutdown().await;
                return Err(match (e, pinned.is_some()) {
                    (UdpError::WrongResponderKey { peer }, true) => CliError::Failed(format!(
                        "the responder at {peer} presented a key other than the one pinned for it: refusing"
                    )),
                    (e, _) => e.into(),
                });
            }
        };
        let info = conn.info();
        if !info.authenticated
            && let Some(k) = info.responder_key
        {
            eprintln!(
                "rud: learned responder key {} (key id {})",
                hex::encode(k.as_bytes()),
                key_id(&k)
            );
            eprintln!(
                "rud: warning: unauthenticated: First Contact took this key on trust; pass it with --responder-key or keep it with --pin"
            );
            if let Some(f) = &self.pin {
                pin::store(f, &self.to, &k)?;
                eprintln!("rud: pinned it in {}", f.display());
            }
        }
        Ok(Opened {
            endpoint,
            conn,
            timeout,
        })
    }
}

fn request_bytes(data: &str) -> Result<Vec<u8>, CliError> {
    match data.strip_prefix('@') {
        Some(path) => std::fs::read(path).map_err(|e| CliError::Setup(format!("{data}: {e}"))),
        None => Ok(data.as_bytes().to_vec()),
    }
}

pub async fn run(a: PostArgs) -> Result<ExitCode, CliError> {
    let request = request_bytes(&a.data)?;
    let service = a.service.clone();
    let stored = a.ticket.as_deref().map(ticket::load).transpose()?.flatten();
    let keeps_ticket = a.ticket.is_some();
    let redeem = stored.as_ref().map(|s| s.ticket.clone());
    let issuer = redeem.as_ref().map(|t| t.issuer);
    let redeeming = redeem.is_some();
    // The identity the connection uses, when a ticket is kept: the ticket's is bound to it.
    let mut identity = None;
    let opened = a
        .target
        .open(
            |mode, key| match redeem {
                Some(t) => ConnectOptions::ticket(t, &service, request),
                None => ConnectOptions {
                    mode,
                    responder_key: key,
                    ..ConnectOptions::first_contact(&service, request)
                },
            },
            |config, given| {
                if let Some(s) = stored {
                    config.identity = Some(s.identity);
                } else if keeps_ticket {
                    // --key as read by `open`, or a fresh key that outlives the run.
                    config.identity = Some(ticket::identity(config.identity.take()));
                }
                identity.clone_from(&config.identity);
                if let Some(issuer) = issuer {
                    config.endpoint.connection.peer_device_key = given.or(Some(issuer));
                }
            },
        )
        .await
        .map_err(|e| match (e, &a.ticket) {
            (CliError::Udp(UdpError::Handshake { .. }), Some(f)) if redeeming => {
                CliError::Failed(format!(
                    "the responder refused the ticket in {} (a ticket is good once, at the host \
                     it names, until it expires): remove the file for a full key exchange",
                    f.display()
                ))
            }
            (e, _) => e,
        })?;
    let events = opened.conn.events();
    let answer = tokio::time::timeout(opened.timeout, opened.conn.first_response()).await;
    if let (Some(path), Some(identity), Ok(Ok(_))) = (&a.ticket, identity, &answer) {
        let wait = opened.timeout.min(Duration::from_secs(1));
        if !ticket::keep(events, identity, path, wait).await? {
            eprintln!("rud: the responder sent no ticket");
        }
    }
    let _ = tokio::time::timeout(opened.timeout, opened.conn.close()).await;
    opened.endpoint.shutdown().await?;
    let response = match answer {
        Ok(r) => r?,
        Err(_) => {
            return Err(CliError::Failed(format!(
                "no response within {:?}",
                opened.timeout
            )));
        }
    };
    // The response as received; a newline only to keep a terminal tidy.
    let mut out = std::io::stdout().lock();
    let newline = out.is_terminal() && !response.ends_with(b"\n");
    out.write_all(&response)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .map_err(|e| CliError::Failed(format!("writing the response: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// An HTTP binding setup error: bad paths are usage errors, the rest the endpoint's.
pub fn http_error(e: rud::http::HttpError) -> CliError {
    match e {
        rud::http::HttpError::Endpoint(e) => CliError::Udp(e),
        e => CliError::Setup(e.to_string()),
    }
}
