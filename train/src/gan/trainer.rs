//! The adversarial training loop: `train_gan(&Recipe, &RunOptions) -> GanSummary`.
//!
//! One loop serves every GAN recipe: the loss (`[gan] loss`) decides how the discriminator's raw
//! scores become the two objectives. A run writes the same kind of folder as a supervised run:
//! `recipe.toml`, a checkpoint every epoch (generator, discriminator and both optimizer states;
//! the last two are kept, so `--resume` continues from the last complete epoch), `metrics.csv`
//! and `curves.png` after every epoch, a sample grid per epoch under `samples/`, and at the end
//! `generator.bpk`, `discriminator.bpk` and `summary.json` with the sample-quality scores.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::store::ModuleRecord;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use zoo_datasets::ImageSet;
use zoo_gan::{gradient_penalty, Discriminator, DiscriminatorConfig, Generator, GeneratorConfig};

use super::grid::save_grid;
use super::history::{write_history, GanEpoch};
use super::progress::Progress;
use super::quality::{self, QualityScores};
use super::run_folder::{
    checkpoint_epochs, checkpoint_file, files, fixed_latents, grid_path, resume_point,
    CHECKPOINT_KINDS, KEEP_CHECKPOINTS,
};
use super::{Conditioning, GanLoss, GanSpec};
use crate::adam::FusedAdam;
use crate::backend::smoke_test;
use crate::data::{prepare, RunData};
use crate::history::write_atomically;
use crate::recipe::Recipe;
use crate::run::{files as run_files, prepare_run_dir, RunOptions};

/// The final figures of a GAN run, written to `summary.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GanSummary {
    /// Recipe name.
    pub recipe: String,
    /// Dataset name.
    pub dataset: String,
    /// Backend the run trained on.
    pub backend: String,
    /// Seed of the run.
    pub seed: u64,
    /// The adversarial loss.
    pub loss: GanLoss,
    /// Epochs completed.
    pub epochs_run: usize,
    /// Wall-clock seconds of the training steps of every epoch (grids, checkpoints and scoring
    /// excluded), those before a resume included.
    pub train_seconds: f64,
    /// Real training images per second through those steps.
    pub train_samples_per_second: f64,
    /// Mean discriminator (critic) loss of the last epoch.
    pub final_d_loss: f64,
    /// Mean generator loss of the last epoch.
    pub final_g_loss: f64,
    /// WGAN-GP only: the critic's Wasserstein estimate `E[D(real)] - E[D(fake)]` in the last
    /// epoch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub final_wasserstein: Option<f64>,
    /// MNIST score of the generated samples (absent when `gan.quality_samples = 0`).
    pub mnist_score: Option<f64>,
    /// Fréchet distance between test-image and sample features.
    pub frechet_distance: Option<f64>,
    /// MNIST score of the real test images (the ceiling).
    pub real_mnist_score: Option<f64>,
    /// Fréchet distance between test and training images (the floor).
    pub real_frechet_distance: Option<f64>,
    /// Everything about the scoring (classifier, sample counts).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quality: Option<QualityScores>,
    /// The grid of the last epoch.
    pub last_grid: PathBuf,
    /// The run folder.
    pub run_dir: PathBuf,
}

