//! ONNX export of a module's forward pass, through burn-onnx's (experimental) `OnnxExporter`.
//!
//! The exporter runs the forward pass once on Burn's capture device, records the operations and
//! writes them as an opset-18 ONNX graph with the weights inside. The zoo's fused flex kernels
//! step aside there (they only run on flex tensors), so what is recorded is Burn's own
//! operations. [`export_onnx`] marks the first axis of the input as a symbolic `batch`: it
//! captures two batch sizes and lets the exporter check that only that axis moved.
//!
//! What burn-onnx 0.22 lowers covers the dense and convolutional classifiers (linear, conv2d,
//! max-pool, batch norm, ReLU / sigmoid / tanh, flatten); it refuses Burn's LSTM (which writes
//! each step into a preallocated output with `slice_assign`: "varying slice bounds") and the
//! zoo's GAN generators (their reshape of `[batch, c*h*w]` pixels to `[batch, c, h, w]` images
//! loses the symbolic batch: "multiple element-count-derived dimensions"); the
//! [`ExportError`](burn_onnx::export::ExportError) names the operation.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use zoo_mlp::{Mlp, MlpConfig};
//!
//! let device = Device::flex();
//! let mlp = MlpConfig::new().with_hidden(vec![16]).init(&device);
//! let sample = Tensor::<2>::zeros([2, 784], &device);
//! let onnx = zoo_interop::export_onnx(&mlp, sample, Mlp::forward)?;
//! assert!(onnx.len() > 16 * 784 * 4); // the weights are inside
//! # anyhow::Ok(())
//! ```

use anyhow::{anyhow, Result};
use burn::module::Module;
use burn::tensor::Tensor;
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};

/// The ONNX bytes of `forward(module, input)`, with the input's first axis a symbolic `batch`
/// (any batch size runs) and the others fixed to `sample`'s. `sample` needs a batch of at least
/// 2 (a second capture uses one more).
pub fn export_onnx<M, const D: usize, const E: usize>(
    module: &M,
    sample: Tensor<D>,
    forward: impl Fn(&M, Tensor<D>) -> Tensor<E>,
) -> Result<Vec<u8>>
where
    M: Module,
{
    let shape = sample.dims();
    let mut bigger = shape;
    bigger[0] += 1;
    let validation = Tensor::<D>::zeros(bigger, &sample.device());
    let axes: Vec<AxisSpec> = (0..D)
        .map(|axis| {
            if axis == 0 {
                AxisSpec::dynamic("batch")
            } else {
                AxisSpec::Static
            }
        })
        .collect();
    let model = OnnxExporter::new()
        .export_dynamic(
            module,
            sample,
            validation,
            &[InputSpec::new(axes)],
            |m: &M, x: Tensor<D>| forward(m, x),
        )
        .map_err(|e| anyhow!("burn-onnx cannot export this network: {e}"))?;
    Ok(model.into_bytes())
}
