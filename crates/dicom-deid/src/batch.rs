//! The batch engine: de-identifies a whole directory tree into a pseudonymous output tree.
//!
//! * The input tree is walked lazily (never held in memory) and its files are de-identified
//!   in parallel on a rayon pool.
//! * Output paths hold no PHI: `OUT/<patient pseudonym>/<study UID>/<series UID>/<SOP
//!   instance UID>.dcm`, all values taken from the de-identified data set.
//! * Each file is de-identified into a temporary file under `OUT/.deid-tmp/<shard>/` and then
//!   moved into place without overwriting anything, so a killed run never leaves a partial
//!   `.dcm`. Finished inputs are journaled under `OUT/.deid-state/` (keyed path hash, size
//!   and modification time, output path); a rerun skips unchanged ones without reading them
//!   and completes to the same tree as an uninterrupted run (the same key gives the same
//!   bytes).
//! * When two inputs give the same output path (a duplicate SOP Instance UID), identical
//!   bytes count as already done; different bytes are reported as `duplicate` and the output
//!   written first is kept (with several jobs, which one is first is not fixed).
//! * Shards: an input belongs to shard K of N by a SHA-256 of its path relative to the
//!   input root, so shards need no coordination and their union is exactly a single run.
//! * Reports name inputs by a keyed hash of their relative path (the path itself may hold
//!   PHI, e.g. a patient name as folder name) unless asked otherwise, and give reasons as
//!   error kinds with tag paths and offsets, never values.

use crate::actions::ActionCounts;
use crate::deid::{DeidError, Deidentifier};
use rayon::iter::{ParallelBridge, ParallelIterator};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

/// The folder under the output root that holds temporary files.
pub const TMP_DIR: &str = ".deid-tmp";
/// The folder under the output root that holds the resume journals.
pub const STATE_DIR: &str = ".deid-state";

/// Shard K of N (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=count.
    pub index: u32,
    /// The number of shards.
    pub count: u32,
}

impl Shard {
    /// Whether the input at `rel` (relative to the input root) belongs to this shard.
    pub fn contains(&self, rel: &Path) -> bool {
        let digest = Sha256::digest(rel.as_os_str().as_encoded_bytes());
        let mut n = [0u8; 8];
        n.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(n) % u64::from(self.count)) as u32 + 1 == self.index
    }

    fn tag(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard specification is invalid.
#[derive(Debug, thiserror::Error)]
#[error("a shard is K/N with 1 <= K <= N (e.g. 2/8), got {0:?}")]
pub struct ShardParseError(String);

impl FromStr for Shard {
    type Err = ShardParseError;

    fn from_str(s: &str) -> Result<Shard, ShardParseError> {
        let err = || ShardParseError(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = k.trim().parse().map_err(|_| err())?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if index == 0 || count == 0 || index > count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct BatchConfig {
    /// The input root (a directory).
    pub input: PathBuf,
    /// The output root (created when missing). When inside the input, it is not walked.
    pub output: PathBuf,
    /// Only the inputs of this shard.
    pub shard: Option<Shard>,
    /// Worker threads (default: rayon's, one per core).
    pub jobs: Option<usize>,
    /// De-identify without writing anything (outputs are discarded).
    pub dry_run: bool,
    /// Put relative input paths in the report (they may hold PHI).
    pub report_input_paths: bool,
    /// Write a before/after PNG of each image whose pixels were cleaned here, named by the
    /// output's SOP Instance UID. Operator-side only: it must lie outside the output.
    pub qa_dir: Option<PathBuf>,
}

/// What happened to one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// De-identified and written.
    Done,
    /// Already done by an earlier run (journaled, or an identical output already exists).
    Skipped,
    /// A DICOMDIR: not de-identified (regenerate it for the output).
    SkippedDicomdir,
    /// A DICOM file that could not or must not be de-identified (see reason).
    Rejected,
    /// Not a DICOM file; ignored, never copied.
    NonDicom,
    /// Another input already produced this output path with different content (duplicate
    /// SOP Instance UID); the first one is kept.
    Duplicate,
    /// An I/O failure (unreadable folder or file, write failure).
    Error,
}

impl Status {
    /// The kebab-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Skipped => "skipped",
            Status::SkippedDicomdir => "skipped-dicomdir",
            Status::Rejected => "rejected",
            Status::NonDicom => "non-dicom",
            Status::Duplicate => "duplicate",
            Status::Error => "error",
        }
    }
}

/// One line of the report. Holds no patient value.
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    /// The keyed hash of the input path relative to the input root.
    pub input: String,
    /// The relative input path, only with `report_input_paths`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    /// What happened.
    pub status: Status,
    /// The error kind (e.g. `truncated`), when not done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Why, when not done: kind and message (tag paths and offsets only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The output path relative to the output root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Actions carried out, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<ActionCounts>,
    /// What the Clean Pixel Data option did (rules, frames, output encoding, notes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixels: Option<crate::pixels::PixelOutcome>,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// The input's stamp (size and modification time) when the output is complete and in
    /// place, to be journaled.
    #[serde(skip)]
    journal: Option<String>,
}

