//! Turning [`ImageItem`]s into normalized image tensors.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{ImageDatasetKind, ImageItem};

/// Batches [`ImageItem`]s into an [`ImageBatch`], normalizing each pixel `x` to
/// `(x / 255 - mean) / std`.
///
/// ```
/// use burn::data::dataloader::batcher::Batcher;
/// use burn::tensor::Device;
/// use zoo_datasets::{ImageBatcher, ImageDatasetKind, ImageItem};
///
/// let batcher = ImageBatcher::new(ImageDatasetKind::Mnist);
/// let items = vec![ImageItem { pixels: vec![0; 784], label: 3 }; 2];
/// let batch = batcher.batch(items, &Device::flex());
/// assert_eq!(batch.images.dims(), [2, 1, 28, 28]);
/// assert_eq!(batch.targets.dims(), [2]);
/// ```
#[derive(Clone, Debug)]
pub struct ImageBatcher {
    mean: f32,
    std: f32,
    shape: [usize; 3],
}

/// A batch of images and their labels.
#[derive(Clone, Debug)]
pub struct ImageBatch {
    /// `[batch, channels, rows, cols]`, normalized as `(x / 255 - mean) / std`.
    pub images: Tensor<4>,
    /// `[batch]` class indices.
    pub targets: Tensor<1, Int>,
}

impl ImageBatcher {
    /// A batcher using the normalization statistics and image shape of `kind`.
    pub fn new(kind: ImageDatasetKind) -> Self {
        ImageBatcher {
            mean: kind.mean(),
            std: kind.std(),
            shape: kind.image_shape(),
        }
    }

    /// A batcher for 1x28x28 images with the given statistics (on the 0..1 scale);
    /// `with_stats(0.0, 1.0)` only scales pixels to `0..=1`. Change the shape with
    /// [`with_shape`](Self::with_shape).
    pub fn with_stats(mean: f32, std: f32) -> Self {
        ImageBatcher {
            mean,
            std,
            shape: [1, 28, 28],
        }
    }

    /// The same batcher for images of shape `[channels, rows, cols]`.
    pub fn with_shape(self, channels: usize, rows: usize, cols: usize) -> Self {
        ImageBatcher {
            shape: [channels, rows, cols],
            ..self
        }
    }

    /// The `[channels, rows, cols]` shape this batcher expects.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The value a pixel `x` is mapped to: `(x / 255 - mean) / std`.
    pub fn normalize(&self, x: u8) -> f32 {
        (x as f32 / 255.0 - self.mean) / self.std
    }
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    /// # Panics
    ///
    /// If an item does not hold `channels * rows * cols` pixels (a programming error: items
    /// of an [`ImageSet`](crate::ImageSet) always match its shape).
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let [channels, rows, cols] = self.shape;
        let size = channels * rows * cols;
        let table: Vec<f32> = (0..=255u8).map(|x| self.normalize(x)).collect();
        let mut pixels = Vec::with_capacity(items.len() * size);
        let mut targets = Vec::with_capacity(items.len());
        for item in &items {
            assert_eq!(
                item.pixels.len(),
                size,
                "ImageBatcher expects {channels}x{rows}x{cols} images; use with_shape for other sizes"
            );
            pixels.extend(item.pixels.iter().map(|&x| table[x as usize]));
            targets.push(item.label as i64);
        }
        let batch = items.len();
        let images = Tensor::<4>::from_data(
            TensorData::new(pixels, [batch, channels, rows, cols]),
            device,
        );
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [batch]), device);
        ImageBatch { images, targets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_normalized_values() {
        let device = Device::flex();
        let batcher = ImageBatcher::new(ImageDatasetKind::Mnist);
        let mut first = vec![0u8; 784];
        first[1] = 255;
        first[783] = 128;
        let items = vec![
            ImageItem {
                pixels: first,
                label: 7,
            },
            ImageItem {
                pixels: vec![255; 784],
                label: 0,
            },
            ImageItem {
                pixels: vec![51; 784],
                label: 9,
            },
        ];
        let batch = batcher.batch(items, &device);
        assert_eq!(batch.images.dims(), [3, 1, 28, 28]);
        let values = batch.images.into_data().try_to_vec::<f32>().unwrap();
        let at = |i: usize| values[i];
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        assert!(close(at(0), (0.0 - 0.1307) / 0.3081), "{}", at(0));
        assert!(close(at(0), -0.424_212_9));
        assert!(close(at(1), (1.0 - 0.1307) / 0.3081));
        assert!(close(at(1), 2.821_488));
        assert!(close(at(783), (128.0 / 255.0 - 0.1307) / 0.3081));
        assert!(close(at(784), (1.0 - 0.1307) / 0.3081)); // second image starts at 784
        assert!(close(at(2 * 784 + 5), (0.2 - 0.1307) / 0.3081));
        let targets = batch
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(targets, vec![7, 0, 9]);
    }

    #[test]
    fn custom_stats_and_shape() {
        let batcher = ImageBatcher::with_stats(0.0, 1.0).with_shape(1, 2, 2);
        assert_eq!(batcher.shape(), [1, 2, 2]);
        let batch = batcher.batch(
            vec![ImageItem {
                pixels: vec![0, 51, 204, 255],
                label: 1,
            }],
            &Device::flex(),
        );
        assert_eq!(batch.images.dims(), [1, 1, 2, 2]);
        let values = batch.images.into_data().try_to_vec::<f32>().unwrap();
        let expected = [0.0, 0.2, 0.8, 1.0];
        for (v, e) in values.iter().zip(expected) {
            assert!((v - e).abs() < 1e-6, "{values:?}");
        }
    }

    #[test]
    #[should_panic(expected = "expects 1x28x28 images")]
    fn wrong_item_size_is_a_clear_panic() {
        let batcher = ImageBatcher::new(ImageDatasetKind::Mnist);
        let _ = batcher.batch(
            vec![ImageItem {
                pixels: vec![0; 10],
                label: 0,
            }],
            &Device::flex(),
        );
    }
}
