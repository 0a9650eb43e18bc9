//! Forecasting: an LSTM reads the last values of a series and forecasts the next ones. The
//! task's data (a seeded series split 80 / 10 / 10 in time, in windows), its trainable wrapper,
//! its evaluation against the last-value baseline, the forecast plot, and reading a user's
//! series file for `zoo predict`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::nn::loss::{MseLoss, Reduction};
use burn::prelude::*;
use burn::train::metric::LossMetric;
use burn::train::{InferenceStep, RegressionOutput, SupervisedTraining, TrainOutput, TrainStep};
use zoo_datasets::{split_series, SeriesBatch, SeriesBatcher, SeriesWindows};
use zoo_lstm::Forecaster;

use crate::plot::{self, Panel, Series};
use crate::recipe::{DataSpec, ModelSpec, Recipe, Task as TaskKind};
use crate::run::driver::{FitStats, Run, Task};
use crate::run::epoch_seed::{EpochClock, EpochShuffled};
use crate::run::folder::{files, CheckpointLayout, RunFolder, SUPERVISED_CHECKPOINT};
use crate::run::history::BestBy;
use crate::run::options::RunOptions;
use crate::run::summary::SummaryMetrics;
use crate::run::supervised::{fit, Fittable, Loaders, SupervisedEpoch};

use super::classify::eval_batch;

/// The plot of a forecaster run: a stretch of the test series and its forecasts.
pub const FORECAST_PLOT: &str = "forecast.png";

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

impl Fittable for ForecastModel {
    fn with_metrics(training: SupervisedTraining<Self>) -> SupervisedTraining<Self> {
        training.metrics((LossMetric::new(),))
    }
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

/// The `forecast.png` chart: the first `steps` values of `values` after one window, and the
/// model's forecasts of them, `horizon` values at a time from the true window before each.
pub fn plot_forecasts(
    model: &ForecastModel,
    values: &[f32],
    (window, horizon): (usize, usize),
    steps: usize,
    device: &Device,
) -> Result<Vec<u8>> {
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
    plot::render(&[Panel {
        x_categories: Vec::new(),
        title: "test series and forecasts",
        x_label: "step",
        y_label: "value",
        series: vec![
            Series {
                label: "actual",
                points: actual,
                line: true,
            },
            Series {
                label: "forecast",
                points: predicted,
                line: true,
            },
        ],
    }])
}

/// The three parts of a forecaster's series.
pub struct SeriesSplits {
    /// The first 80%: training windows.
    pub train: Arc<Vec<f32>>,
    /// The next 10%: validation windows.
    pub valid: Arc<Vec<f32>>,
    /// The last 10%: test windows.
    pub test: Arc<Vec<f32>>,
}

/// A fresh forecaster and its loaders of windows over the train and validation series (training
/// windows shuffled anew each epoch of `clock`).
pub fn setup(
    recipe: &Recipe,
    series: &SeriesSplits,
    device: &Device,
    clock: &EpochClock,
) -> (ForecastModel, Loaders<ForecastModel>) {
    let (window, horizon) = recipe.data.series_window();
    device.seed(recipe.training.seed);
    let model = ForecastModel::new(&recipe.model, horizon, device);
    let train = Arc::new(SeriesWindows::new(series.train.clone(), window, horizon));
    let loaders = (
        DataLoaderBuilder::new(SeriesBatcher)
            .batch_size(recipe.training.batch_size)
            .build(EpochShuffled::new(train, clock.clone())),
        DataLoaderBuilder::new(SeriesBatcher)
            .batch_size(recipe.training.batch_size)
            .build(SeriesWindows::new(series.valid.clone(), window, horizon)),
    );
    (model, loaders)
}

/// The forecasting task, for the run driver.
pub(crate) struct Forecasting;

impl Task for Forecasting {
    type Data = SeriesSplits;
    type Model = ForecastModel;
    type Epoch = SupervisedEpoch;
    const CHECKPOINT: CheckpointLayout = SUPERVISED_CHECKPOINT;

