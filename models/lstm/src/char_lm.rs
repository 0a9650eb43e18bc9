use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig, LstmState,
};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use rand::distr::{weighted::WeightedIndex, Distribution};
use rand::rngs::StdRng;
use rand::SeedableRng;
use thiserror::Error;

use crate::{ConfigError, LstmStack, LstmStackConfig};
use zoo_model_core::{positive, probability};

/// Configuration of a [`CharLm`]: embedding, LSTM layers, a linear map back to the vocabulary.
///
/// ```
/// use zoo_lstm::CharLmConfig;
///
/// let config = CharLmConfig::new(65).with_hidden_size(512).with_dropout(0.2);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Config, Debug)]
pub struct CharLmConfig {
    /// Number of distinct tokens (characters).
    pub vocab_size: usize,
    /// Width of the token embedding.
    #[config(default = 64)]
    pub embedding_size: usize,
    /// Hidden size of every LSTM layer.
    #[config(default = 256)]
    pub hidden_size: usize,
    /// Number of LSTM layers.
    #[config(default = 2)]
    pub num_layers: usize,
    /// Dropout between layers and before the output map, in `[0, 1)`.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// A character language model: tokens `[batch, time]` to next-token logits
/// `[batch, time, vocab]`, and step-by-step generation. Build it with [`CharLmConfig::init`].
///
/// ```
/// use zoo_lstm::CharLmConfig;
///
/// let lm = CharLmConfig::new(65).with_hidden_size(32).init(&burn::tensor::Device::flex());
/// assert_eq!(lm.vocab_size(), 65);
/// assert_eq!(lm.generate(&[0], 5, 1.0, 42), lm.generate(&[0], 5, 1.0, 42));
/// assert!(lm.generate(&[0], 5, 1.0, 42).is_ok());
/// ```
#[derive(Module, Debug)]
pub struct CharLm {
    /// Token embedding.
    pub embedding: Embedding,
    /// The recurrent layers (forward-only: a language model reads left to right).
    pub lstm: LstmStack,
    /// Dropout before the output map.
    pub dropout: Dropout,
    /// Map from hidden state to vocabulary logits.
    pub output: Linear,
}

impl CharLmConfig {
    /// Checks everything [`init`](Self::init) needs: `vocab_size`, `embedding_size`,
    /// `hidden_size` and `num_layers` at least 1, `dropout` in `[0, 1)`.
    ///
    /// ```
    /// use zoo_lstm::CharLmConfig;
    ///
    /// assert_eq!(CharLmConfig::new(65).validate(), Ok(()));
    /// let error = CharLmConfig::new(65).with_embedding_size(0).validate().unwrap_err();
    /// assert_eq!(error.to_string(), "embedding_size: must be >= 1");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("vocab_size", self.vocab_size)?;
        positive("embedding_size", self.embedding_size)?;
        positive("hidden_size", self.hidden_size)?;
        positive("num_layers", self.num_layers)?;
        probability("dropout", self.dropout)
    }

    /// Builds the model with fresh weights on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) when the configuration is invalid.
    pub fn init(&self, device: &Device) -> CharLm {
        if let Err(error) = self.validate() {
            panic!("invalid CharLmConfig: {error}");
        }
        CharLm {
            embedding: EmbeddingConfig::new(self.vocab_size, self.embedding_size).init(device),
            lstm: LstmStackConfig::new(self.embedding_size, self.hidden_size)
                .with_num_layers(self.num_layers)
                .with_dropout(self.dropout)
                .init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(self.hidden_size, self.vocab_size).init(device),
        }
    }
}

impl CharLm {
    /// Number of tokens the model knows.
    ///
    /// ```
    /// use zoo_lstm::CharLmConfig;
    ///
    /// let lm = CharLmConfig::new(12).with_hidden_size(8).init(&burn::tensor::Device::flex());
    /// assert_eq!(lm.vocab_size(), 12);
    /// ```
    pub fn vocab_size(&self) -> usize {
        self.output.weight.dims()[1]
    }

