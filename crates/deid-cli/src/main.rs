//! `deid`: de-identification of DICOM trees and of tables.
use std::process::ExitCode;

use clap::Parser;

mod kanon_cmd;

/// De-identification tools.
#[derive(Debug, Parser)]
#[command(name = "deid", version, about)]
enum Cli {
    /// k-anonymise a table (Mondrian-style partitioning with l-diversity).
    Kanon(kanon_cmd::Args),
}

/// Exit status: 0 ok, 2 usage or configuration error, 1 runtime failure.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let res = match cli {
        Cli::Kanon(args) => kanon_cmd::run(args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("deid: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
