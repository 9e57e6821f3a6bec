//! Shared helpers of the end-to-end tests of the `smt` extension against a real cluster.
//!
//! The cluster comes from `SMT_TEST_DATABASE_URL`, an admin URL such as
//! `postgresql://postgres@127.0.0.1:55433/postgres` (`make test` starts one and sets it). Without
//! it every test says so on stderr and passes, so `cargo test` works on a bare machine; under
//! `SMT_REQUIRE_ALL_PARTS=1` (the Makefile sets it) or `CI=true` it fails instead
//! ([`missing_part`], the one rule for every missing part).
//!
//! Each test makes its own database with [`TestDb::new`]: a user table is created in it before
//! `CREATE EXTENSION smt` (the extension must work in a database that already existed), and the
//! database (and any role the test made) is dropped when the guard goes out of scope, on failure
//! too. Names carry the process id and a counter, so tests run in parallel.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use postgres::types::{FromSqlOwned, ToSql};
use postgres::{Client, Config, NoTls};
use smt_core::{DecimalSum, IntervalRecord};

pub use postgres;
// The one rule for a missing part (a skip on a laptop, a failure under SMT_REQUIRE_ALL_PARTS=1 or
// CI=true), and `../shared/fixtures` under it.
pub use smt_core::test_support::{
    all_parts_required, missing_part, require_part, shared_fixtures as fixtures_dir,
};

pub const URL_VAR: &str = "SMT_TEST_DATABASE_URL";

/// The admin URL, or `None` (after saying why the test is skipped; see [`missing_part`]).
pub fn admin_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            missing_part(
                &format!("a PostgreSQL cluster with the smt extension ({URL_VAR} is not set)"),
                &format!(
                    "`make test-e2e` starts one and sets it; or `make install` and \
                     export {URL_VAR}=postgresql://postgres@HOST:PORT/postgres"
                ),
            );
            None
        }
    }
}

/// The admin connection settings, or `None` (after saying why the test is skipped).
pub fn admin_config() -> Option<Config> {
    admin_url().map(|url| parse_admin_url(&url))
}

