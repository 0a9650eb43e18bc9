use burn::serde::{Deserialize, Serialize};

/// Which network a [`GeneratorConfig`](crate::GeneratorConfig) or
/// [`DiscriminatorConfig`](crate::DiscriminatorConfig) builds.
///
/// Serialized in kebab-case (`"mlp"`, `"dcgan"`) so it reads well in a recipe.
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

/// Checks an image shape `[channels, height, width]` against what `architecture` can build.
pub(crate) fn check_image(architecture: Architecture, [c, h, w]: [usize; 3]) -> Result<(), String> {
    if c == 0 || h == 0 || w == 0 {
        return Err(format!(
            "image channels, height and width must be positive, got {c}x{h}x{w}"
        ));
    }
    if architecture == Architecture::Dcgan && (h % 4 != 0 || w % 4 != 0) {
        return Err(format!(
            "DCGAN needs an image height and width divisible by 4, got {h}x{w}"
        ));
    }
    Ok(())
}

/// Checks the widths `architecture` uses: the MLP's hidden widths or the DCGAN base width.
pub(crate) fn check_widths(
    architecture: Architecture,
    hidden: &[usize],
    base: usize,
) -> Result<(), String> {
    match architecture {
        Architecture::Mlp if hidden.contains(&0) => {
            Err(format!("hidden widths must be positive, got {hidden:?}"))
        }
        Architecture::Dcgan if base == 0 => Err("the DCGAN base width must be positive".into()),
        _ => Ok(()),
    }
}
