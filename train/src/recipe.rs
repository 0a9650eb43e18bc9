//! Recipes: a training run described as data (TOML), loaded, overridden and validated in one place.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::data::DataTask;
use crate::model_spec::probability as check_probability;
pub use crate::model_spec::ModelSpec;
pub use crate::model_spec::Task;
use zoo_datasets::{AugmentConfig, SineSeriesConfig};

/// The recipes shipped inside the binary, as `(name, TOML text)`.
pub const BUILTIN_RECIPES: &[(&str, &str)] = &[
    ("mlp-mnist", include_str!("../recipes/mlp-mnist.toml")),
    (
        "mlp-mnist-mini",
        include_str!("../recipes/mlp-mnist-mini.toml"),
    ),
    ("cnn-mnist", include_str!("../recipes/cnn-mnist.toml")),
    ("lenet5-mnist", include_str!("../recipes/lenet5-mnist.toml")),
    (
        "cnn-mnist-bn-aug",
        include_str!("../recipes/cnn-mnist-bn-aug.toml"),
    ),
    ("cnn-fashion", include_str!("../recipes/cnn-fashion.toml")),
    (
        "cnn-mnist-mini",
        include_str!("../recipes/cnn-mnist-mini.toml"),
    ),
    (
        "lstm-seqmnist",
        include_str!("../recipes/lstm-seqmnist.toml"),
    ),
    (
        "lstm-seqmnist-mini",
        include_str!("../recipes/lstm-seqmnist-mini.toml"),
    ),
    (
        "lstm-shakespeare",
        include_str!("../recipes/lstm-shakespeare.toml"),
    ),
    (
        "lstm-shakespeare-mini",
        include_str!("../recipes/lstm-shakespeare-mini.toml"),
    ),
    ("lstm-sine", include_str!("../recipes/lstm-sine.toml")),
    (
        "lstm-sine-mini",
        include_str!("../recipes/lstm-sine-mini.toml"),
    ),
    ("gan-mnist", include_str!("../recipes/gan-mnist.toml")),
    ("dcgan-mnist", include_str!("../recipes/dcgan-mnist.toml")),
    (
        "wgan-gp-mnist",
        include_str!("../recipes/wgan-gp-mnist.toml"),
    ),
    (
        "dcgan-fashion",
        include_str!("../recipes/dcgan-fashion.toml"),
    ),
    (
        "gan-mnist-mini",
        include_str!("../recipes/gan-mnist-mini.toml"),
    ),
];

/// A complete description of one training run.
///
/// ```
/// let recipe = zoo_train::Recipe::load("mlp-mnist-mini", &["training.epochs=2".into()]).unwrap();
/// assert_eq!(recipe.training.epochs, 2);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Short name, used for the run folder.
    pub name: String,
    /// One line saying what the recipe trains.
    #[serde(default)]
    pub description: String,
    /// The network.
    pub model: ModelSpec,
    /// The data and its splits.
    pub data: DataSpec,
    /// The optimizer.
    pub optimizer: OptimizerSpec,
    /// Budget, batch size, seed, early stopping.
    pub training: TrainingSpec,
    /// Weight penalties, max-norm and label smoothing (all off by default).
    #[serde(default, skip_serializing_if = "RegularizationSpec::is_off")]
    pub regularization: RegularizationSpec,
    /// Adversarial training settings (GAN recipes only: `[model] kind = "gan"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gan: Option<crate::gan::GanSpec>,
    /// The hyperparameter search space (`zoo search`): dotted recipe keys to distributions.
    /// `zoo train` ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<toml::Table>,
}

/// Regularizers applied by the training step and the optimizer. Dropout lives in `[model]`,
/// weight decay in `[optimizer]`, augmentation in `[data.augment]`, early stopping in
/// `[training]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RegularizationSpec {
    /// L1 penalty `l1 * sum |w|` on weight matrices and kernels (not biases or norms), >= 0.
    pub l1: f64,
    /// Explicit L2 penalty `l2 / 2 * sum w^2` on the same weights, >= 0 (its gradient is
    /// `l2 * w`, the coupled weight decay of the same strength).
    pub l2: f64,
    /// Max-norm: each unit's incoming weight vector is kept at norm <= this after every step.
    pub max_norm: Option<f64>,
    /// Label smoothing of the training cross-entropy, in `[0, 1)`.
    pub label_smoothing: f64,
}

