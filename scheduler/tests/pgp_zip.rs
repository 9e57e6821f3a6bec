//! Decrypting and unzipping SMT report files, against messages made by real GnuPG.
//!
//! Keys are generated at test time in a temporary GNUPGHOME (nothing is committed). All gpg work
//! happens once, in a shared fixture held in memory; its GNUPGHOME and gpg-agent are gone before
//! any test runs its checks. Without `gpg` (or `zip`, for the one test that uses it) on the PATH a
//! test prints a skip message and passes on a laptop, and fails under `SMT_REQUIRE_ALL_PARTS=1` or
//! `CI=true` (smt-e2e's `missing_part`, the one rule for a missing part).

mod common;

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use smt_scheduler::pgp::{self, Keyring, PgpError};
use smt_scheduler::unzip::{self, Limits, Member, UnzipError};

use common::{gpg_available, require_gpg, require_part, Gpg, PASSPHRASE};

const LSE_NAME: &str = "reports/IntervalData_LSE_20250309.lse";
const CSV_NAME: &str = "reports/IntervalMeterUsage_20250309.csv";

// ---------------------------------------------------------------------------------------------
// The fixture: keys and messages made by gpg.

/// Everything the tests need from gpg, in memory.
struct Fixture {
    /// The RSA 3072 key (sign+encrypt primary), passphrase-protected, armored secret export.
    rsa_secret: Vec<u8>,
    /// The ed25519/cv25519 key, unprotected, armored secret export.
    ecc_secret: Vec<u8>,
    /// The ECC key's public certificate (the "SMT signer" in signature tests), and unarmored.
    ecc_public: Vec<u8>,
    ecc_public_binary: Vec<u8>,
    /// A third key, unprotected: secret and public.
    other_secret: Vec<u8>,
    other_public: Vec<u8>,
    /// The zip both members are in, and the members.
    zip: Vec<u8>,
    lse: Vec<u8>,
    csv: Vec<u8>,
    /// The zip encrypted in various ways.
    msgs: Messages,
    /// A plain (compressible) payload encrypted with forced compression algorithms.
    plain: Vec<u8>,
    plain_zlib: Vec<u8>,
    plain_zip: Vec<u8>,
    plain_bzip2: Vec<u8>,
    /// Over 25 MiB of incompressible payload (beyond sequoia's buffer), encrypted to the ECC key.
    big: Vec<u8>,
    big_msg: Vec<u8>,
    /// Signed but not encrypted.
    signed_only: Vec<u8>,
}

struct Messages {
    rsa_armored: Vec<u8>,
    rsa_binary: Vec<u8>,
    ecc_armored: Vec<u8>,
    ecc_binary: Vec<u8>,
    /// To the ECC key, signed by the ECC key.
    ecc_signed_by_ecc: Vec<u8>,
    /// To the RSA key, signed by the ECC key, armored.
    rsa_signed_by_ecc: Vec<u8>,
    /// To the ECC key, signed by the other key.
    ecc_signed_by_other: Vec<u8>,
    /// To the other key only.
    to_other: Vec<u8>,
    /// To the other key and the ECC key.
    to_other_and_ecc: Vec<u8>,
    /// To the ECC key with the recipient key ID hidden (--throw-keyids).
    ecc_hidden_recipient: Vec<u8>,
    /// To the RSA key without integrity protection (a SED packet, no MDC: `--rfc2440`).
    rsa_no_mdc: Vec<u8>,
}

