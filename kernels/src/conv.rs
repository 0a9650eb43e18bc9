//! Burn's `Conv2d`, computed on the flex CPU backend as matrix products (zoo-cnn's convolution
//! blocks run through it).
//!
//! flex runs a convolution's forward pass directly, its input gradient as a transposed
//! convolution and its weight gradient as another convolution whose kernel is the whole output
//! map (24x24 for the classic net's second layer), the last two at a fraction of its
//! matrix-multiply speed. [`conv2d`] computes all three on flex per image, each rayon task taking
//! a run of four images: im2col of the image into a buffer that stays in cache, then one GEMM
//! (forward: weight x patches; input gradient: weightᵀ x output gradient, added back where
//! im2col read; weight gradient: patches x output gradientᵀ into the task's transposed partial
//! sum, the partials added in task order and transposed once). A 3x3 convolution with stride 1
//! and at least eight channels each side (the classic net's second layer, every layer of
//! `deep_bn` but the first) takes Winograd's F(2x2, 3x3) instead (`winograd.rs`), with 2.25
//! times fewer multiplications, and computes both of its gradients in one pass over the images.
//! The runs do not depend on the thread count, so neither do the results, to the last bit. An
//! activation after the convolution ([`Pointwise`]) is applied to each image's output while it
//! is in cache, and its backward pass runs before the three gradients. Every other backend, and
//! any convolution this does not cover (groups, no bias, `Same` padding), goes through `Conv2d`
//! unchanged. The parameters stay those of the `Conv2d`, so records do not change.
//!
//! ```
//! use burn::nn::conv::Conv2dConfig;
//! use burn::tensor::{Device, Tensor};
//! use zoo_kernels::activation::Pointwise;
//!
//! let device = Device::flex().autodiff();
//! let conv = Conv2dConfig::new([1, 4], [3, 3]).init(&device);
//! let x = Tensor::<4>::ones([2, 1, 8, 8], &device); // [batch, channels, height, width]
//! let y = zoo_kernels::conv2d(&conv, x, Some(Pointwise::Relu)); // [batch, 4, 6, 6]
//! assert_eq!(y.dims(), [2, 4, 6, 6]);
//! let grads = y.sum().backward();
//! assert!(conv.weight.val().grad(&grads).is_some());
//! ```

use crate::activation::{backend_activation, burn_activation, FlexActivation, Pointwise};
use crate::conv_gemm::conv2d_gemm;
use crate::flex::{flex_tensor, on_flex_f32, par_build, par_build_with};
use crate::matrix::{product, View};
use crate::simd;
use crate::winograd::Winograd;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Flex, TensorMetadata};
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use burn::tensor::{DType, Shape};
use rayon::prelude::*;

/// `conv.forward(x)`: through the flex kernels of [`FlexConv`] when `x` lives on the flex
/// backend (with or without autodiff) and the convolution has a bias, one group and no `Same`
/// padding; when training (`x` an autodiff tensor) on any other backend, as im2col and a batched
/// matrix product ([`conv2d_gemm`], whose backward scales with the batch); `Conv2d::forward`
/// otherwise: inference off flex keeps Burn's convolution, and so does a capture device, so an
/// ONNX export records a `Conv` node. Shapes as `Conv2d`:
/// `[batch, in, height, width] -> [batch, out, out_height, out_width]`. Then `activation`, if
/// any: fused into the flex kernels, Burn's own operation elsewhere.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>, activation: Option<Pointwise>) -> Tensor<4> {
    if let Some(unfused) = activation.filter(|activation| !activation.fused()) {
        return burn_activation(conv2d(conv, x, None), Some(unfused));
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => return burn_activation(conv.forward(x), activation),
    };
    let on_flex = x.device().without_autodiff() == Device::flex();
    let f32_on_flex = on_flex_f32(&x) && conv.weight.val().dtype() == DType::F32;
    match &conv.bias {
        Some(bias) if f32_on_flex && conv.groups == 1 => {
            let options = ConvOptions {
                stride: conv.stride,
                padding,
                dilation: conv.dilation,
                groups: 1,
            };
            Tensor::from_dispatch(<burn::backend::Dispatch as FlexConv>::zoo_conv2d(
                x.into_dispatch(),
                conv.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
                options,
                activation,
            ))
        }
        _ if !on_flex && x.is_autodiff() => burn_activation(conv2d_gemm(conv, x), activation),
        _ => burn_activation(conv.forward(x), activation),
    }
}

