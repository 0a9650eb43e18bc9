//! The files of a GAN run folder: names, per-epoch checkpoints, the fixed grid latents, and
//! where a resumed run starts.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::store::ModuleRecord;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::history::{read_history, GanEpoch};
use super::trainer::normal_latents;
use crate::history::write_atomically;
use crate::run::files as run_files;

/// File names inside a GAN run folder (besides `recipe.toml` and `summary.json`).
pub mod files {
    /// The trained generator (Burn record).
    pub const GENERATOR: &str = "generator.bpk";
    /// The trained discriminator or critic (Burn record).
    pub const DISCRIMINATOR: &str = "discriminator.bpk";
    /// One row per epoch: losses and time.
    pub const METRICS: &str = "metrics.csv";
    /// The losses per epoch, as a chart.
    pub const CURVES: &str = "curves.png";
    /// Folder of the per-epoch sample grids.
    pub const SAMPLES: &str = "samples";
    /// The fixed latent vectors behind every grid (little-endian `f32`, row by row).
    pub const LATENTS: &str = "latents.f32";
    /// Folder of the per-epoch checkpoints.
    pub const CHECKPOINT: &str = "checkpoint";
}

/// The per-epoch checkpoint files, by kind: `<kind>-<epoch>.bpk`.
pub(crate) const CHECKPOINT_KINDS: [&str; 4] = ["generator", "discriminator", "optim-g", "optim-d"];

/// Checkpoints kept (the newest ones).
pub(crate) const KEEP_CHECKPOINTS: usize = 2;

/// `samples/epoch-NNN.png`.
pub(crate) fn grid_path(run_dir: &Path, epoch: usize) -> PathBuf {
    run_dir
        .join(files::SAMPLES)
        .join(format!("epoch-{epoch:03}.png"))
}

/// The latents of every epoch's grid: read from `samples/latents.f32`, or drawn from the seed
/// and saved there on the first epoch.
pub(crate) fn fixed_latents(run_dir: &Path, n: usize, size: usize, seed: u64) -> Result<Vec<f32>> {
    let dir = run_dir.join(files::SAMPLES);
    let path = dir.join(files::LATENTS);
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() == n * size * 4 {
            return Ok(bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect());
        }
    }
    let latents = normal_latents(&mut StdRng::seed_from_u64(seed ^ 0x6a1d_5eed), n, size);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes: Vec<u8> = latents.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_atomically(&path, &bytes)?;
    Ok(latents)
}

pub(crate) fn checkpoint_file(run_dir: &Path, kind: &str, epoch: usize) -> PathBuf {
    run_dir
        .join(files::CHECKPOINT)
        .join(format!("{kind}-{epoch}.bpk"))
}

/// The epochs with a generator checkpoint file, in increasing order.
pub(crate) fn checkpoint_epochs(run_dir: &Path) -> Vec<usize> {
    crate::run::checkpoint_epochs(&run_dir.join(files::CHECKPOINT), "generator").unwrap_or_default()
}

/// Where a GAN run folder resumes: the last epoch with a complete checkpoint (all four files,
/// the records readable) and a row in `metrics.csv`; the history up to there.
pub(crate) fn resume_point(run_dir: &Path, wgan: bool) -> Result<(usize, Vec<GanEpoch>)> {
    if !run_dir.join(run_files::RECIPE).is_file() {
        bail!(
            "'{}' is not a run folder (no {})",
            run_dir.display(),
            run_files::RECIPE
        );
    }
    let mut history = read_history(run_dir, wgan).unwrap_or_default();
    let recorded = history.last().map_or(0, |r| r.epoch);
    let complete = |epoch: usize| {
        CHECKPOINT_KINDS
            .iter()
            .all(|k| checkpoint_file(run_dir, k, epoch).is_file())
            && ["generator", "discriminator"]
                .iter()
                .all(|k| ModuleRecord::load(checkpoint_file(run_dir, k, epoch)).is_ok())
    };
    let epoch = checkpoint_epochs(run_dir)
        .into_iter()
        .rev()
        .find(|&e| e <= recorded && complete(e))
        .with_context(|| {
            format!(
                "nothing to resume in '{}': no epoch finished with its checkpoint; start the run again",
                run_dir.display()
            )
        })?;
    history.retain(|r| r.epoch <= epoch);
    Ok((epoch, history))
}
