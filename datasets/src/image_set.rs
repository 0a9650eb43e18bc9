//! In-memory image classification sets.

use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};

use crate::idx::IdxImages;
use crate::DataError;

/// One image and its label, as handed to a [`Batcher`](burn::data::dataloader::batcher::Batcher).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageItem {
    /// `channels * rows * cols` grey levels (0..=255), channel-major then row-major.
    pub pixels: Vec<u8>,
    /// Class index.
    pub label: u8,
}

/// A labelled set of equally sized images, held in memory.
///
/// Cloning is cheap: the pixel and label buffers are shared.
#[derive(Clone, Debug)]
pub struct ImageSet {
    channels: usize,
    rows: usize,
    cols: usize,
    num_classes: usize,
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<u8>>,
}

/// The train and test sets of a dataset.
#[derive(Clone, Debug)]
pub struct ImageSplits {
    /// The training set (split it with [`train_valid_split`](crate::train_valid_split)).
    pub train: ImageSet,
    /// The test set.
    pub test: ImageSet,
}

impl ImageSet {
    /// Builds a set from raw parts.
    ///
    /// `pixels` holds `labels.len()` images of `channels * rows * cols` bytes each.
    /// Errors when the sizes disagree, a dimension is 0, or a label is `>= num_classes`.
    ///
    /// ```
    /// use zoo_datasets::ImageSet;
    ///
    /// let set = ImageSet::new(1, 2, 2, vec![0, 1, 2, 3, 4, 5, 6, 7], vec![1, 0], 2).unwrap();
    /// assert_eq!(set.len(), 2);
    /// assert_eq!(set.image(1), &[4, 5, 6, 7]);
    /// assert!(ImageSet::new(1, 2, 2, vec![0; 8], vec![1, 2], 2).is_err()); // label 2 >= 2 classes
    /// ```
    pub fn new(
        channels: usize,
        rows: usize,
        cols: usize,
        pixels: Vec<u8>,
        labels: Vec<u8>,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        if channels == 0 || rows == 0 || cols == 0 {
            return Err(DataError::InvalidSet(format!(
                "image shape {channels}x{rows}x{cols} has a zero dimension"
            )));
        }
        let expected = channels
            .checked_mul(rows)
            .and_then(|n| n.checked_mul(cols))
            .and_then(|n| n.checked_mul(labels.len()));
        if expected != Some(pixels.len()) {
            return Err(DataError::InvalidSet(format!(
                "{} pixels for {} images of {channels}x{rows}x{cols}",
                pixels.len(),
                labels.len()
            )));
        }
        check_labels(&labels, num_classes, "in-memory image set")?;
        Ok(Self::from_checked(
            channels,
            rows,
            cols,
            pixels,
            labels,
            num_classes,
        ))
    }

    /// Builds a single-channel set from a parsed IDX images file and its labels.
    ///
    /// `images_name` and `labels_name` name the two files in errors: different counts, or a
    /// label `>= num_classes`.
    pub fn from_idx(
        images: IdxImages,
        labels: Vec<u8>,
        num_classes: usize,
        images_name: &str,
        labels_name: &str,
    ) -> Result<Self, DataError> {
        if images.count != labels.len() {
            return Err(DataError::CountMismatch {
                images: images_name.to_string(),
                labels: labels_name.to_string(),
                image_count: images.count,
                label_count: labels.len(),
            });
        }
        check_labels(&labels, num_classes, labels_name)?;
        if images.pixels.len() != images.count * images.rows * images.cols
            || images.rows == 0
            || images.cols == 0
        {
            return Err(DataError::InvalidSet(format!(
                "{images_name}: {} pixels for {} images of {}x{}",
                images.pixels.len(),
                images.count,
                images.rows,
                images.cols
            )));
        }
        Ok(Self::from_checked(
            1,
            images.rows,
            images.cols,
            images.pixels,
            labels,
            num_classes,
        ))
    }

    fn from_checked(
        channels: usize,
        rows: usize,
        cols: usize,
        pixels: Vec<u8>,
        labels: Vec<u8>,
        num_classes: usize,
    ) -> Self {
        ImageSet {
            channels,
            rows,
            cols,
            num_classes,
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Rows (height) of each image.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (width) of each image.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Channels of each image (1 for grey levels).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Number of classes; every label is below it.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Bytes per image: `channels * rows * cols`.
    pub fn image_len(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    /// The pixels of image `i`.
    ///
    /// # Panics
    ///
    /// If `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.image_len();
        assert!(
            i < self.len(),
            "image index {i} out of range for a set of {}",
            self.len()
        );
        &self.pixels[i * size..(i + 1) * size]
    }

    /// The label of image `i`.
    ///
    /// # Panics
    ///
    /// If `i >= len()`, like slice indexing.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// All labels, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// All pixels, image after image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Number of images of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &label in self.labels.iter() {
            counts[label as usize] += 1;
        }
        counts
    }

