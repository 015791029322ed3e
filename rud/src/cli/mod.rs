//! The `rud` commands: argument definitions, the error type and its exit codes.
mod demo;
mod demo_http;
mod demo_ticket;
mod demo_udp;
mod error;
mod keys;
mod outputs;
mod peer;
mod pin;
mod post;
mod send;
mod serve;
mod ticket;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use error::CliError;

#[derive(Parser)]
#[command(
    name = "rud",
    version,
    about = "RUD (draft-hallambaker-mesh-rud-00) reference endpoint",
    after_help = "Exit status: 0 success, 1 a failure (no answer, refused, wrong key), 2 a usage, input or setup error.\nRUST_LOG sets the diagnostics printed on stderr (for example RUST_LOG=rud=debug)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demonstration on embedded defaults: every sample datagram of docs/SPEC.md
    /// through the codec, each key exchange in memory, then a responder and an initiator on
    /// loopback UDP through every mode and both stream kinds, and over the HTTP binding
    /// through every mode (transactional streams only).
    Demo(demo::DemoArgs),
    /// Generate an X448 key pair: FILE (PEM PKCS#8, mode 0600) and FILE.pub (PEM
    /// SubjectPublicKeyInfo). Never overwrites.
    Keygen {
        /// The private key file to write (the public key goes to FILE.pub).
        #[arg(long, short = 'o', value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a key's public key (hex) and key identifier.
    Pubkey {
        /// A private key (PEM PKCS#8) or public key (PEM SubjectPublicKeyInfo, or 112 hex
        /// digits).
        file: PathBuf,
        /// Read a hex file as a private key (hex is otherwise a public key).
        #[arg(long)]
        private: bool,
    },
    /// Run a responder on UDP: serves echo, discard and (with --sink-dir) sink until
    /// interrupted (Ctrl-C or SIGTERM close every connection first).
    Serve(serve::ServeArgs),
    /// Open a connection, send one request and print the response.
    Post(post::PostArgs),
    /// Stream a file over an asynchronous stream (to the sink service by default) and report
    /// RTT and loss once the responder acknowledged all of it.
    Send(send::SendArgs),
}

/// Key exchange modes a client starts (Deferred is the responder's choice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClientMode {
    FirstContact,
    Immediate,
}

/// What every command that runs an endpoint may record.
#[derive(Args, Debug, Clone, Default)]
pub struct Records {
    /// Append the session secrets to FILE (NSS key log format; RUDKEYLOGFILE works too).
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,
    /// Write every datagram sent and received to FILE (pcapng, with the secrets in
    /// Decryption Secrets Blocks). Refuses an existing file.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Write one qlog file per connection into DIR.
    #[arg(long, value_name = "DIR")]
    qlog: Option<PathBuf>,
}

/// Parses the arguments and runs the command. Errors, including bad flags, become one line
/// `rud: error: ...` on stderr and exit status 1 or 2.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            eprintln!(
                "rud: error: {} (see rud --help)",
                one_line(&e.render().to_string())
            );
            return ExitCode::from(2);
        }
    };
    init_tracing();
    let result = match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Keygen { out } => keys::keygen(&out),
        Command::Pubkey { file, private } => keys::pubkey(&file, private),
        Command::Serve(a) => runtime().and_then(|rt| rt.block_on(serve::run(a))),
        Command::Post(a) => runtime().and_then(|rt| rt.block_on(post::run(a))),
        Command::Send(a) => runtime().and_then(|rt| rt.block_on(send::run(a))),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rud: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// clap's first error line, with the indented lines that complete it ("the following
/// required arguments were not provided:" lists them below).
fn one_line(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("bad arguments");
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    if line.ends_with(':') {
        let more: Vec<&str> = lines
            .take_while(|l| l.starts_with(' ') && !l.trim().is_empty())
            .map(str::trim)
            .collect();
        line = format!("{} {}", line, more.join(", "));
    }
    line
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Setup(format!("starting the runtime: {e}")))
}
