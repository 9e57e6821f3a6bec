//! Parser throughput: LSE (the bulk format, target ≥ 1 GB/s per core) and, for reference, SMT's
//! interval CSV. Input is generated in memory, so the figures are pure parsing (no disk, no
//! decompression). `scripts/bench.sh` runs this and prints MB/s.
//!
//! `SMT_BENCH_ESIIDS` / `SMT_BENCH_DAYS` override the input size (defaults: 3000 meters over 14
//! days including both 2025 DST days, about 73 MB of LSE).

use std::hint::black_box;
use std::time::Duration;

use chrono::{Days, NaiveDate};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use smt_core::lse::LseReader;
use smt_core::smt_csv::interval::IntervalCsvReader;
use smt_core::testdata::{self, Generator};

const SEED: u64 = 0x5EED_2025;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` consecutive operating days around each 2025 DST change (half before, half from the change
/// on), so both the 92- and the 100-interval day are in.
fn days(n: usize) -> Vec<NaiveDate> {
    let [spring, fall] = testdata::dst_days_2025();
    let half = n / 2;
    let around = |change: NaiveDate, count: usize| {
        let first = change - Days::new((count / 2) as u64);
        (0..count as u64).map(move |i| first + Days::new(i))
    };
    around(spring, half).chain(around(fall, n - half)).collect()
}

/// Counts records, failing on the first rejected one: the generated data is all valid.
fn consume<I: Iterator<Item = Result<smt_core::IntervalRecord, smt_core::RecordError>>>(
    records: I,
) -> (usize, usize) {
    let mut n = 0;
    let mut intervals = 0;
    for r in records {
        let r = r.unwrap_or_else(|e| panic!("generated data rejected: {e:?}"));
        intervals += r.intervals.len();
        n += 1;
    }
    (n, intervals)
}

fn lse(c: &mut Criterion) {
    let esiids = env_or("SMT_BENCH_ESIIDS", 3000);
    bench_parser(
        c,
        "lse",
        esiids,
        |r| testdata::lse_bytes(r, true),
        |bytes| consume(LseReader::new(bytes, Default::default())).0,
    );
}

fn csv(c: &mut Criterion) {
    let esiids = env_or("SMT_BENCH_CSV_ESIIDS", 400);
    bench_parser(c, "smt_csv", esiids, testdata::csv_bytes, |bytes| {
        consume(IntervalCsvReader::new(bytes, Default::default())).0
    });
}

/// Generates `esiids` meters of input with `write`, checks `parse` reads every record back once
/// outside the timing, then times `parse` alone.
fn bench_parser(
    c: &mut Criterion,
    name: &str,
    esiids: usize,
    write: impl Fn(&[smt_core::IntervalRecord]) -> Vec<u8>,
    parse: impl Fn(&[u8]) -> usize,
) {
    let days = days(env_or("SMT_BENCH_DAYS", 14));
    let records = Generator::new(SEED).records(esiids, &days);
    let bytes = write(&records);
    let expected = records.len();
    drop(records);
    eprintln!(
        "{name} input: {esiids} ESIIDs x {} days = {expected} records, {} bytes",
        days.len(),
        bytes.len()
    );
    assert_eq!(parse(&bytes[..]), expected);

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::BytesDecimal(bytes.len() as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("parse", |b| {
        b.iter(|| {
            let n = parse(black_box(&bytes[..]));
            assert_eq!(n, expected);
            n
        })
    });
    group.finish();
}

criterion_group!(benches, lse, csv);
criterion_main!(benches);
