//! Per-epoch figures of a run, for every task: `metrics.csv` and `curves.png` rewritten after
//! every epoch (so a crash loses nothing), read back by `--resume`, and the best epoch and early
//! stopping on the monitored figure.

use anyhow::{Context, Result};

use crate::plot;
use crate::recipe::Monitor;

use super::epoch_row::EpochRow;
use super::folder::{files, RunFolder};
use super::tensorboard::TensorBoardLog;

/// The figure that picks the best epoch, and which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BestBy {
    /// A name from [`EpochRow::figures`].
    pub figure: &'static str,
    /// `true` when higher is better.
    pub higher_is_better: bool,
}

impl From<Monitor> for BestBy {
    fn from(monitor: Monitor) -> Self {
        match monitor {
            Monitor::ValidAccuracy => BestBy {
                figure: "valid_accuracy",
                higher_is_better: true,
            },
            Monitor::ValidLoss => BestBy {
                figure: "valid_loss",
                higher_is_better: false,
            },
        }
    }
}

/// The epochs seen so far, and what to do with each new one.
#[derive(Clone, Debug)]
pub struct History<R> {
    rows: Vec<R>,
    folder: RunFolder,
    best_by: Option<BestBy>,
    patience: Option<usize>,
    tensorboard: Option<TensorBoardLog>,
}

impl<R: EpochRow> History<R> {
    /// An empty history writing into `folder`. `best_by` names the figure of the best epoch
    /// (the last epoch is the best when `None`); `patience` enables early stopping on it.
    pub fn new(folder: &RunFolder, best_by: Option<BestBy>, patience: Option<usize>) -> Self {
        Self {
            rows: Vec::new(),
            folder: folder.clone(),
            best_by,
            patience,
            tensorboard: None,
        }
    }

    /// The history recorded in `folder`'s `metrics.csv`.
    pub fn load(
        folder: &RunFolder,
        best_by: Option<BestBy>,
        patience: Option<usize>,
    ) -> Result<Self> {
        let path = folder.file(files::METRICS);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let rows = R::parse_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Self {
            rows,
            ..Self::new(folder, best_by, patience)
        })
    }

    /// The recorded epochs, in order.
    pub fn rows(&self) -> &[R] {
        &self.rows
    }

    /// The last recorded epoch number (0 when none).
    pub fn last_epoch(&self) -> usize {
        self.rows.last().map_or(0, |r| r.epoch())
    }

    /// Keeps only the epochs up to `epoch` (when resuming from its checkpoint).
    pub fn truncate_to(&mut self, epoch: usize) {
        self.rows.retain(|r| r.epoch() <= epoch);
    }

    /// Adds one epoch (replacing a row of the same number) and rewrites `metrics.csv`,
    /// `curves.png` and the TensorBoard log.
    pub fn push(&mut self, row: R) -> Result<()> {
        self.rows.retain(|r| r.epoch() != row.epoch());
        if self.tensorboard.is_none() {
            // The first epoch of this process: the log starts from the epochs kept before it.
            self.tensorboard = Some(TensorBoardLog::start(&self.folder, &self.rows)?);
        }
        self.rows.push(row.clone());
        self.folder
            .write(files::METRICS, R::csv(&self.rows).as_bytes())?;
        let png = plot::render(&R::panels(&self.rows))?;
        self.folder.write(files::CURVES, &png)?;
        if let Some(log) = &mut self.tensorboard {
            log.push(&self.folder, &row, &png)?;
        }
        Ok(())
    }

    /// The epoch with the best monitored figure (the first one on ties), or the last one when
    /// nothing is monitored.
    pub fn best(&self) -> Option<&R> {
        let Some(best_by) = self.best_by else {
            return self.rows.last();
        };
        let score = |r: &R| {
            let value = r.figure(best_by.figure).unwrap_or(f64::NAN);
            if best_by.higher_is_better {
                value
            } else {
                -value
            }
        };
        self.rows
            .iter()
            .fold(None, |best: Option<&R>, r| match best {
                Some(b) if score(b) >= score(r) => Some(b),
                _ => Some(r),
            })
    }

    /// Whether the monitored figure has not improved for `patience` epochs.
    pub fn should_stop_early(&self) -> bool {
        match (self.patience, self.best(), self.rows.last()) {
            (Some(patience), Some(best), Some(last)) => last.epoch() >= best.epoch() + patience,
            _ => false,
        }
    }

    /// Seconds of every recorded epoch, those of an earlier process included when resumed.
    pub fn seconds(&self) -> f64 {
        self.rows.iter().map(R::seconds).sum()
    }
}
