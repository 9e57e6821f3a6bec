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
    /// Load local files (.lse, .csv, .zip, .pgp, .asc) into the database, each exactly once.
    Import(cli::import::Args),
    /// List, show, add, enable, disable, run or delete scheduled jobs.
    Jobs(cli::jobs::Args),
    /// List deliveries, or queue a quarantined one again once its cause is fixed.
    Deliveries(cli::deliveries::Args),
    /// Recent runs, files and rejects; quarantined deliveries, failed jobs and remote files about
    /// to expire, each with the command that fixes it.
    Status(cli::status::Args),
    /// Draw PNG pictures of one meter's data: a load-profile heat map (smt.interval) or daily
    /// usage bars (smt.daily_usage), in Central local time.
    Plot(cli::plot::Args),
    /// Hand one meter's data on: a Green Button (ESPI 4.0) feed, SMT's interval CSV layout, or a
    /// tidy CSV (UTC and Central local time, hour ending).
    Export(cli::export::Args),
    /// Run scheduled jobs (the daemon); several may run against one database. `--help` lists
    /// every key of the configuration file.
    #[command(after_long_help = smt_scheduler::config::help())]
    Run(cli::run::Args),
}

fn main() -> ExitCode {
    // Colours only on a terminal (and not under NO_COLOR): logs captured to a file or a journal
    // stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // SMT_LOG (default info); dependencies' secrets and data are never forwarded (see logging).
    smt_scheduler::logging::init(ansi);
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Parse(args) => cli::parse::run(args),
        Command::Generate(args) => cli::generate::run(args),
        command => tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                rt.block_on(async move {
                    match command {
                        Command::Import(args) => cli::import::run(args).await,
                        Command::Jobs(args) => cli::jobs::run(args).await,
                        Command::Deliveries(args) => cli::deliveries::run(args).await,
                        Command::Status(args) => cli::status::run(args).await,
                        Command::Plot(args) => cli::plot::run(args).await,
                        Command::Export(args) => cli::export::run(args).await,
                        Command::Run(args) => cli::run::run(args).await,
                        Command::Parse(_) | Command::Generate(_) => unreachable!("handled above"),
                    }
                })
            }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Errors quote names from outside (files, jobs): printable line by line, so a
            // database error's DETAIL and HINT lines stay lines.
            let text = format!("{e:#}");
            let lines: Vec<_> = text.lines().map(smt_scheduler::text::printable).collect();
            eprintln!("smt: {}", lines.join("\n"));
            ExitCode::from(2)
        }
    }
}
