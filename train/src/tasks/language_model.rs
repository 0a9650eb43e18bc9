//! Character language modelling: an LSTM reads text and predicts the next character. The
//! task's data (a corpus split 90 / 5 / 5 in order, in windows), its trainable wrapper, its
//! evaluation in nats per character, the run's vocabulary file, and text generation.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{
    ClassificationOutput, InferenceStep, SupervisedTraining, TrainOutput, TrainStep,
};
use zoo_datasets::{
    load_text_file, CharCorpus, DataSource, TextWindows, TokenBatch, TokenBatcher, Vocabulary,
    TINY_SHAKESPEARE, TINY_SHAKESPEARE_MIRRORS,
};
use zoo_lstm::CharLm;

use crate::recipe::{DataSpec, ModelSpec, Recipe, Task as TaskKind};
use crate::run::driver::{FitStats, Run, Task};
use crate::run::epoch_seed::{EpochClock, EpochShuffled};
use crate::run::folder::{files, CheckpointLayout, RunFolder, SUPERVISED_CHECKPOINT};
use crate::run::history::BestBy;
use crate::run::options::RunOptions;
use crate::run::summary::SummaryMetrics;
use crate::run::supervised::{fit, Fittable, Loaders, SupervisedEpoch};

use super::classify::{classification_metrics, eval_batch, Evaluation};

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

impl Fittable for LanguageModel {
    fn with_metrics(training: SupervisedTraining<Self>) -> SupervisedTraining<Self> {
        training.metrics((AccuracyMetric::new(), LossMetric::new()))
    }
}

