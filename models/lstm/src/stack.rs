use burn::nn::{BiLstm, BiLstmConfig, Dropout, DropoutConfig, Lstm, LstmConfig, LstmState};
use burn::prelude::*;

use crate::ConfigError;
use zoo_model_core::{positive, probability};

/// Configuration of an [`LstmStack`]: `num_layers` LSTM layers, each reading the previous
/// layer's outputs, with dropout between layers.
///
/// ```
/// use zoo_lstm::LstmStackConfig;
///
/// let config = LstmStackConfig::new(28, 128).with_num_layers(2).with_dropout(0.1);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Config, Debug)]
pub struct LstmStackConfig {
    /// Features per time step of the input.
    pub input_size: usize,
    /// Hidden (and cell) size of every layer, per direction.
    pub hidden_size: usize,
    /// Number of stacked layers, >= 1.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Read each sequence in both directions (outputs are `2 * hidden_size` wide).
    #[config(default = false)]
    pub bidirectional: bool,
    /// Dropout on the outputs of every layer but the last, in `[0, 1)`.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// One recurrent layer: a forward-only LSTM or a bidirectional one.
///
/// ```
/// use zoo_lstm::{LstmStackConfig, Recurrent};
///
/// let stack = LstmStackConfig::new(3, 8).with_bidirectional(true).init(&burn::tensor::Device::flex());
/// assert!(matches!(stack.layers[0], Recurrent::Bidirectional(_)));
/// ```
// Layers are built once per model, so the size gap between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Recurrent {
    /// Reads the sequence left to right.
    Forward(Lstm),
    /// Reads it both ways and concatenates the two outputs.
    Bidirectional(BiLstm),
}

/// Stacked LSTM layers (Burn's [`Lstm`] / [`BiLstm`]). Build it with [`LstmStackConfig::init`].
///
/// Forward layers run through [`zoo_kernels::lstm_forward`] (the whole sequence as one kernel
/// on flex, `Lstm::forward` elsewhere) and the dropout between layers through
/// [`zoo_kernels::dropout()`].
///
/// ```
/// use zoo_lstm::LstmStackConfig;
///
/// let stack = LstmStackConfig::new(3, 8).with_num_layers(2).init(&burn::tensor::Device::flex());
/// assert_eq!(stack.layers.len(), 2);
/// assert_eq!(stack.output_size(), 8);
/// ```
#[derive(Module, Debug)]
pub struct LstmStack {
    /// The layers, input side first.
    pub layers: Vec<Recurrent>,
    /// Dropout between layers.
    pub dropout: Dropout,
    /// Hidden size per direction.
    pub hidden_size: usize,
    /// Whether the layers are bidirectional.
    pub bidirectional: bool,
}

impl LstmStackConfig {
    /// Checks everything [`init`](Self::init) needs: `input_size`, `hidden_size` and
    /// `num_layers` at least 1, `dropout` in `[0, 1)`. The error names the field.
    ///
    /// ```
    /// use zoo_lstm::LstmStackConfig;
    ///
    /// assert_eq!(LstmStackConfig::new(28, 128).validate(), Ok(()));
    /// let error = LstmStackConfig::new(28, 128).with_num_layers(0).validate().unwrap_err();
    /// assert_eq!(error.to_string(), "num_layers: must be >= 1");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("input_size", self.input_size)?;
        positive("hidden_size", self.hidden_size)?;
        positive("num_layers", self.num_layers)?;
        probability("dropout", self.dropout)
    }

    /// Builds the stack with fresh weights on `device`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_lstm::LstmStackConfig;
    ///
    /// let device = Device::flex();
    /// let stack = LstmStackConfig::new(3, 8).with_bidirectional(true).init(&device);
    /// let (out, states) = stack.forward(Tensor::<3>::zeros([2, 5, 3], &device), None);
    /// assert_eq!(out.dims(), [2, 5, 16]); // [batch, time, 2 * hidden]
    /// assert_eq!(states.len(), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) when the configuration is invalid.
    pub fn init(&self, device: &Device) -> LstmStack {
        if let Err(error) = self.validate() {
            panic!("invalid LstmStackConfig: {error}");
        }
        let directions = if self.bidirectional { 2 } else { 1 };
        let layers = (0..self.num_layers)
            .map(|i| {
                let input = if i == 0 {
                    self.input_size
                } else {
                    self.hidden_size * directions
                };
                if self.bidirectional {
                    Recurrent::Bidirectional(
                        BiLstmConfig::new(input, self.hidden_size, true).init(device),
                    )
                } else {
                    Recurrent::Forward(LstmConfig::new(input, self.hidden_size, true).init(device))
                }
            })
            .collect();
        LstmStack {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            hidden_size: self.hidden_size,
            bidirectional: self.bidirectional,
        }
    }
}

