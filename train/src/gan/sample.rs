//! Loading a trained generator from its run folder and drawing new grids (`zoo sample`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::store::ModuleRecord;
use rand::rngs::StdRng;
use rand::SeedableRng;
use zoo_gan::Generator;

use super::grid::save_grid;
use super::run_folder::{checkpoint_epochs, checkpoint_file, files};
use super::trainer::normal_latents;
use super::Conditioning;
use crate::recipe::{Recipe, Task};
use crate::run::load_recipe_for;

/// Loads the generator of a GAN run folder: `generator.bpk`, or the newest checkpoint of a run
/// that has not finished. Returns the recipe, and how the generator reads its input (latent
/// size, classes), too.
pub fn load_generator(
    run_dir: &Path,
    device: &Device,
) -> Result<(Recipe, Conditioning, Generator)> {
    let recipe = load_recipe_for(
        run_dir,
        Task::Gan,
        "it is not a GAN run, and only a GAN run has a generator to sample",
    )?;
    let shape = crate::data::dataset_shape(&recipe.data);
    let (config, _) = recipe
        .model
        .gan_configs(shape)
        .expect("a GAN recipe has GAN configurations");
    let conditioning = recipe
        .model
        .gan_conditioning(shape)
        .expect("a GAN recipe has a conditioning");
    let final_path = run_dir.join(files::GENERATOR);
    let path = if final_path.is_file() {
        final_path
    } else {
        match checkpoint_epochs(run_dir).last() {
            Some(&epoch) => checkpoint_file(run_dir, "generator", epoch),
            None => bail!(
                "'{}' holds no generator yet (no {} and no checkpoint)",
                run_dir.display(),
                files::GENERATOR
            ),
        }
    };
    let record = ModuleRecord::load(&path)
        .with_context(|| format!("cannot read the generator '{}'", path.display()))?;
    let generator = config
        .init(device)
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "the generator '{}' does not match the run's recipe.toml",
                path.display()
            )
        })?;
    Ok((recipe, conditioning, generator))
}

/// Draws `n` samples of a run's generator from latents seeded by `seed` and writes them as a
/// grid PNG at `out`.
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
    save_grid(&generator, &latents, conditioning, out)
}
