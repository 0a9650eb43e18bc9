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

use std::marker::PhantomData;

use rayon::prelude::*;

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

    /// The strides of an `[rows, columns]` matrix read this way, as `gemm` takes them
    /// (`[row, column]`), or why it does not fit its slice: its last element, at
    /// `(rows - 1) * row_stride + (columns - 1) * column_stride`, must lie inside the slice, and
    /// both strides must fit an `isize`. Every step is checked arithmetic, so no size or stride,
    /// however large, wraps around the check. A view with no element fits any slice; its
    /// strides are never used (returned as `[0, 0]`).
    fn strides(&self, rows: usize, columns: usize) -> Result<[isize; 2], String> {
        if rows == 0 || columns == 0 {
            return Ok([0, 0]);
        }
        let refuse = |how: &str| {
            Err(format!(
                "matrix view out of bounds: a [{rows}, {columns}] matrix with strides \
                 ({}, {}) {how}, in a slice of {} values",
                self.row_stride,
                self.column_stride,
                self.data.len()
            ))
        };
        let last = (rows - 1).checked_mul(self.row_stride).and_then(|a| {
            (columns - 1)
                .checked_mul(self.column_stride)?
                .checked_add(a)
        });
        match last {
            None => refuse("reaches beyond index usize::MAX"),
            Some(last) if last >= self.data.len() => refuse(&format!("reaches index {last}")),
            Some(_) => match (
                isize::try_from(self.row_stride),
                isize::try_from(self.column_stride),
            ) {
                (Ok(row), Ok(column)) => Ok([row, column]),
                _ => refuse("has a stride above isize::MAX"),
            },
        }
    }
}

/// `dst [m, n] (+)= lhs [m, k] · rhs [k, n]` on this thread, `dst` row-major; adds to `dst`
/// when `accumulate`, overwrites it otherwise.
///
/// # Panics
///
/// Before touching any memory, when `dst` does not hold `m * n` values (an `m * n` that
/// overflows `usize` included), or when a view reaches past its slice or has a stride above
/// `isize::MAX` (see [`View`]); the message says which and gives the numbers. The check uses
/// checked arithmetic throughout, so no size or stride, however large, gets through it.
pub fn product(dst: &mut [f32], [m, k, n]: [usize; 3], lhs: View, rhs: View, accumulate: bool) {
    let size = m.checked_mul(n);
    assert!(
        size == Some(dst.len()),
        "the product needs an [m, n] destination: [{m}, {n}] is {} values, dst holds {}",
        size.map_or("more than usize::MAX".to_string(), |size| size.to_string()),
        dst.len()
    );
    // SAFETY: `dst` holds the `m * n` values of a row-major `[m, n]` matrix (checked above), is
    // borrowed mutably, so no view aliases it, and every row of it fits isize: no slice holds
    // more than `isize::MAX` bytes.
    unsafe { product_into(dst.as_mut_ptr(), n, [m, k, n], lhs, rhs, accumulate) }
}

/// `dst [m, n] (+)= lhs [m, k] · rhs [k, n]` through `gemm`, one thread, `dst` row `i` at
/// `dst + i * dst_row_stride`; checks both views first (see [`View`]).
///
/// # Safety
///
/// `dst` must be valid for writes of the `m` rows of `n` values at that stride, no view may
/// alias them, and `dst_row_stride` must fit `isize`.
unsafe fn product_into(
    dst: *mut f32,
    dst_row_stride: usize,
    [m, k, n]: [usize; 3],
    lhs: View,
    rhs: View,
    accumulate: bool,
) {
    let [lhs_row, lhs_column] = lhs.strides(m, k).unwrap_or_else(|why| panic!("lhs: {why}"));
    let [rhs_row, rhs_column] = rhs.strides(k, n).unwrap_or_else(|why| panic!("rhs: {why}"));
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                // SAFETY: row `row` of `dst`, valid for `n` writes (the caller's promise); all
                // zero bits are 0.0.
                unsafe { std::ptr::write_bytes(dst.add(row * dst_row_stride), 0, n) };
            }
        }
        return;
    }
    let dst_row = isize::try_from(dst_row_stride).expect("a row stride of dst fits isize");
    // SAFETY: the view checks above (checked arithmetic, no wrapping) keep every element the
    // strides reach inside the two input slices, and every stride fits isize; the caller
    // promises the same for `dst`, which aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row,
            accumulate,
            lhs.data.as_ptr(),
            lhs_column,
            lhs_row,
            rhs.data.as_ptr(),
            rhs_column,
            rhs_row,
            1.0,
            1.0,
            false,
            false,
            false,
            // One thread: the kernels that call it split their work across images, tiles or
            // samples, or run at sizes where rayon's split cost more than it saved (see the
            // `lstm`, `conv` and `linear` modules).
            gemm::Parallelism::None,
        );
    }
}

