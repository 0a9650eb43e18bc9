//! The kernels' element-wise loops on the widest vector instructions this CPU has.
//!
//! The crate is compiled for baseline x86-64, so the loops the compiler vectorizes (gate
//! arithmetic, activations, Adam, pooling) use 4-lane SSE instructions. [`widest`] runs a
//! closure inside a function compiled for AVX-512 or AVX2, picked at run time by pulp (the
//! dispatcher gemm uses for its own kernels), so the same loops compile to 16- or 8-lane code.
//! The closure is inlined there, together with the `#[inline]` helpers it calls
//! ([`crate::approx`]).
//!
//! The results are the same bits on every path: Rust never fuses `a * b + c` into one FMA, and
//! LLVM keeps the order of floating-point sums when it vectorizes, so each lane computes what
//! the scalar code computes.
//!
//! `zoo bench RECIPE --backends flex --batches 120 --warmup 10` at 2 threads on a Zen 4 EPYC,
//! four rounds alternating with the build before (0157944), medians in samples/s: gan-mnist
//! 8,968 → 10,296, lstm-seqmnist 8,550 → 9,180, mlp-mnist 114,366 → 122,446, cnn-mnist 1,612 →
//! 1,677. Every mini recipe gives the same `summary.json` metrics as before.

/// Runs `loops` compiled for the widest vector instruction set of this CPU: AVX-512, else
/// AVX2 with FMA, else the baseline.
///
/// Pass the closure as `#[inline(always)] || ...`, and mark the functions it calls
/// `#[inline(always)]` too: LLVM may otherwise keep the closure a function of its own, compiled
/// for the baseline, and nothing gets wider (seen in `objdump`: a `call` inside pulp's
/// `vectorize`). Capture small values by `move` where a loop tests them, as [`zip_map`] does.
#[inline(always)]
pub(crate) fn widest<R>(loops: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        // pulp's `Arch` only offers AVX2 with its `x86-v3` feature, which gemm leaves off;
        // its `V3` type itself is always there.
        if let Some(simd) = pulp::x86::V4::try_new() {
            return simd.vectorize(loops);
        }
        if let Some(simd) = pulp::x86::V3::try_new() {
            return simd.vectorize(loops);
        }
    }
    loops()
}

/// `f(a[i], b[i])` for each `i`, as a new vector written by [`widest`] code. Panics when `a` and
/// `b` differ in length.
#[inline(always)]
pub(crate) fn zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "zip_map of slices of different lengths");
    let mut out = Vec::with_capacity(a.len());
    zip_into(&mut out.spare_capacity_mut()[..a.len()], a, b, f);
    // SAFETY: `zip_into` wrote all `a.len()` slots.
    unsafe { out.set_len(a.len()) };
    out
}

/// Writes `f(a[i], b[i])` into `slots[i]` for each `i` of the shortest of the three, in
/// [`widest`] code.
#[inline(always)]
fn zip_into(
    slots: &mut [std::mem::MaybeUninit<f32>],
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32,
) {
    // `move`: what `f` captures is copied into the wide function, so the compiler knows the
    // writes to `slots` cannot change it, and takes its branches out of the loop.
    widest(
        #[inline(always)]
        move || {
            for ((slot, &a), &b) in slots.iter_mut().zip(a).zip(b) {
                slot.write(f(a, b));
            }
        },
    );
}

/// Values per rayon task of [`par_zip_map`]: 128 KiB of output, a fixed size, so the tasks (and
/// the results, element by element anyway) do not depend on the thread count.
const VALUES_PER_TASK: usize = 32 * 1024;

/// [`zip_map`] on rayon's threads, in parts of a fixed size: the activations of the classic CNN
/// (2.4 million values a batch for its second convolution) are too large for one thread.
pub(crate) fn par_zip_map(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32 + Copy + Send + Sync,
) -> Vec<f32> {
    use rayon::prelude::*;
    assert_eq!(a.len(), b.len(), "zip_map of slices of different lengths");
    let mut out = Vec::with_capacity(a.len());
    out.spare_capacity_mut()[..a.len()]
        .par_chunks_mut(VALUES_PER_TASK)
        .zip(a.par_chunks(VALUES_PER_TASK))
        .zip(b.par_chunks(VALUES_PER_TASK))
        .for_each(|((slots, a), b)| zip_into(slots, a, b, f));
    // SAFETY: the parts above cover all `a.len()` slots, and `zip_into` wrote each of them.
    unsafe { out.set_len(a.len()) };
    out
}

