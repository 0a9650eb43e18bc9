//! From a recipe's `[optimizer]` table to a Burn optimizer and learning-rate schedule, with the
//! max-norm constraint.

pub mod max_norm;

use anyhow::{anyhow, Result};
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::lr_scheduler::LrSchedulerConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, Optimizer, SgdConfig};

use zoo_kernels::FusedAdam;

use crate::recipe::{OptimizerKind, OptimizerSpec, Schedule};

use max_norm::MaxNorm;

/// Builds the optimizer a recipe names (the learning rate is applied by the scheduler), with
/// gradient clipping when `grad_clip` is set, wrapped in the max-norm constraint when
/// `max_norm` is set.
pub fn build(spec: &OptimizerSpec, max_norm: Option<f64>) -> ModuleOptimizer {
    let decay = (spec.weight_decay > 0.0).then(|| WeightDecayConfig::new(spec.weight_decay as f32));
    let optimizer = match spec.kind {
        // PyTorch's epsilon, so results compare with the reference scripts.
        // One pass per parameter on flex (zoo_kernels::adam); Burn's Adam for weight decay.
        OptimizerKind::Adam if decay.is_none() => constrained(FusedAdam::new(1e-8), max_norm),
        OptimizerKind::Adam => constrained(
            AdamConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(decay)
                .build(),
            max_norm,
        ),
        OptimizerKind::Adamw => constrained(
            AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(spec.weight_decay as f32)
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
                .build(),
            max_norm,
        ),
    };
    // The configs' `build()` leaves clipping out (only their `init()` adds it): add it here.
    match spec.grad_clip {
        Some(max) => optimizer.with_grad_clipping(GradientClippingConfig::Norm(max as f32).init()),
        None => optimizer,
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
        Schedule::OneCycle => {
            let (peak, total) = (spec.lr, total_steps.max(2));
            let rise = ((total as f64 * 0.3).round() as usize).clamp(1, total - 1);
            SequentialLrSchedulerConfig::new(
                vec![
                    LrSchedulerConfig::Linear(LinearLrSchedulerConfig::new(
                        peak / 25.0,
                        peak,
                        rise,
                    )),
                    LrSchedulerConfig::Cosine(
                        CosineAnnealingLrSchedulerConfig::new(peak, total - rise)
                            .with_min_lr(peak / 25e4),
                    ),
                ],
                vec![rise],
            )
            .init()
            .map_err(|e| anyhow!("key 'optimizer.schedule': {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::optim::GradientsParams;
    use burn::prelude::*;

    /// The L2 norm of the change one SGD step (learning rate 1) makes to a linear layer's
    /// weight, under a gradient of norm ~700.
    fn step_norm(grad_clip: Option<f64>) -> f32 {
        let device = Device::flex().autodiff();
        let layer = LinearConfig::new(4, 3).init(&device);
        let before = layer.weight.val().inner();
        let loss = layer
            .forward(Tensor::<2>::ones([2, 4], &device) * 100.0)
            .sum();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        let spec = OptimizerSpec {
            kind: OptimizerKind::Sgd,
            lr: 1.0,
            momentum: 0.0,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            grad_clip,
        };
        let after = build(&spec, None)
            .step(1.0, layer, grads)
            .weight
            .val()
            .inner();
        (after - before)
            .powi_scalar(2)
            .sum()
            .sqrt()
            .into_scalar::<f32>()
    }

    #[test]
    fn grad_clip_bounds_each_step() {
        assert!(step_norm(None) > 100.0);
        let clipped = step_norm(Some(0.5));
        assert!((clipped - 0.5).abs() < 1e-4, "clipped step {clipped}");
    }

    #[test]
    fn one_cycle_rises_for_thirty_percent_of_the_steps_then_falls_to_a_ten_thousandth() {
        let spec = OptimizerSpec {
            kind: OptimizerKind::Adam,
            lr: 0.01,
            momentum: 0.0,
            weight_decay: 0.0,
            schedule: Schedule::OneCycle,
            grad_clip: None,
        };
        let mut scheduler = schedule(&spec, 100).unwrap();
        let lrs: Vec<f64> = (0..100).map(|_| scheduler.step().base()).collect();
        assert!(
            (lrs[0] - 0.01 / 25.0).abs() < 1e-12,
            "starts at lr/25: {}",
            lrs[0]
        );
        let peak = (0..100).max_by(|&a, &b| lrs[a].total_cmp(&lrs[b])).unwrap();
        assert!((29..=31).contains(&peak), "peak at step {peak}");
        assert!((lrs[peak] - 0.01).abs() < 1e-9, "peak {}", lrs[peak]);
        assert!(
            lrs[..peak].windows(2).all(|w| w[0] < w[1]),
            "rises: {lrs:?}"
        );
        assert!(
            lrs[peak..].windows(2).all(|w| w[0] >= w[1]),
            "falls: {lrs:?}"
        );
        assert!(lrs[99] < 0.01 / 1000.0, "ends near lr/25e4: {}", lrs[99]);
    }
}
