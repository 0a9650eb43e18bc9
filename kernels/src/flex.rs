//! Which tensors the fused flex operations take (the dispatch test they share) and how they
//! read and build flex tensors.

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Device, Tensor, TensorData};

/// Whether `x` is an f32 tensor on flex, with or without autodiff: what the fused operations
/// cover (every other tensor takes Burn's own operations).
pub(crate) fn on_flex_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && x.device().without_autodiff() == Device::flex()
}

/// `tensor` with contiguous f32 storage: the same buffer unless it was a strided view. Panics,
/// naming the `kernel`, on another element type.
pub(crate) fn contiguous(tensor: FlexTensor, kernel: &str) -> FlexTensor {
    assert_eq!(tensor.dtype(), DType::F32, "the fused {kernel} runs in f32");
    tensor.to_contiguous()
}

/// The elements of a tensor from [`contiguous`].
pub(crate) fn values(tensor: &FlexTensor) -> &[f32] {
    tensor.as_slice().expect("contiguous")
}

/// A flex tensor of `shape` holding `data`.
pub(crate) fn flex_tensor(data: Vec<f32>, shape: impl Into<Vec<usize>>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape.into()))
}
