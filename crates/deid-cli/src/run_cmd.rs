//! `deid run`: de-identify a directory tree.

use crate::exit;
use dicom_deid::batch::{self, BatchConfig, FileRecord, Progress, Shard, Summary};
use dicom_deid::kanon_release::{KanonSpec, WriteBackOutcome, write_back};
use dicom_deid::pixels::{BurnedInPolicy, PixelRules};
use dicom_deid::{DeidOption, Deidentifier, Key, Profile};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # One-off run with a random key (pseudonyms will not match any other run):
  deid run scans/ out/

  # Reproducible pseudonyms and UIDs across runs and machines, with a report:
  openssl rand -hex 32 > deid.key && chmod 600 deid.key
  deid run --key-file deid.key --report report.jsonl scans/ out/

  # Resume: rerun the same command; finished files are skipped.

  # Slurm job array (each task takes one shard; same key, same output root):
  #SBATCH --array=1-16
  deid run --key-file deid.key --jobs $SLURM_CPUS_PER_TASK \\
      --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT \\
      --report report-$SLURM_ARRAY_TASK_ID.jsonl /data/in /data/out

  # k-anonymity over the patients, written back into the files, with the released table:
  deid run --key-file deid.key --profile profiles/research.toml \
      --kanon profiles/kanon-example.toml --table-out released.csv scans/ out/

  # Kubernetes Indexed Job with completions: 8 (JOB_COMPLETION_INDEX is 0-based):
  deid run --key-file /secrets/deid.key --shard $((JOB_COMPLETION_INDEX+1))/8 /in /out

Output layout (no PHI in paths):
  OUT/<patient pseudonym>/<study UID>/<series UID>/<SOP instance UID>.dcm
  OUT/.deid-state/  resume journals     OUT/.deid-tmp/  files being written

Exit codes:
  0  every DICOM file was de-identified (non-DICOM files skipped is still 0)
  1  runtime failure (output not writable, unreadable inputs or folders)
  2  usage or configuration error (bad flag, profile, option or key file)
  3  some DICOM files were rejected (reasons in the report)";

/// Marker under `OUT/.deid-state/` of an output that went through `--kanon`.
const KANON_MARKER: &str = "kanon-applied";

/// Arguments of `deid run`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// `basic` (the embedded Basic Profile) or a profile TOML file.
    #[arg(long, value_name = "NAME|FILE", default_value = "basic")]
    profile: String,
    /// Add a PS3.15 option (e.g. retain-safe-private, clean-descriptors); repeatable.
    #[arg(long = "option", value_name = "NAME")]
    options: Vec<String>,
    /// The secret key file (at least 16 bytes; trailing whitespace ignored). Without it a
    /// random key is used and pseudonyms/UIDs will not match any other run.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Process only shard K of N (1-based), chosen by a hash of each relative input path.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Write one JSON line per input file to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Include relative input paths in the report (they may contain PHI such as names).
    #[arg(long)]
    report_input_paths: bool,
    /// De-identify without writing anything; the report shows what would be written.
    #[arg(long)]
    dry_run: bool,
    /// No progress bar and no summary.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// After the run, k-anonymise the patients of the output tree per this TOML file (k, l,
    /// QIs, hierarchies; see profiles/kanon-example.toml) and write the released values back
    /// into every file; patients in suppressed classes are withheld (their files deleted)
    /// and listed. Needs all of the output: not with --shard or --dry-run. Use a fresh
    /// output directory: an output that went through --kanon is not run into again.
    /// E.g. `--kanon profiles/kanon-example.toml`.
    #[arg(long, value_name = "FILE.toml")]
    kanon: Option<PathBuf>,
    /// With --option clean-pixel-data: a pixel rule file (TOML) used in addition to the
    /// shipped rules (profiles/pixel-rules.toml). E.g. `--pixel-rules my-scanners.toml`.
    #[arg(long, value_name = "FILE")]
    pub pixel_rules: Option<PathBuf>,

    /// With --option clean-pixel-data: pass images that need cleaning but match no rule
    /// (pixels untouched, a warning in the report) instead of rejecting them.
    #[arg(long)]
    pub pass_unmatched_burned_in: bool,

    /// With --option clean-pixel-data: write a before/after PNG of each cleaned image into
    /// DIR (operator side only; it must not be inside the output). E.g. `--qa-dir qa/`.
    #[arg(long, value_name = "DIR")]
    pub qa_dir: Option<PathBuf>,

    /// With --kanon: write the released patient table (CSV) here; it agrees with the files.
    /// E.g. `--table-out released.csv`.
    #[arg(long, value_name = "FILE", requires = "kanon")]
    table_out: Option<PathBuf>,
    /// The input directory (walked recursively; symbolic links are not followed).
    #[arg(value_name = "INPUT_DIR")]
    input: PathBuf,
    /// The output directory (created when missing).
    #[arg(value_name = "OUTPUT_DIR")]
    output: PathBuf,
}

