//! Every run writes a TensorBoard log that TensorBoard's own reader takes: its scalars equal
//! `metrics.csv`, a GAN run's sample grids and every run's curves are there as images.
//!
//! Python comes from `ZOO_PYTHON` (else `python3`); without the `tensorboard` package the test
//! says so and stops, unless `ZOO_REQUIRE_TENSORBOARD=1` (set by `.ci/run`) makes that a failure.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// Reads `RUN/tb` with TensorBoard's `EventAccumulator`: scalars by tag as `(step, value)` and
/// the number of images by tag; `None` (with the reason printed) when TensorBoard is missing.
fn read_with_tensorboard(run: &Path) -> Option<Value> {
    const SCRIPT: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0})
acc.Reload()
tags = acc.Tags()
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "images": {t: [[e.step, e.width, e.height] for e in acc.Images(t)] for t in tags["images"]},
}))
"#;
    let python = std::env::var("ZOO_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let required = std::env::var("ZOO_REQUIRE_TENSORBOARD").is_ok_and(|v| v == "1");
    let output = Command::new(&python)
        .args(["-c", SCRIPT, run.join("tb").to_str().unwrap()])
        .output();
    match output {
        Ok(out) if out.status.success() => {
            Some(serde_json::from_slice(&out.stdout).expect("the reader prints JSON"))
        }
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            assert!(
                !required,
                "ZOO_REQUIRE_TENSORBOARD=1 but {python} has no tensorboard"
            );
            skip(&format!(
                "{python} cannot import tensorboard (pip install tensorboard)"
            ));
            None
        }
        Ok(out) => panic!(
            "TensorBoard's reader failed on {}: {}",
            run.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            assert!(
                !required,
                "ZOO_REQUIRE_TENSORBOARD=1 but {python} does not run: {e}"
            );
            skip(&format!("cannot run {python}: {e}"));
            None
        }
    }
}

/// `metrics.csv` as `column -> [(epoch, value)]`, for the columns TensorBoard gets.
fn csv_columns(run: &Path) -> BTreeMap<String, Vec<(i64, f64)>> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let epoch: i64 = cells[0].parse().unwrap();
        if header[1] == "split" {
            let split = cells[1];
            for (i, name) in header.iter().enumerate().skip(2) {
                let tag = match *name {
                    "seconds" => continue,
                    "learning_rate" if split == "valid" => continue,
                    "learning_rate" => "learning_rate".to_string(),
                    quantity => format!("{quantity}/{split}"),
                };
                out.entry(tag)
                    .or_default()
                    .push((epoch, cells[i].parse().unwrap()));
            }
        } else {
            for (i, name) in header.iter().enumerate().skip(1) {
                if *name != "seconds" {
                    out.entry(format!("gan/{name}"))
                        .or_default()
                        .push((epoch, cells[i].parse().unwrap()));
                }
            }
        }
    }
    out
}

fn assert_scalars_equal_the_csv(run: &Path, read: &Value) {
    let columns = csv_columns(run);
    assert!(!columns.is_empty());
    for (tag, expected) in &columns {
        let got = read["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("no scalar '{tag}' in {}", read["scalars"]));
        assert_eq!(got.len(), expected.len(), "{tag}: {got:?}");
        for (point, (epoch, value)) in got.iter().zip(expected) {
            assert_eq!(point[0].as_i64(), Some(*epoch), "{tag}");
            let logged = point[1].as_f64().unwrap();
            // metrics.csv rounds to 6 decimals, TensorBoard stores f32.
            assert!(
                (logged - value).abs() <= 1e-6 + 1e-6 * value.abs(),
                "{tag} epoch {epoch}: {logged} in TensorBoard, {value} in metrics.csv"
            );
        }
    }
}

#[test]
fn tensorboard_reads_every_figure_of_a_run_and_a_gans_images() {
    let dir = tempfile::tempdir().unwrap();
    let classifier = dir.path().join("mlp");
    assert_ok(&zoo(&[
        "train",
        "mlp-mnist-mini",
        "--plain",
        "--epochs",
        "3",
        "--out",
        classifier.to_str().unwrap(),
    ]));
    let Some(read) = read_with_tensorboard(&classifier) else {
        return;
    };
    assert_scalars_equal_the_csv(&classifier, &read);
    for tag in [
        "loss/train",
        "loss/valid",
        "accuracy/train",
        "accuracy/valid",
        "learning_rate",
    ] {
        assert!(
            read["scalars"][tag].is_array(),
            "{tag} missing: {}",
            read["scalars"]
        );
    }
    assert_eq!(read["images"]["curves"].as_array().map(Vec::len), Some(3));

    let gan = dir.path().join("gan");
    assert_ok(&zoo(&[
        "train",
        "gan-mnist-mini",
        "--plain",
        "--epochs",
        "2",
        "--set",
        "gan.quality_samples=0",
        "--out",
        gan.to_str().unwrap(),
    ]));
    let read = read_with_tensorboard(&gan).unwrap();
    assert_scalars_equal_the_csv(&gan, &read);
    let samples = read["images"]["samples"].as_array().expect("sample grids");
    assert_eq!(samples.len(), 2, "one grid per epoch");
    assert_eq!(samples[1][0].as_i64(), Some(2));
    // A 16-image grid of 28-pixel digits: 4 x 4 tiles with 2-pixel gaps.
    assert_eq!(
        (samples[0][1].as_i64(), samples[0][2].as_i64()),
        (Some(122), Some(122))
    );

    // A resumed run's log holds every epoch once.
    let resumed = zoo(&[
        "train",
        "--plain",
        "--resume",
        gan.to_str().unwrap(),
        "--epochs",
        "3",
    ]);
    assert_ok(&resumed);
    let read = read_with_tensorboard(&gan).unwrap();
    assert_scalars_equal_the_csv(&gan, &read);
    let files = std::fs::read_dir(gan.join("tb")).unwrap().count();
    assert_eq!(
        files, 1,
        "the earlier process's log is replaced, not doubled"
    );
}
