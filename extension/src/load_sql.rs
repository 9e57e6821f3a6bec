//! The Rust half of `smt.load` (sql/load.sql holds the other, readable half): parse a file into
//! staging rows, and decide each stored-versus-incoming pair with core's replacement rule.

use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use smt_core::format::HEAD_BYTES;
use smt_core::replace::{self, Decision, Version};
use smt_core::stage::{self, StageRow, StagedRecord};
use smt_core::Format;

use std::io::{BufReader, Cursor, Read};

use crate::{content, convert};

/// One staging row of smt 0.1.0 to 0.3.0 (`_stage`, `_stage_file`): those versions' SQL calls
/// them until `ALTER EXTENSION smt UPDATE`, so they keep this shape. pgrx needs the columns spelled
/// out in each function's signature; this alias is the one definition the rows are built as (a
/// mismatch does not compile), and a test checks both give the same rows.
type LegacyStageRow = (
    &'static str,
    Option<String>,
    Option<i16>,
    Option<Date>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
    Option<i32>,
    Option<i16>,
    Option<Vec<Option<i32>>>,
    Option<Vec<Option<String>>>,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// One staging row from 0.4.0 on (`_stage_records`, the columns of smt.stage): a record's values
/// in 16-bit units when they all fit (the usual day: half the bytes of 32-bit units), else 32-bit
/// units, else exact decimals; and the day's totals, computed here once so that daily and monthly
/// figures never unnest intervals (smt.day_total).
type RecordRow = (
    &'static str,                  // role
    Option<String>,                // esiid
    Option<i16>,                   // channel
    Option<Date>,                  // day
    Option<TimestampWithTimeZone>, // revision
    Option<TimestampWithTimeZone>, // first_start
    Option<i32>,                   // interval_seconds
    Option<i16>,                   // scale
    Option<Vec<Option<i16>>>,      // units16
    Option<Vec<Option<i32>>>,      // units
    Option<Vec<Option<String>>>,   // kwh_exact
    Option<String>,                // status
    Option<String>,                // transaction_id
    Option<String>,                // kwh_total
    Option<i16>,                   // intervals_expected
    Option<i16>,                   // intervals_present
    Option<i16>,                   // intervals_estimated
    i64,                           // line
    Option<String>,                // field
    Option<String>,                // kind
    Option<String>,                // reason
    Option<String>,                // raw
);

/// Staging rows for a file kept in smt.file_content, in file order: `record` for each good
/// record, `reject` for each bad one (with its record's ESIID, channel and day when known).
/// smt._merge_stage settles days the file holds more than once. smt.stage has these columns.
///
/// The file is read a part at a time as the executor asks for rows (a value-per-call
/// set-returning function): the backend holds one part (smt.load_part stores at most 8 MiB each)
/// and the parser's bounded state, whatever the file's size.
#[pg_extern(volatile, parallel_unsafe, strict)]
#[search_path(pg_catalog, pg_temp)]
fn _stage_file(
    file_id: i64,
    lenient_esiid: bool,
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
    let mut content = content::Reader::new(file_id);
    let head = content.head(HEAD_BYTES);
    let format = interval_format(&head, &format!("file {file_id}"));
    stage_rows(Cursor::new(head).chain(content), format, lenient_esiid)
}

/// The staging rows of a file kept in smt.file_content, as smt.load from 0.4.0 on stages them
/// (smt.stage has these columns, after file_id): like `_stage_file`, with values in 16-bit units
/// when they fit and the day's totals. Read a part at a time, like `_stage_file`.
#[pg_extern(volatile, parallel_unsafe, strict)]
#[search_path(pg_catalog, pg_temp)]
fn _stage_records(
    file_id: i64,
    lenient_esiid: bool,
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
        name!(units16, Option<Vec<Option<i16>>>),
        name!(units, Option<Vec<Option<i32>>>),
        name!(kwh_exact, Option<Vec<Option<String>>>),
        name!(status, Option<String>),
        name!(transaction_id, Option<String>),
        name!(kwh_total, Option<String>),
        name!(intervals_expected, Option<i16>),
        name!(intervals_present, Option<i16>),
        name!(intervals_estimated, Option<i16>),
        name!(line, i64),
        name!(field, Option<String>),
        name!(kind, Option<String>),
        name!(reason, Option<String>),
        name!(raw, Option<String>),
    ),
> {
    let mut content = content::Reader::new(file_id);
    let head = content.head(HEAD_BYTES);
    let format = interval_format(&head, &format!("file {file_id}"));
    TableIterator::new(
        records(Cursor::new(head).chain(content), format, lenient_esiid).map(record_row),
    )
}

/// The same rows for a file given as bytes. smt 0.1.0's and 0.2.0's smt.load call it (C symbol
/// `_stage_wrapper`): it must keep its arguments and meaning while a database has not yet been
/// updated to this version's SQL.
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
    let format = interval_format(&data[..data.len().min(HEAD_BYTES)], "the data");
    // The iterator outlives this call, so it owns a copy of the bytes.
    stage_rows(Cursor::new(data.to_vec()), format, lenient_esiid)
}

