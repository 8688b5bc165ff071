//! The header table of a DICOM tree: one row per patient, study, series or instance.
//!
//! [`extract`] walks a tree (hidden folders such as `.deid-state/` and `.deid-tmp/` are not
//! entered), reads only the header of every file (up to the pixel data, which is never
//! read) in parallel, and builds a table whose columns are
//!
//! * the **key columns** of the level, named by keyword: `PatientID`, then
//!   `StudyInstanceUID`, `SeriesInstanceUID`, `SOPInstanceUID` as the level requires;
//! * the **attribute columns**, each a DICOM keyword (resolved in the PS3.6 dictionary; an
//!   unknown keyword is a [`TableError::UnknownKeyword`]), or one of two derived columns:
//!   * `age`: Patient's Age in whole years when present (`045Y` → `45`, months, weeks and
//!     days → `0`), else the whole years between Patient's Birth Date and Study Date when
//!     both are present, else empty;
//!   * `study_year`: the year of Study Date.
//!
//! Values are exactly as in the files, with the DICOM padding (leading and trailing spaces,
//! trailing NULs) trimmed; multi-valued attributes keep their `\` separators. Text that is
//! not UTF-8 is read byte for byte as Latin-1 (ISO_IR 100; the Specific Character Set is not
//! interpreted, so other single-byte sets come out as Latin-1 look-alikes, losslessly);
//! binary numbers (US, SS, UL, SL, FL, FD) are printed in decimal; sequences and other
//! binary values are empty.
//!
//! **Aggregation.** When several files make one row (always at the patient level; at other
//! levels only for duplicates), a column whose non-empty values all agree gets that value;
//! files where the attribute is missing or empty do not count. Distinct non-empty values are
//! sorted and joined with `|` (e.g. `CT|MR`).
//!
//! Files missing a key attribute are grouped under an empty key. Rows are sorted by key.
//! Files that are not DICOM are skipped and counted ([`HeaderTable::non_dicom`]), and so are
//! DICOM files that cannot be parsed ([`HeaderTable::unreadable`]); no value and no path of
//! such a file is reported (paths of an export can hold patient names).

use crate::dataset::{Element, Value, is_binary};
use crate::dict;
use crate::io::{Header, ReadError, Source};
use crate::kanon::{KanonError, Table};
use dicom_core::{Tag, VR};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

/// Patient ID.
pub const PATIENT_ID: Tag = Tag(0x0010, 0x0020);
/// Study Instance UID.
pub const STUDY_INSTANCE_UID: Tag = Tag(0x0020, 0x000D);
/// Series Instance UID.
pub const SERIES_INSTANCE_UID: Tag = Tag(0x0020, 0x000E);
/// SOP Instance UID.
pub const SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x0018);
/// Patient's Age (AS).
pub const PATIENT_AGE: Tag = Tag(0x0010, 0x1010);
/// Patient's Birth Date (DA).
pub const PATIENT_BIRTH_DATE: Tag = Tag(0x0010, 0x0030);
/// Study Date (DA).
pub const STUDY_DATE: Tag = Tag(0x0008, 0x0020);

/// The derived age column.
pub const AGE: &str = "age";
/// The derived study year column.
pub const STUDY_YEAR: &str = "study_year";

/// The attribute columns used when none are given.
pub const DEFAULT_COLUMNS: &[&str] = &[
    AGE,
    "PatientSex",
    "PatientSize",
    "PatientWeight",
    "EthnicGroup",
    "Modality",
    "BodyPartExamined",
    "Manufacturer",
    "ManufacturerModelName",
    STUDY_YEAR,
    "StudyDescription",
];

