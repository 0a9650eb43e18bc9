//! 3x3 convolutions with stride 1 as Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016): the forward pass and both
//! gradients of [`conv2d`](crate::conv2d) on flex for such layers (the classic CNN's second
//! layer, every layer of `deep_bn` but the first).
//!
//! Each 2x2 block of outputs (a tile) reads a 4x4 block `d` of the padded input. With
//! `V = Bᵀ d B` and, for each 3x3 kernel `g`, `U = G g Gᵀ`, the tile's outputs are
//! `Aᵀ (U ⊙ V) A`. Summed over the input channels, the element-wise products become 16 matrix
//! products, one per position `ξ` of the 4x4 transform:
//! `M[ξ] [out, tiles] = U[ξ] [out, in] · V[ξ] [in, tiles]`. That is 16 multiplications per tile
//! and channel pair where im2col's product does 36 (4 outputs of 9 taps): 2.25 times fewer. The
//! gradients are the chain rule through the same formula:
//!
//! - input: `dM = A dY Aᵀ` per tile, `dV[ξ] [in, tiles] = U[ξ]ᵀ · dM[ξ]`, and `B dV Bᵀ` added
//!   back where the tile read;
//! - weight: `dU[ξ] [out, in] += dM[ξ] · V[ξ]ᵀ` over the images, then `Gᵀ dU G` per kernel.
//!
//! The transforms are additions (and halvings for `G`), written here as loops over one row of
//! tiles at a time so that they vectorize; the products run through [`product`].
//!
//! Written here because neither flex, Burn nor gemm has a Winograd convolution. The transforms
//! store a plane's tiles with one extra column per tile row, zero where a product reads it, so
//! that each transform is a few passes over whole planes (16-lane AVX-512 code through
//! `simd::widest`) instead of 12-wide loops per tile row, which ran as scalar code and made the
//! first version slower than im2col. Measured on the classic CNN, `zoo bench cnn-mnist
//! --backends flex --batches 150 --warmup 10`, six rounds alternating with im2col (6ab1258) on
//! a 2-core Zen 4, training samples/s, medians: 988 → 1,219 at 1 thread, 1,837 → 2,129 at 2
//! threads. Each transform then computed each row of the transformed tiles in one pass over
//! the plane, without intermediate planes (the same bits): four rounds against the version
//! before, medians 1,241 → 1,271 at 1 thread, 1,882 → 1,915 at 2. The results differ from
//! im2col's in the last bits: the transforms round differently.

use crate::matrix::{product, View};
use crate::simd;
use burn::backend::ops::ConvOptions;
use std::cell::RefCell;

/// Positions of the 4x4 transformed tile.
const POSITIONS: usize = 16;

/// Convolutions with fewer input or output channels stay on im2col: with one input channel
/// (the first layer of an MNIST net) each of the 16 products would have an inner size of 1.
const MIN_CHANNELS: usize = 8;

/// How one convolution of `[batch, in, h, w]` images by `[out, in, 3, 3]` kernels is cut into
/// 2x2 output tiles.
#[derive(Clone, Debug)]
pub(crate) struct Winograd {
    channels: usize,
    out: usize,
    /// `[h, w]` of the input.
    size: [usize; 2],
    /// Padding before the first row and column.
    padding: [usize; 2],
    /// `[oh, ow]` of the output.
    out_size: [usize; 2],
    /// Tile rows and columns: `[oh, ow]` halved, rounded up.
    tiles: [usize; 2],
}

/// The two transformed images one image's pass works in: `[16, in, tiles]` and
/// `[16, out, tiles]`.
pub(crate) struct Work<'a> {
    input: &'a mut [f32],
    output: &'a mut [f32],
}

