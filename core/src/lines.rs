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

/// The UTF-8 byte order mark some tools (spreadsheets, Windows editors) put before a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `line` without a leading byte order mark when it is the file's first line.
#[inline]
fn strip_bom(line: &[u8], number: u64) -> &[u8] {
    if number == 1 {
        line.strip_prefix(BOM).unwrap_or(line)
    } else {
        line
    }
}

/// Why a line cannot be stored as text: a NUL byte (PostgreSQL text cannot hold one) or bytes
/// that are not UTF-8. `None` for a good line.
#[inline]
pub fn text_problem(line: &[u8]) -> Option<String> {
    // One pass for the usual line: ASCII without NUL (bytes 1..=127).
    if line
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(1) < 0x7F))
    {
        return None;
    }
    text_problem_slow(line)
}

#[cold]
#[inline(never)]
fn text_problem_slow(line: &[u8]) -> Option<String> {
    let bad_utf8 = if line.is_ascii() {
        None
    } else {
        std::str::from_utf8(line).err()
    };
    if let Some(e) = bad_utf8 {
        return Some(format!(
            "the line is not UTF-8 text (invalid byte at column {})",
            e.valid_up_to() + 1
        ));
    }
    memchr::memchr(0, line).map(|at| format!("the line has a NUL byte at column {}", at + 1))
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
    #[inline]
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
                text: strip_bom(strip_cr(text), self.line_no),
                number: self.line_no,
                unterminated: false,
            }));
        }
        self.read_line()
    }

    /// The general case: copies the line into `buf`, across buffer refills, up to the length
    /// limit.
    #[cold]
    #[inline(never)]
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
            text: strip_bom(&self.buf, self.line_no),
            number: self.line_no,
            unterminated: self.unterminated,
        }))
    }
}

pub fn text(field: &[u8]) -> &str {
    std::str::from_utf8(field).map_or("\u{fffd}", trim)
}

/// `s.trim()`, quicker when there is nothing to trim.
fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    // A field that starts and ends with a visible ASCII character has nothing to trim.
    if b.first().is_some_and(u8::is_ascii_graphic) && b.last().is_some_and(u8::is_ascii_graphic) {
        s
    } else {
        s.trim()
    }
}

/// The comma-separated fields of a line, each as [`text`] gives it, checking the line's UTF-8
/// once rather than field by field.
pub fn texts(line: &[u8]) -> Texts<'_> {
    Texts {
        line: std::str::from_utf8(line).map_err(|_| line),
        next: Some(0),
    }
}

pub struct Texts<'a> {
    /// The line as text when it is valid UTF-8 (then so is every field: commas are ASCII).
    line: Result<&'a str, &'a [u8]>,
    /// Where the next field starts; `None` once the last one is taken.
    next: Option<usize>,
}

impl<'a> Iterator for Texts<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let start = self.next?;
        let bytes = match self.line {
            Ok(s) => s.as_bytes(),
            Err(b) => b,
        };
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b',')
            .map_or(bytes.len(), |i| start + i);
        self.next = (end < bytes.len()).then_some(end + 1);
        Some(match self.line {
            Ok(s) => trim(&s[start..end]),
            Err(b) => text(&b[start..end]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line as `(text, unterminated)`, `None` for a too-long one.
    fn all_lines<R: BufRead>(src: R) -> Vec<(Option<Vec<u8>>, u64, bool)> {
        let mut lines = Lines::new(src);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push(match line {
                Line::Text {
                    text,
                    number,
                    unterminated,
                } => (Some(text.to_vec()), number, unterminated),
                Line::TooLong => (None, lines.line_no(), false),
            });
        }
        out
    }

    /// Lines come out the same whether they lie whole in the reader's buffer (returned in
    /// place) or straddle a refill (copied), with every buffer size.
    #[test]
    fn splits_the_same_whatever_the_buffer() {
        let text: &[u8] = b"00000001,a\r\n\r\n10000000,1.5,A,\n\n  \nx\ry\r\n\xff\xfe,\r\r\nlast\r";
        let expected: Vec<(Option<Vec<u8>>, u64, bool)> = vec![
            (Some(b"00000001,a".to_vec()), 1, false),
            (Some(b"".to_vec()), 2, false),
            (Some(b"10000000,1.5,A,".to_vec()), 3, false),
            (Some(b"".to_vec()), 4, false),
            (Some(b"  ".to_vec()), 5, false),
            (Some(b"x\ry".to_vec()), 6, false),
            (Some(b"\xff\xfe,\r".to_vec()), 7, false),
            (Some(b"last".to_vec()), 8, true),
        ];
        assert_eq!(all_lines(text), expected);
        for capacity in 1..=text.len() + 1 {
            let src = io::BufReader::with_capacity(capacity, text);
            assert_eq!(all_lines(src), expected, "buffer of {capacity} bytes");
        }
        assert!(all_lines(&b""[..]).is_empty());
    }

    #[test]
    fn the_length_limit_counts_the_line_ending() {
        let max = MAX_LINE_BYTES as usize;
        for (content, ending, too_long) in [
            (max - 1, &b"\n"[..], false),
            (max - 2, b"\r\n", false),
            (max, b"\n", true),
            (max - 1, b"\r\n", true),
            (max, b"", true),
            (max - 1, b"", false),
            (3 * max, b"\n", true),
        ] {
            let mut text = vec![b'7'; content];
            text.extend_from_slice(ending);
            if !ending.is_empty() {
                text.extend_from_slice(b"next\n");
            }
            for capacity in [0, 1000, 8192, 2 * max] {
                let got = if capacity == 0 {
                    all_lines(&text[..])
                } else {
                    all_lines(io::BufReader::with_capacity(capacity, &text[..]))
                };
                let what = format!("{content} bytes + {ending:?}, buffer {capacity}");
                assert_eq!(got[0].0.is_none(), too_long, "{what}");
                if !too_long {
                    assert_eq!(got[0].0.as_ref().map(Vec::len), Some(content), "{what}");
                }
                if ending.is_empty() {
                    assert_eq!(got.len(), 1, "{what}");
                    assert!(too_long || got[0].2, "{what}: unterminated");
                } else {
                    assert_eq!(got[1], (Some(b"next".to_vec()), 2, false), "{what}");
                }
            }
        }
    }

    #[test]
    fn texts_are_fields_through_text() {
        for line in [
            &b""[..],
            b",",
            b"a,b,,c",
            b" a , b\t,\x0bc\x0b, ",
            b"\xc2\xa0nbsp\xc2\xa0,x",
            b"ok,\xff\xfe,ok",
            b"00000030,ATTRIBUTE_VALUE_PAIRS,MRE=1, Sender = 2 ,",
        ] {
            let want: Vec<&str> = line.split(|&b| b == b',').map(text).collect();
            assert_eq!(
                texts(line).collect::<Vec<_>>(),
                want,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
