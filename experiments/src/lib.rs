//! Experiments over many training runs of burn-zoo, built on the training library
//! ([`zoo_train`]) and never the other way round:
//!
//! - [`search`]: hyperparameter search (grid, random, successive halving, Hyperband, TPE) with
//!   every trial stored, so a killed search continues and several processes share a study;
//! - [`study`]: the regularization study, one recipe under each regularizer, side by side;
//! - [`bench`](mod@bench): training and inference throughput of recipes on each backend;
//! - [`gan_quality`]: the sample quality of a GAN run (MNIST score, Fréchet distance), judged
//!   by a classifier trained by one of the zoo's own recipes.
#![warn(missing_docs)]

pub mod bench;
pub mod gan_quality;
pub mod search;
pub mod study;
