//! Image classification: an MLP, a CNN or a row-wise LSTM reads an image and predicts its
//! class. The task's data (train / valid / test image sets), its model (the network plus the
//! loss-side regularizers, wired into burn-train's steps), its evaluation, and reading a user's
//! image file for `zoo predict`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::DataLoaderBuilder;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{
    ClassificationOutput, InferenceStep, SupervisedTraining, TrainOutput, TrainStep,
};
use image::imageops::FilterType;
use zoo_cnn::Cnn;
use zoo_datasets::{
    embedded_mini_mnist, image_rows, load_image_splits, train_valid_split, DataSource, ImageBatch,
    ImageBatcher, ImageDatasetKind, ImageItem, ImageSet, ImageSplits,
};
use zoo_lstm::SequenceClassifier;
use zoo_mlp::Mlp;

use crate::recipe::{Dataset, ImageShape, ModelSpec, Recipe, RegularizationSpec};
use crate::run::driver::{FitStats, Run, Task};
use crate::run::epoch_seed::{EpochBatcher, EpochClock, EpochShuffled};
use crate::run::folder::{files, CheckpointLayout, RunFolder, SUPERVISED_CHECKPOINT};
use crate::run::history::BestBy;
use crate::run::options::RunOptions;
use crate::run::summary::SummaryMetrics;
use crate::run::supervised::{fit, Fittable, Loaders, SupervisedEpoch};

/// The networks a classifier can wrap.
#[derive(Module, Debug)]
pub enum Network {
    /// A multi-layer perceptron over the flattened image.
    Mlp(Mlp),
    /// A convolutional network.
    Cnn(Cnn),
    /// An LSTM reading the image row by row.
    Lstm(SequenceClassifier),
}

/// An image classifier: images `[batch, channels, height, width]` to class logits, with the
/// loss-side regularizers of its recipe (used only by the training step).
#[derive(Module, Debug)]
pub struct Classifier {
    /// The wrapped network.
    pub network: Network,
    /// L1 penalty coefficient on the weights.
    pub l1: f64,
    /// Explicit L2 penalty coefficient on the weights (`l2 / 2 * sum w^2`).
    pub l2: f64,
    /// Label smoothing of the training loss.
    pub label_smoothing: f64,
}

impl Classifier {
    /// Builds the network a recipe describes, with fresh weights, on `device`.
    pub fn new(spec: &ModelSpec, shape: ImageShape, device: &Device) -> Self {
        let network = if let Some(mlp) = spec.mlp_config(shape) {
            Network::Mlp(mlp.init(device))
        } else if let Some(cnn) = spec.cnn_config(shape) {
            Network::Cnn(cnn.init(device))
        } else if let Some(lstm) = spec.lstm_config(shape) {
            Network::Lstm(lstm.init(device))
        } else {
            unreachable!("recipes pair image datasets with image classifiers only")
        };
        Self {
            network,
            l1: 0.0,
            l2: 0.0,
            label_smoothing: 0.0,
        }
    }

    /// Sets the penalties and label smoothing of the training loss.
    pub fn with_regularization(self, spec: &RegularizationSpec) -> Self {
        Self {
            l1: spec.l1,
            l2: spec.l2,
            label_smoothing: spec.label_smoothing,
            ..self
        }
    }

    /// The weight penalty `l1 * sum |w| + l2 / 2 * sum w^2` over weight matrices and kernels
    /// (biases and normalization excluded), or `None` when both coefficients are 0.
    pub fn weight_penalty(&self) -> Option<Tensor<1>> {
        if self.l1 == 0.0 && self.l2 == 0.0 {
            return None;
        }
        let weights = match &self.network {
            Network::Mlp(mlp) => mlp.weights(),
            Network::Cnn(cnn) => cnn.weights(),
            Network::Lstm(lstm) => lstm.weights(),
        };
        weights
            .into_iter()
            .map(|w| {
                let l1 = w.clone().abs().sum().mul_scalar(self.l1); // [1]
                let l2 = w.square().sum().mul_scalar(self.l2 / 2.0); // [1]
                l1 + l2
            })
            .reduce(|a, b| a + b)
    }

