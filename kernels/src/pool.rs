//! Burn's `MaxPool2d`, with a direct kernel on the flex CPU backend for non-overlapping windows
//! (zoo-cnn's convolution blocks pool through it).
//!
//! flex pools through a general 3-d path that records indices; for the windows a CNN uses
//! (kernel = stride, no padding) [`max_pool2d`] takes the maximum of each window in one pass and,
//! backward, sends each output gradient to its window's first maximum, found again in the input.
//! Other backends and other pooling shapes go through `MaxPool2d` unchanged.
//!
//! ```
//! use burn::nn::pool::MaxPool2dConfig;
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::flex();
//! let pool = MaxPool2dConfig::new([2, 2]).init();
//! let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [4.0, 3.0]]]], &device); // [1, 1, 2, 2]
//! let y = zoo_kernels::max_pool2d(&pool, x); // [1, 1, 1, 1]
//! assert_eq!(y.into_scalar::<f32>(), 4.0);
//! ```

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Flex, TensorMetadata};
use burn::nn::pool::MaxPool2d;
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use burn::tensor::{DType, IntDType, Shape};

use crate::flex::{flex_tensor, par_build};
use crate::simd;

/// `pool.forward(x)`, through [`FlexPool`] when `x` lives on flex (with or without autodiff)
/// and the windows do not overlap (kernel = stride, no padding, no dilation, floor mode).
/// `[batch, channels, h, w] -> [batch, channels, h / kh, w / kw]`.
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let plain = pool.stride == pool.kernel_size
        && pool.padding == PaddingConfig2d::Valid
        && pool.dilation == [1, 1]
        && !pool.ceil_mode;
    if plain && x.device().without_autodiff() == Device::flex() {
        Tensor::from_dispatch(<burn::backend::Dispatch as FlexPool>::zoo_max_pool2d(
            x.into_dispatch(),
            pool.kernel_size,
        ))
    } else {
        pool.forward(x)
    }
}

/// Max pooling over non-overlapping `kernel` windows, whose backward the backend may compute its
/// own way.
#[backend_extension(Flex, Autodiff)]
pub trait FlexPool: Backend {
    /// `x` `[batch, channels, h, w]` -> `[batch, channels, h / kh, w / kw]`, each output the
    /// maximum of its window.
    fn zoo_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        Self::max_pool2d(x, kernel, kernel, [0, 0], [1, 1], false)
    }

    /// The gradient with respect to `x` `[batch, channels, h, w]` of the pooling, from the
    /// output gradient `[batch, channels, h / kh, w / kw]`.
    fn zoo_max_pool2d_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        kernel: [usize; 2],
    ) -> FloatTensor<Self> {
        burns_backward::<Self>(x, output_grad, kernel)
    }
}

/// Burn's gradient of a max pooling over non-overlapping `kernel` windows: the pooling again
/// with indices, then its backward.
fn burns_backward<B: Backend>(
    x: FloatTensor<B>,
    output_grad: FloatTensor<B>,
    kernel: [usize; 2],
) -> FloatTensor<B> {
    let (stride, padding, dilation) = (kernel, [0, 0], [1, 1]);
    let pooled = B::max_pool2d_with_indices(
        x.clone(),
        kernel,
        stride,
        padding,
        dilation,
        false,
        IntDType::I64,
    );
    B::max_pool2d_with_indices_backward(
        x,
        kernel,
        stride,
        padding,
        dilation,
        false,
        output_grad,
        pooled.indices,
    )
    .x_grad
}

