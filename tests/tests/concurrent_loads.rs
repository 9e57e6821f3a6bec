//! Loads at the same time. No load waits for another unless both touch the same data; two loads
//! that change the same ESIID-channel-day at once end with one of them undone
//! (serialization_failure, 40001; or a deadlock, 40P01) and loaded again. The races are staged
//! deterministically (one load held open in a transaction while the other runs into it), then a
//! free-for-all of several connections must end exactly where loading one after another ends.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Duration as Span;
use postgres::Client;
use smt_core::testdata::{self, Generator};
use smt_core::IntervalRecord;
use smt_e2e::*;

const RACED: [&str; 2] = ["40001", "40P01"];

/// `smt.load`, loaded again while it races another load; returns the result and how many times
/// it was undone.
fn load_retrying(c: &mut Client, data: &[u8], name: &str) -> (Loaded, u32) {
    let mut undone = 0;
    loop {
        match try_load(c, data, name) {
            Ok(l) => return (l, undone),
            Err(e) if sqlstate(&e).is_some_and(|s| RACED.contains(&s.as_str())) => {
                undone += 1;
                assert!(
                    undone < 50,
                    "{name}: undone {undone} times: {}",
                    explain(&e)
                );
                // Back off a little, as the worker does, so racers do not meet again at once.
                thread::sleep(Duration::from_millis(
                    u64::from(undone) * 10 + u64::from(pid(c).unsigned_abs() % 10),
                ));
            }
            Err(e) => panic!("smt.load({name}): {}", explain(&e)),
        }
    }
}