/// One rectangle of a row-major matrix being filled by [`par_tiles`] or [`par_products`]: rows
/// `first_row..first_row + rows`, columns `first_column..first_column + columns`.
pub(crate) struct Tile<'a> {
    /// Element `(first_row, first_column)` of the matrix.
    start: *mut f32,
    /// Columns of the whole matrix: the distance between the tile's rows.
    row_stride: usize,
    pub(crate) first_row: usize,
    pub(crate) first_column: usize,
    pub(crate) rows: usize,
    pub(crate) columns: usize,
    _matrix: PhantomData<&'a mut [f32]>,
}

impl Tile<'_> {
    /// Row `row` of the tile, `columns` values.
    ///
    /// # Panics
    ///
    /// When `row >= rows`.
    pub(crate) fn row_mut(&mut self, row: usize) -> &mut [f32] {
        assert!(row < self.rows, "row {row} of a tile of {} rows", self.rows);
        // SAFETY: `par_tiles` made this tile for a rectangle inside the matrix it borrows
        // mutably and made no other tile for it, so the row is valid and unaliased.
        unsafe {
            std::slice::from_raw_parts_mut(self.start.add(row * self.row_stride), self.columns)
        }
    }

    /// Row `row` of the tile as slots that may not hold a value yet, `columns` of them.
    ///
    /// # Panics
    ///
    /// When `row >= rows`.
    fn row_slots(&mut self, row: usize) -> &mut [std::mem::MaybeUninit<f32>] {
        assert!(row < self.rows, "row {row} of a tile of {} rows", self.rows);
        // SAFETY: as in `row_mut`; `MaybeUninit<f32>` has the layout of `f32` and may hold
        // anything.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.start.add(row * self.row_stride).cast(),
                self.columns,
            )
        }
    }

    /// `tile [rows, columns] (+)= lhs [rows, k] · rhs [k, columns]`, as [`product`] does it.
    pub(crate) fn product(&mut self, k: usize, lhs: View, rhs: View, accumulate: bool) {
        let size = [self.rows, k, self.columns];
        // SAFETY: as in `row_mut`, every row of the tile is valid and unaliased, and the row
        // stride is a row length of a slice, so it fits isize.
        unsafe { product_into(self.start, self.row_stride, size, lhs, rhs, accumulate) }
    }
}

/// A pointer that rayon's threads may share: each uses it only for its own tile.
#[derive(Clone, Copy)]
struct SharedMatrix(*mut f32);

impl SharedMatrix {
    /// The element `offset` values past the first.
    ///
    /// # Safety
    ///
    /// `offset` must lie inside the matrix.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: the caller's promise.
        unsafe { self.0.add(offset) }
    }
}

// SAFETY: `par_tiles` hands each tile to exactly one call of `fill`, and tiles do not overlap.
unsafe impl Send for SharedMatrix {}
// SAFETY: as above.
unsafe impl Sync for SharedMatrix {}

