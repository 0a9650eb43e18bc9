//! The convolution as im2col and one batched matrix product, in Burn tensor operations: how
//! [`conv2d`](crate::conv2d) trains on the backends without a zoo kernel (ndarray, wgpu, cuda,
//! CubeCL's `cpu`); inference there keeps Burn's `Conv2d`.
//!
//! Why not Burn's `Conv2d` there: without autotune (the default build, see README's
//! "Autotune"), Burn 0.22's CubeCL backends compute the weight gradient as one direct
//! convolution of the input by the output gradient, parallel over the gradient's elements only
//! (`64 x 32 x 3 x 3` = 18,432 for the classic network's second layer) with the whole batch in
//! each element's loop: a larger batch means longer loops, not more parallel work.
//!
//! Here the forward pass is `[out, in*kh*kw] x [batch, in*kh*kw, oh*ow]`, so the backward pass
//! that autodiff derives is two batched matrix products over the batch: the weight gradient
//! `[batch, out, oh*ow] x [batch, oh*ow, in*kh*kw]` summed over the batch, and the columns'
//! gradient `[in*kh*kw, out] x [batch, out, oh*ow]`, scattered back to the input through the
//! slices' backward. Every step is a matrix product or an element-wise copy, whose parallel
//! work grows with the batch. The columns cost `kh * kw` times the input's memory.
//!
//! ```
//! use burn::nn::conv::Conv2dConfig;
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::flex();
//! let conv = Conv2dConfig::new([2, 4], [3, 3]).init(&device);
//! let x = Tensor::<4>::ones([3, 2, 8, 8], &device); // [batch, in, height, width]
//! let y = zoo_kernels::conv_gemm::conv2d_gemm(&conv, x.clone()); // [batch, 4, 6, 6]
//! y.to_data().assert_approx_eq::<f32>(&conv.forward(x).to_data(), burn::tensor::Tolerance::absolute(1e-5));
//! ```

use burn::backend::ops::conv::calculate_conv_output_size_asymmetric as conv_output_size;
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use burn::tensor::ops::PadMode;
use burn::tensor::Slice;

/// `conv.forward(x)` computed as im2col and a batched matrix product (see the module
/// documentation): `[batch, in, height, width] -> [batch, out, out_height, out_width]`.
/// Layers with groups or `Same` padding take `Conv2d::forward`.
pub fn conv2d_gemm(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_gemm_in_runs(conv, x, COLUMN_BYTES)
}

/// [`conv2d_gemm`], building at most `column_bytes` of columns at once (at least one image's).
fn conv2d_gemm_in_runs(conv: &Conv2d, x: Tensor<4>, column_bytes: usize) -> Tensor<4> {
    let (top, left, bottom, right) = match conv.padding {
        PaddingConfig2d::Valid => (0, 0, 0, 0),
        PaddingConfig2d::Explicit(top, left, bottom, right) => (top, left, bottom, right),
        PaddingConfig2d::Same => return conv.forward(x),
    };
    if conv.groups != 1 {
        return conv.forward(x);
    }
    let [batch, in_channels, height, width] = x.dims();
    let [out_channels, _, kernel_h, kernel_w] = conv.weight.dims();
    let out_side = |axis: usize, kernel, padding, side| {
        conv_output_size(
            kernel,
            conv.stride[axis],
            padding,
            conv.dilation[axis],
            side,
        )
    };
    let out_h = out_side(0, kernel_h, (top, bottom), height);
    let out_w = out_side(1, kernel_w, (left, right), width);
    let x = if top + left + bottom + right > 0 {
        x.pad((left, right, top, bottom), PadMode::Constant(0.0)) // [batch, in, padded_h, padded_w]
    } else {
        x
    };
    let patch = in_channels * kernel_h * kernel_w;
    let per_image = patch * out_h * out_w * x.dtype().size();
    let run = (column_bytes / per_image).clamp(1, batch);
    let weight = conv.weight.val().reshape([1, out_channels, patch]); // [1, out, in*kh*kw]
    let geometry = Geometry {
        kernel: [kernel_h, kernel_w],
        stride: conv.stride,
        dilation: conv.dilation,
        out: [out_h, out_w],
    };
    let outputs = (0..batch)
        .step_by(run)
        .map(|start| {
            let images = if run == batch {
                x.clone()
            } else {
                x.clone().slice(start..(start + run).min(batch)) // [images, in, padded_h, padded_w]
            };
            weight.clone().matmul(geometry.columns(images)) // [images, out, out_h*out_w]
        })
        .collect();
    let y = Tensor::cat(outputs, 0).reshape([batch, out_channels, out_h, out_w]);
    match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, out_channels, 1, 1]),
        None => y,
    }
}

/// The most bytes of im2col columns built at once: wgpu's default limit on one storage buffer is
/// 128 MiB, and the classic network's second layer needs 663 KB of columns per image (340 MB
/// at batch 512), so larger batches are cut into runs of images that each stay under half that.
const COLUMN_BYTES: usize = 64 << 20;

/// Where a convolution's taps read a padded input.
struct Geometry {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    out: [usize; 2],
}

