//! Convolutional networks for [Burn](https://burn.dev), written once for every backend.
//!
//! [`CnnConfig`] describes a stack of convolution blocks (channels, kernel, padding, stride,
//! max-pooling, batch norm, dropout) and a dense head; presets give the classic
//! pytorch/examples MNIST net ([`CnnConfig::classic`]), [`CnnConfig::lenet5`] and a deeper
//! batch-norm network ([`CnnConfig::deep_bn`]). The input size is part of the configuration, so
//! the same code serves 1x28x28 digits and 3x32x32 colour images. [`CnnConfig::validate`] checks
//! a configuration, including that every kernel and pooling window fits the feature map it
//! meets, and names the offending field in a [`ConfigError`]. The convolutions, poolings and
//! dropouts run through `zoo-kernels` (one kernel each on flex, Burn's layers elsewhere).
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use zoo_cnn::CnnConfig;
//!
//! let device = Device::flex();
//! let cnn = CnnConfig::classic().init(&device);
//! let images = Tensor::<4>::zeros([2, 1, 28, 28], &device); // [batch, channels, height, width]
//! assert_eq!(cnn.forward(images).dims(), [2, 10]); // [batch, classes]
//!
//! let colour = CnnConfig::classic().with_input([3, 32, 32]).init(&device);
//! assert_eq!(colour.forward(Tensor::<4>::zeros([2, 3, 32, 32], &device)).dims(), [2, 10]);
//!
//! let tiny = CnnConfig::lenet5().with_input([1, 8, 8]);
//! assert_eq!(
//!     tiny.validate().unwrap_err().to_string(),
//!     "blocks[1]: a 5x5 kernel does not fit the 4-pixel feature map"
//! );
//! ```
#![warn(missing_docs)]

mod block;
mod cnn;

pub use block::{ConvBlock, ConvBlockConfig};
pub use cnn::{Cnn, CnnConfig};
pub use zoo_model_core::{Activation, ConfigError};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
