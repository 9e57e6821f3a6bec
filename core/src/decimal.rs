//! Exact decimals for interval values.
//!
//! SMT and ERCOT write kWh as decimal text ("0.580", "2903.7021"). Binary floats cannot hold most of
//! those values, so a value is kept as the integer it was written as plus its scale:
//! `units × 10^-scale`. It prints back exactly as it arrived ("0.580" stays "0.580"), and sums are
//! exact (i128 accumulator, aligned to the largest scale seen).

use std::cmp::Ordering;
use std::fmt;

/// The most significant digits a value may carry: 18 always fits an i64.
pub const MAX_DIGITS: u32 = 18;

/// An exact decimal as written: `units × 10^-scale`.
///
/// Equality (`==`) is structural, so `0.58` and `0.580` differ; use [`Decimal::cmp_value`] to
/// compare numerically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Decimal {
    units: i64,
    scale: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty value")]
    Empty,
    #[error("not a decimal number: {0:?}")]
    NotANumber(String),
    #[error("more than {MAX_DIGITS} digits: {0:?}")]
    TooManyDigits(String),
}

impl Decimal {
    pub const ZERO: Decimal = Decimal { units: 0, scale: 0 };

    pub fn new(units: i64, scale: u8) -> Self {
        assert!(
            u32::from(scale) <= MAX_DIGITS,
            "scale {scale} above {MAX_DIGITS}"
        );
        Decimal { units, scale }
    }

    pub fn units(self) -> i64 {
        self.units
    }

    pub fn scale(self) -> u8 {
        self.scale
    }

    /// Parses `[+-]digits[.digits]` (also `.5` and `5.`). No exponents, no spaces, no thousands
    /// separators: anything else is an error, never a guess.
    pub fn parse(text: &[u8]) -> Result<Self, DecimalError> {
        let bad = || DecimalError::NotANumber(String::from_utf8_lossy(text).into_owned());
        let (negative, body) = match text.first() {
            None => return Err(DecimalError::Empty),
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            Some(_) => (false, text),
        };
        let mut units: u64 = 0;
        let mut digits = 0u32; // significant digits accumulated (leading zeros do not count)
        let mut seen_digit = false;
        let mut scale: Option<u32> = None;
        for &b in body {
            match b {
                b'0'..=b'9' => {
                    seen_digit = true;
                    if let Some(s) = scale.as_mut() {
                        *s += 1;
                    }
                    if units != 0 || b != b'0' {
                        digits += 1;
                    }
                    units = units * 10 + u64::from(b - b'0');
                    if digits > MAX_DIGITS || scale.is_some_and(|s| s > MAX_DIGITS) {
                        return Err(DecimalError::TooManyDigits(
                            String::from_utf8_lossy(text).into_owned(),
                        ));
                    }
                }
                b'.' if scale.is_none() => scale = Some(0),
                _ => return Err(bad()),
            }
        }
        if !seen_digit {
            return Err(bad());
        }
        let units = units as i64; // < 10^18, cannot overflow
        Ok(Decimal {
            units: if negative { -units } else { units },
            scale: scale.unwrap_or(0) as u8,
        })
    }

    /// The length of the comma-separated field at the start of `text` (up to the first `,` or the
    /// end), and its value when it is in the common form `digits[.digits]` (or `.digits`) with at
    /// most [`MAX_DIGITS`] digits, in one pass. `None` means "not the common form": the field may
    /// still be valid (a sign) or not, and [`Decimal::parse`] decides. On the common form both
    /// agree.
    #[inline]
    pub(crate) fn parse_field_prefix(text: &[u8]) -> (usize, Option<Self>) {
        // Wrapping arithmetic: a value with more digits than fit is discarded below anyway.
        let mut units: u64 = 0;
        let mut i = 0;
        while let Some(&b) = text.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            units = units.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            i += 1;
        }
        let mut digits = i;
        let mut scale = 0;
        if text.get(i) == Some(&b'.') {
            i += 1;
            let fraction = i;
            while let Some(&b) = text.get(i) {
                if !b.is_ascii_digit() {
                    break;
                }
                units = units.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                i += 1;
            }
            scale = i - fraction;
            digits += scale;
        }
        match text.get(i) {
            None | Some(b',') => {}
            Some(_) => {
                let len = memchr::memchr(b',', &text[i..]).map_or(text.len(), |n| i + n);
                return (len, None);
            }
        }
        if digits == 0 || digits > MAX_DIGITS as usize {
            return (i, None);
        }
        let value = Decimal {
            units: units as i64, // < 10^18
            scale: scale as u8,
        };
        (i, Some(value))
    }

    pub fn parse_str(text: &str) -> Result<Self, DecimalError> {
        Self::parse(text.as_bytes())
    }

    /// Numeric comparison, whatever the scales (`0.58` equals `0.580`).
    pub fn cmp_value(self, other: Decimal) -> Ordering {
        let scale = self.scale.max(other.scale);
        rescale(self.units.into(), self.scale, scale).cmp(&rescale(
            other.units.into(),
            other.scale,
            scale,
        ))
    }

    pub fn same_value(self, other: Decimal) -> bool {
        self.cmp_value(other) == Ordering::Equal
    }
}

fn rescale(units: i128, from: u8, to: u8) -> i128 {
    units * 10i128.pow(u32::from(to - from))
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.units.into(), self.scale)
    }
}

impl std::str::FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_str(s)
    }
}