/// Cuts the row-major `[rows, columns]` matrix `dst` into tiles and runs `fill` on each, in
/// parallel on rayon's threads. The tiles depend on the sizes alone, never on the thread count.
///
/// Rows go in parts of `tile_rows`, the last one shorter. Columns go in parts of `tile_columns`,
/// the last one wider (up to twice as wide) rather than shorter, so that a tile is narrower than
/// `tile_columns` only where the whole matrix is. `gemm` takes another route, with other
/// rounding, for products at most 64 rows by 64 columns: with `tile_columns` above 64, a tile's
/// product goes the way the whole row band's would, and gives its bits (tested below).
///
/// # Panics
///
/// When `dst` does not hold `rows * columns` values or a tile size is zero.
pub(crate) fn par_tiles(
    dst: &mut [f32],
    [rows, columns]: [usize; 2],
    tile: [usize; 2],
    fill: impl Fn(Tile) + Sync,
) {
    assert_eq!(
        Some(dst.len()),
        rows.checked_mul(columns),
        "par_tiles: a [{rows}, {columns}] matrix in {} values",
        dst.len()
    );
    // SAFETY: `dst` holds the matrix and is borrowed mutably for the whole call.
    unsafe { for_each_tile(SharedMatrix(dst.as_mut_ptr()), [rows, columns], tile, fill) }
}

/// A new row-major `[rows, columns]` matrix, computed tile by tile as [`par_tiles`] cuts it:
/// each tile `[rows, columns]` is `lhs [rows, k] · rhs [k, columns]` for the `(k, lhs, rhs)`
/// that `operands` gives for it.
///
/// The matrix is not zeroed first: `gemm` writes every value of a product it does not
/// accumulate into without reading it (an `alpha` of zero, which it never multiplies), and the
/// tiles cover the matrix once. For the MLP GAN's weight gradients the zeroing was 5.8% of the
/// training thread's cycles at 2 threads.
///
/// # Panics
///
/// As [`par_tiles`], and when `operands` gives a view that does not fit its slice.
pub(crate) fn par_products<'a>(
    [rows, columns]: [usize; 2],
    tile: [usize; 2],
    operands: impl Fn(&Tile) -> (usize, View<'a>, View<'a>) + Sync,
) -> Vec<f32> {
    let fill = |tile: Tile| {
        let (k, lhs, rhs) = operands(&tile);
        let size = [tile.rows, k, tile.columns];
        // SAFETY: the tile's rows are valid for writes and no other tile has them; the row
        // stride is `columns`, a row length of an allocation, so it fits isize.
        unsafe { product_into(tile.start, tile.row_stride, size, lhs, rhs, false) }
    };
    // SAFETY: a product that does not accumulate writes every value of its tile (see above).
    unsafe { par_new_matrix([rows, columns], tile, fill) }
}

/// As [`par_products`], but each tile comes from the product of its transpose: `operands` gives
/// `(k, lhs, rhs)` with `tileᵀ [columns, rows] = lhs [columns, k] · rhs [k, rows]`, computed
/// into a scratch matrix and written back transposed.
///
/// For `d_pre · weightᵀ` with the weights row-major, this puts the weights on the side that gemm
/// reads where they are, and `d_preᵀ` on the side it packs with contiguous copies; asked for the
/// product directly, gemm gathers the weights element by element for every tile (see the
/// `linear` module). A tile holds the same bits either way: gemm turns a row-major destination
/// into the transposed problem anyway, and sums over `k` in the same order (tested in the
/// `linear` module).
///
/// # Panics
///
/// As [`par_products`].
pub(crate) fn par_transposed_products<'a>(
    [rows, columns]: [usize; 2],
    tile: [usize; 2],
    operands: impl Fn(&Tile) -> (usize, View<'a>, View<'a>) + Sync,
) -> Vec<f32> {
    let fill = |mut tile: Tile| {
        let (k, lhs, rhs) = operands(&tile);
        let mut transposed = vec![0.0; tile.columns * tile.rows]; // [columns, rows]
        let size = [tile.columns, k, tile.rows];
        product(&mut transposed, size, lhs, rhs, false);
        for row in 0..tile.rows {
            let column_values = transposed.iter().skip(row).step_by(tile.rows);
            for (slot, value) in tile.row_slots(row).iter_mut().zip(column_values) {
                slot.write(*value);
            }
        }
    };
    // SAFETY: every row of every tile is written from its `columns` values of `transposed`.
    unsafe { par_new_matrix([rows, columns], tile, fill) }
}

