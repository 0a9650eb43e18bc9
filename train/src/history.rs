//! Per-epoch metrics: read from burn-train's event store at the end of every epoch, written to
//! `metrics.csv` and `curves.png` at once (so a crash loses nothing), and used for early stopping.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::train::metric::store::{Aggregate, EventStoreClient, Split};
use burn::train::EarlyStoppingStrategy;

use crate::plot;
use crate::recipe::Monitor;

/// Loss and accuracy (a fraction in `[0, 1]`) of one split after one epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitMetrics {
    /// Mean cross-entropy loss.
    pub loss: f64,
    /// Fraction of correct predictions.
    pub accuracy: f64,
}

/// One epoch's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Training split (running figures, with dropout active).
    pub train: SplitMetrics,
    /// Validation split.
    pub valid: SplitMetrics,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// The epochs seen so far, and what to do with each new one.
#[derive(Debug)]
pub struct History {
    /// Recorded epochs, in order.
    pub epochs: Vec<EpochRecord>,
    run_dir: PathBuf,
    patience: Option<usize>,
    monitor: Monitor,
    last_tick: Instant,
}

impl History {
    /// An empty history writing into `run_dir`; `patience` enables early stopping on the
    /// `monitor`ed metric.
    pub fn new(run_dir: &Path, patience: Option<usize>, monitor: Monitor) -> Self {
        Self {
            epochs: Vec::new(),
            run_dir: run_dir.to_path_buf(),
            patience,
            monitor,
            last_tick: Instant::now(),
        }
    }

    /// Keeps only the epochs before `epoch` (when resuming from a checkpoint).
    pub fn truncate_before(&mut self, epoch: usize) {
        self.epochs.retain(|r| r.epoch < epoch);
    }

    /// The epoch with the best monitored validation metric (the first one on ties).
    pub fn best(&self) -> Option<&EpochRecord> {
        let score = |r: &EpochRecord| match self.monitor {
            Monitor::ValidAccuracy => r.valid.accuracy,
            Monitor::ValidLoss => -r.valid.loss,
        };
        self.epochs
            .iter()
            .fold(None, |best: Option<&EpochRecord>, r| match best {
                Some(b) if score(b) >= score(r) => Some(b),
                _ => Some(r),
            })
    }

    /// Adds one epoch and rewrites `metrics.csv` and `curves.png`.
    pub fn push(&mut self, record: EpochRecord) -> Result<()> {
        self.epochs.retain(|r| r.epoch != record.epoch);
        self.epochs.push(record);
        write_csv(&self.run_dir.join("metrics.csv"), &self.epochs)?;
        plot::training_curves(&self.run_dir.join("curves.png"), &self.epochs)
    }

    /// Whether the monitored metric has not improved for `patience` epochs.
    pub fn should_stop_early(&self) -> bool {
        match (self.patience, self.best(), self.epochs.last()) {
            (Some(patience), Some(best), Some(last)) => last.epoch >= best.epoch + patience,
            _ => false,
        }
    }

    /// Reads a `metrics.csv` written by [`History::push`].
    pub fn load(run_dir: &Path, patience: Option<usize>, monitor: Monitor) -> Result<Self> {
        let path = run_dir.join("metrics.csv");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut history = Self::new(run_dir, patience, monitor);
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        for pair in rows.chunks(2) {
            let [train, valid] = pair else { break };
            let number = |row: &[&str], i: usize| -> Result<f64> {
                row.get(i)
                    .and_then(|v| v.parse().ok())
                    .with_context(|| format!("malformed row in {}", path.display()))
            };
            history.epochs.push(EpochRecord {
                epoch: number(train, 0)? as usize,
                train: SplitMetrics {
                    loss: number(train, 2)?,
                    accuracy: number(train, 3)?,
                },
                valid: SplitMetrics {
                    loss: number(valid, 2)?,
                    accuracy: number(valid, 3)?,
                },
                seconds: number(train, 4)?,
            });
        }
        Ok(history)
    }
}

fn write_csv(path: &Path, epochs: &[EpochRecord]) -> Result<()> {
    let mut text = String::from("epoch,split,loss,accuracy,seconds\n");
    for r in epochs {
        for (split, m) in [("train", r.train), ("valid", r.valid)] {
            text.push_str(&format!(
                "{},{split},{:.6},{:.6},{:.3}\n",
                r.epoch, m.loss, m.accuracy, r.seconds
            ));
        }
    }
    write_atomically(path, text.as_bytes())
}

