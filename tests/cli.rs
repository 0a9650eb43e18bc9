//! End-to-end tests of the `zoo` command, on the embedded mini MNIST (no network, no data folder).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn train_mini(run_dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "mlp-mnist-mini",
        "--plain",
        "--out",
        run_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    zoo(&args)
}

fn check_summary(run_dir: &Path, backend: &str, epochs: u64) -> Value {
    let s = summary(run_dir);
    for key in [
        "recipe",
        "backend",
        "seed",
        "epochs_run",
        "best_epoch",
        "train_seconds",
        "train_samples_per_second",
    ] {
        assert!(s.get(key).is_some(), "summary.json lacks {key}: {s}");
    }
    for key in [
        "train_accuracy",
        "valid_accuracy",
        "test_accuracy",
        "test_loss",
    ] {
        let v = s["metrics"][key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite() && v >= 0.0, "metrics.{key} = {v}");
    }
    assert_eq!(s["recipe"], "mlp-mnist-mini");
    assert_eq!(s["backend"], backend);
    assert_eq!(s["epochs_run"], epochs);
    assert!(s["train_samples_per_second"].as_f64().unwrap() > 0.0);
    for file in [
        "recipe.toml",
        "model.bpk",
        "metrics.csv",
        "curves.png",
        "experiment.log",
    ] {
        assert!(
            run_dir.join(file).is_file(),
            "{file} missing from the run folder"
        );
    }
    let csv = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    let rows: Vec<(u64, &str)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let mut cells = l.split(',');
            (
                cells.next().unwrap().parse().unwrap(),
                cells.next().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(u64, &str)> = (1..=epochs)
        .flat_map(|e| [(e, "train"), (e, "valid")])
        .collect();
    assert_eq!(
        rows, expected,
        "one train and one valid row per epoch, in order: {csv}"
    );
    s
}

#[test]
fn list_and_show_name_the_recipes() {
    let output = zoo(&["list"]);
    assert_ok(&output);
    for name in [
        "mlp-mnist ",
        "mlp-mnist-mini",
        "cnn-mnist ",
        "lenet5-mnist",
        "cnn-mnist-bn-aug",
        "cnn-mnist-fast",
        "cnn-mnist-aug-fast",
        "cnn-fashion",
        "cnn-mnist-mini",
    ] {
        assert!(
            stdout(&output).contains(name),
            "{name} missing from: {}",
            stdout(&output)
        );
    }
    let output = zoo(&["show", "mlp-mnist"]);
    assert_ok(&output);
    assert!(stdout(&output).contains("[optimizer]"));
}

#[test]
fn training_learns_and_eval_reproduces_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = train_mini(&run, &["--epochs", "3"]);
    assert_ok(&output);
    let out = stdout(&output);
    assert!(
        out.contains("test accuracy") && out.contains(run.to_str().unwrap()),
        "{out}"
    );
    assert!(
        out.contains("epoch 1/3 train"),
        "progress lines expected: {out}"
    );
    let s = check_summary(&run, "flex", 3);
    let test_accuracy = s["metrics"]["test_accuracy"].as_f64().unwrap();
    assert!(
        test_accuracy > 0.8,
        "3 epochs on the mini set should pass 80%: {test_accuracy}"
    );

    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let train_losses: Vec<f64> = csv
        .lines()
        .filter(|l| l.contains(",train,"))
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(
        train_losses[2] < train_losses[0],
        "loss goes down: {train_losses:?}"
    );

    let output = zoo(&["eval", run.to_str().unwrap()]);
    assert_ok(&output);
    let expected = format!("test accuracy {:.2}%", 100.0 * test_accuracy);
    assert!(
        stdout(&output).contains(&expected),
        "eval: {} vs {expected}",
        stdout(&output)
    );
}