/// The corpus of a recipe's `[data]` table, split 90 / 5 / 5.
pub fn load_corpus(spec: &DataSpec, data_dir: Option<&Path>) -> Result<CharCorpus> {
    let text = load_text_file(
        "tinyshakespeare",
        &TINY_SHAKESPEARE,
        TINY_SHAKESPEARE_MIRRORS,
        &DataSource::from_env(data_dir.map(Path::to_path_buf)),
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
pub fn save_vocabulary(folder: &RunFolder, vocabulary: &Vocabulary) -> Result<()> {
    let chars: String = vocabulary.chars().iter().collect();
    let json = serde_json::to_string(&chars)?;
    folder.write(VOCABULARY_FILE, json.as_bytes())
}

/// Reads a run's vocabulary.
pub fn load_vocabulary(folder: &RunFolder) -> Result<Vocabulary> {
    let path = folder.file(VOCABULARY_FILE);
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

/// A fresh language model for the corpus's vocabulary and its loaders of windows (training
/// windows shuffled anew each epoch of `clock`).
pub fn setup(
    recipe: &Recipe,
    corpus: &CharCorpus,
    device: &Device,
    clock: &EpochClock,
) -> (LanguageModel, Loaders<LanguageModel>) {
    let window = recipe.data.text_window();
    device.seed(recipe.training.seed);
    let model = LanguageModel::new(&recipe.model, corpus.vocabulary.len(), device);
    let train = Arc::new(TextWindows::new(corpus.train.clone(), window));
    let loaders = (
        DataLoaderBuilder::new(TokenBatcher)
            .batch_size(recipe.training.batch_size)
            .build(EpochShuffled::new(train, clock.clone())),
        DataLoaderBuilder::new(TokenBatcher)
            .batch_size(recipe.training.batch_size)
            .build(TextWindows::new(corpus.valid.clone(), window)),
    );
    (model, loaders)
}

/// The character language-model task, for the run driver.
pub(crate) struct LanguageModelling;

impl Task for LanguageModelling {
    type Data = CharCorpus;
    type Model = LanguageModel;
    type Epoch = SupervisedEpoch;
    const CHECKPOINT: CheckpointLayout = SUPERVISED_CHECKPOINT;

    fn load_data(recipe: &Recipe, options: &RunOptions) -> Result<CharCorpus> {
        let mut corpus = load_corpus(&recipe.data, options.data_dir.as_deref())?;
        if options.dry_run {
            let cut = |t: &Arc<Vec<u16>>, n: usize| Arc::new(t[..t.len().min(n)].to_vec());
            let n = recipe.training.batch_size * recipe.data.text_window() * 3 + 1;
            corpus.train = cut(&corpus.train, n);
            corpus.valid = cut(&corpus.valid, n);
            corpus.test = cut(&corpus.test, n);
        }
        Ok(corpus)
    }

    fn describe(recipe: &Recipe, corpus: &CharCorpus) -> String {
        format!(
            "{} / {} / {} characters, vocabulary {}, windows of {}",
            corpus.train.len(),
            corpus.valid.len(),
            corpus.test.len(),
            corpus.vocabulary.len(),
            recipe.data.text_window()
        )
    }

    fn best_by(recipe: &Recipe) -> Option<BestBy> {
        Some(recipe.training.monitor.into())
    }

    fn fit(
        run: &mut Run<SupervisedEpoch>,
        corpus: &CharCorpus,
    ) -> Result<(LanguageModel, FitStats)> {
        save_vocabulary(&run.folder, &corpus.vocabulary)?;
        let device = run.device.clone().autodiff();
        let (model, loaders) = setup(&run.recipe, corpus, &device, &run.clock);
        let windows = TextWindows::new(corpus.train.clone(), run.recipe.data.text_window()).len();
        fit(model, loaders, windows, run)
    }

    fn finish(
        run: &Run<SupervisedEpoch>,
        model: &LanguageModel,
        corpus: &CharCorpus,
    ) -> Result<SummaryMetrics> {
        let (window, batch) = (run.recipe.data.text_window(), eval_batch(&run.recipe));
        let eval = |tokens: &Arc<Vec<u16>>| {
            evaluate_text(model, tokens.clone(), window, batch, &run.device)
        };
        let (train, valid) = (eval(&corpus.train), eval(&corpus.valid));
        let test = (!run.options.skip_test).then(|| eval(&corpus.test));
        run.folder.save_module(files::MODEL, model)?;
        Ok(SummaryMetrics {
            valid_bits_per_char: Some(valid.loss / std::f64::consts::LN_2),
            valid_perplexity: Some(valid.loss.exp()),
            test_perplexity: test.map(|e| e.loss.exp()),
            ..classification_metrics(train, valid, test)
        })
    }
}

/// Reads a language-model run back: recipe, trained model and vocabulary.
pub fn load_language_model(
    run_dir: &Path,
    device: &Device,
) -> Result<(Recipe, LanguageModel, Vocabulary)> {
    let folder = RunFolder::open(run_dir)?;
    let recipe = folder.read_recipe_for(
        TaskKind::CharLm,
        "this command needs a language-model run (e.g. lstm-shakespeare)",
    )?;
    let vocabulary = load_vocabulary(&folder)?;
    let model = LanguageModel::new(&recipe.model, vocabulary.len(), device);
    let model = folder.load_module(files::MODEL, model)?;
    Ok((recipe, model, vocabulary))
}

/// Continues `prompt` with `length` characters sampled from a language-model run at
/// `temperature` (> 0), seeded by `seed`: the same seed gives the same text.
pub fn generate(
    run_dir: &Path,
    prompt: &str,
    length: usize,
    temperature: f64,
    seed: u64,
    device: &Device,
) -> Result<String> {
    if !(temperature > 0.0 && temperature.is_finite()) {
        bail!("--temperature must be > 0, got {temperature}");
    }
    let (_, model, vocabulary) = load_language_model(run_dir, device)?;
    if prompt.is_empty() {
        bail!("--prompt must hold at least one character");
    }
    let ids = vocabulary.encode(prompt).map_err(|c| {
        anyhow::anyhow!(
            "the prompt holds {c:?}, which the model's vocabulary ({} characters) does not know",
            vocabulary.len()
        )
    })?;
    let generated = model.lm.generate(&ids, length, temperature, seed)?;
    Ok(format!("{prompt}{}", vocabulary.decode(&generated)))
}
