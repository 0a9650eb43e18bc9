//! A strided matrix product on slices, for kernels that run their own loops.
//!
//! ```
//! use zoo_kernels::matrix::{product, View};
//!
//! let a = [1.0, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
//! let mut out = [0.0; 4];
//! product(&mut out, [2, 2, 2], View::rows(&a, 2), View::transposed(&a, 2), false);
//! assert_eq!(out, [5.0, 11.0, 11.0, 25.0]); // a · aᵀ
//! ```

/// A matrix read from a slice: element (i, j) at `i * row_stride + j * column_stride`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    data: &'a [f32],
    row_stride: usize,
    column_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major matrix with `columns` columns.
    pub fn rows(data: &'a [f32], columns: usize) -> Self {
        Self {
            data,
            row_stride: columns,
            column_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `columns` columns.
    pub fn transposed(data: &'a [f32], columns: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            column_stride: columns,
        }
    }

    /// Checks that an `[rows, columns]` matrix read this way stays inside the slice.
    fn check(&self, rows: usize, columns: usize) {
        let last = (rows.max(1) - 1) * self.row_stride + (columns.max(1) - 1) * self.column_stride;
        assert!(
            rows == 0 || columns == 0 || last < self.data.len(),
            "matrix view out of bounds"
        );
    }
}

/// `dst [m, n] (+)= lhs [m, k] · rhs [k, n]` on this thread, `dst` row-major; adds to `dst`
/// when `accumulate`, overwrites it otherwise.
///
/// # Panics
///
/// When `dst` does not hold `m * n` values or a view reaches past its slice.
pub fn product(dst: &mut [f32], [m, k, n]: [usize; 3], lhs: View, rhs: View, accumulate: bool) {
    assert_eq!(dst.len(), m * n, "the product needs an [m, n] destination");
    lhs.check(m, k);
    rhs.check(k, n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    let stride = |s: usize| s as isize;
    // SAFETY: the checks above keep every element the strides reach inside the three slices,
    // and `dst` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(n),
            accumulate,
            lhs.data.as_ptr(),
            stride(lhs.column_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.column_stride),
            stride(rhs.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            // One thread: the kernels that call it split their work across images or run at
            // sizes where rayon's split cost more than it saved (see the `lstm` and `conv` modules).
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product by definition, for comparison.
    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
            }
        }
        out
    }

    #[test]
    fn every_layout_matches_the_definition() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|v| (v as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|v| (v as f32 * 0.11).cos()).collect();
        let a_t: Vec<f32> = (0..k * m).map(|v| a[(v % m) * k + v / m]).collect(); // [k, m]
        let b_t: Vec<f32> = (0..n * k).map(|v| b[(v % k) * n + v / k]).collect(); // [n, k]
        let expected = naive(m, k, n, |i, p| a[i * k + p], |p, j| b[p * n + j]);
        let lhs = [View::rows(&a, k), View::transposed(&a_t, m)];
        let rhs = [View::rows(&b, n), View::transposed(&b_t, k)];
        for l in lhs {
            for r in rhs {
                let mut out = vec![1.0; m * n];
                product(&mut out, [m, k, n], l, r, false);
                for (o, e) in out.iter().zip(&expected) {
                    assert!((o - e).abs() < 1e-5, "{o} vs {e}");
                }
                product(&mut out, [m, k, n], l, r, true);
                for (o, e) in out.iter().zip(&expected) {
                    assert!((o - 2.0 * e).abs() < 1e-5, "accumulated {o} vs {}", 2.0 * e);
                }
            }
        }
    }

    #[test]
    fn an_empty_inner_dimension_gives_zeros() {
        let mut out = vec![3.0; 4];
        product(
            &mut out,
            [2, 0, 2],
            View::rows(&[], 0),
            View::rows(&[], 2),
            false,
        );
        assert_eq!(out, [0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn a_view_past_its_slice_panics() {
        let mut out = vec![0.0; 4];
        product(
            &mut out,
            [2, 2, 2],
            View::rows(&[1.0; 3], 2),
            View::rows(&[1.0; 4], 2),
            false,
        );
    }
}
