use burn::nn::activation::{ActivationConfig, LeakyReluConfig};
use burn::serde::{Deserialize, Serialize};

/// The non-linearity a model configuration applies after its hidden layers (dense or
/// convolutional).
///
/// Serialized in kebab-case (`"relu"`, `"leaky-relu"`, ...) so it reads well in a recipe.
///
/// ```
/// use burn::config::{config_to_json, Config};
/// use zoo_model_core::Activation;
///
/// /// A configuration of your own that chooses an activation.
/// #[derive(Config, Debug)]
/// struct LayerConfig {
///     #[config(default = "Activation::Relu")]
///     activation: Activation,
/// }
///
/// let config = LayerConfig::new().with_activation(Activation::LeakyRelu);
/// assert!(config_to_json(&config).contains("\"leaky-relu\""));
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
    /// use zoo_model_core::Activation;
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::config::{config_to_json, Config};

    #[derive(Config, Debug)]
    struct Holder {
        activation: Activation,
    }

    const ALL: [(Activation, &str); 5] = [
        (Activation::Relu, "relu"),
        (Activation::Tanh, "tanh"),
        (Activation::Sigmoid, "sigmoid"),
        (Activation::LeakyRelu, "leaky-relu"),
        (Activation::Gelu, "gelu"),
    ];

    #[test]
    fn serializes_in_kebab_case_and_back() {
        for (activation, name) in ALL {
            let json = config_to_json(&Holder::new(activation));
            assert!(json.contains(&format!("\"{name}\"")), "{json}");
            let back = Holder::load_binary(json.as_bytes()).expect("the JSON reads back");
            assert_eq!(back.activation, activation);
        }
        assert!(Holder::load_binary(br#"{"activation": "swish"}"#).is_err());
        assert_eq!(Activation::default(), Activation::Relu);
    }

    #[test]
    fn each_activation_maps_to_its_burn_layer() {
        for (activation, _) in ALL {
            let matches = match (activation, activation.layer_config()) {
                (Activation::Relu, ActivationConfig::Relu)
                | (Activation::Tanh, ActivationConfig::Tanh)
                | (Activation::Sigmoid, ActivationConfig::Sigmoid)
                | (Activation::Gelu, ActivationConfig::Gelu) => true,
                (Activation::LeakyRelu, ActivationConfig::LeakyRelu(config)) => {
                    config.negative_slope == 0.01
                }
                _ => false,
            };
            assert!(matches, "{activation:?}");
        }
    }
}
