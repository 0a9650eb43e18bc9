//! A multi-layer perceptron for [Burn](https://burn.dev), written once for every backend.
//!
//! [`MlpConfig`] describes the network (input size, hidden widths, output size, activation,
//! dropout, optional batch norm), [`MlpConfig::validate`] checks it (a [`ConfigError`] names the
//! offending field) and [`MlpConfig::init`] builds an [`Mlp`] on any
//! [`Device`](burn::tensor::Device). The crate knows nothing of training or data: it is a plain
//! `burn::module::Module` that returns logits. Dropout runs through
//! [`zoo_kernels::dropout()`] (one pass on flex, Burn's `Dropout` elsewhere).
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use zoo_mlp::{Activation, MlpConfig};
//!
//! let device = Device::flex();
//! let mlp = MlpConfig::new()
//!     .with_hidden(vec![256, 128])
//!     .with_activation(Activation::Gelu)
//!     .with_dropout(0.2)
//!     .init(&device);
//! let images = Tensor::<2>::zeros([8, 784], &device); // [batch, 784]
//! let logits = mlp.forward(images); // [batch, 10]
//! assert_eq!(logits.dims(), [8, 10]);
//!
//! let bad = MlpConfig::new().with_hidden(vec![256, 0]);
//! assert_eq!(bad.validate().unwrap_err().to_string(), "hidden[1]: widths must be >= 1");
//! ```
#![warn(missing_docs)]

mod mlp;

pub use mlp::{HiddenLayer, Mlp, MlpConfig};
pub use zoo_model_core::{Activation, ConfigError};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
