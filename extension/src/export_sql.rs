//! Green Button export (`smt.green_button`, sql/extension/export.sql): the stored days of one
//! ESIID, as the SQL function gathers them from `smt.interval`, written as an ESPI 4.0 feed by
//! smt-core.

use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::prelude::*;
use smt_core::decimal::Decimal;
use smt_core::greenbutton::{feed, UsagePointInfo};
use smt_core::record::{IntervalRecord, Reading, Status};

use crate::convert;

/// The feed of `esiid`'s days: for each channel-day (the arrays are parallel), its revision, its
/// values as text joined by commas (empty for a missing interval) and its statuses (`A`, `E` or
/// `-` per interval), as the stored rows hold them.
#[allow(clippy::too_many_arguments)]
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _green_button_feed(
    esiid: &str,
    title: &str,
    updated: TimestampWithTimeZone,
    channels: Vec<i16>,
    days: Vec<Date>,
    revisions: Vec<TimestampWithTimeZone>,
    values: Vec<String>,
    statuses: Vec<String>,
) -> String {
    let n = channels.len();
    if [days.len(), revisions.len(), values.len(), statuses.len()]
        .iter()
        .any(|&l| l != n)
    {
        convert::error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "smt._green_button_feed needs one day, revision, value list and status text per channel-day".into(),
        );
    }
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        let day = convert::from_date(days[i]);
        let texts: Vec<&str> = values[i].split(',').collect();
        let codes: Vec<char> = statuses[i].chars().collect();
        if texts.len() != codes.len() {
            convert::error(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!(
                    "{esiid} {day}: {} values for {} statuses",
                    texts.len(),
                    codes.len()
                ),
            );
        }
        let intervals = texts
            .iter()
            .zip(&codes)
            .map(|(text, code)| {
                let status = match code {
                    'A' => Status::Actual,
                    'E' => Status::Estimated,
                    _ => return None,
                };
                let kwh = Decimal::parse_str(text).unwrap_or_else(|e| {
                    convert::error(
                        PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                        format!("{esiid} {day}: stored value {text:?}: {e}"),
                    )
                });
                Some(Reading { kwh, status })
            })
            .collect();
        records.push(IntervalRecord {
            esiid: esiid.to_owned(),
            channel: u8::try_from(channels[i]).unwrap_or(0),
            day,
            start: smt_core::time::day_start(day),
            interval_seconds: 900,
            revision: convert::from_timestamptz(revisions[i]),
            transaction_id: None,
            attributes: Vec::new(),
            intervals,
            line: 0,
        });
    }
    feed(
        &UsagePointInfo {
            esiid: esiid.to_owned(),
            title: title.to_owned(),
        },
        &records,
        convert::from_timestamptz(updated),
    )
}
