//! The image datasets this crate knows, with every per-dataset fact in one place.

use std::fmt;

/// One of the four IDX files of an image dataset: its canonical file name and the SHA-256
/// of its decompressed content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdxFile {
    /// Canonical file name, e.g. `train-images-idx3-ubyte.gz`.
    pub name: &'static str,
    /// Lower-case hex SHA-256 of the decompressed bytes.
    pub sha256: &'static str,
}

/// The four files of an image dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdxFiles {
    /// Training images.
    pub train_images: IdxFile,
    /// Training labels.
    pub train_labels: IdxFile,
    /// Test images.
    pub test_images: IdxFile,
    /// Test labels.
    pub test_labels: IdxFile,
}

impl IdxFiles {
    /// The four files in the order train images, train labels, test images, test labels.
    pub fn all(&self) -> [IdxFile; 4] {
        [
            self.train_images,
            self.train_labels,
            self.test_images,
            self.test_labels,
        ]
    }
}

/// An MNIST-format image classification dataset.
///
/// Each variant knows its name, files, mirrors, hashes, class names and normalization
/// statistics, so adding a dataset of the same format means adding a variant here.
///
/// ```
/// use zoo_datasets::ImageDatasetKind;
///
/// let kind = ImageDatasetKind::from_name("mnist").unwrap();
/// assert_eq!(kind, ImageDatasetKind::Mnist);
/// assert_eq!(kind.class_names().len(), 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageDatasetKind {
    /// Handwritten digits 0-9, 28x28 grey levels, 60,000 train + 10,000 test images.
    Mnist,
}

const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

impl ImageDatasetKind {
    /// Every known dataset.
    pub const ALL: &'static [ImageDatasetKind] = &[ImageDatasetKind::Mnist];

    /// Short name, used on the command line, in recipes and as the folder name under the
    /// data and cache folders (`<data_dir>/mnist/`).
    pub fn name(&self) -> &'static str {
        match self {
            ImageDatasetKind::Mnist => "mnist",
        }
    }

    /// The dataset called `name` (as returned by [`name`](Self::name), case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Human-readable class names; label `i` is `class_names()[i]`.
    pub fn class_names(&self) -> &'static [&'static str] {
        match self {
            ImageDatasetKind::Mnist => &MNIST_CLASSES,
        }
    }

    /// Number of classes (labels are `0..num_classes()`).
    pub fn num_classes(&self) -> usize {
        self.class_names().len()
    }

    /// Mean pixel value of the training set, on the 0..1 scale (for normalization).
    pub fn mean(&self) -> f32 {
        match self {
            ImageDatasetKind::Mnist => 0.1307,
        }
    }

    /// Standard deviation of the training pixels, on the 0..1 scale (for normalization).
    pub fn std(&self) -> f32 {
        match self {
            ImageDatasetKind::Mnist => 0.3081,
        }
    }

    /// Image shape as `[channels, rows, cols]`.
    pub fn image_shape(&self) -> [usize; 3] {
        match self {
            ImageDatasetKind::Mnist => [1, 28, 28],
        }
    }

    /// The four canonical files with the SHA-256 of their decompressed content.
    pub fn files(&self) -> IdxFiles {
        match self {
            ImageDatasetKind::Mnist => IdxFiles {
                train_images: IdxFile {
                    name: "train-images-idx3-ubyte.gz",
                    sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                },
                train_labels: IdxFile {
                    name: "train-labels-idx1-ubyte.gz",
                    sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                },
                test_images: IdxFile {
                    name: "t10k-images-idx3-ubyte.gz",
                    sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                },
                test_labels: IdxFile {
                    name: "t10k-labels-idx1-ubyte.gz",
                    sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                },
            },
        }
    }

    /// Base URLs of the download mirrors, tried in order; a file's URL is the base followed
    /// by its file name.
    pub fn mirrors(&self) -> &'static [&'static str] {
        match self {
            ImageDatasetKind::Mnist => &[
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ],
        }
    }
}

impl fmt::Display for ImageDatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in ImageDatasetKind::ALL {
            assert_eq!(ImageDatasetKind::from_name(kind.name()), Some(*kind));
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(
            ImageDatasetKind::from_name("MNIST"),
            Some(ImageDatasetKind::Mnist)
        );
        assert_eq!(ImageDatasetKind::from_name("cifar10"), None);
    }

    #[test]
    fn mnist_facts() {
        let kind = ImageDatasetKind::Mnist;
        assert_eq!(kind.num_classes(), 10);
        assert_eq!(kind.class_names()[3], "3");
        assert_eq!(kind.image_shape(), [1, 28, 28]);
        assert!((kind.mean() - 0.1307).abs() < 1e-6);
        assert!((kind.std() - 0.3081).abs() < 1e-6);
        let files = kind.files().all();
        assert_eq!(files[0].name, "train-images-idx3-ubyte.gz");
        assert_eq!(files[3].name, "t10k-labels-idx1-ubyte.gz");
        for file in files {
            assert_eq!(file.sha256.len(), 64);
        }
        assert!(kind.mirrors().iter().all(|m| m.ends_with('/')));
    }
}
