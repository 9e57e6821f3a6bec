//! The one rule every test of the project follows when a part it needs is missing (a PostgreSQL
//! cluster, the shared fixtures, gpg, zip, vsftpd, root): on a laptop the test says why on stderr
//! and passes, but under `SMT_REQUIRE_ALL_PARTS=1` (the Makefile's test targets set it) or `CI=true`
//! it fails, naming the part and how to get it, so a check can never be skipped unnoticed.
//!
//! The core tests, smt-e2e and the scheduler's tests all call [`missing_part`]; nothing else
//! decides whether a test may skip.

/// Set to `1` to make a missing part fail the test instead of skipping it (`0`, `false` or empty:
/// skip).
pub const REQUIRE_VAR: &str = "SMT_REQUIRE_ALL_PARTS";

/// True when a missing part must fail the test: `SMT_REQUIRE_ALL_PARTS` is set to something other
/// than `0`, `false` or empty, or `CI` is `true` or `1` (as CI services set it;
/// `SMT_REQUIRE_ALL_PARTS=0` does not undo that).
pub fn all_parts_required() -> bool {
    required_by(
        std::env::var(REQUIRE_VAR).ok().as_deref(),
        std::env::var("CI").ok().as_deref(),
    )
}

/// The rule of [`all_parts_required`] on the values of `SMT_REQUIRE_ALL_PARTS` and `CI`.
fn required_by(require: Option<&str>, ci: Option<&str>) -> bool {
    let on = |v: &str, values: &[&str]| values.contains(&v.trim().to_ascii_lowercase().as_str());
    let required = require.is_some_and(|v| !on(v, &["", "0", "false"]));
    let ci = ci.is_some_and(|v| on(v, &["true", "1"]));
    required || ci
}

/// Reports that `part` is missing; `how` says how to get it. Panics when all parts are required
/// ([`all_parts_required`]); otherwise prints that the test is skipped and returns, and the caller
/// returns without checking anything.
#[track_caller]
pub fn missing_part(part: &str, how: &str) {
    if all_parts_required() {
        panic!(
            "missing part: {part}; {how}. Under {REQUIRE_VAR}=1 or CI=true no test may skip \
             (without either, as on a laptop, the test skips with a message instead)"
        );
    }
    eprintln!("skipping: missing part: {part}; {how} ({REQUIRE_VAR}=1 makes this a failure)");
}

/// `found`, after reporting `part` as missing ([`missing_part`]) when it is not: the test goes on
/// only when this is true.
///
/// ```no_run
/// # fn gpg_on_path() -> bool { true }
/// use smt_core::test_support::require_part;
/// if !require_part(gpg_on_path(), "gpg", "`make setup` installs it") {
///     return;
/// }
/// ```
#[track_caller]
pub fn require_part(found: bool, part: &str, how: &str) -> bool {
    if !found {
        missing_part(part, how);
    }
    found
}

/// `../shared/fixtures` beside the repository checkout (CI provides it), or `None` after reporting
/// it missing ([`missing_part`]) in a clone without it.
pub fn shared_fixtures() -> Option<std::path::PathBuf> {
    // This crate is core/ of the checkout, so the checkout's parent is two levels up.
    let beside_checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2);
    let dir = beside_checkout
        .expect("the checkout has a parent directory")
        .join("shared/fixtures");
    require_part(
        dir.is_dir(),
        &format!("the shared fixtures ({})", dir.display()),
        "CI provides ../shared beside the checkout; copy or link it there",
    )
    .then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::required_by;

    #[test]
    fn required_by_the_variable_or_ci() {
        assert!(!required_by(None, None));
        assert!(required_by(Some("1"), None));
        assert!(required_by(Some("yes"), None));
        assert!(!required_by(Some("0"), None));
        assert!(!required_by(Some(""), None));
        assert!(!required_by(Some("false"), Some("false")));
        assert!(required_by(None, Some("true")));
        assert!(required_by(None, Some("TRUE")));
        assert!(required_by(None, Some("1")));
        assert!(!required_by(None, Some("")));
        assert!(!required_by(None, Some("false")));
        // A laptop's opt-out does not apply under CI.
        assert!(required_by(Some("0"), Some("true")));
    }
}