/// A new row-major `[rows, columns]` matrix, cut into tiles as [`par_tiles`] cuts it, each
/// filled by `fill` on rayon's threads. Nothing zeroes it first.
///
/// # Safety
///
/// `fill` must write every value of the tile it is given.
///
/// # Panics
///
/// As [`par_tiles`], and when `rows * columns` overflows.
unsafe fn par_new_matrix(
    [rows, columns]: [usize; 2],
    tile: [usize; 2],
    fill: impl Fn(Tile) + Sync,
) -> Vec<f32> {
    let len = rows
        .checked_mul(columns)
        .unwrap_or_else(|| panic!("a new [{rows}, {columns}] matrix is too many values"));
    let mut matrix = Vec::with_capacity(len);
    let start = SharedMatrix(matrix.spare_capacity_mut().as_mut_ptr().cast::<f32>());
    // SAFETY: the capacity holds `len` values and `matrix` is not touched until the call ends.
    unsafe { for_each_tile(start, [rows, columns], tile, fill) };
    // SAFETY: `fill` wrote every value of every tile (the caller's promise) and the tiles cover
    // the matrix; a panic in any of them ends the call before this line.
    unsafe { matrix.set_len(len) };
    matrix
}

/// The tiles of [`par_tiles`] over the `[rows, columns]` matrix at `matrix`, each handed to
/// `fill` on rayon's threads.
///
/// # Safety
///
/// `matrix` must be valid for reads and writes of `rows * columns` values, and nothing else may
/// touch them during the call.
unsafe fn for_each_tile(
    matrix: SharedMatrix,
    [rows, columns]: [usize; 2],
    [tile_rows, tile_columns]: [usize; 2],
    fill: impl Fn(Tile) + Sync,
) {
    assert!(
        tile_rows > 0 && tile_columns > 0,
        "par_tiles: an empty tile"
    );
    if rows == 0 || columns == 0 {
        return;
    }
    let (down, across) = (rows.div_ceil(tile_rows), (columns / tile_columns).max(1));
    (0..down * across).into_par_iter().for_each(|index| {
        let (down_index, across_index) = (index / across, index % across);
        let (first_row, first_column) = (down_index * tile_rows, across_index * tile_columns);
        let tile_width = if across_index + 1 == across {
            columns - first_column
        } else {
            tile_columns
        };
        fill(Tile {
            // SAFETY: `first_row < rows` and `first_column < columns`, so the offset is inside
            // the matrix.
            start: unsafe { matrix.at(first_row * columns + first_column) },
            row_stride: columns,
            first_row,
            first_column,
            rows: tile_rows.min(rows - first_row),
            columns: tile_width,
            _matrix: PhantomData,
        })
    });
}

