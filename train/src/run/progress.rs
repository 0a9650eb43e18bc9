//! Progress display for training: burn-train's TUI in a terminal, plain log lines otherwise,
//! both wrapped by `Watch`, which stops a diverging run and times the training split.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{Interrupter, LearnerSummary};

/// What `Watch` observed during training, read after it ends.
#[derive(Debug, Default)]
pub struct WatchReport {
    /// Set when a loss became NaN or infinite: says where.
    pub diverged: Option<String>,
    /// Seconds spent in training splits (validation excluded).
    pub train_split_seconds: f64,
    /// Training items processed in those splits.
    pub train_items: usize,
}

/// The renderer for one run: the TUI when stdout is a terminal (and `plain` is false), log lines
/// otherwise, watched for divergence.
pub fn renderer(
    interrupter: Interrupter,
    resume_epoch: Option<usize>,
    plain: bool,
    report: Arc<Mutex<WatchReport>>,
) -> Box<dyn MetricsRenderer> {
    let inner: Box<dyn MetricsRenderer> = if !plain && std::io::stdout().is_terminal() {
        Box::new(TuiMetricsRendererWrapper::new(
            interrupter.clone(),
            resume_epoch,
        ))
    } else {
        Box::new(PlainRenderer::default())
    };
    Box::new(Watch {
        inner,
        interrupter,
        report,
        names: HashMap::new(),
        epoch: 0,
        split: "",
        split_start: None,
        split_items: 0,
    })
}

/// Forwards everything to the inner renderer, and stops training when a loss is not finite.
struct Watch {
    inner: Box<dyn MetricsRenderer>,
    interrupter: Interrupter,
    report: Arc<Mutex<WatchReport>>,
    names: HashMap<MetricId, String>,
    epoch: usize,
    split: &'static str,
    split_start: Option<Instant>,
    split_items: usize,
}

impl Watch {
    fn check(&mut self, split: &str, state: &MetricState) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let is_loss = self
            .names
            .get(&entry.metric_id)
            .is_some_and(|n| n == "Loss");
        let value = match value {
            NumericEntry::Value(v) | NumericEntry::Final(v) => *v,
            NumericEntry::Aggregated {
                aggregated_value, ..
            } => *aggregated_value,
        };
        let mut report = self.report.lock().expect("watch report lock");
        if is_loss && !value.is_finite() && report.diverged.is_none() {
            let message = format!(
                "the {split} loss became {value} in epoch {}: training diverged (try a lower learning rate)",
                self.epoch
            );
            report.diverged = Some(message.clone());
            self.interrupter.stop(Some(&message));
        }
    }
}

impl MetricsRendererTraining for Watch {
    fn update_train(&mut self, state: MetricState) {
        self.check("training", &state);
        self.inner.update_train(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.check("validation", &state);
        self.inner.update_valid(state);
    }

    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        self.inner.on_train_end(summary)
    }
}

impl TrainingProgressLogger for Watch {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        total_items: Option<usize>,
        label: Option<&str>,
    ) {
        self.epoch = starting_epoch;
        self.inner
            .start(total_epochs, starting_epoch, total_items, label);
    }

    fn update_epoch(&mut self, finished_epoch: usize) {
        self.epoch = finished_epoch + 1;
        self.inner.update_epoch(finished_epoch);
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = if split == "train" { "train" } else { "other" };
        self.split_start = Some(Instant::now());
        self.split_items = 0;
        self.inner.start_split(split, total_items);
    }

    fn update_split(&mut self, items_processed: usize) {
        self.split_items = items_processed;
        self.inner.update_split(items_processed);
    }

    fn end_split(&mut self) {
        if let (Some(start), "train") = (self.split_start.take(), self.split) {
            let mut report = self.report.lock().expect("watch report lock");
            report.train_split_seconds += start.elapsed().as_secs_f64();
            report.train_items += self.split_items;
        }
        self.inner.end_split();
    }

    fn end(&mut self) {
        self.inner.end();
    }

    fn log_event_training(&mut self, event: String) {
        self.inner.log_event_training(event);
    }
}

