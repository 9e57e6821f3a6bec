//! Job schedules: standard 5-field crontab lines, as in pg_cron, in a stated time zone.
//!
//! The `cron` crate wants a seconds field and numbers weekdays 1–7 from Sunday, where crontab
//! numbers them 0–7 with both 0 and 7 Sunday; and when both day-of-month and day-of-week are
//! restricted, crontab runs on either (Vixie cron's rule) while the crate wants both. So a line is
//! parsed here: weekdays are expanded to an explicit list in the crate's numbering, and a line
//! restricting both day fields becomes two schedules whose next times are merged.
//!
//! Times are computed in the job's time zone (America/Chicago by default), so "0 6 * * *" is 06:00
//! Central all year. On DST days a wall time that does not exist (02:30 on the spring-forward
//! Sunday) is skipped for that day, and one that happens twice (01:30 on the fall-back Sunday)
//! runs once, at its first occurrence.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

pub const DEFAULT_TIME_ZONE: &str = "America/Chicago";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule {0:?} must have 5 fields (minute hour day-of-month month day-of-week) or be @hourly/@daily/@weekly/@monthly/@yearly")]
    FieldCount(String),
    #[error("day-of-week {0:?} is not a crontab weekday list (0-7, SUN-SAT, ranges, steps)")]
    Weekday(String),
    #[error("schedule {0:?}: {1}")]
    Invalid(String, String),
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("schedule {0:?} never runs: no date has that day of the month in those months (e.g. 30 February, 31 April)")]
    Never(String),
}

/// The five crontab fields: name, bounds, and the names allowed in place of numbers (the first
/// name stands for the lower bound).
const FIELDS: [(&str, &str, u32, u32, &[&str]); 5] = [
    ("minute", "minutes are 0-59", 0, 59, &[]),
    ("hour", "hours are 0-23", 0, 23, &[]),
    ("day-of-month", "days of the month are 1-31", 1, 31, &[]),
    (
        "month",
        "months are 1-12 or JAN-DEC",
        1,
        12,
        &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    ),
    (
        "day-of-week",
        "weekdays are 0-7 (0 and 7 are Sunday) or SUN-SAT",
        0,
        7,
        &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    ),
];

/// A schedule that has not run within this many years of a reference date never will (29
/// February comes at least once in any 8 years).
const NEVER_YEARS: i64 = 8;

/// Checks one crontab field (`*`, numbers, names, `a-b` ranges, `,` lists, `/n` steps) against
/// its bounds, so that errors speak of the user's 5-field line and its ranges.
fn check_field(text: &str, index: usize) -> Result<(), String> {
    let (name, bounds, lo, hi, names) = FIELDS[index];
    let value = |t: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(t)) {
            return Ok(lo + i as u32);
        }
        let n: u32 = t.parse().map_err(|_| {
            format!(
                "{name} {t:?} is not a number ({bounds}); a field is *, a number, a range a-b, \
                 a list a,b or a step */n"
            )
        })?;
        if n < lo || n > hi {
            return Err(format!("{name} {n} is out of range: {bounds}"));
        }
        Ok(n)
    };
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(n) if n > 0 => {}
                _ => {
                    return Err(format!(
                        "{name} step {step:?} in {item:?} is not a number from 1"
                    ))
                }
            }
        }
        if range == "*" {
            continue;
        }
        match range.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (value(a)?, value(b)?);
                if a > b {
                    return Err(format!("{name} range {range:?} runs backwards ({a} > {b})"));
                }
            }
            None => {
                value(range)?;
            }
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct CronSchedule {
    line: String,
    tz: Tz,
    /// One schedule, or two when both day fields are restricted (either may match).
    parts: Vec<cron::Schedule>,
}