    /// Class logits: `[batch, channels, height, width] -> [batch, classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match &self.network {
            Network::Mlp(mlp) => mlp.forward(images.flatten(1, 3)), // [batch, c*h*w] -> [batch, classes]
            Network::Cnn(cnn) => cnn.forward(images),
            Network::Lstm(lstm) => lstm.forward(image_rows(images)), // [batch, rows, c*w] -> [batch, classes]
        }
    }

    /// The penultimate layer's activations (the dense head's last hidden layer):
    /// `[batch, channels, height, width] -> [batch, features]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        match &self.network {
            Network::Mlp(mlp) => mlp.features(images.flatten(1, 3)),
            Network::Cnn(cnn) => cnn.features(images),
            Network::Lstm(lstm) => lstm.features(image_rows(images)),
        }
    }

    /// Class logits from [`Classifier::features`]: `[batch, features] -> [batch, classes]`.
    pub fn logits_of_features(&self, features: Tensor<2>) -> Tensor<2> {
        match &self.network {
            Network::Mlp(mlp) => mlp.logits_of_features(features),
            Network::Cnn(cnn) => cnn.logits_of_features(features),
            Network::Lstm(lstm) => lstm.logits_of_features(features),
        }
    }

    /// Logits, cross-entropy loss and targets for one batch (no smoothing, no penalty: the
    /// figures reported for validation and test).
    pub fn forward_classification(&self, batch: ImageBatch) -> ClassificationOutput {
        self.classify(batch, None)
    }

    fn classify(&self, batch: ImageBatch, smoothing: Option<f32>) -> ClassificationOutput {
        let logits = self.forward(batch.images); // [batch, classes]
        let loss = CrossEntropyLossConfig::new()
            .with_smoothing(smoothing)
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone()); // [1]
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl TrainStep for Classifier {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    /// The reported loss is the (smoothed) cross-entropy; the weight penalty is added to what
    /// is differentiated only, so runs with and without penalties report comparable losses.
    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        let smoothing = (self.label_smoothing > 0.0).then_some(self.label_smoothing as f32);
        let item = self.classify(batch, smoothing);
        let objective = match self.weight_penalty() {
            Some(penalty) => item.loss.clone() + penalty,
            None => item.loss.clone(),
        };
        TrainOutput::new(self, objective.backward(), item)
    }
}

impl InferenceStep for Classifier {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}

impl Fittable for Classifier {
    fn with_metrics(training: SupervisedTraining<Self>) -> SupervisedTraining<Self> {
        training.metrics((AccuracyMetric::new(), LossMetric::new()))
    }
}

/// The three image sets of one run, and what they look like.
pub struct ImageData {
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

/// Reads the train and test sets of an image dataset (embedded, from the data folder, or
/// downloaded).
pub fn load_image_sets(dataset: Dataset, data_dir: Option<&Path>) -> Result<ImageSplits> {
    let kind = dataset
        .image_kind()
        .with_context(|| format!("dataset '{dataset}' holds no images"))?;
    let splits = match dataset {
        Dataset::MnistMini => embedded_mini_mnist()?,
        _ => load_image_splits(kind, &DataSource::from_env(data_dir.map(Path::to_path_buf)))?,
    };
    Ok(splits)
}

impl ImageData {
    /// Loads and splits the images of a recipe: `recipe.training.seed` draws the validation
    /// split.
    pub fn load(recipe: &Recipe, data_dir: Option<&Path>) -> Result<Self> {
        let spec = &recipe.data;
        let splits = load_image_sets(spec.dataset, data_dir)
            .with_context(|| format!("loading dataset '{}'", spec.dataset))?;
        let (train, valid) =
            train_valid_split(&splits.train, spec.valid_fraction, recipe.training.seed);
        let train = match spec.train_subset {
            Some(n) => train.take(n),
            None => train,
        };
        Ok(Self {
            kind: spec.dataset.image_kind().expect("an image dataset"),
            shape: spec.dataset.image_shape().expect("an image dataset"),
            train,
            valid,
            test: splits.test,
        })
    }

