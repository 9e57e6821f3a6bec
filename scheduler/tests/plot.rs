//! `smt plot heatmap` and `smt plot daily` end to end: the real binary against a real cluster
//! (`SMT_TEST_DATABASE_URL`; without it the tests say so and pass on a laptop, and fail under
//! `SMT_REQUIRE_ALL_PARTS=1` or `CI=true`).
//!
//! Each test loads generated data with DST days (`smt generate`, then `smt import`) into its own
//! database, draws, and checks that the PNG decodes at the requested size and that what the
//! command says it drew (its stderr summary: days, intervals, exact kWh) is what SQL over
//! smt.interval and smt.daily_usage gives. Unknown ESIIDs, empty ranges and a missing font are
//! clear errors that leave no file.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use common::*;
use postgres::Client;
use smt_core::{Decimal, DecimalSum};

/// The default font of `smt plot` (Debian's fonts-dejavu-core).
const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Both DST days of 2025 with a day on each side: 92, 96 and 100 slots.
const DAYS: &str = "2025-03-08,2025-03-09,2025-03-10,2025-11-01,2025-11-02,2025-11-03";

/// True when `smt plot` has a font here (SMT_PLOT_FONT, else the default file).
fn require_font() -> bool {
    let font = std::env::var("SMT_PLOT_FONT")
        .ok()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| DEFAULT_FONT.to_owned());
    require_part(
        Path::new(&font).is_file(),
        &format!("a font for `smt plot` ({font})"),
        "install the Debian package fonts-dejavu-core, or set SMT_PLOT_FONT to a .ttf file",
    )
}

/// A database with generated data for 4 meters on [`DAYS`]; the ESIID of the one with surplus
/// generation (channel 1) too.
fn loaded(test: &str, dir: &Path) -> Option<(TestDb, String)> {
    if !require_font() {
        return None;
    }
    let db = TestDb::extension_only(test)?;
    let data = dir.join("data.lse");
    let data = data.to_str().unwrap();
    let generate = [
        "generate", "-o", data, "--esiids", "4", "--days", DAYS, "--seed", "11",
    ];
    run(smt(dir, &generate), COMMAND_TIMEOUT).expect_code(0, "smt generate");
    run(
        smt(dir, &["import", "--database-url", db.url(), data]),
        COMMAND_TIMEOUT,
    )
    .expect_code(0, "smt import");
    let esiid: String = one(
        &mut db.connect(),
        "SELECT esiid FROM smt.daily_usage
          GROUP BY esiid HAVING count(*) = 6 AND count(export_kwh) = 6
          ORDER BY esiid LIMIT 1",
        &[],
    );
    Some((db, esiid))
}

/// `smt plot ARGS --database-url URL`.
fn plot(db: &TestDb, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["plot"];
    all.extend_from_slice(args);
    all.extend(["--database-url", db.url()]);
    run(smt(dir, &all), COMMAND_TIMEOUT)
}

/// The `key=value` words of the stderr line starting with `prefix`.
fn summary(stderr: &str, prefix: &str) -> BTreeMap<String, String> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in stderr:\n{stderr}"));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_end_matches(';').to_owned()))
        .collect()
}

/// Width, height and the number of distinct colours of a PNG file, decoding all of it.
fn decode_png(path: &Path) -> (u32, u32, usize) {
    let file = std::io::BufReader::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    );
    let mut reader = png::Decoder::new(file).read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG image data");
    let bytes = info.color_type.samples();
    let colours: HashSet<&[u8]> = buf[..info.buffer_size()].chunks(bytes).collect();
    (info.width, info.height, colours.len())
}

