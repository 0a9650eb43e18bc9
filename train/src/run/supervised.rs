//! The supervised training loop, shared by the image classifier, the language model and the
//! forecaster: burn-train's `SupervisedTraining` with checkpoints (the last two epochs and the
//! best), the per-epoch [`History`], early stopping, the progress display and the divergence
//! watch. A task brings its model (a burn-train `TrainStep` + `InferenceStep`) and its loaders.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Result};
use burn::data::dataloader::DataLoader;
use burn::tensor::Device;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, EventStoreClient, Split};
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::{
    EarlyStoppingStrategy, InferenceStep, Learner, LearnerModel, SupervisedTraining, TrainStep,
};

use crate::optim;
use crate::plot::{Panel, Series};
use crate::recipe::{Monitor, Recipe};

use super::driver::{FitStats, Run};
use super::epoch_row::EpochRow;
use super::epoch_seed::EpochClock;
use super::folder::{files, load_module_file, KEEP_CHECKPOINTS};
use super::history::History;
use super::options::EpochCallback;
use super::progress::{self, WatchReport};

/// The training and validation loaders of a model.
pub type Loaders<M> = (
    Arc<dyn DataLoader<<M as TrainStep>::Input>>,
    Arc<dyn DataLoader<<M as InferenceStep>::Input>>,
);

/// A model burn-train can fit, and the metrics its outputs support.
pub trait Fittable: LearnerModel + Sized {
    /// Adds the model's training and validation metrics (loss, and accuracy where there is one).
    fn with_metrics(training: SupervisedTraining<Self>) -> SupervisedTraining<Self>;
}

/// Loss and accuracy (a fraction in `[0, 1]`; NaN for a forecaster) of one split after one
/// epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitMetrics {
    /// Mean loss.
    pub loss: f64,
    /// Fraction of correct predictions.
    pub accuracy: f64,
}

/// One epoch of a supervised run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SupervisedEpoch {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Training split (running figures, with dropout active).
    pub train: SplitMetrics,
    /// Validation split.
    pub valid: SplitMetrics,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
    /// The mean learning rate of the epoch's steps (NaN when not recorded).
    pub learning_rate: f64,
}

impl EpochRow for SupervisedEpoch {
    fn epoch(&self) -> usize {
        self.epoch
    }

    fn seconds(&self) -> f64 {
        self.seconds
    }

    fn figures(&self) -> Vec<(&'static str, f64)> {
        let mut figures = vec![
            ("train_loss", self.train.loss),
            ("valid_loss", self.valid.loss),
        ];
        if self.valid.accuracy.is_finite() {
            figures.push(("train_accuracy", self.train.accuracy));
            figures.push(("valid_accuracy", self.valid.accuracy));
        }
        if self.learning_rate.is_finite() {
            figures.push(("learning_rate", self.learning_rate));
        }
        figures
    }

    /// Two rows per epoch, `train` then `valid`:
    /// `epoch,split,loss,accuracy,seconds,learning_rate` (the epoch's mean learning rate, on
    /// both rows).
    fn csv(rows: &[Self]) -> String {
        let mut text = String::from("epoch,split,loss,accuracy,seconds,learning_rate\n");
        for r in rows {
            for (split, m) in [("train", r.train), ("valid", r.valid)] {
                text.push_str(&format!(
                    "{},{split},{:.6},{:.6},{:.3},{:e}\n",
                    r.epoch, m.loss, m.accuracy, r.seconds, r.learning_rate
                ));
            }
        }
        text
    }

    fn parse_csv(text: &str) -> std::result::Result<Vec<Self>, String> {
        let lines: Vec<&str> = text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .collect();
        let mut rows = Vec::new();
        for pair in lines.chunks(2) {
            let [train, valid] = pair else {
                return Err(format!("epoch row without its valid row: '{}'", pair[0]));
            };
            let cells = |line: &str| -> Vec<String> {
                line.split(',').map(|c| c.trim().to_string()).collect()
            };
            let (train, valid) = (cells(train), cells(valid));
            let number = |row: &[String], i: usize| -> std::result::Result<f64, String> {
                row.get(i)
                    .and_then(|v| v.parse::<f64>().ok())
                    .ok_or_else(|| format!("malformed row '{}'", row.join(",")))
            };
            let epoch = number(&train, 0)?;
            if !(epoch >= 1.0 && epoch.fract() == 0.0 && number(&valid, 0)? == epoch) {
                return Err(format!("malformed epoch number in '{}'", train.join(",")));
            }
            if train.get(1).map(String::as_str) != Some("train")
                || valid.get(1).map(String::as_str) != Some("valid")
            {
                return Err(format!(
                    "expected a train and a valid row for epoch {epoch}"
                ));
            }
            rows.push(SupervisedEpoch {
                epoch: epoch as usize,
                train: SplitMetrics {
                    loss: number(&train, 2)?,
                    accuracy: number(&train, 3)?,
                },
                valid: SplitMetrics {
                    loss: number(&valid, 2)?,
                    accuracy: number(&valid, 3)?,
                },
                seconds: number(&train, 4)?,
                // Written since the column was added; NaN in older files.
                learning_rate: if train.len() > 5 {
                    number(&train, 5)?
                } else {
                    f64::NAN
                },
            });
        }
        Ok(rows)
    }