/// A 2-d convolution with bias whose forward pass and gradients the backend may compute its own
/// way (by default Burn's operations).
#[backend_extension(Flex, Autodiff)]
pub trait FlexConv: Backend {
    /// Convolution of `x` `[batch, in, h, w]` with `weight` `[out, in, kh, kw]` plus `bias`
    /// `[out]`, then `activation`: `[batch, out, oh, ow]`.
    fn zoo_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        activation: Option<Pointwise>,
    ) -> FloatTensor<Self> {
        backend_activation::<Self>(Self::conv2d(x, weight, Some(bias), options), activation)
    }

    /// The gradient of the loss with respect to `x` `[batch, in, h, w]`, from the output
    /// gradient `[batch, out, oh, ow]`.
    fn zoo_conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options)
    }

    /// The gradient of the loss with respect to `weight` `[out, in, kh, kw]`, from the input
    /// `x` `[batch, in, h, w]` and the output gradient `[batch, out, oh, ow]`.
    fn zoo_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }

    /// The gradients with respect to `x` and `weight` together, for a backend that shares
    /// work between [`zoo_conv2d_x_grad`](Self::zoo_conv2d_x_grad) and
    /// [`zoo_conv2d_weight_grad`](Self::zoo_conv2d_weight_grad).
    fn zoo_conv2d_x_and_weight_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        grads_one_after_the_other::<Self>(x, weight, output_grad, options)
    }

    /// The gradient of the loss with respect to `bias` `[out]`, from the output gradient
    /// `[batch, out, oh, ow]`: its sum over the batch and the pixels.
    fn zoo_conv2d_bias_grad(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d_bias_backward(x, bias, output_grad)
    }
}

/// [`FlexConv::zoo_conv2d_x_grad`], then [`FlexConv::zoo_conv2d_weight_grad`].
fn grads_one_after_the_other<B: FlexConv>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    output_grad: FloatTensor<B>,
    options: ConvOptions<2>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let grad_x = B::zoo_conv2d_x_grad(
        x.clone(),
        weight.clone(),
        output_grad.clone(),
        options.clone(),
    );
    let grad_weight = B::zoo_conv2d_weight_grad(x, weight, output_grad, options);
    (grad_x, grad_weight)
}

/// The element-wise sum of the tasks' partial gradients of `len` values, added in task order,
/// so the result does not depend on which thread ran which task.
fn sum_in_order(partials: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut total = vec![0.0f32; len];
    for partial in partials {
        total.iter_mut().zip(partial).for_each(|(t, p)| *t += p);
    }
    total
}

/// Whether the flex kernels cover a convolution of these tensors: one group, all in f32.
fn covered(options: &ConvOptions<2>, tensors: [&FlexTensor; 3]) -> bool {
    options.groups == 1 && tensors.iter().all(|t| t.dtype() == DType::F32)
}

/// Consecutive images per rayon task, whatever the thread count: a batch of 64 gives 16 tasks,
/// enough for 16 cores, and the weight gradient adds the tasks' partial sums in task order, so
/// the result is bit-identical at any `RAYON_NUM_THREADS`. Larger runs were not faster on 2
/// cores: each image is already one GEMM of at least `[out, in*kh*kw] x [in*kh*kw, oh*ow]`.
const IMAGES_PER_TASK: usize = 4;