/// The interval format `head` (a file's first bytes) is in; an error naming `what` otherwise.
fn interval_format(head: &[u8], what: &str) -> Format {
    match smt_core::format::detect(head) {
        Some(f) if f.has_intervals() => f,
        other => convert::error(
            PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
            format!(
                "{what} is not an LSE or SMT interval CSV file (detected: {})",
                other.map_or("nothing known", Format::name)
            ),
        ),
    }
}

/// The records of `src`, lazily: a record is parsed when the executor asks for its row.
fn records<R: Read + 'static>(
    src: R,
    format: Format,
    lenient_esiid: bool,
) -> impl Iterator<Item = Result<smt_core::IntervalRecord, smt_core::RecordError>> {
    let src = BufReader::with_capacity(256 * 1024, src);
    smt_core::interval_records(src, format, smt_core::EsiidMode::lenient_if(lenient_esiid))
        .expect("interval format")
}

/// The staging rows (0.3.0's shape) of `src`.
fn stage_rows<R: Read + 'static>(
    src: R,
    format: Format,
    lenient_esiid: bool,
) -> TableIterator<'static, LegacyStageRow> {
    TableIterator::new(records(src, format, lenient_esiid).map(stage_row))
}

/// 0.3.0's row: `record_row` without the totals, its values in 32-bit units.
fn stage_row(item: Result<smt_core::IntervalRecord, smt_core::RecordError>) -> LegacyStageRow {
    let r = record_row(item);
    let units = r.9.or_else(|| {
        r.8.map(|narrow| narrow.into_iter().map(|u| u.map(i32::from)).collect())
    });
    (
        r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, units, r.10, r.11, r.12, r.17, r.18, r.19, r.20,
        r.21,
    )
}

/// The row of a parsed record or bad record: core's staging row (smt_core::stage) in SQL types.
fn record_row(item: Result<smt_core::IntervalRecord, smt_core::RecordError>) -> RecordRow {
    let row = StageRow::of(item);
    let (units16, units, kwh_exact) = row.value_columns();
    let totals = row.totals;
    (
        row.role,
        row.esiid,
        row.channel,
        row.day.map(convert::date),
        row.revision.map(convert::timestamptz),
        row.first_start.map(convert::timestamptz),
        row.interval_seconds,
        row.scale,
        units16,
        units,
        kwh_exact,
        row.status,
        row.transaction_id,
        totals.and_then(|t| t.kwh).map(|k| k.to_string()),
        totals.map(|t| t.expected),
        totals.map(|t| t.present),
        totals.map(|t| t.estimated),
        row.line,
        row.field,
        row.kind,
        row.reason,
        row.raw,
    )
}

/// What is wrong with a record staged by a loader (binary COPY into smt.stage) rather than by
/// the database: NULL when its values, statuses and totals hold together (smt_core::stage::check).
#[pg_extern(immutable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn _staged_problem(
    day: Option<Date>,
    interval_seconds: Option<i32>,
    scale: Option<i16>,
    units16: Option<Vec<Option<i16>>>,
    units: Option<Vec<Option<i32>>>,
    kwh_exact: Option<Vec<Option<String>>>,
    status: Option<String>,
    kwh_total: Option<String>,
    intervals_expected: Option<i16>,
    intervals_present: Option<i16>,
    intervals_estimated: Option<i16>,
) -> Option<String> {
    let (
        Some(day),
        Some(interval_seconds),
        Some(scale),
        Some(status),
        Some(expected),
        Some(present),
        Some(estimated),
    ) = (
        day,
        interval_seconds,
        scale,
        status,
        intervals_expected,
        intervals_present,
        intervals_estimated,
    )
    else {
        return Some(
            "a record needs day, interval_seconds, scale, status and its interval counts".into(),
        );
    };
    stage::check(&StagedRecord {
        day: convert::from_date(day),
        interval_seconds,
        scale,
        units16: units16.as_deref(),
        units: units.as_deref(),
        kwh_exact: kwh_exact.as_deref(),
        status: &status,
        kwh_total: kwh_total.as_deref(),
        expected,
        present,
        estimated,
    })
}

