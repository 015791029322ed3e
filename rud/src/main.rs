//! `rud`: the reference RUD endpoint's command line. `rud demo` shows what the toolkit does on
//! embedded defaults; it grows as the handshake, streams and bindings land.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rud::wire::{describe, element, samples};

#[derive(Parser)]
#[command(
    name = "rud",
    version,
    about = "RUD (draft-hallambaker-mesh-rud-00) reference endpoint"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demonstration on embedded defaults: today, every sample datagram and section of
    /// docs/SPEC.md encoded by the reference codec, decoded again and checked.
    Demo {
        /// Print each element's full decoded tree, not only its summary line.
        #[arg(long)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Demo { verbose } => demo(verbose),
    }
}

fn demo(verbose: bool) -> ExitCode {
    let all = match samples::all() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rud: error: building the samples: {e}");
            return ExitCode::from(1);
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
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