impl EvaluationProgressLogger for Watch {
    fn start_global_progress(&mut self, total_tests: usize) {
        self.inner.start_global_progress(total_tests);
    }
    fn start_test(&mut self, name: &str, total_items: usize) {
        self.inner.start_test(name, total_items);
    }
    fn update_test_progress(&mut self, items_processed: usize) {
        self.inner.update_test_progress(items_processed);
    }
    fn end_test(&mut self) {
        self.inner.end_test();
    }
    fn end_global_progress(&mut self) {
        self.inner.end_global_progress();
    }
    fn log_event_evaluation(&mut self, event: String) {
        self.inner.log_event_evaluation(event);
    }
}

impl MetricsRendererEvaluation for Watch {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        self.inner.update_test(name, state);
    }
}

impl MetricsRenderer for Watch {
    fn manual_close(&mut self) {
        self.inner.manual_close();
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
        self.inner.register_metric(definition);
    }
}

/// Plain progress lines on stdout (for logs, CI and pipes): one line per split and epoch, and
/// a line every few seconds inside a long split, with the running loss and accuracy.
#[derive(Default)]
struct PlainRenderer {
    names: HashMap<MetricId, String>,
    latest: HashMap<String, String>,
    total_epochs: usize,
    epoch: usize,
    split: String,
    total_items: usize,
    split_start: Option<Instant>,
    last_line: Option<Instant>,
}

/// Seconds between two progress lines inside one split.
const LINE_EVERY_SECONDS: f64 = 5.0;

/// `"epoch 0.123 - batch 0.2"` (burn-train's display) -> `"0.123"`: the running epoch value.
fn epoch_value(formatted: &str) -> &str {
    let value = formatted.split(" - ").next().unwrap_or(formatted);
    value.trim().strip_prefix("epoch ").unwrap_or(value).trim()
}

impl PlainRenderer {
    fn remember(&mut self, state: MetricState) {
        let entry = match state {
            MetricState::Generic(entry) | MetricState::Numeric(entry, _) => entry,
        };
        if let Some(name) = self.names.get(&entry.metric_id) {
            let value = epoch_value(&entry.serialized_entry.formatted).to_string();
            self.latest.insert(name.clone(), value);
        }
    }

    fn line(&mut self, items: usize) {
        let elapsed = self.split_start.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let metrics: Vec<String> = [
            ("Loss", "loss"),
            ("Accuracy", "accuracy"),
            ("Learning Rate", "lr"),
        ]
        .iter()
        .filter_map(|(name, label)| self.latest.get(*name).map(|v| format!("{label} {v}")))
        .collect();
        // A closed stdout (`zoo train ... | head`) must not kill the training thread.
        let _ = writeln!(
            std::io::stdout(),
            "epoch {}/{} {:<5} {:>6}/{:<6} {:>6.2} s {:>8.0} items/s   {}",
            self.epoch,
            self.total_epochs,
            self.split,
            items,
            self.total_items,
            elapsed,
            items as f64 / elapsed.max(1e-9),
            metrics.join("   ")
        );
        self.last_line = Some(Instant::now());
    }
}

impl MetricsRendererTraining for PlainRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.remember(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.remember(state);
    }

    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for PlainRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch.max(1);
        if starting_epoch > 1 {
            let _ = writeln!(
                std::io::stdout(),
                "resuming at epoch {starting_epoch} of {total_epochs}"
            );
        }
    }

    fn update_epoch(&mut self, finished_epoch: usize) {
        self.epoch = finished_epoch + 1;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_string();
        self.total_items = total_items;
        self.split_start = Some(Instant::now());
        self.last_line = self.split_start;
        self.latest.clear();
    }

    fn update_split(&mut self, items_processed: usize) {
        let due = self
            .last_line
            .is_some_and(|t| t.elapsed().as_secs_f64() >= LINE_EVERY_SECONDS);
        if due && items_processed < self.total_items {
            self.line(items_processed);
        }
    }

    fn end_split(&mut self) {
        self.line(self.total_items);
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for PlainRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererEvaluation for PlainRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl MetricsRenderer for PlainRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::epoch_value;

    #[test]
    fn epoch_value_keeps_the_running_figure() {
        assert_eq!(epoch_value("epoch 8.63e-2 - batch 7.03e-2"), "8.63e-2");
        assert_eq!(epoch_value("epoch 98.18 % - batch 100.00 %"), "98.18 %");
        assert_eq!(epoch_value("1.0e-3"), "1.0e-3");
    }
}
