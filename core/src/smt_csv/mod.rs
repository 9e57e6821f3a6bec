//! SMT's CSV reports: 15-minute interval usage ([`interval`]), daily meter reads ([`daily`]) and
//! monthly billed usage ([`monthly`]).
//!
//! Only the interval header is confirmed by several sources; the daily and monthly column sets are
//! not, so every report is read by header name (case, spaces and underscores ignored, with aliases)
//! rather than by position, and extra columns are ignored.

pub mod daily;
pub mod interval;
pub mod monthly;

use std::borrow::Cow;

use std::io::BufRead;

use chrono::{DateTime, NaiveDate, Utc};

use crate::decimal::Decimal;
use crate::esiid::{self, EsiidMode};
use crate::lines::{Line, Lines};
use crate::record::{ErrorKind, RecordError};
use crate::time;

/// Splits one CSV line. Fields may be quoted (`"a,b"`, `""` for a quote); surrounding spaces are
/// trimmed, since SMT files sometimes put a space after each comma.
pub(crate) fn split(line: &[u8]) -> Vec<Cow<'_, str>> {
    let line = std::str::from_utf8(line)
        .map(Cow::Borrowed)
        .unwrap_or_else(|_| String::from_utf8_lossy(line));
    if !line.contains('"') {
        return match line {
            Cow::Borrowed(l) => l.split(',').map(|f| Cow::Borrowed(f.trim())).collect(),
            Cow::Owned(l) => l
                .split(',')
                .map(|f| Cow::Owned(f.trim().to_owned()))
                .collect(),
        };
    }
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(Cow::Owned(std::mem::take(&mut field).trim().to_owned())),
            c => field.push(c),
        }
    }
    fields.push(Cow::Owned(field.trim().to_owned()));
    fields
}

/// A header name reduced to what identifies it: `Usage_KWH `, `USAGE KWH` and `usagekwh` match.
pub(crate) fn header_key(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Column positions found by name: `find(&["USAGE_KWH", "KWH"])` is the first alias present.
pub struct HeaderMap {
    keys: Vec<String>,
    /// The header's names as written (trimmed), for saying what a layout we cannot read holds.
    names: Vec<String>,
}

/// At most this many of the names found are quoted in an error, each cut to [`MAX_NAME_CHARS`]:
/// a reject's reason stays short whatever the header.
const MAX_NAMES_QUOTED: usize = 30;
const MAX_NAME_CHARS: usize = 40;

impl HeaderMap {
    pub fn new(line: &[u8]) -> Self {
        let fields = split(line);
        HeaderMap {
            keys: fields.iter().map(|h| header_key(h)).collect(),
            names: fields
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
                .collect(),
        }
    }

    /// The names found, as an error quotes them: `ESIID, READ_DT, KWH` (cut when long).
    fn names_found(&self) -> String {
        let mut quoted: Vec<String> = self
            .names
            .iter()
            .take(MAX_NAMES_QUOTED)
            .map(|n| {
                let mut n: String = n.chars().take(MAX_NAME_CHARS).collect();
                if n.is_empty() {
                    n = "(empty)".into();
                }
                n
            })
            .collect();
        if self.names.len() > MAX_NAMES_QUOTED {
            quoted.push(format!("… ({} in all)", self.names.len()));
        }
        quoted.join(", ")
    }

    pub fn find(&self, aliases: &[&str]) -> Option<usize> {
        aliases.iter().find_map(|a| {
            let key = header_key(a);
            self.keys.iter().position(|k| *k == key)
        })
    }

    pub fn require(&self, aliases: &[&str], line: u64) -> Result<usize, RecordError> {
        self.find(aliases).ok_or_else(|| {
            RecordError::new(
                ErrorKind::BadHeader,
                line,
                aliases[0],
                match aliases {
                    [only] => format!(
                        "the header has no {only} column; the columns found: {}",
                        self.names_found()
                    ),
                    [first, others @ ..] => format!(
                        "the header has no {first} column (nor {}); the columns found: {}",
                        others.join(", "),
                        self.names_found()
                    ),
                    [] => unreachable!("a column has a name"),
                },
            )
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.find(&[name]).is_some()
    }
}

/// The field at `index` of a split row, empty when the row is short.
pub(crate) fn field<S: AsRef<str>>(row: &[S], index: usize) -> &str {
    row.get(index).map(|f| f.as_ref()).unwrap_or("")
}

pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace() || *b == b',')
}

/// A report with one record per row (daily reads, monthly usage): its columns are found in the
/// header, then each row is read on its own. [`RowReader`] does the reading for every such report.
pub trait RowReport {
    type Columns;
    type Row;
    fn columns(header: &HeaderMap, line: u64) -> Result<Self::Columns, RecordError>;
    fn row(
        columns: &Self::Columns,
        row: &[Cow<'_, str>],
        mode: EsiidMode,
        line: u64,
    ) -> Result<Self::Row, RecordError>;
}

/// Streams a [`RowReport`]: a bad row is one error and reading goes on; a header without the
/// required columns ends the file with one error.
pub struct RowReader<R, T: RowReport> {
    lines: Lines<R>,
    mode: EsiidMode,
    columns: Option<T::Columns>,
    done: bool,
}

impl<R: BufRead, T: RowReport> RowReader<R, T> {
    pub fn new(src: R, mode: EsiidMode) -> Self {
        RowReader {
            lines: Lines::new(src),
            mode,
            columns: None,
            done: false,
        }
    }
}

impl<R: BufRead, T: RowReport> Iterator for RowReader<R, T> {
    type Item = Result<T::Row, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (line, number) = match self.lines.next_line() {
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(RecordError::io(&e, self.lines.line_no())));
                }
                Ok(Some(Line::TooLong)) => {
                    return Some(Err(RecordError::line_too_long(self.lines.line_no())))
                }
                Ok(Some(Line::Text { text, number, .. })) if !is_blank(text) => (text, number),
                Ok(Some(Line::Text { .. })) => continue,
            };
            let Some(columns) = &self.columns else {
                match T::columns(&HeaderMap::new(line), number) {
                    Ok(c) => self.columns = Some(c),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e.with_raw(line)));
                    }
                }
                continue;
            };
            if let Some(why) = crate::lines::text_problem(line) {
                return Some(Err(RecordError::new(
                    ErrorKind::InvalidText,
                    number,
                    "line",
                    why,
                )
                .with_raw(line)));
            }
            return Some(
                T::row(columns, &split(line), self.mode, number).map_err(|e| e.with_raw(line)),
            );
        }
        None
    }
}

