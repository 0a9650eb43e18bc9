use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig, LstmState,
};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use rand::distr::{weighted::WeightedIndex, Distribution};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::{LstmStack, LstmStackConfig};

/// Configuration of a [`CharLm`]: embedding, LSTM layers, a linear map back to the vocabulary.
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
    /// Builds the model with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> CharLm {
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
    pub fn vocab_size(&self) -> usize {
        self.output.weight.dims()[1]
    }

    /// Next-token logits at every step, continuing from `states` (one per layer) when given:
    /// `[batch, time] -> [batch, time, vocab]`, and the final states.
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
