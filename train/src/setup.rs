//! From a recipe and its loaded data to a fresh trainable model and its data loaders: shared
//! by training runs ([`crate::run`]) and benchmarks ([`crate::bench`]), so both measure the
//! same model and the same data pipeline.

use std::sync::Arc;

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::prelude::*;
use burn::train::{InferenceStep, TrainStep};
use zoo_datasets::{
    CharCorpus, ImageBatcher, SeriesBatcher, SeriesWindows, TextWindows, TokenBatcher,
};

use crate::data::RunData;
use crate::forecast::{self, ForecastModel};
use crate::language_model::{self, LanguageModel};
use crate::model::Classifier;
use crate::recipe::Recipe;

/// The training and validation loaders of a model.
pub type Loaders<M> = (
    Arc<dyn DataLoader<<M as TrainStep>::Input>>,
    Arc<dyn DataLoader<<M as InferenceStep>::Input>>,
);

/// A fresh image classifier (weights from the recipe's seed) on `device` and its loaders:
/// shuffled, augmented training batches and plain validation batches. `augment_seed` starts
/// the augmentation stream.
pub fn image_classifier(
    recipe: &Recipe,
    data: &RunData,
    device: &Device,
    augment_seed: u64,
) -> (Classifier, Loaders<Classifier>) {
    device.seed(recipe.training.seed);
    let model = Classifier::new(&recipe.model, data.shape, device)
        .with_regularization(&recipe.regularization);
    let train_batcher =
        ImageBatcher::new(data.kind).with_augmentation(recipe.data.augment.clone(), augment_seed);
    let loaders = (
        DataLoaderBuilder::new(train_batcher)
            .batch_size(recipe.training.batch_size)
            .shuffle(recipe.training.seed)
            .build(data.train.clone()),
        DataLoaderBuilder::new(ImageBatcher::new(data.kind))
            .batch_size(recipe.training.batch_size)
            .build(data.valid.clone()),
    );
    (model, loaders)
}

/// A fresh language model for the corpus's vocabulary and its loaders of windows.
pub fn language_model(
    recipe: &Recipe,
    corpus: &CharCorpus,
    device: &Device,
) -> (LanguageModel, Loaders<LanguageModel>) {
    let window = recipe.data.window.unwrap_or(language_model::DEFAULT_WINDOW);
    device.seed(recipe.training.seed);
    let model = LanguageModel::new(&recipe.model, corpus.vocabulary.len(), device);
    let loaders = (
        DataLoaderBuilder::new(TokenBatcher)
            .batch_size(recipe.training.batch_size)
            .shuffle(recipe.training.seed)
            .build(TextWindows::new(corpus.train.clone(), window)),
        DataLoaderBuilder::new(TokenBatcher)
            .batch_size(recipe.training.batch_size)
            .build(TextWindows::new(corpus.valid.clone(), window)),
    );
    (model, loaders)
}

/// A fresh forecaster and its loaders of windows over the train and validation series.
pub fn forecaster(
    recipe: &Recipe,
    train: &Arc<Vec<f32>>,
    valid: &Arc<Vec<f32>>,
    device: &Device,
) -> (ForecastModel, Loaders<ForecastModel>) {
    let (window, horizon) = forecast::window_and_horizon(&recipe.data);
    device.seed(recipe.training.seed);
    let model = ForecastModel::new(&recipe.model, horizon, device);
    let loaders = (
        DataLoaderBuilder::new(SeriesBatcher)
            .batch_size(recipe.training.batch_size)
            .shuffle(recipe.training.seed)
            .build(SeriesWindows::new(train.clone(), window, horizon)),
        DataLoaderBuilder::new(SeriesBatcher)
            .batch_size(recipe.training.batch_size)
            .build(SeriesWindows::new(valid.clone(), window, horizon)),
    );
    (model, loaders)
}