/// Counts so far, for a progress display.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Inputs finished (whatever their status).
    pub files: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Inputs rejected so far.
    pub rejected: u64,
}

/// Totals of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Inputs seen (in this shard).
    pub files_seen: u64,
    /// De-identified and written.
    pub done: u64,
    /// Already done by an earlier run.
    pub skipped: u64,
    /// DICOMDIR files skipped.
    pub skipped_dicomdir: u64,
    /// Non-DICOM files ignored.
    pub non_dicom: u64,
    /// Duplicate outputs (different content, first kept).
    pub duplicates: u64,
    /// Rejected DICOM files, by error kind.
    pub rejected: BTreeMap<String, u64>,
    /// I/O failures, by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Inputs per second.
    pub files_per_second: f64,
    /// Megabytes (10^6) read per second.
    pub mb_per_second: f64,
}

impl Summary {
    /// Rejected DICOM files (all kinds).
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// I/O failures (all kinds).
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    fn add(&mut self, r: &FileRecord) {
        self.files_seen += 1;
        self.bytes_in += r.bytes_in;
        self.bytes_out += r.bytes_out;
        let kind = r.kind.clone().unwrap_or_default();
        match r.status {
            Status::Done => self.done += 1,
            Status::Skipped => self.skipped += 1,
            Status::SkippedDicomdir => self.skipped_dicomdir += 1,
            Status::NonDicom => self.non_dicom += 1,
            Status::Duplicate => self.duplicates += 1,
            Status::Rejected => *self.rejected.entry(kind).or_default() += 1,
            Status::Error => *self.errors.entry(kind).or_default() += 1,
        }
    }
}

/// Why a batch could not run at all (per-file problems are report records instead).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The input is not a directory.
    #[error("the input is not a directory")]
    InputNotDir,
    /// The output root or its state folders could not be created or used.
    #[error("cannot prepare the output directory: {0}")]
    Output(io::Error),
    /// The resume journal could not be read or written.
    #[error("cannot use the resume journal: {0}")]
    Journal(io::Error),
    /// The worker pool could not be started.
    #[error("cannot start the worker threads: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
}

/// One walked entry, or a walk error, with its relative path.
enum Item {
    File {
        path: PathBuf,
        rel: PathBuf,
    },
    Symlink {
        rel: PathBuf,
    },
    WalkError {
        rel: Option<PathBuf>,
        reason: String,
    },
}

/// Walks the input tree lazily: regular files and symlinks of this shard, and walk errors
/// (never fatal). The output root is not entered when it lies inside the input.
fn walk(cfg: &BatchConfig, skip_dir: Option<PathBuf>) -> impl Iterator<Item = Item> + Send {
    let root = cfg.input.clone();
    let shard = cfg.shard;
    walkdir::WalkDir::new(&cfg.input)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(move |e| {
            skip_dir.as_ref().is_none_or(|skip| {
                !(e.file_type().is_dir() && fs::canonicalize(e.path()).is_ok_and(|p| &p == skip))
            })
        })
        .filter_map(move |entry| {
            let item = match entry {
                Ok(e) => {
                    let rel = e.path().strip_prefix(&root).ok()?.to_path_buf();
                    if e.file_type().is_file() {
                        Item::File {
                            path: e.path().to_path_buf(),
                            rel,
                        }
                    } else if e.file_type().is_symlink() {
                        Item::Symlink { rel }
                    } else {
                        return None;
                    }
                }
                Err(err) => {
                    let rel = err
                        .path()
                        .and_then(|p| p.strip_prefix(&root).ok())
                        .map(Path::to_path_buf);
                    let reason = if err.loop_ancestor().is_some() {
                        "filesystem loop".to_string()
                    } else {
                        match err.io_error() {
                            Some(io) => format!("cannot read: {}", io.kind()),
                            None => "walk error".to_string(),
                        }
                    };
                    Item::WalkError { rel, reason }
                }
            };
            let rel = match &item {
                Item::File { rel, .. } | Item::Symlink { rel } => Some(rel),
                Item::WalkError { rel, .. } => rel.as_ref(),
            };
            match (shard, rel) {
                (Some(s), Some(rel)) if !s.contains(rel) => None,
                _ => Some(item),
            }
        })
}

