//! Configuration: a TOML file (`--config FILE` or `SMT_CONFIG`) plus environment variables.
//!
//! The file belongs to whoever runs the worker, and it alone says what a worker may reach: the
//! FTPS sites (host, user, the environment variable holding the password, CA, client
//! certificate and key, TLS switches, where downloads go) and the local directories jobs may
//! import from, each under a name. A job in `smt.job` names one of them (`{"source": "smt-ftps"}`)
//! and can name nothing else: not a host, a path, an environment variable or a TLS switch (see
//! [`crate::sources`]). Secrets never live here either: the FTPS password and the PGP passphrase
//! come from the environment (or a passphrase file), named by this file.
//!
//! ```toml
//! database_url = "postgresql://smt@localhost/smt"   # or DATABASE_URL / --database-url
//! download_dir = "/var/lib/smt/downloads"           # downloads go under it, one directory per site
//! retention_days = 30                               # loaded or quarantined downloads are deleted after
//! lenient_esiid = false
//! keep_deliveries = "database"                      # or "none": each delivery as received, in smt.delivery_content
//!
//! [worker]
//! poll_seconds = 5
//! lease_seconds = 60
//!
//! [pgp]
//! secret_key = "/etc/smt/rep-secret-key.asc"
//! passphrase_file = "/etc/smt/passphrase"          # or SMT_PGP_PASSPHRASE
//! signer_key = "/etc/smt/smt-signing-key.asc"      # optional: verify SMT's signature
//!
//! [ftps.smt-ftps]                                  # an FTPS site, for ftps_fetch jobs
//! host = "ftp.smartmetertexas.example"
//! port = 21                                        # default 21
//! user = "REPUSER"
//! password_env = "SMT_FTPS_PASSWORD"               # default SMT_FTPS_PASSWORD
//! ca_file = "/etc/smt/ca.pem"                      # default: the system's trusted roots
//! client_cert = "/etc/smt/client.pem"
//! client_key = "/etc/smt/client.key"
//! # insecure_skip_verify = true                    # never in production; logged at warn
//! # download_dir = "/var/lib/smt/smt-ftps"         # default: under the top-level download_dir
//! # timeout_seconds = 60
//!
//! [sftp.smt-sftp]                                  # an SFTP site (SMT since 2025-09-13), for sftp_fetch jobs
//! host = "ftp.smartmetertexas.biz"
//! port = 22                                        # default 22
//! user = "REPUSER"
//! key_file = "/etc/smt/id_ed25519"                 # or password_env = "SMT_SFTP_PASSWORD"
//! # key_passphrase_env = "SMT_SFTP_KEY_PASSPHRASE" # when the key has a passphrase
//! known_hosts = "/etc/smt/known_hosts"             # default ~/.ssh/known_hosts; the host key must be in it
//! # accept_any_host_key = true                     # never in production; logged at warn
//!
//! [import_dirs]                                    # local directories, for import_dir jobs
//! inbox = "/srv/smt/inbox"
//!
//! [smt_api.smt]                                    # today's SMT JSON API, for smt_api jobs
//! base_url = "https://services.smartmetertexas.net"
//! service_id = "MYSERVICEID"                       # the API service id (requestorID)
//! password_env = "SMT_API_PASSWORD"                # default SMT_API_PASSWORD
//! requester_type = "CSP"                           # CSP (third party, default), REP or RES
//! requester_authentication_id = "123456789"        # the company's DUNS
//! # ca_file = "/etc/smt/api-ca.pem"                # default: the system's trusted roots
//! # min_interval_ms = 1000                         # at most one call a second (default)
//! # max_days_per_call = 31
//! # reading_type = "C"                             # C consumption (default); "A" both (not confirmed)
//! # version = "L"                                  # L latest (default), A all versions
//! # not_yet_retry_minutes = 120                    # when SMT has no data yet
//!
//! [soap_api.smt-soap]                              # the seeds' SMT SOAP API, for soap_api jobs
//! url = "https://services.smartmetertexas.example/meterusage"
//! user_id = "REPUSER"                              # userId in the request
//! user_type = "REP"                                # userType (default REP)
//! username = "REP_SYSTEM_ACCOUNT"                  # the WS-Security UsernameToken's Username
//! password_env = "SMT_SOAP_PASSWORD"               # its password, if SMT gave one
//! client_cert = "/etc/smt/api-client.pem"          # mutual TLS
//! client_key = "/etc/smt/api-client.key"
//! ca_file = "/etc/smt/api-ca.pem"
//! # file_url_via = "https"                         # a file URL answered at once: fetched over HTTPS
//! #                                                # (default) or "ftps": it lands on the FTPS site
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

