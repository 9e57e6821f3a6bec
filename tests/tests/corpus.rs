//! Issue 8: a bad-input corpus of the extension's SQL surface, data-driven: smt.load arguments and
//! contents, smt.normalize_15min, smt.esiid_valid, smt.cron_next, and smt.job rows (params with
//! secret-looking keys, kinds, schedules).
//!
//! Each entry is a named list of statements run in one transaction, rolled back afterwards (so
//! the entries share one database and cannot see each other), with the exact outcome: every row
//! of every statement, read as text, or the SQLSTATE and a fragment of the message the user is
//! told. `$1` in a statement is the entry's bytes (bytea).

use std::time::Instant;

use chrono::{Duration, NaiveDate, Utc};
use postgres::types::ToSql;
use postgres::Client;
use smt_core::testdata::{self, Generator};
use smt_core::IntervalRecord;
use smt_e2e::*;

enum Expect {
    /// Every row of every statement, each column as text (NULL as `None`).
    Rows(Vec<Vec<Option<String>>>),
    /// The SQLSTATE and a fragment of the message (with its detail).
    Error(&'static str, &'static str),
}

struct Case {
    name: &'static str,
    data: Vec<u8>,
    statements: Vec<String>,
    expect: Expect,
}

/// Rows given as `"a|b|NULL"` lines; `NULL` reads as a NULL column.
fn rows(lines: &[&str]) -> Expect {
    Expect::Rows(
        lines
            .iter()
            .map(|l| {
                l.split('|')
                    .map(|f| (f != "NULL").then(|| f.to_owned()))
                    .collect()
            })
            .collect(),
    )
}

fn fails(sqlstate: &'static str, told: &'static str) -> Expect {
    Expect::Error(sqlstate, told)
}

fn sql(name: &'static str, statement: &str, expect: Expect) -> Case {
    Case {
        name,
        data: Vec::new(),
        statements: vec![statement.to_owned()],
        expect,
    }
}

/// What one smt.load call returns, then its file row, then its rejects.
const LOAD_RESULT: &str =
    "SELECT records, inserted, replaced, stale, identical, conflicts, rejected, already_loaded, format, error FROM l";
const FILE_ROW: &str = "SELECT name, state, coalesce(error, '-') FROM smt.file ORDER BY file_id";
const REJECTS: &str =
    "SELECT kind, field, line, coalesce(esiid, '-'), coalesce(channel::text, '-'), coalesce(day::text, '-') FROM smt.reject ORDER BY reject_id";

/// `smt.load($1, name, lenient)` then [`FILE_ROW`] and [`REJECTS`].
fn load(name: &'static str, data: Vec<u8>, file_name: &str, lenient: bool, expect: Expect) -> Case {
    Case {
        name,
        data,
        statements: vec![
            format!(
                "WITH l AS (SELECT * FROM smt.load($1, '{}', {lenient})) {LOAD_RESULT}",
                file_name.replace('\'', "''")
            ),
            FILE_ROW.to_owned(),
            REJECTS.to_owned(),
        ],
        expect,
    }
}

fn run(c: &mut Client, case: &Case) -> Result<Vec<Vec<Option<String>>>, (String, String)> {
    let mut tx = c.transaction().expect("BEGIN");
    let mut out = Vec::new();
    for s in &case.statements {
        let params: Vec<&(dyn ToSql + Sync)> = if s.contains("$1") {
            vec![&case.data]
        } else {
            vec![]
        };
        let result = tx.query(s.as_str(), &params);
        match result {
            Ok(rs) => {
                for r in rs {
                    out.push(
                        (0..r.len())
                            .map(|i| text_of(&r, i))
                            .collect::<Vec<Option<String>>>(),
                    );
                }
            }
            Err(e) => return Err((sqlstate(&e).unwrap_or_default(), explain(&e))),
        }
    }
    // Dropped without commit: rolled back.
    Ok(out)
}