/// Deterministic bytes that do not compress (splitmix64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn make_zip(entries: &[(&str, &[u8])], dirs: &[&str]) -> Vec<u8> {
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for d in dirs {
        w.add_directory(*d, opts).unwrap();
    }
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn build_fixture() -> Fixture {
    let gpg = Gpg::with_agent_defaults();
    let rsa = gpg.gen_primary_key(
        "SMT Test <smt@example.test>",
        "rsa3072",
        "encrypt,sign",
        PASSPHRASE,
    );
    let ecc = gpg.gen_key("SMT ECC <smt-ecc@example.test>", "");
    let other = gpg.gen_key("Other <other@example.test>", "");

    let mut generator = smt_core::testdata::Generator::new(20250309);
    let days = smt_core::testdata::dst_days_2025();
    let records = generator.records(3, &days);
    let lse = smt_core::testdata::lse_bytes(&records, true);
    let csv = smt_core::testdata::csv_bytes(&records);
    let zip = make_zip(
        &[(LSE_NAME, lse.as_slice()), (CSV_NAME, csv.as_slice())],
        &["reports/"],
    );

    let msgs = Messages {
        rsa_armored: gpg.encrypt_with(&zip, &[&rsa], &["--armor"]),
        rsa_binary: gpg.encrypt_with(&zip, &[&rsa], &[]),
        ecc_armored: gpg.encrypt_with(&zip, &[&ecc], &["--armor"]),
        ecc_binary: gpg.encrypt_with(&zip, &[&ecc], &[]),
        ecc_signed_by_ecc: gpg.encrypt_with(&zip, &[&ecc], &["--sign", "--local-user", &ecc]),
        rsa_signed_by_ecc: gpg.encrypt_with(
            &zip,
            &[&rsa],
            &["--armor", "--sign", "--local-user", &ecc],
        ),
        ecc_signed_by_other: gpg.encrypt_with(&zip, &[&ecc], &["--sign", "--local-user", &other]),
        to_other: gpg.encrypt_with(&zip, &[&other], &[]),
        to_other_and_ecc: gpg.encrypt_with(&zip, &[&other, &ecc], &[]),
        ecc_hidden_recipient: gpg.encrypt_with(&zip, &[&ecc], &["--throw-keyids"]),
        rsa_no_mdc: gpg.encrypt_with(&zip, &[&rsa], &["--rfc2440", "--cipher-algo", "AES256"]),
    };

    let plain = [lse.as_slice(), csv.as_slice()].concat();
    let plain_zlib = gpg.encrypt_with(&plain, &[&ecc], &["--compress-algo", "zlib"]);
    let plain_zip = gpg.encrypt_with(&plain, &[&rsa], &["--compress-algo", "zip", "--armor"]);
    let plain_bzip2 = gpg.encrypt_with(&plain, &[&ecc], &["--compress-algo", "bzip2"]);

    let big = noise(26 << 20, 7);
    let big_msg = gpg.encrypt_with(&big, &[&ecc], &["--compress-algo", "none"]);

    let signed_only = gpg.run(&["--local-user", &ecc, "--output", "-", "--sign"], &plain);

    Fixture {
        rsa_secret: gpg.export_secret(&rsa, PASSPHRASE),
        ecc_secret: gpg.export_secret(&ecc, ""),
        ecc_public: gpg.export_public(&ecc),
        ecc_public_binary: gpg.run(&["--export", &ecc], b""),
        other_secret: gpg.export_secret(&other, ""),
        other_public: gpg.export_public(&other),
        zip,
        lse,
        csv,
        msgs,
        plain,
        plain_zlib,
        plain_zip,
        plain_bzip2,
        big,
        big_msg,
        signed_only,
    }
    // `gpg` drops here: the agent is stopped and GNUPGHOME removed.
}

/// The shared fixture, or `None` (after printing why, see `common::require_gpg`) when gpg is not
/// installed.
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    let f = FIXTURE
        .get_or_init(|| gpg_available().then(build_fixture))
        .as_ref();
    if f.is_none() {
        require_gpg();
    }
    f
}

/// A temporary directory for one test's key files.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Files(
            tempfile::Builder::new()
                .prefix("smt-pgp-test-")
                .tempdir()
                .unwrap(),
        )
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    }
}

fn keyring(secret: &[u8], passphrase: Option<&str>, signer: Option<&[u8]>) -> Keyring {
    try_keyring(secret, passphrase, signer).expect("keyring loads")
}

fn try_keyring(
    secret: &[u8],
    passphrase: Option<&str>,
    signer: Option<&[u8]>,
) -> Result<Keyring, PgpError> {
    let files = Files::new();
    let sk = files.write("secret.asc", secret);
    let signer = signer.map(|s| files.write("signer.asc", s));
    Keyring::from_files(&sk, passphrase, signer.as_deref())
}

