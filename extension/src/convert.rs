//! Conversions between core's types and PostgreSQL's, in one place.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::{pg_sys, AnyNumeric, PgSqlErrorCode};
use smt_core::storage::{self, EncodedDay, Values};
use smt_core::{Decimal, Reading};

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

pub fn timestamptz(t: DateTime<Utc>) -> TimestampWithTimeZone {
    TimestampWithTimeZone::try_from(t.timestamp_micros() - PG_EPOCH_MICROS)
        .expect("timestamp in PostgreSQL's range")
}

pub fn from_timestamptz(t: TimestampWithTimeZone) -> DateTime<Utc> {
    let micros: pg_sys::TimestampTz = t.into();
    DateTime::from_timestamp_micros(micros + PG_EPOCH_MICROS).expect("finite timestamp")
}

pub fn date(d: NaiveDate) -> Date {
    Date::new(d.year(), d.month() as u8, d.day() as u8).expect("date in PostgreSQL's range")
}

pub fn from_date(d: Date) -> NaiveDate {
    // 2000-01-01, PostgreSQL's epoch, is day 730 120 of the common era.
    NaiveDate::from_num_days_from_ce_opt(d.to_pg_epoch_days() + 730_120).expect("finite date")
}

pub fn numeric(d: Decimal) -> AnyNumeric {
    AnyNumeric::try_from(d.to_string().as_str()).expect("a decimal's text is a valid numeric")
}

pub fn from_numeric(n: &AnyNumeric) -> Decimal {
    Decimal::parse_str(&n.to_string()).unwrap_or_else(|e| {
        error(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("stored value {n} is not an smt decimal: {e}"),
        )
    })
}

pub fn from_stored(
    scale: i16,
    units: Option<Vec<Option<i32>>>,
    kwh_exact: Option<Vec<Option<AnyNumeric>>>,
    status: String,
) -> Vec<Option<Reading>> {
    let values = stored_values(scale, units, kwh_exact);
    storage::decode(&EncodedDay { values, status }).unwrap_or_else(|e| {
        error(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("stored day does not decode: {e}"),
        )
    })
}

/// A stored day's values (`units` × 10^-`scale`, or `kwh_exact` when they did not fit units).
pub fn stored_values(
    scale: i16,
    units: Option<Vec<Option<i32>>>,
    kwh_exact: Option<Vec<Option<AnyNumeric>>>,
) -> Values {
    match (units, kwh_exact) {
        (Some(units), _) => {
            let checked = u8::try_from(scale)
                .ok()
                .filter(|s| u32::from(*s) <= smt_core::decimal::MAX_DIGITS);
            let scale = checked.unwrap_or_else(|| {
                error(
                    PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                    format!("stored scale {scale:?} is out of range"),
                )
            });
            Values::Scaled { scale, units }
        }
        (None, Some(exact)) => {
            Values::Exact(exact.iter().map(|n| n.as_ref().map(from_numeric)).collect())
        }
        (None, None) => error(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            "stored day has neither units nor kwh_exact".into(),
        ),
    }
}

/// Raises an ERROR with a SQLSTATE; never returns.
pub fn error(code: PgSqlErrorCode, message: String) -> ! {
    pgrx::ereport!(ERROR, code, message);
}
