//! Whole run folders in and out: what `zoo export` and `zoo import` do.
//!
//! [`export_run`] reads a run's model back (as `zoo eval` does) and writes it beside the run:
//! `model.safetensors` (or `generator.safetensors` for a GAN) with PyTorch's names and layouts,
//! or `model.onnx` (the MLP and CNN classifiers). [`import_run`] builds the network a recipe describes, loads
//! a PyTorch `state_dict` into it (checked tensor by tensor), and writes a run folder that every
//! command reading runs accepts: the recipe (`recipe.toml` and `checkpoint/recipe.toml`), the
//! weights (`model.bpk`, or `generator.bpk` for a GAN) and a `summary.json` saying where they came
//! from, with no training figures.
//!
//! The state dict of a run is the one of its network: a classifier's MLP, CNN or LSTM classifier
//! (without the `network.` wrapper and its enum variant), a GAN's generator, a language model's
//! or forecaster's LSTM network.
//!
//! ```no_run
//! use std::path::Path;
//! use zoo_interop::{export_run, import_run, ExportFormat};
//! use zoo_train::Recipe;
//!
//! // PyTorch -> zoo: a state_dict of the pytorch/examples CNN, evaluated with `zoo eval runs/cnn-pt`.
//! let recipe = Recipe::load("cnn-mnist", &[])?;
//! import_run(Path::new("cnn.pt"), &recipe, Path::new("runs/cnn-pt"))?;
//! // zoo -> PyTorch and ONNX.
//! let weights = export_run(Path::new("runs/cnn-pt"), ExportFormat::Safetensors, None)?;
//! let graph = export_run(Path::new("runs/cnn-pt"), ExportFormat::Onnx, None)?;
//! println!("{} and {}", weights.path.display(), graph.path.display());
//! # anyhow::Ok(())
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::{Device, Tensor};
use zoo_gan::Generator;
use zoo_train::recipe::{ImageShape, Recipe, Task};
use zoo_train::run::folder::{files, RunFolder};
use zoo_train::tasks::classify::{load_classifier, Classifier, Network};
use zoo_train::tasks::forecast::{load_forecaster, ForecastModel};
use zoo_train::tasks::gan::condition::Conditioning;
use zoo_train::tasks::gan::sample::load_generator;
use zoo_train::tasks::gan::train::files as gan_files;
use zoo_train::tasks::language_model::{load_language_model, LanguageModel};
use zoo_train::Summary;

use crate::{load_state_dict, read_state_dict, state_dict, write_safetensors, StateDict};

/// What `zoo export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// safetensors with PyTorch's parameter names and layouts.
    Safetensors,
    /// An ONNX graph (opset 18) with the weights inside, any batch size.
    Onnx,
}

impl ExportFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Safetensors => "safetensors",
            Self::Onnx => "onnx",
        }
    }
}

/// The trained network of a run, as the run's task holds it.
// One value per command, loaded once and matched on: boxing the generator would only add a
// dereference to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum RunModel {
    /// An image classifier (MLP, CNN or row-wise LSTM).
    Classifier(Classifier),
    /// A GAN's generator, and how it reads its input.
    Generator(Generator, Conditioning),
    /// A character language model.
    LanguageModel(LanguageModel),
    /// A series forecaster.
    Forecaster(ForecastModel),
}

impl RunModel {
    /// Reads the model of the run in `run_dir` (what `zoo eval` / `zoo sample` would use) onto
    /// `device`, with the run's recipe.
    pub fn load(run_dir: &Path, device: &Device) -> Result<(Recipe, Self)> {
        let task = RunFolder::open(run_dir)?.read_recipe()?.task();
        Ok(match task {
            Task::ImageClassification => {
                let (recipe, model) = load_classifier(run_dir, device)?;
                (recipe, Self::Classifier(model))
            }
            Task::Gan => {
                let (recipe, conditioning, generator) = load_generator(run_dir, device)?;
                (recipe, Self::Generator(generator, conditioning))
            }
            Task::CharLm => {
                let (recipe, model, _) = load_language_model(run_dir, device)?;
                (recipe, Self::LanguageModel(model))
            }
            Task::Forecast => {
                let (recipe, model) = load_forecaster(run_dir, device)?;
                (recipe, Self::Forecaster(model))
            }
        })
    }

