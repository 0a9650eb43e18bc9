//! Every flex kernel of burn-zoo: the CPU code that makes Burn's pure-Rust `flex` backend fast
//! for the zoo's models, in one crate.
//!
//! Each tensor kernel is a Burn backend extension with its own autodiff backward on flex (f32),
//! and Burn's own operation everywhere else: on other backends, for other element types and
//! for layer settings the kernel does not cover. The one exception is the convolution, which
//! trains on the other backends as [`conv_gemm`]: Burn's own convolution gradient does not grow
//! its parallel work with the batch there. A model that calls them therefore runs on every
//! backend and gives Burn's results within rounding. The parameters stay those of Burn's layers,
//! so records do not change. The model crates (zoo-mlp, zoo-cnn, zoo-lstm, zoo-gan) call these
//! functions and carry no kernel code of their own.
//!
//! | kernel | replaces (on flex) | tested against, tolerance |
//! |---|---|---|
//! | [`conv2d`] ([`conv`]: [`FlexConv`](conv::FlexConv)) | `Conv2d::forward`, its input gradient (`conv2d_x_backward`) and weight gradient (`conv2d_weight_backward`): im2col + one GEMM per image, or for 3x3 kernels with stride 1 and at least eight channels each side Winograd's F(2x2, 3x3) (16 GEMMs per image on transformed tiles, both gradients in one pass), runs of four images per rayon task, partial weight gradients added in task order | `Conv2d::forward` on flex with autodiff: output and the gradients of input, weight and bias within 1e-4 absolute (the classic net's second layer; stride, padding and dilation; on the Winograd path odd output sides and uneven padding); the weight-gradient kernel alone against Burn's `conv2d_weight_backward`, 1e-4; on flex a layer without bias gives `Conv2d`'s result exactly |
//! | [`conv_gemm::conv2d_gemm`] ([`conv_gemm`]) | when training (autodiff tensors) on every backend but flex (ndarray, wgpu, cuda, CubeCL `cpu`; inference and ONNX capture keep Burn's `Conv2d`, so an export records a `Conv` node): `Conv2d::forward`, written as im2col (one strided slice per kernel tap) and one batched matrix product, so that autodiff's backward is batched matrix products too, whose work grows with the batch; at most 64 MiB of columns at once | `Conv2d::forward` on flex with autodiff: output and the gradients of input, weight and bias within 1e-4 (the classic net's second layer, whole and cut into runs of 2 and of 1 image; 5x5 with padding; stride 2 with uneven padding and no bias; dilation); on ndarray with autodiff `conv2d` gives exactly its result, without autodiff `Conv2d`'s |
//! | [`max_pool2d`] ([`pool`]: [`FlexPool`](pool::FlexPool)) | `MaxPool2d::forward` (indices, then their backward) for non-overlapping windows: one branch-free pass each way | `MaxPool2d::forward`: output exactly equal, input gradient within 1e-6 (sides the window does not divide too); ties send the gradient to the first maximum; overlapping windows and ndarray fall back |
//! | [`lstm_forward`] ([`lstm`]: [`FlexLstm`](lstm::FlexLstm)) | `Lstm::forward`: some twenty tensor ops per step, replaced by one operation per sequence (one GEMM for the input projection, one per step, hand-written backpropagation through time, parts of 32 samples as rayon tasks, their weight gradients added in order) | `Lstm::forward` on flex with autodiff: hidden states, final state and the gradients of input, initial state and all eight weights and biases within 1e-4; reversed layers and ndarray give `Lstm`'s result exactly |
//! | [`FusedAdam`] ([`adam`]: [`FusedAdamOps`](adam::FusedAdamOps)) | `burn::optim::Adam` without weight decay: a dozen whole-tensor ops per parameter, replaced by one pass (in place for the moments) | Burn's `Adam` with the same betas and epsilon: a layer after three steps within 1e-6, for a small parameter and one split across threads; on ndarray bit for bit |
//! | [`tanh`], [`leaky_relu`] ([`activation`]) | `burn::tensor::activation::{tanh, leaky_relu}`: one pass forward, one backward (the derivative from the output) | Burn's functions on flex with autodiff: values within 2e-6, input gradients within 1e-5; a strided input; ndarray and a slope that is not positive give Burn's result exactly |
//! | [`linear`](fn@linear) ([`linear`](mod@linear): [`FlexLinear`](linear::FlexLinear)) | `Linear::forward` and the activation after it (tanh, LeakyReLU or none): forward one rayon region of tiles, 32 samples by 128 outputs (GEMM into the bias, activation in place), backward one region (input gradient in tiles of 64 samples by 128 inputs beside weight gradient in 64-feature parts, each a whole-batch product), gradients no parent needs skipped | `Linear::forward` and Burn's activations on flex with autodiff: output and the gradients of input, weight and bias within 1e-4 (70 samples and 150 inputs, so parts of every size); bit-identical in pools of 1 and 3 threads; only the asked-for gradients come back; ndarray and layers without bias give Burn's result exactly |
//! | [`dropout`](fn@dropout) ([`dropout`](mod@dropout)) | `Dropout::forward`: a mask hashed from one seed (drawn from the device's generator) and the element index, recomputed backward, instead of a ChaCha draw per element | the dropped fraction within 0.01 of the probability and kept values scaled by exactly `1 / (1 - p)`; the gradient through the same mask; `Device::seed` repeats the masks (`tests/dropout_seed.rs`); identity outside training; on ndarray `Dropout::forward` exactly. The mask is not Burn's, by design |
//! | [`matrix::product`] | — (the strided GEMM on slices the kernels above run on one thread, through `gemm`, the crate flex itself uses) | the product by its definition, every layout of both operands, overwriting and accumulating, within 1e-5; cut into tiles by `matrix::par_tiles`, the bits of the whole product for both layouts of the right operand |
//! | [`approx::tanh`], [`approx::sigmoid`] | — (libm calls per element inside the kernels' loops) | `f32::tanh` and `1 / (1 + e^-x)` on `[-20, 20]` in steps of 0.01, within 2e-6 |
//!
//! Every kernel splits its work into parts of a fixed size and adds partial sums in a fixed
//! order, so results are bit-identical at any `RAYON_NUM_THREADS`. Their parallel parts start
//! fastest from one of rayon's own threads: [`threads::run_on_worker`] runs a whole job there
//! (`zoo_train::train` and the `zoo` command do). Each kernel also keeps rayon's other workers
//! looking for work for a millisecond after their last job, instead of asleep, so the next
//! kernel's parts start on them without a wake-up (see [`threads`]). Their element-wise loops
//! (gates, activations, Adam, pooling, dropout) run as AVX-512 or AVX2 code where the CPU has
//! it, picked at run time, with the bits of the baseline build (see `simd`).
//!
//! `cargo test -p zoo-kernels` runs those tests; `cargo bench -p zoo-kernels` times the
//! convolution and the LSTM against Burn's layers.
//!
//! ```
//! use burn::nn::conv::Conv2dConfig;
//! use burn::nn::pool::MaxPool2dConfig;
//! use burn::nn::DropoutConfig;
//! use burn::tensor::{Device, Tensor};
//! use zoo_kernels::activation::Pointwise;
//!
//! let device = Device::flex().autodiff();
//! let conv = Conv2dConfig::new([1, 8], [3, 3]).init(&device);
//! let pool = MaxPool2dConfig::new([2, 2]).init();
//! let images = Tensor::<4>::ones([2, 1, 28, 28], &device); // [batch, 1, 28, 28]
//! let x = zoo_kernels::conv2d(&conv, images, Some(Pointwise::Relu)); // [batch, 8, 26, 26]
//! let x = zoo_kernels::max_pool2d(&pool, x); // [batch, 8, 13, 13]
//! let x = zoo_kernels::dropout(&DropoutConfig::new(0.25).init(), x); // [batch, 8, 13, 13]
//! assert_eq!(x.dims(), [2, 8, 13, 13]);
//! let grads = x.sum().backward();
//! assert!(conv.weight.val().grad(&grads).is_some());
//! ```
#![warn(missing_docs)]

pub mod activation;
pub mod adam;
pub mod approx;
pub mod conv;
pub mod conv_gemm;
pub mod dropout;
mod flex;
pub mod linear;
pub mod lstm;
pub mod matrix;
pub mod pool;
mod simd;
pub mod threads;
mod winograd;

pub use activation::{leaky_relu, tanh};
pub use adam::FusedAdam;
pub use conv::conv2d;
pub use dropout::dropout;
pub use linear::linear;
pub use lstm::lstm_forward;
pub use pool::max_pool2d;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
