//! The same content twice, whatever its name: nothing changes.

use smt_core::testdata::{self, Generator};
use smt_e2e::*;

#[test]
fn same_bytes_under_another_name_change_nothing() {
    let Some(db) = TestDb::new("reload_same_bytes") else {
        return;
    };
    let mut c = db.connect();
    let records = Generator::new(11).records(5, &[date(2025, 8, 1), date(2025, 8, 2)]);
    let data = testdata::lse_bytes(&records, true);
    let first = load(&mut c, &data, "SMT_20250803_01.lse");
    assert!(!first.already_loaded);
    assert_eq!(first.inserted as usize, records.len());
    let before = table_counts(&mut c);
    assert!(before.len() >= 6, "tables seen: {before:?}");
    let files_before = rows_text(
        &mut c,
        "SELECT file_id::text, name, state, records::text FROM smt.file ORDER BY file_id",
        &[],
    );

    let again = load(&mut c, &data, "renamed_copy.lse");
    assert!(again.already_loaded);
    // The earlier file comes back, and this load did nothing: every count is 0 (the registry keeps
    // what the first load did).
    assert_eq!(
        again,
        Loaded {
            file_id: first.file_id,
            already_loaded: true,
            ..Loaded::default()
        }
    );
    let kept: i32 = one(
        &mut c,
        "SELECT inserted FROM smt.file WHERE file_id = $1",
        &[&first.file_id],
    );
    assert_eq!(kept, first.inserted);
    assert_eq!(
        table_counts(&mut c),
        before,
        "row counts of every smt table"
    );
    let files_after = rows_text(
        &mut c,
        "SELECT file_id::text, name, state, records::text FROM smt.file ORDER BY file_id",
        &[],
    );
    assert_eq!(files_after, files_before, "the file keeps its first name");
    for r in &records {
        assert_interval_view_matches(&mut c, r);
    }
}
