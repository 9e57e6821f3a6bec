//! OpenPGP decryption of the report files Smart Meter Texas delivers (zipped, then encrypted to
//! the REP's public key, armored `.asc` or binary `.pgp`/`.gpg`).
//!
//! Backend: sequoia-openpgp with its pure-Rust crypto (`crypto-rust`), so no system library is
//! needed; `compression` is on because gpg wraps the payload in a ZIP/ZLIB/BZip2 compressed data
//! packet by default. RSA and ECC (Curve25519) keys made by GnuPG decrypt with it (see
//! `scheduler/tests/pgp_zip.rs`).
//!
//! Secrets: the passphrase comes from an environment variable or a file (see
//! [`passphrase_from_env_or_file`]), never from the database, and is never logged; no type here
//! prints key material or passphrases in `Debug`.
//!
//! Integrity: [`decrypt`] fails with an error when the message fails integrity protection
//! (MDC/AEAD), is truncated, or (with a signer configured) lacks a good signature. Sequoia holds
//! back up to 25 MiB of plaintext until those checks pass, but a larger message is streamed to
//! the writer before its end is verified. So **the caller must discard whatever was written to
//! `out` when `decrypt` returns an error**: write to a temporary file and use it only on `Ok`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::text::panic_message;
use sequoia_openpgp as openpgp;

use openpgp::cert::{Cert, CertParser};
use openpgp::crypto::{KeyPair, Password, SessionKey};
use openpgp::packet::{key, Key, PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageLayer, MessageStructure, VerificationError,
    VerificationHelper,
};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::types::SymmetricAlgorithm;
use openpgp::{KeyHandle, KeyID};

/// The environment variable the CLI reads the secret key's passphrase from by default.
pub const PASSPHRASE_ENV: &str = "SMT_PGP_PASSPHRASE";

/// What went wrong loading keys or decrypting a message.
#[derive(Debug, thiserror::Error)]
pub enum PgpError {
    /// A key file could not be read.
    #[error("cannot read key file {}: {source}", path.display())]
    KeyFileIo { path: PathBuf, source: io::Error },
    /// A key file is not OpenPGP key material.
    #[error("{} is not an OpenPGP key file: {reason}", path.display())]
    BadKeyFile { path: PathBuf, reason: String },
    /// The secret key file holds no secret key (e.g. it is a public key).
    #[error("{} holds no OpenPGP secret key", path.display())]
    NoSecretKey { path: PathBuf },
    /// The secret key is passphrase-protected and no passphrase was given.
    #[error("the secret key {key} is passphrase-protected and no passphrase was given")]
    PassphraseMissing { key: String },
    /// The passphrase does not unlock the secret key.
    #[error("wrong passphrase for the secret key {key}")]
    PassphraseWrong { key: String },
    /// The input is not OpenPGP data at all.
    #[error("input is not OpenPGP data")]
    NotOpenPgp,
    /// The input is OpenPGP data but not an encrypted message (e.g. signed only, or a key).
    #[error("input is OpenPGP data but not an encrypted message")]
    NotEncrypted,
    /// None of the message's recipients is a configured secret key.
    #[error(
        "the message is not encrypted to the configured secret key (recipients: {recipients})"
    )]
    NoMatchingKey { recipients: String },
    /// A signer is configured, and the message carries no signature.
    #[error("the message is not signed, but a signer key is configured")]
    SignatureMissing,
    /// A signer is configured, and no signature on the message is a good one by it.
    #[error("no good signature by the configured signer: {0}")]
    SignatureBad(String),
    /// The message is corrupt, truncated or was tampered with (integrity check failed).
    #[error("the OpenPGP message is corrupt or truncated: {0}")]
    Corrupt(String),
    /// Reading the input or writing the plaintext failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Why a secret key could not be unlocked at load time (reported when a message needs it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Locked {
    NoPassphrase,
    WrongPassphrase,
}