    /// The images of a run: loaded as [`ImageData::load`] does, cut to a few batches for
    /// `--dry-run`.
    pub fn for_run(recipe: &Recipe, options: &RunOptions) -> Result<Self> {
        let data = Self::load(recipe, options.data_dir.as_deref())?;
        Ok(if options.dry_run {
            data.shrink(recipe.training.batch_size)
        } else {
            data
        })
    }

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

/// Mean loss and accuracy of a classifier on a set: images, or the next character of a text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy per prediction (image or character), in nats.
    pub loss: f64,
    /// Fraction of predictions that are right (argmax).
    pub accuracy: f64,
}

/// Evaluates `model` (in inference mode) on every image of `set`, `batch_size` at a time.
pub fn evaluate(
    model: &Classifier,
    set: &ImageSet,
    kind: ImageDatasetKind,
    batch_size: usize,
    device: &Device,
) -> Evaluation {
    let batcher = ImageBatcher::new(kind);
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let items: Vec<ImageItem> = chunk.iter().map(|&i| set.item(i)).collect();
        let batch = batcher.batch(items, device);
        let output = model.forward_classification(batch);
        loss_sum += output.loss.into_scalar::<f32>() as f64 * chunk.len() as f64;
        let predicted = output.output.argmax(1).flatten::<1>(0, 1); // [batch]
        let hits: i64 = predicted.equal(output.targets).int().sum().into_scalar();
        correct += hits as usize;
    }
    let n = set.len().max(1) as f64;
    Evaluation {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
    }
}

/// Class probabilities for one batch of prepared images `[batch, c, h, w]`: `[batch, classes]`.
pub fn probabilities(model: &Classifier, images: Tensor<4>) -> Vec<Vec<f32>> {
    let probs = softmax(model.forward(images), 1); // [batch, classes]
    let [_, classes] = probs.dims();
    let values: Vec<f32> = probs.into_data().try_to_vec::<f32>().unwrap_or_default();
    values.chunks(classes).map(|c| c.to_vec()).collect()
}

/// A fresh image classifier (weights from the recipe's seed) on `device` and its loaders:
/// training batches shuffled and augmented anew each epoch of `clock` (see
/// [`epoch_seed`](crate::run::epoch_seed)), and plain validation batches.
pub fn setup(
    recipe: &Recipe,
    data: &ImageData,
    device: &Device,
    clock: &EpochClock,
) -> (Classifier, Loaders<Classifier>) {
    device.seed(recipe.training.seed);
    let model = Classifier::new(&recipe.model, data.shape, device)
        .with_regularization(&recipe.regularization);
    let (kind, augment) = (data.kind, recipe.data.augment.clone());
    let train_batcher = EpochBatcher::new(clock.clone(), move |seed| {
        ImageBatcher::new(kind).with_augmentation(augment.clone(), seed)
    });
    let loaders = (
        DataLoaderBuilder::new(train_batcher)
            .batch_size(recipe.training.batch_size)
            .build(EpochShuffled::new(
                Arc::new(data.train.clone()),
                clock.clone(),
            )),
        DataLoaderBuilder::new(ImageBatcher::new(data.kind))
            .batch_size(recipe.training.batch_size)
            .build(data.valid.clone()),
    );
    (model, loaders)
}

/// The image classification task, for the run driver.
pub(crate) struct Classify;

impl Task for Classify {
    type Data = ImageData;
    type Model = Classifier;
    type Epoch = SupervisedEpoch;
    const CHECKPOINT: CheckpointLayout = SUPERVISED_CHECKPOINT;

    fn load_data(recipe: &Recipe, options: &RunOptions) -> Result<ImageData> {
        ImageData::for_run(recipe, options)
    }

