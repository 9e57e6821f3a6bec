//! `smt export`: one meter's data handed on as files.
//!
//! - `green-button`: the ESPI 4.0 feed `smt.green_button` writes (both channels, exact scaled
//!   integers, estimates flagged), which Green Button tools and `smt import` read back.
//! - `csv --layout smt`: SMT's own interval CSV layout (local times, `ESTIMATED_ACTUAL`,
//!   `CONSUMPTION_SURPLUSGENERATION`, the spring-forward day's skipped hour as SMT's four empty
//!   placeholder rows), for tools that read SMT's exports; `smt import` reads it back.
//!   `--layout tidy`: one row per interval with the UTC instant, the Central local time, the hour
//!   ending as ERCOT writes it (1-24; the repeated hour of the fall-back day flagged) and the exact
//!   kWh.
//!
//! The CSVs stream from the database (`COPY ... TO STDOUT`), so a range of any length takes
//! bounded memory; every file is written to a temporary name and renamed into place, so a failed
//! export never leaves half a file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Subcommand, ValueEnum};
use futures_util::{pin_mut, TryStreamExt};
use smt_scheduler::db;
use tokio::io::AsyncWriteExt;
use tokio_postgres::Client;

use super::common::MeterDays;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// A Green Button (NAESB ESPI 4.0) XML feed of one ESIID (smt.green_button).
    GreenButton {
        #[command(flatten)]
        range: MeterDays,
    },
    /// A CSV of one ESIID's intervals: SMT's own interval layout, or a tidy one.
    Csv {
        #[command(flatten)]
        range: MeterDays,
        /// `smt`: SMT's interval CSV (local times); `tidy`: UTC and local time, hour ending.
        #[arg(long, value_enum, default_value_t = Layout::Smt)]
        layout: Layout,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Layout {
    Smt,
    Tidy,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let range = match &args.what {
        What::GreenButton { range } | What::Csv { range, .. } => range,
    };
    if range.from > range.to {
        bail!("--from {} is after --to {}", range.from, range.to);
    }
    let (_, url) = range.db.load()?;
    let client = db::connect(&url).await?;
    let esiid = normalized(&client, &range.esiid).await?;
    let part = part_path(&range.out);
    let written = match args.what {
        What::GreenButton { ref range } => {
            let xml: String = client
                .query_one(
                    "SELECT smt.green_button($1, $2, $3)",
                    &[&esiid, &range.from, &range.to],
                )
                .await
                .context("smt.green_button")?
                .try_get(0)?;
            tokio::fs::write(&part, xml.as_bytes())
                .await
                .with_context(|| format!("cannot write {}", part.display()))?;
            xml.len() as u64
        }
        What::Csv { ref range, layout } => {
            let query = csv_query(layout, &esiid, range.from, range.to);
            copy_to(&client, &query, &part).await?
        }
    };
    tokio::fs::rename(&part, &range.out)
        .await
        .with_context(|| {
            format!(
                "cannot rename {} to {}",
                part.display(),
                range.out.display()
            )
        })?;
    eprintln!("smt export: {} bytes to {}", written, range.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The ESIID as stored (spaces and a spreadsheet apostrophe removed), known to hold data.
async fn normalized(client: &Client, given: &str) -> Result<String> {
    let row = client
        .query_one(
            "SELECT e, EXISTS (SELECT FROM smt.daily_usage d WHERE d.esiid = e)
               FROM smt.esiid_normalize($1) e",
            &[&given],
        )
        .await
        .context("normalizing the ESIID")?;
    let esiid: Option<String> = row.try_get(0)?;
    let held: bool = row.try_get(1)?;
    match esiid {
        // only digits reach the COPY text below
        Some(e) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) && held => Ok(e),
        Some(e) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            bail!("ESIID {e} has no interval data in this database")
        }
        _ => bail!("--esiid {given:?} is not an ESIID"),
    }
}

/// The COPY of one ESIID's intervals in `layout`. The ESIID is digits only and the days are
/// dates, so the text holds nothing a caller could inject.
fn csv_query(layout: Layout, esiid: &str, from: NaiveDate, to: NaiveDate) -> String {
    let filter = format!(
        "i.esiid = '{esiid}' AND i.day BETWEEN '{from}' AND '{to}' AND i.channel IN (1, 4)"
    );
    match layout {
        // SMT's layout: local clock times, rows in time order, channel 4 first.
        //
        // Spring-forward day (formats.md: confirmed in real SMT exports): 96 rows. The interval
        // before the skipped hour (01:45 CST, which ends at 03:00 CDT on the clock) is written
        // `01:45,02:00`, then four placeholders `02:00,02:15` ... `02:45,03:00` for the local
        // times that do not exist, with USAGE_KWH and ESTIMATED_ACTUAL empty, then `03:00,03:15`.
        // They come from that one interval whose local end is more than its length after its
        // local start (only the spring gap does that), so no DST rule is repeated here; `smt
        // import` reads them as placeholders, not intervals (the day keeps its 92).
        //
        // Fall-back day: 100 rows, the repeated hour twice in order, labelled with the clock
        // times: `01:45,01:00` (the CDT pass ends at 01:00 CST), then `01:00,01:15` ...
        // `01:45,02:00`. SMT writes `01:45,02:00` and then its mislabel `02:00,01:15`; we write
        // the correct labels, and `smt import` reads both.
        //
        // Empty fields are NULLs, which COPY writes bare as SMT does (an empty string would be
        // written `""`).
        Layout::Smt => format!(
            "COPY (WITH stored AS (
                      SELECT i.esiid, i.channel, i.day, i.revision, i.interval_start, i.interval_end,
                             i.interval_end - i.interval_start AS length,
                             i.interval_start AT TIME ZONE 'America/Chicago' AS local_start,
                             i.interval_end AT TIME ZONE 'America/Chicago' AS local_end,
                             i.kwh, i.status
                        FROM smt.interval i WHERE {filter}),
                    line AS (
                      SELECT esiid, channel, day, revision, interval_start AS at, false AS placeholder,
                             local_start AS wall_start,
                             CASE WHEN local_end - local_start > length THEN local_start + length
                                  ELSE local_end END AS wall_end,
                             kwh::text AS kwh, status
                        FROM stored
                      UNION ALL
                      -- the skipped local times, placed after the interval before them
                      SELECT esiid, channel, day, revision, interval_end, true, w, w + length,
                             NULL, NULL
                        FROM stored
                       CROSS JOIN LATERAL generate_series(local_start + length, local_end - length, length) w
                       WHERE local_end - local_start > length)
                  SELECT esiid AS \"ESIID\", to_char(day, 'MM/DD/YYYY') AS \"USAGE_DATE\",
                         to_char(revision AT TIME ZONE 'America/Chicago', 'MM/DD/YYYY HH24:MI:SS') AS \"REVISION_DATE\",
                         to_char(wall_start, 'HH24:MI') AS \"USAGE_START_TIME\",
                         to_char(wall_end, 'HH24:MI') AS \"USAGE_END_TIME\",
                         kwh AS \"USAGE_KWH\", status AS \"ESTIMATED_ACTUAL\",
                         CASE channel WHEN 4 THEN 'Consumption' ELSE 'Surplus Generation' END
                             AS \"CONSUMPTION_SURPLUSGENERATION\"
                    FROM line
                   ORDER BY channel DESC, day, at, placeholder DESC, wall_start)
             TO STDOUT WITH (FORMAT csv, HEADER)"
        ),
        // Hour ending as ERCOT writes it: 1-24, the local clock hour the interval falls in plus
        // one; the second pass of the fall-back day's 01:00 hour is hour 2 again, flagged
        // dst_repeated (the first pass is CDT, the repeat CST).
        Layout::Tidy => format!(
            "COPY (SELECT i.esiid, i.channel, to_char(i.day, 'YYYY-MM-DD') AS day,
                          to_char(i.interval_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS interval_start_utc,
                          to_char(i.interval_start AT TIME ZONE 'America/Chicago', 'YYYY-MM-DD HH24:MI') AS interval_start_local,
                          extract(hour FROM i.interval_start AT TIME ZONE 'America/Chicago')::int + 1 AS hour_ending,
                          (smt.day_slots(i.day, 900) = 100
                           AND extract(hour FROM i.interval_start AT TIME ZONE 'America/Chicago') = 1
                           AND (i.interval_start AT TIME ZONE 'America/Chicago')
                               - (i.interval_start AT TIME ZONE 'UTC') = interval '-6 hours') AS dst_repeated,
                          i.kwh, i.status
                     FROM smt.interval i WHERE {filter}
                    ORDER BY i.channel DESC, i.day, i.interval_start)
             TO STDOUT WITH (FORMAT csv, HEADER)"
        ),
    }
}

/// Streams a COPY to `path`; the bytes written.
async fn copy_to(client: &Client, query: &str, path: &Path) -> Result<u64> {
    let stream = client
        .copy_out(query)
        .await
        .context("exporting the intervals")?;
    pin_mut!(stream);
    let mut file = tokio::fs::File::create(path)
        .await
        .with_context(|| format!("cannot create {}", path.display()))?;
    let mut written = 0u64;
    while let Some(chunk) = stream.try_next().await.context("exporting the intervals")? {
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    file.flush().await?;
    Ok(written)
}

fn part_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}
