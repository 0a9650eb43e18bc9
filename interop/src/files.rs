//! Reading a `state_dict` from a `.safetensors` or PyTorch `.pt` file, and writing one as
//! safetensors. burn-store parses both formats ([`SafetensorsStore`], [`PytorchStore`]); this
//! module adds the checks a user's file needs: which format it really is (by its first bytes, not
//! its name), a truncated or unreadable file, and a `.pt` that holds a whole pickled module
//! (`torch.save(model)`) instead of a `state_dict` — each one line, never a panic.
//!
//! ```
//! use burn::tensor::{Device, TensorData};
//! use zoo_interop::{read_state_dict, write_safetensors, StateDict};
//!
//! let mut state = StateDict::new();
//! state.insert("output.bias", TensorData::new(vec![0.5f32, -1.0], [2]));
//! let path = std::env::temp_dir().join("zoo-interop-doc.safetensors");
//! write_safetensors(&state, &path, &[("recipe", "example")])?;
//! assert_eq!(read_state_dict(&path)?, state);
//! # anyhow::Ok(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::pytorch_reader::{PickleValue, PytorchReader};
use burn::store::{bridge, ModuleStore, PytorchStore, SafetensorsStore};
use burn::tensor::{DType, TensorData};
use safetensors::tensor::{Dtype, TensorView};

use crate::StateDict;

/// The two formats a `state_dict` is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsFormat {
    /// `safetensors` (Hugging Face): a JSON header and raw little-endian tensors.
    Safetensors,
    /// PyTorch's `torch.save` (a ZIP of a pickle and the tensors' storages, or an older pickle).
    Pytorch,
}

impl WeightsFormat {
    /// The format of the file at `path`, from its first bytes (its name does not matter).
    pub fn detect(path: &Path) -> Result<Self> {
        let mut head = Vec::new();
        std::fs::File::open(path)
            .with_context(|| format!("cannot open '{}'", path.display()))?
            .take(16)
            .read_to_end(&mut head)
            .with_context(|| format!("cannot read '{}'", path.display()))?;
        if head.is_empty() {
            bail!("'{}' is empty", path.display());
        }
        let header_len = head
            .first_chunk::<8>()
            .map(|b| u64::from_le_bytes(*b))
            .unwrap_or(u64::MAX);
        if header_len < 100_000_000 && head.get(8) == Some(&b'{') {
            return Ok(Self::Safetensors);
        }
        if head.starts_with(b"PK") || matches!(head[0], 0x80 | b'(' | b'}' | b']' | b'c') {
            return Ok(Self::Pytorch);
        }
        bail!(
            "'{}' is neither a safetensors file nor a PyTorch .pt file (it starts with {:02x?})",
            path.display(),
            &head[..head.len().min(8)]
        )
    }

    /// `safetensors` or `pytorch`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Safetensors => "safetensors",
            Self::Pytorch => "pytorch",
        }
    }
}

/// Runs `f`, turning a panic inside a file reader into an error (and keeping its message off the
/// screen): a damaged file must give one line, never a backtrace.
fn without_panics<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    match result {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown error");
            Err(anyhow!("{what}: the reader failed ({message})"))
        }
    }
}

/// Reads the `state_dict` in a `.safetensors` or PyTorch `.pt` / `.pth` file (the format is
/// taken from the file's first bytes). A truncated or damaged file, and a `.pt` holding a whole
/// pickled module rather than its `state_dict`, are errors naming the file.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    match WeightsFormat::detect(path)? {
        WeightsFormat::Safetensors => without_panics(
            &format!("cannot read '{}' as safetensors", path.display()),
            || read_safetensors(path),
        ),
        WeightsFormat::Pytorch => without_panics(
            &format!("cannot read '{}' as a PyTorch file", path.display()),
            || read_pytorch(path),
        ),
    }
}

fn read_safetensors(path: &Path) -> Result<StateDict> {
    // burn-store memory-maps the file; a header that promises more bytes than the file has
    // (a truncated download) is refused by the safetensors crate here.
    let mut store = SafetensorsStore::from_file(path);
    let tensors = store.get_all_tensors().map_err(|e| {
        anyhow!(
            "'{}' is not a complete safetensors file (truncated or damaged?): {e}",
            path.display()
        )
    })?;
    tensor_data(path, tensors)
}

