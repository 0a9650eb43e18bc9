//! The run driver and everything a run writes: one driver for every task (behind
//! [`crate::train`]), the run folder (atomic writes, checkpoints, the resume scan), the
//! per-epoch history, progress displays, `summary.json`, and the supervised loop on burn-train
//! that three tasks share.

pub(crate) mod driver;
pub(crate) mod epoch_progress;
pub mod epoch_row;
pub mod epoch_seed;
pub mod folder;
pub mod history;
pub mod listing;
pub mod options;
pub(crate) mod progress;
pub mod summary;
pub mod supervised;
pub mod tensorboard;