impl FlexConv for Flex {
    fn zoo_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        activation: Option<Pointwise>,
    ) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        if !covered(&options, [&x, &weight, &bias]) {
            let pre = Self::conv2d(x, weight, Some(bias), options);
            return backend_activation::<Self>(pre, activation);
        }
        let shape = ConvShape::of(&x, &weight, &options);
        let (out, rows, pixels, image_len) = shape.sizes();
        let (x, weight, bias) = (
            x.to_contiguous(),
            weight.to_contiguous(),
            bias.to_contiguous(),
        );
        let input: &[f32] = x.as_slice().expect("contiguous input");
        let weights: &[f32] = weight.as_slice().expect("contiguous weight"); // [out, in*kh*kw]
        let bias: &[f32] = bias.as_slice().expect("contiguous bias");
        let len = shape.batch * out * pixels;
        if len == 0 {
            return flex_tensor(Vec::new(), shape.output());
        }
        let part = IMAGES_PER_TASK * out * pixels;
        if let Some(winograd) = shape.winograd(&options) {
            // The kernels U [16, out, in]; the output [batch, out, oh*ow].
            let u = winograd.kernels(weights);
            let output = par_build(len, part, |run, run_output| {
                winograd.with_work(|work| {
                    for (i, image_output) in run_output.chunks_mut(out * pixels).enumerate() {
                        let image = &input[(run * IMAGES_PER_TASK + i) * image_len..][..image_len];
                        winograd.forward(&u, image, bias, image_output, work);
                        activate(image_output, activation);
                    }
                })
            });
            return flex_tensor(output, shape.output());
        }
        // Per image: im2col into a buffer that stays in cache, the bias in every output plane,
        // then one GEMM adds weight [out, in*kh*kw] x patches [in*kh*kw, oh*ow], and the
        // activation runs over the image's output while it is still in cache.
        let patches = &shape.patches;
        // [batch, out, oh*ow]
        let output = par_build(len, part, |run, run_output| {
            let mut cols = vec![0.0f32; rows * pixels]; // [in*kh*kw, oh*ow]
            for (i, image_output) in run_output.chunks_mut(out * pixels).enumerate() {
                let image = run * IMAGES_PER_TASK + i;
                patches.write(&input[image * image_len..][..image_len], &mut cols);
                for (plane, &b) in image_output.chunks_mut(pixels).zip(bias) {
                    plane.fill(b);
                }
                let (lhs, rhs) = (View::rows(weights, rows), View::rows(&cols, pixels));
                product(image_output, [out, rows, pixels], lhs, rhs, true);
                activate(image_output, activation);
            }
        });
        flex_tensor(output, shape.output())
    }

    fn zoo_conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        if !covered(&options, [&x, &weight, &output_grad]) {
            return Self::conv2d_x_backward(x, weight, output_grad, options);
        }
        let shape = ConvShape::of(&x, &weight, &options);
        let (out, rows, pixels, image_len) = shape.sizes();
        let (weight, output_grad) = (weight.to_contiguous(), output_grad.to_contiguous());
        let weights: &[f32] = weight.as_slice().expect("contiguous weight"); // [out, in*kh*kw]
        let grad: &[f32] = output_grad.as_slice().expect("contiguous output gradient");
        let len = shape.batch * image_len;
        if len == 0 || pixels == 0 {
            return flex_tensor(vec![0.0; len], x.shape());
        }
        let part = IMAGES_PER_TASK * image_len;
        if let Some(winograd) = shape.winograd(&options) {
            // The kernels U [16, out, in]; the input gradient [batch, in, h, w].
            let u = winograd.kernels(weights);
            let grad_x = par_build(len, part, |run, run_grad| {
                winograd.with_work(|work| {
                    for (i, image_grad) in run_grad.chunks_mut(image_len).enumerate() {
                        let image = run * IMAGES_PER_TASK + i;
                        let image_output_grad = &grad[image * out * pixels..][..out * pixels];
                        winograd.input_grad(&u, image_output_grad, image_grad, work);
                    }
                })
            });
            return flex_tensor(grad_x, x.shape());
        }
        // Per image: the patches' gradient weightᵀ [in*kh*kw, out] x output gradient
        // [out, oh*ow] in one GEMM, then each patch entry added back where im2col read it.
        let patches = &shape.patches;
        // [batch, in, h, w]
        let grad_x = par_build(len, part, |run, run_grad| {
            let mut cols = vec![0.0f32; rows * pixels]; // [in*kh*kw, oh*ow]
            for (i, image_grad) in run_grad.chunks_mut(image_len).enumerate() {
                let image = run * IMAGES_PER_TASK + i;
                let image_output_grad = &grad[image * out * pixels..][..out * pixels];
                let lhs = View::transposed(weights, rows);
                let rhs = View::rows(image_output_grad, pixels);
                product(&mut cols, [rows, out, pixels], lhs, rhs, false);
                patches.add_back(&cols, image_grad);
            }
        });
        flex_tensor(grad_x, x.shape())
    }

    fn zoo_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        if !covered(&options, [&x, &weight, &output_grad]) {
            return Self::conv2d_weight_backward(x, weight, output_grad, options);
        }
        let shape = ConvShape::of(&x, &weight, &options);
        let (out, rows, pixels, image_len) = shape.sizes();
        let batch = shape.batch;
        let (x, output_grad) = (x.to_contiguous(), output_grad.to_contiguous());
        let input: &[f32] = x.as_slice().expect("contiguous input");
        let grad: &[f32] = output_grad.as_slice().expect("contiguous output gradient");
        if let Some(winograd) = shape.winograd(&options) {
            // Each task adds its images' dU [16, out, in] into a partial of its own; the
            // partials are added in task order, the same at any thread count.
            let partials: Vec<Vec<f32>> = (0..batch.div_ceil(IMAGES_PER_TASK))
                .into_par_iter()
                .map(|run| {
                    let mut du = vec![0.0f32; winograd.kernels_len()]; // [16, out, in]
                    let images = run * IMAGES_PER_TASK..((run + 1) * IMAGES_PER_TASK).min(batch);
                    winograd.with_work(|work| {
                        for image in images {
                            let image_in = &input[image * image_len..][..image_len];
                            let image_grad = &grad[image * out * pixels..][..out * pixels];
                            winograd.add_kernel_grad(image_in, image_grad, &mut du, work);
                        }
                    });
                    du
                })
                .collect();
            let total = sum_in_order(partials, winograd.kernels_len()); // [16, out, in]
            return flex_tensor(winograd.weight_grad(&total), weight.shape());
        }
        // Each task takes a run of IMAGES_PER_TASK images: im2col of one image into a buffer
        // that stays in cache, then one GEMM adds that image's share into the task's own partial
        // gradient. The partials are then added in task order, the same at any thread count.
        // The partials are transposed, [in*kh*kw, out] = patches [in*kh*kw, oh*ow] x output
        // gradientᵀ [oh*ow, out]: gemm then packs the output gradient (out x oh*ow values)
        // rather than the patches (in*kh*kw x oh*ow, 4.5 times more for the classic second
        // layer), and runs the product at 108 GFLOP/s instead of 88 on one Zen 4 core.
        let partials: Vec<Vec<f32>> = (0..batch.div_ceil(IMAGES_PER_TASK))
            .into_par_iter()
            .map(|run| {
                let mut grad_weight_t = vec![0.0f32; rows * out]; // [in*kh*kw, out]
                let mut cols = vec![0.0f32; rows * pixels]; // [in*kh*kw, oh*ow]
                let images = run * IMAGES_PER_TASK..((run + 1) * IMAGES_PER_TASK).min(batch);
                for image in images {
                    let image_in = &input[image * image_len..][..image_len];
                    shape.patches.write(image_in, &mut cols);
                    let image_grad = &grad[image * out * pixels..][..out * pixels]; // [out, oh*ow]
                    let patches = View::rows(&cols, pixels); // [in*kh*kw, oh*ow]
                    let grad_t = View::transposed(image_grad, pixels); // [oh*ow, out]
                    product(
                        &mut grad_weight_t,
                        [rows, pixels, out],
                        patches,
                        grad_t,
                        true,
                    );
                }
                grad_weight_t
            })
            .collect();
        let total_t = sum_in_order(partials, rows * out); // [in*kh*kw, out]
                                                          // [out, in*kh*kw]
        let total: Vec<f32> = (0..out * rows)
            .map(|i| total_t[(i % rows) * out + i / rows])
            .collect();
        flex_tensor(total, weight.shape())
    }

    /// On the Winograd path both gradients in one pass over the images, each image's output
    /// gradient transformed once for both; otherwise the two kernels one after the other.
    fn zoo_conv2d_x_and_weight_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let shape = ConvShape::of(&x, &weight, &options);
        let winograd = shape.winograd(&options);
        let (Some(winograd), true) = (winograd, covered(&options, [&x, &weight, &output_grad]))
        else {
            return grads_one_after_the_other::<Self>(x, weight, output_grad, options);
        };
        crate::threads::keep_awake();
        let (out, _, pixels, image_len) = shape.sizes();
        let (x, weight, output_grad) = (
            x.to_contiguous(),
            weight.to_contiguous(),
            output_grad.to_contiguous(),
        );
        let input: &[f32] = x.as_slice().expect("contiguous input");
        let weights: &[f32] = weight.as_slice().expect("contiguous weight");
        let grad: &[f32] = output_grad.as_slice().expect("contiguous output gradient");
        let u = winograd.kernels(weights); // [16, out, in]
                                           // [batch, in, h, w], and each run's dU [16, out, in] in run order.
        let (grad_x, partials) = par_build_with(
            shape.batch * image_len,
            IMAGES_PER_TASK * image_len,
            |run, run_grad| {
                let mut du = vec![0.0f32; u.len()];
                winograd.with_work(|work| {
                    for (i, image_grad) in run_grad.chunks_mut(image_len).enumerate() {
                        let image = run * IMAGES_PER_TASK + i;
                        let image_in = &input[image * image_len..][..image_len];
                        let image_output_grad = &grad[image * out * pixels..][..out * pixels];
                        winograd.backward(
                            &u,
                            image_in,
                            image_output_grad,
                            image_grad,
                            &mut du,
                            work,
                        );
                    }
                });
                du
            },
        );
        let total = sum_in_order(partials, u.len()); // [16, out, in]
        let grad_weight = flex_tensor(winograd.weight_grad(&total), weight.shape());
        (flex_tensor(grad_x, x.shape()), grad_weight)
    }

    /// Burn's bias gradient, bit for bit: the output gradient rearranged to `[out, batch*oh*ow]`
    /// and summed along its rows by flex's own `sum_dim`. Burn makes that copy as a transposed
    /// view made contiguous, an element-wise tiled copy that was 4% of the classic CNN's
    /// training time (perf, 2 threads); here each channel's row is gathered from its
    /// `oh*ow`-long planes with plain copies.
    fn zoo_conv2d_bias_grad(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        let [batch, out, oh, ow] = dims4(&output_grad.shape());
        let row_len = batch * oh * ow;
        if output_grad.dtype() != DType::F32 || row_len == 0 {
            return Self::conv2d_bias_backward(x, bias, output_grad);
        }
        let output_grad = output_grad.to_contiguous();
        let grad: &[f32] = output_grad.as_slice().expect("contiguous output gradient");
        // [out, batch*oh*ow]
        let rows = par_build(out * row_len, row_len, |channel, row| {
            for (image, plane) in row.chunks_mut(oh * ow).enumerate() {
                plane.copy_from_slice(&grad[(image * out + channel) * oh * ow..][..oh * ow]);
            }
        });
        let rows = flex_tensor(rows, [out, row_len]);
        Self::float_reshape(Self::float_sum_dim(rows, 1), bias.shape()) // [out]
    }
}

