//! The adversarial task: a generator and a discriminator trained against each other (MLP GAN,
//! DCGAN, WGAN-GP, class-conditional), with per-epoch sample grids and `zoo sample`.

pub mod condition;
pub mod epoch;
pub mod grid;
pub mod sample;
pub mod train;
