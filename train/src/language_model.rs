//! The character language-model task: the trainable wrapper, its data and its evaluation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use zoo_datasets::{
    load_text_file, CharCorpus, DataSource, TextWindows, TokenBatch, TokenBatcher, Vocabulary,
    TINY_SHAKESPEARE, TINY_SHAKESPEARE_MIRRORS,
};
use zoo_lstm::CharLm;

use crate::evaluate::Evaluation;
use crate::history::write_atomically;
use crate::recipe::{DataSpec, ModelSpec};

/// Characters per training window when the recipe does not say.
pub const DEFAULT_WINDOW: usize = 128;

/// File holding a language-model run's vocabulary (its characters, in id order).
pub const VOCABULARY_FILE: &str = "vocabulary.json";

/// A [`CharLm`] wired into burn-train: next-character cross-entropy at every step.
#[derive(Module, Debug)]
pub struct LanguageModel {
    /// The network.
    pub lm: CharLm,
}

impl LanguageModel {
    /// A fresh model for `vocab_size` characters, as the recipe's `[model]` says.
    pub fn new(spec: &ModelSpec, vocab_size: usize, device: &Device) -> Self {
        let config = spec
            .char_lm_config(vocab_size)
            .expect("recipes pair text datasets with char-lstm models only");
        Self {
            lm: config.init(device),
        }
    }

    /// Logits of every step, flattened to `[batch * time, vocab]`, with their targets and the
    /// mean cross-entropy in nats per character.
    pub fn forward_classification(&self, batch: TokenBatch) -> ClassificationOutput {
        let (logits, _) = self.lm.forward(batch.inputs, None); // [batch, time, vocab]
        let [b, t, v] = logits.dims();
        let logits = logits.reshape([b * t, v]); // [batch * time, vocab]
        let targets = batch.targets.reshape([b * t]); // [batch * time]
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), targets.clone()); // [1]
        ClassificationOutput::new(loss, logits, targets)
    }
}

impl TrainStep for LanguageModel {
    type Input = TokenBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: TokenBatch) -> TrainOutput<ClassificationOutput> {
        let item = self.forward_classification(batch);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl InferenceStep for LanguageModel {
    type Input = TokenBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: TokenBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}

/// The corpus of a recipe's `[data]` table, split 90 / 5 / 5.
pub fn load_corpus(spec: &DataSpec, data_dir: Option<PathBuf>) -> Result<CharCorpus> {
    let text = load_text_file(
        "tinyshakespeare",
        &TINY_SHAKESPEARE,
        TINY_SHAKESPEARE_MIRRORS,
        &DataSource::from_env(data_dir),
    )
    .context("loading dataset 'tinyshakespeare'")?;
    let text = match spec.max_chars {
        Some(n) => text.chars().take(n).collect(),
        None => text,
    };
    Ok(CharCorpus::from_text(&text, 0.9, 0.05)?)
}

/// Evaluates `model` on every window of `tokens` (each window starts from a zero state): mean
/// loss in nats per character and next-character accuracy.
pub fn evaluate_text(
    model: &LanguageModel,
    tokens: Arc<Vec<u16>>,
    window: usize,
    batch_size: usize,
    device: &Device,
) -> Evaluation {
    let windows = TextWindows::new(tokens, window);
    let (mut loss_sum, mut correct, mut count) = (0.0f64, 0usize, 0usize);
    let indices: Vec<usize> = (0..windows.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let items = chunk.iter().filter_map(|&i| windows.get(i).ok()).collect();
        let output = model.forward_classification(TokenBatcher.batch(items, device));
        let n = output.targets.dims()[0];
        loss_sum += output.loss.into_scalar::<f32>() as f64 * n as f64;
        let predicted = output.output.argmax(1).flatten::<1>(0, 1); // [n]
        let hits: i64 = predicted.equal(output.targets).int().sum().into_scalar();
        correct += hits as usize;
        count += n;
    }
    let n = count.max(1) as f64;
    Evaluation {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
    }
}

/// Saves a run's vocabulary next to its model.
pub fn save_vocabulary(run_dir: &Path, vocabulary: &Vocabulary) -> Result<()> {
    let chars: String = vocabulary.chars().iter().collect();
    let json = serde_json::to_string(&chars)?;
    write_atomically(&run_dir.join(VOCABULARY_FILE), json.as_bytes())
}

/// Reads a run's vocabulary.
pub fn load_vocabulary(run_dir: &Path) -> Result<Vocabulary> {
    let path = run_dir.join(VOCABULARY_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is it a language-model run?)",
            path.display()
        )
    })?;
    let chars: String = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a vocabulary file", path.display()))?;
    Ok(Vocabulary::from_chars(chars.chars().collect()))
}