/// Trains the GAN recipe `recipe` as `options` say and writes the run folder.
pub fn train_gan(recipe: &Recipe, options: &RunOptions) -> Result<GanSummary> {
    let Some((generator_config, discriminator_config)) = recipe
        .model
        .gan_configs(crate::data::dataset_shape(&recipe.data))
    else {
        bail!(
            "recipe '{}' trains a '{}' model, not a GAN",
            recipe.name,
            recipe.model.kind_name()
        );
    };
    let conditioning = recipe
        .model
        .gan_conditioning(crate::data::dataset_shape(&recipe.data))
        .expect("a GAN recipe has a conditioning");
    let device = options.backend.device()?;
    smoke_test(&device)?;
    let mut recipe = recipe.clone();
    let gan = recipe.gan.clone().unwrap_or_default();
    let mut data = prepare(&recipe.data, recipe.training.seed, options.data_dir.clone())?;
    if options.dry_run {
        data = data.shrink(recipe.training.batch_size);
        recipe.training.epochs = 1;
    }
    let run_dir = prepare_run_dir(&recipe, options)?;
    let wgan = gan.loss == GanLoss::WganGp;
    let (start_epoch, mut history) = if options.resume {
        resume_point(&run_dir, wgan)?
    } else {
        (0, Vec::new())
    };
    if start_epoch >= recipe.training.epochs && options.resume {
        bail!(
            "run '{}' already has {start_epoch} epochs of {}; pass --epochs N with N > {start_epoch} to train further",
            run_dir.display(),
            recipe.training.epochs
        );
    }
    println!(
        "training '{}' ({:?} GAN, {} loss) on {} ({} train images) with backend {}, {} epochs{}",
        recipe.name,
        generator_config.architecture,
        loss_name(gan.loss),
        recipe.data.dataset,
        data.train.len(),
        options.backend,
        recipe.training.epochs,
        if start_epoch > 0 {
            format!(", resuming after epoch {start_epoch}")
        } else {
            String::new()
        }
    );
    write_atomically(
        &run_dir.join(run_files::RECIPE),
        recipe.to_toml().as_bytes(),
    )?;

    let mut state = TrainState::new(
        &recipe,
        &gan,
        (&generator_config, &discriminator_config),
        conditioning,
        &device,
        &run_dir,
        start_epoch,
    )?;
    let latents = fixed_latents(
        &run_dir,
        gan.grid_samples,
        conditioning.latent_size,
        recipe.training.seed,
    )?;
    let progress = Progress::new(options.plain_progress, recipe.training.epochs);
    let mut last_grid = grid_path(&run_dir, start_epoch);
    for epoch in start_epoch + 1..=recipe.training.epochs {
        let record = state.epoch(epoch, &data, &progress)?;
        last_grid = grid_path(&run_dir, epoch);
        let generator = state.generator.valid();
        save_grid(&generator, &latents, conditioning, &last_grid)?;
        state.checkpoint(&run_dir, epoch)?;
        history.retain(|r: &GanEpoch| r.epoch < epoch);
        history.push(record);
        write_history(&run_dir, &history, wgan)?;
        progress.epoch_line(&record);
    }

    let generator = state.generator.valid();
    generator
        .clone()
        .into_record()
        .save(run_dir.join(files::GENERATOR))
        .with_context(|| format!("cannot save the generator in {}", run_dir.display()))?;
    state
        .discriminator
        .valid()
        .into_record()
        .save(run_dir.join(files::DISCRIMINATOR))
        .with_context(|| format!("cannot save the discriminator in {}", run_dir.display()))?;

    let quality = if gan.quality_samples > 0 {
        let samples = if options.dry_run {
            gan.quality_samples.min(2 * recipe.training.batch_size)
        } else {
            gan.quality_samples
        };
        let scoring = quality::Scoring {
            samples,
            seed: recipe.training.seed,
            classifier: &gan.quality_classifier,
            options,
            run_dir: &run_dir,
        };
        Some(quality::score(
            &generator,
            conditioning,
            &data,
            &scoring,
            &device,
        )?)
    } else {
        None
    };
    let last = history.last().copied();
    // Over every epoch of the run, those of an earlier process included when resumed.
    let train_seconds: f64 = history.iter().map(|r| r.seconds).sum();
    let train_images = history.len() * data.train.len();
    let summary = GanSummary {
        recipe: recipe.name.clone(),
        dataset: recipe.data.dataset.clone(),
        backend: options.backend.name().to_string(),
        seed: recipe.training.seed,
        loss: gan.loss,
        epochs_run: last.map_or(0, |r| r.epoch),
        train_seconds,
        train_samples_per_second: train_images as f64 / train_seconds.max(1e-9),
        final_d_loss: last.map_or(f64::NAN, |r| r.d_loss),
        final_g_loss: last.map_or(f64::NAN, |r| r.g_loss),
        final_wasserstein: last.and_then(|r| r.wasserstein),
        mnist_score: quality.as_ref().map(|q| q.mnist_score),
        frechet_distance: quality.as_ref().map(|q| q.frechet_distance),
        real_mnist_score: quality.as_ref().map(|q| q.real_mnist_score),
        real_frechet_distance: quality.as_ref().map(|q| q.real_frechet_distance),
        quality,
        last_grid,
        run_dir: run_dir.clone(),
    };
    let json = serde_json::to_string_pretty(&summary)?;
    write_atomically(&run_dir.join(run_files::SUMMARY), json.as_bytes())?;
    Ok(summary)
}

fn loss_name(loss: GanLoss) -> &'static str {
    match loss {
        GanLoss::Bce => "non-saturating BCE",
        GanLoss::LeastSquares => "least-squares",
        GanLoss::WganGp => "WGAN-GP",
    }
}

/// The networks, their optimizers and the settings of one run.
struct TrainState {
    generator: Generator,
    discriminator: Discriminator,
    optim_g: ModuleOptimizer,
    optim_d: ModuleOptimizer,
    lr_g: f64,
    lr_d: f64,
    gan: GanSpec,
    conditioning: Conditioning,
    batch_size: usize,
    seed: u64,
    device: Device,
}

