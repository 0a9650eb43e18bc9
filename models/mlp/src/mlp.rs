use burn::nn::{self, BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;

use crate::{Activation, ConfigError};
use zoo_model_core::{positive, probability, widths};

/// Configuration of an [`Mlp`]: `input -> [linear -> (batch norm) -> activation -> dropout]* -> linear`.
///
/// The defaults give the classic first network for MNIST: 784-128-10 with ReLU.
///
/// ```
/// use zoo_mlp::MlpConfig;
///
/// let config = MlpConfig::new().with_hidden(vec![256, 128]).with_dropout(0.2);
/// assert!(config.validate().is_ok());
/// let mlp = config.init(&burn::tensor::Device::flex());
/// assert_eq!(mlp.hidden.len(), 2);
/// ```
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Number of input features (784 for a flattened 28x28 image).
    #[config(default = 784)]
    pub input_size: usize,
    /// Width of each hidden layer, in order. Empty gives a linear (softmax-regression) model.
    #[config(default = "vec![128]")]
    pub hidden: Vec<usize>,
    /// Number of outputs (logits), e.g. the number of classes.
    #[config(default = 10)]
    pub output_size: usize,
    /// Activation after each hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Dropout probability after each hidden activation, in `[0, 1)`.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Dropout probability on the input features, in `[0, 1)` (0.2 in the dropout paper).
    #[config(default = 0.0)]
    pub input_dropout: f64,
    /// Batch normalization between each hidden linear layer and its activation.
    #[config(default = false)]
    pub batch_norm: bool,
}

/// One hidden layer of an [`Mlp`]: linear, optional batch norm, activation, dropout. Built by
/// [`MlpConfig::init`], found in [`Mlp::hidden`].
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use zoo_mlp::MlpConfig;
///
/// let device = Device::flex();
/// let mlp = MlpConfig::new().with_hidden(vec![32]).init(&device);
/// let layer = &mlp.hidden[0];
/// assert_eq!(layer.linear.weight.dims(), [784, 32]);
/// let x = layer.forward(Tensor::<2>::zeros([2, 784], &device)); // [batch, 32]
/// assert_eq!(x.dims(), [2, 32]);
/// ```
#[derive(Module, Debug)]
pub struct HiddenLayer {
    /// The affine map.
    pub linear: Linear,
    /// Batch normalization over the layer's features, when configured.
    pub norm: Option<BatchNorm>,
    /// The non-linearity.
    pub activation: nn::activation::Activation,
    /// Dropout after the activation.
    pub dropout: Dropout,
}

/// A multi-layer perceptron returning logits. Build it with [`MlpConfig::init`].
///
/// ```
/// use burn::module::Module;
/// use zoo_mlp::MlpConfig;
///
/// let mlp = MlpConfig::new().init(&burn::tensor::Device::flex());
/// assert_eq!(mlp.num_params(), 784 * 128 + 128 + 128 * 10 + 10);
/// ```
#[derive(Module, Debug)]
pub struct Mlp {
    /// Dropout applied to the input features.
    pub input_dropout: Dropout,
    /// The hidden layers, input side first.
    pub hidden: Vec<HiddenLayer>,
    /// The last affine map, to `output_size` logits.
    pub output: Linear,
}

impl MlpConfig {
    /// Checks everything [`init`](Self::init) needs: `input_size`, `output_size` and every
    /// hidden width at least 1, `dropout` and `input_dropout` in `[0, 1)`. The error names the
    /// field (`hidden[1]: widths must be >= 1`).
    ///
    /// ```
    /// use zoo_mlp::MlpConfig;
    ///
    /// assert_eq!(MlpConfig::new().validate(), Ok(()));
    /// let error = MlpConfig::new().with_hidden(vec![64, 0]).validate().unwrap_err();
    /// assert_eq!(error.to_string(), "hidden[1]: widths must be >= 1");
    /// let error = MlpConfig::new().with_dropout(1.0).validate().unwrap_err();
    /// assert_eq!(error.field(), "dropout");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("input_size", self.input_size)?;
        widths("hidden", &self.hidden)?;
        positive("output_size", self.output_size)?;
        probability("dropout", self.dropout)?;
        probability("input_dropout", self.input_dropout)
    }

    /// Builds the network with freshly initialized weights on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) when the configuration is invalid;
    /// call `validate` first to report user input as an error (the `zoo` recipes do).
    pub fn init(&self, device: &Device) -> Mlp {
        if let Err(error) = self.validate() {
            panic!("invalid MlpConfig: {error}");
        }
        let mut width = self.input_size;
        let hidden = self
            .hidden
            .iter()
            .map(|&out| {
                let layer = HiddenLayer {
                    linear: LinearConfig::new(width, out).init(device),
                    norm: self
                        .batch_norm
                        .then(|| BatchNormConfig::new(out).init(device)),
                    activation: self.activation.layer_config().init(device),
                    dropout: DropoutConfig::new(self.dropout).init(),
                };
                width = out;
                layer
            })
            .collect();
        Mlp {
            input_dropout: DropoutConfig::new(self.input_dropout).init(),
            hidden,
            output: LinearConfig::new(width, self.output_size).init(device),
        }
    }
}

