//! The `smt` PostgreSQL extension: a thin `#[pg_extern]` layer over smt-core, plus the schema,
//! load function, views and roles in `sql/*.sql`.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod content;
mod convert;
mod daily_sql;
mod esiid_sql;
mod export_sql;
mod load_sql;
mod monthly_sql;
mod parse_sql;
mod report_sql;
mod schedule_sql;

// The hand-written SQL lives in the repository's sql/extension/ and comes after the Rust functions
// it uses. (extension/sql/ holds the released scripts, frozen: cargo-pgrx installs the smt--A--B.sql
// upgrade scripts from there, scripts/released.sh the install scripts of older versions.)
extension_sql_file!(
    "../../sql/extension/schema.sql",
    name = "schema",
    requires = [esiid_sql::esiid_valid, esiid_sql::esiid_normalize]
);
extension_sql_file!(
    "../../sql/extension/load.sql",
    name = "load",
    requires = [
        "schema",
        load_sql::_stage,
        load_sql::_stage_file,
        load_sql::_stage_records,
        load_sql::_content_summary,
        load_sql::_decide,
        parse_sql::detect_format,
        parse_sql::day_slots,
        report_sql::_day_peak
    ]
);
extension_sql_file!(
    "../../sql/extension/views.sql",
    name = "views",
    requires = ["schema", parse_sql::day_slots]
);
extension_sql_file!(
    "../../sql/extension/jobs.sql",
    name = "jobs",
    requires = ["schema", schedule_sql::cron_next]
);
extension_sql_file!(
    "../../sql/extension/daily.sql",
    name = "daily",
    requires = ["load", daily_sql::_daily_records]
);
extension_sql_file!(
    "../../sql/extension/monthly.sql",
    name = "monthly",
    requires = ["load", monthly_sql::_monthly_records]
);
extension_sql_file!(
    "../../sql/extension/reports.sql",
    name = "reports",
    requires = ["views", "daily", "monthly", report_sql::_day_hours]
);
extension_sql_file!(
    "../../sql/extension/export.sql",
    name = "export",
    requires = [
        "views",
        esiid_sql::esiid_normalize,
        export_sql::_green_button_feed
    ]
);
extension_sql_file!(
    "../../sql/extension/requests.sql",
    name = "requests",
    requires = [
        "jobs",
        "load",
        esiid_sql::esiid_valid,
        esiid_sql::esiid_normalize
    ]
);
extension_sql_file!(
    "../../sql/extension/meters.sql",
    name = "meters",
    requires = [
        "requests",
        "views",
        esiid_sql::esiid_valid,
        esiid_sql::esiid_normalize
    ]
);
extension_sql_file!(
    "../../sql/extension/functions.sql",
    name = "functions",
    requires = [
        esiid_sql::esiid_normalize,
        esiid_sql::esiid_valid,
        esiid_sql::esiid_tdsp,
        parse_sql::detect_format,
        parse_sql::day_slots,
        parse_sql::lse_parse,
        parse_sql::csv_parse,
        schedule_sql::cron_next,
        load_sql::_stage,
        load_sql::_stage_file,
        load_sql::_stage_records,
        load_sql::_content_summary,
        load_sql::_decide
    ]
);
extension_sql_file!(
    "../../sql/extension/citus.sql",
    name = "citus",
    requires = ["schema", "daily", "monthly", "meters"]
);
extension_sql_file!("../../sql/extension/roles.sql", name = "roles", finalize);

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
