//! Our end-to-end import: `smt import --pgp-key KEY FILES...` as a user runs it (one process for
//! all files of a delivery set: decrypt, unzip, `smt.load` in parts), timed by the wall clock, its
//! peak RSS from `/usr/bin/time -f %M`, and what `smt.file` says the loads did.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use postgres::Client;
use serde::Serialize;

use crate::checks::Checks;

/// The sums of `smt.file` over the reports one run loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileCounts {
    pub files: i64,
    pub not_loaded: i64,
    pub records: i64,
    pub inserted: i64,
    pub replaced: i64,
    pub stale: i64,
    pub identical: i64,
    pub conflicts: i64,
    pub rejected: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub name: String,
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub peak_rss_mb: f64,
    pub counts: FileCounts,
}

pub struct Importer<'a> {
    pub smt: &'a Path,
    pub url: &'a str,
    pub key: &'a Path,
    pub work: &'a Path,
}

impl Importer<'_> {
    /// Imports `files` in one `smt import` (the caller checkpoints first); a failing import is a
    /// failed check (its stderr is printed), and the run goes on.
    pub fn run(
        &self,
        c: &mut Client,
        name: &str,
        files: &[PathBuf],
        checks: &mut Checks,
    ) -> Result<Run> {
        let before: i64 = c
            .query_one("SELECT coalesce(max(file_id), 0) FROM smt.file", &[])
            .map_err(|e| anyhow::anyhow!("smt.file: {}", smt_e2e::explain(&e)))?
            .get(0);
        let rss = self.work.join(format!("{name}.rss"));
        let out = self.work.join(format!("{name}.out"));
        let err = self.work.join(format!("{name}.err"));
        let started = Instant::now();
        let status = Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss)
            .arg(self.smt)
            .arg("import")
            .arg("--database-url")
            .arg(self.url)
            .arg("--pgp-key")
            .arg(self.key)
            .args(files)
            .env("SMT_PGP_PASSPHRASE", "")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out)?)
            .stderr(fs::File::create(&err)?)
            .status()
            .context("running /usr/bin/time smt import")?;
        let seconds = started.elapsed().as_secs_f64();
        if !status.success() {
            let stderr = fs::read_to_string(&err).unwrap_or_default();
            let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            checks.fail(format!(
                "{name}: smt import exited with {status}:\n{}",
                tail.join("\n")
            ));
        }
        let kb: f64 = fs::read_to_string(&rss)
            .ok()
            .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
            .unwrap_or(0.0);
        let counts = counts(c, before)?;
        let bytes = files
            .iter()
            .map(|f| fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .sum();
        eprintln!(
            "smt-bench: {name}: smt import of {} files in {seconds:.2} s, peak RSS {:.0} MB; {counts:?}",
            files.len(),
            kb / 1024.0
        );
        Ok(Run {
            name: name.to_owned(),
            files: files.len(),
            bytes,
            seconds,
            peak_rss_mb: kb / 1024.0,
            counts,
        })
    }
}

fn counts(c: &mut Client, after_file_id: i64) -> Result<FileCounts> {
    let row = c
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE state <> 'loaded'),
                    coalesce(sum(records), 0)::int8, coalesce(sum(inserted), 0)::int8,
                    coalesce(sum(replaced), 0)::int8, coalesce(sum(stale), 0)::int8,
                    coalesce(sum(identical), 0)::int8, coalesce(sum(conflicts), 0)::int8,
                    coalesce(sum(rejected), 0)::int8
               FROM smt.file WHERE file_id > $1",
            &[&after_file_id],
        )
        .map_err(|e| anyhow::anyhow!("smt.file: {}", smt_e2e::explain(&e)))?;
    Ok(FileCounts {
        files: row.get(0),
        not_loaded: row.get(1),
        records: row.get(2),
        inserted: row.get(3),
        replaced: row.get(4),
        stale: row.get(5),
        identical: row.get(6),
        conflicts: row.get(7),
        rejected: row.get(8),
    })
}

/// What a run of `files` files of `records` records must have done to ESIID-channel-days not
/// stored before (`Fresh`), all stored with an older revision (`Newer`) or a newer one (`Older`).
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    Fresh,
    Newer,
    Older,
}

pub fn check_counts(run: &Run, records: u64, expect: Expect, checks: &mut Checks) {
    let records = records as i64;
    let (inserted, replaced, stale) = match expect {
        Expect::Fresh => (records, 0, 0),
        Expect::Newer => (0, records, 0),
        Expect::Older => (0, 0, records),
    };
    let want = FileCounts {
        files: run.files as i64,
        not_loaded: 0,
        records,
        inserted,
        replaced,
        stale,
        identical: 0,
        conflicts: 0,
        rejected: 0,
    };
    checks.equal(&format!("{}: smt.file counts", run.name), run.counts, want);
}
