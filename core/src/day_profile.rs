//! What the reports need of one stored day beyond its total: its peak interval, and its
//! consumption per local hour.
//!
//! Both read a day as it is stored ([`Values`], see [`crate::storage`]): the peak is kept at load
//! time in `smt.day_total` (so monthly peak demand for every meter reads one narrow row per
//! meter-day), the hour totals are computed when a report asks (`smt.hourly_profile`), one call per
//! stored day instead of one row per interval.

use chrono::{DateTime, Duration, Timelike, Utc};

use crate::decimal::Decimal;
use crate::storage::Values;
use crate::time::TimeBasis;

/// The 0-based index of the day's largest value (the first, if it repeats); `None` without any.
/// Values of a `Scaled` day share one scale, so their units compare as the values do.
pub fn peak_index(values: &Values) -> Option<usize> {
    fn first_max<T: Copy>(
        items: impl Iterator<Item = Option<T>>,
        greater: impl Fn(T, T) -> bool,
    ) -> Option<usize> {
        let mut best: Option<(usize, T)> = None;
        for (i, v) in items.enumerate() {
            if let Some(v) = v {
                if best.is_none_or(|(_, b)| greater(v, b)) {
                    best = Some((i, v));
                }
            }
        }
        best.map(|(i, _)| i)
    }
    match values {
        Values::Scaled { units, .. } => first_max(units.iter().copied(), |a, b| a > b),
        Values::Exact(values) => first_max(values.iter().copied(), |a, b| {
            a.cmp_value(b) == std::cmp::Ordering::Greater
        }),
    }
}

/// A day's consumption per local clock hour, as scaled integers: `units[h]` × 10^-`scale` kWh is
/// the consumption of hour ending `h + 1` (ERCOT's hour ending: the Central clock hour the
/// intervals start in, plus one), `None` for an hour without a value. The fall-back day's two
/// passes of 01:00 are both hour ending 2; the spring-forward day has no hour ending 3. Integers,
/// not decimals, because a report sums them for millions of days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourTotals {
    pub scale: u8,
    pub units: [Option<i64>; 24],
}