impl CronSchedule {
    pub fn parse(line: &str, time_zone: &str) -> Result<Self, ScheduleError> {
        let tz =
            Tz::from_str(time_zone).map_err(|_| ScheduleError::TimeZone(time_zone.to_owned()))?;
        let expanded = match line.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(ScheduleError::FieldCount(line.to_owned()));
        };
        for (i, f) in fields.iter().enumerate() {
            check_field(f, i).map_err(|why| ScheduleError::Invalid(line.to_owned(), why))?;
        }
        let weekdays = weekdays(dow)?;
        // The crate's own messages show its 6-field form and bounds; the fields were checked
        // above, so one here is unexpected and is reported without them.
        let build = |dom: &str, dow: &str| {
            cron::Schedule::from_str(&format!("0 {minute} {hour} {dom} {month} {dow}")).map_err(
                |e| {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or("not understood").to_owned();
                    ScheduleError::Invalid(line.to_owned(), why)
                },
            )
        };
        let parts = if dom != "*" && dow != "*" {
            vec![build(dom, "*")?, build("*", &weekdays)?]
        } else {
            vec![build(dom, &weekdays)?]
        };
        let schedule = CronSchedule {
            line: line.to_owned(),
            tz,
            parts,
        };
        // A day of the month no listed month has (30 February, 31 April) never comes.
        let reference = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let horizon = reference + chrono::Duration::days(366 * NEVER_YEARS);
        if schedule.next_after(reference).is_none_or(|t| t > horizon) {
            return Err(ScheduleError::Never(line.to_owned()));
        }
        Ok(schedule)
    }

    pub fn line(&self) -> &str {
        &self.line
    }

    /// The first run strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.tz);
        self.parts
            .iter()
            .filter_map(|s| s.after(&local).next())
            .map(|t| t.with_timezone(&Utc))
            .min()
    }
}

/// Crontab day-of-week → the crate's numbering (1 = Sunday), as an explicit list.
fn weekdays(field: &str) -> Result<String, ScheduleError> {
    if field == "*" {
        return Ok("*".into());
    }
    let bad = || ScheduleError::Weekday(field.to_owned());
    let day = |t: &str| -> Result<u32, ScheduleError> {
        const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(t)) {
            return Ok(i as u32);
        }
        t.parse::<u32>().ok().filter(|d| *d <= 7).ok_or_else(bad)
    };
    let mut set = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(bad)?),
            None => (item, 1),
        };
        let (lo, hi) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => (day(a)?, day(b)?),
                None if step > 1 => (day(r)?, 6),
                None => (day(r)?, day(r)?),
            },
        };
        if lo > hi {
            return Err(bad());
        }
        for d in (lo..=hi).step_by(step as usize) {
            set[(d % 7) as usize] = true; // 7 is Sunday too
        }
    }
    let list: Vec<String> = (0..7)
        .filter(|d| set[*d])
        .map(|d| (d + 1).to_string())
        .collect();
    Ok(list.join(","))
}

