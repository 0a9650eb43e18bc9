use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::serde::{Deserialize, Serialize};

use crate::{ConfigError, LstmStack, LstmStackConfig};
use zoo_model_core::positive;

/// How a [`SequenceClassifier`] turns the LSTM's outputs into one vector per sequence.
///
/// Serialized in kebab-case (`"last"`, `"mean"`).
///
/// ```
/// use zoo_lstm::{LstmStackConfig, Pooling, SequenceClassifierConfig};
///
/// let config = SequenceClassifierConfig::new(LstmStackConfig::new(28, 64), 10)
///     .with_pooling(Pooling::Mean);
/// assert!(burn::config::config_to_json(&config).contains("\"mean\""));
/// ```
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
///
/// ```
/// use zoo_lstm::{LstmStackConfig, SequenceClassifierConfig};
///
/// // Sequential MNIST: 28 rows of 28 pixels, 10 classes.
/// let config = SequenceClassifierConfig::new(LstmStackConfig::new(28, 128), 10);
/// assert!(config.validate().is_ok());
/// ```
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
///
/// ```
/// use burn::module::Module;
/// use zoo_lstm::{LstmStackConfig, SequenceClassifierConfig};
///
/// let model = SequenceClassifierConfig::new(LstmStackConfig::new(28, 128), 10)
///     .init(&burn::tensor::Device::flex());
/// assert_eq!(model.num_params(), 80_896 + 1_290); // as torch.nn.LSTM(28, 128) + a linear head
/// ```
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
    /// Checks everything [`init`](Self::init) needs: the LSTM stack
    /// ([`LstmStackConfig::validate`], its fields prefixed by `lstm.`) and `num_classes` at
    /// least 1.
    ///
    /// ```
    /// use zoo_lstm::{LstmStackConfig, SequenceClassifierConfig};
    ///
    /// let config = SequenceClassifierConfig::new(LstmStackConfig::new(28, 0), 10);
    /// assert_eq!(config.validate().unwrap_err().to_string(), "lstm.hidden_size: must be >= 1");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.lstm.validate().map_err(|e| e.within("lstm"))?;
        positive("num_classes", self.num_classes)
    }

    /// Builds the classifier with fresh weights on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) when the configuration is invalid.
    pub fn init(&self, device: &Device) -> SequenceClassifier {
        if let Err(error) = self.validate() {
            panic!("invalid SequenceClassifierConfig: {error}");
        }
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
    ///
    /// ```
    /// use zoo_lstm::{LstmStackConfig, SequenceClassifierConfig};
    ///
    /// let model = SequenceClassifierConfig::new(LstmStackConfig::new(3, 4), 2)
    ///     .init(&burn::tensor::Device::flex());
    /// assert_eq!(model.weights().len(), 8 + 1); // the gates' maps, then the output map
    /// ```
    pub fn weights(&self) -> Vec<Tensor<1>> {
        let mut weights = self.lstm.weights();
        weights.push(self.output.weight.val().flatten(0, 1)); // [width * classes]
        weights
    }

    /// The pooled summary of each sequence (what the output map reads):
    /// `[batch, time, features] -> [batch, width]`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_lstm::{LstmStackConfig, SequenceClassifierConfig};
    ///
    /// let device = Device::flex();
    /// let model = SequenceClassifierConfig::new(LstmStackConfig::new(28, 16), 10).init(&device);
    /// let features = model.features(Tensor::<3>::zeros([2, 28, 28], &device)); // [batch, 16]
    /// assert_eq!(features.dims(), [2, 16]);
    /// ```
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
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_lstm::{LstmStackConfig, SequenceClassifierConfig};
    ///
    /// let device = Device::flex();
    /// let model = SequenceClassifierConfig::new(LstmStackConfig::new(28, 16), 10).init(&device);
    /// assert_eq!(model.forward(Tensor::<3>::zeros([2, 28, 28], &device)).dims(), [2, 10]);
    /// ```
    pub fn forward(&self, sequences: Tensor<3>) -> Tensor<2> {
        self.logits_of_features(self.features(sequences)) // [batch, classes]
    }

    /// The logits from [`features`](Self::features): the output map alone,
    /// `[batch, width] -> [batch, classes]`. `forward(x)` is `logits_of_features(features(x))`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_lstm::{LstmStackConfig, SequenceClassifierConfig};
    ///
    /// let device = Device::flex();
    /// let model = SequenceClassifierConfig::new(LstmStackConfig::new(28, 16), 10).init(&device);
    /// let rows = Tensor::<3>::ones([2, 28, 28], &device);
    /// let logits = model.logits_of_features(model.features(rows.clone())); // [batch, 10]
    /// assert_eq!(logits.into_data(), model.forward(rows).into_data());
    /// ```
    pub fn logits_of_features(&self, features: Tensor<2>) -> Tensor<2> {
        self.output.forward(features) // [batch, classes]
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
    fn the_default_config_is_valid() {
        let config = SequenceClassifierConfig::new(LstmStackConfig::new(28, 128), 10);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let field =
            |config: SequenceClassifierConfig| config.validate().unwrap_err().field().to_string();
        let stack = LstmStackConfig::new(28, 128);
        let config = |stack: LstmStackConfig| SequenceClassifierConfig::new(stack, 10);
        assert_eq!(
            field(SequenceClassifierConfig::new(stack.clone(), 0)),
            "num_classes"
        );
        assert_eq!(
            field(config(LstmStackConfig::new(0, 128))),
            "lstm.input_size"
        );
        assert_eq!(
            field(config(LstmStackConfig::new(28, 0))),
            "lstm.hidden_size"
        );
        assert_eq!(
            field(config(stack.clone().with_num_layers(0))),
            "lstm.num_layers"
        );
        assert_eq!(field(config(stack.with_dropout(1.0))), "lstm.dropout");
    }

    #[test]
    #[should_panic(expected = "invalid SequenceClassifierConfig: num_classes: must be >= 1")]
    fn init_panics_with_the_validation_message() {
        SequenceClassifierConfig::new(LstmStackConfig::new(28, 8), 0).init(&Device::flex());
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