/// The secret keys to decrypt with, and optionally the certificates whose signature is required.
pub struct Keyring {
    /// Unlocked secret (sub)keys by key ID, with their certificate.
    keys: HashMap<KeyID, (Cert, Key<key::SecretParts, key::UnspecifiedRole>)>,
    /// Secret (sub)keys that stayed locked, and why.
    locked: HashMap<KeyID, Locked>,
    /// Certificates a message must carry a good signature from; empty: signatures not required.
    signers: Vec<Cert>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key IDs only: never secret material.
        let mut unlocked: Vec<String> = self.keys.keys().map(|k| k.to_hex()).collect();
        unlocked.sort();
        let mut locked: Vec<String> = self.locked.keys().map(|k| k.to_hex()).collect();
        locked.sort();
        let signers: Vec<String> = self
            .signers
            .iter()
            .map(|c| c.fingerprint().to_hex())
            .collect();
        f.debug_struct("Keyring")
            .field("keys", &unlocked)
            .field("locked", &locked)
            .field("signers", &signers)
            .finish()
    }
}

fn read_certs(path: &Path) -> Result<Vec<Cert>, PgpError> {
    let bytes = std::fs::read(path).map_err(|source| PgpError::KeyFileIo {
        path: path.to_owned(),
        source,
    })?;
    let bad = |reason: String| PgpError::BadKeyFile {
        path: path.to_owned(),
        reason,
    };
    let parsed = panic::catch_unwind(|| {
        CertParser::from_bytes(&bytes)?.collect::<openpgp::Result<Vec<Cert>>>()
    });
    let certs = match parsed {
        Ok(Ok(certs)) => certs,
        Ok(Err(e)) => return Err(bad(format!("{e:#}"))),
        Err(payload) => return Err(bad(format!("parser failed: {}", panic_message(&*payload)))),
    };
    if certs.is_empty() {
        return Err(bad("no OpenPGP certificate found".into()));
    }
    Ok(certs)
}

impl Keyring {
    /// Loads the secret key(s) in `secret_key` (armored or binary, as `gpg --export-secret-keys`
    /// writes), unlocking them with `passphrase` where they are protected, and the certificates in
    /// `signer` (public keys), if given, whose good signature every message must then carry.
    ///
    /// Every secret (sub)key is kept, whatever its flags or binding signatures: the message's
    /// recipient key ID picks the one to use. A protected key that `passphrase` does not unlock is
    /// an error here only when no key at all could be unlocked; otherwise it is reported when a
    /// message encrypted to it arrives.
    pub fn from_files(
        secret_key: &Path,
        passphrase: Option<&str>,
        signer: Option<&Path>,
    ) -> Result<Self, PgpError> {
        let certs = read_certs(secret_key)?;
        let password = passphrase.map(|p| Password::from(p.as_bytes()));
        let mut keys = HashMap::new();
        let mut locked = HashMap::new();
        let mut first_locked = None;
        for cert in &certs {
            for ka in cert.keys().secret() {
                let key = ka.key().clone();
                let id = key.keyid();
                if !key.secret().is_encrypted() {
                    keys.insert(id, (cert.clone(), key));
                    continue;
                }
                let reason = match &password {
                    None => Locked::NoPassphrase,
                    Some(pw) => match key.decrypt_secret(pw) {
                        Ok(unlocked) => {
                            keys.insert(id, (cert.clone(), unlocked));
                            continue;
                        }
                        Err(_) => Locked::WrongPassphrase,
                    },
                };
                first_locked.get_or_insert((id.clone(), reason));
                locked.insert(id, reason);
            }
        }
        if keys.is_empty() {
            return Err(match first_locked {
                Some((id, reason)) => locked_error(&id, reason),
                None => PgpError::NoSecretKey {
                    path: secret_key.to_owned(),
                },
            });
        }
        let signers = match signer {
            Some(path) => read_certs(path)?,
            None => Vec::new(),
        };
        Ok(Keyring {
            keys,
            locked,
            signers,
        })
    }

