//! The staging row: what loading hands the database for one record or one bad record, the one
//! definition of that shape. The extension builds these rows when it parses a file itself
//! (`smt._stage_records`); the `smt` scheduler builds the same rows and copies them into
//! `smt.stage` (binary COPY), so the database only merges. Either way the database checks each
//! row it did not build ([`check`]) before merging it: a row that does not hold together is
//! rejected with the reason, never stored.
//!
//! A record's values are stored as scaled integers (see [`crate::storage`]): in 16-bit units when
//! they all fit (the usual day, 2 bytes an interval), else 32-bit units, else exact decimal text.
//! The row also carries the day's totals (exact kWh, intervals expected, present and estimated),
//! computed here once, so that daily and monthly figures never unnest intervals.

use chrono::{DateTime, NaiveDate, Utc};

use crate::decimal::{Decimal, DecimalSum};
use crate::record::{IntervalRecord, Reading, RecordError, Status};
use crate::storage::{self, EncodedDay, Values};
use crate::time;

/// The columns of a staging row, in the order of `smt.stage` after its `file_id` (and of
/// `smt._stage_records`). [`StageRow`] has one field for each.
pub const COLUMNS: [&str; 22] = [
    "role",
    "esiid",
    "channel",
    "day",
    "revision",
    "first_start",
    "interval_seconds",
    "scale",
    "units16",
    "units",
    "kwh_exact",
    "status",
    "transaction_id",
    "kwh_total",
    "intervals_expected",
    "intervals_present",
    "intervals_estimated",
    "line",
    "field",
    "kind",
    "reason",
    "raw",
];

/// A record's values in the narrowest exact form that holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StagedValues {
    /// `units × 10^-scale`, every unit within 16 bits.
    Units16(Vec<Option<i16>>),
    /// `units × 10^-scale`, some unit beyond 16 bits.
    Units32(Vec<Option<i32>>),
    /// Exact decimals, for values beyond 32-bit units.
    Exact(Vec<Option<Decimal>>),
}

/// One staging row (see [`COLUMNS`]). A record fills the record fields and leaves `field` ..
/// `raw` empty; a bad record the other way round, with its ESIID, channel and day when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageRow {
    pub role: &'static str,
    pub esiid: Option<String>,
    pub channel: Option<i16>,
    pub day: Option<NaiveDate>,
    pub revision: Option<DateTime<Utc>>,
    pub first_start: Option<DateTime<Utc>>,
    pub interval_seconds: Option<i32>,
    pub scale: Option<i16>,
    pub values: Option<StagedValues>,
    pub status: Option<String>,
    pub transaction_id: Option<String>,
    pub totals: Option<DayTotals>,
    pub line: i64,
    pub field: Option<String>,
    pub kind: Option<String>,
    pub reason: Option<String>,
    pub raw: Option<String>,
}

/// A record's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayTotals {
    /// Exact sum of the values; `None` when no interval has one (a sum over nothing is NULL).
    pub kwh: Option<DecimalSum>,
    /// Intervals the operating day has at the record's interval length (96, or 92 / 100).
    pub expected: i16,
    pub present: i16,
    pub estimated: i16,
}

impl DayTotals {
    pub fn of(intervals: &[Option<Reading>], day: NaiveDate, interval_seconds: u32) -> DayTotals {
        let mut kwh = DecimalSum::default();
        let (mut present, mut estimated) = (0i16, 0i16);
        for reading in intervals.iter().flatten() {
            kwh.add(reading.kwh);
            // A day has at most 1,440 one-minute intervals (the parsers check the count).
            present = present.saturating_add(1);
            if reading.status == Status::Estimated {
                estimated = estimated.saturating_add(1);
            }
        }
        DayTotals {
            kwh: (present > 0).then_some(kwh),
            expected: i16::try_from(time::slots_in_day(day, interval_seconds)).unwrap_or(i16::MAX),
            present,
            estimated,
        }
    }
}

impl StageRow {
    /// The staging row of a parsed record or bad record.
    pub fn of(item: Result<IntervalRecord, RecordError>) -> StageRow {
        match item {
            Ok(r) => {
                let totals = DayTotals::of(&r.intervals, r.day, r.interval_seconds);
                let EncodedDay { values, status } = storage::encode(&r.intervals);
                let (scale, values) = match values {
                    Values::Scaled { scale, units } => (i16::from(scale), narrow(units)),
                    Values::Exact(exact) => (0, StagedValues::Exact(exact)),
                };
                StageRow {
                    role: "record",
                    esiid: Some(r.esiid),
                    channel: Some(i16::from(r.channel)),
                    day: Some(r.day),
                    revision: Some(r.revision),
                    first_start: Some(r.start),
                    interval_seconds: Some(r.interval_seconds as i32),
                    scale: Some(scale),
                    values: Some(values),
                    status: Some(status),
                    transaction_id: r.transaction_id,
                    totals: Some(totals),
                    line: r.line as i64,
                    field: None,
                    kind: None,
                    reason: None,
                    raw: None,
                }
            }
            // A reject carries the ESIID, channel and day of its record when the parser knows
            // them, so smt.reject says which ESIID-day it cost.
            Err(e) => StageRow {
                role: "reject",
                esiid: e.esiid,
                channel: e.channel.map(i16::from),
                day: e.day,
                revision: None,
                first_start: None,
                interval_seconds: None,
                scale: None,
                values: None,
                status: None,
                transaction_id: None,
                totals: None,
                line: e.line as i64,
                field: Some(e.field),
                kind: Some(e.kind.name().to_owned()),
                reason: Some(e.reason),
                raw: Some(e.raw),
            },
        }
    }

