use burn::nn::activation::{ActivationConfig, LeakyReluConfig};
use burn::serde::{Deserialize, Serialize};

/// The non-linearity applied after each hidden layer.
///
/// Serialized in kebab-case (`"relu"`, `"leaky-relu"`, ...) so it reads well in a recipe.
///
/// ```
/// use zoo_mlp::{Activation, MlpConfig};
///
/// let config = MlpConfig::new().with_activation(Activation::LeakyRelu);
/// assert!(burn::config::config_to_json(&config).contains("\"leaky-relu\""));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(crate = "burn::serde", rename_all = "kebab-case")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// `max(0.01 x, x)`.
    LeakyRelu,
    /// Gaussian error linear unit (exact form).
    Gelu,
}

impl Activation {
    /// The Burn layer configuration this activation stands for.
    ///
    /// ```
    /// use burn::nn::activation::ActivationConfig;
    /// use zoo_mlp::Activation;
    ///
    /// assert!(matches!(Activation::Tanh.layer_config(), ActivationConfig::Tanh));
    /// ```
    pub fn layer_config(self) -> ActivationConfig {
        match self {
            Self::Relu => ActivationConfig::Relu,
            Self::Tanh => ActivationConfig::Tanh,
            Self::Sigmoid => ActivationConfig::Sigmoid,
            Self::LeakyRelu => LeakyReluConfig::new().into(),
            Self::Gelu => ActivationConfig::Gelu,
        }
    }
}