#[test]
fn same_seed_gives_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert_ok(&train_mini(&a, &["--epochs", "2", "--seed", "7"]));
    assert_ok(&train_mini(&b, &["--epochs", "2", "--seed", "7"]));
    assert_eq!(summary(&a)["metrics"], summary(&b)["metrics"]);
    let c = dir.path().join("c");
    assert_ok(&train_mini(&c, &["--epochs", "2", "--seed", "8"]));
    assert_ne!(
        summary(&a)["metrics"],
        summary(&c)["metrics"],
        "another seed, other numbers"
    );
}

#[test]
fn resume_continues_from_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert_ok(&train_mini(&run, &["--epochs", "2"]));
    // Simulate a run interrupted after epoch 1: only the first checkpoint survived.
    for file in ["model-2.bpk", "optim-2.bpk", "scheduler-2.bpk"] {
        let _ = std::fs::remove_file(run.join("checkpoint").join(file));
    }
    resume_to(&run, 3, 2);

    // Killed after epoch 3's checkpoint but before its metrics were written: resume from 3
    // (after the checkpoint of epoch 2).
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let kept: Vec<&str> = csv.lines().filter(|l| !l.starts_with("3,")).collect();
    std::fs::write(run.join("metrics.csv"), kept.join("\n") + "\n").unwrap();
    resume_to(&run, 4, 3);
}

/// Resumes `run` up to `epochs` epochs, checks that it restarted at epoch `from` and finished.
fn resume_to(run: &Path, epochs: u64, from: u64) {
    std::fs::remove_file(run.join("summary.json")).unwrap();
    let epochs_arg = epochs.to_string();
    let output = zoo(&[
        "train",
        "--plain",
        "--resume",
        run.to_str().unwrap(),
        "--epochs",
        &epochs_arg,
    ]);
    assert_ok(&output);
    let out = stdout(&output);
    assert!(out.contains(&format!("resuming at epoch {from}")), "{out}");
    let earlier = format!("epoch {}/{epochs} train", from - 1);
    assert!(
        !out.contains(&earlier),
        "finished epochs must not be retrained: {out}"
    );
    check_summary(run, "flex", epochs);
}

#[test]
fn a_killed_run_resumes_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let epochs = "40";
    let mut child = Command::new(env!("CARGO_BIN_EXE_zoo"))
        .args([
            "train",
            "mlp-mnist-mini",
            "--plain",
            "--epochs",
            epochs,
            "--out",
        ])
        .arg(&run)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let third = run.join("checkpoint").join("model-3.bpk");
    let started = std::time::Instant::now();
    while !third.exists() && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert!(third.exists(), "the run never reached epoch 3");
    if run.join("summary.json").exists() {
        skip("the run finished before it could be killed");
        return;
    }
    let output = zoo(&["train", "--plain", "--resume", run.to_str().unwrap()]);
    assert_ok(&output);
    assert!(
        stdout(&output).contains("resuming at epoch"),
        "{}",
        stdout(&output)
    );
    check_summary(&run, "flex", 40);
}

#[test]
fn dry_run_on_ndarray_and_wgpu_writes_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("ndarray");
    assert_ok(&train_mini(&run, &["--dry-run", "--backend", "ndarray"]));
    check_summary(&run, "ndarray", 1);

    let run = dir.path().join("wgpu");
    let output = train_mini(&run, &["--dry-run", "--backend", "wgpu"]);
    if wgpu_missing(&output) {
        return;
    }
    assert_ok(&output);
    check_summary(&run, "wgpu", 1);
}

