//! tanh and LeakyReLU as one tensor operation each on flex, backward pass included, and the
//! activations the fused layers ([`linear`](crate::linear()), [`conv2d`](crate::conv2d())) apply
//! in place.
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
use burn::tensor::DType;

use crate::approx;
use crate::flex::{self, flex_tensor, on_flex_f32, values};
use crate::simd;

/// An elementwise activation of the fused operations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pointwise {
    /// `x` where `x > 0` or `x` is NaN, `0` elsewhere: Burn's `relu`, bit for bit.
    Relu,
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
            Pointwise::Relu => {
                if x.is_nan() || x > 0.0 {
                    x
                } else {
                    0.0
                }
            }
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

    /// The gradient of the input from the activation `y` and its gradient `g`: `g` times the
    /// derivative, and for ReLU Burn's select (`g` where `y > 0` or `y` is NaN, `0` elsewhere),
    /// which keeps a NaN or infinite `g` out of the zeroed entries.
    #[inline(always)]
    pub(crate) fn input_grad(self, y: f32, g: f32) -> f32 {
        match self {
            Pointwise::Relu => {
                if y.is_nan() || y > 0.0 {
                    g
                } else {
                    0.0
                }
            }
            Pointwise::Tanh => g * (1.0 - y * y),
            Pointwise::LeakyRelu { slope } => {
                if y < 0.0 {
                    g * slope
                } else {
                    g
                }
            }
        }
    }

    /// Whether the fused operations compute this activation themselves; the others take
    /// [`burn_activation`] after Burn's layer.
    pub(crate) fn fused(self) -> bool {
        match self {
            Pointwise::LeakyRelu { slope } => slope > 0.0,
            Pointwise::Relu | Pointwise::Tanh => true,
        }
    }
}

/// `activation` of `pre` in Burn's own operations (`None`: `pre` unchanged): how the fused
/// layers finish on the backends and inputs they leave to Burn.
pub(crate) fn burn_activation<const D: usize>(
    pre: Tensor<D>,
    activation: Option<Pointwise>,
) -> Tensor<D> {
    match activation {
        None => pre,
        Some(Pointwise::Relu) => burn::tensor::activation::relu(pre),
        Some(Pointwise::Tanh) => burn::tensor::activation::tanh(pre),
        Some(Pointwise::LeakyRelu { slope }) => {
            burn::tensor::activation::leaky_relu(pre, slope as f64)
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

/// `activation` of a backend's tensor in that backend's own operations (`None`: unchanged): a
/// fused operation's result where its own kernel does not run.
pub(crate) fn backend_activation<B: Backend>(
    pre: FloatTensor<B>,
    activation: Option<Pointwise>,
) -> FloatTensor<B> {
    match activation {
        None => pre,
        Some(Pointwise::Relu) => B::relu(pre),
        Some(Pointwise::Tanh) => B::float_tanh(pre),
        Some(Pointwise::LeakyRelu { slope }) => B::leaky_relu(pre, (slope as f64).into()),
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

/// The values of `tensor` for writing in place, when it is contiguous from the start of a
/// buffer that no other tensor shares (as Burn's own element-wise operations do).
fn own_values(tensor: &mut FlexTensor) -> Option<&mut [f32]> {
    let len = tensor.layout().num_elements();
    if tensor.dtype() != DType::F32 || tensor.layout().contiguous_offsets() != Some((0, len)) {
        return None;
    }
    tensor
        .try_storage_mut::<f32>()
        .map(|values| &mut values[..len])
}

impl FlexActivation for Flex {
    fn zoo_activate(mut x: FloatTensor<Self>, activation: Pointwise) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        if let Some(values) = own_values(&mut x) {
            simd::par_update(values, move |v| activation.value(v));
            return x;
        }
        let x = contiguous(x);
        let y = simd::par_map(values(&x), move |v| activation.value(v));
        flex_tensor(y, x.shape())
    }

    fn zoo_activate_backward(
        y: FloatTensor<Self>,
        mut output_grad: FloatTensor<Self>,
        activation: Pointwise,
    ) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        let y = contiguous(y);
        let ys = values(&y);
        // The output gradient's buffer becomes the input gradient's when nothing else holds it
        // (no new pages to fault in: 8% of the classic CNN's training time when it was new).
        if let Some(grads) = own_values(&mut output_grad) {
            simd::par_zip_update(grads, ys, move |g, y| activation.input_grad(y, g));
            return output_grad;
        }
        let grad = contiguous(output_grad);
        let input_grad =
            simd::par_zip_map(ys, values(&grad), move |y, g| activation.input_grad(y, g));
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
    fn in_place_and_in_a_new_buffer_give_the_scalar_bits() {
        let device = Device::flex();
        // 70,000 values: three parts of the parallel passes.
        let x = Tensor::<2>::random([70, 1000], Distribution::Normal(0.0, 2.0), &device);
        let g = Tensor::<2>::random([70, 1000], Distribution::Normal(0.0, 1.0), &device);
        let bits =
            |t: Tensor<2>| -> Vec<u32> { t.into_data().iter::<f32>().map(f32::to_bits).collect() };
        let own = |t: &Tensor<2>| Tensor::<2>::from_data(t.to_data(), &device); // a buffer of its own
        let (xs, gs) = (
            x.to_data().try_to_vec::<f32>().unwrap(),
            g.to_data().try_to_vec::<f32>().unwrap(),
        );
        type Dispatch = burn::backend::Dispatch;
        for activation in [
            Pointwise::Relu,
            Pointwise::Tanh,
            Pointwise::LeakyRelu { slope: 0.2 },
        ] {
            let activate = |x: Tensor<2>| {
                Tensor::<2>::from_dispatch(Dispatch::zoo_activate(x.into_dispatch(), activation))
            };
            let expected: Vec<u32> = xs.iter().map(|&v| activation.value(v).to_bits()).collect();
            // `x` itself stays alive, so its buffer is shared: a new one is written.
            assert_eq!(
                bits(activate(x.clone())),
                expected,
                "{activation:?}, new buffer"
            );
            assert_eq!(
                bits(activate(own(&x))),
                expected,
                "{activation:?}, in place"
            );
            let y = activate(x.clone());
            let ys = y.to_data().try_to_vec::<f32>().unwrap();
            let backward = |g: Tensor<2>| {
                let (y, g) = (y.clone().into_dispatch(), g.into_dispatch());
                Tensor::<2>::from_dispatch(Dispatch::zoo_activate_backward(y, g, activation))
            };
            let expected: Vec<u32> = ys
                .iter()
                .zip(&gs)
                .map(|(&y, &g)| activation.input_grad(y, g).to_bits())
                .collect();
            assert_eq!(
                bits(backward(g.clone())),
                expected,
                "{activation:?} backward, new buffer"
            );
            assert_eq!(
                bits(backward(own(&g))),
                expected,
                "{activation:?} backward, in place"
            );
        }
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
