//! Which tensors the fused flex operations take: the dispatch test they share.

use burn::tensor::{DType, Device, Tensor};

/// Whether `x` is an f32 tensor on flex, with or without autodiff: what the fused operations
/// cover (every other tensor takes Burn's own operations).
pub(crate) fn on_flex_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && x.device().without_autodiff() == Device::flex()
}
