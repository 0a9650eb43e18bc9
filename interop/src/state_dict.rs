//! A module's weights as a PyTorch `state_dict`: PyTorch's names and layouts, in and out.
//!
//! [`state_dict`] reads any Burn module's parameters the way the matching `torch.nn` module names
//! and lays them out; [`load_state_dict`] puts such tensors back into a module, after checking
//! that the two describe the same network: a tensor missing, left over or of another shape is
//! one [`Mismatch`] error naming it and both shapes, and nothing is loaded.
//!
//! The mapping (see the table in `interop/python/torch_models.py`):
//!
//! - every parameter keeps its path (`hidden.0.linear.weight`, `blocks.1.conv.bias`), without
//!   Burn's enum variant names;
//! - a `Linear` weight is transposed: Burn `[in, out]`, PyTorch `[out, in]`;
//! - a batch norm's `gamma` / `beta` are PyTorch's `weight` / `bias` (`running_mean` and
//!   `running_var` keep their names; PyTorch's `num_batches_tracked` is not written, and is
//!   skipped on load);
//! - an LSTM layer's eight gate `Linear`s are PyTorch's four fused tensors (see
//!   [`names::lstm_slot`]);
//! - convolution kernels (`[out, in, kh, kw]`) and everything else are the same in both.
//!
//! ```
//! use burn::tensor::Device;
//! use zoo_cnn::CnnConfig;
//! use zoo_interop::{load_state_dict, state_dict};
//!
//! let device = Device::flex();
//! let trained = CnnConfig::lenet5().init(&device);
//! let state = state_dict(&trained)?;
//! assert_eq!(state.shape("head.hidden.0.linear.weight"), Some(vec![120, 400])); // PyTorch [out, in]
//!
//! let copy = load_state_dict(CnnConfig::lenet5().init(&device), &state)?;
//! assert_eq!(state_dict(&copy)?, state);
//! # anyhow::Ok(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::store::{bridge, BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter};
use burn::tensor::{DType, TensorData};

use crate::names::{self, lstm_slot};

/// Tensors by PyTorch `state_dict` key, in PyTorch's layouts (what
/// `torch.nn.Module.state_dict()` returns, as Burn [`TensorData`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateDict {
    tensors: BTreeMap<String, TensorData>,
}

impl StateDict {
    /// An empty state dict.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a tensor.
    pub fn insert(&mut self, key: impl Into<String>, data: TensorData) {
        self.tensors.insert(key.into(), data);
    }

    /// The tensor under `key`.
    pub fn get(&self, key: &str) -> Option<&TensorData> {
        self.tensors.get(key)
    }

    /// The shape of the tensor under `key`.
    pub fn shape(&self, key: &str) -> Option<Vec<usize>> {
        self.get(key).map(|t| t.shape().to_vec())
    }

    /// Removes and returns the tensor under `key`.
    pub fn remove(&mut self, key: &str) -> Option<TensorData> {
        self.tensors.remove(key)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// `(key, tensor)` pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TensorData)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Number of values over every tensor.
    pub fn num_values(&self) -> usize {
        self.tensors.values().map(TensorData::num_elements).sum()
    }
}

impl FromIterator<(String, TensorData)> for StateDict {
    fn from_iter<I: IntoIterator<Item = (String, TensorData)>>(iter: I) -> Self {
        Self {
            tensors: iter.into_iter().collect(),
        }
    }
}

/// One way a file's tensors and a model's parameters disagree.
#[derive(Clone, Debug, PartialEq)]
pub enum Difference {
    /// The tensor is in both, with other shapes.
    Misshapen {
        /// PyTorch key.
        key: String,
        /// Its shape in the file.
        file: Vec<usize>,
        /// The shape the model needs (PyTorch layout).
        model: Vec<usize>,
    },
    /// The model needs the tensor; the file does not have it.
    Missing {
        /// PyTorch key.
        key: String,
        /// The shape the model needs (PyTorch layout).
        model: Vec<usize>,
    },
    /// The file has a tensor the model does not.
    Extra {
        /// PyTorch key.
        key: String,
        /// Its shape in the file.
        file: Vec<usize>,
    },
    /// The file holds integers or booleans where the model has floats (or the reverse).
    WrongType {
        /// PyTorch key.
        key: String,
        /// Element type in the file.
        file: DType,
        /// Element type of the model's parameter.
        model: DType,
    },
}

/// `[a, b, c]`.
fn dims(shape: &[usize]) -> String {
    format!("{shape:?}")
}

impl Difference {
    /// The tensor's key.
    pub fn key(&self) -> &str {
        match self {
            Self::Misshapen { key, .. }
            | Self::Missing { key, .. }
            | Self::Extra { key, .. }
            | Self::WrongType { key, .. } => key,
        }
    }

