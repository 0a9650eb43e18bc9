//! The one run driver: [`drive`] takes any [`Task`] from a recipe to a finished run folder. It
//! owns what every task shares: the device, the run folder, the resolved recipe, the resume
//! point, the per-epoch history, and `summary.json`. A task brings its data, its model and its
//! training loop (burn-train's for the supervised tasks, its own for the GAN).

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::Device;

use crate::backend::smoke_test;
use crate::recipe::{differing_keys, Recipe};

use super::epoch_row::EpochRow;
use super::epoch_seed::EpochClock;
use super::folder::{CheckpointLayout, RunFolder};
use super::history::{BestBy, History};
use super::options::RunOptions;
use super::summary::{Summary, SummaryMetrics};

/// One task of the zoo (image classification, character language modelling, forecasting, the
/// adversarial GAN), as the driver sees it.
pub trait Task {
    /// The task's data, loaded once per run.
    type Data;
    /// The trained model, on the inference device.
    type Model;
    /// One row of the run's `metrics.csv`.
    type Epoch: EpochRow;
    /// The files of one epoch's checkpoint.
    const CHECKPOINT: CheckpointLayout;

    /// Loads (and for `--dry-run`, cuts down) the data the recipe names.
    fn load_data(recipe: &Recipe, options: &RunOptions) -> Result<Self::Data>;
    /// One line saying what is trained on what, printed when the run starts.
    fn describe(recipe: &Recipe, data: &Self::Data) -> String;
    /// The figure that picks the best epoch, if any.
    fn best_by(recipe: &Recipe) -> Option<BestBy>;
    /// Trains from scratch, or from the checkpoint of `run.resume_epoch`, recording every epoch
    /// in `run.history`.
    fn fit(run: &mut Run<Self::Epoch>, data: &Self::Data) -> Result<(Self::Model, FitStats)>;
    /// Saves the model and the task's other outputs into the run folder and returns the
    /// figures of `summary.json` (test figures only when `run.options.skip_test` is false).
    fn finish(
        run: &Run<Self::Epoch>,
        model: &Self::Model,
        data: &Self::Data,
    ) -> Result<SummaryMetrics>;
}

/// A run in progress, as a task's [`Task::fit`] sees it.
pub struct Run<R> {
    /// The resolved recipe (with `--dry-run`, one epoch).
    pub recipe: Recipe,
    /// How to run it.
    pub options: RunOptions,
    /// The inference device (`.autodiff()` to train).
    pub device: Device,
    /// The run folder.
    pub folder: RunFolder,
    /// The epoch whose checkpoint the run continues from, when resuming.
    pub resume_epoch: Option<usize>,
    /// The epochs recorded so far.
    pub history: History<R>,
    /// The epoch training is in, behind every per-epoch random stream.
    pub clock: EpochClock,
}

impl<R> Run<R> {
    /// The weights a fresh run starts from: `model` as built, or with
    /// [`RunOptions::init_from`], the weights that run saved as `file` loaded into it. Its
    /// recipe must describe the same model: a `[model]` key that differs (dropout rates
    /// excepted) is an error naming it. A resumed run keeps its checkpoint's weights.
    pub fn initial_weights<M: Module>(&self, file: &str, model: M) -> Result<M> {
        let Some(dir) = self.options.init_from.as_deref() else {
            return Ok(model);
        };
        if self.resume_epoch.is_some() {
            return Ok(model);
        }
        let from = RunFolder::open(dir)?;
        let trained = from.read_trained_recipe()?;
        if let Some(change) = differing_keys(&trained.model, &self.recipe.model)
            .into_iter()
            .find(|d| !d.key.contains("dropout"))
        {
            bail!(
                "cannot start from '{}': its model differs from recipe '{}' in key 'model.{}' ({} -> {}); --init-from needs the same [model] (only dropout rates may change)",
                dir.display(),
                self.recipe.name,
                change.key,
                change.before,
                change.after
            );
        }
        from.load_module(file, model)
            .with_context(|| format!("cannot start from '{}'", dir.display()))
    }
}

/// How a task's training went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitStats {
    /// Epochs completed.
    pub epochs_run: usize,
    /// The epoch with the best monitored figure.
    pub best_epoch: usize,
    /// Wall-clock seconds of training.
    pub seconds: f64,
    /// Training examples per second.
    pub samples_per_second: f64,
}