    /// Loss (left) and accuracy (right) per epoch, train vs valid; no accuracy panel for tasks
    /// without accuracy (forecasters).
    fn panels(rows: &[Self]) -> Vec<Panel<'static>> {
        let pick = |f: &dyn Fn(&SupervisedEpoch) -> f64| -> Vec<(f64, f64)> {
            rows.iter().map(|r| (r.epoch as f64, f(r))).collect()
        };
        let split = |label, f: &dyn Fn(&SupervisedEpoch) -> f64| Series {
            label,
            points: pick(f),
            line: true,
        };
        let mut panels = vec![Panel {
            x_categories: Vec::new(),
            title: "loss",
            x_label: "epoch",
            y_label: "mean loss",
            series: vec![
                split("train", &|r| r.train.loss),
                split("valid", &|r| r.valid.loss),
            ],
        }];
        if rows.iter().any(|r| r.valid.accuracy.is_finite()) {
            panels.push(Panel {
                x_categories: Vec::new(),
                title: "accuracy",
                x_label: "epoch",
                y_label: "accuracy (%)",
                series: vec![
                    split("train", &|r| 100.0 * r.train.accuracy),
                    split("valid", &|r| 100.0 * r.valid.accuracy),
                ],
            });
        }
        panels
    }
}

/// Fits `model` with burn-train for the run's recipe and returns it on the inference device.
/// `train_examples` sizes the learning-rate schedule.
pub(crate) fn fit<M: Fittable>(
    model: M,
    (train_loader, valid_loader): Loaders<M>,
    train_examples: usize,
    run: &mut Run<SupervisedEpoch>,
) -> Result<(M, FitStats)> {
    let model = run.initial_weights(files::MODEL, model)?;
    let recipe: &Recipe = &run.recipe;
    let training = &recipe.training;
    let history = Arc::new(Mutex::new(run.history.clone()));
    let device = run.device.clone().autodiff();
    // The model is built; from here every random draw of epoch e comes from (seed, e).
    run.clock.seed_device(&device);
    let recorder = EpochRecorder {
        history: history.clone(),
        error: Arc::new(Mutex::new(None)),
        after_epoch: run.options.after_epoch.clone(),
        last_tick: Arc::new(Mutex::new(Instant::now())),
        clock: run.clock.clone(),
        device,
    };
    let report = Arc::new(Mutex::new(WatchReport::default()));

    // Keep the last epochs (for --resume) and the best one by the monitored metric.
    let best = match training.monitor {
        Monitor::ValidAccuracy => MetricCheckpointingStrategy::new(
            &AccuracyMetric::new(),
            Aggregate::Mean,
            Direction::Highest,
            Split::Valid,
        ),
        Monitor::ValidLoss => MetricCheckpointingStrategy::new(
            &LossMetric::new(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
        ),
    };
    let checkpoints = ComposedCheckpointingStrategy::builder()
        .add(KeepLastNCheckpoints::new(KEEP_CHECKPOINTS))
        .add(best)
        .build();
    let supervised = SupervisedTraining::new(run.folder.path(), train_loader, valid_loader);
    let mut supervised = M::with_metrics(supervised)
        .metric_train_numeric(LearningRateMetric::new())
        .with_default_checkpointers()
        .with_checkpointing_strategy(checkpoints)
        .early_stopping(recorder.clone())
        .num_epochs(training.epochs);
    if let Some(epoch) = run.resume_epoch {
        // burn-train panics on a checkpoint that does not fit the model: check it first.
        load_module_file(&run.folder.checkpoint_file("model", epoch), model.clone())?;
        supervised = supervised.checkpoint(epoch);
    }
    let interrupter = supervised.interrupter();
    let renderer = progress::renderer(
        interrupter.clone(),
        run.resume_epoch,
        run.options.plain_progress,
        report.clone(),
    );
    let supervised = supervised.renderer(renderer);

    let steps_per_epoch = train_examples.div_ceil(training.batch_size);
    let schedule = optim::schedule(&recipe.optimizer, steps_per_epoch * training.epochs)?;
    let start = Instant::now();
    let result = supervised.launch(Learner::new(
        model,
        optim::build(&recipe.optimizer, recipe.regularization.max_norm),
        schedule,
    ));
    let seconds = start.elapsed().as_secs_f64();
    // The dashboard stays up until the interrupter is set: training is over, so close it now
    // and let the summary print on the normal screen.
    interrupter.stop(None);
    let mut renderer = result.renderer;
    renderer.manual_close();

    if let Some(err) = recorder.error.lock().expect("recorder lock").take() {
        return Err(err.context("recording the epoch metrics"));
    }
    let report = report.lock().expect("watch report lock");
    if let Some(message) = &report.diverged {
        bail!("{message}");
    }
    if let Some(err) = result.error {
        bail!("training failed: {err}");
    }
    run.history = history.lock().expect("history lock").clone();
    let epochs_run = run.history.last_epoch();
    let best_epoch = run.history.best().map_or(0, |r| r.epoch);
    let mut model = result.model;
    if training.early_stopping_patience.is_some() && best_epoch > 0 && best_epoch != epochs_run {
        let path = run.folder.checkpoint_file("model", best_epoch);
        model = load_module_file(&path, model)?;
        println!("early stopping: restored the weights of epoch {best_epoch}");
    }
    let samples_per_second = report.train_items as f64 / report.train_split_seconds.max(1e-9);
    Ok((
        model.fork(&run.device),
        FitStats {
            epochs_run,
            best_epoch,
            seconds,
            samples_per_second,
        },
    ))
}

/// burn-train's hook at the end of every epoch: records the epoch into the shared [`History`],
/// moves the [`EpochClock`] (and the device generator) to the next epoch, tells the
/// `after_epoch` callback, and answers whether to stop.
#[derive(Clone)]
struct EpochRecorder {
    history: Arc<Mutex<History<SupervisedEpoch>>>,
    error: Arc<Mutex<Option<anyhow::Error>>>,
    after_epoch: Option<EpochCallback>,
    last_tick: Arc<Mutex<Instant>>,
    clock: EpochClock,
    device: Device,
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
        let seconds = {
            let mut tick = self.last_tick.lock().expect("tick lock");
            let seconds = tick.elapsed().as_secs_f64();
            *tick = Instant::now();
            seconds
        };
        let row = SupervisedEpoch {
            epoch,
            train: split(Split::Train),
            valid: split(Split::Valid),
            seconds,
            learning_rate: metric("Learning Rate", Split::Train),
        };
        // The checkpoint of this epoch is written: the next epoch draws from its own seeds.
        self.clock.set(epoch + 1);
        self.clock.seed_device(&self.device);
        let mut history = self.history.lock().expect("history lock");
        if let Err(err) = history.push(row) {
            self.error.lock().expect("recorder lock").get_or_insert(err);
            return true;
        }
        let stop_asked = self
            .after_epoch
            .as_ref()
            .is_some_and(|f| (f.0)((epoch, &row.figures())));
        history.should_stop_early() || stop_asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::folder::RunFolder;
    use crate::run::history::BestBy;

    fn folder(dir: &std::path::Path) -> RunFolder {
        std::fs::write(dir.join("recipe.toml"), "").unwrap();
        RunFolder::open(dir).unwrap()
    }

    fn row(epoch: usize, loss: f64, accuracy: f64) -> SupervisedEpoch {
        let m = SplitMetrics { loss, accuracy };
        SupervisedEpoch {
            epoch,
            train: m,
            valid: m,
            seconds: 1.5,
            learning_rate: 1e-3,
        }
    }

    #[test]
    fn early_stopping_waits_patience_epochs_after_the_best() {
        let dir = tempfile::tempdir().unwrap();
        let best_by = Some(BestBy::from(Monitor::ValidAccuracy));
        let mut history = History::new(&folder(dir.path()), best_by, Some(2));
        for (epoch, acc) in [(1, 0.5), (2, 0.7), (3, 0.69)] {
            history.push(row(epoch, 1.0, acc)).unwrap();
            assert!(!history.should_stop_early(), "epoch {epoch}");
        }
        history.push(row(4, 1.0, 0.7)).unwrap();
        assert!(history.should_stop_early(), "a tie is no improvement");
        assert_eq!(history.best().unwrap().epoch, 2);
    }

    #[test]
    fn the_loss_monitor_picks_the_lowest_validation_loss() {
        let dir = tempfile::tempdir().unwrap();
        let best_by = Some(BestBy::from(Monitor::ValidLoss));
        let mut history = History::new(&folder(dir.path()), best_by, Some(1));
        history.push(row(1, 0.5, 0.80)).unwrap();
        history.push(row(2, 0.3, 0.79)).unwrap();
        history.push(row(3, 0.4, 0.90)).unwrap();
        assert_eq!(history.best().unwrap().epoch, 2);
        assert!(history.should_stop_early());
    }

    #[test]
    fn csv_round_trips_and_plot_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let folder = folder(dir.path());
        let mut history = History::new(&folder, None, None);
        history.push(row(1, 1.0, 0.5)).unwrap();
        history.push(row(2, 0.5, 0.75)).unwrap();
        let loaded = History::<SupervisedEpoch>::load(&folder, None, None).unwrap();
        assert_eq!(loaded.rows(), history.rows());
        let png = std::fs::read(dir.path().join("curves.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn malformed_csv_is_an_error_not_a_panic() {
        for text in [
            "epoch,split,loss,accuracy,seconds\n1,train,0.5,0.5,1\n",
            "epoch,split,loss,accuracy,seconds\n1,train,x,0.5,1\n1,valid,0.5,0.5,1\n",
            "epoch,split,loss,accuracy,seconds\n1,valid,0.5,0.5,1\n1,train,0.5,0.5,1\n",
            "epoch,split,loss,accuracy,seconds\n0,train,0.5,0.5,1\n0,valid,0.5,0.5,1\n",
        ] {
            assert!(SupervisedEpoch::parse_csv(text).is_err(), "{text}");
        }
    }
}