/// A profile by name or file, with options given by their CLI names.
pub fn load_profile(name: &str, options: &[String]) -> Result<Profile, String> {
    let profile = Profile::named(name).map_err(|e| format!("profile {name:?}: {e}"))?;
    let mut opts = Vec::new();
    for o in options {
        let opt = DeidOption::from_cli_name(o).ok_or_else(|| {
            let known: Vec<&str> = DeidOption::ALL.iter().map(|o| o.cli_name()).collect();
            format!("unknown option {o:?}; known: {}", known.join(", "))
        })?;
        opts.push(opt);
    }
    profile.with_options(opts).map_err(|e| e.to_string())
}

/// Runs `deid run`; returns the exit code.
pub fn run(args: Args) -> u8 {
    let profile = match load_profile(&args.profile, &args.options) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::USAGE;
        }
    };
    let key = match &args.key_file {
        Some(path) => match Key::from_file(path) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("error: key file: {e}");
                return exit::USAGE;
            }
        },
        None => match Key::random() {
            Ok(k) => {
                eprintln!(
                    "warning: no --key-file: using a random key; pseudonyms and UIDs will not \
                     match any other run (or shard)"
                );
                k
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        },
    };
    let mut builder = Deidentifier::builder().profile(profile).key(key);
    if let Some(path) = &args.pixel_rules {
        match PixelRules::from_file(path) {
            Ok(mine) => builder = builder.pixel_rules(PixelRules::default_rules().extend(mine)),
            Err(e) => {
                eprintln!("error: pixel rules: {e}");
                return exit::USAGE;
            }
        }
    }
    if args.pass_unmatched_burned_in {
        builder = builder.burned_in_policy(BurnedInPolicy::PassWithWarning);
    }
    if let Some(qa) = &args.qa_dir
        && absolute(qa).starts_with(absolute(&args.output))
    {
        eprintln!(
            "error: --qa-dir must not be inside the output directory (thumbnails show the images)"
        );
        return exit::USAGE;
    }
    let deid = match builder.build() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    if !args.input.is_dir() {
        eprintln!("error: the input {:?} is not a directory", args.input);
        return exit::USAGE;
    }
    if let (Ok(i), Ok(o)) = (args.input.canonicalize(), args.output.canonicalize())
        && i == o
    {
        eprintln!("error: the output directory must differ from the input directory");
        return exit::USAGE;
    }
    let kanon = match &args.kanon {
        None => None,
        Some(_) if args.shard.is_some() || args.dry_run => {
            eprintln!(
                "error: --kanon needs the whole output: run the shards without it, then once \
                 more without --shard (finished files are skipped) with --kanon"
            );
            return exit::USAGE;
        }
        Some(p) => match KanonSpec::from_path(p) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        },
    };
    let kanon_marker = args.output.join(batch::STATE_DIR).join(KANON_MARKER);
    if kanon_marker.exists() {
        eprintln!(
            "error: k-anonymity was already applied to {:?}: a rerun would re-create withheld \
             patients and generalise released values again; use a fresh output directory",
            args.output
        );
        return exit::USAGE;
    }
    let cfg = BatchConfig {
        input: args.input,
        output: args.output,
        shard: args.shard,
        jobs: args.jobs,
        dry_run: args.dry_run,
        report_input_paths: args.report_input_paths,
        qa_dir: args.qa_dir,
    };
    let mut report_out: Option<Box<dyn Write>> = match &args.report {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stdout().lock())),
        Some(p) => match File::create(p) {
            Ok(f) => Some(Box::new(BufWriter::new(f))),
            Err(e) => {
                eprintln!("error: cannot create the report {p:?}: {e}");
                return exit::USAGE;
            }
        },
    };
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| progress_bar(&cfg));
    let mut report_err = None;
    let mut report = |rec: &FileRecord| {
        if let Some(out) = report_out.as_mut()
            && report_err.is_none()
            && let Err(e) = serde_json::to_writer(&mut *out, rec)
                .map_err(std::io::Error::from)
                .and_then(|_| out.write_all(b"\n"))
        {
            report_err = Some(e);
        }
    };
    let mut progress = |p: &Progress| {
        if let Some(bar) = &bar {
            bar.set_position(p.files);
            let secs = bar.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{:.1} MB/s  {} rejected",
                p.bytes_in as f64 / 1e6 / secs,
                p.rejected
            ));
        }
    };
    let result = batch::run_batch(&deid, &cfg, &mut report, &mut progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(mut out) = report_out
        && report_err.is_none()
        && let Err(e) = out.flush()
    {
        report_err = Some(e);
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                batch::BatchError::InputNotDir => exit::USAGE,
                _ => exit::FAILURE,
            };
        }
    };
    if !args.quiet {
        print_summary(&summary, cfg.dry_run);
    }
    if let Some(e) = report_err {
        eprintln!("error: writing the report: {e}");
        return exit::FAILURE;
    }
    if summary.errors_total() > 0 {
        if kanon.is_some() {
            eprintln!("k-anonymity not applied: the run had errors");
        }
        return exit::FAILURE;
    }
    if let Some(spec) = &kanon {
        match write_back(&cfg.output, spec, args.table_out.as_deref()) {
            Ok(o) => {
                print_kanon(&o, args.quiet);
                let marked = std::fs::create_dir_all(cfg.output.join(batch::STATE_DIR))
                    .and_then(|()| std::fs::write(&kanon_marker, b"k-anonymity applied\n"));
                if let Err(e) = marked {
                    eprintln!("error: writing {kanon_marker:?}: {e}");
                    return exit::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("error: k-anonymity: {e}");
                return exit::FAILURE;
            }
        }
    }
    if summary.rejected_total() > 0 || summary.duplicates > 0 {
        exit::REJECTED
    } else {
        exit::OK
    }
}