#[test]
fn user_mistakes_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert_user_error(
        &zoo(&["train", "no-such-recipe"]),
        &["no-such-recipe", "mlp-mnist-mini"],
    );
    assert_user_error(
        &zoo(&["train", "mlp-mnist-mini", "--set", "optimizer.lrr=0.1"]),
        &["lrr", "mlp-mnist-mini"],
    );
    assert_user_error(
        &zoo(&["train", "mlp-mnist-mini", "--lr", "0"]),
        &["optimizer.lr"],
    );
    assert_user_error(
        &zoo(&["train", "mlp-mnist-mini", "--epochs", "0"]),
        &["training.epochs"],
    );
    assert_user_error(
        &zoo(&["train", "cnn-mnist-fast", "--lr", "2", "--data-dir", d]),
        &["optimizer.lr", "one-cycle", "<= 1"],
    );
    assert_user_error(
        &zoo(&[
            "train",
            "mlp-mnist-mini",
            "--set",
            "optimizer.schedule=two-cycle",
        ]),
        &["two-cycle", "one-cycle"],
    );
    assert_user_error(
        &zoo(&["train", "mlp-mnist-mini", "--set", "model.dropout=1.5"]),
        &["model.dropout"],
    );
    assert_user_error(&zoo(&["eval", d]), &["not a run folder"]);
    let not_image = dir.path().join("note.png");
    std::fs::write(&not_image, "plain text").unwrap();
    assert_user_error(
        &zoo(&["predict", d, not_image.to_str().unwrap()]),
        &["not a run folder"],
    );

    assert_user_error(
        &zoo(&["train", "mlp-mnist-mini", "--backend", "tpu"]),
        &["tpu", "flex", "ndarray", "wgpu", "cuda"],
    );
    assert_user_error(
        &zoo(&["train", "mlp-mnist-mini", "--epochs", "many"]),
        &["many", "--epochs"],
    );

    // Full MNIST with an empty data folder and no network: the error names files, folders, URLs.
    let missing = Command::new(env!("CARGO_BIN_EXE_zoo"))
        .args(["train", "mlp-mnist", "--data-dir", d])
        .env("ZOO_OFFLINE", "1")
        .env("ZOO_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    assert_user_error(&missing, &["train-images-idx3-ubyte.gz", d, "http"]);

    // A corrupt data file is named in the error.
    let mnist = dir.path().join("corrupt").join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    for name in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::write(mnist.join(name), b"not gzip at all").unwrap();
    }
    let corrupt = zoo(&[
        "train",
        "mlp-mnist",
        "--data-dir",
        dir.path().join("corrupt").to_str().unwrap(),
    ]);
    assert_user_error(&corrupt, &["idx3-ubyte"]);
}

#[test]
fn predict_classifies_an_image_and_rejects_a_non_image() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert_ok(&train_mini(&run, &["--epochs", "2"]));
    // A 56x56 RGB picture: converted to grayscale and resized.
    let image = image::RgbImage::from_fn(56, 56, |x, _| {
        if (20..36).contains(&x) {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb([0, 0, 0])
        }
    });
    let path = dir.path().join("digit.png");
    image.save(&path).unwrap();
    let output = zoo(&["predict", run.to_str().unwrap(), path.to_str().unwrap()]);
    assert_ok(&output);
    let out = stdout(&output);
    assert!(out.starts_with("prediction: "), "{out}");
    let total: f64 = out
        .lines()
        .skip(1)
        .map(|l| {
            l.trim()
                .trim_end_matches('%')
                .split_whitespace()
                .last()
                .unwrap()
                .parse::<f64>()
                .unwrap()
        })
        .sum();
    assert!(
        (total - 100.0).abs() < 0.1,
        "probabilities sum to 100%: {total}"
    );

    let not_image = dir.path().join("note.png");
    std::fs::write(&not_image, "plain text").unwrap();
    assert_user_error(
        &zoo(&[
            "predict",
            run.to_str().unwrap(),
            not_image.to_str().unwrap(),
        ]),
        &["note.png", "not a readable"],
    );
}

#[test]
fn a_diverging_run_stops_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = train_mini(&run, &["--lr", "1e4", "--epochs", "3"]);
    assert_user_error(&output, &["loss became", "diverged", "learning rate"]);
    let message = stderr(&output);
    assert!(
        message.contains("became NaN") || message.contains("became inf"),
        "names the non-finite loss: {message}"
    );
    assert!(
        !stdout(&output).contains("epoch 2/3"),
        "stops within the first epoch: {}",
        stdout(&output)
    );
    assert!(
        !run.join("summary.json").exists(),
        "no summary for a failed run"
    );
}

