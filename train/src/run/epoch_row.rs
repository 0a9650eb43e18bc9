//! What a task's epoch row is to the run driver: its figures, how it is written to and read from
//! `metrics.csv`, and how it is drawn.

use crate::plot::Panel;

/// One epoch's row of a task's history: how it is named, written, read and drawn.
pub trait EpochRow: Clone + Send + 'static {
    /// The 1-based epoch number.
    fn epoch(&self) -> usize;
    /// Wall-clock seconds of the epoch.
    fn seconds(&self) -> f64;
    /// The epoch's figures, named as in `summary.json` (`valid_accuracy`, `d_loss`, ...).
    fn figures(&self) -> Vec<(&'static str, f64)>;
    /// `metrics.csv`: a header line and the rows.
    fn csv(rows: &[Self]) -> String;
    /// Parses the text [`EpochRow::csv`] wrote; `Err` names what is malformed.
    fn parse_csv(text: &str) -> std::result::Result<Vec<Self>, String>;
    /// The charts of `curves.png`.
    fn panels(rows: &[Self]) -> Vec<Panel<'static>>;
    /// The images of an epoch, `(TensorBoard tag, file in the run folder)` (a GAN's sample
    /// grid); none by default.
    fn image_files(_epoch: usize) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The figure called `name`, if the row has it.
    fn figure(&self, name: &str) -> Option<f64> {
        self.figures()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}
