//! Text from outside (file names in deliveries and zips, remote directories, errors quoting them)
//! made safe to print on a terminal.

use std::borrow::Cow;

/// `text` with every control character (C0 including ESC, tab and newlines, DEL, C1) and every
/// bidirectional-override character written as a `\u{..}` escape, so a file name cannot move the
/// cursor, recolor or rewrite a terminal, break a tab-separated line or reorder what is shown.
/// Text without any is returned as it is. Used wherever `smt` prints a name it did not choose.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// What a caught panic said (its `&str` or `String` payload), for the error that replaces it.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "panic"
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escapes_control_and_bidi_characters_only() {
        assert_eq!(printable("LSE_20250310.lse"), "LSE_20250310.lse");
        assert!(matches!(
            printable("Größe über.csv"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            printable("evil\u{1b}[2J\u{1b}]0;owned\u{7}.lse"),
            "evil\\u{1b}[2J\\u{1b}]0;owned\\u{7}.lse"
        );
        assert_eq!(
            printable("a\tb\nc\rd\u{7f}e\u{9b}f"),
            "a\\u{9}b\\u{a}c\\u{d}d\\u{7f}e\\u{9b}f"
        );
        assert_eq!(printable("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert!(!printable("\u{0}\u{1}\u{1f}").chars().any(char::is_control));
    }
}