fn read_pytorch(path: &Path) -> Result<StateDict> {
    let unreadable = |e: &dyn std::fmt::Display| {
        anyhow!(
            "'{}' is not a readable PyTorch file (truncated or damaged?): {e}",
            path.display()
        )
    };
    // A state_dict pickles as a dict of tensors; `torch.save(model)` pickles the module object,
    // which burn-store reads as if it were the module's state_dict (or, in the legacy non-ZIP
    // format, fails on). Refuse it: what the file holds is an object of the user's class, which
    // Python can only load with that code, and the user should save `model.state_dict()`.
    if holds_pickled_module(path) {
        bail!(
            "'{}' holds a whole pickled module (as torch.save(model) writes), not a state_dict: save it with torch.save(model.state_dict(), path) and import that",
            path.display()
        );
    }
    match PytorchReader::read_pickle_data(path, None).map_err(|e| unreadable(&e))? {
        PickleValue::Dict(_) => {}
        PickleValue::Unsupported(type_name) => bail!(
            "'{}' holds a pickled {type_name} object instead of a state_dict (a dict of tensors): save it with torch.save(model.state_dict(), path)",
            path.display()
        ),
        other => bail!(
            "'{}' holds a pickled {} instead of a state_dict (a dict of tensors): save it with torch.save(model.state_dict(), path)",
            path.display(),
            pickle_kind(&other)
        ),
    }
    let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
    let tensors = store.get_all_tensors().map_err(|e| unreadable(&e))?;
    tensor_data(path, tensors)
}

/// The values of the tensors a store read from `path`, keyed by name.
fn tensor_data(path: &Path, tensors: &BTreeMap<String, PackTensor>) -> Result<StateDict> {
    tensors
        .iter()
        .map(|(name, tensor)| {
            let data = bridge::to_data(tensor).map_err(|e| {
                anyhow!(
                    "'{}': cannot read tensor '{name}' (truncated or damaged?): {e:?}",
                    path.display()
                )
            })?;
            Ok((name.clone(), data))
        })
        .collect()
}

/// How a pickle writes the names of the tables in every `torch.nn.Module`'s `__dict__`
/// (`_parameters`, `_modules`): as `BINUNICODE` (protocols 2 and 3, `torch.save`'s default) or
/// `SHORT_BINUNICODE` (protocol 4 and up), length first. A state_dict holds neither string: its
/// keys are dotted parameter names, and a key such as `sub_modules.0.weight` has another length.
const MODULE_TABLES: [[&[u8]; 2]; 2] = [
    [b"X\x0b\x00\x00\x00_parameters", b"\x8c\x0b_parameters"],
    [b"X\x08\x00\x00\x00_modules", b"\x8c\x08_modules"],
];

/// Whether the file holds a pickled `torch.nn.Module` (both of its tables' names appear in the
/// pickle; the tensors' bytes are searched too, where a match by chance is out of reach).
fn holds_pickled_module(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    MODULE_TABLES
        .iter()
        .all(|forms| forms.iter().any(|form| contains(form)))
}

fn pickle_kind(value: &PickleValue) -> &'static str {
    match value {
        PickleValue::None => "None",
        PickleValue::Bool(_) => "bool",
        PickleValue::Int(_) => "int",
        PickleValue::Float(_) => "float",
        PickleValue::String(_) => "string",
        PickleValue::List(_) => "list or tuple",
        PickleValue::Dict(_) => "dict",
        PickleValue::Bytes(_) => "bytes",
        PickleValue::Unsupported(_) => "object",
    }
}

fn safetensors_dtype(dtype: DType) -> Result<Dtype> {
    Ok(match dtype {
        DType::F64 => Dtype::F64,
        DType::F32 | DType::Flex32 => Dtype::F32,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I64 => Dtype::I64,
        DType::I32 => Dtype::I32,
        DType::I16 => Dtype::I16,
        DType::I8 => Dtype::I8,
        DType::U8 => Dtype::U8,
        other => bail!("safetensors has no {other:?} tensors"),
    })
}

