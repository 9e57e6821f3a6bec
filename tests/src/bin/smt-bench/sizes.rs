//! Storage cost in bytes per interval (`pg_total_relation_size`: heap, indexes and TOAST):
//!
//! - **hot**: every partition of `smt.interval_day` (and of `smt.day_total`, when it exists) over
//!   the intervals stored there;
//! - **history**: `smt.interval_version` over the intervals it holds;
//! - **raw**: the kept files (`smt.file_content`, and `smt.delivery_content` when it exists) over
//!   every interval received (all records of all loads).

use anyhow::Result;
use postgres::Client;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Sizes {
    pub hot_tables: Vec<String>,
    pub hot_bytes: i64,
    pub hot_intervals: i64,
    pub history_bytes: i64,
    pub history_intervals: i64,
    pub raw_tables: Vec<String>,
    pub raw_bytes: i64,
    pub intervals_received: u64,
    /// Bytes of each table measured (partitions included), by name.
    pub table_bytes: Vec<(String, i64)>,
}

impl Sizes {
    pub fn bytes_per_interval(&self) -> Option<f64> {
        ratio(self.hot_bytes, self.hot_intervals as u64)
    }

    pub fn history_bytes_per_interval(&self) -> Option<f64> {
        ratio(self.history_bytes, self.history_intervals as u64)
    }

    pub fn raw_bytes_per_interval(&self) -> Option<f64> {
        ratio(self.raw_bytes, self.intervals_received)
    }
}

fn ratio(bytes: i64, intervals: u64) -> Option<f64> {
    (intervals > 0).then(|| bytes as f64 / intervals as f64)
}

pub fn measure(c: &mut Client, intervals_received: u64) -> Result<Sizes> {
    let hot_tables = existing(c, &["smt.interval_day", "smt.day_total"])?;
    let raw_tables = existing(c, &["smt.file_content", "smt.delivery_content"])?;
    let history_tables = vec!["smt.interval_version".to_owned()];
    let mut table_bytes = Vec::new();
    for t in hot_tables.iter().chain(&raw_tables).chain(&history_tables) {
        table_bytes.push((t.clone(), total_size(c, t)?));
    }
    let sum = |tables: &[String]| -> i64 {
        table_bytes
            .iter()
            .filter(|(t, _)| tables.contains(t))
            .map(|(_, b)| b)
            .sum()
    };
    let hot_bytes = sum(&hot_tables);
    let raw_bytes = sum(&raw_tables);
    let history_bytes = sum(&history_tables);
    let hot_intervals = one(
        c,
        "SELECT coalesce(sum(length(status)), 0)::int8 FROM smt.interval_day",
    )?;
    let history_intervals = one(
        c,
        "SELECT coalesce(sum(length(status)), 0)::int8 FROM smt.interval_version",
    )?;
    Ok(Sizes {
        hot_tables,
        hot_bytes,
        hot_intervals,
        history_bytes,
        history_intervals,
        raw_tables,
        raw_bytes,
        intervals_received,
        table_bytes,
    })
}

fn existing(c: &mut Client, names: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for name in names {
        let row = c
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[name])
            .map_err(|e| anyhow::anyhow!("to_regclass({name}): {}", smt_e2e::explain(&e)))?;
        if row.get(0) {
            out.push((*name).to_owned());
        }
    }
    Ok(out)
}

/// Heap, indexes and TOAST of a table and all its partitions (`pg_partition_tree` lists nothing
/// for a table that is not partitioned, hence the union).
fn total_size(c: &mut Client, table: &str) -> Result<i64> {
    let row = c
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(r)), 0)::int8
               FROM (SELECT relid AS r FROM pg_partition_tree($1::text::regclass)
                     UNION SELECT $1::text::regclass) t",
            &[&table],
        )
        .map_err(|e| anyhow::anyhow!("size of {table}: {}", smt_e2e::explain(&e)))?;
    Ok(row.get(0))
}

fn one(c: &mut Client, sql: &str) -> Result<i64> {
    Ok(c.query_one(sql, &[])
        .map_err(|e| anyhow::anyhow!("{sql}: {}", smt_e2e::explain(&e)))?
        .get(0))
}
