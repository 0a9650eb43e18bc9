//! Progress of GAN training: a bar per epoch in a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use super::history::GanEpoch;

/// Plain progress: one line every this many batches.
pub(crate) const LINE_EVERY_BATCHES: usize = 50;

/// Progress display: plain lines (one per [`LINE_EVERY_BATCHES`] batches and one per epoch), or
/// an indicatif bar in a terminal.
pub(crate) struct Progress {
    bar: bool,
    epochs: usize,
}

impl Progress {
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

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn batch(
        &self,
        bar: &Option<ProgressBar>,
        epoch: usize,
        batch: usize,
        batches: usize,
        images: usize,
        seconds: f64,
        d_loss: f64,
        g_loss: f64,
    ) {
        let rate = images as f64 / seconds.max(1e-9);
        match bar {
            Some(bar) => {
                bar.set_position(batch as u64);
                bar.set_message(format!(
                    "d_loss {d_loss:.4}  g_loss {g_loss:.4}  {rate:.0} images/s"
                ));
            }
            None if batch.is_multiple_of(LINE_EVERY_BATCHES) && batch < batches => {
                // A closed stdout (`zoo train ... | head`) must not stop training.
                let _ = writeln!(
                    std::io::stdout(),
                    "epoch {epoch}/{} batch {batch:>5}/{batches:<5} {seconds:>7.1} s {rate:>7.0} images/s   d_loss {d_loss:.4}   g_loss {g_loss:.4}",
                    self.epochs
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

    pub(crate) fn epoch_line(&self, r: &GanEpoch) {
        let wasserstein = r
            .wasserstein
            .map_or(String::new(), |w| format!("   wasserstein {w:.4}"));
        let _ = writeln!(
            std::io::stdout(),
            "epoch {}/{} done in {:.1} s   d_loss {:.4}   g_loss {:.4}{wasserstein}",
            r.epoch,
            self.epochs,
            r.seconds,
            r.d_loss,
            r.g_loss
        );
    }
}
