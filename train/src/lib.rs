//! Recipes, backend selection, training, evaluation and reports for burn-zoo; the library
//! behind the `zoo` command.
//!
//! A run is a function: [`train`] takes a [`Recipe`] and [`RunOptions`] and returns a
//! [`Summary`], writing a run folder (resolved recipe, model, `metrics.csv`, `summary.json`,
//! `curves.png`, the log). The CLI calls it; so do studies and searches.
//!
//! ```no_run
//! use zoo_train::{train, Backend, Recipe, RunOptions};
//!
//! let recipe = Recipe::load("mlp-mnist-mini", &["training.epochs=2".to_string()])?;
//! let summary = train(&recipe, &RunOptions { backend: Backend::Flex, ..Default::default() })?;
//! println!("test accuracy {:.2}%", 100.0 * summary.metrics.test_accuracy.unwrap_or(0.0));
//! # anyhow::Ok(())
//! ```
#![warn(missing_docs)]

pub mod adam;
pub mod allocator;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod data;
pub mod evaluate;
pub mod forecast;
pub mod gan;
pub mod history;
pub mod language_model;
pub mod max_norm;
pub mod model;
pub mod model_spec;
pub mod optimizer;
pub mod plot;
pub mod predict;
pub mod progress;
pub mod recipe;
pub mod run;
pub mod search;
pub mod setup;
pub mod study;

pub use backend::Backend;
pub use recipe::Recipe;
pub use run::{load_run, train, RunOptions, Summary, SummaryMetrics};