/// A column as text, whatever its type (the statements cast what is not text, int, bool).
fn text_of(r: &postgres::Row, i: usize) -> Option<String> {
    use postgres::types::Type;
    let t = r.columns()[i].type_().clone();
    match t {
        Type::INT4 => r.get::<_, Option<i32>>(i).map(|v| v.to_string()),
        Type::INT8 => r.get::<_, Option<i64>>(i).map(|v| v.to_string()),
        Type::INT2 => r.get::<_, Option<i16>>(i).map(|v| v.to_string()),
        Type::BOOL => r.get::<_, Option<bool>>(i).map(|v| v.to_string()),
        _ => r.get::<_, Option<String>>(i),
    }
}

fn check(c: &mut Client, case: &Case) -> Option<String> {
    let got = run(c, case);
    let ok = match (&case.expect, &got) {
        (Expect::Rows(want), Ok(got)) => want == got,
        (Expect::Error(state, told), Err((got_state, msg))) => {
            state == got_state && msg.contains(told)
        }
        _ => false,
    };
    (!ok).then(|| {
        let want = match &case.expect {
            Expect::Rows(r) => format!("rows {r:?}"),
            Expect::Error(s, t) => format!("error {s} containing {t:?}"),
        };
        format!("case {}: expected {want}\n  got {got:?}", case.name)
    })
}

// ---------------------------------------------------------------------------------------------
// Inputs.

const E17: &str = "10443720000000001";

fn day_record(esiid: &str, channel: u8, day: NaiveDate) -> IntervalRecord {
    Generator::new(808).record(esiid, channel, day)
}

fn lse(records: &[IntervalRecord]) -> Vec<u8> {
    testdata::lse_bytes(records, true)
}

fn july() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 7, 1).unwrap()
}

fn good_lse() -> Vec<u8> {
    lse(&[day_record(E17, 4, july())])
}

fn replaced(data: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(data).unwrap();
    assert!(text.contains(from), "{from:?} not in the input");
    text.replacen(from, to, 1).into_bytes()
}

fn csv_day(esiid: &str, day: NaiveDate) -> Vec<u8> {
    testdata::csv_bytes(&[day_record(esiid, 4, day)])
}

/// The counts line of a load: records, inserted, replaced, stale, identical, conflicts,
/// rejected, already_loaded, format, error.
fn counts(records: i32, inserted: i32, rejected: i32, format: &str, error: &str) -> String {
    format!("{records}|{inserted}|0|0|0|0|{rejected}|false|{format}|{error}")
}