pub const PASSPHRASE_ENV: &str = "SMT_PGP_PASSPHRASE";

/// Where downloads go when the configuration names no `download_dir` (relative to the working
/// directory).
pub const DEFAULT_DOWNLOAD_DIR: &str = "smt-downloads";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database_url: Option<String>,
    /// Downloads of every FTPS site go under it (`<download_dir>/<site's source>/...`), unless the
    /// site names its own.
    pub download_dir: Option<PathBuf>,
    /// Days a loaded or quarantined download is kept (by its file's modification time, which is
    /// when it was downloaded) before the worker deletes it.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    #[serde(default)]
    pub lenient_esiid: bool,
    /// Where the raw record of each loaded delivery (its bytes as received) is kept.
    #[serde(default)]
    pub keep_deliveries: KeepDeliveries,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub pgp: PgpConfig,
    /// FTPS sites by name: what an ftps_fetch job's `source` names.
    #[serde(default)]
    pub ftps: BTreeMap<String, FtpsSite>,
    /// Local directories by name: what an import_dir job's `source` names.
    #[serde(default)]
    pub import_dirs: BTreeMap<String, PathBuf>,
    /// SFTP sites by name: what an sftp_fetch job's `source` names.
    #[serde(default)]
    pub sftp: BTreeMap<String, SftpSite>,
    /// SMT JSON API accounts by name: what an smt_api job's `source` names.
    #[serde(default)]
    pub smt_api: BTreeMap<String, SmtApiSite>,
    /// SMT SOAP API accounts by name: what a soap_api job's `source` names.
    #[serde(default)]
    pub soap_api: BTreeMap<String, SoapApiSite>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            download_dir: None,
            retention_days: default_retention_days(),
            lenient_esiid: false,
            keep_deliveries: KeepDeliveries::default(),
            worker: WorkerConfig::default(),
            pgp: PgpConfig::default(),
            ftps: BTreeMap::new(),
            import_dirs: BTreeMap::new(),
            sftp: BTreeMap::new(),
            smt_api: BTreeMap::new(),
            soap_api: BTreeMap::new(),
        }
    }
}

/// Where a loaded delivery's bytes, as received, are kept: the raw record of what SMT sent, off
/// the load's critical path (the reports' rows are loaded first, the delivery kept after).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepDeliveries {
    /// In `smt.delivery_content` (stored as received: a delivery is compressed already).
    #[default]
    Database,
    /// Nowhere but the download directory, for `retention_days`.
    None,
}

fn default_retention_days() -> u32 {
    30
}

/// One FTPS site, as the worker's owner configured it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtpsSite {
    pub host: String,
    #[serde(default = "default_ftps_port")]
    pub port: u16,
    pub user: String,
    /// Environment variable holding the password (never the password itself).
    #[serde(default = "default_password_env")]
    pub password_env: String,
    /// PEM file of the CA(s) the server certificate must chain to; none: the system's roots.
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. Only for tests and emergencies; logged at warn.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Where this site's downloads go; default: `<download_dir>/<source>`.
    pub download_dir: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_ftps_port() -> u16 {
    21
}
fn default_password_env() -> String {
    "SMT_FTPS_PASSWORD".into()
}
fn default_timeout() -> u64 {
    60
}