/// Waits until the backend `pid` waits for a lock (the staged race is then set up).
fn wait_until_blocked(observer: &mut Client, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: bool = one(
            observer,
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock')",
            &[&pid],
        );
        if waiting {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "backend {pid} never waited for the load held open"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn pid(c: &mut Client) -> i32 {
    one(c, "SELECT pg_backend_pid()", &[])
}

/// Runs `second` on its own connection while `first` is loaded in a transaction held open until
/// `second` waits for it; then commits `first` and returns what `second` got.
fn race(
    db: &TestDb,
    first: (&[u8], &str),
    second: (Vec<u8>, String),
) -> Result<Loaded, postgres::Error> {
    let mut holder = db.connect();
    let mut observer = db.connect();
    let mut racer = db.connect();
    let racer_pid = pid(&mut racer);
    let mut tx = holder.transaction().unwrap();
    tx.query_one(
        "SELECT * FROM smt.load($1::bytea, $2::text)",
        &[&first.0, &first.1],
    )
    .unwrap_or_else(|e| panic!("{}: {}", first.1, explain(&e)));
    let handle = thread::spawn(move || {
        let (data, name) = second;
        try_load(&mut racer, &data, &name)
    });
    wait_until_blocked(&mut observer, racer_pid);
    tx.commit().unwrap();
    handle.join().unwrap()
}

fn lse(records: &[IntervalRecord]) -> Vec<u8> {
    testdata::lse_bytes(records, true)
}

/// `records` again, revised `hours` later, with other values.
fn revised(g: &mut Generator, records: &[IntervalRecord], hours: i64) -> Vec<IntervalRecord> {
    records
        .iter()
        .map(|r| {
            let mut v = g.record(&r.esiid, r.channel, r.day);
            v.revision = r.revision + Span::hours(hours);
            v
        })
        .collect()
}

/// Revisions of one ESIID-channel-day in history, oldest first, and the stored one.
fn versions(c: &mut Client, r: &IntervalRecord) -> (Vec<String>, Option<String>) {
    let history = rows_text(
        c,
        &format!(
            "SELECT {} FROM smt.interval_version v
              WHERE v.esiid = $1 AND v.channel = $2 AND v.day = $3::text::date ORDER BY 1",
            utc_sql("v.revision")
        ),
        &[&r.esiid, &i16::from(r.channel), &r.day.to_string()],
    )
    .into_iter()
    .map(|row| row[0].clone().unwrap())
    .collect();
    let stored = rows_text(
        c,
        &format!(
            "SELECT {} FROM smt.interval_day d
              WHERE d.esiid = $1 AND d.channel = $2 AND d.day = $3::text::date",
            utc_sql("d.revision")
        ),
        &[&r.esiid, &i16::from(r.channel), &r.day.to_string()],
    )
    .into_iter()
    .next()
    .map(|row| row[0].clone().unwrap());
    (history, stored)
}

#[test]
fn replacing_a_day_another_load_is_replacing_undoes_the_later_load() {
    let Some(db) = TestDb::new("concurrent_replace") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(91);
    let v1 = g.records(30, &[date(2025, 11, 2)]);
    let v2 = revised(&mut g, &v1, 1);
    let v3 = revised(&mut g, &v1, 2);
    load(&mut c, &lse(&v1), "v1.lse");

    // v3 decides against v1 while v2 (uncommitted) has replaced it: when v2 commits, the row v3
    // would overwrite is no longer v1, and v3 is undone whole.
    let err = race(&db, (&lse(&v2), "v2.lse"), (lse(&v3), "v3.lse".to_owned()))
        .expect_err("the load that raced must be undone");
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("40001"),
        "{}",
        explain(&err)
    );
    assert!(
        explain(&err).contains("raced another load"),
        "{}",
        explain(&err)
    );
    let leftover: i64 = one(&mut c, "SELECT count(*) FROM smt.stage", &[]);
    assert_eq!(leftover, 0, "staged rows of the undone load");
    let (history, stored) = versions(&mut c, &v1[0]);
    assert_eq!(history, vec![utc_text(v1[0].revision)]);
    assert_eq!(stored, Some(utc_text(v2[0].revision)));

    // Loaded again, it is decided against v2: every version accounted for once.
    let (again, _) = load_retrying(&mut c, &lse(&v3), "v3.lse");
    assert_eq!(again.replaced as usize, v3.len());
    for ((a, b), r) in v1.iter().zip(&v2).zip(&v3) {
        let (history, stored) = versions(&mut c, r);
        assert_eq!(history, vec![utc_text(a.revision), utc_text(b.revision)]);
        assert_eq!(stored, Some(utc_text(r.revision)));
        assert_interval_view_matches(&mut c, r);
        let total = daily_usage(&mut c, &r.esiid, r.day).expect("day total");
        if r.channel == 4 {
            assert!(
                same_sum(&r.kwh_sum(), total.import_kwh.as_deref()),
                "day total of {} {}: {:?} vs {}",
                r.esiid,
                r.day,
                total.import_kwh,
                r.kwh_sum()
            );
        }
    }
}

#[test]
fn a_day_inserted_by_a_load_in_progress_is_decided_once_it_commits() {
    let Some(db) = TestDb::new("concurrent_insert") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(92);
    let newer = g.records(20, &[date(2025, 3, 9)]);
    let older = revised(&mut g, &newer, -5);

    // Both insert the same new days; the second waits for the first, then finds them stored and
    // decides: older, so kept as stale. Nothing undone, nothing lost.
    let second = race(
        &db,
        (&lse(&newer), "newer.lse"),
        (lse(&older), "older.lse".to_owned()),
    )
    .unwrap_or_else(|e| panic!("older.lse: {}", explain(&e)));
    assert_eq!(second.inserted, 0);
    assert_eq!(second.stale as usize, older.len());
    for (o, n) in older.iter().zip(&newer) {
        assert_eq!(
            versions(&mut c, n),
            (vec![utc_text(o.revision)], Some(utc_text(n.revision)))
        );
        assert_interval_view_matches(&mut c, n);
    }
}

#[test]
fn a_revised_file_whose_new_day_another_load_just_stored_is_undone_and_loads_again() {
    let Some(db) = TestDb::new("concurrent_decide_first") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(93);
    let stored = g.records(40, &[date(2025, 7, 15)]);
    load(&mut c, &lse(&stored), "stored.lse");
    let fresh = g.records(1, &[date(2025, 7, 16)]);
    let mut revision = revised(&mut g, &stored, 3);
    // Mostly stored days (decided first) and one day nobody has stored yet, which the held load
    // inserts meanwhile, with a later revision.
    let mut fresh_older = revised(&mut g, &fresh, -2);
    revision.append(&mut fresh_older);

    let err = race(
        &db,
        (&lse(&fresh), "fresh.lse"),
        (lse(&revision), "revision.lse".to_owned()),
    )
    .expect_err("the insert of a day stored meanwhile must undo the load");
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("40001"),
        "{}",
        explain(&err)
    );

    let (again, undone) = load_retrying(&mut c, &lse(&revision), "revision.lse");
    assert_eq!(undone, 0);
    assert_eq!(again.replaced as usize, stored.len());
    assert_eq!(again.stale, 1);
    assert_eq!(again.inserted, 0);
    let (history, current) = versions(&mut c, &fresh[0]);
    assert_eq!(history, vec![utc_text(fresh[0].revision - Span::hours(2))]);
    assert_eq!(current, Some(utc_text(fresh[0].revision)));
}