/// Every CNN recipe, with its own network and augmentation, for a few batches of the embedded
/// set (the full datasets are not needed to check the model path), on flex and wgpu.
#[test]
fn every_cnn_recipe_trains_a_few_batches_on_flex_and_wgpu() {
    let dir = tempfile::tempdir().unwrap();
    let mut wgpu_available = true;
    for recipe in [
        "cnn-mnist",
        "lenet5-mnist",
        "cnn-mnist-bn-aug",
        "cnn-mnist-fast",
        "cnn-mnist-aug-fast",
        "cnn-fashion",
        "cnn-mnist-mini",
    ] {
        for backend in ["flex", "wgpu"] {
            if backend == "wgpu" && !wgpu_available {
                continue;
            }
            let run = dir.path().join(format!("{recipe}-{backend}"));
            let output = zoo(&[
                "train",
                recipe,
                "--plain",
                "--dry-run",
                "--backend",
                backend,
                "--set",
                "data.dataset=mnist-mini",
                "--out",
                run.to_str().unwrap(),
            ]);
            if wgpu_missing(&output) {
                wgpu_available = false;
                continue;
            }
            assert_ok(&output);
            let s = summary(&run);
            assert_eq!(s["backend"], backend);
            assert_eq!(s["epochs_run"], 1);
            let resolved = std::fs::read_to_string(run.join("recipe.toml")).unwrap();
            assert!(resolved.contains("kind = \"cnn\""), "{recipe}: {resolved}");
        }
    }
}

#[test]
fn early_stopping_stops_and_restores_the_best_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = train_mini(&run, &["--set", "training.early_stopping_patience=1"]);
    assert_ok(&output);
    let s = summary(&run);
    let (epochs_run, best) = (
        s["epochs_run"].as_u64().unwrap(),
        s["best_epoch"].as_u64().unwrap(),
    );
    assert!(
        epochs_run < 20,
        "patience 1 stops before the 20th epoch: {s}"
    );
    assert_eq!(best + 1, epochs_run, "stopped one epoch after the best");
    // The saved model is the best epoch's: its validation accuracy is the one logged then.
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let logged: f64 = csv
        .lines()
        .find(|l| l.starts_with(&format!("{best},valid,")))
        .and_then(|l| l.split(',').nth(3))
        .and_then(|v| v.parse().ok())
        .expect("best epoch row in metrics.csv");
    let restored = s["metrics"]["valid_accuracy"].as_f64().unwrap();
    assert!(
        (logged - restored).abs() < 1e-6,
        "restored {restored} vs logged {logged}"
    );
}

