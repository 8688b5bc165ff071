//! Helpers shared by the end-to-end tests of the `deid` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The `deid` binary under test.
pub fn deid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_deid"))
}

/// `../shared` beside the workspace, or `$DEID_SHARED_DIR`; missing fails the test (CI
/// always has it).
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("DEID_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    assert!(
        dir.is_dir(),
        "shared material not found at {} (set DEID_SHARED_DIR)",
        dir.display()
    );
    dir
}
