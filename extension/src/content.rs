//! A file kept in `smt.file_content`, read back part by part.
//!
//! smt.load_part stores a file as numbered parts of at most 8 MiB (part 0, 1, 2, ...; a file
//! loaded by 0.2.0 is one part 0 of any size). Reading fetches one part at a time through SPI,
//! each in its own SPI connection so its memory is released before the next: the backend holds
//! one part, whatever the file's size.

use std::io::{self, Read};

use pgrx::prelude::*;
use sha2::{Digest, Sha256};

/// The parts of one file, in order, as one byte stream.
pub struct Reader {
    file_id: i64,
    next_part: i32,
    part: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Reader {
    pub fn new(file_id: i64) -> Reader {
        Reader {
            file_id,
            next_part: 0,
            part: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    /// The first `len` bytes (fewer if the file is shorter), consumed from the stream. Parts may
    /// be of any size, so this reads across them.
    pub fn head(&mut self, len: usize) -> Vec<u8> {
        let mut head = Vec::with_capacity(len);
        (&mut *self)
            .take(len as u64)
            .read_to_end(&mut head)
            .expect("reading parts does not fail: SPI errors are raised as PostgreSQL errors");
        head
    }

    /// Fetches the next part; false when there is none.
    fn advance(&mut self) -> bool {
        let part = Spi::connect(|client| {
            let table = client.select(
                "SELECT (SELECT c.data FROM smt.file_content c WHERE c.file_id = $1 AND c.part = $2)",
                Some(1),
                &[self.file_id.into(), self.next_part.into()],
            )?;
            let Some(datum) = table.first().get_datum_by_ordinal(1)? else {
                return Ok::<_, pgrx::spi::Error>(None);
            };
            // Detoasted here, in SPI's own memory, which is freed when this connection ends.
            // (pgrx's typed getters copy into the memory context above SPI's, the transaction's:
            // every part of the file would stay there until commit.)
            // SAFETY: a non-null bytea datum of the row just read, used before SPI_finish.
            let bytes = unsafe {
                let value = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
                pgrx::varlena::varlena_to_byte_slice(value).to_vec()
            };
            Ok(Some(bytes))
        })
        .unwrap_or_else(|e| {
            pgrx::error!(
                "smt: reading part {} of file {}: {e}",
                self.next_part,
                self.file_id
            )
        });
        match part {
            Some(bytes) => {
                self.part = bytes;
                self.pos = 0;
                self.next_part += 1;
                true
            }
            None => {
                self.part = Vec::new();
                self.pos = 0;
                self.done = true;
                false
            }
        }
    }
}

impl Read for Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.part.len() {
            if self.done || !self.advance() {
                return Ok(0);
            }
        }
        let n = out.len().min(self.part.len() - self.pos);
        out[..n].copy_from_slice(&self.part[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// What registering a file needs from its content.
pub struct Summary {
    pub sha256: Vec<u8>,
    pub size_bytes: i64,
    pub head: Vec<u8>,
}

/// The SHA-256, the size and the first `head_len` bytes of a kept file, in one pass.
pub fn summary(file_id: i64, head_len: usize) -> Summary {
    let mut reader = Reader::new(file_id);
    let head = reader.head(head_len);
    let mut hasher = Sha256::new();
    hasher.update(&head);
    // The rest of the part the head ended in, then whole parts: the reader's buffer is the part.
    let rest = &reader.part[reader.pos..];
    hasher.update(rest);
    let mut size = (head.len() + rest.len()) as i64;
    while !reader.done && reader.advance() {
        hasher.update(&reader.part);
        size += reader.part.len() as i64;
    }
    Summary {
        sha256: hasher.finalize().to_vec(),
        size_bytes: size,
        head,
    }
}
