//! A dense layer and its activation as one operation on flex, backward pass included.
//!
//! Burn's `Linear::forward` and an activation after it are, on flex, a matrix product that gemm
//! splits across rayon's threads, a broadcast bias addition and the activation; backward, two
//! more products, a sum over the batch and the activation's backward. Each is its own parallel
//! region, of tens of microseconds at batch 64, and at 2 threads `perf` found 16% of the MLP
//! GAN's cycles in the kernel's scheduler, putting rayon's workers to sleep and waking them
//! (README, "Performance against PyTorch"). [`linear`] keeps the layer's parameters and runs:
//!
//! - forward, one rayon region: tiles of 32 samples by 128 outputs, each one GEMM into rows
//!   that already hold the bias, then the activation in place;
//! - backward, one region: the input gradient in tiles of 64 samples by 128 input features and
//!   the weight gradient in parts of 64 input features (each a whole-batch product, so nothing
//!   is added across parts), side by side; the bias gradient as column sums in sample order.
//!
//! Gradients that no parent asks for are not computed: the discriminator's weights in a
//! generator step, the images in a discriminator step. Every output element comes from one
//! product of fixed shape, so results are bit-identical at any `RAYON_NUM_THREADS`, and the
//! tiles give the bits of the whole row band (see `matrix::par_tiles`).
//!
//! The part sizes follow gemm: it packs the weight matrix again for every call with more than
//! 48 rows (forward) and, for the input gradient of up to 128 outputs, whose weight operand is a
//! transposed view, for every call (above 128 outputs, see the transposed input gradient
//! below). 32-sample forward parts avoid the first; 64-sample input-gradient parts pack once
//! per batch of 64 instead of twice. Transposing the weight once per backward pass instead was
//! slower than gemm's own packing. `zoo bench gan-mnist --backends flex --batches 200`,
//! alternating runs on 2 cores (samples/s at 1 / 2 threads):
//!
//! | MLP GAN layers | 1 thread | 2 threads |
//! |---|---|---|
//! | Burn's `Linear` and activations | 5,777-5,897 | 5,569-5,752 |
//! | [`linear`], input gradient in parts of 32 samples | 5,063-5,380 | 6,146-6,238 |
//! | [`linear`], the weight transposed once per backward | 4,861-4,865 | 5,458-5,561 |
//! | [`linear`] in whole-width row parts | 5,768-5,910 | 6,424-6,431 |
//!
//! All ran on a rayon worker (see [`threads`](crate::threads)). The first row comes from an
//! earlier round, in which the third row's build gave 5,406-5,865 and 6,413-6,950 samples/s:
//! the machine is shared, so compare rows of one round.
//!
//! The row parts alone left a generator step's discriminator backward, which needs only the
//! input gradient, as one product on one thread at batch 64, and the forward as two. Cutting
//! the columns too gives every thread work (and 16 threads some): with the same kernels
//! otherwise, `zoo bench gan-mnist --backends flex --batches 150 --warmup 10`, two alternating
//! rounds on 2 cores, 2 threads: 9,718-10,311 samples/s in row parts, 10,708-11,278 in tiles
//! (that build also had Adam's unzeroed output buffer, see [`adam`](crate::adam); 1 thread:
//! level, 8,927-8,986 against 8,914-8,980).
//!
//! The input gradient `d_pre · weightᵀ` of a layer with more than 128 outputs is computed tile
//! by tile as its transpose, `weight[columns, :] · d_preᵀ`, with `d_preᵀ` made once per call,
//! and each tile written back transposed (`matrix::par_transposed_products`). Asked for the
//! product directly, gemm turns it into that transposed problem itself, but then gathers the
//! rows of the weights element by element into its packed layout for every tile; `perf` put as
//! many of the MLP GAN's samples in that gather as in the products' arithmetic. Given `d_preᵀ`,
//! gemm reads the weights where they are and packs `d_preᵀ` with contiguous copies. The sums run
//! in the same order, so the bits are the same (tested). A standalone gemm 0.19 benchmark on one
//! core, batch 64, `[input, output]` weights, GFLOP/s direct → transposed: `[784, 512]` 40.9 →
//! 88.2, `[256, 512]` 40.5 → 85.3, `[512, 784]` 73.2 → 90.1, `[784, 256]` 65.0 → 85.1,
//! `[784, 128]` 82.8 → 86.6, `[784, 64]` 83.8 → 75.6 (the transposes cost more than they save
//! below about 128 outputs). `zoo bench gan-mnist --backends flex --batches 300 --warmup 10`,
//! six alternating rounds, medians in samples/s: 1 thread 5,988 → 7,217, 2 threads 10,418 →
//! 12,596, with the same losses and weights after an epoch.
//!
//! Both gradients are written into new, unzeroed matrices (`matrix::par_products`): zeroing
//! them first, only for gemm to overwrite every value, was 5.8% of the training thread at 2
//! threads. Same benchmark, two alternating rounds: 12,499-12,596 → 13,936-14,117 samples/s at
//! 2 threads, 8,745-8,783 → 8,878-9,139 at 1; the bias gradient's column sums now run beside
//! the two products.
//!
//! Other backends, other element types, layers without a bias and activations the fused pass
//! does not cover run Burn's `Linear::forward` and Burn's activation.
//!
//! ```
//! use burn::nn::LinearConfig;
//! use burn::tensor::{Device, Tensor};
//! use zoo_kernels::activation::Pointwise;
//!
//! let device = Device::flex().autodiff();
//! let layer = LinearConfig::new(4, 3).init(&device);
//! let x = Tensor::<2>::ones([2, 4], &device).require_grad(); // [batch, 4]
//! let y = zoo_kernels::linear(&layer, x.clone(), Some(Pointwise::Tanh)); // [batch, 3]
//! assert_eq!(y.dims(), [2, 3]);
//! let grads = y.sum().backward();
//! assert_eq!(x.grad(&grads).unwrap().dims(), [2, 4]);
//! assert_eq!(layer.weight.val().grad(&grads).unwrap().dims(), [4, 3]);
//! ```

