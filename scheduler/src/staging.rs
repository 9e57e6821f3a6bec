//! Staging a report on the worker: parse it with smt-core and encode its rows for a binary COPY
//! into `smt.stage`, so that the database only checks and merges them (`smt.load_staged`).
//!
//! Parsing here instead of in the database takes the parse off the server (the loader's core
//! works while the server merges the previous report) and sends the compact binary rows instead
//! of the report's text. The rows are smt-core's [`StageRow`]s, the same the extension builds when
//! it parses a file itself, so both paths load the same data; the database checks every row it
//! did not build (see `smt.load_staged`).

use std::io::{self, Read};
use std::sync::mpsc::Receiver;

use bytes::{BufMut, BytesMut};
use sha2::{Digest, Sha256};
use smt_core::stage::{StageRow, COLUMNS};
use tokio_postgres::types::{IsNull, ToSql, Type};

/// `COPY smt.stage (file_id, <the staging columns>) FROM STDIN (FORMAT binary)`.
pub fn copy_statement() -> String {
    format!(
        "COPY smt.stage (file_id, {}) FROM STDIN (FORMAT binary)",
        COLUMNS.join(", ")
    )
}

/// The column types of `smt.stage` in [`copy_statement`]'s order (binary COPY needs them exact).
const TYPES: [Type; 23] = [
    Type::INT8,        // file_id
    Type::TEXT,        // role
    Type::TEXT,        // esiid
    Type::INT2,        // channel
    Type::DATE,        // day
    Type::TIMESTAMPTZ, // revision
    Type::TIMESTAMPTZ, // first_start
    Type::INT4,        // interval_seconds
    Type::INT2,        // scale
    Type::INT2_ARRAY,  // units16
    Type::INT4_ARRAY,  // units
    Type::TEXT_ARRAY,  // kwh_exact
    Type::TEXT,        // status
    Type::TEXT,        // transaction_id
    Type::TEXT,        // kwh_total
    Type::INT2,        // intervals_expected
    Type::INT2,        // intervals_present
    Type::INT2,        // intervals_estimated
    Type::INT8,        // line
    Type::TEXT,        // field
    Type::TEXT,        // kind
    Type::TEXT,        // reason
    Type::TEXT,        // raw
];

/// The binary COPY stream's signature, flags and header extension (PostgreSQL's COPY docs).
pub fn put_header(buf: &mut BytesMut) {
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
    buf.put_i32(0);
    buf.put_i32(0);
}

/// The binary COPY stream's end.
pub fn put_trailer(buf: &mut BytesMut) {
    buf.put_i16(-1);
}

/// Appends one staging row of file `file_id` to a binary COPY stream.
pub fn put_row(buf: &mut BytesMut, file_id: i64, row: &StageRow) -> Result<(), EncodeError> {
    let (units16, units, kwh_exact) = row.value_columns();
    let totals = row.totals;
    let kwh_total = totals.and_then(|t| t.kwh).map(|k| k.to_string());
    let values: [&(dyn ToSql + Sync); 23] = [
        &file_id,
        &row.role,
        &row.esiid,
        &row.channel,
        &row.day,
        &row.revision,
        &row.first_start,
        &row.interval_seconds,
        &row.scale,
        &units16,
        &units,
        &kwh_exact,
        &row.status,
        &row.transaction_id,
        &kwh_total,
        &totals.map(|t| t.expected),
        &totals.map(|t| t.present),
        &totals.map(|t| t.estimated),
        &row.line,
        &row.field,
        &row.kind,
        &row.reason,
        &row.raw,
    ];
    buf.put_i16(values.len() as i16);
    for (value, ty) in values.iter().zip(&TYPES) {
        let at = buf.len();
        buf.put_i32(0);
        let length = match value
            .to_sql_checked(ty, buf)
            .map_err(|e| EncodeError(e.to_string()))?
        {
            IsNull::Yes => -1,
            IsNull::No => i32::try_from(buf.len() - at - 4)
                .map_err(|_| EncodeError("a value over 2 GB".to_owned()))?,
        };
        buf[at..at + 4].copy_from_slice(&length.to_be_bytes());
    }
    Ok(())
}

/// A row could not be encoded (it cannot happen for rows of smt-core's parsers: a bug).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode a staging row: {0}")]
pub struct EncodeError(String);

/// A report's bytes arriving in parts over a channel, read as one stream, digested and counted
/// on the way: the digest and size the registry records are of exactly the bytes parsed.
pub struct PartsReader {
    parts: Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    digest: Sha256,
    size: u64,
}

impl PartsReader {
    pub fn new(parts: Receiver<Vec<u8>>) -> PartsReader {
        PartsReader {
            parts,
            current: Vec::new(),
            at: 0,
            digest: Sha256::new(),
            size: 0,
        }
    }

    /// The next part as it came (digested and counted); `None` at the report's end.
    pub fn next_part(&mut self) -> Option<Vec<u8>> {
        if self.at < self.current.len() {
            let rest = self.current[self.at..].to_vec();
            self.at = self.current.len();
            return Some(rest);
        }
        let part = self.parts.recv().ok()?;
        self.digest.update(&part);
        self.size += part.len() as u64;
        Some(part)
    }

    /// Reads what is left (so the digest covers every byte), then gives the SHA-256 and size.
    pub fn finish(mut self) -> (Vec<u8>, u64) {
        let _ = io::copy(&mut self, &mut io::sink());
        (self.digest.finalize().to_vec(), self.size)
    }
}

impl Read for PartsReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.parts.recv() {
                Ok(part) => {
                    self.digest.update(&part);
                    self.size += part.len() as u64;
                    self.current = part;
                    self.at = 0;
                }
                // The sender is gone: the report ended.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_and_their_types_line_up() {
        assert_eq!(
            TYPES.len(),
            COLUMNS.len() + 1,
            "file_id, then the staging columns"
        );
        assert!(copy_statement().starts_with("COPY smt.stage (file_id, role, esiid, channel,"));
    }

    #[test]
    fn a_row_encodes_as_its_fields_with_their_lengths() {
        let day = chrono::NaiveDate::from_ymd_opt(2025, 11, 2).unwrap();
        let r = smt_core::testdata::Generator::new(4).record("10443720000000001", 4, day);
        let row = StageRow::of(Ok(r));
        let mut buf = BytesMut::new();
        put_row(&mut buf, 7, &row).unwrap();
        assert_eq!(&buf[..2], &23i16.to_be_bytes());
        // file_id: 8 bytes, 7
        assert_eq!(&buf[2..6], &8i32.to_be_bytes());
        assert_eq!(&buf[6..14], &7i64.to_be_bytes());
        // role "record"
        assert_eq!(&buf[14..18], &6i32.to_be_bytes());
        assert_eq!(&buf[18..24], b"record");
    }

    #[test]
    fn the_reader_digests_exactly_the_bytes_it_passes() {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        let t = std::thread::spawn(move || {
            for p in [b"ab".to_vec(), Vec::new(), b"cde".to_vec()] {
                tx.send(p).unwrap();
            }
        });
        let mut r = PartsReader::new(rx);
        let mut first = [0u8; 1];
        r.read_exact(&mut first).unwrap();
        t.join().unwrap();
        let (sha, size) = r.finish();
        assert_eq!(size, 5);
        assert_eq!(sha, Sha256::digest(b"abcde").to_vec());
    }
}
