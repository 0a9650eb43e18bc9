//! Runs and studies under edits and changed options: each case ended in a panic or a silent
//! mix-up before, and is a one-line error or the right reuse now.

mod common;

use std::path::Path;

use common::*;

fn train_mini(run: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "mlp-mnist-mini",
        "--plain",
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    zoo(&args)
}

fn resume(run: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "--plain", "--resume", run.to_str().unwrap()];
    args.extend_from_slice(extra);
    zoo(&args)
}

#[test]
fn resuming_with_a_changed_model_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert_ok(&train_mini(&run, &["--epochs", "2"]));
    // Before: burn-train panicked loading a checkpoint that no longer fit.
    assert_user_error(
        &resume(&run, &["--epochs", "4", "--set", "model.hidden=[64]"]),
        &["model.hidden", "[128]", "[64]", "training.epochs"],
    );
    assert_user_error(
        &resume(&run, &["--epochs", "4", "--set", "optimizer.lr=0.5"]),
        &["optimizer.lr"],
    );
    // A recipe name beside --resume was silently ignored.
    let output = zoo(&["train", "cnn-mnist-mini", "--resume", run.to_str().unwrap()]);
    assert_user_error(&output, &["--resume"]);
    // A larger budget is what resuming is for.
    let output = resume(&run, &["--epochs", "3"]);
    assert_ok(&output);
    assert!(
        stdout(&output).contains("resuming after epoch 2"),
        "{}",
        stdout(&output)
    );
    assert_eq!(summary(&run)["epochs_run"], 3);
}

#[test]
fn a_recipe_edited_after_training_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert_ok(&train_mini(&run, &["--epochs", "1"]));
    let recipe = std::fs::read_to_string(run.join("recipe.toml")).unwrap();
    let edited = recipe.replace("hidden = [128]", "hidden = [64]");
    assert_ne!(recipe, edited);
    std::fs::write(run.join("recipe.toml"), edited).unwrap();
    let r = run.to_str().unwrap();
    // Before: a panic with a backtrace in load_record.
    assert_user_error(
        &zoo(&["eval", r]),
        &["recipe.toml", "model.hidden", "[128]"],
    );
    let image = dir.path().join("digit.png");
    image::GrayImage::new(28, 28).save(&image).unwrap();
    assert_user_error(
        &zoo(&["predict", r, image.to_str().unwrap()]),
        &["recipe.toml", "model.hidden"],
    );
    // The checkpoints are checked the same way when resuming.
    assert_user_error(
        &resume(&run, &["--epochs", "2"]),
        &["model.hidden", "[128]", "[64]"],
    );
    // A description or the epoch count does not describe the weights: editing it is fine.
    std::fs::write(
        run.join("recipe.toml"),
        recipe.replace("description = \"", "description = \"edited: "),
    )
    .unwrap();
    assert_ok(&zoo(&["eval", r]));
}

#[test]
fn a_run_killed_after_its_last_epoch_is_finished_by_resume() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert_ok(&train_mini(&run, &["--epochs", "2"]));
    let before = summary(&run);
    // Killed between the last checkpoint and the summary.
    for file in ["summary.json", "model.bpk"] {
        std::fs::remove_file(run.join(file)).unwrap();
    }
    let output = resume(&run, &[]);
    assert_ok(&output);
    assert!(
        !stdout(&output).contains("epoch 2/2 train"),
        "{}",
        stdout(&output)
    );
    let after = summary(&run);
    assert_eq!(
        after["metrics"]["test_accuracy"],
        before["metrics"]["test_accuracy"]
    );
    assert!(run.join("model.bpk").is_file());
    // Once finished, resuming without more epochs says so.
    assert_user_error(&resume(&run, &[]), &["already has 2 epochs", "--epochs"]);
}

