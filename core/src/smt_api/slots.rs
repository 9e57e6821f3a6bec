//! Where each value of an API day (`RD`, a comma list of `value-flag`) belongs in the operating
//! day. Not confirmed by SMT: one public client reads `RD` as a fixed 100-slot day whose slots
//! 9-12 hold the repeated 01:00-02:00 hour (empty except on the fall-back day); others map slots
//! in order. Both readings are implemented here, in this one place, and chosen by the number of
//! slots; a day that fits neither is rejected.
//!
//! The 100-slot reading (1-based slots, Central prevailing time):
//!
//! | slots   | wall clock                        |
//! |---------|-----------------------------------|
//! | 1-4     | 00:00-01:00                       |
//! | 5-8     | 01:00-02:00 (first)               |
//! | 9-12    | 01:00-02:00 again (fall-back day) |
//! | 13-16   | 02:00-03:00 (missing on the spring-forward day) |
//! | 17-100  | 03:00-24:00                       |

use chrono::NaiveDate;

use crate::record::Reading;
use crate::time;

/// Slots of the fixed layout.
pub const FIXED_SLOTS: usize = 100;
/// 0-based range of the repeated hour in the fixed layout (slots 9-12).
const REPEATED_HOUR: std::ops::Range<usize> = 8..12;
/// 0-based range of 02:00-03:00 in the fixed layout (slots 13-16).
const SPRING_HOUR: std::ops::Range<usize> = 12..16;

/// How a day's slots were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotLayout {
    /// One slot per interval of the day, in order (96, or 92 / 100 on DST days).
    Sequential,
    /// Always 100 slots; the repeated hour at 9-12 (see the module's table).
    Fixed100,
}

/// Why a day's slots fit no layout.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    #[error(
        "{found} values for {day}, which has {expected} 15-minute intervals: neither one value per \
         interval nor the 100-slot layout"
    )]
    Count {
        day: NaiveDate,
        found: usize,
        expected: usize,
    },
    #[error(
        "{day} read as the 100-slot layout, but slot {slot} holds a value and {day} has no such \
         interval ({why})"
    )]
    ValueInNonexistentSlot {
        day: NaiveDate,
        slot: usize,
        why: &'static str,
    },
}

