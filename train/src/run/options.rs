//! How to run a recipe: everything that is not part of the recipe itself.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::Backend;

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
    /// Start a fresh run from the weights of this run folder (its `model.bpk`, or a GAN's
    /// `generator.bpk` and `discriminator.bpk`) instead of random ones: fine-tuning. Its recipe
    /// must describe the same model (every `[model]` key but the dropout rates).
    pub init_from: Option<PathBuf>,
    /// Run a few batches of one epoch only, end to end.
    pub dry_run: bool,
    /// Plain progress lines even in a terminal (no dashboard).
    pub plain_progress: bool,
    /// Do not read the test set (hyperparameter search trials).
    pub skip_test: bool,
    /// Called after every epoch with its figures; returning `true` stops the run there (the
    /// search's pruning).
    pub after_epoch: Option<EpochCallback>,
}

/// One epoch's named figures, as passed to [`RunOptions::after_epoch`]: the epoch number and
/// `(name, value)` pairs named as in `summary.json` (`valid_accuracy`, `valid_loss`, `d_loss`, ...).
pub type EpochFigures<'a> = (usize, &'a [(&'static str, f64)]);

/// A shared `after_epoch` hook: see [`RunOptions::after_epoch`].
#[derive(Clone)]
pub struct EpochCallback(pub Arc<dyn Fn(EpochFigures) -> bool + Send + Sync>);

impl std::fmt::Debug for EpochCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochCallback")
    }
}
