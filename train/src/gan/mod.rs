//! Adversarial training: the GAN recipes' settings, the training loop, sample grids and
//! sample-quality scores.

pub mod condition;
pub mod grid;
mod history;
mod progress;
pub mod quality;
pub mod run_folder;
mod sample;
mod spec;
pub mod trainer;

pub use condition::Conditioning;
pub use history::GanEpoch;
pub use quality::QualityScores;
pub use sample::{load_generator, sample_grid};
pub use spec::{GanLoss, GanSpec};
pub use trainer::{train_gan, GanSummary};