    /// `units16`, `units`, `kwh_exact` (decimal text): the one that holds the values is `Some`.
    #[allow(clippy::type_complexity)]
    pub fn value_columns(
        &self,
    ) -> (
        Option<Vec<Option<i16>>>,
        Option<Vec<Option<i32>>>,
        Option<Vec<Option<String>>>,
    ) {
        match &self.values {
            None => (None, None, None),
            Some(StagedValues::Units16(u)) => (Some(u.clone()), None, None),
            Some(StagedValues::Units32(u)) => (None, Some(u.clone()), None),
            Some(StagedValues::Exact(v)) => (
                None,
                None,
                Some(v.iter().map(|d| d.map(|d| d.to_string())).collect()),
            ),
        }
    }
}

/// 32-bit units as 16-bit units when every one fits.
fn narrow(units: Vec<Option<i32>>) -> StagedValues {
    let narrow: Option<Vec<Option<i16>>> = units
        .iter()
        .map(|u| match u {
            None => Some(None),
            Some(u) => i16::try_from(*u).ok().map(Some),
        })
        .collect();
    match narrow {
        Some(n) => StagedValues::Units16(n),
        None => StagedValues::Units32(units),
    }
}

/// A staged record's columns as the database holds them, to be checked by [`check`].
pub struct StagedRecord<'a> {
    pub day: NaiveDate,
    pub interval_seconds: i32,
    pub scale: i16,
    /// The values: exactly one of the three columns.
    pub units16: Option<&'a [Option<i16>]>,
    pub units: Option<&'a [Option<i32>]>,
    pub kwh_exact: Option<&'a [Option<String>]>,
    pub status: &'a str,
    pub kwh_total: Option<&'a str>,
    pub expected: i16,
    pub present: i16,
    pub estimated: i16,
}

/// Scaled units as decimals.
fn scaled<T: Copy + Into<i64>>(
    units: &[Option<T>],
    scale: u8,
) -> impl ExactSizeIterator<Item = Result<Option<Decimal>, String>> + '_ {
    units
        .iter()
        .map(move |u| Ok(u.map(|u| Decimal::new(u.into(), scale))))
}