/// Errors of the table extraction and of the k-anonymity write-back.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A column is neither a DICOM keyword nor a derived column.
    #[error("unknown column {0:?}: not a DICOM keyword, nor `age` or `study_year`")]
    UnknownKeyword(String),
    /// The same column was asked for twice.
    #[error("column {0:?} is given twice")]
    DuplicateColumn(String),
    /// The tree root is not a directory.
    #[error("{0}: not a directory")]
    NotDir(PathBuf),
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing CSV failed.
    #[error("{path}: {source}")]
    Csv {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: csv::Error,
    },
    /// A file of the (output) tree could not be parsed during write-back.
    #[error("{path}: {source}")]
    Read {
        /// The path (in the pseudonymous output tree).
        path: PathBuf,
        /// The cause.
        #[source]
        source: ReadError,
    },
    /// The k-anonymity specification is invalid.
    #[error("k-anonymity specification {path}: {msg}")]
    Spec {
        /// The TOML file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The k-anonymisation failed.
    #[error(transparent)]
    Kanon(#[from] KanonError),
}

impl TableError {
    /// True for errors of the user's arguments or configuration (exit status 2).
    pub fn is_usage(&self) -> bool {
        match self {
            TableError::UnknownKeyword(_)
            | TableError::DuplicateColumn(_)
            | TableError::NotDir(_)
            | TableError::Spec { .. } => true,
            TableError::Kanon(e) => e.is_usage(),
            _ => false,
        }
    }
}

/// What one row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// One row per patient (key: PatientID).
    #[default]
    Patient,
    /// One row per study (PatientID, StudyInstanceUID).
    Study,
    /// One row per series (… SeriesInstanceUID).
    Series,
    /// One row per instance (… SOPInstanceUID).
    Instance,
}

impl Level {
    /// The key columns of this level, as (keyword, tag).
    pub fn keys(self) -> &'static [(&'static str, Tag)] {
        const KEYS: [(&str, Tag); 4] = [
            ("PatientID", PATIENT_ID),
            ("StudyInstanceUID", STUDY_INSTANCE_UID),
            ("SeriesInstanceUID", SERIES_INSTANCE_UID),
            ("SOPInstanceUID", SOP_INSTANCE_UID),
        ];
        let n = match self {
            Level::Patient => 1,
            Level::Study => 2,
            Level::Series => 3,
            Level::Instance => 4,
        };
        &KEYS[..n]
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        match s.to_ascii_lowercase().as_str() {
            "patient" => Ok(Level::Patient),
            "study" => Ok(Level::Study),
            "series" => Ok(Level::Series),
            "instance" => Ok(Level::Instance),
            _ => Err(format!(
                "unknown level {s:?} (patient, study, series or instance)"
            )),
        }
    }
}

/// One attribute column: a keyword or a derived column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Attr(Tag),
    Age,
    StudyYear,
}

fn resolve(name: &str) -> Result<Col, TableError> {
    match name {
        AGE => Ok(Col::Age),
        STUDY_YEAR => Ok(Col::StudyYear),
        _ => dict::tag_of(name)
            .map(Col::Attr)
            .ok_or_else(|| TableError::UnknownKeyword(name.to_string())),
    }
}

/// The extracted table.
#[derive(Debug, Clone, Default)]
pub struct HeaderTable {
    /// Column names: the key columns, then the attribute columns.
    pub headers: Vec<String>,
    /// Number of leading key columns.
    pub n_keys: usize,
    /// The rows, sorted by key; every row has `headers.len()` cells.
    pub rows: Vec<Vec<String>>,
    /// The files of every row (sorted).
    pub files: Vec<Vec<PathBuf>>,
    /// DICOM files read.
    pub files_read: usize,
    /// Files skipped because they are not DICOM.
    pub non_dicom: usize,
    /// DICOM-looking files skipped because they could not be parsed.
    pub unreadable: usize,
}

/// The values of one file: keys, then attribute columns.
struct FileRow {
    path: PathBuf,
    cells: Vec<String>,
}

enum FileResult {
    Row(FileRow),
    NonDicom,
    Unreadable,
}