fn parse_admin_url(url: &str) -> Config {
    url.parse()
        .unwrap_or_else(|e| panic!("{URL_VAR} is not a PostgreSQL URL: {e}"))
}

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// A name no other test (in this or a parallel process) uses: `smt_e2e_<base>_<pid>_<n>`.
fn unique_name(base: &str) -> String {
    let base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    format!(
        "smt_e2e_{base}_{}_{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database replaced by `dbname` (URL or key=value form).
pub fn with_dbname(url: &str, dbname: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={dbname}");
    };
    let rest = &url[scheme_end + 3..];
    let (before_query, query) = match rest.find('?') {
        Some(q) => (&rest[..q], &rest[q..]),
        None => (rest, ""),
    };
    let authority = match before_query.find('/') {
        Some(slash) => &before_query[..slash],
        None => before_query,
    };
    format!("{}{authority}/{dbname}{query}", &url[..scheme_end + 3])
}

/// `"name"` as a quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A fresh database with the extension installed, dropped (with the roles the test made) on drop.
pub struct TestDb {
    pub name: String,
    admin: Config,
    config: Config,
    url: String,
    roles: Vec<String>,
}

/// Rows of the user table made before `CREATE EXTENSION smt`.
pub const USER_TABLE_ROWS: i64 = 2;

impl TestDb {
    /// A new database for `test`, or `None` when no cluster is configured (the test returns).
    pub fn new(test: &str) -> Option<TestDb> {
        TestDb::without_extension(test).map(TestDb::create_extension)
    }

    /// A new database holding only the extension (no user table), for tests of the tools that
    /// use it.
    pub fn extension_only(test: &str) -> Option<TestDb> {
        TestDb::empty(test).map(TestDb::create_extension)
    }

    fn create_extension(self) -> TestDb {
        self.connect()
            .batch_execute("CREATE EXTENSION smt")
            .unwrap_or_else(|e| panic!("CREATE EXTENSION smt in {}: {}", self.name, explain(&e)));
        self
    }

    /// A new database holding only the user table.
    pub fn without_extension(test: &str) -> Option<TestDb> {
        let db = TestDb::empty(test)?;
        db.connect()
            .batch_execute(
                "CREATE TABLE public.meter_note (
                     id    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                     esiid text NOT NULL,
                     note  text
                 );
                 INSERT INTO public.meter_note (esiid, note)
                 VALUES ('10443720000000001', 'there before the extension'),
                        ('1008901821621815827179', 'so was this');",
            )
            .unwrap_or_else(|e| panic!("user table in {}: {}", db.name, explain(&e)));
        Some(db)
    }

    /// A new, empty database.
    fn empty(test: &str) -> Option<TestDb> {
        let admin_url = admin_url()?;
        let admin = parse_admin_url(&admin_url);
        let name = unique_name(test);
        let mut a = admin
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("connecting to {URL_VAR}: {e}"));
        a.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(&name)
        ))
        .unwrap_or_else(|e| panic!("dropping a leftover {name}: {}", explain(&e)));
        a.batch_execute(&format!("CREATE DATABASE {}", ident(&name)))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {}", explain(&e)));
        let mut config = admin.clone();
        config.dbname(&name);
        // From here on the guard drops the database whatever happens.
        Some(TestDb {
            url: with_dbname(&admin_url, &name),
            name,
            admin,
            config,
            roles: Vec::new(),
        })
    }

    /// This database's URL (the admin URL with its database replaced), as a client program takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new connection to this database as the admin user.
    pub fn connect(&self) -> Client {
        self.config
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.name))
    }

    /// A new connection to this database as `role` (trust authentication, as scripts/pg.sh sets up).
    pub fn connect_as(&self, role: &str) -> Client {
        let mut config = self.config.clone();
        config.user(role);
        config
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("connecting to {} as {role}: {e}", self.name))
    }

    /// A new LOGIN role, member of `member_of`; dropped with the database.
    pub fn create_login_role(&mut self, base: &str, member_of: &str) -> String {
        let role = unique_name(base);
        let mut a = self.admin.connect(NoTls).expect("admin connection");
        a.batch_execute(&format!(
            "DROP ROLE IF EXISTS {r}; CREATE ROLE {r} LOGIN IN ROLE {m}",
            r = ident(&role),
            m = ident(member_of)
        ))
        .unwrap_or_else(|e| panic!("creating role {role}: {}", explain(&e)));
        self.roles.push(role.clone());
        role
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut a = match self.admin.connect(NoTls) {
            Ok(a) => a,
            Err(e) => return eprintln!("could not drop database {}: {e}", self.name),
        };
        if let Err(e) = a.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(&self.name)
        )) {
            eprintln!("could not drop database {}: {}", self.name, explain(&e));
        }
        for role in &self.roles {
            if let Err(e) = a.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(role))) {
                eprintln!("could not drop role {role}: {}", explain(&e));
            }
        }
    }
}

/// A database error with its SQLSTATE, detail and hint; other errors as they print.
pub fn explain(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} ({}){}{}",
            db.message(),
            db.code().code(),
            db.detail()
                .map(|d| format!("; detail: {d}"))
                .unwrap_or_default(),
            db.where_()
                .map(|w| format!("; where: {w}"))
                .unwrap_or_default(),
        ),
        None => e.to_string(),
    }
}

/// The SQLSTATE of a database error, if it is one.
pub fn sqlstate(e: &postgres::Error) -> Option<String> {
    e.code().map(|c| c.code().to_owned())
}

/// What `smt.load` returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub file_id: i64,
    pub records: i32,
    pub inserted: i32,
    pub replaced: i32,
    pub stale: i32,
    pub identical: i32,
    pub conflicts: i32,
    pub rejected: i32,
    pub already_loaded: bool,
}

