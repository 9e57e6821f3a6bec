//! Green Button (ESPI) feeds load like any interval report: a feed exported by smt-core (both
//! channels, estimated intervals, missing ones, the DST days) loads through `smt.load` into the
//! views exactly; loaded again it is the same file; a revised feed replaces the stored days.

use smt_core::greenbutton::{feed, UsagePointInfo};
use smt_e2e::*;

#[test]
fn a_green_button_feed_loads_into_the_views_exactly_dst_days_included() {
    let Some(db) = TestDb::new("green_button") else {
        return;
    };
    let mut c = db.connect();
    let days = [date(2025, 3, 9), date(2025, 7, 1), date(2025, 11, 2)];
    let mut g = smt_core::testdata::Generator::new(42);
    let records = g.records(2, &days);
    let esiids: Vec<String> = {
        let mut e: Vec<String> = records.iter().map(|r| r.esiid.clone()).collect();
        e.dedup();
        e
    };
    let updated = records.iter().map(|r| r.revision).max().unwrap();
    for esiid in &esiids {
        let mine: Vec<_> = records
            .iter()
            .filter(|r| &r.esiid == esiid)
            .cloned()
            .collect();
        let xml = feed(
            &UsagePointInfo {
                esiid: esiid.clone(),
                title: format!("Meter {esiid}"),
            },
            &mine,
            updated,
        );
        let format: Option<String> =
            one(&mut c, "SELECT smt.detect_format($1)", &[&xml.as_bytes()]);
        assert_eq!(format.as_deref(), Some("green_button"));
        let name = format!("{esiid}.xml");
        let l = load(&mut c, xml.as_bytes(), &name);
        assert_eq!(
            (l.records as usize, l.inserted as usize, l.rejected),
            (mine.len(), mine.len(), 0)
        );
        for r in &mine {
            assert_interval_view_matches(&mut c, r);
        }
        assert!(
            load(&mut c, xml.as_bytes(), &name).already_loaded,
            "the same feed is the same file"
        );
    }
    let fall: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.interval WHERE esiid = $1 AND channel = 4 AND day = '2025-11-02'",
        &[&esiids[0]],
    );
    assert_eq!(fall, 100);
    let spring: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.interval WHERE esiid = $1 AND channel = 4 AND day = '2025-03-09'",
        &[&esiids[0]],
    );
    assert_eq!(spring, 92);

    // Exported again by the database: valid ESPI 4.0, and loaded elsewhere it gives back exactly
    // the same days (values, statuses, revisions, missing intervals).
    for esiid in &esiids {
        let xml: String = one(
            &mut c,
            "SELECT smt.green_button($1, '2025-03-01', '2025-11-30')",
            &[esiid],
        );
        validate_espi(&xml);
        let db2 =
            TestDb::new(&format!("green_button_back_{}", &esiid[..6])).expect("a second database");
        let mut c2 = db2.connect();
        let l = load(&mut c2, xml.as_bytes(), "export.xml");
        assert_eq!(l.rejected, 0);
        let stored = |c: &mut postgres::Client| {
            rows_text(
                c,
                "SELECT channel::text, day::text, revision::text, status, coalesce(units16::text, units::text, kwh_exact::text), scale::text
                   FROM smt.interval_day WHERE esiid = $1 ORDER BY channel, day",
                &[esiid],
            )
        };
        let original = stored(&mut c);
        assert!(!original.is_empty());
        assert_eq!(stored(&mut c2), original, "round trip of {esiid}");
    }
    let e = c
        .query_one(
            "SELECT smt.green_button('10443720000000001', '2020-01-01', '2020-01-31')",
            &[],
        )
        .unwrap_err();
    assert!(explain(&e).contains("no 15-minute data"), "{}", explain(&e));
}

/// Validates a feed with xmllint against the official ESPI 4.0 schema (shared/schemas).
fn validate_espi(xml: &str) {
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/schemas/greenbutton/espi-4.0");
    assert!(
        schemas.is_dir(),
        "{} missing: the ESPI 4.0 schema ships in ../shared",
        schemas.display()
    );
    let file = std::env::temp_dir().join(format!("smt-gb-export-{}.xml", std::process::id()));
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--nonet", "--noout", "--schema", "validate.xsd"])
        .arg(&file)
        .current_dir(&schemas)
        .env("XML_CATALOG_FILES", "../catalog.xml")
        .output()
        .expect("xmllint (apt-get install libxml2-utils; make setup installs it)");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the export does not validate against ESPI 4.0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
