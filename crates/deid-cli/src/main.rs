//! `deid`: batch de-identification of DICOM trees per DICOM PS3.15.
#![warn(missing_docs)]

mod kanon_cmd;
mod profile_cmd;
mod run_cmd;
mod table_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit codes, shared by the subcommands.
pub mod exit {
    /// Every DICOM file was de-identified (non-DICOM files skipped is still success).
    pub const OK: u8 = 0;
    /// A runtime failure (I/O errors on the output, unreadable inputs).
    pub const FAILURE: u8 = 1;
    /// A usage or configuration error (bad flag, profile, key, input).
    pub const USAGE: u8 = 2;
    /// Some DICOM files were rejected (see the report).
    pub const REJECTED: u8 = 3;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  every DICOM file was de-identified (non-DICOM files skipped is still 0)
  1  runtime failure (output not writable, unreadable inputs or folders)
  2  usage or configuration error (bad flag, profile, option or key file)
  3  some DICOM files were rejected (reasons in the report)";

/// De-identify DICOM files per DICOM PS3.15 Annex E.
#[derive(Debug, Parser)]
#[command(name = "deid", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// De-identify a directory tree into a pseudonymous output tree.
    Run(run_cmd::Args),
    /// Inspect profiles.
    Profile(profile_cmd::Args),
    /// k-anonymise a table (Mondrian-style partitioning with l-diversity).
    Kanon(kanon_cmd::Args),
    /// Extract the header table of a DICOM tree as CSV.
    Table(table_cmd::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let code = match cli.command {
        Command::Run(args) => run_cmd::run(args),
        Command::Profile(args) => profile_cmd::run(args),
        Command::Table(args) => table_cmd::run(args),
        Command::Kanon(args) => match kanon_cmd::run(args) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("deid kanon: {e}");
                if e.is_usage() {
                    exit::USAGE
                } else {
                    exit::FAILURE
                }
            }
        },
    };
    ExitCode::from(code)
}
