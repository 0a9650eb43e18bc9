//! One training run: `train(&Recipe, &RunOptions) -> Summary`. The CLI, the studies and the
//! searches all call this function.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::{Learner, LearnerModel, SupervisedTraining};
use serde::{Deserialize, Serialize};
use zoo_datasets::{SeriesWindows, TextWindows, Vocabulary};

use crate::backend::{smoke_test, Backend};
use crate::data::prepare;
use crate::evaluate::{evaluate, Evaluation};
use crate::forecast::{self, evaluate_series, load_series, ForecastModel};
use crate::history::{write_atomically, AfterEpoch, EpochRecorder, History};
use crate::language_model::{self, evaluate_text, load_corpus, save_vocabulary, LanguageModel};
use crate::model::Classifier;
use crate::optimizer;
use crate::progress::{self, WatchReport};
use crate::recipe::{Monitor, Recipe, Task};
use crate::setup::{self, Loaders};

/// How to run a recipe (everything that is not part of the recipe itself).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Where to compute.
    pub backend: Backend,
    /// Folder holding `mnist/` etc.; `ZOO_DATA_DIR` when `None`.
    pub data_dir: Option<PathBuf>,
    /// The run folder; `runs/<recipe>-<time>` when `None`.
    pub run_dir: Option<PathBuf>,
    /// Continue the run in `run_dir` from its last checkpoint.
    pub resume: bool,
    /// Run a few batches of one epoch only, end to end.
    pub dry_run: bool,
    /// Plain progress lines even in a terminal (no TUI).
    pub plain_progress: bool,
    /// Do not read the test set (hyperparameter search trials).
    pub skip_test: bool,
    /// Called after every epoch with its figures; returning `true` stops the run there (the
    /// search's pruning).
    pub after_epoch: Option<EpochCallback>,
}

/// A shared `after_epoch` hook: see [`RunOptions::after_epoch`].
#[derive(Clone)]
pub struct EpochCallback(pub AfterEpoch);

impl std::fmt::Debug for EpochCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochCallback")
    }
}

/// The final figures of a run, written to `summary.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Recipe name.
    pub recipe: String,
    /// Dataset name.
    pub dataset: String,
    /// Backend the run trained on.
    pub backend: String,
    /// Seed of the run.
    pub seed: u64,
    /// Epochs completed (fewer than asked for when early stopping fired).
    pub epochs_run: usize,
    /// Epoch with the best monitored validation metric.
    pub best_epoch: usize,
    /// Wall-clock seconds of training (validation included, test excluded).
    pub train_seconds: f64,
    /// Training examples (images, windows) per second, over the training splits only.
    pub train_samples_per_second: f64,
    /// Final figures.
    pub metrics: SummaryMetrics,
    /// The run folder.
    pub run_dir: PathBuf,
}

/// Figures of the saved model, in inference mode. Accuracies are fractions in `[0, 1]`;
/// losses are cross-entropies in nats (per image, or per character for a language model) or,
/// for a forecaster, mean squared errors. Fields a task does not have are absent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct SummaryMetrics {
    /// On the training split (classifiers and language models).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub train_accuracy: Option<f64>,
    /// Mean loss on the training split.
    pub train_loss: f64,
    /// On the validation split.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_accuracy: Option<f64>,
    /// Mean loss on the validation split.
    pub valid_loss: f64,
    /// On the test set (absent when the run was told not to read it, as in a search).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_accuracy: Option<f64>,
    /// Mean loss on the test set (absent likewise).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_loss: Option<f64>,
    /// Language models: validation loss in bits per character.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_bits_per_char: Option<f64>,
    /// Language models: validation perplexity, `exp(valid_loss)`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_perplexity: Option<f64>,
    /// Language models: test perplexity.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_perplexity: Option<f64>,
    /// Forecasters: mean squared error on the test series.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_mse: Option<f64>,
    /// Forecasters: mean absolute error on the test series.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_mae: Option<f64>,
    /// Forecasters: test MSE of repeating the last value of each window.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub baseline_mse: Option<f64>,
}