/// The day's intervals from its slots, in time order; `slots` as the reply listed them.
pub fn day_intervals(
    day: NaiveDate,
    mut slots: Vec<Option<Reading>>,
) -> Result<(Vec<Option<Reading>>, SlotLayout), SlotError> {
    let expected = time::slots_in_day(day, 900);
    // A trailing comma: one empty slot past either layout's count is not a slot. (An empty last
    // slot within the count is a missing interval, and stays.)
    if (slots.len() == expected + 1 || slots.len() == FIXED_SLOTS + 1)
        && slots.last() == Some(&None)
    {
        slots.pop();
    }
    if slots.len() == expected {
        // On the fall-back day both readings agree: 100 slots in time order.
        return Ok((slots, SlotLayout::Sequential));
    }
    if slots.len() != FIXED_SLOTS {
        return Err(SlotError::Count {
            day,
            found: slots.len(),
            expected,
        });
    }
    // Only a day without the repeated hour gets here (the fall-back day has 100 intervals).
    let mut dropped = REPEATED_HOUR.collect::<Vec<_>>();
    if expected == FIXED_SLOTS - 8 {
        dropped.extend(SPRING_HOUR);
    }
    if let Some(&slot) = dropped.iter().find(|&&i| slots[i].is_some()) {
        return Err(SlotError::ValueInNonexistentSlot {
            day,
            slot: slot + 1,
            why: if REPEATED_HOUR.contains(&slot) {
                "01:00-02:00 happens once that day"
            } else {
                "02:00-03:00 is skipped that day"
            },
        });
    }
    let intervals = slots
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, r)| r)
        .collect::<Vec<_>>();
    debug_assert_eq!(intervals.len(), expected);
    Ok((intervals, SlotLayout::Fixed100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Decimal;
    use crate::record::Status;
    use crate::testdata::dst_days_2025;

    /// Slot `i` (0-based) holds the value i/1000, so where each value lands shows.
    fn numbered(n: usize, empty: &[usize]) -> Vec<Option<Reading>> {
        (0..n)
            .map(|i| {
                (!empty.contains(&i)).then(|| Reading {
                    kwh: Decimal::new(i as i64, 3),
                    status: Status::Actual,
                })
            })
            .collect()
    }

    fn numbers(intervals: &[Option<Reading>]) -> Vec<Option<i64>> {
        intervals.iter().map(|r| r.map(|r| r.kwh.units())).collect()
    }

    #[test]
    fn an_ordinary_day_reads_96_in_order_or_100_without_the_repeated_hour() {
        let day = NaiveDate::from_ymd_opt(2025, 9, 1).unwrap();
        let (seq, layout) = day_intervals(day, numbered(96, &[])).unwrap();
        assert_eq!(layout, SlotLayout::Sequential);
        assert_eq!(numbers(&seq), (0..96).map(Some).collect::<Vec<_>>());

        let (fixed, layout) = day_intervals(day, numbered(100, &[8, 9, 10, 11])).unwrap();
        assert_eq!(layout, SlotLayout::Fixed100);
        let want: Vec<_> = (0..8).chain(12..100).map(Some).collect();
        assert_eq!(numbers(&fixed), want);
    }

    #[test]
    fn the_spring_forward_day_reads_92_in_order_or_100_without_two_hours() {
        let [spring, _] = dst_days_2025();
        let (seq, layout) = day_intervals(spring, numbered(92, &[])).unwrap();
        assert_eq!((seq.len(), layout), (92, SlotLayout::Sequential));

        let empty: Vec<usize> = (8..16).collect();
        let (fixed, layout) = day_intervals(spring, numbered(100, &empty)).unwrap();
        assert_eq!(layout, SlotLayout::Fixed100);
        // 00:00-02:00 then 03:00-24:00: the values of slots 1-8 and 17-100.
        let want: Vec<_> = (0..8).chain(16..100).map(Some).collect();
        assert_eq!(numbers(&fixed), want);
        // 03:00 Central daylight time is 08:00 UTC: the 9th interval starts there.
        let start = time::day_start(spring);
        let (ninth, _) = time::interval_bounds(start, 900, 8);
        assert_eq!(ninth.to_rfc3339(), "2025-03-09T08:00:00+00:00");
    }

    #[test]
    fn the_fall_back_day_reads_100_in_time_order_under_both_readings() {
        let [_, fall] = dst_days_2025();
        let (intervals, layout) = day_intervals(fall, numbered(100, &[])).unwrap();
        assert_eq!(layout, SlotLayout::Sequential);
        assert_eq!(numbers(&intervals), (0..100).map(Some).collect::<Vec<_>>());
        // Slot 9 is the repeated 01:00 (standard time), an hour after slot 5.
        let start = time::day_start(fall);
        let (fifth, _) = time::interval_bounds(start, 900, 4);
        let (ninth, _) = time::interval_bounds(start, 900, 8);
        assert_eq!(fifth.to_rfc3339(), "2025-11-02T06:00:00+00:00");
        assert_eq!(ninth.to_rfc3339(), "2025-11-02T07:00:00+00:00");
    }

    #[test]
    fn a_value_in_a_slot_the_day_does_not_have_is_rejected() {
        let day = NaiveDate::from_ymd_opt(2025, 9, 1).unwrap();
        let e = day_intervals(day, numbered(100, &[8, 9, 11])).unwrap_err();
        assert_eq!(
            e,
            SlotError::ValueInNonexistentSlot {
                day,
                slot: 11,
                why: "01:00-02:00 happens once that day"
            }
        );
        let [spring, _] = dst_days_2025();
        let empty: Vec<usize> = (8..16).filter(|&i| i != 13).collect();
        let e = day_intervals(spring, numbered(100, &empty)).unwrap_err();
        assert!(e.to_string().contains("slot 14"), "{e}");
        assert!(e.to_string().contains("02:00-03:00 is skipped"), "{e}");
    }

    #[test]
    fn an_empty_last_slot_is_a_missing_interval_and_a_trailing_comma_is_not_a_slot() {
        let day = NaiveDate::from_ymd_opt(2025, 11, 15).unwrap();
        let (intervals, _) = day_intervals(day, numbered(96, &[95])).unwrap();
        assert_eq!((intervals.len(), intervals[95]), (96, None));
        let (intervals, _) = day_intervals(day, numbered(97, &[96])).unwrap();
        assert_eq!(intervals.len(), 96);
        assert!(day_intervals(day, numbered(97, &[])).is_err());
    }

    #[test]
    fn a_count_that_fits_neither_reading_is_rejected() {
        let [spring, fall] = dst_days_2025();
        let ordinary = NaiveDate::from_ymd_opt(2025, 9, 1).unwrap();
        for (day, n) in [
            (ordinary, 95),
            (ordinary, 92),
            (spring, 96),
            (fall, 96),
            (fall, 92),
        ] {
            let e = day_intervals(day, numbered(n, &[])).unwrap_err();
            assert!(
                matches!(e, SlotError::Count { found, .. } if found == n),
                "{day} {n}: {e}"
            );
        }
    }
}