impl Geometry {
    /// The im2col columns of `images` `[n, in, padded_h, padded_w]`: `[n, in*kh*kw, out_h*out_w]`,
    /// rows in the weight's `[in, kh, kw]` order.
    fn columns(&self, images: Tensor<4>) -> Tensor<3> {
        let [n, in_channels, _, _] = images.dims();
        let ([kernel_h, kernel_w], [out_h, out_w]) = (self.kernel, self.out);
        let axis = |axis: usize, tap: usize| {
            let start = tap * self.dilation[axis];
            let end = start + (self.out[axis] - 1) * self.stride[axis] + 1;
            Slice::new(
                start as isize,
                Some(end as isize),
                self.stride[axis] as isize,
            )
        };
        // One strided view per kernel tap, row by row: tap (i, j) holds the pixels every output
        // position multiplies by weight[.., .., i, j].
        let taps = (0..kernel_h)
            .flat_map(|i| (0..kernel_w).map(move |j| (i, j)))
            .map(|(i, j)| {
                images
                    .clone()
                    .slice([Slice::full(), Slice::full(), axis(0, i), axis(1, j)])
                // [n, in, out_h, out_w]
            })
            .collect();
        Tensor::stack::<5>(taps, 2) // [n, in, kh*kw, out_h, out_w]
            .reshape([n, in_channels * kernel_h * kernel_w, out_h * out_w])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Distribution, Tolerance};

    /// Output and the gradients of input, weight and bias of [`conv2d_gemm`] and of
    /// `Conv2d::forward` for the same layer and input, on `device` (with autodiff).
    fn compare(device: &Device, config: Conv2dConfig, input: [usize; 4], column_bytes: usize) {
        device.seed(11);
        let conv = config.init(device);
        let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), device).require_grad();
        // A non-uniform output gradient, so every weight position gets its own value.
        let weigh = |y: Tensor<4>| {
            let ramp = Tensor::<1, Int>::arange(0..y.shape().num_elements() as i64, device)
                .float()
                .reshape(y.shape())
                .sin();
            (y * ramp).sum()
        };
        let gemm = conv2d_gemm_in_runs(&conv, x.clone(), column_bytes);
        let reference = conv.forward(x.clone());
        assert_eq!(gemm.dims(), reference.dims());
        let tolerance = Tolerance::<f32>::absolute(1e-4);
        gemm.to_data()
            .assert_approx_eq(&reference.to_data(), tolerance);
        let (gemm_grads, reference_grads) = (weigh(gemm).backward(), weigh(reference).backward());
        let gradient = |t: Tensor<4>, grads| t.grad(grads).expect("gradient").to_data();
        gradient(x.clone(), &gemm_grads)
            .assert_approx_eq(&gradient(x, &reference_grads), tolerance);
        let weight = conv.weight.val();
        gradient(weight.clone(), &gemm_grads)
            .assert_approx_eq(&gradient(weight, &reference_grads), tolerance);
        if let Some(bias) = &conv.bias {
            let bias = bias.val();
            let grad = |grads| bias.grad(grads).expect("gradient").to_data();
            grad(&gemm_grads).assert_approx_eq(&grad(&reference_grads), tolerance);
        }
    }

    #[test]
    fn matches_conv2d_and_its_gradients() {
        let device = Device::flex().autodiff();
        // The classic network's second layer, on a smaller map.
        let classic = || Conv2dConfig::new([32, 64], [3, 3]);
        compare(&device, classic(), [3, 32, 10, 10], COLUMN_BYTES);
        // Cut into runs of two images (the last one alone), then of one: 288 x 64 columns of
        // 4 bytes are 73,728 bytes an image.
        compare(&device, classic(), [5, 32, 10, 10], 2 * 73_728 + 100);
        compare(&device, classic(), [3, 32, 10, 10], 1);
        // LeNet-5's first layer: 5x5, padding 2.
        let padded =
            Conv2dConfig::new([1, 6], [5, 5]).with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2));
        compare(&device, padded, [2, 1, 12, 12], COLUMN_BYTES);
        // The DCGAN discriminator's kind: stride 2, uneven padding, no bias; and dilation.
        let strided = Conv2dConfig::new([3, 5], [4, 4])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 2, 1, 0))
            .with_bias(false);
        compare(&device, strided, [2, 3, 11, 9], COLUMN_BYTES);
        let dilated = Conv2dConfig::new([2, 3], [3, 3])
            .with_dilation([2, 1])
            .with_stride([1, 2]);
        compare(&device, dilated, [2, 2, 9, 9], COLUMN_BYTES);
    }

    #[test]
    fn grouped_and_same_padded_layers_take_conv2d() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 4, 7, 7], Distribution::Normal(0.0, 1.0), &device);
        for config in [
            Conv2dConfig::new([4, 4], [3, 3]).with_groups(2),
            Conv2dConfig::new([4, 2], [3, 3]).with_padding(PaddingConfig2d::Same),
        ] {
            let conv = config.init(&device);
            let gemm = conv2d_gemm(&conv, x.clone());
            gemm.to_data()
                .assert_eq(&conv.forward(x.clone()).to_data(), true);
        }
    }
}
