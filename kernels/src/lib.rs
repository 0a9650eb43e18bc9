//! CPU kernels shared by burn-zoo's models on Burn's flex backend.
//!
//! - [`matrix`]: a single-threaded strided matrix product on slices (`gemm`, the crate flex
//!   itself uses), for kernels that run their own loops over images or time steps.
//! - [`approx`]: tanh and sigmoid as rational functions, within 2e-6 of the library functions,
//!   written without calls so loops over them vectorize (flex calls libm per element).
//! - [`activation`]: tanh and LeakyReLU as single tensor operations on flex whose backward pass
//!   is one pass over the output, with Burn's own operations on every other backend.
//! - [`dropout`](mod@dropout): Burn's `Dropout` as one pass on flex, its mask a hash of a seed
//!   drawn from the device's generator and of the element's index, recomputed backward.

pub mod activation;
pub mod approx;
pub mod dropout;
pub mod matrix;

pub use activation::{leaky_relu, tanh};
pub use dropout::dropout;

use burn::tensor::{DType, Device, Tensor};

/// Whether `x` is an f32 tensor on flex, with or without autodiff: what the fused operations
/// cover.
fn on_flex_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && x.device().without_autodiff() == Device::flex()
}