impl TrainState {
    /// Fresh networks seeded by the recipe, or the checkpoint of `start_epoch` when it is > 0.
    fn new(
        recipe: &Recipe,
        gan: &GanSpec,
        (generator_config, discriminator_config): (&GeneratorConfig, &DiscriminatorConfig),
        conditioning: Conditioning,
        device: &Device,
        run_dir: &Path,
        start_epoch: usize,
    ) -> Result<Self> {
        device.seed(recipe.training.seed);
        let autodiff = device.clone().autodiff();
        let mut generator = generator_config.init(&autodiff);
        let mut discriminator = discriminator_config.init(&autodiff);
        let adam = || -> ModuleOptimizer {
            FusedAdam::with_betas(gan.beta1 as f32, gan.beta2 as f32, 1e-8).into()
        };
        let (mut optim_g, mut optim_d) = (adam(), adam());
        if start_epoch > 0 {
            let file = |kind: &str| checkpoint_file(run_dir, kind, start_epoch);
            let load = |kind: &str| {
                ModuleRecord::load(file(kind))
                    .with_context(|| format!("cannot read {}", file(kind).display()))
            };
            let mismatch = |kind: &str| {
                format!(
                    "the checkpoint {} does not match the run's recipe.toml",
                    file(kind).display()
                )
            };
            generator = generator
                .try_load_record(load("generator")?)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| mismatch("generator"))?;
            discriminator = discriminator
                .try_load_record(load("discriminator")?)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| mismatch("discriminator"))?;
            optim_g = optim_g
                .load(file("optim-g"))
                .with_context(|| format!("cannot read {}", file("optim-g").display()))?;
            optim_d = optim_d
                .load(file("optim-d"))
                .with_context(|| format!("cannot read {}", file("optim-d").display()))?;
        }
        Ok(Self {
            generator,
            discriminator,
            optim_g,
            optim_d,
            lr_g: gan.generator_lr.unwrap_or(recipe.optimizer.lr),
            lr_d: gan.discriminator_lr.unwrap_or(recipe.optimizer.lr),
            gan: gan.clone(),
            conditioning,
            batch_size: recipe.training.batch_size,
            seed: recipe.training.seed,
            device: autodiff,
        })
    }

    /// One pass over the training images: a discriminator step per batch, a generator step
    /// every `n_critic` batches. The shuffle and the latents are seeded by the run's seed and
    /// the epoch number, so a resumed run draws what an uninterrupted one would have.
    fn epoch(&mut self, epoch: usize, data: &RunData, progress: &Progress) -> Result<GanEpoch> {
        let n = data.train.len();
        let mut order: Vec<usize> = (0..n).collect();
        let epoch_seed = self
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(epoch as u64);
        order.shuffle(&mut StdRng::seed_from_u64(epoch_seed));
        let mut rng = StdRng::seed_from_u64(epoch_seed ^ 0x001a_7e47);
        // A last batch of one image would make batch norm's variance degenerate: drop it.
        let batches: Vec<&[usize]> = order
            .chunks(self.batch_size)
            .filter(|b| b.len() > 1 || n == 1)
            .collect();
        let n_critic = self.gan.n_critic;
        let (mut d_sum, mut d_steps, mut g_sum, mut g_steps, mut w_sum) = (0.0, 0, 0.0, 0, 0.0);
        let start = Instant::now();
        let bar = progress.start_epoch(epoch, batches.len());
        for (i, indices) in batches.iter().enumerate() {
            let real = real_batch(&data.train, indices, &self.device);
            let labels: Vec<usize> = indices
                .iter()
                .map(|&i| data.train.label(i) as usize)
                .collect();
            let d = self.discriminator_step(real, &labels, &mut rng);
            let (d_loss, wasserstein, fake) = d;
            if !d_loss.is_finite() {
                bail!(
                    "the discriminator loss became {d_loss} in epoch {epoch}, batch {}: training diverged (try a lower learning rate)",
                    i + 1
                );
            }
            d_sum += d_loss;
            w_sum += wasserstein;
            d_steps += 1;
            if (i + 1) % n_critic == 0 || (n_critic > 1 && i + 1 == batches.len() && g_steps == 0) {
                // With one critic step per generator step the fakes of that step are reused,
                // as in the reference DCGAN loop; otherwise fresh latents are drawn.
                let fake = if n_critic == 1 {
                    fake
                } else {
                    self.fake(&labels, &mut rng)
                };
                let g_loss = self.generator_step(fake, &labels);
                if !g_loss.is_finite() {
                    bail!(
                        "the generator loss became {g_loss} in epoch {epoch}, batch {}: training diverged (try a lower learning rate)",
                        i + 1
                    );
                }
                g_sum += g_loss;
                g_steps += 1;
            }
            progress.batch(
                &bar,
                epoch,
                i + 1,
                batches.len(),
                (i + 1).min(batches.len()) * self.batch_size.min(n),
                start.elapsed().as_secs_f64(),
                d_sum / d_steps as f64,
                g_sum / g_steps.max(1) as f64,
            );
        }
        progress.end_epoch(bar);
        Ok(GanEpoch {
            epoch,
            d_loss: d_sum / d_steps.max(1) as f64,
            g_loss: g_sum / g_steps.max(1) as f64,
            seconds: start.elapsed().as_secs_f64(),
            wasserstein: (self.gan.loss == GanLoss::WganGp).then(|| w_sum / d_steps.max(1) as f64),
        })
    }

    /// Generated images of classes `labels` (ignored when unconditional) for fresh latents,
    /// with the generator's graph.
    fn fake(&self, labels: &[usize], rng: &mut StdRng) -> Tensor<4> {
        let c = self.conditioning;
        let latents = normal_latents(rng, labels.len(), c.latent_size);
        let input = c.generator_input(&latents, labels, &self.device);
        self.generator.forward(input) // [batch, c, h, w]
    }

    /// One discriminator (critic) update on `real` (of classes `labels`) and fresh fakes of the
    /// same classes. Returns the loss, the Wasserstein estimate (WGAN-GP; 0 otherwise) and the
    /// fakes, still attached to the generator's graph, for a generator step that reuses them.
    fn discriminator_step(
        &mut self,
        real: Tensor<4>,
        labels: &[usize],
        rng: &mut StdRng,
    ) -> (f64, f64, Tensor<4>) {
        let batch = labels.len();
        let c = self.conditioning;
        let fake = self.fake(labels, rng);
        let real_scores = self
            .discriminator
            .forward(c.discriminator_input(real.clone(), labels)); // [batch, 1]
        let fake_scores = self
            .discriminator
            .forward(c.discriminator_input(fake.clone().detach(), labels)); // [batch, 1]
        let (loss, wasserstein) = match self.gan.loss {
            GanLoss::Bce => {
                // -log σ(D(x)) - log(1 - σ(D(G(z)))) = -log σ(D(x)) - log σ(-D(G(z)))
                let loss =
                    neg_log_sigmoid(real_scores).mean() + neg_log_sigmoid(fake_scores.neg()).mean();
                (loss, None)
            }
            GanLoss::LeastSquares => {
                let loss = real_scores.sub_scalar(1.0).square().mean().mul_scalar(0.5)
                    + fake_scores.square().mean().mul_scalar(0.5);
                (loss, None)
            }
            GanLoss::WganGp => {
                let estimate = real_scores.mean() - fake_scores.mean(); // [1]
                let alpha = Tensor::<4>::from_data(
                    TensorData::new(
                        (0..batch)
                            .map(|_| rng.random::<f32>())
                            .collect::<Vec<f32>>(),
                        [batch, 1, 1, 1],
                    ),
                    &self.device,
                );
                let penalty = gradient_penalty(&self.discriminator, real, fake.clone(), alpha)
                    .expect("recipe validation refuses WGAN-GP with a batch-norm critic");
                let loss = estimate.clone().neg() + penalty.mul_scalar(self.gan.gp_weight);
                (loss, Some(estimate))
            }
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.discriminator);
        self.discriminator = self
            .optim_d
            .step(self.lr_d, self.discriminator.clone(), grads);
        let wasserstein = wasserstein.map_or(0.0, |w| w.into_scalar::<f32>() as f64);
        (loss.into_scalar::<f32>() as f64, wasserstein, fake)
    }

    /// One generator update through the (just updated) discriminator's scores of `fake`, of
    /// classes `labels`.
    fn generator_step(&mut self, fake: Tensor<4>, labels: &[usize]) -> f64 {
        let input = self.conditioning.discriminator_input(fake, labels);
        // Only the generator is stepped here: the discriminator's weights take part as
        // constants, so the backward pass skips their gradients.
        let scores = self.discriminator.clone().no_grad().forward(input); // [batch, 1]
        let loss = match self.gan.loss {
            GanLoss::Bce => neg_log_sigmoid(scores).mean(), // non-saturating: -log σ(D(G(z)))
            GanLoss::LeastSquares => scores.sub_scalar(1.0).square().mean().mul_scalar(0.5),
            GanLoss::WganGp => scores.mean().neg(),
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.generator);
        self.generator = self.optim_g.step(self.lr_g, self.generator.clone(), grads);
        loss.into_scalar::<f32>() as f64
    }

    /// Writes the checkpoint of `epoch` (each file through a temporary name) and removes the
    /// ones older than the last [`KEEP_CHECKPOINTS`].
    fn checkpoint(&self, run_dir: &Path, epoch: usize) -> Result<()> {
        let dir = run_dir.join(files::CHECKPOINT);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let save = |kind: &str, write: &dyn Fn(&Path) -> Result<()>| -> Result<()> {
            let path = checkpoint_file(run_dir, kind, epoch);
            let tmp = path.with_extension("tmp");
            write(&tmp).with_context(|| format!("cannot write {}", path.display()))?;
            std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
        };
        save("generator", &|p| {
            Ok(self.generator.clone().into_record().save(p)?)
        })?;
        save("discriminator", &|p| {
            Ok(self.discriminator.clone().into_record().save(p)?)
        })?;
        save("optim-g", &|p| Ok(self.optim_g.save(p)?))?;
        save("optim-d", &|p| Ok(self.optim_d.save(p)?))?;
        for old in checkpoint_epochs(run_dir)
            .into_iter()
            .filter(|&e| e + KEEP_CHECKPOINTS <= epoch)
        {
            for kind in CHECKPOINT_KINDS {
                let _ = std::fs::remove_file(checkpoint_file(run_dir, kind, old));
            }
        }
        Ok(())
    }
}

