//! The one place a recipe is checked. Serde has already refused unknown keys and wrong types;
//! this checks values and how the tables fit together. The networks are checked by their own
//! crates' `validate()` (through [`ModelSpec::validate`]). Every error names the key.

use anyhow::{bail, Result};

use super::data::{DataKind, DataSpec};
use super::gan::{GanLoss, GanSpec};
use super::model::{GanArchitecture, ModelSpec, Task};
use super::optimizer::{OptimizerKind, OptimizerSpec, Schedule};
use super::training::{Monitor, RegularizationSpec, TrainingSpec};

/// The tables of a recipe, borrowed for checking.
pub(super) struct Tables<'a> {
    pub model: &'a ModelSpec,
    pub data: &'a DataSpec,
    pub optimizer: &'a OptimizerSpec,
    pub training: &'a TrainingSpec,
    pub regularization: &'a RegularizationSpec,
    pub gan: Option<&'a GanSpec>,
}

impl Tables<'_> {
    /// Checks every value of the recipe; the error names the offending key.
    pub(super) fn validate(&self) -> Result<()> {
        let task = self.model.task();
        if task.reads() != self.data.dataset.kind() {
            bail!(
                "key 'data.dataset': a '{}' model cannot train on '{}' ({})",
                self.model.kind_name(),
                self.data.dataset,
                task.expects()
            );
        }
        self.model.validate(self.data)?;
        self.validate_data()?;
        self.validate_optimizer()?;
        self.validate_training(task)?;
        match (self.gan, task) {
            (Some(gan), Task::Gan) => gan.validate()?,
            (Some(_), _) => {
                bail!("key 'gan': only GAN recipes ([model] kind = \"gan\") take a [gan] table")
            }
            (None, _) => {}
        }
        if task == Task::Gan {
            self.validate_gan()?;
        }
        self.validate_used_keys(task)
    }

    /// Keys the task would silently ignore are refused: a regularizer that is not applied is
    /// worse than none.
    fn validate_used_keys(&self, task: Task) -> Result<()> {
        let (reg, optimizer, training) = (self.regularization, self.optimizer, self.training);
        let mut ignored: Vec<&str> = Vec::new();
        let mut unused = |key: &'static str, set: bool| {
            if set {
                ignored.push(key);
            }
        };
        // The loss-side regularizers belong to the image classifier's training step.
        let classifier = task == Task::ImageClassification;
        unused("regularization.l1", !classifier && reg.l1 != 0.0);
        unused("regularization.l2", !classifier && reg.l2 != 0.0);
        unused(
            "regularization.label_smoothing",
            !classifier && reg.label_smoothing != 0.0,
        );
        unused("data.augment", !classifier && !self.data.augment.is_off());
        unused(
            "data.train_subset",
            task.reads() != DataKind::Images && self.data.train_subset.is_some(),
        );
        // The adversarial loop has its own two Adam optimizers and no validation epochs.
        let gan = task == Task::Gan;
        unused("optimizer.grad_clip", gan && optimizer.grad_clip.is_some());
        unused(
            "optimizer.weight_decay",
            gan && optimizer.weight_decay != 0.0,
        );
        unused("optimizer.momentum", gan && optimizer.momentum != 0.0);
        unused("regularization.max_norm", gan && reg.max_norm.is_some());
        unused(
            "training.early_stopping_patience",
            gan && training.early_stopping_patience.is_some(),
        );
        unused(
            "training.monitor",
            gan && training.monitor != Monitor::default(),
        );
        match ignored.first() {
            Some(key) => bail!(
                "key '{key}': a {} recipe does not use it; remove it",
                task.name()
            ),
            None => Ok(()),
        }
    }

    /// `[data]`: the split, the augmentation, and the sequence keys, which belong to sequence
    /// datasets only.
    fn validate_data(&self) -> Result<()> {
        let data = self.data;
        probability("data.valid_fraction", data.valid_fraction)?;
        data.augment
            .validate()
            .map_err(|e| anyhow::anyhow!("key 'data.augment': {e}"))?;
        if data.train_subset == Some(0) {
            bail!("key 'data.train_subset': must be >= 1");
        }
        let kind = data.dataset.kind();
        let unused = |key: &str, set: bool| -> Result<()> {
            if set {
                bail!("key 'data.{key}': not used by dataset '{}'", data.dataset);
            }
            Ok(())
        };
        if kind != DataKind::Text {
            unused("max_chars", data.max_chars.is_some())?;
        }
        if kind != DataKind::Series {
            unused("horizon", data.horizon.is_some())?;
            unused("series", data.series.is_some())?;
        }
        if kind == DataKind::Images {
            unused("window", data.window.is_some())?;
        }
        for (key, value) in [
            ("window", data.window),
            ("horizon", data.horizon),
            ("max_chars", data.max_chars),
        ] {
            if value == Some(0) {
                bail!("key 'data.{key}': must be >= 1");
            }
        }
        if let Some(series) = &data.series {
            series
                .validate()
                .map_err(|e| anyhow::anyhow!("key 'data.series': {e}"))?;
        }
        Ok(())
    }

    /// `[optimizer]` and `[regularization]`.
    fn validate_optimizer(&self) -> Result<()> {
        let optimizer = self.optimizer;
        if !(optimizer.lr > 0.0 && optimizer.lr.is_finite()) {
            bail!("key 'optimizer.lr': must be > 0, got {}", optimizer.lr);
        }
        if optimizer.schedule != Schedule::Constant && optimizer.lr > 1.0 {
            bail!(
                "key 'optimizer.lr': the {} schedule needs lr <= 1, got {}",
                optimizer.schedule.name(),
                optimizer.lr
            );
        }
        probability("optimizer.momentum", optimizer.momentum)?;
        non_negative("optimizer.weight_decay", optimizer.weight_decay)?;
        if let Some(clip) = optimizer.grad_clip {
            if !(clip > 0.0 && clip.is_finite()) {
                bail!("key 'optimizer.grad_clip': must be > 0, got {clip}");
            }
        }
        let reg = self.regularization;
        non_negative("regularization.l1", reg.l1)?;
        non_negative("regularization.l2", reg.l2)?;
        if let Some(max) = reg.max_norm {
            if !(max > 0.0 && max.is_finite()) {
                bail!("key 'regularization.max_norm': must be > 0, got {max}");
            }
        }
        probability("regularization.label_smoothing", reg.label_smoothing)
    }

    /// `[training]`.
    fn validate_training(&self, task: Task) -> Result<()> {
        let training = self.training;
        if training.epochs == 0 {
            bail!("key 'training.epochs': must be >= 1");
        }
        if training.batch_size == 0 {
            bail!("key 'training.batch_size': must be >= 1");
        }
        if training.early_stopping_patience == Some(0) {
            bail!("key 'training.early_stopping_patience': must be >= 1");
        }
        if task == Task::Forecast && training.monitor == Monitor::ValidAccuracy {
            bail!("key 'training.monitor': a forecaster has no accuracy; use \"valid-loss\"");
        }
        Ok(())
    }

    /// What the adversarial loop supports: Adam at a constant rate, and no batch norm in a
    /// WGAN-GP critic (its gradient penalty is per sample).
    fn validate_gan(&self) -> Result<()> {
        if self.optimizer.kind != OptimizerKind::Adam {
            bail!(
                "key 'optimizer.kind': GAN training uses Adam (betas in gan.beta1 and gan.beta2)"
            );
        }
        if self.optimizer.schedule != Schedule::Constant {
            bail!("key 'optimizer.schedule': GAN training uses a constant learning rate");
        }
        let gan = self.gan.cloned().unwrap_or_default();
        if let ModelSpec::Gan {
            architecture,
            discriminator_batch_norm,
            conditional,
            ..
        } = self.model
        {
            if gan.loss == GanLoss::WganGp && conditional.unwrap_or(false) {
                bail!("key 'model.conditional': the conditional GAN trains with the bce or least-squares loss, not wgan-gp");
            }
            let batch_norm =
                *architecture == GanArchitecture::Dcgan && discriminator_batch_norm.unwrap_or(true);
            if gan.loss == GanLoss::WganGp && batch_norm {
                bail!("key 'model.discriminator_batch_norm': WGAN-GP's gradient penalty is not defined with batch norm in the critic; set it to false");
            }
        }
        Ok(())
    }
}

/// Checks that `value` is a probability usable for dropout or a split: in `[0, 1)`.
fn probability(key: &str, value: f64) -> Result<()> {
    if !(0.0..1.0).contains(&value) {
        bail!("key '{key}': must be in [0, 1), got {value}");
    }
    Ok(())
}

/// Checks that `value` is finite and at least 0.
fn non_negative(key: &str, value: f64) -> Result<()> {
    if !(value >= 0.0 && value.is_finite()) {
        bail!("key '{key}': must be >= 0, got {value}");
    }
    Ok(())
}
