//! smt-core: the formats and rules of Smart Meter Texas and ERCOT interval data, in plain Rust.
//!
//! No database and no async here: the PostgreSQL extension and the `smt` scheduler both call this
//! crate, and nothing else parses. Every parser streams records of one ESIID, channel and
//! operating day ([`record::IntervalRecord`]) and reports a bad record as a
//! [`record::RecordError`] without stopping.

pub mod day_profile;
pub mod decimal;
pub mod esiid;
pub mod format;
pub mod greenbutton;
mod lines;
pub mod lse;
pub mod record;
pub mod replace;
pub mod schedule;
pub mod smt_api;
pub mod smt_csv;
pub mod smt_soap;
pub mod stage;
pub mod storage;
pub mod test_support;
pub mod testdata;
pub mod time;

pub use decimal::{Decimal, DecimalSum};
pub use esiid::EsiidMode;
pub use format::Format;
pub use record::{ErrorKind, IntervalRecord, Reading, RecordError, Status};

use std::io::BufRead;

/// Interval records of an LSE, SMT interval CSV, SMT API interval reply or Green Button source,
/// whichever `format` says. A Green Button feed takes its ESIID from its UsagePoint here (no
/// hint: [`greenbutton::GreenButtonReader`] takes one).
pub fn interval_records<'a, R: BufRead + 'a>(
    src: R,
    format: Format,
    esiid_mode: EsiidMode,
) -> Option<Box<dyn Iterator<Item = Result<IntervalRecord, RecordError>> + 'a>> {
    match format {
        Format::Lse => Some(Box::new(lse::LseReader::new(
            src,
            lse::LseOptions { esiid_mode },
        ))),
        Format::IntervalCsv => Some(Box::new(smt_csv::interval::IntervalCsvReader::new(
            src,
            smt_csv::interval::CsvOptions { esiid_mode },
        ))),
        Format::IntervalJson => Some(Box::new(smt_api::interval_reads::JsonRecords::new(
            src, esiid_mode,
        ))),
        Format::GreenButton => Some(Box::new(greenbutton::GreenButtonReader::new(
            src,
            greenbutton::ImportOptions {
                esiid_mode,
                esiid_hint: None,
            },
        ))),
        Format::DailyCsv | Format::MonthlyCsv | Format::DailyJson => None,
    }
}

/// Daily meter reads of an SMT daily CSV or an SMT API `/v2/dailyreads/` reply, whichever
/// `format` says; `None` for a format without them.
pub fn daily_reads<'a, R: BufRead + 'a>(
    src: R,
    format: Format,
    esiid_mode: EsiidMode,
) -> Option<Box<dyn Iterator<Item = Result<smt_csv::daily::DailyRead, RecordError>> + 'a>> {
    match format {
        Format::DailyCsv => Some(Box::new(smt_csv::daily::DailyReadReader::new(
            src, esiid_mode,
        ))),
        Format::DailyJson => Some(Box::new(
            smt_api::daily_reads::file_reads(src, esiid_mode).into_iter(),
        )),
        _ => None,
    }
}