impl HiddenLayer {
    /// `[batch, in] -> [batch, out]`.
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let x = self.linear.forward(input); // [batch, out]
        let x = match &self.norm {
            Some(norm) => norm.forward(x), // [batch, out]
            None => x,
        };
        zoo_kernels::dropout(&self.dropout, self.activation.forward(x)) // [batch, out]
    }
}

impl Mlp {
    /// Every weight matrix, flattened, input side first: what weight penalties (L1, L2) act on.
    /// Biases and batch-norm parameters are not included.
    ///
    /// ```
    /// use zoo_mlp::MlpConfig;
    ///
    /// let mlp = MlpConfig::new().init(&burn::tensor::Device::flex());
    /// let sizes: Vec<usize> = mlp.weights().iter().map(|w| w.dims()[0]).collect();
    /// assert_eq!(sizes, [784 * 128, 128 * 10]);
    /// ```
    pub fn weights(&self) -> Vec<Tensor<1>> {
        self.hidden
            .iter()
            .map(|layer| &layer.linear)
            .chain([&self.output])
            .map(|linear| linear.weight.val().flatten(0, 1)) // [in * out]
            .collect()
    }

    /// Logits for a batch of feature vectors: `[batch, input_size] -> [batch, output_size]`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_mlp::MlpConfig;
    ///
    /// let device = Device::flex();
    /// let mlp = MlpConfig::new().init(&device);
    /// let logits = mlp.forward(Tensor::<2>::zeros([4, 784], &device)); // [batch, 10]
    /// assert_eq!(logits.dims(), [4, 10]);
    /// ```
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        self.logits_of_features(self.features(input)) // [batch, output_size]
    }

    /// The logits from [`features`](Self::features): the last affine map alone,
    /// `[batch, last hidden width] -> [batch, output_size]`. `forward(x)` is
    /// `logits_of_features(features(x))`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_mlp::MlpConfig;
    ///
    /// let device = Device::flex();
    /// let mlp = MlpConfig::new().with_hidden(vec![32, 16]).init(&device);
    /// let x = Tensor::<2>::ones([2, 784], &device);
    /// let features = mlp.features(x.clone()); // [batch, 16]
    /// let logits = mlp.logits_of_features(features); // [batch, 10]
    /// assert_eq!(logits.into_data(), mlp.forward(x).into_data());
    /// ```
    pub fn logits_of_features(&self, features: Tensor<2>) -> Tensor<2> {
        self.output.forward(features) // [batch, output_size]
    }

    /// The last hidden layer's activations (the input itself when there is no hidden layer):
    /// `[batch, input_size] -> [batch, last hidden width]`. Used as an embedding, e.g. for the
    /// Fréchet distance between two sets of images.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_mlp::MlpConfig;
    ///
    /// let device = Device::flex();
    /// let mlp = MlpConfig::new().with_hidden(vec![64, 32]).init(&device);
    /// let features = mlp.features(Tensor::<2>::zeros([5, 784], &device)); // [batch, 32]
    /// assert_eq!(features.dims(), [5, 32]);
    /// ```
    pub fn features(&self, input: Tensor<2>) -> Tensor<2> {
        let x = zoo_kernels::dropout(&self.input_dropout, input); // [batch, input_size]
        self.hidden.iter().fold(x, |x, layer| layer.forward(x)) // [batch, last hidden width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_784_128_10() {
        let device = Device::flex();
        let mlp = MlpConfig::new().init(&device);
        assert_eq!(mlp.hidden.len(), 1);
        assert_eq!(mlp.hidden[0].linear.weight.dims(), [784, 128]);
        assert_eq!(mlp.output.weight.dims(), [128, 10]);
        assert_eq!(mlp.num_params(), 784 * 128 + 128 + 128 * 10 + 10);
    }

    #[test]
    fn output_shape_follows_config() {
        let device = Device::flex();
        for hidden in [vec![], vec![32], vec![64, 32, 16]] {
            let mlp = MlpConfig::new()
                .with_input_size(20)
                .with_hidden(hidden.clone())
                .with_output_size(3)
                .with_batch_norm(true)
                .with_activation(Activation::Tanh)
                .init(&device);
            let out = mlp.forward(Tensor::<2>::ones([5, 20], &device));
            assert_eq!(out.dims(), [5, 3], "hidden {hidden:?}");
        }
    }

    #[test]
    fn every_activation_builds_and_runs() {
        let device = Device::flex();
        for activation in [
            Activation::Relu,
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::LeakyRelu,
            Activation::Gelu,
        ] {
            let mlp = MlpConfig::new()
                .with_input_size(4)
                .with_hidden(vec![8])
                .with_output_size(2)
                .with_activation(activation)
                .init(&device);
            let out = mlp.forward(Tensor::<2>::ones([3, 4], &device));
            assert_eq!(out.dims(), [3, 2]);
        }
    }

    #[test]
    fn dropout_is_off_without_autodiff() {
        let device = Device::flex();
        let mlp = MlpConfig::new()
            .with_input_size(16)
            .with_hidden(vec![16])
            .with_dropout(0.5)
            .with_input_dropout(0.5)
            .init(&device);
        let x = Tensor::<2>::ones([4, 16], &device);
        let a = mlp.forward(x.clone()).into_data();
        let b = mlp.forward(x).into_data();
        assert_eq!(a, b, "inference must be deterministic");
    }

    #[test]
    fn weights_are_the_linear_matrices_only() {
        let mlp = MlpConfig::new()
            .with_input_size(6)
            .with_hidden(vec![5, 4])
            .with_output_size(3)
            .with_batch_norm(true)
            .init(&Device::flex());
        let sizes: Vec<usize> = mlp.weights().iter().map(|w| w.dims()[0]).collect();
        assert_eq!(sizes, vec![6 * 5, 5 * 4, 4 * 3]);
    }

    #[test]
    fn features_are_the_last_hidden_activations() {
        let device = Device::flex();
        let mlp = MlpConfig::new()
            .with_input_size(6)
            .with_hidden(vec![5, 4])
            .with_output_size(3)
            .init(&device);
        let x = Tensor::<2>::ones([2, 6], &device);
        let features = mlp.features(x.clone());
        assert_eq!(features.dims(), [2, 4]);
        let logits = mlp.logits_of_features(features).into_data();
        assert_eq!(logits, mlp.forward(x).into_data());
    }

    #[test]
    fn the_default_config_is_valid() {
        assert_eq!(MlpConfig::new().validate(), Ok(()));
        // No hidden layer (softmax regression) and the largest dropout below 1 are fine.
        let linear = MlpConfig::new().with_hidden(vec![]).with_dropout(0.99);
        assert_eq!(linear.validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |config: MlpConfig| config.validate().unwrap_err().field().to_string();
        assert_eq!(field(MlpConfig::new().with_input_size(0)), "input_size");
        assert_eq!(field(MlpConfig::new().with_output_size(0)), "output_size");
        assert_eq!(field(MlpConfig::new().with_hidden(vec![0])), "hidden[0]");
        assert_eq!(
            field(MlpConfig::new().with_hidden(vec![8, 4, 0])),
            "hidden[2]"
        );
        assert_eq!(field(MlpConfig::new().with_dropout(1.0)), "dropout");
        assert_eq!(field(MlpConfig::new().with_dropout(-0.1)), "dropout");
        assert_eq!(
            field(MlpConfig::new().with_input_dropout(1.5)),
            "input_dropout"
        );
        let error = MlpConfig::new().with_hidden(vec![64, 0]).validate();
        assert_eq!(
            error.unwrap_err().to_string(),
            "hidden[1]: widths must be >= 1"
        );
    }

    #[test]
    #[should_panic(expected = "invalid MlpConfig: hidden[1]: widths must be >= 1")]
    fn init_panics_with_the_validation_message() {
        MlpConfig::new()
            .with_hidden(vec![64, 0])
            .init(&Device::flex());
    }

    #[test]
    fn config_round_trips_through_json() {
        let config = MlpConfig::new()
            .with_hidden(vec![1024, 1024])
            .with_activation(Activation::LeakyRelu);
        let json = burn::config::config_to_json(&config);
        assert!(json.contains("\"leaky-relu\""), "{json}");
    }
}
