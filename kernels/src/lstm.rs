//! A fused LSTM layer for the flex CPU backend: Burn's `Lstm` parameters, one kernel for the
//! whole sequence.
//!
//! Burn's `Lstm` runs each time step as some twenty tensor ops (eight small matrix products,
//! per-element sigmoid and tanh, a `slice_assign` into the output) and autodiff records each
//! one. [`lstm_forward`] keeps the layer's parameters (records do not change) and, on flex,
//! runs the sequence as one operation: the input projection of every step in one matrix
//! product, then per step one `[batch, hidden] x [hidden, 4*hidden]` product and the gate
//! arithmetic in place; its backward pass is the matching hand-written backpropagation through
//! time. Other backends, and layers it does not cover (reversed, clipped, coupled gates,
//! other activations, no bias), run Burn's `Lstm::forward`.
//!
//! ```
//! use burn::nn::LstmConfig;
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::flex();
//! let lstm = LstmConfig::new(3, 8, true).init(&device);
//! let x = Tensor::<3>::ones([2, 5, 3], &device); // [batch, time, input]
//! let (hidden, state) = zoo_kernels::lstm_forward(&lstm, x, None);
//! assert_eq!(hidden.dims(), [2, 5, 8]); // [batch, time, hidden]
//! assert_eq!(state.cell.dims(), [2, 8]);
//! ```

use crate::approx::{sigmoid, tanh};
use crate::flex::{self, flex_tensor, values, zeroed};
use crate::matrix::{product, transpose, View};
use crate::simd;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, AutodiffBackend, Backend, Flex, TensorMetadata};
use burn::nn::{activation::Activation, GateController, Lstm, LstmState};
use burn::prelude::*;
use rayon::prelude::*;

/// `lstm.forward(x, state)`, through [`FlexLstm`] when `x` `[batch, time, input]` lives on flex
/// (with or without autodiff) and the layer is a plain one: batch first, forward in time, no
/// clipping, separate forget gate, sigmoid gates with tanh cell and output, biases.
/// Returns the hidden states `[batch, time, hidden]` and the final state.
pub fn lstm_forward(
    lstm: &Lstm,
    x: Tensor<3>,
    state: Option<LstmState<2>>,
) -> (Tensor<3>, LstmState<2>) {
    let device = x.device();
    let [batch, time, _] = x.dims();
    let gates = [
        Some(&lstm.input_gate),
        lstm.forget_gate.as_ref(),
        Some(&lstm.cell_gate),
        Some(&lstm.output_gate),
    ];
    let plain = lstm.batch_first
        && !lstm.reverse
        && lstm.clip.is_none()
        && !lstm.input_forget
        && matches!(lstm.gate_activation, Activation::Sigmoid(_))
        && matches!(lstm.cell_activation, Activation::Tanh(_))
        && matches!(lstm.hidden_activation, Activation::Tanh(_))
        && gates.iter().all(|gate| gate.is_some_and(has_biases))
        && time > 0
        && device.clone().without_autodiff() == Device::flex();
    if !plain {
        return lstm.forward(x, state);
    }
    let gates = gates.map(|gate| gate.expect("checked above"));
    // The four gates side by side, in the order i, f, g, o.
    let w_ih = Tensor::cat(gates.map(|g| g.input_transform.weight.val()).to_vec(), 1); // [input, 4h]
    let w_hh = Tensor::cat(gates.map(|g| g.hidden_transform.weight.val()).to_vec(), 1); // [h, 4h]
    let bias = Tensor::cat(gates.map(gate_bias).to_vec(), 0); // [4h]
    let hidden = lstm.d_hidden;
    let (c0, h0) = match state {
        Some(state) => (state.cell, state.hidden),
        None => (
            Tensor::zeros([batch, hidden], &device),
            Tensor::zeros([batch, hidden], &device),
        ),
    };
    let (output, _workspace) = <burn::backend::Dispatch as FlexLstm>::zoo_lstm(
        x.into_dispatch(),
        w_ih.into_dispatch(),
        w_hh.into_dispatch(),
        bias.into_dispatch(),
        h0.into_dispatch(),
        c0.into_dispatch(),
    );
    let output = Tensor::<3>::from_dispatch(output); // [batch, time + 1, h]: h_1..h_T, then c_T
    let hidden_states = output.clone().narrow(1, 0, time); // [batch, time, h]
    let last = |step: usize| output.clone().narrow(1, step, 1).squeeze_dim::<2>(1); // [batch, h]
    let state = LstmState::new(last(time), last(time - 1));
    (hidden_states, state)
}

