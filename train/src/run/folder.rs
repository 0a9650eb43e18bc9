//! A run folder and every file in it: where they are, how they are written (each through the
//! workspace's one atomic write, [`zoo_datasets::write_atomically`]), the per-epoch checkpoints
//! and the one scan that finds where a killed run resumes.
//!
//! burn-train writes the supervised checkpoints (`checkpoint/{model,optim,scheduler}-N.bpk`) and
//! `experiment.log` itself; [`RunFolder::last_complete_checkpoint`] reads every record back before
//! trusting an epoch, so a checkpoint half-written at a kill is skipped.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::lr_scheduler::LrSchedulerRecord;
use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use crate::recipe::{differing_keys, Recipe, Task};

use super::summary::Summary;

/// File names inside a run folder.
pub mod files {
    /// The resolved recipe.
    pub const RECIPE: &str = "recipe.toml";
    /// The trained model (Burn record) of a supervised run.
    pub const MODEL: &str = "model.bpk";
    /// Final figures.
    pub const SUMMARY: &str = "summary.json";
    /// One row per epoch (and split).
    pub const METRICS: &str = "metrics.csv";
    /// The figures per epoch, as a chart.
    pub const CURVES: &str = "curves.png";
    /// Folder of the per-epoch checkpoints.
    pub const CHECKPOINT: &str = "checkpoint";
    /// The recipe the checkpoints and the model were trained with (`recipe.toml` is the copy
    /// for people to read; an edit there is caught against this one).
    pub const TRAINED_RECIPE: &str = "checkpoint/recipe.toml";
}

/// What a checkpoint file holds, so the resume scan can read it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A module's weights.
    Module,
    /// An optimizer's state.
    Optimizer,
    /// A learning-rate scheduler's state.
    Scheduler,
}

/// The files of one epoch's checkpoint, `checkpoint/<kind>-<epoch>.bpk`: an epoch counts only
/// when every file is present and reads back as the record it should hold.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointLayout {
    /// Every file of one epoch, by name, and what it holds.
    pub files: &'static [(&'static str, RecordKind)],
}

impl CheckpointLayout {
    /// The names of the files of one epoch.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> {
        self.files.iter().map(|(name, _)| *name)
    }
}

/// burn-train's checkpoint of a supervised run: model, optimizer and scheduler.
pub const SUPERVISED_CHECKPOINT: CheckpointLayout = CheckpointLayout {
    files: &[
        ("model", RecordKind::Module),
        ("optim", RecordKind::Optimizer),
        ("scheduler", RecordKind::Scheduler),
    ],
};

/// Checkpoints kept by a run (the newest ones); enough for a kill during the newest to leave the
/// one before intact.
pub const KEEP_CHECKPOINTS: usize = 2;

/// A run folder: a resolved recipe, checkpoints, metrics, plots, the model and the summary.
#[derive(Clone, Debug)]
pub struct RunFolder {
    dir: PathBuf,
}

