//! Adversarial training: the GAN recipes' settings, the training loop, sample grids and
//! sample-quality scores.

pub mod condition;
pub mod grid;
pub mod quality;
mod spec;
pub mod trainer;

pub use condition::Conditioning;
pub use quality::QualityScores;
pub use spec::{GanLoss, GanSpec};
pub use trainer::{load_generator, sample_grid, train_gan, GanEpoch, GanSummary};
