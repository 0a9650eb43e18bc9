//! Adam with a one-pass update on the flex CPU backend.
//!
//! Burn's Adam updates a parameter with about a dozen whole-tensor operations (moments, bias
//! correction, square root, division), each reading and writing the full tensor: for the MLP
//! GAN that was as long as its forward and backward passes. [`FusedAdam`] computes the same
//! update in one pass over parameter, gradient and both moments on flex, in place when the
//! tensors are not shared, and keeps Burn's `AdamState` (so optimizer checkpoints are the
//! same); elsewhere, and with weight decay or AMSGrad, it runs Burn's Adam.
//!
//! ```
//! use burn::nn::LinearConfig;
//! use burn::optim::{GradientsParams, ModuleOptimizer};
//! use burn::tensor::{Device, Tensor};
//! use zoo_kernels::FusedAdam;
//!
//! let device = Device::flex().autodiff();
//! let layer = LinearConfig::new(4, 2).init(&device);
//! let mut optimizer = ModuleOptimizer::from(FusedAdam::new(1e-8));
//! let x = Tensor::<2>::ones([3, 4], &device); // [batch, 4]
//! let loss = layer.forward(x).powi_scalar(2).sum(); // [1]
//! let grads = GradientsParams::from_grads(loss.backward(), &layer);
//! let layer = optimizer.step(1e-3, layer, grads);
//! assert_eq!(layer.weight.dims(), [4, 2]);
//! ```

use std::mem::MaybeUninit;

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Flex, TensorMetadata};
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::prelude::*;
use burn::tensor::DType;

use crate::flex::flex_tensor;
use crate::simd;
use rayon::prelude::*;

/// Adam (Kingma & Ba) as Burn computes it, fused into one pass on flex.
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Burn's Adam with the same settings, for the other backends.
    burn: Adam,
}

impl FusedAdam {
    /// Adam with `epsilon` and Burn's default betas (0.9, 0.999), no weight decay.
    pub fn new(epsilon: f32) -> Self {
        Self::with_betas(0.9, 0.999, epsilon)
    }