use std::borrow::Cow;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, AutodiffBackend, Backend, Flex, TensorMetadata};
use burn::nn::Linear;
use burn::prelude::*;

use crate::activation::{burn_activation, Pointwise};
use crate::flex::{self, flex_tensor, on_flex_f32, values};
use crate::matrix::{par_products, par_tiles, par_transposed_products, transpose, View};
use crate::simd;

/// `activation(layer.forward(x))` for `x` `[batch, d_input]`, as one operation on flex (see the
/// module documentation); `None` is no activation. Returns `[batch, d_output]`.
pub fn linear(layer: &Linear, x: Tensor<2>, activation: Option<Pointwise>) -> Tensor<2> {
    let covered = activation.is_none_or(Pointwise::fused);
    match &layer.bias {
        Some(bias) if covered && on_flex_f32(&x) => {
            Tensor::from_dispatch(<burn::backend::Dispatch as FlexLinear>::zoo_linear(
                x.into_dispatch(),
                layer.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
                activation,
            ))
        }
        _ => burn_activation(layer.forward(x), activation), // [batch, d_output]
    }
}

/// The fused dense layer as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait FlexLinear: Backend {
    /// `activation(x · weight + bias)`: `x` `[batch, d_input]`, `weight` `[d_input, d_output]`,
    /// `bias` `[d_output]`; returns `[batch, d_output]`.
    fn zoo_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activation: Option<Pointwise>,
    ) -> FloatTensor<Self>;

    /// The gradients of `x`, `weight` and `bias` from the output `y` of
    /// [`zoo_linear`](FlexLinear::zoo_linear) and its gradient; each only where `needed` (in
    /// that order) says so, `None` otherwise.
    #[allow(clippy::type_complexity)]
    fn zoo_linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        activation: Option<Pointwise>,
        needed: [bool; 3],
    ) -> (
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
    );
}

/// Samples per part of the forward pass: each part is one `[32, d_input] x [d_input, d_output]`
/// product, small enough that gemm reads the weights where they are (see the module
/// documentation). No part size depends on the thread count.
const ROWS_PER_PART: usize = 32;

/// Samples per part of the input gradient: gemm packs the weights (up to
/// [`TRANSPOSED_GRADIENT_ABOVE`] outputs) or `d_preᵀ` (above) once per part.
const GRADIENT_ROWS_PER_PART: usize = 64;

/// Outputs above which the input gradient's tiles are computed transposed (see
/// [`input_gradient`]): gemm's gather of a transposed weight view slows down with longer rows.
const TRANSPOSED_GRADIENT_ABOVE: usize = 128;

/// Output features per part of the forward pass and input features per part of the input
/// gradient: a layer's product is cut across its columns too, so that a batch of 64 still
/// makes several parts for every thread.
const COLUMNS_PER_PART: usize = 128;

/// Input features per part of the weight gradient: each part is the rows `[64, d_output]` of
/// the weight gradient, one product over the whole batch.
const INPUTS_PER_PART: usize = 64;

