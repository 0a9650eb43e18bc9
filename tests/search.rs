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

/// A built-in recipe's text without its own `[search]` table (the tests bring theirs).
fn without_search(recipe: &str) -> String {
    recipe
        .split("\n[search]")
        .next()
        .unwrap_or(recipe)
        .to_string()
}

/// A copy of mlp-mnist-mini with a [search] table.
fn recipe_with(dir: &Path, space: &str) -> PathBuf {
    let base = without_search(&text(&zoo(&["show", "mlp-mnist-mini"]).stdout));
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

/// A temporary folder holding a copy of mlp-mnist-mini searched over `space`, a study
/// database and a search folder in it.
fn setup(space: &str) -> (tempfile::TempDir, PathBuf, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(dir.path(), space);
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    let out = dir.path().join("out");
    (dir, recipe, db, out)
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

/// Whether `ZOO_DATA_DIR` holds tiny-shakespeare; says why not on stderr.
fn has_tinyshakespeare() -> bool {
    let dir = std::env::var("ZOO_DATA_DIR").unwrap_or_default();
    let found = !dir.is_empty() && Path::new(&dir).join("tinyshakespeare").is_dir();
    if !found {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the language-model search needs tinyshakespeare/ in ZOO_DATA_DIR ('{dir}')"
        );
    }
    found
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
        // Each study has its own folder in --out.
        let out = out.join(format!("mlp-mnist-mini-{strategy}"));
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
    let (_dir, recipe, db, out) = setup(SPACE);
    let mut args = search_args(
        recipe.to_str().unwrap(),
        &db,
        out.to_str().unwrap(),
        "random",
        "6",
    );
    args.extend(["--set", "training.epochs=20", "--heartbeat-grace", "3"]);
    let args_max = args.iter().position(|a| *a == "--epochs-max").unwrap();
    args.drain(args_max..args_max + 2); // trials train the recipe's 20 epochs: long enough to kill
    let mut child = Command::new(env!("CARGO_BIN_EXE_zoo"))
        .args(&args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let third = out
        .join("mlp-mnist-mini-random")
        .join("trials")
        .join("trial-0002")
        .join("metrics.csv");
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

    // The killed worker's trial is taken over once its heartbeat is 3 s old, and the search
    // waits for it: it ends with exactly 6 finished trials.
    let output = zoo(&args);
    assert_ok(&output);
    let mut again = started(&text(&output.stdout));
    again.sort();
    assert_eq!(again, vec![2, 3, 4, 5], "the dead trial is re-run, once");
    let after = show(&db, "mlp-mnist-mini-random");
    assert!(
        after.contains("6 trials: 6 complete, 0 pruned, 0 failed, 0 running"),
        "{after}"
    );
}

#[test]
fn two_processes_share_a_study_without_running_a_trial_twice() {
    let (_dir, recipe, db, out) = setup(SPACE);
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
fn workers_run_as_processes_and_a_trial_gives_the_same_figures_beside_another() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(dir.path(), SPACE);
    let values = |name: &str, workers: &str| -> Vec<(usize, String)> {
        let db = format!("sqlite:{}", dir.path().join(format!("{name}.db")).display());
        let out = dir.path().join(name);
        let mut args = search_args(
            recipe.to_str().unwrap(),
            &db,
            out.to_str().unwrap(),
            "random",
            "4",
        );
        args.extend(["--workers", workers, "--seed", "3"]);
        assert_ok(&zoo(&args));
        // The stored value of every trial, by number.
        let board = show(&db, "mlp-mnist-mini-random");
        let mut rows: Vec<(usize, String)> = board
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                let trial = cells.get(1)?.parse().ok()?;
                cells.get(2)?.parse::<f64>().ok()?;
                Some((trial, cells[2].to_string()))
            })
            .collect();
        rows.sort();
        rows
    };
    let alone = values("alone", "1");
    let beside = values("beside", "2");
    assert_eq!(alone.len(), 4, "{alone:?}");
    assert_eq!(alone, beside, "trial k: the same figure at 1 and 2 workers");
}

#[test]
fn two_studies_in_one_out_folder_keep_their_own_trials() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_with(dir.path(), SPACE);
    let out = dir.path().join("so");
    for (study, db) in [("one", "db1.db"), ("two", "db2.db")] {
        let db = format!("sqlite:{}", dir.path().join(db).display());
        let mut args = search_args(
            recipe.to_str().unwrap(),
            &db,
            out.to_str().unwrap(),
            "random",
            "2",
        );
        args.extend(["--study", study]);
        assert_ok(&zoo(&args));
    }
    for study in ["one", "two"] {
        let folder = out.join(study);
        assert!(folder.join("best.toml").is_file(), "{study}");
        assert_eq!(
            std::fs::read_to_string(folder.join("study.txt"))
                .unwrap()
                .trim(),
            study
        );
        assert!(folder
            .join("trials")
            .join("trial-0001")
            .join("summary.json")
            .is_file());
    }
}