fn has_biases(gate: &GateController) -> bool {
    gate.input_transform.bias.is_some() && gate.hidden_transform.bias.is_some()
}

/// The gate's two biases added: `[h]`.
fn gate_bias(gate: &GateController) -> Tensor<1> {
    let bias = |linear: &burn::nn::Linear| linear.bias.as_ref().expect("checked above").val();
    bias(&gate.input_transform) + bias(&gate.hidden_transform)
}

/// One LSTM layer over a whole sequence, with the backward pass written out.
#[backend_extension(Flex, Autodiff)]
pub trait FlexLstm: Backend {
    /// Runs the layer over `x` `[batch, time, input]` from `h0`, `c0` `[batch, h]`, with the
    /// gates' weights side by side in the order i, f, g, o: `w_ih` `[input, 4h]`, `w_hh`
    /// `[h, 4h]`, `bias` `[4h]`. Returns `[batch, time + 1, h]` (the hidden states h_1..h_T,
    /// then the final cell state c_T) and the workspace its backward pass reads.
    fn zoo_lstm(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The gradients of `x` (when `need_x`), `w_ih`, `w_hh`, `bias`, `h0` and `c0` from the
    /// gradient of [`zoo_lstm`](FlexLstm::zoo_lstm)'s output and its workspace.
    #[allow(clippy::type_complexity)]
    fn zoo_lstm_backward(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        workspace: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        need_x: bool,
    ) -> (
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
}

/// The sizes of one fused LSTM call.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    batch: usize,
    time: usize,
    input: usize,
    hidden: usize,
}

impl Sizes {
    /// `[batch, time, input]` and `w_hh` `[h, 4h]`.
    fn of(x: &FlexTensor, w_hh: &FlexTensor) -> Self {
        let (x, w) = (x.shape(), w_hh.shape());
        Self {
            batch: x[0],
            time: x[1],
            input: x[2],
            hidden: w[0],
        }
    }

    /// The sizes of the samples `part` of the batch.
    fn part(&self, part: &std::ops::Range<usize>) -> Self {
        Self {
            batch: part.len(),
            ..*self
        }
    }

    /// The length of the whole workspace.
    fn workspace_len(&self) -> usize {
        self.workspace_parts().iter().sum()
    }

