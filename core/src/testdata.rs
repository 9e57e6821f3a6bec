//! Realistic generated data for tests, benchmarks and the bundled SMT simulator: ESIIDs with real
//! TDSP prefixes, DST days, estimates and blank intervals. Deterministic for a seed, with no
//! dependency (splitmix64), so a failing case can be reproduced from its seed.

use chrono::{Duration, NaiveDate, NaiveTime};

use crate::decimal::Decimal;
use crate::esiid::TDSP_PREFIXES;
use crate::record::{IntervalRecord, Reading, Status, CHANNEL_GENERATION, CHANNEL_LOAD};
use crate::{lse, smt_csv, time};

/// ERCOT's 2025 DST days: 92 and 100 intervals.
pub fn dst_days_2025() -> [NaiveDate; 2] {
    [
        NaiveDate::from_ymd_opt(2025, 3, 9).unwrap(),
        NaiveDate::from_ymd_opt(2025, 11, 2).unwrap(),
    ]
}

pub struct Generator {
    state: u64,
    /// Per mille of intervals marked estimated.
    pub estimated_per_mille: u64,
    /// Per mille of intervals left blank (missing).
    pub missing_per_mille: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator {
            state: seed,
            estimated_per_mille: 30,
            missing_per_mille: 10,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A valid strict ESIID with a known TDSP prefix.
    pub fn esiid(&mut self) -> String {
        let (prefix, len, _) = TDSP_PREFIXES[self.below(TDSP_PREFIXES.len() as u64) as usize];
        let mut id = prefix.to_owned();
        while id.len() < len {
            id.push(char::from(b'0' + self.below(10) as u8));
        }
        id
    }

    /// One full day of 15-minute data, revised two days later at 06:00 Central.
    pub fn record(&mut self, esiid: &str, channel: u8, day: NaiveDate) -> IntervalRecord {
        let slots = time::slots_in_day(day, 900);
        let intervals = (0..slots)
            .map(|_| {
                if self.below(1000) < self.missing_per_mille {
                    return None;
                }
                let status = if self.below(1000) < self.estimated_per_mille {
                    Status::Estimated
                } else {
                    Status::Actual
                };
                // 0–4.999 kWh with three decimals, like SMT's residential files.
                Some(Reading {
                    kwh: Decimal::new(self.below(5000) as i64, 3),
                    status,
                })
            })
            .collect();
        let revision_local =
            (day + Duration::days(2)).and_time(NaiveTime::from_hms_opt(6, 0, 0).unwrap());
        IntervalRecord {
            esiid: esiid.to_owned(),
            channel,
            day,
            start: time::day_start(day),
            interval_seconds: 900,
            revision: time::revision_to_utc(revision_local),
            transaction_id: Some(format!("T{:016X}", self.next_u64())),
            attributes: vec![
                ("MRE".into(), "957877905".into()),
                ("Sender".into(), "957877905".into()),
                ("Receiver".into(), "183529049".into()),
                ("REP".into(), "111111111".into()),
            ],
            intervals,
            line: 0,
        }
    }

    /// `esiids` meters over `days`, load on every day, generation on every fourth meter.
    pub fn records(&mut self, esiids: usize, days: &[NaiveDate]) -> Vec<IntervalRecord> {
        let mut out = Vec::new();
        for n in 0..esiids {
            let esiid = self.esiid();
            for &day in days {
                out.push(self.record(&esiid, CHANNEL_LOAD, day));
                if n % 4 == 3 {
                    out.push(self.record(&esiid, CHANNEL_GENERATION, day));
                }
            }
        }
        out
    }
}

pub fn lse_bytes(records: &[IntervalRecord], crlf: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        lse::write_record(&mut out, r, crlf).expect("writing to memory");
    }
    out
}

pub fn csv_bytes(records: &[IntervalRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    smt_csv::interval::write_header(&mut out).expect("writing to memory");
    for r in records {
        smt_csv::interval::write_record(&mut out, r).expect("writing to memory");
    }
    out
}