#[test]
fn a_study_reopened_with_another_budget_is_refused_naming_it() {
    let (_dir, recipe, db, out) = setup(SPACE);
    let args = search_args(
        recipe.to_str().unwrap(),
        &db,
        out.to_str().unwrap(),
        "random",
        "1",
    );
    assert_ok(&zoo(&args));
    let mut other = args.clone();
    let at = other.iter().position(|a| *a == "--epochs-max").unwrap();
    other[at + 1] = "3";
    let output = zoo(&other);
    let err = text(&output.stderr);
    assert!(!output.status.success(), "{}", text(&output.stdout));
    assert!(
        err.contains("epochs_max is 2 in the study, 3 here"),
        "{err}"
    );
    let mut other = args.clone();
    other.extend(["--set", "model.dropout=0.1"]);
    let err = text(&zoo(&other).stderr);
    assert!(err.contains("model.dropout"), "{err}");
    // The old spelling of `zoo search show` still works.
    let old = zoo(&["study", "show", "mlp-mnist-mini-random", "--storage", &db]);
    assert_ok(&old);
    assert!(text(&old.stdout).contains("1 trials: 1 complete"));
}

/// A recipe of each task is searched, with the task's own metric.
#[test]
fn every_task_is_searched_by_its_own_metric() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    let out = dir.path().join("out");
    for (name, space, metric, extra) in [
        (
            "lstm-shakespeare-mini",
            r#""optimizer.lr" = { choice = [3e-3, 1e-2] }"#,
            "valid_loss",
            vec!["--set", "data.max_chars=4000"],
        ),
        (
            "lstm-sine-mini",
            r#""model.hidden" = { choice = [8, 16] }"#,
            "valid_loss",
            vec![],
        ),
        (
            "gan-mnist-mini",
            r#""gan.generator_lr" = { choice = [2e-4, 1e-3] }"#,
            "mnist_score",
            vec![
                "--set",
                "gan.quality_samples=64",
                "--set",
                "gan.quality_classifier=mlp-mnist-mini",
            ],
        ),
    ] {
        if name == "lstm-shakespeare-mini" && !has_tinyshakespeare() {
            continue;
        }
        let base = without_search(&text(&zoo(&["show", name]).stdout));
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, format!("{base}\n[search]\n{space}\n")).unwrap();
        let mut args = search_args(
            path.to_str().unwrap(),
            &db,
            out.to_str().unwrap(),
            "random",
            "2",
        );
        let at = args.iter().position(|a| *a == "--epochs-max").unwrap();
        args[at + 1] = "1";
        args.extend(extra);
        let output = zoo(&args);
        assert_ok(&output);
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains(&format!("complete: {metric}")),
            "{name}: {stdout}"
        );
        assert!(stdout.contains("best trial"), "{name}: {stdout}");
        // A metric the task does not have is refused before anything trains.
        let mut wrong = args.clone();
        wrong.extend(["--metric", "valid_accuracy", "--study", "wrong"]);
        let wrong = zoo(&wrong);
        let err = text(&wrong.stderr);
        if name != "lstm-shakespeare-mini" {
            assert!(
                !wrong.status.success() && err.contains(metric),
                "{name}: {err}"
            );
            assert!(
                !text(&wrong.stdout).contains("trial 0"),
                "{name}: trained before refusing"
            );
        }
    }
}

#[test]
fn workers_share_one_command() {
    let (_dir, recipe, db, out) = setup(SPACE);
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

/// Every built-in recipe carries a `[search]` table that works as it is: a three-trial TPE search
/// of one epoch per trial, on the embedded mini MNIST for the image recipes.
#[test]
fn every_builtin_recipe_is_searchable_out_of_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("s.db").display());
    let out = dir.path().join("out");
    let list = text(&zoo(&["list"]).stdout);
    let names: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 18, "{list}");
    for name in names {
        let mut args = vec![
            "search",
            name,
            "--strategy",
            "tpe",
            "--trials",
            "3",
            "--epochs-max",
            "1",
            "--storage",
            &db,
            "--out",
            out.to_str().unwrap(),
        ];
        let shown = text(&zoo(&["show", name]).stdout);
        if shown.contains("\"tinyshakespeare\"") {
            if !has_tinyshakespeare() {
                continue;
            }
            args.extend(["--set", "data.max_chars=3000"]);
        } else if shown.contains("kind = \"gan\"") {
            args.extend([
                "--set",
                "data.dataset=mnist-mini",
                "--set",
                "gan.quality_samples=32",
                "--set",
                "gan.quality_classifier=mlp-mnist-mini",
            ]);
        } else if !shown.contains("\"sines\"") {
            args.extend(["--set", "data.dataset=mnist-mini"]);
        }
        let output = zoo(&args);
        assert_ok(&output);
        let stdout = text(&output.stdout);
        assert!(stdout.contains("3 trials: "), "{name}: {stdout}");
        assert!(stdout.contains("best trial"), "{name}: {stdout}");
    }
}
