//! End-to-end tests of `zoo search` on the embedded mini MNIST: strategies, storage, resume,
//! cooperation between processes, failures, reproducibility.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn zoo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zoo"))
        .args(args)
        .env("ZOO_OFFLINE", "1")
        .output()
        .expect("zoo runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "zoo failed:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// A copy of mlp-mnist-mini with a [search] table.
fn recipe_with(dir: &Path, space: &str) -> PathBuf {
    let base = text(&zoo(&["show", "mlp-mnist-mini"]).stdout);
    let path = dir.join("search.toml");
    std::fs::write(&path, format!("{base}\n[search]\n{space}\n")).unwrap();
    path
}

const SPACE: &str = r#""optimizer.lr" = { log_uniform = [3e-3, 3e-2] }
"model.hidden" = { choice = [[32], [64]] }"#;

fn search_args<'a>(
    recipe: &'a str,
    db: &'a str,
    out: &'a str,
    strategy: &'a str,
    trials: &'a str,
) -> Vec<&'a str> {
    vec![
        "search",
        recipe,
        "--strategy",
        strategy,
        "--trials",
        trials,
        "--epochs-max",
        "2",
        "--storage",
        db,
        "--out",
        out,
    ]
}

/// The `trial N (strategy): params` lines a search process printed as it started trials.
fn start_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| {
            l.starts_with("trial ")
                && l.split_whitespace()
                    .nth(2)
                    .is_some_and(|w| w.starts_with('('))
        })
        .collect()
}

/// The trial numbers a search process started.
fn started(stdout: &str) -> Vec<usize> {
    start_lines(stdout)
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

fn show(db: &str, study: &str) -> String {
    let output = zoo(&["search", "show", study, "--storage", db]);
    assert_ok(&output);
    text(&output.stdout)
}

#[test]
fn every_strategy_runs_tiny_trials_and_writes_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(dir.path(), SPACE);
    let grid_recipe = recipe_with(
        &dir.path().join(".."),
        r#""model.hidden" = { choice = [[32], [64]] }"#,
    );
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    for strategy in ["grid", "random", "halving", "hyperband", "tpe"] {
        let out = dir.path().join(strategy);
        let file = if strategy == "grid" {
            &grid_recipe
        } else {
            &recipe
        };
        let output = zoo(&search_args(
            file.to_str().unwrap(),
            &db,
            out.to_str().unwrap(),
            strategy,
            "4",
        ));
        assert_ok(&output);
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains("best trial") && stdout.contains("test accuracy"),
            "{strategy}: {stdout}"
        );
        let expected = if strategy == "grid" { 2 } else { 4 }; // a grid of two points
        assert!(
            stdout.contains(&format!("{expected} trials:")),
            "{strategy}: {stdout}"
        );
        for file in ["best.toml", "leaderboard.txt", "history.png", "params.png"] {
            assert!(out.join(file).is_file(), "{strategy}: {file} missing");
        }
        // best.toml is a recipe zoo train accepts.
        let run = dir.path().join(format!("best-{strategy}"));
        let check = zoo(&[
            "train",
            out.join("best.toml").to_str().unwrap(),
            "--dry-run",
            "--plain",
            "--out",
            run.to_str().unwrap(),
        ]);
        assert_ok(&check);
    }
}

#[test]
fn a_killed_search_resumes_to_exactly_the_requested_trials() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(dir.path(), SPACE);
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    let out = dir.path().join("out");
    let mut args = search_args(
        recipe.to_str().unwrap(),
        &db,
        out.to_str().unwrap(),
        "random",
        "6",
    );
    args.extend(["--set", "training.epochs=20"]);
    let args_max = args.iter().position(|a| *a == "--epochs-max").unwrap();
    args.drain(args_max..args_max + 2); // trials train the recipe's 20 epochs: long enough to kill
    let mut child = Command::new(env!("CARGO_BIN_EXE_zoo"))
        .args(&args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let third = out.join("trials").join("trial-0002").join("metrics.csv");
    let start = std::time::Instant::now();
    while !third.exists() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL in the middle of trial 2
    child.wait().unwrap();
    assert!(third.exists(), "the search never reached trial 2");
    let before = show(&db, "mlp-mnist-mini-random");
    assert!(
        before.contains("1 running"),
        "trial 2 was left running: {before}"
    );

    let output = zoo(&args);
    assert_ok(&output);
    let again = started(&text(&output.stdout));
    assert_eq!(
        again.first(),
        Some(&2),
        "the dead trial is re-run first: {again:?}"
    );
    let after = show(&db, "mlp-mnist-mini-random");
    assert!(
        after.contains("6 trials: 6 complete, 0 pruned, 0 failed, 0 running"),
        "{after}"
    );
}