/// Decrypts `msg` into memory: `(result, whatever was written)`.
fn decrypt(keyring: &Keyring, msg: &[u8]) -> (Result<u64, PgpError>, Vec<u8>) {
    let mut out = Vec::new();
    let r = pgp::decrypt(keyring, msg, &mut out);
    (r, out)
}

fn decrypt_ok(keyring: &Keyring, msg: &[u8]) -> Vec<u8> {
    let (r, out) = decrypt(keyring, msg);
    let n = r.unwrap_or_else(|e| panic!("decrypt failed: {e}"));
    assert_eq!(n, out.len() as u64);
    out
}

fn assert_members(f: &Fixture, zip: &[u8]) {
    let members = unzip::members(zip).expect("unzip");
    assert_eq!(
        members,
        vec![
            Member {
                name: LSE_NAME.into(),
                data: f.lse.clone()
            },
            Member {
                name: CSV_NAME.into(),
                data: f.csv.clone()
            },
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Decrypting what gpg makes.

#[test]
fn rsa_key_with_passphrase_decrypts_armored_and_binary() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.rsa_secret, Some(PASSPHRASE), None);
    for msg in [&f.msgs.rsa_armored, &f.msgs.rsa_binary] {
        assert!(pgp::looks_encrypted(msg));
        let zip = decrypt_ok(&kr, msg);
        assert!(unzip::looks_zipped(&zip));
        assert_eq!(zip, f.zip);
        assert_members(f, &zip);
    }
    assert!(f
        .msgs
        .rsa_armored
        .starts_with(b"-----BEGIN PGP MESSAGE-----"));
    assert!(!f.msgs.rsa_binary.starts_with(b"-----"));
}

#[test]
fn ecc_key_decrypts_armored_binary_and_hidden_recipient() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, None);
    for msg in [
        &f.msgs.ecc_armored,
        &f.msgs.ecc_binary,
        &f.msgs.ecc_hidden_recipient,
        &f.msgs.to_other_and_ecc,
    ] {
        let zip = decrypt_ok(&kr, msg);
        assert_members(f, &zip);
    }
}

#[test]
fn compressed_payloads_decrypt() {
    let Some(f) = fixture() else {
        return;
    };
    let ecc = keyring(&f.ecc_secret, None, None);
    let rsa = keyring(&f.rsa_secret, Some(PASSPHRASE), None);
    assert_eq!(decrypt_ok(&ecc, &f.plain_zlib), f.plain);
    assert_eq!(decrypt_ok(&ecc, &f.plain_bzip2), f.plain);
    assert_eq!(decrypt_ok(&rsa, &f.plain_zip), f.plain);
    // The compressed messages really are smaller than the payload.
    assert!(f.plain_zlib.len() < f.plain.len() / 2);
}

#[test]
fn reads_from_a_file() {
    let Some(f) = fixture() else {
        return;
    };
    let files = Files::new();
    let path = files.write("report.zip.pgp", &f.msgs.ecc_binary);
    let kr = keyring(&f.ecc_secret, None, None);
    let out_path = files.0.path().join("report.zip");
    let out = std::fs::File::create(&out_path).unwrap();
    let n = pgp::decrypt(&kr, std::fs::File::open(&path).unwrap(), out).unwrap();
    assert_eq!(n, f.zip.len() as u64);
    assert_eq!(std::fs::read(&out_path).unwrap(), f.zip);
}

#[test]
fn large_message_beyond_the_buffer_decrypts() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, None);
    let out = decrypt_ok(&kr, &f.big_msg);
    assert!(out == f.big, "large plaintext differs");
}

// ---------------------------------------------------------------------------------------------
// Keys and passphrases.

#[test]
fn wrong_or_missing_passphrase_is_reported() {
    let Some(f) = fixture() else {
        return;
    };
    match try_keyring(&f.rsa_secret, Some("not the passphrase"), None) {
        Err(PgpError::PassphraseWrong { .. }) => {}
        other => panic!("expected PassphraseWrong, got {other:?}"),
    }
    match try_keyring(&f.rsa_secret, None, None) {
        Err(PgpError::PassphraseMissing { .. }) => {}
        other => panic!("expected PassphraseMissing, got {other:?}"),
    }
    // The error names the key, never the passphrase.
    let e = try_keyring(&f.rsa_secret, Some("not the passphrase"), None).unwrap_err();
    assert!(!e.to_string().contains("not the passphrase"));
    // An unprotected key needs no passphrase, and a given one does no harm.
    keyring(&f.ecc_secret, Some("anything"), None);
}

