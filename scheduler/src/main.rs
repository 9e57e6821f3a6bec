//! `smt`: the command-line sidecar of the smt PostgreSQL extension.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "smt",
    version,
    about = "Smart Meter Texas data into PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse LSE or SMT interval CSV files and print one CSV row per interval.
    Parse(cli::parse::Args),
    /// Write realistic sample LSE or SMT CSV files (DST days, estimates, gaps).
    Generate(cli::generate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Parse(args) => cli::parse::run(args),
        Command::Generate(args) => cli::generate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("smt: {e:#}");
            ExitCode::from(2)
        }
    }
}