/// One SFTP site, as the worker's owner configured it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpSite {
    pub host: String,
    #[serde(default = "default_sftp_port")]
    pub port: u16,
    pub user: String,
    /// An OpenSSH private key file; else `password_env`.
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the key's passphrase, if it has one.
    pub key_passphrase_env: Option<String>,
    /// Environment variable holding the password, when there is no key_file.
    pub password_env: Option<String>,
    /// OpenSSH known_hosts file the server's key must be in; default `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Accept any host key. Only for tests and emergencies; logged at warn.
    #[serde(default)]
    pub accept_any_host_key: bool,
    /// Where this site's downloads go; default: `<download_dir>/<source>`.
    pub download_dir: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

impl SftpSite {
    /// The known_hosts file the host key is checked against.
    pub fn known_hosts_file(&self) -> Result<PathBuf> {
        match &self.known_hosts {
            Some(path) => Ok(path.clone()),
            None => std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".ssh/known_hosts"))
                .context("no known_hosts configured and no HOME to find ~/.ssh/known_hosts in"),
        }
    }
}

fn default_sftp_port() -> u16 {
    22
}

/// One account of today's SMT JSON API, as the worker's owner configured it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtApiSite {
    /// Scheme, host and port of the API (calls go to `<base_url>/v2/...`).
    pub base_url: String,
    /// The API service id: the token's username and every body's `requestorID`.
    pub service_id: String,
    /// Environment variable holding the password (never the password itself).
    #[serde(default = "default_api_password_env")]
    pub password_env: String,
    /// `requesterType`: CSP (third party), REP, RES.
    #[serde(default = "default_requester_type")]
    pub requester_type: String,
    /// `requesterAuthenticationID`: the company's DUNS.
    pub requester_authentication_id: String,
    /// PEM file of the CA(s) the server certificate must chain to; none: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Only for tests and emergencies; logged at warn.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Least time between two calls: SMT blocks clients that poll too fast.
    #[serde(default = "default_min_interval_ms")]
    pub min_interval_ms: u64,
    /// Days asked for in one call; a longer request is split.
    #[serde(default = "default_max_days_per_call")]
    pub max_days_per_call: u32,
    /// `readingType`: C consumption; A both channels (not confirmed by SMT).
    #[serde(default = "default_reading_type")]
    pub reading_type: String,
    /// `version`: L latest, A all versions.
    #[serde(default = "default_version")]
    pub version: String,
    /// How long a request waits when SMT has no data yet.
    #[serde(default = "default_not_yet_retry_minutes")]
    pub not_yet_retry_minutes: u64,
    /// How SMT answers 15-minute requests: `API` inline (default), or `FTP`: it accepts the
    /// request with a correlationId and later drops the file on the SFTP site, where an
    /// sftp_fetch job loads it and the request is fulfilled.
    #[serde(default = "default_delivery_mode")]
    pub delivery_mode: String,
    /// `PUCTRORNumber` sent with a new agreement (a REP's PUCT certificate number), if any.
    pub puct_ror_number: Option<String>,
    /// How often an agreement awaiting the customer is checked.
    #[serde(default = "default_agreement_poll_minutes")]
    pub agreement_poll_minutes: u64,
    /// How active meters are kept current: `reads` (each new day requested through the API) or
    /// `subscription` (SMT delivers each new day as files on the SFTP site, loaded by an
    /// sftp_fetch job; missing days are still requested).
    #[serde(default = "default_keep_current")]
    pub keep_current: KeepCurrent,
    /// `subscriptionType` of the subscriptions: CSPENROLL (a third party's enrolled meters,
    /// default) or REPENROLL (a REP's).
    #[serde(default = "default_subscription_type")]
    pub subscription_type: String,
    /// `reportFormat` of the files a subscription delivers: CSV (default) or LSE.
    #[serde(default = "default_subscription_format")]
    pub subscription_format: String,
    /// This account's share of SMT's 3,000 on-demand reads a day per TDSP (across all callers).
    #[serde(default = "default_odr_daily_limit")]
    pub odr_daily_limit: i32,
    /// First wait before an on-demand read is polled (`/v2/odrstatus/`); doubled per poll up to
    /// 30 minutes.
    #[serde(default = "default_odr_poll_seconds")]
    pub odr_poll_seconds: u64,
    /// Where this account's replies are kept as files; default: `<download_dir>/<source>`.
    pub download_dir: Option<PathBuf>,
}