impl RegularizationSpec {
    /// Whether every regularizer of this table is off.
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }
}

/// The dataset and how the training set is split.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// `mnist` or `fashion-mnist` (from the data folder, or downloaded), or `mnist-mini`
    /// (embedded in the binary).
    pub dataset: String,
    /// Fraction of the training set held out for validation (seeded), in `[0, 1)`.
    #[serde(default = "default_valid_fraction")]
    pub valid_fraction: f64,
    /// Train on only the first N training images (after the validation split); all when absent.
    #[serde(default)]
    pub train_subset: Option<usize>,
    /// Random transforms of the training images (off by default).
    #[serde(default, skip_serializing_if = "AugmentConfig::is_off")]
    pub augment: AugmentConfig,
    /// Sequence data: characters per training window (`tinyshakespeare`, default 128) or
    /// past values per forecast (`sines`, default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// Values to forecast (`sines`, default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<usize>,
    /// Use only the first N characters of the corpus (`tinyshakespeare`), before splitting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
    /// The synthetic series (`sines`): length, periods, amplitudes, noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<SineSeriesConfig>,
}

/// The dataset names a recipe can use.
pub const DATASETS: &[&str] = &[
    "mnist",
    "mnist-mini",
    "fashion-mnist",
    "tinyshakespeare",
    "sines",
];

fn default_valid_fraction() -> f64 {
    0.1
}

/// The optimizer and its learning rate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    /// `adam`, `adamw` or `sgd`.
    pub kind: OptimizerKind,
    /// Learning rate, > 0.
    pub lr: f64,
    /// Momentum for SGD, in `[0, 1)`.
    #[serde(default)]
    pub momentum: f64,
    /// Weight decay (decoupled for AdamW, L2 for the others), >= 0.
    #[serde(default)]
    pub weight_decay: f64,
    /// How the learning rate moves during training.
    #[serde(default)]
    pub schedule: Schedule,
    /// Rescale each parameter tensor's gradient whenever its L2 norm exceeds this (Burn's norm
    /// clipping, per tensor); the usual guard against exploding gradients in recurrent nets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<f64>,
}

/// Learning-rate schedules, applied per optimizer step.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// `lr` throughout.
    #[default]
    Constant,
    /// Cosine decay from `lr` to 0 over the whole run (Loshchilov & Hutter, without restarts).
    Cosine,
}

/// The optimizers a recipe can name.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba), epsilon 1e-8 as in PyTorch.
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// Stochastic gradient descent, optionally with momentum.
    Sgd,
}

/// Training budget and control.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// Number of epochs, >= 1.
    pub epochs: usize,
    /// Mini-batch size, >= 1.
    pub batch_size: usize,
    /// Seed for weights, shuffling, dropout and the validation split.
    #[serde(default)]
    pub seed: u64,
    /// Stop when the monitored validation metric has not improved for this many epochs, and
    /// keep the best epoch's weights. Off when absent.
    #[serde(default)]
    pub early_stopping_patience: Option<usize>,
    /// What "best epoch" means: `valid-accuracy` (default, higher is better) or `valid-loss`.
    #[serde(default)]
    pub monitor: Monitor,
}

/// The validation metric that picks the best epoch (for early stopping and `best_epoch`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// Validation accuracy, higher is better.
    #[default]
    ValidAccuracy,
    /// Validation loss, lower is better.
    ValidLoss,
}

impl Recipe {
    /// Loads a built-in recipe by name, or a `.toml` file by path, then applies `key=value`
    /// overrides (dotted keys, TOML values: `training.epochs=3`, `model.hidden=[256,128]`) and
    /// validates the result. Every error names the recipe and the offending key.
    pub fn load(name_or_path: &str, overrides: &[String]) -> Result<Self> {
        let (label, text) = read_recipe_text(name_or_path)?;
        Self::parse(&label, &text, overrides)
    }

