//! Recipes: a training run described as data (TOML), loaded, overridden and validated in one
//! place ([`Recipe::load`]). A recipe knows nothing of how it is trained: the `run` and `tasks`
//! modules read it.

mod data;
mod diff;
mod gan;
mod model;
mod optimizer;
mod training;
mod validate;

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub use data::{
    DataKind, DataSpec, Dataset, ImageShape, DEFAULT_HORIZON, DEFAULT_SERIES_WINDOW,
    DEFAULT_TEXT_WINDOW,
};
pub use diff::{differing_keys, KeyDifference};
pub use gan::{GanLoss, GanSpec};
pub use model::{CnnPreset, ConvBlockSpec, GanArchitecture, ModelSpec, Pooling, Task};
pub use optimizer::{OptimizerKind, OptimizerSpec, Schedule};
pub use training::{Monitor, RegularizationSpec, TrainingSpec};

/// The recipes shipped inside the binary, as `(name, TOML text)`.
pub const BUILTIN_RECIPES: &[(&str, &str)] = &[
    ("mlp-mnist", include_str!("../../recipes/mlp-mnist.toml")),
    (
        "mlp-mnist-mini",
        include_str!("../../recipes/mlp-mnist-mini.toml"),
    ),
    ("cnn-mnist", include_str!("../../recipes/cnn-mnist.toml")),
    (
        "lenet5-mnist",
        include_str!("../../recipes/lenet5-mnist.toml"),
    ),
    (
        "cnn-mnist-bn-aug",
        include_str!("../../recipes/cnn-mnist-bn-aug.toml"),
    ),
    (
        "cnn-mnist-fast",
        include_str!("../../recipes/cnn-mnist-fast.toml"),
    ),
    (
        "cnn-mnist-aug-fast",
        include_str!("../../recipes/cnn-mnist-aug-fast.toml"),
    ),
    (
        "cnn-fashion",
        include_str!("../../recipes/cnn-fashion.toml"),
    ),
    (
        "cnn-mnist-mini",
        include_str!("../../recipes/cnn-mnist-mini.toml"),
    ),
    (
        "lstm-seqmnist",
        include_str!("../../recipes/lstm-seqmnist.toml"),
    ),
    (
        "lstm-seqmnist-mini",
        include_str!("../../recipes/lstm-seqmnist-mini.toml"),
    ),
    (
        "lstm-shakespeare",
        include_str!("../../recipes/lstm-shakespeare.toml"),
    ),
    (
        "lstm-shakespeare-mini",
        include_str!("../../recipes/lstm-shakespeare-mini.toml"),
    ),
    ("lstm-sine", include_str!("../../recipes/lstm-sine.toml")),
    (
        "lstm-sine-mini",
        include_str!("../../recipes/lstm-sine-mini.toml"),
    ),
    ("gan-mnist", include_str!("../../recipes/gan-mnist.toml")),
    (
        "dcgan-mnist",
        include_str!("../../recipes/dcgan-mnist.toml"),
    ),
    (
        "wgan-gp-mnist",
        include_str!("../../recipes/wgan-gp-mnist.toml"),
    ),
    (
        "dcgan-fashion",
        include_str!("../../recipes/dcgan-fashion.toml"),
    ),
    (
        "gan-mnist-mini",
        include_str!("../../recipes/gan-mnist-mini.toml"),
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
    pub gan: Option<GanSpec>,
    /// The hyperparameter search space (`zoo search`): dotted recipe keys to distributions.
    /// `zoo train` ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<toml::Table>,
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
            .tables()
            .validate()
            .map_err(|e| anyhow::anyhow!("recipe '{label}': {e}"))?;
        Ok(recipe)
    }

    /// The recipe as TOML, as written to a run folder's `recipe.toml`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a recipe always serializes")
    }

    fn tables(&self) -> validate::Tables<'_> {
        validate::Tables {
            model: &self.model,
            data: &self.data,
            optimizer: &self.optimizer,
            training: &self.training,
            regularization: &self.regularization,
            gan: self.gan.as_ref(),
        }
    }

    /// What the recipe's model learns to do.
    pub fn task(&self) -> Task {
        self.model.task()
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
    fn model_errors_name_the_recipe_key() {
        for (recipe, assignment, key) in [
            ("mlp-mnist-mini", "model.hidden=[64, 0]", "model.hidden[1]"),
            ("lstm-seqmnist-mini", "model.hidden=0", "model.hidden"),
            ("lstm-seqmnist-mini", "model.layers=0", "model.layers"),
            ("lstm-seqmnist-mini", "model.dropout=1.5", "model.dropout"),
            (
                "lstm-shakespeare-mini",
                "model.embedding=0",
                "model.embedding",
            ),
            ("lstm-sine-mini", "data.horizon=0", "data.horizon"),
            (
                "gan-mnist-mini",
                "model.generator_hidden=[64, 0]",
                "model.generator_hidden[1]",
            ),
            (
                "gan-mnist-mini",
                "model.discriminator_hidden=[0]",
                "model.discriminator_hidden[0]",
            ),
            ("gan-mnist-mini", "model.latent_size=0", "model.latent_size"),
            (
                "cnn-mnist-mini",
                "model.blocks=[{channels = 0}]",
                "model.blocks[0].channels",
            ),
        ] {
            let err = format!(
                "{:#}",
                Recipe::load(recipe, &[assignment.to_string()]).unwrap_err()
            );
            assert!(err.contains(&format!("key '{key}'")), "{assignment}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
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