#[test]
fn locked_key_among_usable_ones_is_reported_when_needed() {
    let Some(f) = fixture() else {
        return;
    };
    // Both secret keys in one file, no passphrase: the ECC key works, the RSA one stays locked.
    let both = [f.ecc_secret.as_slice(), f.rsa_secret.as_slice()].concat();
    let kr = keyring(&both, None, None);
    assert_members(f, &decrypt_ok(&kr, &f.msgs.ecc_binary));
    let (r, out) = decrypt(&kr, &f.msgs.rsa_binary);
    assert!(
        matches!(r, Err(PgpError::PassphraseMissing { .. })),
        "got {r:?}"
    );
    assert!(out.is_empty());
    let kr = keyring(&both, Some(PASSPHRASE), None);
    assert_members(f, &decrypt_ok(&kr, &f.msgs.rsa_binary));
}

#[test]
fn message_to_another_key_has_no_matching_key() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, None);
    let (r, out) = decrypt(&kr, &f.msgs.to_other);
    assert!(
        matches!(r, Err(PgpError::NoMatchingKey { .. })),
        "got {r:?}"
    );
    assert!(out.is_empty());
    let kr = keyring(&f.rsa_secret, Some(PASSPHRASE), None);
    let (r, _) = decrypt(&kr, &f.msgs.ecc_armored);
    assert!(
        matches!(r, Err(PgpError::NoMatchingKey { .. })),
        "got {r:?}"
    );
    // The other key's own secret decrypts it.
    let kr = keyring(&f.other_secret, None, None);
    assert_members(f, &decrypt_ok(&kr, &f.msgs.to_other));
}

#[test]
fn bad_key_files_are_typed_errors() {
    let Some(f) = fixture() else {
        return;
    };
    match try_keyring(b"this is not a key\n", None, None) {
        Err(PgpError::BadKeyFile { .. }) => {}
        other => panic!("expected BadKeyFile, got {other:?}"),
    }
    match try_keyring(&f.ecc_public, None, None) {
        Err(PgpError::NoSecretKey { .. }) => {}
        other => panic!("expected NoSecretKey, got {other:?}"),
    }
    match Keyring::from_files(Path::new("/nonexistent/smt/key.asc"), None, None) {
        Err(PgpError::KeyFileIo { .. }) => {}
        other => panic!("expected KeyFileIo, got {other:?}"),
    }
    match try_keyring(&f.ecc_secret, None, Some(b"garbage")) {
        Err(PgpError::BadKeyFile { .. }) => {}
        other => panic!("expected BadKeyFile for the signer, got {other:?}"),
    }
    // Debug output names key IDs only.
    let kr = keyring(&f.rsa_secret, Some(PASSPHRASE), None);
    let dbg = format!("{kr:?}");
    assert!(dbg.starts_with("Keyring"), "{dbg}");
    assert!(!dbg.contains(PASSPHRASE));
}

#[test]
fn passphrase_from_env_or_file() {
    let files = Files::new();
    let file = files.write("passphrase", b"from the file\r\nsecond line\n");
    let empty = files.write("empty", b"");
    let var = format!("SMT_TEST_PGP_PASSPHRASE_{}", std::process::id());
    // Unset variable: the file's first line.
    assert_eq!(
        pgp::passphrase_from_env_or_file(&var, Some(&file)).as_deref(),
        Some("from the file")
    );
    assert_eq!(pgp::passphrase_from_env_or_file(&var, None), None);
    assert_eq!(pgp::passphrase_from_env_or_file(&var, Some(&empty)), None);
    assert_eq!(
        pgp::passphrase_from_env_or_file(&var, Some(Path::new("/nonexistent/pw"))),
        None
    );
    // A set variable wins over the file. (The name is unique to this process and test.)
    std::env::set_var(&var, "from the env");
    assert_eq!(
        pgp::passphrase_from_env_or_file(&var, Some(&file)).as_deref(),
        Some("from the env")
    );
    std::env::remove_var(&var);
    assert_eq!(pgp::PASSPHRASE_ENV, "SMT_PGP_PASSPHRASE");
}