    /// Parses recipe TOML text (see [`Recipe::load`]); `label` names it in errors.
    pub fn parse(label: &str, text: &str, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("recipe '{label}': {}", one_line(e.message())))?;
        for assignment in overrides {
            apply_override(&mut table, assignment)
                .with_context(|| format!("recipe '{label}': bad override '{assignment}'"))?;
        }
        let recipe: Recipe =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                anyhow::anyhow!(
                    "recipe '{label}': key '{path}': {}",
                    one_line(&e.into_inner().to_string())
                )
            })?;
        recipe
            .validate()
            .map_err(|e| anyhow::anyhow!("recipe '{label}': {e}"))?;
        Ok(recipe)
    }

    /// The recipe as TOML, as written to a run folder's `recipe.toml`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a recipe always serializes")
    }

    fn validate(&self) -> Result<()> {
        if !DATASETS.contains(&self.data.dataset.as_str()) {
            bail!(
                "key 'data.dataset': unknown dataset '{}' (known: {})",
                self.data.dataset,
                DATASETS.join(", ")
            );
        }
        let task = self.model.task();
        let data_task = crate::data::data_task(&self.data);
        if !task.reads(data_task) {
            bail!(
                "key 'data.dataset': a '{}' model cannot train on '{}' ({})",
                self.model.kind_name(),
                self.data.dataset,
                task.expects()
            );
        }
        self.model.validate(&self.data)?;
        self.validate_sequence_data(data_task)?;
        check_probability("data.valid_fraction", self.data.valid_fraction)?;
        match (&self.gan, task) {
            (Some(gan), Task::Gan) => gan.validate()?,
            (Some(_), _) => {
                bail!("key 'gan': only GAN recipes ([model] kind = \"gan\") take a [gan] table")
            }
            (None, _) => {}
        }
        if task == Task::Gan {
            self.validate_gan()?;
        }
        if let Some(clip) = self.optimizer.grad_clip {
            if !(clip > 0.0 && clip.is_finite()) {
                bail!("key 'optimizer.grad_clip': must be > 0, got {clip}");
            }
        }
        if task == Task::Forecast && self.training.monitor == Monitor::ValidAccuracy {
            bail!("key 'training.monitor': a forecaster has no accuracy; use \"valid-loss\"");
        }
        self.data
            .augment
            .validate()
            .map_err(|e| anyhow::anyhow!("key 'data.augment': {e}"))?;
        if self.data.train_subset == Some(0) {
            bail!("key 'data.train_subset': must be >= 1");
        }
        if !(self.optimizer.lr > 0.0 && self.optimizer.lr.is_finite()) {
            bail!("key 'optimizer.lr': must be > 0, got {}", self.optimizer.lr);
        }
        if self.optimizer.schedule == Schedule::Cosine && self.optimizer.lr > 1.0 {
            bail!(
                "key 'optimizer.lr': the cosine schedule needs lr <= 1, got {}",
                self.optimizer.lr
            );
        }
        check_probability("optimizer.momentum", self.optimizer.momentum)?;
        if !(self.optimizer.weight_decay >= 0.0 && self.optimizer.weight_decay.is_finite()) {
            bail!(
                "key 'optimizer.weight_decay': must be >= 0, got {}",
                self.optimizer.weight_decay
            );
        }
        let reg = &self.regularization;
        for (key, value) in [("regularization.l1", reg.l1), ("regularization.l2", reg.l2)] {
            if !(value >= 0.0 && value.is_finite()) {
                bail!("key '{key}': must be >= 0, got {value}");
            }
        }
        if let Some(max) = reg.max_norm {
            if !(max > 0.0 && max.is_finite()) {
                bail!("key 'regularization.max_norm': must be > 0, got {max}");
            }
        }
        check_probability("regularization.label_smoothing", reg.label_smoothing)?;
        if self.training.epochs == 0 {
            bail!("key 'training.epochs': must be >= 1");
        }
        if self.training.batch_size == 0 {
            bail!("key 'training.batch_size': must be >= 1");
        }
        if self.training.early_stopping_patience == Some(0) {
            bail!("key 'training.early_stopping_patience': must be >= 1");
        }
        Ok(())
    }
}