    /// A few words, for the list after the first difference.
    fn short(&self) -> String {
        match self {
            Self::Misshapen { key, file, model } => {
                format!("'{key}' {} vs {}", dims(file), dims(model))
            }
            Self::Missing { key, model } => format!("'{key}' {} missing", dims(model)),
            Self::Extra { key, file } => format!("'{key}' {} extra", dims(file)),
            Self::WrongType { key, file, model } => format!("'{key}' {file:?} vs {model:?}"),
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Misshapen { key, file, model } => write!(
                f,
                "tensor '{key}' is {} in the file but {} in the model",
                dims(file),
                dims(model)
            ),
            Self::Missing { key, model } => write!(
                f,
                "tensor '{key}' is missing from the file (the model needs {})",
                dims(model)
            ),
            Self::Extra { key, file } => write!(
                f,
                "tensor '{key}' {} is in the file but not in the model",
                dims(file)
            ),
            Self::WrongType { key, file, model } => write!(
                f,
                "tensor '{key}' holds {file:?} values in the file but {model:?} in the model"
            ),
        }
    }
}

/// The file and the model describe different networks: every [`Difference`], misshapen tensors
/// first, then missing, then extra ones. Displayed on one line: the first difference in full,
/// then a few more by name.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Every difference, in the order above.
    pub differences: Vec<Difference>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((first, rest)) = self.differences.split_first() else {
            return write!(f, "no difference");
        };
        write!(f, "{first}")?;
        if !rest.is_empty() {
            const LISTED: usize = 3;
            let names: Vec<String> = rest.iter().take(LISTED).map(Difference::short).collect();
            write!(f, "; {} more: {}", rest.len(), names.join(", "))?;
            if rest.len() > LISTED {
                write!(f, ", ...")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Mismatch {}

/// One tensor a module expects, in PyTorch's naming and layout.
#[derive(Clone, Debug)]
struct Expected {
    shape: Vec<usize>,
    dtype: DType,
    /// The parameters behind it: one for most tensors, four for a fused LSTM tensor, as
    /// `(gate, name as burn-store collects it)`.
    parts: Vec<(usize, String)>,
}

/// What `module` holds, by PyTorch key (layouts already PyTorch's: burn-store's
/// [`BurnToPyTorchAdapter`] transposes `Linear` weights and renames batch-norm parameters; the
/// LSTM gates are grouped under their fused keys here).
fn expected<M: Module>(module: &M) -> Result<BTreeMap<String, Expected>> {
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    for tensor in module.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true) {
        let shape = tensor.shape.to_vec();
        let (key, gate) = match lstm_slot(&tensor.name) {
            Some(slot) => (slot.key, slot.gate),
            None => (tensor.name.clone(), 0),
        };
        let entry = out.entry(key).or_insert_with(|| Expected {
            shape: shape.clone(),
            dtype: tensor.dtype,
            parts: Vec::new(),
        });
        entry.parts.push((gate, tensor.name));
    }
    for (key, entry) in &mut out {
        entry.parts.sort();
        if entry.parts.len() > 1 {
            let gates: Vec<usize> = entry.parts.iter().map(|(g, _)| *g).collect();
            if gates != [0, 1, 2, 3] {
                bail!("the LSTM behind '{key}' does not have the four gates of PyTorch's nn.LSTM");
            }
            if let Some(rows) = entry.shape.first_mut() {
                *rows *= 4;
            }
        }
    }
    Ok(out)
}

/// `module`'s parameters as a PyTorch `state_dict`: the names and layouts of the matching
/// `torch.nn` module (see the [module documentation](self)).
pub fn state_dict<M: Module>(module: &M) -> Result<StateDict> {
    let plan = expected(module)?;
    let mut collected: BTreeMap<String, TensorData> = BTreeMap::new();
    for tensor in module.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true) {
        let name = tensor.name.clone();
        let data = bridge::into_data(tensor)
            .map_err(|e| anyhow::anyhow!("cannot read the parameter '{name}': {e:?}"))?;
        collected.insert(name, data);
    }
    let mut out = StateDict::new();
    for (key, entry) in plan {
        let mut parts = entry
            .parts
            .iter()
            .map(|(_, name)| collected.remove(name).context("a collected parameter"))
            .collect::<Result<Vec<_>>>()?;
        let data = if parts.len() == 1 {
            parts.remove(0)
        } else {
            concat_rows(parts, &entry.shape, entry.dtype)
        };
        out.insert(key, data);
    }
    Ok(out)
}

/// Stacks tensors along their first axis (row-major, so their bytes one after the other).
fn concat_rows(parts: Vec<TensorData>, shape: &[usize], dtype: DType) -> TensorData {
    let bytes: Vec<u8> = parts
        .iter()
        .flat_map(|p| p.as_bytes().iter().copied())
        .collect();
    TensorData::from_bytes_vec(bytes, shape.to_vec(), dtype)
}

/// The `n` equal blocks of rows of `data` (the inverse of [`concat_rows`]).
fn split_rows(data: &TensorData, n: usize) -> Vec<TensorData> {
    let mut shape = data.shape().to_vec();
    shape[0] /= n;
    let bytes = data.as_bytes();
    let block = bytes.len() / n;
    (0..n)
        .map(|i| {
            TensorData::from_bytes_vec(
                bytes[i * block..(i + 1) * block].to_vec(),
                shape.clone(),
                data.dtype(),
            )
        })
        .collect()
}

/// Every difference between the tensors of `state` and what `plan` expects (batch-norm
/// `num_batches_tracked` counters excepted), misshapen first, then missing, then extra.
fn differences(plan: &BTreeMap<String, Expected>, state: &StateDict) -> Vec<Difference> {
    let (mut misshapen, mut missing, mut extra) = (Vec::new(), Vec::new(), Vec::new());
    for (key, want) in plan {
        match state.get(key) {
            None => missing.push(Difference::Missing {
                key: key.clone(),
                model: want.shape.clone(),
            }),
            Some(data) if data.shape().as_slice() != want.shape.as_slice() => {
                misshapen.push(Difference::Misshapen {
                    key: key.clone(),
                    file: data.shape().to_vec(),
                    model: want.shape.clone(),
                })
            }
            Some(data) if data.dtype().is_float() != want.dtype.is_float() => {
                misshapen.push(Difference::WrongType {
                    key: key.clone(),
                    file: data.dtype(),
                    model: want.dtype,
                })
            }
            Some(_) => {}
        }
    }
    for (key, data) in state.iter() {
        if !plan.contains_key(key) && !names::is_batch_counter(key, |k| plan.contains_key(k)) {
            extra.push(Difference::Extra {
                key: key.to_string(),
                file: data.shape().to_vec(),
            });
        }
    }
    misshapen.into_iter().chain(missing).chain(extra).collect()
}

/// Checks that `state` holds exactly the tensors `module` has (PyTorch names and shapes; batch
/// norm's `num_batches_tracked` may be present or not), without loading anything.
pub fn check_state_dict<M: Module>(module: &M, state: &StateDict) -> Result<()> {
    let differences = differences(&expected(module)?, state);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(Mismatch { differences }.into())
    }
}

