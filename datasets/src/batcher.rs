//! Turning [`ImageItem`]s into normalized image tensors, optionally augmenting them first.

use std::sync::{Mutex, PoisonError};

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::augment::augment_image_with;
use crate::{AugmentConfig, ImageDatasetKind, ImageItem};

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
///
/// A training batcher can also augment every image before normalizing it
/// (see [`with_augmentation`](Self::with_augmentation)).
#[derive(Debug)]
pub struct ImageBatcher {
    mean: f32,
    std: f32,
    shape: [usize; 3],
    /// The transforms and the generator drawing them; `None` when augmentation is off.
    augment: Option<(AugmentConfig, Mutex<StdRng>)>,
}

impl Clone for ImageBatcher {
    /// A copy with the same settings; an augmenting batcher's copy starts from the current
    /// state of the generator and then draws independently (so it produces the same
    /// augmentations the original would produce next).
    fn clone(&self) -> Self {
        ImageBatcher {
            mean: self.mean,
            std: self.std,
            shape: self.shape,
            augment: self.augment.as_ref().map(|(config, rng)| {
                let state = rng.lock().unwrap_or_else(PoisonError::into_inner).clone();
                (config.clone(), Mutex::new(state))
            }),
        }
    }
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
            augment: None,
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
            augment: None,
        }
    }

    /// The same batcher for images of shape `[channels, rows, cols]`.
    pub fn with_shape(self, channels: usize, rows: usize, cols: usize) -> Self {
        ImageBatcher {
            shape: [channels, rows, cols],
            ..self
        }
    }

    /// The same batcher, augmenting every image with [`augment_image`](crate::augment_image)
    /// before normalizing it, with random draws from a generator seeded by `seed`
    /// (`StdRng::seed_from_u64(seed)`). Use it for training batches only.
    ///
    /// The generator is shared by all calls to [`batch`](Batcher::batch), so a data loader
    /// without worker threads (`num_workers` 0) produces the same sequence of images for the
    /// same seed and the same item order. A config that [is off](AugmentConfig::is_off)
    /// leaves the batcher unchanged. Validate the config with [`AugmentConfig::validate`]
    /// first: out-of-range values are clamped, not reported.
    ///
    /// ```
    /// use burn::data::dataloader::batcher::Batcher;
    /// use burn::tensor::Device;
    /// use zoo_datasets::{AugmentConfig, ImageBatcher, ImageDatasetKind, ImageItem};
    ///
    /// let config = AugmentConfig { translate: 2, rotate_degrees: 10.0, ..AugmentConfig::default() };
    /// let batcher = ImageBatcher::new(ImageDatasetKind::Mnist).with_augmentation(config, 42);
    /// let items = vec![ImageItem { pixels: vec![128; 784], label: 1 }; 4];
    /// let batch = batcher.batch(items, &Device::flex());
    /// assert_eq!(batch.images.dims(), [4, 1, 28, 28]);
    /// ```
    pub fn with_augmentation(self, config: AugmentConfig, seed: u64) -> Self {
        let augment = if config.is_off() {
            None
        } else {
            Some((config, Mutex::new(StdRng::seed_from_u64(seed))))
        };
        ImageBatcher { augment, ..self }
    }

    /// The augmentation this batcher applies, if any.
    pub fn augmentation(&self) -> Option<&AugmentConfig> {
        self.augment.as_ref().map(|(config, _)| config)
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
        let batch = items.len();
        let mut pixels = Vec::with_capacity(batch * size);
        let mut targets = Vec::with_capacity(batch);
        // One lock and one scratch buffer per batch.
        let mut augment = self.augment.as_ref().map(|(config, rng)| {
            let rng = rng.lock().unwrap_or_else(PoisonError::into_inner);
            (config, rng, Vec::new())
        });
        for mut item in items {
            assert_eq!(
                item.pixels.len(),
                size,
                "ImageBatcher expects {channels}x{rows}x{cols} images; use with_shape for other sizes"
            );
            if let Some((config, rng, scratch)) = augment.as_mut() {
                augment_image_with(&mut item.pixels, self.shape, config, &mut **rng, scratch);
            }
            pixels.extend(item.pixels.iter().map(|&x| table[x as usize]));
            targets.push(item.label as i64);
        }
        drop(augment);
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

    fn values(batch: ImageBatch) -> Vec<f32> {
        batch.images.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Eight varied digits of the embedded mini MNIST.
    fn digits() -> Vec<ImageItem> {
        let mini = crate::embedded_mini_mnist().unwrap();
        (0..8).map(|i| mini.train.item(i * 37)).collect()
    }

    fn augmenting(seed: u64) -> ImageBatcher {
        let config = AugmentConfig {
            translate: 2,
            rotate_degrees: 10.0,
            erase_probability: 0.5,
            erase_max_fraction: 0.2,
        };
        ImageBatcher::new(ImageDatasetKind::Mnist).with_augmentation(config, seed)
    }

    #[test]
    fn batcher_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<ImageBatcher>();
    }

    #[test]
    fn augmentation_off_gives_the_plain_batch() {
        let device = Device::flex();
        let plain = ImageBatcher::new(ImageDatasetKind::Mnist);
        let off = ImageBatcher::new(ImageDatasetKind::Mnist)
            .with_augmentation(AugmentConfig::default(), 3);
        assert!(off.augmentation().is_none());
        assert_eq!(
            values(plain.batch(digits(), &device)),
            values(off.batch(digits(), &device))
        );
    }

    #[test]
    fn augmentation_is_seeded_and_changes_every_batch() {
        let device = Device::flex();
        let plain = values(ImageBatcher::new(ImageDatasetKind::Mnist).batch(digits(), &device));
        let (a, b, c) = (augmenting(7), augmenting(7), augmenting(8));
        assert_eq!(a.augmentation().unwrap().translate, 2);
        let a1 = values(a.batch(digits(), &device));
        let a2 = values(a.batch(digits(), &device));
        assert_eq!(
            a1,
            values(b.batch(digits(), &device)),
            "same seed, same images"
        );
        assert_eq!(a2, values(b.batch(digits(), &device)));
        assert_ne!(a1, a2, "the generator moves on between batches");
        assert_ne!(a1, values(c.batch(digits(), &device)), "another seed");
        assert_ne!(a1, plain);
        assert_eq!(a1.len(), plain.len());
        // A clone continues from the same state as the original.
        let clone = a.clone();
        assert_eq!(
            values(clone.batch(digits(), &device)),
            values(a.batch(digits(), &device))
        );
    }

    #[test]
    fn augmented_values_stay_in_the_normalized_range() {
        let batcher = augmenting(1);
        let low = batcher.normalize(0);
        let high = batcher.normalize(255);
        for v in values(batcher.batch(digits(), &Device::flex())) {
            assert!((low..=high).contains(&v), "{v}");
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
