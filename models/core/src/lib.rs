//! What every burn-zoo model crate (zoo-mlp, zoo-cnn, zoo-lstm, zoo-gan) shares, in one place.
//!
//! - [`ConfigError`]: the error every `validate()` returns, naming the offending field;
//! - [`positive`], [`probability`], [`widths`]: the checks those `validate()`s are made of, public
//!   so that a configuration of your own reports its mistakes the same way;
//! - [`Activation`]: the non-linearity a configuration chooses (`"relu"`, `"leaky-relu"`, ...).
//!
//! The model crates re-export what their users name (`zoo_mlp::Activation`,
//! `zoo_cnn::ConfigError`, ...), so depending on this crate directly is only needed to write a
//! configuration of your own.
//!
//! ```
//! use zoo_model_core::{positive, probability, widths, ConfigError};
//!
//! /// A head of your own, checked like the zoo's configurations.
//! struct HeadConfig {
//!     hidden: Vec<usize>,
//!     classes: usize,
//!     dropout: f64,
//! }
//!
//! impl HeadConfig {
//!     fn validate(&self) -> Result<(), ConfigError> {
//!         widths("hidden", &self.hidden)?;
//!         positive("classes", self.classes)?;
//!         probability("dropout", self.dropout)
//!     }
//! }
//!
//! let head = HeadConfig { hidden: vec![64, 0], classes: 10, dropout: 0.1 };
//! let error = head.validate().unwrap_err().within("head");
//! assert_eq!(error.to_string(), "head.hidden[1]: widths must be >= 1");
//! ```
#![warn(missing_docs)]

mod activation;
mod error;

pub use activation::Activation;
pub use error::{positive, probability, widths, ConfigError};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
