//! The adversarial training loop, as the GAN task of the run driver.
//!
//! One loop serves every GAN recipe: the loss (`[gan] loss`) decides how the discriminator's raw
//! scores become the two objectives. A run writes the same folder as a supervised run, through
//! the same driver: `recipe.toml`, a checkpoint every epoch (generator, discriminator and both
//! optimizer states; the last two are kept, so `--resume` continues from the last complete
//! epoch), `metrics.csv` and `curves.png` after every epoch, a sample grid per epoch under
//! `samples/`, and at the end `generator.bpk`, `discriminator.bpk` and `summary.json`. The
//! sample-quality scores (MNIST score, Fréchet distance) are added to it by the experiments
//! crate (`zoo train` does).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use zoo_datasets::ImageSet;
use zoo_gan::{gradient_penalty, Discriminator, Generator};
use zoo_kernels::FusedAdam;

use crate::recipe::{GanLoss, GanSpec, Recipe};
use crate::run::driver::{FitStats, Run, Task};
use crate::run::epoch_progress::{BatchProgress, EpochProgress};
use crate::run::epoch_row::EpochRow;
use crate::run::folder::{load_module_file, module_bytes, CheckpointLayout, RecordKind, RunFolder};
use crate::run::history::BestBy;
use crate::run::options::RunOptions;
use crate::run::summary::SummaryMetrics;
use crate::tasks::classify::ImageData;

use super::condition::{normal_latents, Conditioning};
use super::epoch::GanEpoch;
use super::grid::{grid_name, grid_png, SAMPLES_DIR};

/// File names inside a GAN run folder (besides `recipe.toml`, `summary.json`, `metrics.csv` and
/// `curves.png`).
pub mod files {
    /// The trained generator (Burn record).
    pub const GENERATOR: &str = "generator.bpk";
    /// The trained discriminator or critic (Burn record).
    pub const DISCRIMINATOR: &str = "discriminator.bpk";
    /// Folder of the per-epoch sample grids.
    pub const SAMPLES: &str = super::SAMPLES_DIR;
    /// The fixed latent vectors behind every grid (little-endian `f32`, row by row).
    pub const LATENTS: &str = "samples/latents.f32";
}

/// A GAN checkpoint: both networks and both optimizer states.
pub const GAN_CHECKPOINT: CheckpointLayout = CheckpointLayout {
    files: &[
        ("generator", RecordKind::Module),
        ("discriminator", RecordKind::Module),
        ("optim-g", RecordKind::Optimizer),
        ("optim-d", RecordKind::Optimizer),
    ],
};

/// The adversarial task, for the run driver.
pub(crate) struct AdversarialTraining;

/// The trained networks of a GAN run.
pub(crate) struct GanModels {
    /// The generator, in inference mode.
    pub(crate) generator: Generator,
    /// The discriminator (critic), in inference mode.
    pub(crate) discriminator: Discriminator,
}

impl Task for AdversarialTraining {
    type Data = ImageData;
    type Model = GanModels;
    type Epoch = GanEpoch;
    const CHECKPOINT: CheckpointLayout = GAN_CHECKPOINT;

    fn load_data(recipe: &Recipe, options: &RunOptions) -> Result<ImageData> {
        ImageData::for_run(recipe, options)
    }

    fn describe(recipe: &Recipe, data: &ImageData) -> String {
        let gan = recipe.gan.clone().unwrap_or_default();
        format!(
            "{} GAN, {} loss, {} train images",
            recipe.model.kind_name(),
            loss_name(gan.loss),
            data.train.len()
        )
    }

    fn best_by(_recipe: &Recipe) -> Option<BestBy> {
        None
    }

    fn fit(run: &mut Run<GanEpoch>, data: &ImageData) -> Result<(GanModels, FitStats)> {
        let recipe = &run.recipe;
        let start_epoch = run.resume_epoch.unwrap_or(0);
        let mut state = TrainState::new(recipe, data, &run.device)?;
        if start_epoch > 0 {
            state.load_checkpoint(&run.folder, start_epoch)?;
        }
        let (gan, conditioning) = (state.gan.clone(), state.conditioning);
        state.generator = run.initial_weights(files::GENERATOR, state.generator)?;
        let from = run.options.init_from.as_deref();
        if from.is_some_and(|dir| dir.join(files::DISCRIMINATOR).is_file()) {
            state.discriminator = run.initial_weights(files::DISCRIMINATOR, state.discriminator)?;
        }
        let latents = fixed_latents(
            &run.folder,
            gan.grid_samples,
            conditioning.latent_size,
            recipe.training.seed,
        )?;
        let progress = EpochProgress::new(run.options.plain_progress, recipe.training.epochs);
        for epoch in start_epoch + 1..=recipe.training.epochs {
            let row = state.epoch(epoch, data, &progress)?;
            let png = grid_png(&state.generator.valid(), &latents, conditioning)?;
            run.folder.write(&grid_name(epoch), &png)?;
            state.checkpoint(&run.folder, epoch)?;
            run.history.push(row)?;
            progress.epoch_line(&row);
            if let Some(callback) = &run.options.after_epoch {
                if (callback.0)((epoch, &row.figures())) {
                    break;
                }
            }
        }
        let epochs_run = run.history.last_epoch();
        // Over every epoch of the run, those of an earlier process included when resumed.
        let seconds = run.history.seconds();
        let images = run.history.rows().len() * data.train.len();
        Ok((
            GanModels {
                generator: state.generator.valid(),
                discriminator: state.discriminator.valid(),
            },
            FitStats {
                epochs_run,
                best_epoch: epochs_run,
                seconds,
                samples_per_second: images as f64 / seconds.max(1e-9),
            },
        ))
    }