/// `tensor` with contiguous f32 storage (see [`flex::contiguous`]).
fn contiguous(tensor: FlexTensor) -> FlexTensor {
    flex::contiguous(tensor, "linear")
}

/// `[rows, columns]` of a matrix.
fn matrix_dims(tensor: &FlexTensor) -> [usize; 2] {
    let shape = tensor.shape();
    assert_eq!(
        shape.num_dims(),
        2,
        "the fused linear takes matrices, got shape {shape:?}"
    );
    [shape[0], shape[1]]
}

/// `d_x [batch, input] = d_pre [batch, output] · weightᵀ [output, input]`, in tiles of
/// [`GRADIENT_ROWS_PER_PART`] samples by [`COLUMNS_PER_PART`] input features.
///
/// Above [`TRANSPOSED_GRADIENT_ABOVE`] outputs each tile is computed as its transpose,
/// `weight[columns, :] · d_preᵀ[:, rows]`, with `d_preᵀ` made once per call (see the module
/// documentation); the bits are the same either way.
fn input_gradient(d_pre: &[f32], weight: &[f32], [batch, input, output]: [usize; 3]) -> Vec<f32> {
    let tile = [GRADIENT_ROWS_PER_PART, COLUMNS_PER_PART];
    if output <= TRANSPOSED_GRADIENT_ABOVE {
        // tile [rows, columns] = d_pre [rows, output] · weight[columns, :]ᵀ [output, columns]
        return par_products([batch, input], tile, |tile| {
            let d_pre = &d_pre[tile.first_row * output..(tile.first_row + tile.rows) * output];
            let weight = View::transposed(&weight[tile.first_column * output..], output);
            (output, View::rows(d_pre, output), weight)
        });
    }
    let d_pre_t = transpose(d_pre, batch, output); // [output, batch]
    par_transposed_products([batch, input], tile, |tile| {
        // tileᵀ [columns, rows] = weight[columns, :] [columns, output] · d_preᵀ[:, rows]
        let weight = View::rows(&weight[tile.first_column * output..], output);
        let d_pre_t = View::rows(&d_pre_t[tile.first_row..], batch);
        (output, weight, d_pre_t)
    })
}

impl FlexLinear for Flex {
    fn zoo_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activation: Option<Pointwise>,
    ) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        let [x, weight, bias] = [x, weight, bias].map(contiguous);
        let ([batch, input], [weight_rows, output]) = (matrix_dims(&x), matrix_dims(&weight));
        assert_eq!(input, weight_rows, "x and weight disagree on d_input");
        assert_eq!(
            values(&bias).len(),
            output,
            "bias and weight disagree on d_output"
        );
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        let mut y = bias.repeat(batch); // [batch, output], every row the bias
        par_tiles(
            &mut y,
            [batch, output],
            [ROWS_PER_PART, COLUMNS_PER_PART],
            |mut tile| {
                // tile [rows, columns] += x[rows, :] [rows, input] · weight[:, columns] [input, columns]
                let x = &x[tile.first_row * input..(tile.first_row + tile.rows) * input];
                let weight = View::rows(&weight[tile.first_column..], output);
                tile.product(input, View::rows(x, input), weight, true);
                if let Some(activation) = activation {
                    simd::widest(
                        #[inline(always)]
                        move || {
                            for row in 0..tile.rows {
                                tile.row_mut(row)
                                    .iter_mut()
                                    .for_each(|v| *v = activation.value(*v));
                            }
                        },
                    )
                }
            },
        );
        flex_tensor(y, [batch, output])
    }

    fn zoo_linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        activation: Option<Pointwise>,
        [need_x, need_weight, need_bias]: [bool; 3],
    ) -> (
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
    ) {
        crate::threads::keep_awake();
        let [x, weight, y, output_grad] = [x, weight, y, output_grad].map(contiguous);
        let ([batch, input], [_, output]) = (matrix_dims(&x), matrix_dims(&weight));
        let (x, weight, grad) = (values(&x), values(&weight), values(&output_grad));
        assert_eq!(
            grad.len(),
            batch * output,
            "the output gradient is not [batch, d_output]"
        );
        // The gradient of the pre-activation, [batch, output].
        let d_pre: Cow<[f32]> = match activation {
            None => Cow::Borrowed(grad),
            Some(activation) => Cow::Owned(simd::zip_map(grad, values(&y), move |g, y| {
                activation.input_grad(y, g)
            })),
        };
        let d_pre = &d_pre[..];
        let ((d_x, d_weight), d_bias) = rayon::join(
            || {
                rayon::join(
                    || need_x.then(|| input_gradient(d_pre, weight, [batch, input, output])),
                    || {
                        need_weight.then(|| {
                            // d_weight [input, output], rows [features, output] =
                            //     x[:, features]ᵀ [features, batch] · d_pre [batch, output]
                            let tile = [INPUTS_PER_PART, output.max(1)];
                            par_products([input, output], tile, |tile| {
                                let x = View::transposed(&x[tile.first_row..], input);
                                (batch, x, View::rows(d_pre, output))
                            })
                        })
                    },
                )
            },
            || {
                need_bias.then(|| {
                    let mut sums = vec![0.0; output]; // [output]
                    simd::widest(
                        #[inline(always)]
                        || {
                            for row in d_pre.chunks_exact(output.max(1)) {
                                sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
                            }
                        },
                    );
                    sums
                })
            },
        );
        (
            d_x.map(|d| flex_tensor(d, [batch, input])),
            d_weight.map(|d| flex_tensor(d, [input, output])),
            d_bias.map(|d| flex_tensor(d, [output])),
        )
    }
}

