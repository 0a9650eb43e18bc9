//! tanh and sigmoid as rational functions that vectorize.
//!
//! ```
//! assert!((zoo_kernels::approx::tanh(0.5) - 0.5f32.tanh()).abs() < 2e-6);
//! assert!((zoo_kernels::approx::sigmoid(0.0) - 0.5).abs() < 2e-6);
//! ```

/// tanh as a rational function (Eigen's float approximation, clamped where tanh is ±1 in f32),
/// within 2e-6 of `f32::tanh`: written without calls so loops over it vectorize.
#[inline]
pub fn tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let p = ((((((-2.760_768_5e-16f32 * x2 + 2.000_188e-13) * x2 - 8.604_672e-11) * x2
        + 5.122_297e-8)
        * x2
        + 1.485_722_4e-5)
        * x2
        + 6.372_619e-4)
        * x2
        + 4.893_524_6e-3)
        * x;
    let q = ((1.198_258_4e-6f32 * x2 + 1.185_347_1e-4) * x2 + 2.268_434_6e-3) * x2 + 4.893_525e-3;
    p / q
}

/// The logistic function `1 / (1 + e^-x)` through [`tanh`]: `0.5 + 0.5 tanh(x / 2)`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    0.5 + 0.5 * tanh(0.5 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_and_sigmoid_match_the_library_functions() {
        for step in -2000..=2000 {
            let x = step as f32 / 100.0;
            assert!((tanh(x) - x.tanh()).abs() < 2e-6, "tanh({x})");
            assert!(
                (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 2e-6,
                "sigmoid({x})"
            );
        }
        assert!((tanh(f32::INFINITY) - 1.0).abs() < 1e-7);
        assert!((tanh(f32::NEG_INFINITY) + 1.0).abs() < 1e-7);
    }
}