// ---------------------------------------------------------------------------------------------
// Signatures.

#[test]
fn signature_by_configured_signer_is_accepted() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, Some(&f.ecc_public));
    assert!(kr.requires_signature());
    assert_members(f, &decrypt_ok(&kr, &f.msgs.ecc_signed_by_ecc));
    let kr = keyring(&f.rsa_secret, Some(PASSPHRASE), Some(&f.ecc_public));
    assert_members(f, &decrypt_ok(&kr, &f.msgs.rsa_signed_by_ecc));
    // With both certificates as signers, either signature will do.
    let signers = [f.other_public.as_slice(), f.ecc_public.as_slice()].concat();
    let kr = keyring(&f.ecc_secret, None, Some(&signers));
    assert_members(f, &decrypt_ok(&kr, &f.msgs.ecc_signed_by_other));
}

#[test]
fn signed_message_without_a_signer_configured_decrypts() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, None);
    assert!(!kr.requires_signature());
    assert_members(f, &decrypt_ok(&kr, &f.msgs.ecc_signed_by_ecc));
    assert_members(f, &decrypt_ok(&kr, &f.msgs.ecc_signed_by_other));
}

#[test]
fn unsigned_message_with_a_signer_configured_is_rejected() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, Some(&f.ecc_public));
    for msg in [&f.msgs.ecc_binary, &f.msgs.ecc_armored] {
        let (r, out) = decrypt(&kr, msg);
        assert!(matches!(r, Err(PgpError::SignatureMissing)), "got {r:?}");
        assert!(out.is_empty(), "no plaintext before the check");
    }
}

#[test]
fn message_signed_by_another_key_is_rejected() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, Some(&f.ecc_public));
    let (r, out) = decrypt(&kr, &f.msgs.ecc_signed_by_other);
    match r {
        Err(PgpError::SignatureBad(why)) => {
            assert!(why.contains("not a configured signer"), "{why}")
        }
        other => panic!("expected SignatureBad, got {other:?}"),
    }
    assert!(out.is_empty());
    // And the other way round: the other key as the only signer.
    let kr = keyring(&f.ecc_secret, None, Some(&f.other_public));
    let (r, _) = decrypt(&kr, &f.msgs.ecc_signed_by_ecc);
    assert!(matches!(r, Err(PgpError::SignatureBad(_))), "got {r:?}");
}

// ---------------------------------------------------------------------------------------------
// Damaged and foreign input.

