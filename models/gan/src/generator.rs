use burn::prelude::*;

use crate::architecture::{check_image, check_widths};
use crate::{Architecture, ConfigError, DcganGenerator, MlpGenerator};
use zoo_model_core::positive;

/// Configuration of a [`Generator`]: latent noise to images `[channels, height, width]` in
/// `[-1, 1]`.
///
/// ```
/// use zoo_gan::{Architecture, GeneratorConfig};
///
/// let config = GeneratorConfig::new(Architecture::Dcgan).with_image([3, 32, 32]).with_base(32);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Config, Debug)]
pub struct GeneratorConfig {
    /// The network to build.
    pub architecture: Architecture,
    /// Generated image `[channels, height, width]`.
    #[config(default = "[1, 28, 28]")]
    pub image: [usize; 3],
    /// Size of the latent noise vector.
    #[config(default = 100)]
    pub latent_size: usize,
    /// Hidden widths of the MLP generator, latent side first (ignored by DCGAN).
    #[config(default = "vec![256, 512]")]
    pub hidden: Vec<usize>,
    /// DCGAN width: the feature maps have `2*base` then `base` channels (ignored by the MLP).
    #[config(default = 64)]
    pub base: usize,
}

/// A generator built from a [`GeneratorConfig`].
///
/// ```
/// use burn::module::Module;
/// use zoo_gan::{Architecture, Generator, GeneratorConfig};
///
/// let g = GeneratorConfig::new(Architecture::Mlp).init(&burn::tensor::Device::flex());
/// assert!(matches!(g, Generator::Mlp(_)));
/// assert_eq!(g.num_params(), 559_632);
/// ```
// A model holds one, built once, so the size gap between the variants costs nothing
// (Burn modules cannot be boxed).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Generator {
    /// Fully connected generator.
    Mlp(MlpGenerator),
    /// Deep convolutional generator.
    Dcgan(DcganGenerator),
}

impl GeneratorConfig {
    /// Checks everything [`init`](Self::init) needs: every `image` size at least 1 (for DCGAN
    /// a height and width divisible by 4), the widths the architecture uses at least 1
    /// (`hidden` for the MLP, `base` for DCGAN) and `latent_size` at least 1. The error names
    /// the field; use it to report a bad recipe without panicking.
    ///
    /// ```
    /// use zoo_gan::{Architecture, GeneratorConfig};
    ///
    /// assert_eq!(GeneratorConfig::new(Architecture::Dcgan).validate(), Ok(()));
    /// let error = GeneratorConfig::new(Architecture::Mlp).with_latent_size(0).validate();
    /// assert_eq!(error.unwrap_err().to_string(), "latent_size: must be >= 1");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_image(self.architecture, self.image)?;
        check_widths(self.architecture, &self.hidden, self.base)?;
        positive("latent_size", self.latent_size)
    }

    /// Builds the generator with fresh weights on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) when the configuration is invalid.
    pub fn init(&self, device: &Device) -> Generator {
        if let Err(error) = self.validate() {
            panic!("invalid GeneratorConfig: {error}");
        }
        match self.architecture {
            Architecture::Mlp => Generator::Mlp(MlpGenerator::new(
                self.latent_size,
                &self.hidden,
                self.image,
                device,
            )),
            Architecture::Dcgan => Generator::Dcgan(DcganGenerator::new(
                self.latent_size,
                self.base,
                self.image,
                device,
            )),
        }
    }
}

