//! Helpers shared by the end-to-end tests: run the `zoo` binary, check its output.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `zoo` offline (no downloads) with the given environment variables added.
pub fn zoo_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zoo"));
    command.args(args).env("ZOO_OFFLINE", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the zoo binary runs")
}

/// Runs `zoo` offline (no downloads).
pub fn zoo(args: &[&str]) -> Output {
    zoo_with_env(args, &[])
}

/// Says why a test skips part of its work, on the real stderr (not captured by the test
/// harness), so the reason shows in every test run.
pub fn skip(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "zoo failed:\n{}\n{}",
        stdout(output),
        stderr(output)
    );
}

/// A user mistake: non-zero exit, one `error:` line, no panic.
pub fn assert_user_error(output: &Output, expected: &[&str]) {
    let err = stderr(output);
    assert!(!output.status.success(), "should fail: {}", stdout(output));
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic: {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for word in expected {
        assert!(err.contains(word), "'{word}' missing from: {err}");
    }
}

pub fn summary(run_dir: &Path) -> Value {
    let text = std::fs::read_to_string(run_dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// Whether a run failed only because this machine has no GPU adapter for wgpu; says so on
/// stderr when it did.
pub fn wgpu_missing(output: &Output) -> bool {
    let missing = stderr(output).contains("no usable GPU adapter");
    if missing {
        skip(&format!("wgpu: {}", stderr(output).trim()));
    }
    missing
}

/// The shared data folder (`ZOO_DATA_DIR`, else `../shared/data` next to the repository) if
/// it holds `dataset`; `None` (with the reason printed) otherwise.
pub fn data_dir_with(dataset: &str) -> Option<String> {
    let dir = std::env::var("ZOO_DATA_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data").to_string());
    if Path::new(&dir).join(dataset).is_dir() {
        Some(dir)
    } else {
        skip(&format!(
            "no {dataset}/ in the data folder '{dir}' (set ZOO_DATA_DIR)"
        ));
        None
    }
}
