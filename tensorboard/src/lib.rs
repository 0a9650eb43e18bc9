//! TensorBoard event files for burn-zoo runs: every training run writes
//! `RUN/tb/events.out.tfevents.*`, so `tensorboard --logdir runs` shows all runs with no
//! conversion step.
//!
//! [`EventWriter`] writes scalars and PNG images; [`read_events`] reads a file back, checking
//! both CRCs of every record (for tests and tools).
//!
//! ```
//! use zoo_tensorboard::{read_events, EventWriter};
//!
//! let run = tempfile::tempdir()?;
//! let mut tb = EventWriter::create(&run.path().join("tb"))?;
//! tb.add_scalar("loss/train", 1, 0.42)?;
//! tb.flush()?;
//!
//! let events = read_events(tb.path())?;
//! assert_eq!(events[0].file_version(), Some("brain.Event:2"));
//! assert_eq!(events[1].summary().unwrap().value[0].simple_value(), Some(0.42));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The format
//!
//! An event file is a sequence of TFRecord records (see [`write_record`]): a `u64`
//! little-endian length, the masked CRC-32C of those 8 bytes, the data (one serialized `Event`
//! protobuf, see [`Event`]) and the masked CRC-32C of the data, where
//! `masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8` (wrapping, see [`mask_crc`]). The first
//! event holds `file_version: "brain.Event:2"` and the wall time. The messages are hand-written
//! [`prost`] structs whose field numbers follow TensorBoard's `event.proto` and `summary.proto`
//! (see the [`Event`] docs).
//!
//! # Why not an existing crate
//!
//! Checked on crates.io (2026-12) for a maintained crate that writes scalars *and* images,
//! builds offline and has a small dependency tree:
//!
//! - `tensorboard-rs` 0.5.9 (scalars, images, histograms): last release March 2022, its
//!   repository says it is no longer active; it depends on `protobuf` 2.x, which has an open
//!   advisory (RUSTSEC-2024-0437, uncontrolled recursion when parsing, fixed only in 3.7.2), and
//!   on `image` 0.23, a second old copy beside the workspace's `image` 0.25.
//! - `tfrecord` 0.15: a large tree (`num`, `itertools`, `noisy_float`, `bytemuck`, optional
//!   `tch`/`ndarray`/async-std), its own older `prost` 0.12 and `image` 0.24, and protobuf code
//!   generated from TensorFlow's sources (optionally downloaded at build time).
//! - `syntaxdot-summary` 0.5: small and `prost`-based, but scalars only (no images) and `prost`
//!   0.9.
//!
//! The format is small and stable (unchanged since TensorFlow 1.0), so this crate writes it
//! itself with two dependencies the workspace already locks: `prost` (derive macros, no
//! `protoc`, no build script) and `crc32c` (hardware CRC-32C where the CPU has it).
//! `tests/python_reader.rs` checks the files with TensorBoard's own Python reader.
#![warn(missing_docs)]

mod proto;
mod reader;
mod record;
mod writer;

pub use proto::{Event, Image, Summary, Value, ValueKind, What};
pub use reader::{decode_events, read_events, ReadError};
pub use record::{crc32c, mask_crc, masked_crc32c, write_record};
pub use writer::{EventLog, EventWriter, FILE_VERSION};
