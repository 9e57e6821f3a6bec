//! Line reading shared by the parsers: bounded, reuses one buffer, knows line numbers and whether
//! the file's last line was cut off (no line ending).

use std::io::{self, BufRead, Read};

/// Longer lines are an error, not an allocation: a corrupt file must not exhaust memory.
pub const MAX_LINE_BYTES: u64 = 1 << 20;

pub struct Lines<R> {
    src: R,
    /// Holds a line only when it does not lie whole in `src`'s buffer (it straddles a refill, or
    /// is too long); other lines are returned straight from `src`'s buffer, without a copy.
    buf: Vec<u8>,
    /// Bytes of the line last returned that are still in `src`'s buffer, consumed on the next
    /// call (the returned text borrows them until then).
    unconsumed: usize,
    line_no: u64,
    /// The last line returned had no `\n` (only possible at end of file).
    unterminated: bool,
}

pub enum Line<'a> {
    /// A line's text, its 1-based number, and whether it lacked a line ending (end of file).
    Text {
        text: &'a [u8],
        number: u64,
        unterminated: bool,
    },
    TooLong,
}

/// The first `\n`. Lines are short, and for the first few words a plain word-at-a-time search
/// beats the call into `memchr`, which takes over after that.
#[inline]
fn find_newline(hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut at = 0;
    while let Some(word) = hay.get(at..at + 8) {
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes")) ^ (ONES * u64::from(b'\n'));
        // The lowest byte flagged here is the first zero byte of `x`, exactly.
        let zeros = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
        if at == 128 {
            break;
        }
    }
    memchr::memchr(b'\n', &hay[at..]).map(|n| at + n)
}

/// `line` without a trailing `\r`.
fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

impl<R: BufRead> Lines<R> {
    pub fn new(src: R) -> Self {
        Lines {
            src,
            buf: Vec::with_capacity(256),
            unconsumed: 0,
            line_no: 0,
            unterminated: false,
        }
    }

    /// 1-based number of the line last returned.
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// The next line without its `\n` / `\r\n`, or `None` at end of file.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.src.consume(std::mem::take(&mut self.unconsumed));
        // Fast path: the whole line, `\n` included, is already in the source's buffer.
        let end = loop {
            match self.src.fill_buf() {
                Ok(chunk) => {
                    let window = &chunk[..chunk.len().min(MAX_LINE_BYTES as usize)];
                    break find_newline(window);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if let Some(end) = end {
            // `fill_buf` without a `consume` in between hands back the same buffer, now borrowed
            // for the returned line (a source that breaks that contract gets an error, not a
            // panic).
            let Some(text) = self.src.fill_buf()?.get(..end) else {
                return Err(io::Error::other(
                    "reader's buffer shrank between fill_buf calls",
                ));
            };
            self.unconsumed = end + 1;
            self.line_no += 1;
            self.unterminated = false;
            return Ok(Some(Line::Text {
                text: strip_cr(text),
                number: self.line_no,
                unterminated: false,
            }));
        }
        self.read_line()
    }

    /// The general case: copies the line into `buf`, across buffer refills, up to the length
    /// limit.
    fn read_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let n = (&mut self.src)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if self.buf.last() == Some(&b'\n') {
            self.unterminated = false;
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        } else if n as u64 == MAX_LINE_BYTES {
            // Skip the rest of the over-long line, still without keeping it.
            loop {
                let chunk = self.src.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                match memchr::memchr(b'\n', chunk) {
                    Some(i) => {
                        self.src.consume(i + 1);
                        break;
                    }
                    None => {
                        let len = chunk.len();
                        self.src.consume(len);
                    }
                }
            }
            return Ok(Some(Line::TooLong));
        } else {
            self.unterminated = true;
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        Ok(Some(Line::Text {
            text: &self.buf,
            number: self.line_no,
            unterminated: self.unterminated,
        }))
    }
}

/// Comma-separated fields of one line, without allocation.
pub fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b',')
}

pub fn text(field: &[u8]) -> &str {
    match std::str::from_utf8(field) {
        // A field that starts and ends with a visible ASCII character has nothing to trim.
        Ok(s)
            if field.first().is_some_and(u8::is_ascii_graphic)
                && field.last().is_some_and(u8::is_ascii_graphic) =>
        {
            s
        }
        Ok(s) => s.trim(),
        Err(_) => "\u{fffd}",
    }
}