#[test]
fn truncated_ciphertext_is_an_error() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, None);
    for msg in [
        &f.msgs.ecc_binary,
        &f.msgs.ecc_armored,
        &f.msgs.ecc_signed_by_ecc,
    ] {
        // Armored: cut into the base64 body, not just the footer line.
        let len = find(msg, b"-----END PGP").unwrap_or(msg.len());
        for cut in [len - 1, len - 2, len - 22, len - 40, len / 2, 200, 40, 5, 1] {
            let (r, out) = decrypt(&kr, &msg[..cut]);
            assert!(r.is_err(), "cut at {cut} of {len}: Ok");
            assert!(out.is_empty(), "cut at {cut} of {len}: wrote plaintext");
        }
    }
    // Every cut of the first 300 bytes (session key packets and the start of the encrypted data,
    // where sequoia 2.4 panics on some cuts), then every 29th byte.
    let msg = &f.msgs.ecc_binary;
    for cut in (0..300).chain((300..msg.len()).step_by(29)) {
        let (r, out) = decrypt(&kr, &msg[..cut]);
        assert!(r.is_err(), "cut at {cut} of {}: Ok", msg.len());
        assert!(out.is_empty(), "cut at {cut}: wrote plaintext");
    }
    let kr = keyring(&f.rsa_secret, Some(PASSPHRASE), None);
    let msg = &f.msgs.rsa_binary;
    for cut in [msg.len() - 1, msg.len() - 21, msg.len() / 2] {
        let (r, out) = decrypt(&kr, &msg[..cut]);
        assert!(
            matches!(r, Err(PgpError::Corrupt(_))),
            "cut at {cut}: {r:?}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn flipped_byte_is_an_error() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, None);
    let msg = &f.msgs.ecc_binary;
    let len = msg.len();
    // Every byte of the tail (MDC and the end of the data), and positions all through the body.
    let mut positions: Vec<usize> = (len - 64..len).collect();
    positions.extend((0..len).step_by(17));
    for pos in positions {
        for mask in [0x01u8, 0x80] {
            let mut bad = msg.clone();
            bad[pos] ^= mask;
            let (r, out) = decrypt(&kr, &bad);
            assert!(r.is_err(), "flip {mask:#x} at {pos} of {len}: Ok");
            assert!(out.is_empty(), "flip at {pos}: wrote plaintext");
        }
    }
    // In the encrypted payload proper, it is the integrity check that fails.
    let mut bad = msg.clone();
    bad[len * 3 / 4] ^= 0x10;
    let (r, _) = decrypt(&kr, &bad);
    assert!(matches!(r, Err(PgpError::Corrupt(_))), "got {r:?}");

    // Armored: flip a base64 character of the body.
    let armored = &f.msgs.ecc_armored;
    let text = String::from_utf8(armored.clone()).unwrap();
    let body_start = text.find("\n\n").unwrap() + 2;
    let pos = body_start + (text.len() - body_start) / 2;
    let mut bad = armored.clone();
    bad[pos] = if bad[pos] == b'A' { b'B' } else { b'A' };
    let (r, out) = decrypt(&kr, &bad);
    assert!(r.is_err(), "armored flip: Ok");
    assert!(out.is_empty());
}

#[test]
fn message_without_integrity_protection_is_rejected() {
    let Some(f) = fixture() else {
        return;
    };
    // gpg itself marks the packet SED (tag 9) rather than SEIP (tag 18).
    let kr = keyring(&f.rsa_secret, Some(PASSPHRASE), None);
    let (r, out) = decrypt(&kr, &f.msgs.rsa_no_mdc);
    assert!(matches!(r, Err(PgpError::Corrupt(_))), "got {r:?}");
    assert!(out.is_empty(), "no unprotected plaintext");
}

#[test]
fn flipped_byte_in_a_large_message_is_an_error() {
    let Some(f) = fixture() else {
        return;
    };
    // Beyond sequoia's 25 MiB buffer, plaintext reaches the writer before the integrity check:
    // the result must still be an error (and the caller discards the output).
    let kr = keyring(&f.ecc_secret, None, None);
    let mut bad = f.big_msg.clone();
    let pos = bad.len() - 100;
    bad[pos] ^= 0x04;
    let (r, _) = decrypt(&kr, &bad);
    assert!(matches!(r, Err(PgpError::Corrupt(_))), "got {r:?}");
}

#[test]
fn foreign_input_is_not_openpgp() {
    let Some(f) = fixture() else {
        return;
    };
    let kr = keyring(&f.ecc_secret, None, None);
    for input in [
        &b""[..],
        b"esiid,channel,day\n",
        &f.zip,
        &f.lse,
        b"\x00\x01\x02",
    ] {
        let (r, out) = decrypt(&kr, input);
        assert!(matches!(r, Err(PgpError::NotOpenPgp)), "got {r:?}");
        assert!(out.is_empty());
    }
    // OpenPGP, but no encryption: a signed-only message.
    let (r, out) = decrypt(&kr, &f.signed_only);
    assert!(matches!(r, Err(PgpError::NotEncrypted)), "got {r:?}");
    assert!(out.is_empty());
    // Keys are OpenPGP, but not messages, armored or binary.
    for key in [&f.ecc_public, &f.ecc_secret] {
        let (r, _) = decrypt(&kr, key);
        assert!(matches!(r, Err(PgpError::NotEncrypted)), "got {r:?}");
    }
    let (r, _) = decrypt(&kr, &f.ecc_public_binary);
    assert!(matches!(r, Err(PgpError::NotEncrypted)), "got {r:?}");
}

#[test]
fn looks_encrypted_and_looks_zipped() {
    let Some(f) = fixture() else {
        return;
    };
    assert!(pgp::looks_encrypted(&f.msgs.ecc_armored));
    assert!(pgp::looks_encrypted(&f.msgs.ecc_binary));
    assert!(pgp::looks_encrypted(&f.msgs.rsa_binary));
    assert!(pgp::looks_encrypted(
        b"\r\n  -----BEGIN PGP MESSAGE-----\r\n"
    ));
    assert!(!pgp::looks_encrypted(&f.zip));
    assert!(!pgp::looks_encrypted(&f.ecc_public));
    assert!(!pgp::looks_encrypted(&f.signed_only));
    assert!(!pgp::looks_encrypted(b""));
    assert!(!pgp::looks_encrypted(b"10443720000000001,"));
    assert!(unzip::looks_zipped(&f.zip));
    assert!(!unzip::looks_zipped(&f.msgs.ecc_binary));
    assert!(!unzip::looks_zipped(b"PK"));
}

// ---------------------------------------------------------------------------------------------
// Unzipping (no gpg needed).

fn small_zip() -> Vec<u8> {
    make_zip(
        &[
            ("a.lse", b"lse contents\r\n".as_slice()),
            ("b.csv", &b"esiid,kwh\n".repeat(100)),
        ],
        &["dir/", "dir/sub/"],
    )
}

#[test]
fn unzip_skips_directories_and_keeps_order() {
    let members = unzip::members(&small_zip()).unwrap();
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["a.lse", "b.csv"]);
    assert_eq!(members[1].data, b"esiid,kwh\n".repeat(100));
    assert!(unzip::members(&make_zip(&[], &[])).unwrap().is_empty());
}