impl SummaryMetrics {
    /// The accuracies and losses of a classifier (of images, or of the next character) on the
    /// three splits; the test figures are absent when the test set was not read.
    pub fn classification(train: Evaluation, valid: Evaluation, test: Option<Evaluation>) -> Self {
        Self {
            train_accuracy: Some(train.accuracy),
            train_loss: train.loss,
            valid_accuracy: Some(valid.accuracy),
            valid_loss: valid.loss,
            test_accuracy: test.map(|e| e.accuracy),
            test_loss: test.map(|e| e.loss),
            ..Default::default()
        }
    }
}

/// File names inside a run folder.
pub mod files {
    /// The resolved recipe.
    pub const RECIPE: &str = "recipe.toml";
    /// The trained model (Burn record).
    pub const MODEL: &str = "model.bpk";
    /// Final figures.
    pub const SUMMARY: &str = "summary.json";
}

/// Trains `recipe` as `options` say, evaluates on the test set and writes the run folder.
/// Image classifiers, language models and forecasters all train here, through burn-train;
/// GAN recipes have their own loop ([`crate::gan`]).
pub fn train(recipe: &Recipe, options: &RunOptions) -> Result<Summary> {
    if recipe.model.task() == Task::Gan {
        bail!(
            "recipe '{}' is a GAN recipe: train it with zoo_train::gan::train_gan (`zoo train` does)",
            recipe.name
        );
    }
    let device = options.backend.device()?;
    smoke_test(&device)?;
    let mut recipe = recipe.clone();
    if options.dry_run {
        recipe.training.epochs = 1;
    }
    let run_dir = prepare_run_dir(&recipe, options)?;
    let (patience, monitor) = (
        recipe.training.early_stopping_patience,
        recipe.training.monitor,
    );
    let (resume_epoch, history) = if options.resume {
        let (epoch, history) = resume_point(&run_dir, patience, monitor)?;
        (Some(epoch), history)
    } else {
        (None, History::new(&run_dir, patience, monitor))
    };
    if let Some(epoch) = resume_epoch {
        if epoch >= recipe.training.epochs {
            bail!(
                "run '{}' already has {epoch} epochs of {}; pass --epochs N with N > {epoch} to train further",
                run_dir.display(),
                recipe.training.epochs
            );
        }
    }
    let run = FitRun {
        recipe: &recipe,
        device: &device,
        run_dir: &run_dir,
        resume_epoch,
        history,
        options,
    };
    let (stats, metrics) = match recipe.model.task() {
        Task::ImageClassification => train_image_classifier(run)?,
        Task::CharLm => train_language_model(run)?,
        Task::Forecast => train_forecaster(run)?,
        Task::Gan => unreachable!("GAN recipes were turned away above"),
    };
    let summary = Summary {
        recipe: recipe.name.clone(),
        dataset: recipe.data.dataset.clone(),
        backend: options.backend.name().to_string(),
        seed: recipe.training.seed,
        epochs_run: stats.epochs_run,
        best_epoch: stats.best_epoch,
        train_seconds: stats.seconds,
        train_samples_per_second: stats.samples_per_second,
        metrics,
        run_dir: run_dir.clone(),
    };
    let json = serde_json::to_string_pretty(&summary)?;
    write_atomically(&run_dir.join(files::SUMMARY), json.as_bytes())?;
    Ok(summary)
}

/// Everything a task needs to fit its model.
struct FitRun<'a> {
    recipe: &'a Recipe,
    device: &'a Device,
    run_dir: &'a Path,
    resume_epoch: Option<usize>,
    history: History,
    options: &'a RunOptions,
}

impl FitRun<'_> {
    fn announce(&self, what: &str) {
        println!(
            "training '{}' on {} ({what}) with backend {}, {} epochs",
            self.recipe.name,
            self.recipe.data.dataset,
            self.options.backend,
            self.recipe.training.epochs
        );
    }

    /// Batch size for evaluation passes.
    fn eval_batch(&self) -> usize {
        self.recipe.training.batch_size.max(256)
    }
}