    /// Lengths of the workspace's parts: activated gates `[time, batch, 4h]`, cell states and
    /// hidden states `[time + 1, batch, h]` each (from c0 and h0), tanh of the cell states
    /// `[time, batch, h]`.
    fn workspace_parts(&self) -> [usize; 4] {
        let step = self.batch * self.hidden;
        [
            self.time * 4 * step,
            (self.time + 1) * step,
            (self.time + 1) * step,
            self.time * step,
        ]
    }
}

/// `tensor` with contiguous f32 storage (see [`flex::contiguous`]).
fn contiguous(tensor: FlexTensor) -> FlexTensor {
    flex::contiguous(tensor, "LSTM")
}

impl FlexLstm for Flex {
    fn zoo_lstm(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        crate::threads::keep_awake();
        let n = Sizes::of(&x, &w_hh);
        let [x, w_ih, w_hh, bias, h0, c0] = [x, w_ih, w_hh, bias, h0, c0].map(contiguous);
        let weights = Weights {
            w_ih: values(&w_ih),
            w_hh: values(&w_hh),
        };
        let (x, bias, h0, c0) = (values(&x), values(&bias), values(&h0), values(&c0));
        // The samples of a batch do not interact: each part runs the whole sequence as one rayon
        // task, with no synchronisation between time steps, and writes its rows of the output
        // and its piece of the workspace in place (gathering per-part buffers afterwards copied
        // 8% of lstm-seqmnist's training time).
        // Each task zeroes its own rows and piece before it writes them, in parallel and just
        // before use: zeroing the 7.4 MB of both on the calling thread first was 4% of that
        // thread's time at 2 threads (`perf`, lstm-seqmnist).
        let parts = parts(n.batch);
        let (output_len, workspace_len) = (n.batch * (n.time + 1) * n.hidden, n.workspace_len());
        let mut output = Vec::with_capacity(output_len); // [batch, time + 1, h]
        let mut workspace = Vec::with_capacity(workspace_len);
        let mut pieces = Vec::with_capacity(parts.len());
        let mut rest = &mut workspace.spare_capacity_mut()[..workspace_len];
        for part in &parts {
            let (piece, after) = rest.split_at_mut(n.part(part).workspace_len());
            pieces.push(piece);
            rest = after;
        }
        assert!(rest.is_empty(), "the parts' workspaces cover the workspace");
        let row = (n.time + 1) * n.hidden;
        let outputs: Vec<_> = output.spare_capacity_mut()[..output_len]
            .chunks_mut((ROWS_PER_PART * row).max(1))
            .collect();
        assert!(
            output_len == 0 || outputs.len() == parts.len(),
            "one part of the output per part of the batch"
        );
        parts
            .into_par_iter()
            .zip(pieces)
            .zip(outputs)
            .for_each(|((part, workspace), output)| {
                let (workspace, output) = (zeroed(workspace), zeroed(output));
                let p = n.part(&part);
                let (x, h0, c0) = (
                    rows(x, &part, n.time * n.input),
                    rows(h0, &part, n.hidden),
                    rows(c0, &part, n.hidden),
                );
                simd::widest(
                    #[inline(always)]
                    || forward(p, x, weights, bias, h0, c0, output, workspace),
                );
            });
        // SAFETY: the parts' rows cover the output and their pieces the workspace, one of each
        // per part (asserted above), and every task zeroed its own (a panic in one ends the call
        // before this line).
        unsafe {
            output.set_len(output_len);
            workspace.set_len(workspace_len);
        }
        (
            flex_tensor(output, vec![n.batch, n.time + 1, n.hidden]),
            flex_tensor(workspace, vec![workspace_len]),
        )
    }

    fn zoo_lstm_backward(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        workspace: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        need_x: bool,
    ) -> (
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        crate::threads::keep_awake();
        let n = Sizes::of(&x, &w_hh);
        let (b, t_len, h, input) = (n.batch, n.time, n.hidden, n.input);
        let [x, w_ih, w_hh, workspace, output_grad] =
            [x, w_ih, w_hh, workspace, output_grad].map(contiguous);
        let weights = Weights {
            w_ih: values(&w_ih),
            w_hh: values(&w_hh),
        };
        let (x, workspace, grad) = (values(&x), values(&workspace), values(&output_grad));
        // Each part's backward pass as one task, as forward; the parts' weight gradients are
        // added in part order.
        let parts: Vec<PartGradients> = parts(b)
            .into_par_iter()
            .map(|part| {
                let p = n.part(&part);
                let offset = n.part(&(0..part.start)).workspace_len();
                let workspace = &workspace[offset..offset + p.workspace_len()];
                let x = rows(x, &part, t_len * input);
                let grad = rows(grad, &part, (t_len + 1) * h);
                simd::widest(
                    #[inline(always)]
                    || backward(p, x, weights, workspace, grad, need_x),
                )
            })
            .collect();
        let concat = |pick: fn(&PartGradients) -> &Vec<f32>| -> Vec<f32> {
            parts.iter().flat_map(|p| pick(p).iter().copied()).collect()
        };
        let sum = |pick: fn(&PartGradients) -> &Vec<f32>| -> Vec<f32> {
            let mut total = pick(&parts[0]).clone();
            for part in &parts[1..] {
                total.iter_mut().zip(pick(part)).for_each(|(t, v)| *t += v);
            }
            total
        };
        (
            need_x.then(|| {
                let d_x = parts.iter().flat_map(|p| p.x.iter().flatten().copied());
                flex_tensor(d_x.collect(), vec![b, t_len, input])
            }),
            flex_tensor(sum(|g| &g.w_ih), vec![input, 4 * h]),
            flex_tensor(sum(|g| &g.w_hh), vec![h, 4 * h]),
            flex_tensor(sum(|g| &g.bias), vec![4 * h]),
            flex_tensor(concat(|g| &g.h0), vec![b, h]),
            flex_tensor(concat(|g| &g.c0), vec![b, h]),
        )
    }
}

/// The rows `part` of a batch stored row after row, `row` values each.
fn rows<'a>(data: &'a [f32], part: &std::ops::Range<usize>, row: usize) -> &'a [f32] {
    &data[part.start * row..part.end * row]
}

