//! `--backend cpu` (Burn's CubeCL CPU runtime, the `cpu` cargo feature) through every command:
//! train, eval, predict, bench, search and study for the image classifiers, train and sample for
//! the GANs, train for the forecaster. The forecaster and the GANs need the `autotune` feature
//! as well (without it CubeCL's fixed matmul tiling asks the CPU runtime for more shared memory
//! than it has): in a build without it their test checks that `zoo` says so in one error line,
//! and skips the rest.
//!
//! The CubeCL CPU runtime compiles each kernel with LLVM the first time a process meets it (and
//! with `autotune` times the candidate kernels of each new matrix-product shape): on this 2-core
//! machine that is about 30 s for the MLP's kernels and minutes for the classic CNN's
//! convolutions and the LSTM's steps, in every `zoo` process. So these tests give each command the least work
//! that still goes through its whole path (a few batches, short series). Without the feature (a
//! plain `cargo test`) every test says so and skips. The language model (`zoo generate`) runs
//! the same LSTM code as the forecaster; it is left out because its 64-step windows take many
//! minutes here.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// Whether `output` is the refusal of a binary built without the `cpu` feature (said, then
/// skipped); any other failure is the test's to report.
fn cpu_missing(output: &Output) -> bool {
    let missing = stderr(output).contains("is not compiled into this binary");
    if missing {
        skip(&format!("cpu: {}", stderr(output).trim()));
    }
    missing
}

/// `zoo ARGS --backend cpu`, with the quality-classifier cache of GAN runs in `cache` and no data
/// folder (the embedded mini sets only).
fn zoo_cpu(args: &[&str], cache: &Path) -> Output {
    let mut all = args.to_vec();
    all.extend(["--backend", "cpu"]);
    zoo_with_env(
        &all,
        &[
            ("ZOO_CACHE_DIR", cache.to_str().unwrap()),
            ("ZOO_DATA_DIR", ""),
        ],
    )
}

/// A run of `recipe` on `cpu` of a few batches; `None` when the binary has no `cpu`.
fn train_few_batches(recipe: &str, run: &Path, extra: &[&str]) -> Option<()> {
    let mut args = vec!["train", recipe, "--plain", "--dry-run"];
    args.extend(extra);
    args.extend(["--out", run.to_str().unwrap()]);
    let output = zoo_cpu(&args, &run.with_extension("cache"));
    if cpu_missing(&output) {
        return None;
    }
    assert_ok(&output);
    let s = summary(run);
    assert_eq!(s["backend"], "cpu", "{s}");
    assert_eq!(s["epochs_run"], 1, "{s}");
    Some(())
}

#[test]
fn a_classifier_trains_evaluates_and_predicts_on_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("mlp");
    if train_few_batches("mlp-mnist-mini", &run, &[]).is_none() {
        return;
    }
    let accuracy = summary(&run)["metrics"]["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy), "{accuracy}");

    let eval = zoo_cpu(&["eval", run.to_str().unwrap()], dir.path());
    assert_ok(&eval);
    assert!(stdout(&eval).contains("test accuracy"), "{}", stdout(&eval));

    let image =
        image::GrayImage::from_fn(28, 28, |x, _| image::Luma([if x == 14 { 255 } else { 0 }]));
    let png = dir.path().join("one.png");
    image.save(&png).unwrap();
    let predict = zoo_cpu(
        &["predict", run.to_str().unwrap(), png.to_str().unwrap()],
        dir.path(),
    );
    assert_ok(&predict);
    assert!(
        stdout(&predict).starts_with("prediction: "),
        "{}",
        stdout(&predict)
    );
}