/// An account of the seeds' SMT SOAP ad hoc usage API (`[soap_api.NAME]`).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SoapApiSite {
    /// The endpoint requests are POSTed to.
    pub url: String,
    /// `userId` of each request.
    pub user_id: String,
    /// `userType` of each request: REP, CSP, RES.
    #[serde(default = "default_soap_user_type")]
    pub user_type: String,
    /// The WS-Security UsernameToken's Username.
    pub username: String,
    /// Environment variable holding the UsernameToken's password, when SMT gave the account one.
    pub password_env: Option<String>,
    /// Client certificate and key (PEM) for mutual TLS, as SMT issued them.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Environment variable holding a bearer token sent instead of (or beside) the client
    /// certificate (SMT's SOAP calls took JWTs after 2025; not confirmed in detail).
    pub bearer_token_env: Option<String>,
    /// PEM file of the CA(s) the server certificate must chain to; none: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Only for tests and emergencies; logged at warn.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Least time between two calls.
    #[serde(default = "default_min_interval_ms")]
    pub min_interval_ms: u64,
    /// `reportFormat`: CSV (default) or LSE.
    #[serde(default = "default_subscription_format")]
    pub report_format: String,
    /// How a file URL answered at once is had: `https` (GET from the endpoint's server, or
    /// `file_url_base`, with the same TLS identity; default) or `ftps` (SMT puts the file on the
    /// FTPS site, where an ftps_fetch job loads it: the request waits for a delivery of its name).
    #[serde(default = "default_file_url_via")]
    pub file_url_via: String,
    /// Scheme, host and port file URLs are relative to; default the endpoint's.
    pub file_url_base: Option<String>,
    /// Where this account's files are kept; default: `<download_dir>/<source>`.
    pub download_dir: Option<PathBuf>,
}

impl SoapApiSite {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.max(1))
    }

    pub fn min_interval(&self) -> Duration {
        Duration::from_millis(self.min_interval_ms)
    }
}

fn default_soap_user_type() -> String {
    "REP".into()
}
fn default_file_url_via() -> String {
    "https".into()
}

/// How active meters are kept current (`[smt_api.NAME] keep_current`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepCurrent {
    Reads,
    Subscription,
}

impl SmtApiSite {
    pub fn odr_first_poll(&self) -> Duration {
        Duration::from_secs(self.odr_poll_seconds.max(1))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.max(1))
    }

    pub fn min_interval(&self) -> Duration {
        Duration::from_millis(self.min_interval_ms)
    }

    pub fn not_yet_retry(&self) -> Duration {
        Duration::from_secs(self.not_yet_retry_minutes.max(1) * 60)
    }

    /// Zero minutes (tests) checks at every run.
    pub fn agreement_poll(&self) -> Duration {
        Duration::from_secs(self.agreement_poll_minutes * 60)
    }
}

fn default_api_password_env() -> String {
    "SMT_API_PASSWORD".into()
}
fn default_requester_type() -> String {
    "CSP".into()
}
fn default_min_interval_ms() -> u64 {
    1000
}
fn default_max_days_per_call() -> u32 {
    31
}
fn default_reading_type() -> String {
    "C".into()
}
fn default_version() -> String {
    "L".into()
}
fn default_not_yet_retry_minutes() -> u64 {
    120
}
fn default_delivery_mode() -> String {
    "API".into()
}
fn default_agreement_poll_minutes() -> u64 {
    60
}
fn default_keep_current() -> KeepCurrent {
    KeepCurrent::Reads
}
fn default_subscription_type() -> String {
    "CSPENROLL".into()
}
fn default_subscription_format() -> String {
    "CSV".into()
}
fn default_odr_daily_limit() -> i32 {
    3000
}
fn default_odr_poll_seconds() -> u64 {
    60
}

