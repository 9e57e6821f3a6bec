//! Issue 8: a bad-input corpus of what comes before parsing, data-driven: zip archives
//! (`unzip::members_with_limits`), OpenPGP messages and key files (`pgp::decrypt`,
//! `Keyring::from_files`) and whole deliveries (`ingest::unpack`). No database.
//!
//! Each entry is a named input with its exact outcome: the members it gives (name and size), or
//! the error variant and a fragment of what the user is told (its Display text). OpenPGP inputs
//! are made by real GnuPG at test time (common::Gpg), once, for every case.

mod common;

use std::io::{Cursor, Write};
use std::sync::OnceLock;
use std::time::Instant;

use smt_scheduler::ingest;
use smt_scheduler::pgp::{self, Keyring};
use smt_scheduler::unzip::{self, Limits, Member};

use common::{gpg_available, require_gpg, Gpg, PASSPHRASE};

// ---------------------------------------------------------------------------------------------
// The table's types.

/// What a case must come out as: members (name, bytes), or an error whose Debug starts with the
/// variant and whose Display contains the fragment.
#[derive(Debug)]
enum Expect {
    Members(Vec<(&'static str, usize)>),
    Error {
        variant: &'static str,
        told: &'static str,
    },
}

fn members(list: &[(&'static str, usize)]) -> Expect {
    Expect::Members(list.to_vec())
}

fn error(variant: &'static str, told: &'static str) -> Expect {
    Expect::Error { variant, told }
}

/// Where a case's input goes.
enum Through {
    /// `unzip::members_with_limits`.
    Unzip(Limits),
    /// `ingest::unpack(name, ..)` with the test keyring, or none.
    Unpack(&'static str, bool),
    /// `pgp::decrypt` with a keyring loaded from the given secret key (armored bytes),
    /// passphrase and signer certificate.
    Decrypt(KeyChoice),
    /// `Keyring::from_files` of the input as a key file, with a passphrase.
    KeyFile(Option<&'static str>),
}

#[derive(Clone, Copy)]
enum KeyChoice {
    /// The REP's key, passphrase-protected, unlocked with [`PASSPHRASE`].
    Rep,
    /// The REP's key, with the other key's certificate as the required signer.
    RepSignedByOther,
}

struct Case {
    name: &'static str,
    through: Through,
    input: Vec<u8>,
    expect: Expect,
}

fn case(name: &'static str, through: Through, input: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        through,
        input,
        expect,
    }
}

fn outcome_of_members<E: std::fmt::Debug + std::fmt::Display>(
    r: Result<Vec<Member>, E>,
) -> Result<Vec<(String, usize)>, (String, String)> {
    r.map(|ms| ms.into_iter().map(|m| (m.name, m.data.len())).collect())
        .map_err(|e| (format!("{e:?}"), e.to_string()))
}

fn run(c: &Case, keys: Option<&KeyMaterial>) -> Result<Vec<(String, usize)>, (String, String)> {
    match &c.through {
        Through::Unzip(limits) => outcome_of_members(unzip::members_with_limits(&c.input, limits)),
        Through::Unpack(name, with_key) => {
            let keyring = with_key.then(|| keys.expect("gpg case").keyring(KeyChoice::Rep));
            outcome_of_members(ingest::unpack(name, c.input.clone(), keyring.as_ref()))
        }
        Through::Decrypt(choice) => {
            let keyring = keys.expect("gpg case").keyring(*choice);
            let mut out = Vec::new();
            pgp::decrypt(&keyring, &c.input[..], &mut out)
                .map(|n| vec![("plaintext".to_owned(), n as usize)])
                .map_err(|e| (format!("{e:?}"), e.to_string()))
        }
        Through::KeyFile(passphrase) => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("key.asc");
            std::fs::write(&path, &c.input).unwrap();
            Keyring::from_files(&path, *passphrase, None)
                .map(|_| vec![("keyring".to_owned(), 0)])
                .map_err(|e| (format!("{e:?}"), e.to_string()))
        }
    }
}

fn check(c: &Case, keys: Option<&KeyMaterial>) -> Option<String> {
    let got = run(c, keys);
    let ok = match (&c.expect, &got) {
        (Expect::Members(want), Ok(got)) => {
            want.len() == got.len()
                && want
                    .iter()
                    .zip(got)
                    .all(|((n, l), (gn, gl))| n == gn && l == gl)
        }
        (Expect::Error { variant, told }, Err((debug, display))) => {
            debug
                .strip_prefix(variant)
                .is_some_and(|rest| rest.starts_with([' ', '(', '{']) || rest.is_empty())
                && display.contains(told)
        }
        _ => false,
    };
    (!ok).then(|| format!("case {}: expected {:?}\n  got {got:?}", c.name, c.expect))
}

// ---------------------------------------------------------------------------------------------
// Zip inputs.

fn zip_with(entries: &[(&str, &[u8], zip::CompressionMethod)], dirs: &[&str]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for d in dirs {
        w.add_directory(*d, zip::write::SimpleFileOptions::default())
            .unwrap();
    }
    for (name, data, method) in entries {
        let opts = zip::write::SimpleFileOptions::default().compression_method(*method);
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const DEFLATED: zip::CompressionMethod = zip::CompressionMethod::Deflated;
const STORED: zip::CompressionMethod = zip::CompressionMethod::Stored;

fn report() -> Vec<u8> {
    b"00000001,10443720000000001,4,20250701000000,20250701235900,Y,N\r\n".repeat(20)
}

fn two_reports() -> Vec<u8> {
    zip_with(
        &[
            ("a.lse", &report(), DEFLATED),
            ("b.csv", &b"ESIID,USAGE_DATE\n".repeat(50), DEFLATED),
        ],
        &[],
    )
}

/// Applies `f(bytes, header_start)` to every local file header (`local`) or central directory
/// entry (`!local`).
fn patch(mut zip: Vec<u8>, local: bool, f: impl Fn(&mut [u8], usize)) -> Vec<u8> {
    let sig: &[u8] = if local { b"PK\x03\x04" } else { b"PK\x01\x02" };
    let at: Vec<usize> = zip
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == sig)
        .map(|(i, _)| i)
        .collect();
    assert!(!at.is_empty());
    for i in at {
        f(&mut zip, i);
    }
    zip
}

/// Sets a 16-bit field at `local_off` of every local header and `central_off` of every central
/// entry.
fn set_u16(zip: Vec<u8>, local_off: usize, central_off: usize, value: u16) -> Vec<u8> {
    let zip = patch(zip, true, |z, i| {
        z[i + local_off..i + local_off + 2].copy_from_slice(&value.to_le_bytes())
    });
    patch(zip, false, |z, i| {
        z[i + central_off..i + central_off + 2].copy_from_slice(&value.to_le_bytes())
    })
}

fn xor_u32(zip: Vec<u8>, local_off: usize, central_off: usize, mask: u32) -> Vec<u8> {
    let flip = |z: &mut [u8], at: usize| {
        let v = u32::from_le_bytes(z[at..at + 4].try_into().unwrap()) ^ mask;
        z[at..at + 4].copy_from_slice(&v.to_le_bytes());
    };
    let zip = patch(zip, true, |z, i| flip(z, i + local_off));
    patch(zip, false, |z, i| flip(z, i + central_off))
}

fn renamed_second_member() -> Vec<u8> {
    let mut z = zip_with(
        &[
            ("r.csv", b"first\n", DEFLATED),
            ("s.csv", b"second\n", DEFLATED),
        ],
        &[],
    );
    for i in 0..z.len() - 5 {
        if &z[i..i + 5] == b"s.csv" {
            z[i..i + 5].copy_from_slice(b"r.csv");
        }
    }
    z
}

fn limits(max_total: u64, max_member: u64, max_members: usize) -> Limits {
    Limits {
        max_total,
        max_member,
        max_members,
    }
}

fn zip_cases() -> Vec<Case> {
    let d = Limits::DEFAULT;
    let u = |l: Limits| Through::Unzip(l);
    let zeros = vec![0u8; 8 << 20];
    let bomb = zip_with(&[("bomb.csv", &zeros, DEFLATED)], &[]);
    let good = two_reports();
    let lse_len = report().len();
    vec![
        case(
            "zip_two_reports_are_the_control",
            u(d),
            good.clone(),
            members(&[("a.lse", lse_len), ("b.csv", 850)]),
        ),
        case("zip_empty_archive", u(d), zip_with(&[], &[]), members(&[])),
        case(
            "zip_directories_only",
            u(d),
            zip_with(&[], &["reports/", "reports/2025/"]),
            members(&[]),
        ),
        case(
            "zip_nested_zip_is_one_opaque_member",
            u(d),
            zip_with(&[("inner.zip", &good, STORED)], &[]),
            members(&[("inner.zip", good.len())]),
        ),
        case(
            "zip_empty_member",
            u(d),
            zip_with(&[("empty.csv", b"", DEFLATED)], &[]),
            members(&[("empty.csv", 0)]),
        ),
        case(
            "zip_member_name_with_dot_dot_kept_as_stored",
            u(d),
            zip_with(&[("../../etc/report.lse", &report(), DEFLATED)], &[]),
            members(&[("../../etc/report.lse", lse_len)]),
        ),
        case(
            "zip_not_an_archive",
            u(d),
            b"PK\x03\x04this is not a zip".to_vec(),
            error("NotZip", "not a valid zip archive"),
        ),
        case("zip_zero_bytes", u(d), Vec::new(), error("NotZip", "not a valid zip archive")),
        case(
            "zip_cut_in_half",
            u(d),
            good[..good.len() / 2].to_vec(),
            error("NotZip", "not a valid zip archive"),
        ),
        case(
            "zip_last_byte_missing",
            u(d),
            good[..good.len() - 1].to_vec(),
            error("NotZip", "not a valid zip archive"),
        ),
        case(
            "zip_corrupt_central_directory_signature",
            u(d),
            patch(good.clone(), false, |z, i| z[i + 2] = b'X'),
            error("NotZip", "not a valid zip archive"),
        ),
        case(
            "zip_central_directory_offset_past_the_end",
            u(d),
            {
                let mut z = good.clone();
                let eocd = z.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
                z[eocd + 16..eocd + 20].copy_from_slice(&u32::MAX.to_le_bytes());
                z
            },
            error("NotZip", "not a valid zip archive"),
        ),
        case(
            "zip_wrong_crc",
            u(d),
            xor_u32(
                zip_with(&[("a.lse", &report(), STORED)], &[]),
                14,
                16,
                0xDEAD_BEEF,
            ),
            error("Member", "zip member \"a.lse\" cannot be read: Invalid checksum"),
        ),
        case(
            "zip_encrypted_member",
            u(d),
            set_u16(zip_with(&[("a.lse", &report(), STORED)], &[]), 6, 8, 1),
            error("Member", "zip member \"a.lse\" cannot be read"),
        ),
        case(
            "zip_unsupported_compression_method",
            u(d),
            set_u16(zip_with(&[("a.lse", &report(), STORED)], &[]), 8, 10, 99),
            error("Member", "zip member \"a.lse\" cannot be read"),
        ),
        case(
            "zip_duplicate_member_names",
            u(d),
            renamed_second_member(),
            error("DuplicateNames", "lists 2 entries but only 1 distinct names"),
        ),
        case(
            "zip_bomb_over_the_member_cap",
            u(limits(d.max_total, 1 << 20, d.max_members)),
            bomb.clone(),
            error(
                "MemberTooLarge",
                "zip member \"bomb.csv\" is larger than the limit of 1048576 bytes (declares 8388608)",
            ),
        ),
        case(
            "zip_bomb_over_the_total_cap",
            u(limits(4 << 20, d.max_member, d.max_members)),
            bomb.clone(),
            error("TotalTooLarge", "expands to more than the limit of 4194304 bytes"),
        ),
        case(
            "zip_more_members_than_allowed",
            u(limits(d.max_total, d.max_member, 1)),
            good.clone(),
            error("TooManyMembers", "zip archive has 2 entries, more than the limit of 1"),
        ),
        case(
            "zip_bomb_within_the_caps_unzips",
            u(limits(16 << 20, 8 << 20, 2)),
            bomb,
            members(&[("bomb.csv", 8 << 20)]),
        ),
        case(
            "zip_member_declaring_less_than_it_holds",
            u(d),
            set_u32_size(zip_with(&[("liar.csv", &vec![b'x'; 1 << 16], DEFLATED)], &[]), 100),
            error("SizeMismatch", "zip member \"liar.csv\" declares 100 bytes but holds more"),
        ),
        case(
            "zip_directory_entries_count_in_the_member_cap",
            u(limits(d.max_total, d.max_member, 2)),
            zip_with(&[("a.lse", &report(), DEFLATED)], &["x/", "y/"]),
            error("TooManyMembers", "zip archive has 3 entries, more than the limit of 2"),
        ),
    ]
}

/// The uncompressed size of every member, in local headers and central entries.
fn set_u32_size(zip: Vec<u8>, size: u32) -> Vec<u8> {
    let zip = patch(zip, true, |z, i| {
        z[i + 22..i + 26].copy_from_slice(&size.to_le_bytes())
    });
    patch(zip, false, |z, i| {
        z[i + 24..i + 28].copy_from_slice(&size.to_le_bytes())
    })
}

fn unpack_cases_without_keys() -> Vec<Case> {
    let good = two_reports();
    vec![
        case(
            "unpack_plain_report_keeps_its_name",
            Through::Unpack("IntervalData.csv", false),
            b"ESIID,USAGE_DATE\n".to_vec(),
            members(&[("IntervalData.csv", 17)]),
        ),
        case(
            "unpack_plain_report_named_asc_loses_the_suffix",
            Through::Unpack("DailyMeterUsage.CSV.183529049.asc", false),
            b"ESIID,USAGE_DATE\n".to_vec(),
            members(&[("DailyMeterUsage.CSV.183529049", 17)]),
        ),
        case(
            "unpack_empty_delivery_is_one_empty_report",
            Through::Unpack("empty.pgp", false),
            Vec::new(),
            members(&[("empty", 0)]),
        ),
        case(
            "unpack_zip_delivery_gives_its_members",
            Through::Unpack("bundle.zip", false),
            good.clone(),
            members(&[("a.lse", report().len()), ("b.csv", 850)]),
        ),
        case(
            "unpack_corrupt_zip_delivery",
            Through::Unpack("bundle.zip", false),
            good[..good.len() / 2].to_vec(),
            error("Unzip", "bundle.zip: cannot unzip: not a valid zip archive"),
        ),
        case(
            "unpack_encrypted_delivery_without_a_key",
            Through::Unpack("report.zip.asc", false),
            b"-----BEGIN PGP MESSAGE-----\n\nhQ==\n-----END PGP MESSAGE-----\n".to_vec(),
            error(
                "NoKey",
                "report.zip.asc is OpenPGP-encrypted but no secret key is configured",
            ),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// OpenPGP inputs, made by gpg once.

struct KeyMaterial {
    rep_secret: Vec<u8>,
    other_public: Vec<u8>,
    rep_public: Vec<u8>,
    /// Encrypted to the REP: a zip of two reports, armored and binary; a plain CSV; a zip of
    /// garbage.
    to_rep_armored: Vec<u8>,
    to_rep_binary: Vec<u8>,
    to_rep_plain_csv: Vec<u8>,
    to_rep_not_a_zip: Vec<u8>,
    to_rep_signed_by_other: Vec<u8>,
    to_other: Vec<u8>,
    symmetric: Vec<u8>,
    signed_only: Vec<u8>,
    clearsigned: Vec<u8>,
}

impl KeyMaterial {
    fn keyring(&self, choice: KeyChoice) -> Keyring {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("rep.asc");
        std::fs::write(&secret, &self.rep_secret).unwrap();
        let signer = match choice {
            KeyChoice::Rep => None,
            KeyChoice::RepSignedByOther => {
                let p = dir.path().join("other.asc");
                std::fs::write(&p, &self.other_public).unwrap();
                Some(p)
            }
        };
        Keyring::from_files(&secret, Some(PASSPHRASE), signer.as_deref()).expect("keyring")
    }
}

fn key_material() -> Option<&'static KeyMaterial> {
    static KEYS: OnceLock<Option<KeyMaterial>> = OnceLock::new();
    let k = KEYS
        .get_or_init(|| gpg_available().then(make_keys))
        .as_ref();
    if k.is_none() {
        require_gpg();
    }
    k
}

fn make_keys() -> KeyMaterial {
    let gpg = Gpg::new();
    let rep = gpg.gen_key("REP <rep@example.test>", PASSPHRASE);
    let other = gpg.gen_key("Other <other@example.test>", "");
    let zip = two_reports();
    let csv = b"ESIID,USAGE_DATE\n".repeat(3);
    KeyMaterial {
        rep_secret: gpg.export_secret(&rep, PASSPHRASE),
        other_public: gpg.export_public(&other),
        rep_public: gpg.export_public(&rep),
        to_rep_armored: gpg.encrypt(&zip, &rep, true),
        to_rep_binary: gpg.encrypt(&zip, &rep, false),
        to_rep_plain_csv: gpg.encrypt(&csv, &rep, true),
        to_rep_not_a_zip: gpg.encrypt(b"PK\x03\x04 not really a zip", &rep, false),
        to_rep_signed_by_other: gpg.encrypt_with(
            &zip,
            &[&rep],
            &["--sign", "--local-user", &other],
        ),
        to_other: gpg.encrypt(&zip, &other, false),
        symmetric: gpg.run(
            &["--passphrase", "shared", "--output", "-", "--symmetric"],
            &zip,
        ),
        signed_only: gpg.run(&["--local-user", &other, "--output", "-", "--sign"], &csv),
        clearsigned: gpg.run(
            &["--local-user", &other, "--output", "-", "--clearsign"],
            &csv,
        ),
    }
}

fn pgp_cases(k: &KeyMaterial) -> Vec<Case> {
    let dec = || Through::Decrypt(KeyChoice::Rep);
    let zip_len = two_reports().len();
    let flipped = {
        let mut m = k.to_rep_binary.clone();
        let at = m.len() - 40;
        m[at] ^= 0x10;
        m
    };
    vec![
        case(
            "pgp_armored_message_is_the_control",
            dec(),
            k.to_rep_armored.clone(),
            members(&[("plaintext", zip_len)]),
        ),
        case(
            "pgp_binary_message_decrypts",
            dec(),
            k.to_rep_binary.clone(),
            members(&[("plaintext", zip_len)]),
        ),
        case(
            "pgp_armored_garbage",
            dec(),
            b"-----BEGIN PGP MESSAGE-----\n\nThis is not base64 at all!!\n-----END PGP MESSAGE-----\n"
                .to_vec(),
            error("Corrupt", "the OpenPGP message is corrupt or truncated"),
        ),
        case(
            "pgp_binary_garbage_with_a_session_key_tag",
            dec(),
            [&[0x84u8, 0x0c][..], &[0xAB; 40]].concat(),
            error("Corrupt", "the OpenPGP message is corrupt or truncated"),
        ),
        case(
            "pgp_plain_text_is_not_openpgp",
            dec(),
            b"ESIID,USAGE_DATE\n".to_vec(),
            error("NotOpenPgp", "input is not OpenPGP data"),
        ),
        case(
            "pgp_empty_input",
            dec(),
            Vec::new(),
            error("NotOpenPgp", "input is not OpenPGP data"),
        ),
        case(
            "pgp_public_key_instead_of_a_message",
            dec(),
            k.rep_public.clone(),
            error("NotEncrypted", "OpenPGP data but not an encrypted message"),
        ),
        case(
            "pgp_signed_only_message",
            dec(),
            k.signed_only.clone(),
            error("NotEncrypted", "OpenPGP data but not an encrypted message"),
        ),
        case(
            "pgp_clearsigned_text",
            dec(),
            k.clearsigned.clone(),
            error("NotEncrypted", "OpenPGP data but not an encrypted message"),
        ),
        case(
            "pgp_message_for_another_recipient",
            dec(),
            k.to_other.clone(),
            error("NoMatchingKey", "the message is not encrypted to the configured secret key"),
        ),
        case(
            "pgp_symmetric_only_message",
            dec(),
            k.symmetric.clone(),
            error("NoMatchingKey", "the message is not encrypted to the configured secret key"),
        ),
        case(
            "pgp_truncated_message",
            dec(),
            k.to_rep_binary[..k.to_rep_binary.len() / 2].to_vec(),
            error("Corrupt", "the OpenPGP message is corrupt or truncated"),
        ),
        case(
            "pgp_armored_message_cut_before_its_footer",
            dec(),
            {
                let text = String::from_utf8(k.to_rep_armored.clone()).unwrap();
                text.as_bytes()[..text.find("-----END").unwrap() - 10].to_vec()
            },
            error("Corrupt", "the OpenPGP message is corrupt or truncated"),
        ),
        case(
            "pgp_flipped_byte_fails_integrity",
            dec(),
            flipped,
            error("Corrupt", "the OpenPGP message is corrupt or truncated"),
        ),
        case(
            "pgp_unsigned_message_with_a_required_signer",
            Through::Decrypt(KeyChoice::RepSignedByOther),
            k.to_rep_binary.clone(),
            error("SignatureMissing", "the message is not signed, but a signer key is configured"),
        ),
        case(
            "pgp_message_signed_by_the_required_signer",
            Through::Decrypt(KeyChoice::RepSignedByOther),
            k.to_rep_signed_by_other.clone(),
            members(&[("plaintext", zip_len)]),
        ),
        case(
            "key_file_with_the_wrong_passphrase",
            Through::KeyFile(Some("not the passphrase")),
            k.rep_secret.clone(),
            error("PassphraseWrong", "wrong passphrase for the secret key"),
        ),
        case(
            "key_file_without_a_passphrase",
            Through::KeyFile(None),
            k.rep_secret.clone(),
            error("PassphraseMissing", "is passphrase-protected and no passphrase was given"),
        ),
        case(
            "key_file_holding_a_public_key",
            Through::KeyFile(None),
            k.rep_public.clone(),
            error("NoSecretKey", "holds no OpenPGP secret key"),
        ),
        case(
            "key_file_of_garbage",
            Through::KeyFile(None),
            b"not a key\n".to_vec(),
            error("BadKeyFile", "is not an OpenPGP key file"),
        ),
        case(
            "key_file_empty",
            Through::KeyFile(None),
            Vec::new(),
            error("BadKeyFile", "is not an OpenPGP key file"),
        ),
        case(
            "unpack_encrypted_zip_delivery",
            Through::Unpack("DailyMeterUsage.zip.asc", true),
            k.to_rep_armored.clone(),
            members(&[("a.lse", report().len()), ("b.csv", 850)]),
        ),
        case(
            "unpack_encrypted_plain_csv_loses_the_suffix",
            Through::Unpack("IntervalData.CSV.183529049.asc", true),
            k.to_rep_plain_csv.clone(),
            members(&[("IntervalData.CSV.183529049", 51)]),
        ),
        case(
            "unpack_encrypted_broken_zip",
            Through::Unpack("bundle.zip.pgp", true),
            k.to_rep_not_a_zip.clone(),
            error("Unzip", "bundle.zip.pgp: cannot unzip: not a valid zip archive"),
        ),
        case(
            "unpack_message_for_another_recipient",
            Through::Unpack("theirs.zip.pgp", true),
            k.to_other.clone(),
            error("Decrypt", "theirs.zip.pgp: cannot decrypt: the message is not encrypted to the configured secret key"),
        ),
    ]
}

#[test]
fn corpus_of_bad_deliveries_gives_the_exact_outcome() {
    let started = Instant::now();
    let mut cases = zip_cases();
    let zip_count = cases.len();
    cases.extend(unpack_cases_without_keys());
    let gpg_started = Instant::now();
    let keys = key_material();
    let gpg_cases = keys.map(pgp_cases).unwrap_or_default();
    let gpg_count = gpg_cases.len();
    cases.extend(gpg_cases);
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "case name {} used twice", c.name);
    }
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c, keys)).collect();
    println!(
        "scheduler corpus: {} cases ({zip_count} zip, {} unpack without keys, {gpg_count} OpenPGP/keys/unpack with gpg-made input), {} failed, in {:.2?} (gpg key making and decrypting {:.2?})",
        cases.len(),
        cases.len() - zip_count - gpg_count,
        failures.len(),
        started.elapsed(),
        gpg_started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
