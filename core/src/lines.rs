//! Line reading shared by the parsers: bounded, reuses one buffer, knows line numbers and whether
//! the file's last line was cut off (no line ending).

use std::io::{self, BufRead, Read};

/// Longer lines are an error, not an allocation: a corrupt file must not exhaust memory.
pub const MAX_LINE_BYTES: u64 = 1 << 20;

pub struct Lines<R> {
    src: R,
    buf: Vec<u8>,
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

impl<R: BufRead> Lines<R> {
    pub fn new(src: R) -> Self {
        Lines {
            src,
            buf: Vec::with_capacity(256),
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
    std::str::from_utf8(field).unwrap_or("\u{fffd}").trim()
}