/// Either setting may be left out (its default is used).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
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

/// One key of the configuration file, for `smt run --help`.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    pub key: &'static str,
    pub about: &'static str,
}

/// One table of the configuration file (`""` for the top level) and its keys.
#[derive(Debug, Clone, Copy)]
pub struct TableDoc {
    /// `""`, `[worker]`, `[pgp]`, `[ftps.NAME]` or `[import_dirs]`.
    pub table: &'static str,
    pub about: &'static str,
    pub keys: &'static [KeyDoc],
}

const fn key(key: &'static str, about: &'static str) -> KeyDoc {
    KeyDoc { key, about }
}

/// Every key of the configuration file with what it does: the one list `smt run --help` prints.
/// Kept equal to the fields of [`Config`], [`WorkerConfig`], [`PgpConfig`] and [`FtpsSite`] by
/// the test `every_config_field_is_documented` (which reads the fields from the structs).
pub const CONFIG_DOC: &[TableDoc] = &[
    TableDoc {
        table: "",
        about: "top level",
        keys: &[
            key(
                "database_url",
                "PostgreSQL URL; --database-url and DATABASE_URL take precedence",
            ),
            key(
                "download_dir",
                "where downloads go, one private directory per FTPS site (default smt-downloads, \
                 relative to the working directory)",
            ),
            key(
                "retention_days",
                "days a loaded or quarantined download is kept before it is deleted (default 30)",
            ),
            key(
                "lenient_esiid",
                "accept the LSE spec's ESIIDs (1-64 letters or digits), not only 17 or 22 digits \
                 (default false)",
            ),
            key(
                "keep_deliveries",
                "\"database\" (default) keeps each loaded delivery as received in the database \
                 (smt.delivery_bytes reads it back); \"none\" keeps it only in the download \
                 directory for retention_days",
            ),
            key("worker", "the [worker] table"),
            key("pgp", "the [pgp] table"),
            key("ftps", "the [ftps.NAME] tables"),
            key("import_dirs", "the [import_dirs] table"),
            key("sftp", "the [sftp.NAME] tables"),
            key("smt_api", "the [smt_api.NAME] tables"),
            key("soap_api", "the [soap_api.NAME] tables"),
        ],
    },
    TableDoc {
        table: "[worker]",
        about: "how `smt run` polls and holds runs",
        keys: &[
            key(
                "poll_seconds",
                "how often an idle worker looks for due jobs (default 5)",
            ),
            key(
                "lease_seconds",
                "how long a claimed run is held without a heartbeat before another worker takes \
                 it over (default 60)",
            ),
        ],
    },
    TableDoc {
        table: "[pgp]",
        about: "decrypting deliveries",
        keys: &[
            key(
                "secret_key",
                "your OpenPGP secret key file (--pgp-key overrides it); its passphrase comes from \
                 SMT_PGP_PASSPHRASE or passphrase_file",
            ),
            key("passphrase_file", "a file holding the key's passphrase"),
            key(
                "signer_key",
                "SMT's public signing key: when set, every delivery must carry its good signature",
            ),
        ],
    },
    TableDoc {
        table: "[ftps.NAME]",
        about: "an FTPS site, named by ftps_fetch jobs ({\"source\": \"NAME\"})",
        keys: &[
            key("host", "server host name (required)"),
            key("port", "server port (default 21)"),
            key("user", "login user (required)"),
            key(
                "password_env",
                "the environment variable holding the password, never the password itself \
                 (default SMT_FTPS_PASSWORD)",
            ),
            key(
                "ca_file",
                "PEM file of the CA(s) the server certificate must chain to (default: the system's \
                 trusted roots)",
            ),
            key("client_cert", "PEM client certificate, for sites that require one"),
            key("client_key", "PEM private key of the client certificate"),
            key(
                "insecure_skip_verify",
                "accept any server certificate: tests and emergencies only, logged as a warning \
                 (default false)",
            ),
            key(
                "download_dir",
                "where this site's downloads go (default: <download_dir>/<source>)",
            ),
            key(
                "timeout_seconds",
                "connect and transfer timeout (default 60)",
            ),
        ],
    },
    TableDoc {
        table: "[sftp.NAME]",
        about: "an SFTP site (SMT since 2025-09-13), named by sftp_fetch jobs ({\"source\": \"NAME\"})",
        keys: &[
            key("host", "server host name (required)"),
            key("port", "server port (default 22)"),
            key("user", "login user (required)"),
            key("key_file", "an OpenSSH private key file to log in with"),
            key(
                "key_passphrase_env",
                "the environment variable holding the key's passphrase, if it has one",
            ),
            key(
                "password_env",
                "the environment variable holding the password, when there is no key_file, never \
                 the password itself",
            ),
            key(
                "known_hosts",
                "OpenSSH known_hosts file the server's host key must be in (default \
                 ~/.ssh/known_hosts)",
            ),
            key(
                "accept_any_host_key",
                "accept any host key: tests and emergencies only, logged as a warning (default \
                 false)",
            ),
            key(
                "download_dir",
                "where this site's downloads go (default: <download_dir>/<source>)",
            ),
            key("timeout_seconds", "connect and request timeout (default 60)"),
        ],
    },
    TableDoc {
        table: "[smt_api.NAME]",
        about: "an account of today's SMT JSON API, named by smt_api jobs ({\"source\": \"NAME\"})",
        keys: &[
            key(
                "base_url",
                "scheme, host and port of the API, e.g. https://services.smartmetertexas.net \
                 (required)",
            ),
            key("service_id", "the API service id (required)"),
            key(
                "password_env",
                "the environment variable holding the service id's password, never the password \
                 itself (default SMT_API_PASSWORD)",
            ),
            key("requester_type", "CSP (third party, default), REP or RES"),
            key(
                "requester_authentication_id",
                "your company's DUNS number (required)",
            ),
            key(
                "ca_file",
                "PEM file of the CA(s) the server certificate must chain to (default: the system's \
                 trusted roots)",
            ),
            key(
                "insecure_skip_verify",
                "accept any server certificate: tests and emergencies only, logged as a warning \
                 (default false)",
            ),
            key("timeout_seconds", "connect and call timeout (default 60)"),
            key(
                "min_interval_ms",
                "least time between two calls: SMT blocks clients that poll too fast (default 1000)",
            ),
            key(
                "max_days_per_call",
                "days asked for in one call; a longer request is split (default 31)",
            ),
            key(
                "reading_type",
                "C consumption (default); A both channels (not confirmed by SMT)",
            ),
            key("version", "L the latest version of each day (default), A all versions"),
            key(
                "not_yet_retry_minutes",
                "how long a request waits when SMT has no data yet (default 120)",
            ),
            key(
                "delivery_mode",
                "API (default): 15-minute data answered inline; FTP: SMT drops the file on the SFTP \
                 site later (an sftp_fetch job loads it and fulfils the request)",
            ),
            key(
                "puct_ror_number",
                "PUCTRORNumber sent with new agreements (a REP's PUCT number), if any",
            ),
            key(
                "agreement_poll_minutes",
                "how often an agreement awaiting the customer is checked (default 60)",
            ),
            key(
                "keep_current",
                "how active meters get each new day: \"reads\" (requested through the API, default) \
                 or \"subscription\" (SMT delivers files over SFTP; run an sftp_fetch job too)",
            ),
            key(
                "subscription_type",
                "subscriptionType: CSPENROLL (third party, default) or REPENROLL",
            ),
            key(
                "subscription_format",
                "reportFormat of subscribed files: CSV (default) or LSE",
            ),
            key(
                "odr_daily_limit",
                "on-demand reads sent a day per TDSP, at most (default 3000, SMT's cap for all callers)",
            ),
            key(
                "odr_poll_seconds",
                "first wait before an on-demand read is polled, doubled up to 30 minutes (default 60)",
            ),
            key(
                "download_dir",
                "where this account's replies are kept as files (default: <download_dir>/<source>)",
            ),
        ],
    },
    TableDoc {
        table: "[soap_api.NAME]",
        about: "an account of the seeds' SMT SOAP ad hoc usage API, named by soap_api jobs \
                ({\"source\": \"NAME\"})",
        keys: &[
            key("url", "the endpoint requests are POSTed to (required)"),
            key("user_id", "userId of each request (required)"),
            key("user_type", "userType: REP (default), CSP or RES"),
            key("username", "the WS-Security UsernameToken's Username (required)"),
            key(
                "password_env",
                "environment variable holding the UsernameToken's password, if any",
            ),
            key("client_cert", "PEM client certificate for mutual TLS"),
            key("client_key", "PEM key of client_cert"),
            key(
                "bearer_token_env",
                "environment variable holding a bearer token to send (not confirmed by SMT)",
            ),
            key(
                "ca_file",
                "PEM CA(s) the server certificate must chain to (default: the system's roots)",
            ),
            key(
                "insecure_skip_verify",
                "accept any server certificate (never in production; logged at warn)",
            ),
            key("timeout_seconds", "per-call timeout (default 60)"),
            key("min_interval_ms", "least time between two calls (default 1000)"),
            key("report_format", "reportFormat: CSV (default) or LSE"),
            key(
                "file_url_via",
                "a file URL answered at once: \"https\" (fetched, default) or \"ftps\" (it lands \
                 on the FTPS site; an ftps_fetch job loads it)",
            ),
            key(
                "file_url_base",
                "scheme, host and port file URLs are relative to (default: the endpoint's)",
            ),
            key(
                "download_dir",
                "where this account's files are kept (default: <download_dir>/<source>)",
            ),
        ],
    },
    TableDoc {
        table: "[import_dirs]",
        about: "NAME = \"/path\": local directories, named by import_dir jobs ({\"source\": \"NAME\"})",
        keys: &[],
    },
];