    fn finish(
        run: &Run<GanEpoch>,
        models: &GanModels,
        _data: &ImageData,
    ) -> Result<SummaryMetrics> {
        run.folder
            .save_module(files::GENERATOR, &models.generator)?;
        run.folder
            .save_module(files::DISCRIMINATOR, &models.discriminator)?;
        let last = run.history.rows().last();
        Ok(SummaryMetrics {
            final_d_loss: last.map(|r| r.d_loss),
            final_g_loss: last.map(|r| r.g_loss),
            final_wasserstein: last.and_then(|r| r.wasserstein),
            ..Default::default()
        })
    }
}

/// The latents of every epoch's grid: read from `samples/latents.f32`, or drawn from the seed
/// and saved there on the first epoch.
fn fixed_latents(folder: &RunFolder, n: usize, size: usize, seed: u64) -> Result<Vec<f32>> {
    if let Ok(bytes) = std::fs::read(folder.file(files::LATENTS)) {
        if bytes.len() == n * size * 4 {
            return Ok(bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect());
        }
    }
    let latents = normal_latents(&mut StdRng::seed_from_u64(seed ^ 0x6a1d_5eed), n, size);
    let bytes: Vec<u8> = latents.iter().flat_map(|v| v.to_le_bytes()).collect();
    folder.write(files::LATENTS, &bytes)?;
    Ok(latents)
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

/// A fresh optimizer for one of the two networks: Adam with the recipe's betas.
fn adam(gan: &GanSpec) -> ModuleOptimizer {
    FusedAdam::with_betas(gan.beta1 as f32, gan.beta2 as f32, 1e-8).into()
}

impl TrainState {
    /// Fresh networks of the GAN `recipe` for images shaped like `data`'s, seeded by the recipe.
    fn new(recipe: &Recipe, data: &ImageData, device: &Device) -> Result<Self> {
        let shape = data.shape;
        let (generator_config, discriminator_config) = recipe
            .model
            .gan_configs(shape)
            .context("a GAN recipe has GAN networks")?;
        let conditioning = Conditioning::of(&recipe.model, shape).context("a GAN recipe")?;
        let gan = recipe.gan.clone().unwrap_or_default();
        device.seed(recipe.training.seed);
        let autodiff = device.clone().autodiff();
        Ok(Self {
            generator: generator_config.init(&autodiff),
            discriminator: discriminator_config.init(&autodiff),
            optim_g: adam(&gan),
            optim_d: adam(&gan),
            lr_g: gan.generator_lr.unwrap_or(recipe.optimizer.lr),
            lr_d: gan.discriminator_lr.unwrap_or(recipe.optimizer.lr),
            gan,
            conditioning,
            batch_size: recipe.training.batch_size,
            seed: recipe.training.seed,
            device: autodiff,
        })
    }

    /// The networks and optimizer states of the checkpoint of `epoch` in `folder`.
    fn load_checkpoint(&mut self, folder: &RunFolder, epoch: usize) -> Result<()> {
        let file = |kind: &str| folder.checkpoint_file(kind, epoch);
        self.generator = load_module_file(&file("generator"), self.generator.clone())?;
        self.discriminator = load_module_file(&file("discriminator"), self.discriminator.clone())?;
        let load = |optim: ModuleOptimizer, kind: &str| {
            optim
                .load(file(kind))
                .with_context(|| format!("cannot read {}", file(kind).display()))
        };
        self.optim_g = load(adam(&self.gan), "optim-g")?;
        self.optim_d = load(adam(&self.gan), "optim-d")?;
        Ok(())
    }

    /// One pass over the training images: a discriminator step per batch, a generator step
    /// every `n_critic` batches. The shuffle and the latents are seeded by the run's seed and
    /// the epoch number, so a resumed run draws what an uninterrupted one would have.
    fn epoch(
        &mut self,
        epoch: usize,
        data: &ImageData,
        progress: &EpochProgress,
    ) -> Result<GanEpoch> {
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
            let generator_due =
                (i + 1) % n_critic == 0 || (n_critic > 1 && i + 1 == batches.len() && g_steps == 0);
            let (d_loss, wasserstein, g_loss) =
                self.batch_step(&data.train, indices, generator_due, &mut rng);
            if !d_loss.is_finite() {
                bail!(
                    "the discriminator loss became {d_loss} in epoch {epoch}, batch {}: training diverged (try a lower learning rate)",
                    i + 1
                );
            }
            d_sum += d_loss;
            w_sum += wasserstein;
            d_steps += 1;
            if let Some(g_loss) = g_loss {
                if !g_loss.is_finite() {
                    bail!(
                        "the generator loss became {g_loss} in epoch {epoch}, batch {}: training diverged (try a lower learning rate)",
                        i + 1
                    );
                }
                g_sum += g_loss;
                g_steps += 1;
            }
            let at = BatchProgress {
                epoch,
                batch: i + 1,
                batches: batches.len(),
                items: (i + 1).min(batches.len()) * self.batch_size.min(n),
                seconds: start.elapsed().as_secs_f64(),
            };
            let figures = [
                ("d_loss", d_sum / d_steps as f64),
                ("g_loss", g_sum / g_steps.max(1) as f64),
            ];
            progress.batch(&bar, at, &figures);
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

    /// One batch: a discriminator step on the training images `indices`, then a generator step
    /// when `generator_due`. Returns the discriminator's loss, the Wasserstein estimate (WGAN-GP;
    /// 0 otherwise) and the generator's loss when it stepped.
    fn batch_step(
        &mut self,
        images: &ImageSet,
        indices: &[usize],
        generator_due: bool,
        rng: &mut StdRng,
    ) -> (f64, f64, Option<f64>) {
        let real = real_batch(images, indices, &self.device);
        let labels: Vec<usize> = indices.iter().map(|&i| images.label(i) as usize).collect();
        let (d_loss, wasserstein, fake) = self.discriminator_step(real, &labels, rng);
        if !generator_due || !d_loss.is_finite() {
            return (d_loss, wasserstein, None);
        }
        // With one critic step per generator step the fakes of that step are reused, as in the
        // reference DCGAN loop; otherwise fresh latents are drawn.
        let fake = if self.gan.n_critic == 1 {
            fake
        } else {
            self.fake(&labels, rng)
        };
        (
            d_loss,
            wasserstein,
            Some(self.generator_step(fake, &labels)),
        )
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

    /// Writes the checkpoint of `epoch` and drops the older ones.
    fn checkpoint(&self, folder: &RunFolder, epoch: usize) -> Result<()> {
        folder.save_checkpoint(
            &GAN_CHECKPOINT,
            epoch,
            &[
                ("generator", module_bytes(&self.generator)?),
                ("discriminator", module_bytes(&self.discriminator)?),
                ("optim-g", self.optim_g.into_bytes()?),
                ("optim-d", self.optim_d.into_bytes()?),
            ],
        )
    }
}

/// The adversarial step of a GAN recipe on its own, without a run folder: the networks,
/// optimizers and losses of `zoo train`, seeded by the recipe. `zoo bench` times it.
///
/// ```no_run
/// use burn::tensor::Device;
/// use zoo_train::recipe::Recipe;
/// use zoo_train::tasks::classify::ImageData;
/// use zoo_train::tasks::gan::train::AdversarialSteps;
///
/// let recipe = Recipe::load("gan-mnist-mini", &[])?;
/// let data = ImageData::load(&recipe, None)?;
/// let device = Device::flex();
/// let mut steps = AdversarialSteps::new(&recipe, &data, &device)?;
/// let d_loss = steps.step(&data, &[0, 1, 2, 3]); // one discriminator (and generator) step
/// assert!(d_loss.is_finite());
/// let images = steps.generator().forward(steps.generator_input(16, &device)); // [16, 1, 28, 28]
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct AdversarialSteps {
    state: TrainState,
    rng: StdRng,
    steps: usize,
}

impl AdversarialSteps {
    /// Fresh networks of the GAN `recipe` for `data`'s images, on `device`.
    pub fn new(recipe: &Recipe, data: &ImageData, device: &Device) -> Result<Self> {
        let state = TrainState::new(recipe, data, device)?;
        let rng = StdRng::seed_from_u64(state.seed);
        Ok(Self {
            state,
            rng,
            steps: 0,
        })
    }

    /// One discriminator step on the training images `indices` of `data`, and a generator step
    /// every `n_critic` calls, as in training. Returns the discriminator's loss.
    pub fn step(&mut self, data: &ImageData, indices: &[usize]) -> f64 {
        self.steps += 1;
        let generator_due = self.steps.is_multiple_of(self.state.gan.n_critic);
        let (d_loss, _, _) =
            self.state
                .batch_step(&data.train, indices, generator_due, &mut self.rng);
        d_loss
    }

    /// The generator, in inference mode.
    pub fn generator(&self) -> Generator {
        self.state.generator.valid()
    }

    /// The generator's input for `n` fresh samples of random classes on `device`:
    /// `[n, latent_size + classes]`.
    pub fn generator_input(&mut self, n: usize, device: &Device) -> Tensor<2> {
        let c = self.state.conditioning;
        let labels = c.random_labels(n, &mut self.rng);
        let latents = normal_latents(&mut self.rng, n, c.latent_size);
        c.generator_input(&latents, &labels, device)
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
