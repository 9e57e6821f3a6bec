//! `smt.cron_next`: the scheduler's cron rule in SQL, so a DBA's UPDATE of a job's schedule is
//! checked and its next run computed at once (see smt_core::schedule).

use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use smt_core::schedule::CronSchedule;

use crate::convert;

/// The first time after `after` that a 5-field crontab line fires in `time_zone`.
#[pg_extern(stable, parallel_safe, strict)]
fn cron_next(
    schedule: &str,
    time_zone: &str,
    after: TimestampWithTimeZone,
) -> Option<TimestampWithTimeZone> {
    if !after.is_finite() {
        convert::error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("smt.cron_next needs a finite instant to start from, not {after}"),
        );
    }
    let parsed = CronSchedule::parse(schedule, time_zone).unwrap_or_else(|e| {
        convert::error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            e.to_string(),
        )
    });
    parsed
        .next_after(convert::from_timestamptz(after))
        .map(convert::timestamptz)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn cron_next_in_central_time() {
        let next = Spi::get_one::<String>(
            "SELECT to_char(smt.cron_next('0 6 * * 1-5', 'America/Chicago', '2025-07-05 12:00-05') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')",
        );
        assert_eq!(next.unwrap().as_deref(), Some("2025-07-07 11:00"));
    }

    #[pg_test(
        error = "schedule \"0 6 * *\" must have 5 fields (minute hour day-of-month month day-of-week) or be @hourly/@daily/@weekly/@monthly/@yearly"
    )]
    fn cron_next_refuses_bad_lines() {
        Spi::run("SELECT smt.cron_next('0 6 * *', 'America/Chicago', now())").unwrap();
    }
}