/// Writes a file through a temporary sibling and a rename, so readers never see half of it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// burn-train's hook at the end of every epoch: records the epoch into the shared [`History`]
/// and answers whether to stop early.
#[derive(Clone)]
pub struct EpochRecorder {
    history: Arc<Mutex<History>>,
    error: Arc<Mutex<Option<anyhow::Error>>>,
    after_epoch: Option<AfterEpoch>,
}

/// Called with every recorded epoch; `true` stops training after it.
pub type AfterEpoch = Arc<dyn Fn(&EpochRecord) -> bool + Send + Sync>;

impl EpochRecorder {
    /// A recorder feeding `history`, asking `after_epoch` (if any) whether to stop.
    pub fn new(history: Arc<Mutex<History>>, after_epoch: Option<AfterEpoch>) -> Self {
        Self {
            history,
            error: Arc::new(Mutex::new(None)),
            after_epoch,
        }
    }

    /// The first error met while writing the metrics files, if any.
    pub fn take_error(&self) -> Option<anyhow::Error> {
        self.error.lock().expect("recorder lock").take()
    }
}

impl EarlyStoppingStrategy for EpochRecorder {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        let metric = |name: &str, split: Split| {
            store
                .find_metric(name, epoch, Aggregate::Mean, &split)
                .unwrap_or(f64::NAN)
        };
        let split = |split: Split| SplitMetrics {
            loss: metric("Loss", split.clone()),
            accuracy: metric("Accuracy", split) / 100.0,
        };
        let mut history = self.history.lock().expect("history lock");
        let seconds = history.last_tick.elapsed().as_secs_f64();
        history.last_tick = Instant::now();
        let record = EpochRecord {
            epoch,
            train: split(Split::Train),
            valid: split(Split::Valid),
            seconds,
        };
        if let Err(err) = history.push(record) {
            self.error.lock().expect("recorder lock").get_or_insert(err);
            return true;
        }
        let stop_asked = self.after_epoch.as_ref().is_some_and(|f| f(&record));
        history.should_stop_early() || stop_asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, valid_accuracy: f64) -> EpochRecord {
        let m = SplitMetrics {
            loss: 1.0 / epoch as f64,
            accuracy: valid_accuracy,
        };
        EpochRecord {
            epoch,
            train: m,
            valid: m,
            seconds: 1.5,
        }
    }

    #[test]
    fn early_stopping_waits_patience_epochs_after_the_best() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::new(dir.path(), Some(2), Monitor::ValidAccuracy);
        for (epoch, acc) in [(1, 0.5), (2, 0.7), (3, 0.69)] {
            history.push(record(epoch, acc)).unwrap();
            assert!(!history.should_stop_early(), "epoch {epoch}");
        }
        history.push(record(4, 0.7)).unwrap();
        assert!(history.should_stop_early(), "a tie is no improvement");
        assert_eq!(history.best().unwrap().epoch, 2);
    }

    #[test]
    fn the_loss_monitor_picks_the_lowest_validation_loss() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::new(dir.path(), Some(1), Monitor::ValidLoss);
        let mut push = |epoch: usize, loss: f64, accuracy: f64| {
            let m = SplitMetrics { loss, accuracy };
            history
                .push(EpochRecord {
                    epoch,
                    train: m,
                    valid: m,
                    seconds: 1.0,
                })
                .unwrap();
        };
        push(1, 0.5, 0.80);
        push(2, 0.3, 0.79);
        push(3, 0.4, 0.90);
        assert_eq!(history.best().unwrap().epoch, 2);
        assert!(history.should_stop_early());
    }

    #[test]
    fn csv_round_trips_and_plot_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::new(dir.path(), None, Monitor::ValidAccuracy);
        history.push(record(1, 0.5)).unwrap();
        history.push(record(2, 0.75)).unwrap();
        let loaded = History::load(dir.path(), None, Monitor::ValidAccuracy).unwrap();
        assert_eq!(loaded.epochs.len(), 2);
        assert_eq!(loaded.epochs[1].valid.accuracy, 0.75);
        assert_eq!(loaded.epochs[1].train.loss, 0.5);
        let png = std::fs::read(dir.path().join("curves.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