/// The sizes of one convolution of `x` `[batch, in, h, w]` with `weight` `[out, in, kh, kw]`.
struct ConvShape<'a> {
    batch: usize,
    out: usize,
    patches: Patches<'a>,
}

impl<'a> ConvShape<'a> {
    fn of(x: &FlexTensor, weight: &FlexTensor, options: &'a ConvOptions<2>) -> Self {
        let [out, _, kh, kw] = dims4(&weight.shape());
        let [batch, channels, h, w] = dims4(&x.shape());
        Self {
            batch,
            out,
            patches: Patches::new(channels, [h, w], [kh, kw], options),
        }
    }

    /// Output channels, patch rows (`in*kh*kw`), output pixels (`oh*ow`) and values per input
    /// image (`in*h*w`).
    fn sizes(&self) -> (usize, usize, usize, usize) {
        let p = &self.patches;
        let ([h, w], [kh, kw], [oh, ow]) = (p.size, p.kernel, p.out_size);
        (self.out, p.channels * kh * kw, oh * ow, p.channels * h * w)
    }

    /// The Winograd tiling of this convolution, when it is a 3x3 one with stride 1 that
    /// [`Winograd`] computes.
    fn winograd(&self, options: &ConvOptions<2>) -> Option<Winograd> {
        let p = &self.patches;
        Winograd::new(
            [p.channels, self.out],
            p.size,
            p.kernel,
            p.out_size,
            options,
        )
    }

