//! The trainable image classifier: a zoo network plus the loss, wired into burn-train's steps.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use zoo_cnn::Cnn;
use zoo_datasets::ImageBatch;
use zoo_mlp::Mlp;

use crate::recipe::ModelSpec;

/// The networks a classifier can wrap.
#[derive(Module, Debug)]
pub enum Network {
    /// A multi-layer perceptron over the flattened image.
    Mlp(Mlp),
    /// A convolutional network.
    Cnn(Cnn),
}

/// An image classifier: images `[batch, channels, height, width]` to class logits.
#[derive(Module, Debug)]
pub struct Classifier {
    /// The wrapped network.
    pub network: Network,
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
        let network = match (spec.mlp_config(shape), spec.cnn_config(shape)) {
            (Some(mlp), _) => Network::Mlp(mlp.init(device)),
            (None, Some(cnn)) => Network::Cnn(cnn.init(device)),
            (None, None) => unreachable!("every model spec is an MLP or a CNN"),
        };
        Self { network }
    }

    /// Class logits: `[batch, channels, height, width] -> [batch, classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match &self.network {
            Network::Mlp(mlp) => mlp.forward(images.flatten(1, 3)), // [batch, c*h*w] -> [batch, classes]
            Network::Cnn(cnn) => cnn.forward(images),
        }
    }

    /// Logits, cross-entropy loss and targets for one batch.
    pub fn forward_classification(&self, batch: ImageBatch) -> ClassificationOutput {
        let logits = self.forward(batch.images); // [batch, classes]
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone()); // [1]
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl TrainStep for Classifier {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        let item = self.forward_classification(batch);
        TrainOutput::new(self, item.loss.backward(), item)
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
