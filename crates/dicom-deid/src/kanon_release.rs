//! k-anonymity over the patients of a de-identified tree, written back into the files.
//!
//! [`write_back`] takes the output tree of a `deid run` and a [`KanonSpec`] (a TOML file:
//! `k`, optional l-diversity, the QI columns, hierarchies), extracts the patient-level
//! [header table](crate::table) *from the output tree*, runs [`crate::kanon::anonymize`]
//! on it, and then rewrites every file of every patient so that the files carry the
//! released (generalised) values. Each file is rewritten atomically: header read, changed,
//! written with its File Meta Information to a temporary file beside it, pixel data copied
//! through untouched, then renamed over the original.
//!
//! # How a released cell is written into a file
//!
//! A cell that the release leaves unchanged is not written at all. A generalised cell is
//! written in a form valid for the attribute's VR (the VR in the file, else the dictionary's):
//!
//! | released cell | DS, IS, US, SS, UL, SL, FL, FD | AS | CS, SH, LO, ST, LT, UT, UC | other VRs |
//! |---|---|---|---|---|
//! | numeric range `lo-hi` | the lower bound `lo` | `lo` years as `NNNY` | the label `lo-hi` if it fits the VR, else zero-length | zero-length |
//! | hierarchy label | the number if it is one, else zero-length | the label if it is an AS value | the label if it fits the VR (CS: at most 16 of `A-Z 0-9 _` and space; SH: 16 chars; LO: 64) | zero-length |
//! | set `{a,b}` or `*` | zero-length | zero-length | zero-length | zero-length |
//!
//! A zero-length value keeps the attribute (type 2 semantics, "Z" in PS3.15 terms); a file
//! that lacks the attribute is not given one unless a value is written. The exact range or
//! set always lives in the released table, which is the reference.
//!
//! The derived columns:
//! * `age` (lower bound `lo`): Patient's Age becomes `lo` as `NNNY` (so the age re-derived
//!   from the file is `lo`, inside the range) and Patient's Birth Date becomes zero-length;
//!   for a set or `*` both become zero-length.
//! * `study_year` (any generalisation): Study Date, Series Date, Acquisition Date and
//!   Content Date become zero-length (a date cannot hold a range, and a fabricated date
//!   would be false). When the age column is in the table and the file's age was derived
//!   from the birth and study dates, Patient's Age is written with that age so that the
//!   age still agrees with the table.
//!
//! [`consistent`] states the resulting contract between a released cell and what the files
//! give when the table is re-extracted: equal, or a number inside the released range, or
//! empty for a generalised cell that cannot be written.
//!
//! **Suppressed patients** (rows the release suppresses, `*` in every QI) are withheld: their
//! files are deleted from the output tree (they were written by this run) and their
//! pseudonymous Patient IDs are returned (not PHI), with the number of files deleted.
//!
//! Rerunning the write-back on a tree that already went through it k-anonymises the
//! generalised values again (it is not idempotent); run it once after the batch. `deid run`
//! marks such an output (`.deid-state/kanon-applied`) and refuses to run into it again.

use crate::dataset::{Element, pad_even};
use crate::dict;
use crate::io::{self, BodyWriter, Encoding};
use crate::kanon::{
    CategoricalRecoding, Hierarchies, Hierarchy, KanonConfig, LDiversity, Metrics, anonymize,
};
use crate::table::{
    self, AGE, DEFAULT_COLUMNS, Level, PATIENT_AGE, PATIENT_BIRTH_DATE, STUDY_DATE, STUDY_YEAR,
    TableError,
};
use dicom_core::{Tag, VR};
use rayon::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The dates emptied when `study_year` is generalised.
pub const STUDY_YEAR_DATES: [Tag; 4] = [
    STUDY_DATE,
    Tag(0x0008, 0x0021), // Series Date
    Tag(0x0008, 0x0022), // Acquisition Date
    Tag(0x0008, 0x0023), // Content Date
];

