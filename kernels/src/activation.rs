//! tanh and LeakyReLU as one tensor operation each on flex, backward pass included.
//!
//! Burn's flex backend computes tanh with a libm call per element (0.6 ms for a `[64, 784]`
//! batch on this project's machine) and LeakyReLU as a comparison, a scaled copy and a masked
//! select, each recorded by autodiff. [`tanh`] and [`leaky_relu`] run one vectorizable pass
//! forward and one backward (both derivatives are functions of the output: `1 - y²`, and 1 or
//! the slope by the sign of `y`). On other backends, other element types and for a slope that is
//! not positive they are Burn's `tanh` and `leaky_relu`.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::flex();
//! let x = Tensor::<2>::from_floats([[-1.0, 0.0, 2.0]], &device);
//! let y = zoo_kernels::leaky_relu(x.clone(), 0.2).into_data().try_to_vec::<f32>().unwrap();
//! assert_eq!(y, [-0.2, 0.0, 2.0]);
//! let t = zoo_kernels::tanh(x).into_data().try_to_vec::<f32>().unwrap();
//! assert!((t[2] - 2.0f32.tanh()).abs() < 2e-6);
//! ```

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, AutodiffBackend, Backend, Flex, TensorMetadata};
use burn::prelude::*;

use crate::approx;
use crate::flex::{self, flex_tensor, on_flex_f32, values};
use crate::simd;

/// An elementwise activation of the fused operations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pointwise {
    /// `tanh(x)`.
    Tanh,
    /// `x` where `x >= 0`, `slope * x` elsewhere; the slope is positive.
    LeakyRelu {
        /// Factor of the negative part.
        slope: f32,
    },
}

impl Pointwise {
    #[inline(always)]
    pub(crate) fn value(self, x: f32) -> f32 {
        match self {
            Pointwise::Tanh => approx::tanh(x),
            Pointwise::LeakyRelu { slope } => {
                if x < 0.0 {
                    slope * x
                } else {
                    x
                }
            }
        }
    }

    /// The derivative at the input whose activation is `y`.
    #[inline(always)]
    pub(crate) fn derivative_at_output(self, y: f32) -> f32 {
        match self {
            Pointwise::Tanh => 1.0 - y * y,
            Pointwise::LeakyRelu { slope } => {
                if y < 0.0 {
                    slope
                } else {
                    1.0
                }
            }
        }
    }
}

/// Burn's tanh, as one pass on flex (see the module documentation).
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if on_flex_f32(&x) {
        activate(x, Pointwise::Tanh)
    } else {
        burn::tensor::activation::tanh(x)
    }
}

/// Burn's `leaky_relu(x, slope)`, as one pass on flex when `slope > 0` (see the module
/// documentation).
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    if on_flex_f32(&x) && slope > 0.0 {
        activate(
            x,
            Pointwise::LeakyRelu {
                slope: slope as f32,
            },
        )
    } else {
        burn::tensor::activation::leaky_relu(x, slope)
    }
}

fn activate<const D: usize>(x: Tensor<D>, activation: Pointwise) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexActivation>::zoo_activate(
        x.into_dispatch(),
        activation,
    ))
}

/// The fused activations as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait FlexActivation: Backend {
    /// `activation` of every element of `x`.
    fn zoo_activate(x: FloatTensor<Self>, activation: Pointwise) -> FloatTensor<Self>;

    /// The gradient of the input from the output `y` of
    /// [`zoo_activate`](FlexActivation::zoo_activate) and the gradient of the output.
    fn zoo_activate_backward(
        y: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        activation: Pointwise,
    ) -> FloatTensor<Self>;
}

/// The elements of `tensor`, contiguous (the same buffer unless it was a strided view).
fn contiguous(tensor: FlexTensor) -> FlexTensor {
    flex::contiguous(tensor, "activation")
}

