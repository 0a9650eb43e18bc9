//! Weights in and out of burn-zoo: PyTorch `state_dict`s (`.pt` and `.safetensors`, with
//! PyTorch's parameter names and layouts) and ONNX graphs.
//!
//! - [`state_dict`](fn@state_dict) / [`load_state_dict`]: any zoo network (an `Mlp`, a `Cnn`,
//!   an LSTM `SequenceClassifier`, a GAN generator, ...) to and from the tensors of the matching
//!   `torch.nn` module (the twins in `interop/python/torch_models.py`), checked tensor by tensor
//!   ([`Mismatch`] names the first one that differs, with both shapes);
//! - [`read_state_dict`] / [`write_safetensors`]: those tensors from a `.pt` / `.safetensors`
//!   file and into a `.safetensors` file (PyTorch loads it with
//!   `model.load_state_dict(safetensors.torch.load_file(path))`);
//! - [`save_safetensors`] / [`load_file`]: the two steps together;
//! - [`export_onnx`]: a forward pass as an ONNX graph (burn-onnx's experimental exporter);
//! - [`export_run`] / [`import_run`]: whole run folders, what `zoo export` and `zoo import` do.
//!
//! ```
//! use burn::tensor::Device;
//! use zoo_cnn::CnnConfig;
//!
//! let device = Device::flex();
//! let cnn = CnnConfig::classic().init(&device); // the pytorch/examples MNIST net
//! let path = std::env::temp_dir().join("zoo-interop-classic.safetensors");
//! zoo_interop::save_safetensors(&cnn, &path)?;
//! // In Python: ClassicCnn().load_state_dict(safetensors.torch.load_file(path))
//! let copy = zoo_interop::load_file(CnnConfig::classic().init(&device), &path)?;
//! assert_eq!(zoo_interop::state_dict(&copy)?, zoo_interop::state_dict(&cnn)?);
//! # anyhow::Ok(())
//! ```
//!
//! Nothing in the workspace depends on this crate but the `zoo` command; it depends on the
//! training library (for run folders) and on burn-store and burn-onnx.
#![warn(missing_docs)]

pub mod files;
pub mod names;
pub mod onnx;
pub mod run;
pub mod state_dict;

use std::path::Path;

use anyhow::{Context, Result};
use burn::module::Module;

pub use files::{read_state_dict, safetensors_bytes, write_safetensors, WeightsFormat};
pub use onnx::export_onnx;
pub use run::{export_run, import_run, ExportFormat, Exported, Imported, RunModel};
pub use state_dict::{
    check_state_dict, load_state_dict, state_dict, Difference, Mismatch, StateDict,
};

/// Writes `module`'s weights to `path` as safetensors with PyTorch's names and layouts (see
/// [`state_dict`](mod@state_dict)).
pub fn save_safetensors<M: Module>(module: &M, path: &Path) -> Result<()> {
    write_safetensors(&state_dict(module)?, path, &[("producer", "burn-zoo")])
}

/// Loads the PyTorch `state_dict` in `path` (`.pt`, `.pth` or `.safetensors`, told apart by their
/// first bytes) into `module` (see [`load_state_dict`]); errors name the file.
pub fn load_file<M: Module>(module: M, path: &Path) -> Result<M> {
    let state = read_state_dict(path)?;
    load_state_dict(module, &state)
        .with_context(|| format!("'{}' does not fit the model", path.display()))
}
