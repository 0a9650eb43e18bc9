//! Each regularizer has the effect it is named for, on the embedded mini MNIST.

use burn_zoo::burn::tensor::Device;
use burn_zoo::train::optim::max_norm::largest_unit_norm;
use burn_zoo::train::tasks::classify::{load_classifier, Network};
use burn_zoo::train::{train, Backend, Recipe, RunOptions, Summary};

fn run(dir: &std::path::Path, name: &str, overrides: &[&str]) -> Summary {
    let mut all = vec!["training.epochs=3".to_string()];
    all.extend(overrides.iter().map(|s| s.to_string()));
    let recipe = Recipe::load("mlp-mnist-mini", &all).unwrap();
    let options = RunOptions {
        backend: Backend::Flex,
        run_dir: Some(dir.join(name)),
        plain_progress: true,
        ..Default::default()
    };
    train(&recipe, &options).unwrap()
}

/// The MLP weight matrices of a finished run, as plain numbers: one Vec per layer.
fn weights(summary: &Summary) -> Vec<Vec<f32>> {
    let (_, model) = load_classifier(&summary.run_dir, &Device::flex()).unwrap();
    let Network::Mlp(mlp) = &model.network else {
        panic!("an MLP run")
    };
    mlp.weights()
        .into_iter()
        .map(|w| w.into_data().try_to_vec::<f32>().unwrap())
        .collect()
}

fn near_zero_fraction(summary: &Summary) -> f64 {
    let all: Vec<f32> = weights(summary).into_iter().flatten().collect();
    all.iter().filter(|w| w.abs() < 1e-3).count() as f64 / all.len() as f64
}

#[test]
fn l1_drives_many_weights_to_zero() {
    let dir = tempfile::tempdir().unwrap();
    let plain = run(dir.path(), "plain", &[]);
    let l1 = run(dir.path(), "l1", &["regularization.l1=1e-3"]);
    let (before, after) = (near_zero_fraction(&plain), near_zero_fraction(&l1));
    assert!(
        after > 0.3 && after > 10.0 * before,
        "near-zero weights: none {before:.3}, L1 {after:.3}"
    );
}

#[test]
fn explicit_l2_shrinks_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    let norm = |s: &Summary| -> f64 {
        weights(s)
            .into_iter()
            .flatten()
            .map(|w| (w * w) as f64)
            .sum::<f64>()
            .sqrt()
    };
    let plain = run(dir.path(), "plain", &[]);
    let l2 = run(dir.path(), "l2", &["regularization.l2=5e-2"]);
    assert!(
        norm(&l2) < 0.7 * norm(&plain),
        "weight norm: none {}, L2 {}",
        norm(&plain),
        norm(&l2)
    );
}

#[test]
fn max_norm_bounds_every_unit() {
    let dir = tempfile::tempdir().unwrap();
    let largest = |s: &Summary| -> f32 {
        let (_, model) = load_classifier(&s.run_dir, &Device::flex()).unwrap();
        let Network::Mlp(mlp) = &model.network else {
            panic!("an MLP run")
        };
        mlp.hidden
            .iter()
            .map(|l| &l.linear)
            .chain([&mlp.output])
            .map(|linear| largest_unit_norm(linear.weight.val()))
            .fold(0.0, f32::max)
    };
    let plain = run(dir.path(), "plain", &[]);
    assert!(
        largest(&plain) > 1.0,
        "without the constraint some unit grows past 1: {}",
        largest(&plain)
    );
    let bounded = run(dir.path(), "maxnorm", &["regularization.max_norm=1.0"]);
    assert!(
        largest(&bounded) <= 1.0 + 1e-4,
        "max unit norm {}",
        largest(&bounded)
    );
}

#[test]
fn label_smoothing_makes_predictions_less_confident() {
    let dir = tempfile::tempdir().unwrap();
    let plain = run(dir.path(), "plain", &[]);
    let smooth = run(
        dir.path(),
        "smooth",
        &["regularization.label_smoothing=0.3"],
    );
    // Smoothed targets keep the model from driving the training loss toward 0.
    let (plain, smooth) = (
        plain.metrics.train_loss.unwrap(),
        smooth.metrics.train_loss.unwrap(),
    );
    assert!(
        smooth > 2.0 * plain,
        "train loss: none {plain}, smoothing {smooth}"
    );
}
