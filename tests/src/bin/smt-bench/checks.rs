//! Exactness: what the generated records add up to ([`Totals`], computed in Rust as the data is
//! written), compared with what the database holds after every load, two ways — through
//! `smt.daily_usage` and straight from the stored rows of `smt.interval_day` — and with the
//! counts `smt.file` reports. Every comparison is recorded in [`Checks`]; a difference fails the run.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use postgres::Client;
use serde::{Deserialize, Serialize};
use smt_core::record::{CHANNEL_GENERATION, CHANNEL_LOAD};
use smt_core::{Decimal, DecimalSum, IntervalRecord, Status};

/// What the records of one operating day and channel add up to.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub records: u64,
    /// Records with at least one interval value (their day's kWh sum is not NULL).
    pub with_values: u64,
    pub intervals: u64,
    pub present: u64,
    pub estimated: u64,
    pub kwh: DecimalSum,
}

impl Cell {
    fn add(&mut self, r: &IntervalRecord) {
        let mut present = 0;
        for reading in r.intervals.iter().flatten() {
            present += 1;
            if reading.status == Status::Estimated {
                self.estimated += 1;
            }
            self.kwh.add(reading.kwh);
        }
        self.records += 1;
        self.with_values += u64::from(present > 0);
        self.intervals += r.intervals.len() as u64;
        self.present += present;
    }

    fn merge(&mut self, other: &Cell) {
        self.records += other.records;
        self.with_values += other.with_values;
        self.intervals += other.intervals;
        self.present += other.present;
        self.estimated += other.estimated;
        self.kwh.add(sum_as_decimal(&other.kwh));
    }
}

/// A sum as one decimal (exact: the generated sums stay far below 18 digits).
fn sum_as_decimal(sum: &DecimalSum) -> Decimal {
    Decimal::parse_str(&sum.to_string()).expect("a sum of generated values fits 18 digits")
}

/// Expected results per (operating day, channel).
#[derive(Clone, Debug, Default)]
pub struct Totals(pub BTreeMap<(NaiveDate, u8), Cell>);

impl Totals {
    pub fn add(&mut self, r: &IntervalRecord) {
        self.0.entry((r.day, r.channel)).or_default().add(r);
    }

    /// These totals and `other`'s (records of distinct ESIID-channel-days).
    pub fn merged(&self, other: &Totals) -> Totals {
        let mut out = self.clone();
        for (key, cell) in &other.0 {
            out.0.entry(*key).or_default().merge(cell);
        }
        out
    }

    pub fn cell(&self, day: NaiveDate, channel: u8) -> Cell {
        self.0.get(&(day, channel)).cloned().unwrap_or_default()
    }

    pub fn to_rows(&self) -> Vec<TotalRow> {
        self.0
            .iter()
            .map(|((day, channel), c)| TotalRow {
                day: day.to_string(),
                channel: *channel,
                records: c.records,
                with_values: c.with_values,
                intervals: c.intervals,
                present: c.present,
                estimated: c.estimated,
                kwh: c.kwh.to_string(),
            })
            .collect()
    }

    pub fn from_rows(rows: &[TotalRow]) -> Result<Totals> {
        let mut out = Totals::default();
        for r in rows {
            let day: NaiveDate = r.day.parse().with_context(|| format!("day {:?}", r.day))?;
            let mut kwh = DecimalSum::default();
            kwh.add(Decimal::parse_str(&r.kwh).with_context(|| format!("kWh {:?}", r.kwh))?);
            out.0.insert(
                (day, r.channel),
                Cell {
                    records: r.records,
                    with_values: r.with_values,
                    intervals: r.intervals,
                    present: r.present,
                    estimated: r.estimated,
                    kwh,
                },
            );
        }
        Ok(out)
    }
}

/// [`Totals`] as stored in the data manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalRow {
    pub day: String,
    pub channel: u8,
    pub records: u64,
    pub with_values: u64,
    pub intervals: u64,
    pub present: u64,
    pub estimated: u64,
    pub kwh: String,
}

/// Every comparison made, and the ones that failed (with what differed).
#[derive(Debug, Default)]
pub struct Checks {
    pub performed: usize,
    pub failures: Vec<String>,
}