    /// `[batch, out, oh, ow]`.
    fn output(&self) -> [usize; 4] {
        let [oh, ow] = self.patches.out_size;
        [self.batch, self.out, oh, ow]
    }
}

/// Where a convolution's kernel reads one image: the im2col layout of its weight gradient.
struct Patches<'a> {
    channels: usize,
    size: [usize; 2],
    kernel: [usize; 2],
    out_size: [usize; 2],
    options: &'a ConvOptions<2>,
}

impl<'a> Patches<'a> {
    /// The patches of an `[in, h, w]` image under a `[kh, kw]` kernel with `options`.
    ///
    /// # Panics
    ///
    /// When the padded image is smaller than the dilated kernel, or a stride is zero.
    fn new(
        channels: usize,
        size: [usize; 2],
        kernel: [usize; 2],
        options: &'a ConvOptions<2>,
    ) -> Self {
        let out_side = |axis: usize| {
            let (before, after) = options.padding[axis];
            let padded = size[axis] + before + after;
            let span = options.dilation[axis] * (kernel[axis] - 1) + 1;
            assert!(
                padded >= span && options.stride[axis] > 0,
                "a kernel spanning {span} does not fit a padded side of {padded}"
            );
            (padded - span) / options.stride[axis] + 1
        };
        Self {
            channels,
            size,
            kernel,
            out_size: [out_side(0), out_side(1)],
            options,
        }
    }

