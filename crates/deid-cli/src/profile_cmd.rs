//! `deid profile show`: the effective rules of a profile.

use crate::exit;
use dicom_deid::{DeidOption, Profile};
use std::io::Write;

/// Arguments of `deid profile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ProfileCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ProfileCommand {
    /// Print the effective rules of a profile (with its options), one per line.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// `basic` (the embedded Basic Profile) or a profile TOML file.
    #[arg(value_name = "NAME|FILE", default_value = "basic")]
    profile: String,
    /// Add a PS3.15 option (e.g. retain-safe-private, clean-descriptors); repeatable.
    #[arg(long = "option", value_name = "NAME")]
    options: Vec<String>,
    /// Print the rules as a JSON array.
    #[arg(long)]
    json: bool,
}

/// Runs `deid profile`; returns the exit code.
pub fn run(args: Args) -> u8 {
    let ProfileCommand::Show(args) = args.command;
    let profile = match crate::run_cmd::load_profile(&args.profile, &args.options) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::USAGE;
        }
    };
    show(&profile, args.json)
}

fn show(profile: &Profile, json: bool) -> u8 {
    let rules = profile.rules();
    let mut out = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) ends the listing quietly.
    if json {
        match serde_json::to_string_pretty(&rules) {
            Ok(s) => {
                let _ = writeln!(out, "{s}");
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        }
    } else {
        let options: Vec<&str> = profile
            .options()
            .into_iter()
            .map(DeidOption::cli_name)
            .collect();
        let _ = writeln!(
            out,
            "# options: {}",
            if options.is_empty() {
                "(none)".to_string()
            } else {
                options.join(", ")
            }
        );
        for rule in rules {
            if writeln!(out, "{rule}").is_err() {
                break;
            }
        }
    }
    exit::OK
}
