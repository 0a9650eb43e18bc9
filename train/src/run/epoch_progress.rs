//! Progress of a task's own epoch loop (the GAN's): a bar per epoch in a terminal, plain lines
//! otherwise. burn-train's loops use [`super::progress`].

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use super::epoch_row::EpochRow;

/// Plain progress: one line every this many batches.
pub(crate) const LINE_EVERY_BATCHES: usize = 50;

/// Progress display: plain lines (one per [`LINE_EVERY_BATCHES`] batches and one per epoch), or
/// an indicatif bar in a terminal.
pub(crate) struct EpochProgress {
    bar: bool,
    epochs: usize,
}

impl EpochProgress {
    pub(crate) fn new(plain: bool, epochs: usize) -> Self {
        Self {
            bar: !plain && std::io::stdout().is_terminal(),
            epochs,
        }
    }

    pub(crate) fn start_epoch(&self, epoch: usize, batches: usize) -> Option<ProgressBar> {
        self.bar.then(|| {
            let bar = ProgressBar::new(batches as u64);
            let style = ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} batches {elapsed_precise} (eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("{epoch}/{}", self.epochs));
            bar
        })
    }

    /// Reports batch `batch` of `batches` of `epoch`: `items` examples in `seconds` so far, and
    /// the running figures.
    pub(crate) fn batch(
        &self,
        bar: &Option<ProgressBar>,
        at: BatchProgress,
        figures: &[(&str, f64)],
    ) {
        let rate = at.items as f64 / at.seconds.max(1e-9);
        let figures: Vec<String> = figures.iter().map(|(n, v)| format!("{n} {v:.4}")).collect();
        match bar {
            Some(bar) => {
                bar.set_position(at.batch as u64);
                bar.set_message(format!("{}  {rate:.0} items/s", figures.join("  ")));
            }
            None if at.batch.is_multiple_of(LINE_EVERY_BATCHES) && at.batch < at.batches => {
                // A closed stdout (`zoo train ... | head`) must not stop training.
                let _ = writeln!(
                    std::io::stdout(),
                    "epoch {}/{} batch {:>5}/{:<5} {:>7.1} s {rate:>7.0} items/s   {}",
                    at.epoch,
                    self.epochs,
                    at.batch,
                    at.batches,
                    at.seconds,
                    figures.join("   ")
                );
            }
            None => {}
        }
    }

    pub(crate) fn end_epoch(&self, bar: Option<ProgressBar>) {
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }

    /// The line closing an epoch, with its figures.
    pub(crate) fn epoch_line(&self, row: &impl EpochRow) {
        let figures: Vec<String> = row
            .figures()
            .iter()
            .map(|(n, v)| format!("{n} {v:.4}"))
            .collect();
        let _ = writeln!(
            std::io::stdout(),
            "epoch {}/{} done in {:.1} s   {}",
            row.epoch(),
            self.epochs,
            row.seconds(),
            figures.join("   ")
        );
    }
}

/// Where an epoch loop is: batch `batch` of `batches` of `epoch`, `items` examples done in
/// `seconds`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchProgress {
    pub(crate) epoch: usize,
    pub(crate) batch: usize,
    pub(crate) batches: usize,
    pub(crate) items: usize,
    pub(crate) seconds: f64,
}