/// Extracts the table of the tree `root` at `level` with the attribute `columns` (keywords,
/// `age` or `study_year`; [`DEFAULT_COLUMNS`] when empty).
pub fn extract(root: &Path, level: Level, columns: &[String]) -> Result<HeaderTable, TableError> {
    let names: Vec<String> = if columns.is_empty() {
        DEFAULT_COLUMNS.iter().map(|s| s.to_string()).collect()
    } else {
        columns.iter().map(|s| s.trim().to_string()).collect()
    };
    let keys = level.keys();
    let mut headers: Vec<String> = keys.iter().map(|(k, _)| k.to_string()).collect();
    let mut cols = Vec::with_capacity(names.len());
    for name in &names {
        if headers.contains(name) {
            return Err(TableError::DuplicateColumn(name.clone()));
        }
        cols.push(resolve(name)?);
        headers.push(name.clone());
    }
    if !root.is_dir() {
        return Err(TableError::NotDir(root.to_path_buf()));
    }
    let mut paths = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| TableError::Io {
            path: e.path().unwrap_or(root).to_path_buf(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("filesystem loop")),
        })?;
        if entry.file_type().is_file() {
            paths.push(entry.into_path());
        }
    }
    let results: Vec<FileResult> = paths
        .into_par_iter()
        .map(|p| read_file_row(p, keys, &cols))
        .collect();
    let mut table = HeaderTable {
        headers,
        n_keys: keys.len(),
        ..HeaderTable::default()
    };
    let mut groups: BTreeMap<Vec<String>, Vec<FileRow>> = BTreeMap::new();
    for r in results {
        match r {
            FileResult::Row(row) => {
                table.files_read += 1;
                groups
                    .entry(row.cells[..keys.len()].to_vec())
                    .or_default()
                    .push(row);
            }
            FileResult::NonDicom => table.non_dicom += 1,
            FileResult::Unreadable => table.unreadable += 1,
        }
    }
    for (key, mut rows) in groups {
        rows.sort_by(|a, b| a.path.cmp(&b.path));
        let mut cells = key;
        for c in keys.len()..table.headers.len() {
            cells.push(aggregate(rows.iter().map(|r| r.cells[c].as_str())));
        }
        table.rows.push(cells);
        table.files.push(rows.into_iter().map(|r| r.path).collect());
    }
    Ok(table)
}

/// One value for several files: the common non-empty value, or the distinct non-empty
/// values sorted and joined with `|`.
fn aggregate<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let set: BTreeSet<&str> = values.filter(|v| !v.is_empty()).collect();
    set.into_iter().collect::<Vec<_>>().join("|")
}

/// Reads the header of one file.
pub(crate) fn read_header(path: &Path) -> Result<Header, ReadError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut src = Source::new(BufReader::with_capacity(64 * 1024, file), Some(len));
    src.read_header()
}

fn read_file_row(path: PathBuf, keys: &[(&str, Tag)], cols: &[Col]) -> FileResult {
    let header = match read_header(&path) {
        Ok(h) => h,
        Err(ReadError::NotDicom(_)) => return FileResult::NonDicom,
        Err(_) => return FileResult::Unreadable,
    };
    let be = header.transfer_syntax.encoding.big_endian;
    let ds = &header.dataset;
    let value = |tag: Tag| ds.get(tag).map(|e| element_text(e, be)).unwrap_or_default();
    let mut cells: Vec<String> = keys.iter().map(|(_, t)| value(*t)).collect();
    for c in cols {
        cells.push(match c {
            Col::Attr(tag) => value(*tag),
            Col::Age => age_years(
                &value(PATIENT_AGE),
                &value(PATIENT_BIRTH_DATE),
                &value(STUDY_DATE),
            )
            .map(|y| y.to_string())
            .unwrap_or_default(),
            Col::StudyYear => year_of(&value(STUDY_DATE))
                .map(|y| y.to_string())
                .unwrap_or_default(),
        });
    }
    FileResult::Row(FileRow { path, cells })
}

