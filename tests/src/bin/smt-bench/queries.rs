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

/// The reports (issue 12) at this scale, in milliseconds (each the median of [`RUNS`]).
#[derive(Clone, Debug, Serialize)]
pub struct Reports {
    /// One daily meter read for every meter-day of the main day, loaded by `smt.load` as SMT's
    /// daily CSV (made from the day totals: the register moves by the day's intervals, except on
    /// every 1,000th meter, where it moves one kWh more).
    pub daily_reads: u64,
    pub daily_reads_load_s: f64,
    /// `smt.monthly_usage_summary` of the main month, every ESIID (server execution).
    pub monthly_all_ms: f64,
    pub monthly_all_rows: u64,
    /// `smt.meter_check` of the main day, every ESIID (server execution).
    pub meter_check_all_ms: f64,
    pub meter_check_all_rows: u64,
    /// `smt.meter_check_failures` of the main day (server execution); the rows are checked.
    pub meter_check_failures_ms: f64,
    pub meter_check_failures_rows: u64,
    /// `smt.hourly_profile` and `smt.monthly_usage_summary` (with its peaks) of the 13-month
    /// ESIID (client time).
    pub hourly_one_ms: f64,
    pub peak_one_ms: f64,
    /// `smt.hourly_load_shape` of the main month: every meter's stored days (server execution).
    pub load_shape_month_ms: f64,
    pub runs: usize,
}

