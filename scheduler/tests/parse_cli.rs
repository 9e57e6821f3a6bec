//! `smt parse` as a user runs it: the built binary on files in a temporary directory.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Days, NaiveDate};
use smt_core::{testdata, time, Decimal, IntervalRecord, Reading, Status};

const HEADER: &str = "esiid,channel,day,interval_start,interval_end,kwh,status,revision";
const ESIID: &str = "10443720000000001";

/// A directory of its own under the system temp dir, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("smt-parse-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The output rows after the header, split into fields.
    fn rows(&self) -> Vec<Vec<String>> {
        let mut lines = self.stdout.lines();
        assert_eq!(lines.next(), Some(HEADER), "stdout starts with the header");
        lines
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect()
    }

    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

fn smt_parse<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_smt"))
        .arg("parse")
        .args(args)
        .output()
        .expect("run smt");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A full day of actual values `i/100` kWh, revised the next day at 07:37:17 Central.
fn record(day: NaiveDate) -> IntervalRecord {
    let intervals = (0..time::slots_in_day(day, 900))
        .map(|i| {
            Some(Reading {
                kwh: Decimal::new(i as i64, 2),
                status: Status::Actual,
            })
        })
        .collect();
    IntervalRecord {
        esiid: ESIID.to_owned(),
        channel: 4,
        day,
        start: time::day_start(day),
        interval_seconds: 900,
        revision: time::revision_to_utc((day + Days::new(1)).and_hms_opt(7, 37, 17).unwrap()),
        transaction_id: Some("T1".into()),
        attributes: Vec::new(),
        intervals,
        line: 0,
    }
}

fn lse(records: &[IntervalRecord]) -> Vec<u8> {
    testdata::lse_bytes(records, true)
}

fn column(rows: &[Vec<String>], i: usize) -> Vec<&str> {
    rows.iter().map(|r| r[i].as_str()).collect()
}

/// Rows follow each other without gap or overlap.
#[track_caller]
fn assert_contiguous(rows: &[Vec<String>]) {
    for pair in rows.windows(2) {
        assert_eq!(
            pair[0][4], pair[1][3],
            "end of one interval is the start of the next"
        );
    }
}

#[track_caller]
fn assert_clean_success(run: &Run) {
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stderr, "");
}

#[test]
fn spring_forward_day_prints_92_rows() {
    let dir = TempDir::new("spring");
    let path = dir.write("spring.lse", lse(&[record(date(2025, 3, 9))]));
    let run = smt_parse(&[&path]);
    assert_clean_success(&run);
    assert_eq!(run.stdout.lines().next(), Some(HEADER));
    let rows = run.rows();
    assert_eq!(rows.len(), 92);
    assert_contiguous(&rows);
    // Midnight is still CST (UTC-6) on this day: 06:00Z. At 02:00 CST the clock jumps to 03:00
    // CDT, so the 01:45 interval ends at 08:00Z (03:00 CDT); the day ends at midnight CDT (05:00Z).
    assert_eq!(rows[0][3], "2025-03-09T06:00:00Z");
    assert_eq!(rows[7][4], "2025-03-09T08:00:00Z");
    assert_eq!(rows[91][4], "2025-03-10T05:00:00Z");
    assert_eq!(
        rows[0][..3],
        [ESIID.to_owned(), "4".into(), "2025-03-09".into()]
    );
    // Revised 2025-03-10 07:37:17 CDT.
    assert!(column(&rows, 7)
        .iter()
        .all(|r| *r == "2025-03-10T12:37:17Z"));
    let kwh: Vec<String> = (0..92).map(|i| Decimal::new(i, 2).to_string()).collect();
    assert_eq!(column(&rows, 5), kwh);
}

