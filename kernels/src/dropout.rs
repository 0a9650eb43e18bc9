//! Burn's `Dropout` as one pass on flex, with a mask that is hashed, not stored.
//!
//! Burn draws a Bernoulli tensor for the mask, one ChaCha draw per element (9.4 ms forward and
//! backward for the classic CNN's `[64, 64, 12, 12]` activations on this project's machine),
//! then multiplies twice. [`dropout`] draws one seed from the device's generator (so
//! `Device::seed` still makes a run repeatable) and keeps element `i` when a hash of `(seed, i)`
//! falls below the keep probability: the forward pass is one vectorizable loop, and the backward
//! pass applies the same mask to the gradient by hashing again, so nothing is kept in memory.
//! Elsewhere (other backends, other element types) it is `Dropout::forward`.
//!
//! ```
//! use burn::nn::DropoutConfig;
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::flex().autodiff();
//! let layer = DropoutConfig::new(0.5).init();
//! let y = zoo_kernels::dropout(&layer, Tensor::<2>::ones([4, 250], &device));
//! let kept = y.clone().greater_elem(0.0).int().sum().into_scalar::<i64>();
//! assert!((400..600).contains(&kept)); // about half of the 1,000 elements
//! assert_eq!(y.max().into_scalar::<f32>(), 2.0); // kept values are scaled by 1 / (1 - 0.5)
//! ```

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Flex, TensorMetadata};
use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::{DType, Distribution};

use crate::flex::{flex_tensor, on_flex_f32, par_build};
use crate::simd;

/// `layer.forward(x)`: during training (an autodiff device and the layer's training flag on)
/// zeroes each element with probability `layer.prob` and scales the others by
/// `1 / (1 - layer.prob)`; otherwise returns `x`. One pass on flex (see the module
/// documentation).
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    if !on_flex_f32(&x) {
        return layer.forward(x);
    }
    let mask = Mask::new(draw_seed(&x.device()), 1.0 - layer.prob);
    Tensor::from_dispatch(<burn::backend::Dispatch as FlexDropout>::zoo_dropout(
        x.into_dispatch(),
        mask,
    ))
}

/// A 48-bit seed from the device's random generator (two uniform draws of 24 bits each).
fn draw_seed(device: &Device) -> u64 {
    let draws = Tensor::<1>::random([2], Distribution::Default, device)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 draws");
    let bits = |u: f32| (u * (1 << 24) as f32) as u64 & 0xff_ffff;
    bits(draws[0]) << 24 | bits(draws[1])
}

/// Which elements a dropout keeps: those whose hash of `(seed, index)` falls below the keep
/// probability, in steps of 2^-24.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mask {
    seed: u64,
    threshold: u32,
    scale: f32,
}

impl Mask {
    /// The mask of one draw: `seed`, and the probability `keep` of keeping an element.
    pub fn new(seed: u64, keep: f64) -> Self {
        Self {
            seed,
            threshold: (keep.clamp(0.0, 1.0) * (1u32 << 24) as f64).round() as u32,
            scale: (1.0 / keep) as f32,
        }
    }

    /// The factor of element `index`: `1 / keep` when kept, 0 when dropped.
    #[inline(always)]
    fn factor(&self, index: u32) -> f32 {
        let h = hash(index ^ self.seed as u32);
        let h = hash(h ^ (self.seed >> 32) as u32);
        if h >> 8 < self.threshold {
            self.scale
        } else {
            0.0
        }
    }

    /// `values` times their factors, element `i` of the tensor being `values[i]`.
    fn apply(&self, values: &[f32]) -> Vec<f32> {
        assert!(
            values.len() <= u32::MAX as usize,
            "the fused dropout indexes elements with 32 bits"
        );
        // Parts of a fixed size on rayon's threads: each element's factor depends on its index
        // alone, so the result is the same at any thread count.
        par_build(values.len(), ELEMENTS_PER_PART, |part, out| {
            let first = part * ELEMENTS_PER_PART;
            let values = &values[first..][..out.len()];
            simd::widest(
                #[inline(always)]
                || {
                    for (index, (o, &v)) in (first as u32..).zip(out.iter_mut().zip(values)) {
                        *o = v * self.factor(index);
                    }
                },
            )
        })
    }
}

/// Elements per rayon task of [`Mask::apply`]: 32K, so the classic CNN's `[64, 64, 12, 12]`
/// activations make 18 tasks and a small layer stays on one thread.
const ELEMENTS_PER_PART: usize = 32 * 1024;