/// `SELECT * FROM smt.load($1::bytea, $2::text)`, or the error.
pub fn try_load(c: &mut Client, data: &[u8], name: &str) -> Result<Loaded, postgres::Error> {
    let row = c.query_one(
        "SELECT * FROM smt.load($1::bytea, $2::text)",
        &[&data, &name],
    )?;
    Ok(loaded(&row))
}

/// `smt.load` in strict ESIID mode; panics with the database's words on error.
pub fn load(c: &mut Client, data: &[u8], name: &str) -> Loaded {
    try_load(c, data, name).unwrap_or_else(|e| panic!("smt.load({name}): {}", explain(&e)))
}

/// `smt.load(data, name, lenient_esiid => true)`.
pub fn load_lenient(c: &mut Client, data: &[u8], name: &str) -> Loaded {
    let row = c
        .query_one(
            "SELECT * FROM smt.load($1::bytea, $2::text, lenient_esiid => true)",
            &[&data, &name],
        )
        .unwrap_or_else(|e| panic!("smt.load({name}, lenient): {}", explain(&e)));
    loaded(&row)
}

fn loaded(row: &postgres::Row) -> Loaded {
    Loaded {
        file_id: row.get("file_id"),
        records: row.get("records"),
        inserted: row.get("inserted"),
        replaced: row.get("replaced"),
        stale: row.get("stale"),
        identical: row.get("identical"),
        conflicts: row.get("conflicts"),
        rejected: row.get("rejected"),
        already_loaded: row.get("already_loaded"),
    }
}

/// The one value of a query returning one row and one column.
pub fn one<T: FromSqlOwned>(c: &mut Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> T {
    c.query_one(sql, params)
        .unwrap_or_else(|e| panic!("{sql}: {}", explain(&e)))
        .get(0)
}

/// Rows of a query, each column read as text (use `::text` casts; NULL is `None`).
pub fn rows_text(
    c: &mut Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Vec<Vec<Option<String>>> {
    c.query(sql, params)
        .unwrap_or_else(|e| panic!("{sql}: {}", explain(&e)))
        .iter()
        .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
        .collect()
}

/// Row count of every table in schema smt (partitions included), by name.
pub fn table_counts(c: &mut Client) -> BTreeMap<String, i64> {
    let tables: Vec<String> = c
        .query(
            "SELECT format('%I.%I', n.nspname, t.relname)
               FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
              WHERE n.nspname = 'smt' AND t.relkind IN ('r', 'p')
              ORDER BY 1",
            &[],
        )
        .expect("list smt tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let n: i64 = one(c, &format!("SELECT count(*) FROM {t}"), &[]);
            (t, n)
        })
        .collect()
}

/// SQL turning a timestamptz expression into `YYYY-MM-DDTHH:MM:SSZ` (UTC), whatever the session's
/// TimeZone.
pub fn utc_sql(expr: &str) -> String {
    format!("to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
}

/// An instant as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// What `smt.interval` shows for one ESIID-channel-day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayView {
    /// Rows (intervals of the day, missing ones included).
    pub rows: i64,
    /// Rows with a kWh value.
    pub present: i64,
    /// `sum(kwh)::text`; `None` when no interval has a value (or the day is absent).
    pub kwh: Option<String>,
    pub estimated: i64,
    pub first_start_utc: Option<String>,
    pub last_end_utc: Option<String>,
    /// Distinct revisions shown, as UTC text.
    pub revisions: Vec<String>,
}

pub fn day_view(c: &mut Client, esiid: &str, channel: i16, day: NaiveDate) -> DayView {
    let sql = format!(
        "SELECT count(*), count(kwh), sum(kwh)::text, count(*) FILTER (WHERE status = 'E'),
                {}, {}, coalesce(array_agg(DISTINCT {}) FILTER (WHERE revision IS NOT NULL), '{{}}')
           FROM smt.interval
          WHERE esiid = $1 AND channel = $2 AND day = $3::text::date",
        utc_sql("min(interval_start)"),
        utc_sql("max(interval_end)"),
        utc_sql("revision"),
    );
    let row = c
        .query_one(&sql, &[&esiid, &channel, &day.to_string()])
        .unwrap_or_else(|e| panic!("smt.interval for {esiid}/{channel}/{day}: {}", explain(&e)));
    DayView {
        rows: row.get(0),
        present: row.get(1),
        kwh: row.get(2),
        estimated: row.get(3),
        first_start_utc: row.get(4),
        last_end_utc: row.get(5),
        revisions: row.get(6),
    }
}

/// True when the decimal text equals the sum by value (`0.60` equals `0.6`).
pub fn same_sum(sum: &DecimalSum, text: Option<&str>) -> bool {
    text.is_some_and(|t| sum.equals_text(t))
}

/// Asserts that `smt.interval` shows exactly the generated record `r` as the current version.
pub fn assert_interval_view_matches(c: &mut Client, r: &IntervalRecord) {
    let v = day_view(c, &r.esiid, i16::from(r.channel), r.day);
    let what = format!("{} channel {} {}", r.esiid, r.channel, r.day);
    assert_eq!(v.rows, r.intervals.len() as i64, "{what}: rows");
    assert_eq!(v.present, r.present() as i64, "{what}: intervals with kWh");
    assert!(
        same_sum(&r.kwh_sum(), v.kwh.as_deref()),
        "{what}: sum(kwh) {:?}, generated {}",
        v.kwh,
        r.kwh_sum()
    );
    assert_eq!(v.estimated, r.estimated() as i64, "{what}: estimated");
    assert_eq!(
        v.first_start_utc.as_deref(),
        Some(utc_text(r.start).as_str()),
        "{what}: first start"
    );
    assert_eq!(
        v.last_end_utc.as_deref(),
        Some(utc_text(r.end()).as_str()),
        "{what}: last end"
    );
    assert_eq!(v.revisions, vec![utc_text(r.revision)], "{what}: revision");
}

/// One row of `smt.daily_usage`, kWh as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyUsage {
    pub import_kwh: Option<String>,
    pub export_kwh: Option<String>,
    pub net_kwh: Option<String>,
    pub intervals_present: i32,
    pub intervals_estimated: i32,
    pub intervals_missing: i32,
}