impl Recipe {
    /// What the adversarial loop supports: Adam at a constant rate, and no batch norm in a
    /// WGAN-GP critic (its gradient penalty is per sample).
    fn validate_gan(&self) -> Result<()> {
        if self.optimizer.kind != OptimizerKind::Adam {
            bail!(
                "key 'optimizer.kind': GAN training uses Adam (betas in gan.beta1 and gan.beta2)"
            );
        }
        if self.optimizer.schedule != Schedule::Constant {
            bail!("key 'optimizer.schedule': GAN training uses a constant learning rate");
        }
        let gan = self.gan.clone().unwrap_or_default();
        if let ModelSpec::Gan {
            architecture,
            discriminator_batch_norm,
            conditional,
            ..
        } = &self.model
        {
            if gan.loss == crate::gan::GanLoss::WganGp && conditional.unwrap_or(false) {
                bail!("key 'model.conditional': the conditional GAN trains with the bce or least-squares loss, not wgan-gp");
            }
            let batch_norm = *architecture == crate::model_spec::GanArchitecture::Dcgan
                && discriminator_batch_norm.unwrap_or(true);
            if gan.loss == crate::gan::GanLoss::WganGp && batch_norm {
                bail!("key 'model.discriminator_batch_norm': WGAN-GP's gradient penalty is not defined with batch norm in the critic; set it to false");
            }
        }
        Ok(())
    }

    /// The sequence keys of `[data]` belong to sequence datasets only, and must be positive.
    fn validate_sequence_data(&self, data_task: DataTask) -> Result<()> {
        let data = &self.data;
        let present = |key: &str, set: bool| -> Result<()> {
            if set {
                bail!(
                    "key 'data.{key}': not used by dataset '{}'",
                    self.data.dataset
                );
            }
            Ok(())
        };
        if data_task != DataTask::Text {
            present("max_chars", data.max_chars.is_some())?;
        }
        if data_task != DataTask::Series {
            present("horizon", data.horizon.is_some())?;
            present("series", data.series.is_some())?;
        }
        if data_task == DataTask::Images {
            present("window", data.window.is_some())?;
        }
        for (key, value) in [
            ("window", data.window),
            ("horizon", data.horizon),
            ("max_chars", data.max_chars),
        ] {
            if value == Some(0) {
                bail!("key 'data.{key}': must be >= 1");
            }
        }
        if let Some(series) = &data.series {
            series
                .validate()
                .map_err(|e| anyhow::anyhow!("key 'data.series': {e}"))?;
        }
        Ok(())
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Finds the TOML text of a built-in recipe name or a file path.
fn read_recipe_text(name_or_path: &str) -> Result<(String, String)> {
    if let Some((name, text)) = BUILTIN_RECIPES
        .iter()
        .find(|(name, _)| *name == name_or_path)
    {
        return Ok((name.to_string(), text.to_string()));
    }
    let path = Path::new(name_or_path);
    if path.extension().is_some_and(|e| e == "toml") || path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read recipe file '{}'", path.display()))?;
        return Ok((path.display().to_string(), text));
    }
    let known: Vec<&str> = BUILTIN_RECIPES.iter().map(|(name, _)| *name).collect();
    bail!(
        "no recipe named '{name_or_path}' (built-in: {}; or give a path to a .toml file)",
        known.join(", ")
    )
}

/// Sets `a.b.c = value` in a TOML table; the value is parsed as TOML, or taken as a string.
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let (key, raw) = assignment
        .split_once('=')
        .context("expected key=value, e.g. training.epochs=3")?;
    let key = key.trim();
    let value = parse_value(raw.trim());
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().filter(|k| !k.is_empty()).context("empty key")?;
    let mut node = table;
    for part in parts {
        node = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .with_context(|| format!("'{part}' is not a table"))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mini(overrides: &[&str]) -> Result<Recipe> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Recipe::load("mlp-mnist-mini", &overrides)
    }

