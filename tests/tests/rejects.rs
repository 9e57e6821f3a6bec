//! Bad records are rejected one by one, with where and why; a file that is no usage file at all
//! is kept as failed, without an error.

use postgres::Client;
use smt_core::testdata::{self, Generator};
use smt_core::IntervalRecord;
use smt_e2e::*;

fn lines_of(r: &IntervalRecord) -> Vec<String> {
    String::from_utf8(testdata::lse_bytes(std::slice::from_ref(r), false))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// (line, field, kind, raw) of every reject of a file, in line order.
fn rejects(c: &mut Client, file_id: i64) -> Vec<(i64, String, String, String)> {
    c.query(
        "SELECT line, field, kind, raw, reason FROM smt.reject WHERE file_id = $1 ORDER BY line",
        &[&file_id],
    )
    .expect("smt.reject")
    .iter()
    .map(|r| {
        let reason: String = r.get(4);
        assert!(!reason.is_empty(), "a reject says why");
        (r.get(0), r.get(1), r.get(2), r.get(3))
    })
    .collect()
}

fn file_row(c: &mut Client, file_id: i64) -> (String, i32, i32, i32, Option<String>) {
    let r = c
        .query_one(
            "SELECT state, records, inserted, rejected, error FROM smt.file WHERE file_id = $1",
            &[&file_id],
        )
        .expect("smt.file");
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
}

fn stored(c: &mut Client, esiid: &str) -> i64 {
    one(
        c,
        "SELECT count(*) FROM smt.interval_day WHERE esiid = $1",
        &[&esiid],
    )
}

#[test]
fn bad_lse_records_are_rejected_between_good_ones() {
    let Some(db) = TestDb::new("rejects_lse") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(21);
    let day = date(2025, 7, 15);
    let rs: Vec<IntervalRecord> = (0..5)
        .map(|_| {
            let e = g.esiid();
            g.record(&e, 4, day)
        })
        .collect();
    let (good1, bad_value, mut bad_esiid, short, good2) =
        (&rs[0], &rs[1], rs[2].clone(), &rs[3], &rs[4]);
    bad_esiid.esiid = "12345".into();

    let mut file: Vec<String> = lines_of(good1);
    // A letter in the first value of the fourth data row.
    let mut record = lines_of(bad_value);
    let row = record
        .iter()
        .position(|l| l.starts_with("10000003,"))
        .unwrap();
    let fields: Vec<&str> = record[row].split(',').collect();
    let mut fields: Vec<String> = fields.into_iter().map(str::to_owned).collect();
    fields[1] = "1.2x5".into();
    record[row] = fields.join(",");
    let bad_value_line = file.len() + row + 1;
    let bad_value_raw = record[row].clone();
    file.extend(record);
    // An ESIID that is not a Texas one.
    let bad_esiid_line = file.len() + 1;
    let record = lines_of(&bad_esiid);
    let bad_esiid_raw = record[0].clone();
    file.extend(record);
    // The last data row dropped: 92 intervals for a 96-interval day.
    let mut record = lines_of(short);
    assert!(record.pop().unwrap().starts_with("10000023,"));
    let short_line = file.len() + 1;
    file.extend(record);
    file.extend(lines_of(good2));
    let data = (file.join("\n") + "\n").into_bytes();

    let l = load(&mut c, &data, "with_bad_records.lse");
    assert_eq!(
        (l.records, l.inserted, l.rejected),
        (2, 2, 3),
        "two good records, three bad"
    );
    assert_eq!(
        file_row(&mut c, l.file_id),
        ("loaded".to_owned(), 2, 2, 3, None)
    );
    assert_interval_view_matches(&mut c, good1);
    assert_interval_view_matches(&mut c, good2);
    for bad in [&bad_value.esiid, &short.esiid, &"12345".to_owned()] {
        assert_eq!(stored(&mut c, bad), 0, "{bad} not stored");
    }

    let got = rejects(&mut c, l.file_id);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(
        got[0],
        (
            bad_value_line as i64,
            "interval 13 value".to_owned(),
            "non_numeric_value".to_owned(),
            bad_value_raw
        )
    );
    assert_eq!(
        got[1],
        (
            bad_esiid_line as i64,
            "00000001.esiid".to_owned(),
            "invalid_esiid".to_owned(),
            bad_esiid_raw
        )
    );
    // A record-level problem: reported at the record's first line.
    let (line, field, kind, raw) = &got[2];
    assert_eq!(*line, short_line as i64);
    assert_eq!(field, "intervals");
    assert_eq!(kind, "wrong_interval_count");
    assert_eq!(raw, &file[short_line - 1], "raw: the record's first line");

    let kept: Vec<u8> = one(&mut c, "SELECT smt.file_bytes($1)", &[&l.file_id]);
    assert_eq!(kept, data);
}

#[test]
fn bad_csv_rows_reject_their_day_only() {
    let Some(db) = TestDb::new("rejects_csv") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(22);
    let day = date(2025, 7, 15);
    let rs: Vec<IntervalRecord> = (0..3)
        .map(|_| {
            let e = g.esiid();
            g.record(&e, 4, day)
        })
        .collect();
    let text = String::from_utf8(testdata::csv_bytes(&rs)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Header, then 96 rows a record. Row 10 of the second record gets a non-numeric kWh, row 50
    // of the third an unknown status.
    let edit = |line: &mut String, column: usize, value: &str| {
        let mut f: Vec<String> = line.split(',').map(str::to_owned).collect();
        f[column] = value.to_owned();
        *line = f.join(",");
    };
    let value_line = 1 + 96 + 10;
    let status_line = 1 + 2 * 96 + 50;
    edit(&mut lines[value_line - 1], 5, "0.5O0");
    assert!(lines[status_line - 1].contains(",A,") || lines[status_line - 1].contains(",E,"));
    edit(&mut lines[status_line - 1], 6, "X");
    let data = (lines.join("\r\n") + "\r\n").into_bytes();

    let l = load(&mut c, &data, "IntervalMeterUsage_bad.csv");
    assert_eq!((l.records, l.inserted, l.rejected), (1, 1, 2));
    assert_interval_view_matches(&mut c, &rs[0]);
    assert_eq!(stored(&mut c, &rs[1].esiid), 0);
    assert_eq!(stored(&mut c, &rs[2].esiid), 0);
    assert_eq!(
        rejects(&mut c, l.file_id),
        vec![
            (
                value_line as i64,
                "USAGE_KWH".to_owned(),
                "non_numeric_value".to_owned(),
                lines[value_line - 1].clone()
            ),
            (
                status_line as i64,
                "ESTIMATED_ACTUAL".to_owned(),
                "unknown_status".to_owned(),
                lines[status_line - 1].clone()
            ),
        ]
    );
}

#[test]
fn a_file_that_is_not_usage_data_is_kept_as_failed() {
    let Some(db) = TestDb::new("not_usage") else {
        return;
    };
    let mut c = db.connect();
    let files: [(&str, &[u8]); 3] = [
        (
            "invoice.pdf",
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        ),
        ("notes.txt", b"meter read on Tuesday, all fine\n"),
        ("empty.lse", b""),
    ];
    for (name, data) in files {
        let l = try_load(&mut c, data, name)
            .unwrap_or_else(|e| panic!("{name}: smt.load raised {}", explain(&e)));
        assert!(!l.already_loaded, "{name}");
        assert_eq!((l.records, l.inserted, l.rejected), (0, 0, 0), "{name}");
        let (state, records, _, _, error) = file_row(&mut c, l.file_id);
        assert_eq!((state.as_str(), records), ("failed", 0), "{name}");
        assert!(
            error.is_some_and(|e| !e.is_empty()),
            "{name}: error says why"
        );
        let kept: Vec<u8> = one(&mut c, "SELECT smt.file_bytes($1)", &[&l.file_id]);
        assert_eq!(kept, data, "{name}: raw bytes kept");
    }
    assert_eq!(
        one::<i64>(&mut c, "SELECT count(*) FROM smt.interval_day", &[]),
        0
    );
    assert_eq!(one::<i64>(&mut c, "SELECT count(*) FROM smt.file", &[]), 3);
}
