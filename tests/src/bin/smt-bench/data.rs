//! The benchmark's data, generated with `smt_core::testdata` file by file (never all records at
//! once) into a cache directory, with what it must add up to ([`Totals`]) and the binary COPY
//! files of the floors:
//!
//! - **v1**: the main day (2025-07-15) of `esiids` meters, load (channel 4) for all, generation
//!   (channel 1) for every 20th, in files of at most `records_per_file` records, each LSE (CRLF)
//!   zipped then OpenPGP-encrypted and armored by GnuPG, as SMT sends them.
//! - **v2**: the same ESIID-channel-days, values drawn again, revision one hour later (replaces
//!   every one); **v0**: drawn again, revision one hour earlier (stale: changes nothing).
//! - **history**: 10 other meters (2 with generation) over 13 months (2024-07-01..2025-07-30) for
//!   the queries (which read the first meter with load only, as most are), and both 2025 DST days
//!   (92 and 100 intervals) of the first 1,000 meters.
//!
//! `manifest.json` records the parameters, the files and the expected totals; a later run with the
//! same parameters reuses the directory instead of generating again.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use smt_core::record::{CHANNEL_GENERATION, CHANNEL_LOAD};
use smt_core::testdata::{self, Generator};
use smt_core::{DecimalSum, IntervalRecord};

use crate::checks::{TotalRow, Totals};
use crate::pgcopy;

/// Bump when what is generated changes, so cached data directories are generated again.
const DATA_VERSION: u32 = 4;
const SEED: u64 = 0x5EED_2025_0715;
/// Every this many meters, one also has generation (channel 1).
const GENERATION_EVERY: u64 = 20;
const HISTORY_ESIIDS: u64 = 10;
const HISTORY_WITH_GENERATION: u64 = 2;
const DST_ESIIDS: u64 = 1000;
const MANIFEST: &str = "manifest.json";

pub fn main_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 7, 15).expect("valid date")
}

pub fn history_days() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(2024, 7, 1).expect("valid date"),
        NaiveDate::from_ymd_opt(2025, 7, 30).expect("valid date"),
    )
}

/// The three deliveries of the main day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
    V0,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
            Version::V0 => "v0",
        }
    }

    fn seed(self) -> u64 {
        match self {
            Version::V1 => SEED ^ 0x0001,
            Version::V2 => SEED ^ 0x0002,
            Version::V0 => SEED ^ 0x0003,
        }
    }

    /// Revision relative to v1's.
    fn revision_hours(self) -> i64 {
        match self {
            Version::V1 => 0,
            Version::V2 => 1,
            Version::V0 => -1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub data_version: u32,
    pub seed: u64,
    pub esiids: u64,
    pub records_per_file: u64,
    pub main_day: String,
    pub generation_every: u64,
    pub history_esiids: u64,
    pub history_first_day: String,
    pub history_last_day: String,
    pub dst_esiids: u64,
    pub recipient: String,
}

impl Params {
    pub fn new(esiids: u64, records_per_file: u64, recipient: &str) -> Params {
        let (first, last) = history_days();
        Params {
            data_version: DATA_VERSION,
            seed: SEED,
            esiids,
            records_per_file,
            main_day: main_day().to_string(),
            generation_every: GENERATION_EVERY,
            history_esiids: HISTORY_ESIIDS,
            history_first_day: first.to_string(),
            history_last_day: last.to_string(),
            dst_esiids: DST_ESIIDS.min(esiids),
            recipient: recipient.to_owned(),
        }
    }
}

/// One delivery set: its files (names in the data directory), sizes and expected totals.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataSet {
    pub name: String,
    pub files: Vec<String>,
    pub records: u64,
    pub intervals: u64,
    /// Bytes of LSE before zip and encryption.
    pub lse_bytes: u64,
    /// Bytes of the encrypted files.
    pub bytes: u64,
    pub totals: Vec<TotalRow>,
    /// Binary COPY file of the same rows (v1 and v2 only), for the floors.
    pub pgcopy: Option<String>,
}

/// The ESIID the queries read, and what they must return.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueryEsiid {
    pub esiid: String,
    pub first_day: String,
    pub last_day: String,
    /// Rows `smt.interval` has for it over those days (both channels, missing intervals included).
    pub intervals: u64,
    pub months: Vec<MonthTotal>,
}

