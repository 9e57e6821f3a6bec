//! Operating days and instants.
//!
//! ERCOT operating days run midnight to midnight in Central prevailing time (America/Chicago), so a
//! day lasts 23 hours on the spring-forward Sunday and 25 on the fall-back Sunday. Interval `i` of a
//! day starts at local midnight + `i × length` of *elapsed* time, never of wall-clock time: that is
//! what makes the repeated fall-back hour and the skipped spring hour come out right. Every instant
//! leaves here in UTC.

use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};
use chrono_tz::America::Chicago;

/// How a file's local times relate to UTC. LSE's `00000001` row carries a DST participation flag:
/// `Y` (the norm: Central prevailing time) or `N`, read here as Central standard time all year.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeBasis {
    #[default]
    CentralPrevailing,
    CentralStandard,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("{0} does not exist in Central time (skipped by the spring-forward change)")]
    Nonexistent(NaiveDateTime),
}

const CST_OFFSET_SECONDS: i64 = 6 * 3600;

impl TimeBasis {
    /// A local time as an instant. Times inside the fall-back hour are ambiguous; this takes the
    /// first (daylight) occurrence, and callers that know better (interval positions) do not
    /// come through here.
    pub fn to_utc(self, local: NaiveDateTime) -> Result<DateTime<Utc>, TimeError> {
        match self {
            TimeBasis::CentralStandard => {
                Ok(Utc.from_utc_datetime(&(local + Duration::seconds(CST_OFFSET_SECONDS))))
            }
            TimeBasis::CentralPrevailing => match Chicago.from_local_datetime(&local) {
                LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
                LocalResult::None => Err(TimeError::Nonexistent(local)),
            },
        }
    }

    /// The wall-clock time of an instant in this basis.
    pub fn to_local(self, instant: DateTime<Utc>) -> NaiveDateTime {
        match self {
            TimeBasis::CentralStandard => {
                instant.naive_utc() - Duration::seconds(CST_OFFSET_SECONDS)
            }
            TimeBasis::CentralPrevailing => instant.with_timezone(&Chicago).naive_local(),
        }
    }
}

/// Local midnight starting an operating day, as an instant. Central DST changes happen at 02:00,
/// so midnight always exists and is never ambiguous.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    TimeBasis::CentralPrevailing
        .to_utc(day.and_time(NaiveTime::MIN))
        .expect("midnight always exists in Central time")
}

/// Length of an operating day in seconds: 86 400, 82 800 (spring) or 90 000 (fall).
pub fn day_seconds(day: NaiveDate) -> i64 {
    let next = day.succ_opt().expect("date in range");
    (day_start(next) - day_start(day)).num_seconds()
}

/// Intervals of `interval_seconds` in an operating day: 96, 92 or 100 for 15 minutes.
pub fn slots_in_day(day: NaiveDate, interval_seconds: u32) -> usize {
    (day_seconds(day) / i64::from(interval_seconds)) as usize
}

/// Start and end of interval `index` of a record whose first interval starts at `first_start`.
pub fn interval_bounds(
    first_start: DateTime<Utc>,
    interval_seconds: u32,
    index: usize,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let len = i64::from(interval_seconds);
    let start = first_start + Duration::seconds(len * index as i64);
    (start, start + Duration::seconds(len))
}

/// Wall-clock start time (minutes after local midnight) of every interval of a day, in order.
/// On the fall-back day 01:00–01:45 appears twice; on the spring day 02:00–02:45 never does.
pub fn slot_wall_minutes(day: NaiveDate, interval_seconds: u32) -> Vec<u16> {
    let first = day_start(day);
    (0..slots_in_day(day, interval_seconds))
        .map(|i| {
            let local = TimeBasis::CentralPrevailing
                .to_local(interval_bounds(first, interval_seconds, i).0);
            (local.hour() * 60 + local.minute()) as u16
        })
        .collect()
}

/// SMT revision timestamps are local Central times. One that falls in the skipped spring hour is
/// read as if the clock had not yet moved (an hour later on the new clock), because a timestamp
/// must never be rejected for a clock change.
pub fn revision_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    TimeBasis::CentralPrevailing
        .to_utc(local)
        .unwrap_or_else(|_| {
            day_start(local.date()) + (local - local.date().and_time(NaiveTime::MIN))
        })
}

