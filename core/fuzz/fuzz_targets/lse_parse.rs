//! Arbitrary bytes as an LSE file: the reader must never panic, must end, and must read the same
//! from a slice as through a small `BufReader` (lines straddling buffer refills take another
//! path), in both ESIID modes.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use smt_core::lse::{LseOptions, LseReader};
use smt_core::EsiidMode;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the buffer size for the second reading; the rest is the file.
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let capacity = 1 + usize::from(pick % 64);
    for esiid_mode in [EsiidMode::Strict, EsiidMode::Lenient] {
        let options = LseOptions { esiid_mode };
        let whole: Vec<_> = LseReader::new(file, options).collect();
        let buffered: Vec<_> =
            LseReader::new(BufReader::with_capacity(capacity, file), options).collect();
        assert_eq!(whole, buffered, "buffer of {capacity} bytes");
    }
});