/// Monthly totals as `smt.daily_usage` sums them (`None`: no value that month).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MonthTotal {
    pub month: String,
    pub import_kwh: Option<String>,
    pub export_kwh: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub params: Params,
    pub v1: DataSet,
    pub v2: DataSet,
    pub v0: DataSet,
    pub history: DataSet,
    pub query: QueryEsiid,
    pub generation_seconds: f64,
}

pub struct Data {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// True when this run generated the data (false: reused from an earlier run).
    pub generated: bool,
}

impl Data {
    pub fn paths(&self, set: &DataSet) -> Vec<PathBuf> {
        set.files.iter().map(|f| self.dir.join(f)).collect()
    }

    pub fn pgcopy(&self, set: &DataSet) -> Result<PathBuf> {
        set.pgcopy
            .as_ref()
            .map(|f| self.dir.join(f))
            .with_context(|| format!("set {} has no binary COPY file", set.name))
    }

    pub fn set(&self, version: Version) -> &DataSet {
        match version {
            Version::V1 => &self.manifest.v1,
            Version::V2 => &self.manifest.v2,
            Version::V0 => &self.manifest.v0,
        }
    }
}

pub fn totals(set: &DataSet) -> Result<Totals> {
    Totals::from_rows(&set.totals).with_context(|| format!("totals of {} in {MANIFEST}", set.name))
}

/// The data for `params` in `dir`: reused when its manifest matches and every file is there,
/// generated otherwise (files are encrypted to `recipient` in `gnupg_home`, `jobs` at a time).
pub fn prepare(dir: &Path, params: &Params, gnupg_home: &Path, jobs: usize) -> Result<Data> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(manifest) = cached(dir, params) {
        eprintln!(
            "smt-bench: reusing the data in {} (same parameters)",
            dir.display()
        );
        return Ok(Data {
            dir: dir.to_owned(),
            manifest,
            generated: false,
        });
    }
    clear(dir)?;
    eprintln!(
        "smt-bench: generating {} ESIIDs of data into {}",
        params.esiids,
        dir.display()
    );
    let started = Instant::now();
    let mut encryptor = Encryptor {
        gnupg_home: gnupg_home.to_owned(),
        recipient: params.recipient.clone(),
        jobs: jobs.max(1),
        running: VecDeque::new(),
    };
    let mut sets = Vec::new();
    for version in [Version::V1, Version::V2, Version::V0] {
        let prefix = format!("bench-{}-{}", params.main_day, version.name());
        let pgcopy = (version != Version::V0).then(|| format!("{prefix}.pgcopy"));
        let mut w = SetWriter::new(dir, version.name(), prefix, params, pgcopy, &mut encryptor)?;
        for r in main_records(params, version) {
            w.push(r)?;
        }
        sets.push(w.finish()?);
        eprintln!(
            "smt-bench: {} written ({:.0} s)",
            version.name(),
            started.elapsed().as_secs_f64()
        );
    }
    let (history_records, query) = history(params);
    let mut w = SetWriter::new(
        dir,
        "history",
        "bench-history".into(),
        params,
        None,
        &mut encryptor,
    )?;
    for r in history_records {
        w.push(r)?;
    }
    sets.push(w.finish()?);
    encryptor.wait_all()?;
    for set in &mut sets {
        set.bytes = set
            .files
            .iter()
            .map(|f| fs::metadata(dir.join(f)).map(|m| m.len()))
            .sum::<std::io::Result<u64>>()
            .context("sizes of the encrypted files")?;
    }
    let [v1, v2, v0, history]: [DataSet; 4] = sets.try_into().expect("four sets");
    let manifest = Manifest {
        params: params.clone(),
        v1,
        v2,
        v0,
        history,
        query,
        generation_seconds: started.elapsed().as_secs_f64(),
    };
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)?;
    fs::rename(&tmp, dir.join(MANIFEST))?;
    eprintln!(
        "smt-bench: data generated in {:.0} s",
        manifest.generation_seconds
    );
    Ok(Data {
        dir: dir.to_owned(),
        manifest,
        generated: true,
    })
}

fn cached(dir: &Path, params: &Params) -> Option<Manifest> {
    let text = fs::read(dir.join(MANIFEST)).ok()?;
    let manifest: Manifest = serde_json::from_slice(&text).ok()?;
    if manifest.params != *params {
        return None;
    }
    let sets = [&manifest.v1, &manifest.v2, &manifest.v0, &manifest.history];
    let all_there = sets
        .iter()
        .flat_map(|s| s.files.iter().chain(s.pgcopy.iter()))
        .all(|f| dir.join(f).is_file());
    all_there.then_some(manifest)
}

