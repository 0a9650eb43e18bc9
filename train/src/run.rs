//! One training run: `train(&Recipe, &RunOptions) -> Summary`. The CLI, the studies and the
//! searches all call this function.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::data::dataloader::DataLoaderBuilder;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::{Learner, SupervisedTraining};
use serde::{Deserialize, Serialize};
use zoo_datasets::ImageBatcher;

use crate::backend::{smoke_test, Backend};
use crate::data::{prepare, RunData};
use crate::evaluate::evaluate;
use crate::history::{write_atomically, AfterEpoch, EpochRecorder, History};
use crate::model::Classifier;
use crate::optimizer;
use crate::progress::{self, WatchReport};
use crate::recipe::{Monitor, Recipe};

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
    /// Epoch with the best validation accuracy.
    pub best_epoch: usize,
    /// Wall-clock seconds of training (validation included, test excluded).
    pub train_seconds: f64,
    /// Training images per second, over the training splits only.
    pub train_samples_per_second: f64,
    /// Final figures.
    pub metrics: SummaryMetrics,
    /// The run folder.
    pub run_dir: PathBuf,
}

/// Accuracies (fractions in `[0, 1]`) and losses of the saved model, in inference mode.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SummaryMetrics {
    /// On the training split.
    pub train_accuracy: f64,
    /// Mean loss on the training split.
    pub train_loss: f64,
    /// On the validation split.
    pub valid_accuracy: f64,
    /// Mean loss on the validation split.
    pub valid_loss: f64,
    /// On the test set (absent when the run was told not to read it, as in a search).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_accuracy: Option<f64>,
    /// Mean loss on the test set (absent likewise).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_loss: Option<f64>,
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
pub fn train(recipe: &Recipe, options: &RunOptions) -> Result<Summary> {
    if recipe.model.task() == crate::recipe::Task::Gan {
        bail!(
            "recipe '{}' is a GAN recipe: train it with zoo_train::gan::train_gan (`zoo train` does)",
            recipe.name
        );
    }
    let device = options.backend.device()?;
    smoke_test(&device)?;
    let mut recipe = recipe.clone();
    let mut data = prepare(&recipe.data, recipe.training.seed, options.data_dir.clone())?;
    if options.dry_run {
        data = data.shrink(recipe.training.batch_size);
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
    println!(
        "training '{}' on {} ({} train / {} valid / {} test images) with backend {}, {} epochs",
        recipe.name,
        recipe.data.dataset,
        data.train.len(),
        data.valid.len(),
        data.test.len(),
        options.backend,
        recipe.training.epochs
    );
    write_atomically(&run_dir.join(files::RECIPE), recipe.to_toml().as_bytes())?;

    let fit = fit(
        &recipe,
        &data,
        &device,
        &run_dir,
        (resume_epoch, history),
        options,
    )?;
    let model = fit.model;

    let batch = recipe.training.batch_size.max(256);
    let train_eval = evaluate(&model, &data.train, data.kind, batch, &device);
    let valid_eval = evaluate(&model, &data.valid, data.kind, batch, &device);
    let test_eval =
        (!options.skip_test).then(|| evaluate(&model, &data.test, data.kind, batch, &device));
    model
        .clone()
        .into_record()
        .save(run_dir.join(files::MODEL))
        .with_context(|| format!("cannot save the model in {}", run_dir.display()))?;

    let summary = Summary {
        recipe: recipe.name.clone(),
        dataset: recipe.data.dataset.clone(),
        backend: options.backend.name().to_string(),
        seed: recipe.training.seed,
        epochs_run: fit.epochs_run,
        best_epoch: fit.best_epoch,
        train_seconds: fit.seconds,
        train_samples_per_second: fit.samples_per_second,
        metrics: SummaryMetrics {
            train_accuracy: train_eval.accuracy,
            train_loss: train_eval.loss,
            valid_accuracy: valid_eval.accuracy,
            valid_loss: valid_eval.loss,
            test_accuracy: test_eval.map(|e| e.accuracy),
            test_loss: test_eval.map(|e| e.loss),
        },
        run_dir: run_dir.clone(),
    };
    let json = serde_json::to_string_pretty(&summary)?;
    write_atomically(&run_dir.join(files::SUMMARY), json.as_bytes())?;
    Ok(summary)
}

/// What the training loop produced.
struct Fit {
    model: Classifier,
    epochs_run: usize,
    best_epoch: usize,
    seconds: f64,
    samples_per_second: f64,
}

fn fit(
    recipe: &Recipe,
    data: &RunData,
    device: &Device,
    run_dir: &Path,
    (resume_epoch, history): (Option<usize>, History),
    options: &RunOptions,
) -> Result<Fit> {
    let plain = options.plain_progress;
    let after_epoch = options.after_epoch.as_ref().map(|c| c.0.clone());
    let training = &recipe.training;
    device.seed(training.seed);
    let autodiff = device.clone().autodiff();
    let model = Classifier::new(&recipe.model, data.shape, &autodiff)
        .with_regularization(&recipe.regularization);

    let history = Arc::new(Mutex::new(history));
    let recorder = EpochRecorder::new(history.clone(), after_epoch);
    let report = Arc::new(Mutex::new(WatchReport::default()));

    // Augmentation draws from its own seeded stream; a resumed run continues with a new one.
    let augment_seed = training.seed.wrapping_add(resume_epoch.unwrap_or(0) as u64);
    let train_batcher =
        ImageBatcher::new(data.kind).with_augmentation(recipe.data.augment.clone(), augment_seed);
    let train_loader = DataLoaderBuilder::new(train_batcher)
        .batch_size(training.batch_size)
        .shuffle(training.seed)
        .build(data.train.clone());
    let valid_loader = DataLoaderBuilder::new(ImageBatcher::new(data.kind))
        .batch_size(training.batch_size)
        .build(data.valid.clone());
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
    let mut supervised = SupervisedTraining::new(run_dir, train_loader, valid_loader)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
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

    let steps_per_epoch = data.train.len().div_ceil(training.batch_size);
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
    Ok(Fit {
        model: model.fork(device),
        epochs_run,
        best_epoch,
        seconds,
        samples_per_second,
    })
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
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!(
            "no checkpoints in '{}' (is it a run folder?)",
            run_dir.display()
        )
    })?;
    let mut epochs: Vec<usize> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse::<usize>()
                .ok()
        })
        .collect();
    epochs.sort_unstable();
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

/// Reads a run folder back: its recipe and a model loaded with its trained weights on `device`.
pub fn load_run(run_dir: &Path, device: &Device) -> Result<(Recipe, Classifier)> {
    let recipe_path = run_dir.join(files::RECIPE);
    let text = std::fs::read_to_string(&recipe_path).with_context(|| {
        format!(
            "'{}' is not a run folder (no {})",
            run_dir.display(),
            files::RECIPE
        )
    })?;
    let recipe = Recipe::parse(&recipe_path.display().to_string(), &text, &[])?;
    if recipe.model.task() == crate::recipe::Task::Gan {
        bail!(
            "'{}' is a GAN run ('{}'): it has no classifier to evaluate or predict with; draw images with `zoo sample {}`",
            run_dir.display(),
            recipe.name,
            run_dir.display()
        );
    }
    let model_path = run_dir.join(files::MODEL);
    let record = ModuleRecord::load(&model_path).with_context(|| {
        format!(
            "cannot read the model '{}' (did the run finish?)",
            model_path.display()
        )
    })?;
    let shape = crate::data::dataset_shape(&recipe.data);
    let model = Classifier::new(&recipe.model, shape, device).load_record(record);
    Ok((recipe, model))
}