/// Samples per part of a batch. The parts do not depend on the thread count, and their weight
/// gradients are added in order, so the results are bit-identical at any `RAYON_NUM_THREADS`;
/// a batch of 64 gives 2 parts, a batch of 512 gives 16. Each part's step is one
/// `[32, hidden] x [hidden, 4*hidden]` GEMM: parts of 16 rows packed `w_hh` twice as often and
/// trained lstm-seqmnist 5-14% slower on 2 cores (5,543 and 6,084 against 6,602 and 6,420
/// samples/s, `zoo bench lstm-seqmnist`, alternating runs).
const ROWS_PER_PART: usize = 32;

/// The batch split in consecutive parts of [`ROWS_PER_PART`] samples, the last one shorter (one
/// empty part for an empty batch).
fn parts(batch: usize) -> Vec<std::ops::Range<usize>> {
    if batch == 0 {
        return std::iter::once(0..0).collect();
    }
    (0..batch)
        .step_by(ROWS_PER_PART)
        .map(|start| start..(start + ROWS_PER_PART).min(batch))
        .collect()
}

/// The two weight matrices of the gates side by side: `w_ih` `[input, 4h]`, `w_hh` `[h, 4h]`.
#[derive(Clone, Copy)]
struct Weights<'a> {
    w_ih: &'a [f32],
    w_hh: &'a [f32],
}

/// The gradients of one part of the batch: of `x` (when asked for), `w_ih`, `w_hh`, the bias,
/// `h0` and `c0`.
struct PartGradients {
    x: Option<Vec<f32>>,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    bias: Vec<f32>,
    h0: Vec<f32>,
    c0: Vec<f32>,
}