/// The digest, size and first bytes of a file kept in smt.file_content, in one pass over its
/// parts: what smt.load_end needs to register it.
#[pg_extern(volatile, parallel_unsafe, strict)]
#[search_path(pg_catalog, pg_temp)]
fn _content_summary(
    file_id: i64,
) -> TableIterator<
    'static,
    (
        name!(sha256, Vec<u8>),
        name!(size_bytes, i64),
        name!(head, Vec<u8>),
    ),
> {
    let summary = content::summary(file_id, HEAD_BYTES);
    TableIterator::once((summary.sha256, summary.size_bytes, summary.head))
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
        // Kept in parts of 7 bytes (a load may send parts of any size): records and lines span
        // parts, and the head used to detect the format spans many.
        let upload = Spi::get_one::<i64>("SELECT smt.load_begin('all-versions.csv')")
            .unwrap()
            .unwrap();
        for piece in csv.chunks(7) {
            Spi::get_one_with_args::<i64>(
                "SELECT smt.load_part($1, $2)",
                &[upload.into(), piece.to_vec().into()],
            )
            .unwrap();
        }
        // The load's id is the id reserved for the file: its parts are kept under it.
        let file_id = upload;
        let parts = Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM smt.file_content WHERE file_id = $1",
            &[file_id.into()],
        );
        assert_eq!(parts, Ok(Some(csv.len().div_ceil(7) as i64)));
        let roles = Spi::get_one_with_args::<String>(
            "SELECT string_agg(role || ':' || line || ':' || coalesce(to_char(revision AT TIME ZONE 'UTC', 'MM-DD'), kind), ',' ORDER BY line) FROM smt._stage_file($1, false)",
            &[file_id.into()],
        );
        // The bytes given at once stage to exactly the same rows.
        let differing = Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM ((SELECT * FROM smt._stage_file($1, false) EXCEPT ALL SELECT * FROM smt._stage($2))
                                   UNION ALL
                                   (SELECT * FROM smt._stage($2) EXCEPT ALL SELECT * FROM smt._stage_file($1, false))) d",
            &[file_id.into(), csv.clone().into()],
        );
        assert_eq!(differing, Ok(Some(0)));
        // 0.4.0's staging rows are the same records, values in 16-bit units (the generator's fit),
        // with totals that match the values.
        let differing = Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM (
                 SELECT role, esiid, channel, day, revision, coalesce(units16::integer[], units), status, line, kind
                   FROM smt._stage_records($1, false)
                 EXCEPT ALL
                 SELECT role, esiid, channel, day, revision, units, status, line, kind
                   FROM smt._stage_file($1, false)) d",
            &[file_id.into()],
        );
        assert_eq!(differing, Ok(Some(0)));
        let wrong_totals = Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM smt._stage_records($1, false) r
              WHERE r.role = 'record'
                AND (r.units16 IS NULL
                     OR r.kwh_total::numeric IS DISTINCT FROM (SELECT sum(u) / 1000.0 FROM unnest(r.units16) u)
                     OR r.intervals_present <> (SELECT count(u) FROM unnest(r.units16) u)
                     OR r.intervals_estimated <> length(r.status) - length(replace(r.status, 'E', ''))
                     OR r.intervals_expected <> smt.day_slots(r.day, r.interval_seconds))",
            &[file_id.into()],
        );
        assert_eq!(wrong_totals, Ok(Some(0)));
        // Both versions come out in file order; smt._merge_stage settles them (see tests/ e2e).
        assert_eq!(
            roles.unwrap().as_deref(),
            Some("record:2:07-03,reject:98:invalid_esiid,record:99:07-04")
        );
        // smt.load_end reads the same parts: the file loads, with the one reject.
        let loaded = Spi::get_two_with_args::<i32, i32>(
            "SELECT records, rejected FROM smt.load_end($1)",
            &[upload.into()],
        );
        assert_eq!(loaded, Ok((Some(2), Some(1))));
    }
}