/// One row of text columns.
fn text_row(
    c: &mut Client,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Vec<String> {
    rows_text(c, sql, params)
        .pop()
        .expect("one row")
        .into_iter()
        .map(|v| v.unwrap_or_else(|| "none".to_owned()))
        .collect()
}

fn date(text: &str) -> chrono::NaiveDate {
    text.parse().unwrap()
}

/// Asserts the summary's `keys` equal `expected`, in order.
fn assert_summary(got: &BTreeMap<String, String>, keys: &[&str], expected: &[String], what: &str) {
    for (k, v) in keys.iter().zip(expected) {
        assert_eq!(
            got.get(*k).map(String::as_str),
            Some(v.as_str()),
            "{what}: {k} (summary {got:?})"
        );
    }
}

#[test]
fn heatmap_draws_the_intervals_of_the_range() {
    let dir = scratch("plot-heatmap");
    let Some((db, esiid)) = loaded("plot_heatmap", dir.path()) else {
        return;
    };
    let mut c = db.connect();
    // The fall range starts on a day without data: days counts the days with data.
    for (channel, from, to, width, height, slots) in [
        ("4", "2025-10-31", "2025-11-03", "900", "600", 96 + 100 + 96),
        (
            "1",
            "2025-10-31",
            "2025-11-03",
            "1200",
            "800",
            96 + 100 + 96,
        ),
        ("4", "2025-03-08", "2025-03-10", "1200", "800", 96 + 92 + 96),
    ] {
        let out = dir.path().join(format!("heatmap-{channel}-{from}.png"));
        let args = [
            "heatmap",
            "--esiid",
            &esiid,
            "--channel",
            channel,
            "--from",
            from,
            "--to",
            to,
            "-o",
            out.to_str().unwrap(),
            "--width",
            width,
            "--height",
            height,
        ];
        let what = format!("heatmap channel {channel} {from}..{to}");
        let output = plot(&db, dir.path(), &args).expect_code(0, &what);
        let (w, h, colours) = decode_png(&out);
        assert_eq!(
            (w.to_string(), h.to_string()),
            (width.to_owned(), height.to_owned()),
            "{what}: size"
        );
        assert!(
            colours > 50,
            "{what}: {colours} colours, a picture of data has many"
        );

        let channel_n: i16 = channel.parse().unwrap();
        let expected = text_row(
            &mut c,
            "SELECT count(DISTINCT day)::text, count(*)::text, count(kwh)::text,
                    (count(*) - count(kwh))::text, count(*) FILTER (WHERE status = 'E')::text,
                    max(kwh)::text, min(kwh)::text
               FROM smt.interval
              WHERE esiid = $1 AND channel = $2 AND day BETWEEN $3 AND $4",
            &[&esiid, &channel_n, &date(from), &date(to)],
        );
        let got = summary(&output.stderr, "smt plot heatmap:");
        assert_summary(
            &got,
            &[
                "days",
                "intervals",
                "values",
                "missing",
                "estimated",
                "max_kwh",
                "min_kwh",
            ],
            &expected,
            &what,
        );
        // The DST day is there with all its slots (100 in the fall, 92 in the spring).
        assert_eq!(expected[0], "3", "{what}: days with data");
        assert_eq!(expected[1], slots.to_string(), "{what}: intervals");
    }
}

#[test]
fn daily_draws_the_days_of_the_range() {
    let dir = scratch("plot-daily");
    let Some((db, esiid)) = loaded("plot_daily", dir.path()) else {
        return;
    };
    let mut c = db.connect();
    for (from, to, width, height) in [
        ("2025-03-01", "2025-11-30", "1000", "500"),
        ("2025-11-01", "2025-11-03", "1200", "800"),
    ] {
        let out = dir.path().join(format!("daily-{from}.png"));
        let args = [
            "daily",
            "--esiid",
            &esiid,
            "--from",
            from,
            "--to",
            to,
            "-o",
            out.to_str().unwrap(),
            "--width",
            width,
            "--height",
            height,
        ];
        let what = format!("daily {from}..{to}");
        let output = plot(&db, dir.path(), &args).expect_code(0, &what);
        let (w, h, colours) = decode_png(&out);
        assert_eq!(
            (w.to_string(), h.to_string()),
            (width.to_owned(), height.to_owned()),
            "{what}: size"
        );
        assert!(colours > 10, "{what}: {colours} colours");

        let expected = text_row(
            &mut c,
            "SELECT count(*)::text, sum(intervals_present)::text,
                    sum(intervals_estimated)::text, sum(intervals_missing)::text,
                    sum(import_kwh)::text, sum(export_kwh)::text, sum(net_kwh)::text,
                    max(import_kwh)::text,
                    count(*) FILTER (WHERE intervals_estimated > 0)::text,
                    count(*) FILTER (WHERE intervals_missing > 0)::text
               FROM smt.daily_usage WHERE esiid = $1 AND day BETWEEN $2 AND $3",
            &[&esiid, &date(from), &date(to)],
        );
        let got = summary(&output.stderr, "smt plot daily:");
        assert_summary(
            &got,
            &[
                "days",
                "intervals",
                "estimated",
                "missing",
                "import_kwh",
                "export_kwh",
                "net_kwh",
                "max_import_kwh",
                "estimated_days",
                "days_with_missing",
            ],
            &expected,
            &what,
        );
        // The sums are the intervals' own, exactly: smt.interval agrees with smt.daily_usage.
        let kwh: Vec<Option<String>> = rows_text(
            &mut c,
            "SELECT kwh::text FROM smt.interval
              WHERE esiid = $1 AND channel = 4 AND day BETWEEN $2 AND $3",
            &[&esiid, &date(from), &date(to)],
        )
        .into_iter()
        .map(|mut r| r.pop().unwrap())
        .collect();
        let sum: DecimalSum = kwh
            .iter()
            .flatten()
            .map(|k| Decimal::parse_str(k).unwrap())
            .sum();
        assert!(
            sum.equals_text(&got["import_kwh"]),
            "{what}: import {} is the sum of the intervals, {sum}",
            got["import_kwh"]
        );
    }
}

#[test]
fn unknown_esiid_or_empty_range_is_an_error_and_draws_nothing() {
    let dir = scratch("plot-errors");
    let Some((db, esiid)) = loaded("plot_errors", dir.path()) else {
        return;
    };
    let out = dir.path().join("nothing.png");
    let out_arg = out.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "heatmap",
                "--esiid",
                "10443720000000009",
                "--from",
                "2025-11-01",
                "--to",
                "2025-11-03",
            ],
            "ESIID 10443720000000009 has no data in the database",
        ),
        (
            &[
                "daily",
                "--esiid",
                "10443720000000009",
                "--from",
                "2025-11-01",
                "--to",
                "2025-11-03",
            ],
            "ESIID 10443720000000009 has no data in the database",
        ),
        (
            &[
                "daily",
                "--esiid",
                &esiid,
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-31",
            ],
            "has no daily usage from 2024-01-01 to 2024-01-31 (its data: 6 days from 2025-03-08 \
             to 2025-11-03)",
        ),
        (
            &[
                "heatmap",
                "--esiid",
                &esiid,
                "--channel",
                "2",
                "--from",
                "2025-11-01",
                "--to",
                "2025-11-03",
            ],
            "has no channel 2 intervals from 2025-11-01 to 2025-11-03",
        ),
    ];
    for (args, message) in cases {
        let mut all = args.to_vec();
        all.extend(["-o", out_arg]);
        let output = plot(&db, dir.path(), &all);
        assert_eq!(output.code(), Some(2), "{args:?}: {output:?}");
        assert!(
            output.stderr.contains(message) && output.stderr.contains("nothing was drawn"),
            "{args:?}: stderr should say {message:?}:\n{}",
            output.stderr
        );
        assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
        assert!(!out.exists(), "{args:?}: no picture may be written");
    }
    // Nothing of a temporary file is left either.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_missing_font_is_a_clear_error() {
    // Checked before the database is opened: no cluster needed.
    let dir = scratch("plot-font");
    let out = dir.path().join("nothing.png");
    let not_a_font = dir.path().join("not-a-font.ttf");
    std::fs::write(&not_a_font, "plain text").unwrap();
    for font in ["/nonexistent/font.ttf", not_a_font.to_str().unwrap()] {
        let mut cmd = smt(
            dir.path(),
            &[
                "plot",
                "daily",
                "--esiid",
                "10443720000000001",
                "--from",
                "2025-11-01",
                "--to",
                "2025-11-03",
                "-o",
                out.to_str().unwrap(),
                "--database-url",
                "postgresql://nobody@127.0.0.1:1/none",
            ],
        );
        cmd.env("SMT_PLOT_FONT", font);
        let output = run(cmd, COMMAND_TIMEOUT);
        assert_eq!(output.code(), Some(2), "{font}: {output:?}");
        assert!(
            output.stderr.contains("SMT_PLOT_FONT") && output.stderr.contains(font),
            "{font}: {}",
            output.stderr
        );
        assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
        assert!(!out.exists());
    }
}