impl Checks {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn equal<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        self.performed += 1;
        if got != want {
            let msg = format!("{what}: database has {got:?}, expected {want:?}");
            eprintln!("smt-bench: CHECK FAILED: {msg}");
            self.failures.push(msg);
        }
    }

    /// A decimal sum from the database (`::text`, NULL = `None`) against the expected exact sum;
    /// `None` is expected exactly when no value was summed.
    pub fn sum(&mut self, what: &str, got: Option<&str>, want: &DecimalSum, values: u64) {
        self.performed += 1;
        let ok = match got {
            None => values == 0,
            Some(text) => values > 0 && want.equals_text(text),
        };
        if !ok {
            let msg = format!("{what}: database has {got:?}, expected {want} (exact)");
            eprintln!("smt-bench: CHECK FAILED: {msg}");
            self.failures.push(msg);
        }
    }

    /// Counts a comparison that passed when `ok`, else fails with `msg()`.
    pub fn that(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if ok {
            self.performed += 1;
        } else {
            self.fail(msg());
        }
    }

    pub fn fail(&mut self, msg: String) {
        self.performed += 1;
        eprintln!("smt-bench: CHECK FAILED: {msg}");
        self.failures.push(msg);
    }
}

/// Compares the whole database (`smt.daily_usage` and `smt.interval_day`) with `want`: every
/// (day, channel) it holds must be expected and every expected one present, with the same
/// records, intervals, present and estimated intervals, and exact kWh sums.
pub fn database(c: &mut Client, want: &Totals, after: &str, checks: &mut Checks) -> Result<()> {
    stored_rows(c, "smt.interval_day", want, after, checks)?;
    daily_usage(c, want, after, checks)
}

/// The columns of `smt.interval_day` (or a floor table) that may hold a day's values, and whether
/// they are scaled integers (`units × 10^-scale`) or exact decimals. Exactly one is set in a row.
const VALUE_COLUMNS: &[(&str, bool)] = &[("units16", true), ("units", true), ("kwh_exact", false)];

/// From the stored rows of `table` (`smt.interval_day`, or a floor's table of the same columns)
/// themselves: the values of whichever value column each row uses, scaled by the row's own scale,
/// not through any smt function or view.
pub fn stored_rows(
    c: &mut Client,
    table: &str,
    want: &Totals,
    after: &str,
    checks: &mut Checks,
) -> Result<()> {
    let present: Vec<String> = c
        .query(
            "SELECT attname::text FROM pg_attribute
              WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped",
            &[&table],
        )
        .map_err(|e| anyhow::anyhow!("columns of {table}: {}", smt_e2e::explain(&e)))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let columns: Vec<(&str, bool)> = VALUE_COLUMNS
        .iter()
        .copied()
        .filter(|(name, _)| present.iter().any(|p| p == name))
        .collect();
    if columns.is_empty() {
        anyhow::bail!("{table} has none of the value columns {VALUE_COLUMNS:?}");
    }
    let joins: String = columns
        .iter()
        .map(|(name, _)| {
            format!(
                " CROSS JOIN LATERAL (SELECT count(x) AS n, sum(x)::numeric AS s \
                                        FROM unnest(d.{name}) x) AS v_{name}"
            )
        })
        .collect();
    let count: Vec<String> = columns.iter().map(|(n, _)| format!("v_{n}.n")).collect();
    let sums: Vec<String> = columns
        .iter()
        .map(|(n, scaled)| {
            if *scaled {
                format!("v_{n}.s * power(10::numeric, -d.scale::numeric)")
            } else {
                format!("v_{n}.s")
            }
        })
        .collect();
    let sql = format!(
        "SELECT d.day, d.channel::int4, count(*), sum(length(d.status))::int8,
                sum(length(replace(d.status, '-', '')))::int8,
                sum({count})::int8,
                count(*) FILTER (WHERE {count} > 0),
                sum(length(d.status) - length(replace(d.status, 'E', '')))::int8,
                trim_scale(sum(coalesce({sums})))::text
           FROM {table} d {joins}
          GROUP BY 1, 2 ORDER BY 1, 2",
        count = count.join(" + "),
        sums = sums.join(", "),
    );
    let rows = c
        .query(&sql, &[])
        .map_err(|e| anyhow::anyhow!("reading {table}: {}", smt_e2e::explain(&e)))?;
    let mut seen = BTreeMap::new();
    for row in &rows {
        let day: NaiveDate = row.get(0);
        let channel: i32 = row.get(1);
        let what = format!("after {after}: {table} {day} channel {channel}");
        let Ok(channel) = u8::try_from(channel) else {
            checks.fail(format!("{what}: unexpected channel"));
            continue;
        };
        seen.insert((day, channel), ());
        let Some(cell) = want.0.get(&(day, channel)) else {
            let n: i64 = row.get(2);
            checks.fail(format!("{what}: {n} rows, none expected"));
            continue;
        };
        let n = |i: usize| row.get::<_, i64>(i) as u64;
        checks.equal(&format!("{what}: rows"), n(2), cell.records);
        checks.equal(&format!("{what}: intervals"), n(3), cell.intervals);
        checks.equal(&format!("{what}: present (status)"), n(4), cell.present);
        checks.equal(&format!("{what}: present (values)"), n(5), cell.present);
        checks.equal(&format!("{what}: rows with values"), n(6), cell.with_values);
        checks.equal(&format!("{what}: estimated"), n(7), cell.estimated);
        let kwh: Option<String> = row.get(8);
        checks.sum(
            &format!("{what}: sum of kWh"),
            kwh.as_deref(),
            &cell.kwh,
            cell.present,
        );
    }
    for (day, channel) in want.0.keys() {
        if !seen.contains_key(&(*day, *channel)) {
            checks.fail(format!(
                "after {after}: {table} has no rows for {day} channel {channel}"
            ));
        }
    }
    Ok(())
}