fn write_scaled(f: &mut fmt::Formatter<'_>, units: i128, scale: u8) -> fmt::Result {
    let sign = if units < 0 { "-" } else { "" };
    let magnitude = units.unsigned_abs();
    if scale == 0 {
        return write!(f, "{sign}{magnitude}");
    }
    let pow = 10u128.pow(u32::from(scale));
    write!(
        f,
        "{sign}{}.{:0width$}",
        magnitude / pow,
        magnitude % pow,
        width = usize::from(scale)
    )
}

/// An exact running sum of decimals of any scales.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecimalSum {
    units: i128,
    scale: u8,
}

impl DecimalSum {
    pub fn add(&mut self, value: Decimal) {
        if value.scale > self.scale {
            self.units = rescale(self.units, self.scale, value.scale);
            self.scale = value.scale;
        }
        self.units += rescale(value.units.into(), value.scale, self.scale);
    }

    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// Numeric equality with a decimal written as text (for cross-checks against expected sums).
    pub fn equals_text(&self, text: &str) -> bool {
        match Decimal::parse_str(text) {
            Ok(d) => {
                let scale = self.scale.max(d.scale);
                rescale(self.units, self.scale, scale) == rescale(d.units.into(), d.scale, scale)
            }
            Err(_) => false,
        }
    }
}

impl fmt::Display for DecimalSum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.units, self.scale)
    }
}

impl std::iter::Sum<Decimal> for DecimalSum {
    fn sum<I: Iterator<Item = Decimal>>(iter: I) -> Self {
        let mut sum = DecimalSum::default();
        iter.for_each(|d| sum.add(d));
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse_str(s).unwrap()
    }

    #[test]
    fn prints_back_as_written() {
        for s in [
            "0.580",
            "2903.7021",
            "0",
            "-1.50",
            "68.29",
            "0.000",
            "123456789012345678",
        ] {
            assert_eq!(d(s).to_string(), s);
        }
        assert_eq!(d(".5").to_string(), "0.5");
        assert_eq!(d("+7").to_string(), "7");
        assert_eq!(d("5.").to_string(), "5");
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        for s in [
            "", "-", ".", "1e3", "1,5", " 1", "1 ", "abc", "1.2.3", "NaN", "inf", "--1",
        ] {
            assert!(Decimal::parse_str(s).is_err(), "{s:?} should be rejected");
        }
        assert!(matches!(
            Decimal::parse_str("1234567890123456789"),
            Err(DecimalError::TooManyDigits(_))
        ));
        assert!(matches!(
            Decimal::parse_str("0.1234567890123456789"),
            Err(DecimalError::TooManyDigits(_))
        ));
        // Leading zeros are not significant digits.
        assert_eq!(d("0000000000000000000001.5").to_string(), "1.5");
    }

    /// The one-pass field parser finds the field's end, agrees with `parse` on every field it
    /// accepts, and accepts every plain short field.
    #[test]
    fn field_prefix_agrees_with_parse() {
        let alphabet = b"0123456789..,,-+ aE";
        let mut state = 0x1234_5678_9ABC_DEF0u64;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (state ^ (state >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z ^ (z >> 29)
        };
        let mut fields = vec![
            b"0.123,A,,".to_vec(),
            b"1234567,".to_vec(),
            b"12345678,".to_vec(),
            b".5,".to_vec(),
            b"5.,".to_vec(),
            b".,".to_vec(),
            b"0000000,".to_vec(),
            b"9999999".to_vec(),
        ];
        for _ in 0..200_000 {
            let len = (next() % 14) as usize;
            let digit_heavy = next() % 3 != 0;
            fields.push(
                (0..len)
                    .map(|_| {
                        let r = next() as usize;
                        if digit_heavy && !r.is_multiple_of(4) {
                            b'0' + (r % 10) as u8
                        } else {
                            alphabet[r % alphabet.len()]
                        }
                    })
                    .collect(),
            );
        }
        for text in fields {
            let (len, value) = Decimal::parse_field_prefix(&text);
            let end = text.iter().position(|&b| b == b',').unwrap_or(text.len());
            assert_eq!(len, end, "{:?}", String::from_utf8_lossy(&text));
            if let Some(v) = value {
                assert_eq!(
                    Ok(v),
                    Decimal::parse(&text[..end]),
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
            }
            if value.is_none() && end <= MAX_DIGITS as usize {
                let plain = text[..end].iter().filter(|&&b| b == b'.').count() <= 1
                    && text[..end].iter().all(|&b| b == b'.' || b.is_ascii_digit())
                    && text[..end].iter().any(u8::is_ascii_digit);
                assert!(!plain, "{:?}", String::from_utf8_lossy(&text));
            }
        }
    }

    #[test]
    fn compares_by_value() {
        assert!(d("0.58").same_value(d("0.580")));
        assert_ne!(d("0.58"), d("0.580"));
        assert_eq!(d("-1").cmp_value(d("0.001")), Ordering::Less);
        assert_eq!(d("10").cmp_value(d("9.999")), Ordering::Greater);
    }

    #[test]
    fn sums_exactly_where_floats_do_not() {
        let sum: DecimalSum = ["0.1", "0.2", "0.30"].iter().map(|s| d(s)).sum();
        assert_eq!(sum.to_string(), "0.60");
        assert!(sum.equals_text("0.6"));
        let sum: DecimalSum = std::iter::repeat_n(d("0.001"), 1000).sum();
        assert_eq!(sum.to_string(), "1.000");
        let sum: DecimalSum = [d("-2.5"), d("1")].into_iter().sum();
        assert_eq!(sum.to_string(), "-1.5");
        assert_eq!(DecimalSum::default().to_string(), "0");
    }
}