/// What is wrong with a staged record that the database did not build itself: its values and
/// statuses must agree interval by interval, fill the operating day, and add up to its totals.
/// `None` when it holds together. (ESIID, channel, day and revision are checked by the SQL that
/// merges every row.)
pub fn check(r: &StagedRecord<'_>) -> Option<String> {
    let Some(seconds) = u32::try_from(r.interval_seconds)
        .ok()
        .filter(|s| *s > 0 && 86_400 % s == 0)
    else {
        return Some(format!(
            "interval_seconds {} does not divide a day",
            r.interval_seconds
        ));
    };
    let slots = time::slots_in_day(r.day, seconds);
    if usize::try_from(r.expected).ok() != Some(slots) {
        return Some(format!(
            "intervals_expected {} where {} has {slots} intervals of {seconds} s",
            r.expected, r.day
        ));
    }
    let statuses = r.status.as_bytes();
    if statuses.len() != slots {
        return Some(format!(
            "{} statuses where the day has {slots} intervals",
            statuses.len()
        ));
    }
    let Some(scale) = u8::try_from(r.scale)
        .ok()
        .filter(|s| u32::from(*s) <= crate::decimal::MAX_DIGITS)
    else {
        return Some(format!("scale {} is out of range", r.scale));
    };
    let mut sum = DecimalSum::default();
    let (mut present, mut estimated) = (0i16, 0i16);
    let mut each = |i: usize, value: Option<Decimal>| -> Option<String> {
        let status = statuses[i];
        match (value, status) {
            (None, b'-') => None,
            (Some(v), b'A' | b'E') => {
                sum.add(v);
                present += 1;
                estimated += i16::from(status == b'E');
                None
            }
            _ => Some(format!(
                "interval {}: status {:?} with {}",
                i + 1,
                char::from(status),
                if value.is_some() {
                    "a value"
                } else {
                    "no value"
                }
            )),
        }
    };
    // The values, one per interval, whichever column holds them: a value, a missing one, or text
    // that is not a decimal (said why).
    let mut walk = |values: &mut dyn ExactSizeIterator<Item = Result<Option<Decimal>, String>>| {
        let n = values.len();
        if n != slots {
            return Some(format!("{n} values for {slots} intervals"));
        }
        values.enumerate().find_map(|(i, v)| match v {
            Ok(v) => each(i, v),
            Err(why) => Some(format!("interval {}: {why}", i + 1)),
        })
    };
    let problem = match (r.units16, r.units, r.kwh_exact) {
        (Some(u), None, None) => walk(&mut scaled(u, scale)),
        (None, Some(u), None) => walk(&mut scaled(u, scale)),
        (None, None, Some(v)) => walk(&mut v.iter().map(|v| {
            match v {
                None => Ok(None),
                Some(text) => Decimal::parse_str(text)
                    .map(Some)
                    .map_err(|e| format!("{text:?} is not a decimal: {e}")),
            }
        })),
        _ => Some("not exactly one of units16, units and kwh_exact holds the values".to_owned()),
    };
    if problem.is_some() {
        return problem;
    }
    if (present, estimated) != (r.present, r.estimated) {
        return Some(format!(
            "intervals_present {} and intervals_estimated {} where the values have {present} and {estimated}",
            r.present, r.estimated
        ));
    }
    let total_ok = match r.kwh_total {
        None => present == 0,
        Some(text) => present > 0 && sum.equals_text(text),
    };
    (!total_ok).then(|| {
        format!(
            "kwh_total {} where the values add up to {}",
            r.kwh_total.unwrap_or("NULL"),
            if present > 0 {
                sum.to_string()
            } else {
                "nothing".to_owned()
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::Generator;

    fn staged(r: &StageRow) -> Option<String> {
        let (u16s, u32s, exact) = r.value_columns();
        let totals = r.totals.unwrap();
        let total = totals.kwh.map(|k| k.to_string());
        check(&StagedRecord {
            day: r.day.unwrap(),
            interval_seconds: r.interval_seconds.unwrap(),
            scale: r.scale.unwrap(),
            units16: u16s.as_deref(),
            units: u32s.as_deref(),
            kwh_exact: exact.as_deref(),
            status: r.status.as_deref().unwrap(),
            kwh_total: total.as_deref(),
            expected: totals.expected,
            present: totals.present,
            estimated: totals.estimated,
        })
    }

    #[test]
    fn rows_of_generated_days_hold_together_on_dst_days_too() {
        let mut g = Generator::new(9);
        let [spring, fall] = crate::testdata::dst_days_2025();
        for day in [spring, fall, fall.succ_opt().unwrap()] {
            let r = g.record("10443720000000001", 4, day);
            let row = StageRow::of(Ok(r.clone()));
            let totals = row.totals.unwrap();
            assert_eq!(totals.expected as usize, r.intervals.len());
            assert_eq!(
                totals.kwh,
                (totals.present > 0).then(|| r.kwh_sum()),
                "{day}"
            );
            assert!(matches!(row.values, Some(StagedValues::Units16(_))));
            assert_eq!(staged(&row), None, "{day}");
        }
    }

    #[test]
    fn values_take_the_narrowest_exact_form() {
        let mut r = Generator::new(1).record(
            "10443720000000001",
            4,
            NaiveDate::from_ymd_opt(2025, 7, 1).unwrap(),
        );
        r.intervals[3] = Some(Reading {
            kwh: Decimal::new(40_000, 3),
            status: Status::Actual,
        });
        let row = StageRow::of(Ok(r.clone()));
        assert!(matches!(row.values, Some(StagedValues::Units32(_))));
        assert_eq!(staged(&row), None);
        r.intervals[3] = Some(Reading {
            kwh: Decimal::new(9_000_000_000_000, 3),
            status: Status::Actual,
        });
        let row = StageRow::of(Ok(r));
        assert!(matches!(row.values, Some(StagedValues::Exact(_))));
        assert_eq!(staged(&row), None);
    }

    #[test]
    fn a_row_that_does_not_hold_together_says_why() {
        let r = Generator::new(2).record(
            "10443720000000001",
            4,
            NaiveDate::from_ymd_opt(2025, 7, 1).unwrap(),
        );
        let good = StageRow::of(Ok(r));
        let mut bad = good.clone();
        bad.totals.as_mut().unwrap().present += 1;
        assert!(staged(&bad).unwrap().contains("intervals_present"));
        let mut bad = good.clone();
        let t = bad.totals.as_mut().unwrap();
        t.kwh = Some(DecimalSum::default());
        assert!(staged(&bad).unwrap().contains("kwh_total"));
        let mut bad = good.clone();
        bad.status = Some(bad.status.unwrap().replacen('A', "-", 1));
        assert!(staged(&bad).unwrap().contains("status '-' with a value"));
        let mut bad = good.clone();
        if let Some(StagedValues::Units16(u)) = &mut bad.values {
            u.pop();
        }
        assert!(staged(&bad).unwrap().contains("95 values for 96 intervals"));
        let mut bad = good;
        bad.totals.as_mut().unwrap().expected = 92;
        assert!(staged(&bad).unwrap().contains("intervals_expected"));
    }
}