impl FlexActivation for Flex {
    fn zoo_activate(x: FloatTensor<Self>, activation: Pointwise) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        let x = contiguous(x);
        let y = simd::map(values(&x), move |v| activation.value(v));
        flex_tensor(y, x.shape())
    }

    fn zoo_activate_backward(
        y: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        activation: Pointwise,
    ) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        let (y, grad) = (contiguous(y), contiguous(output_grad));
        let (ys, gs) = (values(&y), values(&grad));
        let input_grad = simd::zip_map(ys, gs, move |y, g| g * activation.derivative_at_output(y));
        flex_tensor(input_grad, y.shape())
    }
}

impl<B: Backend + FlexActivation, C: CheckpointStrategy> FlexActivation for Autodiff<B, C> {
    fn zoo_activate(x: FloatTensor<Self>, activation: Pointwise) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ActivationBackward;

        impl<B: Backend + FlexActivation> Backward<B, 1> for ActivationBackward {
            type State = (FloatTensor<B>, Pointwise);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let grad = grads.consume::<B>(&ops.node);
                let (y, activation) = ops.state;
                if let [Some(parent)] = ops.parents {
                    let input_grad = B::zoo_activate_backward(y, grad, activation);
                    grads.register::<B>(parent.id, input_grad);
                }
            }
        }

        let input = x.primitive().clone();
        match ActivationBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::zoo_activate(input, activation);
                prep.finish((y.clone(), activation), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::zoo_activate(input, activation)),
        }
    }

    /// Gradients are not differentiated again (Burn has no double backward): the inner
    /// backend's backward, its result untracked.
    fn zoo_activate_backward(
        y: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        activation: Pointwise,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::zoo_activate_backward(
            y.into_primitive(),
            output_grad.into_primitive(),
            activation,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    /// Values and input gradients (of a weighted sum, so every element's gradient differs) of
    /// `fused` against `reference` on flex with autodiff.
    fn check(fused: fn(Tensor<3>) -> Tensor<3>, reference: fn(Tensor<3>) -> Tensor<3>) {
        let device = Device::flex().autodiff();
        let x = Tensor::<3>::random([4, 5, 6], Distribution::Normal(0.0, 2.0), &device);
        let weights = Tensor::<3>::random([4, 5, 6], Distribution::Default, &device);
        let run = |f: fn(Tensor<3>) -> Tensor<3>| {
            let x = x.clone().require_grad();
            let y = f(x.clone());
            let grads = (y.clone() * weights.clone()).sum().backward();
            (
                y.into_data(),
                x.grad(&grads).expect("a gradient").into_data(),
            )
        };
        let (y, grad) = run(fused);
        let (y_ref, grad_ref) = run(reference);
        y.assert_approx_eq::<f32>(&y_ref, Tolerance::absolute(2e-6));
        grad.assert_approx_eq::<f32>(&grad_ref, Tolerance::absolute(1e-5));
    }

    #[test]
    fn tanh_matches_burns_with_gradient() {
        check(tanh, burn::tensor::activation::tanh);
    }

    #[test]
    fn leaky_relu_matches_burns_with_gradient() {
        check(
            |x| leaky_relu(x, 0.2),
            |x| burn::tensor::activation::leaky_relu(x, 0.2),
        );
    }

    #[test]
    fn a_strided_input_is_read_in_its_logical_order() {
        let device = Device::flex();
        let x = Tensor::<2>::random([3, 4], Distribution::Normal(0.0, 1.0), &device);
        let fused = tanh(x.clone().transpose()).into_data();
        let reference = burn::tensor::activation::tanh(x.transpose()).into_data();
        fused.assert_approx_eq::<f32>(&reference, Tolerance::absolute(2e-6));
    }

    #[test]
    fn other_backends_and_slopes_run_burns_operations() {
        #[allow(deprecated)]
        let device = Device::ndarray();
        let x = Tensor::<2>::random([3, 4], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(
            tanh(x.clone()).into_data(),
            burn::tensor::activation::tanh(x.clone()).into_data()
        );
        let flex = Tensor::<2>::from_data(x.into_data(), &Device::flex());
        assert_eq!(
            leaky_relu(flex.clone(), -0.5).into_data(),
            burn::tensor::activation::leaky_relu(flex, -0.5).into_data()
        );
    }
}
