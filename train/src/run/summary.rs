//! `summary.json`: the final figures of a run, one type for every task.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The final figures of a run, written to `summary.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Recipe name.
    pub recipe: String,
    /// What the model learned: `classify`, `language-model`, `forecast` or `gan`.
    #[serde(default)]
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// Backend the run trained on.
    pub backend: String,
    /// Seed of the run.
    pub seed: u64,
    /// Epochs completed (fewer than asked for when early stopping fired).
    pub epochs_run: usize,
    /// Epoch with the best monitored validation metric (the last epoch for a GAN).
    pub best_epoch: usize,
    /// Wall-clock seconds of training, those before a resume included where the task records
    /// them (validation included, test excluded).
    pub train_seconds: f64,
    /// Training examples (images, windows) per second, over the training steps only.
    pub train_samples_per_second: f64,
    /// Final figures.
    pub metrics: SummaryMetrics,
    /// The run folder.
    pub run_dir: PathBuf,
    /// When the run finished, local time (RFC 3339).
    #[serde(default)]
    pub finished_at: String,
}

/// Figures of the saved model, in inference mode. Accuracies are fractions in `[0, 1]`;
/// losses are cross-entropies in nats (per image, or per character for a language model) or,
/// for a forecaster, mean squared errors. Fields a task does not have are absent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct SummaryMetrics {
    /// On the training split (classifiers and language models).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub train_accuracy: Option<f64>,
    /// Mean loss on the training split.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub train_loss: Option<f64>,
    /// On the validation split.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_accuracy: Option<f64>,
    /// Mean loss on the validation split.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_loss: Option<f64>,
    /// On the test set (absent when the run was told not to read it, as in a search).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_accuracy: Option<f64>,
    /// Mean loss on the test set (absent likewise).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_loss: Option<f64>,
    /// Language models: validation loss in bits per character.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_bits_per_char: Option<f64>,
    /// Language models: validation perplexity, `exp(valid_loss)`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_perplexity: Option<f64>,
    /// Language models: test perplexity.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_perplexity: Option<f64>,
    /// Forecasters: mean squared error on the test series.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_mse: Option<f64>,
    /// Forecasters: mean absolute error on the test series.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_mae: Option<f64>,
    /// Forecasters: test MSE of repeating the last value of each window.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub baseline_mse: Option<f64>,
    /// GANs: mean discriminator (critic) loss of the last epoch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub final_d_loss: Option<f64>,
    /// GANs: mean generator loss of the last epoch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub final_g_loss: Option<f64>,
    /// WGAN-GP: the critic's Wasserstein estimate `E[D(real)] - E[D(fake)]` in the last epoch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub final_wasserstein: Option<f64>,
    /// GANs: MNIST score of the generated samples (absent until scored).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mnist_score: Option<f64>,
    /// GANs: Fréchet distance between test-image and sample features.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub frechet_distance: Option<f64>,
    /// GANs: MNIST score of the real test images (the ceiling).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub real_mnist_score: Option<f64>,
    /// GANs: Fréchet distance between test and training images (the floor).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub real_frechet_distance: Option<f64>,
    /// GANs: everything about the scoring (classifier, sample counts).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quality: Option<QualityScores>,
}

impl SummaryMetrics {
    /// A figure by its `summary.json` name (`valid_accuracy`, `test_mse`, `mnist_score`, ...),
    /// if the run has it.
    pub fn get(&self, name: &str) -> Option<f64> {
        let value = serde_json::to_value(self).ok()?;
        value.get(name)?.as_f64()
    }
}

/// The quality figures of one generator, next to the same figures for real images (computed by
/// the experiments crate's GAN scoring).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QualityScores {
    /// `exp(E_x[KL(p(y|x) || p(y))])` over the generated samples: between 1 and the number of
    /// classes; high when each sample is clearly one class and the classes are balanced.
    pub mnist_score: f64,
    /// Fréchet distance between the features of the test images and of the samples (lower is
    /// better, 0 for identical statistics).
    pub frechet_distance: f64,
    /// The MNIST score of the test images themselves: the ceiling for a generator.
    pub real_mnist_score: f64,
    /// Fréchet distance between the test images and as many training images: the floor.
    pub real_frechet_distance: f64,
    /// Generated samples scored.
    pub samples: usize,
    /// Real test images (and training images) behind the reference figures.
    pub real_images: usize,
    /// The classifier recipe that judged them.
    pub classifier: String,
}

impl SummaryMetrics {
    /// Sets the GAN quality figures from `scores`.
    pub fn with_quality(self, scores: QualityScores) -> Self {
        Self {
            mnist_score: Some(scores.mnist_score),
            frechet_distance: Some(scores.frechet_distance),
            real_mnist_score: Some(scores.real_mnist_score),
            real_frechet_distance: Some(scores.real_frechet_distance),
            quality: Some(scores),
            ..self
        }
    }
}