    /// The network's weights as a PyTorch `state_dict` (see [`state_dict`](fn@crate::state_dict)).
    pub fn state_dict(&self) -> Result<StateDict> {
        match self {
            Self::Classifier(model) => match &model.network {
                Network::Mlp(mlp) => state_dict(mlp),
                Network::Cnn(cnn) => state_dict(cnn),
                Network::Lstm(lstm) => state_dict(lstm),
            },
            Self::Generator(Generator::Mlp(g), _) => state_dict(g),
            Self::Generator(Generator::Dcgan(g), _) => state_dict(g),
            Self::LanguageModel(model) => state_dict(&model.lm),
            Self::Forecaster(model) => state_dict(&model.forecaster),
        }
    }

    /// The file a run keeps these weights in (`model` or `generator`), without extension.
    pub fn stem(&self) -> &'static str {
        match self {
            Self::Generator(..) => "generator",
            _ => "model",
        }
    }

    /// The ONNX graph of the network's forward pass: images `[batch, c, h, w]` (normalized as
    /// the zoo's data loader does) to logits `[batch, classes]` for a classifier, latents
    /// `[batch, latent (+ classes)]` to images `[batch, c, h, w]` in `[-1, 1]` for a generator.
    ///
    /// burn-onnx 0.22 exports the MLP and CNN classifiers; it refuses the LSTM classifier and
    /// the GAN generators (whose reshape to images it cannot keep batch-dynamic), and the error
    /// then says to export safetensors instead.
    pub fn onnx(&self, recipe: &Recipe) -> Result<Vec<u8>> {
        let device = Device::flex();
        let refused = || {
            format!(
                "cannot export recipe '{}' as ONNX: burn-onnx 0.22 exports the MLP and CNN classifiers (use --format safetensors)",
                recipe.name
            )
        };
        match self {
            Self::Classifier(model) => {
                let shape = image_shape(recipe)?;
                let sample =
                    Tensor::<4>::zeros([2, shape.channels, shape.height, shape.width], &device);
                crate::export_onnx(model, sample, Classifier::forward).with_context(refused)
            }
            Self::Generator(generator, conditioning) => {
                let width = conditioning.latent_size + conditioning.classes;
                let sample = Tensor::<2>::zeros([2, width], &device);
                crate::export_onnx(generator, sample, Generator::forward).with_context(refused)
            }
            Self::LanguageModel(_) | Self::Forecaster(_) => bail!(
                "ONNX export covers the MLP and CNN image classifiers; '{}' is a {} run (export it as safetensors)",
                recipe.name,
                recipe.task().name()
            ),
        }
    }
}

fn image_shape(recipe: &Recipe) -> Result<ImageShape> {
    recipe
        .data
        .dataset
        .image_shape()
        .with_context(|| format!("recipe '{}' reads no images", recipe.name))
}

/// A file [`export_run`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    /// Where.
    pub path: PathBuf,
    /// Tensors in it (safetensors) or parameters recorded (ONNX).
    pub tensors: usize,
    /// Values over every tensor.
    pub values: usize,
}

