//! `smt-bench`: the end-to-end benchmark behind `make bench` (run it through
//! `scripts/bench-e2e.sh`, which builds, starts a scratch cluster with the benchmark's settings and
//! a throwaway OpenPGP key, and passes everything below).
//!
//! In one process, on one cluster: generated data (cached, [`data`]); parser speed ([`parse`]);
//! the machine's floors with plain COPY ([`floors`]); then `smt import` of one day, of the same
//! day with newer revisions, and with older ones ([`import`]), each checked exactly ([`checks`]);
//! then history for the queries, sizes ([`sizes`]) and query latency ([`queries`]); finally
//! `benchmarks.json` and the generated section of `BENCHMARKS.md` ([`report`]).
//!
//! Exit status: 0 when every exact check passed, 1 when one failed (the outputs are still written
//! and say so), 2 when the benchmark could not run.

mod checks;
mod data;
mod floors;
mod import;
mod parse;
mod pgcopy;
mod queries;
mod report;
mod sizes;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use postgres::{Client, NoTls};
use smt_core::record::CHANNEL_LOAD;

use checks::Checks;
use data::Version;
use import::{Expect, Importer};

/// `smt-bench import-day …`: one part of the benchmark run alone (its first argument names it);
/// without it, `smt-bench …` runs the whole benchmark ([`Args`]). Dispatched by hand: clap's
/// optional flattened arguments beside a subcommand did not parse the whole benchmark's.
const IMPORT_DAY: &str = "import-day";