/// Counts the inputs of this shard (a walk only, no file is opened): a total for progress.
pub fn count_inputs(cfg: &BatchConfig) -> u64 {
    let skip = fs::canonicalize(&cfg.output).ok();
    walk(cfg, skip).count() as u64
}

/// Shared, read-only state of the workers.
struct Ctx<'a> {
    deid: &'a Deidentifier,
    cfg: &'a BatchConfig,
    tmp_dir: PathBuf,
    /// What earlier runs finished.
    journal: Journal,
}

fn rel_string(rel: &Path) -> String {
    rel.to_string_lossy().into_owned()
}

/// A path component that is safe and carries no PHI: pseudonyms and UIDs as they are,
/// anything else replaced by a keyed hash.
fn component(deid: &Deidentifier, value: Option<&str>, missing: &str) -> String {
    match value.map(str::trim) {
        None | Some("") => missing.to_string(),
        Some(v)
            if v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                && !v.starts_with('.') =>
        {
            v.to_string()
        }
        Some(v) => format!("H-{}", deid.key().hash("path-component", v)),
    }
}

fn relative_output(deid: &Deidentifier, o: &crate::deid::Outcome, input_hash: &str) -> PathBuf {
    let sop = match o.sop_instance_uid.as_deref().map(str::trim) {
        None | Some("") => format!("NO-SOP-{input_hash}"),
        v => component(deid, v, "NO-SOP"),
    };
    PathBuf::from(component(
        deid,
        o.patient_pseudonym.as_deref(),
        "NO-PATIENT-ID",
    ))
    .join(component(deid, o.study_uid.as_deref(), "NO-STUDY"))
    .join(component(deid, o.series_uid.as_deref(), "NO-SERIES"))
    .join(format!("{sop}.dcm"))
}

fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
    let (fa, fb) = (File::open(a)?, File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ra, mut rb) = (BufReader::new(fa), BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = ra.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        rb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Counts bytes written through it.
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Ctx<'_> {
    fn record(&self, rel: Option<&Path>, status: Status) -> FileRecord {
        let rel_s = rel.map(rel_string);
        FileRecord {
            input: rel_s
                .as_deref()
                .map(|r| self.deid.key().hash("input-path", r))
                .unwrap_or_default(),
            input_path: rel_s.filter(|_| self.cfg.report_input_paths),
            status,
            kind: None,
            reason: None,
            output: None,
            actions: None,
            pixels: None,
            bytes_in: 0,
            bytes_out: 0,
            journal: None,
        }
    }

    fn process(&self, item: Item) -> FileRecord {
        match item {
            Item::WalkError { rel, reason } => {
                let mut r = self.record(rel.as_deref(), Status::Error);
                r.kind = Some("walk-error".into());
                r.reason = Some(format!("walk-error: {reason}"));
                r
            }
            Item::Symlink { rel } => {
                let mut r = self.record(Some(&rel), Status::NonDicom);
                r.kind = Some("symlink".into());
                r.reason = Some("symlink: symbolic links are not followed".into());
                r
            }
            Item::File { path, rel } => self.process_file(&path, &rel),
        }
    }

    /// The before/after thumbnail of a cleaned image, when asked for.
    fn write_qa(&self, input: &Path, output: &Path, r: &mut FileRecord) {
        let (Some(dir), Some(pixels)) = (&self.cfg.qa_dir, &r.pixels) else {
            return;
        };
        if pixels.frames == 0 {
            return;
        }
        let name = output
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let png = dir.join(format!("{name}.png"));
        let written = fs::create_dir_all(dir)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                crate::pixels::qa::write_qa_png(input, output, &png).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            r.reason = Some(format!("QA thumbnail not written: {e}"));
        }
    }

    fn process_file(&self, path: &Path, rel: &Path) -> FileRecord {
        let mut r = self.record(Some(rel), Status::Done);
        let stamp = stamp(path);
        if let Some(out) = stamp.as_deref().and_then(|s| self.journal_hit(&r.input, s)) {
            r.status = Status::Skipped;
            r.reason = Some("already done (journal)".into());
            r.output = Some(out);
            return r;
        }
        let fail = |mut r: FileRecord, e: &DeidError| {
            let kind = e.kind();
            r.status = match kind {
                "not-dicom" => Status::NonDicom,
                "dicomdir" => Status::SkippedDicomdir,
                "open-error" | "read-error" | "write-error" => Status::Error,
                _ => Status::Rejected,
            };
            r.kind = Some(kind.to_string());
            r.reason = Some(format!("{kind}: {e}"));
            r.output = None;
            r.bytes_out = 0;
            r
        };
        r.bytes_in = match fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) => return fail(r, &DeidError::Open(e)),
        };
        if self.cfg.dry_run {
            let input = match File::open(path) {
                Ok(f) => BufReader::with_capacity(256 * 1024, f),
                Err(e) => return fail(r, &DeidError::Open(e)),
            };
            let len = Some(r.bytes_in);
            let mut sink = Counting {
                inner: io::sink(),
                n: 0,
            };
            return match self.deid.deidentify_stream(input, len, &mut sink) {
                Ok(o) => {
                    r.output = Some(rel_string(&relative_output(self.deid, &o, &r.input)));
                    r.actions = Some(o.actions);
                    r.bytes_out = sink.n;
                    r
                }
                Err(e) => fail(r, &e),
            };
        }
        let tmp = match tempfile::Builder::new()
            .prefix("deid-")
            .suffix(".part")
            .tempfile_in(&self.tmp_dir)
        {
            Ok(t) => t,
            Err(e) => return fail(r, &DeidError::Write(e)),
        };
        let outcome = match self.deid.deidentify_into(path, tmp.as_file()) {
            Ok(o) => o,
            Err(e) => return fail(r, &e),
        };
        r.bytes_out = tmp.as_file().metadata().map(|m| m.len()).unwrap_or(0);
        let rel_out = relative_output(self.deid, &outcome, &r.input);
        r.output = Some(rel_string(&rel_out));
        r.actions = Some(outcome.actions);
        r.pixels = outcome.pixels;
        let dest = self.cfg.output.join(&rel_out);
        if let Some(parent) = dest.parent()
            && let Err(e) = fs::create_dir_all(parent)
        {
            return fail(r, &DeidError::Write(e));
        }
        match tmp.persist_noclobber(&dest) {
            Ok(_) => {
                r.journal = stamp;
                self.write_qa(path, &dest, &mut r);
                r
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                match same_contents(e.file.path(), &dest) {
                    Ok(true) => {
                        r.status = Status::Skipped;
                        r.reason = Some("identical output already present".into());
                        r.bytes_out = 0;
                        r.journal = stamp;
                        r
                    }
                    Ok(false)
                        if self.journal.output_of(&r.input).as_deref() == r.output.as_deref() =>
                    {
                        // This input made that output in an earlier run and has changed since.
                        match e.file.persist(&dest) {
                            Ok(_) => {
                                r.reason = Some("input changed; its output was replaced".into());
                                r.journal = stamp;
                                r
                            }
                            Err(e) => fail(r, &DeidError::Write(e.error)),
                        }
                    }
                    Ok(false) => {
                        r.status = Status::Duplicate;
                        r.kind = Some("duplicate-sop-instance".into());
                        r.reason = Some(
                            "duplicate-sop-instance: another input already produced this \
                             output with different content; the first was kept"
                                .into(),
                        );
                        r.bytes_out = 0;
                        r
                    }
                    Err(io) => fail(r, &DeidError::Write(io)),
                }
            }
            Err(e) => fail(r, &DeidError::Write(e.error)),
        }
    }

    /// The output of a journaled input, when the input is unchanged (same stamp) and the
    /// output is still there.
    fn journal_hit(&self, input_hash: &str, stamp: &str) -> Option<String> {
        let out = self.journal.output_if_unchanged(input_hash, stamp)?;
        self.cfg.output.join(&out).is_file().then_some(out)
    }
}

/// Size and modification time of an input (a `stat`, without opening it): a journaled input
/// with another stamp has changed and is de-identified again.
fn stamp(path: &Path) -> Option<String> {
    let meta = fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!("{}:{}", meta.len(), mtime.as_nanos()))
}