/// Exports the model of the run in `run_dir` as `format` to `out` (default
/// `RUN_DIR/model.<ext>`, or `RUN_DIR/generator.<ext>` for a GAN run).
///
/// A safetensors file holds the network's `state_dict` with PyTorch's names and layouts, and in
/// its header `format: pt`, `producer: burn-zoo`, the recipe's name and its `[model]` table (as
/// JSON). Load it into the matching `torch.nn` module (`interop/python/torch_models.py`) with
/// `model.load_state_dict(safetensors.torch.load_file(path))`.
pub fn export_run(run_dir: &Path, format: ExportFormat, out: Option<&Path>) -> Result<Exported> {
    let device = Device::flex();
    let (recipe, model) = RunModel::load(run_dir, &device)?;
    let path = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run_dir.join(format!("{}.{}", model.stem(), format.extension())));
    let state = model.state_dict()?;
    match format {
        ExportFormat::Safetensors => {
            let spec = serde_json::to_string(&recipe.model)?;
            let metadata = [
                ("producer", "burn-zoo"),
                ("recipe", recipe.name.as_str()),
                ("model", spec.as_str()),
            ];
            write_safetensors(&state, &path, &metadata)?;
        }
        ExportFormat::Onnx => {
            let bytes = model.onnx(&recipe)?;
            zoo_datasets::write_atomically(&path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(Exported {
        path,
        tensors: state.len(),
        values: state.num_values(),
    })
}

/// A run folder [`import_run`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The weights file in it (`model.bpk` or `generator.bpk`).
    pub weights: PathBuf,
    /// Tensors loaded.
    pub tensors: usize,
    /// Values loaded.
    pub values: usize,
}

/// Loads the PyTorch `state_dict` in `file` (`.pt`, `.pth` or `.safetensors`) into the network
/// `recipe` describes and writes a new run folder at `out` (refused if it already holds a run).
///
/// Before anything is written, the file must hold exactly the network's tensors with its shapes:
/// otherwise the error names the file, the recipe and the first tensor that differs with both
/// shapes (see [`Mismatch`](crate::Mismatch)). Image classifier, GAN (the generator) and
/// forecaster recipes are accepted; a language model needs its corpus's vocabulary, which a
/// PyTorch file does not carry.
pub fn import_run(file: &Path, recipe: &Recipe, out: &Path) -> Result<Imported> {
    let device = Device::flex();
    let state = read_state_dict(file)?;
    let fit = || {
        format!(
            "'{}' does not fit the {} network of recipe '{}'",
            file.display(),
            recipe.model.kind_name(),
            recipe.name
        )
    };
    let folder = match recipe.task() {
        Task::ImageClassification => {
            let model = Classifier::new(&recipe.model, image_shape(recipe)?, &device);
            let network = match model.network {
                Network::Mlp(m) => Network::Mlp(load_state_dict(m, &state).with_context(fit)?),
                Network::Cnn(m) => Network::Cnn(load_state_dict(m, &state).with_context(fit)?),
                Network::Lstm(m) => Network::Lstm(load_state_dict(m, &state).with_context(fit)?),
            };
            let model = Classifier { network, ..model };
            let folder = prepare(recipe, out)?;
            folder.save_module(files::MODEL, &model)?;
            (folder, files::MODEL)
        }
        Task::Gan => {
            let (config, _) = recipe
                .model
                .gan_configs(image_shape(recipe)?)
                .context("a GAN recipe has GAN networks")?;
            let generator = match config.init(&device) {
                Generator::Mlp(g) => Generator::Mlp(load_state_dict(g, &state).with_context(fit)?),
                Generator::Dcgan(g) => {
                    Generator::Dcgan(load_state_dict(g, &state).with_context(fit)?)
                }
            };
            let folder = prepare(recipe, out)?;
            folder.save_module(gan_files::GENERATOR, &generator)?;
            (folder, gan_files::GENERATOR)
        }
        Task::Forecast => {
            let (_, horizon) = recipe.data.series_window();
            let model = ForecastModel::new(&recipe.model, horizon, &device);
            let model = ForecastModel {
                forecaster: load_state_dict(model.forecaster, &state).with_context(fit)?,
            };
            let folder = prepare(recipe, out)?;
            folder.save_module(files::MODEL, &model)?;
            (folder, files::MODEL)
        }
        Task::CharLm => bail!(
            "recipe '{}' is a language model: its vocabulary comes from the corpus a run trains on, which a PyTorch file does not carry; import image classifiers, GANs or forecasters",
            recipe.name
        ),
    };
    let (folder, weights) = folder;
    write_imported_summary(&folder, recipe, file, &state)?;
    Ok(Imported {
        run_dir: folder.path().to_path_buf(),
        weights: folder.file(weights),
        tensors: state.len(),
        values: state.num_values(),
    })
}

/// A new run folder at `out` with the recipe written into it.
fn prepare(recipe: &Recipe, out: &Path) -> Result<RunFolder> {
    let folder = RunFolder::prepare(recipe, Some(out), false)?;
    folder.write_recipe(recipe)?;
    Ok(folder)
}

/// `summary.json` of an imported run: the task, dataset and seed of its recipe, no epochs and no
/// figures, backend `imported`, and `imported_from` naming the file.
fn write_imported_summary(
    folder: &RunFolder,
    recipe: &Recipe,
    file: &Path,
    state: &StateDict,
) -> Result<()> {
    let source = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let format = crate::WeightsFormat::detect(file)?;
    let json = serde_json::json!({
        "recipe": recipe.name,
        "task": recipe.task().name(),
        "dataset": recipe.data.dataset.to_string(),
        "backend": "imported",
        "seed": recipe.training.seed,
        "epochs_run": 0,
        "best_epoch": 0,
        "train_seconds": 0.0,
        "train_samples_per_second": 0.0,
        "metrics": {},
        "run_dir": folder.path(),
        "finished_at": chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "imported_from": {
            "file": source,
            "format": format.name(),
            "tensors": state.len(),
            "values": state.num_values(),
        },
    });
    // Readers of summary.json (zoo runs, searches) must accept it.
    serde_json::from_value::<Summary>(json.clone())
        .context("an imported run's summary.json reads back as a Summary")?;
    folder.write(
        files::SUMMARY,
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )
}
