//! The `[optimizer]` table of a recipe.

use serde::{Deserialize, Serialize};

/// The optimizer and its learning rate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    /// `adam`, `adamw` or `sgd`.
    pub kind: OptimizerKind,
    /// Learning rate, > 0.
    pub lr: f64,
    /// Momentum for SGD, in `[0, 1)`.
    #[serde(default)]
    pub momentum: f64,
    /// Weight decay (decoupled for AdamW, L2 for the others), >= 0.
    #[serde(default)]
    pub weight_decay: f64,
    /// How the learning rate moves during training.
    #[serde(default)]
    pub schedule: Schedule,
    /// Rescale each parameter tensor's gradient whenever its L2 norm exceeds this (Burn's norm
    /// clipping, per tensor); the usual guard against exploding gradients in recurrent nets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<f64>,
}

/// Learning-rate schedules, applied per optimizer step.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// `lr` throughout.
    #[default]
    Constant,
    /// Cosine decay from `lr` to 0 over the whole run (Loshchilov & Hutter, without restarts).
    Cosine,
    /// One cycle (Smith & Topin), with PyTorch `OneCycleLR`'s defaults: the first 30% of the
    /// steps rise linearly from `lr / 25` to `lr`, the rest fall along a cosine to `lr / 25e4`.
    /// `lr` is the peak: a one-cycle run takes a higher one than a constant run.
    OneCycle,
}

impl Schedule {
    /// The name a recipe uses (`optimizer.schedule`).
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
            Schedule::OneCycle => "one-cycle",
        }
    }
}

/// The optimizers a recipe can name.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba), epsilon 1e-8 as in PyTorch.
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// Stochastic gradient descent, optionally with momentum.
    Sgd,
}