/// Every config key with what it does, by table, as `smt run --help` prints it.
pub fn help() -> String {
    let width = CONFIG_DOC
        .iter()
        .flat_map(|t| t.keys.iter().map(|k| k.key.len()))
        .max()
        .unwrap_or(0);
    let mut out = String::from(
        "Configuration file (--config FILE, else SMT_CONFIG), TOML. Every key; unknown keys are \
         refused:\n",
    );
    for t in CONFIG_DOC {
        out.push('\n');
        if t.table.is_empty() {
            out.push_str(&format!("  ({})\n", t.about));
        } else {
            out.push_str(&format!("  {}  {}\n", t.table, t.about));
        }
        for k in t.keys {
            // Sub-tables are listed under their own heading.
            if t.table.is_empty() && CONFIG_DOC.iter().any(|s| table_name(s.table) == k.key) {
                continue;
            }
            out.push_str(&format!("    {:width$}  {}\n", k.key, k.about));
        }
    }
    out.push_str(
        "\nSecrets never go into the file: the FTPS, SFTP and SMT API passwords (and an SSH key's \
         passphrase) come from the variables the *_env keys name, the PGP passphrase from \
         SMT_PGP_PASSPHRASE or passphrase_file.\n",
    );
    out
}

/// `[ftps.NAME]` → `ftps`; `[worker]` → `worker`; `""` → `""`.
fn table_name(table: &str) -> &str {
    table
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split('.')
        .next()
        .unwrap_or("")
}