    /// Next-token logits at every step, continuing from `states` (one per layer) when given:
    /// `[batch, time] -> [batch, time, vocab]`, and the final states.
    ///
    /// ```
    /// use burn::tensor::{Device, Int, Tensor};
    /// use zoo_lstm::CharLmConfig;
    ///
    /// let device = Device::flex();
    /// let lm = CharLmConfig::new(12).with_hidden_size(8).init(&device);
    /// let (logits, states) = lm.forward(Tensor::<2, Int>::zeros([3, 7], &device), None);
    /// assert_eq!(logits.dims(), [3, 7, 12]); // [batch, time, vocab]
    /// assert_eq!(states.len(), 2); // one per layer
    /// ```
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        states: Option<Vec<LstmState<2>>>,
    ) -> (Tensor<3>, Vec<LstmState<2>>) {
        let x = self.embedding.forward(tokens); // [batch, time, embedding]
        let (hidden, states) = self.lstm.forward(x, states); // [batch, time, hidden]
        let logits = self
            .output
            .forward(zoo_kernels::dropout(&self.dropout, hidden)); // [batch, time, vocab]
        (logits, states)
    }

    /// Continues `prompt` (token ids, at least one) with `length` sampled tokens.
    ///
    /// Each token is drawn from `softmax(logits / temperature)` by a generator seeded with
    /// `seed`, so the same model, prompt, temperature and seed give the same tokens on every
    /// backend that computes the same probabilities. The LSTM state is carried from step to
    /// step: the prompt is read once, then one token per step.
    ///
    /// ```
    /// use zoo_lstm::CharLmConfig;
    ///
    /// let lm = CharLmConfig::new(12).with_hidden_size(8).init(&burn::tensor::Device::flex());
    /// let tokens = lm.generate(&[1, 2, 3], 10, 0.8, 7)?;
    /// assert_eq!(tokens.len(), 10);
    /// assert!(tokens.iter().all(|&t| t < 12));
    /// # Ok::<(), zoo_lstm::GenerateError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`GenerateError`] naming the step (0 for the first generated token) at which the
    /// probabilities cannot be sampled from: a logit that is NaN or infinite (a diverged model),
    /// or, with finite logits, a temperature so small that `logits / temperature` overflows.
    /// No token is ever made up.
    ///
    /// # Panics
    ///
    /// If `prompt` is empty, `temperature <= 0`, or a prompt id is outside the vocabulary.
    pub fn generate(
        &self,
        prompt: &[usize],
        length: usize,
        temperature: f64,
        seed: u64,
    ) -> Result<Vec<usize>, GenerateError> {
        assert!(
            !prompt.is_empty(),
            "generation needs a prompt of at least one token"
        );
        assert!(temperature > 0.0, "temperature must be positive");
        let vocab = self.vocab_size();
        assert!(
            prompt.iter().all(|&t| t < vocab),
            "prompt token outside the vocabulary"
        );
        let device = self.output.weight.device();
        let mut rng = StdRng::seed_from_u64(seed);
        let ids: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
        let mut input = Tensor::<1, Int>::from_ints(ids.as_slice(), &device).unsqueeze::<2>(); // [1, prompt]
        let mut states = None;
        let mut generated = Vec::with_capacity(length);
        for step in 0..length {
            let (logits, next) = self.forward(input, states);
            states = Some(next);
            let [_, time, _] = logits.dims();
            let last = logits.slice(s![.., time - 1, ..]).reshape([vocab]); // [vocab]
            let probs = softmax(last.clone().div_scalar(temperature), 0); // [vocab]
            let weights: Vec<f32> = probs
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 probabilities");
            let token = match WeightedIndex::new(&weights) {
                Ok(distribution) => distribution.sample(&mut rng),
                Err(_) => return Err(GenerateError::explain(step, temperature, last, &weights)),
            };
            generated.push(token);
            input = Tensor::<1, Int>::from_ints([token as i64], &device).unsqueeze::<2>();
            // [1, 1]
        }
        Ok(generated)
    }
}

