//! `rud-dissect`: decode RUD datagrams. Exit status: 0 decoded and valid; 1 decoded but breaks a
//! protocol rule; 2 malformed input or a usage error.
use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use rud::wire::element::{self, Element};
use rud_dissect::{hex_input, output};

#[derive(Parser)]
#[command(
    name = "rud-dissect",
    version,
    about = "Decode RUD datagrams with the reference codec"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Indented tree.
    Text,
    /// One JSON document with `schema_version`.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Decode one datagram (or another element) given in hexadecimal; `-` reads standard input.
    /// Encrypted sections are shown as such (lengths and tags) until keys are supplied.
    Hex {
        /// The octets in hex (whitespace, `:` and a `0x` prefix are allowed), or `-`.
        hex: String,
        /// Output format (tshark's -T).
        #[arg(short = 'T', long = "format", value_enum, default_value_t = Format::Text)]
        format: Format,
        /// What the octets are: datagram, data-plaintext, inner-section, exchange-mezzanine,
        /// complete-mezzanine, responder-complete-mezzanine, extension-list, varint.
        #[arg(long, default_value = "datagram", value_parser = parse_element)]
        element: Element,
    },
}

fn parse_element(s: &str) -> Result<Element, String> {
    Element::from_name(s).ok_or_else(|| {
        let names: Vec<_> = Element::ALL.iter().map(|e| e.name()).collect();
        format!("unknown element {s:?}; one of: {}", names.join(", "))
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Hex {
            hex,
            format,
            element,
        } => hex_command(&hex, format, element),
    }
}

fn hex_command(arg: &str, format: Format, el: Element) -> ExitCode {
    let text = if arg == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("rud-dissect: error: reading standard input: {e}");
            return ExitCode::from(2);
        }
        s
    } else {
        arg.to_owned()
    };
    let bytes = match hex_input::parse(&text) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("rud-dissect: error: hex input: {e}");
            return ExitCode::from(2);
        }
    };
    match element::decode(el, &bytes) {
        Ok(d) => {
            match format {
                Format::Text => print!("{}", output::text(el, &bytes, &d)),
                Format::Json => println!("{:#}", output::json(el, &bytes, &d)),
            }
            if d.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            if format == Format::Json {
                println!("{:#}", output::json_error(el, &bytes, &e));
            }
            eprintln!("rud-dissect: error: malformed {}: {e}", el.name());
            ExitCode::from(2)
        }
    }
}