/// Removes what an earlier generation left (never the key or anything else in the directory).
fn clear(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("bench-") || name.starts_with(MANIFEST) {
            fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Meter `index`'s ESIID: a realistic one (`Generator::esiid`, a real TDSP prefix) whose last 8
/// digits are the index, so no two meters share one (random draws would collide at millions).
fn esiid(g: &mut Generator, index: u64) -> String {
    let mut id = g.esiid();
    let tail = format!("{index:08}");
    let at = id.len() - tail.len();
    id.replace_range(at.., &tail);
    id
}

/// The main day's meters, in order: (index, ESIID). The same for every version.
fn main_esiids(count: u64) -> impl Iterator<Item = (u64, String)> {
    let mut g = Generator::new(SEED);
    (0..count).map(move |i| (i, esiid(&mut g, i)))
}

fn channels(with_generation: bool) -> &'static [u8] {
    if with_generation {
        &[CHANNEL_LOAD, CHANNEL_GENERATION]
    } else {
        &[CHANNEL_LOAD]
    }
}

fn main_has_generation(index: u64) -> bool {
    index % GENERATION_EVERY == GENERATION_EVERY - 1
}

/// Every record of the main day in `version`, lazily.
pub fn main_records(params: &Params, version: Version) -> impl Iterator<Item = IntervalRecord> {
    let day = main_day();
    let mut values = Generator::new(version.seed());
    let shift = Duration::hours(version.revision_hours());
    main_esiids(params.esiids).flat_map(move |(i, esiid)| {
        channels(main_has_generation(i))
            .iter()
            .map(|&channel| {
                let mut r = values.record(&esiid, channel, day);
                r.revision += shift;
                r
            })
            .collect::<Vec<_>>()
    })
}

/// The history set's records (13 months of 10 other meters, then both DST days of the first
/// 1,000 meters), and what the queries of the first history meter must return.
fn history(params: &Params) -> (Vec<IntervalRecord>, QueryEsiid) {
    let (first, last) = history_days();
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let mut values = Generator::new(SEED ^ 0x00F0);
    let mut ids = Generator::new(SEED ^ 0x0F00);
    let mut records = Vec::new();
    for h in 0..HISTORY_ESIIDS {
        // Indexes after the main meters': distinct ESIIDs.
        let id = esiid(&mut ids, params.esiids + h);
        for &day in &days {
            for &channel in channels(h < HISTORY_WITH_GENERATION) {
                records.push(values.record(&id, channel, day));
            }
        }
    }
    // The queries read a meter with load only, as most are.
    let query = query_esiid(
        &records,
        &records[generating_history_records(&days)].esiid,
        first,
        last,
    );
    for day in testdata::dst_days_2025() {
        for (i, id) in main_esiids(params.dst_esiids) {
            for &channel in channels(main_has_generation(i)) {
                records.push(values.record(&id, channel, day));
            }
        }
    }
    (records, query)
}

/// Records of the history meters with generation, which come first.
fn generating_history_records(days: &[NaiveDate]) -> usize {
    days.len() * 2 * HISTORY_WITH_GENERATION as usize
}

/// What the queries of `esiid` must return.
fn query_esiid(
    records: &[IntervalRecord],
    esiid: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> QueryEsiid {
    let esiid = esiid.to_owned();
    let mine: Vec<&IntervalRecord> = records.iter().filter(|r| r.esiid == esiid).collect();
    // (month, channel) -> (sum, values)
    let mut months: BTreeMap<(NaiveDate, u8), (DecimalSum, u64)> = BTreeMap::new();
    for r in &mine {
        let month = r.day.with_day(1).expect("day 1 exists");
        let entry = months.entry((month, r.channel)).or_default();
        for reading in r.intervals.iter().flatten() {
            entry.0.add(reading.kwh);
            entry.1 += 1;
        }
    }
    let month_list: BTreeSet<NaiveDate> = months.keys().map(|(m, _)| *m).collect();
    let sum = |month, channel| {
        months
            .get(&(month, channel))
            .filter(|(_, values)| *values > 0)
            .map(|(sum, _)| sum.to_string())
    };
    let out = month_list
        .into_iter()
        .map(|m| MonthTotal {
            month: m.to_string(),
            import_kwh: sum(m, CHANNEL_LOAD),
            export_kwh: sum(m, CHANNEL_GENERATION),
        })
        .collect();
    QueryEsiid {
        intervals: mine.iter().map(|r| r.intervals.len() as u64).sum(),
        esiid,
        first_day: first.to_string(),
        last_day: last.to_string(),
        months: out,
    }
}

/// Writes one set's files: records are buffered up to a file's worth, written as LSE, then zipped
/// and encrypted in the background while the next file is generated.
struct SetWriter<'a> {
    dir: &'a Path,
    prefix: String,
    per_file: usize,
    chunk: Vec<IntervalRecord>,
    set: DataSet,
    totals: Totals,
    pgcopy: Option<pgcopy::Writer<BufWriter<File>>>,
    encryptor: &'a mut Encryptor,
}

impl<'a> SetWriter<'a> {
    fn new(
        dir: &'a Path,
        name: &str,
        prefix: String,
        params: &Params,
        pgcopy: Option<String>,
        encryptor: &'a mut Encryptor,
    ) -> Result<Self> {
        let writer = match &pgcopy {
            Some(f) => {
                let path = dir.join(f);
                let file =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                Some(pgcopy::Writer::new(BufWriter::with_capacity(
                    1 << 20,
                    file,
                ))?)
            }
            None => None,
        };
        Ok(SetWriter {
            dir,
            prefix,
            per_file: params.records_per_file as usize,
            chunk: Vec::new(),
            set: DataSet {
                name: name.to_owned(),
                files: Vec::new(),
                records: 0,
                intervals: 0,
                lse_bytes: 0,
                bytes: 0,
                totals: Vec::new(),
                pgcopy,
            },
            totals: Totals::default(),
            pgcopy: writer,
            encryptor,
        })
    }

    fn push(&mut self, r: IntervalRecord) -> Result<()> {
        self.totals.add(&r);
        if let Some(w) = &mut self.pgcopy {
            // The file the record is in stands for smt's file_id.
            w.write(&r, self.set.files.len() as i64 + 1)?;
        }
        self.chunk.push(r);
        if self.chunk.len() >= self.per_file {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let base = format!("{}-part{:03}", self.prefix, self.set.files.len() + 1);
        let lse = self.dir.join(format!("{base}.lse"));
        let bytes = testdata::lse_bytes(&self.chunk, true);
        fs::write(&lse, &bytes).with_context(|| format!("writing {}", lse.display()))?;
        self.set.records += self.chunk.len() as u64;
        self.set.intervals += self
            .chunk
            .iter()
            .map(|r| r.intervals.len() as u64)
            .sum::<u64>();
        self.set.lse_bytes += bytes.len() as u64;
        self.set.files.push(format!("{base}.zip.asc"));
        self.chunk.clear();
        self.encryptor.submit(self.dir, &base)
    }

    fn finish(mut self) -> Result<DataSet> {
        self.flush()?;
        if let Some(w) = self.pgcopy.take() {
            w.finish()?;
        }
        self.set.totals = self.totals.to_rows();
        Ok(self.set)
    }
}

/// `zip -j` then `gpg --encrypt --armor` of `BASE.lse` into `BASE.zip.asc`, `jobs` at a time.
struct Encryptor {
    gnupg_home: PathBuf,
    recipient: String,
    jobs: usize,
    running: VecDeque<(String, Child)>,
}

impl Encryptor {
    fn submit(&mut self, dir: &Path, base: &str) -> Result<()> {
        while self.running.len() >= self.jobs {
            self.wait_oldest()?;
        }
        let child = Command::new("sh")
            .arg("-c")
            .arg(
                "set -e; zip -q -j \"$1.zip\" \"$1.lse\"; rm \"$1.lse\"; \
                 gpg --batch --yes --quiet --armor --trust-model always -r \"$2\" \
                     -o \"$1.zip.asc\" -e \"$1.zip\"; rm \"$1.zip\"",
            )
            .arg("sh")
            .arg(dir.join(base))
            .arg(&self.recipient)
            .env("GNUPGHOME", &self.gnupg_home)
            .spawn()
            .context("starting sh (zip, gpg)")?;
        self.running.push_back((base.to_owned(), child));
        Ok(())
    }

    fn wait_oldest(&mut self) -> Result<()> {
        if let Some((base, mut child)) = self.running.pop_front() {
            let status = child.wait()?;
            if !status.success() {
                bail!("zipping and encrypting {base} failed ({status})");
            }
        }
        Ok(())
    }

    fn wait_all(&mut self) -> Result<()> {
        while !self.running.is_empty() {
            self.wait_oldest()?;
        }
        Ok(())
    }
}