#[test]
fn eval_and_predict_work_for_cnn_runs_and_name_fashion_classes() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("cnn");
    let output = zoo(&[
        "train",
        "cnn-mnist-mini",
        "--plain",
        "--epochs",
        "1",
        "--set",
        "data.train_subset=256",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_ok(&output);
    let test_accuracy = summary(&run)["metrics"]["test_accuracy"].as_f64().unwrap();
    let output = zoo(&["eval", run.to_str().unwrap()]);
    assert_ok(&output);
    let expected = format!("test accuracy {:.2}%", 100.0 * test_accuracy);
    assert!(
        stdout(&output).contains(&expected),
        "{} vs {expected}",
        stdout(&output)
    );

    let image = dir.path().join("blank.png");
    image::GrayImage::new(28, 28).save(&image).unwrap();
    let output = zoo(&["predict", run.to_str().unwrap(), image.to_str().unwrap()]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output).lines().count(),
        11,
        "prediction + 10 digits: {}",
        stdout(&output)
    );

    // The same 1x28x28, 10-class model read as a Fashion-MNIST run (both copies of its recipe
    // say so, as a run trained on Fashion-MNIST would): clothing names.
    let recipe = std::fs::read_to_string(run.join("recipe.toml")).unwrap();
    let fashion = recipe.replace("\"mnist-mini\"", "\"fashion-mnist\"");
    for copy in ["recipe.toml", "checkpoint/recipe.toml"] {
        std::fs::write(run.join(copy), &fashion).unwrap();
    }
    let output = zoo(&["predict", run.to_str().unwrap(), image.to_str().unwrap()]);
    assert_ok(&output);
    for class in ["T-shirt/top", "Trouser", "Ankle boot"] {
        assert!(
            stdout(&output).contains(class),
            "{class}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn regularization_study_writes_results_report_and_curves_for_every_variant() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    let args = [
        "study",
        "regularization",
        "mlp-mnist-mini",
        "--epochs",
        "2",
        "--seeds",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    let output = zoo(&args);
    assert_ok(&output);
    let variants = [
        "none",
        "l1",
        "l2",
        "dropout",
        "maxnorm",
        "early-stop",
        "augment",
        "dropout+maxnorm",
    ];
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + variants.len(), "{csv}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for v in variants {
        assert!(
            csv.lines().any(|l| l.starts_with(&format!("{v},42,"))),
            "{v} missing: {csv}"
        );
        assert!(
            report.contains(&format!("| {v} |")),
            "{v} missing from report.md"
        );
    }
    assert!(report.contains("## Reading"));
    assert_eq!(
        &std::fs::read(out.join("curves.png")).unwrap()[1..4],
        b"PNG"
    );

    // Running it again reuses the finished runs instead of training them again.
    let again = zoo(&args);
    assert_ok(&again);
    assert!(
        !stdout(&again).contains("epoch 1/2 train"),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("results.csv")).unwrap(),
        csv
    );
}

#[test]
fn runs_lists_finished_unfinished_and_corrupt_run_folders() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let finished = runs.join("finished");
    assert_ok(&train_mini(&finished, &["--epochs", "1"]));
    let unfinished = runs.join("unfinished");
    assert_ok(&train_mini(&unfinished, &["--epochs", "2"]));
    std::fs::remove_file(unfinished.join("summary.json")).unwrap();
    let bad_recipe = runs.join("bad-recipe");
    std::fs::create_dir_all(&bad_recipe).unwrap();
    std::fs::write(bad_recipe.join("recipe.toml"), "[model\nkind = ").unwrap();
    let bad_summary = runs.join("nested").join("bad-summary");
    assert_ok(&train_mini(&bad_summary, &["--epochs", "1"]));
    std::fs::write(bad_summary.join("summary.json"), "{ truncated").unwrap();

    let output = zoo(&["runs", runs.to_str().unwrap(), "--sort", "name"]);
    assert_ok(&output);
    let table = stdout(&output);
    let line = |name: &str| -> String {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing: {table}"))
            .to_string()
    };
    assert!(
        line("finished").contains("finished") && line("finished").contains("test "),
        "{table}"
    );
    assert!(
        line("unfinished").contains("unfinished: 2 of 2 epochs recorded"),
        "{table}"
    );
    assert!(
        line("bad-recipe").contains("corrupt: recipe.toml"),
        "{table}"
    );
    assert!(line("nested/bad-summary").contains("corrupt"), "{table}");

    let json = zoo(&[
        "runs",
        runs.to_str().unwrap(),
        "--json",
        "--filter",
        "state=finished",
    ]);
    assert_ok(&json);
    let rows: Value = serde_json::from_str(&stdout(&json)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["recipe"], "mlp-mnist-mini");
    assert_eq!(rows[0]["figure_name"], "test_accuracy");
    assert!(rows[0]["figure"].as_f64().unwrap() > 0.5);

    assert_user_error(
        &zoo(&["runs", runs.to_str().unwrap(), "--sort", "colour"]),
        &["--sort"],
    );
    assert_user_error(
        &zoo(&["runs", runs.to_str().unwrap(), "--filter", "size=3"]),
        &["--filter"],
    );
}