/// The bytes of a safetensors file holding `state` (keys sorted, as safetensors writes them)
/// with `metadata` in its header (`format: pt` is always there, as PyTorch's
/// `safetensors.torch.save_file` writes it).
pub fn safetensors_bytes(state: &StateDict, metadata: &[(&str, &str)]) -> Result<Vec<u8>> {
    let tensors: Vec<(&str, TensorData)> = state
        .iter()
        .map(|(k, v)| {
            // Flex32 is stored as f32 bytes.
            let v = if v.dtype() == DType::Flex32 {
                v.clone().convert::<f32>()
            } else {
                v.clone()
            };
            (k, v)
        })
        .collect();
    let views = tensors
        .iter()
        .map(|(key, data)| {
            let view = TensorView::new(
                safetensors_dtype(data.dtype())?,
                data.shape().to_vec(),
                data.as_bytes(),
            )
            .map_err(|e| anyhow!("tensor '{key}': {e}"))?;
            Ok((*key, view))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut info: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    info.insert("format".into(), "pt".into());
    Ok(safetensors::serialize(views, Some(info))?)
}

/// Writes `state` as a safetensors file at `path` (atomically: a temporary file renamed into
/// place), with `metadata` in its header (see [`safetensors_bytes`]). PyTorch reads it back with
/// `model.load_state_dict(safetensors.torch.load_file(path))`.
pub fn write_safetensors(state: &StateDict, path: &Path, metadata: &[(&str, &str)]) -> Result<()> {
    let bytes = safetensors_bytes(state, metadata)?;
    zoo_datasets::write_atomically(path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> StateDict {
        let mut state = StateDict::new();
        state.insert(
            "a.weight",
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]),
        );
        state.insert("a.bias", TensorData::new(vec![0.5f32, -0.5], [2]));
        state
    }

    #[test]
    fn safetensors_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        write_safetensors(&example(), &path, &[]).unwrap();
        assert_eq!(
            WeightsFormat::detect(&path).unwrap(),
            WeightsFormat::Safetensors
        );
        assert_eq!(read_state_dict(&path).unwrap(), example());
    }

    #[test]
    fn a_truncated_safetensors_file_is_one_line_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let bytes = safetensors_bytes(&example(), &[]).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
        let text = format!("{:#}", read_state_dict(&path).unwrap_err());
        assert!(
            text.contains("w.safetensors") && text.contains("truncated"),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn a_pickled_module_is_refused_in_every_protocol() {
        // `class M(nn.Module)` with a child `fc`, pickled with protocols 2 and 4 (the bytes of
        // pytorch-reader's own tests): the tables of its `__dict__` give it away.
        const PROTO2: &[u8] = b"\x80\x02c__main__\nM\nq\x00)\x81q\x01}q\x02(X\x0b\x00\x00\x00_parametersq\x03}q\x04X\x04\x00\x00\x00biasq\x05NsX\x08\x00\x00\x00_buffersq\x06}q\x07X\x08\x00\x00\x00_modulesq\x08}q\x09X\x08\x00\x00\x00trainingq\x0a\x88ub.";
        const PROTO4: &[u8] = b"\x80\x04\x95\x40\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x94\x8c\x01M\x94\x93\x94)\x81\x94}\x94(\x8c\x0b_parameters\x94}\x94\x8c\x08_buffers\x94}\x94\x8c\x08_modules\x94}\x94ub.";
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [("p2.pt", PROTO2), ("p4.pt", PROTO4)] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let text = format!("{:#}", read_state_dict(&path).unwrap_err());
            assert!(
                text.contains(name) && text.contains("holds a whole pickled module"),
                "{text}"
            );
        }
        // A state_dict whose keys merely contain the words is not a module.
        assert!(!holds_pickled_module(Path::new("/nonexistent")));
        let path = dir.path().join("keys.pt");
        std::fs::write(&path, b"\x80\x02}X\x14\x00\x00\x00sub_modules._parameters.").unwrap();
        assert!(!holds_pickled_module(&path));
    }

    #[test]
    fn other_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.pt");
        std::fs::write(&path, b"hello world").unwrap();
        let text = format!("{:#}", read_state_dict(&path).unwrap_err());
        assert!(
            text.contains("neither a safetensors file nor a PyTorch"),
            "{text}"
        );
        std::fs::write(&path, b"").unwrap();
        let text = format!("{:#}", read_state_dict(&path).unwrap_err());
        assert!(text.ends_with("is empty"), "{text}");
        // A ZIP header and nothing else.
        std::fs::write(&path, b"PK\x03\x04\x14\x00\x00\x00").unwrap();
        let text = format!("{:#}", read_state_dict(&path).unwrap_err());
        assert!(text.contains("not a readable PyTorch file"), "{text}");
    }
}