impl HourTotals {
    /// Hour ending `hour_ending`'s kWh, exact.
    pub fn kwh(&self, hour_ending: usize) -> Option<Decimal> {
        self.units[hour_ending - 1].map(|u| Decimal::new(u, self.scale))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an hour's sum overflows 64-bit units at scale {0}")]
pub struct HourOverflow(pub u8);

/// The day's values summed per local hour. `first_start` is the instant the first interval
/// starts, each lasting `interval_seconds`; an interval counts in the hour it starts in. A
/// `Scaled` day keeps its scale (its hour sums cannot overflow); an `Exact` day is summed at the
/// largest scale of its values, which fails only for values beyond any meter's.
pub fn hour_totals(
    first_start: DateTime<Utc>,
    interval_seconds: u32,
    values: &Values,
) -> Result<HourTotals, HourOverflow> {
    let len = values_len(values);
    let hour_of = local_hour_fn(first_start, i64::from(interval_seconds), len);
    let mut units: [Option<i64>; 24] = [None; 24];
    match values {
        Values::Scaled { scale, units: day } => {
            for (i, u) in day.iter().enumerate() {
                if let Some(u) = u {
                    *units[hour_of(i)].get_or_insert(0) += i64::from(*u);
                }
            }
            Ok(HourTotals {
                scale: *scale,
                units,
            })
        }
        Values::Exact(day) => {
            let scale = day.iter().flatten().map(|v| v.scale()).max().unwrap_or(0);
            for (i, v) in day.iter().enumerate() {
                if let Some(v) = v {
                    let u = 10i64
                        .checked_pow(u32::from(scale - v.scale()))
                        .and_then(|f| v.units().checked_mul(f))
                        .ok_or(HourOverflow(scale))?;
                    let sum = units[hour_of(i)].get_or_insert(0);
                    *sum = sum.checked_add(u).ok_or(HourOverflow(scale))?;
                }
            }
            Ok(HourTotals { scale, units })
        }
    }
}

fn values_len(values: &Values) -> usize {
    match values {
        Values::Scaled { units, .. } => units.len(),
        Values::Exact(v) => v.len(),
    }
}

/// The local (Central) clock hour, 0–23, of interval `i`'s start. The Central offset is looked up
/// twice a day, not once an interval: when the day's first and last starts share an offset (every
/// day but the two DST days) the hour follows from it by arithmetic.
fn local_hour_fn(first_start: DateTime<Utc>, step: i64, len: usize) -> impl Fn(usize) -> usize {
    let offset =
        |t: DateTime<Utc>| (TimeBasis::CentralPrevailing.to_local(t) - t.naive_utc()).num_seconds();
    let last_start = first_start + Duration::seconds(step * len.saturating_sub(1) as i64);
    let fixed = (offset(first_start) == offset(last_start)).then(|| offset(first_start));
    let t0 = first_start.timestamp();
    move |i: usize| {
        let start = t0 + step * i as i64;
        match fixed {
            // integers only: this runs for every interval of millions of days
            Some(off) => (start + off).rem_euclid(86_400) as usize / 3600,
            None => {
                let instant =
                    DateTime::from_timestamp(start, 0).expect("an instant of a stored day");
                TimeBasis::CentralPrevailing.to_local(instant).hour() as usize
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{day_start, slots_in_day};
    use chrono::{Datelike, NaiveDate};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Interval i holds i + 1 thousandths of a kWh (at scale 3), so every sum is known.
    fn counting(n: usize) -> Values {
        Values::Scaled {
            scale: 3,
            units: (1..=n as i32).map(Some).collect(),
        }
    }

    #[test]
    fn peak_is_the_first_largest_value() {
        let v = Values::Scaled {
            scale: 3,
            units: vec![Some(5), None, Some(9), Some(9), Some(-2)],
        };
        assert_eq!(peak_index(&v), Some(2));
        let exact = Values::Exact(vec![
            Some(Decimal::parse_str("1.5").unwrap()),
            Some(Decimal::parse_str("1.50001").unwrap()),
            Some(Decimal::parse_str("1.500010").unwrap()),
        ]);
        assert_eq!(peak_index(&exact), Some(1));
        let empty = Values::Scaled {
            scale: 0,
            units: vec![None, None],
        };
        assert_eq!(peak_index(&empty), None);
    }

    #[test]
    fn a_normal_day_has_24_hours_of_four_intervals() {
        let d = day(2025, 7, 15);
        let hours = hour_totals(day_start(d), 900, &counting(96)).unwrap();
        assert_eq!(hours.scale, 3);
        for h in 0..24 {
            // intervals 4h+1 .. 4h+4 thousandths
            let units = (4 * h as i64 + 1..=4 * h as i64 + 4).sum::<i64>();
            assert_eq!(hours.units[h], Some(units), "hour ending {}", h + 1);
        }
        assert_eq!(hours.kwh(1).unwrap().to_string(), "0.010");
    }

    #[test]
    fn spring_forward_day_has_no_hour_ending_3() {
        let d = day(2025, 3, 9);
        assert_eq!(slots_in_day(d, 900), 92);
        let hours = hour_totals(day_start(d), 900, &counting(92)).unwrap();
        assert_eq!(hours.units[2], None, "no hour ending 3");
        assert_eq!(hours.units.iter().flatten().count(), 23);
        // 01:00 local (hour ending 2) holds intervals 5..8; 03:00 (hour ending 4) starts at the 9th
        assert_eq!(hours.kwh(2).unwrap().to_string(), "0.026"); // 5 + 6 + 7 + 8
        assert_eq!(hours.kwh(4).unwrap().to_string(), "0.042"); // 9 + 10 + 11 + 12
        assert_eq!(
            hours.units.iter().flatten().sum::<i64>(),
            (1..=92).sum::<i64>()
        );
    }

    #[test]
    fn fall_back_day_counts_both_passes_of_1_am_in_hour_ending_2() {
        let d = day(2025, 11, 2);
        assert_eq!(slots_in_day(d, 900), 100);
        let hours = hour_totals(day_start(d), 900, &counting(100)).unwrap();
        assert_eq!(hours.units.iter().flatten().count(), 24);
        assert_eq!(hours.kwh(2).unwrap().to_string(), "0.068"); // 5 + … + 12: both passes
        assert_eq!(hours.kwh(3).unwrap().to_string(), "0.058"); // 13 + … + 16
        assert_eq!(hours.kwh(24).unwrap().to_string(), "0.394"); // 97 + … + 100
        assert_eq!(
            hours.units.iter().flatten().sum::<i64>(),
            (1..=100).sum::<i64>()
        );
    }

    #[test]
    fn missing_values_are_not_counted_and_exact_days_sum_exactly() {
        let d = day(2025, 7, 15);
        let mut values: Vec<Option<Decimal>> = vec![None; 96];
        values[0] = Some(Decimal::parse_str("99999999.123456789").unwrap());
        values[1] = Some(Decimal::parse_str("0.000000001").unwrap());
        values[95] = Some(Decimal::parse_str("2").unwrap());
        let hours = hour_totals(day_start(d), 900, &Values::Exact(values.clone())).unwrap();
        assert_eq!(hours.units.iter().flatten().count(), 2);
        assert_eq!(hours.kwh(1).unwrap().to_string(), "99999999.123456790");
        assert_eq!(hours.kwh(24).unwrap().to_string(), "2.000000000");
        // Values no meter has, whose sum at the largest scale overflows: an error, not a wrong sum.
        values[2] = Some(Decimal::new(i64::MAX / 2, 0));
        assert_eq!(
            hour_totals(day_start(d), 900, &Values::Exact(values)),
            Err(HourOverflow(9))
        );
    }

    #[test]
    fn hourly_intervals_and_generic_days_agree_with_per_interval_lookup() {
        // Every day of 2025 at 15 and 60 minutes: the arithmetic path gives the hours a lookup
        // per interval gives.
        let mut d = day(2025, 1, 1);
        while d.year() == 2025 {
            for secs in [900u32, 3600] {
                let n = slots_in_day(d, secs);
                let f = local_hour_fn(day_start(d), i64::from(secs), n);
                for i in 0..n {
                    let start = day_start(d) + Duration::seconds(i64::from(secs) * i as i64);
                    let want = TimeBasis::CentralPrevailing.to_local(start).hour() as usize;
                    assert_eq!(f(i), want, "{d} interval {i} at {secs}s");
                }
            }
            d = d.succ_opt().unwrap();
        }
    }
}