impl<B: Backend + FlexLinear, C: CheckpointStrategy> FlexLinear for Autodiff<B, C> {
    fn zoo_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activation: Option<Pointwise>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct LinearBackward;

        impl<B: Backend + FlexLinear> Backward<B, 3> for LinearBackward {
            type State = (NodeId, NodeId, FloatTensor<B>, Option<Pointwise>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let grad = grads.consume::<B>(&ops.node);
                let (x_id, weight_id, y, activation) = ops.state;
                let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_id);
                let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_id);
                let needed = ops.parents.each_ref().map(Option::is_some);
                let (d_x, d_weight, d_bias) =
                    B::zoo_linear_backward(x, weight, y, grad, activation, needed);
                for (parent, gradient) in ops.parents.into_iter().zip([d_x, d_weight, d_bias]) {
                    if let (Some(node), Some(gradient)) = (parent, gradient) {
                        grads.register::<B>(node.id, gradient);
                    }
                }
            }
        }

        let nodes = [x.node(), weight.node(), bias.node()];
        let [x_in, weight_in, bias_in] = [&x, &weight, &bias].map(|t| t.primitive().clone());
        let forward = || B::zoo_linear(x_in, weight_in, bias_in, activation);
        match LinearBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let ids = (prep.checkpoint(&x), prep.checkpoint(&weight));
                let y = forward();
                prep.finish((ids.0, ids.1, y.clone(), activation), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward()),
        }
    }

    /// Gradients are not differentiated again (Burn has no double backward): the inner
    /// backend's backward, its results untracked.
    fn zoo_linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        activation: Option<Pointwise>,
        needed: [bool; 3],
    ) -> (
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
    ) {
        let (a, b, c) = B::zoo_linear_backward(
            x.into_primitive(),
            weight.into_primitive(),
            y.into_primitive(),
            output_grad.into_primitive(),
            activation,
            needed,
        );
        let lift = |t: Option<FloatTensor<B>>| t.map(Self::from_inner);
        (lift(a), lift(b), lift(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::product;
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tolerance};

    const ACTIVATIONS: [Option<Pointwise>; 4] = [
        None,
        Some(Pointwise::Relu),
        Some(Pointwise::Tanh),
        Some(Pointwise::LeakyRelu { slope: 0.2 }),
    ];

    /// Burn's layer and activation, for comparison.
    fn reference(layer: &Linear, x: Tensor<2>, activation: Option<Pointwise>) -> Tensor<2> {
        burn_activation(layer.forward(x), activation)
    }

    /// Output and the gradients of input, weight and bias of a weighted sum of the output.
    fn run(
        f: impl Fn(&Linear, Tensor<2>) -> Tensor<2>,
        layer: &Linear,
        x: &Tensor<2>,
    ) -> [TensorData; 4] {
        let x = x.clone().require_grad();
        let y = f(layer, x.clone());
        let weights = Tensor::<2>::from_data(
            TensorData::new(
                (0..y.dims().iter().product::<usize>())
                    .map(|i| (i as f32 * 0.37).sin())
                    .collect::<Vec<f32>>(),
                y.dims(),
            ),
            &y.device(),
        );
        let grads = (y.clone() * weights).sum().backward();
        let bias = layer.bias.as_ref().expect("a bias");
        [
            y.into_data(),
            x.grad(&grads).expect("an input gradient").into_data(),
            layer
                .weight
                .val()
                .grad(&grads)
                .expect("a weight gradient")
                .into_data(),
            bias.val()
                .grad(&grads)
                .expect("a bias gradient")
                .into_data(),
        ]
    }

    #[test]
    fn matches_burns_layer_with_gradients() {
        let device = Device::flex().autodiff();
        // 70 samples: two whole parts and a short one; 150 inputs: two weight-gradient parts
        // and a short one. 200 outputs take the transposed input gradient.
        for outputs in [40, 200] {
            let layer = LinearConfig::new(150, outputs).init(&device);
            let x = Tensor::<2>::random([70, 150], Distribution::Normal(0.0, 1.0), &device);
            compare_with_burn(&layer, &x);
        }
    }

    fn compare_with_burn(layer: &Linear, x: &Tensor<2>) {
        for activation in ACTIVATIONS {
            let fused = run(|l, x| linear(l, x, activation), layer, x);
            let expected = run(|l, x| reference(l, x, activation), layer, x);
            for (name, (f, e)) in ["output", "input grad", "weight grad", "bias grad"]
                .iter()
                .zip(fused.iter().zip(&expected))
            {
                assert_eq!(f.shape(), e.shape(), "{name} shape, {activation:?}");
                f.assert_approx_eq::<f32>(e, Tolerance::absolute(1e-4));
            }
        }
    }

    #[test]
    fn the_transposed_input_gradient_has_the_bits_of_the_direct_product() {
        let values = |n: usize, seed: f32| -> Vec<f32> {
            (0..n).map(|i| (i as f32 * 0.731 + seed).sin()).collect()
        };
        // Outputs on both sides of the switch, whole and short parts of samples and columns.
        for [batch, input, output] in [
            [64, 784, 512],
            [70, 300, 129],
            [17, 100, 784],
            [64, 256, 128],
            [1, 5, 200],
        ] {
            let d_pre = values(batch * output, 1.0); // [batch, output]
            let weight = values(input * output, 2.0); // [input, output]
            let mut direct = vec![0.0; batch * input]; // [batch, input]
            let weight_t = View::transposed(&weight, output); // [output, input]
            product(
                &mut direct,
                [batch, output, input],
                View::rows(&d_pre, output),
                weight_t,
                false,
            );
            let tiled = input_gradient(&d_pre, &weight, [batch, input, output]);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&tiled), bits(&direct), "[{batch}, {input}, {output}]");
        }
    }

    #[test]
    fn only_the_gradients_asked_for_are_computed() {
        let device = Device::flex().autodiff();
        let layer = LinearConfig::new(5, 3).init(&device);
        // No gradient for the input: the weight's still comes.
        let x = Tensor::<2>::random([4, 5], Distribution::Default, &device);
        let grads = linear(&layer, x.clone(), None).sum().backward();
        assert!(x.grad(&grads).is_none());
        assert!(layer.weight.val().grad(&grads).is_some());
        // A layer taken out of the graph: only the input's.
        let frozen = layer.clone().no_grad();
        let x = x.require_grad();
        let grads = linear(&frozen, x.clone(), Some(Pointwise::Tanh))
            .sum()
            .backward();
        assert_eq!(x.grad(&grads).expect("input gradient").dims(), [4, 5]);
        assert!(frozen.weight.val().grad(&grads).is_none());
        assert!(frozen.bias.as_ref().unwrap().val().grad(&grads).is_none());
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::random([100, 200], Distribution::Normal(0.0, 1.0), &device);
        // 96 outputs: the direct input gradient; 300: the transposed one.
        for outputs in [96, 300] {
            let layer = LinearConfig::new(200, outputs).init(&device);
            let in_pool = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a thread pool");
                pool.install(|| run(|l, x| linear(l, x, Some(Pointwise::Tanh)), &layer, &x))
            };
            assert_eq!(in_pool(1), in_pool(3), "{outputs} outputs");
        }
    }

    #[test]
    fn other_backends_and_layers_run_burns_operations() {
        #[allow(deprecated)]
        let device = Device::ndarray();
        let layer = LinearConfig::new(6, 4).init(&device);
        let x = Tensor::<2>::random([3, 6], Distribution::Default, &device);
        for activation in ACTIVATIONS {
            assert_eq!(
                linear(&layer, x.clone(), activation).into_data(),
                reference(&layer, x.clone(), activation).into_data()
            );
        }
        let flex = Device::flex();
        let no_bias = LinearConfig::new(6, 4).with_bias(false).init(&flex);
        let x = Tensor::<2>::from_data(x.into_data(), &flex);
        assert_eq!(
            linear(&no_bias, x.clone(), None).into_data(),
            no_bias.forward(x).into_data()
        );
    }
}