/// Why [`CharLm::generate`] stopped: the next token's probabilities cannot be sampled from.
///
/// `step` counts the generated tokens, from 0: step 0 reads the prompt and draws the first one.
///
/// ```
/// use burn::module::Param;
/// use burn::tensor::Tensor;
/// use zoo_lstm::{CharLmConfig, GenerateError};
///
/// let device = burn::tensor::Device::flex();
/// let mut lm = CharLmConfig::new(12).with_hidden_size(8).init(&device);
/// // A diverged model: NaN output weights.
/// lm.output.weight = Param::from_tensor(Tensor::<2>::full([8, 12], f32::NAN, &device));
/// let error = lm.generate(&[1, 2, 3], 10, 0.8, 7).unwrap_err();
/// assert!(matches!(error, GenerateError::NonFiniteLogit { step: 0, .. }));
/// assert!(error.to_string().starts_with("step 0: the logit of token 0 is NaN"));
/// ```
#[derive(Clone, Debug, PartialEq, Error)]
pub enum GenerateError {
    /// The model gave a logit that is NaN or infinite, so softmax has no meaning (the model
    /// has diverged, or its weights are broken).
    #[error(
        "step {step}: the logit of token {token} is {value}, so there is no distribution to \
         sample the next token from (has the model diverged?)"
    )]
    NonFiniteLogit {
        /// The step that could not draw its token.
        step: usize,
        /// The first token whose logit is not finite.
        token: usize,
        /// Its logit: NaN, `inf` or `-inf`.
        value: f32,
    },
    /// The logits are finite, but `softmax(logits / temperature)` is not a distribution
    /// (NaN, or no positive probability): the temperature is too small for `f32`.
    #[error(
        "step {step}: the logits are finite but softmax(logits / {temperature:?}) is not a \
         probability distribution (the probability of token {token} is {value}); the \
         temperature is too small for f32"
    )]
    InvalidProbabilities {
        /// The step that could not draw its token.
        step: usize,
        /// The temperature the logits were divided by.
        temperature: f64,
        /// The first token whose probability is NaN, infinite or negative, or token 0 when
        /// every probability is zero.
        token: usize,
        /// Its probability.
        value: f32,
    },
}