/// The value of an element as table text (see the module documentation).
pub fn element_text(e: &Element, big_endian: bool) -> String {
    let Value::Bytes(raw) = &e.value else {
        return String::new();
    };
    if is_binary(e.vr) {
        return binary_text(e.vr, raw, big_endian).unwrap_or_default();
    }
    let s = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        // Not UTF-8: each byte as Latin-1 (ISO_IR 100, the most common single-byte set);
        // lossless, so the bytes can be recovered.
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    };
    s.trim_end_matches(['\0', ' '])
        .trim_start_matches(' ')
        .to_string()
}

fn binary_text(vr: VR, raw: &[u8], be: bool) -> Option<String> {
    macro_rules! nums {
        ($t:ty, $n:expr) => {
            raw.chunks_exact($n)
                .map(|c| {
                    let b: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                    let v = if be {
                        <$t>::from_be_bytes(b)
                    } else {
                        <$t>::from_le_bytes(b)
                    };
                    v.to_string()
                })
                .collect::<Vec<_>>()
        };
    }
    let v = match vr {
        VR::US => nums!(u16, 2),
        VR::SS => nums!(i16, 2),
        VR::UL => nums!(u32, 4),
        VR::SL => nums!(i32, 4),
        VR::FL => nums!(f32, 4),
        VR::FD => nums!(f64, 8),
        _ => return None,
    };
    Some(v.join("\\"))
}

/// Age in whole years: from an AS value (`045Y`; `M`, `W`, `D` give 0), else from the birth
/// date and the study date (both `YYYYMMDD`).
pub fn age_years(age: &str, birth: &str, study: &str) -> Option<u32> {
    if let Some(a) = parse_as(age) {
        return Some(a);
    }
    let (by, bm, bd) = parse_da(birth)?;
    let (sy, sm, sd) = parse_da(study)?;
    let mut years = sy.checked_sub(by)?;
    if (sm, sd) < (bm, bd) {
        years = years.checked_sub(1)?;
    }
    Some(years)
}

/// Parses an AS value into whole years.
pub fn parse_as(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.len() != 4 || !s.is_ascii() {
        return None;
    }
    let n: u32 = s[..3].parse().ok()?;
    match &s[3..] {
        "Y" => Some(n),
        "M" => Some(n / 12),
        "W" => Some(n / 52),
        "D" => Some(n / 365),
        _ => None,
    }
}

fn parse_da(s: &str) -> Option<(u32, u32, u32)> {
    let s: String = s.trim().chars().filter(|c| *c != '.').collect();
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((
        s[..4].parse().ok()?,
        s[4..6].parse().ok()?,
        s[6..].parse().ok()?,
    ))
}

/// The year of a DA value.
pub fn year_of(da: &str) -> Option<u32> {
    let s = da.trim();
    if s.len() >= 4 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        s[..4].parse().ok()
    } else {
        None
    }
}