    /// Whether messages must carry a good signature by a configured signer.
    pub fn requires_signature(&self) -> bool {
        !self.signers.is_empty()
    }
}

fn locked_error(id: &KeyID, reason: Locked) -> PgpError {
    let key = id.to_hex();
    match reason {
        Locked::NoPassphrase => PgpError::PassphraseMissing { key },
        Locked::WrongPassphrase => PgpError::PassphraseWrong { key },
    }
}

/// Reads the passphrase from environment variable `var` (if set and not empty), else from `file`
/// (its first line, without the line ending). `None` when neither gives one.
pub fn passphrase_from_env_or_file(var: &str, file: Option<&Path>) -> Option<String> {
    if let Ok(p) = std::env::var(var) {
        if !p.is_empty() {
            return Some(p);
        }
    }
    let text = std::fs::read_to_string(file?).ok()?;
    let line = text.lines().next().unwrap_or("");
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        None
    } else {
        Some(line.to_owned())
    }
}

const ARMOR_MESSAGE: &[u8] = b"-----BEGIN PGP MESSAGE-----";
const ARMOR_ANY: &[u8] = b"-----BEGIN PGP ";

fn skip_ascii_whitespace(head: &[u8]) -> &[u8] {
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    &head[start..]
}

/// The packet tag of a binary OpenPGP packet header starting with `b`, if `b` is one.
fn packet_tag(b: u8) -> Option<u8> {
    if b & 0x80 == 0 {
        return None;
    }
    let tag = if b & 0x40 != 0 {
        b & 0x3f // new format
    } else {
        (b >> 2) & 0x0f // old format
    };
    (tag != 0).then_some(tag)
}

/// Whether `head` (the first bytes of a file) looks like an encrypted OpenPGP message: an armored
/// `-----BEGIN PGP MESSAGE-----` header (after optional whitespace), or a binary packet header
/// whose tag starts an encrypted message (public-key or symmetric-key encrypted session key, or
/// the marker packet).
pub fn looks_encrypted(head: &[u8]) -> bool {
    if skip_ascii_whitespace(head).starts_with(ARMOR_MESSAGE) {
        return true;
    }
    matches!(head.first().copied().and_then(packet_tag), Some(1 | 3 | 10))
}

/// What the first bytes of the input say.
#[derive(Debug, PartialEq, Eq)]
enum Sniff {
    /// Not OpenPGP at all.
    Foreign,
    /// OpenPGP, but a key, certificate or other non-message block.
    NotMessage,
    /// Possibly a message: left to the parser.
    Message,
}

fn sniff(head: &[u8]) -> Sniff {
    let text = skip_ascii_whitespace(head);
    if text.starts_with(ARMOR_ANY) {
        return if text.starts_with(ARMOR_MESSAGE) {
            Sniff::Message
        } else {
            Sniff::NotMessage
        };
    }
    match head.first().copied().and_then(packet_tag) {
        // Session keys, signatures, one-pass signatures, compressed, marker, literal, encrypted
        // data: the packets a message may start with.
        Some(1..=4 | 8..=11 | 18 | 20) => Sniff::Message,
        // Keys, user IDs, trust, user attributes, padding...
        Some(5..=7 | 12..=14 | 17 | 19 | 21) => Sniff::NotMessage,
        _ => Sniff::Foreign,
    }
}

/// Shared between the helper (which sequoia owns) and [`decrypt`]: the first typed failure.
type Failure = Rc<RefCell<Option<PgpError>>>;

fn record(failure: &Failure, e: PgpError) -> anyhow::Error {
    let message = e.to_string();
    failure.borrow_mut().get_or_insert(e);
    anyhow::anyhow!(message)
}