fn load_cases() -> Vec<Case> {
    let good = good_lse();
    vec![
        load(
            "load_good_lse_is_the_control",
            good.clone(),
            "good.lse",
            false,
            rows(&[&counts(1, 1, 0, "lse", "NULL"), "good.lse|loaded|-"]),
        ),
        load(
            "load_empty_bytea",
            Vec::new(),
            "empty.lse",
            false,
            rows(&[
                &counts(0, 0, 0, "NULL", "not an LSE or SMT CSV report, nor an SMT API reply (unknown content)"),
                "empty.lse|failed|not an LSE or SMT CSV report, nor an SMT API reply (unknown content)",
            ]),
        ),
        load(
            "load_binary_garbage",
            vec![0x00, 0xFF, 0x13, 0x37, b'\n', 0x80],
            "garbage.bin",
            false,
            rows(&[
                &counts(0, 0, 0, "NULL", "not an LSE or SMT CSV report, nor an SMT API reply (unknown content)"),
                "garbage.bin|failed|not an LSE or SMT CSV report, nor an SMT API reply (unknown content)",
            ]),
        ),
        load(
            "load_a_zip_archive_as_a_report",
            b"PK\x03\x04\x14\x00\x00\x00".to_vec(),
            "bundle.zip",
            false,
            rows(&[
                &counts(0, 0, 0, "NULL", "not an LSE or SMT CSV report, nor an SMT API reply (unknown content)"),
                "bundle.zip|failed|not an LSE or SMT CSV report, nor an SMT API reply (unknown content)",
            ]),
        ),
        load(
            "load_daily_csv_loads_its_reads",
            b"ESIID,READ_DATE,START_READING,END_READING\n10443720000000001,07/01/2025,1,2\n"
                .to_vec(),
            "daily.csv",
            false,
            rows(&[&counts(1, 1, 0, "daily_csv", "NULL"), "daily.csv|loaded|-"]),
        ),
        load(
            "load_monthly_csv_loads_its_periods",
            b"ESIID,START_DATE,END_DATE,ACTUAL_KWH\n10443720000000001,06/03/2025,07/02/2025,812.375\n".to_vec(),
            "monthly.csv",
            false,
            rows(&[&counts(1, 1, 0, "monthly_csv", "NULL"), "monthly.csv|loaded|-"]),
        ),
        load(
            "load_csv_header_only",
            format!("{}\n", smt_core::smt_csv::interval::HEADER).into_bytes(),
            "header.csv",
            false,
            rows(&[&counts(0, 0, 0, "interval_csv", "NULL"), "header.csv|loaded|-"]),
        ),
        load(
            "load_short_esiid_strict",
            replaced(good.clone(), E17, "100000000000000"),
            "short.lse",
            false,
            rows(&[
                &counts(0, 0, 1, "lse", "NULL"),
                "short.lse|loaded|-",
                "invalid_esiid|00000001.esiid|1|-|4|2025-07-01",
            ]),
        ),
        load(
            "load_short_esiid_lenient",
            replaced(good.clone(), E17, "100000000000000"),
            "short.lse",
            true,
            rows(&[&counts(1, 1, 0, "lse", "NULL"), "short.lse|loaded|-"]),
        ),
        load(
            "load_lse_status_x",
            replaced(good.clone(), ",A,,", ",X,,"),
            "status.lse",
            false,
            rows(&[
                &counts(0, 0, 1, "lse", "NULL"),
                "status.lse|loaded|-",
                &format!("unknown_status|interval 2 status|6|{E17}|4|2025-07-01"),
            ]),
        ),
        load(
            "load_lse_nul_byte",
            replaced(good.clone(), ",A,,", ",A\0,,"),
            "nul.lse",
            false,
            rows(&[
                &counts(0, 0, 1, "lse", "NULL"),
                "nul.lse|loaded|-",
                &format!("invalid_text|line|6|{E17}|4|2025-07-01"),
            ]),
        ),
        load(
            "load_csv_bad_kwh",
            replaced(csv_day(E17, july()), ",A,Consumption", "x,A,Consumption"),
            "kwh.csv",
            false,
            rows(&[
                &counts(0, 0, 1, "interval_csv", "NULL"),
                "kwh.csv|loaded|-",
                &format!("non_numeric_value|USAGE_KWH|3|{E17}|4|2025-07-01"),
            ]),
        ),
        load(
            "load_day_before_2000",
            lse(&[day_record(E17, 4, NaiveDate::from_ymd_opt(1999, 12, 31).unwrap())]),
            "old.lse",
            false,
            rows(&[
                &counts(0, 0, 1, "lse", "NULL"),
                "old.lse|loaded|-",
                &format!("day_out_of_range|day|1|{E17}|4|1999-12-31"),
            ]),
        ),
        load(
            "load_revision_in_the_future",
            lse(&[{
                let mut r = day_record(E17, 4, july());
                r.revision = Utc::now() + Duration::days(400);
                r
            }]),
            "future.lse",
            false,
            rows(&[
                &counts(0, 0, 1, "lse", "NULL"),
                "future.lse|loaded|-",
                &format!("revision_in_future|revision|1|{E17}|4|2025-07-01"),
            ]),
        ),
        load(
            "load_channel_99",
            replaced(good.clone(), &format!("{E17},4,"), &format!("{E17},99,")),
            "ch99.lse",
            false,
            rows(&[&counts(1, 1, 0, "lse", "NULL"), "ch99.lse|loaded|-"]),
        ),
        Case {
            name: "load_negative_and_18_digit_values_exactly",
            data: lse(&[{
                let mut r = day_record(E17, 4, july());
                let reading = |text: &str| {
                    Some(smt_core::Reading {
                        kwh: smt_core::Decimal::parse_str(text).unwrap(),
                        status: smt_core::Status::Actual,
                    })
                };
                r.intervals[0] = reading("-0.001");
                r.intervals[1] = reading("999999999999.999999");
                r
            }]),
            statements: vec![
                "SELECT inserted, rejected FROM smt.load($1, 'values.lse')".into(),
                "SELECT min(kwh)::text, max(kwh)::text FROM smt.interval".into(),
            ],
            expect: rows(&["1|0", "-0.001|999999999999.999999"]),
        },
        load(
            "load_lse_two_intervals_too_many",
            replaced(good.clone(), ",A,,", ",A,,-0.001,A,,999999999999.999999,A,,"),
            "values.lse",
            false,
            rows(&[&counts(0, 0, 1, "lse", "NULL"), "values.lse|loaded|-", &format!("wrong_interval_count|intervals|1|{E17}|4|2025-07-01")]),
        ),
        load(
            "load_empty_file_name",
            good.clone(),
            "",
            false,
            rows(&[&counts(1, 1, 0, "lse", "NULL"), "|loaded|-"]),
        ),
        load(
            "load_100k_character_file_name",
            good.clone(),
            &"n".repeat(100_000),
            false,
            rows(&[
                &counts(1, 1, 0, "lse", "NULL"),
                &format!("{}|loaded|-", "n".repeat(100_000)),
            ]),
        ),
        load(
            "load_file_name_with_quotes_and_newlines",
            good.clone(),
            "a'b\"c\nd;DROP TABLE smt.file",
            false,
            rows(&[
                &counts(1, 1, 0, "lse", "NULL"),
                "a'b\"c\nd;DROP TABLE smt.file|loaded|-",
            ]),
        ),
        Case {
            name: "load_same_content_twice",
            data: good.clone(),
            statements: vec![
                "SELECT inserted FROM smt.load($1, 'once.lse')".into(),
                "SELECT records, inserted, already_loaded FROM smt.load($1, 'twice.lse')".into(),
                FILE_ROW.into(),
            ],
            expect: rows(&["1", "0|0|true", "once.lse|loaded|-"]),
        },
        Case {
            name: "load_same_record_twice_in_one_file",
            data: lse(&[day_record(E17, 4, july()), day_record(E17, 4, july())]),
            statements: vec![
                "SELECT records, inserted, stale, identical, conflicts FROM smt.load($1, 'dup.lse')"
                    .into(),
                "SELECT outcome FROM smt.interval_version".into(),
            ],
            expect: rows(&["2|1|0|1|0"]),
        },
        sql(
            "load_null_data",
            "SELECT * FROM smt.load(NULL::bytea, 'x.lse')",
            fails("22004", "data is NULL, file_name given, lenient_esiid given"),
        ),
        sql(
            "load_null_name",
            "SELECT * FROM smt.load('\\x00'::bytea, NULL)",
            fails("22004", "data given, file_name is NULL, lenient_esiid given"),
        ),
        sql(
            "load_null_lenient",
            "SELECT * FROM smt.load('\\x00'::bytea, 'x.lse', NULL)",
            fails("22004", "lenient_esiid is NULL"),
        ),
        sql(
            "load_name_with_a_nul_escape",
            "SELECT * FROM smt.load('\\x00'::bytea, E'a\\000b')",
            fails("22021", "invalid byte sequence for encoding \"UTF8\": 0x00"),
        ),
        sql(
            "load_name_with_an_invalid_utf8_escape",
            "SELECT * FROM smt.load('\\x00'::bytea, E'\\xff.lse')",
            fails("22021", "invalid byte sequence for encoding \"UTF8\": 0xff"),
        ),
        sql(
            "load_text_instead_of_bytea",
            "SELECT * FROM smt.load(42, 'x.lse')",
            fails("42883", "function smt.load(integer, unknown) does not exist"),
        ),
    ]
}

