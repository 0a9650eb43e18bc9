use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::serde::{Deserialize, Serialize};

use crate::{LstmStack, LstmStackConfig};

/// How a [`SequenceClassifier`] turns the LSTM's outputs into one vector per sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(crate = "burn::serde", rename_all = "kebab-case")]
pub enum Pooling {
    /// The last layer's final hidden state (both directions' when bidirectional).
    #[default]
    Last,
    /// The mean of the last layer's outputs over time.
    Mean,
}

/// Configuration of a [`SequenceClassifier`]: an LSTM stack, a pooling, a linear map to classes.
#[derive(Config, Debug)]
pub struct SequenceClassifierConfig {
    /// The recurrent layers.
    pub lstm: LstmStackConfig,
    /// Number of classes (logits).
    pub num_classes: usize,
    /// How the sequence is summarized.
    #[config(default = "Pooling::Last")]
    pub pooling: Pooling,
}

/// Sequences `[batch, time, features]` to class logits `[batch, classes]`. Build it with
/// [`SequenceClassifierConfig::init`].
#[derive(Module, Debug)]
pub struct SequenceClassifier {
    /// The recurrent layers.
    pub lstm: LstmStack,
    /// The map from the pooled state to logits.
    pub output: Linear,
    /// The pooling.
    #[module(skip)]
    pub pooling: Pooling,
}

impl SequenceClassifierConfig {
    /// Builds the classifier with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> SequenceClassifier {
        let lstm = self.lstm.init(device);
        let output = LinearConfig::new(lstm.output_size(), self.num_classes).init(device);
        SequenceClassifier {
            lstm,
            output,
            pooling: self.pooling,
        }
    }
}

impl SequenceClassifier {
    /// Every weight matrix (LSTM gates and output map), flattened, for weight penalties.
    pub fn weights(&self) -> Vec<Tensor<1>> {
        let mut weights = self.lstm.weights();
        weights.push(self.output.weight.val().flatten(0, 1)); // [width * classes]
        weights
    }

    /// The pooled summary of each sequence (what the output map reads):
    /// `[batch, time, features] -> [batch, width]`.
    pub fn features(&self, sequences: Tensor<3>) -> Tensor<2> {
        let (outputs, states) = self.lstm.forward(sequences, None); // [batch, time, width]
        match self.pooling {
            Pooling::Last => {
                states
                    .into_iter()
                    .last()
                    .expect("an LSTM stack has at least one layer")
                    .hidden // [batch, width]
            }
            Pooling::Mean => outputs.mean_dim(1).squeeze_dim(1), // [batch, width]
        }
    }

    /// Class logits: `[batch, time, features] -> [batch, classes]`.
    pub fn forward(&self, sequences: Tensor<3>) -> Tensor<2> {
        self.output.forward(self.features(sequences)) // [batch, classes]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_per_sequence_for_every_pooling() {
        let device = Device::flex();
        for pooling in [Pooling::Last, Pooling::Mean] {
            for bidirectional in [false, true] {
                let model = SequenceClassifierConfig::new(
                    LstmStackConfig::new(28, 16).with_bidirectional(bidirectional),
                    10,
                )
                .with_pooling(pooling)
                .init(&device);
                let logits = model.forward(Tensor::<3>::zeros([5, 28, 28], &device));
                assert_eq!(logits.dims(), [5, 10], "{pooling:?} bi={bidirectional}");
            }
        }
    }

    #[test]
    fn parameter_count_matches_pytorch() {
        // torch.nn.LSTM(28, 128) has 4 * (28 * 128 + 128 * 128 + 2 * 128) = 80,896 parameters
        // (two bias vectors per gate, as here); the linear head 128 * 10 + 10.
        let model =
            SequenceClassifierConfig::new(LstmStackConfig::new(28, 128), 10).init(&Device::flex());
        assert_eq!(model.num_params(), 80_896 + 1_290);
    }
}
