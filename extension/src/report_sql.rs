//! What the reports read of a stored day (sql/extension/reports.sql and the load's day totals):
//! its peak interval and its consumption per local hour, computed by smt-core's `day_profile`.

use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use smt_core::day_profile;

use crate::convert;

/// A stored day's values from its columns: `units16` or `units` (× 10^-scale), else `kwh_exact`.
fn values(
    scale: i16,
    units16: Option<Vec<Option<i16>>>,
    units: Option<Vec<Option<i32>>>,
    kwh_exact: Option<Vec<Option<AnyNumeric>>>,
) -> smt_core::storage::Values {
    let units = units16
        .map(|u| u.into_iter().map(|v| v.map(i32::from)).collect())
        .or(units);
    convert::stored_values(scale, units, kwh_exact)
}

/// 1-based position of the day's largest value (the first if it repeats); NULL without any.
#[pg_extern(immutable, parallel_safe)]
fn _day_peak(
    scale: i16,
    units16: Option<Vec<Option<i16>>>,
    units: Option<Vec<Option<i32>>>,
    kwh_exact: Option<Vec<Option<AnyNumeric>>>,
) -> Option<i32> {
    day_profile::peak_index(&values(scale, units16, units, kwh_exact)).map(|i| i as i32 + 1)
}

/// The day's consumption per hour ending (Central clock) as scaled integers: element `h`
/// (1-based) is hour ending `h`, NULL for an hour without a value, in units of 10^-scale kWh where
/// scale is the day's `scale` (or, for a `kwh_exact` day, the largest scale of its values). One
/// array of integers a day: the views unnest it in C and turn sums into numeric per group, not
/// per hour (numeric made here cost three times the rest).
#[pg_extern(immutable, parallel_safe)]
fn _day_hours(
    first_start: TimestampWithTimeZone,
    interval_seconds: i32,
    scale: i16,
    units16: Option<Vec<Option<i16>>>,
    units: Option<Vec<Option<i32>>>,
    kwh_exact: Option<Vec<Option<AnyNumeric>>>,
) -> Vec<Option<i64>> {
    let Ok(interval_seconds) = u32::try_from(interval_seconds) else {
        convert::error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("interval_seconds {interval_seconds} is not positive"),
        )
    };
    let hours = day_profile::hour_totals(
        convert::from_timestamptz(first_start),
        interval_seconds,
        &values(scale, units16, units, kwh_exact),
    )
    .unwrap_or_else(|e| {
        convert::error(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            e.to_string(),
        )
    });
    hours.units.to_vec()
}
