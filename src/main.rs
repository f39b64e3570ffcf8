//! The `reinstate` command: parses the command line and calls into the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    reinstate::cli::main(reinstate::cli::Cli::parse())
}
