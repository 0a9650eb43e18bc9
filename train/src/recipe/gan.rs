//! The `[gan]` table of a recipe: how the adversarial game is played.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The adversarial objectives a recipe can name.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GanLoss {
    /// Non-saturating binary cross-entropy (Goodfellow et al. 2014): D maximizes
    /// log D(x) + log(1 - D(G(z))), G maximizes log D(G(z)).
    #[default]
    Bce,
    /// Least squares (LSGAN, Mao et al. 2017): targets 1 for real, 0 for fake.
    LeastSquares,
    /// Wasserstein loss with gradient penalty (Gulrajani et al. 2017).
    WganGp,
}

/// Settings of adversarial training; the networks are in `[model]` (`kind = "gan"`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GanSpec {
    /// The objective.
    pub loss: GanLoss,
    /// Generator learning rate (the recipe's `optimizer.lr` when absent).
    pub generator_lr: Option<f64>,
    /// Discriminator (critic) learning rate (`optimizer.lr` when absent).
    pub discriminator_lr: Option<f64>,
    /// Adam's beta1 for both networks (0.5 in DCGAN, 0.0 in WGAN-GP).
    pub beta1: f64,
    /// Adam's beta2 for both networks.
    pub beta2: f64,
    /// Discriminator steps per generator step.
    pub n_critic: usize,
    /// Weight of the gradient penalty (WGAN-GP only).
    pub gp_weight: f64,
    /// Images in the per-epoch sample grid (a square number reads best).
    pub grid_samples: usize,
    /// Samples scored at the end of training (MNIST score, Fréchet distance); 0 skips it.
    pub quality_samples: usize,
    /// The classifier recipe that scores samples (trained on first use, then cached).
    pub quality_classifier: String,
}

impl Default for GanSpec {
    fn default() -> Self {
        Self {
            loss: GanLoss::Bce,
            generator_lr: None,
            discriminator_lr: None,
            beta1: 0.5,
            beta2: 0.999,
            n_critic: 1,
            gp_weight: 10.0,
            grid_samples: 64,
            quality_samples: 10_000,
            quality_classifier: "cnn-mnist".to_string(),
        }
    }
}

impl GanSpec {
    /// Checks every value; errors name the key.
    pub fn validate(&self) -> Result<()> {
        for (key, lr) in [
            ("gan.generator_lr", self.generator_lr),
            ("gan.discriminator_lr", self.discriminator_lr),
        ] {
            if let Some(lr) = lr {
                if !(lr > 0.0 && lr.is_finite()) {
                    bail!("key '{key}': must be > 0, got {lr}");
                }
            }
        }
        for (key, beta) in [("gan.beta1", self.beta1), ("gan.beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                bail!("key '{key}': must be in [0, 1), got {beta}");
            }
        }
        if self.n_critic == 0 {
            bail!("key 'gan.n_critic': must be >= 1");
        }
        if !(self.gp_weight >= 0.0 && self.gp_weight.is_finite()) {
            bail!("key 'gan.gp_weight': must be >= 0, got {}", self.gp_weight);
        }
        if self.grid_samples == 0 {
            bail!("key 'gan.grid_samples': must be >= 1");
        }
        Ok(())
    }
}
