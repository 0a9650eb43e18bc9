//! From a recipe's `[data]` table to the train / valid / test image sets.

use std::path::PathBuf;

use anyhow::{Context, Result};
use zoo_datasets::{
    embedded_mini_mnist, load_image_splits, train_valid_split, DataSource, ImageDatasetKind,
    ImageSet, ImageSplits,
};

use crate::model::ImageShape;
use crate::recipe::DataSpec;

/// The three splits of one run, and what they look like.
pub struct RunData {
    /// Which dataset (for normalization and class names).
    pub kind: ImageDatasetKind,
    /// Image and label shape.
    pub shape: ImageShape,
    /// Training images (after the validation split and any subset).
    pub train: ImageSet,
    /// Validation images, carved from the training set with the recipe's seed.
    pub valid: ImageSet,
    /// The test set, read only for the final evaluation.
    pub test: ImageSet,
}

/// The three kinds of data a recipe can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataTask {
    /// Labelled images (MNIST-format).
    Images,
    /// A character corpus.
    Text,
    /// A numeric series.
    Series,
}

/// What kind of data a recipe's dataset is.
pub fn data_task(spec: &DataSpec) -> DataTask {
    match spec.dataset.as_str() {
        "tinyshakespeare" => DataTask::Text,
        "sines" => DataTask::Series,
        _ => DataTask::Images,
    }
}

/// The dataset kind behind a recipe's dataset name.
pub fn dataset_kind(spec: &DataSpec) -> ImageDatasetKind {
    // "mnist-mini" is a slice of "mnist"; names were validated with the recipe.
    ImageDatasetKind::from_name(spec.dataset.trim_end_matches("-mini"))
        .unwrap_or(ImageDatasetKind::Mnist)
}

/// The image shape and class count of a recipe's dataset (every MNIST-format set is 1x28x28).
pub fn dataset_shape(spec: &DataSpec) -> ImageShape {
    ImageShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: dataset_kind(spec).class_names().len(),
    }
}

/// Reads the train and test sets a recipe names (embedded, from the data folder, or downloaded).
pub fn load_splits(spec: &DataSpec, data_dir: Option<PathBuf>) -> Result<ImageSplits> {
    let splits = match spec.dataset.as_str() {
        "mnist-mini" => embedded_mini_mnist()?,
        _ => load_image_splits(dataset_kind(spec), &DataSource::from_env(data_dir))?,
    };
    Ok(splits)
}

/// Loads and splits the data of a run. `seed` drives the validation split.
pub fn prepare(spec: &DataSpec, seed: u64, data_dir: Option<PathBuf>) -> Result<RunData> {
    let splits = load_splits(spec, data_dir)
        .with_context(|| format!("loading dataset '{}'", spec.dataset))?;
    let (train, valid) = train_valid_split(&splits.train, spec.valid_fraction, seed);
    let train = match spec.train_subset {
        Some(n) => train.take(n),
        None => train,
    };
    Ok(RunData {
        kind: dataset_kind(spec),
        shape: dataset_shape(spec),
        train,
        valid,
        test: splits.test,
    })
}

impl RunData {
    /// Cuts every split to a few batches, for `--dry-run`.
    pub fn shrink(self, batch_size: usize) -> Self {
        Self {
            train: self.train.take(batch_size * 3),
            valid: self.valid.take(batch_size * 2),
            test: self.test.take(batch_size * 2),
            ..self
        }
    }
}