impl LstmStack {
    /// Width of each output step: `hidden_size`, doubled when bidirectional.
    ///
    /// ```
    /// use zoo_lstm::LstmStackConfig;
    ///
    /// let stack = LstmStackConfig::new(3, 8).with_bidirectional(true).init(&burn::tensor::Device::flex());
    /// assert_eq!(stack.output_size(), 16);
    /// ```
    pub fn output_size(&self) -> usize {
        if self.bidirectional {
            2 * self.hidden_size
        } else {
            self.hidden_size
        }
    }

    /// Every weight matrix (input and recurrent maps of every gate, every layer and direction),
    /// flattened: what weight penalties act on. Biases are not included.
    ///
    /// ```
    /// use zoo_lstm::LstmStackConfig;
    ///
    /// let stack = LstmStackConfig::new(3, 4).init(&burn::tensor::Device::flex());
    /// let weights = stack.weights(); // 4 gates x (input map, recurrent map)
    /// assert_eq!(weights.len(), 8);
    /// assert_eq!(weights[0].dims(), [3 * 4]);
    /// ```
    pub fn weights(&self) -> Vec<Tensor<1>> {
        self.layers
            .iter()
            .flat_map(|layer| match layer {
                Recurrent::Forward(lstm) => vec![lstm],
                Recurrent::Bidirectional(bi) => vec![&bi.forward, &bi.reverse],
            })
            .flat_map(|lstm| {
                [
                    Some(&lstm.input_gate),
                    lstm.forget_gate.as_ref(),
                    Some(&lstm.output_gate),
                    Some(&lstm.cell_gate),
                ]
                .into_iter()
                .flatten()
            })
            .flat_map(|gate| [&gate.input_transform, &gate.hidden_transform])
            .map(|linear| linear.weight.val().flatten(0, 1)) // [in * out]
            .collect()
    }

    /// Runs the sequence through every layer: `[batch, time, input] -> [batch, time, output_size]`.
    ///
    /// `states` holds one state per layer to start from (zeros when `None`), and one final
    /// state per layer is returned, each `[batch, output_size]`; a bidirectional layer's state
    /// is its forward and reverse states side by side. Feeding the returned states back in
    /// continues a sequence step by step (text generation).
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_lstm::LstmStackConfig;
    ///
    /// let device = Device::flex();
    /// let stack = LstmStackConfig::new(2, 6).with_num_layers(2).init(&device);
    /// let (_, states) = stack.forward(Tensor::<3>::zeros([3, 4, 2], &device), None);
    /// let (next, _) = stack.forward(Tensor::<3>::zeros([3, 1, 2], &device), Some(states));
    /// assert_eq!(next.dims(), [3, 1, 6]); // one more step: [batch, 1, hidden]
    /// ```
    pub fn forward(
        &self,
        input: Tensor<3>,
        states: Option<Vec<LstmState<2>>>,
    ) -> (Tensor<3>, Vec<LstmState<2>>) {
        let mut states = states.map(|s| s.into_iter());
        let mut finals = Vec::with_capacity(self.layers.len());
        let mut x = input; // [batch, time, features]
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                x = zoo_kernels::dropout(&self.dropout, x);
            }
            let state = states.as_mut().and_then(|s| s.next());
            let (output, last) = match layer {
                Recurrent::Forward(lstm) => zoo_kernels::lstm_forward(lstm, x, state), // [batch, time, hidden]
                Recurrent::Bidirectional(bilstm) => {
                    let state = state.map(|s| s.map_state(split_directions));
                    let (output, last) = bilstm.forward(x, state); // [batch, time, 2 * hidden]
                    (output, last.map_state(join_directions))
                }
            };
            finals.push(last);
            x = output;
        }
        (x, finals)
    }
}

/// `[batch, 2 * hidden] -> [2, batch, hidden]` (forward state first).
fn split_directions(state: Tensor<2>) -> Tensor<3> {
    let halves = state.chunk(2, 1); // 2 x [batch, hidden]
    Tensor::stack(halves, 0)
}