    /// Writes the patches of `image` `[in, h, w]` into `cols` `[in*kh*kw, oh*ow]`, one column
    /// per output pixel. Entries that fall on the padding are left as they are: the same for
    /// every image, so a zeroed buffer stays right from one image to the next.
    fn write(&self, image: &[f32], cols: &mut [f32]) {
        let ([h, w], [kh, kw], [_, ow]) = (self.size, self.kernel, self.out_size);
        let ([sy, sx], [dy, dx]) = (self.options.stride, self.options.dilation);
        let (top, left) = (self.options.padding[0].0, self.options.padding[1].0);
        let pixels = self.out_size[0] * ow;
        for (row, row_cols) in cols.chunks_mut(pixels).enumerate() {
            let (c, ky, kx) = (row / (kh * kw), row / kw % kh, row % kw);
            let plane = &image[c * h * w..(c + 1) * h * w];
            for (y, out_row) in row_cols.chunks_mut(ow).enumerate() {
                // The input row of this output row; rows in the padding stay zero.
                let Some(iy) = (y * sy + ky * dy).checked_sub(top).filter(|&iy| iy < h) else {
                    continue;
                };
                let line = &plane[iy * w..(iy + 1) * w];
                let first = kx * dx; // input column of output column 0, before the padding
                if sx == 1 {
                    // The output columns whose input column lies inside the row: one copy.
                    let start = left.saturating_sub(first).min(ow);
                    let end = (w + left).saturating_sub(first).min(ow);
                    if end > start {
                        let from = start + first - left;
                        out_row[start..end].copy_from_slice(&line[from..from + end - start]);
                    }
                } else {
                    for (x_out, value) in out_row.iter_mut().enumerate() {
                        if let Some(ix) = (x_out * sx + first).checked_sub(left) {
                            if ix < w {
                                *value = line[ix];
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of [`write`](Self::write): adds each entry of `cols` `[in*kh*kw, oh*ow]` to
    /// the element of `image_grad` `[in, h, w]` it was read from (entries on the padding are
    /// dropped).
    fn add_back(&self, cols: &[f32], image_grad: &mut [f32]) {
        let ([h, w], [kh, kw], [_, ow]) = (self.size, self.kernel, self.out_size);
        let ([sy, sx], [dy, dx]) = (self.options.stride, self.options.dilation);
        let (top, left) = (self.options.padding[0].0, self.options.padding[1].0);
        let pixels = self.out_size[0] * ow;
        for (row, row_cols) in cols.chunks(pixels).enumerate() {
            let (c, ky, kx) = (row / (kh * kw), row / kw % kh, row % kw);
            let plane = &mut image_grad[c * h * w..(c + 1) * h * w];
            for (y, out_row) in row_cols.chunks(ow).enumerate() {
                let Some(iy) = (y * sy + ky * dy).checked_sub(top).filter(|&iy| iy < h) else {
                    continue;
                };
                let line = &mut plane[iy * w..(iy + 1) * w];
                let first = kx * dx;
                if sx == 1 {
                    let start = left.saturating_sub(first).min(ow);
                    let end = (w + left).saturating_sub(first).min(ow);
                    if end > start {
                        let from = start + first - left;
                        let targets = &mut line[from..from + end - start];
                        targets
                            .iter_mut()
                            .zip(&out_row[start..end])
                            .for_each(|(t, v)| *t += v);
                    }
                } else {
                    for (x_out, value) in out_row.iter().enumerate() {
                        if let Some(ix) = (x_out * sx + first).checked_sub(left) {
                            if ix < w {
                                line[ix] += value;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `activation` applied in place to `values`, in [`simd::widest`] code; nothing when `None`.
fn activate(values: &mut [f32], activation: Option<Pointwise>) {
    if let Some(activation) = activation {
        simd::widest(
            #[inline(always)]
            move || values.iter_mut().for_each(|v| *v = activation.value(*v)),
        );
    }
}

fn dims4(shape: &Shape) -> [usize; 4] {
    [shape[0], shape[1], shape[2], shape[3]]
}

impl<B: Backend + FlexConv + FlexActivation, C: CheckpointStrategy> FlexConv for Autodiff<B, C> {
    fn zoo_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        activation: Option<Pointwise>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Conv2dBackward;

        /// The output and its activation, when there is one.
        type Activated<B> = Option<(FloatTensor<B>, Pointwise)>;

        impl<B: Backend + FlexConv + FlexActivation> Backward<B, 3> for Conv2dBackward {
            type State = (NodeId, NodeId, NodeId, ConvOptions<2>, Activated<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let (x_id, weight_id, bias_id, options, activated) = ops.state;
                // The output gradient, after the activation; then the gradient before it.
                let grad = grads.consume::<B>(&ops.node);
                let grad = match activated {
                    Some((y, activation)) => B::zoo_activate_backward(y, grad, activation),
                    None => grad,
                };
                let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_id);
                let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_id);
                let bias = checkpointer.retrieve_node_output::<FloatTensor<B>>(bias_id);
                match (node_x, node_weight) {
                    (Some(node_x), Some(node_weight)) => {
                        let (grad_x, grad_weight) = B::zoo_conv2d_x_and_weight_grads(
                            x.clone(),
                            weight,
                            grad.clone(),
                            options,
                        );
                        grads.register::<B>(node_x.id, grad_x);
                        grads.register::<B>(node_weight.id, grad_weight);
                    }
                    (Some(node), None) => {
                        let grad_x = B::zoo_conv2d_x_grad(x.clone(), weight, grad.clone(), options);
                        grads.register::<B>(node.id, grad_x);
                    }
                    (None, Some(node)) => {
                        let grad_weight =
                            B::zoo_conv2d_weight_grad(x.clone(), weight, grad.clone(), options);
                        grads.register::<B>(node.id, grad_weight);
                    }
                    (None, None) => {}
                }
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, B::zoo_conv2d_bias_grad(x, bias, grad));
                }
            }
        }

        let nodes = [x.node(), weight.node(), bias.node()];
        let [x_in, weight_in, bias_in] = [&x, &weight, &bias].map(|t| t.primitive().clone());
        let forward = || B::zoo_conv2d(x_in, weight_in, bias_in, options.clone(), activation);
        match Conv2dBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let (x_id, weight_id) = (prep.checkpoint(&x), prep.checkpoint(&weight));
                let bias_id = prep.checkpoint(&bias);
                let y = forward();
                let activated = activation.map(|activation| (y.clone(), activation));
                prep.finish((x_id, weight_id, bias_id, options.clone(), activated), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    /// Output and the gradients of input, weight and bias of [`conv2d`] and of
    /// `Conv2d::forward` and Burn's `activation` for the same layer and input, on flex with
    /// autodiff.
    fn compare(config: Conv2dConfig, input: [usize; 4], activation: Option<Pointwise>) {
        compare_within(config, input, activation, Tolerance::absolute(1e-4));
    }

    /// [`compare`] within `tolerance`.
    fn compare_within(
        config: Conv2dConfig,
        input: [usize; 4],
        activation: Option<Pointwise>,
        tolerance: Tolerance<f32>,
    ) {
        let device = Device::flex().autodiff();
        device.seed(7);
        let conv = config.init(&device);
        let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device).require_grad();
        // A non-uniform output gradient, so every weight position gets its own value.
        let weigh = |y: Tensor<4>| {
            let ramp = Tensor::<1, Int>::arange(0..y.shape().num_elements() as i64, &device)
                .float()
                .reshape(y.shape())
                .sin();
            (y * ramp).sum()
        };
        let fast = conv2d(&conv, x.clone(), activation);
        let reference = burn_activation(conv.forward(x.clone()), activation);
        fast.to_data()
            .assert_approx_eq(&reference.to_data(), tolerance);
        let (fast_grads, reference_grads) = (weigh(fast).backward(), weigh(reference).backward());
        let bias = conv.bias.as_ref().expect("bias").val();
        let pairs = [
            (x.grad(&fast_grads), x.grad(&reference_grads)),
            (
                conv.weight.val().grad(&fast_grads),
                conv.weight.val().grad(&reference_grads),
            ),
            (
                bias.grad(&fast_grads).map(|g| g.unsqueeze::<4>()),
                bias.grad(&reference_grads).map(|g| g.unsqueeze::<4>()),
            ),
        ];
        for (fast, reference) in pairs {
            let (fast, reference) = (fast.expect("gradient"), reference.expect("gradient"));
            fast.to_data()
                .assert_approx_eq(&reference.to_data(), tolerance);
        }
    }

    #[test]
    fn matches_conv2d_for_the_classic_second_layer_shape() {
        for activation in [None, Some(Pointwise::Relu), Some(Pointwise::Tanh)] {
            compare(
                Conv2dConfig::new([8, 16], [3, 3]),
                [4, 8, 14, 14],
                activation,
            );
        }
    }

    #[test]
    fn a_fused_relu_gives_the_bits_of_burns_relu_after_the_convolution() {
        let device = Device::flex().autodiff();
        device.seed(9);
        let conv = Conv2dConfig::new([3, 6], [3, 3]).init(&device);
        // Half the outputs negative, so the mask matters, and a NaN input pixel that must
        // pass through the ReLU and its gradient as in Burn.
        let mut values: Vec<f32> = (0..5 * 3 * 9 * 9)
            .map(|i| (i as f32 * 0.61).sin())
            .collect();
        values[40] = f32::NAN;
        let data = TensorData::new(values, [5, 3, 9, 9]);
        let run = |fused: bool| {
            let x = Tensor::<4>::from_data(data.clone(), &device).require_grad();
            let y = if fused {
                conv2d(&conv, x.clone(), Some(Pointwise::Relu))
            } else {
                burn::tensor::activation::relu(conv2d(&conv, x.clone(), None))
            };
            let ramp = Tensor::<1, Int>::arange(0..y.shape().num_elements() as i64, &device)
                .float()
                .reshape(y.shape())
                .cos();
            let grads = (y.clone() * ramp).sum().backward();
            let bias = conv.bias.as_ref().expect("bias").val();
            let bits =
                |data: TensorData| -> Vec<u32> { data.iter::<f32>().map(f32::to_bits).collect() };
            [
                bits(y.into_data()),
                bits(x.grad(&grads).expect("x grad").into_data()),
                bits(
                    conv.weight
                        .val()
                        .grad(&grads)
                        .expect("weight grad")
                        .into_data(),
                ),
                bits(bias.grad(&grads).expect("bias grad").into_data()),
            ]
        };
        let (fused, separate) = (run(true), run(false));
        for (name, (f, s)) in ["output", "x grad", "weight grad", "bias grad"]
            .iter()
            .zip(fused.iter().zip(&separate))
        {
            assert_eq!(f, s, "{name}");
        }
        let nan = |bits: &Vec<u32>| bits.iter().any(|&b| f32::from_bits(b).is_nan());
        assert!(nan(&fused[0]), "the NaN pixel reaches the output");
        assert!(!nan(&fused[1]), "and leaves the input gradient finite");
    }

    #[test]
    fn the_winograd_path_matches_conv2d_with_odd_sides_and_uneven_padding() {
        // Odd output sides (11 x 9: the last tiles half outside), an odd left padding and none
        // at the bottom; then the padded 3x3 layer of `deep_bn`.
        compare(
            Conv2dConfig::new([9, 8], [3, 3]).with_padding(PaddingConfig2d::Explicit(2, 1, 0, 2)),
            [3, 9, 11, 8],
            None,
        );
        compare(
            Conv2dConfig::new([16, 8], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
            [5, 16, 7, 7],
            Some(Pointwise::Relu),
        );
    }

    #[test]
    fn a_winograd_layer_too_large_for_the_kept_buffer_matches_conv2d() {
        // 128 x 128 tiles of 8 + 8 channels: 4.2 million transformed values, past the 4 Mi a
        // thread keeps, so this image gets a buffer of its own. Each weight-gradient entry sums
        // 65,536 products of size about one that mostly cancel (entries of 0.1-8): both sides'
        // f32 rounding over that sum is up to 1e-3, so the absolute tolerance is 1e-2.
        compare_within(
            Conv2dConfig::new([8, 8], [3, 3]),
            [1, 8, 258, 258],
            None,
            Tolerance::rel_abs(1e-4, 1e-2),
        );
    }

    #[test]
    fn matches_conv2d_with_stride_padding_and_dilation() {
        compare(
            Conv2dConfig::new([3, 5], [3, 2])
                .with_stride([2, 1])
                .with_padding(PaddingConfig2d::Explicit(1, 2, 1, 2))
                .with_dilation([1, 2]),
            [2, 3, 11, 9],
            Some(Pointwise::Relu),
        );
    }

    #[test]
    fn weight_gradient_kernel_matches_burns_on_plain_flex() {
        let device = Device::flex();
        device.seed(3);
        let x = Tensor::<4>::random([3, 2, 7, 6], Distribution::Default, &device);
        let weight = Tensor::<4>::random([4, 2, 3, 3], Distribution::Default, &device);
        let grad = Tensor::<4>::random([3, 4, 5, 4], Distribution::Default, &device);
        let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        let run = |fast: bool| {
            let (x, w, g) = (
                x.clone().into_dispatch(),
                weight.clone().into_dispatch(),
                grad.clone().into_dispatch(),
            );
            let out = if fast {
                <burn::backend::Dispatch as FlexConv>::zoo_conv2d_weight_grad(
                    x,
                    w,
                    g,
                    options.clone(),
                )
            } else {
                <burn::backend::Dispatch as ModuleOps<_>>::conv2d_weight_backward(
                    x,
                    w,
                    g,
                    options.clone(),
                )
            };
            Tensor::<4>::from_dispatch(out)
        };
        let (fast, reference) = (run(true), run(false));
        assert_eq!(fast.dims(), [4, 2, 3, 3]);
        fast.to_data()
            .assert_approx_eq(&reference.to_data(), Tolerance::<f32>::absolute(1e-4));
    }

    #[test]
    fn bias_gradient_is_burns_bit_for_bit() {
        let device = Device::flex();
        device.seed(5);
        // 5 x 11 x 13 = 715 values per channel: the sum's 128-wide main loop, its 16-wide
        // remainder and a scalar tail all occur.
        for shape in [[5, 3, 11, 13], [2, 4, 1, 1], [64, 2, 24, 24]] {
            let grad = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let x = Tensor::<4>::zeros([shape[0], 1, 3, 3], &device);
            let bias = Tensor::<1>::zeros([shape[1]], &device);
            let run = |fast: bool| {
                let (x, b, g) = (
                    x.clone().into_dispatch(),
                    bias.clone().into_dispatch(),
                    grad.clone().into_dispatch(),
                );
                Tensor::<1>::from_dispatch(if fast {
                    <burn::backend::Dispatch as FlexConv>::zoo_conv2d_bias_grad(x, b, g)
                } else {
                    <burn::backend::Dispatch as ModuleOps<_>>::conv2d_bias_backward(x, b, g)
                })
            };
            let (fast, reference) = (run(true), run(false));
            assert_eq!(fast.dims(), [shape[1]]);
            fast.to_data().assert_eq(&reference.to_data(), true);
        }
    }

    #[test]
    fn training_on_other_backends_takes_the_gemm_formulation_and_the_rest_conv2d() {
        #[allow(deprecated)]
        let device = Device::ndarray().autodiff();
        let conv = Conv2dConfig::new([2, 3], [3, 3]).init(&device);
        let x = Tensor::<4>::random([2, 2, 6, 6], Distribution::Default, &device);
        let y = conv2d(&conv, x.clone(), None);
        y.to_data()
            .assert_eq(&conv2d_gemm(&conv, x.clone()).to_data(), true);
        y.to_data().assert_approx_eq::<f32>(
            &conv.forward(x.clone()).to_data(),
            Tolerance::absolute(1e-5),
        );
        // Inference (no autodiff) keeps Burn's convolution.
        let (inference, images) = (conv.valid(), x.clone().without_autodiff());
        conv2d(&inference, images.clone(), None)
            .to_data()
            .assert_eq(&inference.forward(images).to_data(), true);
        let flex = Device::flex().autodiff();
        let no_bias = Conv2dConfig::new([2, 3], [3, 3])
            .with_bias(false)
            .init(&flex);
        let x = x.to_device(&flex);
        conv2d(&no_bias, x.clone(), Some(Pointwise::Relu))
            .to_data()
            .assert_eq(
                &burn::tensor::activation::relu(no_bias.forward(x)).to_data(),
                true,
            );
    }
}
