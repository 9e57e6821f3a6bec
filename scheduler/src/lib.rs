//! The `smt` sidecar as a library: what the `smt` binary runs, and what its tests reach.
//!
//! - [`transport`]: list and fetch remote files (FTPS now, SFTP next) behind one small trait.
//! - [`pgp`], [`unzip`]: OpenPGP decryption and zip members of SMT deliveries.
//! - [`ingest`]: one local file (encrypted, zipped or plain) into the database, exactly once.
//! - [`staging`]: a report's rows parsed on the worker, for a binary COPY into the database.
//! - [`jobs`]: cron jobs kept in Postgres, claimed with SKIP LOCKED under a lease.
//! - [`smt_api`], [`requests`], [`meters`]: today's SMT JSON API, the job that sends
//!   `smt.request` rows through it, and the agreement steps of meters enrolled from SQL.
//! - [`config`], [`db`], [`tls`]: configuration (TOML + environment), database connections, TLS.
//! - [`logging`], [`text`]: what may be logged (no secrets, no file contents) and printed (no
//!   control characters from outside).

pub mod config;
pub mod db;
pub mod ingest;
pub mod jobs;
pub mod logging;
pub mod meters;
pub mod odr;
pub mod pgp;
pub mod requests;
pub mod smt_api;
pub mod soap_api;
pub mod sources;
pub mod staging;
pub mod text;
pub mod tls;
pub mod transport;
pub mod unzip;
