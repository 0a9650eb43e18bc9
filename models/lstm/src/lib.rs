//! LSTM models for [Burn](https://burn.dev), written once for every backend.
//!
//! Three models share one building block, [`LstmStack`] (stacked layers of Burn's
//! [`Lstm`](burn::nn::Lstm) or [`BiLstm`](burn::nn::BiLstm) with dropout between them):
//!
//! - [`SequenceClassifier`]: sequences to class logits (last state or mean pooling), e.g.
//!   MNIST read row by row as 28 steps of 28 pixels;
//! - [`CharLm`]: a character language model with stateful, seeded generation (a
//!   [`GenerateError`] names the step where a diverged model gives no distribution to sample);
//! - [`Forecaster`]: a window of a series to its next values.
//!
//! Every configuration has a `validate()` that names the offending field in a [`ConfigError`]
//! (`init` panics with the same message). Forward LSTM layers run through
//! [`zoo_kernels::lstm_forward`] (the whole sequence as one kernel on flex, Burn's `Lstm`
//! elsewhere) and dropout through [`zoo_kernels::dropout()`].
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use zoo_lstm::{CharLmConfig, LstmStackConfig, SequenceClassifierConfig};
//!
//! let device = Device::flex();
//! let classifier = SequenceClassifierConfig::new(LstmStackConfig::new(28, 64), 10).init(&device);
//! let rows = Tensor::<3>::zeros([2, 28, 28], &device); // [batch, time, features]
//! assert_eq!(classifier.forward(rows).dims(), [2, 10]); // [batch, classes]
//!
//! let lm = CharLmConfig::new(65).with_hidden_size(32).init(&device);
//! let text = lm.generate(&[0, 1, 2], 20, 0.8, 42)?; // 20 token ids, the same for seed 42
//! assert_eq!(text.len(), 20);
//!
//! let bad = SequenceClassifierConfig::new(LstmStackConfig::new(28, 64).with_dropout(1.0), 10);
//! assert_eq!(bad.validate().unwrap_err().to_string(), "lstm.dropout: must be in [0, 1), got 1");
//! # Ok::<(), zoo_lstm::GenerateError>(())
//! ```
#![warn(missing_docs)]

mod char_lm;
mod classifier;
mod forecaster;
mod stack;

pub use char_lm::{CharLm, CharLmConfig, GenerateError};
pub use classifier::{Pooling, SequenceClassifier, SequenceClassifierConfig};
pub use forecaster::{Forecaster, ForecasterConfig};
pub use stack::{LstmStack, LstmStackConfig, Recurrent};
pub use zoo_model_core::ConfigError;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