fn train_image_classifier(run: FitRun) -> Result<(FitStats, SummaryMetrics)> {
    let recipe = run.recipe;
    let mut data = prepare(
        &recipe.data,
        recipe.training.seed,
        run.options.data_dir.clone(),
    )?;
    if run.options.dry_run {
        data = data.shrink(recipe.training.batch_size);
    }
    run.announce(&format!(
        "{} train / {} valid / {} test images",
        data.train.len(),
        data.valid.len(),
        data.test.len()
    ));
    // Augmentation draws from its own seeded stream; a resumed run continues with a new one.
    let augment_seed = recipe
        .training
        .seed
        .wrapping_add(run.resume_epoch.unwrap_or(0) as u64);
    let (model, loaders) =
        setup::image_classifier(recipe, &data, &run.device.clone().autodiff(), augment_seed);
    let (device, batch) = (run.device.clone(), run.eval_batch());
    let (model, stats) = fit(model, loaders, data.train.len(), run)?;
    let eval = |set| evaluate(&model, set, data.kind, batch, &device);
    let (train_eval, valid_eval) = (eval(&data.train), eval(&data.valid));
    let test_eval = (!stats.skip_test).then(|| eval(&data.test));
    save_model(&model, &stats.run_dir)?;
    Ok((
        stats,
        SummaryMetrics::classification(train_eval, valid_eval, test_eval),
    ))
}

fn train_language_model(run: FitRun) -> Result<(FitStats, SummaryMetrics)> {
    let recipe = run.recipe;
    let window = recipe.data.window.unwrap_or(language_model::DEFAULT_WINDOW);
    let mut corpus = load_corpus(&recipe.data, run.options.data_dir.clone())?;
    if run.options.dry_run {
        let cut = |t: &Arc<Vec<u16>>, n: usize| Arc::new(t[..t.len().min(n)].to_vec());
        let n = recipe.training.batch_size * window * 3 + 1;
        corpus.train = cut(&corpus.train, n);
        corpus.valid = cut(&corpus.valid, n);
        corpus.test = cut(&corpus.test, n);
    }
    let train_windows = TextWindows::new(corpus.train.clone(), window);
    run.announce(&format!(
        "{} / {} / {} characters, vocabulary {}, windows of {window}",
        corpus.train.len(),
        corpus.valid.len(),
        corpus.test.len(),
        corpus.vocabulary.len()
    ));
    save_vocabulary(run.run_dir, &corpus.vocabulary)?;
    let (model, loaders) = setup::language_model(recipe, &corpus, &run.device.clone().autodiff());
    let (device, batch) = (run.device.clone(), run.eval_batch());
    let (model, stats) = fit(model, loaders, train_windows.len(), run)?;
    let eval =
        |tokens: &Arc<Vec<u16>>| evaluate_text(&model, tokens.clone(), window, batch, &device);
    let (train_eval, valid_eval) = (eval(&corpus.train), eval(&corpus.valid));
    let test_eval = (!stats.skip_test).then(|| eval(&corpus.test));
    save_model(&model, &stats.run_dir)?;
    Ok((
        stats,
        SummaryMetrics {
            valid_bits_per_char: Some(valid_eval.loss / std::f64::consts::LN_2),
            valid_perplexity: Some(valid_eval.loss.exp()),
            test_perplexity: test_eval.map(|e| e.loss.exp()),
            ..SummaryMetrics::classification(train_eval, valid_eval, test_eval)
        },
    ))
}

fn train_forecaster(run: FitRun) -> Result<(FitStats, SummaryMetrics)> {
    let recipe = run.recipe;
    let shape = forecast::window_and_horizon(&recipe.data);
    let [mut train, mut valid, mut test] = load_series(&recipe.data, recipe.training.seed);
    if run.options.dry_run {
        let cut = |s: &Arc<Vec<f32>>, n: usize| Arc::new(s[..s.len().min(n)].to_vec());
        let n = recipe.training.batch_size * 3 + shape.0 + shape.1;
        (train, valid, test) = (cut(&train, n), cut(&valid, n), cut(&test, n));
    }
    let train_windows = SeriesWindows::new(train.clone(), shape.0, shape.1);
    run.announce(&format!(
        "{} / {} / {} values, windows of {} to forecast {}",
        train.len(),
        valid.len(),
        test.len(),
        shape.0,
        shape.1
    ));
    let (model, loaders) =
        setup::forecaster(recipe, &train, &valid, &run.device.clone().autodiff());
    let (device, batch) = (run.device.clone(), run.eval_batch());
    let (model, stats) = fit(model, loaders, train_windows.len(), run)?;
    let eval =
        |values: &Arc<Vec<f32>>| evaluate_series(&model, values.clone(), shape, batch, &device);
    let (train_eval, valid_eval) = (eval(&train), eval(&valid));
    let test_eval = (!stats.skip_test).then(|| eval(&test));
    save_model(&model, &stats.run_dir)?;
    if !stats.skip_test {
        let path = stats.run_dir.join("forecast.png");
        forecast::plot_forecasts(&model, &test, shape, 300, &path, &device)?;
    }
    Ok((
        stats,
        SummaryMetrics {
            train_loss: train_eval.mse,
            valid_loss: valid_eval.mse,
            test_loss: test_eval.map(|e| e.mse),
            test_mse: test_eval.map(|e| e.mse),
            test_mae: test_eval.map(|e| e.mae),
            baseline_mse: test_eval.map(|e| e.baseline_mse),
            ..Default::default()
        },
    ))
}

