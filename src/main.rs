//! The `irp` binary: parse the command line, run the command, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    irp::cli::run(irp::cli::Cli::parse())
}
