use burn::serde::{Deserialize, Serialize};

use crate::ConfigError;
use zoo_model_core::{positive, widths};

/// Which network a [`GeneratorConfig`](crate::GeneratorConfig) or
/// [`DiscriminatorConfig`](crate::DiscriminatorConfig) builds.
///
/// Serialized in kebab-case (`"mlp"`, `"dcgan"`) so it reads well in a recipe.
///
/// ```
/// use zoo_gan::{Architecture, GeneratorConfig};
///
/// let config = GeneratorConfig::new(Architecture::Dcgan);
/// assert!(burn::config::config_to_json(&config).contains("\"dcgan\""));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(crate = "burn::serde", rename_all = "kebab-case")]
pub enum Architecture {
    /// Fully connected layers with LeakyReLU(0.2), as in the original GAN paper's MNIST model.
    #[default]
    Mlp,
    /// Deep convolutional GAN: transposed convolutions in the generator, strided convolutions
    /// in the discriminator. Needs an image height and width divisible by 4.
    Dcgan,
}

/// Checks an image shape `[channels, height, width]` (the field `image`) against what
/// `architecture` can build.
pub(crate) fn check_image(
    architecture: Architecture,
    [c, h, w]: [usize; 3],
) -> Result<(), ConfigError> {
    if c == 0 || h == 0 || w == 0 {
        return Err(ConfigError::new(
            "image",
            format!("channels, height and width must be >= 1, got {c}x{h}x{w}"),
        ));
    }
    if architecture == Architecture::Dcgan && (h % 4 != 0 || w % 4 != 0) {
        return Err(ConfigError::new(
            "image",
            format!("DCGAN needs an image height and width divisible by 4, got {h}x{w}"),
        ));
    }
    Ok(())
}

/// Checks the widths `architecture` uses: the MLP's hidden widths (the field `hidden`) or the
/// DCGAN base width (`base`).
pub(crate) fn check_widths(
    architecture: Architecture,
    hidden: &[usize],
    base: usize,
) -> Result<(), ConfigError> {
    match architecture {
        Architecture::Mlp => widths("hidden", hidden),
        Architecture::Dcgan => positive("base", base),
    }
}