/// Two members with the same name (a zip writer may append a corrected report under the old
/// name): the zip reader keeps one per name, so the archive is refused rather than one report
/// silently lost.
#[test]
fn unzip_refuses_two_members_with_the_same_name() {
    let mut bytes = make_zip(&[("r.csv", b"first\n"), ("s.csv", b"second\n")], &[]);
    // Rename the second member to the first's name in its local header and the central directory
    // (same length, so every offset stays right).
    let mut renamed = 0;
    for i in 0..bytes.len() - 5 {
        if &bytes[i..i + 5] == b"s.csv" {
            bytes[i..i + 5].copy_from_slice(b"r.csv");
            renamed += 1;
        }
    }
    assert_eq!(
        renamed, 2,
        "the name is in the local header and the central directory"
    );
    match unzip::members(&bytes) {
        Err(UnzipError::DuplicateNames { entries, distinct }) => {
            assert_eq!((entries, distinct), (2, 1));
        }
        other => panic!("two members named r.csv: {other:?}"),
    }
}

#[test]
fn unzip_reads_what_the_zip_cli_makes() {
    let ok = Command::new("zip")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !require_part(
        ok,
        "zip on the PATH",
        "`make setup` installs it (Debian package zip)",
    ) {
        return;
    }
    let files = Files::new();
    let lse = b"10443720000000001,...\r\n".repeat(500);
    let csv = b"ESIID,USAGE_DATE\n".repeat(500);
    files.write("report.lse", &lse);
    files.write("report.csv", &csv);
    let status = Command::new("zip")
        .current_dir(files.0.path())
        .args(["-q", "-9", "out.zip", "report.lse", "report.csv"])
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(files.0.path().join("out.zip")).unwrap();
    assert!(unzip::looks_zipped(&bytes));
    let members = unzip::members(&bytes).unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].name, "report.lse");
    assert_eq!(members[0].data, lse);
    assert_eq!(members[1].name, "report.csv");
    assert_eq!(members[1].data, csv);
}