impl Generator {
    /// Images from latent noise: `[batch, latent_size] -> [batch, channels, height, width]`,
    /// every value in `[-1, 1]`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use zoo_gan::{Architecture, GeneratorConfig};
    ///
    /// let device = Device::flex();
    /// let g = GeneratorConfig::new(Architecture::Dcgan).with_base(8).init(&device);
    /// let images = g.forward(Tensor::<2>::zeros([2, 100], &device)); // [batch, 1, 28, 28]
    /// assert_eq!(images.dims(), [2, 1, 28, 28]);
    /// ```
    pub fn forward(&self, latent: Tensor<2>) -> Tensor<4> {
        match self {
            Self::Mlp(generator) => generator.forward(latent),
            Self::Dcgan(generator) => generator.forward(latent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn images(config: &GeneratorConfig, batch: usize) -> Tensor<4> {
        let device = Device::flex();
        let latent = Tensor::<2>::random(
            [batch, config.latent_size],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        config.init(&device).forward(latent)
    }

    #[test]
    fn both_architectures_make_images_of_the_configured_shape_in_range() {
        for architecture in [Architecture::Mlp, Architecture::Dcgan] {
            for image in [[1, 28, 28], [3, 32, 32]] {
                let config = GeneratorConfig::new(architecture).with_image(image);
                let out = images(&config, 3);
                let [c, h, w] = image;
                assert_eq!(out.dims(), [3, c, h, w], "{architecture:?} {image:?}");
                let low = out.clone().min().into_scalar::<f32>();
                let high = out.max().into_scalar::<f32>();
                assert!(
                    -1.0 <= low && high <= 1.0,
                    "{architecture:?}: [{low}, {high}]"
                );
            }
        }
    }

    #[test]
    fn mlp_generator_has_the_classic_sizes() {
        let generator = GeneratorConfig::new(Architecture::Mlp).init(&Device::flex());
        let params = 100 * 256 + 256 + 256 * 512 + 512 + 512 * 784 + 784;
        assert_eq!(generator.num_params(), params); // 559,632
    }

    #[test]
    fn dcgan_generator_has_the_expected_sizes() {
        let generator = GeneratorConfig::new(Architecture::Dcgan).init(&Device::flex());
        // Projection 100 -> 128*7*7 (no bias), batch norm 128 (scale, shift and two running
        // statistics), deconvolution 128 -> 64 (no bias), batch norm 64, deconvolution 64 -> 1.
        let params = 100 * 6272 + 4 * 128 + 128 * 64 * 16 + 4 * 64 + 64 * 16 + 1;
        assert_eq!(generator.num_params(), params);
    }

    #[test]
    fn dcgan_refuses_sizes_that_do_not_divide_by_4() {
        let config = GeneratorConfig::new(Architecture::Dcgan).with_image([1, 30, 30]);
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "image: DCGAN needs an image height and width divisible by 4, got 30x30"
        );
        // The MLP takes any size.
        let mlp = GeneratorConfig::new(Architecture::Mlp).with_image([1, 30, 30]);
        assert_eq!(mlp.validate(), Ok(()));
    }

    #[test]
    #[should_panic(expected = "divisible by 4, got 30x30")]
    fn init_panics_with_the_validation_message() {
        GeneratorConfig::new(Architecture::Dcgan)
            .with_image([1, 30, 30])
            .init(&Device::flex());
    }

    #[test]
    fn the_default_configs_are_valid() {
        for architecture in [Architecture::Mlp, Architecture::Dcgan] {
            let config = GeneratorConfig::new(architecture);
            assert_eq!(config.validate(), Ok(()));
            assert_eq!(config.with_image([3, 32, 32]).validate(), Ok(()));
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |config: GeneratorConfig| config.validate().unwrap_err().field().to_string();
        let (mlp, dcgan) = (
            GeneratorConfig::new(Architecture::Mlp),
            GeneratorConfig::new(Architecture::Dcgan),
        );
        assert_eq!(field(mlp.clone().with_latent_size(0)), "latent_size");
        assert_eq!(field(dcgan.clone().with_latent_size(0)), "latent_size");
        assert_eq!(field(mlp.clone().with_hidden(vec![256, 0])), "hidden[1]");
        assert_eq!(field(mlp.clone().with_image([0, 28, 28])), "image");
        assert_eq!(field(dcgan.clone().with_image([1, 28, 30])), "image");
        assert_eq!(field(dcgan.clone().with_base(0)), "base");
        // Each architecture ignores the other's width.
        assert_eq!(mlp.with_base(0).validate(), Ok(()));
        assert_eq!(dcgan.with_hidden(vec![0]).validate(), Ok(()));
    }
}