/// Convenience for callers holding a time-zone name: the next run after `after`.
pub fn next_run(
    line: &str,
    time_zone: &str,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ScheduleError> {
    Ok(CronSchedule::parse(line, time_zone)?.next_after(after))
}

/// `Utc` instant from a local wall time in a zone (for tests and callers that think locally).
pub fn local(tz: &str, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    let tz = Tz::from_str(tz).expect("known zone");
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .expect("existing local time")
        .with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHI: &str = DEFAULT_TIME_ZONE;

    fn next(line: &str, after: DateTime<Utc>) -> DateTime<Utc> {
        next_run(line, CHI, after).unwrap().unwrap()
    }

    #[test]
    fn five_fields_in_central_time() {
        let t = local(CHI, 2025, 7, 1, 5, 0);
        assert_eq!(next("0 6 * * *", t), local(CHI, 2025, 7, 1, 6, 0));
        assert_eq!(next("*/15 * * * *", t), local(CHI, 2025, 7, 1, 5, 15));
        assert_eq!(next("@hourly", t), local(CHI, 2025, 7, 1, 6, 0));
        // Strictly after: a run due now is the next one, not this one.
        assert_eq!(next("0 5 * * *", t), local(CHI, 2025, 7, 2, 5, 0));
        // 06:00 Central is 11:00Z in summer and 12:00Z in winter.
        assert_eq!(
            next("0 6 * * *", t).to_rfc3339(),
            "2025-07-01T11:00:00+00:00"
        );
        assert_eq!(
            next("0 6 * * *", local(CHI, 2025, 12, 1, 0, 0)).to_rfc3339(),
            "2025-12-01T12:00:00+00:00"
        );
    }

    #[test]
    fn weekdays_count_from_sunday_zero_like_crontab() {
        // 2025-07-06 is a Sunday.
        let saturday = local(CHI, 2025, 7, 5, 12, 0);
        assert_eq!(next("0 6 * * 0", saturday), local(CHI, 2025, 7, 6, 6, 0));
        assert_eq!(next("0 6 * * 7", saturday), local(CHI, 2025, 7, 6, 6, 0));
        assert_eq!(next("0 6 * * SUN", saturday), local(CHI, 2025, 7, 6, 6, 0));
        assert_eq!(next("0 6 * * 1-5", saturday), local(CHI, 2025, 7, 7, 6, 0));
        assert_eq!(next("0 6 * * 6", saturday), local(CHI, 2025, 7, 12, 6, 0));
        assert_eq!(
            next("0 6 * * 5-7", local(CHI, 2025, 7, 7, 12, 0)),
            local(CHI, 2025, 7, 11, 6, 0)
        );
        assert_eq!(next("0 6 * * */2", saturday), local(CHI, 2025, 7, 6, 6, 0)); // 0,2,4,6
        assert_eq!(weekdays("1-5").unwrap(), "2,3,4,5,6");
        assert_eq!(weekdays("0,7").unwrap(), "1");
        assert!(weekdays("8").is_err() && weekdays("5-1").is_err() && weekdays("MONDAY").is_err());
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 1st of the month OR any Monday: from Wed 2025-07-02 the next is Monday the 7th.
        assert_eq!(
            next("0 6 1 * 1", local(CHI, 2025, 7, 2, 0, 0)),
            local(CHI, 2025, 7, 7, 6, 0)
        );
        // ... and from Tue 2025-07-29 it is Friday 2025-08-01.
        assert_eq!(
            next("0 6 1 * 1", local(CHI, 2025, 7, 29, 0, 0)),
            local(CHI, 2025, 8, 1, 6, 0)
        );
    }

    #[test]
    fn dst_days_skip_missing_times_and_run_repeated_ones_once() {
        // Spring forward 2025-03-09: 02:30 does not exist that day.
        let runs: Vec<_> = std::iter::successors(Some(local(CHI, 2025, 3, 8, 12, 0)), |t| {
            Some(next("30 2 * * *", *t))
        })
        .skip(1)
        .take(2)
        .collect();
        assert_eq!(runs[0].to_rfc3339(), "2025-03-10T07:30:00+00:00");
        // Fall back 2025-11-02: 01:30 happens twice; the job runs once, at the first.
        let first = next("30 1 * * *", local(CHI, 2025, 11, 1, 12, 0));
        assert_eq!(first.to_rfc3339(), "2025-11-02T06:30:00+00:00");
        assert_eq!(
            next("30 1 * * *", first).to_rfc3339(),
            "2025-11-03T07:30:00+00:00"
        );
        // An hourly job keeps one run per elapsed hour across the repeated hour.
        let t = local(CHI, 2025, 11, 2, 0, 30);
        let hourly: Vec<_> = std::iter::successors(Some(t), |t| Some(next("0 * * * *", *t)))
            .skip(1)
            .take(3)
            .collect();
        let gaps: Vec<i64> = hourly
            .windows(2)
            .map(|w| (w[1] - w[0]).num_minutes())
            .collect();
        assert!(gaps.iter().all(|g| *g == 60 || *g == 120), "{hourly:?}");
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(matches!(
            next_run("0 6 * *", CHI, Utc::now()),
            Err(ScheduleError::FieldCount(_))
        ));
        assert!(matches!(
            next_run("0 6 * * * *", CHI, Utc::now()),
            Err(ScheduleError::FieldCount(_))
        ));
        assert!(matches!(
            next_run("61 6 * * *", CHI, Utc::now()),
            Err(ScheduleError::Invalid(..))
        ));
        assert!(matches!(
            next_run("0 6 * * *", "Mars/Olympus", Utc::now()),
            Err(ScheduleError::TimeZone(_))
        ));
    }
}
