//! End-to-end tests of the LSTM family: the mini recipes on flex and wgpu, the summary
//! figures of each task, text generation and forecasting from the command line.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// Trains `recipe` for one epoch into `run`, with the data folder when given.
fn train_one_epoch(
    recipe: &str,
    run: &Path,
    backend: &str,
    data_dir: Option<&str>,
) -> std::process::Output {
    let args = [
        "train",
        recipe,
        "--plain",
        "--epochs",
        "1",
        "--backend",
        backend,
        "--out",
        run.to_str().unwrap(),
    ];
    match data_dir {
        Some(dir) => zoo_with_env(&args, &[("ZOO_DATA_DIR", dir)]),
        None => zoo(&args),
    }
}

fn metric(summary: &Value, key: &str) -> f64 {
    summary["metrics"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("metrics.{key} missing: {summary}"))
}

/// The three mini recipes train one epoch on flex and on wgpu (lavapipe here), and write the
/// figures of their task.
#[test]
fn mini_recipes_train_one_epoch_on_flex_and_wgpu() {
    let dir = tempfile::tempdir().unwrap();
    let shakespeare = data_dir_with("tinyshakespeare");
    let mut wgpu_available = true;
    for (recipe, data) in [
        ("lstm-seqmnist-mini", None),
        ("lstm-sine-mini", None),
        ("lstm-shakespeare-mini", shakespeare.as_deref()),
    ] {
        if recipe == "lstm-shakespeare-mini" && data.is_none() {
            continue;
        }
        for backend in ["flex", "wgpu"] {
            if backend == "wgpu" && !wgpu_available {
                continue;
            }
            let run = dir.path().join(format!("{recipe}-{backend}"));
            let output = train_one_epoch(recipe, &run, backend, data);
            if backend == "wgpu" && wgpu_missing(&output) {
                wgpu_available = false;
                continue;
            }
            assert_ok(&output);
            let s = summary(&run);
            assert_eq!(s["backend"], backend, "{recipe}");
            assert_eq!(s["epochs_run"], 1, "{recipe}");
            match recipe {
                "lstm-seqmnist-mini" => {
                    let accuracy = metric(&s, "test_accuracy");
                    assert!(
                        accuracy > 0.2,
                        "{recipe} on {backend}: one epoch learns something: {accuracy}"
                    );
                }
                "lstm-sine-mini" => {
                    for key in ["test_mse", "test_mae", "baseline_mse", "valid_loss"] {
                        assert!(
                            metric(&s, key).is_finite() && metric(&s, key) > 0.0,
                            "{key}"
                        );
                    }
                    assert!(
                        s["metrics"].get("test_accuracy").is_none(),
                        "a forecaster has no accuracy"
                    );
                    let png = std::fs::read(run.join("forecast.png")).expect("forecast.png");
                    assert_eq!(&png[1..4], b"PNG");
                }
                _ => {
                    let loss = metric(&s, "valid_loss");
                    // Uniform guessing over ~60 characters costs ln 60 = 4.1 nats.
                    assert!(loss < 3.6, "{recipe} on {backend}: valid loss {loss}");
                    let bits = metric(&s, "valid_bits_per_char");
                    assert!((bits - loss / std::f64::consts::LN_2).abs() < 1e-9);
                    assert!((metric(&s, "valid_perplexity") - loss.exp()).abs() < 1e-6);
                    assert!(metric(&s, "test_loss").is_finite());
                    assert!(run.join("vocabulary.json").is_file());
                }
            }
        }
    }
}

#[test]
fn generation_is_deterministic_for_a_seed_and_checks_its_prompt() {
    let Some(data) = data_dir_with("tinyshakespeare") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("lm");
    assert_ok(&train_one_epoch(
        "lstm-shakespeare-mini",
        &run,
        "flex",
        Some(&data),
    ));
    let run = run.to_str().unwrap();
    let generate = |seed: &str| {
        let output = zoo(&[
            "generate", run, "--prompt", "ROMEO:", "--length", "60", "--seed", seed,
        ]);
        assert_ok(&output);
        stdout(&output)
    };
    let (a, b, c) = (generate("7"), generate("7"), generate("8"));
    assert_eq!(a, b, "same seed, same text");
    assert_ne!(a, c, "another seed, another text");
    assert!(a.starts_with("ROMEO:"), "{a}");
    assert_eq!(
        a.trim_end_matches('\n').chars().count(),
        "ROMEO:".len() + 60,
        "{a}"
    );

    assert_user_error(
        &zoo(&["generate", run, "--prompt", "ROMEO\u{1F600}"]),
        &["vocabulary"],
    );
    assert_user_error(
        &zoo(&["generate", run, "--temperature", "0"]),
        &["--temperature"],
    );
}

#[test]
fn forecaster_predicts_from_a_csv_and_other_runs_are_turned_away() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("sine");
    assert_ok(&train_one_epoch("lstm-sine-mini", &run, "flex", None));
    let run = run.to_str().unwrap();

    // lstm-sine-mini reads windows of 32 values and forecasts 4.
    let csv = dir.path().join("series.csv");
    let values: Vec<String> = (0..40)
        .map(|t| format!("{:.4}", (t as f64 / 5.0).sin()))
        .collect();
    std::fs::write(&csv, format!("value\n{}\n", values.join("\n"))).unwrap();
    let output = zoo(&["predict", run, csv.to_str().unwrap()]);
    assert_ok(&output);
    let forecast: Vec<f64> = stdout(&output)
        .lines()
        .filter(|l| l.trim_start().starts_with("t+"))
        .map(|l| l.split_whitespace().last().unwrap().parse().unwrap())
        .collect();
    assert_eq!(forecast.len(), 4, "{}", stdout(&output));

    let short = dir.path().join("short.csv");
    std::fs::write(&short, "1,2,3\n").unwrap();
    assert_user_error(
        &zoo(&["predict", run, short.to_str().unwrap()]),
        &["holds 3 values", "32"],
    );
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{}\n1.0,abc\n", values.join(","))).unwrap();
    assert_user_error(
        &zoo(&["predict", run, bad.to_str().unwrap()]),
        &["line 2", "'abc'"],
    );

    assert_user_error(&zoo(&["generate", run]), &["language-model run"]);
    let eval = zoo(&["eval", run]);
    assert_ok(&eval);
    assert!(
        stdout(&eval).contains("last-value baseline"),
        "{}",
        stdout(&eval)
    );
}

#[test]
fn sequence_recipes_are_checked_against_their_data() {
    assert_user_error(
        &zoo(&[
            "train",
            "lstm-sine-mini",
            "--set",
            "data.dataset=\"mnist-mini\"",
        ]),
        &["data.dataset", "lstm-forecaster", "sines"],
    );
    assert_user_error(
        &zoo(&["train", "mlp-mnist-mini", "--set", "data.window=10"]),
        &["data.window"],
    );
    assert_user_error(
        &zoo(&[
            "train",
            "lstm-sine-mini",
            "--set",
            "training.monitor=\"valid-accuracy\"",
        ]),
        &["training.monitor"],
    );
    assert_user_error(
        &zoo(&[
            "train",
            "lstm-seqmnist-mini",
            "--set",
            "optimizer.grad_clip=0",
        ]),
        &["optimizer.grad_clip"],
    );
}
