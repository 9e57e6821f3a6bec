//! The scheduler names no table of the extension in its code: every state change goes through a
//! function of the SQL API (sql/extension/jobs.sql) and every read through a view, so its role
//! needs no table privileges and the tables can change behind the API. The tables are read from
//! the `CREATE TABLE smt.…` statements of sql/extension/*.sql; comments may mention them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// Every `smt.name` in `text`.
fn smt_names(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("smt.").filter_map(move |(at, _)| {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let rest = &text[at + 4..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

fn extension_tables() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/extension");
    let mut sql = Vec::new();
    files(&root, "sql", &mut sql);
    let mut tables = BTreeSet::new();
    for path in sql {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let line = line.trim_start();
            let create = line
                .strip_prefix("CREATE TABLE ")
                .or_else(|| line.strip_prefix("CREATE UNLOGGED TABLE "));
            if let Some(rest) = create {
                let rest = rest.trim_start_matches("IF NOT EXISTS ");
                if let Some(name) = smt_names(rest).next() {
                    tables.insert(name.to_owned());
                }
            }
        }
    }
    tables
}

#[test]
fn scheduler_code_names_no_extension_table() {
    let tables = extension_tables();
    for table in [
        "job",
        "job_run",
        "job_kind",
        "remote_file",
        "file",
        "reject",
    ] {
        assert!(
            tables.contains(table),
            "smt.{table} not found in sql/extension: {tables:?}"
        );
    }
    let mut sources = Vec::new();
    files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "rs",
        &mut sources,
    );
    // The one table the worker writes: it copies the rows it parsed into smt.stage (binary COPY,
    // INSERT only), which smt.load_staged checks and merges; see scheduler/src/staging.rs.
    let allowed = ["stage"];
    for table in allowed {
        assert!(
            tables.contains(table),
            "smt.{table} not found in sql/extension"
        );
    }
    let mut found = Vec::new();
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for name in smt_names(line) {
                if tables.contains(name) && !allowed.contains(&name) {
                    found.push(format!("{}:{}: smt.{name}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "use the smt.* functions and views instead of the tables:\n{}",
        found.join("\n")
    );
}

#[test]
fn finds_table_names() {
    assert_eq!(
        smt_names("SELECT * FROM smt.job_run r JOIN smt.job j, xsmt.file, smt.")
            .collect::<Vec<_>>(),
        ["job_run", "job"]
    );
}