impl RunFolder {
    /// The folder `dir` (default `runs/<recipe>-<time>`) for a new run, created; one that
    /// already holds a run is refused. With `resume`, the folder must hold a run.
    pub fn prepare(recipe: &Recipe, dir: Option<&Path>, resume: bool) -> Result<Self> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => {
                let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
                PathBuf::from("runs").join(format!("{}-{stamp}", recipe.name))
            }
        };
        let folder = Self { dir };
        if resume {
            if !folder.file(files::RECIPE).is_file() {
                bail!(
                    "'{}' is not a run folder (no {})",
                    folder.dir.display(),
                    files::RECIPE
                );
            }
        } else if folder.file(files::RECIPE).exists() {
            bail!(
                "run folder '{}' already holds a run; pass --resume to continue it, or choose another --out",
                folder.dir.display()
            );
        }
        std::fs::create_dir_all(&folder.dir)
            .with_context(|| format!("cannot create run folder '{}'", folder.dir.display()))?;
        Ok(folder)
    }

    /// An existing run folder (it holds a `recipe.toml`).
    pub fn open(dir: &Path) -> Result<Self> {
        let folder = Self {
            dir: dir.to_path_buf(),
        };
        if !folder.file(files::RECIPE).is_file() {
            bail!(
                "'{}' is not a run folder (no {})",
                dir.display(),
                files::RECIPE
            );
        }
        Ok(folder)
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The path of a file in the folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a file of the folder atomically (`name` may contain sub-folders).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_file(&self.file(name), bytes)
    }

    /// Writes the resolved recipe: `recipe.toml`, and the copy the weights are checked against
    /// ([`files::TRAINED_RECIPE`]).
    pub fn write_recipe(&self, recipe: &Recipe) -> Result<()> {
        let text = recipe.to_toml();
        self.write(files::TRAINED_RECIPE, text.as_bytes())?;
        self.write(files::RECIPE, text.as_bytes())
    }

    /// The recipe the run's weights were trained with: [`files::TRAINED_RECIPE`], or
    /// `recipe.toml` in a folder written before that copy existed.
    pub fn read_trained_recipe(&self) -> Result<Recipe> {
        let path = self.file(files::TRAINED_RECIPE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Recipe::parse(&path.display().to_string(), &text, &[]),
            Err(_) => self.read_recipe(),
        }
    }

    /// Reads the folder's recipe.
    pub fn read_recipe(&self) -> Result<Recipe> {
        let path = self.file(files::RECIPE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Recipe::parse(&path.display().to_string(), &text, &[])
    }

    /// Reads the folder's recipe and checks that its model does `task`; `needs` says what the
    /// command needs, for the error.
    /// The recipe must still describe the trained weights: a `model` or `data` key edited in
    /// `recipe.toml` after training is an error naming it.
    pub fn read_recipe_for(&self, task: Task, needs: &str) -> Result<Recipe> {
        let recipe = self.read_recipe()?;
        let found = recipe.task();
        if found == Task::Gan && task != Task::Gan {
            bail!(
                "'{}' is a GAN run ('{}'): {needs}; draw images with `zoo sample {}`",
                self.dir.display(),
                recipe.name,
                self.dir.display()
            );
        }
        if found != task {
            bail!(
                "'{}' holds a {} run ({} model); {needs}",
                self.dir.display(),
                recipe.name,
                recipe.model.kind_name()
            );
        }
        let trained = self.read_trained_recipe()?;
        if let Some(change) = differing_keys(&trained, &recipe)
            .into_iter()
            .find(|d| d.key.starts_with("model.") || d.key.starts_with("data."))
        {
            bail!(
                "'{}' was edited after training: {change}; the weights were trained with the first value (as in {}): restore it",
                self.file(files::RECIPE).display(),
                self.file(files::TRAINED_RECIPE).display()
            );
        }
        Ok(recipe)
    }

    /// Writes `summary.json`.
    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        let json = serde_json::to_string_pretty(summary)?;
        self.write(files::SUMMARY, json.as_bytes())
    }

    /// Reads `summary.json`, if the run finished and it is readable.
    pub fn read_summary(&self) -> Result<Summary> {
        let path = self.file(files::SUMMARY);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (did the run finish?)", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a run summary", path.display()))
    }

    /// Saves a module's weights as `name` (a Burn record).
    pub fn save_module<M: Module>(&self, name: &str, module: &M) -> Result<()> {
        let bytes = module_bytes(module)
            .with_context(|| format!("cannot save {}", self.file(name).display()))?;
        self.write(name, &bytes)
    }

    /// Loads the weights saved as `name` into `module` (built from the run's recipe). A missing
    /// or unreadable file, or weights that do not fit the module, are an error naming the file.
    pub fn load_module<M: Module>(&self, name: &str, module: M) -> Result<M> {
        load_module_file(&self.file(name), module)
    }

    /// The path of one file of an epoch's checkpoint.
    pub fn checkpoint_file(&self, kind: &str, epoch: usize) -> PathBuf {
        self.dir
            .join(files::CHECKPOINT)
            .join(format!("{kind}-{epoch}.bpk"))
    }

    /// Writes the checkpoint of `epoch` (one atomic write per file, `(kind, bytes)`), then
    /// removes the checkpoints older than the newest [`KEEP_CHECKPOINTS`].
    pub fn save_checkpoint(
        &self,
        layout: &CheckpointLayout,
        epoch: usize,
        parts: &[(&str, Bytes)],
    ) -> Result<()> {
        for (kind, bytes) in parts {
            write_file(&self.checkpoint_file(kind, epoch), bytes)?;
        }
        for old in self
            .checkpoint_epochs(layout.files[0].0)
            .into_iter()
            .filter(|&e| e + KEEP_CHECKPOINTS <= epoch)
        {
            for kind in layout.kinds() {
                let _ = std::fs::remove_file(self.checkpoint_file(kind, old));
            }
        }
        Ok(())
    }

    /// The epochs `N` of the `checkpoint/<kind>-N.bpk` files, in increasing order.
    pub fn checkpoint_epochs(&self, kind: &str) -> Vec<usize> {
        let prefix = format!("{kind}-");
        let Ok(entries) = std::fs::read_dir(self.dir.join(files::CHECKPOINT)) else {
            return Vec::new();
        };
        let mut epochs: Vec<usize> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix(prefix.as_str())?
                    .strip_suffix(".bpk")?
                    .parse()
                    .ok()
            })
            .collect();
        epochs.sort_unstable();
        epochs
    }

    /// The highest epoch, at most `max_epoch`, whose checkpoint is complete (every file present
    /// and readable as its record). A checkpoint half-written when the process was killed is
    /// skipped in favour of the one before it. This is the one scan `--resume` uses.
    pub fn last_complete_checkpoint(
        &self,
        layout: &CheckpointLayout,
        max_epoch: usize,
    ) -> Result<usize> {
        let readable = |path: PathBuf, kind: RecordKind| match kind {
            RecordKind::Module => ModuleRecord::load(path).is_ok(),
            RecordKind::Optimizer => OptimizerRecord::load(path).is_ok(),
            RecordKind::Scheduler => LrSchedulerRecord::load(path).is_ok(),
        };
        let complete = |epoch: usize| {
            layout
                .files
                .iter()
                .all(|(name, kind)| readable(self.checkpoint_file(name, epoch), *kind))
        };
        self.checkpoint_epochs(layout.files[0].0)
            .into_iter()
            .rev()
            .find(|&epoch| epoch <= max_epoch && complete(epoch))
            .with_context(|| {
                format!(
                    "nothing to resume in '{}': no epoch finished with its checkpoint; start the run again",
                    self.dir.display()
                )
            })
    }
}

/// Writes a file atomically, with the path in the error.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    zoo_datasets::write_atomically(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A module's weights as the bytes of a Burn record file.
pub fn module_bytes<M: Module>(module: &M) -> Result<Bytes> {
    Ok(module.clone().into_record().into_bytes()?)
}

/// Loads the Burn record at `path` into `module`: the one fallible model load. The error names
/// the file, and says whether it is unreadable or does not fit the module.
pub fn load_module_file<M: Module>(path: &Path, module: M) -> Result<M> {
    let record = ModuleRecord::load(path).with_context(|| {
        format!(
            "cannot read the model '{}' (did the run finish?)",
            path.display()
        )
    })?;
    module
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "the weights in '{}' do not fit the model its recipe.toml describes",
                path.display()
            )
        })
}