    /// A new set holding the images at `indices`, in that order (repeats allowed).
    ///
    /// # Panics
    ///
    /// If an index is `>= len()`.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let size = self.image_len();
        let mut pixels = Vec::with_capacity(indices.len() * size);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Self::from_checked(
            self.channels,
            self.rows,
            self.cols,
            pixels,
            labels,
            self.num_classes,
        )
    }

    /// A new set holding the first `min(n, len())` images.
    pub fn take(&self, n: usize) -> ImageSet {
        let n = n.min(self.len());
        let size = self.image_len();
        Self::from_checked(
            self.channels,
            self.rows,
            self.cols,
            self.pixels[..n * size].to_vec(),
            self.labels[..n].to_vec(),
            self.num_classes,
        )
    }

    /// Image `i` as an owned [`ImageItem`].
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    pub fn item(&self, i: usize) -> ImageItem {
        ImageItem {
            pixels: self.image(i).to_vec(),
            label: self.labels[i],
        }
    }
}

impl Dataset<ImageItem> for ImageSet {
    /// Image `index` as an [`ImageItem`]; panics if `index >= len()`, as the trait specifies.
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        Ok(self.item(index))
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

fn check_labels(labels: &[u8], num_classes: usize, name: &str) -> Result<(), DataError> {
    match labels.iter().position(|&l| l as usize >= num_classes) {
        Some(index) => Err(DataError::LabelOutOfRange {
            name: name.to_string(),
            index,
            label: labels[index],
            num_classes,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ImageSet {
        // 4 images of 1x2x3: image i has all pixels equal to i * 10.
        let pixels = (0..4u8).flat_map(|i| [i * 10; 6]).collect();
        ImageSet::new(1, 2, 3, pixels, vec![3, 1, 4, 1], 5).unwrap()
    }

    #[test]
    fn accessors() {
        let set = small();
        assert_eq!(
            (set.len(), set.channels(), set.rows(), set.cols()),
            (4, 1, 2, 3)
        );
        assert!(!set.is_empty());
        assert_eq!(set.image(2), &[20; 6]);
        assert_eq!(set.label(2), 4);
        assert_eq!(set.labels(), &[3, 1, 4, 1]);
        assert_eq!(set.class_counts(), vec![0, 2, 0, 1, 1]);
        let item = Dataset::get(&set, 3).unwrap();
        assert_eq!(
            item,
            ImageItem {
                pixels: vec![30; 6],
                label: 1
            }
        );
        assert_eq!(Dataset::len(&set), 4);
    }

    #[test]
    fn select_and_take() {
        let set = small();
        let picked = set.select(&[3, 0, 3]);
        assert_eq!(picked.labels(), &[1, 3, 1]);
        assert_eq!(picked.image(1), &[0; 6]);
        assert_eq!(picked.image(2), &[30; 6]);
        assert_eq!(set.take(2).labels(), &[3, 1]);
        assert_eq!(set.take(2).pixels().len(), 12);
        assert_eq!(set.take(100).len(), 4);
        assert!(set.take(0).is_empty());
        assert!(set.select(&[]).is_empty());
    }

    #[test]
    fn inconsistent_parts_are_rejected() {
        assert!(ImageSet::new(1, 2, 3, vec![0; 5], vec![0], 2).is_err());
        assert!(ImageSet::new(0, 2, 3, vec![], vec![], 2).is_err());
        let err = ImageSet::new(1, 1, 1, vec![0, 0], vec![0, 10], 10).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelOutOfRange {
                    index: 1,
                    label: 10,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn from_idx_checks_counts_and_labels() {
        let images = IdxImages {
            count: 2,
            rows: 1,
            cols: 2,
            pixels: vec![1, 2, 3, 4],
        };
        let err = ImageSet::from_idx(images.clone(), vec![0, 1, 2], 10, "a-images", "a-labels")
            .unwrap_err();
        assert!(matches!(
            err,
            DataError::CountMismatch {
                image_count: 2,
                label_count: 3,
                ..
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("a-images") && msg.contains("a-labels"),
            "{msg}"
        );
        let err = ImageSet::from_idx(images.clone(), vec![0, 10], 10, "a-images", "a-labels")
            .unwrap_err();
        assert!(
            err.to_string().contains("a-labels") && err.to_string().contains("label 10"),
            "{err}"
        );
        let set = ImageSet::from_idx(images, vec![9, 0], 10, "a-images", "a-labels").unwrap();
        assert_eq!(set.image(1), &[3, 4]);
    }
}