/// Everything stored about the data, whatever the order it arrived in: current days, every
/// version in history (without who replaced whom, which depends on the order), day totals.
fn end_state(c: &mut Client) -> Vec<Vec<Option<String>>> {
    let mut rows = rows_text(
        c,
        "SELECT 'current', esiid, channel::text, day::text, revision::text, scale::text,
                coalesce(units16::integer[], units)::text, kwh_exact::text, status
           FROM smt.interval_day
         UNION ALL
         SELECT 'version', esiid, channel::text, day::text, revision::text, scale::text,
                coalesce(units16::integer[], units)::text, kwh_exact::text, status
           FROM smt.interval_version
         UNION ALL
         SELECT 'total', esiid, channels::text, day::text, import_kwh::text, export_kwh::text,
                intervals_expected::text, intervals_present::text, intervals_estimated::text
           FROM smt.day_total
         ORDER BY 1, 2, 3, 4, 5",
        &[],
    );
    let files = rows_text(
        c,
        "SELECT 'files', count(*)::text, sum(records)::text, sum(inserted)::text,
                sum(replaced + stale + identical)::text, NULL, NULL, NULL, NULL
           FROM smt.file WHERE state = 'loaded'",
        &[],
    );
    rows.extend(files);
    rows
}

#[test]
fn loads_on_many_connections_end_as_loaded_one_after_another() {
    const FILES: usize = 6;
    let Some(parallel) = TestDb::new("concurrent_free_for_all") else {
        return;
    };
    let serial = TestDb::new("concurrent_serial").expect("a second database");
    let mut g = Generator::new(94);
    let mut serial_client = serial.connect();
    let mut undone_total = 0;
    for round in 0..3u32 {
        let days = [date(2025, 11, 2), date(2025, 11, 3)];
        let base = g.records(120, &days);
        // Each file: every ESIID-day of the base at its own revision (some older, some newer
        // than the others'), starting at a different ESIID, so the loads meet the same days in
        // different orders; and some days only it has.
        let files: Vec<(String, Vec<u8>)> = (0..FILES)
            .map(|i| {
                let mut records = revised(&mut g, &base, [3, -2, 7, 1, -4, 5][i]);
                records.rotate_left(i * base.len() / FILES);
                records.extend(g.records(10, &[date(2025, 10, 1 + i as u32)]));
                (format!("r{round}f{i}.lse"), lse(&records))
            })
            .collect();

        for (name, data) in &files {
            load(&mut serial_client, data, name);
        }
        let expected = end_state(&mut serial_client);

        let barrier = Arc::new(Barrier::new(FILES));
        let handles: Vec<_> = files
            .into_iter()
            .map(|(name, data)| {
                let mut c = parallel.connect();
                // Deadlocks between racing loads are found sooner than the default second.
                c.batch_execute("SET deadlock_timeout = '100ms'").unwrap();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    load_retrying(&mut c, &data, &name).1
                })
            })
            .collect();
        undone_total += handles.into_iter().map(|h| h.join().unwrap()).sum::<u32>();
        let mut c = parallel.connect();
        assert_eq!(
            end_state(&mut c),
            expected,
            "round {round}: end state after concurrent loads differs from one after another"
        );
        let staged: i64 = one(&mut c, "SELECT count(*) FROM smt.stage", &[]);
        assert_eq!(staged, 0);
    }
    eprintln!("concurrent loads undone and loaded again: {undone_total}");
}