struct Helper<'k> {
    keyring: &'k Keyring,
    failure: Failure,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(self.keyring.signers.clone())
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        let mut encrypted = false;
        let mut signed = false;
        let mut good = false;
        let mut problems = Vec::new();
        for layer in structure.into_iter() {
            match layer {
                MessageLayer::Encryption { .. } => encrypted = true,
                MessageLayer::Compression { .. } => {}
                MessageLayer::SignatureGroup { results } => {
                    for r in results {
                        signed = true;
                        match r {
                            Ok(_) => good = true,
                            Err(e) => problems.push(describe(&e)),
                        }
                    }
                }
            }
        }
        if !encrypted {
            return Err(record(&self.failure, PgpError::NotEncrypted));
        }
        if self.keyring.requires_signature() && !good {
            let e = if signed {
                PgpError::SignatureBad(problems.join("; "))
            } else {
                PgpError::SignatureMissing
            };
            return Err(record(&self.failure, e));
        }
        Ok(())
    }
}

fn describe(e: &VerificationError<'_>) -> String {
    match e {
        VerificationError::MissingKey { sig } => {
            // Fingerprints where the signature names them, else key IDs.
            let handles = sig.get_issuers();
            let fingerprints: Vec<String> = handles
                .iter()
                .filter(|h| matches!(h, KeyHandle::Fingerprint(_)))
                .map(|h| h.to_hex())
                .collect();
            let issuers = if fingerprints.is_empty() {
                handles.iter().map(|h| h.to_hex()).collect()
            } else {
                fingerprints
            };
            format!(
                "signed by {}, which is not a configured signer",
                if issuers.is_empty() {
                    "an unnamed key".to_owned()
                } else {
                    issuers.join(", ")
                }
            )
        }
        other => other.to_string(),
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let try_key = |key: &Key<key::SecretParts, key::UnspecifiedRole>,
                       decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
                       pkesk: &PKESK| {
            let Ok(mut pair): Result<KeyPair, _> = key.clone().into_keypair() else {
                return false;
            };
            pkesk
                .decrypt(&mut pair, sym_algo)
                .map(|(algo, sk)| decrypt(algo, &sk))
                .unwrap_or(false)
        };
        let mut locked_hit = None;
        let mut failed_hit = None;
        // Recipients named in the message.
        for pkesk in pkesks {
            let Some(handle) = pkesk.recipient() else {
                continue;
            };
            let id = KeyID::from(&handle);
            if let Some((cert, key)) = self.keyring.keys.get(&id) {
                if try_key(key, decrypt, pkesk) {
                    return Ok(Some(cert.clone()));
                }
                failed_hit.get_or_insert(id);
            } else if let Some(reason) = self.keyring.locked.get(&id) {
                locked_hit.get_or_insert((id, *reason));
            }
        }
        // Anonymous recipients (gpg --throw-keyids): try every key.
        for pkesk in pkesks.iter().filter(|p| p.recipient().is_none()) {
            for (cert, key) in self.keyring.keys.values() {
                if try_key(key, decrypt, pkesk) {
                    return Ok(Some(cert.clone()));
                }
            }
        }
        let e = match (failed_hit, locked_hit) {
            // Our key by its ID, yet the session key does not decrypt: damaged in transit.
            (Some(id), _) => PgpError::Corrupt(format!(
                "the session key encrypted to {} does not decrypt",
                id.to_hex()
            )),
            (None, Some((id, reason))) => locked_error(&id, reason),
            (None, None) => {
                let mut recipients: Vec<String> = pkesks
                    .iter()
                    .map(|p| match p.recipient() {
                        Some(h) => h.to_hex(),
                        None => "anonymous".to_owned(),
                    })
                    .collect();
                if recipients.is_empty() {
                    recipients.push("none (not public-key encrypted)".to_owned());
                }
                PgpError::NoMatchingKey {
                    recipients: recipients.join(", "),
                }
            }
        };
        Err(record(&self.failure, e))
    }
}

/// Passes reads through, remembering the first I/O error of the underlying input.
struct InputReader<R> {
    inner: R,
    error: std::sync::Arc<std::sync::Mutex<Option<io::Error>>>,
}

