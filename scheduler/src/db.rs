//! Database connections. The scheduler talks to PostgreSQL only through the smt extension's
//! functions and views: `smt.load` for every report, the scheduler's state functions
//! (`smt.claim_run`, `smt.delivery_loaded`, ...: sql/extension/jobs.sql) for its bookkeeping, and
//! views (`smt.job_status`, `smt.run_log`, ...) for reading. It names no table.

use anyhow::{Context, Result};
use tokio_postgres::{Client, NoTls};

/// Connects and drives the connection in the background. Local and loopback connections only
/// for now: TLS to PostgreSQL comes with remote databases.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact(url)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!("database connection closed: {e}");
        }
    });
    Ok(client)
}

/// A connection URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgresql://smt:s3cret@db:5432/smt"),
            "postgresql://smt@db:5432/smt"
        );
        assert_eq!(
            super::redact("postgresql://smt@db/smt"),
            "postgresql://smt@db/smt"
        );
        assert_eq!(super::redact("host=/tmp dbname=x"), "host=/tmp dbname=x");
    }
}
