//! PostgreSQL's binary COPY format, written straight to a file as records are generated, for the
//! floors: the same rows smt stores (the columns of `smt.interval_day`, values encoded by
//! `smt_core::storage` exactly as the extension encodes them), without holding them in memory.
//! Each value is encoded by the `postgres` crate's own `ToSql`, as `BinaryCopyInWriter` does.

use std::io::{self, Write};

use bytes::{BufMut, BytesMut};
use postgres::types::{IsNull, ToSql, Type};
use smt_core::stage::{StageRow, StagedValues};
use smt_core::IntervalRecord;

/// Columns of the floor tables, in file order: smt.interval_day's, values in 16-bit units as smt
/// stores the usual day (without units, kwh_exact and loaded_at, which these days never use).
pub const COLUMNS: &str = "esiid text NOT NULL, channel int2 NOT NULL, day date NOT NULL, \
    revision timestamptz NOT NULL, first_start timestamptz NOT NULL, interval_seconds int4 NOT NULL, \
    scale int2 NOT NULL, units16 int2[], status text NOT NULL, transaction_id text, file_id int8 NOT NULL";

const TYPES: [Type; 11] = [
    Type::TEXT,
    Type::INT2,
    Type::DATE,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
    Type::INT4,
    Type::INT2,
    Type::INT2_ARRAY,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
];

pub struct Writer<W: Write> {
    out: W,
    row: BytesMut,
    pub rows: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"PGCOPY\n\xff\r\n\0")?;
        out.write_all(&0i32.to_be_bytes())?; // flags
        out.write_all(&0i32.to_be_bytes())?; // header extension length
        Ok(Writer {
            out,
            row: BytesMut::with_capacity(2048),
            rows: 0,
        })
    }

    pub fn write(&mut self, r: &IntervalRecord, file_id: i64) -> io::Result<()> {
        let row = StageRow::of(Ok(r.clone()));
        let (Some(scale), Some(StagedValues::Units16(units)), Some(status)) =
            (row.scale, &row.values, &row.status)
        else {
            return Err(io::Error::other(format!(
                "{} channel {} {}: values need more than 16-bit units (the floor tables hold units16 only)",
                r.esiid, r.channel, r.day
            )));
        };
        let values: [&(dyn ToSql + Sync); 11] = [
            &r.esiid,
            &i16::from(r.channel),
            &r.day,
            &r.revision,
            &r.start,
            &(r.interval_seconds as i32),
            &scale,
            units,
            status,
            &r.transaction_id,
            &file_id,
        ];
        self.row.clear();
        self.row.put_i16(values.len() as i16);
        for (value, ty) in values.iter().zip(&TYPES) {
            let at = self.row.len();
            self.row.put_i32(0);
            let len = match value
                .to_sql_checked(ty, &mut self.row)
                .map_err(io::Error::other)?
            {
                IsNull::Yes => -1,
                IsNull::No => i32::try_from(self.row.len() - at - 4).map_err(io::Error::other)?,
            };
            self.row[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        self.out.write_all(&self.row)?;
        self.rows += 1;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&(-1i16).to_be_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}
