use burn::tensor::Tensor;
use zoo_kernels::activation::Pointwise;

/// Negative slope of every LeakyReLU in the crate.
pub(crate) const SLOPE: f64 = 0.2;

/// The LeakyReLU of [`activate`], for the fused dense layer `zoo_kernels::linear`.
pub(crate) const POINTWISE: Pointwise = Pointwise::LeakyRelu {
    slope: SLOPE as f32,
};

/// LeakyReLU with slope [`SLOPE`] (one pass on flex: `zoo_kernels::leaky_relu`).
pub(crate) fn activate<const D: usize>(pre: Tensor<D>) -> Tensor<D> {
    zoo_kernels::leaky_relu(pre, SLOPE)
}

/// Derivative of [`activate`] at `pre`: 1 where `pre > 0`, [`SLOPE`] elsewhere.
///
/// The mask is a constant for autodiff (it is piecewise constant in `pre`, so its own derivative
/// is zero almost everywhere).
pub(crate) fn derivative<const D: usize>(pre: Tensor<D>) -> Tensor<D> {
    let positive = pre.detach().greater_elem(0.0).float(); // 1 or 0
    positive.mul_scalar(1.0 - SLOPE).add_scalar(SLOPE)
}
