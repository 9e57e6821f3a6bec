//! SMT's limits on ad hoc usage requests, and how a wanted range is split into calls SMT
//! accepts.
//!
//! Sources (seeds/001, SMT's REP overview): at most 50,000 ESIIDs a request; interval and daily
//! usage within the last 48 months, monthly within the last 24; one ESIID over at most 40 days
//! is answered synchronously (a file URL), anything else asynchronously (a correlationId, the
//! file later on the FTPS site); one ESIID over more than 40 days is a "medium volume" request
//! of less than 13 months; one ESIID's daily usage may span up to 1,200 days; several ESIIDs
//! may span up to 48 months in one request.
//!
//! Interpretations (not confirmed by a source): "less than 13 months" is kept as at most 12
//! calendar months a call (`first ..= first + 12 months - 1 day`), a margin against however SMT
//! counts months; monthly usage of one ESIID over more than 40 days is given the same 12-month
//! windows (no source states a per-call limit for it); "within the last N months" means
//! `first >= today - N months` with `today` the Central operating day, and `last <= today`.

use chrono::{Days, Months, NaiveDate};

use super::envelope::ReportType;

/// Most ESIIDs in one request.
pub const MAX_ESIIDS: usize = 50_000;
/// Most days of one ESIID that SMT answers synchronously (with a file URL).
pub const SYNC_MAX_DAYS: i64 = 40;
/// Most days of one ESIID's daily usage in one request.
pub const DAILY_ONE_ESIID_MAX_DAYS: i64 = 1200;
/// Months of interval usage SMT keeps (a request's first day is at most this long ago).
pub const INTERVAL_HISTORY_MONTHS: u32 = 48;
/// Months of daily usage SMT keeps.
pub const DAILY_HISTORY_MONTHS: u32 = 48;
/// Months of monthly usage SMT keeps.
pub const MONTHLY_HISTORY_MONTHS: u32 = 24;
/// Calendar months one asynchronous call of one ESIID's interval (or monthly) usage spans at
/// most: SMT says "less than 13 months".
pub const ONE_ESIID_WINDOW_MONTHS: u32 = 12;

/// One request to send: these ESIIDs, one report type, operating days `first..=last`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub esiids: Vec<String>,
    pub report: ReportType,
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// Whether SMT answers this call synchronously (a file URL) rather than with a
    /// correlationId: one ESIID over at most [`SYNC_MAX_DAYS`] days.
    pub synchronous: bool,
}

impl Call {
    /// Operating days the call spans, both ends included.
    pub fn days(&self) -> i64 {
        days(self.first, self.last)
    }
}

/// Why a call, or a wanted range, is outside SMT's limits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("no ESIIDs: SMT asks for 1 or more ESIIDs a request")]
    NoEsiids,
    #[error("{count} ESIIDs in one call: SMT takes at most 50,000 ESIIDs a request")]
    TooManyEsiids { count: usize },
    #[error("first day {first} is after last day {last}")]
    Reversed { first: NaiveDate, last: NaiveDate },
    #[error(
        "last day {last} is after today, {today} (Central operating day): SMT has no usage for it"
    )]
    Future { last: NaiveDate, today: NaiveDate },
    #[error(
        "first day {first} is before {earliest}: SMT keeps {report} usage for the last {months} \
         months only"
    )]
    TooOld {
        report: ReportType,
        first: NaiveDate,
        earliest: NaiveDate,
        months: u32,
    },
    #[error(
        "{days} days of one ESIID's daily usage in one call: SMT answers at most 1,200 days a call"
    )]
    DailyTooLong { days: i64 },
    #[error(
        "{report} usage of one ESIID from {first} to {last} in one call: SMT takes less than 13 \
         months a call for one ESIID (kept within 12 calendar months, here to {window_end})"
    )]
    WindowTooLong {
        report: ReportType,
        first: NaiveDate,
        last: NaiveDate,
        window_end: NaiveDate,
    },
    #[error(
        "a call of {esiids} ESIID(s) over {days} days marked {}: SMT answers one ESIID over at \
         most 40 days synchronously and anything else asynchronously",
        if *synchronous { "synchronous" } else { "asynchronous" }
    )]
    Mode {
        synchronous: bool,
        esiids: usize,
        days: i64,
    },
}

