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
    /// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, Zalando Research, MIT licence):
    /// 10 classes of clothing articles, 28x28 grey levels, 60,000 train + 10,000 test
    /// images, in the same IDX format and file names as MNIST.
    FashionMnist,
}

const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

impl ImageDatasetKind {
    /// Every known dataset.
    pub const ALL: &'static [ImageDatasetKind] =
        &[ImageDatasetKind::Mnist, ImageDatasetKind::FashionMnist];

    /// Short name, used on the command line, in recipes and as the folder name under the
    /// data and cache folders (`<data_dir>/mnist/`, `<data_dir>/fashion-mnist/`).
    pub fn name(&self) -> &'static str {
        match self {
            ImageDatasetKind::Mnist => "mnist",
            ImageDatasetKind::FashionMnist => "fashion-mnist",
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
            ImageDatasetKind::FashionMnist => &FASHION_MNIST_CLASSES,
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
            ImageDatasetKind::FashionMnist => 0.2860,
        }
    }

    /// Standard deviation of the training pixels, on the 0..1 scale (for normalization).
    pub fn std(&self) -> f32 {
        match self {
            ImageDatasetKind::Mnist => 0.3081,
            ImageDatasetKind::FashionMnist => 0.3530,
        }
    }

    /// Image shape as `[channels, rows, cols]`.
    pub fn image_shape(&self) -> [usize; 3] {
        match self {
            ImageDatasetKind::Mnist | ImageDatasetKind::FashionMnist => [1, 28, 28],
        }
    }

    /// The four canonical files with the SHA-256 of their decompressed content.
    pub fn files(&self) -> IdxFiles {
        match self {
            // Fashion-MNIST: SHA-256 of the decompressed files (not of the .gz, whose bytes
            // differ between re-compressions). The two label hashes were computed here from
            // the files in github.com/zalandoresearch/fashion-mnist (data/fashion/), whose
            // .gz MD5s equal the ones Zalando's README and torchvision publish
            // (25c81989df183df01b3e8a0aad5dffbe, bb300cfdad3c16e7a12a480ee83cd310). All four
            // values agree across three independent public projects that verify decompressed
            // Fashion-MNIST: the Makefile of EntroMorphic/sstt (which lists the same MNIST
            // hashes as this crate), a Rust loader (`dataset_ml`, fashion_mnist.rs) and a
            // Python loader whose hashes are "derived from archives matching the publisher's
            // gzip MD5 checksums". The image hashes could not be recomputed here (no
            // Fashion-MNIST images on this machine).
            ImageDatasetKind::FashionMnist => IdxFiles {
                train_images: IdxFile {
                    name: "train-images-idx3-ubyte.gz",
                    sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                },
                train_labels: IdxFile {
                    name: "train-labels-idx1-ubyte.gz",
                    sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                },
                test_images: IdxFile {
                    name: "t10k-images-idx3-ubyte.gz",
                    sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                },
                test_labels: IdxFile {
                    name: "t10k-labels-idx1-ubyte.gz",
                    sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                },
            },
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
            // Zalando's own bucket (the mirror torchvision uses; plain HTTP, which is safe
            // here because every download is checked against the hashes above), PyTorch's
            // copy, and the dataset's GitHub repository.
            ImageDatasetKind::FashionMnist => &[
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://ossci-datasets.s3.amazonaws.com/fashion-mnist/",
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
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
        assert_eq!(
            ImageDatasetKind::from_name("fashion-mnist"),
            Some(ImageDatasetKind::FashionMnist)
        );
        assert_eq!(
            ImageDatasetKind::from_name(" Fashion-MNIST "),
            Some(ImageDatasetKind::FashionMnist)
        );
        assert_eq!(ImageDatasetKind::FashionMnist.to_string(), "fashion-mnist");
    }

    #[test]
    fn fashion_mnist_facts() {
        let kind = ImageDatasetKind::FashionMnist;
        assert_eq!(
            kind.class_names(),
            [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot"
            ]
        );
        assert_eq!(kind.num_classes(), 10);
        assert_eq!(kind.image_shape(), [1, 28, 28]);
        assert!((kind.mean() - 0.2860).abs() < 1e-6);
        assert!((kind.std() - 0.3530).abs() < 1e-6);
        let mnist = ImageDatasetKind::Mnist.files().all();
        for (file, mnist_file) in kind.files().all().iter().zip(mnist) {
            assert_eq!(file.name, mnist_file.name, "same canonical names as MNIST");
            assert_ne!(file.sha256, mnist_file.sha256);
        }
        assert!(kind.mirrors().iter().all(|m| m.ends_with('/')));
        assert!(kind
            .mirrors()
            .contains(&"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"));
        assert!(kind
            .mirrors()
            .contains(&"https://ossci-datasets.s3.amazonaws.com/fashion-mnist/"));
    }

    #[test]
    fn every_kind_has_a_complete_table() {
        for kind in ImageDatasetKind::ALL {
            assert_eq!(kind.num_classes(), kind.class_names().len());
            assert!(kind.std() > 0.0 && (0.0..1.0).contains(&kind.mean()));
            assert!(!kind.mirrors().is_empty());
            for file in kind.files().all() {
                assert_eq!(file.sha256.len(), 64, "{kind}: {}", file.name);
                assert!(file
                    .sha256
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
            }
        }
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
