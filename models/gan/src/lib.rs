//! Generators and discriminators for [Burn](https://burn.dev), written once for every backend.
//!
//! [`GeneratorConfig`] and [`DiscriminatorConfig`] build two architectures (see
//! [`Architecture`]): the fully connected GAN of the original paper (latent 100 -> 256 -> 512 ->
//! pixels; pixels -> 512 -> 256 -> 1, LeakyReLU 0.2) and a small DCGAN (two transposed
//! convolutions up, two strided convolutions down) for any image whose height and width divide
//! by 4. A [`Generator`] maps `[batch, latent]` noise to images in `[-1, 1]`; a
//! [`Discriminator`] returns raw scores `[batch, 1]`, so the loss (non-saturating GAN, WGAN)
//! chooses what to do with them.
//!
//! For WGAN-GP, [`gradient_penalty`] needs no double backward: [`Discriminator::input_gradient`]
//! writes the gradient of the critic with respect to its input as an ordinary expression of the
//! weights, which Burn's first-order autodiff differentiates in one `.backward()`.
//!
//! Both configurations have a `validate()` that names the offending field in a [`ConfigError`]
//! (`init` panics with the same message). tanh and LeakyReLU run through
//! [`zoo_kernels::tanh`] and [`zoo_kernels::leaky_relu`] (one pass each on flex).
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use zoo_gan::{gradient_penalty, Architecture, DiscriminatorConfig, GeneratorConfig};
//!
//! let device = Device::flex();
//! let generator = GeneratorConfig::new(Architecture::Dcgan)
//!     .with_image([3, 32, 32])
//!     .init(&device);
//! let critic = DiscriminatorConfig::new(Architecture::Dcgan)
//!     .with_image([3, 32, 32])
//!     .with_batch_norm(false) // WGAN-GP needs a per-sample gradient
//!     .init(&device);
//!
//! let noise = Tensor::<2>::random([4, 100], Distribution::Normal(0.0, 1.0), &device); // [batch, latent]
//! let fake = generator.forward(noise); // [batch, 3, 32, 32], in [-1, 1]
//! assert_eq!(critic.forward(fake.clone()).dims(), [4, 1]); // [batch, 1] raw scores
//!
//! let real = Tensor::<4>::zeros([4, 3, 32, 32], &device);
//! let alpha = Tensor::<4>::random([4, 1, 1, 1], Distribution::Uniform(0.0, 1.0), &device);
//! let penalty = gradient_penalty(&critic, real, fake, alpha).unwrap(); // [1]
//! assert!(penalty.into_scalar::<f32>() >= 0.0);
//!
//! let bad = GeneratorConfig::new(Architecture::Dcgan).with_image([1, 30, 30]);
//! assert_eq!(bad.validate().unwrap_err().field(), "image");
//! ```
#![warn(missing_docs)]

mod architecture;
mod dcgan;
mod discriminator;
mod generator;
mod leaky;
mod mlp;
mod penalty;

pub use architecture::Architecture;
pub use dcgan::{DcganDiscriminator, DcganGenerator};
pub use discriminator::{Discriminator, DiscriminatorConfig};
pub use generator::{Generator, GeneratorConfig};
pub use mlp::{MlpDiscriminator, MlpGenerator};
pub use penalty::gradient_penalty;
pub use zoo_model_core::ConfigError;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