/// `-log σ(x)` without overflow: `max(-x, 0) + log(1 + exp(-|x|))`.
fn neg_log_sigmoid(x: Tensor<2>) -> Tensor<2> {
    let negative_part = x.clone().neg().clamp_min(0.0); // max(-x, 0)
    negative_part + x.abs().neg().exp().log1p()
}

/// Training images `indices` of `set` as a `[batch, c, h, w]` tensor in `[-1, 1]`.
fn real_batch(set: &ImageSet, indices: &[usize], device: &Device) -> Tensor<4> {
    let table: Vec<f32> = (0..=255u8).map(|x| x as f32 / 127.5 - 1.0).collect();
    let mut pixels = Vec::with_capacity(indices.len() * set.image_len());
    for &i in indices {
        pixels.extend(set.image(i).iter().map(|&x| table[x as usize]));
    }
    Tensor::from_data(
        TensorData::new(
            pixels,
            [indices.len(), set.channels(), set.rows(), set.cols()],
        ),
        device,
    )
}

/// `n * size` standard normal values from `rng` (Box–Muller), row by row.
pub fn normal_latents(rng: &mut StdRng, n: usize, size: usize) -> Vec<f32> {
    let count = n * size;
    let mut values = Vec::with_capacity(count + 1);
    while values.len() < count {
        let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
        let u2: f64 = rng.random::<f64>();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        values.push((radius * angle.cos()) as f32);
        values.push((radius * angle.sin()) as f32);
    }
    values.truncate(count);
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neg_log_sigmoid_is_stable_and_exact() {
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[-1000.0, -2.0, 0.0, 3.0, 1000.0]], &device);
        let values: Vec<f32> = neg_log_sigmoid(x).into_data().try_to_vec::<f32>().unwrap();
        let expected = [1000.0, 2.126928, std::f32::consts::LN_2, 0.048587352, 0.0];
        for (v, e) in values.iter().zip(expected) {
            assert!(v.is_finite() && (v - e).abs() < 1e-4, "{v} vs {e}");
        }
    }

    #[test]
    fn latents_are_standard_normal_and_seeded() {
        let a = normal_latents(&mut StdRng::seed_from_u64(1), 100, 101);
        let b = normal_latents(&mut StdRng::seed_from_u64(1), 100, 101);
        assert_eq!(a, b);
        assert_eq!(a.len(), 10_100);
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn real_images_are_scaled_to_minus_one_one() {
        let set = ImageSet::new(1, 1, 2, vec![0, 255, 128, 64], vec![0, 1], 2).unwrap();
        let batch = real_batch(&set, &[1, 0], &Device::flex());
        assert_eq!(batch.dims(), [2, 1, 1, 2]);
        let values: Vec<f32> = batch.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values[2], -1.0);
        assert_eq!(values[3], 1.0);
        assert!((values[0] - (128.0 / 127.5 - 1.0)).abs() < 1e-6);
    }
}
