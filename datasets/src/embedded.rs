//! The mini MNIST compiled into the crate (2,000 train + 500 test images).

use crate::idx::{decode, parse_images, parse_labels};
use crate::{DataError, ImageDatasetKind, ImageSet, ImageSplits};

/// The embedded files: `(canonical name, gzip bytes)`, in the order train images, train
/// labels, test images, test labels.
pub(crate) const MINI_MNIST_FILES: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../data/mnist-mini/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../data/mnist-mini/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../data/mnist-mini/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../data/mnist-mini/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// A class-balanced slice of MNIST embedded in the crate: 2,000 training images (200 per
/// digit) and 500 test images (50 per digit), 28x28 grey levels. No IO, no download: meant
/// for tests, examples and smoke runs. See `datasets/data/mnist-mini/README.md` for how it
/// was cut and for the MNIST attribution (CC BY-SA 3.0).
///
/// ```
/// let mini = zoo_datasets::embedded_mini_mnist().unwrap();
/// assert_eq!((mini.train.len(), mini.test.len()), (2000, 500));
/// ```
pub fn embedded_mini_mnist() -> Result<ImageSplits, DataError> {
    let num_classes = ImageDatasetKind::Mnist.num_classes();
    let set = |images: (&str, &[u8]), labels: (&str, &[u8])| -> Result<ImageSet, DataError> {
        let images_name = format!("embedded mnist-mini/{}", images.0);
        let labels_name = format!("embedded mnist-mini/{}", labels.0);
        let parsed_images = parse_images(&decode(images.1, &images_name)?, &images_name)?;
        let parsed_labels = parse_labels(&decode(labels.1, &labels_name)?, &labels_name)?;
        ImageSet::from_idx(
            parsed_images,
            parsed_labels,
            num_classes,
            &images_name,
            &labels_name,
        )
    };
    let [train_images, train_labels, test_images, test_labels] = MINI_MNIST_FILES;
    Ok(ImageSplits {
        train: set(train_images, train_labels)?,
        test: set(test_images, test_labels)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_balanced_28x28_sets() {
        let mini = embedded_mini_mnist().unwrap();
        assert_eq!(mini.train.len(), 2000);
        assert_eq!(mini.test.len(), 500);
        for (set, per_class) in [(&mini.train, 200), (&mini.test, 50)] {
            assert_eq!((set.channels(), set.rows(), set.cols()), (1, 28, 28));
            assert_eq!(set.num_classes(), 10);
            assert_eq!(set.class_counts(), vec![per_class; 10]);
            assert_eq!(set.image(0).len(), 784);
            // Real digits: mostly black background with some bright strokes.
            let img = set.image(set.len() - 1);
            assert!(img.iter().filter(|&&p| p == 0).count() > 400);
            assert!(img.iter().any(|&p| p > 200));
        }
    }

    #[test]
    fn embedded_names_are_canonical() {
        let files = ImageDatasetKind::Mnist.files().all();
        for ((name, _), file) in MINI_MNIST_FILES.iter().zip(files) {
            assert_eq!(*name, file.name);
        }
    }
}