/// The field names serde's derive gives a struct `T` (what its TOML table accepts), read from
/// `T`'s own `Deserialize` impl: the list of keys cannot drift from the structs.
pub fn struct_fields<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
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
        Config::parse(&text).with_context(|| format!("bad config {}", path.display()))
    }

    /// The configuration in `text` (TOML).
    pub fn parse(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text)?;
        for (name, site) in &config.smt_api {
            if site.insecure_skip_verify {
                tracing::warn!(
                    site = %name,
                    server = %site.base_url,
                    "[smt_api.{name}] insecure_skip_verify = true: the server certificate is NOT verified"
                );
            }
        }
        for (name, site) in &config.soap_api {
            if site.insecure_skip_verify {
                tracing::warn!(
                    site = %name,
                    server = %site.url,
                    "[soap_api.{name}] insecure_skip_verify = true: the server certificate is NOT verified"
                );
            }
        }
        for (name, site) in &config.ftps {
            if site.insecure_skip_verify {
                tracing::warn!(
                    site = %name,
                    server = %site.host,
                    "[ftps.{name}] insecure_skip_verify = true: the server certificate is NOT verified"
                );
            }
        }
        Ok(config)
    }

    /// `--database-url`, else `DATABASE_URL`, else the config file.
    pub fn database_url(&self, flag: Option<&str>) -> Result<String> {
        flag.map(str::to_owned)
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .or_else(|| self.database_url.clone())
            .context("no database: pass --database-url, set DATABASE_URL, or put database_url in the config file")
    }

    /// Days a loaded or quarantined download is kept.
    pub fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.retention_days) * 24 * 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        let config = Config::parse(&example).unwrap_or_else(|e| panic!("{e:#}\n{example}"));
        assert_eq!(config.retention_days, 30);
        let site = &config.ftps["smt-ftps"];
        assert_eq!(
            (site.port, site.password_env.as_str()),
            (21, "SMT_FTPS_PASSWORD")
        );
        assert!(!site.insecure_skip_verify);
        assert_eq!(config.import_dirs["inbox"], Path::new("/srv/smt/inbox"));
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let example: String = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("README.md has a ```toml example")
            .to_owned();
        Config::parse(&example).unwrap_or_else(|e| panic!("{e:#}\n{example}"));
    }

    #[test]
    fn every_config_field_is_documented() {
        let doc = |table: &str| -> Vec<&str> {
            CONFIG_DOC
                .iter()
                .find(|t| t.table == table)
                .unwrap_or_else(|| panic!("CONFIG_DOC has no {table:?}"))
                .keys
                .iter()
                .map(|k| k.key)
                .collect()
        };
        for (table, fields) in [
            ("", struct_fields::<Config>()),
            ("[worker]", struct_fields::<WorkerConfig>()),
            ("[pgp]", struct_fields::<PgpConfig>()),
            ("[ftps.NAME]", struct_fields::<FtpsSite>()),
            ("[sftp.NAME]", struct_fields::<SftpSite>()),
            ("[smt_api.NAME]", struct_fields::<SmtApiSite>()),
            ("[soap_api.NAME]", struct_fields::<SoapApiSite>()),
        ] {
            assert!(!fields.is_empty(), "{table}: no fields read");
            let mut fields = fields.to_vec();
            let mut documented = doc(table);
            fields.sort_unstable();
            documented.sort_unstable();
            assert_eq!(documented, fields, "CONFIG_DOC {table:?} vs the struct");
        }
        let help = help();
        for t in CONFIG_DOC {
            assert!(help.contains(t.table), "{help}");
            for k in t.keys {
                assert!(help.contains(k.key), "{}: {help}", k.key);
            }
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e =
            Config::parse("[ftps.x]\nhost = \"h\"\nuser = \"u\"\npassword = \"p\"\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown field `password`"),
            "{e:#}"
        );
        let e = Config::parse("[pgp]\ndownload_dir = \"/x\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("download_dir"), "{e:#}");
    }
}
