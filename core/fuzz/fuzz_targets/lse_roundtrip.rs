//! Every record that parses from LSE must survive `write_record`: written (LF and CRLF) and
//! parsed again, it is one record with the same meter, channel, interval length and intervals.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smt_core::lse::{write_record, LseOptions, LseReader};
use smt_core::EsiidMode;

fuzz_target!(|data: &[u8]| {
    let options = LseOptions {
        esiid_mode: EsiidMode::Lenient,
    };
    for record in LseReader::new(data, options).flatten() {
        for crlf in [false, true] {
            let mut text = Vec::new();
            write_record(&mut text, &record, crlf).expect("writing to memory");
            let again: Vec<_> = LseReader::new(&text[..], options).collect();
            let written = String::from_utf8_lossy(&text);
            assert_eq!(again.len(), 1, "{written}");
            let again = match &again[0] {
                Ok(r) => r,
                Err(e) => panic!("{record:?}\nwritten as\n{written}\ndoes not parse: {e:?}"),
            };
            assert_eq!(again.esiid, record.esiid);
            assert_eq!(again.channel, record.channel);
            assert_eq!(again.interval_seconds, record.interval_seconds);
            assert_eq!(again.intervals, record.intervals, "{written}");
        }
    }
});
