//! `rud-conform`: generates the RUD test vectors from the reference implementation and checks
//! vector files. (Replaying vectors against other implementations over UDP and HTTP builds on
//! the bindings and comes with them.)
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rud_conform::{check, generate, vectors};

#[derive(Parser)]
#[command(
    name = "rud-conform",
    version,
    about = "RUD conformance runner and vector generator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes every vector set from the reference implementation into DIR.
    Generate {
        /// The vectors directory.
        #[arg(long, default_value = "vectors")]
        out: PathBuf,
        /// Write nothing; exit 1 if any file in DIR differs from what would be written.
        #[arg(long)]
        check: bool,
        /// Where the worked examples generated from the handshake vectors go.
        #[arg(long, default_value = "docs/EXAMPLES.md")]
        examples: PathBuf,
    },
    /// Loads vector files (strictly) and runs them against the reference codec.
    Vectors {
        /// Files or directories (default: vectors).
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rud-conform: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command {
        Command::Generate {
            out,
            check,
            examples,
        } => {
            let mut stale = 0;
            let mut outputs = Vec::new();
            for (rel, file) in generate::all_files()? {
                let what = format!("{} vectors", file.vectors.len());
                outputs.push((out.join(&rel), vectors::render(&file)?, what));
            }
            outputs.push((
                examples,
                generate::examples::examples_markdown()?,
                "worked examples".to_owned(),
            ));
            for (path, text, what) in outputs {
                let current = std::fs::read_to_string(&path).ok();
                if current.as_deref() == Some(text.as_str()) {
                    continue;
                }
                if check {
                    eprintln!("stale: {} (run `rud-conform generate`)", path.display());
                    stale += 1;
                } else {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    std::fs::write(&path, text)?;
                    println!("wrote {} ({what})", path.display());
                }
            }
            Ok(if stale > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Vectors { paths } => {
            let paths = if paths.is_empty() {
                vec![PathBuf::from("vectors")]
            } else {
                paths
            };
            let mut tally = check::Tally::default();
            for p in paths {
                let files = if p.is_dir() {
                    vectors::files_below(&p)?
                } else {
                    vec![p]
                };
                for f in files {
                    tally.add_file(&vectors::load(&f)?);
                }
            }
            for (id, why) in &tally.failed {
                println!("FAIL {id}: {why}");
            }
            println!("{} passed, {} failed", tally.passed, tally.failed.len());
            Ok(if tally.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
