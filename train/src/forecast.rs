//! The forecasting task: the trainable wrapper, its data and its evaluation.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::nn::loss::{MseLoss, Reduction};
use burn::prelude::*;
use burn::train::{InferenceStep, RegressionOutput, TrainOutput, TrainStep};
use zoo_datasets::{split_series, SeriesBatch, SeriesBatcher, SeriesWindows};
use zoo_lstm::Forecaster;

use crate::recipe::{DataSpec, ModelSpec};

/// Past values per forecast when the recipe does not say.
pub const DEFAULT_WINDOW: usize = 64;
/// Values forecast when the recipe does not say.
pub const DEFAULT_HORIZON: usize = 8;

/// A [`Forecaster`] wired into burn-train: mean squared error over the forecast values.
#[derive(Module, Debug)]
pub struct ForecastModel {
    /// The network.
    pub forecaster: Forecaster,
}

impl ForecastModel {
    /// A fresh forecaster of `horizon` values, as the recipe's `[model]` says.
    pub fn new(spec: &ModelSpec, horizon: usize, device: &Device) -> Self {
        let config = spec
            .forecaster_config(horizon)
            .expect("recipes pair series with lstm-forecaster models only");
        Self {
            forecaster: config.init(device),
        }
    }

    /// Forecasts `[batch, horizon]` and their mean squared error.
    pub fn forward_regression(&self, batch: SeriesBatch) -> RegressionOutput {
        let output = self.forecaster.forward(batch.inputs); // [batch, horizon]
        let loss = MseLoss::new().forward(output.clone(), batch.targets.clone(), Reduction::Mean); // [1]
        RegressionOutput::new(loss, output, batch.targets)
    }
}

impl TrainStep for ForecastModel {
    type Input = SeriesBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: SeriesBatch) -> TrainOutput<RegressionOutput> {
        let item = self.forward_regression(batch);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl InferenceStep for ForecastModel {
    type Input = SeriesBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: SeriesBatch) -> RegressionOutput {
        self.forward_regression(batch)
    }
}

/// The window and horizon of a recipe's `[data]` table.
pub fn window_and_horizon(spec: &DataSpec) -> (usize, usize) {
    (
        spec.window.unwrap_or(DEFAULT_WINDOW),
        spec.horizon.unwrap_or(DEFAULT_HORIZON),
    )
}

/// The series of a recipe (generated from `seed`), split 80 / 10 / 10 in time.
pub fn load_series(spec: &DataSpec, seed: u64) -> [Arc<Vec<f32>>; 3] {
    let config = spec.series.clone().unwrap_or_default();
    split_series(&config.generate(seed), 0.8, 0.1)
}

/// Forecast errors on one split, beside the naive forecast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeriesEvaluation {
    /// Mean squared error over every forecast value.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean squared error of repeating the window's last value `horizon` times.
    pub baseline_mse: f64,
}

/// Evaluates `model` on every window of `values`.
pub fn evaluate_series(
    model: &ForecastModel,
    values: Arc<Vec<f32>>,
    (window, horizon): (usize, usize),
    batch_size: usize,
    device: &Device,
) -> SeriesEvaluation {
    let windows = SeriesWindows::new(values, window, horizon);
    let (mut squared, mut absolute, mut baseline, mut count) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    let indices: Vec<usize> = (0..windows.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let items: Vec<_> = chunk.iter().filter_map(|&i| windows.get(i).ok()).collect();
        for item in &items {
            let last = *item.inputs.last().expect("windows are non-empty");
            baseline += item
                .targets
                .iter()
                .map(|&t| ((t - last) as f64).powi(2))
                .sum::<f64>();
        }
        let batch = SeriesBatcher.batch(items, device);
        let error = model.forecaster.forward(batch.inputs) - batch.targets; // [batch, horizon]
        squared += error.clone().square().sum().into_scalar::<f32>() as f64;
        absolute += error.abs().sum().into_scalar::<f32>() as f64;
        count += chunk.len() * horizon;
    }
    let n = count.max(1) as f64;
    SeriesEvaluation {
        mse: squared / n,
        mae: absolute / n,
        baseline_mse: baseline / n,
    }
}

/// Forecasts the next values after the last `window` values of `history`.
pub fn forecast(model: &ForecastModel, history: &[f32], device: &Device) -> Vec<f32> {
    let window = history.len();
    let inputs = Tensor::<1>::from_floats(history, device).reshape([1, window, 1]); // [1, window, 1]
    model
        .forecaster
        .forward(inputs) // [1, horizon]
        .into_data()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

/// Draws `forecast.png` in `run_dir`: the first `steps` values of `values` after one window, and
/// the model's forecasts of them, `horizon` values at a time from the true window before each.
pub fn plot_forecasts(
    model: &ForecastModel,
    values: &[f32],
    (window, horizon): (usize, usize),
    steps: usize,
    path: &std::path::Path,
    device: &Device,
) -> anyhow::Result<()> {
    let end = (window + steps).min(values.len());
    let actual: Vec<(f64, f64)> = (window..end)
        .map(|t| (t as f64, values[t] as f64))
        .collect();
    let mut predicted = Vec::new();
    let mut t = window;
    while t + horizon <= end {
        let next = forecast(model, &values[t - window..t], device);
        predicted.extend(
            next.iter()
                .enumerate()
                .map(|(i, &v)| ((t + i) as f64, v as f64)),
        );
        t += horizon;
    }
    crate::plot::forecast(path, &actual, &predicted)
}
