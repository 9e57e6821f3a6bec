//! ESIID functions: `smt.esiid_valid`, `smt.esiid_normalize`, `smt.esiid_tdsp`.

use pgrx::prelude::*;
use smt_core::esiid::{self, EsiidMode};

/// True for a Texas ESIID (17 or 22 digits, after stripping an Excel apostrophe and spaces); with
/// `lenient`, the LSE spec's 1-64 letters or digits.
#[pg_extern(immutable, parallel_safe, strict)]
fn esiid_valid(esiid: &str, lenient: default!(bool, false)) -> bool {
    esiid::is_valid(esiid, EsiidMode::lenient_if(lenient))
}

/// The ESIID as stored: without the Excel apostrophe guard and spaces.
#[pg_extern(immutable, parallel_safe, strict)]
fn esiid_normalize(esiid: &str) -> String {
    esiid::normalize(esiid)
}

/// The TDSP serving an ESIID, from its prefix; NULL when the prefix is not known.
#[pg_extern(immutable, parallel_safe, strict)]
fn esiid_tdsp(esiid: &str) -> Option<&'static str> {
    esiid::tdsp(esiid).map(|t| t.name())
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn esiid_functions_from_sql() {
        assert_eq!(
            Spi::get_one::<bool>("SELECT smt.esiid_valid('''10443720000000001')").unwrap(),
            Some(true)
        );
        assert_eq!(
            Spi::get_one::<bool>("SELECT smt.esiid_valid('100000000000000')").unwrap(),
            Some(false)
        );
        assert_eq!(
            Spi::get_one::<bool>("SELECT smt.esiid_valid('100000000000000', lenient => true)")
                .unwrap(),
            Some(true)
        );
        assert_eq!(
            Spi::get_one::<String>("SELECT smt.esiid_normalize(' ''1008901821621815827179')")
                .unwrap()
                .as_deref(),
            Some("1008901821621815827179")
        );
        assert_eq!(
            Spi::get_one::<String>("SELECT smt.esiid_tdsp('10443720000000001')")
                .unwrap()
                .as_deref(),
            Some("Oncor Electric Delivery")
        );
        assert_eq!(
            Spi::get_one::<String>("SELECT smt.esiid_tdsp('19999999999999999')").unwrap(),
            None
        );
        assert_eq!(
            Spi::get_one::<String>("SELECT '10443720000000001'::smt.esiid::text")
                .unwrap()
                .as_deref(),
            Some("10443720000000001")
        );
    }

    #[pg_test(error = "value for domain esiid violates check constraint \"esiid_check\"")]
    fn esiid_domain_refuses_invalid() {
        Spi::run("SELECT '123'::smt.esiid").unwrap();
    }

    #[pg_test(error = "value for domain esiid violates check constraint \"esiid_check\"")]
    fn esiid_domain_refuses_unnormalized() {
        Spi::run("SELECT '''10443720000000001'::smt.esiid").unwrap();
    }
}
