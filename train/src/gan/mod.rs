//! Adversarial training: the GAN recipes' settings and (one) training loop.

mod spec;

pub use spec::{GanLoss, GanSpec};
