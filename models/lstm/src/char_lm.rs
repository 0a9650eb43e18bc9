use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig, LstmState,
};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use rand::distr::{weighted::WeightedIndex, Distribution};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::error::{positive, probability};
use crate::{ConfigError, LstmStack, LstmStackConfig};

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
    /// let tokens = lm.generate(&[1, 2, 3], 10, 0.8, 7);
    /// assert_eq!(tokens.len(), 10);
    /// assert!(tokens.iter().all(|&t| t < 12));
    /// ```
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
    ) -> Vec<usize> {
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
        for _ in 0..length {
            let (logits, next) = self.forward(input, states);
            states = Some(next);
            let [_, time, _] = logits.dims();
            let last = logits.slice(s![.., time - 1, ..]).reshape([vocab]); // [vocab]
            let probs = softmax(last.div_scalar(temperature), 0); // [vocab]
            let weights: Vec<f32> = probs
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 probabilities");
            let token = WeightedIndex::new(&weights)
                .map(|w| w.sample(&mut rng))
                .unwrap_or(0);
            generated.push(token);
            input = Tensor::<1, Int>::from_ints([token as i64], &device).unsqueeze::<2>();
            // [1, 1]
        }
        generated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let a = model.generate(&[1, 2, 3], 40, 1.0, 7);
        let b = model.generate(&[1, 2, 3], 40, 1.0, 7);
        let c = model.generate(&[1, 2, 3], 40, 1.0, 8);
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
        assert_eq!(model.generate(&[4], 1, 1e-4, 0), vec![best as usize]);
    }
}