/// Loads a daily meter read for every meter-day of `day` and times the report views.
pub fn measure_reports(
    c: &mut Client,
    q: &QueryEsiid,
    day: NaiveDate,
    checks: &mut Checks,
) -> Result<Reports> {
    let mut csv = Vec::new();
    c.copy_out(&format!(
        "COPY (SELECT t.esiid AS \"ESIID\", to_char(t.day, 'MM/DD/YYYY') AS \"READ_DATE\",
                      to_char(t.day + 1, 'MM/DD/YYYY') || ' 06:00:00' AS \"REVISION_DATE\",
                      100000.000 AS \"START_READING\",
                      100000.000 + t.import_kwh
                          + CASE WHEN row_number() OVER (ORDER BY t.esiid) % 1000 = 0 THEN 1 ELSE 0 END AS \"END_READING\",
                      t.import_kwh AS \"USAGE_KWH\"
                 FROM smt.day_total t WHERE t.day = '{day}' AND t.import_kwh IS NOT NULL)
         TO STDOUT WITH (FORMAT csv, HEADER)"
    ))
    .map_err(db("making the daily reads"))?
    .read_to_end(&mut csv)
    .context("reading the daily reads")?;
    let daily_reads = csv.iter().filter(|&&b| b == b'\n').count() as u64 - 1;
    let started = Instant::now();
    let loaded: i32 = c
        .query_one(
            "SELECT records FROM smt.load($1, 'DailyMeterUsage-bench.csv')",
            &[&csv],
        )
        .map_err(db("loading the daily reads"))?
        .get(0);
    let daily_reads_load_s = started.elapsed().as_secs_f64();
    checks.equal("daily reads loaded", loaded as u64, daily_reads);

    let month = format!("{}", day.format("%Y-%m-01"));
    let server = |c: &mut Client, sql: &str| -> Result<(f64, u64)> {
        let explain = format!("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}");
        let mut rows = 0;
        let ms = median_server_ms(|| {
            let (ms, r) = explain_analyze(c, &explain)?;
            rows = r;
            Ok(ms)
        })?;
        Ok((ms, rows))
    };
    let (monthly_all_ms, monthly_all_rows) = server(
        c,
        &format!("SELECT * FROM smt.monthly_usage_summary WHERE month = '{month}'"),
    )?;
    let esiids_in_month: i64 = c
        .query_one(
            "SELECT count(DISTINCT esiid) FROM smt.day_total WHERE day >= $1::text::date
                AND day < $1::text::date + interval '1 month'",
            &[&month],
        )
        .map_err(db("counting the month's ESIIDs"))?
        .get(0);
    checks.equal(
        "smt.monthly_usage_summary of the main month: rows",
        monthly_all_rows,
        esiids_in_month as u64,
    );
    let (meter_check_all_ms, meter_check_all_rows) = server(
        c,
        &format!("SELECT * FROM smt.meter_check WHERE day = '{day}'"),
    )?;
    checks.equal(
        "smt.meter_check of the main day: rows",
        meter_check_all_rows,
        daily_reads,
    );
    let (meter_check_failures_ms, meter_check_failures_rows) = server(
        c,
        &format!("SELECT * FROM smt.meter_check_failures WHERE day = '{day}'"),
    )?;
    checks.equal(
        "smt.meter_check_failures of the main day: rows (every 1,000th meter)",
        meter_check_failures_rows,
        daily_reads / 1000,
    );
    let off: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM smt.meter_check_failures WHERE day = '{day}' AND difference_kwh <> -1"),
            &[],
        )
        .map_err(db("reading the meter check"))?
        .get(0);
    checks.equal("meter check failures not off by exactly -1 kWh", off, 0);
    let hourly = c
        .prepare("SELECT * FROM smt.hourly_profile WHERE esiid = $1")
        .map_err(db("preparing the hourly profile"))?;
    let mut hours = 0;
    let hourly_one_ms = median_ms(|| {
        hours = c
            .query(&hourly, &[&q.esiid])
            .map_err(db("the hourly profile"))?
            .len();
        Ok(())
    })?;
    // 13 months (14 calendar months touched) × weekday/weekend × 24 hours at most
    checks.that(hours > 0 && hours <= 14 * 48, || {
        format!("smt.hourly_profile of {}: {hours} rows", q.esiid)
    });
    let peak = c
        .prepare(
            "SELECT month::text, peak_kw::text, peak_start::text FROM smt.monthly_usage_summary
              WHERE esiid = $1 ORDER BY month",
        )
        .map_err(db("preparing the peak demand"))?;
    let mut peaks = Vec::new();
    let peak_one_ms = median_ms(|| {
        peaks = c.query(&peak, &[&q.esiid]).map_err(db("the peak demand"))?;
        Ok(())
    })?;
    // The peaks kept at load time against the intervals themselves, month by month.
    let from_intervals = c
        .query(
            "SELECT DISTINCT ON (date_trunc('month', day)) date_trunc('month', day)::date::text,
                    (kwh * 4)::text, interval_start::text
               FROM smt.interval WHERE esiid = $1 AND channel = 4 AND kwh IS NOT NULL
              ORDER BY date_trunc('month', day), kwh DESC, interval_start",
            &[&q.esiid],
        )
        .map_err(db("the peaks from the intervals"))?;
    let text = |rows: &[postgres::Row]| -> Vec<String> {
        rows.iter()
            .map(|r| {
                let month: String = r.get(0);
                let kw: Option<String> = r.get(1);
                let at: Option<String> = r.get(2);
                format!("{month} {kw:?} {at:?}")
            })
            .collect()
    };
    checks.equal(
        &format!("smt.monthly_usage_summary of {}: peaks", q.esiid),
        text(&peaks),
        text(&from_intervals),
    );
    let (load_shape_month_ms, shape_rows) = server(
        c,
        &format!("SELECT * FROM smt.hourly_load_shape WHERE month = '{month}'"),
    )?;
    checks.that(shape_rows > 0 && shape_rows <= 48, || {
        format!("smt.hourly_load_shape of the main month: {shape_rows} rows")
    });
    let (shape_kwh, month_kwh, equal): (Option<String>, Option<String>, Option<bool>) = c
        .query_one(
            &format!(
                "SELECT s::text, m::text, s = m
                   FROM (SELECT sum(total_kwh) FROM smt.hourly_load_shape WHERE month = '{month}') a(s),
                        (SELECT sum(import_kwh) FROM smt.monthly_usage_summary WHERE month = '{month}') b(m)"
            ),
            &[],
        )
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .map_err(db("the load shape against the day totals"))?;
    checks.that(equal == Some(true), || {
        format!("smt.hourly_load_shape of the main month: {shape_kwh:?} kWh, the day totals {month_kwh:?}")
    });
    Ok(Reports {
        daily_reads,
        daily_reads_load_s,
        monthly_all_ms,
        monthly_all_rows,
        meter_check_all_ms,
        meter_check_all_rows,
        meter_check_failures_ms,
        meter_check_failures_rows,
        hourly_one_ms,
        peak_one_ms,
        load_shape_month_ms,
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