/// `f` of each value of `values`, as a new vector: [`par_zip_map`] of one slice.
pub(crate) fn par_map(values: &[f32], f: impl Fn(f32) -> f32 + Copy + Send + Sync) -> Vec<f32> {
    par_zip_map(values, values, move |v, _| f(v))
}

/// `values[i] = f(values[i], other[i])` for each `i`, in place, on rayon's threads in parts as
/// [`par_zip_map`]: for a tensor whose buffer no other tensor shares. Panics when the lengths
/// differ.
pub(crate) fn par_zip_update(
    values: &mut [f32],
    other: &[f32],
    f: impl Fn(f32, f32) -> f32 + Copy + Send + Sync,
) {
    use rayon::prelude::*;
    assert_eq!(
        values.len(),
        other.len(),
        "zip_update of slices of different lengths"
    );
    values
        .par_chunks_mut(VALUES_PER_TASK)
        .zip(other.par_chunks(VALUES_PER_TASK))
        .for_each(|(values, other)| {
            widest(
                #[inline(always)]
                move || {
                    for (v, &o) in values.iter_mut().zip(other) {
                        *v = f(*v, o);
                    }
                },
            )
        });
}

/// `values[i] = f(values[i])` for each `i`, in place, as [`par_zip_update`].
pub(crate) fn par_update(values: &mut [f32], f: impl Fn(f32) -> f32 + Copy + Send + Sync) {
    use rayon::prelude::*;
    values.par_chunks_mut(VALUES_PER_TASK).for_each(|values| {
        widest(
            #[inline(always)]
            move || values.iter_mut().for_each(|v| *v = f(*v)),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maps_give_the_scalar_loops_bits() {
        // Lengths around every vector width, with a tail.
        // And across the parts of `par_zip_map`.
        for len in [0, 1, 7, 8, 15, 16, 17, 33, 1000, 2 * VALUES_PER_TASK + 5] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 5.0).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let f = |x: f32| crate::approx::tanh(x) / (x * x + 0.5).sqrt();
            let g = |x: f32, y: f32| x * y - x / (y.abs() + 1.0);
            let mapped: Vec<u32> = par_map(&a, f).iter().map(|v| v.to_bits()).collect();
            let scalar: Vec<u32> = a.iter().map(|&x| f(x).to_bits()).collect();
            assert_eq!(mapped, scalar, "par_map, length {len}");
            let zipped: Vec<u32> = zip_map(&a, &b, g).iter().map(|v| v.to_bits()).collect();
            let scalar: Vec<u32> = a.iter().zip(&b).map(|(&x, &y)| g(x, y).to_bits()).collect();
            assert_eq!(zipped, scalar, "zip_map, length {len}");
            let parallel: Vec<u32> = par_zip_map(&a, &b, g).iter().map(|v| v.to_bits()).collect();
            assert_eq!(parallel, scalar, "par_zip_map, length {len}");
            let mut updated = a.clone();
            par_zip_update(&mut updated, &b, g);
            let updated: Vec<u32> = updated.iter().map(|v| v.to_bits()).collect();
            assert_eq!(updated, scalar, "par_zip_update, length {len}");
            let mut updated = a.clone();
            par_update(&mut updated, f);
            let updated: Vec<u32> = updated.iter().map(|v| v.to_bits()).collect();
            assert_eq!(updated, mapped, "par_update, length {len}");
        }
    }

    #[test]
    #[should_panic(expected = "different lengths")]
    fn zip_map_refuses_slices_of_different_lengths() {
        zip_map(&[1.0, 2.0], &[1.0], |a, b| a + b);
    }
}