/// The recipe keys a resumed run may change: what the checkpoint does not depend on.
pub const RESUME_MAY_CHANGE: [&str; 4] = [
    "training.epochs",
    "description",
    "gan.quality_samples",
    "gan.quality_classifier",
];

/// A run folder resumes with `recipe` only if `recipe` differs from the recipe the checkpoints
/// were trained with in [`RESUME_MAY_CHANGE`] keys alone; any other difference is an error naming
/// the key.
fn check_resumable(folder: &RunFolder, recipe: &Recipe) -> Result<()> {
    let trained = folder.read_trained_recipe()?;
    if let Some(change) = differing_keys(&trained, recipe)
        .into_iter()
        .find(|d| !RESUME_MAY_CHANGE.contains(&d.key.as_str()))
    {
        bail!(
            "cannot resume '{}' with {change}: its checkpoints were trained with the first value; only {} may change when resuming (start a new run for another recipe)",
            folder.path().display(),
            RESUME_MAY_CHANGE.join(", ")
        );
    }
    Ok(())
}

/// Runs `recipe` as task `T`: device, run folder (new, or resumed from its last complete
/// checkpoint), data, training, the task's outputs and `summary.json`.
pub fn drive<T: Task>(recipe: &Recipe, options: &RunOptions) -> Result<Summary> {
    let device = options.backend.device()?;
    smoke_test(&device)?;
    let mut recipe = recipe.clone();
    if options.dry_run {
        recipe.training.epochs = 1;
    }
    let best_by = T::best_by(&recipe);
    let patience = recipe.training.early_stopping_patience;
    let folder = RunFolder::prepare(&recipe, options.run_dir.as_deref(), options.resume)?;
    let (resume_epoch, history) = if options.resume {
        check_resumable(&folder, &recipe)?;
        let mut history = History::<T::Epoch>::load(&folder, best_by, patience)
            .unwrap_or_else(|_| History::new(&folder, best_by, patience));
        // burn-train writes an epoch's checkpoint before the end-of-epoch hook records its
        // metrics, so a run killed in between has one without the other: take the last epoch
        // that has both.
        let epoch = folder.last_complete_checkpoint(&T::CHECKPOINT, history.last_epoch())?;
        history.truncate_to(epoch);
        let finished = folder.read_summary().is_ok();
        // A run killed after its last epoch but before its summary only needs finishing.
        if epoch > recipe.training.epochs || (epoch == recipe.training.epochs && finished) {
            bail!(
                "run '{}' already has {epoch} epochs of {}; pass --epochs N with N > {epoch} to train further",
                folder.path().display(),
                recipe.training.epochs
            );
        }
        (Some(epoch), history)
    } else {
        (None, History::new(&folder, best_by, patience))
    };
    let data = T::load_data(&recipe, options)?;
    println!(
        "training '{}' on {} ({}) with backend {}, {} epochs{}",
        recipe.name,
        recipe.data.dataset,
        T::describe(&recipe, &data),
        options.backend,
        recipe.training.epochs,
        resume_epoch.map_or(String::new(), |e| format!(", resuming after epoch {e}"))
    );
    // Written once the data has loaded, so a run that could not start leaves no recipe behind.
    folder.write_recipe(&recipe)?;
    let mut run = Run {
        clock: EpochClock::new(recipe.training.seed, resume_epoch.unwrap_or(0) + 1),
        recipe,
        options: options.clone(),
        device,
        folder,
        resume_epoch,
        history,
    };
    let (model, stats) = T::fit(&mut run, &data)?;
    let metrics = T::finish(&run, &model, &data)?;
    let summary = Summary {
        recipe: run.recipe.name.clone(),
        task: run.recipe.task().name().to_string(),
        dataset: run.recipe.data.dataset.to_string(),
        backend: options.backend.name().to_string(),
        seed: run.recipe.training.seed,
        epochs_run: stats.epochs_run,
        best_epoch: stats.best_epoch,
        train_seconds: stats.seconds,
        train_samples_per_second: stats.samples_per_second,
        metrics,
        run_dir: run.folder.path().to_path_buf(),
        finished_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
    };
    run.folder.write_summary(&summary)?;
    Ok(summary)
}
