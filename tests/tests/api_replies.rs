//! Replies of today's SMT JSON API (`/v2/15minintervalreads/`, deliveryMode API) kept as files
//! load like LSE and CSV reports: the same records, merge, replacement rule and rejects.

use serde_json::json;
use smt_core::testdata::{dst_days_2025, Generator};
use smt_core::{IntervalRecord, Status};
use smt_e2e::*;

/// An `energyData` entry for a generated record, values in order (`RD`).
fn entry(r: &IntervalRecord) -> serde_json::Value {
    let rd: Vec<String> = r
        .intervals
        .iter()
        .map(|i| match i {
            None => String::new(),
            Some(v) => format!(
                "{}-{}",
                v.kwh,
                if v.status == Status::Estimated {
                    "E"
                } else {
                    "A"
                }
            ),
        })
        .collect();
    let revision = smt_core::time::TimeBasis::CentralPrevailing.to_local(r.revision);
    json!({
        "DT": r.day.format("%m/%d/%Y").to_string(),
        "RevTS": revision.format("%m/%d/%Y %H:%M:%S").to_string(),
        "RT": if r.channel == 4 { "C" } else { "G" },
        "RD": rd.join(","),
    })
}

fn reply(esiid: &str, entries: Vec<serde_json::Value>) -> Vec<u8> {
    json!({"trans_id": "T1", "esiid": esiid, "energyData": entries})
        .to_string()
        .into_bytes()
}

#[test]
fn an_interval_reply_loads_exactly_dst_days_included() {
    let Some(db) = TestDb::new("api_reply") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(71);
    let esiid = g.esiid();
    let [spring, fall] = dst_days_2025();
    let records: Vec<IntervalRecord> = [spring, fall, date(2025, 9, 1)]
        .into_iter()
        .flat_map(|day| [g.record(&esiid, 4, day), g.record(&esiid, 1, day)])
        .collect();
    let body = reply(&esiid, records.iter().map(entry).collect());

    let format: Option<String> = one(&mut c, "SELECT smt.detect_format($1)", &[&body]);
    assert_eq!(format.as_deref(), Some("interval_json"));
    let loaded = load(&mut c, &body, "reply.json");
    assert_eq!(loaded.records as usize, records.len());
    assert_eq!(loaded.inserted as usize, records.len());
    assert_eq!(loaded.rejected, 0);
    for r in &records {
        assert_interval_view_matches(&mut c, r);
    }
    let (spring_rows, fall_rows): (i64, i64) = {
        let row = c
            .query_one(
                "SELECT count(*) FILTER (WHERE day = $2::text::date),
                        count(*) FILTER (WHERE day = $3::text::date)
                   FROM smt.interval WHERE esiid = $1 AND channel = 4",
                &[&esiid, &spring.to_string(), &fall.to_string()],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((spring_rows, fall_rows), (92, 100));

    // The same days again, revised: each replaces the stored version.
    let revised: Vec<IntervalRecord> = records
        .iter()
        .map(|r| {
            let mut v = g.record(&r.esiid, r.channel, r.day);
            v.revision = r.revision + chrono::Duration::hours(5);
            v
        })
        .collect();
    let again = load(
        &mut c,
        &reply(&esiid, revised.iter().map(entry).collect()),
        "reply2.json",
    );
    assert_eq!(again.replaced as usize, revised.len());
    for r in &revised {
        assert_interval_view_matches(&mut c, r);
    }
}

#[test]
fn a_bad_entry_of_a_reply_is_a_reject_and_the_rest_loads() {
    let Some(db) = TestDb::new("api_reply_rejects") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(72);
    let esiid = g.esiid();
    let good = g.record(&esiid, 4, date(2025, 9, 2));
    let mut short = entry(&g.record(&esiid, 4, date(2025, 9, 3)));
    short["RD"] = json!("0.1-A,0.2-A");
    let body = reply(&esiid, vec![short, entry(&good)]);
    let loaded = load(&mut c, &body, "partial.json");
    assert_eq!((loaded.inserted, loaded.rejected), (1, 1));
    assert_interval_view_matches(&mut c, &good);
    let reject = rows_text(
        &mut c,
        "SELECT line::text, field, kind, esiid, day::text FROM smt.reject",
        &[],
    );
    assert_eq!(
        reject,
        vec![vec![
            Some("1".into()),
            Some("energyData[1].RD".into()),
            Some("wrong_interval_count".into()),
            Some(esiid.clone()),
            Some("2025-09-03".into()),
        ]]
    );
    // The reply itself is kept as received.
    let kept: Vec<u8> = one(&mut c, "SELECT smt.file_bytes($1)", &[&loaded.file_id]);
    assert_eq!(kept, body);
}
