//! Hyperparameter search: search spaces parsed from a recipe's `[search]` table, and samplers.
pub mod report;
pub mod runner;
pub mod sampler;
pub mod space;
pub mod storage;