/// `[2, batch, hidden] -> [batch, 2 * hidden]` (forward state first).
fn join_directions(state: Tensor<3>) -> Tensor<2> {
    let halves: Vec<Tensor<2>> = state.iter_dim(0).map(|t| t.squeeze_dim(0)).collect();
    Tensor::cat(halves, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_is_valid() {
        assert_eq!(LstmStackConfig::new(1, 1).validate(), Ok(()));
        let config = LstmStackConfig::new(28, 128)
            .with_num_layers(3)
            .with_bidirectional(true)
            .with_dropout(0.5);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |config: LstmStackConfig| config.validate().unwrap_err().field().to_string();
        let config = LstmStackConfig::new(28, 128);
        assert_eq!(field(LstmStackConfig::new(0, 128)), "input_size");
        assert_eq!(field(LstmStackConfig::new(28, 0)), "hidden_size");
        assert_eq!(field(config.clone().with_num_layers(0)), "num_layers");
        assert_eq!(field(config.clone().with_dropout(1.0)), "dropout");
        assert_eq!(field(config.with_dropout(f64::NAN)), "dropout");
    }

    #[test]
    #[should_panic(expected = "invalid LstmStackConfig: hidden_size: must be >= 1")]
    fn init_panics_with_the_validation_message() {
        LstmStackConfig::new(28, 0).init(&Device::flex());
    }

    #[test]
    fn output_and_state_shapes() {
        let device = Device::flex();
        for (bidirectional, width) in [(false, 8), (true, 16)] {
            let stack = LstmStackConfig::new(3, 8)
                .with_num_layers(2)
                .with_bidirectional(bidirectional)
                .init(&device);
            let (out, states) = stack.forward(Tensor::<3>::ones([4, 5, 3], &device), None);
            assert_eq!(out.dims(), [4, 5, width]);
            assert_eq!(states.len(), 2);
            assert_eq!(states[1].hidden.dims(), [4, width]);
            let (again, _) = stack.forward(Tensor::<3>::ones([4, 5, 3], &device), Some(states));
            assert_eq!(again.dims(), [4, 5, width]);
        }
    }

    #[test]
    fn weights_are_eight_matrices_per_direction_and_layer() {
        let stack = LstmStackConfig::new(3, 4)
            .with_num_layers(2)
            .with_bidirectional(true)
            .init(&Device::flex());
        let weights = stack.weights();
        assert_eq!(weights.len(), 2 * 2 * 8);
        assert_eq!(weights[0].dims(), [3 * 4]); // first gate's input map
        assert_eq!(weights[1].dims(), [4 * 4]); // its recurrent map
    }

    #[test]
    fn stepping_with_state_equals_one_pass() {
        let device = Device::flex();
        let stack = LstmStackConfig::new(2, 6).with_num_layers(2).init(&device);
        let x = Tensor::<3>::random([3, 4, 2], burn::tensor::Distribution::Default, &device);
        let (whole, _) = stack.forward(x.clone(), None);
        let (first, states) = stack.forward(x.clone().slice(s![.., 0..2, ..]), None);
        let (second, _) = stack.forward(x.slice(s![.., 2..4, ..]), Some(states));
        let stepped = Tensor::cat(vec![first, second], 1);
        whole.into_data().assert_approx_eq::<f32>(
            &stepped.into_data(),
            burn::tensor::Tolerance::absolute(1e-5),
        );
    }

    #[test]
    fn bidirectional_last_state_sees_both_ends() {
        let device = Device::flex();
        let stack = LstmStackConfig::new(1, 4)
            .with_bidirectional(true)
            .init(&device);
        let x = Tensor::<3>::random([2, 6, 1], burn::tensor::Distribution::Default, &device);
        let (out, states) = stack.forward(x, None);
        let hidden = states[0].hidden.clone(); // [batch, 8]
                                               // Forward half: the output at the last step; reverse half: the output at the first.
        let forward_last = out.clone().slice(s![.., 5, 0..4]).squeeze_dim::<2>(1);
        let reverse_first = out.slice(s![.., 0, 4..8]).squeeze_dim::<2>(1);
        let expected = Tensor::cat(vec![forward_last, reverse_first], 1);
        hidden.into_data().assert_approx_eq::<f32>(
            &expected.into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
    }
}