impl<R: Read> Read for InputReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert_with(|| io::Error::new(e.kind(), e.to_string()));
                }
                Err(e)
            }
        }
    }
}

/// Turns a sequoia error into a typed one, preferring what the helper or the input recorded.
fn classify(
    e: &dyn std::error::Error,
    failure: &Failure,
    input_error: &std::sync::Mutex<Option<io::Error>>,
) -> PgpError {
    if let Some(f) = failure.borrow_mut().take() {
        return f;
    }
    if let Some(io) = input_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return PgpError::Io(io);
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    PgpError::Corrupt(text)
}

/// Decrypts the OpenPGP message read from `input` (armored or binary, detected) with the keys in
/// `keyring`, streams the plaintext to `out`, and returns the number of bytes written.
///
/// With a signer configured in `keyring`, the message must carry a good signature by it.
///
/// On error, `out` may already hold part of the plaintext (messages over the 1 MiB buffer are
/// streamed before their integrity check completes): **the caller must discard it** — write to
/// a temporary file and use it only when this returns `Ok`.
///
/// `input` must be `Send + Sync` (sequoia's buffered readers require it); files, byte slices and
/// cursors are.
pub fn decrypt<R, W>(keyring: &Keyring, input: R, mut out: W) -> Result<u64, PgpError>
where
    R: Read + Send + Sync,
    W: Write,
{
    // sequoia-openpgp 2.4 can panic on some truncated messages (an `unwrap` when a SEIP packet
    // ends within its first bytes): bad input must be an error, never a crash.
    match panic::catch_unwind(AssertUnwindSafe(|| decrypt_inner(keyring, input, &mut out))) {
        Ok(result) => result,
        Err(payload) => Err(PgpError::Corrupt(format!(
            "the OpenPGP parser failed on malformed input ({})",
            panic_message(&*payload)
        ))),
    }
}

fn decrypt_inner<R, W>(keyring: &Keyring, input: R, mut out: W) -> Result<u64, PgpError>
where
    R: Read + Send + Sync,
    W: Write,
{
    let input_error = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut input = InputReader {
        inner: input,
        error: input_error.clone(),
    };
    // Sniff the head to tell "not OpenPGP at all" from a corrupt message.
    let mut head = Vec::with_capacity(1024);
    (&mut input).take(1024).read_to_end(&mut head)?;
    match sniff(&head) {
        Sniff::Foreign => return Err(PgpError::NotOpenPgp),
        Sniff::NotMessage => return Err(PgpError::NotEncrypted),
        Sniff::Message => {}
    }
    let input = io::Cursor::new(head).chain(input);

    let policy = StandardPolicy::new();
    let failure: Failure = Rc::new(RefCell::new(None));
    let helper = Helper {
        keyring,
        failure: failure.clone(),
    };
    // sequoia holds back up to `buffer_size` of plaintext so a small message's signature is
    // checked before any of it is released (25 MiB by default, per layer of the message). Callers
    // discard the output of a failed decryption anyway (see above), so 1 MiB keeps memory low.
    let builder = DecryptorBuilder::from_reader(input)
        .map_err(|e| classify(e.as_ref(), &failure, &input_error))?
        .buffer_size(1 << 20);
    let mut decryptor = builder
        .with_policy(&policy, None, helper)
        .map_err(|e| classify(e.as_ref(), &failure, &input_error))?;

    let mut buf = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = match decryptor.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(classify(&e, &failure, &input_error)),
        };
        out.write_all(&buf[..n])?;
        written += n as u64;
    }
    // Reaching the end of the plaintext means sequoia verified integrity and called `check`;
    // make sure of it rather than trusting the reader's EOF.
    if !decryptor.message_processed() {
        return Err(failure
            .borrow_mut()
            .take()
            .unwrap_or_else(|| PgpError::Corrupt("the message ended early".into())));
    }
    out.flush()?;
    Ok(written)
}