/// A progress bar; the total is counted by a background walk so that work starts at once.
fn progress_bar(cfg: &BatchConfig) -> ProgressBar {
    let bar = ProgressBar::no_length();
    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} files  {fps}  {msg}  ETA {eta}")
        .map(|s| {
            s.with_key(
                "fps",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1} files/s", state.per_sec());
                },
            )
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    let (counter, cfg) = (bar.clone(), cfg.clone());
    std::thread::spawn(move || counter.set_length(batch::count_inputs(&cfg)));
    bar
}

/// The k-anonymity summary (unless `quiet`) and, always, the withheld patients.
fn print_kanon(o: &WriteBackOutcome, quiet: bool) {
    let mut e = std::io::stderr().lock();
    let m = &o.metrics;
    if !quiet {
        let _ = writeln!(
            e,
            "k-anonymity: {} patients, k achieved {} (required {}), {} classes, GCP {:.2} %; \
         {} files rewritten; {} patients withheld ({} files)",
            o.patients,
            m.k_achieved,
            m.k,
            m.classes,
            m.gcp_percent,
            o.files_rewritten,
            o.suppressed.len(),
            o.files_withheld
        );
    }
    for p in &o.suppressed {
        let _ = writeln!(e, "  withheld patient {p}");
    }
}

fn print_summary(s: &Summary, dry_run: bool) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(
        e,
        "{}{} files: {} de-identified, {} already done, {} non-DICOM, {} DICOMDIR skipped, \
         {} duplicates, {} rejected, {} errors",
        if dry_run { "dry run: " } else { "" },
        s.files_seen,
        s.done,
        s.skipped,
        s.non_dicom,
        s.skipped_dicomdir,
        s.duplicates,
        s.rejected_total(),
        s.errors_total()
    );
    for (kind, n) in &s.rejected {
        let _ = writeln!(e, "  rejected {kind}: {n}");
    }
    for (kind, n) in &s.errors {
        let _ = writeln!(e, "  error {kind}: {n}");
    }
    let _ = writeln!(
        e,
        "{:.1} MB in, {:.1} MB out, {:.1} s, {:.1} files/s, {:.1} MB/s",
        s.bytes_in as f64 / 1e6,
        s.bytes_out as f64 / 1e6,
        s.seconds,
        s.files_per_second,
        s.mb_per_second
    );
}

/// A path made absolute against the current directory, without touching the file system.
fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