#[test]
fn two_processes_share_a_study_without_running_a_trial_twice() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(dir.path(), SPACE);
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    let out = dir.path().join("out");
    let args = search_args(
        recipe.to_str().unwrap(),
        &db,
        out.to_str().unwrap(),
        "random",
        "8",
    );
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_zoo"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_ok(&a);
    assert_ok(&b);
    let (mut ta, tb) = (started(&text(&a.stdout)), started(&text(&b.stdout)));
    assert!(
        ta.iter().all(|t| !tb.contains(t)),
        "a trial ran twice: {ta:?} and {tb:?}"
    );
    ta.extend(tb);
    ta.sort();
    assert_eq!(ta, (0..8).collect::<Vec<_>>(), "every trial ran once");
    assert!(show(&db, "mlp-mnist-mini-random").contains("8 trials: 8 complete"));
}

#[test]
fn a_failing_trial_is_recorded_and_the_search_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(
        dir.path(),
        r#""optimizer.lr" = { choice = [0.02, 10000.0] }"#,
    );
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    let out = dir.path().join("out");
    let output = zoo(&search_args(
        recipe.to_str().unwrap(),
        &db,
        out.to_str().unwrap(),
        "grid",
        "2",
    ));
    assert_ok(&output);
    let board = show(&db, "mlp-mnist-mini-grid");
    assert!(
        board.contains("2 trials: 1 complete, 0 pruned, 1 failed"),
        "{board}"
    );
    assert!(
        board.contains("trial 1 failed") && board.contains("diverged"),
        "{board}"
    );
}

#[test]
fn one_worker_and_one_seed_propose_the_same_configurations() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(dir.path(), SPACE);
    let configs = |name: &str| -> Vec<String> {
        let db = format!("sqlite:{}", dir.path().join(format!("{name}.db")).display());
        let out = dir.path().join(name);
        let mut args = search_args(
            recipe.to_str().unwrap(),
            &db,
            out.to_str().unwrap(),
            "tpe",
            "12",
        );
        args.extend(["--seed", "7"]);
        let output = zoo(&args);
        assert_ok(&output);
        start_lines(&text(&output.stdout))
            .into_iter()
            .map(String::from)
            .collect()
    };
    let (a, b) = (configs("a"), configs("b"));
    assert_eq!(a.len(), 12);
    assert_eq!(
        a, b,
        "same seed, same sequence (TPE past its 10 random start-up trials)"
    );
}

#[test]
fn bad_search_spaces_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    let out = dir.path().join("out");
    for (space, key) in [
        (r#""optimizer.lrr" = { choice = [0.1] }"#, "lrr"),
        (
            r#""optimizer.lr" = { log_uniform = [0.0, 0.1] }"#,
            "optimizer.lr",
        ),
        (
            r#""model.dropout" = { uniform = [0.2, 0.1] }"#,
            "model.dropout",
        ),
    ] {
        let recipe = recipe_with(dir.path(), space);
        let output = zoo(&search_args(
            recipe.to_str().unwrap(),
            &db,
            out.to_str().unwrap(),
            "random",
            "2",
        ));
        let err = text(&output.stderr);
        assert!(
            !output.status.success() && err.contains(key) && !err.contains("panicked"),
            "{space}: {err}"
        );
    }
    let recipe = recipe_with(dir.path(), SPACE);
    let output = zoo(&search_args(
        recipe.to_str().unwrap(),
        &db,
        out.to_str().unwrap(),
        "grid",
        "2",
    ));
    assert!(
        text(&output.stderr).contains("optimizer.lr"),
        "grid over a continuous key: {}",
        text(&output.stderr)
    );
}

#[test]
fn workers_train_trials_in_parallel_within_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(dir.path(), SPACE);
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    let out = dir.path().join("out");
    let mut args = search_args(
        recipe.to_str().unwrap(),
        &db,
        out.to_str().unwrap(),
        "random",
        "4",
    );
    args.extend(["--workers", "2"]);
    let output = zoo(&args);
    assert_ok(&output);
    let mut numbers = started(&text(&output.stdout));
    numbers.sort();
    assert_eq!(numbers, vec![0, 1, 2, 3]);
    assert!(show(&db, "mlp-mnist-mini-random").contains("4 trials: 4 complete"));
}