    /// Adam with the given betas and epsilon, no weight decay.
    pub fn with_betas(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        let burn = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .build();
        Self {
            beta_1,
            beta_2,
            epsilon,
            burn,
        }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if tensor.device().without_autodiff() != Device::flex() || tensor.dtype() != DType::F32 {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (time, moment_1, moment_2) = match state {
            Some(AdamState { momentum }) => {
                (momentum.time + 1, momentum.moment_1, momentum.moment_2)
            }
            None => (1, tensor.zeros_like(), tensor.zeros_like()),
        };
        // Burn's bias correction: update = m * c / (sqrt(v) + epsilon * sqrt(1 - beta_2^t)),
        // c = sqrt(1 - beta_2^t) / (1 - beta_1^t).
        let correction_2 = (1.0 - self.beta_2.powi(time as i32)).sqrt();
        let (tensor, moment_1, moment_2) = <burn::backend::Dispatch as FusedAdamOps>::zoo_adam_step(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            lr as f32,
            self.beta_1,
            self.beta_2,
            correction_2 / (1.0 - self.beta_1.powi(time as i32)),
            self.epsilon * correction_2,
        );
        let momentum = AdaptiveMomentumState::new(
            time,
            Tensor::from_dispatch(moment_1),
            Tensor::from_dispatch(moment_2),
        );
        (
            Tensor::from_dispatch(tensor),
            Some(AdamState::new(momentum)),
        )
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// One Adam step over a whole parameter tensor.
#[backend_extension(Flex)]
pub trait FusedAdamOps: Backend {
    /// Returns the parameter, first and second moments after one step with gradient `grad`:
    /// `m = beta_1 m + (1 - beta_1) g`, `v = beta_2 v + (1 - beta_2) g²`,
    /// `param -= lr * scale * m / (sqrt(v) + epsilon)`, with subnormal gradients and moments
    /// taken as zero.
    #[allow(clippy::too_many_arguments)]
    fn zoo_adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        lr: f32,
        beta_1: f32,
        beta_2: f32,
        scale: f32,
        epsilon: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl FusedAdamOps for Flex {
    fn zoo_adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        lr: f32,
        beta_1: f32,
        beta_2: f32,
        scale: f32,
        epsilon: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        crate::threads::keep_awake();
        let (grad, param) = (grad.to_contiguous(), param.to_contiguous());
        let grad: &[f32] = grad.as_slice().expect("contiguous gradient");
        let old: &[f32] = param.as_slice().expect("contiguous parameter");
        // The moments belong to the optimizer and are updated in place; the parameter's buffer
        // is usually still shared with the model the caller holds, so the new values go to a
        // fresh buffer instead of a copy-then-update.
        let (mut moment_1, mut moment_2) = (owned(moment_1), owned(moment_2));
        // Every value of `new` is written below: no zeroing first (it was 2% of the MLP GAN's
        // cycles at 1 thread).
        let mut new: Vec<f32> = Vec::with_capacity(old.len());
        let (m, v) = (values_mut(&mut moment_1), values_mut(&mut moment_2));
        let update =
            |new: &mut [MaybeUninit<f32>], old: &[f32], m: &mut [f32], v: &mut [f32], g: &[f32]| {
                simd::widest(
                    #[inline(always)]
                    || {
                        for ((((new, old), m), v), g) in
                            new.iter_mut().zip(old).zip(m).zip(v).zip(g)
                        {
                            let g = flush_subnormal(*g);
                            *m = flush_subnormal(beta_1 * *m + (1.0 - beta_1) * g);
                            *v = flush_subnormal(beta_2 * *v + (1.0 - beta_2) * g * g);
                            new.write(old - lr * (scale * *m / (v.sqrt() + epsilon)));
                        }
                    },
                )
            };
        // Smaller parameters stay on one thread. The threshold was a quarter million while every
        // split had to wake a sleeping worker; with the workers kept awake
        // (`threads::keep_awake`), splitting from 65,536 values up paid, `zoo bench RECIPE
        // --backends flex --batches 150 --warmup 10` at 2 threads, alternating builds:
        // gan-mnist (two 131,072-value weights) 14,485-14,803 -> 14,849-15,245 samples/s,
        // mlp-mnist (its largest weight has 100,352) 124,830 -> 137,015; level at 1 thread.
        const PARALLEL_MIN: usize = 1 << 16;
        const CHUNK: usize = 1 << 14;
        assert!(
            [m.len(), v.len(), grad.len()] == [old.len(); 3],
            "Adam: parameter, moments and gradient differ in size"
        );
        let slots = &mut new.spare_capacity_mut()[..old.len()];
        if old.len() < PARALLEL_MIN {
            update(slots, old, m, v, grad);
        } else {
            slots
                .par_chunks_mut(CHUNK)
                .zip(old.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .zip(grad.par_chunks(CHUNK))
                .for_each(|((((new, old), m), v), g)| update(new, old, m, v, g));
        }
        // SAFETY: the loops above wrote all `old.len()` slots: the five slices they zip have
        // `old.len()` values each (asserted).
        unsafe { new.set_len(old.len()) };
        let param = flex_tensor(new, param.shape());
        (param, moment_1, moment_2)
    }
}

/// `x`, or zero when it is subnormal (below `f32::MIN_POSITIVE` in magnitude).
///
/// A parameter whose gradient stops (a weight on an MNIST pixel that is almost always black)
/// keeps a first moment that shrinks by `beta_1` every step, and after about 800 steps it is
/// subnormal. x86 CPUs take a microcode assist, around a hundred cycles, for every operation on
/// a subnormal: mlp-mnist's second and later epochs trained at 40,000 samples/s instead of
/// 88,000, 45% of the time in this kernel. A subnormal moment moves its parameter by under
/// `lr * 1.2e-38 / epsilon`, far below the last bit of any parameter above 1e-25 in magnitude:
/// the 10-epoch mlp-mnist run gave the same accuracy and losses to the last printed digit.
#[inline(always)]
fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

/// `tensor` in contiguous storage (copied only when it is a strided view).
fn owned(tensor: FlexTensor) -> FlexTensor {
    if tensor.is_contiguous() {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

/// The elements of a contiguous tensor, writable (copied first if the buffer is shared).
fn values_mut(tensor: &mut FlexTensor) -> &mut [f32] {
    let (start, end) = tensor.layout().contiguous_offsets().expect("contiguous");
    &mut tensor.storage_mut::<f32>()[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::Tolerance;

    /// A `[inputs, outputs]` layer after three Adam steps on a fixed loss, with `optimizer`.
    fn after_three_steps(
        device: &Device,
        [inputs, outputs]: [usize; 2],
        mut optimizer: burn::optim::ModuleOptimizer,
    ) -> Linear {
        // Values from a formula, not the device's generator: tests run in parallel and share it.
        let wave = |n: usize, frequency: f64| {
            Tensor::<1, Int>::arange(0..n as i64, device)
                .float()
                .mul_scalar(frequency)
                .sin()
        };
        let mut layer = LinearConfig::new(inputs, outputs).init(device);
        layer.weight = Param::from_tensor(
            wave(inputs * outputs, 0.37)
                .mul_scalar(0.1)
                .reshape([inputs, outputs]),
        );
        layer.bias = Some(Param::from_tensor(wave(outputs, 0.11)));
        let x = wave(6 * inputs, 0.73).reshape([6, inputs]);
        for _ in 0..3 {
            let loss = layer.forward(x.clone()).powi_scalar(2).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optimizer.step(1e-2, layer, grads);
        }
        layer
    }

    /// The fused step against Burn's Adam on a `[inputs, outputs]` layer, on flex.
    fn compare_on_flex(sizes: [usize; 2]) {
        let device = Device::flex().autodiff();
        let fused = FusedAdam::with_betas(0.5, 0.99, 1e-8).into();
        let fused = after_three_steps(&device, sizes, fused);
        let burn = AdamConfig::new()
            .with_beta_1(0.5)
            .with_beta_2(0.99)
            .with_epsilon(1e-8)
            .init();
        let burn = after_three_steps(&device, sizes, burn);
        let tolerance = Tolerance::<f32>::absolute(1e-6);
        fused
            .weight
            .val()
            .to_data()
            .assert_approx_eq(&burn.weight.val().to_data(), tolerance);
        let bias = |layer: &Linear| layer.bias.as_ref().expect("bias").val().to_data();
        bias(&fused).assert_approx_eq(&bias(&burn), tolerance);
    }

    #[test]
    fn matches_burns_adam_on_flex() {
        compare_on_flex([5, 4]);
    }

    #[test]
    fn matches_burns_adam_on_flex_for_a_parameter_split_across_threads() {
        compare_on_flex([600, 512]); // 307,200 weights: above PARALLEL_MIN
    }

    #[test]
    fn other_backends_run_burns_adam() {
        #[allow(deprecated)]
        let device = Device::ndarray().autodiff();
        let fused = after_three_steps(&device, [5, 4], FusedAdam::new(1e-8).into());
        let burn = AdamConfig::new().with_epsilon(1e-8).init();
        let burn = after_three_steps(&device, [5, 4], burn);
        fused
            .weight
            .val()
            .to_data()
            .assert_eq(&burn.weight.val().to_data(), true);
    }

    #[test]
    fn subnormal_gradients_and_moments_become_zero_and_leave_the_parameter_as_is() {
        let tiny = f32::MIN_POSITIVE / 4.0; // subnormal
        let small = f32::MIN_POSITIVE * 4.0; // normal, and kept
        let tensor = |values: Vec<f32>| flex_tensor(values, [3]);
        let (param, moment_1, moment_2) = Flex::zoo_adam_step(
            tensor(vec![0.5, -0.25, 1.0]),
            tensor(vec![0.0, tiny, 0.0]), // grad
            tensor(vec![tiny, 0.0, small]),
            tensor(vec![0.0, tiny, 1.0]),
            1e-3,
            0.9,
            0.999,
            1.0,
            1e-8,
        );
        let values = |t: FlexTensor| t.into_data().try_to_vec::<f32>().unwrap();
        // 0.9 * tiny is subnormal; 0.9 * small is not.
        assert_eq!(values(moment_1), [0.0, 0.0, 0.9 * small]);
        assert_eq!(values(moment_2), [0.0, 0.0, 0.999]);
        assert_eq!(values(param), [0.5, -0.25, 1.0]);
    }
}