#[test]
fn corrupt_zip_is_an_unzip_error() {
    let zip = small_zip();
    // Not a zip at all, or cut short (the central directory is at the end).
    for bad in [
        &b""[..],
        b"PK\x03\x04garbage",
        &zip[..zip.len() / 2],
        &zip[..zip.len() - 1],
    ] {
        match unzip::members(bad) {
            Err(UnzipError::NotZip(_)) => {}
            other => panic!("expected NotZip, got {other:?}"),
        }
    }
    // Damage inside the compressed data of b.csv: checksum or inflate failure, naming the member.
    let pos = find(&zip, b"b.csv").unwrap() + 5 + 10;
    let mut bad = zip.clone();
    bad[pos] ^= 0xff;
    match unzip::members(&bad) {
        Err(UnzipError::Member { name, .. }) | Err(UnzipError::SizeMismatch { name, .. }) => {
            assert_eq!(name, "b.csv")
        }
        other => panic!("expected a member error, got {other:?}"),
    }
    // Every single-byte flip anywhere is either harmless or an error: never a panic.
    for pos in 0..zip.len() {
        let mut bad = zip.clone();
        bad[pos] ^= 0x55;
        let _ = unzip::members(&bad);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn zip_bomb_over_the_caps_is_rejected() {
    // 64 MiB of zeros deflate to ~64 KiB.
    let zeros = vec![0u8; 64 << 20];
    let bomb = make_zip(
        &[("report.lse", b"small".as_slice()), ("bomb.csv", &zeros)],
        &[],
    );
    assert!(bomb.len() < 1 << 20);
    let limits = Limits {
        max_member: 16 << 20,
        ..Limits::DEFAULT
    };
    match unzip::members_with_limits(&bomb, &limits) {
        Err(UnzipError::MemberTooLarge { name, limit, .. }) => {
            assert_eq!(name, "bomb.csv");
            assert_eq!(limit, 16 << 20);
        }
        other => panic!("expected MemberTooLarge, got {other:?}"),
    }
    let limits = Limits {
        max_total: 32 << 20,
        ..Limits::DEFAULT
    };
    match unzip::members_with_limits(&bomb, &limits) {
        Err(UnzipError::TotalTooLarge { name, .. }) => assert_eq!(name, "bomb.csv"),
        other => panic!("expected TotalTooLarge, got {other:?}"),
    }
    let limits = Limits {
        max_members: 1,
        ..Limits::DEFAULT
    };
    assert!(matches!(
        unzip::members_with_limits(&bomb, &limits),
        Err(UnzipError::TooManyMembers { count: 2, limit: 1 })
    ));
    // Within the default caps it unzips.
    let members = unzip::members(&bomb).unwrap();
    assert_eq!(members[1].data.len(), 64 << 20);
}

/// Rewrites the uncompressed size of the member named `name`, in its local header and its
/// central directory entry, to `size` (a lying header).
fn set_declared_size(zip: &mut [u8], name: &[u8], size: u32) {
    let mut patched = 0;
    let mut i = 0;
    while i + 4 <= zip.len() {
        let sig = &zip[i..i + 4];
        let (name_len_at, size_at, name_at) = if sig == b"PK\x03\x04" {
            (i + 26, i + 22, i + 30)
        } else if sig == b"PK\x01\x02" {
            (i + 28, i + 24, i + 46)
        } else {
            i += 1;
            continue;
        };
        let n = u16::from_le_bytes([zip[name_len_at], zip[name_len_at + 1]]) as usize;
        if zip.get(name_at..name_at + n) == Some(name) {
            zip[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
        i += 4;
    }
    assert_eq!(patched, 2, "local header and central directory entry");
}

#[test]
fn member_whose_declared_size_lies_is_an_error() {
    let data = vec![b'x'; 1 << 20];
    let zip = make_zip(&[("a.lse", b"fine".as_slice()), ("liar.csv", &data)], &[]);
    assert_eq!(unzip::members(&zip).unwrap()[1].data, data);

    // Declares 1 KiB, inflates to 1 MiB: caught after reading just past the declared size.
    let mut lying = zip.clone();
    set_declared_size(&mut lying, b"liar.csv", 1024);
    match unzip::members(&lying) {
        Err(UnzipError::SizeMismatch {
            name,
            declared,
            actual,
        }) => {
            assert_eq!(name, "liar.csv");
            assert_eq!(declared, 1024);
            assert_eq!(actual, None, "holds more than declared");
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    // Declares a little under the cap, so the cap check passes, but the data is short of it.
    let mut lying = zip.clone();
    set_declared_size(&mut lying, b"liar.csv", (1 << 20) + 7);
    match unzip::members(&lying) {
        Err(UnzipError::SizeMismatch { name, .. }) | Err(UnzipError::Member { name, .. }) => {
            assert_eq!(name, "liar.csv")
        }
        other => panic!("expected a size error, got {other:?}"),
    }
}