thread_local! {
    /// Each thread's [`Work`], kept from one call to the next: the classic second layer's is
    /// 0.9 MB, allocated and zeroed per run of four images it was 7.5% of the CNN's training
    /// time on one thread (`perf`, memset). It keeps the largest size asked for up to
    /// [`KEPT_VALUES`].
    static WORK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The largest [`Work`] a thread keeps, in values (16 MiB): a layer that needs more, on large
/// images, allocates its own per run of images, so no thread holds that memory after it.
const KEPT_VALUES: usize = 4 << 20;

impl Winograd {
    /// The tiling of a convolution of `channels` input channels into `out`, on `size` images,
    /// when it is one this module computes: a 3x3 kernel, stride 1, no dilation, one group and
    /// at least [`MIN_CHANNELS`] channels each side. `out_size` is the output's `[oh, ow]`.
    pub(crate) fn new(
        [channels, out]: [usize; 2],
        size: [usize; 2],
        kernel: [usize; 2],
        out_size: [usize; 2],
        options: &ConvOptions<2>,
    ) -> Option<Self> {
        let covered = kernel == [3, 3]
            && options.stride == [1, 1]
            && options.dilation == [1, 1]
            && options.groups == 1
            && channels >= MIN_CHANNELS
            && out >= MIN_CHANNELS
            && out_size.iter().all(|&side| side > 0);
        covered.then(|| Self {
            channels,
            out,
            size,
            padding: [options.padding[0].0, options.padding[1].0],
            out_size,
            tiles: out_size.map(|side| side.div_ceil(2)),
        })
    }

    /// Tiles per row as the transformed images store them: one more than the tile columns.
    /// The transforms then run over a whole plane at once, reading a tile's right neighbour
    /// one element on; the extra column is zero in `V` and `dM` and ignored in `M` and `dV`.
    fn stride(&self) -> usize {
        self.tiles[1] + 1
    }

    /// Tiles per image as the transformed images store them: tile rows x [`stride`](Self::stride).
    fn tile_count(&self) -> usize {
        self.tiles[0] * self.stride()
    }

    /// Runs `job` with this thread's [`Work`], sized for this convolution. Its values are
    /// whatever the last job left: every pass writes what it reads.
    pub(crate) fn with_work<R>(&self, job: impl FnOnce(&mut Work) -> R) -> R {
        let input_len = POSITIONS * self.channels * self.tile_count();
        let len = input_len + POSITIONS * self.out * self.tile_count();
        WORK.with(|kept| {
            // A job never runs another inside it, but if one did, it would get its own buffer.
            let mut own = Vec::new();
            let mut kept = kept.try_borrow_mut();
            let buffer = match kept.as_deref_mut() {
                Ok(kept) if len <= KEPT_VALUES => kept,
                _ => &mut own,
            };
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
            let (input, output) = buffer[..len].split_at_mut(input_len);
            job(&mut Work { input, output })
        })
    }

    /// Values of `U` and `dU`: `16 * out * in`.
    pub(crate) fn kernels_len(&self) -> usize {
        POSITIONS * self.out * self.channels
    }

    /// `U` `[16, out, in]`: each kernel of `weight` `[out, in, 3, 3]` as `G g Gᵀ`.
    pub(crate) fn kernels(&self, weight: &[f32]) -> Vec<f32> {
        let pairs = self.out * self.channels;
        let mut u = vec![0.0; self.kernels_len()];
        for (pair, g) in weight.chunks_exact(9).enumerate() {
            // G applied to a 3-vector: [v0, (v0 + v1 + v2) / 2, (v0 - v1 + v2) / 2, v2].
            let expand = |v: [f32; 3]| {
                [
                    v[0],
                    (v[0] + v[1] + v[2]) * 0.5,
                    (v[0] - v[1] + v[2]) * 0.5,
                    v[2],
                ]
            };
            let columns = [0, 1, 2].map(|j| expand([g[j], g[3 + j], g[6 + j]])); // (G g)ᵀ
            for a in 0..4 {
                let row = expand([columns[0][a], columns[1][a], columns[2][a]]);
                for (b, value) in row.into_iter().enumerate() {
                    u[(a * 4 + b) * pairs + pair] = value;
                }
            }
        }
        u
    }

    /// The weight gradient `[out, in, 3, 3]` from `dU` `[16, out, in]`: `Gᵀ dU G` per kernel.
    pub(crate) fn weight_grad(&self, du: &[f32]) -> Vec<f32> {
        let pairs = self.out * self.channels;
        // Gᵀ applied to a 4-vector: [v0 + (v1 + v2) / 2, (v1 - v2) / 2, (v1 + v2) / 2 + v3].
        let reduce = |v: [f32; 4]| {
            [
                v[0] + (v[1] + v[2]) * 0.5,
                (v[1] - v[2]) * 0.5,
                (v[1] + v[2]) * 0.5 + v[3],
            ]
        };
        let mut grad = vec![0.0; 9 * pairs];
        for (pair, g) in grad.chunks_exact_mut(9).enumerate() {
            let at = |a: usize, b: usize| du[(a * 4 + b) * pairs + pair];
            let rows = [0, 1, 2, 3].map(|a| reduce([at(a, 0), at(a, 1), at(a, 2), at(a, 3)]));
            for j in 0..3 {
                let column = reduce([rows[0][j], rows[1][j], rows[2][j], rows[3][j]]);
                for (i, value) in column.into_iter().enumerate() {
                    g[i * 3 + j] = value;
                }
            }
        }
        grad
    }

    /// One image's output `[out, oh, ow]`: `image` `[in, h, w]` convolved with the kernels `u`
    /// (from [`kernels`](Self::kernels)), plus `bias` `[out]`. Overwrites `output`.
    pub(crate) fn forward(
        &self,
        u: &[f32],
        image: &[f32],
        bias: &[f32],
        output: &mut [f32],
        work: &mut Work,
    ) {
        let (tiles, pairs) = (self.tile_count(), self.out * self.channels);
        self.input_tiles(image, work.input);
        for (xi, m) in work.output.chunks_exact_mut(self.out * tiles).enumerate() {
            let u = View::rows(&u[xi * pairs..][..pairs], self.channels); // [out, in]
            let v = View::rows(&work.input[xi * self.channels * tiles..], tiles); // [in, tiles]
            product(m, [self.out, self.channels, tiles], u, v, false);
        }
        self.output_from_tiles(work.output, bias, output);
    }

    /// One image's input gradient `[in, h, w]` from its output gradient `[out, oh, ow]`, with
    /// the kernels `u`. Overwrites `image_grad`.
    pub(crate) fn input_grad(
        &self,
        u: &[f32],
        output_grad: &[f32],
        image_grad: &mut [f32],
        work: &mut Work,
    ) {
        self.output_grad_tiles(output_grad, work.output);
        self.input_grad_of_tiles(u, image_grad, work);
    }

    /// The input gradient from the `dM` in `work.output`: `dV[ξ] = U[ξ]ᵀ · dM[ξ]` into
    /// `work.input`, then back to the image.
    fn input_grad_of_tiles(&self, u: &[f32], image_grad: &mut [f32], work: &mut Work) {
        let (tiles, pairs) = (self.tile_count(), self.out * self.channels);
        for (xi, dv) in work
            .input
            .chunks_exact_mut(self.channels * tiles)
            .enumerate()
        {
            let ut = View::transposed(&u[xi * pairs..][..pairs], self.channels); // [in, out]
            let dm = View::rows(&work.output[xi * self.out * tiles..], tiles); // [out, tiles]
            product(dv, [self.channels, self.out, tiles], ut, dm, false);
        }
        self.input_grad_from_tiles(work.input, image_grad);
    }

    /// Adds one image's share of `dU` to `du` `[16, out, in]`, from the image `[in, h, w]` and
    /// its output gradient `[out, oh, ow]`.
    pub(crate) fn add_kernel_grad(
        &self,
        image: &[f32],
        output_grad: &[f32],
        du: &mut [f32],
        work: &mut Work,
    ) {
        let (tiles, pairs) = (self.tile_count(), self.out * self.channels);
        self.input_tiles(image, work.input);
        self.output_grad_tiles(output_grad, work.output);
        for (xi, du) in du.chunks_exact_mut(pairs).enumerate() {
            let dm = View::rows(&work.output[xi * self.out * tiles..], tiles); // [out, tiles]
            let vt = View::transposed(&work.input[xi * self.channels * tiles..], tiles); // [tiles, in]
            product(du, [self.out, tiles, self.channels], dm, vt, true);
        }
    }

    /// [`input_grad`](Self::input_grad) and [`add_kernel_grad`](Self::add_kernel_grad) of one
    /// image in one pass, its output gradient transformed once for both.
    pub(crate) fn backward(
        &self,
        u: &[f32],
        image: &[f32],
        output_grad: &[f32],
        image_grad: &mut [f32],
        du: &mut [f32],
        work: &mut Work,
    ) {
        self.add_kernel_grad(image, output_grad, du, work);
        // dM is still in work.output; dV overwrites V.
        self.input_grad_of_tiles(u, image_grad, work);
    }

    /// `V` `[16, in, tiles]` of `image` `[in, h, w]`: `Bᵀ d B` for each tile's 4x4 input `d`.
    fn input_tiles(&self, image: &[f32], v: &mut [f32]) {
        let ([h, w], [top, left], [tile_rows, _]) = (self.size, self.padding, self.tiles);
        let (stride, tiles) = (self.stride(), self.tile_count());
        let len = tile_rows * stride;
        // The padded plane by row and column parity, [2, 2, tile_rows + 1, stride]: part
        // (rp, cp) holds rows 2r + rp, columns 2i + cp.
        let part = (tile_rows + 1) * stride;
        // Padding stays zero: each channel writes the same positions.
        let mut parts = vec![0.0; 4 * part];
        simd::widest(
            #[inline(always)]
            || {
                for (c, plane) in image.chunks_exact(h * w).enumerate() {
                    for (iy, line) in plane.chunks_exact(w).enumerate() {
                        let py = iy + top;
                        let (even, rest) = parts[(py % 2) * 2 * part..].split_at_mut(part);
                        let at = (py / 2) * stride;
                        let (even, odd) = (&mut even[at..][..stride], &mut rest[at..][..stride]);
                        spread(line, left, even, odd);
                    }
                    let at = |a: usize, b: usize| ((a * 4 + b) * self.channels + c) * tiles;
                    for a in 0..4 {
                        // Row a of Bᵀ d picks two of the tile's rows d0..d3: rows 2r + rp of the
                        // plane are part rp, shifted by `stride` for the next tile row.
                        let ((x_rows, x_shift), (y_rows, y_shift)) = match a {
                            0 => ((0, 0), (0, stride)), // d0 - d2
                            1 => ((1, 0), (0, stride)), // d1 + d2
                            2 => ((0, stride), (1, 0)), // d2 - d1
                            _ => ((1, 0), (1, stride)), // d1 - d3
                        };
                        let rows = |rp: usize, shift: usize| {
                            [0, 1].map(|cp| &parts[(rp * 2 + cp) * part + shift..][..len])
                        };
                        let (x, y) = (rows(x_rows, x_shift), rows(y_rows, y_shift));
                        let (v0, rest) = v[at(a, 0)..].split_at_mut(at(a, 1) - at(a, 0));
                        let (v1, rest) = rest.split_at_mut(at(a, 2) - at(a, 1));
                        let (v2, rest) = rest.split_at_mut(at(a, 3) - at(a, 2));
                        let outputs = [v0, v1, v2, &mut rest[..len]].map(|v| &mut v[..len - 1]);
                        if a == 1 {
                            tile_rows_across(x, y, |p, q| p + q, outputs);
                        } else {
                            tile_rows_across(x, y, |p, q| p - q, outputs);
                        }
                        for b in 0..4 {
                            // The column past the last tile of each row, read across rows.
                            v[at(a, b)..][..len]
                                .iter_mut()
                                .skip(stride - 1)
                                .step_by(stride)
                                .for_each(|v| *v = 0.0);
                        }
                    }
                }
            },
        );
    }

    /// The output `[out, oh, ow]` from `M` `[16, out, tiles]`: `Aᵀ m A` per tile, plus the
    /// channel's bias; the outputs of a tile past the last row or column are dropped.
    fn output_from_tiles(&self, m: &[f32], bias: &[f32], output: &mut [f32]) {
        let [oh, ow] = self.out_size;
        let (stride, tiles) = (self.stride(), self.tile_count());
        let mut sides = vec![0.0; 4 * tiles]; // [2, 2, tiles]: output row k, even and odd column
        simd::widest(
            #[inline(always)]
            || {
                for (co, plane) in output.chunks_exact_mut(oh * ow).enumerate() {
                    let m = |xi: usize| &m[(xi * self.out + co) * tiles..][..tiles];
                    let (top, bottom) = sides.split_at_mut(2 * tiles);
                    // Row 0 of Aᵀ m is m0 + m1 + m2 (rows of the tile), row 1 m1 - m2 - m3.
                    let sums: [&[f32]; 12] = std::array::from_fn(m);
                    let (even, odd) = top.split_at_mut(tiles);
                    tile_outputs(sums, |x, y, z| x + y + z, bias[co], even, odd);
                    let sums: [&[f32]; 12] = std::array::from_fn(|xi| m(xi + 4));
                    let (even, odd) = bottom.split_at_mut(tiles);
                    tile_outputs(sums, |x, y, z| x - y - z, bias[co], even, odd);
                    for (y, row) in plane.chunks_exact_mut(ow).enumerate() {
                        let (ty, k) = (y / 2, y % 2);
                        let side =
                            |cp: usize| &sides[(k * 2 + cp) * tiles + ty * stride..][..stride];
                        gather(side(0), side(1), 0, row);
                    }
                }
            },
        );
    }

    /// `dM` `[16, out, tiles]` of the output gradient `[out, oh, ow]`: `A dy Aᵀ` for each
    /// tile's 2x2 gradient `dy` (zero past the last row or column).
    fn output_grad_tiles(&self, grad: &[f32], dm: &mut [f32]) {
        let [oh, ow] = self.out_size;
        let (stride, tiles) = (self.stride(), self.tile_count());
        // The gradient by row and column parity, [2, 2, tiles]; zero past the edges and in
        // the column past the last tile of each row, which no channel writes.
        let mut parts = vec![0.0; 4 * tiles];
        simd::widest(
            #[inline(always)]
            || {
                for (co, plane) in grad.chunks_exact(oh * ow).enumerate() {
                    for (y, row) in plane.chunks_exact(ow).enumerate() {
                        let (even, odd) =
                            parts[(y % 2) * 2 * tiles..][..2 * tiles].split_at_mut(tiles);
                        let at = (y / 2) * stride;
                        spread(row, 0, &mut even[at..][..stride], &mut odd[at..][..stride]);
                    }
                    let rows =
                        |rp: usize| [0, 1].map(|cp| &parts[(rp * 2 + cp) * tiles..][..tiles]);
                    let (y0, y1) = (rows(0), rows(1));
                    for a in 0..4 {
                        let at = |b: usize| ((a * 4 + b) * self.out + co) * tiles;
                        let (dm0, rest) = dm[at(0)..].split_at_mut(at(1) - at(0));
                        let (dm1, rest) = rest.split_at_mut(at(2) - at(1));
                        let (dm2, rest) = rest.split_at_mut(at(3) - at(2));
                        let outputs = [dm0, dm1, dm2, rest].map(|dm| &mut dm[..tiles]);
                        // A along y: [y0, y0 + y1, y0 - y1, -y1].
                        match a {
                            0 => tile_grads_across(y0, y0, |y0, _| y0, outputs),
                            1 => tile_grads_across(y0, y1, |y0, y1| y0 + y1, outputs),
                            2 => tile_grads_across(y0, y1, |y0, y1| y0 - y1, outputs),
                            _ => tile_grads_across(y1, y1, |y1, _| -y1, outputs),
                        }
                    }
                }
            },
        );
    }

    /// The input gradient `[in, h, w]` from `dV` `[16, in, tiles]`: `B dv Bᵀ` per tile, added
    /// into the padded plane where the tile read (neighbouring tiles overlap by two rows and
    /// columns), then the padding dropped. Overwrites `image_grad`.
    fn input_grad_from_tiles(&self, dv: &[f32], image_grad: &mut [f32]) {
        let ([h, w], [top, left], [tile_rows, _]) = (self.size, self.padding, self.tiles);
        let (stride, tiles) = (self.stride(), self.tile_count());
        // The padded plane's gradient by row and column parity, [2, 2, part] (see input_tiles).
        let part = (tile_rows + 1) * stride + 1;
        let mut parts = vec![0.0; 4 * part];
        let mut across = vec![0.0; 4 * tiles]; // B dv Bᵀ's row i of each tile: columns j
        simd::widest(
            #[inline(always)]
            || {
                for (c, plane) in image_grad.chunks_exact_mut(h * w).enumerate() {
                    parts.fill(0.0);
                    let dv: [&[f32]; 16] =
                        std::array::from_fn(|xi| &dv[(xi * self.channels + c) * tiles..][..tiles]);
                    for i in 0..4 {
                        let (d0, rest) = across.split_at_mut(tiles);
                        let (d1, rest) = rest.split_at_mut(tiles);
                        let (d2, d3) = rest.split_at_mut(tiles);
                        let rows = [d0, d1, d2, d3];
                        // B along y: [v0, v1 - v2 + v3, v1 + v2 - v0, -v3].
                        match i {
                            0 => tile_grad_row(dv, |v| v[0], rows),
                            1 => tile_grad_row(dv, |v| v[1] - v[2] + v[3], rows),
                            2 => tile_grad_row(dv, |v| v[1] + v[2] - v[0], rows),
                            _ => tile_grad_row(dv, |v| -v[3], rows),
                        }
                        for (j, d) in across.chunks_exact(tiles).enumerate() {
                            // Tile (ty, tx), element (i, j): padded row 2ty + i, column 2tx + j.
                            let at = (i % 2 * 2 + j % 2) * part + (i / 2) * stride + j / 2;
                            add(&mut parts[at..][..tiles], d);
                        }
                    }
                    for (iy, grad_row) in plane.chunks_exact_mut(w).enumerate() {
                        let py = iy + top;
                        let side = |cp: usize| {
                            &parts[(py % 2 * 2 + cp) * part + (py / 2) * stride..][..stride]
                        };
                        gather(side(0), side(1), left, grad_row);
                    }
                }
            },
        );
    }
}

/// One row `a` of the transformed tiles, `V[a * 4 + b]` for the four `b`, from the two tile
/// rows it combines: `x` and `y`, each split into even and odd columns. Along y the row is
/// `fy(x, y)` (`e` for even columns, `o` for odd); along x each tile reads its columns `k` and
/// `k + 1` of those: `[e(k) - e(k + 1), o(k) + e(k + 1), e(k + 1) - o(k), o(k) - o(k + 1)]`.
/// Each output holds one value fewer than `x` and `y`.
#[inline(always)]
fn tile_rows_across(
    x: [&[f32]; 2],
    y: [&[f32]; 2],
    fy: impl Fn(f32, f32) -> f32,
    [v0, v1, v2, v3]: [&mut [f32]; 4],
) {
    let n = v0.len();
    let (xe, xo, ye, yo) = (
        &x[0][..n + 1],
        &x[1][..n + 1],
        &y[0][..n + 1],
        &y[1][..n + 1],
    );
    let (v1, v2, v3) = (&mut v1[..n], &mut v2[..n], &mut v3[..n]);
    for k in 0..n {
        let (e, o) = (fy(xe[k], ye[k]), fy(xo[k], yo[k]));
        let (e1, o1) = (fy(xe[k + 1], ye[k + 1]), fy(xo[k + 1], yo[k + 1]));
        v0[k] = e - e1;
        v1[k] = o + e1;
        v2[k] = e1 - o;
        v3[k] = o - o1;
    }
}

/// One output row of each tile, its even and odd columns, plus `bias`, from 12 rows of `M`
/// (positions 0..12 for the tile's first output row, 4..16 for its second): along y each
/// column `b` is `fy(m[b], m[4 + b], m[8 + b])`, then along x even = `p0 + p1 + p2`, odd =
/// `p1 - p2 - p3`.
#[inline(always)]
fn tile_outputs(
    m: [&[f32]; 12],
    fy: impl Fn(f32, f32, f32) -> f32,
    bias: f32,
    even: &mut [f32],
    odd: &mut [f32],
) {
    let n = even.len();
    let m = m.map(|row| &row[..n]);
    let odd = &mut odd[..n];
    for t in 0..n {
        let p = |b: usize| fy(m[b][t], m[4 + b][t], m[8 + b][t]);
        let (p0, p1, p2, p3) = (p(0), p(1), p(2), p(3));
        even[t] = p0 + p1 + p2 + bias;
        odd[t] = p1 - p2 - p3 + bias;
    }
}

/// Row `a` of each tile's `A dy Aᵀ`, `dM[a * 4 + b]` for the four `b`, from the tile's two
/// gradient rows `y0` and `y1`, each split into even and odd columns: along y `q = fa(y0, y1)`,
/// along x `[q_even, q_even + q_odd, q_even - q_odd, -q_odd]`.
#[inline(always)]
fn tile_grads_across(
    y0: [&[f32]; 2],
    y1: [&[f32]; 2],
    fa: impl Fn(f32, f32) -> f32,
    [dm0, dm1, dm2, dm3]: [&mut [f32]; 4],
) {
    let n = dm0.len();
    let (e0, o0, e1, o1) = (&y0[0][..n], &y0[1][..n], &y1[0][..n], &y1[1][..n]);
    let (dm1, dm2, dm3) = (&mut dm1[..n], &mut dm2[..n], &mut dm3[..n]);
    for t in 0..n {
        let (even, odd) = (fa(e0[t], e1[t]), fa(o0[t], o1[t]));
        dm0[t] = even;
        dm1[t] = even + odd;
        dm2[t] = even - odd;
        dm3[t] = -odd;
    }
}

/// Row `i` of each tile's `B dv Bᵀ`, its four columns `j`, from the 16 planes of `dV`: along y
/// each column `b` is `by([dv[b], dv[4 + b], dv[8 + b], dv[12 + b]])`, then along x
/// `[s0, s1 - s2 + s3, s1 + s2 - s0, -s3]`.
#[inline(always)]
fn tile_grad_row(
    dv: [&[f32]; 16],
    by: impl Fn([f32; 4]) -> f32,
    [d0, d1, d2, d3]: [&mut [f32]; 4],
) {
    let n = d0.len();
    let dv = dv.map(|plane| &plane[..n]);
    let (d1, d2, d3) = (&mut d1[..n], &mut d2[..n], &mut d3[..n]);
    for t in 0..n {
        let s = |b: usize| by([dv[b][t], dv[4 + b][t], dv[8 + b][t], dv[12 + b][t]]);
        let (s0, s1, s2, s3) = (s(0), s(1), s(2), s(3));
        d0[t] = s0;
        d1[t] = s1 - s2 + s3;
        d2[t] = s1 + s2 - s0;
        d3[t] = -s3;
    }
}

/// `out[i] += a[i]` over the shorter of the two.
#[inline(always)]
fn add(out: &mut [f32], a: &[f32]) {
    for (out, &a) in out.iter_mut().zip(a) {
        *out += a;
    }
}

/// Writes `line`, starting at padded column `left`, into a padded row split by column parity:
/// padded column `p` goes to `even[p / 2]` or `odd[p / 2]`. Other elements are left as they are.
#[inline(always)]
fn spread(line: &[f32], left: usize, even: &mut [f32], odd: &mut [f32]) {
    // Line element 2i lands on the parity of `left`, element 2i + 1 on the other.
    let (first, second, second_at) = if left.is_multiple_of(2) {
        (even, odd, left / 2)
    } else {
        (odd, even, left / 2 + 1)
    };
    let (first, second) = (&mut first[left / 2..], &mut second[second_at..]);
    let pairs = line.chunks_exact(2);
    if let [last] = pairs.remainder() {
        first[line.len() / 2] = *last;
    }
    for ((pair, a), b) in pairs.zip(first).zip(second) {
        *a = pair[0];
        *b = pair[1];
    }
}

/// The adjoint of [`spread`]: `line[i]` = padded column `left + i` of a row split by column
/// parity, for every element of `line`.
#[inline(always)]
fn gather(even: &[f32], odd: &[f32], left: usize, line: &mut [f32]) {
    let (first, second) = if left.is_multiple_of(2) {
        (&even[left / 2..], &odd[left / 2..])
    } else {
        (&odd[left / 2..], &even[left / 2 + 1..])
    };
    let half = line.len() / 2;
    let mut pairs = line.chunks_exact_mut(2);
    for ((pair, &a), &b) in (&mut pairs).zip(first).zip(second) {
        pair[0] = a;
        pair[1] = b;
    }
    if let [last] = pairs.into_remainder() {
        *last = first[half];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether [`Winograd::new`] takes a convolution of `channels` and `kernel` with `options`
    /// on 10x10 images.
    fn takes(channels: [usize; 2], kernel: [usize; 2], options: ConvOptions<2>) -> bool {
        Winograd::new(channels, [10, 10], kernel, [8, 8], &options).is_some()
    }

    #[test]
    fn only_3x3_kernels_with_stride_1_and_eight_channels_each_side_take_it() {
        let plain = || ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        assert!(takes([32, 64], [3, 3], plain()));
        assert!(takes(
            [8, 8],
            [3, 3],
            ConvOptions::new([1, 1], [1, 2], [1, 1], 1)
        ));
        assert!(!takes([1, 32], [3, 3], plain()), "one input channel");
        assert!(!takes([32, 4], [3, 3], plain()), "four output channels");
        assert!(!takes([32, 64], [5, 5], plain()), "5x5");
        assert!(!takes(
            [32, 64],
            [3, 3],
            ConvOptions::new([2, 2], [0, 0], [1, 1], 1)
        ));
        assert!(!takes(
            [32, 64],
            [3, 3],
            ConvOptions::new([1, 1], [0, 0], [2, 2], 1)
        ));
        assert!(!takes(
            [32, 64],
            [3, 3],
            ConvOptions::new([1, 1], [0, 0], [1, 1], 2)
        ));
    }

    #[test]
    fn weight_grad_is_the_adjoint_of_kernels() {
        // Gᵀ (G g Gᵀ) G = (GᵀG) g (GᵀG), with GᵀG = [[1.5, 0, .5], [0, .5, 0], [.5, 0, 1.5]]:
        // for the all-ones kernel, entry (i, j) is the product of rows i and j's sums (2, .5,
        // 2). Every step is exact in f32.
        let winograd = Winograd::new(
            [8, 8],
            [4, 4],
            [3, 3],
            [2, 2],
            &ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        )
        .expect("a 3x3 convolution");
        let ones = vec![1.0; 8 * 8 * 9];
        let back = winograd.weight_grad(&winograd.kernels(&ones));
        let sums = [2.0, 0.5, 2.0];
        for kernel in back.chunks_exact(9) {
            for (i, &value) in kernel.iter().enumerate() {
                assert_eq!(value, sums[i / 3] * sums[i % 3], "entry {i}");
            }
        }
    }
}
