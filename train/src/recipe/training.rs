//! The `[training]` and `[regularization]` tables of a recipe: budget, seed, early stopping and
//! the loss-side regularizers.

use serde::{Deserialize, Serialize};

/// Training budget and control.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// Number of epochs, >= 1.
    pub epochs: usize,
    /// Mini-batch size, >= 1.
    pub batch_size: usize,
    /// Seed for weights, shuffling, dropout and the validation split.
    #[serde(default)]
    pub seed: u64,
    /// Stop when the monitored validation metric has not improved for this many epochs, and
    /// keep the best epoch's weights. Off when absent.
    #[serde(default)]
    pub early_stopping_patience: Option<usize>,
    /// What "best epoch" means: `valid-accuracy` (default, higher is better) or `valid-loss`.
    #[serde(default)]
    pub monitor: Monitor,
}

/// The validation metric that picks the best epoch (for early stopping and `best_epoch`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// Validation accuracy, higher is better.
    #[default]
    ValidAccuracy,
    /// Validation loss, lower is better.
    ValidLoss,
}

/// Regularizers applied by the training step and the optimizer. Dropout lives in `[model]`,
/// weight decay in `[optimizer]`, augmentation in `[data.augment]`, early stopping in
/// `[training]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RegularizationSpec {
    /// L1 penalty `l1 * sum |w|` on weight matrices and kernels (not biases or norms), >= 0.
    pub l1: f64,
    /// Explicit L2 penalty `l2 / 2 * sum w^2` on the same weights, >= 0 (its gradient is
    /// `l2 * w`, the coupled weight decay of the same strength).
    pub l2: f64,
    /// Max-norm: each unit's incoming weight vector is kept at norm <= this after every step.
    pub max_norm: Option<f64>,
    /// Label smoothing of the training cross-entropy, in `[0, 1)`.
    pub label_smoothing: f64,
}

impl RegularizationSpec {
    /// Whether every regularizer of this table is off.
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }
}
