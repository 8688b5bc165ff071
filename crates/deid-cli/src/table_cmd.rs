//! `deid table`: the header table of a DICOM tree as CSV.
use crate::exit;
use dicom_deid::table::{self, Level};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Examples:
  # One row per patient with the default columns:
  deid table out/ -o patients.csv

  # One row per series with chosen columns (DICOM keywords, or the derived `age`, `study_year`):
  deid table --level series --columns Modality,BodyPartExamined,SliceThickness out/ -o series.csv

Columns: the keys of the level (PatientID, StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID),
then the attributes. Default attributes: age, PatientSex, PatientSize, PatientWeight, EthnicGroup,
Modality, BodyPartExamined, Manufacturer, ManufacturerModelName, study_year, StudyDescription.
`age` is PatientAge in years, else the whole years from PatientBirthDate to StudyDate;
`study_year` is the year of StudyDate. Values are as in the files (padding trimmed, multiple
values joined with `\\`); when the files of one row disagree, the distinct non-empty values
are sorted and joined with `|`. Only headers are read (never pixel data); hidden folders
(.deid-state, .deid-tmp) are skipped; non-DICOM files are skipped and counted.

Exit status: 0 ok, 2 usage error (unknown keyword, missing folder), 1 runtime failure.";

/// Arguments of `deid table`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Extract the header table of a DICOM tree (one row per patient, study, series or instance)",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// One row per `patient` (default), `study`, `series` or `instance`, e.g. `--level study`.
    #[arg(long, default_value = "patient", value_parser = parse_level)]
    pub level: Level,
    /// Attribute columns, comma-separated DICOM keywords or `age` / `study_year`, e.g.
    /// `--columns age,PatientSex,Modality` (default: the columns listed below).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// The DICOM tree to read, e.g. `out/`.
    #[arg(value_name = "TREE")]
    pub tree: PathBuf,
    /// The CSV file to write, e.g. `-o table.csv`.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Do not print the counts.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}

/// Runs `deid table`; returns the exit code.
pub fn run(a: Args) -> u8 {
    let t = match table::extract(&a.tree, a.level, &a.columns) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("deid table: {e}");
            return if e.is_usage() {
                exit::USAGE
            } else {
                exit::FAILURE
            };
        }
    };
    if let Err(e) = t.write_csv(&a.output) {
        eprintln!("deid table: {e}");
        return exit::FAILURE;
    }
    if !a.quiet {
        eprintln!(
            "{} rows from {} DICOM files ({} non-DICOM and {} unreadable files skipped)",
            t.rows.len(),
            t.files_read,
            t.non_dicom,
            t.unreadable
        );
    }
    exit::OK
}
