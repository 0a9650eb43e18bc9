//! The four tasks of the zoo, each one `Task` of the run driver (behind [`crate::train`]):
//! image classification, character language modelling, forecasting, and the adversarial GAN.
//! A task owns its data, its model wrapper, its training step and its evaluation; the driver
//! owns the run folder.

pub mod classify;
pub mod forecast;
pub mod gan;
pub mod language_model;