fn save_model<M: Module>(model: &M, run_dir: &Path) -> Result<()> {
    model
        .clone()
        .into_record()
        .save(run_dir.join(files::MODEL))
        .with_context(|| format!("cannot save the model in {}", run_dir.display()))
}

/// A model burn-train can fit, and the metrics its outputs support.
pub trait Fittable: LearnerModel + Sized {
    /// Adds the model's training and validation metrics.
    fn with_metrics(training: SupervisedTraining<Self>) -> SupervisedTraining<Self>;
}

impl Fittable for Classifier {
    fn with_metrics(training: SupervisedTraining<Self>) -> SupervisedTraining<Self> {
        training.metrics((AccuracyMetric::new(), LossMetric::new()))
    }
}

impl Fittable for LanguageModel {
    fn with_metrics(training: SupervisedTraining<Self>) -> SupervisedTraining<Self> {
        training.metrics((AccuracyMetric::new(), LossMetric::new()))
    }
}

impl Fittable for ForecastModel {
    fn with_metrics(training: SupervisedTraining<Self>) -> SupervisedTraining<Self> {
        training.metrics((LossMetric::new(),))
    }
}

/// How the training loop went.
struct FitStats {
    epochs_run: usize,
    best_epoch: usize,
    seconds: f64,
    samples_per_second: f64,
    skip_test: bool,
    run_dir: PathBuf,
}

