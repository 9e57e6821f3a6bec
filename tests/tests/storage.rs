//! Storage cost: bytes on disk per stored interval, heap, TOAST and indexes of every partition of
//! the hot tables (smt.interval_day and the day totals in smt.day_total).

use smt_core::testdata::{self, Generator};
use smt_e2e::*;

/// The target.
const MAX_BYTES_PER_INTERVAL: f64 = 8.0;

#[test]
fn bytes_per_interval_within_target() {
    let Some(db) = TestDb::new("storage") else {
        return;
    };
    let mut c = db.connect();
    let days: Vec<_> = (1..=10).map(|d| date(2025, 6, d)).collect();
    let records = Generator::new(71).records(300, &days);
    let intervals: usize = records.iter().map(|r| r.intervals.len()).sum();
    let l = load(&mut c, &testdata::lse_bytes(&records, true), "300x10.lse");
    assert_eq!(l.inserted as usize, records.len());

    let stored: i64 = one(
        &mut c,
        "SELECT sum(length(status))::bigint FROM smt.interval_day",
        &[],
    );
    assert_eq!(stored as usize, intervals, "every interval stored");
    c.batch_execute("CHECKPOINT").ok();
    let row = c
        .query_one(
            "SELECT sum(pg_total_relation_size(i.inhrelid))::bigint,
                    sum(pg_relation_size(i.inhrelid))::bigint,
                    sum(pg_indexes_size(i.inhrelid))::bigint,
                    count(*)
               FROM pg_inherits i
              WHERE i.inhparent IN ('smt.interval_day'::regclass, 'smt.day_total'::regclass)",
            &[],
        )
        .unwrap();
    let (total, heap, indexes, partitions): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(partitions, 2, "one month of each table");
    let per_interval = total as f64 / intervals as f64;
    let row = c
        .query_one(
            "SELECT avg(pg_column_size(d.*))::float8,
                    avg(coalesce(pg_column_size(d.units16), pg_column_size(d.units)))::float8,
                    avg(pg_column_size(d.status))::float8
               FROM smt.interval_day d",
            &[],
        )
        .unwrap();
    let (row_bytes, units_bytes, status_bytes): (f64, f64, f64) =
        (row.get(0), row.get(1), row.get(2));
    eprintln!(
        "storage: average row {row_bytes:.0} bytes (units {units_bytes:.0}, status {status_bytes:.0}) \
         before the tuple header, item pointer and fillfactor"
    );
    eprintln!(
        "storage: {} records, {intervals} intervals: {total} bytes in smt.interval_day and smt.day_total \
         (heap {heap}, indexes {indexes}, rest {}) = {per_interval:.2} bytes/interval, \
         {:.1} bytes/record",
        records.len(),
        total - heap - indexes,
        total as f64 / records.len() as f64
    );
    assert!(
        per_interval <= MAX_BYTES_PER_INTERVAL,
        "{per_interval:.2} bytes per interval, target {MAX_BYTES_PER_INTERVAL}"
    );
}