impl FlexPool for Flex {
    fn zoo_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        if x.dtype() != DType::F32 {
            return Self::max_pool2d(x, kernel, kernel, [0, 0], [1, 1], false);
        }
        let windows = Windows::of(&x.shape(), kernel);
        let x = x.to_contiguous();
        let input: &[f32] = x.as_slice().expect("contiguous input");
        let [oh, ow] = windows.out;
        let plane_len = windows.plane_len();
        let output = par_build(
            windows.planes * oh * ow,
            (oh * ow).max(1),
            |index, out_plane| {
                let plane = &input[index * plane_len..][..plane_len];
                simd::widest(
                    #[inline(always)]
                    || windows.max_plane(plane, out_plane),
                )
            },
        );
        flex_tensor(output, windows.out_shape())
    }

    fn zoo_max_pool2d_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        kernel: [usize; 2],
    ) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        if x.dtype() != DType::F32 || output_grad.dtype() != DType::F32 {
            return burns_backward::<Self>(x, output_grad, kernel);
        }
        let windows = Windows::of(&x.shape(), kernel);
        let (x, output_grad) = (x.to_contiguous(), output_grad.to_contiguous());
        let input: &[f32] = x.as_slice().expect("contiguous input");
        let grad: &[f32] = output_grad.as_slice().expect("contiguous output gradient");
        let [oh, ow] = windows.out;
        let plane_len = windows.plane_len();
        let input_grad = par_build(input.len(), plane_len.max(1), |index, grad_plane| {
            let plane = &input[index * plane_len..][..plane_len];
            let out_grad = &grad[index * oh * ow..][..oh * ow];
            simd::widest(
                #[inline(always)]
                || windows.route_plane(plane, out_grad, grad_plane),
            );
        });
        flex_tensor(input_grad, x.shape())
    }
}

/// The non-overlapping windows of a pooling over `[batch, channels, h, w]`.
struct Windows {
    planes: usize,
    size: [usize; 2],
    kernel: [usize; 2],
    out: [usize; 2],
    shape: Shape,
}

impl Windows {
    fn of(shape: &Shape, kernel: [usize; 2]) -> Self {
        let [batch, channels, h, w] = [shape[0], shape[1], shape[2], shape[3]];
        Self {
            planes: batch * channels,
            size: [h, w],
            kernel,
            out: [h / kernel[0], w / kernel[1]],
            shape: shape.clone(),
        }
    }

    fn plane_len(&self) -> usize {
        self.size[0] * self.size[1]
    }

    fn out_shape(&self) -> Shape {
        Shape::new([self.shape[0], self.shape[1], self.out[0], self.out[1]])
    }

    /// Writes the maximum of each window of `plane` `[h, w]` into `out` `[oh, ow]`. Inlined into
    /// [`simd::widest`].
    #[inline(always)]
    fn max_plane(&self, plane: &[f32], out: &mut [f32]) {
        if self.kernel != [2, 2] {
            return self.max_plane_any(plane, out);
        }
        let ([_, w], [_, ow]) = (self.size, self.out);
        for (oy, out_row) in out.chunks_mut(ow).enumerate() {
            let (top, bottom) = (
                &plane[2 * oy * w..][..2 * ow],
                &plane[(2 * oy + 1) * w..][..2 * ow],
            );
            for ((value, top), bottom) in out_row
                .iter_mut()
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
            {
                *value = first_max_of_4([top[0], top[1], bottom[0], bottom[1]]).1;
            }
        }
    }

    /// [`max_plane`](Self::max_plane) for any window, one [`first_max`](Self::first_max) each.
    fn max_plane_any(&self, plane: &[f32], out: &mut [f32]) {
        for (oy, out_row) in out.chunks_mut(self.out[1]).enumerate() {
            for (ox, value) in out_row.iter_mut().enumerate() {
                *value = plane[self.first_max(plane, oy, ox)];
            }
        }
    }

