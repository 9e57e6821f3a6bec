//! `smt generate`: realistic sample files (the bundled stand-in for SMT's daily deliveries), from
//! smt-core's deterministic generator: real TDSP prefixes, DST days, estimates and gaps.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::ValueEnum;
use smt_core::testdata::{self, Generator};

#[derive(clap::Args)]
pub struct Args {
    /// Output file.
    #[arg(long, short)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = GenFormat::Lse)]
    format: GenFormat,
    /// Number of ESIIDs (every fourth also gets surplus generation, channel 1).
    #[arg(long, default_value_t = 10)]
    esiids: usize,
    /// Operating days, comma-separated YYYY-MM-DD (default: the 2025 DST days and the day after).
    #[arg(long, value_delimiter = ',')]
    days: Vec<NaiveDate>,
    /// Seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Shift every revision by this many hours (to make a newer or older version of a file).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    revision_offset_hours: i64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GenFormat {
    Lse,
    Csv,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.esiids == 0 {
        bail!("--esiids must be at least 1");
    }
    let days = if args.days.is_empty() {
        let [spring, fall] = testdata::dst_days_2025();
        vec![spring, fall, fall.succ_opt().expect("date in range")]
    } else {
        args.days
    };
    let mut records = Generator::new(args.seed).records(args.esiids, &days);
    for r in &mut records {
        r.revision += chrono::Duration::hours(args.revision_offset_hours);
    }
    let bytes = match args.format {
        GenFormat::Lse => testdata::lse_bytes(&records, true),
        GenFormat::Csv => testdata::csv_bytes(&records),
    };
    fs::write(&args.out, bytes).with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "smt: wrote {} records to {}",
        records.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
