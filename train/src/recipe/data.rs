//! The `[data]` table of a recipe: which dataset, how it is split, and the sequence settings.

use serde::{Deserialize, Serialize};
use zoo_datasets::{AugmentConfig, ImageDatasetKind, SineSeriesConfig};

/// The datasets a recipe can name (`data.dataset`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// MNIST digits, from the data folder or downloaded and verified.
    Mnist,
    /// The 2,000 + 500 image slice of MNIST embedded in the binary: no download.
    MnistMini,
    /// Fashion-MNIST clothes, from the data folder or downloaded and verified.
    FashionMnist,
    /// Andrej Karpathy's tiny-shakespeare corpus (1.1 M characters).
    #[serde(rename = "tinyshakespeare")]
    TinyShakespeare,
    /// A seeded synthetic sum of sines (`[data.series]`).
    Sines,
}

/// What kind of data a dataset holds; each task reads one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Labelled images (MNIST-format).
    Images,
    /// A character corpus.
    Text,
    /// A numeric series.
    Series,
}

/// The shape of the images a classifier reads and the number of classes it predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    /// Colour channels (1 for MNIST).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Every dataset, in the order of the documentation.
    pub const ALL: [Dataset; 5] = [
        Dataset::Mnist,
        Dataset::MnistMini,
        Dataset::FashionMnist,
        Dataset::TinyShakespeare,
        Dataset::Sines,
    ];

    /// The name used in recipes and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::MnistMini => "mnist-mini",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::TinyShakespeare => "tinyshakespeare",
            Dataset::Sines => "sines",
        }
    }

    /// What kind of data it holds.
    pub fn kind(self) -> DataKind {
        match self {
            Dataset::Mnist | Dataset::MnistMini | Dataset::FashionMnist => DataKind::Images,
            Dataset::TinyShakespeare => DataKind::Text,
            Dataset::Sines => DataKind::Series,
        }
    }

    /// The image dataset behind it (normalization, class names), for image datasets: the mini
    /// set is a slice of MNIST.
    pub fn image_kind(self) -> Option<ImageDatasetKind> {
        match self {
            Dataset::Mnist | Dataset::MnistMini => Some(ImageDatasetKind::Mnist),
            Dataset::FashionMnist => Some(ImageDatasetKind::FashionMnist),
            Dataset::TinyShakespeare | Dataset::Sines => None,
        }
    }

    /// Image size and class count, for image datasets (every MNIST-format set is 1x28x28).
    pub fn image_shape(self) -> Option<ImageShape> {
        self.image_kind().map(|kind| {
            let [channels, height, width] = kind.image_shape();
            ImageShape {
                channels,
                height,
                width,
                classes: kind.num_classes(),
            }
        })
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The dataset and how the training set is split.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Which dataset.
    pub dataset: Dataset,
    /// Fraction of the training set held out for validation (seeded), in `[0, 1)`.
    #[serde(default = "default_valid_fraction")]
    pub valid_fraction: f64,
    /// Train on only the first N training images (after the validation split); all when absent.
    #[serde(default)]
    pub train_subset: Option<usize>,
    /// Random transforms of the training images (off by default).
    #[serde(default, skip_serializing_if = "AugmentConfig::is_off")]
    pub augment: AugmentConfig,
    /// Sequence data: characters per training window (`tinyshakespeare`, default 128) or
    /// past values per forecast (`sines`, default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// Values to forecast (`sines`, default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<usize>,
    /// Use only the first N characters of the corpus (`tinyshakespeare`), before splitting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
    /// The synthetic series (`sines`): length, periods, amplitudes, noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<SineSeriesConfig>,
}

fn default_valid_fraction() -> f64 {
    0.1
}

/// Characters per language-model window when the recipe does not say.
pub const DEFAULT_TEXT_WINDOW: usize = 128;
/// Past values per forecast when the recipe does not say.
pub const DEFAULT_SERIES_WINDOW: usize = 64;
/// Values forecast when the recipe does not say.
pub const DEFAULT_HORIZON: usize = 8;

impl DataSpec {
    /// Characters per window of a text dataset.
    pub fn text_window(&self) -> usize {
        self.window.unwrap_or(DEFAULT_TEXT_WINDOW)
    }

    /// Past values read and values forecast, for a series.
    pub fn series_window(&self) -> (usize, usize) {
        (
            self.window.unwrap_or(DEFAULT_SERIES_WINDOW),
            self.horizon.unwrap_or(DEFAULT_HORIZON),
        )
    }
}