/// The k-anonymity specification of `deid run --kanon FILE.toml`.
///
/// ```toml
/// k = 5
/// qis = ["age", "PatientSex", "PatientSize", "PatientWeight"]
/// sensitive = "Modality"      # needed with l; defaults to PatientID otherwise
/// l = 2                       # optional l-diversity of `sensitive`
/// l_kind = "distinct"         # distinct | entropy | recursive (then also c)
/// max_suppress = 5.0          # percent of patients that may be withheld
/// [hierarchies]
/// PatientSex = "hierarchies/sex.csv"   # relative to this file (ARX format)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KanonSpec {
    /// Minimum number of patients per class.
    pub k: usize,
    /// l of the l-diversity (fractional for `entropy`).
    #[serde(default)]
    pub l: Option<f64>,
    /// `distinct` (default), `entropy` or `recursive`.
    #[serde(default)]
    pub l_kind: Option<String>,
    /// The c of recursive (c,l)-diversity.
    #[serde(default)]
    pub c: Option<f64>,
    /// The quasi-identifier columns, named as in the table (keywords, `age`, `study_year`).
    pub qis: Vec<String>,
    /// The sensitive column (required with `l`).
    #[serde(default)]
    pub sensitive: Option<String>,
    /// Hierarchy CSV file per column, relative to the TOML file.
    #[serde(default)]
    pub hierarchies: BTreeMap<String, PathBuf>,
    /// Field separator of the hierarchy files (default `,`).
    #[serde(default)]
    pub hierarchy_sep: Option<String>,
    /// Suppression budget in percent of the patients (default 0).
    #[serde(default)]
    pub max_suppress: f64,
    /// QIs to treat as categorical although numeric.
    #[serde(default)]
    pub categorical: Vec<String>,
    /// `set` (default) or `hierarchy`.
    #[serde(default)]
    pub recoding: Option<String>,
    /// Extra columns of the released table (the defaults of [`table::DEFAULT_COLUMNS`],
    /// the QIs and the sensitive column are always there).
    #[serde(default)]
    pub columns: Vec<String>,
    /// Folder of the TOML file (hierarchy paths are relative to it).
    #[serde(skip)]
    pub base_dir: PathBuf,
    #[serde(skip)]
    path: PathBuf,
}