/// `matrix` `[rows, columns]` (row-major) transposed to `[columns, rows]`, tile by tile so that
/// reads and writes stay in cache.
///
/// A kernel that multiplies by the transpose of the same matrix many times reads this copy
/// row-wise: gemm repacks a transposed view element by element on every call.
///
/// ```
/// let t = zoo_kernels::matrix::transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
/// assert_eq!(t, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// ```
///
/// # Panics
///
/// When `matrix` does not hold `rows * columns` values.
pub fn transpose(matrix: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    const TILE: usize = 32;
    assert_eq!(
        Some(matrix.len()),
        rows.checked_mul(columns),
        "transpose: a [{rows}, {columns}] matrix in {} values",
        matrix.len()
    );
    let mut out = vec![0.0; matrix.len()];
    for c0 in (0..columns).step_by(TILE) {
        for r0 in (0..rows).step_by(TILE) {
            for c in c0..(c0 + TILE).min(columns) {
                let out_row = &mut out[c * rows..(c + 1) * rows];
                for (r, slot) in out_row
                    .iter_mut()
                    .enumerate()
                    .take((r0 + TILE).min(rows))
                    .skip(r0)
                {
                    *slot = matrix[r * columns + c];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{TestCaseError, TestRunner};

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
    fn transpose_swaps_every_element_across_tiles() {
        let (rows, columns) = (37, 70); // tiles of 32 and short ones
        let m: Vec<f32> = (0..rows * columns).map(|v| v as f32).collect();
        let t = transpose(&m, rows, columns);
        for r in 0..rows {
            for c in 0..columns {
                assert_eq!(t[c * rows + r], m[r * columns + c], "({r}, {c})");
            }
        }
        assert_eq!(transpose(&t, columns, rows), m);
    }

    #[test]
    #[should_panic(expected = "a [2, 3] matrix in 5 values")]
    fn transpose_refuses_a_matrix_of_the_wrong_size() {
        transpose(&[0.0; 5], 2, 3);
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

    /// `product` into a fresh `dst` of the length the unchecked code wanted, `m * n` wrapped.
    fn overwrite([m, k, n]: [usize; 3], lhs: View, rhs: View) -> Vec<f32> {
        let mut dst = vec![0.0; m.wrapping_mul(n)];
        product(&mut dst, [m, k, n], lhs, rhs, false);
        dst
    }

    // The views below do not fit their slices, but the unchecked `usize` arithmetic of the first
    // bounds check wrapped around it, and `gemm` read (or wrote) far outside the slices.

    #[test]
    #[should_panic(expected = "lhs: matrix view out of bounds")]
    fn a_stride_of_half_usize_max_is_refused() {
        // The last element, 2 * (usize::MAX / 2) + 2, wraps to 0.
        let a = [1.0; 9];
        overwrite([3, 3, 3], View::rows(&a, usize::MAX / 2), View::rows(&a, 3));
    }

    #[test]
    #[should_panic(expected = "rhs: matrix view out of bounds")]
    fn a_stride_that_wraps_to_before_the_slice_is_refused() {
        // The last element, usize::MAX + 1, wraps to 0; as an isize the stride is -1, one element
        // before the slice.
        let a = [1.0; 4];
        overwrite([2, 2, 2], View::rows(&a, 2), View::rows(&a, usize::MAX));
    }

    #[test]
    #[should_panic(
        expected = "[4294967296, 4294967296] is more than usize::MAX values, dst holds 0"
    )]
    fn a_destination_size_that_overflows_is_refused() {
        // m * n = 2^64 wraps to 0, the length of `dst`; both views repeat one value (stride 0),
        // so they fit.
        let one = [1.0];
        let (lhs, rhs) = (View::rows(&one, 0), View::transposed(&one, 0));
        overwrite([1 << 32, 1, 1 << 32], lhs, rhs);
    }

    #[test]
    #[should_panic(expected = "has a stride above isize::MAX")]
    fn a_stride_above_isize_max_is_refused_even_on_one_row() {
        let a = [1.0; 2];
        overwrite([1, 2, 1], View::rows(&a, usize::MAX), View::rows(&a, 1));
    }

    #[test]
    #[should_panic(expected = "reaches index 4, in a slice of 4 values")]
    fn a_view_one_past_its_slice_is_refused() {
        let a = [1.0; 4];
        overwrite([2, 2, 2], View::rows(&a, 2), View::transposed(&a, 3));
    }

    #[test]
    fn views_with_no_element_fit_any_slice() {
        for stride in [0, 1, usize::MAX / 2, usize::MAX] {
            assert_eq!(View::rows(&[], stride).strides(0, 3), Ok([0, 0]));
            assert_eq!(
                View::transposed(&[], stride).strides(usize::MAX, 0),
                Ok([0, 0])
            );
        }
    }

    /// One case of the property test: a product's sizes, its two views (each a slice at an
    /// offset inside a buffer of NaN, read row-major or transposed with any `columns`), the
    /// length of `dst` and whether it accumulates.
    #[derive(Clone, Debug)]
    struct Case {
        sizes: [usize; 3],
        lhs: Operand,
        rhs: Operand,
        dst_len: usize,
        accumulate: bool,
    }

    #[derive(Clone, Debug)]
    struct Operand {
        transposed: bool,
        columns: usize,
        offset: usize,
        len: usize,
    }

    impl Operand {
        /// `(row_stride, column_stride)`, as the view built from this operand has them.
        fn strides(&self) -> (usize, usize) {
            if self.transposed {
                (1, self.columns)
            } else {
                (self.columns, 1)
            }
        }

        fn view<'a>(&self, buffer: &'a [f32]) -> View<'a> {
            let data = &buffer[self.offset..self.offset + self.len];
            if self.transposed {
                View::transposed(data, self.columns)
            } else {
                View::rows(data, self.columns)
            }
        }

        /// Whether a `[rows, columns]` matrix fits the slice, worked out in `u128` (where
        /// nothing below overflows) independently of the code under test.
        fn fits(&self, rows: usize, columns: usize) -> bool {
            if rows == 0 || columns == 0 {
                return true;
            }
            let (row_stride, column_stride) = self.strides();
            let last = (rows as u128 - 1) * row_stride as u128
                + (columns as u128 - 1) * column_stride as u128;
            let max = isize::MAX as u128;
            last < self.len as u128 && row_stride as u128 <= max && column_stride as u128 <= max
        }
    }

    /// A size or `columns`: small most of the time, sometimes one of the values that overflow.
    fn size() -> impl Strategy<Value = usize> {
        prop_oneof![
            12 => 0..6usize,
            1 => prop::sample::select(vec![
                usize::MAX,
                usize::MAX - 1,
                usize::MAX / 2,
                usize::MAX / 2 + 1,
                isize::MAX as usize - 1,
                1 << 32,
                (1 << 32) + 1,
                1 << 62,
                usize::MAX / 3 + 1,
            ]),
        ]
    }

    fn operand() -> impl Strategy<Value = Operand> {
        (any::<bool>(), size(), 0..5usize, 0..40usize).prop_map(
            |(transposed, columns, offset, len)| Operand {
                transposed,
                columns,
                offset,
                len,
            },
        )
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            [size(), size(), size()],
            operand(),
            operand(),
            0..3u8,
            0..40usize,
            any::<bool>(),
        )
            .prop_map(|(sizes, lhs, rhs, dst, random_len, accumulate)| {
                let [m, _, n] = sizes;
                // The size `dst` must have (as the unchecked code computed it), one more, or any.
                let wrapped = m.wrapping_mul(n);
                let dst_len = match dst {
                    0 if wrapped <= 4096 => wrapped,
                    1 if wrapped < 4096 => wrapped + 1,
                    _ => random_len,
                };
                Case {
                    sizes,
                    lhs,
                    rhs,
                    dst_len,
                    accumulate,
                }
            })
    }

    /// How many cases the property test ran, refused and skipped.
    #[derive(Debug, Default)]
    struct Tally {
        products: usize,
        refused: usize,
        skipped: usize,
    }

    /// Runs one case: `product` must refuse it exactly when it does not fit (the `u128`
    /// oracle) and, when it fits, equal the definition without touching anything outside the
    /// slices (the values around the inputs are NaN, which would show in the result; the
    /// values around `dst` must stay as they were).
    fn run(case: &Case, tally: &mut Tally) -> Result<(), TestCaseError> {
        const GUARD: usize = 8;
        let [m, k, n] = case.sizes;
        let buffer = |operand: &Operand, salt: f32| -> Vec<f32> {
            let mut buffer = vec![f32::NAN; operand.offset + operand.len + GUARD];
            for (i, v) in buffer[operand.offset..][..operand.len]
                .iter_mut()
                .enumerate()
            {
                *v = ((i as f32 + salt) * 0.37).sin();
            }
            buffer
        };
        let (lhs_buffer, rhs_buffer) = (buffer(&case.lhs, 0.5), buffer(&case.rhs, 1.5));
        let (lhs, rhs) = (case.lhs.view(&lhs_buffer), case.rhs.view(&rhs_buffer));

        let fits =
            m.checked_mul(n) == Some(case.dst_len) && case.lhs.fits(m, k) && case.rhs.fits(k, n);
        let lhs_check = lhs.strides(m, k);
        let rhs_check = rhs.strides(k, n);
        prop_assert_eq!(
            lhs_check.is_ok(),
            case.lhs.fits(m, k),
            "lhs: {:?}",
            lhs_check
        );
        prop_assert_eq!(
            rhs_check.is_ok(),
            case.rhs.fits(k, n),
            "rhs: {:?}",
            rhs_check
        );
        if !fits {
            let refusal = std::panic::catch_unwind(|| {
                let mut dst = vec![0.0; case.dst_len];
                let (lhs, rhs) = (case.lhs.view(&lhs_buffer), case.rhs.view(&rhs_buffer));
                product(&mut dst, case.sizes, lhs, rhs, case.accumulate);
            });
            prop_assert!(
                refusal.is_err(),
                "product accepted a case that does not fit"
            );
            tally.refused += 1;
            return Ok(());
        }
        if m > 0 && n > 0 && k > 4096 {
            // Fits (a stride of 0 repeats one value) but would take hours: nothing to learn.
            tally.skipped += 1;
            return Ok(());
        }

        let mut guarded = vec![7.0; GUARD + case.dst_len + GUARD];
        for (i, v) in guarded[GUARD..][..case.dst_len].iter_mut().enumerate() {
            *v = (i as f32 * 0.11).cos();
        }
        let before = guarded.clone();
        product(
            &mut guarded[GUARD..GUARD + case.dst_len],
            case.sizes,
            lhs,
            rhs,
            case.accumulate,
        );
        prop_assert_eq!(&guarded[..GUARD], &before[..GUARD]);
        prop_assert_eq!(
            &guarded[GUARD + case.dst_len..],
            &before[GUARD + case.dst_len..]
        );

        let at = |view: View, i: usize, j: usize| {
            view.data[i * view.row_stride + j * view.column_stride]
        };
        // `m` or `n` may be huge when the other is 0: then `dst` is empty and there is nothing to
        // compare.
        for i in 0..if n == 0 { 0 } else { m } {
            for j in 0..n {
                let sum: f32 = (0..k).map(|p| at(lhs, i, p) * at(rhs, p, j)).sum();
                let start = if case.accumulate {
                    before[GUARD + i * n + j]
                } else {
                    0.0
                };
                let (got, want) = (guarded[GUARD + i * n + j], start + sum);
                prop_assert!(
                    (got - want).abs() <= 1e-5,
                    "[{}, {}]: {} vs {}",
                    i,
                    j,
                    got,
                    want
                );
            }
        }
        tally.products += 1;
        Ok(())
    }

    /// `product` refuses every case that does not fit and computes every case that does.
    /// `PROPTEST_CASES` sets the number of cases (20,000 by default, well under a second in
    /// release); `-- --nocapture` prints how many were computed, refused and skipped.
    #[test]
    fn product_refuses_what_does_not_fit_and_computes_the_rest() {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000u32);
        let tenth = cases as usize / 10;
        let config = ProptestConfig {
            cases,
            // A failure prints its smallest case; nothing is written next to the sources.
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        // The refused cases panic by design: keep their messages off this thread's output,
        // and pass every other thread's panics to the usual hook.
        let usual = std::sync::Arc::new(std::panic::take_hook());
        let this = std::thread::current().id();
        let hook = usual.clone();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() != this {
                hook(info)
            }
        }));
        let tally = std::cell::RefCell::new(Tally::default());
        let result =
            TestRunner::new(config).run(&case(), |case| run(&case, &mut tally.borrow_mut()));
        std::panic::set_hook(Box::new(move |info| usual(info)));
        let tally = tally.into_inner();
        println!("{cases} cases: {tally:?}");
        if let Err(error) = result {
            panic!("{error}");
        }
        assert!(
            tally.products > tenth,
            "too few products computed: {tally:?}"
        );
        assert!(tally.refused > tenth, "too few refusals: {tally:?}");
    }

    /// Every tile of a product cut by `par_tiles` (and `par_products`) holds the bits of the product computed whole,
    /// row band by row band, for both layouts of the right operand: the dense layers' shapes at
    /// batches 64, 32 and 16, with right edges 16 and 72 columns past the last whole tile.
    #[test]
    fn tiles_give_the_bits_of_whole_row_bands() {
        let value = |i: usize| ((i as f32) * 0.618).sin();
        let shapes = [
            [64, 512, 784],
            [64, 784, 512],
            [32, 784, 128],
            [16, 128, 784],
            [16, 784, 200],
            [64, 600, 328],
            [32, 32, 100],
        ];
        for [m, k, n] in shapes {
            let lhs: Vec<f32> = (0..m * k).map(value).collect();
            let rhs: Vec<f32> = (0..k * n).map(|i| value(i + 7)).collect();
            for tile in [[32, 128], [64, 128]] {
                for transposed in [false, true] {
                    let rhs_view = |first_column: usize| {
                        if transposed {
                            View::transposed(&rhs[first_column * k..], k) // [n, k] read as [k, n]
                        } else {
                            View::rows(&rhs[first_column..], n)
                        }
                    };
                    let mut whole = vec![0.5; m * n];
                    for (band, dst) in whole.chunks_mut(tile[0] * n).enumerate() {
                        let rows = dst.len() / n;
                        let lhs = &lhs[band * tile[0] * k..(band * tile[0] + rows) * k];
                        product(dst, [rows, k, n], View::rows(lhs, k), rhs_view(0), true);
                    }
                    let mut tiled = vec![0.5; m * n];
                    par_tiles(&mut tiled, [m, n], tile, |mut t| {
                        let lhs = &lhs[t.first_row * k..(t.first_row + t.rows) * k];
                        t.product(k, View::rows(lhs, k), rhs_view(t.first_column), true);
                    });
                    // The same products into a new matrix, overwritten rather than added to.
                    let new = par_products([m, n], tile, |t| {
                        let lhs = &lhs[t.first_row * k..(t.first_row + t.rows) * k];
                        (k, View::rows(lhs, k), rhs_view(t.first_column))
                    });
                    let mut overwritten = vec![f32::NAN; m * n];
                    for (band, dst) in overwritten.chunks_mut(tile[0] * n).enumerate() {
                        let rows = dst.len() / n;
                        let lhs = &lhs[band * tile[0] * k..(band * tile[0] + rows) * k];
                        product(dst, [rows, k, n], View::rows(lhs, k), rhs_view(0), false);
                    }
                    let same_bits = |a: &[f32], b: &[f32]| {
                        a.len() == b.len()
                            && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
                    };
                    let case =
                        format!("[{m}, {k}] x [{k}, {n}], tiles {tile:?}, transposed {transposed}");
                    assert!(same_bits(&whole, &tiled), "par_tiles: {case}");
                    assert!(same_bits(&overwritten, &new), "par_products: {case}");
                }
            }
        }
    }

    #[test]
    fn tiles_cover_the_matrix_once_with_a_wide_last_column() {
        let (rows, columns) = (70, 300); // bands of 32, 32, 6; columns 128 and 172
        let mut tiles = std::sync::Mutex::new(Vec::new());
        let mut counts = vec![0.0f32; rows * columns];
        par_tiles(&mut counts, [rows, columns], [32, 128], |mut t| {
            for row in 0..t.rows {
                t.row_mut(row).iter_mut().for_each(|v| *v += 1.0);
            }
            tiles
                .lock()
                .unwrap()
                .push((t.first_row, t.first_column, t.rows, t.columns));
        });
        let mut tiles = tiles.get_mut().unwrap().clone();
        tiles.sort();
        assert_eq!(
            tiles,
            [
                (0, 0, 32, 128),
                (0, 128, 32, 172),
                (32, 0, 32, 128),
                (32, 128, 32, 172),
                (64, 0, 6, 128),
                (64, 128, 6, 172),
            ]
        );
        assert!(
            counts.iter().all(|&c| c == 1.0),
            "every element written once"
        );
        let mut narrow = vec![0.0f32; 3 * 50];
        let mut widths = std::sync::Mutex::new(Vec::new());
        par_tiles(&mut narrow, [3, 50], [32, 128], |t| {
            widths.lock().unwrap().push(t.columns)
        });
        assert_eq!(
            *widths.get_mut().unwrap(),
            [50],
            "a matrix narrower than a tile is one tile"
        );
    }
}