#[test]
fn a_study_reuses_only_runs_of_the_same_recipe_and_resumes_unfinished_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("st");
    let study = |epochs: &str| {
        zoo(&[
            "study",
            "regularization",
            "mlp-mnist-mini",
            "--variants",
            "none",
            "--epochs",
            epochs,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    assert_ok(&study("1"));
    // Before: the 3-epoch study silently reused the 1-epoch run.
    let output = study("3");
    assert_ok(&output);
    assert!(!stdout(&output).contains("reusing"), "{}", stdout(&output));
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[7], "3", "epochs_run of a 3-epoch study: {csv}");
    // The same study again reuses the finished run.
    let output = study("3");
    assert_ok(&output);
    assert!(
        stdout(&output).contains("reusing the finished run"),
        "{}",
        stdout(&output)
    );
    // An unfinished run (killed before its summary, after its second checkpoint) resumes.
    let run = out.join("none").join("seed-42");
    std::fs::remove_file(run.join("summary.json")).unwrap();
    for file in ["model-3.bpk", "optim-3.bpk", "scheduler-3.bpk"] {
        let _ = std::fs::remove_file(run.join("checkpoint").join(file));
    }
    let output = study("3");
    assert_ok(&output);
    let out_text = stdout(&output);
    assert!(
        out_text.contains("resuming the unfinished run"),
        "{out_text}"
    );
    assert!(!out_text.contains("epoch 1/3 train"), "{out_text}");
    assert_eq!(summary(&run)["epochs_run"], 3);
}

#[test]
fn recipes_refuse_keys_their_task_ignores() {
    for (recipe, key) in [
        ("gan-mnist-mini", "optimizer.grad_clip=1.0"),
        ("gan-mnist-mini", "optimizer.weight_decay=0.01"),
        ("gan-mnist-mini", "regularization.l2=0.001"),
        ("gan-mnist-mini", "regularization.max_norm=3.0"),
        ("gan-mnist-mini", "data.augment.translate=2"),
        ("gan-mnist-mini", "training.early_stopping_patience=2"),
        ("lstm-sine-mini", "regularization.label_smoothing=0.1"),
        ("lstm-sine-mini", "data.train_subset=100"),
    ] {
        let name = key.split('=').next().unwrap();
        let name = name
            .rsplit_once(".translate")
            .map_or(name, |(head, _)| head);
        assert_user_error(
            &zoo(&["train", recipe, "--dry-run", "--set", key]),
            &[name, "does not use it"],
        );
    }
}

#[test]
fn the_gan_quality_classifier_is_keyed_by_its_recipe_content() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let classifier = dir.path().join("judge.toml");
    let recipe = stdout(&zoo(&["show", "mlp-mnist-mini"]));
    std::fs::write(&classifier, recipe.replace("epochs = 20", "epochs = 1")).unwrap();
    let judge = format!("gan.quality_classifier={}", classifier.display());
    let run = |name: &str| {
        let out = dir.path().join(name);
        zoo_with_env(
            &[
                "train",
                "gan-mnist-mini",
                "--plain",
                "--epochs",
                "1",
                "--set",
                &judge,
                "--set",
                "gan.quality_samples=64",
                "--out",
                out.to_str().unwrap(),
            ],
            &[("ZOO_CACHE_DIR", cache.to_str().unwrap())],
        )
    };
    let first = run("a");
    assert_ok(&first);
    assert!(stdout(&first).contains("training the quality classifier"));
    let second = run("b");
    assert_ok(&second);
    assert!(!stdout(&second).contains("training the quality classifier"));
    // Before: the edited recipe still found the classifier cached under its name.
    std::fs::write(&classifier, recipe.replace("epochs = 20", "epochs = 2")).unwrap();
    let third = run("c");
    assert_ok(&third);
    assert!(
        stdout(&third).contains("training the quality classifier"),
        "{}",
        stdout(&third)
    );
}

/// Burn's backends keep one random generator per process, behind the initial weights and every
/// dropout mask: runs started together in one process (a library user's threads) each drew some
/// of the others' numbers, and the same seed gave another run. Every other test of this file runs
/// `zoo` in a process of its own, so nothing else draws from this process's generator meanwhile.
#[test]
fn runs_at_once_in_one_process_give_the_numbers_of_a_run_alone() {
    use burn_zoo::train::{train, Backend, Recipe, RunOptions};

    let dir = tempfile::tempdir().unwrap();
    let recipe = Recipe::load("mlp-mnist-mini", &["training.epochs=2".into()]).unwrap();
    let run = |name: &str| {
        let options = RunOptions {
            backend: Backend::Flex,
            run_dir: Some(dir.path().join(name)),
            plain_progress: true,
            skip_test: true,
            ..Default::default()
        };
        train(&recipe, &options).unwrap().metrics
    };
    let alone = run("alone");
    let together: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| scope.spawn(move || run(name)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for metrics in together {
        assert_eq!(metrics, alone);
    }
}
