//! `deid kanon`: parses the arguments and calls `dicom_deid::kanon`.
use std::path::PathBuf;

use clap::ValueEnum;
use dicom_deid::kanon::{
    CategoricalRecoding, Hierarchies, Hierarchy, KanonConfig, KanonError, LDiversity, Table,
    anonymize, plot_partitions,
};

const AFTER_HELP: &str = "\
Examples:
  deid kanon adult.csv --sep ';' \\
      --qi sex,age,race,marital-status,education,native-country,workclass,occupation \\
      --sensitive salary-class --k 10 --l 2 \\
      --hierarchy education=adult_hierarchy_education.csv --hierarchy sex=adult_hierarchy_sex.csv \\
      -o release.csv --metrics metrics.json

  deid kanon fars.csv --sep ';' --qi iage,ideathday,isex --sensitive istatenum \\
      --k 5 --l 3 --l-kind recursive --c 2 --max-suppress 1 -o out.csv --plot iage,ideathday boxes.png

Output: every input row in input order with the same columns; QI cells generalised (numeric
`lo-hi`, categorical value, hierarchy label or `{a,b}` set); suppressed rows have `*` in every
QI. Exit status: 0 ok, 2 usage or configuration error (including an infeasible k / l), 1 runtime
failure.";

/// The l-diversity variants.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LKind {
    /// At least l distinct sensitive values per class.
    Distinct,
    /// Entropy of the sensitive values at least ln(l).
    Entropy,
    /// Recursive (c,l)-diversity (needs --c).
    Recursive,
}

/// How categorical QIs with a hierarchy are published.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Recoding {
    /// The set of values of the class (a hierarchy label when it is exactly one node's leaves).
    Set,
    /// The lowest common ancestor in the hierarchy.
    Hierarchy,
}

/// Arguments of `deid kanon`.
#[derive(Debug, clap::Args)]
#[command(
    about = "k-anonymise a table with optional l-diversity",
    long_about = "k-anonymise a delimited table: multidimensional greedy partitioning (Mondrian \
                  with exact-loss cuts, relaxed cuts and multi-way hierarchy splits), \
                  l-diversity checked at every split, optional outlier suppression. Prints the \
                  metrics (GCP/NCP, discernibility, C_avg, classes, suppressed rows, runtime).",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Input table with a header row, e.g. `adult.csv`.
    pub table: PathBuf,
    /// Quasi-identifier columns, comma-separated or repeated, e.g. `--qi age,sex`.
    #[arg(long, required = true, value_delimiter = ',')]
    pub qi: Vec<String>,
    /// Sensitive column, e.g. `--sensitive salary-class`.
    #[arg(long)]
    pub sensitive: String,
    /// Minimum equivalence-class size, e.g. `--k 10`.
    #[arg(long)]
    pub k: usize,
    /// l of the l-diversity (none by default), e.g. `--l 2`; fractional for `entropy`.
    #[arg(long)]
    pub l: Option<f64>,
    /// Kind of l-diversity, e.g. `--l-kind entropy`.
    #[arg(long, value_enum, default_value_t = LKind::Distinct)]
    pub l_kind: LKind,
    /// The c of recursive (c,l)-diversity, e.g. `--c 3`.
    #[arg(long)]
    pub c: Option<f64>,
    /// Generalisation hierarchy of a categorical QI (ARX format), repeatable, e.g.
    /// `--hierarchy education=adult_hierarchy_education.csv`.
    #[arg(long, value_name = "COL=FILE")]
    pub hierarchy: Vec<String>,
    /// Suppress at most this percentage of rows as outliers, e.g. `--max-suppress 1`.
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub max_suppress: f64,
    /// Field separator of the input (and of the output and hierarchies unless overridden),
    /// e.g. `--sep ';'`.
    #[arg(long, default_value = ",")]
    pub sep: String,
    /// Field separator of the hierarchy files (default: --sep), e.g. `--hier-sep ';'`.
    #[arg(long)]
    pub hier_sep: Option<String>,
    /// Field separator of the output (default: --sep), e.g. `--out-sep ,`.
    #[arg(long)]
    pub out_sep: Option<String>,
    /// QIs to treat as categorical although all values are numbers, e.g. `--categorical zip`.
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// How categorical QIs with a hierarchy are published, e.g. `--recoding hierarchy`.
    #[arg(long, value_enum, default_value_t = Recoding::Set)]
    pub recoding: Recoding,
    /// Output table, e.g. `-o release.csv`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write the metrics as JSON, e.g. `--metrics metrics.json`.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Draw the classes over two numeric QIs as a PNG, e.g. `--plot age,hours plot.png`.
    #[arg(long, num_args = 2, value_names = ["X,Y", "PNG"])]
    pub plot: Option<Vec<String>>,
    /// Do not print the metrics.
    #[arg(long, short)]
    pub quiet: bool,
}

