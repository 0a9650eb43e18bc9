//! Which tensors the fused flex operations take (the dispatch test they share) and how they
//! read and build flex tensors.

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;
use std::mem::MaybeUninit;

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

/// A new vector of `len` values built in parts of `part` values on rayon's threads: each part
/// is zeroed by the thread that then hands it to `fill(index, part)`, so that part `index`
/// holds values `index * part..` (the last part may be shorter).
///
/// A kernel's output made as `vec![0.0; len]` is zeroed on the calling thread before the
/// parallel loop starts: at 2 threads that serial zeroing of the classic CNN's activations and
/// gradients was 11% of its training thread (`perf`). Zeroed here, it is shared out with the
/// work and done just before the part is written, while the part is in cache.
/// `zoo bench cnn-mnist --backends flex --batches 150 --warmup 10`, two alternating rounds on 2
/// cores, with the convolution, pooling and dropout outputs built here: 1,688-1,743 →
/// 1,905-1,964 samples/s at 2 threads, 1,019-1,038 → 1,083-1,094 at 1.
///
/// # Panics
///
/// When `part` is zero.
pub(crate) fn par_build(
    len: usize,
    part: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    par_build_with(len, part, fill).0
}

/// [`par_build`] where `fill` also returns a value per part: the vector, and those values in
/// part order.
///
/// # Panics
///
/// When `part` is zero.
pub(crate) fn par_build_with<R: Send>(
    len: usize,
    part: usize,
    fill: impl Fn(usize, &mut [f32]) -> R + Sync,
) -> (Vec<f32>, Vec<R>) {
    assert!(part > 0, "par_build: parts of zero values");
    let mut values = Vec::with_capacity(len);
    let results = values.spare_capacity_mut()[..len]
        .par_chunks_mut(part)
        .enumerate()
        .map(|(index, part)| fill(index, zeroed(part)))
        .collect();
    // SAFETY: every part of the first `len` values was zeroed above (a panic in `fill` ends the
    // call before this line).
    unsafe { values.set_len(len) };
    (values, results)
}

/// `slots` set to 0.0, as initialised values.
pub(crate) fn zeroed(slots: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: all zero bits are 0.0, so after `write_bytes` every slot holds an initialised f32
    // and the slice may be read as `[f32]`.
    unsafe {
        std::ptr::write_bytes(slots.as_mut_ptr(), 0, slots.len());
        std::slice::from_raw_parts_mut(slots.as_mut_ptr().cast::<f32>(), slots.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_build_hands_out_zeroed_parts_in_order() {
        // 10 values in parts of 4: indices 0, 1, 2, the last part 2 values long.
        let built = par_build(10, 4, |index, part| {
            assert!(part.iter().all(|&v| v == 0.0), "part {index} not zeroed");
            part[0] = index as f32 + 1.0;
            if index == 2 {
                assert_eq!(part.len(), 2);
            }
        });
        assert_eq!(built, [1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.0]);
        assert!(par_build(0, 4, |_, _| panic!("no part for no values")).is_empty());
    }
}
