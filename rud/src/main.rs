//! `rud`: the reference RUD endpoint's command line (`rud --help`). Each command lives in its
//! own file under `cli/`; this file parses, runs and turns errors into one line and an exit
//! code (0 success, 1 a failure, 2 a usage, input or setup error).
#![forbid(unsafe_code)]
mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
