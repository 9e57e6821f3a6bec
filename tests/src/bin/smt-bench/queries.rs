//! Query latency, each the median of [`RUNS`] runs after one warm-up, in milliseconds:
//!
//! - 13 months of one ESIID's intervals from `smt.interval`, every row fetched by the client;
//! - daily totals of every ESIID for the main day from `smt.daily_usage`: the server's execution
//!   time (`EXPLAIN (ANALYZE, TIMING OFF)`, rows computed but not sent), and the client's time to
//!   fetch them all (`COPY (SELECT ...) TO STDOUT`);
//! - monthly totals of one ESIID over 13 months.
//!
//! Each result is checked against what was generated (row counts, monthly sums).

use std::io::Read;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use postgres::{Client, SimpleQueryMessage};
use serde::Serialize;

use crate::checks::Checks;
use crate::data::QueryEsiid;

pub const RUNS: usize = 5;

#[derive(Clone, Debug, Serialize)]
pub struct Queries {
    pub esiid_13mo_ms: f64,
    pub esiid_13mo_rows: u64,
    pub daily_all_ms: f64,
    pub daily_all_fetch_ms: f64,
    pub daily_all_rows: u64,
    pub monthly_one_ms: f64,
    pub monthly_one_rows: u64,
    pub runs: usize,
}

pub fn measure(
    c: &mut Client,
    q: &QueryEsiid,
    day: NaiveDate,
    daily_rows: u64,
    checks: &mut Checks,
) -> Result<Queries> {
    let first: NaiveDate = q.first_day.parse()?;
    let last: NaiveDate = q.last_day.parse()?;

    let stmt = c
        .prepare("SELECT * FROM smt.interval WHERE esiid = $1 AND day BETWEEN $2 AND $3")
        .map_err(db("preparing the 13-month query"))?;
    let mut rows_seen = 0;
    let esiid_13mo_ms = median_ms(|| {
        let rows = c
            .query(&stmt, &[&q.esiid, &first, &last])
            .map_err(db("the 13-month query"))?;
        rows_seen = rows.len() as u64;
        Ok(())
    })?;
    checks.equal(
        &format!("13 months of {} from smt.interval: rows", q.esiid),
        rows_seen,
        q.intervals,
    );

    let daily = format!("SELECT * FROM smt.daily_usage WHERE day = '{day}'");
    let explain = format!("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {daily}");
    let mut planned_rows = 0;
    let daily_all_ms = median_server_ms(|| {
        let (ms, rows) = explain_analyze(c, &explain)?;
        planned_rows = rows;
        Ok(ms)
    })?;
    checks.equal(
        &format!("smt.daily_usage for {day} (EXPLAIN ANALYZE): rows"),
        planned_rows,
        daily_rows,
    );
    let copy = format!("COPY ({daily}) TO STDOUT");
    let mut fetched_rows = 0;
    let daily_all_fetch_ms = median_ms(|| {
        let mut out = Vec::new();
        c.copy_out(&copy)
            .map_err(db("COPY of the daily totals"))?
            .read_to_end(&mut out)
            .context("reading the daily totals")?;
        fetched_rows = out.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(())
    })?;
    checks.equal(
        &format!("smt.daily_usage for {day} (COPY): rows"),
        fetched_rows,
        daily_rows,
    );

    let monthly = "SELECT date_trunc('month', day), sum(import_kwh), sum(export_kwh)
                     FROM smt.daily_usage WHERE esiid = $1 GROUP BY 1 ORDER BY 1";
    let stmt = c
        .prepare(monthly)
        .map_err(db("preparing the monthly query"))?;
    let mut monthly_rows = 0;
    let monthly_one_ms = median_ms(|| {
        monthly_rows = c
            .query(&stmt, &[&q.esiid])
            .map_err(db("the monthly query"))?
            .len() as u64;
        Ok(())
    })?;
    check_months(c, q, checks)?;

    Ok(Queries {
        esiid_13mo_ms,
        esiid_13mo_rows: rows_seen,
        daily_all_ms,
        daily_all_fetch_ms,
        daily_all_rows: fetched_rows,
        monthly_one_ms,
        monthly_one_rows: monthly_rows,
        runs: RUNS,
    })
}

/// The monthly totals, read as text, against the generated ones.
fn check_months(c: &mut Client, q: &QueryEsiid, checks: &mut Checks) -> Result<()> {
    let rows = c
        .query(
            "SELECT date_trunc('month', day)::date::text, sum(import_kwh)::text, sum(export_kwh)::text
               FROM smt.daily_usage WHERE esiid = $1 GROUP BY 1 ORDER BY 1",
            &[&q.esiid],
        )
        .map_err(db("the monthly query"))?;
    let got: Vec<(String, Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    checks.equal(
        &format!("monthly totals of {}: months", q.esiid),
        got.len(),
        q.months.len(),
    );
    for (m, (month, import, export)) in q.months.iter().zip(&got) {
        let what = format!("monthly totals of {} for {}", q.esiid, m.month);
        checks.equal(&format!("{what}: month"), month, &m.month);
        for (name, got, want) in [
            ("import_kwh", import, &m.import_kwh),
            ("export_kwh", export, &m.export_kwh),
        ] {
            let same = match (got, want) {
                (Some(g), Some(w)) => {
                    let mut sum = smt_core::DecimalSum::default();
                    sum.add(smt_core::Decimal::parse_str(w)?);
                    sum.equals_text(g)
                }
                (None, None) => true,
                _ => false,
            };
            checks.that(same, || {
                format!("{what}: database has sum({name}) = {got:?}, expected {want:?}")
            });
        }
    }
    Ok(())
}

/// `EXPLAIN ANALYZE` in JSON: the server's execution time (ms) and the rows of the top node.
fn explain_analyze(c: &mut Client, sql: &str) -> Result<(f64, u64)> {
    let messages = c.simple_query(sql).map_err(db("EXPLAIN ANALYZE"))?;
    let text = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .context("EXPLAIN returned no row")?;
    let plan: serde_json::Value = serde_json::from_str(&text).context("EXPLAIN's JSON")?;
    let ms = plan[0]["Execution Time"]
        .as_f64()
        .context("EXPLAIN's JSON has no Execution Time")?;
    let rows = plan[0]["Plan"]["Actual Rows"]
        .as_f64()
        .context("EXPLAIN's JSON has no Actual Rows")?;
    Ok((ms, rows as u64))
}

/// Median wall-clock time of `f` over [`RUNS`] runs after one warm-up.
fn median_ms(mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    median_server_ms(|| {
        let started = Instant::now();
        f()?;
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    })
}

/// Median of the times `f` reports over [`RUNS`] runs after one warm-up.
fn median_server_ms(mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    f()?;
    let mut times = (0..RUNS).map(|_| f()).collect::<Result<Vec<f64>>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[RUNS / 2])
}

fn db(what: &str) -> impl Fn(postgres::Error) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {}", smt_e2e::explain(&e))
}
