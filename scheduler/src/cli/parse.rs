//! `smt parse FILE...`: every interval of every file as CSV on stdout, rejected records on stderr.
//! Exit status 0 when nothing was rejected, 1 when something was (good rows are still printed),
//! 2 when a file could not be read at all.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::SecondsFormat;
use clap::ValueEnum;
use smt_core::{format, EsiidMode, Format, IntervalRecord};
use smt_scheduler::text::printable;

#[derive(clap::Args)]
pub struct Args {
    /// LSE or SMT interval CSV files (already decrypted and unzipped).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Input format; `auto` detects it from the content.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    format: FormatArg,
    /// Accept the LSE spec's ESIIDs (1-64 letters or digits) instead of Texas' 17 or 22 digits.
    #[arg(long)]
    lenient_esiid: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Auto,
    Lse,
    Csv,
}

pub const HEADER: &str = "esiid,channel,day,interval_start,interval_end,kwh,status,revision";

pub fn run(args: Args) -> Result<ExitCode> {
    let mode = EsiidMode::lenient_if(args.lenient_esiid);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    let mut rejected = 0u64;
    let mut unreadable = false;
    let emit = |out: &mut BufWriter<_>| -> io::Result<()> { writeln!(out, "{HEADER}") };
    if let Err(e) = emit(&mut out) {
        return broken_pipe_or(e);
    }
    for path in &args.files {
        // Printed in every message: no control characters from a file name reach the terminal.
        let name = printable(&path.display().to_string()).into_owned();
        let file = match File::open(path).with_context(|| format!("{name}: cannot open")) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("smt: {}", printable(&format!("{e:#}")));
                unreadable = true;
                continue;
            }
        };
        let mut src = BufReader::with_capacity(1 << 20, file);
        let format = match args.format {
            FormatArg::Lse => Format::Lse,
            FormatArg::Csv => Format::IntervalCsv,
            FormatArg::Auto => {
                let head = src
                    .fill_buf()
                    .with_context(|| format!("{name}: cannot read"))?;
                match format::detect(head) {
                    Some(f) => f,
                    None => {
                        eprintln!("{name}:1: not an LSE or SMT CSV file (first line is neither a 00000001 row nor a known header)");
                        rejected += 1;
                        continue;
                    }
                }
            }
        };
        let Some(records) = smt_core::interval_records(src, format, mode) else {
            eprintln!("{name}:1: {format} has no intervals; `smt parse` prints interval files (LSE, SMT interval CSV)");
            rejected += 1;
            continue;
        };
        for item in records {
            match item {
                Ok(record) => {
                    if let Err(e) = write_intervals(&mut out, &record) {
                        return broken_pipe_or(e);
                    }
                }
                Err(e) => {
                    rejected += 1;
                    eprintln!(
                        "{name}:{}: {} ({})",
                        e.line,
                        printable(&e.to_string()),
                        e.kind
                    );
                }
            }
        }
    }
    if let Err(e) = out.flush() {
        return broken_pipe_or(e);
    }
    Ok(if unreadable {
        ExitCode::from(2)
    } else if rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One CSV row per interval; a missing interval has empty kwh and status.
pub fn write_intervals<W: Write>(out: &mut W, r: &IntervalRecord) -> io::Result<()> {
    let revision = r.revision.to_rfc3339_opts(SecondsFormat::Secs, true);
    for (i, reading) in r.intervals.iter().enumerate() {
        let (start, end) = r.interval_bounds(i);
        write!(
            out,
            "{},{},{},{},{},",
            r.esiid,
            r.channel,
            r.day,
            start.to_rfc3339_opts(SecondsFormat::Secs, true),
            end.to_rfc3339_opts(SecondsFormat::Secs, true)
        )?;
        match reading {
            Some(x) => writeln!(out, "{},{},{revision}", x.kwh, x.status)?,
            None => writeln!(out, ",,{revision}")?,
        }
    }
    Ok(())
}

/// `smt parse ... | head` closes the pipe early: that is not an error worth a message.
fn broken_pipe_or(e: io::Error) -> Result<ExitCode> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(e.into())
    }
}