#[test]
fn bench_search_and_study_run_on_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let bench_out = dir.path().join("bench");
    let bench = zoo_with_env(
        &[
            "bench",
            "mlp-mnist-mini",
            "--batches",
            "2",
            "--warmup",
            "1",
            "--backends",
            "cpu",
            "--out",
            bench_out.to_str().unwrap(),
        ],
        &[("ZOO_DATA_DIR", "")],
    );
    if stdout(&bench).contains("skipping backend cpu:") {
        skip(&format!("cpu: {}", stdout(&bench).trim()));
        return;
    }
    assert_ok(&bench);
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bench_out.join("bench.json")).unwrap())
            .unwrap();
    assert_eq!(rows[0]["backend"], "cpu", "{rows}");
    assert!(
        rows[0]["train_samples_per_second"].as_f64().unwrap() > 0.0,
        "{rows}"
    );

    // Two batches per epoch: a trial and a study run are a few seconds of work each.
    let small = [
        "--set",
        "data.train_subset=64",
        "--set",
        "training.batch_size=32",
    ];
    let storage = format!("sqlite:{}", dir.path().join("studies.db").display());
    let mut search = vec![
        "search",
        "mlp-mnist-mini",
        "--strategy",
        "random",
        "--trials",
        "1",
        "--epochs-max",
        "1",
        "--storage",
        &storage,
        "--out",
    ];
    let searches = dir.path().join("searches");
    search.push(searches.to_str().unwrap());
    search.extend(small);
    let output = zoo_cpu(&search, dir.path());
    assert_ok(&output);
    assert!(
        searches.join("mlp-mnist-mini-random/best.toml").exists(),
        "{}",
        stdout(&output)
    );

    let study_out = dir.path().join("study");
    let mut study = vec![
        "study",
        "regularization",
        "mlp-mnist-mini",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--variants",
        "none,l2",
        "--out",
        study_out.to_str().unwrap(),
    ];
    study.extend(small);
    let output = zoo_cpu(&study, dir.path());
    assert_ok(&output);
    let results = std::fs::read_to_string(study_out.join("results.csv")).unwrap();
    assert_eq!(
        results.lines().count(),
        3,
        "header and two variants: {results}"
    );
}

#[test]
fn a_forecaster_and_a_gan_train_on_cpu_and_the_gan_samples() {
    let dir = tempfile::tempdir().unwrap();
    let forecaster = dir.path().join("sine");
    // A short series and window: a few batches of each split.
    let short = ["--set", "data.series.length=300", "--set", "data.window=8"];
    let mut args = vec!["train", "lstm-sine-mini", "--plain", "--dry-run"];
    args.extend(short);
    args.extend(["--out", forecaster.to_str().unwrap()]);
    let output = zoo_cpu(&args, dir.path());
    if cpu_missing(&output) {
        return;
    }
    if stderr(&output).contains("Shared memory budget exceeded") {
        // A build without autotune: the refusal is one error line that says what to rebuild
        // with, not a panic trace.
        let text = stderr(&output);
        let errors: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with("error:") || line.contains("panicked"))
            .collect();
        assert_eq!(errors.len(), 1, "{text}");
        assert!(
            errors[0].contains("--features cpu,autotune"),
            "{}",
            errors[0]
        );
        assert_eq!(output.status.code(), Some(1));
        skip("cpu: the forecaster and the GANs need the `autotune` feature (cargo test --features cpu,autotune)");
        return;
    }
    assert_ok(&output);
    assert_eq!(summary(&forecaster)["backend"], "cpu");
    let mse = summary(&forecaster)["metrics"]["test_mse"]
        .as_f64()
        .unwrap();
    assert!(mse.is_finite() && mse > 0.0, "{mse}");

    let gan = dir.path().join("gan");
    let quality = [
        "--set",
        "gan.quality_samples=32",
        "--set",
        "gan.quality_classifier=mlp-mnist-mini",
    ];
    train_few_batches("gan-mnist-mini", &gan, &quality).unwrap();
    let grid = dir.path().join("grid.png");
    let sample = zoo_cpu(
        &[
            "sample",
            gan.to_str().unwrap(),
            "--n",
            "16",
            "--out",
            grid.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_ok(&sample);
    let png = std::fs::read(&grid).expect("the grid is written");
    assert_eq!(&png[1..4], b"PNG");
}
