//! The training library of burn-zoo: recipes, backend selection, one run driver for every task,
//! and the four tasks (image classification, character language modelling, forecasting, GANs).
//!
//! A run is a function: [`train`] takes a [`Recipe`] and [`RunOptions`] and returns a
//! [`Summary`], writing a run folder (resolved recipe, checkpoints, model, `metrics.csv`,
//! `curves.png`, `summary.json`). The `zoo` command calls it; so do the experiments (studies,
//! searches, benchmarks) of the `zoo-experiments` crate.
//!
//! ```no_run
//! use zoo_train::{train, Backend, Recipe, RunOptions};
//!
//! let recipe = Recipe::load("mlp-mnist-mini", &["training.epochs=2".to_string()])?;
//! let summary = train(&recipe, &RunOptions { backend: Backend::Flex, ..Default::default() })?;
//! println!("test accuracy {:.2}%", 100.0 * summary.metrics.test_accuracy.unwrap_or(0.0));
//! # anyhow::Ok(())
//! ```
//!
//! Modules, in the direction of their dependencies: [`recipe`] (pure data), [`backend`] (the
//! one place a `--backend` name becomes a Burn `Device`), [`optim`], [`plot`], [`run`] (the
//! driver and the run folder), [`tasks`] (one module per task).
#![warn(missing_docs)]

pub mod allocator;
pub mod backend;
pub mod optim;
pub mod plot;
pub mod recipe;
pub mod run;
pub mod tasks;

use std::sync::{Mutex, PoisonError};

use anyhow::Result;

pub use backend::Backend;
pub use recipe::{Recipe, Task};
pub use run::options::{EpochCallback, EpochFigures, RunOptions};
pub use run::summary::{QualityScores, Summary, SummaryMetrics};

use run::driver::drive;
use tasks::classify::Classify;
use tasks::forecast::Forecasting;
use tasks::gan::train::AdversarialTraining;
use tasks::language_model::LanguageModelling;

/// Held for the whole of each [`train`] call. Burn's backends keep one random generator per
/// process (Flex's is a global behind a mutex), seeded by a run and drawn on for its initial
/// weights and every dropout mask; two runs drawing from it at once would each get some of the
/// other's numbers, and the same seed would no longer give the same run. It guards no data, so
/// a run that panicked while holding it leaves nothing to repair.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Trains `recipe` as `options` say, evaluates it (on the test set unless
/// [`RunOptions::skip_test`]) and writes the run folder. Every task goes through the same
/// driver; the task is the recipe's (`[model] kind`). The run goes on one of rayon's worker
/// threads (`zoo_kernels::threads::run_on_worker`), where the kernels' parallel parts start
/// without a hand-over between threads; the calling thread waits for it. It first sets the
/// allocator ([`allocator::keep_freed_memory`]), before that pool's threads start.
///
/// Runs asked for by several threads at once train one after another, so that each gives the
/// numbers it gives alone: Burn's backends keep one random generator per process. Calls from
/// inside rayon's pool (a `par_iter` of runs) could therefore wait on themselves; start them
/// from plain threads.
pub fn train(recipe: &Recipe, options: &RunOptions) -> Result<Summary> {
    allocator::keep_freed_memory();
    // Taken on the calling thread, before the run moves to rayon's pool. Taken on a worker, it
    // could deadlock: the worker holding it, while it waits inside a parallel loop, may pick up
    // another thread's queued run and then wait on itself.
    let _turn = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    zoo_kernels::threads::run_on_worker(|| match recipe.task() {
        Task::ImageClassification => drive::<Classify>(recipe, options),
        Task::CharLm => drive::<LanguageModelling>(recipe, options),
        Task::Forecast => drive::<Forecasting>(recipe, options),
        Task::Gan => drive::<AdversarialTraining>(recipe, options),
    })
}
