//! Arbitrary bytes as an SMT interval CSV file: the reader must never panic, must end, and must
//! read the same from a slice as through a small `BufReader`, in both ESIID modes.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use smt_core::smt_csv::interval::{CsvOptions, IntervalCsvReader};
use smt_core::EsiidMode;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let capacity = 1 + usize::from(pick % 64);
    for esiid_mode in [EsiidMode::Strict, EsiidMode::Lenient] {
        let options = CsvOptions { esiid_mode };
        let whole: Vec<_> = IntervalCsvReader::new(file, options).collect();
        let buffered: Vec<_> =
            IntervalCsvReader::new(BufReader::with_capacity(capacity, file), options).collect();
        assert_eq!(whole, buffered, "buffer of {capacity} bytes");
    }
});