    /// Adds each window's output gradient (`out_grad` `[oh, ow]`) to the first maximum of its
    /// window of `plane` in `grad_plane` `[h, w]`, which starts at zero. Inlined into
    /// [`simd::widest`].
    #[inline(always)]
    fn route_plane(&self, plane: &[f32], out_grad: &[f32], grad_plane: &mut [f32]) {
        if self.kernel != [2, 2] {
            return self.route_plane_any(plane, out_grad, grad_plane);
        }
        let ([_, w], [_, ow]) = (self.size, self.out);
        for (oy, grads) in out_grad.chunks(ow).enumerate() {
            let (top, bottom) = (
                &plane[2 * oy * w..][..2 * ow],
                &plane[(2 * oy + 1) * w..][..2 * ow],
            );
            let (top_grad, bottom_grad) = grad_plane[2 * oy * w..].split_at_mut(w);
            let pairs = top.chunks_exact(2).zip(bottom.chunks_exact(2)).zip(grads);
            let targets = top_grad[..2 * ow]
                .chunks_exact_mut(2)
                .zip(bottom_grad[..2 * ow].chunks_exact_mut(2));
            for (((top, bottom), &g), (top_grad, bottom_grad)) in pairs.zip(targets) {
                let (best, _) = first_max_of_4([top[0], top[1], bottom[0], bottom[1]]);
                // `0.0 + g` as the general path adds to zero: a -0.0 gradient lands as +0.0.
                let at = |k: usize| if best == k { 0.0 + g } else { 0.0 };
                (top_grad[0], top_grad[1]) = (at(0), at(1));
                (bottom_grad[0], bottom_grad[1]) = (at(2), at(3));
            }
        }
    }

    /// [`route_plane`](Self::route_plane) for any window.
    fn route_plane_any(&self, plane: &[f32], out_grad: &[f32], grad_plane: &mut [f32]) {
        for (oy, grads) in out_grad.chunks(self.out[1]).enumerate() {
            for (ox, g) in grads.iter().enumerate() {
                grad_plane[self.first_max(plane, oy, ox)] += g;
            }
        }
    }

    /// The position in `plane` `[h, w]` of the first maximum (row-major) of the window of
    /// output `(oy, ox)`. Written with selects, not branches: on real activations which element wins is
    /// unpredictable, and mispredicted branches made this loop four times slower.
    #[inline(always)]
    fn first_max(&self, plane: &[f32], oy: usize, ox: usize) -> usize {
        let ([_, w], [kh, kw]) = (self.size, self.kernel);
        let corner = (oy * kh) * w + ox * kw;
        let window = &plane[corner..corner + (kh - 1) * w + kw];
        let (mut best, mut best_value) = (0, window[0]);
        for y in 0..kh {
            for (x, &value) in window[y * w..y * w + kw].iter().enumerate() {
                let better = value > best_value;
                best = if better { y * w + x } else { best };
                best_value = if better { value } else { best_value };
            }
        }
        corner + best
    }
}

/// The index and value of the first maximum of a 2x2 window in row-major order, with the
/// selects of [`Windows::first_max`]: the CNNs' pooling, one row of windows at a time. With the
/// general loop (per-window slicing, bounds checks and index arithmetic) pooling forward and
/// backward took 13.8% of the classic CNN's cycles in `zoo bench cnn-mnist` at 2 threads (perf);
/// with this path, 7.0%.
#[inline(always)]
fn first_max_of_4(window: [f32; 4]) -> (usize, f32) {
    let (mut best, mut best_value) = (0, window[0]);
    for (k, &value) in window.iter().enumerate().skip(1) {
        let better = value > best_value;
        best = if better { k } else { best };
        best_value = if better { value } else { best_value };
    }
    (best, best_value)
}

impl<B: Backend + FlexPool, C: CheckpointStrategy> FlexPool for Autodiff<B, C> {
    fn zoo_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaxPoolBackward;