fn function_cases() -> Vec<Case> {
    let n = |args: &str| format!("SELECT count(*)::int FROM smt.normalize_15min({args})");
    vec![
        sql(
            "normalize_lengths_differ",
            &n("ARRAY['2025-01-01'::timestamptz], ARRAY[]::timestamptz[], ARRAY[1.0]"),
            fails("22023", "needs one end and one kWh value for each start (22023); detail: 1 starts, 0 ends, 1 kWh values"),
        ),
        sql(
            "normalize_infinite_end",
            &n("ARRAY['2025-01-01'::timestamptz], ARRAY['infinity'::timestamptz], ARRAY[1.0]"),
            fails("22023", "takes finite instants only"),
        ),
        sql(
            "normalize_source_of_46_days",
            &n("ARRAY['2025-01-01'::timestamptz], ARRAY['2025-02-16'::timestamptz], ARRAY[1.0]"),
            fails("22023", "source intervals of at most 45 days"),
        ),
        sql("normalize_null_arrays", &n("NULL, NULL, NULL"), rows(&["0"])),
        sql(
            "normalize_empty_arrays",
            &n("ARRAY[]::timestamptz[], ARRAY[]::timestamptz[], ARRAY[]::numeric[]"),
            rows(&["0"]),
        ),
        sql(
            "normalize_end_before_start_is_left_out",
            &n("ARRAY['2025-01-01 01:00+00'::timestamptz], ARRAY['2025-01-01 00:00+00'::timestamptz], ARRAY[1.0]"),
            rows(&["0"]),
        ),
        sql(
            "normalize_null_kwh_is_left_out",
            &n("ARRAY['2025-01-01 00:00+00'::timestamptz], ARRAY['2025-01-01 01:00+00'::timestamptz], ARRAY[NULL::numeric]"),
            rows(&["0"]),
        ),
        sql(
            "normalize_null_start_inside_an_array",
            &n("ARRAY[NULL::timestamptz], ARRAY['2025-01-01 01:00+00'::timestamptz], ARRAY[1.0]"),
            rows(&["0"]),
        ),
        sql(
            "normalize_unaligned_hour_splits_exactly",
            "SELECT count(*)::int, sum(kwh)::text, min(coverage)::text FROM smt.normalize_15min(ARRAY['2025-01-01 00:05+00'::timestamptz], ARRAY['2025-01-01 01:05+00'::timestamptz], ARRAY[1.001])",
            rows(&["5|1.001000000|0.333333"]),
        ),
        sql("esiid_valid_null", "SELECT smt.esiid_valid(NULL)::text", rows(&["NULL"])),
        sql("esiid_valid_empty", "SELECT smt.esiid_valid('')", rows(&["false"])),
        sql("esiid_valid_apostrophe_only", "SELECT smt.esiid_valid('''')", rows(&["false"])),
        sql(
            "esiid_valid_spaces_tabs_and_guard",
            "SELECT smt.esiid_valid(E'\\t''1044 3720 0000 00001\\n')",
            rows(&["true"]),
        ),
        sql(
            "esiid_valid_18_digits",
            "SELECT smt.esiid_valid('104437200000000012')",
            rows(&["false"]),
        ),
        sql(
            "esiid_valid_arabic_indic_digits",
            "SELECT smt.esiid_valid('١٠٤٤٣٧٢٠٠٠٠٠٠٠٠٠١')",
            rows(&["false"]),
        ),
        sql(
            "esiid_valid_fullwidth_digits",
            "SELECT smt.esiid_valid('１０４４３７２００００００００００１')",
            rows(&["false"]),
        ),
        sql(
            "esiid_valid_64_and_65_lenient",
            "SELECT smt.esiid_valid(repeat('9', 64), lenient => true), smt.esiid_valid(repeat('9', 65), lenient => true)",
            rows(&["true|false"]),
        ),
        sql(
            "esiid_valid_lenient_null",
            "SELECT smt.esiid_valid('123', NULL)::text",
            rows(&["NULL"]),
        ),
        sql(
            "esiid_valid_sql_injection_text",
            "SELECT smt.esiid_valid('10443720000000001''; DROP TABLE x; --', true)",
            rows(&["false"]),
        ),
        sql(
            "esiid_domain_refuses_unnormalized",
            "SELECT '''10443720000000001'::smt.esiid",
            fails("23514", "value for domain smt.esiid violates check constraint \"esiid_check\""),
        ),
    ]
}

