use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::{ConfigError, LstmStack, LstmStackConfig};
use zoo_model_core::positive;

/// Configuration of a [`Forecaster`]: an LSTM stack over a window of past values and a linear
/// map from its last state to the next `horizon` values.
///
/// ```
/// use zoo_lstm::{ForecasterConfig, LstmStackConfig};
///
/// let config = ForecasterConfig::new(LstmStackConfig::new(1, 64)).with_horizon(8);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Config, Debug)]
pub struct ForecasterConfig {
    /// The recurrent layers (`input_size` is the number of values per time step, 1 for a series).
    pub lstm: LstmStackConfig,
    /// How many future values to predict.
    #[config(default = 1)]
    pub horizon: usize,
}

/// A window of values `[batch, window, features]` to the next values `[batch, horizon]`.
/// Build it with [`ForecasterConfig::init`].
///
/// ```
/// use zoo_lstm::{ForecasterConfig, LstmStackConfig};
///
/// let model = ForecasterConfig::new(LstmStackConfig::new(1, 8)).init(&burn::tensor::Device::flex());
/// assert_eq!(model.output.weight.dims(), [8, 1]); // [hidden, horizon]
/// ```
#[derive(Module, Debug)]
pub struct Forecaster {
    /// The recurrent layers.
    pub lstm: LstmStack,
    /// Map from the last hidden state to the forecast.
    pub output: Linear,
}

impl ForecasterConfig {
    /// Checks everything [`init`](Self::init) needs: the LSTM stack
    /// ([`LstmStackConfig::validate`], its fields prefixed by `lstm.`) and `horizon` at least 1.
    ///
    /// ```
    /// use zoo_lstm::{ForecasterConfig, LstmStackConfig};
    ///
    /// let config = ForecasterConfig::new(LstmStackConfig::new(1, 64)).with_horizon(0);
    /// assert_eq!(config.validate().unwrap_err().to_string(), "horizon: must be >= 1");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.lstm.validate().map_err(|e| e.within("lstm"))?;
        positive("horizon", self.horizon)
    }

    /// Builds the forecaster with fresh weights on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) when the configuration is invalid.
    pub fn init(&self, device: &Device) -> Forecaster {
        if let Err(error) = self.validate() {
            panic!("invalid ForecasterConfig: {error}");
        }
        let lstm = self.lstm.init(device);
        let output = LinearConfig::new(lstm.output_size(), self.horizon).init(device);
        Forecaster { lstm, output }
    }
}

impl Forecaster {
    /// The forecast: `[batch, window, features] -> [batch, horizon]`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_lstm::{ForecasterConfig, LstmStackConfig};
    ///
    /// let device = Device::flex();
    /// let model = ForecasterConfig::new(LstmStackConfig::new(1, 16)).with_horizon(3).init(&device);
    /// let next = model.forward(Tensor::<3>::zeros([4, 30, 1], &device)); // [batch, 3]
    /// assert_eq!(next.dims(), [4, 3]);
    /// ```
    pub fn forward(&self, window: Tensor<3>) -> Tensor<2> {
        let (_, states) = self.lstm.forward(window, None);
        let last = states
            .into_iter()
            .last()
            .expect("an LSTM stack has at least one layer")
            .hidden; // [batch, width]
        self.output.forward(last) // [batch, horizon]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_is_valid() {
        assert_eq!(
            ForecasterConfig::new(LstmStackConfig::new(1, 64)).validate(),
            Ok(())
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |config: ForecasterConfig| config.validate().unwrap_err().field().to_string();
        let stack = LstmStackConfig::new(1, 64);
        assert_eq!(
            field(ForecasterConfig::new(stack.clone()).with_horizon(0)),
            "horizon"
        );
        assert_eq!(
            field(ForecasterConfig::new(LstmStackConfig::new(0, 64))),
            "lstm.input_size"
        );
        assert_eq!(
            field(ForecasterConfig::new(LstmStackConfig::new(1, 0))),
            "lstm.hidden_size"
        );
        assert_eq!(
            field(ForecasterConfig::new(stack.clone().with_num_layers(0))),
            "lstm.num_layers"
        );
        assert_eq!(
            field(ForecasterConfig::new(stack.with_dropout(2.0))),
            "lstm.dropout"
        );
    }

    #[test]
    #[should_panic(expected = "invalid ForecasterConfig: horizon: must be >= 1")]
    fn init_panics_with_the_validation_message() {
        ForecasterConfig::new(LstmStackConfig::new(1, 8))
            .with_horizon(0)
            .init(&Device::flex());
    }

    #[test]
    fn forecasts_horizon_values_per_window() {
        let device = Device::flex();
        let model = ForecasterConfig::new(LstmStackConfig::new(1, 8).with_num_layers(2))
            .with_horizon(5)
            .init(&device);
        let forecast = model.forward(Tensor::<3>::zeros([4, 30, 1], &device));
        assert_eq!(forecast.dims(), [4, 5]);
    }
}
