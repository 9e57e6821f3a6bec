//! Parser throughput on this machine, single thread, in memory (no disk, no decompression): the
//! LSE reader over one main-day file's LSE (the first v1 file, generated again), and the SMT
//! interval CSV reader over the first 5,000 of its records as CSV. Best of three; MB = 10^6 bytes.
//! Driven as `core/benches/lse_parse.rs` drives them: every record read, checked `Ok`, dropped.

use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;
use smt_core::lse::LseReader;
use smt_core::smt_csv::interval::IntervalCsvReader;
use smt_core::testdata;
use smt_core::{IntervalRecord, RecordError};

use crate::data::{self, Params, Version};

const CSV_RECORDS: usize = 5000;
const TRIES: usize = 3;

#[derive(Clone, Debug, Serialize)]
pub struct ParseSpeed {
    pub lse_mb_per_s: f64,
    pub lse_bytes: u64,
    pub lse_records: u64,
    pub csv_mb_per_s: f64,
    pub csv_bytes: u64,
    pub csv_records: u64,
}

pub fn measure(params: &Params) -> Result<ParseSpeed> {
    let records: Vec<IntervalRecord> = data::main_records(params, Version::V1)
        .take(params.records_per_file as usize)
        .collect();
    let lse = testdata::lse_bytes(&records, true);
    let csv = testdata::csv_bytes(&records[..records.len().min(CSV_RECORDS)]);
    let csv_records = records.len().min(CSV_RECORDS);
    let lse_records = records.len();
    drop(records);
    let lse_mb_per_s = best_mb_per_s(&lse, lse_records, |b| LseReader::new(b, Default::default()))?;
    let csv_mb_per_s = best_mb_per_s(&csv, csv_records, |b| {
        IntervalCsvReader::new(b, Default::default())
    })?;
    eprintln!(
        "smt-bench: parsing: LSE {lse_mb_per_s:.0} MB/s ({} bytes), CSV {csv_mb_per_s:.0} MB/s ({} bytes)",
        lse.len(),
        csv.len()
    );
    Ok(ParseSpeed {
        lse_mb_per_s,
        lse_bytes: lse.len() as u64,
        lse_records: lse_records as u64,
        csv_mb_per_s,
        csv_bytes: csv.len() as u64,
        csv_records: csv_records as u64,
    })
}

fn best_mb_per_s<'a, I>(
    bytes: &'a [u8],
    records: usize,
    reader: impl Fn(&'a [u8]) -> I,
) -> Result<f64>
where
    I: Iterator<Item = Result<IntervalRecord, RecordError>>,
{
    let mut best = f64::INFINITY;
    for _ in 0..TRIES {
        let started = Instant::now();
        let mut n = 0;
        for r in reader(bytes) {
            match r {
                Ok(r) => drop(std::hint::black_box(r)),
                Err(e) => bail!("generated data rejected by the parser: {e:?}"),
            }
            n += 1;
        }
        best = best.min(started.elapsed().as_secs_f64());
        if n != records {
            bail!("the parser read {n} records of {records}");
        }
    }
    Ok(bytes.len() as f64 / 1e6 / best)
}