/// What earlier runs finished, read from the journals under `OUT/.deid-state/` (lines
/// `input hash TAB stamp TAB output path`). Kept compact so that resuming a run of millions
/// of files stays small: per finished input, its 8-byte keyed path hash, an 8-byte digest
/// of its stamp and where its line is; the output path is read back from the file only for
/// an input that is met again.
#[derive(Default)]
struct Journal {
    files: Vec<PathBuf>,
    entries: HashMap<u64, JournalEntry>,
}

#[derive(Clone, Copy)]
struct JournalEntry {
    stamp: u64,
    file: usize,
    offset: u64,
}

/// A 64-bit digest of a stamp (size and modification time).
fn stamp_digest(stamp: &str) -> u64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(stamp.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// A journal line: (input hash, stamp, output path), `None` for a line cut by a kill.
fn journal_fields(line: &str) -> Option<(u64, &str, &str)> {
    let mut fields = line.trim_end_matches('\n').split('\t');
    match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (Some(hash), Some(stamp), Some(out), None) if out.ends_with(".dcm") => {
            Some((u64::from_str_radix(hash, 16).ok()?, stamp, out))
        }
        _ => None,
    }
}

impl Journal {
    /// Loads every journal under `state_dir`; later lines win.
    fn load(state_dir: &Path) -> io::Result<Journal> {
        let mut journal = Journal::default();
        for entry in fs::read_dir(state_dir)? {
            let path = entry?.path();
            let is_journal = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("journal-") && n.ends_with(".log"));
            if !is_journal {
                continue;
            }
            let file = journal.files.len();
            let mut reader = BufReader::new(File::open(&path)?);
            let (mut offset, mut line) = (0u64, String::new());
            loop {
                line.clear();
                let n = reader.read_line(&mut line)?;
                if n == 0 {
                    break;
                }
                if let Some((hash, stamp, _)) = journal_fields(&line) {
                    let stamp = stamp_digest(stamp);
                    journal.entries.insert(
                        hash,
                        JournalEntry {
                            stamp,
                            file,
                            offset,
                        },
                    );
                }
                offset += n as u64;
            }
            journal.files.push(path);
        }
        Ok(journal)
    }

    /// The output path journaled for an input (by its keyed path hash).
    fn output_of(&self, input_hash: &str) -> Option<String> {
        let entry = self
            .entries
            .get(&u64::from_str_radix(input_hash, 16).ok()?)?;
        let mut file = File::open(self.files.get(entry.file)?).ok()?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(entry.offset)).ok()?;
        let mut line = String::new();
        BufReader::new(file).read_line(&mut line).ok()?;
        journal_fields(&line).map(|(_, _, out)| out.to_string())
    }

    /// The output path journaled for an input whose stamp has not changed since.
    fn output_if_unchanged(&self, input_hash: &str, stamp: &str) -> Option<String> {
        let entry = self
            .entries
            .get(&u64::from_str_radix(input_hash, 16).ok()?)?;
        if entry.stamp != stamp_digest(stamp) {
            return None;
        }
        self.output_of(input_hash)
    }
}