/// A 32-bit integer hash with good avalanche (Wellons' "lowbias32"), written with operations
/// that vectorize.
#[inline]
fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Dropout as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait FlexDropout: Backend {
    /// `x` times the factor `mask` gives each element (row-major order). The backward pass is
    /// the same operation on the output gradient.
    fn zoo_dropout(x: FloatTensor<Self>, mask: Mask) -> FloatTensor<Self>;
}

impl FlexDropout for Flex {
    fn zoo_dropout(x: FloatTensor<Self>, mask: Mask) -> FloatTensor<Self> {
        crate::threads::keep_awake();
        assert_eq!(x.dtype(), DType::F32, "the fused dropout runs in f32");
        let x = x.to_contiguous();
        let values: &[f32] = x.as_slice().expect("contiguous");
        flex_tensor(mask.apply(values), x.shape())
    }
}

impl<B: Backend + FlexDropout, C: CheckpointStrategy> FlexDropout for Autodiff<B, C> {
    fn zoo_dropout(x: FloatTensor<Self>, mask: Mask) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct DropoutBackward;

        impl<B: Backend + FlexDropout> Backward<B, 1> for DropoutBackward {
            type State = Mask;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let grad = grads.consume::<B>(&ops.node);
                if let [Some(parent)] = ops.parents {
                    grads.register::<B>(parent.id, B::zoo_dropout(grad, ops.state));
                }
            }
        }

        let input = x.primitive().clone();
        match DropoutBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(mask, B::zoo_dropout(input, mask)),
            OpsKind::UnTracked(prep) => prep.finish(B::zoo_dropout(input, mask)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::DropoutConfig;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    #[test]
    fn drops_the_expected_fraction_and_scales_the_rest() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.3).init();
        let y = values(dropout(&layer, Tensor::<2>::ones([200, 500], &device)));
        let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
        assert!((dropped - 0.3).abs() < 0.01, "dropped {dropped}");
        let scale = (1.0 / 0.7f64) as f32;
        assert!(y.iter().all(|&v| v == 0.0 || v == scale));
    }

    #[test]
    fn the_gradient_goes_through_the_same_mask() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.5).init();
        let x = Tensor::<2>::ones([30, 40], &device).require_grad();
        let y = dropout(&layer, x.clone());
        let grads = y.clone().sum().backward();
        // With x = 1, y is the mask times the scale, which is also dy/dx.
        assert_eq!(
            values(x.grad(&grads).expect("a gradient")),
            values(y.inner())
        );
    }

    #[test]
    fn a_mask_is_a_function_of_its_seed() {
        let x = || Tensor::<2>::ones([16, 16], &Device::flex()).into_dispatch();
        let run = |seed: u64| {
            let mask = Mask::new(seed, 0.5);
            values(Tensor::<2>::from_dispatch(
                <burn::backend::Dispatch as FlexDropout>::zoo_dropout(x(), mask),
            ))
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert_ne!(
            run(7),
            run(7 | 1 << 40),
            "the high 32 bits of the seed matter too"
        );
    }

    #[test]
    fn every_part_uses_the_indices_of_its_elements() {
        let mask = Mask::new(0x1234_5678_9abc, 0.6);
        let values: Vec<f32> = (0..3 * ELEMENTS_PER_PART + 77).map(|i| i as f32).collect();
        let expected: Vec<f32> = (0u32..)
            .zip(&values)
            .map(|(i, v)| v * mask.factor(i))
            .collect();
        assert_eq!(mask.apply(&values), expected);
    }

    #[test]
    fn without_training_it_is_the_identity() {
        let x = Tensor::<2>::ones([4, 4], &Device::flex());
        let layer = DropoutConfig::new(0.5).init();
        assert_eq!(values(dropout(&layer, x.clone())), vec![1.0; 16]);
        let frozen = layer.freeze();
        let tracked = Tensor::<2>::ones([4, 4], &Device::flex().autodiff());
        assert_eq!(values(dropout(&frozen, tracked)), vec![1.0; 16]);
    }

    #[test]
    fn other_backends_run_burns_dropout() {
        #[allow(deprecated)]
        let device = Device::ndarray().autodiff();
        let layer = DropoutConfig::new(0.5).init();
        let x = Tensor::<2>::ones([8, 8], &device);
        device.seed(3);
        let fused = values(dropout(&layer, x.clone()));
        device.seed(3);
        assert_eq!(fused, values(layer.forward(x)));
    }
}
