//! Class conditioning of a GAN (`model.conditional = true`): the generator reads its latent
//! vector with the one-hot class appended, the discriminator reads the image with one constant
//! plane per class appended (1 on the plane of the image's class, 0 on the others), as in
//! Mirza & Osindero 2014. Unconditional runs use the same code with no classes.

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::rngs::StdRng;
use rand::Rng;

use crate::recipe::{ImageShape, ModelSpec};

/// How a run's networks see the class: the latent size and the number of classes (0 when
/// the GAN is unconditional).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conditioning {
    /// Size of the noise vector (without the one-hot class).
    pub latent_size: usize,
    /// Classes appended to the inputs; 0 for an unconditional GAN.
    pub classes: usize,
}

impl Conditioning {
    /// How the networks of a GAN recipe's `[model]` see the class, for images of `shape`
    /// (`None` when the model is not a GAN).
    pub fn of(model: &ModelSpec, shape: ImageShape) -> Option<Self> {
        Some(Self {
            latent_size: model.gan_latent_size()?,
            classes: model.gan_classes(shape)?,
        })
    }

    /// The generator's input: each latent vector of `latents` (row by row) followed by the
    /// one-hot vector of its label, `[n, latent_size + classes]`.
    ///
    /// # Panics
    ///
    /// When `latents` does not hold one vector per label.
    pub fn generator_input(&self, latents: &[f32], labels: &[usize], device: &Device) -> Tensor<2> {
        let n = labels.len();
        assert_eq!(
            latents.len(),
            n * self.latent_size,
            "one latent vector per label"
        );
        let width = self.latent_size + self.classes;
        let mut input = Vec::with_capacity(n * width);
        for (z, &label) in latents.chunks_exact(self.latent_size).zip(labels) {
            input.extend_from_slice(z);
            input.extend((0..self.classes).map(|c| if c == label { 1.0 } else { 0.0 }));
        }
        Tensor::from_data(TensorData::new(input, [n, width]), device)
    }

    /// The discriminator's input: `[batch, c, h, w]` images with one plane per class appended,
    /// `[batch, c + classes, h, w]`; the images themselves when unconditional.
    pub fn discriminator_input(&self, images: Tensor<4>, labels: &[usize]) -> Tensor<4> {
        if self.classes == 0 {
            return images;
        }
        let [batch, _, h, w] = images.dims();
        let one_hot: Vec<f32> = labels
            .iter()
            .flat_map(|&label| (0..self.classes).map(move |c| if c == label { 1.0 } else { 0.0 }))
            .collect();
        let planes = Tensor::<4>::from_data(
            TensorData::new(one_hot, [batch, self.classes, 1, 1]),
            &images.device(),
        )
        .expand([batch, self.classes, h, w]); // [batch, classes, h, w]
        Tensor::cat(vec![images, planes], 1) // [batch, c + classes, h, w]
    }

    /// Labels of `n` grid samples: `i % classes`, so a grid `classes` wide shows one class per
    /// column (all 0 when unconditional).
    pub fn grid_labels(&self, n: usize) -> Vec<usize> {
        (0..n).map(|i| i % self.classes.max(1)).collect()
    }

    /// `n` labels drawn uniformly (all 0 when unconditional).
    pub fn random_labels(&self, n: usize, rng: &mut StdRng) -> Vec<usize> {
        (0..n)
            .map(|_| match self.classes {
                0 => 0,
                classes => rng.random_range(0..classes),
            })
            .collect()
    }
}

/// `n * size` standard normal values from `rng` (Box–Muller), row by row.
pub fn normal_latents(rng: &mut StdRng, n: usize, size: usize) -> Vec<f32> {
    let count = n * size;
    let mut values = Vec::with_capacity(count + 1);
    while values.len() < count {
        let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
        let u2: f64 = rng.random::<f64>();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        values.push((radius * angle.cos()) as f32);
        values.push((radius * angle.sin()) as f32);
    }
    values.truncate(count);
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn generator_input_appends_the_one_hot_label() {
        let c = Conditioning {
            latent_size: 2,
            classes: 3,
        };
        let input = c.generator_input(&[0.5, -1.0, 2.0, 3.0], &[2, 0], &Device::flex());
        assert_eq!(input.dims(), [2, 5]);
        assert_eq!(
            values(input),
            [0.5, -1.0, 0.0, 0.0, 1.0, 2.0, 3.0, 1.0, 0.0, 0.0]
        );
    }

    #[test]
    fn discriminator_input_appends_one_plane_per_class() {
        let c = Conditioning {
            latent_size: 1,
            classes: 2,
        };
        let images = Tensor::<4>::full([2, 1, 2, 2], 0.25, &Device::flex());
        let input = c.discriminator_input(images, &[1, 0]);
        assert_eq!(input.dims(), [2, 3, 2, 2]);
        let v = values(input);
        assert_eq!(&v[..4], &[0.25; 4]); // image 0
        assert_eq!(&v[4..8], &[0.0; 4]); // class 0 plane of image 0
        assert_eq!(&v[8..12], &[1.0; 4]); // class 1 plane of image 0
        assert_eq!(&v[16..20], &[1.0; 4]); // class 0 plane of image 1
    }

    #[test]
    fn unconditional_inputs_are_unchanged() {
        let c = Conditioning {
            latent_size: 2,
            classes: 0,
        };
        let device = Device::flex();
        assert_eq!(
            values(c.generator_input(&[1.0, 2.0], &[0], &device)),
            [1.0, 2.0]
        );
        let images = Tensor::<4>::full([1, 1, 1, 1], 0.5, &device);
        assert_eq!(values(c.discriminator_input(images, &[0])), [0.5]);
        assert_eq!(c.random_labels(3, &mut StdRng::seed_from_u64(1)), [0, 0, 0]);
    }

    #[test]
    fn grid_labels_cycle_and_random_labels_cover_the_classes() {
        let c = Conditioning {
            latent_size: 1,
            classes: 10,
        };
        assert_eq!(c.grid_labels(12), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        let labels = c.random_labels(1000, &mut StdRng::seed_from_u64(3));
        for class in 0..10 {
            let count = labels.iter().filter(|&&l| l == class).count();
            assert!((60..140).contains(&count), "class {class}: {count}");
        }
    }

    #[test]
    fn latents_are_standard_normal_and_seeded() {
        let a = normal_latents(&mut StdRng::seed_from_u64(1), 100, 101);
        let b = normal_latents(&mut StdRng::seed_from_u64(1), 100, 101);
        assert_eq!(a, b);
        assert_eq!(a.len(), 10_100);
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