/// Runs a batch. `report` is called once per input (on the calling thread), `progress`
/// after each input. Per-file problems never stop the run; only a problem with the output
/// root or the journal does.
pub fn run_batch(
    deid: &Deidentifier,
    cfg: &BatchConfig,
    report: &mut dyn FnMut(&FileRecord),
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, BatchError> {
    let start = Instant::now();
    if !cfg.input.is_dir() {
        return Err(BatchError::InputNotDir);
    }
    let tag = cfg.shard.map_or_else(|| "all".to_string(), |s| s.tag());
    let tmp_dir = cfg.output.join(TMP_DIR).join(&tag);
    let state_dir = cfg.output.join(STATE_DIR);
    let mut journal_out = None;
    let mut journal = Journal::default();
    if !cfg.dry_run {
        fs::create_dir_all(&cfg.output).map_err(BatchError::Output)?;
        // Leftovers of a killed run of this shard: never complete, never needed.
        if tmp_dir.exists() {
            fs::remove_dir_all(&tmp_dir).map_err(BatchError::Output)?;
        }
        fs::create_dir_all(&tmp_dir).map_err(BatchError::Output)?;
        fs::create_dir_all(&state_dir).map_err(BatchError::Output)?;
        journal = Journal::load(&state_dir).map_err(BatchError::Journal)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(state_dir.join(format!("journal-{tag}.log")))
            .map_err(BatchError::Journal)?;
        journal_out = Some(file);
    }
    let skip = fs::canonicalize(&cfg.output).ok();
    let ctx = Ctx {
        deid,
        cfg,
        tmp_dir,
        journal,
    };
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(jobs) = cfg.jobs {
        builder = builder.num_threads(jobs.max(1));
    }
    let pool = builder.build()?;
    let mut summary = Summary::default();
    let mut done = Progress::default();
    let mut journal_err = None;
    let (tx, rx) = std::sync::mpsc::sync_channel::<FileRecord>(256);
    std::thread::scope(|s| {
        let ctx = &ctx;
        s.spawn(move || {
            pool.install(|| {
                walk(cfg, skip).par_bridge().for_each_with(tx, |tx, item| {
                    let _ = tx.send(ctx.process(item));
                })
            })
        });
        for rec in rx {
            if journal_err.is_none()
                && let (Some(f), Some(stamp), Some(out)) = (
                    journal_out.as_mut(),
                    rec.journal.as_deref(),
                    rec.output.as_deref(),
                )
                && let Err(e) =
                    writeln!(f, "{}\t{stamp}\t{}", rec.input, out).and_then(|_| f.flush())
            {
                journal_err = Some(e);
            }
            summary.add(&rec);
            done.files += 1;
            done.bytes_in += rec.bytes_in;
            if rec.status == Status::Rejected {
                done.rejected += 1;
            }
            report(&rec);
            progress(&done);
        }
    });
    if let Some(e) = journal_err {
        return Err(BatchError::Journal(e));
    }
    if !cfg.dry_run {
        let _ = fs::remove_dir(&ctx.tmp_dir);
        let _ = fs::remove_dir(cfg.output.join(TMP_DIR));
    }
    summary.seconds = start.elapsed().as_secs_f64();
    if summary.seconds > 0.0 {
        summary.files_per_second = summary.files_seen as f64 / summary.seconds;
        summary.mb_per_second = summary.bytes_in as f64 / 1e6 / summary.seconds;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_keeps_the_last_line_per_input_and_ignores_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("journal-all.log"),
            "00000000000000aa\t10:1\tP/a.dcm\n00000000000000bb\t20:2\tP/b.dcm\n\
             00000000000000aa\t11:1\tP/a2.dcm\n00000000000000cc\t30:3\tP/c.d",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("other.txt"),
            "00000000000000dd\t1:1\tP/d.dcm\n",
        )
        .unwrap();
        let j = Journal::load(dir.path()).unwrap();
        assert_eq!(
            j.entries.len(),
            2,
            "the torn line and the non-journal file are ignored"
        );
        assert_eq!(j.output_of("00000000000000aa").as_deref(), Some("P/a2.dcm"));
        assert_eq!(
            j.output_if_unchanged("00000000000000aa", "11:1").as_deref(),
            Some("P/a2.dcm")
        );
        assert_eq!(
            j.output_if_unchanged("00000000000000aa", "10:1"),
            None,
            "changed since"
        );
        assert_eq!(
            j.output_if_unchanged("00000000000000bb", "20:2").as_deref(),
            Some("P/b.dcm")
        );
        assert_eq!(j.output_of("00000000000000cc"), None);
        assert_eq!(j.output_of("not hex"), None);
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(
            "2/8".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 8 }
        );
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/2/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_paths() {
        let n = 5;
        let shards: Vec<Shard> = (1..=n).map(|index| Shard { index, count: n }).collect();
        let mut sizes = vec![0; n as usize];
        for i in 0..1000 {
            let rel = PathBuf::from(format!("patient {}/series/{i}.dcm", i % 7));
            let owners: Vec<usize> = (0..n as usize)
                .filter(|&s| shards[s].contains(&rel))
                .collect();
            assert_eq!(owners.len(), 1, "{rel:?}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&s| s > 120), "{sizes:?}");
    }

    #[test]
    fn path_components_are_safe() {
        let deid = Deidentifier::builder()
            .key(crate::Key::from_bytes(b"0123456789abcdef").unwrap())
            .build()
            .unwrap();
        assert_eq!(component(&deid, Some("2.25.123"), "X"), "2.25.123");
        assert_eq!(component(&deid, None, "NO-STUDY"), "NO-STUDY");
        assert_eq!(component(&deid, Some("  "), "NO-STUDY"), "NO-STUDY");
        for bad in ["..", "../etc", "DOE^JANE", "a/b", ".hidden"] {
            let c = component(&deid, Some(bad), "X");
            assert!(c.starts_with("H-") && !c.contains(bad), "{bad} -> {c}");
        }
    }
}
