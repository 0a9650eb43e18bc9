//! `zoo bench`: training and inference throughput of recipes on each backend, through the
//! real data pipeline and optimizer (the same setup as a training run, without burn-train's
//! bookkeeping), after a warm-up. A GAN recipe's training step is its adversarial step (a
//! discriminator step, and a generator step every `n_critic`), its inference the generator's
//! samples. Each row records the thread count of the CPU backends (`RAYON_NUM_THREADS`, else
//! every core).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use burn::data::dataloader::DataLoader;
use burn::prelude::*;
use burn::train::{InferenceStep, TrainStep};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use zoo_train::backend::{smoke_test, Backend};
use zoo_train::optim;
use zoo_train::recipe::{Recipe, Task};
use zoo_train::run::epoch_seed::EpochClock;
use zoo_train::run::supervised::{Fittable, Loaders};
use zoo_train::tasks::classify::{self, ImageData};
use zoo_train::tasks::forecast::{self, load_series, SeriesSplits};
use zoo_train::tasks::gan::train::AdversarialSteps;
use zoo_train::tasks::language_model::{self, load_corpus};

/// How to benchmark.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The backends to measure, in order.
    pub backends: Vec<Backend>,
    /// Timed batches per measurement (after the warm-up).
    pub batches: usize,
    /// Untimed batches first (allocations, kernel compilation, caches).
    pub warmup: usize,
    /// Batch size instead of each recipe's own.
    pub batch_size: Option<usize>,
    /// Folder with the datasets; `ZOO_DATA_DIR` when `None`.
    pub data_dir: Option<PathBuf>,
}

/// One measurement: a recipe on a backend.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BenchRow {
    /// Recipe name.
    pub recipe: String,
    /// Backend name.
    pub backend: String,
    /// Examples per batch.
    pub batch_size: usize,
    /// Threads of the CPU kernels (rayon's pool: `RAYON_NUM_THREADS`, else every core).
    pub threads: usize,
    /// Training examples per second (forward, backward, optimizer step, data included).
    pub train_samples_per_second: f64,
    /// Inference examples per second (forward only, data included).
    pub inference_samples_per_second: f64,
}