/// Through the view BI users read: per day, rows, kWh imported (channel 4) and exported
/// (channel 1), intervals present and estimated (channel 4).
fn daily_usage(c: &mut Client, want: &Totals, after: &str, checks: &mut Checks) -> Result<()> {
    let rows = c
        .query(
            "SELECT day, count(*), count(import_kwh), sum(import_kwh)::text,
                    count(export_kwh), sum(export_kwh)::text,
                    sum(intervals_present)::int8, sum(intervals_estimated)::int8
               FROM smt.daily_usage GROUP BY day ORDER BY day",
            &[],
        )
        .map_err(|e| anyhow::anyhow!("reading smt.daily_usage: {}", smt_e2e::explain(&e)))?;
    let days: BTreeMap<NaiveDate, ()> = want.0.keys().map(|(d, _)| (*d, ())).collect();
    let mut seen = BTreeMap::new();
    for row in &rows {
        let day: NaiveDate = row.get(0);
        seen.insert(day, ());
        let what = format!("after {after}: smt.daily_usage {day}");
        if !days.contains_key(&day) {
            let n: i64 = row.get(1);
            checks.fail(format!("{what}: {n} rows, none expected"));
            continue;
        }
        let load = want.cell(day, CHANNEL_LOAD);
        let generation = want.cell(day, CHANNEL_GENERATION);
        let n = |i: usize| row.get::<_, i64>(i) as u64;
        // Every generated ESIID has a load record on each of its days.
        checks.equal(&format!("{what}: rows (ESIIDs)"), n(1), load.records);
        checks.equal(&format!("{what}: import rows"), n(2), load.with_values);
        let import: Option<String> = row.get(3);
        checks.sum(
            &format!("{what}: sum(import_kwh)"),
            import.as_deref(),
            &load.kwh,
            load.present,
        );
        checks.equal(
            &format!("{what}: export rows"),
            n(4),
            generation.with_values,
        );
        let export: Option<String> = row.get(5);
        checks.sum(
            &format!("{what}: sum(export_kwh)"),
            export.as_deref(),
            &generation.kwh,
            generation.present,
        );
        checks.equal(&format!("{what}: intervals_present"), n(6), load.present);
        checks.equal(
            &format!("{what}: intervals_estimated"),
            n(7),
            load.estimated,
        );
    }
    for day in days.keys() {
        if !seen.contains_key(day) {
            checks.fail(format!(
                "after {after}: smt.daily_usage has no rows for {day}"
            ));
        }
    }
    Ok(())
}