impl GenerateError {
    /// The error for `step`, whose `logits` (`[vocab]`) gave the unusable `probabilities`.
    fn explain(step: usize, temperature: f64, logits: Tensor<1>, probabilities: &[f32]) -> Self {
        let logits: Vec<f32> = logits.into_data().try_to_vec::<f32>().expect("f32 logits");
        if let Some((token, &value)) = logits.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Self::NonFiniteLogit { step, token, value };
        }
        let (token, value) = probabilities
            .iter()
            .enumerate()
            .find(|(_, p)| !(p.is_finite() && **p >= 0.0))
            .map_or(
                (0, probabilities.first().copied().unwrap_or(0.0)),
                |(t, &p)| (t, p),
            );
        Self::InvalidProbabilities {
            step,
            temperature,
            token,
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;

    #[test]
    fn the_default_config_is_valid() {
        assert_eq!(CharLmConfig::new(65).validate(), Ok(()));
        assert_eq!(CharLmConfig::new(1).with_dropout(0.5).validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |config: CharLmConfig| config.validate().unwrap_err().field().to_string();
        let config = CharLmConfig::new(65);
        assert_eq!(field(CharLmConfig::new(0)), "vocab_size");
        assert_eq!(
            field(config.clone().with_embedding_size(0)),
            "embedding_size"
        );
        assert_eq!(field(config.clone().with_hidden_size(0)), "hidden_size");
        assert_eq!(field(config.clone().with_num_layers(0)), "num_layers");
        assert_eq!(field(config.clone().with_dropout(1.0)), "dropout");
        assert_eq!(field(config.with_dropout(-1.0)), "dropout");
    }

    #[test]
    #[should_panic(expected = "invalid CharLmConfig: num_layers: must be >= 1")]
    fn init_panics_with_the_validation_message() {
        CharLmConfig::new(12)
            .with_num_layers(0)
            .init(&Device::flex());
    }

    fn model() -> CharLm {
        CharLmConfig::new(12)
            .with_embedding_size(8)
            .with_hidden_size(16)
            .init(&Device::flex())
    }

    #[test]
    fn logits_at_every_step() {
        let device = Device::flex();
        let tokens = Tensor::<2, Int>::zeros([3, 7], &device);
        let (logits, states) = model().forward(tokens, None);
        assert_eq!(logits.dims(), [3, 7, 12]);
        assert_eq!(states.len(), 2);
    }

    #[test]
    fn generation_is_deterministic_for_a_seed() {
        let model = model();
        let a = model.generate(&[1, 2, 3], 40, 1.0, 7).unwrap();
        let b = model.generate(&[1, 2, 3], 40, 1.0, 7).unwrap();
        let c = model.generate(&[1, 2, 3], 40, 1.0, 8).unwrap();
        assert_eq!(a.len(), 40);
        assert!(a.iter().all(|&t| t < 12));
        assert_eq!(a, b);
        assert_ne!(a, c, "another seed draws other tokens");
    }

    #[test]
    fn low_temperature_picks_the_most_likely_token() {
        let model = model();
        let device = Device::flex();
        let (logits, _) = model.forward(Tensor::<2, Int>::from_ints([[4]], &device), None);
        let best: i64 = logits.reshape([12]).argmax(0).into_scalar();
        assert_eq!(model.generate(&[4], 1, 1e-4, 0), Ok(vec![best as usize]));
    }

    /// `model()` with its output weights (`[hidden, vocab]`) replaced by `value`.
    fn with_output_weights(value: f32) -> CharLm {
        let mut model = model();
        let device = Device::flex();
        model.output.weight = Param::from_tensor(Tensor::<2>::full([16, 12], value, &device));
        model
    }

    #[test]
    fn a_diverged_model_is_an_error_not_token_zero() {
        for value in [f32::NAN, f32::INFINITY] {
            let model = with_output_weights(value);
            match model.generate(&[1, 2, 3], 5, 1.0, 7) {
                Err(GenerateError::NonFiniteLogit { step, token, value }) => {
                    assert_eq!((step, token), (0, 0));
                    assert!(!value.is_finite());
                }
                other => panic!("{value} weights gave {other:?}, not a NonFiniteLogit error"),
            }
            let message = model.generate(&[1], 5, 1.0, 7).unwrap_err().to_string();
            assert!(
                message.starts_with("step 0: the logit of token 0 is"),
                "{message}"
            );
        }
    }

    #[test]
    fn the_error_names_the_step_that_failed() {
        // The output bias makes token 5 certain at the first step, and token 5's embedding is
        // NaN: the first step draws 5, the second cannot draw anything.
        let mut model = model();
        let device = Device::flex();
        let bias: Vec<f32> = (0..12).map(|t| if t == 5 { 1e3 } else { 0.0 }).collect();
        model.output.bias = Some(Param::from_tensor(Tensor::<1>::from_floats(
            bias.as_slice(),
            &device,
        )));
        model.output.weight = Param::from_tensor(Tensor::<2>::zeros([16, 12], &device));
        let table: Vec<f32> = (0..12 * 8)
            .map(|i| if i / 8 == 5 { f32::NAN } else { 0.1 })
            .collect();
        model.embedding.weight = Param::from_tensor(
            Tensor::<1>::from_floats(table.as_slice(), &device).reshape([12, 8]),
        );
        assert_eq!(model.generate(&[1], 1, 1.0, 3), Ok(vec![5]));
        let error = model.generate(&[1], 10, 1.0, 3).unwrap_err();
        assert!(
            matches!(error, GenerateError::NonFiniteLogit { step: 1, .. }),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("step 1: "), "{error}");
    }

    #[test]
    fn a_temperature_too_small_for_f32_is_an_error() {
        // Finite logits divided by 1e-300 (0 in f32) overflow, and softmax gives NaN.
        let error = model().generate(&[1, 2], 3, 1e-300, 0).unwrap_err();
        match &error {
            GenerateError::InvalidProbabilities {
                step, temperature, ..
            } => assert_eq!((*step, *temperature), (0, 1e-300)),
            other => panic!("expected InvalidProbabilities, got {other:?}"),
        }
        assert!(
            error.to_string().contains("temperature is too small"),
            "{error}"
        );
    }
}
