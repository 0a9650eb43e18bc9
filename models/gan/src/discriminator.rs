use burn::prelude::*;

use crate::architecture::{check_image, check_widths};
use crate::{Architecture, ConfigError, DcganDiscriminator, MlpDiscriminator};

/// Configuration of a [`Discriminator`]: images `[channels, height, width]` to one raw score.
///
/// ```
/// use zoo_gan::{Architecture, DiscriminatorConfig};
///
/// let critic = DiscriminatorConfig::new(Architecture::Dcgan)
///     .with_image([3, 32, 32])
///     .with_batch_norm(false); // WGAN-GP needs a per-sample gradient
/// assert!(critic.validate().is_ok());
/// ```
#[derive(Config, Debug)]
pub struct DiscriminatorConfig {
    /// The network to build.
    pub architecture: Architecture,
    /// Input image `[channels, height, width]`.
    #[config(default = "[1, 28, 28]")]
    pub image: [usize; 3],
    /// Hidden widths of the MLP discriminator, image side first (ignored by DCGAN).
    #[config(default = "vec![512, 256]")]
    pub hidden: Vec<usize>,
    /// DCGAN width: the feature maps have `base` then `2*base` channels (ignored by the MLP).
    #[config(default = 64)]
    pub base: usize,
    /// Batch norm after the second DCGAN convolution (the MLP has none). Turn it off for
    /// WGAN-GP: the gradient penalty is not defined per sample with batch statistics.
    #[config(default = true)]
    pub batch_norm: bool,
}

/// A discriminator (or WGAN critic) built from a [`DiscriminatorConfig`].
///
/// ```
/// use burn::module::Module;
/// use zoo_gan::{Architecture, Discriminator, DiscriminatorConfig};
///
/// let d = DiscriminatorConfig::new(Architecture::Mlp).init(&burn::tensor::Device::flex());
/// assert!(matches!(d, Discriminator::Mlp(_)));
/// assert_eq!(d.num_params(), 533_505);
/// ```
// A model holds one, built once, so the size gap between the variants costs nothing
// (Burn modules cannot be boxed).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Discriminator {
    /// Fully connected discriminator.
    Mlp(MlpDiscriminator),
    /// Deep convolutional discriminator.
    Dcgan(DcganDiscriminator),
}

impl DiscriminatorConfig {
    /// Checks everything [`init`](Self::init) needs: every `image` size at least 1 (for DCGAN
    /// a height and width divisible by 4), and the widths the architecture uses at least 1
    /// (`hidden` for the MLP, `base` for DCGAN). The error names the field; use it to report a
    /// bad recipe without panicking.
    ///
    /// ```
    /// use zoo_gan::{Architecture, DiscriminatorConfig};
    ///
    /// assert_eq!(DiscriminatorConfig::new(Architecture::Mlp).validate(), Ok(()));
    /// let error = DiscriminatorConfig::new(Architecture::Dcgan)
    ///     .with_image([1, 30, 30])
    ///     .validate()
    ///     .unwrap_err();
    /// assert_eq!(error.field(), "image");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_image(self.architecture, self.image)?;
        check_widths(self.architecture, &self.hidden, self.base)
    }

    /// Builds the discriminator with fresh weights on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) when the configuration is invalid.
    pub fn init(&self, device: &Device) -> Discriminator {
        if let Err(error) = self.validate() {
            panic!("invalid DiscriminatorConfig: {error}");
        }
        match self.architecture {
            Architecture::Mlp => {
                let [c, h, w] = self.image;
                Discriminator::Mlp(MlpDiscriminator::new(c * h * w, &self.hidden, device))
            }
            Architecture::Dcgan => Discriminator::Dcgan(DcganDiscriminator::new(
                self.base,
                self.batch_norm,
                self.image,
                device,
            )),
        }
    }
}

