use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::{LstmStack, LstmStackConfig};

/// Configuration of a [`Forecaster`]: an LSTM stack over a window of past values and a linear
/// map from its last state to the next `horizon` values.
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
#[derive(Module, Debug)]
pub struct Forecaster {
    /// The recurrent layers.
    pub lstm: LstmStack,
    /// Map from the last hidden state to the forecast.
    pub output: Linear,
}

impl ForecasterConfig {
    /// Builds the forecaster with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> Forecaster {
        let lstm = self.lstm.init(device);
        let output = LinearConfig::new(lstm.output_size(), self.horizon).init(device);
        Forecaster { lstm, output }
    }
}

impl Forecaster {
    /// The forecast: `[batch, window, features] -> [batch, horizon]`.
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
    fn forecasts_horizon_values_per_window() {
        let device = Device::flex();
        let model = ForecasterConfig::new(LstmStackConfig::new(1, 8).with_num_layers(2))
            .with_horizon(5)
            .init(&device);
        let forecast = model.forward(Tensor::<3>::zeros([4, 30, 1], &device));
        assert_eq!(forecast.dims(), [4, 5]);
    }
}
