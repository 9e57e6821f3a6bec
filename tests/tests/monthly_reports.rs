//! Monthly billed usage loads into smt.monthly_usage with the replacement rule (newer replaces,
//! older is stale, a same-revision conflict ends the same whatever the order, every version kept,
//! bad rows rejected with their ESIID); the reports read what is kept at load time: the month's
//! usage from the daily totals, the meter check of intervals against the register, estimated
//! intervals later replaced by actual ones. Values come back exactly.

use smt_e2e::*;

const E1: &str = "10443720000000001";
const E2: &str = "1008901000000000000001";
const MONTHLY: &str = "ESIID,START_DATE,END_DATE,REVISION_DATE,ACTUAL_KWH,METERED_KW,BILLED_KW\n";

fn monthly(rows: &[&str]) -> Vec<u8> {
    let mut out = MONTHLY.to_owned();
    for r in rows {
        out.push_str(r);
        out.push('\n');
    }
    out.into_bytes()
}

/// (end date, kWh, metered kW) of the current version of a period, as text.
fn period(c: &mut postgres::Client, esiid: &str, start: &str) -> Vec<Option<String>> {
    rows_text(
        c,
        "SELECT end_date::text, actual_kwh::text, metered_kw::text FROM smt.monthly_usage
          WHERE esiid = $1 AND start_date = $2::text::date",
        &[&esiid, &start],
    )
    .pop()
    .unwrap_or_default()
}

#[test]
fn monthly_usage_loads_exactly_with_the_replacement_rule() {
    let Some(db) = TestDb::new("monthly_usage") else {
        return;
    };
    let mut c = db.connect();
    let first = monthly(&[
        &format!("{E1},06/03/2025,07/02/2025,07/05/2025 06:00:00,812.375,4.250,4.30"),
        &format!("{E1},07/03/2025,08/01/2025,08/04/2025 06:00:00,1012.500,,"),
        &format!("{E2},06/10/2025,07/09/2025,07/12/2025 06:00:00,many,1,1"),
    ]);
    let format: Option<String> = one(&mut c, "SELECT smt.detect_format($1)", &[&first]);
    assert_eq!(format.as_deref(), Some("monthly_csv"));
    let l = load(&mut c, &first, "MonthlyUsage1.csv");
    assert_eq!((l.records, l.inserted, l.rejected), (2, 2, 1));
    assert_eq!(
        period(&mut c, E1, "2025-06-03"),
        vec![
            Some("2025-07-02".into()),
            Some("812.375".into()),
            Some("4.250".into())
        ],
        "exactly as delivered"
    );
    let reject = rows_text(&mut c, "SELECT esiid, kind FROM smt.reject", &[]);
    assert_eq!(
        reject,
        vec![vec![Some(E2.into()), Some("non_numeric_value".into())]]
    );

    // A revision of the first period (its end date moved), an older copy of the second, a repeat.
    let second = monthly(&[
        &format!("{E1},06/03/2025,07/03/2025,07/20/2025 06:00:00,840.000,4.250,4.30"),
        &format!("{E1},07/03/2025,08/01/2025,08/01/2025 06:00:00,999.000,,"),
        &format!("{E1},07/03/2025,08/01/2025,08/04/2025 06:00:00,1012.500,,"),
    ]);
    let l = load(&mut c, &second, "MonthlyUsage2.csv");
    assert_eq!(
        (l.records, l.replaced, l.stale, l.identical),
        (3, 1, 1, 1),
        "{l:?}"
    );
    assert_eq!(
        period(&mut c, E1, "2025-06-03")[..2],
        [Some("2025-07-03".into()), Some("840.000".into())]
    );
    assert_eq!(
        period(&mut c, E1, "2025-07-03")[1].as_deref(),
        Some("1012.500")
    );
    let history = rows_text(
        &mut c,
        "SELECT outcome, actual_kwh::text FROM smt.monthly_usage_version ORDER BY version_id",
        &[],
    );
    assert_eq!(
        history,
        vec![
            vec![Some("replaced".into()), Some("812.375".into())],
            vec![Some("superseded_in_file".into()), Some("999.000".into())],
        ]
    );

    // Same revision, other values, either order: the larger kWh stays.
    let low = monthly(&[&format!(
        "{E2},05/01/2025,05/31/2025,06/02/2025 06:00:00,300.5,,"
    )]);
    let high = monthly(&[&format!(
        "{E2},05/01/2025,05/31/2025,06/02/2025 06:00:00,301.0,,"
    )]);
    load(&mut c, &high, "high.csv");
    assert_eq!(load(&mut c, &low, "low.csv").conflicts, 1);
    let db2 = TestDb::new("monthly_usage_order").expect("second database");
    let mut c2 = db2.connect();
    load(&mut c2, &low, "low.csv");
    assert_eq!(load(&mut c2, &high, "high.csv").conflicts, 1);
    for c in [&mut c, &mut c2] {
        assert_eq!(period(c, E2, "2025-05-01")[1].as_deref(), Some("301.0"));
    }
}

