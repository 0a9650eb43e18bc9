//! The run folders under a folder, side by side (`zoo runs`): finished runs with their figures,
//! unfinished ones with how far they got, broken ones with what is wrong. Never an error for a
//! run folder, whatever it holds.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::folder::{files, RunFolder};
use super::summary::Summary;

/// Where a run folder stands.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// It wrote its `summary.json`.
    Finished,
    /// It has not (still training, or killed: `zoo train --resume` continues it).
    Unfinished,
    /// A file it needs does not read.
    Corrupt,
}

/// One run folder, as `zoo runs` lists it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunEntry {
    /// The folder, relative to the listed folder.
    pub name: String,
    /// The folder's path.
    pub path: PathBuf,
    /// Finished, unfinished or corrupt.
    pub state: RunState,
    /// For a corrupt run, what does not read; for an unfinished one, how far it got.
    pub note: String,
    /// Recipe name.
    pub recipe: Option<String>,
    /// `classify`, `language-model`, `forecast` or `gan`.
    pub task: Option<String>,
    /// Backend it trained on (finished runs).
    pub backend: Option<String>,
    /// Epochs trained.
    pub epochs: Option<usize>,
    /// Epochs the recipe asks for.
    pub epochs_planned: Option<usize>,
    /// The task's headline figure: its name (`test_accuracy`, `test_loss` in nats/char,
    /// `test_mse`, `mnist_score`, or the validation figure of a run that did not read its test
    /// set).
    pub figure_name: Option<String>,
    /// Its value.
    pub figure: Option<f64>,
    /// Seconds of training.
    pub train_seconds: Option<f64>,
    /// Training examples per second.
    pub samples_per_second: Option<f64>,
    /// When it finished (or last wrote its metrics), local time.
    pub date: Option<String>,
}

/// The headline figure of a finished run's summary, by task.
fn headline(summary: &Summary) -> Option<(&'static str, f64)> {
    let candidates: &[&'static str] = match summary.task.as_str() {
        "classify" => &["test_accuracy", "valid_accuracy"],
        "language-model" => &["test_loss", "valid_loss"],
        "forecast" => &["test_mse", "valid_loss"],
        "gan" => &["mnist_score", "final_g_loss"],
        _ => &["test_accuracy", "test_loss", "valid_accuracy", "valid_loss"],
    };
    candidates
        .iter()
        .find_map(|name| summary.metrics.get(name).map(|v| (*name, v)))
}

/// Every run folder (a folder holding `recipe.toml`) under `dir`, at any depth (search trials
/// and study runs sit a few levels down), sorted by path. A folder that cannot be read is left
/// out.
pub fn list_runs(dir: &Path) -> Vec<RunEntry> {
    let mut found = Vec::new();
    collect(dir, dir, 0, &mut found);
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn collect(root: &Path, dir: &Path, depth: usize, out: &mut Vec<RunEntry>) {
    if dir.join(files::RECIPE).is_file() {
        out.push(entry(root, dir));
        return;
    }
    if depth >= 6 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        collect(root, &sub, depth + 1, out);
    }
}

fn modified(path: &Path) -> Option<String> {
    let time = std::fs::metadata(path).ok()?.modified().ok()?;
    let local: chrono::DateTime<chrono::Local> = time.into();
    Some(local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
}

/// The distinct epoch numbers in a `metrics.csv` (its first column).
fn recorded_epochs(path: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut epochs: Vec<usize> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next()?.trim().parse().ok())
        .collect();
    epochs.dedup();
    Some(epochs.len())
}

fn entry(root: &Path, dir: &Path) -> RunEntry {
    let name = dir
        .strip_prefix(root)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(dir)
        .display()
        .to_string();
    let mut entry = RunEntry {
        name,
        path: dir.to_path_buf(),
        state: RunState::Corrupt,
        note: String::new(),
        recipe: None,
        task: None,
        backend: None,
        epochs: None,
        epochs_planned: None,
        figure_name: None,
        figure: None,
        train_seconds: None,
        samples_per_second: None,
        date: None,
    };
    let folder = match RunFolder::open(dir) {
        Ok(folder) => folder,
        Err(e) => {
            entry.note = format!("{e:#}");
            return entry;
        }
    };
    match folder.read_recipe() {
        Ok(recipe) => {
            entry.recipe = Some(recipe.name.clone());
            entry.task = Some(recipe.task().name().to_string());
            entry.epochs_planned = Some(recipe.training.epochs);
        }
        Err(e) => {
            entry.note = format!("{}: {e:#}", files::RECIPE);
            return entry;
        }
    }
    let summary_path = folder.file(files::SUMMARY);
    if summary_path.is_file() {
        match folder.read_summary() {
            Ok(summary) => {
                entry.state = RunState::Finished;
                entry.backend = Some(summary.backend.clone());
                entry.epochs = Some(summary.epochs_run);
                if let Some((name, value)) = headline(&summary) {
                    entry.figure_name = Some(name.to_string());
                    entry.figure = Some(value);
                }
                entry.train_seconds = Some(summary.train_seconds);
                entry.samples_per_second = Some(summary.train_samples_per_second);
                entry.date = if summary.finished_at.is_empty() {
                    modified(&summary_path)
                } else {
                    Some(summary.finished_at)
                };
            }
            Err(e) => entry.note = format!("{e:#}"),
        }
        return entry;
    }
    entry.state = RunState::Unfinished;
    let metrics = folder.file(files::METRICS);
    entry.epochs = recorded_epochs(&metrics);
    entry.date = modified(&metrics).or_else(|| modified(&folder.file(files::RECIPE)));
    entry.note = match (entry.epochs, entry.epochs_planned) {
        (Some(done), Some(planned)) => format!("{done} of {planned} epochs recorded"),
        _ => "no epoch recorded".to_string(),
    };
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_missing_folder_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list_runs(dir.path()).is_empty());
        assert!(list_runs(&dir.path().join("absent")).is_empty());
    }

    #[test]
    fn broken_and_unfinished_folders_are_listed_with_their_state() {
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("a-broken");
        std::fs::create_dir_all(&broken).unwrap();
        std::fs::write(broken.join("recipe.toml"), "not = [a recipe").unwrap();
        let unfinished = dir.path().join("nested").join("b-unfinished");
        std::fs::create_dir_all(&unfinished).unwrap();
        let recipe = crate::recipe::Recipe::load("mlp-mnist-mini", &[]).unwrap();
        std::fs::write(unfinished.join("recipe.toml"), recipe.to_toml()).unwrap();
        std::fs::write(
            unfinished.join("metrics.csv"),
            "epoch,split,loss,accuracy,seconds\n1,train,1,0.5,1\n1,valid,1,0.5,1\n",
        )
        .unwrap();
        let runs = list_runs(dir.path());
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].state, RunState::Corrupt);
        assert!(runs[0].note.contains("recipe.toml"), "{}", runs[0].note);
        assert_eq!(runs[1].state, RunState::Unfinished);
        assert_eq!(runs[1].name, "nested/b-unfinished");
        assert_eq!(runs[1].note, "1 of 20 epochs recorded");
    }
}
