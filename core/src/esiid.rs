//! ESIID: the Electric Service Identifier of a Texas meter point.
//!
//! In practice 17 or 22 digits; the LSE spec allows 1–64 alphanumerics, which the lenient mode
//! accepts (the seed LSE example uses a 15-digit placeholder). The prefix names the TDSP; there is
//! no public check digit, so a valid ESIID with an unknown prefix is still valid.

use std::fmt;

/// How strictly ESIIDs are checked. Strict is the default everywhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EsiidMode {
    /// Digits only, 17 or 22 long: what SMT actually delivers.
    #[default]
    Strict,
    /// The LSE spec's rule: 1–64 ASCII letters or digits.
    Lenient,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EsiidError {
    #[error("ESIID is empty")]
    Empty,
    #[error("ESIID {0:?} has a character other than a digit")]
    NotDigits(String),
    #[error("ESIID {0:?} is {1} digits long; Texas ESIIDs have 17 or 22")]
    WrongLength(String, usize),
    #[error("ESIID {0:?} is not 1-64 letters or digits")]
    NotAlphanumeric(String),
}

impl EsiidMode {
    /// Lenient when asked (`--lenient-esiid`, `lenient_esiid => true`), strict otherwise.
    pub fn lenient_if(lenient: bool) -> Self {
        if lenient {
            EsiidMode::Lenient
        } else {
            EsiidMode::Strict
        }
    }

    /// The flag `lenient_if` takes (`smt.load`'s `lenient_esiid` argument).
    pub fn is_lenient(self) -> bool {
        self == EsiidMode::Lenient
    }
}

/// Transmission and distribution service providers whose ESIID prefixes are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tdsp {
    CenterPoint,
    Oncor,
    AepTexasCentral,
    AepTexasNorth,
    Tnmp,
}

impl Tdsp {
    pub fn name(self) -> &'static str {
        match self {
            Tdsp::CenterPoint => "CenterPoint Energy",
            Tdsp::Oncor => "Oncor Electric Delivery",
            Tdsp::AepTexasCentral => "AEP Texas Central",
            Tdsp::AepTexasNorth => "AEP Texas North",
            Tdsp::Tnmp => "Texas-New Mexico Power",
        }
    }
}

impl fmt::Display for Tdsp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// (prefix, ESIID length, TDSP), from formats.md. The length is part of the match: CenterPoint
/// ESIIDs are 22 digits, the others 17.
pub const TDSP_PREFIXES: &[(&str, usize, Tdsp)] = &[
    ("1008901", 22, Tdsp::CenterPoint),
    ("10443720", 17, Tdsp::Oncor),
    ("1017699", 17, Tdsp::Oncor),
    ("10032789", 17, Tdsp::AepTexasCentral),
    ("10204049", 17, Tdsp::AepTexasNorth),
    ("10400511", 17, Tdsp::Tnmp),
];

/// Strips what spreadsheets and exports wrap ESIIDs in: surrounding whitespace, the leading
/// apostrophe Excel uses as a text guard, and spaces inside.
pub fn normalize(raw: &str) -> String {
    // The usual case, with nothing to strip: no whitespace, no apostrophe.
    if raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return raw.to_owned();
    }
    raw.trim()
        .trim_start_matches('\'')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Checks an already normalized ESIID.
pub fn validate(esiid: &str, mode: EsiidMode) -> Result<(), EsiidError> {
    if esiid.is_empty() {
        return Err(EsiidError::Empty);
    }
    match mode {
        EsiidMode::Strict => {
            if !esiid.bytes().all(|b| b.is_ascii_digit()) {
                return Err(EsiidError::NotDigits(esiid.to_owned()));
            }
            if esiid.len() != 17 && esiid.len() != 22 {
                return Err(EsiidError::WrongLength(esiid.to_owned(), esiid.len()));
            }
        }
        EsiidMode::Lenient => {
            if esiid.len() > 64 || !esiid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(EsiidError::NotAlphanumeric(esiid.to_owned()));
            }
        }
    }
    Ok(())
}

/// Normalizes and validates: the ESIID as it should be stored.
pub fn parse(raw: &str, mode: EsiidMode) -> Result<String, EsiidError> {
    let esiid = normalize(raw);
    validate(&esiid, mode)?;
    Ok(esiid)
}

pub fn is_valid(raw: &str, mode: EsiidMode) -> bool {
    parse(raw, mode).is_ok()
}

/// The TDSP an ESIID belongs to, when its prefix is known.
pub fn tdsp(esiid: &str) -> Option<Tdsp> {
    let esiid = normalize(esiid);
    TDSP_PREFIXES
        .iter()
        .find(|(prefix, len, _)| esiid.len() == *len && esiid.starts_with(prefix))
        .map(|&(_, _, tdsp)| tdsp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_excel_guard_and_spaces() {
        assert_eq!(normalize("'10443720000000001"), "10443720000000001");
        assert_eq!(normalize("  '1044 3720 0000 00001 "), "10443720000000001");
    }

    #[test]
    fn strict_takes_17_or_22_digits_only() {
        assert!(is_valid("10443720000000001", EsiidMode::Strict));
        assert!(is_valid("1008901821621815827179", EsiidMode::Strict));
        assert!(is_valid("'10443720000000001", EsiidMode::Strict));
        assert!(matches!(
            parse("100000000000000", EsiidMode::Strict),
            Err(EsiidError::WrongLength(_, 15))
        ));
        assert!(matches!(
            parse("1044372000000000A", EsiidMode::Strict),
            Err(EsiidError::NotDigits(_))
        ));
        assert!(matches!(
            parse("", EsiidMode::Strict),
            Err(EsiidError::Empty)
        ));
        assert!(matches!(
            parse("'", EsiidMode::Strict),
            Err(EsiidError::Empty)
        ));
        // 18 digits: neither length.
        assert!(!is_valid("104437200000000012", EsiidMode::Strict));
    }

    #[test]
    fn lenient_takes_the_lse_spec_rule() {
        assert!(is_valid("100000000000000", EsiidMode::Lenient));
        assert!(is_valid("ABC123", EsiidMode::Lenient));
        assert!(is_valid(&"9".repeat(64), EsiidMode::Lenient));
        assert!(!is_valid(&"9".repeat(65), EsiidMode::Lenient));
        assert!(!is_valid("ABC-123", EsiidMode::Lenient));
        assert!(!is_valid("", EsiidMode::Lenient));
    }

    #[test]
    fn names_the_tdsp_from_the_prefix() {
        assert_eq!(tdsp("1008901821621815827179"), Some(Tdsp::CenterPoint));
        assert_eq!(tdsp("10443720000000001"), Some(Tdsp::Oncor));
        assert_eq!(tdsp("10176990000000001"), Some(Tdsp::Oncor));
        assert_eq!(tdsp("10032789499575824"), Some(Tdsp::AepTexasCentral));
        assert_eq!(tdsp("10204049542573329"), Some(Tdsp::AepTexasNorth));
        assert_eq!(tdsp("'10400511737675452"), Some(Tdsp::Tnmp));
        // Valid but unknown prefix, and a known prefix with the wrong length.
        assert_eq!(tdsp("19999999999999999"), None);
        assert!(is_valid("19999999999999999", EsiidMode::Strict));
        assert_eq!(tdsp("10089010000000001"), None);
    }
}