/// An SMT interval CSV of one ESIID-day: 96 values `kwh` (flag `flag`), revised at `revision`.
fn interval_day(esiid: &str, day: &str, revision: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (kwh, flag)) in values.iter().enumerate() {
        let start = format!("{:02}:{:02}", i / 4, (i % 4) * 15);
        let end_minutes = (i + 1) * 15;
        let end = format!("{:02}:{:02}", (end_minutes / 60) % 24, end_minutes % 60);
        out.push_str(&format!(
            "{esiid},{day},{revision},{start},{end},{kwh},{flag},Consumption\n"
        ));
    }
    out
}

#[test]
fn reports_read_the_month_the_meter_check_and_estimates_replaced_exactly() {
    let Some(db) = TestDb::new("reports") else {
        return;
    };
    let mut c = db.connect();
    let header = "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION\n";
    // Two September days: the first 96 × 0.250 (24.000 kWh) with four estimates, the second
    // 96 × 0.125 (12.000) of which one is missing (11.875).
    let mut day1: Vec<(&str, &str)> = vec![("0.250", "A"); 96];
    for slot in [10, 11, 12, 13] {
        day1[slot] = ("0.250", "E");
    }
    let mut day2: Vec<(&str, &str)> = vec![("0.125", "A"); 96];
    day2[50] = ("", "");
    let csv = format!(
        "{header}{}{}",
        interval_day(E1, "09/01/2025", "09/02/2025 06:00:00", &day1),
        interval_day(E1, "09/02/2025", "09/03/2025 06:00:00", &day2)
    );
    load(&mut c, csv.as_bytes(), "IntervalMeterUsage1.csv");
    // Later the estimates are replaced by actual readings.
    let actual: Vec<(&str, &str)> = vec![("0.250", "A"); 96];
    let revised = format!(
        "{header}{}",
        interval_day(E1, "09/01/2025", "09/05/2025 06:00:00", &actual)
    );
    load(&mut c, revised.as_bytes(), "IntervalMeterUsage2.csv");
    // The register: day 1 agrees, day 2 moved 12.000 while the intervals hold 11.875.
    let reads = "ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH\n\
        10443720000000001,09/01/2025,09/02/2025 07:00:00,1000.000,1024.000,24.000\n\
        10443720000000001,09/02/2025,09/03/2025 07:00:00,1024.000,1036.000,12.000\n";
    load(&mut c, reads.as_bytes(), "DailyMeterUsage.csv");

    let month = rows_text(
        &mut c,
        "SELECT month::text, days::text, import_kwh::text, net_kwh::text, intervals_expected::text,
                intervals_present::text, intervals_estimated::text, intervals_missing::text
           FROM smt.monthly_usage_summary WHERE esiid = $1",
        &[&E1],
    );
    let text = |v: &[&str]| v.iter().map(|s| Some((*s).to_owned())).collect::<Vec<_>>();
    assert_eq!(
        month,
        vec![text(&[
            "2025-09-01",
            "2",
            "35.875",
            "35.875",
            "192",
            "191",
            "0",
            "1"
        ])]
    );
    let check = rows_text(
        &mut c,
        "SELECT day::text, interval_kwh::text, register_kwh::text, difference_kwh::text, agrees::text
           FROM smt.meter_check WHERE esiid = $1 ORDER BY day",
        &[&E1],
    );
    assert_eq!(
        check,
        vec![
            text(&["2025-09-01", "24.000", "24.000", "0.000", "true"]),
            text(&["2025-09-02", "11.875", "12.000", "-0.125", "false"]),
        ]
    );
    let failures: Vec<Vec<Option<String>>> = rows_text(
        &mut c,
        "SELECT day::text FROM smt.meter_check_failures",
        &[],
    );
    assert_eq!(failures, vec![text(&["2025-09-02"])]);
    c.batch_execute("SET smt.meter_check_tolerance_kwh = '0.2'")
        .unwrap();
    let failures: i64 = one(&mut c, "SELECT count(*) FROM smt.meter_check_failures", &[]);
    assert_eq!(failures, 0, "within a stated tolerance of 0.2 kWh");
    let replaced = rows_text(
        &mut c,
        "SELECT day::text, intervals_now_actual::text FROM smt.estimates_replaced WHERE esiid = $1",
        &[&E1],
    );
    assert_eq!(replaced, vec![text(&["2025-09-01", "4"])]);

    // The month's peak: one interval of 1.275 kWh on the 2nd at 17:30 Central is 5.100 kW.
    let mut peak_day: Vec<(&str, &str)> = vec![("0.125", "A"); 96];
    peak_day[70] = ("1.275", "E");
    let peak = format!(
        "{header}{}",
        interval_day(E1, "09/03/2025", "09/04/2025 06:00:00", &peak_day)
    );
    load(&mut c, peak.as_bytes(), "IntervalMeterUsage3.csv");
    let peak_sql = "SELECT month::text, peak_kw::text, peak_start::text, peak_start_local::text
                      FROM smt.monthly_usage_summary WHERE esiid = $1";
    let peak = rows_text(&mut c, peak_sql, &[&E1]);
    assert_eq!(
        peak,
        vec![text(&[
            "2025-09-01",
            "5.100",
            "2025-09-03 22:30:00+00",
            "2025-09-03 17:30:00"
        ])]
    );
    // Kept at load time, in the day's totals.
    let day_peak = rows_text(
        &mut c,
        "SELECT peak_kw::text, peak_start::text FROM smt.day_total WHERE esiid = $1 ORDER BY day",
        &[&E1],
    );
    assert_eq!(
        day_peak,
        vec![
            text(&["1.000", "2025-09-01 05:00:00+00"]),
            text(&["0.500", "2025-09-02 05:00:00+00"]),
            text(&["5.100", "2025-09-03 22:30:00+00"]),
        ]
    );

    // By hour ending and day type: the 1st (Mon), 2nd (Tue), 3rd (Wed) are weekdays.
    let hour18 = rows_text(
        &mut c,
        "SELECT day_type, days::text, total_kwh::text FROM smt.hourly_profile
          WHERE esiid = $1 AND hour_ending = 18",
        &[&E1],
    );
    // hour ending 18 holds 17:00-18:00: 4 × 0.250 + 4 × 0.125 + (3 × 0.125 + 1.275)
    assert_eq!(hour18, vec![text(&["weekday", "3", "3.150"])]);
    let hours: i64 = one(
        &mut c,
        "SELECT count(DISTINCT hour_ending) FROM smt.hourly_profile WHERE esiid = $1",
        &[&E1],
    );
    assert_eq!(hours, 24);

    // A newer revision of the 3rd without the spike: the month's peak goes back to the 1st's
    // first interval (0.250 kWh, 1.000 kW; the earliest of equal peaks).
    let flat: Vec<(&str, &str)> = vec![("0.125", "A"); 96];
    let revised = format!(
        "{header}{}",
        interval_day(E1, "09/03/2025", "09/06/2025 06:00:00", &flat)
    );
    load(&mut c, revised.as_bytes(), "IntervalMeterUsage4.csv");
    assert_eq!(
        rows_text(&mut c, peak_sql, &[&E1]),
        vec![text(&[
            "2025-09-01",
            "1.000",
            "2025-09-01 05:00:00+00",
            "2025-09-01 00:00:00"
        ])]
    );
    let hour18 = rows_text(
        &mut c,
        "SELECT total_kwh::text FROM smt.hourly_profile WHERE esiid = $1 AND hour_ending = 18",
        &[&E1],
    );
    assert_eq!(
        hour18,
        vec![text(&["2.000"])],
        "4 × 0.250 + 4 × 0.125 + 4 × 0.125"
    );
}