#[test]
fn fall_back_day_prints_100_rows() {
    let dir = TempDir::new("fall");
    let path = dir.write("fall.lse", lse(&[record(date(2025, 11, 2))]));
    let run = smt_parse(&[&path]);
    assert_clean_success(&run);
    let rows = run.rows();
    assert_eq!(rows.len(), 100);
    assert_contiguous(&rows);
    // Midnight CDT (UTC-5); 01:00 happens at 06:00Z and again at 07:00Z; midnight CST ends it.
    assert_eq!(rows[0][3], "2025-11-02T05:00:00Z");
    assert_eq!(rows[4][3], "2025-11-02T06:00:00Z");
    assert_eq!(rows[8][3], "2025-11-02T07:00:00Z");
    assert_eq!(rows[99][4], "2025-11-03T06:00:00Z");
    assert!(column(&rows, 7)
        .iter()
        .all(|r| *r == "2025-11-03T13:37:17Z"));
}

/// An SMT interval CSV of one ordinary day with these kWh texts (status A, or empty with an
/// empty kWh) for its first intervals and "1.000" after them.
fn smt_csv(day: &str, first_values: &[&str]) -> String {
    let mut text = String::from(
        "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION\n",
    );
    for i in 0..96u32 {
        let (start, end) = (i * 15, i * 15 + 15);
        let kwh = first_values.get(i as usize).copied().unwrap_or("1.000");
        let status = if kwh.is_empty() { "" } else { "A" };
        text.push_str(&format!(
            "'{ESIID},{day},07/02/2025 07:37:17,{:02}:{:02},{:02}:{:02},{kwh},{status},Consumption\n",
            start / 60,
            start % 60,
            end / 60 % 24,
            end % 60
        ));
    }
    text
}

#[test]
fn kwh_is_printed_exactly_as_written() {
    let dir = TempDir::new("exact");
    let written = ["0.580", "2903.7021", "10", "0.000", "-1.50", "68.29"];
    let path = dir.write("usage.csv", smt_csv("07/01/2025", &written));
    let run = smt_parse(&[&path]);
    assert_clean_success(&run);
    let rows = run.rows();
    assert_eq!(rows.len(), 96);
    assert_eq!(column(&rows, 5)[..6], written);
    assert_eq!(rows[0][6], "A");
    // 07:37:17 CDT.
    assert_eq!(rows[0][7], "2025-07-02T12:37:17Z");
}

#[test]
fn missing_interval_has_empty_kwh_and_status() {
    let dir = TempDir::new("missing");
    let path = dir.write("usage.csv", smt_csv("07/01/2025", &["0.5", "", "0.7"]));
    let run = smt_parse(&[&path]);
    assert_clean_success(&run);
    let rows = run.rows();
    assert_eq!(rows.len(), 96);
    assert_eq!(rows[1][5..], ["", "", "2025-07-02T12:37:17Z"]);
    assert_eq!(rows[0][5..7], ["0.5", "A"]);
    assert_eq!(rows[2][5..7], ["0.7", "A"]);
}

#[test]
fn bad_csv_record_is_reported_and_good_ones_still_printed() {
    let dir = TempDir::new("bad-csv");
    // July 1 good; July 2 with a non-numeric value in its 11th row (line 1 + 96 + 11).
    let day2 = smt_csv("07/02/2025", &[]);
    let mut day2_rows: Vec<String> = day2.lines().skip(1).map(str::to_owned).collect();
    day2_rows[10] = day2_rows[10].replace(",1.000,", ",1.0OO,");
    let text = format!("{}{}\n", smt_csv("07/01/2025", &[]), day2_rows.join("\n"));
    let path = dir.write("usage.csv", text);
    let run = smt_parse(&[&path]);
    assert_eq!(run.code, Some(1));
    let errors = run.stderr_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with(&format!("{}:108: ", path.display())),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("USAGE_KWH"), "{}", errors[0]);
    let rows = run.rows();
    assert_eq!(rows.len(), 96);
    assert!(rows.iter().all(|r| r[2] == "2025-07-01"));
}