    fn load_data(recipe: &Recipe, options: &RunOptions) -> Result<SeriesSplits> {
        let [mut train, mut valid, mut test] = load_series(&recipe.data, recipe.training.seed);
        if options.dry_run {
            let (window, horizon) = recipe.data.series_window();
            let cut = |s: &Arc<Vec<f32>>, n: usize| Arc::new(s[..s.len().min(n)].to_vec());
            let n = recipe.training.batch_size * 3 + window + horizon;
            (train, valid, test) = (cut(&train, n), cut(&valid, n), cut(&test, n));
        }
        Ok(SeriesSplits { train, valid, test })
    }

    fn describe(recipe: &Recipe, series: &SeriesSplits) -> String {
        let (window, horizon) = recipe.data.series_window();
        format!(
            "{} / {} / {} values, windows of {window} to forecast {horizon}",
            series.train.len(),
            series.valid.len(),
            series.test.len(),
        )
    }

    fn best_by(recipe: &Recipe) -> Option<BestBy> {
        Some(recipe.training.monitor.into())
    }

    fn fit(
        run: &mut Run<SupervisedEpoch>,
        series: &SeriesSplits,
    ) -> Result<(ForecastModel, FitStats)> {
        let (window, horizon) = run.recipe.data.series_window();
        let windows = SeriesWindows::new(series.train.clone(), window, horizon).len();
        let device = run.device.clone().autodiff();
        let (model, loaders) = setup(&run.recipe, series, &device, &run.clock);
        fit(model, loaders, windows, run)
    }

    fn finish(
        run: &Run<SupervisedEpoch>,
        model: &ForecastModel,
        series: &SeriesSplits,
    ) -> Result<SummaryMetrics> {
        let shape = run.recipe.data.series_window();
        let batch = eval_batch(&run.recipe);
        let eval = |values: &Arc<Vec<f32>>| {
            evaluate_series(model, values.clone(), shape, batch, &run.device)
        };
        let (train, valid) = (eval(&series.train), eval(&series.valid));
        let test = (!run.options.skip_test).then(|| eval(&series.test));
        run.folder.save_module(files::MODEL, model)?;
        if !run.options.skip_test {
            let png = plot_forecasts(model, &series.test, shape, 300, &run.device)?;
            run.folder.write(FORECAST_PLOT, &png)?;
        }
        Ok(SummaryMetrics {
            train_loss: Some(train.mse),
            valid_loss: Some(valid.mse),
            test_loss: test.map(|e| e.mse),
            test_mse: test.map(|e| e.mse),
            test_mae: test.map(|e| e.mae),
            baseline_mse: test.map(|e| e.baseline_mse),
            ..Default::default()
        })
    }
}

/// Reads a forecaster run back: recipe and trained model.
pub fn load_forecaster(run_dir: &Path, device: &Device) -> Result<(Recipe, ForecastModel)> {
    let folder = RunFolder::open(run_dir)?;
    let recipe = folder.read_recipe_for(
        TaskKind::Forecast,
        "this command needs a forecaster run (e.g. lstm-sine)",
    )?;
    let (_, horizon) = recipe.data.series_window();
    let model = folder.load_module(
        files::MODEL,
        ForecastModel::new(&recipe.model, horizon, device),
    )?;
    Ok((recipe, model))
}

/// Reads the numbers of a CSV or plain text file (separated by commas, spaces or new lines;
/// a non-numeric first line is taken for a header) and returns the last `window` of them.
pub fn load_series_csv(path: &Path, window: usize) -> Result<Vec<f32>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the series file '{}'", path.display()))?;
    parse_series(&text, window).map_err(|e| anyhow::anyhow!("'{}' {e}", path.display()))
}

/// The numbers of a series text (see [`load_series_csv`]): the last `window` of them, or what
/// is wrong with the text.
pub fn parse_series(text: &str, window: usize) -> std::result::Result<Vec<f32>, String> {
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for field in line.split(|c: char| c == ',' || c.is_whitespace()) {
            let field = field.trim();
            if field.is_empty() {
                continue;
            }
            match field.parse::<f32>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ if i == 0 && values.is_empty() => break, // a header line
                _ => return Err(format!("line {}: '{field}' is not a number", i + 1)),
            }
        }
    }
    if values.len() < window {
        return Err(format!(
            "holds {} values; the model reads the last {window}",
            values.len()
        ));
    }
    Ok(values.split_off(values.len() - window))
}
