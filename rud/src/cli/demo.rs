//! `rud demo`: what the toolkit does, on embedded defaults: the codec, the key exchanges in
//! memory, then a responder and an initiator on loopback UDP, then over the HTTP binding.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rud::crypto::x448::X448Secret;
use rud::handshake::Entropy;
use rud::handshake::{
    DeferPolicy, Initiator, InitiatorConfig, InitiatorEvent, Mode, Responder, ResponderConfig,
    ResponderOutcome, SeededEntropy,
};
use rud::wire::{DEFAULT_UDP_PORT, Datagram, describe, element, samples};

use super::CliError;
use rud::capture::{CaptureFile, Overwrite};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Print each element's full decoded tree, not only its summary line.
    #[arg(long)]
    verbose: bool,
    /// Capture the UDP and HTTP parts to FILE (pcapng with the secrets in Decryption Secrets
    /// Blocks; the HTTP part as TCP connections carrying HTTP).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
}

pub fn run(a: DemoArgs) -> Result<ExitCode, CliError> {
    // Open the capture before anything runs, so a bad path fails at once.
    let pcap = match &a.pcap {
        Some(p) => Some(
            CaptureFile::create(p, Overwrite::Refuse)
                .map_err(|e| CliError::Setup(e.to_string()))?,
        ),
        None => None,
    };
    let mut failures = codec_and_memory(a.verbose);
    println!("\nOver UDP on loopback: a responder and an initiator, each mode and stream kind:\n");
    let rt = super::runtime()?;
    failures += rt.block_on(super::demo_udp::run(pcap.as_ref().map(CaptureFile::share)))?;
    println!(
        "\nOver the HTTP binding on loopback (POST {}, {}), each mode:\n",
        rud::http::WELL_KNOWN_PATH,
        rud::http::MEDIA_TYPE
    );
    failures += rt.block_on(super::demo_http::run(pcap.as_ref().map(CaptureFile::share)))?;
    if let Some(p) = pcap {
        p.finish().map_err(|e| CliError::Setup(e.to_string()))?;
    }
    if let Some(p) = &a.pcap {
        println!(
            "\ncapture with the session secrets: {} (open it in Wireshark)",
            p.display()
        );
    }
    Ok(if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The codec samples and the in-memory key exchanges; returns the number of failures.
fn codec_and_memory(verbose: bool) -> usize {
    let all = match samples::all() {
        Ok(s) => s,
        Err(e) => {
            println!("building the samples: FAILED: {e}");
            return 1;
        }
    };
    println!(
        "RUD profile {} sample elements, encoded and decoded by the reference codec:\n",
        rud::wire::PROFILE_VERSION
    );
    let mut failures = 0;
    for s in &all {
        match element::decode(s.element, &s.bytes) {
            Ok(d) => {
                let kind = d
                    .description
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or(s.element.name());
                let verdict = if d.violations.is_empty() {
                    "valid".to_owned()
                } else {
                    d.violations
                        .iter()
                        .map(|v| format!("breaks {}", v.rule))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                println!(
                    "{:<30} {:<28} {:>5} octets  {verdict}",
                    s.name,
                    kind,
                    s.bytes.len()
                );
                if verbose {
                    let mut tree = String::new();
                    describe::render_tree(&d.description, &mut tree);
                    for line in tree.lines() {
                        println!("    {line}");
                    }
                }
            }
            Err(e) => {
                failures += 1;
                println!("{:<30} DECODE ERROR: {e}", s.name);
            }
        }
    }
    println!("\nDecode any of them yourself: cargo run -p rud-dissect -- hex <HEX>  (or -T json)");
    println!(
        "\nThe three key exchanges, initiator and responder in memory (sans-IO, no sockets):\n"
    );
    for mode in [Mode::FirstContact, Mode::Immediate, Mode::Deferred] {
        if let Err(e) = handshake_demo(mode, verbose) {
            failures += 1;
            println!("  {}: FAILED: {e}", mode.name());
        }
    }
    failures
}

fn summary(bytes: &[u8]) -> String {
    match Datagram::decode(bytes) {
        Ok(d) => format!(
            "{} ({} octets)",
            d.msg_type().name().unwrap_or("?"),
            bytes.len()
        ),
        Err(e) => format!("undecodable: {e}"),
    }
}

/// Runs one key exchange between an in-memory initiator and responder and prints the flight.
fn handshake_demo(mode: Mode, verbose: bool) -> Result<(), Box<dyn std::error::Error>> {
    // A demo, not real traffic: the seed comes from the clock; never use this for real keys.
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let mut rng = SeededEntropy::new(&now.as_nanos().to_le_bytes());
    let p = rud::crypto::default_provider();
    let mut rcfg = ResponderConfig::new(p.clone(), X448Secret::generate(|b| rng.fill(b)));
    if mode == Mode::Deferred {
        rcfg.defer = DeferPolicy::Always;
    }
    // Started a minute ago, so the strike register is past its warm-up and takes early data.
    let mut responder = Responder::new(rcfg, now - Duration::from_secs(60))?;
    let mut icfg = InitiatorConfig::new(p, X448Secret::generate(|b| rng.fill(b)));
    let i_addr: SocketAddr = "127.0.0.1:40000".parse()?;
    let r_addr: SocketAddr = format!("127.0.0.1:{DEFAULT_UDP_PORT}").parse()?;
    let mut ini = if mode == Mode::FirstContact {
        Initiator::first_contact(icfg, &mut rng, now, r_addr, b"services?", b"ping")?
    } else {
        icfg.responder_key = responder.public_key().copied();
        Initiator::immediate(icfg, &mut rng, now, r_addr, b"ping")?
    };
    println!("  {}:", mode.name());
    let mut flights = 0;
    let mut r_session = None;
    while let Some(t) = ini.poll_transmit() {
        flights += 1;
        println!("    initiator -> {}", summary(&t.bytes));
        match responder.handle_datagram(now, i_addr, &t.bytes, &mut rng) {
            ResponderOutcome::Reply(r) => {
                println!("    responder -> {}", summary(&r.bytes));
                ini.handle_datagram(now, r_addr, &r.bytes)?;
            }
            ResponderOutcome::Established { session, reply } => {
                if let Some(r) = reply {
                    println!("    responder -> {}", summary(&r.bytes));
                    ini.handle_datagram(now, r_addr, &r.bytes)?;
                }
                r_session = Some(session);
            }
            other => return Err(format!("responder: {other:?}").into()),
        }
    }
    let mut i_session = None;
    while let Some(ev) = ini.poll_event() {
        match ev {
            InitiatorEvent::Challenge { credential, .. } if verbose => {
                let key = hex::encode(credential.as_bytes());
                println!("    learned the responder key {key} (unauthenticated)");
            }
            InitiatorEvent::Established(s) => i_session = Some(s),
            InitiatorEvent::Failed(e) => return Err(e.into()),
            _ => {}
        }
    }
    let (Some(i), Some(r)) = (i_session, r_session) else {
        return Err("the handshake did not complete".into());
    };
    let same = i.secrets.i2r.expose() == r.secrets.i2r.expose()
        && i.secrets.r2i.expose() == r.secrets.r2i.expose();
    println!(
        "    established after {flights} initiator datagram(s); traffic secrets {}; the responder got {:?}{}",
        if same {
            "match on both sides"
        } else {
            "DIFFER"
        },
        String::from_utf8_lossy(&r.payload),
        if r.early_data {
            " as 0-RTT early data"
        } else {
            ""
        }
    );
    if same {
        Ok(())
    } else {
        Err("the two sides derived different secrets".into())
    }
}