/// `YYYYMMDDHHMMSS`, the LSE timestamp.
pub fn parse_compact(text: &str) -> Option<NaiveDateTime> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Ordinary timestamps are built directly (chrono's format-string parser is slow, and this
    // runs three times per LSE record); anything else, e.g. a leap second, goes to chrono.
    let b = text.as_bytes();
    let num = |from: usize, to: usize| {
        b[from..to]
            .iter()
            .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
    };
    NaiveDate::from_ymd_opt(num(0, 4) as i32, num(4, 6), num(6, 8))
        .and_then(|d| d.and_hms_opt(num(8, 10), num(10, 12), num(12, 14)))
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").ok())
}

/// `MM/DD/YYYY` (SMT CSV) or `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%m/%d/%Y")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d"))
        .ok()
}

/// `MM/DD/YYYY HH:MM:SS` (SMT CSV), with or without seconds, or ISO `YYYY-MM-DD HH:MM:SS`.
pub fn parse_local_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    [
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

/// `HH:MM` as minutes after midnight; `24:00` is accepted as the end of the day.
pub fn parse_hhmm(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn dst_days_have_92_and_100_intervals() {
        assert_eq!(slots_in_day(date("2025-03-09"), 900), 92);
        assert_eq!(slots_in_day(date("2025-11-02"), 900), 100);
        assert_eq!(slots_in_day(date("2025-11-03"), 900), 96);
        assert_eq!(slots_in_day(date("2024-03-10"), 900), 92);
        assert_eq!(slots_in_day(date("2024-11-03"), 900), 100);
        assert_eq!(slots_in_day(date("2025-07-01"), 3600), 24);
    }

    #[test]
    fn instants_follow_elapsed_time() {
        let spring = day_start(date("2025-03-09"));
        assert_eq!(spring.to_rfc3339(), "2025-03-09T06:00:00+00:00");
        // Interval 8 is 02:00 elapsed, which is 03:00 on the new clock.
        assert_eq!(
            interval_bounds(spring, 900, 8).0.to_rfc3339(),
            "2025-03-09T08:00:00+00:00"
        );
        assert_eq!(
            interval_bounds(spring, 900, 91).1.to_rfc3339(),
            "2025-03-10T05:00:00+00:00"
        );
        let fall = day_start(date("2025-11-02"));
        assert_eq!(
            interval_bounds(fall, 900, 99).1.to_rfc3339(),
            "2025-11-03T06:00:00+00:00"
        );
    }

    #[test]
    fn wall_clock_slots_repeat_and_skip_the_dst_hour() {
        let fall = slot_wall_minutes(date("2025-11-02"), 900);
        assert_eq!(&fall[4..12], &[60, 75, 90, 105, 60, 75, 90, 105]);
        let spring = slot_wall_minutes(date("2025-03-09"), 900);
        assert_eq!(&spring[6..10], &[90, 105, 180, 195]);
        assert!(!spring.contains(&120));
    }

    #[test]
    fn standard_basis_never_changes_offset() {
        let t = parse_compact("20250309030000").unwrap();
        assert_eq!(
            TimeBasis::CentralStandard.to_utc(t).unwrap().to_rfc3339(),
            "2025-03-09T09:00:00+00:00"
        );
        assert_eq!(
            TimeBasis::CentralPrevailing.to_utc(t).unwrap().to_rfc3339(),
            "2025-03-09T08:00:00+00:00"
        );
        assert!(TimeBasis::CentralPrevailing
            .to_utc(parse_compact("20250309023000").unwrap())
            .is_err());
    }

    #[test]
    fn revisions_never_fail_on_clock_changes() {
        let gap = parse_compact("20250309023000").unwrap();
        assert_eq!(
            revision_to_utc(gap).to_rfc3339(),
            "2025-03-09T08:30:00+00:00"
        );
        let repeated = parse_compact("20251102013000").unwrap();
        assert_eq!(
            revision_to_utc(repeated).to_rfc3339(),
            "2025-11-02T06:30:00+00:00"
        );
    }

    #[test]
    fn parses_the_formats_smt_writes() {
        assert_eq!(parse_date("07/01/2025"), Some(date("2025-07-01")));
        assert_eq!(parse_date("13/01/2025"), None);
        assert!(parse_local_datetime("07/02/2025 07:37:17").is_some());
        assert!(parse_local_datetime("07/02/2025 25:37:17").is_none());
        assert_eq!(parse_hhmm("00:15"), Some(15));
        assert_eq!(parse_hhmm(" 23:45"), Some(1425));
        assert_eq!(parse_hhmm("24:00"), Some(1440));
        assert_eq!(parse_hhmm("24:15"), None);
        assert_eq!(parse_hhmm("1:5"), None);
        assert!(parse_compact("2025030900000").is_none());
        assert!(parse_compact("20250231000000").is_none());
    }
}