pub fn daily_usage(c: &mut Client, esiid: &str, day: NaiveDate) -> Option<DailyUsage> {
    let rows = c
        .query(
            "SELECT import_kwh::text, export_kwh::text, net_kwh::text,
                    intervals_present, intervals_estimated, intervals_missing
               FROM smt.daily_usage WHERE esiid = $1 AND day = $2::text::date",
            &[&esiid, &day.to_string()],
        )
        .unwrap_or_else(|e| panic!("smt.daily_usage for {esiid}/{day}: {}", explain(&e)));
    assert!(rows.len() <= 1, "{esiid}/{day}: {} daily rows", rows.len());
    rows.first().map(|r| DailyUsage {
        import_kwh: r.get(0),
        export_kwh: r.get(1),
        net_kwh: r.get(2),
        intervals_present: r.get(3),
        intervals_estimated: r.get(4),
        intervals_missing: r.get(5),
    })
}

/// The stored current version of one ESIID-channel-day as text, for comparing end states.
pub fn stored_day(c: &mut Client, esiid: &str, channel: i16, day: NaiveDate) -> Vec<String> {
    let sql = format!(
        "SELECT {}, scale::text, units::text, kwh_exact::text, status, interval_seconds::text
           FROM smt.interval_day WHERE esiid = $1 AND channel = $2 AND day = $3::text::date",
        utc_sql("revision")
    );
    let rows = rows_text(c, &sql, &[&esiid, &channel, &day.to_string()]);
    assert_eq!(rows.len(), 1, "{esiid}/{channel}/{day} stored once");
    rows[0]
        .iter()
        .map(|v| v.clone().unwrap_or_default())
        .collect()
}
