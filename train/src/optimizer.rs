//! From a recipe's `[optimizer]` table to a Burn optimizer.

use anyhow::{anyhow, Result};
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, Optimizer, SgdConfig};

use crate::max_norm::MaxNorm;

use crate::recipe::{OptimizerKind, OptimizerSpec, Schedule};

/// Builds the optimizer a recipe names (the learning rate is applied by the scheduler), with
/// gradient clipping when `grad_clip` is set, wrapped in the max-norm constraint when
/// `max_norm` is set.
pub fn build(spec: &OptimizerSpec, max_norm: Option<f64>) -> ModuleOptimizer {
    let decay = (spec.weight_decay > 0.0).then(|| WeightDecayConfig::new(spec.weight_decay as f32));
    let clip = spec
        .grad_clip
        .map(|max| GradientClippingConfig::Norm(max as f32));
    match spec.kind {
        // PyTorch's epsilon, so results compare with the reference scripts.
        OptimizerKind::Adam => constrained(
            AdamConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(decay)
                .with_grad_clipping(clip)
                .build(),
            max_norm,
        ),
        OptimizerKind::Adamw => constrained(
            AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(spec.weight_decay as f32)
                .with_grad_clipping(clip)
                .build(),
            max_norm,
        ),
        OptimizerKind::Sgd => constrained(
            SgdConfig::new()
                .with_weight_decay(decay)
                .with_momentum((spec.momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(spec.momentum)
                        .with_dampening(0.0)
                }))
                .with_gradient_clipping(clip)
                .build(),
            max_norm,
        ),
    }
}

fn constrained<O: Optimizer>(optimizer: O, max_norm: Option<f64>) -> ModuleOptimizer {
    match max_norm {
        Some(max) => MaxNorm::new(optimizer, max).into(),
        None => optimizer.into(),
    }
}

/// The learning-rate schedule of a run of `total_steps` optimizer steps.
pub fn schedule(spec: &OptimizerSpec, total_steps: usize) -> Result<ModuleLrScheduler> {
    match spec.schedule {
        Schedule::Constant => Ok(spec.lr.into()),
        Schedule::Cosine => CosineAnnealingLrSchedulerConfig::new(spec.lr, total_steps.max(1))
            .init()
            .map_err(|e| anyhow!("key 'optimizer.schedule': {e}")),
    }
}