/// Days `first..=last` spans, both ends included.
fn days(first: NaiveDate, last: NaiveDate) -> i64 {
    (last - first).num_days() + 1
}

/// How many months back SMT keeps a report type.
pub fn history_months(report: ReportType) -> u32 {
    match report {
        ReportType::Interval => INTERVAL_HISTORY_MONTHS,
        ReportType::Daily => DAILY_HISTORY_MONTHS,
        ReportType::Monthly => MONTHLY_HISTORY_MONTHS,
    }
}

/// The earliest day SMT still answers for a report type: `today` less its history months
/// (chrono clamps to the month's end: 48 months before 2024-02-29 is 2020-02-29, 24 months
/// before 2024-02-29 is 2022-02-28).
pub fn earliest_day(report: ReportType, today: NaiveDate) -> NaiveDate {
    today
        .checked_sub_months(Months::new(history_months(report)))
        .unwrap_or(NaiveDate::MIN)
}

/// Whether SMT answers a request synchronously: one ESIID over at most [`SYNC_MAX_DAYS`] days.
pub fn is_synchronous(esiid_count: usize, first: NaiveDate, last: NaiveDate) -> bool {
    esiid_count == 1 && days(first, last) <= SYNC_MAX_DAYS
}

/// The last day an asynchronous call of one ESIID starting on `first` may reach:
/// 1,200 days for daily usage, 12 calendar months otherwise.
pub fn one_esiid_call_end(report: ReportType, first: NaiveDate) -> NaiveDate {
    let end = match report {
        ReportType::Daily => first.checked_add_days(Days::new(DAILY_ONE_ESIID_MAX_DAYS as u64)),
        ReportType::Interval | ReportType::Monthly => {
            first.checked_add_months(Months::new(ONE_ESIID_WINDOW_MONTHS))
        }
    };
    end.and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MAX)
}

/// The limits on days alone: order, not in the future, within what SMT keeps.
fn check_days(
    report: ReportType,
    first: NaiveDate,
    last: NaiveDate,
    today: NaiveDate,
) -> Result<(), LimitError> {
    if first > last {
        return Err(LimitError::Reversed { first, last });
    }
    if last > today {
        return Err(LimitError::Future { last, today });
    }
    let earliest = earliest_day(report, today);
    if first < earliest {
        return Err(LimitError::TooOld {
            report,
            first,
            earliest,
            months: history_months(report),
        });
    }
    Ok(())
}

/// Splits a wanted range into calls SMT accepts: `report` usage of `esiids` (distinct,
/// normalized) over `first..=last`, `today` being the Central operating day.
///
/// ESIIDs are chunked by [`MAX_ESIIDS`] in the given order; a chunk of several ESIIDs is one
/// asynchronous call over the whole range. A single ESIID (alone, or the last chunk's only one)
/// is one synchronous call over at most 40 days, else consecutive asynchronous calls of at most
/// 12 calendar months (interval, monthly) or 1,200 days (daily) — the last of which is
/// synchronous when 40 days or fewer remain. Every ESIID-day is asked for exactly once.
pub fn split(
    esiids: &[String],
    report: ReportType,
    first: NaiveDate,
    last: NaiveDate,
    today: NaiveDate,
) -> Result<Vec<Call>, LimitError> {
    if esiids.is_empty() {
        return Err(LimitError::NoEsiids);
    }
    check_days(report, first, last, today)?;
    let mut calls = Vec::new();
    for chunk in esiids.chunks(MAX_ESIIDS) {
        match chunk {
            [esiid] => split_one(esiid, report, first, last, &mut calls),
            several => calls.push(Call {
                esiids: several.to_vec(),
                report,
                first,
                last,
                synchronous: false,
            }),
        }
    }
    Ok(calls)
}