/// The forward pass of `n.batch` samples, written to `output` `[batch, time + 1, h]` (h_1..h_T,
/// then c_T) and to `workspace` (`n.workspace_len()` values), which their backward pass reads.
/// Inlined into [`simd::widest`], so its loops run as the CPU's widest vector code.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward(
    n: Sizes,
    x: &[f32],
    weights: Weights,
    bias: &[f32],
    h0: &[f32],
    c0: &[f32],
    output: &mut [f32],
    workspace: &mut [f32],
) {
    let (b, t_len, h) = (n.batch, n.time, n.hidden);
    let Weights { w_ih, w_hh } = weights;
    // Input projection of every step at once: [batch*time, 4h], rows b*time + t.
    let mut projected = vec![0.0f32; b * t_len * 4 * h];
    product(
        &mut projected,
        [b * t_len, n.input, 4 * h],
        View::rows(x, n.input),
        View::rows(w_ih, 4 * h),
        false,
    );
    let [gates_len, cells_len, hiddens_len, _] = n.workspace_parts();
    let (gates, rest) = workspace.split_at_mut(gates_len);
    let (cells, rest) = rest.split_at_mut(cells_len);
    let (hiddens, tanh_cells) = rest.split_at_mut(hiddens_len);
    let step = b * h;
    cells[..step].copy_from_slice(c0);
    hiddens[..step].copy_from_slice(h0);
    for t in 0..t_len {
        let z = &mut gates[t * 4 * step..(t + 1) * 4 * step]; // [batch, 4h]
        let h_prev = &hiddens[t * step..(t + 1) * step];
        product(
            z,
            [b, h, 4 * h],
            View::rows(h_prev, h),
            View::rows(w_hh, 4 * h),
            false,
        );
        for (batch, z_row) in z.chunks_mut(4 * h).enumerate() {
            let x_row = &projected[(batch * t_len + t) * 4 * h..][..4 * h];
            for ((z, x), bias) in z_row.iter_mut().zip(x_row).zip(bias) {
                *z += x + bias;
            }
            let (ifo_if, rest) = z_row.split_at_mut(2 * h);
            let (g, o) = rest.split_at_mut(h);
            ifo_if
                .iter_mut()
                .chain(o.iter_mut())
                .for_each(|v| *v = sigmoid(*v));
            g.iter_mut().for_each(|v| *v = tanh(*v));
        }
        let (before, after) = cells.split_at_mut((t + 1) * step);
        let c_prev = &before[t * step..];
        let c_next = &mut after[..step];
        let tanh_c = &mut tanh_cells[t * step..(t + 1) * step];
        let h_next = &mut hiddens[(t + 1) * step..(t + 2) * step];
        for batch in 0..b {
            let gate = &z[batch * 4 * h..(batch + 1) * 4 * h];
            for j in 0..h {
                let k = batch * h + j;
                let (i, f, g, o) = (gate[j], gate[h + j], gate[2 * h + j], gate[3 * h + j]);
                c_next[k] = f * c_prev[k] + i * g;
                tanh_c[k] = tanh(c_next[k]);
                h_next[k] = o * tanh_c[k];
            }
        }
    }
    // Output [batch, time + 1, h]: h_1..h_T, then c_T.
    for (batch, out) in output.chunks_mut((t_len + 1) * h).enumerate() {
        for (t, slot) in out.chunks_mut(h).enumerate() {
            let source: &[f32] = if t < t_len { hiddens } else { cells };
            slot.copy_from_slice(&source[((t + 1).min(t_len) * b + batch) * h..][..h]);
        }
    }
}

