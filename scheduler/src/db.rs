//! Database connections. The scheduler talks to PostgreSQL only through the smt extension's
//! functions and views: `smt.load` for every report, the scheduler's state functions
//! (`smt.claim_run`, `smt.delivery_loaded`, ...: sql/extension/jobs.sql) for its bookkeeping, and
//! views (`smt.job_status`, `smt.run_log`, ...) for reading. It names no table.

use anyhow::{Context, Result};
use tokio_postgres::{Client, NoTls};

/// Connects and drives the connection in the background. Local and loopback connections only
/// for now: TLS to PostgreSQL comes with remote databases.
/// The session shows as application_name `smt` in pg_stat_activity unless the URL names another.
pub async fn connect(url: &str) -> Result<Client> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .with_context(|| format!("not a PostgreSQL URL: {}", redact(url)))?;
    if config.get_application_name().is_none() {
        config.application_name("smt");
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact(url)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            // Callers see the closed client and decide (`smt run` reconnects).
            tracing::warn!("database connection lost: {:#}", anyhow::Error::new(e));
        }
    });
    Ok(client)
}

/// A connection string without its password, for messages: the password of a URL's user
/// (`postgresql://user:PASSWORD@host/db`) and every `password` parameter (`?password=...` in a
/// URL, `password=...` in a key=value string, quoted or not; also `sslpassword`) are removed.
pub fn redact(url: &str) -> String {
    if url.contains("://") {
        redact_url(url)
    } else {
        redact_key_values(url)
    }
}

fn is_password_key(key: &str) -> bool {
    key.trim().to_ascii_lowercase().ends_with("password")
}

fn redact_url(url: &str) -> String {
    let scheme = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url[scheme..].find('?') {
        Some(q) => (&url[..scheme + q], Some(&url[scheme + q + 1..])),
        None => (url, None),
    };
    // The user info ends at the last '@' before the path (a password may hold '@' or '/').
    let mut out = match base[scheme..].rfind('@') {
        Some(at) => {
            let userinfo = &base[scheme..scheme + at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}{}", &base[..scheme], user, &base[scheme + at..])
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| !is_password_key(kv.split('=').next().unwrap_or("")))
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

/// libpq's `key = value` form: values may be single-quoted, with `\'` and `\\` escapes.
fn redact_key_values(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut kept: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i == chars.len() {
            break;
        }
        let mut key = String::new();
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            key.push(chars[i]);
            i += 1;
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '\'' {
                value.push('\'');
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        value.push(chars[i]);
                        i += 1;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    value.push('\'');
                    i += 1;
                }
            } else {
                while i < chars.len() && !chars[i].is_whitespace() {
                    value.push(chars[i]);
                    i += 1;
                }
            }
            if !is_password_key(&key) {
                kept.push(format!("{key}={value}"));
            }
        } else if !is_password_key(&key) {
            kept.push(key);
        }
    }
    kept.join(" ")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgresql://smt:s3cret@db:5432/smt"),
            "postgresql://smt@db:5432/smt"
        );
        assert_eq!(redact("postgresql://smt@db/smt"), "postgresql://smt@db/smt");
        assert_eq!(redact("postgres://db/smt"), "postgres://db/smt");
        assert_eq!(redact("host=/tmp dbname=x"), "host=/tmp dbname=x");
    }

    #[test]
    fn redacts_passwords_with_at_signs_and_in_the_query() {
        assert_eq!(
            redact("postgresql://smt:p@ss/w@rd@db/smt?sslmode=disable"),
            "postgresql://smt@db/smt?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://smt@db/smt?password=s3cret&application_name=x"),
            "postgresql://smt@db/smt?application_name=x"
        );
        assert_eq!(
            redact("postgresql:///smt?host=/run/pg&Password=s3cret"),
            "postgresql:///smt?host=/run/pg"
        );
    }

    #[test]
    fn redacts_key_value_passwords() {
        for (given, shown) in [
            (
                "host=db user=smt password=s3cret dbname=smt",
                "host=db user=smt dbname=smt",
            ),
            (
                "host=db password = 's3 cr\\'et' dbname=smt",
                "host=db dbname=smt",
            ),
            ("password=s3cret", ""),
            ("host=db PASSWORD=s3cret sslpassword=s3cret", "host=db"),
            ("host=db password=", "host=db"),
        ] {
            let got = redact(given);
            assert_eq!(got, shown, "{given}");
            assert!(!got.contains("s3"), "{given}: {got}");
        }
    }
}