impl KanonSpec {
    /// Reads and checks a specification (hierarchy files included).
    pub fn from_path(path: &Path) -> Result<KanonSpec, TableError> {
        let text = std::fs::read_to_string(path).map_err(|e| TableError::Spec {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
        let mut spec = Self::from_toml(&text, path)?;
        spec.base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        spec.config()?;
        spec.hierarchies()?;
        Ok(spec)
    }

    /// Parses a specification; `path` is used in errors only.
    pub fn from_toml(text: &str, path: &Path) -> Result<KanonSpec, TableError> {
        let mut spec: KanonSpec = toml::from_str(text).map_err(|e| TableError::Spec {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
        spec.path = path.to_path_buf();
        spec.base_dir = PathBuf::from(".");
        Ok(spec)
    }

    fn bad(&self, msg: impl Into<String>) -> TableError {
        TableError::Spec {
            path: self.path.clone(),
            msg: msg.into(),
        }
    }

    /// The sensitive column: as given, else `PatientID` (only without l-diversity).
    pub fn sensitive_column(&self) -> &str {
        self.sensitive.as_deref().unwrap_or("PatientID")
    }

    /// The configuration of [`anonymize`].
    pub fn config(&self) -> Result<KanonConfig, TableError> {
        if self.k == 0 {
            return Err(self.bad("k must be at least 1"));
        }
        if self.qis.is_empty() {
            return Err(self.bad("qis must name at least one column"));
        }
        if self.l.is_some() && self.sensitive.is_none() {
            return Err(self.bad("l-diversity needs a sensitive column"));
        }
        let l = match self.l {
            None => None,
            Some(l) => {
                let kind = self.l_kind.as_deref().unwrap_or("distinct");
                let whole = || {
                    if l >= 1.0 && l.fract() == 0.0 {
                        Ok(l as usize)
                    } else {
                        Err(self.bad(format!("l must be a whole number >= 1 for {kind}")))
                    }
                };
                Some(match kind {
                    "distinct" => LDiversity::Distinct { l: whole()? },
                    "entropy" => LDiversity::Entropy { l },
                    "recursive" => LDiversity::Recursive {
                        c: self.c.ok_or_else(|| self.bad("l_kind recursive needs c"))?,
                        l: whole()?,
                    },
                    other => return Err(self.bad(format!("unknown l_kind {other:?}"))),
                })
            }
        };
        if let Some(l) = &l {
            l.validate().map_err(|m| self.bad(m))?;
        }
        if !(0.0..=100.0).contains(&self.max_suppress) {
            return Err(self.bad("max_suppress must be a percentage in 0..=100"));
        }
        let mut cfg = KanonConfig::new(self.k, self.qis.clone(), self.sensitive_column());
        cfg.l = l;
        cfg.max_suppress = self.max_suppress;
        cfg.categorical = self.categorical.clone();
        cfg.recoding = match self.recoding.as_deref() {
            None | Some("set") => CategoricalRecoding::Set,
            Some("hierarchy") => CategoricalRecoding::Hierarchy,
            Some(other) => return Err(self.bad(format!("unknown recoding {other:?}"))),
        };
        Ok(cfg)
    }

    /// Loads the hierarchy files.
    pub fn hierarchies(&self) -> Result<Hierarchies, TableError> {
        let sep = match self.hierarchy_sep.as_deref().unwrap_or(",").as_bytes() {
            [b] => *b,
            _ => return Err(self.bad("hierarchy_sep must be a single byte")),
        };
        let mut h = Hierarchies::new();
        for (col, file) in &self.hierarchies {
            let p = self.base_dir.join(file);
            let hier = Hierarchy::from_csv_path(&p, sep)
                .map_err(|e| self.bad(format!("hierarchy of {col}: {e}")))?;
            h.insert(col.clone(), hier);
        }
        Ok(h)
    }

    /// The attribute columns of the table: the defaults, `columns`, the QIs and the
    /// sensitive column, each once, in that order.
    pub fn table_columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = Vec::new();
        let all = DEFAULT_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .chain(self.columns.iter().cloned())
            .chain(self.qis.iter().cloned())
            .chain(self.sensitive.iter().cloned());
        for c in all {
            if c != "PatientID" && !cols.contains(&c) {
                cols.push(c);
            }
        }
        cols
    }
}

/// What [`write_back`] did.
#[derive(Debug, Clone)]
pub struct WriteBackOutcome {
    /// Patients (rows) in the table.
    pub patients: usize,
    /// Files whose header was rewritten.
    pub files_rewritten: usize,
    /// Pseudonymous Patient IDs of the withheld (suppressed) patients.
    pub suppressed: Vec<String>,
    /// Files deleted because their patient was suppressed.
    pub files_withheld: usize,
    /// Files of the tree that were skipped (non-DICOM or unreadable).
    pub files_skipped: usize,
    /// The figures of the release.
    pub metrics: Metrics,
}

/// k-anonymises the patients of the tree `root` per `spec`, writes the released values back
/// into the files, withholds the suppressed patients and, with `table_out`, writes the
/// released table (CSV) there.
pub fn write_back(
    root: &Path,
    spec: &KanonSpec,
    table_out: Option<&Path>,
) -> Result<WriteBackOutcome, TableError> {
    let cfg = spec.config()?;
    let hier = spec.hierarchies()?;
    let ht = table::extract(root, Level::Patient, &spec.table_columns())?;
    let kt = ht.to_kanon_table()?;
    let release = anonymize(&kt, &cfg, &hier)?;
    let qi_names: Vec<&str> = release
        .qi_columns()
        .iter()
        .map(|&c| ht.headers[c].as_str())
        .collect();
    let age_col = ht.column(AGE);

    let mut jobs: Vec<(&Path, Vec<Edit>)> = Vec::new();
    let mut withheld: Vec<&Path> = Vec::new();
    let mut suppressed = Vec::new();
    for (row, files) in ht.files.iter().enumerate() {
        let Some(cells) = release.generalized(row) else {
            let pid = &ht.rows[row][0];
            suppressed.push(if pid.is_empty() {
                "(no PatientID)".to_string()
            } else {
                pid.clone()
            });
            withheld.extend(files.iter().map(PathBuf::as_path));
            continue;
        };
        let mut edits = Vec::new();
        let mut age_generalised = false;
        for (j, (&col, cell)) in release.qi_columns().iter().zip(cells).enumerate() {
            if *cell == ht.rows[row][col] {
                continue;
            }
            match qi_names[j] {
                AGE => {
                    age_generalised = true;
                    let lo = split_range(cell)
                        .map(|(lo, _)| lo)
                        .or_else(|| cell.parse::<f64>().ok().map(|_| cell.as_str()))
                        .and_then(|lo| lo.parse::<f64>().ok());
                    edits.push(Edit::Put(
                        PATIENT_AGE,
                        lo.map(|y| format!("{:03}Y", y.clamp(0.0, 999.0).floor() as u32)),
                    ));
                    edits.push(Edit::Put(PATIENT_BIRTH_DATE, None));
                }
                STUDY_YEAR => {
                    for t in STUDY_YEAR_DATES {
                        edits.push(Edit::Put(t, None));
                    }
                    // First, while the file still has its dates.
                    edits.insert(0, Edit::KeepAge);
                }
                kw => {
                    let tag = dict::tag_of(kw)
                        .ok_or_else(|| TableError::UnknownKeyword(kw.to_string()))?;
                    edits.push(Edit::Put(tag, Some(cell.clone())));
                }
            }
        }
        if age_generalised || age_col.is_none() {
            edits.retain(|e| !matches!(e, Edit::KeepAge));
        }
        if !edits.is_empty() {
            jobs.extend(files.iter().map(|f| (f.as_path(), edits.clone())));
        }
    }

    let files_rewritten = jobs
        .par_iter()
        .map(|(path, edits)| rewrite(path, edits).map(|()| 1usize))
        .try_reduce(|| 0, |a, b| Ok(a + b))?;
    for f in &withheld {
        std::fs::remove_file(f).map_err(|source| TableError::Io {
            path: f.to_path_buf(),
            source,
        })?;
        let mut dir = f.parent();
        while let Some(d) = dir {
            if d == root || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    if let Some(out) = table_out {
        release.write_csv(&kt, out, b',')?;
    }
    Ok(WriteBackOutcome {
        patients: ht.rows.len(),
        files_rewritten,
        suppressed,
        files_withheld: withheld.len(),
        files_skipped: ht.non_dicom + ht.unreadable,
        metrics: release.metrics,
    })
}

/// One change to a file's header.
#[derive(Debug, Clone)]
enum Edit {
    /// Write this released cell in the form of the attribute's VR; `None`: zero-length
    /// (only when the attribute is present).
    Put(Tag, Option<String>),
    /// When Patient's Age is missing, write the age derived from the (original) birth and
    /// study dates, which the other edits are about to empty.
    KeepAge,
}

/// Rewrites the header of `path` with `edits`, atomically.
fn rewrite(path: &Path, edits: &[Edit]) -> Result<(), TableError> {
    let io_err = |source| TableError::Io {
        path: path.to_path_buf(),
        source,
    };
    let read_err = |source| TableError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut src = io::Source::new(BufReader::with_capacity(64 * 1024, &file), Some(len));
    let mut header = src.read_header().map_err(read_err)?;
    let ts = header.transfer_syntax.clone();
    let be = ts.encoding.big_endian;
    let ds = &mut header.dataset;
    for edit in edits {
        match edit {
            Edit::KeepAge => {
                let text = |t| {
                    ds.get(t)
                        .map(|e| table::element_text(e, be))
                        .unwrap_or_default()
                };
                if table::parse_as(&text(PATIENT_AGE)).is_none()
                    && let Some(y) =
                        table::age_years("", &text(PATIENT_BIRTH_DATE), &text(STUDY_DATE))
                {
                    ds.put(Element::text(PATIENT_AGE, VR::AS, &format!("{y:03}Y")));
                }
            }
            Edit::Put(tag, cell) => {
                let vr = ds
                    .get(*tag)
                    .map(|e| e.vr)
                    .or_else(|| dict::vr_of(*tag))
                    .unwrap_or(VR::UN);
                let bytes = cell.as_deref().and_then(|c| encode_cell(vr, c, be));
                match bytes {
                    Some(b) => ds.put(Element::bytes(*tag, vr, b)),
                    None => {
                        if ds.get(*tag).is_some() {
                            ds.put(Element::bytes(*tag, vr, Vec::new()));
                        }
                    }
                }
            }
        }
    }
    let tmp = io::temp_beside(path).map_err(io_err)?;
    {
        let mut out = BufWriter::with_capacity(256 * 1024, tmp.as_file());
        let mut meta = header.meta.clone();
        meta.put(Element::text(
            io::tags::TRANSFER_SYNTAX_UID,
            VR::UI,
            &ts.uid,
        ));
        io::write_file_start(&mut out, &meta).map_err(io_err)?;
        let enc = Encoding {
            deflated: false,
            ..ts.encoding
        };
        let mut body = BodyWriter::new(out, ts.encoding);
        io::write_dataset(&mut body, &header.dataset, enc).map_err(io_err)?;
        if let Some(px) = header.pixel {
            src.copy_pixel_data(&px, &mut body).map_err(read_err)?;
            let trailer = src.read_trailer().map_err(read_err)?;
            io::write_dataset(&mut body, &trailer, enc).map_err(io_err)?;
        }
        body.finish().and_then(|mut w| w.flush()).map_err(io_err)?;
    }
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

/// `lo-hi` with two numbers: the two halves.
pub fn split_range(s: &str) -> Option<(&str, &str)> {
    s.char_indices().skip(1).find_map(|(i, ch)| {
        if ch != '-' {
            return None;
        }
        let (lo, hi) = (&s[..i], &s[i + 1..]);
        (lo.trim().parse::<f64>().is_ok() && hi.trim().parse::<f64>().is_ok())
            .then_some((lo.trim(), hi.trim()))
    })
}

fn is_set_or_star(cell: &str) -> bool {
    cell == "*" || (cell.starts_with('{') && cell.ends_with('}'))
}

/// The bytes of a released cell in the form of `vr` (see the module documentation), or
/// `None` for a zero-length value.
fn encode_cell(vr: VR, cell: &str, be: bool) -> Option<Vec<u8>> {
    if is_set_or_star(cell) {
        return None;
    }
    let number = split_range(cell)
        .map(|(lo, _)| lo)
        .or_else(|| cell.trim().parse::<f64>().ok().map(|_| cell.trim()));
    let text = |s: &str| {
        let mut b = s.as_bytes().to_vec();
        pad_even(vr, &mut b);
        Some(b)
    };
    macro_rules! bin {
        ($t:ty) => {{
            let x: f64 = number?.parse().ok()?;
            let v = x as $t;
            Some(if be {
                v.to_be_bytes().to_vec()
            } else {
                v.to_le_bytes().to_vec()
            })
        }};
    }
    match vr {
        VR::DS | VR::IS => {
            let n = number?;
            if vr == VR::IS && n.parse::<i64>().is_err() {
                return text(&format!("{}", n.parse::<f64>().ok()?.floor() as i64));
            }
            (n.len() <= if vr == VR::DS { 16 } else { 12 }).then(|| text(n))?
        }
        VR::US => bin!(u16),
        VR::SS => bin!(i16),
        VR::UL => bin!(u32),
        VR::SL => bin!(i32),
        VR::FL => bin!(f32),
        VR::FD => bin!(f64),
        VR::AS => {
            if table::parse_as(cell).is_some() {
                return text(cell.trim());
            }
            let y: f64 = number?.parse().ok()?;
            text(&format!("{:03}Y", y.clamp(0.0, 999.0).floor() as u32))
        }
        VR::CS => {
            let ok = cell.len() <= 16
                && cell.bytes().all(|b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'_'
                });
            ok.then(|| text(cell))?
        }
        VR::SH | VR::LO => {
            let max = if vr == VR::SH { 16 } else { 64 };
            (cell.chars().count() <= max && !cell.contains('\\')).then(|| text(cell))?
        }
        VR::ST | VR::LT | VR::UT | VR::UC => text(cell),
        _ => None,
    }
}

/// Whether `in_files` (a cell of the table re-extracted from the written-back files) agrees
/// with `released` (the released cell) for `column`, whose value before the release was
/// `original`: equal; or a number inside the released range; or empty when the cell was
/// generalised to something the VR cannot hold (sets, `*`, labels that do not fit, and any
/// generalised `study_year`).
pub fn consistent(column: &str, original: &str, released: &str, in_files: &str) -> bool {
    if in_files == released {
        return true;
    }
    let range = split_range(released);
    if let (Some((lo, hi)), Ok(x)) = (range, in_files.parse::<f64>()) {
        let (lo, hi): (f64, f64) = match (lo.parse(), hi.parse()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return false,
        };
        return lo <= x && x <= hi;
    }
    if released == original {
        return false;
    }
    in_files.is_empty() && (range.is_none() || column == STUDY_YEAR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(split_range("30-45"), Some(("30", "45")));
        assert_eq!(split_range("1.65-1.80"), Some(("1.65", "1.80")));
        assert_eq!(split_range("-5--3"), Some(("-5", "-3")));
        assert_eq!(split_range("CT"), None);
        assert_eq!(split_range("{a,b}"), None);
    }

    #[test]
    fn forms_per_vr() {
        assert_eq!(
            encode_cell(VR::DS, "1.65-1.80", false),
            Some(b"1.65".to_vec())
        );
        assert_eq!(encode_cell(VR::AS, "30-45", false), Some(b"030Y".to_vec()));
        assert_eq!(encode_cell(VR::AS, "045Y", false), Some(b"045Y".to_vec()));
        assert_eq!(encode_cell(VR::IS, "3.5-7", false), Some(b"3 ".to_vec()));
        assert_eq!(
            encode_cell(VR::US, "100-200", false),
            Some(100u16.to_le_bytes().to_vec())
        );
        assert_eq!(encode_cell(VR::CS, "{F,M}", false), None);
        assert_eq!(encode_cell(VR::CS, "*", false), None);
        assert_eq!(encode_cell(VR::CS, "Female/Male", false), None);
        assert_eq!(
            encode_cell(VR::CS, "CROSS_SECTION", false),
            Some(b"CROSS_SECTION ".to_vec())
        );
        assert_eq!(
            encode_cell(VR::LO, "GE-SIEMENS", false),
            Some(b"GE-SIEMENS".to_vec())
        );
        assert_eq!(encode_cell(VR::DA, "2019-2021", false), None);
    }

    #[test]
    fn consistency() {
        assert!(consistent("age", "33", "30-45", "30"));
        assert!(!consistent("age", "33", "30-45", "50"));
        assert!(consistent("PatientSex", "F", "{F,M}", ""));
        assert!(consistent("PatientSex", "F", "F", "F"));
        assert!(!consistent("PatientSex", "F", "F", ""));
        assert!(consistent("study_year", "2020", "2019-2021", ""));
        assert!(!consistent("PatientSize", "1.7", "1.6-1.8", ""));
    }

    #[test]
    fn spec_parses_and_checks() {
        let p = Path::new("k.toml");
        let s = KanonSpec::from_toml(
            "k = 3\nqis = [\"age\", \"PatientSex\"]\nl = 2\nsensitive = \"Modality\"\n",
            p,
        )
        .unwrap();
        let cfg = s.config().unwrap();
        assert_eq!(cfg.k, 3);
        assert_eq!(cfg.l, Some(LDiversity::Distinct { l: 2 }));
        assert!(s.table_columns().contains(&"Modality".to_string()));
        let s = KanonSpec::from_toml("k = 3\nqis = [\"age\"]\nl = 2\n", p).unwrap();
        assert!(s.config().is_err());
        assert!(KanonSpec::from_toml("k = 3\nqis = []\nbogus = 1\n", p).is_err());
    }

    fn make_tree(root: &Path, n: usize) {
        use crate::dataset::Dataset;
        use crate::io::{write_dataset, write_file_start};
        for i in 0..n {
            let pid = format!("PSEUDO{i:03}");
            for j in 0..2 {
                let mut meta = Dataset::new();
                meta.put(Element::text(
                    io::tags::TRANSFER_SYNTAX_UID,
                    VR::UI,
                    "1.2.840.10008.1.2.1",
                ));
                let mut ds = Dataset::new();
                let sop = format!("2.25.{i}.{j}");
                ds.put(Element::text(Tag(0x0008, 0x0018), VR::UI, &sop));
                ds.put(Element::text(
                    STUDY_DATE,
                    VR::DA,
                    &format!("20{:02}0315", 10 + i % 7),
                ));
                ds.put(Element::text(
                    Tag(0x0008, 0x0060),
                    VR::CS,
                    ["CT", "MR"][i % 2],
                ));
                ds.put(Element::text(Tag(0x0010, 0x0020), VR::LO, &pid));
                if i % 3 == 0 {
                    ds.put(Element::text(
                        PATIENT_BIRTH_DATE,
                        VR::DA,
                        &format!("19{:02}0601", 30 + i),
                    ));
                } else {
                    ds.put(Element::text(
                        PATIENT_AGE,
                        VR::AS,
                        &format!("{:03}Y", 20 + 2 * i),
                    ));
                }
                ds.put(Element::text(
                    Tag(0x0010, 0x0040),
                    VR::CS,
                    ["F", "M", "O"][i % 3],
                ));
                ds.put(Element::text(
                    Tag(0x0010, 0x1020),
                    VR::DS,
                    &format!("1.{}", 50 + i),
                ));
                ds.put(Element::text(
                    Tag(0x0020, 0x000D),
                    VR::UI,
                    &format!("2.25.{i}"),
                ));
                ds.put(Element::bytes(
                    Tag(0x7FE0, 0x0010),
                    VR::OB,
                    vec![i as u8; 16],
                ));
                let mut out = Vec::new();
                write_file_start(&mut out, &meta).unwrap();
                write_dataset(&mut out, &ds, Encoding::EXPLICIT_LE).unwrap();
                let dir = root.join(&pid).join(format!("2.25.{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(format!("{sop}.dcm")), out).unwrap();
            }
        }
    }

    #[test]
    fn write_back_agrees_with_the_released_table() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        make_tree(&root, 20);
        let spec = KanonSpec::from_toml(
            "k = 4\nqis = [\"age\", \"PatientSex\", \"PatientSize\", \"study_year\"]\nmax_suppress = 10\n",
            Path::new("k.toml"),
        )
        .unwrap();
        let before = table::extract(&root, Level::Patient, &spec.table_columns()).unwrap();
        let csv_path = tmp.path().join("released.csv");
        let outcome = write_back(&root, &spec, Some(&csv_path)).unwrap();
        assert_eq!(outcome.patients, 20);
        assert!(outcome.files_rewritten > 0);
        assert_eq!(outcome.files_withheld, 2 * outcome.suppressed.len());
        let after = table::extract(&root, Level::Patient, &spec.table_columns()).unwrap();
        let mut rdr = csv::Reader::from_path(&csv_path).unwrap();
        let headers: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(headers, after.headers);
        let released: Vec<Vec<String>> = rdr
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        assert_eq!(released.len(), 20);
        let mut checked = 0;
        for (i, rel) in released.iter().enumerate() {
            let pid = &rel[0];
            let orig = &before.rows[i];
            assert_eq!(&orig[0], pid);
            let now = after.rows.iter().find(|r| &r[0] == pid);
            if rel[1..].iter().any(|c| c == "*") {
                assert!(now.is_none(), "suppressed patient still has files");
                assert!(outcome.suppressed.contains(pid));
                continue;
            }
            let now = now.expect("released patient lost its files");
            for q in &spec.qis {
                let c = after.column(q).unwrap();
                assert!(
                    consistent(q, &orig[c], &rel[c], &now[c]),
                    "{q}: original {:?} released {:?} files {:?}",
                    orig[c],
                    rel[c],
                    now[c]
                );
                checked += 1;
            }
        }
        assert!(checked > 0);
        // Pixel data intact in a rewritten file.
        let f = &after.files[0][0];
        let h = table::read_header(f).unwrap();
        assert!(h.pixel.is_some());
    }
}
