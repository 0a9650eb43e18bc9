//! burn-zoo: a model zoo and experiment runner built on [Burn](https://burn.dev).
//!
//! This crate gathers the workspace: the four model families ([`mlp`], [`cnn`], [`lstm`],
//! [`gan`]), the flex kernels they call ([`kernels`]), the data loaders ([`datasets`]), the
//! training library behind the `zoo` command ([`train`]) and the experiments built on it
//! ([`experiments`]: search, regularization study, bench, GAN quality). Depend on a single model
//! crate (`zoo-mlp`, ...) when you only need the network.
//!
//! ```
//! use burn_zoo::burn::tensor::{Device, Tensor};
//! use burn_zoo::mlp::MlpConfig;
//!
//! let device = Device::flex();
//! let model = MlpConfig::new().with_hidden(vec![64]).init(&device);
//! let logits = model.forward(Tensor::<2>::zeros([2, 784], &device)); // [batch, 10]
//! assert_eq!(logits.dims(), [2, 10]);
//! ```

pub use burn;
pub use zoo_cnn as cnn;
pub use zoo_datasets as datasets;
pub use zoo_experiments as experiments;
pub use zoo_gan as gan;
pub use zoo_kernels as kernels;
pub use zoo_lstm as lstm;
pub use zoo_mlp as mlp;
pub use zoo_train as train;