impl Discriminator {
    /// Raw scores (logits, no sigmoid): `[batch, channels, height, width] -> [batch, 1]`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_gan::{Architecture, DiscriminatorConfig};
    ///
    /// let device = Device::flex();
    /// let d = DiscriminatorConfig::new(Architecture::Dcgan).with_base(8).init(&device);
    /// assert_eq!(d.forward(Tensor::<4>::zeros([2, 1, 28, 28], &device)).dims(), [2, 1]);
    /// ```
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Self::Mlp(discriminator) => discriminator.forward(images),
            Self::Dcgan(discriminator) => discriminator.forward(images),
        }
    }

    /// The exact gradient of `sum(forward(images))` with respect to `images`, shape
    /// `[batch, channels, height, width]`: row `i` is the gradient of score `i` with respect to
    /// image `i`.
    ///
    /// It is written with ordinary forward operations on the weights (transposed weights,
    /// transposed convolutions, LeakyReLU derivative masks), so autodiff can differentiate an
    /// expression of it with respect to the parameters: this is how
    /// [`gradient_penalty`](crate::gradient_penalty) gets second-order information from a
    /// first-order autodiff.
    ///
    /// # Errors
    ///
    /// For a DCGAN discriminator with batch norm, where the gradient is not defined per sample.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_gan::{Architecture, DiscriminatorConfig};
    ///
    /// let device = Device::flex();
    /// let critic = DiscriminatorConfig::new(Architecture::Mlp).with_hidden(vec![16]).init(&device);
    /// let grad = critic.input_gradient(Tensor::<4>::zeros([2, 1, 28, 28], &device)).unwrap();
    /// assert_eq!(grad.dims(), [2, 1, 28, 28]);
    /// ```
    pub fn input_gradient(&self, images: Tensor<4>) -> Result<Tensor<4>, String> {
        match self {
            Self::Mlp(discriminator) => Ok(discriminator.input_gradient(images)),
            Self::Dcgan(discriminator) => discriminator.input_gradient(images),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(config: &DiscriminatorConfig, batch: usize) -> [usize; 2] {
        let device = Device::flex();
        let [c, h, w] = config.image;
        config
            .init(&device)
            .forward(Tensor::<4>::zeros([batch, c, h, w], &device))
            .dims()
    }

    #[test]
    fn both_architectures_give_one_score_per_image() {
        for architecture in [Architecture::Mlp, Architecture::Dcgan] {
            for image in [[1, 28, 28], [3, 32, 32]] {
                for batch_norm in [true, false] {
                    let config = DiscriminatorConfig::new(architecture)
                        .with_image(image)
                        .with_batch_norm(batch_norm);
                    assert_eq!(scores(&config, 3), [3, 1], "{architecture:?} {image:?}");
                }
            }
        }
    }

    #[test]
    fn mlp_discriminator_has_the_classic_sizes() {
        let discriminator = DiscriminatorConfig::new(Architecture::Mlp).init(&Device::flex());
        let params = 784 * 512 + 512 + 512 * 256 + 256 + 256 + 1;
        assert_eq!(discriminator.num_params(), params); // 533,505
    }

    #[test]
    fn dcgan_discriminator_has_the_expected_sizes() {
        let config = DiscriminatorConfig::new(Architecture::Dcgan);
        // Convolution 1 -> 64, convolution 64 -> 128 (no bias before batch norm), batch norm
        // 128 (scale, shift and two running statistics), linear 128*7*7 -> 1.
        let params = 16 * 64 + 64 + 64 * 128 * 16 + 4 * 128 + 6272 + 1;
        assert_eq!(config.init(&Device::flex()).num_params(), params);
        let plain = config.with_batch_norm(false).init(&Device::flex());
        assert_eq!(plain.num_params(), params - 4 * 128 + 128);
    }

    #[test]
    fn dcgan_refuses_sizes_that_do_not_divide_by_4() {
        let config = DiscriminatorConfig::new(Architecture::Dcgan).with_image([3, 32, 30]);
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "image: DCGAN needs an image height and width divisible by 4, got 32x30"
        );
    }

    #[test]
    fn the_default_configs_are_valid() {
        for architecture in [Architecture::Mlp, Architecture::Dcgan] {
            let config = DiscriminatorConfig::new(architecture);
            assert_eq!(config.validate(), Ok(()));
            assert_eq!(config.with_image([3, 32, 32]).validate(), Ok(()));
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let field =
            |config: DiscriminatorConfig| config.validate().unwrap_err().field().to_string();
        let (mlp, dcgan) = (
            DiscriminatorConfig::new(Architecture::Mlp),
            DiscriminatorConfig::new(Architecture::Dcgan),
        );
        assert_eq!(field(mlp.clone().with_image([0, 28, 28])), "image");
        assert_eq!(field(dcgan.clone().with_image([1, 28, 0])), "image");
        assert_eq!(field(dcgan.clone().with_image([1, 30, 28])), "image");
        assert_eq!(field(mlp.clone().with_hidden(vec![512, 0])), "hidden[1]");
        assert_eq!(field(dcgan.clone().with_base(0)), "base");
        // Each architecture ignores the other's width.
        assert_eq!(mlp.with_base(0).validate(), Ok(()));
        assert_eq!(dcgan.with_hidden(vec![0]).validate(), Ok(()));
    }

    #[test]
    #[should_panic(expected = "invalid DiscriminatorConfig: hidden[0]: widths must be >= 1")]
    fn init_panics_with_the_validation_message() {
        DiscriminatorConfig::new(Architecture::Mlp)
            .with_hidden(vec![0])
            .init(&Device::flex());
    }

    #[test]
    fn input_gradient_refuses_batch_norm() {
        let device = Device::flex();
        let discriminator = DiscriminatorConfig::new(Architecture::Dcgan).init(&device);
        let images = Tensor::<4>::zeros([2, 1, 28, 28], &device);
        let error = discriminator.input_gradient(images).unwrap_err();
        assert!(error.contains("batch_norm = false"), "{error}");
    }
}
