//! Inference over an image set: loss, accuracy and class probabilities.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use zoo_datasets::{ImageBatcher, ImageDatasetKind, ImageItem, ImageSet};

use crate::model::Classifier;

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
