//! Logging for the `smt` binary: `SMT_LOG` (an `EnvFilter`, default `info`) to stderr, with the
//! `log` records of dependencies forwarded into it, except the ones that carry secrets or data,
//! at whatever level is asked for:
//!
//! - suppaftp logs the FTP control connection at TRACE (`CC OUT: PASS <password>`): its TRACE
//!   records are dropped.
//! - tokio-postgres logs every statement's parameters at DEBUG (the whole decrypted report, as
//!   bytes, for `smt.load`): its records below INFO are dropped.
//! - russh and russh-sftp log packets at DEBUG and TRACE (authentication and file data among
//!   them), reqwest and hyper requests: their records below INFO are dropped too, so neither an
//!   SSH password or key passphrase, nor the SMT API password or bearer token, nor a reply's data
//!   reaches the log. Those that log through `tracing` are capped by [`init`]'s directives.
//!
//! Our own events never hold a password (`FtpsConfig`'s `Debug` redacts it) or file contents.

use tracing_log::LogTracer;
use tracing_subscriber::EnvFilter;

/// Whether a `log` record of `target` at `level` may be forwarded.
pub fn forwarded(target: &str, level: log::Level) -> bool {
    let crate_name = target.split("::").next().unwrap_or(target);
    match crate_name {
        // The control-connection transcript, the password included.
        "suppaftp" => level <= log::Level::Debug,
        // Statements with their parameters: report bytes, anything a query binds.
        "tokio_postgres" | "postgres" => level <= log::Level::Info,
        // SSH and SFTP packets, HTTP requests: credentials and data.
        "russh" | "russh_sftp" | "reqwest" | "hyper" | "hyper_util" => level <= log::Level::Info,
        _ => true,
    }
}

/// `log` records through [`forwarded`] into tracing.
struct Forward(LogTracer);

impl log::Log for Forward {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        forwarded(metadata.target(), metadata.level()) && self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if forwarded(record.target(), record.level()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Installs the subscriber (colours with `ansi`) and the `log` bridge. Call once, first thing.
pub fn init(ansi: bool) {
    let mut filter = EnvFilter::try_from_env("SMT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The same crates' `tracing` events (those not through `log`), capped whatever SMT_LOG says.
    for quiet in [
        "russh=info",
        "russh_sftp=info",
        "reqwest=info",
        "hyper=info",
        "hyper_util=info",
    ] {
        filter = filter.add_directive(quiet.parse().expect("a valid directive"));
    }
    // No hint (span-scoped directives): anything may be enabled somewhere.
    let max = match filter.max_level_hint().map(|l| l.into_level()) {
        None => log::LevelFilter::Trace,
        Some(None) => log::LevelFilter::Off,
        Some(Some(level)) => match level {
            tracing::Level::ERROR => log::LevelFilter::Error,
            tracing::Level::WARN => log::LevelFilter::Warn,
            tracing::Level::INFO => log::LevelFilter::Info,
            tracing::Level::DEBUG => log::LevelFilter::Debug,
            tracing::Level::TRACE => log::LevelFilter::Trace,
        },
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_env_filter(filter)
        .finish();
    // Not `init()`: it would install a `LogTracer` of its own, forwarding everything.
    if tracing::subscriber::set_global_default(subscriber).is_ok()
        && log::set_boxed_logger(Box::new(Forward(LogTracer::new()))).is_ok()
    {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::forwarded;
    use log::Level;

    #[test]
    fn secrets_and_data_of_dependencies_are_not_forwarded() {
        assert!(!forwarded("suppaftp::sync_ftp::control", Level::Trace));
        assert!(forwarded("suppaftp::sync_ftp", Level::Debug));
        assert!(!forwarded("tokio_postgres::query", Level::Debug));
        assert!(!forwarded("tokio_postgres::prepare", Level::Trace));
        assert!(forwarded("tokio_postgres::connection", Level::Info));
        assert!(forwarded("rustls::client::hs", Level::Trace));
        assert!(forwarded("suppaftpx", Level::Trace));
        assert!(!forwarded("russh::client", Level::Debug));
        assert!(!forwarded("russh_sftp::client", Level::Trace));
        assert!(!forwarded("reqwest::connect", Level::Debug));
        assert!(!forwarded("hyper_util::client", Level::Trace));
        assert!(forwarded("russh::client", Level::Warn));
    }
}