/// Loads a PyTorch `state_dict` into `module` (built with the same architecture, e.g. from the
/// run's recipe) and returns it. A tensor missing, left over, of another shape or of integers
/// where the model has floats is a [`Mismatch`] naming it, and nothing is loaded. Floating-point
/// tensors of another precision (`float64`, `float16`) are converted to the module's.
pub fn load_state_dict<M: Module>(mut module: M, state: &StateDict) -> Result<M> {
    let plan = expected(&module)?;
    let differences = differences(&plan, state);
    if !differences.is_empty() {
        return Err(Mismatch { differences }.into());
    }
    let mut tensors = Vec::new();
    for (key, want) in &plan {
        let data = state.get(key).context("checked above")?.clone();
        let data = if data.dtype() == want.dtype {
            data
        } else {
            let from = data.dtype();
            data.try_cast(want.dtype).map_err(|e| {
                anyhow::anyhow!(
                    "tensor '{key}': cannot convert {from:?} to {:?}: {e}",
                    want.dtype
                )
            })?
        };
        if want.parts.len() == 1 {
            // Named as PyTorch names it: burn-store's PyTorchToBurnAdapter transposes a Linear
            // weight and finds a batch norm's gamma under `weight`.
            tensors.push(bridge::from_data(data, key.clone(), None));
        } else {
            for ((_, name), block) in want.parts.iter().zip(split_rows(&data, want.parts.len())) {
                tensors.push(bridge::from_data(block, name.clone(), None));
            }
        }
    }
    let result = module.apply(tensors, None, Some(Box::new(PyTorchToBurnAdapter)), true);
    if let Some(error) = result.errors.first() {
        bail!("{error}");
    }
    if let Some((path, _)) = result.missing.first() {
        bail!("the parameter '{path}' was not loaded");
    }
    if let Some(path) = result.unused.first() {
        bail!("the tensor '{path}' matched no parameter");
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, Tensor};
    use zoo_cnn::CnnConfig;
    use zoo_gan::{Architecture, GeneratorConfig};
    use zoo_lstm::{LstmStackConfig, SequenceClassifierConfig};
    use zoo_mlp::MlpConfig;

    fn shapes(state: &StateDict) -> Vec<(String, Vec<usize>)> {
        state
            .iter()
            .map(|(k, v)| (k.to_string(), v.shape().to_vec()))
            .collect()
    }

    fn owned(rows: &[(&str, &[usize])]) -> Vec<(String, Vec<usize>)> {
        rows.iter()
            .map(|(k, s)| (k.to_string(), s.to_vec()))
            .collect()
    }

    #[test]
    fn the_classic_cnn_has_the_twins_keys_and_shapes() {
        let cnn = CnnConfig::classic().init(&Device::flex());
        let want = owned(&[
            ("blocks.0.conv.bias", &[32]),
            ("blocks.0.conv.weight", &[32, 1, 3, 3]),
            ("blocks.1.conv.bias", &[64]),
            ("blocks.1.conv.weight", &[64, 32, 3, 3]),
            ("head.hidden.0.linear.bias", &[128]),
            ("head.hidden.0.linear.weight", &[128, 9216]),
            ("head.output.bias", &[10]),
            ("head.output.weight", &[10, 128]),
        ]);
        assert_eq!(shapes(&state_dict(&cnn).unwrap()), want);
    }

    #[test]
    fn the_lstm_classifier_has_pytorchs_fused_tensors() {
        let config = SequenceClassifierConfig::new(LstmStackConfig::new(28, 16), 10);
        let model = config.init(&Device::flex());
        let want = owned(&[
            ("lstm.bias_hh_l0", &[64]),
            ("lstm.bias_ih_l0", &[64]),
            ("lstm.weight_hh_l0", &[64, 16]),
            ("lstm.weight_ih_l0", &[64, 28]),
            ("output.bias", &[10]),
            ("output.weight", &[10, 16]),
        ]);
        let state = state_dict(&model).unwrap();
        assert_eq!(shapes(&state), want);
        // Rows 2H..3H of weight_ih are the cell gate's input weights, transposed.
        let cell = model.lstm.layers[0].clone();
        let zoo_lstm::Recurrent::Forward(lstm) = cell else {
            panic!("a forward LSTM")
        };
        let burn: Vec<f32> = lstm
            .cell_gate
            .input_transform
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let fused: Vec<f32> = state
            .get("lstm.weight_ih_l0")
            .unwrap()
            .try_to_vec::<f32>()
            .unwrap();
        for r in 0..16 {
            for c in 0..28 {
                assert_eq!(fused[(32 + r) * 28 + c], burn[c * 16 + r]);
            }
        }
    }

    #[test]
    fn batch_norm_parameters_take_pytorchs_names() {
        let mlp = MlpConfig::new()
            .with_hidden(vec![8])
            .with_batch_norm(true)
            .init(&Device::flex());
        let keys: Vec<String> = state_dict(&mlp).unwrap().keys().map(String::from).collect();
        assert_eq!(
            keys,
            [
                "hidden.0.linear.bias",
                "hidden.0.linear.weight",
                "hidden.0.norm.bias",
                "hidden.0.norm.running_mean",
                "hidden.0.norm.running_var",
                "hidden.0.norm.weight",
                "output.bias",
                "output.weight"
            ]
        );
    }

    /// Saving, loading into a fresh model and saving again gives the same tensors, and the
    /// loaded model computes what the original does.
    fn round_trips<M: Module>(original: M, fresh: M, forward: impl Fn(&M) -> Vec<f32>) {
        let state = state_dict(&original).unwrap();
        let loaded = load_state_dict(fresh, &state).unwrap();
        assert_eq!(state_dict(&loaded).unwrap(), state);
        assert_eq!(forward(&loaded), forward(&original));
    }

    #[test]
    fn every_family_round_trips() {
        let device = Device::flex();
        let images = Tensor::<4>::random([3, 1, 28, 28], Distribution::Default, &device);
        let flat = |m: &zoo_mlp::Mlp| {
            m.forward(images.clone().flatten(1, 3))
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let mlp = MlpConfig::new()
            .with_hidden(vec![32, 16])
            .with_batch_norm(true);
        round_trips(mlp.init(&device), mlp.init(&device), flat);
        let cnn = |m: &zoo_cnn::Cnn| {
            m.forward(images.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        round_trips(
            CnnConfig::lenet5().init(&device),
            CnnConfig::lenet5().init(&device),
            cnn,
        );
        let lstm =
            SequenceClassifierConfig::new(LstmStackConfig::new(28, 8).with_num_layers(2), 10);
        let seq = |m: &zoo_lstm::SequenceClassifier| {
            m.forward(images.clone().squeeze_dim(1))
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        round_trips(lstm.init(&device), lstm.init(&device), seq);
        let gan = GeneratorConfig::new(Architecture::Mlp).with_hidden(vec![16]);
        let latents = Tensor::<2>::random([2, 100], Distribution::Default, &device);
        let draw = |g: &zoo_gan::Generator| {
            g.forward(latents.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        round_trips(gan.init(&device), gan.init(&device), draw);
    }

    #[test]
    fn a_misshapen_tensor_is_one_error_naming_it_and_both_shapes() {
        let device = Device::flex();
        let state = state_dict(&CnnConfig::lenet5().init(&device)).unwrap();
        let error = load_state_dict(CnnConfig::classic().init(&device), &state).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.starts_with(
                "tensor 'blocks.0.conv.bias' is [6] in the file but [32] in the model; "
            ),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        let mismatch = error.downcast_ref::<Mismatch>().unwrap();
        assert!(mismatch.differences.contains(&Difference::Extra {
            key: "head.hidden.1.linear.weight".into(),
            file: vec![84, 120]
        }));
    }

    #[test]
    fn missing_and_extra_tensors_are_named() {
        let device = Device::flex();
        let mlp = MlpConfig::new().with_hidden(vec![8]).init(&device);
        let mut state = state_dict(&mlp).unwrap();
        let bias = state.remove("output.bias").unwrap();
        let error = load_state_dict(mlp.clone(), &state).unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "tensor 'output.bias' is missing from the file (the model needs [10])"
        );
        state.insert("output.bias", bias.clone());
        state.insert("fc9.bias", bias);
        let error = load_state_dict(mlp, &state).unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "tensor 'fc9.bias' [10] is in the file but not in the model"
        );
    }

    #[test]
    fn float64_tensors_are_converted_and_batch_counters_skipped() {
        let device = Device::flex();
        let config = MlpConfig::new().with_hidden(vec![4]).with_batch_norm(true);
        let mlp = config.init(&device);
        let state: StateDict = state_dict(&mlp)
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone().convert::<f64>()))
            .chain([(
                "hidden.0.norm.num_batches_tracked".to_string(),
                TensorData::new(vec![7i64], [0usize; 0]),
            )])
            .collect();
        let loaded = load_state_dict(config.init(&device), &state).unwrap();
        assert_eq!(state_dict(&loaded).unwrap(), state_dict(&mlp).unwrap());
    }
}