pub(crate) fn esiid_field<S: AsRef<str>>(
    row: &[S],
    i: usize,
    mode: EsiidMode,
    line: u64,
) -> Result<String, RecordError> {
    esiid::parse(field(row, i), mode)
        .map_err(|e| RecordError::new(ErrorKind::InvalidEsiid, line, "ESIID", e.to_string()))
}

pub(crate) fn date_field<S: AsRef<str>>(
    row: &[S],
    i: usize,
    name: &str,
    line: u64,
) -> Result<NaiveDate, RecordError> {
    let text = field(row, i);
    time::parse_date(text).ok_or_else(|| {
        RecordError::new(
            ErrorKind::BadTimestamp,
            line,
            name,
            format!("{text:?} is not a MM/DD/YYYY date"),
        )
    })
}

/// An optional revision column: absent column or empty field is `None`, garbage is an error.
pub(crate) fn revision_field<S: AsRef<str>>(
    row: &[S],
    i: Option<usize>,
    line: u64,
) -> Result<Option<DateTime<Utc>>, RecordError> {
    let text = i.map(|i| field(row, i)).unwrap_or("");
    if text.is_empty() {
        return Ok(None);
    }
    time::parse_local_datetime(text)
        .map(|t| Some(time::revision_to_utc(t)))
        .ok_or_else(|| {
            RecordError::new(
                ErrorKind::BadTimestamp,
                line,
                "REVISION_DATE",
                format!("{text:?} is not a MM/DD/YYYY HH:MM:SS timestamp"),
            )
        })
}

/// An optional decimal column: absent column or empty field is `None`, garbage is an error.
pub(crate) fn decimal_field<S: AsRef<str>>(
    row: &[S],
    i: Option<usize>,
    name: &str,
    line: u64,
) -> Result<Option<Decimal>, RecordError> {
    let text = i.map(|i| field(row, i)).unwrap_or("");
    if text.is_empty() {
        return Ok(None);
    }
    Decimal::parse_str(text)
        .map(Some)
        .map_err(|e| RecordError::new(ErrorKind::NonNumericValue, line, name, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_plain_spaced_and_quoted_fields() {
        assert_eq!(split(b"a, b ,c"), vec!["a", "b", "c"]);
        assert_eq!(
            split(b"\"a,b\",\"say \"\"hi\"\"\",3"),
            vec!["a,b", "say \"hi\"", "3"]
        );
        assert_eq!(split(b"x,"), vec!["x", ""]);
    }

    #[test]
    fn header_names_match_loosely() {
        let h = HeaderMap::new("\u{feff}ESIID, Usage_KWH ,usage date".as_bytes());
        assert_eq!(h.find(&["USAGE_KWH"]), Some(1));
        assert_eq!(h.find(&["READ_DATE", "USAGE_DATE"]), Some(2));
        assert_eq!(h.find(&["ESIID"]), Some(0));
        assert!(h.require(&["REVISION_DATE"], 1).is_err());
    }

    #[test]
    fn an_unknown_layout_is_rejected_naming_the_columns_found() {
        let h = HeaderMap::new("\u{feff}ESIID, READ_DT ,,KWH".as_bytes());
        let e = h
            .require(&["READ_DATE", "USAGE_DATE", "DATE"], 1)
            .unwrap_err();
        assert_eq!(e.line, 1);
        assert_eq!(e.field, "READ_DATE");
        assert_eq!(
            e.reason,
            "the header has no READ_DATE column (nor USAGE_DATE, DATE); \
             the columns found: ESIID, READ_DT, (empty), KWH"
        );
        // A header of a thousand long names is quoted short.
        let wide: Vec<String> = (0..1000)
            .map(|i| format!("{}{i}", "X".repeat(100)))
            .collect();
        let e = HeaderMap::new(wide.join(",").as_bytes())
            .require(&["ESIID"], 1)
            .unwrap_err();
        assert!(e.reason.ends_with("… (1000 in all)"), "{}", e.reason);
        assert!(e.reason.len() < 30 * 45 + 100, "{} bytes", e.reason.len());
    }
}