impl HeaderTable {
    /// Writes the table as CSV with a header row.
    pub fn write_csv_to<W: Write>(&self, out: W) -> Result<(), csv::Error> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(&self.headers)?;
        for row in &self.rows {
            w.write_record(row)?;
        }
        w.flush()?;
        Ok(())
    }

    /// Writes the table as CSV with a header row to `path`.
    pub fn write_csv(&self, path: &Path) -> Result<(), TableError> {
        let f = File::create(path).map_err(|source| TableError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.write_csv_to(std::io::BufWriter::new(f))
            .map_err(|source| TableError::Csv {
                path: path.to_path_buf(),
                source,
            })
    }

    /// The table as a [`Table`] for [`crate::kanon::anonymize`].
    pub fn to_kanon_table(&self) -> Result<Table, KanonError> {
        Table::from_rows(self.headers.clone(), &self.rows)
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::io::{Encoding, write_dataset, write_file_start};

    fn file(dir: &Path, name: &str, pid: &str, study: &str, extra: &[(Tag, VR, &str)]) {
        let mut meta = Dataset::new();
        meta.put(Element::text(
            Tag(0x0002, 0x0010),
            VR::UI,
            "1.2.840.10008.1.2.1",
        ));
        let mut ds = Dataset::new();
        ds.put(Element::text(PATIENT_ID, VR::LO, pid));
        ds.put(Element::text(STUDY_INSTANCE_UID, VR::UI, study));
        ds.put(Element::text(
            SOP_INSTANCE_UID,
            VR::UI,
            &format!("{study}.{name}"),
        ));
        for (t, vr, v) in extra {
            ds.put(Element::text(*t, *vr, v));
        }
        ds.put(Element::bytes(
            Tag(0x0028, 0x0010),
            VR::US,
            512u16.to_le_bytes(),
        ));
        let mut out = Vec::new();
        write_file_start(&mut out, &meta).unwrap();
        write_dataset(&mut out, &ds, Encoding::EXPLICIT_LE).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), out).unwrap();
    }

    #[test]
    fn ages() {
        assert_eq!(age_years("045Y", "", ""), Some(45));
        assert_eq!(age_years("006M", "", ""), Some(0));
        assert_eq!(age_years("", "19700615", "20240614"), Some(53));
        assert_eq!(age_years("", "19700615", "20240615"), Some(54));
        assert_eq!(age_years("", "19700615", ""), None);
        assert_eq!(year_of("20240131"), Some(2024));
        assert_eq!(year_of(""), None);
    }

    #[test]
    fn extracts_and_aggregates() {
        let tmp = tempfile::tempdir().unwrap();
        let modality = Tag(0x0008, 0x0060);
        let sex = Tag(0x0010, 0x0040);
        file(
            tmp.path(),
            "a1.dcm",
            "P1",
            "1.1",
            &[
                (modality, VR::CS, "CT"),
                (sex, VR::CS, "F"),
                (PATIENT_AGE, VR::AS, "045Y"),
            ],
        );
        file(
            tmp.path(),
            "a2.dcm",
            "P1",
            "1.2",
            &[(modality, VR::CS, "MR"), (STUDY_DATE, VR::DA, "20200101")],
        );
        file(
            tmp.path(),
            "b.dcm",
            "P0",
            "2.1",
            &[
                (PATIENT_BIRTH_DATE, VR::DA, "19800701"),
                (STUDY_DATE, VR::DA, "20200101"),
            ],
        );
        std::fs::write(tmp.path().join("README"), b"hello").unwrap();
        std::fs::create_dir_all(tmp.path().join(".deid-state")).unwrap();
        file(&tmp.path().join(".deid-state"), "x.dcm", "PX", "9", &[]);
        let cols: Vec<String> = ["age", "PatientSex", "Modality", "study_year", "Rows"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let t = extract(tmp.path(), Level::Patient, &cols).unwrap();
        assert_eq!(t.headers[0], "PatientID");
        assert_eq!(t.non_dicom, 1);
        assert_eq!(t.files_read, 3);
        let want = [
            ["P0", "39", "", "", "2020", "512"],
            ["P1", "45", "F", "CT|MR", "2020", "512"],
        ];
        assert_eq!(t.rows, want.map(|r| r.map(String::from).to_vec()).to_vec());
        assert_eq!(t.files[1].len(), 2);
        let t = extract(tmp.path(), Level::Study, &cols).unwrap();
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.n_keys, 2);
        assert!(matches!(
            extract(tmp.path(), Level::Patient, &["NoSuchKeyword".to_string()]),
            Err(TableError::UnknownKeyword(_))
        ));
        let mut csv = Vec::new();
        t.write_csv_to(&mut csv).unwrap();
        assert!(
            String::from_utf8(csv)
                .unwrap()
                .starts_with("PatientID,StudyInstanceUID,age,")
        );
    }
}