/// The calls for one ESIID over `first..=last` (already within SMT's history).
fn split_one(
    esiid: &str,
    report: ReportType,
    first: NaiveDate,
    last: NaiveDate,
    calls: &mut Vec<Call>,
) {
    let mut from = first;
    loop {
        let to = if is_synchronous(1, from, last) {
            last
        } else {
            one_esiid_call_end(report, from).min(last)
        };
        calls.push(Call {
            esiids: vec![esiid.to_string()],
            report,
            first: from,
            last: to,
            synchronous: is_synchronous(1, from, to),
        });
        match to.succ_opt() {
            Some(next) if to < last => from = next,
            _ => break,
        }
    }
}

/// Checks every limit on one call: ESIID count, days (order, not after `today`, within SMT's
/// history), the span one ESIID's call may have, and that `synchronous` says how SMT will
/// answer. ESIIDs are not checked for duplicates (they are given distinct).
pub fn check(call: &Call, today: NaiveDate) -> Result<(), LimitError> {
    let count = call.esiids.len();
    if count == 0 {
        return Err(LimitError::NoEsiids);
    }
    if count > MAX_ESIIDS {
        return Err(LimitError::TooManyEsiids { count });
    }
    check_days(call.report, call.first, call.last, today)?;
    let days = call.days();
    if call.synchronous != is_synchronous(count, call.first, call.last) {
        return Err(LimitError::Mode {
            synchronous: call.synchronous,
            esiids: count,
            days,
        });
    }
    if count == 1 && days > SYNC_MAX_DAYS {
        match call.report {
            ReportType::Daily if days > DAILY_ONE_ESIID_MAX_DAYS => {
                return Err(LimitError::DailyTooLong { days });
            }
            ReportType::Daily => {}
            ReportType::Interval | ReportType::Monthly => {
                let window_end = one_esiid_call_end(call.report, call.first);
                if call.last > window_end {
                    return Err(LimitError::WindowTooLong {
                        report: call.report,
                        first: call.first,
                        last: call.last,
                        window_end,
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::OnceLock;

    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn esiids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{:017}", 10_000_000_000_000_000u64 + i as u64))
            .collect()
    }

    fn plus(d: NaiveDate, n: u64) -> NaiveDate {
        d.checked_add_days(Days::new(n)).unwrap()
    }

    /// The operating day the fixed-date tests run on.
    fn today() -> NaiveDate {
        day(2024, 3, 15)
    }

    fn ranges(calls: &[Call]) -> Vec<(NaiveDate, NaiveDate, bool)> {
        calls
            .iter()
            .map(|c| (c.first, c.last, c.synchronous))
            .collect()
    }

    #[test]
    fn one_esiid_40_days_is_synchronous_41_is_not() {
        let first = day(2024, 1, 1);
        for report in ReportType::ALL {
            let calls = split(&esiids(1), report, first, plus(first, 39), today()).unwrap();
            assert_eq!(ranges(&calls), vec![(first, plus(first, 39), true)]);
            assert_eq!(calls[0].days(), 40);
            let calls = split(&esiids(1), report, first, plus(first, 40), today()).unwrap();
            assert_eq!(ranges(&calls), vec![(first, plus(first, 40), false)]);
        }
        let mut call = split(
            &esiids(1),
            ReportType::Interval,
            first,
            plus(first, 40),
            today(),
        )
        .unwrap()
        .remove(0);
        call.synchronous = true;
        let err = check(&call, today()).unwrap_err();
        assert_eq!(
            err,
            LimitError::Mode {
                synchronous: true,
                esiids: 1,
                days: 41
            }
        );
        assert!(err.to_string().contains("at most 40 days synchronously"));
    }

    #[test]
    fn several_esiids_are_asynchronous_even_for_one_day() {
        let calls = split(&esiids(2), ReportType::Interval, today(), today(), today()).unwrap();
        assert_eq!(ranges(&calls), vec![(today(), today(), false)]);
        assert_eq!(calls[0].esiids.len(), 2);
    }

    #[test]
    fn daily_usage_of_one_esiid_1200_days_a_call() {
        let today = day(2024, 3, 15);
        let first = day(2020, 6, 1);
        let calls = split(
            &esiids(1),
            ReportType::Daily,
            first,
            plus(first, 1199),
            today,
        )
        .unwrap();
        assert_eq!(ranges(&calls), vec![(first, plus(first, 1199), false)]);
        assert_eq!(calls[0].days(), 1200);
        check(&calls[0], today).unwrap();
        let calls = split(
            &esiids(1),
            ReportType::Daily,
            first,
            plus(first, 1200),
            today,
        )
        .unwrap();
        assert_eq!(
            ranges(&calls),
            vec![
                (first, plus(first, 1199), false),
                (plus(first, 1200), plus(first, 1200), true)
            ]
        );
        let too_long = Call {
            esiids: esiids(1),
            report: ReportType::Daily,
            first,
            last: plus(first, 1200),
            synchronous: false,
        };
        let err = check(&too_long, today).unwrap_err();
        assert_eq!(err, LimitError::DailyTooLong { days: 1201 });
        assert!(err.to_string().contains("1,200 days"));
    }

    #[test]
    fn interval_usage_of_one_esiid_in_12_month_windows() {
        let today = day(2024, 8, 1);
        let calls = split(
            &esiids(1),
            ReportType::Interval,
            day(2023, 1, 31),
            day(2024, 6, 30),
            today,
        )
        .unwrap();
        assert_eq!(
            ranges(&calls),
            vec![
                (day(2023, 1, 31), day(2024, 1, 30), false),
                (day(2024, 1, 31), day(2024, 6, 30), false)
            ]
        );
        // A remainder of 40 days or fewer is answered synchronously.
        let calls = split(
            &esiids(1),
            ReportType::Interval,
            day(2023, 1, 1),
            day(2024, 1, 10),
            today,
        )
        .unwrap();
        assert_eq!(
            ranges(&calls),
            vec![
                (day(2023, 1, 1), day(2023, 12, 31), false),
                (day(2024, 1, 1), day(2024, 1, 10), true)
            ]
        );
        let too_long = Call {
            esiids: esiids(1),
            report: ReportType::Interval,
            first: day(2023, 1, 31),
            last: day(2024, 1, 31),
            synchronous: false,
        };
        let err = check(&too_long, today).unwrap_err();
        assert!(matches!(err, LimitError::WindowTooLong { window_end, .. }
            if window_end == day(2024, 1, 30)));
        assert!(err.to_string().contains("less than 13 months"));
    }

    #[test]
    fn history_edges_48_and_24_months() {
        let today = day(2024, 3, 15);
        for (report, edge) in [
            (ReportType::Interval, day(2020, 3, 15)),
            (ReportType::Daily, day(2020, 3, 15)),
            (ReportType::Monthly, day(2022, 3, 15)),
        ] {
            assert_eq!(earliest_day(report, today), edge);
            split(&esiids(3), report, edge, today, today).unwrap();
            let before = edge.pred_opt().unwrap();
            let err = split(&esiids(3), report, before, today, today).unwrap_err();
            assert_eq!(
                err,
                LimitError::TooOld {
                    report,
                    first: before,
                    earliest: edge,
                    months: history_months(report)
                }
            );
            assert!(err
                .to_string()
                .contains(&format!("last {} months", history_months(report))));
        }
        // Month ends clamp.
        assert_eq!(
            earliest_day(ReportType::Monthly, day(2024, 2, 29)),
            day(2022, 2, 28)
        );
        assert_eq!(
            earliest_day(ReportType::Interval, day(2024, 2, 29)),
            day(2020, 2, 29)
        );
    }

    #[test]
    fn several_esiids_over_48_months_in_one_call() {
        let today = day(2024, 3, 15);
        let calls = split(
            &esiids(7),
            ReportType::Interval,
            day(2020, 3, 15),
            today,
            today,
        )
        .unwrap();
        assert_eq!(calls.len(), 1);
        check(&calls[0], today).unwrap();
    }

    #[test]
    fn fifty_thousand_esiids_a_call() {
        let first = day(2024, 1, 1);
        let calls = split(&esiids(50_000), ReportType::Daily, first, first, today()).unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].esiids.len(), 50_000);
        check(&calls[0], today()).unwrap();

        let all = esiids(50_001);
        let calls = split(&all, ReportType::Daily, first, first, today()).unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].esiids[..], all[..50_000]);
        assert!(!calls[0].synchronous);
        // The one left over is asked for alone, so answered synchronously.
        assert_eq!(calls[1].esiids, vec![all[50_000].clone()]);
        assert!(calls[1].synchronous);

        let too_many = Call {
            esiids: all,
            report: ReportType::Daily,
            first,
            last: first,
            synchronous: false,
        };
        let err = check(&too_many, today()).unwrap_err();
        assert_eq!(err, LimitError::TooManyEsiids { count: 50_001 });
        assert!(err.to_string().contains("at most 50,000"));
    }

    #[test]
    fn days_in_the_future_reversed_or_no_esiids() {
        let today = today();
        let tomorrow = today.succ_opt().unwrap();
        let err = split(&esiids(1), ReportType::Interval, today, tomorrow, today).unwrap_err();
        assert_eq!(
            err,
            LimitError::Future {
                last: tomorrow,
                today
            }
        );
        assert!(err.to_string().contains("after today"));
        // Today itself may be asked for.
        split(&esiids(1), ReportType::Interval, today, today, today).unwrap();
        let err = split(&esiids(1), ReportType::Interval, tomorrow, today, today).unwrap_err();
        assert_eq!(
            err,
            LimitError::Reversed {
                first: tomorrow,
                last: today
            }
        );
        let err = split(&[], ReportType::Interval, today, today, today).unwrap_err();
        assert_eq!(err, LimitError::NoEsiids);
        let empty = Call {
            esiids: vec![],
            report: ReportType::Interval,
            first: today,
            last: today,
            synchronous: false,
        };
        assert_eq!(check(&empty, today), Err(LimitError::NoEsiids));
    }

    /// 17-digit ESIIDs, distinct, spread out; enough for any offset the property picks.
    fn pool() -> &'static [String] {
        static POOL: OnceLock<Vec<String>> = OnceLock::new();
        POOL.get_or_init(|| {
            (0..240_000u64)
                .map(|i| format!("{:017}", 10_000_000_000_000_000 + i * 7_919_113))
                .collect()
        })
    }

    fn report_type() -> impl Strategy<Value = ReportType> {
        prop_oneof![
            Just(ReportType::Interval),
            Just(ReportType::Daily),
            Just(ReportType::Monthly)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every call passes `check`, and the calls together ask for every ESIID-day wanted,
        /// exactly once.
        #[test]
        fn calls_cover_each_esiid_day_once(
            count in prop_oneof![1usize..=3, 49_999usize..=50_002, 99_999usize..=100_002, 1usize..=120_000],
            offset in 0usize..120_000,
            report in report_type(),
            today_offset in 0u64..9_000,
            first_seed in any::<u32>(),
            span_seed in prop_oneof![0u32..=45, 0u32..=1_500],
        ) {
            let asked = &pool()[offset..offset + count];
            let today = plus(day(2005, 1, 1), today_offset);
            let earliest = earliest_day(report, today);
            let first = plus(earliest, first_seed as u64 % (days(earliest, today) as u64));
            let last = plus(first, span_seed as u64 % (days(first, today) as u64));

            let calls = split(asked, report, first, last, today).unwrap();
            let mut cover: HashMap<&str, Vec<(NaiveDate, NaiveDate)>> = HashMap::with_capacity(count);
            for call in &calls {
                prop_assert_eq!(check(call, today), Ok(()));
                prop_assert_eq!(call.report, report);
                for esiid in &call.esiids {
                    cover.entry(esiid.as_str()).or_default().push((call.first, call.last));
                }
            }
            prop_assert_eq!(cover.len(), count, "ESIIDs asked for that were not wanted");
            for esiid in asked {
                let mut spans = cover.remove(esiid.as_str()).unwrap_or_default();
                spans.sort();
                prop_assert!(!spans.is_empty(), "{} not asked for", esiid);
                prop_assert_eq!(spans[0].0, first);
                prop_assert_eq!(spans[spans.len() - 1].1, last);
                for pair in spans.windows(2) {
                    // Consecutive, no gap and no day twice.
                    prop_assert_eq!(pair[0].1.succ_opt(), Some(pair[1].0), "{:?}", spans);
                }
            }
        }
    }
}
