//! The replacement rule: what happens when a record arrives for an ESIID, channel and operating day
//! that is already stored.
//!
//! ERCOT's rule (seeds/002): a new version of an AMS data record deletes the stored one and takes
//! its place. SMT re-sends improved data for earlier days (estimates replaced by actuals), and late
//! backfills arrive out of order, so the version decides, not the arrival order:
//!
//! 1. A newer revision timestamp replaces the stored record whole.
//! 2. An older revision changes nothing (stale): a late backfill never overwrites newer data.
//! 3. The same revision with the same intervals (values compared numerically, statuses, gaps) is
//!    identical: nothing to write.
//! 4. The same revision with different intervals is a conflict, settled by a total order on the
//!    intervals alone, so that the end state never depends on the order files arrive in: the
//!    winner has more intervals present, then more actual (non-estimated) intervals, then the
//!    greater content (interval by interval: missing < present, then by value, then actual over
//!    estimated).
//!
//! Why not transaction id or file name first: "identical" must ignore them (the same data re-sent
//! in another file is no change), and a tie-break that used them would then depend on arrival
//! order (A ties B as identical, B loses to C on transaction id, C loses to A on content). Ordering
//! by content alone makes the survivor the maximum of all versions seen, whatever their order.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use crate::record::{IntervalRecord, Reading, Status};

/// One stored or incoming version of an ESIID-channel-day, as the rule sees it.
#[derive(Clone, Copy, Debug)]
pub struct Version<'a> {
    pub revision: DateTime<Utc>,
    pub intervals: &'a [Option<Reading>],
}

impl<'a> Version<'a> {
    pub fn of(record: &'a IntervalRecord) -> Self {
        Version {
            revision: record.revision,
            intervals: &record.intervals,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The incoming version takes the stored one's place; the stored one goes to history.
    /// `conflict` marks a same-revision tie-break win.
    Replace { conflict: bool },
    /// The stored version stays; the incoming one is recorded as stale. `conflict` marks a
    /// same-revision tie-break loss.
    Keep { conflict: bool },
    /// Same revision, same intervals: nothing to do.
    Identical,
}

pub fn decide(stored: &Version, incoming: &Version) -> Decision {
    match incoming.revision.cmp(&stored.revision) {
        Ordering::Greater => Decision::Replace { conflict: false },
        Ordering::Less => Decision::Keep { conflict: false },
        Ordering::Equal if same_intervals(stored.intervals, incoming.intervals) => {
            Decision::Identical
        }
        Ordering::Equal => match tie_break(incoming, stored) {
            Ordering::Greater => Decision::Replace { conflict: true },
            _ => Decision::Keep { conflict: true },
        },
    }
}

/// Same intervals: same length, same gaps, same statuses, numerically equal values.
pub fn same_intervals(a: &[Option<Reading>], b: &[Option<Reading>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| cmp_reading(x, y) == Ordering::Equal)
}

fn tie_break(a: &Version, b: &Version) -> Ordering {
    let present = |v: &Version| v.intervals.iter().flatten().count();
    let actual = |v: &Version| {
        v.intervals
            .iter()
            .flatten()
            .filter(|r| r.status == Status::Actual)
            .count()
    };
    present(a)
        .cmp(&present(b))
        .then_with(|| actual(a).cmp(&actual(b)))
        .then_with(|| cmp_content(a.intervals, b.intervals))
}

fn cmp_content(a: &[Option<Reading>], b: &[Option<Reading>]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| cmp_reading(x, y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

fn cmp_reading(a: &Option<Reading>, b: &Option<Reading>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.kwh.cmp_value(y.kwh).then(x.status.cmp(&y.status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Decimal;

    fn readings(values: &[Option<(&str, Status)>]) -> Vec<Option<Reading>> {
        values
            .iter()
            .map(|v| {
                v.map(|(k, s)| Reading {
                    kwh: Decimal::parse_str(k).unwrap(),
                    status: s,
                })
            })
            .collect()
    }

    fn at(hour: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2025, 11, 4, hour, 0, 0).unwrap()
    }

    fn v(hour: u32, iv: &[Option<Reading>]) -> Version<'_> {
        Version {
            revision: at(hour),
            intervals: iv,
        }
    }

    const A: Status = Status::Actual;
    const E: Status = Status::Estimated;

    #[test]
    fn newer_replaces_older_is_stale() {
        let x = readings(&[Some(("1.0", E)), Some(("2.0", A))]);
        let y = readings(&[Some(("1.5", A)), Some(("2.0", A))]);
        assert_eq!(
            decide(&v(6, &x), &v(7, &y)),
            Decision::Replace { conflict: false }
        );
        assert_eq!(
            decide(&v(7, &y), &v(6, &x)),
            Decision::Keep { conflict: false }
        );
        // A newer revision with fewer intervals still replaces (completeness reports the gap).
        let short = readings(&[Some(("1.5", A)), None]);
        assert_eq!(
            decide(&v(6, &x), &v(7, &short)),
            Decision::Replace { conflict: false }
        );
    }

    #[test]
    fn same_revision_same_values_is_identical_whatever_the_scale() {
        let x = readings(&[Some(("0.58", A)), None]);
        let y = readings(&[Some(("0.580", A)), None]);
        assert_eq!(decide(&v(6, &x), &v(6, &y)), Decision::Identical);
        let z = readings(&[Some(("0.58", E)), None]);
        assert_ne!(decide(&v(6, &x), &v(6, &z)), Decision::Identical);
    }

    #[test]
    fn conflicts_settle_the_same_whatever_the_arrival_order() {
        let sets = [
            readings(&[Some(("1", A)), None]),
            readings(&[Some(("1", A)), Some(("2", E))]),
            readings(&[Some(("1", A)), Some(("2", A))]),
            readings(&[Some(("1", A)), Some(("3", A))]),
        ];
        // The last repeats the third: the same data re-sent in another file.
        let versions: Vec<Version> = vec![
            v(6, &sets[0]),
            v(6, &sets[1]),
            v(6, &sets[2]),
            v(6, &sets[3]),
            v(6, &sets[2]),
        ];
        // Fold every permutation's arrival order; the survivor must always be the same.
        let survivor = |order: &[usize]| {
            let mut stored = versions[order[0]];
            for &i in &order[1..] {
                if let Decision::Replace { .. } = decide(&stored, &versions[i]) {
                    stored = versions[i];
                }
            }
            stored.intervals.to_vec()
        };
        let expected = survivor(&[0, 1, 2, 3, 4]);
        let mut order = vec![0, 1, 2, 3, 4];
        permutations(&mut order, 0, &mut |o| {
            assert_eq!(survivor(o), expected, "order {o:?}")
        });
        // Most complete, then most actual, then greatest content.
        assert_eq!(expected, sets[3]);
    }

    fn permutations(items: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
        if k == items.len() {
            return f(items);
        }
        for i in k..items.len() {
            items.swap(k, i);
            permutations(items, k + 1, f);
            items.swap(k, i);
        }
    }
}
