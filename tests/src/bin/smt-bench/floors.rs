//! The machine's floor: how fast this cluster takes the same rows smt stores when nothing but
//! PostgreSQL does the work, streaming a ready binary COPY file (no parsing, no decryption).
//!
//! - (a) `COPY ... FROM STDIN (FORMAT binary)` into an empty UNLOGGED table without indexes;
//! - (b) COPY into an unlogged staging table, then `INSERT ... ON CONFLICT (esiid, channel, day)
//!   DO UPDATE` (newer revisions only) into an empty logged table keyed like smt.interval_day;
//! - (c) the same with the v2 rows over the filled table: every row is replaced.
//!
//! A CHECKPOINT runs before each timed step, untimed; each step is timed by the wall clock.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use postgres::Client;

use crate::checks::{self, Checks, Totals};
use crate::pgcopy::COLUMNS;

#[derive(Debug, Clone, Copy)]
pub struct Floors {
    pub copy_unlogged_seconds: f64,
    pub copy_upsert_seconds: f64,
    pub replace_upsert_seconds: f64,
    pub v1_bytes: u64,
    pub v2_bytes: u64,
}

const UPSERT: &str = "INSERT INTO keyed SELECT * FROM staging
    ON CONFLICT (esiid, channel, day) DO UPDATE
       SET revision = excluded.revision, first_start = excluded.first_start,
           interval_seconds = excluded.interval_seconds, scale = excluded.scale,
           units16 = excluded.units16, status = excluded.status,
           transaction_id = excluded.transaction_id, file_id = excluded.file_id
     WHERE keyed.revision < excluded.revision";

/// Runs the three floors in `c` (a connection to an empty database of the benchmark's cluster).
/// `rows` is the number of records in each file; row counts are checked, and the keyed table's
/// final contents against `v2` (the floor moved the same data smt does).
pub fn measure(
    c: &mut Client,
    v1: &Path,
    v2: &Path,
    rows: u64,
    v2_totals: &Totals,
    checks: &mut Checks,
) -> Result<Floors> {
    sql(
        c,
        &format!(
            "CREATE UNLOGGED TABLE copy_floor ({COLUMNS});
             CREATE UNLOGGED TABLE staging ({COLUMNS});
             CREATE TABLE keyed ({COLUMNS}, PRIMARY KEY (esiid, channel, day));"
        ),
    )?;

    sql(c, "CHECKPOINT")?;
    let started = Instant::now();
    let copied = copy(c, "copy_floor", v1)?;
    let copy_unlogged_seconds = started.elapsed().as_secs_f64();
    checks.equal("floor (a): rows copied", copied, rows);
    eprintln!("smt-bench: floor (a) COPY into an unlogged table: {copy_unlogged_seconds:.2} s");
    sql(c, "DROP TABLE copy_floor")?;

    sql(c, "CHECKPOINT")?;
    let started = Instant::now();
    let copied = copy(c, "staging", v1)?;
    let upserted = c.execute(UPSERT, &[]).map_err(db("the upsert of v1"))?;
    let copy_upsert_seconds = started.elapsed().as_secs_f64();
    checks.equal("floor (b): rows copied", copied, rows);
    checks.equal("floor (b): rows inserted", upserted, rows);
    eprintln!("smt-bench: floor (b) COPY + upsert into a keyed table: {copy_upsert_seconds:.2} s");

    sql(c, "TRUNCATE staging")?;
    sql(c, "CHECKPOINT")?;
    let started = Instant::now();
    let copied = copy(c, "staging", v2)?;
    let replaced = c.execute(UPSERT, &[]).map_err(db("the upsert of v2"))?;
    let replace_upsert_seconds = started.elapsed().as_secs_f64();
    checks.equal("floor (c): rows copied", copied, rows);
    checks.equal("floor (c): rows replaced", replaced, rows);
    eprintln!(
        "smt-bench: floor (c) COPY + upsert replacing every row: {replace_upsert_seconds:.2} s"
    );
    checks::stored_rows(c, "keyed", v2_totals, "floor (c)", checks)?;

    Ok(Floors {
        copy_unlogged_seconds,
        copy_upsert_seconds,
        replace_upsert_seconds,
        v1_bytes: std::fs::metadata(v1)?.len(),
        v2_bytes: std::fs::metadata(v2)?.len(),
    })
}

/// Streams a binary COPY file into `table`; returns the rows copied.
fn copy(c: &mut Client, table: &str, file: &Path) -> Result<u64> {
    let mut src = BufReader::with_capacity(
        1 << 20,
        File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let mut w = c
        .copy_in(&format!("COPY {table} FROM STDIN (FORMAT binary)"))
        .map_err(db("COPY"))?;
    io::copy(&mut src, &mut w).with_context(|| format!("COPY {table} from {}", file.display()))?;
    w.finish().map_err(db("COPY"))
}

fn sql(c: &mut Client, sql: &str) -> Result<()> {
    c.batch_execute(sql).map_err(db(sql))
}

fn db(what: &str) -> impl Fn(postgres::Error) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {}", smt_e2e::explain(&e))
}
