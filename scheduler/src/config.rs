//! Configuration: a TOML file (`--config FILE` or `SMT_CONFIG`) plus environment variables.
//! Secrets never live here: the FTPS password and the PGP passphrase come from the environment
//! (or a passphrase file), named by the configuration.
//!
//! ```toml
//! database_url = "postgresql://smt@localhost/smt"   # or DATABASE_URL / --database-url
//! download_dir = "/var/lib/smt/downloads"
//! lenient_esiid = false
//! [worker]
//! poll_seconds = 5
//! lease_seconds = 60
//! [pgp]
//! secret_key = "/etc/smt/rep-secret-key.asc"
//! passphrase_file = "/etc/smt/passphrase"          # or SMT_PGP_PASSPHRASE
//! signer_key = "/etc/smt/smt-signing-key.asc"      # optional: verify SMT's signature
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

pub const PASSPHRASE_ENV: &str = "SMT_PGP_PASSPHRASE";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database_url: Option<String>,
    pub download_dir: Option<PathBuf>,
    #[serde(default)]
    pub lenient_esiid: bool,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub pgp: PgpConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// How often an idle worker looks for due jobs (a DBA's UPDATE is seen within this time).
    pub poll_seconds: u64,
    /// How long a claimed run is held without a heartbeat before another worker takes it over.
    pub lease_seconds: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_seconds: 5,
            lease_seconds: 60,
        }
    }
}

impl WorkerConfig {
    pub fn poll(&self) -> Duration {
        Duration::from_secs(self.poll_seconds.max(1))
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds.max(3))
    }
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PgpConfig {
    pub secret_key: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
    pub signer_key: Option<PathBuf>,
}

impl Config {
    /// The file named by `path`, else by `SMT_CONFIG`, else the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let from_env = std::env::var_os("SMT_CONFIG").map(PathBuf::from);
        let Some(path) = path.map(Path::to_path_buf).or(from_env) else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("bad config {}", path.display()))
    }

    /// `--database-url`, else `DATABASE_URL`, else the config file.
    pub fn database_url(&self, flag: Option<&str>) -> Result<String> {
        flag.map(str::to_owned)
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .or_else(|| self.database_url.clone())
            .context("no database: pass --database-url, set DATABASE_URL, or put database_url in the config file")
    }
}