/// The one supervised training loop: burn-train's `SupervisedTraining` with checkpoints (last
/// two epochs and the best), per-epoch history, early stopping, the progress display and the
/// divergence watch. Returns the trained model on the inference device.
fn fit<M: Fittable>(
    model: M,
    (train_loader, valid_loader): Loaders<M>,
    train_examples: usize,
    run: FitRun,
) -> Result<(M, FitStats)> {
    let FitRun {
        recipe,
        device,
        run_dir,
        resume_epoch,
        history,
        options,
    } = run;
    // Written once the data has loaded, so a run that could not start leaves no run behind.
    write_atomically(&run_dir.join(files::RECIPE), recipe.to_toml().as_bytes())?;
    let plain = options.plain_progress;
    let after_epoch = options.after_epoch.as_ref().map(|c| c.0.clone());
    let training = &recipe.training;

    let history = Arc::new(Mutex::new(history));
    let recorder = EpochRecorder::new(history.clone(), after_epoch);
    let report = Arc::new(Mutex::new(WatchReport::default()));

    // Keep the last two epochs (for --resume) and the best one by the monitored metric.
    let best = match training.monitor {
        Monitor::ValidAccuracy => MetricCheckpointingStrategy::new(
            &AccuracyMetric::new(),
            Aggregate::Mean,
            Direction::Highest,
            Split::Valid,
        ),
        Monitor::ValidLoss => MetricCheckpointingStrategy::new(
            &LossMetric::new(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
        ),
    };
    let checkpoints = ComposedCheckpointingStrategy::builder()
        .add(KeepLastNCheckpoints::new(2))
        .add(best)
        .build();
    let supervised = SupervisedTraining::new(run_dir, train_loader, valid_loader);
    let mut supervised = M::with_metrics(supervised)
        .metric_train_numeric(LearningRateMetric::new())
        .with_default_checkpointers()
        .with_checkpointing_strategy(checkpoints)
        .early_stopping(recorder.clone())
        .num_epochs(training.epochs);
    if let Some(epoch) = resume_epoch {
        supervised = supervised.checkpoint(epoch);
    }
    let interrupter = supervised.interrupter();
    let renderer = progress::renderer(interrupter.clone(), resume_epoch, plain, report.clone());
    let supervised = supervised.renderer(renderer);

    let steps_per_epoch = train_examples.div_ceil(training.batch_size);
    let schedule = optimizer::schedule(&recipe.optimizer, steps_per_epoch * training.epochs)?;
    let start = Instant::now();
    let result = supervised.launch(Learner::new(
        model,
        optimizer::build(&recipe.optimizer, recipe.regularization.max_norm),
        schedule,
    ));
    let seconds = start.elapsed().as_secs_f64();
    // The dashboard stays up until the interrupter is set: training is over, so close it now
    // and let the summary print on the normal screen.
    interrupter.stop(None);
    let mut renderer = result.renderer;
    renderer.manual_close();

    if let Some(err) = recorder.take_error() {
        return Err(err.context("recording the epoch metrics"));
    }
    let report = report.lock().expect("watch report lock");
    if let Some(message) = &report.diverged {
        bail!("{message}");
    }
    if let Some(err) = result.error {
        bail!("training failed: {err}");
    }
    let history = history.lock().expect("history lock");
    let epochs_run = history.epochs.last().map_or(0, |r| r.epoch);
    let best_epoch = history.best().map_or(0, |r| r.epoch);
    let mut model = result.model;
    if training.early_stopping_patience.is_some() && best_epoch > 0 && best_epoch != epochs_run {
        let path = run_dir
            .join("checkpoint")
            .join(format!("model-{best_epoch}.bpk"));
        let record = ModuleRecord::load(&path)
            .with_context(|| format!("cannot restore the best epoch from {}", path.display()))?;
        model = model.load_record(record);
        println!("early stopping: restored the weights of epoch {best_epoch}");
    }
    let samples_per_second = report.train_items as f64 / report.train_split_seconds.max(1e-9);
    Ok((
        model.fork(device),
        FitStats {
            epochs_run,
            best_epoch,
            seconds,
            samples_per_second,
            skip_test: options.skip_test,
            run_dir: run_dir.to_path_buf(),
        },
    ))
}

/// The run folder of `options` (default `runs/<recipe>-<time>`), created; a folder that already
/// holds a run is refused unless resuming.
pub(crate) fn prepare_run_dir(recipe: &Recipe, options: &RunOptions) -> Result<PathBuf> {
    let dir = match &options.run_dir {
        Some(dir) => dir.clone(),
        None => {
            let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
            PathBuf::from("runs").join(format!("{}-{stamp}", recipe.name))
        }
    };
    if !options.resume && dir.join(files::RECIPE).exists() {
        bail!(
            "run folder '{}' already holds a run; pass --resume to continue it, or choose another --out",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create run folder '{}'", dir.display()))?;
    Ok(dir)
}

/// Where a run folder resumes, and its history up to there: the last epoch that has both its
/// checkpoint and its metrics (burn-train writes an epoch's checkpoint just before the
/// end-of-epoch hook records its metrics, so a run killed in between has one without the other).
fn resume_point(
    run_dir: &Path,
    patience: Option<usize>,
    monitor: Monitor,
) -> Result<(usize, History)> {
    let mut history = History::load(run_dir, patience, monitor)
        .unwrap_or_else(|_| History::new(run_dir, patience, monitor));
    let recorded = history.epochs.last().map_or(0, |r| r.epoch);
    let epoch = last_checkpoint(run_dir, recorded)?;
    history.truncate_before(epoch + 1);
    Ok((epoch, history))
}

/// The highest epoch, at most `max_epoch`, whose checkpoint is complete (model, optimizer and
/// scheduler files present, model readable) in a run folder. A checkpoint half-written when the
/// process was killed is skipped in favour of the one before it.
pub fn last_checkpoint(run_dir: &Path, max_epoch: usize) -> Result<usize> {
    let dir = run_dir.join("checkpoint");
    let epochs = checkpoint_epochs(&dir, "model").with_context(|| {
        format!(
            "no checkpoints in '{}' (is it a run folder?)",
            run_dir.display()
        )
    })?;
    let complete = |epoch: usize| {
        let file = |kind: &str| dir.join(format!("{kind}-{epoch}.bpk"));
        ["optim", "scheduler"].iter().all(|k| file(k).is_file())
            && ModuleRecord::load(file("model")).is_ok()
    };
    epochs
        .into_iter()
        .rev()
        .find(|&epoch| epoch <= max_epoch && complete(epoch))
        .with_context(|| {
            format!(
                "nothing to resume in '{}': no epoch finished with its checkpoint; start the run again",
                run_dir.display()
            )
        })
}

/// The epochs `N` of the `<kind>-N.bpk` files in the checkpoint folder `dir`, in increasing
/// order (shared by supervised and GAN runs).
pub(crate) fn checkpoint_epochs(dir: &Path, kind: &str) -> std::io::Result<Vec<usize>> {
    let prefix = format!("{kind}-");
    let mut epochs: Vec<usize> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix(prefix.as_str())?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable();
    Ok(epochs)
}

/// Reads a run folder's recipe.
pub fn load_recipe(run_dir: &Path) -> Result<Recipe> {
    let recipe_path = run_dir.join(files::RECIPE);
    let text = std::fs::read_to_string(&recipe_path).with_context(|| {
        format!(
            "'{}' is not a run folder (no {})",
            run_dir.display(),
            files::RECIPE
        )
    })?;
    Recipe::parse(&recipe_path.display().to_string(), &text, &[])
}

/// Reads a run folder's recipe and checks that its model does `task`; `command` names what
/// was asked, for the error.
pub fn load_recipe_for(run_dir: &Path, task: Task, command: &str) -> Result<Recipe> {
    let recipe = load_recipe(run_dir)?;
    let found = recipe.model.task();
    if found == Task::Gan && task != Task::Gan {
        bail!(
            "'{}' is a GAN run ('{}'): {command}; draw images with `zoo sample {}`",
            run_dir.display(),
            recipe.name,
            run_dir.display()
        );
    }
    if found != task {
        bail!(
            "'{}' holds a {} run ({} model); {command}",
            run_dir.display(),
            recipe.name,
            recipe.model.kind_name()
        );
    }
    Ok(recipe)
}

fn load_model_record(run_dir: &Path) -> Result<ModuleRecord> {
    let model_path = run_dir.join(files::MODEL);
    ModuleRecord::load(&model_path).with_context(|| {
        format!(
            "cannot read the model '{}' (did the run finish?)",
            model_path.display()
        )
    })
}

/// Reads an image-classifier run back: its recipe and its trained model on `device`.
pub fn load_run(run_dir: &Path, device: &Device) -> Result<(Recipe, Classifier)> {
    let recipe = load_recipe_for(
        run_dir,
        Task::ImageClassification,
        "this command needs an image classifier run",
    )?;
    let shape = crate::data::dataset_shape(&recipe.data);
    let model =
        Classifier::new(&recipe.model, shape, device).load_record(load_model_record(run_dir)?);
    Ok((recipe, model))
}

/// Reads a language-model run back: recipe, trained model and vocabulary.
pub fn load_language_model(
    run_dir: &Path,
    device: &Device,
) -> Result<(Recipe, LanguageModel, Vocabulary)> {
    let recipe = load_recipe_for(
        run_dir,
        Task::CharLm,
        "this command needs a language-model run (e.g. lstm-shakespeare)",
    )?;
    let vocabulary = language_model::load_vocabulary(run_dir)?;
    let model = LanguageModel::new(&recipe.model, vocabulary.len(), device)
        .load_record(load_model_record(run_dir)?);
    Ok((recipe, model, vocabulary))
}

/// Reads a forecaster run back: recipe and trained model.
pub fn load_forecaster(run_dir: &Path, device: &Device) -> Result<(Recipe, ForecastModel)> {
    let recipe = load_recipe_for(
        run_dir,
        Task::Forecast,
        "this command needs a forecaster run (e.g. lstm-sine)",
    )?;
    let (_, horizon) = forecast::window_and_horizon(&recipe.data);
    let model =
        ForecastModel::new(&recipe.model, horizon, device).load_record(load_model_record(run_dir)?);
    Ok((recipe, model))
}