    fn describe(_recipe: &Recipe, data: &ImageData) -> String {
        format!(
            "{} train / {} valid / {} test images",
            data.train.len(),
            data.valid.len(),
            data.test.len()
        )
    }

    fn best_by(recipe: &Recipe) -> Option<BestBy> {
        Some(recipe.training.monitor.into())
    }

    fn fit(run: &mut Run<SupervisedEpoch>, data: &ImageData) -> Result<(Classifier, FitStats)> {
        let device = run.device.clone().autodiff();
        let (model, loaders) = setup(&run.recipe, data, &device, &run.clock);
        fit(model, loaders, data.train.len(), run)
    }

    fn finish(
        run: &Run<SupervisedEpoch>,
        model: &Classifier,
        data: &ImageData,
    ) -> Result<SummaryMetrics> {
        let batch = eval_batch(&run.recipe);
        let eval = |set| evaluate(model, set, data.kind, batch, &run.device);
        let (train, valid) = (eval(&data.train), eval(&data.valid));
        let test = (!run.options.skip_test).then(|| eval(&data.test));
        run.folder.save_module(files::MODEL, model)?;
        Ok(classification_metrics(train, valid, test))
    }
}

/// Batch size of evaluation passes.
pub(crate) fn eval_batch(recipe: &Recipe) -> usize {
    recipe.training.batch_size.max(256)
}

/// The accuracies and losses of a classifier (of images, or of the next character) on the three
/// splits; the test figures are absent when the test set was not read.
pub fn classification_metrics(
    train: Evaluation,
    valid: Evaluation,
    test: Option<Evaluation>,
) -> SummaryMetrics {
    SummaryMetrics {
        train_accuracy: Some(train.accuracy),
        train_loss: Some(train.loss),
        valid_accuracy: Some(valid.accuracy),
        valid_loss: Some(valid.loss),
        test_accuracy: test.map(|e| e.accuracy),
        test_loss: test.map(|e| e.loss),
        ..Default::default()
    }
}

/// Reads an image-classifier run back: its recipe and its trained model on `device`.
pub fn load_classifier(run_dir: &Path, device: &Device) -> Result<(Recipe, Classifier)> {
    let folder = RunFolder::open(run_dir)?;
    let recipe = folder.read_recipe_for(
        crate::recipe::Task::ImageClassification,
        "this command needs an image classifier run",
    )?;
    let shape = recipe.data.dataset.image_shape().expect("an image dataset");
    let model = folder.load_module(files::MODEL, Classifier::new(&recipe.model, shape, device))?;
    Ok((recipe, model))
}

/// Loads a PNG/JPEG (any size, any colour type) as a normalized `[1, 1, height, width]` batch:
/// converted to grayscale and resized to the model's input size.
pub fn load_image(
    path: &Path,
    shape: ImageShape,
    kind: ImageDatasetKind,
    device: &Device,
) -> Result<Tensor<4>> {
    let image = image::open(path)
        .with_context(|| format!("'{}' is not a readable PNG or JPEG image", path.display()))?
        .into_luma8();
    let image = if image.dimensions() == (shape.width as u32, shape.height as u32) {
        image
    } else {
        image::imageops::resize(
            &image,
            shape.width as u32,
            shape.height as u32,
            FilterType::Triangle,
        )
    };
    let item = ImageItem {
        pixels: image.into_raw(),
        label: 0,
    };
    Ok(ImageBatcher::new(kind).batch(vec![item], device).images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlp_classifier_maps_images_to_logits() {
        let device = Device::flex();
        let spec = ModelSpec::Mlp {
            hidden: vec![16],
            activation: Default::default(),
            dropout: 0.0,
            input_dropout: 0.0,
            batch_norm: false,
        };
        let shape = ImageShape {
            channels: 1,
            height: 28,
            width: 28,
            classes: 10,
        };
        let model = Classifier::new(&spec, shape, &device);
        let logits = model.forward(Tensor::<4>::zeros([3, 1, 28, 28], &device));
        assert_eq!(logits.dims(), [3, 10]);
    }
}
