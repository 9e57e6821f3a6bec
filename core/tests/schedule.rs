//! Issue 8: crontab errors speak of the user's 5-field line and its bounds; a schedule that can
//! never fire is rejected.

use chrono::{DateTime, Utc};
use smt_core::schedule::{local, next_run, ScheduleError, DEFAULT_TIME_ZONE as CHI};

fn next(line: &str, after: DateTime<Utc>) -> DateTime<Utc> {
    next_run(line, CHI, after).unwrap().unwrap()
}

fn invalid(line: &str) -> String {
    match next_run(line, CHI, Utc::now()) {
        Err(e @ ScheduleError::Invalid(..)) => e.to_string(),
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn out_of_range_errors_name_the_five_field_line_and_the_right_bounds() {
    let e = invalid("61 6 * * *");
    assert_eq!(
        e,
        "schedule \"61 6 * * *\": minute 61 is out of range: minutes are 0-59"
    );
    assert!(!e.contains("less than 59") && !e.contains("0 61 6"), "{e}");
    assert!(invalid("0 24 * * *").contains("hour 24 is out of range: hours are 0-23"));
    assert!(invalid("0 0 32 * *").contains("days of the month are 1-31"));
    assert!(invalid("0 0 0 * *").contains("day-of-month 0 is out of range"));
    assert!(invalid("0 0 * 13 *").contains("month 13 is out of range: months are 1-12"));
    assert!(invalid("0 0 * 0 *").contains("month 0 is out of range"));
    assert!(invalid("0 0 * * 8").contains("weekdays are 0-7"));
    assert!(invalid("0-60 * * * *").contains("minute 60 is out of range"));
    assert!(invalid("*/0 * * * *").contains("step \"0\""));
    assert!(invalid("30-10 * * * *").contains("runs backwards"));
    assert!(invalid("x * * * *").contains("minute \"x\" is not a number"));
    // The bounds themselves are fine.
    for line in [
        "59 23 31 12 7",
        "0 0 1 1 0",
        "0-59/15 0-23 1-31 1-12 0-7",
        "0 6 * JAN-DEC MON-FRI",
        "0 0 29 2 *",
    ] {
        assert!(next_run(line, CHI, Utc::now()).is_ok(), "{line}");
    }
}

#[test]
fn schedules_that_never_fire_are_rejected() {
    for line in [
        "0 0 30 2 *",
        "0 0 31 4 *",
        "0 0 31 2,4,6,9,11 *",
        "0 0 30,31 2 *",
    ] {
        let e = next_run(line, CHI, Utc::now()).unwrap_err();
        assert_eq!(e, ScheduleError::Never(line.to_owned()));
        assert!(e.to_string().contains("never runs"), "{e}");
    }
    // 29 February comes every leap year; the 31st of "April or any Monday" every week.
    let t = local(CHI, 2025, 3, 1, 0, 0);
    assert_eq!(next("0 0 29 2 *", t), local(CHI, 2028, 2, 29, 0, 0));
    assert!(next_run("0 0 31 4 1", CHI, t).unwrap().is_some());
}
