//! De-identifies one file with the embedded basic profile and the given options, and prints
//! what was done (as JSON, without any patient value):
//!
//! ```text
//! cargo run -p dicom-deid --example deid_one -- KEY_FILE IN.dcm OUT.dcm [OPTION...]
//! cargo run -p dicom-deid --example deid_one -- deid.key in.dcm out.dcm retain-long-modified-dates
//! ```
use dicom_deid::{DeidOption, Deidentifier, Key};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [key, input, output, options @ ..] = args.as_slice() else {
        eprintln!("usage: deid_one KEY_FILE IN OUT [OPTION...]");
        return ExitCode::from(2);
    };
    match run(key, input, output, options) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    key: &str,
    input: &str,
    output: &str,
    options: &[String],
) -> Result<String, Box<dyn std::error::Error>> {
    let mut builder = Deidentifier::builder().key(Key::from_file(key.as_ref())?);
    for option in options {
        builder = builder.option(option.parse::<DeidOption>()?);
    }
    let outcome = builder
        .build()?
        .deidentify_file(input.as_ref(), output.as_ref())?;
    Ok(serde_json::to_string_pretty(&outcome)?)
}