fn cron_cases() -> Vec<Case> {
    let c = |line: &str| {
        format!(
            "SELECT smt.cron_next('{}', 'America/Chicago', '2025-07-01 12:00+00')::text",
            line.replace('\'', "''")
        )
    };
    vec![
        sql(
            "cron_four_fields",
            &c("0 6 * *"),
            fails("22023", "must have 5 fields"),
        ),
        sql(
            "cron_six_fields",
            &c("0 0 6 * * *"),
            fails("22023", "must have 5 fields"),
        ),
        sql(
            "cron_empty_line",
            &c(""),
            fails("22023", "must have 5 fields"),
        ),
        sql("cron_minute_60", &c("60 * * * *"), fails("22023", "60")),
        sql("cron_hour_24", &c("0 24 * * *"), fails("22023", "24")),
        sql("cron_day_of_week_8", &c("0 0 * * 8"), fails("22023", "8")),
        sql("cron_step_zero", &c("*/0 * * * *"), fails("22023", "0")),
        sql(
            "cron_unknown_macro",
            &c("@fortnightly"),
            fails("22023", "@fortnightly"),
        ),
        sql("cron_letters", &c("a b c d e"), fails("22023", "a")),
        sql(
            "cron_february_31st_never_fires",
            &c("0 0 31 2 *"),
            fails("22023", "schedule \"0 0 31 2 *\" never runs"),
        ),
        sql(
            "cron_sunday_as_7",
            &c("30 6 * * 7"),
            rows(&["2025-07-06 11:30:00+00"]),
        ),
        sql(
            "cron_bad_time_zone",
            "SELECT smt.cron_next('0 6 * * *', 'Mars/Olympus_Mons', now())",
            fails("22023", "Mars/Olympus_Mons"),
        ),
        sql(
            "cron_null_schedule",
            "SELECT smt.cron_next(NULL, 'America/Chicago', now())::text",
            rows(&["NULL"]),
        ),
        // Found by this corpus (the extension panicked on them), fixed: a clean error.
        sql(
            "cron_after_infinity",
            "SELECT smt.cron_next('0 6 * * *', 'America/Chicago', 'infinity')::text",
            fails("22023", "finite instant"),
        ),
        sql(
            "cron_after_minus_infinity",
            "SELECT smt.cron_next('0 6 * * *', 'America/Chicago', '-infinity')::text",
            fails("22023", "finite instant"),
        ),
    ]
}

