//! A run's TensorBoard log, `RUN/tb/events.out.tfevents.*`: every figure of every epoch as a
//! scalar, each epoch's images (a GAN's sample grid) and the curves as they stood after each
//! epoch, so `tensorboard --logdir runs` shows every run with no conversion step.
//!
//! The log is kept in memory and the whole file is rewritten atomically after every epoch, like
//! `metrics.csv`, so a crash never leaves half a record. A resumed run drops the file its
//! earlier process wrote and starts a new one from its truncated history (the scalars and the
//! images of the kept epochs), so TensorBoard never shows the epochs trained again twice.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use zoo_tensorboard::EventLog;

use super::epoch_row::EpochRow;
use super::folder::RunFolder;

/// The folder of a run's event files.
pub const TB_DIR: &str = "tb";

/// The TensorBoard tag of a figure: grouped by what it measures, so the train and valid curves
/// of one quantity share a chart (`valid_accuracy` is `accuracy/valid`).
pub fn tag(figure: &str) -> String {
    match figure.split_once('_') {
        Some((split @ ("train" | "valid" | "test"), what)) => format!("{what}/{split}"),
        _ => match figure {
            "d_loss" | "g_loss" | "wasserstein" => format!("gan/{figure}"),
            other => other.to_string(),
        },
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The event log of one process's part of a run.
#[derive(Clone, Debug)]
pub struct TensorBoardLog {
    name: String,
    log: EventLog,
}

impl TensorBoardLog {
    /// A new log holding `rows` (the history kept from an earlier process, if any): their
    /// scalars and image files, dated from now back by their seconds. Event files of an
    /// earlier process are removed.
    pub fn start<R: EpochRow>(folder: &RunFolder, rows: &[R]) -> Result<Self> {
        let dir = folder.file(TB_DIR);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.filter_map(|e| e.ok()) {
                if entry.file_name().to_string_lossy().contains("tfevents") {
                    std::fs::remove_file(entry.path())
                        .with_context(|| format!("cannot remove {}", entry.path().display()))?;
                }
            }
        }
        let total: f64 = rows.iter().map(R::seconds).sum();
        let start = now() - total;
        let mut this = Self {
            name: EventLog::file_name(start),
            log: EventLog::new(start),
        };
        let mut wall_time = start;
        for row in rows {
            wall_time += row.seconds();
            this.add_row(folder, row, wall_time)?;
        }
        Ok(this)
    }

    /// Adds one epoch (its scalars, its images and the curves `png` after it) and rewrites the
    /// event file.
    pub fn push<R: EpochRow>(&mut self, folder: &RunFolder, row: &R, curves: &[u8]) -> Result<()> {
        let wall_time = now();
        self.add_row(folder, row, wall_time)?;
        self.log
            .add_png("curves", row.epoch() as i64, curves, wall_time)
            .context("the curves are not a PNG")?;
        folder.write(
            &format!("{TB_DIR}/{}", self.name),
            &self.log.clone().into_bytes(),
        )
    }

    fn add_row<R: EpochRow>(&mut self, folder: &RunFolder, row: &R, wall_time: f64) -> Result<()> {
        let step = row.epoch() as i64;
        for (figure, value) in row.figures() {
            self.log
                .add_scalar(&tag(figure), step, value as f32, wall_time);
        }
        for (tag, file) in R::image_files(row.epoch()) {
            if let Ok(png) = std::fs::read(folder.file(&file)) {
                self.log
                    .add_png(tag, step, &png, wall_time)
                    .with_context(|| format!("{file} is not a PNG"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::tag;

    #[test]
    fn figures_group_by_quantity() {
        assert_eq!(tag("valid_accuracy"), "accuracy/valid");
        assert_eq!(tag("train_loss"), "loss/train");
        assert_eq!(tag("learning_rate"), "learning_rate");
        assert_eq!(tag("d_loss"), "gan/d_loss");
    }
}