/// The backward pass of `n.batch` samples from their input, workspace and output gradient; the
/// input's gradient only when `need_x`. Inlined into [`simd::widest`], as [`forward`].
#[inline(always)]
fn backward(
    n: Sizes,
    x: &[f32],
    weights: Weights,
    workspace: &[f32],
    grad: &[f32],
    need_x: bool,
) -> PartGradients {
    let (b, t_len, h, input) = (n.batch, n.time, n.hidden, n.input);
    let Weights { w_ih, w_hh } = weights;
    let [gates_len, cells_len, hiddens_len, _] = n.workspace_parts();
    let (gates, rest) = workspace.split_at(gates_len);
    let (cells, rest) = rest.split_at(cells_len);
    let (hiddens, tanh_cells) = rest.split_at(hiddens_len);
    let step = b * h;
    // Gradient of the gates' pre-activations, rows b*time + t like the input projection.
    let mut d_projected = vec![0.0f32; b * t_len * 4 * h];
    let mut d_z = vec![0.0f32; 4 * step]; // [batch, 4h] of the current step
    let mut d_w_hh = vec![0.0f32; h * 4 * h];
    let mut d_h_next = vec![0.0f32; step];
    // w_hh^T [4h, h], read row-wise by every step's d_h product: gemm would repack the
    // transposed view at each of the `time` steps.
    let w_hh_t = transpose(w_hh, h, 4 * h);
    let mut d_c_next: Vec<f32> = (0..b)
        .flat_map(|batch| grad[(batch * (t_len + 1) + t_len) * h..][..h].to_vec())
        .collect();
    for t in (0..t_len).rev() {
        let gate_t = &gates[t * 4 * step..(t + 1) * 4 * step];
        let c_prev = &cells[t * step..(t + 1) * step];
        let tanh_c = &tanh_cells[t * step..(t + 1) * step];
        for batch in 0..b {
            let gate = &gate_t[batch * 4 * h..(batch + 1) * 4 * h];
            let d_gate = &mut d_z[batch * 4 * h..(batch + 1) * 4 * h];
            let d_out = &grad[(batch * (t_len + 1) + t) * h..][..h];
            for j in 0..h {
                let k = batch * h + j;
                let (i, f, g, o) = (gate[j], gate[h + j], gate[2 * h + j], gate[3 * h + j]);
                let d_h = d_out[j] + d_h_next[k];
                let d_o = d_h * tanh_c[k];
                let d_c = d_h * o * (1.0 - tanh_c[k] * tanh_c[k]) + d_c_next[k];
                d_c_next[k] = d_c * f;
                d_gate[j] = d_c * g * i * (1.0 - i);
                d_gate[h + j] = d_c * c_prev[k] * f * (1.0 - f);
                d_gate[2 * h + j] = d_c * i * (1.0 - g * g);
                d_gate[3 * h + j] = d_o * o * (1.0 - o);
            }
            d_projected[(batch * t_len + t) * 4 * h..][..4 * h].copy_from_slice(d_gate);
        }
        // d_h_prev [batch, h] = d_z [batch, 4h] . w_hh^T; d_w_hh [h, 4h] += h_prev^T . d_z.
        product(
            &mut d_h_next,
            [b, 4 * h, h],
            View::rows(&d_z, 4 * h),
            View::rows(&w_hh_t, h),
            false,
        );
        let h_prev = &hiddens[t * step..(t + 1) * step];
        product(
            &mut d_w_hh,
            [h, b, 4 * h],
            View::transposed(h_prev, h),
            View::rows(&d_z, 4 * h),
            true,
        );
    }
    let mut d_bias = vec![0.0f32; 4 * h];
    for row in d_projected.chunks(4 * h) {
        d_bias.iter_mut().zip(row).for_each(|(d, r)| *d += r);
    }
    let rows = b * t_len;
    let mut d_w_ih = vec![0.0f32; input * 4 * h];
    product(
        &mut d_w_ih,
        [input, rows, 4 * h],
        View::transposed(x, input),
        View::rows(&d_projected, 4 * h),
        false,
    );
    // A sequence read from data (pixel rows, a series) asks for no gradient: for lstm-seqmnist
    // this product was 6% of the training step's FLOPs.
    let d_x = need_x.then(|| {
        let mut d_x = vec![0.0f32; rows * input];
        product(
            &mut d_x,
            [rows, 4 * h, input],
            View::rows(&d_projected, 4 * h),
            View::transposed(w_ih, 4 * h),
            false,
        );
        d_x
    });
    PartGradients {
        x: d_x,
        w_ih: d_w_ih,
        w_hh: d_w_hh,
        bias: d_bias,
        h0: d_h_next,
        c0: d_c_next,
    }
}