fn job_cases() -> Vec<Case> {
    let job = |params: &str| {
        format!(
            "INSERT INTO smt.job (name, schedule, kind, params) VALUES ('corpus', '0 6 * * *', 'import_dir', '{}'::jsonb) RETURNING params::text",
            params.replace('\'', "''")
        )
    };
    let refused = || {
        fails(
            "23514",
            "violates check constraint \"job_params_hold_no_secrets\"",
        )
    };
    vec![
        sql("job_good_params_are_the_control", &job(r#"{"source": "inbox"}"#), rows(&[r#"{"source": "inbox"}"#])),
        sql("job_params_password", &job(r#"{"source": "x", "password": "hunter2"}"#), refused()),
        sql("job_params_passwd_uppercase", &job(r#"{"FTP_PASSWD": "x"}"#), refused()),
        sql("job_params_token_three_levels_down", &job(r#"{"a": {"b": [{"ApiToken": "x"}]}}"#), refused()),
        sql("job_params_secret_in_an_array_of_objects", &job(r#"[{"client_secret": 1}]"#), refused()),
        sql("job_params_client_key", &job(r#"{"client_key": "/etc/key.pem"}"#), refused()),
        sql("job_params_camel_case_key", &job(r#"{"clientKey": "x"}"#), refused()),
        sql("job_params_key_file", &job(r#"{"KEY_FILE": "x"}"#), refused()),
        sql("job_params_bare_key", &job(r#"{"key": "x"}"#), refused()),
        sql("job_params_credentials", &job(r#"{"credentials": {"user": "u"}}"#), refused()),
        sql("job_params_private", &job(r#"{"private": true}"#), refused()),
        sql("job_params_pwd", &job(r#"{"pwd": "x"}"#), refused()),
        sql("job_params_passphrase", &job(r#"{"pgp": {"passphrase": "x"}}"#), refused()),
        sql(
            "job_params_private_key_text_as_a_value",
            &job(r#"{"note": "-----BEGIN PGP PRIVATE KEY BLOCK-----"}"#),
            refused(),
        ),
        sql(
            "job_params_private_key_text_deep_in_an_array",
            &job(r#"{"dirs": ["/", ["my private key"]]}"#),
            refused(),
        ),
        sql("job_params_keys_pass", &job(r#"{"keys": ["a"], "keyring": "k"}"#), rows(&[r#"{"keys": ["a"], "keyring": "k"}"#])),
        sql(
            "job_params_word_ending_in_key_refused_too",
            &job(r#"{"monkey": 1}"#),
            refused(),
        ),
        sql(
            "job_params_secret_word_as_a_value_passes",
            &job(r#"{"source": "password"}"#),
            rows(&[r#"{"source": "password"}"#]),
        ),
        sql(
            "job_params_null",
            "INSERT INTO smt.job (name, schedule, kind, params) VALUES ('corpus', '0 6 * * *', 'import_dir', NULL)",
            fails("23502", "null value in column \"params\""),
        ),
        sql(
            "job_unknown_kind",
            "INSERT INTO smt.job (name, schedule, kind) VALUES ('corpus', '0 6 * * *', 'soap_request')",
            fails("23503", "violates foreign key constraint"),
        ),
        sql(
            "job_bad_schedule",
            "INSERT INTO smt.job (name, schedule, kind) VALUES ('corpus', '61 * * * *', 'import_dir')",
            fails("22023", "61"),
        ),
        sql(
            "job_null_schedule",
            "INSERT INTO smt.job (name, schedule, kind) VALUES ('corpus', NULL, 'import_dir')",
            fails("23502", "null value in column \"schedule\""),
        ),
        sql(
            "job_bad_time_zone",
            "INSERT INTO smt.job (name, schedule, time_zone, kind) VALUES ('corpus', '0 6 * * *', 'Nowhere/City', 'import_dir')",
            fails("22023", "Nowhere/City"),
        ),
        sql(
            "job_zero_attempts",
            "INSERT INTO smt.job (name, schedule, kind, max_attempts) VALUES ('corpus', '0 6 * * *', 'import_dir', 0)",
            fails("23514", "violates check constraint \"job_max_attempts_check\""),
        ),
        Case {
            name: "job_duplicate_name",
            data: Vec::new(),
            statements: vec![
                "INSERT INTO smt.job (name, schedule, kind) VALUES ('corpus', '0 6 * * *', 'import_dir')".into(),
                "INSERT INTO smt.job (name, schedule, kind) VALUES ('corpus', '0 7 * * *', 'import_dir')".into(),
            ],
            expect: fails("23505", "duplicate key value violates unique constraint"),
        },
        Case {
            name: "job_update_to_a_secret_param",
            data: Vec::new(),
            statements: vec![
                "INSERT INTO smt.job (name, schedule, kind) VALUES ('corpus', '0 6 * * *', 'import_dir')".into(),
                r#"UPDATE smt.job SET params = '{"source": "x", "nested": {"token": "t"}}' WHERE name = 'corpus'"#.into(),
            ],
            expect: refused(),
        },
        Case {
            name: "job_update_to_a_bad_schedule",
            data: Vec::new(),
            statements: vec![
                "INSERT INTO smt.job (name, schedule, kind) VALUES ('corpus', '0 6 * * *', 'import_dir')".into(),
                "UPDATE smt.job SET schedule = '0 6 * *' WHERE name = 'corpus'".into(),
            ],
            expect: fails("22023", "must have 5 fields"),
        },
    ]
}

#[test]
fn corpus_of_bad_sql_arguments_gives_the_exact_outcome() {
    let Some(db) = TestDb::new("corpus") else {
        return;
    };
    let started = Instant::now();
    let mut c = db.connect();
    c.batch_execute("SET client_min_messages = error; SET statement_timeout = '60s'")
        .unwrap();
    let groups = [
        ("smt.load", load_cases()),
        ("functions", function_cases()),
        ("cron", cron_cases()),
        ("smt.job", job_cases()),
    ];
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    let mut per_group = Vec::new();
    for (group, cases) in &groups {
        for case in cases {
            assert!(
                names.insert(case.name),
                "case name {} used twice",
                case.name
            );
            failures.extend(check(&mut c, case));
        }
        per_group.push(format!("{} {group}", cases.len()));
    }
    println!(
        "sql corpus: {} cases ({}), {} failed, in {:.2?}",
        names.len(),
        per_group.join(", "),
        failures.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
