//! The trainable image classifier: a zoo network plus the loss, wired into burn-train's steps.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use zoo_cnn::Cnn;
use zoo_datasets::{image_rows, ImageBatch};
use zoo_lstm::SequenceClassifier;
use zoo_mlp::Mlp;

use crate::recipe::{ModelSpec, RegularizationSpec};

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

/// The shape of the images a classifier reads and the number of classes it predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    /// Colour channels (1 for MNIST).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
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
            Network::Mlp(mlp) => mlp.output.forward(features),
            Network::Cnn(cnn) => cnn.head.output.forward(features),
            Network::Lstm(lstm) => lstm.output.forward(features),
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
