//! How one ESIID-channel-day is stored in PostgreSQL: exact values as scaled integers.
//!
//! A day's values are kept as `units × 10^-scale` with one scale per row (the largest scale of its
//! values), in an `integer[]`: 4 bytes an interval, exact, where `numeric[]` costs 8–12. A missing
//! interval is a NULL element. A day whose values do not fit 32 bits at that scale (rare: over
//! 214 748 kWh in 15 minutes at 4 decimals) keeps its values as decimal text instead (stored as
//! `numeric[]`), so nothing is ever rounded. Statuses are one character an interval: `A`, `E`, or
//! `-` for missing. The extension writes this encoding (smt._stage) and reads it back (smt._decide).

use crate::decimal::Decimal;
use crate::record::{Reading, Status};

pub const MISSING_STATUS: char = '-';

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Values {
    /// `units[i] × 10^-scale`; `None` is a missing interval.
    Scaled { scale: u8, units: Vec<Option<i32>> },
    /// Exact decimal text, for days whose values overflow 32-bit units.
    Exact(Vec<Option<Decimal>>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedDay {
    pub values: Values,
    /// One of `A`, `E`, `-` per interval.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("status text has {0} characters for {1} values")]
    LengthMismatch(usize, usize),
    #[error("status {0:?} at interval {1} is not A, E or -")]
    BadStatus(char, usize),
    #[error("interval {0} has a status but no value, or a value but no status")]
    Inconsistent(usize),
    #[error("scale {0} is out of range")]
    BadScale(i64),
}

pub fn encode(intervals: &[Option<Reading>]) -> EncodedDay {
    let status = intervals
        .iter()
        .map(|r| r.map_or(MISSING_STATUS, |r| r.status.code()))
        .collect();
    let scale = intervals
        .iter()
        .flatten()
        .map(|r| r.kwh.scale())
        .max()
        .unwrap_or(0);
    let scaled: Option<Vec<Option<i32>>> = intervals
        .iter()
        .map(|r| match r {
            None => Some(None),
            Some(r) => {
                let factor = 10i64.checked_pow(u32::from(scale - r.kwh.scale()))?;
                let units = r.kwh.units().checked_mul(factor)?;
                i32::try_from(units).ok().map(Some)
            }
        })
        .collect();
    let values = match scaled {
        Some(units) => Values::Scaled { scale, units },
        None => Values::Exact(intervals.iter().map(|r| r.map(|r| r.kwh)).collect()),
    };
    EncodedDay { values, status }
}

pub fn decode(day: &EncodedDay) -> Result<Vec<Option<Reading>>, DecodeError> {
    let values: Vec<Option<Decimal>> = match &day.values {
        Values::Scaled { scale, units } => units
            .iter()
            .map(|u| u.map(|u| Decimal::new(i64::from(u), *scale)))
            .collect(),
        Values::Exact(v) => v.clone(),
    };
    let n = day.status.chars().count();
    if n != values.len() {
        return Err(DecodeError::LengthMismatch(n, values.len()));
    }
    day.status
        .chars()
        .zip(values)
        .enumerate()
        .map(|(i, (s, v))| {
            let status = match s {
                'A' => Some(Status::Actual),
                'E' => Some(Status::Estimated),
                MISSING_STATUS => None,
                other => return Err(DecodeError::BadStatus(other, i + 1)),
            };
            match (v, status) {
                (Some(kwh), Some(status)) => Ok(Some(Reading { kwh, status })),
                (None, None) => Ok(None),
                _ => Err(DecodeError::Inconsistent(i + 1)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str, s: Status) -> Option<Reading> {
        Some(Reading {
            kwh: Decimal::parse_str(v).unwrap(),
            status: s,
        })
    }

    #[test]
    fn scales_to_the_largest_scale_and_back_by_value() {
        let day = vec![
            r("0.58", Status::Actual),
            None,
            r("2903.7021", Status::Estimated),
            r("7", Status::Actual),
        ];
        let enc = encode(&day);
        assert_eq!(enc.status, "A-EA");
        assert_eq!(
            enc.values,
            Values::Scaled {
                scale: 4,
                units: vec![Some(5800), None, Some(29037021), Some(70000)]
            }
        );
        let back = decode(&enc).unwrap();
        for (a, b) in day.iter().zip(&back) {
            match (a, b) {
                (Some(a), Some(b)) => assert!(a.kwh.same_value(b.kwh) && a.status == b.status),
                (None, None) => {}
                _ => panic!("gap moved"),
            }
        }
    }

    #[test]
    fn overflowing_days_stay_exact_as_decimals() {
        let day = vec![r("300000.1234", Status::Actual), r("1", Status::Actual)];
        let enc = encode(&day);
        assert!(matches!(enc.values, Values::Exact(_)));
        assert_eq!(decode(&enc).unwrap(), day);
        let negative = vec![r("-2147483.649", Status::Actual)];
        assert!(matches!(encode(&negative).values, Values::Exact(_)));
        let edge = vec![r("-2147483.648", Status::Actual)];
        assert!(matches!(encode(&edge).values, Values::Scaled { .. }));
    }

    #[test]
    fn decode_rejects_inconsistent_rows() {
        let bad = EncodedDay {
            values: Values::Scaled {
                scale: 0,
                units: vec![Some(1)],
            },
            status: "-".into(),
        };
        assert_eq!(decode(&bad), Err(DecodeError::Inconsistent(1)));
        let bad = EncodedDay {
            values: Values::Scaled {
                scale: 0,
                units: vec![Some(1)],
            },
            status: "AA".into(),
        };
        assert_eq!(decode(&bad), Err(DecodeError::LengthMismatch(2, 1)));
        let bad = EncodedDay {
            values: Values::Scaled {
                scale: 0,
                units: vec![Some(1)],
            },
            status: "X".into(),
        };
        assert_eq!(decode(&bad), Err(DecodeError::BadStatus('X', 1)));
    }
}
