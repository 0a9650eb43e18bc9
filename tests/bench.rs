//! End-to-end test of `zoo bench`: rows for every backend that can run, the reason for the
//! others.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn bench_measures_each_backend_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let output = zoo(&[
        "bench",
        "mlp-mnist-mini",
        "lstm-sine-mini",
        "--batches",
        "3",
        "--warmup",
        "1",
        "--backends",
        "flex,cuda,wgpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ok(&output);
    let text = std::fs::read_to_string(out.join("bench.json")).unwrap();
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
    let measured: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            for key in ["train_samples_per_second", "inference_samples_per_second"] {
                let v = r[key].as_f64().unwrap();
                assert!(v.is_finite() && v > 0.0, "{key} = {v} in {r}");
            }
            assert_eq!(r["batch_size"], 32);
            (
                r["recipe"].as_str().unwrap().to_string(),
                r["backend"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let stdout = stdout(&output);
    for backend in ["flex", "cuda", "wgpu"] {
        let rows_for = measured.iter().filter(|(_, b)| b == backend).count();
        let skipped = stdout.contains(&format!("skipping backend {backend}:"));
        assert!(
            (rows_for == 2 && !skipped) || (rows_for == 0 && skipped),
            "{backend}: {rows_for} rows, skipped {skipped}\n{stdout}"
        );
    }
    assert!(
        measured.iter().any(|(_, b)| b == "flex"),
        "flex always runs"
    );
}

#[test]
fn bench_rejects_zero_batches() {
    assert_user_error(
        &zoo(&["bench", "mlp-mnist-mini", "--batches", "0"]),
        &["--batches"],
    );
}

#[test]
fn bench_times_the_adversarial_step_of_a_gan_and_records_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let output = zoo_with_env(
        &[
            "bench",
            "gan-mnist-mini",
            "--batches",
            "3",
            "--warmup",
            "1",
            "--backends",
            "flex",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("RAYON_NUM_THREADS", "1")],
    );
    assert_ok(&output);
    let text = std::fs::read_to_string(out.join("bench.json")).unwrap();
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(rows.len(), 1, "{text}");
    let row = &rows[0];
    assert_eq!(row["recipe"], "gan-mnist-mini");
    assert_eq!(row["threads"], 1, "RAYON_NUM_THREADS=1: {row}");
    for key in ["train_samples_per_second", "inference_samples_per_second"] {
        let v = row[key].as_f64().unwrap();
        assert!(v.is_finite() && v > 0.0, "{key} = {v} in {row}");
    }
    assert!(
        stdout(&output).contains("threads  1"),
        "{}",
        stdout(&output)
    );
}