#[test]
fn bad_lse_record_is_reported_and_good_ones_still_printed() {
    let dir = TempDir::new("bad-lse");
    let days = [date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 3)];
    let text = String::from_utf8(lse(&days.map(record))).unwrap();
    // Records are 28 lines (00000001-00000004, no 00000030, 24 data rows): July 2's first data
    // row is line 28 + 5 = 33; its first status becomes X.
    let mut lines: Vec<&str> = text.split("\r\n").collect();
    assert!(lines[32].starts_with("10000000,0.00,A,"), "{}", lines[32]);
    let bad = lines[32].replacen(",A,", ",X,", 1);
    lines[32] = &bad;
    let path = dir.write("data.lse", lines.join("\r\n"));
    let run = smt_parse(&[&path]);
    assert_eq!(run.code, Some(1));
    let errors = run.stderr_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with(&format!("{}:33: ", path.display())),
        "{}",
        errors[0]
    );
    let rows = run.rows();
    assert_eq!(rows.len(), 2 * 96);
    assert_eq!(rows[0][2], "2025-07-01");
    assert_eq!(rows[96][2], "2025-07-03");
}

#[test]
fn format_can_be_forced() {
    let dir = TempDir::new("forced");
    let csv = dir.write("usage.dat", smt_csv("07/01/2025", &[]));
    let lse_named_csv = dir.write("data.csv", lse(&[record(date(2025, 7, 1))]));

    let run = smt_parse(&[OsStr::new("--format"), "csv".as_ref(), csv.as_os_str()]);
    assert_clean_success(&run);
    assert_eq!(run.rows().len(), 96);

    let run = smt_parse(&[
        OsStr::new("--format"),
        "lse".as_ref(),
        lse_named_csv.as_os_str(),
    ]);
    assert_clean_success(&run);
    assert_eq!(run.rows().len(), 96);

    // Forced to the wrong parser, the file is rejected rather than guessed at.
    let run = smt_parse(&[
        OsStr::new("--format"),
        "csv".as_ref(),
        lse_named_csv.as_os_str(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(run.rows().is_empty());
    assert!(run
        .stderr
        .starts_with(&format!("{}:1: ", lse_named_csv.display())));

    let run = smt_parse(&[OsStr::new("--format"), "lse".as_ref(), csv.as_os_str()]);
    assert_eq!(run.code, Some(1));
    assert!(run.rows().is_empty());
}

#[test]
fn format_is_detected_by_content_not_name() {
    let dir = TempDir::new("detect");
    let path = dir.write("x.lse", smt_csv("07/01/2025", &["0.580"]));
    let run = smt_parse(&[&path]);
    assert_clean_success(&run);
    let rows = run.rows();
    assert_eq!(rows.len(), 96);
    assert_eq!(rows[0][5], "0.580");
}

#[test]
fn unrecognised_content_is_rejected() {
    let dir = TempDir::new("unknown");
    let path = dir.write("notes.txt", "hello,world\n");
    let run = smt_parse(&[&path]);
    assert_eq!(run.code, Some(1));
    assert!(run.rows().is_empty());
    assert!(
        run.stderr.starts_with(&format!("{}:1: ", path.display())),
        "{}",
        run.stderr
    );
}

/// A file name is printed with its control characters escaped (smt_scheduler::text::printable):
/// a delivery named with terminal escape codes cannot clear, retitle or recolor the terminal.
#[test]
fn file_names_with_escape_codes_are_printed_escaped() {
    let dir = TempDir::new("escapes");
    let path = dir.write("evil\u{1b}[2J\u{1b}]0;owned\u{7}.lse", "hello,world\n");
    let missing = dir.0.join("gone\u{1b}[31m.lse");
    let run = smt_parse(&[&path, &missing]);
    assert_eq!(run.code, Some(2));
    assert!(
        !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{7}'),
        "{:?}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("evil\\u{1b}[2J\\u{1b}]0;owned\\u{7}.lse:1: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("gone\\u{1b}[31m.lse"), "{}", run.stderr);
}

#[test]
fn unreadable_path_exits_2_after_the_other_files() {
    let dir = TempDir::new("unreadable");
    let missing = dir.0.join("no-such-file.lse");
    let good = dir.write("good.lse", lse(&[record(date(2025, 7, 1))]));
    let run = smt_parse(&[&missing, &good]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );
    assert_eq!(run.rows().len(), 96);
}

/// The LSE example of the SMT education session (seeds/002), verbatim: its ESIID is a 15-digit
/// placeholder.
const SEED_EXAMPLE: &str = "\
00000001,100000000000000,4,20080510000000,20080510235900,Y,N
00000002,0,0,0,,0,,900,01,1,-1,0.0,0.0,CST
00000003,UNIQUETRANID0123456789
00000004,20080519112825,M
00000030,ATTRIBUTE_VALUE_PAIRS,MRE=666666666,Sender=666666666,Receiver=183529049,REP=111111111
10000000,68.29,A,,69.17,A,,67.99,A,,67.99,A,,
10000001,66.81,E,,66.52,E,,67.11,E,,67.11,E,,
10000002,67.11,A,,66.52,A,,66.81,A,,66.82,A,,
10000003,69.47,A,,107.73,A,,230.76,A,,228.11,A,,
10000004,69.47,A,,107.73,A,,230.76,A,,228.11,A,,
10000005,231.94,A,,228.4,A,,230.17,A,,233.7,A,,
10000006,25.18,A,,21.95,A,,246.36,A,,247.83,A,,
10000007,259.61,A,,283.45,A,,303.16,A,,313.76,A,,
10000008,325.83,A,,336.72,A,,350.26,A,,354.38,A,,
10000009,358.5,A,,30.27,A,,361.74,A,,366.45,A,,
10000010,365.86,A,,369.39,A,,369.69,A,,368.21,A,,
10000011,371.45,A,,39.69,A,,367.63,A,,369.39,A,,
10000012,371.15,A,,369.68,A,,368.51,A,,369.98,A,,
10000013,370.57,A,,373.51,A,,373.22,A,,369.39,A,,
10000014,370.86,A,,369.98,A,,368.81,A,,365.57,A,,
10000015,364.39,A,,34.68,A,,36.8,A,,284.03,A,,
10000016,309.64,A,,308.76,A,,302.88,A,,296.1,A,,
10000017,286.68,A,,279.91,A,,24.29,A,,189.55,A,,
10000018,190.43,A,,161.59,A,,10.68,A,,114.79,A,,
10000019,108.9,A,,107.14,A,,101.55,A,,98.61,A,,
10000020,94.78,A,,4.49,A,,95.66,A,,92.42,A,,
10000021,84.77,A,,80.94,A,,80.94,A,,80.35,A,,
10000022,80.35,A,,80.35,A,,7.29,A,,77.41,A,,
10000023,77.71,A,,76.82,A,,77.41,A,,7.82,A,,
";

#[test]
fn lenient_esiid_takes_the_seed_example() {
    let dir = TempDir::new("seed");
    let path = dir.write("seed_example.lse", SEED_EXAMPLE);

    let strict = smt_parse(&[&path]);
    assert_eq!(strict.code, Some(1));
    assert!(strict.rows().is_empty());
    assert!(
        strict
            .stderr
            .starts_with(&format!("{}:1: ", path.display())),
        "{}",
        strict.stderr
    );

    let lenient = smt_parse(&[OsStr::new("--lenient-esiid"), path.as_os_str()]);
    assert_clean_success(&lenient);
    let rows = lenient.rows();
    assert_eq!(rows.len(), 96);
    // May 2008 is daylight time: midnight CDT is 05:00Z; revised 11:28:25 CDT.
    assert_eq!(
        lenient.stdout.lines().nth(1),
        Some("100000000000000,4,2008-05-10,2008-05-10T05:00:00Z,2008-05-10T05:15:00Z,68.29,A,2008-05-19T16:28:25Z")
    );
    assert_eq!(column(&rows, 6)[3..9], ["A", "E", "E", "E", "E", "A"]);
    assert_eq!(rows[95][4..6], ["2008-05-11T05:00:00Z", "7.82"]);
}

#[test]
fn several_files_print_in_order() {
    let dir = TempDir::new("several");
    let a = dir.write("a.lse", lse(&[record(date(2025, 7, 1))]));
    let b = dir.write("b.csv", smt_csv("07/02/2025", &[]));
    let run = smt_parse(&[Path::new(&a), Path::new(&b)]);
    assert_clean_success(&run);
    let rows = run.rows();
    assert_eq!(rows.len(), 192);
    assert_eq!(
        (rows[0][2].as_str(), rows[96][2].as_str()),
        ("2025-07-01", "2025-07-02")
    );
}

fn smt_help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_smt"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run smt");
    assert!(out.status.success(), "smt {args:?} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `smt jobs add --help` documents every key each built-in job kind takes (the keys read from
/// the params structs), with an example each.
#[test]
fn jobs_add_help_lists_the_params_of_every_kind() {
    use smt_scheduler::config::struct_fields;
    use smt_scheduler::sources::{FtpsParams, ImportDirParams, JobParams};

    fn documented<P: JobParams>(help: &str) {
        let block = help
            .split(&format!("{}: ", P::KIND))
            .nth(1)
            .unwrap_or_else(|| panic!("no {} block in:\n{help}", P::KIND));
        let block = block.split("\n\n").next().unwrap();
        for key in struct_fields::<P>() {
            assert!(
                block
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{key} "))),
                "{}: {key} not documented in:\n{block}",
                P::KIND
            );
        }
        assert!(block.contains(P::EXAMPLE), "{block}");
    }
    let help = smt_help(&["jobs", "add"]);
    documented::<FtpsParams>(&help);
    documented::<ImportDirParams>(&help);
    assert!(help.contains("ftps_fetch or import_dir"), "{help}");
}

/// `smt run --help` lists every key of the configuration file under its table, each with a
/// description; the keys are read from the config structs, so a new field must be documented.
#[test]
fn run_help_lists_every_config_key() {
    use smt_scheduler::config::{
        struct_fields, Config, FtpsSite, PgpConfig, SftpSite, SmtApiSite, SoapApiSite, WorkerConfig,
    };

    let help = smt_help(&["run"]);
    let block = |heading: &str| -> String {
        help.split("\n\n")
            .find(|b| b.trim_start().starts_with(heading))
            .unwrap_or_else(|| panic!("no {heading} in:\n{help}"))
            .to_owned()
    };
    let tables = [
        ("(top level)", struct_fields::<Config>()),
        ("[worker]", struct_fields::<WorkerConfig>()),
        ("[pgp]", struct_fields::<PgpConfig>()),
        ("[ftps.NAME]", struct_fields::<FtpsSite>()),
        ("[sftp.NAME]", struct_fields::<SftpSite>()),
        ("[smt_api.NAME]", struct_fields::<SmtApiSite>()),
        ("[soap_api.NAME]", struct_fields::<SoapApiSite>()),
    ];
    for (heading, fields) in tables {
        assert!(!fields.is_empty(), "{heading}");
        let block = block(heading);
        for field in fields {
            // A field that is a table of its own has its own heading.
            let own_table = [
                "worker",
                "pgp",
                "ftps",
                "sftp",
                "smt_api",
                "soap_api",
                "import_dirs",
            ]
            .contains(field);
            let line = if own_table {
                help.lines().find(|l| {
                    l.trim_start()
                        .strip_prefix('[')
                        .is_some_and(|t| t.starts_with(field))
                })
            } else {
                block
                    .lines()
                    .find(|l| l.trim_start().starts_with(&format!("{field} ")))
            };
            let line = line.unwrap_or_else(|| panic!("{heading} {field} not in:\n{help}"));
            // Key, then a description.
            assert!(
                line.trim().len() > field.len() + 10,
                "{field} has no description: {line:?}"
            );
        }
    }
    assert!(help.contains("[import_dirs]"), "{help}");
}
