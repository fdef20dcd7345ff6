//! What the CLI's test binaries share: running `hearth` as a user would, the small corpus.
#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with its own default models dir (or `HEARTH_MODELS_DIR`), as a user would.
pub fn hearth(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("run hearth")
}

/// `tests/data/corpus`, absolute.
pub fn corpus() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/corpus")
        .canonicalize()
        .unwrap()
        .display()
        .to_string()
}