    fn error_of(overrides: &[&str]) -> String {
        format!("{:#}", mini(overrides).unwrap_err())
    }

    #[test]
    fn every_builtin_recipe_parses_and_round_trips() {
        for (name, _) in BUILTIN_RECIPES {
            let recipe = Recipe::load(name, &[]).unwrap();
            assert_eq!(&recipe.name, name);
            let again = Recipe::parse(name, &recipe.to_toml(), &[]).unwrap();
            assert_eq!(recipe, again);
        }
    }

    #[test]
    fn overrides_set_typed_values() {
        let recipe = mini(&[
            "training.epochs=3",
            "model.hidden=[64, 32]",
            "optimizer.lr=0.01",
        ])
        .unwrap();
        assert_eq!(recipe.training.epochs, 3);
        assert_eq!(recipe.optimizer.lr, 0.01);
        let ModelSpec::Mlp { hidden, .. } = recipe.model else {
            panic!("mlp-mnist-mini is an MLP recipe");
        };
        assert_eq!(hidden, vec![64, 32]);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = error_of(&["optimizer.lrr=0.1"]);
        assert!(
            err.contains("mlp-mnist-mini") && err.contains("lrr"),
            "{err}"
        );
        let err = error_of(&["bogus=1"]);
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = error_of(&["training.epochs=\"ten\""]);
        assert!(err.contains("training.epochs"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        for (assignment, key) in [
            ("optimizer.lr=0", "optimizer.lr"),
            ("optimizer.lr=-1e-3", "optimizer.lr"),
            ("model.dropout=1.0", "model.dropout"),
            ("model.dropout=-0.1", "model.dropout"),
            ("training.epochs=0", "training.epochs"),
            ("training.batch_size=0", "training.batch_size"),
            ("data.valid_fraction=1.5", "data.valid_fraction"),
            ("data.dataset=\"cifar\"", "data.dataset"),
        ] {
            let err = error_of(&[assignment]);
            assert!(
                err.contains(key) && err.contains("mlp-mnist-mini"),
                "{assignment}: {err}"
            );
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn cnn_specs_are_checked_against_the_image_size() {
        let load = |overrides: &[&str]| {
            let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
            Recipe::load("cnn-mnist-mini", &overrides).map_err(|e| format!("{e:#}"))
        };
        load(&[]).unwrap();
        load(&["model.preset=\"deep-bn\""]).unwrap();
        let err = load(&["model.blocks=[{channels = 8, kernel_size = 30}]"]).unwrap_err();
        assert!(
            err.contains("model.blocks[0]") && err.contains("does not fit"),
            "{err}"
        );
        let err = load(&["model.blocks=[{channels = 8, pool = 2}, {channels = 8, pool = 16}]"])
            .unwrap_err();
        assert!(err.contains("model.blocks[1]"), "{err}");
        let err = load(&["model.preset=\"resnet\""]).unwrap_err();
        assert!(err.contains("model") && err.contains("resnet"), "{err}");
        let err = load(&["model.dense_dropout=1.0"]).unwrap_err();
        assert!(err.contains("model.dense_dropout"), "{err}");
        let err = load(&["data.augment.translate=20"]).unwrap_err();
        assert!(
            err.contains("data.augment") && err.contains("translate"),
            "{err}"
        );
        let err = load(&["data.augment.shear=0.1"]).unwrap_err();
        assert!(err.contains("shear"), "{err}");
    }

    #[test]
    fn unknown_recipe_lists_the_builtins() {
        let err = format!("{:#}", Recipe::load("nope", &[]).unwrap_err());
        assert!(err.contains("mlp-mnist-mini"), "{err}");
    }

    #[test]
    fn file_recipe_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        let text = BUILTIN_RECIPES[1]
            .1
            .replace("[training]\n", "[training]\nepohcs = 3\n");
        std::fs::write(&path, text).unwrap();
        let err = format!(
            "{:#}",
            Recipe::load(path.to_str().unwrap(), &[]).unwrap_err()
        );
        assert!(err.contains("mine.toml") && err.contains("epohcs"), "{err}");
    }
}