impl<B: Backend + FlexLstm, C: CheckpointStrategy> FlexLstm for Autodiff<B, C> {
    fn zoo_lstm(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct LstmBackward;

        impl<B: Backend + FlexLstm> Backward<B, 6> for LstmBackward {
            type State = (NodeId, NodeId, NodeId, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 6>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let grad = grads.consume::<B>(&ops.node);
                let (x_id, w_ih_id, w_hh_id, workspace) = ops.state;
                let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_id);
                let w_ih = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_ih_id);
                let w_hh = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_hh_id);
                let need_x = ops.parents[0].is_some();
                let (d_x, d_w_ih, d_w_hh, d_bias, d_h0, d_c0) =
                    B::zoo_lstm_backward(x, w_ih, w_hh, workspace, grad, need_x);
                let all = [
                    d_x,
                    Some(d_w_ih),
                    Some(d_w_hh),
                    Some(d_bias),
                    Some(d_h0),
                    Some(d_c0),
                ];
                for (parent, gradient) in ops.parents.into_iter().zip(all) {
                    if let (Some(node), Some(gradient)) = (parent, gradient) {
                        grads.register::<B>(node.id, gradient);
                    }
                }
            }
        }

        let nodes = [
            x.node(),
            w_ih.node(),
            w_hh.node(),
            bias.node(),
            h0.node(),
            c0.node(),
        ];
        let [x_in, w_ih_in, w_hh_in, bias_in, h0_in, c0_in] =
            [&x, &w_ih, &w_hh, &bias, &h0, &c0].map(|t| t.primitive().clone());
        let forward = || B::zoo_lstm(x_in, w_ih_in, w_hh_in, bias_in, h0_in, c0_in);
        match LstmBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let ids = (
                    prep.checkpoint(&x),
                    prep.checkpoint(&w_ih),
                    prep.checkpoint(&w_hh),
                );
                let (output, workspace) = forward();
                let state = (ids.0, ids.1, ids.2, workspace.clone());
                (prep.finish(state, output), Self::from_inner(workspace))
            }
            OpsKind::UnTracked(prep) => {
                let (output, workspace) = forward();
                (prep.finish(output), Self::from_inner(workspace))
            }
        }
    }

    /// Gradients are not differentiated again (Burn has no double backward): the inner
    /// backend's backward, its results untracked.
    fn zoo_lstm_backward(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        workspace: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        need_x: bool,
    ) -> (
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let (a, b, c, d, e, f) = B::zoo_lstm_backward(
            x.into_primitive(),
            w_ih.into_primitive(),
            w_hh.into_primitive(),
            workspace.into_primitive(),
            output_grad.into_primitive(),
            need_x,
        );
        let lift = Self::from_inner;
        (a.map(lift), lift(b), lift(c), lift(d), lift(e), lift(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::LstmConfig;
    use burn::tensor::{Distribution, Tolerance};

    /// The layer's eight linear maps (input and hidden transform of each gate).
    fn linears(lstm: &Lstm) -> Vec<&burn::nn::Linear> {
        let forget = lstm.forget_gate.as_ref().expect("forget gate");
        [&lstm.input_gate, forget, &lstm.cell_gate, &lstm.output_gate]
            .into_iter()
            .flat_map(|gate| [&gate.input_transform, &gate.hidden_transform])
            .collect()
    }

    /// Outputs, final state and the gradients of input, initial state and every parameter of
    /// `lstm_forward` and `Lstm::forward`, on flex with autodiff.
    #[test]
    fn matches_burns_lstm_with_gradients() {
        let device = Device::flex().autodiff();
        device.seed(11);
        let lstm = LstmConfig::new(4, 6, true).init(&device);
        let random = |shape: Vec<usize>| {
            Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad()
        };
        let x = random(vec![3, 5, 4]);
        let (h0, c0) = (
            random(vec![1, 3, 6]).squeeze_dim::<2>(0),
            random(vec![1, 3, 6]).squeeze_dim::<2>(0),
        );
        let (h0, c0) = (h0.detach().require_grad(), c0.detach().require_grad());
        let run = |fused: bool| {
            let state = Some(LstmState::new(c0.clone(), h0.clone()));
            let (hidden, last) = if fused {
                lstm_forward(&lstm, x.clone(), state)
            } else {
                lstm.forward(x.clone(), state)
            };
            // Weights that differ per element, so every output takes part differently.
            let ramp = Tensor::<1, Int>::arange(0..hidden.shape().num_elements() as i64, &device)
                .float()
                .reshape(hidden.shape())
                .sin();
            let loss = (hidden.clone() * ramp).sum()
                + last.cell.clone().sum() * 0.7
                + last.hidden.clone().sum();
            (hidden, last, loss.backward())
        };
        let (fused, fused_last, fused_grads) = run(true);
        let (reference, reference_last, reference_grads) = run(false);
        let tolerance = Tolerance::<f32>::absolute(1e-4);
        fused
            .to_data()
            .assert_approx_eq(&reference.to_data(), tolerance);
        fused_last
            .cell
            .to_data()
            .assert_approx_eq(&reference_last.cell.to_data(), tolerance);
        fused_last
            .hidden
            .to_data()
            .assert_approx_eq(&reference_last.hidden.to_data(), tolerance);
        let grad = |t: &Tensor<2>, grads| t.grad(grads).expect("gradient").to_data();
        let x_grad = |grads| x.grad(grads).expect("gradient").to_data();
        x_grad(&fused_grads).assert_approx_eq(&x_grad(&reference_grads), tolerance);
        for state in [&h0, &c0] {
            grad(state, &fused_grads).assert_approx_eq(&grad(state, &reference_grads), tolerance);
        }
        let linears = linears(&lstm);
        assert_eq!(linears.len(), 8);
        for linear in linears {
            let weight = linear.weight.val();
            grad(&weight, &fused_grads)
                .assert_approx_eq(&grad(&weight, &reference_grads), tolerance);
            let bias = linear.bias.as_ref().expect("bias").val();
            let bias_grad = |grads| bias.grad(grads).expect("gradient").to_data();
            bias_grad(&fused_grads).assert_approx_eq(&bias_grad(&reference_grads), tolerance);
        }
    }

    #[test]
    fn an_input_without_gradient_gets_none_and_the_weights_the_same() {
        let device = Device::flex().autodiff();
        device.seed(12);
        let lstm = LstmConfig::new(4, 6, true).init(&device);
        let x = Tensor::<3>::random([3, 5, 4], Distribution::Normal(0.0, 1.0), &device);
        let weight_grads = |x: Tensor<3>| {
            let grads = lstm_forward(&lstm, x.clone(), None)
                .0
                .sin()
                .sum()
                .backward();
            let weights: Vec<_> = linears(&lstm)
                .iter()
                .map(|linear| {
                    let weight = linear.weight.val();
                    weight.grad(&grads).expect("weight gradient").into_data()
                })
                .collect();
            (x.grad(&grads).is_some(), weights)
        };
        let (x_has_grad, weights) = weight_grads(x.clone());
        let (tracked_x_has_grad, tracked_weights) = weight_grads(x.require_grad());
        assert!(!x_has_grad, "an input that asks for no gradient got one");
        assert!(
            tracked_x_has_grad,
            "an input that asks for a gradient got none"
        );
        assert_eq!(weights, tracked_weights);
    }

    #[test]
    fn other_layers_and_backends_run_burns_lstm() {
        let x = |device: &Device| Tensor::<3>::random([2, 4, 3], Distribution::Default, device);
        let flex = Device::flex();
        let reversed = LstmConfig::new(3, 5, true).with_reverse(true).init(&flex);
        let input = x(&flex);
        lstm_forward(&reversed, input.clone(), None)
            .0
            .to_data()
            .assert_eq(&reversed.forward(input, None).0.to_data(), true);
        #[allow(deprecated)]
        let ndarray = Device::ndarray();
        let lstm = LstmConfig::new(3, 5, true).init(&ndarray);
        let input = x(&ndarray);
        lstm_forward(&lstm, input.clone(), None)
            .0
            .to_data()
            .assert_eq(&lstm.forward(input, None).0.to_data(), true);
    }

    #[test]
    fn parameters_are_those_of_the_lstm() {
        // The fused path reads Burn's parameters, so a loaded record drives it unchanged.
        let device = Device::flex();
        let lstm = LstmConfig::new(2, 3, true).init(&device);
        let zeroed = lstm.clone().map(&mut ZeroWeights);
        let (hidden, _) = lstm_forward(&zeroed, Tensor::<3>::ones([1, 2, 2], &device), None);
        // All weights and biases zero: every gate is 0.5 and the cell candidate 0.
        hidden
            .to_data()
            .assert_eq(&TensorData::from([[[0.0f32; 3]; 2]]), true);
    }

    #[test]
    fn parts_cover_the_batch_once() {
        let bounds = |batch| -> Vec<(usize, usize)> {
            parts(batch).iter().map(|r| (r.start, r.end)).collect()
        };
        assert_eq!(bounds(0), [(0, 0)]);
        assert_eq!(bounds(1), [(0, 1)]);
        assert_eq!(bounds(32), [(0, 32)]);
        assert_eq!(bounds(70), [(0, 32), (32, 64), (64, 70)]);
        assert_eq!(bounds(128), [(0, 32), (32, 64), (64, 96), (96, 128)]);
    }

    struct ZeroWeights;

    impl burn::module::ModuleMapper for ZeroWeights {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.zeros_like())
        }
    }
}
