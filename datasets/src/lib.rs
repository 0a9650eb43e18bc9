//! Datasets for burn-zoo: an MNIST-format IDX reader, download + verification + caching of
//! the dataset files (MNIST and Fashion-MNIST, see [`ImageDatasetKind`]), an embedded mini
//! MNIST, a seeded train/validation split, seeded on-the-fly augmentation
//! ([`AugmentConfig`], [`augment_image`]), and a Burn
//! [`Batcher`](burn::data::dataloader::batcher::Batcher) producing normalized image tensors;
//! and for sequence models: the row-wise view of images ([`image_rows`]), a character corpus
//! ([`CharCorpus`], [`TextWindows`]) and a seeded synthetic series ([`SineSeriesConfig`],
//! [`SeriesWindows`]).
//!
//! Files are looked up in a data folder (`ZOO_DATA_DIR` or `--data-dir`), then in the user
//! cache; missing files are downloaded from the canonical mirrors and verified by the SHA-256
//! of their decompressed content (see [`load_image_splits`] and [`DataSource`]).
//!
//! ```
//! use burn::data::dataloader::batcher::Batcher;
//! use burn::data::dataset::Dataset;
//! use burn::tensor::Device;
//! use zoo_datasets::{embedded_mini_mnist, train_valid_split, ImageBatcher, ImageDatasetKind};
//!
//! // The embedded 2,000 + 500 image slice of MNIST: no download needed.
//! let splits = embedded_mini_mnist()?;
//! let (train, valid) = train_valid_split(&splits.train, 0.1, 42);
//! assert_eq!((train.len(), valid.len()), (1800, 200));
//!
//! let items: Vec<_> = (0..8).map(|i| train.get(i).unwrap()).collect();
//! let batch = ImageBatcher::new(ImageDatasetKind::Mnist).batch(items, &Device::flex());
//! assert_eq!(batch.images.dims(), [8, 1, 28, 28]);
//! # Ok::<(), zoo_datasets::DataError>(())
//! ```
#![warn(missing_docs)]

mod augment;
mod batcher;
mod download;
mod embedded;
mod error;
mod fs;
pub mod idx;
mod image_set;
mod kind;
mod sequence;
mod series;
mod source;
mod split;
mod text;

pub use augment::{augment_image, AugmentConfig};
pub use batcher::{ImageBatch, ImageBatcher};
pub use embedded::embedded_mini_mnist;
pub use error::DataError;
pub use fs::write_atomically;
pub use idx::IdxImages;
pub use image_set::{ImageItem, ImageSet, ImageSplits};
pub use kind::{IdxFile, IdxFiles, ImageDatasetKind};
pub use sequence::image_rows;
pub use series::{
    split_series, SeriesBatch, SeriesBatcher, SeriesWindow, SeriesWindows, SineSeriesConfig,
};
pub use source::load_text_file;
pub use source::{load_image_splits, DataSource};
pub use split::train_valid_split;
pub use text::{
    CharCorpus, TextWindow, TextWindows, TokenBatch, TokenBatcher, Vocabulary, TINY_SHAKESPEARE,
    TINY_SHAKESPEARE_MIRRORS,
};
