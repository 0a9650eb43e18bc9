//! Nothing lost on a crash: `zoo train` and `zoo search` killed with SIGKILL at random instants
//! (checkpoint writes included) and started again end exactly where an uninterrupted run ends.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A small seeded generator (xorshift64*), so the kill instants are the same on every run.
struct Instants(u64);

impl Instants {
    fn next_fraction(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Starts `zoo args` in a process group of its own, lets it run for `after`, then kills the
/// whole group (the process and any workers it started) with SIGKILL. Returns whether the
/// process ended by itself first, and how.
fn run_and_kill(args: &[&str], after: Duration) -> Option<std::process::ExitStatus> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zoo"))
        .args(args)
        .env("ZOO_OFFLINE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("zoo starts");
    let start = Instant::now();
    while start.elapsed() < after {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status); // ended before the kill
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-9", "--", &group]).status();
    let _ = child.wait();
    None
}

/// The figures of `metrics.csv` without the wall-clock column (`seconds`).
fn figures(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).expect("metrics.csv");
    let seconds = text
        .lines()
        .next()
        .and_then(|header| header.split(',').position(|c| c == "seconds"))
        .expect("a seconds column");
    text.lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            [&cells[..seconds], &cells[seconds + 1..]]
                .concat()
                .join(",")
        })
        .collect()
}

#[test]
fn training_killed_twenty_times_ends_with_the_uninterrupted_figures() {
    let dir = tempfile::tempdir().unwrap();
    let epochs = "60";
    let reference = dir.path().join("reference");
    let r = reference.to_str().unwrap();
    let start = Instant::now();
    assert_ok(&zoo(&[
        "train",
        "mlp-mnist-mini",
        "--plain",
        "--epochs",
        epochs,
        "--out",
        r,
    ]));
    let span = start.elapsed().as_secs_f64();

    let crashed = dir.path().join("crashed");
    let c = crashed.to_str().unwrap();
    let fresh = [
        "train",
        "mlp-mnist-mini",
        "--plain",
        "--epochs",
        epochs,
        "--out",
        c,
    ];
    let resume = ["train", "--plain", "--resume", c];
    let mut instants = Instants(0x5eed_cafe);
    let (mut kills, mut resumed) = (0, 0);
    while kills < 20 {
        // Resume when a checkpoint survived, else start again from nothing.
        let args: &[&str] = if has_complete_checkpoint(&crashed) {
            &resume
        } else {
            let _ = std::fs::remove_dir_all(&crashed);
            &fresh
        };
        if crashed.join("summary.json").is_file() {
            break; // finished between two kills
        }
        if args == resume {
            resumed += 1;
        }
        // Each attempt lives a random instant of up to a twelfth of a whole run, so twenty kills
        // land across start-up, epochs and checkpoint writes before the run can finish.
        let after = 0.05 + span / 12.0 * instants.next_fraction();
        match run_and_kill(args, Duration::from_secs_f64(after)) {
            None => kills += 1,
            // Killed before any epoch's checkpoint was whole: nothing to resume, start again.
            Some(status) if !status.success() => {
                let _ = std::fs::remove_dir_all(&crashed);
            }
            Some(_) => {}
        }
    }
    if !crashed.join("summary.json").is_file() {
        let args: &[&str] = if has_complete_checkpoint(&crashed) {
            &resume
        } else {
            let _ = std::fs::remove_dir_all(&crashed);
            &fresh
        };
        assert_ok(&zoo(args));
    }
    eprintln!("{kills} kills, {resumed} resumes from a checkpoint");
    assert!(resumed >= 10, "only {resumed} resumes from a checkpoint");
    assert!(
        kills >= 10,
        "only {kills} kills landed before the run finished"
    );
    let (a, b) = (summary(&reference), summary(&crashed));
    assert_eq!(
        a["metrics"], b["metrics"],
        "same figures as the uninterrupted run"
    );
    assert_eq!(figures(&reference), figures(&crashed));
}

/// Whether a run folder may hold a checkpoint `--resume` can start from (a scheduler file, the
/// last of an epoch's three; `zoo train --resume` itself reads every file back and falls back
/// to the epoch before a half-written one).
fn has_complete_checkpoint(run: &Path) -> bool {
    run.join("recipe.toml").is_file()
        && std::fs::read_dir(run.join("checkpoint"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().starts_with("scheduler-"))
            })
            .unwrap_or(false)
}

#[test]
fn a_search_with_two_workers_killed_again_and_again_ends_with_exactly_its_trials() {
    let dir = tempfile::tempdir().unwrap();
    let shown = stdout(&zoo(&["show", "mlp-mnist-mini"]));
    let base = shown.split("\n[search]").next().unwrap_or(&shown);
    let recipe = dir.path().join("search.toml");
    std::fs::write(
        &recipe,
        format!("{base}\n[search]\n\"optimizer.lr\" = {{ log_uniform = [3e-3, 3e-2] }}\n"),
    )
    .unwrap();
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    let out = dir.path().join("out");
    let args = [
        "search",
        recipe.to_str().unwrap(),
        "--strategy",
        "random",
        "--trials",
        "6",
        "--epochs-max",
        "6",
        "--workers",
        "2",
        "--heartbeat-grace",
        "2",
        "--storage",
        &db,
        "--out",
        out.to_str().unwrap(),
    ];
    let mut instants = Instants(0xdead_beef);
    for _ in 0..6 {
        let ended = run_and_kill(
            &args,
            Duration::from_secs_f64(0.5 + 2.5 * instants.next_fraction()),
        );
        assert!(
            ended.is_none_or(|s| s.success()),
            "a search failed on its own"
        );
    }
    let output = zoo(&args);
    assert_ok(&output);
    let board = stdout(&zoo(&[
        "search",
        "show",
        "mlp-mnist-mini-random",
        "--storage",
        &db,
    ]));
    assert!(
        board.contains("6 trials: 6 complete, 0 pruned, 0 failed, 0 running"),
        "{board}"
    );
}