/// Only the main day's import (v1), timed and checked exactly, printed as JSON.
///
/// Into a database that has the extension and nothing loaded yet: the data prepared as for the
/// benchmark (the cache reused), one timed `smt import`, then `smt.file` counts, the stored rows and
/// `smt.daily_usage` checked against what was generated. No CHECKPOINT: the caller takes it, on
/// every node. For loads into other clusters (scripts/bench-citus.sh).
#[derive(Parser)]
#[command(name = "smt-bench import-day")]
struct ImportDay {
    /// URL of the database to load.
    #[arg(long)]
    url: String,
    /// Name of the run: its logs in --work are NAME.out, NAME.err and NAME.rss.
    #[arg(long, default_value = "v1")]
    name: String,
    #[command(flatten)]
    import: ImportArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// What `smt import` needs, and where its logs go.
#[derive(clap::Args)]
struct ImportArgs {
    /// The `smt` binary (release build).
    #[arg(long)]
    smt: PathBuf,
    /// Secret key (armored) for `smt import --pgp-key`.
    #[arg(long)]
    key: PathBuf,
    /// Scratch directory for this run (import logs).
    #[arg(long)]
    work: PathBuf,
}

/// The generated data: where it is cached and what it is.
#[derive(clap::Args)]
struct DataArgs {
    /// GnuPG home holding the recipient's public key, to encrypt the generated files.
    #[arg(long)]
    gnupg_home: PathBuf,
    /// Recipient the files are encrypted to.
    #[arg(long)]
    recipient: String,
    /// Directory of generated data, reused when its parameters match.
    #[arg(long)]
    data: PathBuf,
    /// Meters on the main day.
    #[arg(long, default_value_t = 20_000)]
    esiids: u64,
    /// Records per generated file.
    #[arg(long, default_value_t = 50_000)]
    records_per_file: u64,
    /// Concurrent zip + gpg jobs while generating (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
}

impl DataArgs {
    /// The data for these parameters, generated when the cache does not hold it.
    fn prepare(&self) -> Result<data::Data> {
        let params = data::Params::new(self.esiids, self.records_per_file, &self.recipient);
        let jobs = self
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        data::prepare(&self.data, &params, &self.gnupg_home, jobs)
    }
}

/// The whole benchmark.
#[derive(Parser)]
#[command(about = "End-to-end benchmark of smt import against the machine's COPY floor")]
struct Args {
    /// Admin URL of the benchmark cluster (its `postgres` database); databases `floor` and
    /// `bench` are made in it.
    #[arg(long)]
    url: String,
    #[command(flatten)]
    import: ImportArgs,
    #[command(flatten)]
    data: DataArgs,
    #[arg(long)]
    out_md: PathBuf,
    #[arg(long)]
    out_json: PathBuf,
    /// The command line recorded in the outputs (default: this program's arguments).
    #[arg(long)]
    command: Option<String>,
}

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    let result = if argv.get(1).map(String::as_str) == Some(IMPORT_DAY) {
        argv.remove(1);
        import_day(ImportDay::parse_from(argv))
    } else {
        run(Args::parse_from(argv))
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("smt-bench: exact checks FAILED (see above); outputs written anyway");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("smt-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Wall-clock time of each phase, for "where the time goes".
#[derive(Default)]
struct Phases(Vec<(String, f64)>);

impl Phases {
    fn time<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let out = f();
        self.0
            .push((name.to_owned(), started.elapsed().as_secs_f64()));
        out
    }
}

fn run(args: Args) -> Result<bool> {
    let started = Instant::now();
    let command = args
        .command
        .clone()
        .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
    std::fs::create_dir_all(&args.import.work)?;
    let mut phases = Phases::default();
    let mut checks = Checks::default();

    let data = phases.time("data", || args.data.prepare())?;
    let m = &data.manifest;
    let v1 = data::totals(&m.v1)?;
    let v2 = data::totals(&m.v2)?;
    let history = data::totals(&m.history)?;

    // 1. Parser speed.
    let parse = phases.time("parse", || parse::measure(&m.params))?;

    // 2. Floors, in their own database.
    let mut admin = connect(&args.url, "postgres")?;
    let floors = phases.time("floors", || {
        recreate(&mut admin, "floor")?;
        let mut c = connect(&args.url, "floor")?;
        let floors = floors::measure(
            &mut c,
            &data.pgcopy(&m.v1)?,
            &data.pgcopy(&m.v2)?,
            m.v1.records,
            &v2,
            &mut checks,
        )?;
        drop(c);
        sql(&mut admin, "DROP DATABASE floor")?;
        Ok(floors)
    })?;

    // 3. Ours, in a fresh database with the extension.
    recreate(&mut admin, "bench")?;
    let bench_url = smt_e2e::with_dbname(&args.url, "bench");
    let mut c = connect(&args.url, "bench")?;
    c.batch_execute("CREATE EXTENSION smt").map_err(|e| {
        anyhow::anyhow!(
            "CREATE EXTENSION smt: {} (is the extension installed? `make install`; if it was \
             being reinstalled, run again)",
            smt_e2e::explain(&e)
        )
    })?;
    let machine = report::machine(&mut admin, &mut c)?;
    let importer = args.import.importer(&bench_url);
    let mut runs = Vec::new();
    let mut received = 0;

    sql(&mut admin, "CHECKPOINT")?;
    let run = phases.time("import v1", || {
        importer.run(&mut c, "v1", &data.paths(&m.v1), &mut checks)
    })?;
    import::check_counts(&run, m.v1.records, Expect::Fresh, &mut checks);
    runs.push(run);
    received += m.v1.intervals;
    phases.time("check v1", || {
        checks::database(&mut c, &v1, "v1", &mut checks)
    })?;
    let sizes_one_day = sizes::measure(&mut c, received)?;

    for (version, expect) in [(Version::V2, Expect::Newer), (Version::V0, Expect::Older)] {
        let set = data.set(version);
        let name = version.name();
        sql(&mut admin, "CHECKPOINT")?;
        let run = phases.time(&format!("import {name}"), || {
            importer.run(&mut c, name, &data.paths(set), &mut checks)
        })?;
        import::check_counts(&run, set.records, expect, &mut checks);
        runs.push(run);
        received += set.intervals;
        // v2 replaced every day; v0 changed nothing: both leave v2's values.
        phases.time(&format!("check {name}"), || {
            checks::database(&mut c, &v2, name, &mut checks)
        })?;
    }

    // 5. History and DST days, untimed (the run's time is recorded for information).
    let all = v2.merged(&history);
    let run = phases.time("import history", || {
        importer.run(&mut c, "history", &data.paths(&m.history), &mut checks)
    })?;
    import::check_counts(&run, m.history.records, Expect::Fresh, &mut checks);
    runs.push(run);
    received += m.history.intervals;
    phases.time("check history", || {
        checks::database(&mut c, &all, "history", &mut checks)
    })?;
    phases.time("vacuum", || vacuum(&mut c))?;

    // 6. Sizes at the end; 7. queries.
    let sizes_end = sizes::measure(&mut c, received)?;
    let day = data::main_day();
    let queries = phases.time("queries", || {
        queries::measure(
            &mut c,
            &m.query,
            day,
            all.cell(day, CHANNEL_LOAD).records,
            &mut checks,
        )
    })?;
    let reports = phases.time("reports", || {
        queries::measure_reports(&mut c, &m.query, day, &mut checks)
    })?;
    drop(c);
    sql(&mut admin, "DROP DATABASE bench")?;
    phases
        .0
        .push(("total".into(), started.elapsed().as_secs_f64()));

    // 8. Outputs.
    let results = report::Results {
        manifest: m,
        data_generated: data.generated,
        machine,
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        git_commit: report::git_commit(),
        command,
        parse,
        floors,
        runs,
        sizes_one_day,
        sizes_end,
        queries,
        reports,
        checks: &checks,
        phases: phases.0,
    };
    let mut json = report::json(&results);
    report::keep_other_benchmarks(&args.out_json, &mut json);
    std::fs::write(&args.out_json, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", args.out_json.display()))?;
    let section = report::markdown(&results);
    report::write_markdown(&args.out_md, &section)?;
    println!("{section}");
    eprintln!(
        "smt-bench: wrote {} and {} ({:.0} s in all)",
        args.out_md.display(),
        args.out_json.display(),
        started.elapsed().as_secs_f64()
    );
    for (name, seconds) in &results.phases {
        eprintln!("smt-bench:   {name:<16} {seconds:>8.2} s");
    }
    Ok(checks.passed())
}

impl ImportArgs {
    fn importer<'a>(&'a self, url: &'a str) -> Importer<'a> {
        Importer {
            smt: &self.smt,
            url,
            key: &self.key,
            work: &self.work,
        }
    }
}

/// `smt-bench import-day`: prints the run, the data it loaded and the checks as JSON.
fn import_day(args: ImportDay) -> Result<bool> {
    std::fs::create_dir_all(&args.import.work)?;
    let data = args.data.prepare()?;
    let set = &data.manifest.v1;
    let mut checks = Checks::default();
    let mut c =
        Client::connect(&args.url, NoTls).with_context(|| format!("connecting to {}", args.url))?;
    let run =
        args.import
            .importer(&args.url)
            .run(&mut c, &args.name, &data.paths(set), &mut checks)?;
    import::check_counts(&run, set.records, Expect::Fresh, &mut checks);
    checks::database(&mut c, &data::totals(set)?, &args.name, &mut checks)?;
    let out = serde_json::json!({
        "run": run,
        "main_day": data.manifest.params.main_day,
        "esiids": data.manifest.params.esiids,
        "data_generated": data.generated,
        "data": report::set_json(set),
        "checks": {
            "passed": checks.passed(),
            "comparisons": checks.performed,
            "failures": checks.failures,
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(checks.passed())
}

fn connect(admin_url: &str, db: &str) -> Result<Client> {
    let url = smt_e2e::with_dbname(admin_url, db);
    Client::connect(&url, NoTls).with_context(|| format!("connecting to {url}"))
}

fn sql(c: &mut Client, sql: &str) -> Result<()> {
    c.batch_execute(sql)
        .map_err(|e| anyhow::anyhow!("{sql}: {}", smt_e2e::explain(&e)))
}

fn recreate(admin: &mut Client, db: &str) -> Result<()> {
    sql(admin, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))?;
    sql(admin, &format!("CREATE DATABASE {db}"))
}

/// `VACUUM (ANALYZE)` of every smt table that holds meter data or files.
fn vacuum(c: &mut Client) -> Result<()> {
    let tables: Vec<String> = c
        .query(
            "SELECT t FROM unnest(ARRAY['smt.interval_day', 'smt.day_total', 'smt.interval_version',
                                        'smt.file', 'smt.file_content', 'smt.delivery_content']) t
              WHERE to_regclass(t) IS NOT NULL",
            &[],
        )
        .map_err(|e| anyhow::anyhow!("listing smt tables: {}", smt_e2e::explain(&e)))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    sql(c, &format!("VACUUM (ANALYZE) {}", tables.join(", ")))
}
