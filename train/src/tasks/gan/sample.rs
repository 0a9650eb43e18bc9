//! Loading a trained generator from its run folder and drawing new grids (`zoo sample`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use zoo_gan::Generator;

use crate::recipe::{Recipe, Task};
use crate::run::folder::RunFolder;

use super::condition::{normal_latents, Conditioning};
use super::grid::grid_png;
use super::train::{files, GAN_CHECKPOINT};

/// Loads the generator of a GAN run folder: `generator.bpk`, or the newest checkpoint of a run
/// that has not finished. Returns the recipe, and how the generator reads its input (latent
/// size, classes), too.
pub fn load_generator(
    run_dir: &Path,
    device: &Device,
) -> Result<(Recipe, Conditioning, Generator)> {
    let folder = RunFolder::open(run_dir)?;
    let recipe = folder.read_recipe_for(
        Task::Gan,
        "it is not a GAN run, and only a GAN run has a generator to sample",
    )?;
    let shape = recipe
        .data
        .dataset
        .image_shape()
        .context("a GAN reads images")?;
    let (config, _) = recipe
        .model
        .gan_configs(shape)
        .context("a GAN recipe has GAN networks")?;
    let conditioning = Conditioning::of(&recipe.model, shape).context("a GAN recipe")?;
    let path = if folder.file(files::GENERATOR).is_file() {
        folder.file(files::GENERATOR)
    } else {
        match folder.checkpoint_epochs(GAN_CHECKPOINT.files[0].0).last() {
            Some(&epoch) => folder.checkpoint_file("generator", epoch),
            None => bail!(
                "'{}' holds no generator yet (no {} and no checkpoint)",
                run_dir.display(),
                files::GENERATOR
            ),
        }
    };
    let generator = crate::run::folder::load_module_file(&path, config.init(device))?;
    Ok((recipe, conditioning, generator))
}

/// Draws `n` samples of a run's generator from latents seeded by `seed` and writes them as a
/// grid PNG at `out` (atomically).
pub fn sample_grid(run_dir: &Path, n: usize, seed: u64, out: &Path, device: &Device) -> Result<()> {
    if n == 0 {
        bail!("--n must be at least 1");
    }
    let (_, conditioning, generator) = load_generator(run_dir, device)?;
    let latents = normal_latents(
        &mut StdRng::seed_from_u64(seed),
        n,
        conditioning.latent_size,
    );
    let png = grid_png(&generator, &latents, conditioning)?;
    zoo_datasets::write_atomically(out, &png)
        .with_context(|| format!("cannot write {}", out.display()))
}