/// Measures every recipe on every backend. A backend that cannot run here is skipped with the
/// reason printed; a recipe whose data is missing is an error.
pub fn bench(recipes: &[Recipe], options: &BenchOptions) -> Result<Vec<BenchRow>> {
    if options.batches == 0 {
        bail!("--batches must be >= 1");
    }
    let mut rows = Vec::new();
    for backend in &options.backends {
        let device = match backend.device().and_then(|d| smoke_test(&d).map(|_| d)) {
            Ok(device) => device,
            Err(err) => {
                println!("skipping backend {backend}: {err:#}");
                continue;
            }
        };
        for recipe in recipes {
            let mut recipe = recipe.clone();
            if let Some(b) = options.batch_size {
                recipe.training.batch_size = b;
            }
            let (train, inference) = bench_recipe(&recipe, &device, options)?;
            let row = BenchRow {
                recipe: recipe.name.clone(),
                backend: backend.name().to_string(),
                batch_size: recipe.training.batch_size,
                threads: rayon::current_num_threads(),
                train_samples_per_second: train,
                inference_samples_per_second: inference,
            };
            println!(
                "{:<20} {:<8} batch {:>4}  threads {:>2}  train {:>10.0} samples/s  inference {:>10.0} samples/s",
                row.recipe,
                row.backend,
                row.batch_size,
                row.threads,
                row.train_samples_per_second,
                row.inference_samples_per_second
            );
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `(train, inference)` samples per second of one recipe on `device`.
fn bench_recipe(recipe: &Recipe, device: &Device, options: &BenchOptions) -> Result<(f64, f64)> {
    let autodiff = device.clone().autodiff();
    let seed = recipe.training.seed;
    let clock = EpochClock::new(seed, 1);
    let data_dir = options.data_dir.as_deref();
    match recipe.model.task() {
        Task::ImageClassification => {
            let data = ImageData::load(recipe, data_dir)?;
            let (model, loaders) = classify::setup(recipe, &data, &autodiff, &clock);
            measure(recipe, model, loaders, device, options)
        }
        Task::CharLm => {
            let corpus = load_corpus(&recipe.data, data_dir)?;
            let (model, loaders) = language_model::setup(recipe, &corpus, &autodiff, &clock);
            measure(recipe, model, loaders, device, options)
        }
        Task::Forecast => {
            let [train, valid, test] = load_series(&recipe.data, seed);
            let series = SeriesSplits { train, valid, test };
            let (model, loaders) = forecast::setup(recipe, &series, &autodiff, &clock);
            measure(recipe, model, loaders, device, options)
        }
        Task::Gan => {
            let data = ImageData::load(recipe, data_dir)?;
            measure_gan(recipe, &data, device, options)
        }
    }
}

/// Times `warmup + batches` adversarial steps on shuffled training batches, then as many
/// batches of generated samples.
fn measure_gan(
    recipe: &Recipe,
    data: &ImageData,
    device: &Device,
    options: &BenchOptions,
) -> Result<(f64, f64)> {
    let batch_size = recipe.training.batch_size;
    if data.train.len() < batch_size.max(2) {
        bail!(
            "the dataset has {} training images, fewer than a batch of {batch_size}",
            data.train.len()
        );
    }
    let mut steps = AdversarialSteps::new(recipe, data, device)?;
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(recipe.training.seed));
    let mut batches = order.chunks_exact(batch_size).cycle();
    let train_seconds = timed_steps(options, device, || {
        steps.step(data, batches.next().expect("a cycle of whole batches"));
    })?;
    let generator = steps.generator();
    let inference_seconds = timed_steps(options, device, || {
        let _ = generator.forward(steps.generator_input(batch_size, device)); // [batch, c, h, w]
    })?;
    let items = (options.batches * batch_size) as f64;
    Ok((items / train_seconds, items / inference_seconds))
}

/// Seconds of `options.batches` calls of `step` after `options.warmup` untimed ones, up to the
/// device's last queued work.
fn timed_steps(options: &BenchOptions, device: &Device, mut step: impl FnMut()) -> Result<f64> {
    for _ in 0..options.warmup {
        step();
    }
    sync(device)?;
    let start = Instant::now();
    for _ in 0..options.batches {
        step();
    }
    sync(device)?;
    Ok(start.elapsed().as_secs_f64())
}

/// Waits for the work a GPU backend has queued, before the clock is read.
fn sync(device: &Device) -> Result<()> {
    device
        .sync()
        .map_err(|e| anyhow::anyhow!("waiting for the device: {e:?}"))
}

/// Times `warmup + batches` optimizer steps, then as many inference batches.
fn measure<M: Fittable>(
    recipe: &Recipe,
    model: M,
    (train_loader, valid_loader): Loaders<M>,
    device: &Device,
    options: &BenchOptions,
) -> Result<(f64, f64)> {
    let mut optim = optim::build(&recipe.optimizer, recipe.regularization.max_norm);
    let lr = recipe.optimizer.lr;
    let mut model = model;
    // Batches are made where the model is: the autodiff device to train, the plain one to infer.
    let train_loader = train_loader.to_device(&device.clone().autodiff());
    let valid_loader = valid_loader.to_device(device);
    let (train_seconds, train_items) = timed_batches(&train_loader, options, device, |batch| {
        let output = TrainStep::step(&model, batch);
        model = model.clone().optimize(&mut optim, lr.into(), output.grads);
    })?;
    // `valid()` drops autodiff and turns dropout off: `fork` would keep both.
    let inference = model.valid();
    let (inference_seconds, inference_items) =
        timed_batches(&valid_loader, options, device, |batch| {
            let _ = InferenceStep::step(&inference, batch);
        })?;
    Ok((
        train_items as f64 / train_seconds,
        inference_items as f64 / inference_seconds,
    ))
}

/// Runs `step` on `warmup + batches` batches of `loader` (cycling over it as needed) and
/// returns the seconds and the examples of the timed ones, data loading included.
fn timed_batches<I>(
    loader: &Arc<dyn DataLoader<I>>,
    options: &BenchOptions,
    device: &Device,
    mut step: impl FnMut(I),
) -> Result<(f64, usize)> {
    let needed = options.warmup + options.batches;
    if loader.num_items() == 0 {
        bail!("the dataset is empty");
    }
    let (mut done, mut items) = (0, 0);
    let mut start = Instant::now();
    while done < needed {
        let mut iter = loader.iter();
        let mut before = 0;
        while let Some(batch) = iter.next() {
            let batch = batch.map_err(|e| anyhow::anyhow!("reading a batch: {e}"))?;
            if done == options.warmup {
                start = Instant::now();
            }
            step(batch);
            let processed = iter.progress().items_processed;
            if done >= options.warmup {
                items += processed - before;
            }
            before = processed;
            done += 1;
            if done == needed {
                break;
            }
        }
    }
    sync(device)?;
    Ok((start.elapsed().as_secs_f64(), items))
}

/// Writes `bench.json` (the rows) in `dir`.
pub fn write_report(dir: &std::path::Path, rows: &[BenchRow]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("bench.json");
    zoo_datasets::write_atomically(&path, serde_json::to_string_pretty(rows)?.as_bytes())?;
    Ok(path)
}