        impl<B: Backend + FlexPool> Backward<B, 1> for MaxPoolBackward {
            type State = (NodeId, [usize; 2]);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_id, kernel) = ops.state;
                if let Some(node) = node_x {
                    let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_id);
                    grads.register::<B>(node.id, B::zoo_max_pool2d_backward(x, grad, kernel));
                }
            }
        }

        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), kernel);
                prep.finish(state, B::zoo_max_pool2d(x.into_primitive(), kernel))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::zoo_max_pool2d(x.into_primitive(), kernel)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    /// Output and input gradient of [`max_pool2d`] and `MaxPool2d::forward` on `device`.
    fn compare(pool: MaxPool2d, input: [usize; 4], device: Device) {
        device.seed(5);
        // Normal values: no ties inside a window, so both pick the same maximum.
        let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let weigh = |y: Tensor<4>| {
            let ramp = Tensor::<1, Int>::arange(0..y.shape().num_elements() as i64, &device)
                .float()
                .reshape(y.shape())
                .cos();
            (y * ramp).sum()
        };
        let (fast, reference) = (max_pool2d(&pool, x.clone()), pool.forward(x.clone()));
        fast.to_data().assert_eq(&reference.to_data(), true);
        let (fast, reference) = (weigh(fast).backward(), weigh(reference).backward());
        let tolerance = Tolerance::<f32>::absolute(1e-6);
        x.grad(&fast)
            .expect("gradient")
            .to_data()
            .assert_approx_eq(&x.grad(&reference).expect("gradient").to_data(), tolerance);
    }

    #[test]
    fn matches_max_pool2d_on_flex() {
        let flex = Device::flex().autodiff();
        compare(
            MaxPool2dConfig::new([2, 2]).init(),
            [3, 4, 8, 6],
            flex.clone(),
        );
        // Sides that the window does not divide: the last row and column are dropped.
        compare(
            MaxPool2dConfig::new([3, 2]).with_strides([3, 2]).init(),
            [2, 3, 7, 5],
            flex,
        );
    }

    #[test]
    fn overlapping_windows_and_other_backends_use_max_pool2d() {
        let overlapping = MaxPool2dConfig::new([3, 3]).with_strides([1, 1]).init();
        compare(overlapping, [2, 2, 6, 6], Device::flex().autodiff());
        #[allow(deprecated)]
        compare(
            MaxPool2dConfig::new([2, 2]).init(),
            [2, 2, 6, 6],
            Device::ndarray().autodiff(),
        );
    }

    #[test]
    fn the_2x2_path_gives_the_general_paths_numbers_bit_for_bit() {
        // Odd sides (the last row and column belong to no window), values on a coarse grid so
        // that windows hold ties, and gradients of both signs and both zeros.
        let windows = Windows::of(&Shape::new([1, 1, 9, 7]), [2, 2]);
        let plane: Vec<f32> = (0..63)
            .map(|i| ((i * 37 % 11) as f32 - 5.0).max(-2.0))
            .collect();
        let out_grad: Vec<f32> = (0..12)
            .map(|i| [1.5, -0.0, 0.0, -2.25][i % 4] * (i as f32 + 1.0))
            .collect();
        let (mut fast, mut general) = (vec![9.0f32; 12], vec![-9.0f32; 12]);
        windows.max_plane(&plane, &mut fast);
        windows.max_plane_any(&plane, &mut general);
        assert_eq!(fast.map_bits(), general.map_bits());
        let (mut fast, mut general) = (vec![0.0f32; 63], vec![0.0f32; 63]);
        windows.route_plane(&plane, &out_grad, &mut fast);
        windows.route_plane_any(&plane, &out_grad, &mut general);
        assert_eq!(fast.map_bits(), general.map_bits());
        assert_eq!(fast.iter().filter(|g| **g != 0.0).count(), 6); // 12 windows, 6 zero gradients
    }

    trait Bits {
        fn map_bits(&self) -> Vec<u32>;
    }

    impl Bits for Vec<f32> {
        fn map_bits(&self) -> Vec<u32> {
            self.iter().map(|v| v.to_bits()).collect()
        }
    }

    #[test]
    fn each_window_gradient_goes_to_its_first_maximum() {
        let device = Device::flex().autodiff();
        let pool = MaxPool2dConfig::new([2, 2]).init();
        // One 2x4 plane: windows [1 5 / 5 2] (tie: first maximum, top right) and [0 0 / 0 7].
        let x = Tensor::<4>::from_floats([[[[1.0, 5.0, 0.0, 0.0], [5.0, 2.0, 0.0, 7.0]]]], &device)
            .require_grad();
        let y = max_pool2d(&pool, x.clone());
        y.to_data()
            .assert_eq(&TensorData::from([[[[5.0f32, 7.0]]]]), true);
        let grads = (y * Tensor::<4>::from_floats([[[[10.0, 20.0]]]], &device))
            .sum()
            .backward();
        x.grad(&grads).expect("gradient").to_data().assert_eq(
            &TensorData::from([[[[0.0f32, 10.0, 0.0, 0.0], [0.0, 0.0, 0.0, 20.0]]]]),
            true,
        );
    }
}
