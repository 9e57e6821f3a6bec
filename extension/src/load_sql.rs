//! The Rust half of `smt.load` (sql/load.sql holds the other, readable half): parse a file into
//! staging rows, and decide each stored-versus-incoming pair with core's replacement rule.

use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use smt_core::replace::{self, Decision, Version};
use smt_core::Format;

use crate::convert;

/// Staging rows for one file, in file order: `record` for each good record, `reject` for each bad
/// one (with its record's ESIID, channel and day when known). smt._merge_stage settles days the
/// file holds more than once.
#[pg_extern(immutable, parallel_safe, strict)]
fn _stage(
    data: &[u8],
    lenient_esiid: default!(bool, false),
) -> TableIterator<
    'static,
    (
        name!(role, &'static str),
        name!(esiid, Option<String>),
        name!(channel, Option<i16>),
        name!(day, Option<Date>),
        name!(revision, Option<TimestampWithTimeZone>),
        name!(first_start, Option<TimestampWithTimeZone>),
        name!(interval_seconds, Option<i32>),
        name!(scale, Option<i16>),
        name!(units, Option<Vec<Option<i32>>>),
        name!(kwh_exact, Option<Vec<Option<String>>>),
        name!(status, Option<String>),
        name!(transaction_id, Option<String>),
        name!(line, i64),
        name!(field, Option<String>),
        name!(kind, Option<String>),
        name!(reason, Option<String>),
        name!(raw, Option<String>),
    ),
> {
    let format = match smt_core::format::detect(&data[..data.len().min(64 * 1024)]) {
        Some(f) if f.has_intervals() => f,
        other => convert::error(
            PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
            format!(
                "not an LSE or SMT interval CSV file (detected: {})",
                other.map_or("nothing known", Format::name)
            ),
        ),
    };
    let records =
        smt_core::interval_records(data, format, smt_core::EsiidMode::lenient_if(lenient_esiid))
            .expect("interval format");
    let rows: Vec<_> = records
        .map(|item| match item {
            Ok(r) => {
                let v = convert::stored(&r.intervals);
                (
                    "record",
                    Some(r.esiid),
                    Some(i16::from(r.channel)),
                    Some(convert::date(r.day)),
                    Some(convert::timestamptz(r.revision)),
                    Some(convert::timestamptz(r.start)),
                    Some(r.interval_seconds as i32),
                    Some(v.scale),
                    v.units,
                    v.kwh_exact,
                    Some(v.status),
                    r.transaction_id,
                    r.line as i64,
                    None,
                    None,
                    None,
                    None,
                )
            }
            // A reject carries the ESIID, channel and day of its record when the parser knows
            // them, so smt.reject says which ESIID-day it cost.
            Err(e) => (
                "reject",
                e.esiid,
                e.channel.map(i16::from),
                e.day.map(convert::date),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                e.line as i64,
                Some(e.field),
                Some(e.kind.name().to_owned()),
                Some(e.reason),
                Some(e.raw),
            ),
        })
        .collect();
    TableIterator::new(rows)
}

/// Core's replacement rule on a stored and an incoming version: `replace`, `replace_conflict`,
/// `keep`, `keep_conflict` or `identical` (see smt_core::replace for the rule).
#[pg_extern(immutable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn _decide(
    stored_revision: TimestampWithTimeZone,
    stored_scale: i16,
    stored_units: Option<Vec<Option<i32>>>,
    stored_exact: Option<Vec<Option<AnyNumeric>>>,
    stored_status: String,
    incoming_revision: TimestampWithTimeZone,
    incoming_scale: i16,
    incoming_units: Option<Vec<Option<i32>>>,
    incoming_exact: Option<Vec<Option<AnyNumeric>>>,
    incoming_status: String,
) -> &'static str {
    let stored = convert::from_stored(stored_scale, stored_units, stored_exact, stored_status);
    let incoming = convert::from_stored(
        incoming_scale,
        incoming_units,
        incoming_exact,
        incoming_status,
    );
    let decision = replace::decide(
        &Version {
            revision: convert::from_timestamptz(stored_revision),
            intervals: &stored,
        },
        &Version {
            revision: convert::from_timestamptz(incoming_revision),
            intervals: &incoming,
        },
    );
    match decision {
        Decision::Replace { conflict: false } => "replace",
        Decision::Replace { conflict: true } => "replace_conflict",
        Decision::Keep { conflict: false } => "keep",
        Decision::Keep { conflict: true } => "keep_conflict",
        Decision::Identical => "identical",
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn decide(stored: &str, incoming: &str) -> String {
        Spi::get_one::<String>(&format!("SELECT smt._decide({stored}, {incoming})"))
            .unwrap()
            .unwrap()
    }

    #[pg_test]
    fn decide_applies_core_rule_to_stored_columns() {
        let old =
            "'2025-11-04 06:00Z', 3::smallint, ARRAY[580, NULL]::int[], NULL::numeric[], 'A-'";
        let new = "'2025-11-05 06:00Z', 3::smallint, ARRAY[600, 100]::int[], NULL::numeric[], 'AE'";
        assert_eq!(decide(old, new), "replace");
        assert_eq!(decide(new, old), "keep");
        // Same values written at another scale, or as exact numerics, are identical.
        let same =
            "'2025-11-04 06:00Z', 2::smallint, ARRAY[58, NULL]::int[], NULL::numeric[], 'A-'";
        assert_eq!(decide(old, same), "identical");
        let exact =
            "'2025-11-04 06:00Z', 0::smallint, NULL::int[], ARRAY[0.58, NULL]::numeric[], 'A-'";
        assert_eq!(decide(old, exact), "identical");
        // Same revision, more intervals: the more complete version wins, whichever is stored.
        let fuller =
            "'2025-11-04 06:00Z', 3::smallint, ARRAY[580, 1]::int[], NULL::numeric[], 'AA'";
        assert_eq!(decide(old, fuller), "replace_conflict");
        assert_eq!(decide(fuller, old), "keep_conflict");
    }

    #[pg_test]
    fn stage_lists_records_and_rejects_in_file_order() {
        use smt_core::testdata;
        // An "all versions" CSV: a day, a bad row, then the same day revised a day later.
        let day = chrono::NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        let older = testdata::Generator::new(3).record("10443720000000001", 4, day);
        let mut newer = older.clone();
        newer.revision += chrono::Duration::days(1);
        newer.intervals[0] = None;
        let mut csv = testdata::csv_bytes(&[older]);
        csv.extend_from_slice(
            b"'1044372000000000X,07/01/2025,07/03/2025 07:37:17,00:00,00:15,0.600,A,Consumption\n",
        );
        let mut rows = Vec::new();
        smt_core::smt_csv::interval::write_record(&mut rows, &newer).unwrap();
        csv.extend_from_slice(&rows);
        let roles = Spi::get_one_with_args::<String>(
            "SELECT string_agg(role || ':' || line || ':' || coalesce(to_char(revision AT TIME ZONE 'UTC', 'MM-DD'), kind), ',' ORDER BY line) FROM smt._stage($1)",
            &[csv.into()],
        );
        // Both versions come out in file order; smt._merge_stage settles them (see tests/ e2e).
        assert_eq!(
            roles.unwrap().as_deref(),
            Some("record:2:07-03,reject:98:invalid_esiid,record:99:07-04")
        );
    }
}
