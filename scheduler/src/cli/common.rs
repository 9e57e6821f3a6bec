//! Options and set-up shared by the database commands.

use std::path::PathBuf;

use chrono::NaiveDate;
use std::sync::Arc;

use anyhow::{Context, Result};
use smt_core::EsiidMode;
use smt_scheduler::config::{Config, DEFAULT_DOWNLOAD_DIR, PASSPHRASE_ENV};
use smt_scheduler::pgp::{self, Keyring};
use smt_scheduler::sources::Settings;

#[derive(clap::Args, Clone)]
pub struct DbArgs {
    /// PostgreSQL URL (else DATABASE_URL, else database_url in the config file).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// TOML configuration file (else SMT_CONFIG); `smt run --help` lists its keys.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

impl DbArgs {
    pub fn load(&self) -> Result<(Config, String)> {
        let config = Config::load(self.config.as_deref())?;
        let url = config.database_url(self.database_url.as_deref())?;
        Ok((config, url))
    }
}

/// The decryption keyring from `--pgp-key` or the config; passphrase from SMT_PGP_PASSPHRASE or
/// the configured passphrase file, never from the command line.
pub fn keyring(config: &Config, key_flag: Option<&PathBuf>) -> Result<Option<Arc<Keyring>>> {
    let Some(key) = key_flag.or(config.pgp.secret_key.as_ref()) else {
        return Ok(None);
    };
    let passphrase =
        pgp::passphrase_from_env_or_file(PASSPHRASE_ENV, config.pgp.passphrase_file.as_deref());
    let ring = Keyring::from_files(key, passphrase.as_deref(), config.pgp.signer_key.as_deref())
        .with_context(|| format!("cannot use the secret key {}", key.display()))?;
    Ok(Some(Arc::new(ring)))
}

pub fn settings(config: &Config, key_flag: Option<&PathBuf>, lenient: bool) -> Result<Settings> {
    Ok(Settings {
        keyring: keyring(config, key_flag)?,
        esiid_mode: EsiidMode::lenient_if(lenient || config.lenient_esiid),
        keep_deliveries: config.keep_deliveries,
        download_dir: config
            .download_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DOWNLOAD_DIR)),
        retention: config.retention(),
        ftps: config.ftps.clone(),
        import_dirs: config.import_dirs.clone(),
        sftp: config.sftp.clone(),
        smt_api: config.smt_api.clone(),
        soap_api: config.soap_api.clone(),
    })
}

/// `word` as one shell word for a command we suggest (`smt jobs enable NAME`): quoted when it
/// holds anything but letters, digits and `-_.,:/@%+=`, then made printable (a name with
/// control characters is shown escaped, not run).
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/@%+=".contains(c));
    let quoted = if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    };
    smt_scheduler::text::printable(&quoted).into_owned()
}

/// A header row, then every row (all columns text, NULL printed empty, every cell printable),
/// tab-separated; `(none)` when there are no rows.
pub fn print_table(header: &[&str], rows: &[tokio_postgres::Row]) {
    println!("{}", header.join("\t"));
    if rows.is_empty() {
        println!("(none)");
    }
    for r in rows {
        let cells: Vec<String> = (0..r.len())
            .map(|i| {
                let cell: Option<String> = r.get(i);
                smt_scheduler::text::printable(cell.as_deref().unwrap_or("")).into_owned()
            })
            .collect();
        println!("{}", cells.join("\t"));
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("smt-ftps"), "smt-ftps");
        assert_eq!(shell_word("my job"), "'my job'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("a\u{1b}[31m"), "'a\\u{1b}[31m'");
    }
}

/// One meter, a range of operating days and the file to write: what `smt plot` and
/// `smt export` take.
#[derive(clap::Args)]
pub struct MeterDays {
    #[command(flatten)]
    pub db: DbArgs,
    /// The meter's ESIID.
    #[arg(long)]
    pub esiid: String,
    /// First operating day (YYYY-MM-DD, Central local date).
    #[arg(long)]
    pub from: NaiveDate,
    /// Last operating day, included.
    #[arg(long)]
    pub to: NaiveDate,
    /// The file to write (replaced if it exists).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

impl MeterDays {
    /// Every operating day of the range, in order.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.from
            .iter_days()
            .take_while(|d| *d <= self.to)
            .collect()
    }
}