fn sep_byte(s: &str, what: &str) -> Result<u8, KanonError> {
    let s = if s == "\\t" || s == "tab" { "\t" } else { s };
    match s.as_bytes() {
        [b] => Ok(*b),
        _ => Err(KanonError::InvalidConfig(format!(
            "{what} must be a single byte, got {s:?}"
        ))),
    }
}

/// Runs `deid kanon`.
pub fn run(a: Args) -> Result<(), KanonError> {
    let sep = sep_byte(&a.sep, "--sep")?;
    let hsep = sep_byte(a.hier_sep.as_deref().unwrap_or(&a.sep), "--hier-sep")?;
    let osep = sep_byte(a.out_sep.as_deref().unwrap_or(&a.sep), "--out-sep")?;
    let bad = |m: String| KanonError::InvalidConfig(m);
    let l = match (a.l, a.l_kind) {
        (None, _) => None,
        (Some(l), LKind::Entropy) => Some(LDiversity::Entropy { l }),
        (Some(l), kind) => {
            if l.fract() != 0.0 || l < 1.0 {
                return Err(bad(format!("--l must be a whole number >= 1 for {kind:?}")));
            }
            let l = l as usize;
            Some(match kind {
                LKind::Recursive => LDiversity::Recursive {
                    c: a.c
                        .ok_or_else(|| bad("--l-kind recursive needs --c".into()))?,
                    l,
                },
                _ => LDiversity::Distinct { l },
            })
        }
    };
    if a.c.is_some() && !matches!(l, Some(LDiversity::Recursive { .. })) {
        return Err(bad(
            "--c is only used with --l-kind recursive and --l".into()
        ));
    }
    let plot = match &a.plot {
        None => None,
        Some(v) => {
            let (xy, png) = (&v[0], &v[1]);
            let (x, y) = xy
                .split_once(',')
                .ok_or_else(|| bad(format!("--plot expects X,Y PNG, got {xy:?}")))?;
            Some((
                x.trim().to_string(),
                y.trim().to_string(),
                PathBuf::from(png),
            ))
        }
    };
    let mut hier = Hierarchies::new();
    for h in &a.hierarchy {
        let (col, file) = h
            .split_once('=')
            .ok_or_else(|| bad(format!("--hierarchy expects COL=FILE, got {h:?}")))?;
        hier.insert(col.trim(), Hierarchy::from_csv_path(file, hsep)?);
    }
    let table = Table::from_csv_path(&a.table, sep)?;
    let mut cfg = KanonConfig::new(
        a.k,
        a.qi.iter().map(|s| s.trim().to_string()).collect(),
        a.sensitive.trim(),
    );
    cfg.l = l;
    cfg.max_suppress = a.max_suppress;
    cfg.categorical = a.categorical;
    cfg.recoding = match a.recoding {
        Recoding::Set => CategoricalRecoding::Set,
        Recoding::Hierarchy => CategoricalRecoding::Hierarchy,
    };
    let release = anonymize(&table, &cfg, &hier)?;
    release.write_csv(&table, &a.output, osep)?;
    if let Some(p) = &a.metrics {
        let json = serde_json::to_string_pretty(&release.metrics)
            .map_err(|e| KanonError::Internal(format!("metrics JSON: {e}")))?;
        std::fs::write(p, json + "\n").map_err(|source| KanonError::Io {
            path: p.display().to_string(),
            source,
        })?;
    }
    if let Some((x, y, png)) = plot {
        plot_partitions(&table, &release, &x, &y, png, (1200, 900))?;
    }
    if !a.quiet {
        print!("{}", release.metrics.summary());
    }
    Ok(())
}
