use burn::prelude::*;

use crate::Discriminator;

/// The WGAN-GP gradient penalty `mean((||∇D(x̂)||₂ − 1)²)` with `x̂ = alpha*real + (1−alpha)*fake`.
///
/// `real` and `fake` are `[batch, channels, height, width]`, `alpha` is `[batch, 1, 1, 1]`
/// (usually uniform in `[0, 1]`) and broadcasts over each image. The inputs are detached, so a
/// backward pass of the result reaches the discriminator's parameters only. The gradient comes
/// from [`Discriminator::input_gradient`], an ordinary differentiable expression of the
/// weights: no double backward is needed, and one `.backward()` of
/// `critic_loss + lambda * penalty` trains the critic. A `1e-12` under the square root keeps
/// the norm differentiable at zero.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use zoo_gan::{gradient_penalty, Architecture, DiscriminatorConfig};
///
/// let device = Device::flex().autodiff();
/// let critic = DiscriminatorConfig::new(Architecture::Mlp).with_hidden(vec![32]).init(&device);
/// let real = Tensor::<4>::zeros([4, 1, 28, 28], &device);
/// let fake = Tensor::<4>::ones([4, 1, 28, 28], &device);
/// let alpha = Tensor::<4>::random([4, 1, 1, 1], Distribution::Uniform(0.0, 1.0), &device);
/// let penalty = gradient_penalty(&critic, real, fake, alpha).unwrap(); // [1]
/// let grads = penalty.backward(); // reaches the critic's weights
/// # let _ = grads;
/// ```
///
/// # Errors
///
/// If the discriminator has batch norm, or the shapes do not match.
pub fn gradient_penalty(
    d: &Discriminator,
    real: Tensor<4>,
    fake: Tensor<4>,
    alpha: Tensor<4>,
) -> Result<Tensor<1>, String> {
    let [batch, ..] = real.dims();
    if fake.dims() != real.dims() || alpha.dims() != [batch, 1, 1, 1] {
        return Err(format!(
            "gradient penalty: real {:?} and fake {:?} must match and alpha {:?} must be \
             [{batch}, 1, 1, 1]",
            real.dims(),
            fake.dims(),
            alpha.dims()
        ));
    }
    let alpha = alpha.detach();
    let one_minus_alpha = alpha.clone().neg().add_scalar(1.0); // [batch, 1, 1, 1]
    let mixed = real.detach() * alpha + fake.detach() * one_minus_alpha; // [batch, c, h, w]
    let grad = d.input_gradient(mixed)?.flatten::<2>(1, 3); // [batch, c*h*w]
    let norm = grad.square().sum_dim(1).add_scalar(1e-12).sqrt(); // [batch, 1]
    Ok(norm.sub_scalar(1.0).square().mean()) // [1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Architecture, DiscriminatorConfig};
    use burn::tensor::Distribution;

    /// Discriminators whose input gradient is defined, with their image shapes.
    fn critics() -> Vec<DiscriminatorConfig> {
        vec![
            DiscriminatorConfig::new(Architecture::Mlp).with_hidden(vec![64, 32]),
            DiscriminatorConfig::new(Architecture::Mlp)
                .with_image([3, 32, 32])
                .with_hidden(vec![64, 32]),
            DiscriminatorConfig::new(Architecture::Dcgan)
                .with_base(8)
                .with_batch_norm(false),
            DiscriminatorConfig::new(Architecture::Dcgan)
                .with_image([3, 32, 32])
                .with_base(8)
                .with_batch_norm(false),
        ]
    }

    fn random_images(batch: usize, [c, h, w]: [usize; 3], device: &Device) -> Tensor<4> {
        Tensor::random([batch, c, h, w], Distribution::Normal(0.0, 1.0), device)
    }

    fn first_layer_weight_grad(
        d: &Discriminator,
        grads: &burn::tensor::Gradients,
    ) -> Option<Tensor<1>> {
        match d {
            Discriminator::Mlp(mlp) => mlp.hidden[0].weight.grad(grads).map(|g| g.flatten(0, 1)),
            Discriminator::Dcgan(dcgan) => dcgan.down1.weight.grad(grads).map(|g| g.flatten(0, 3)),
        }
    }

    #[test]
    fn input_gradient_matches_autodiff() {
        let device = Device::flex().autodiff();
        device.seed(7);
        for config in critics() {
            let d = config.init(&device);
            let images = random_images(3, config.image, &device).require_grad();
            let manual = d.input_gradient(images.clone()).unwrap();
            let grads = d.forward(images.clone()).sum().backward();
            let autodiff = images.grad(&grads).unwrap();
            let diff = (manual.inner() - autodiff.clone())
                .abs()
                .max()
                .into_scalar::<f32>();
            let scale = autodiff.abs().max().into_scalar::<f32>();
            let case = format!("{:?} {:?}", config.architecture, config.image);
            // DCGAN weights are drawn from N(0, 0.02), so its input gradient is small (~1e-4):
            // the check is relative to the gradient's size (a wrong LeakyReLU slope of 0.25
            // instead of 0.2 gives a difference of about 7% of it).
            assert!(
                scale > 1e-6,
                "{case}: a vanishing gradient tests nothing ({scale})"
            );
            assert!(
                diff < 1e-3 * scale,
                "{case}: max abs diff {diff}, gradient scale {scale}"
            );
        }
    }

    #[test]
    fn penalty_backward_reaches_the_first_layer() {
        let device = Device::flex().autodiff();
        device.seed(11);
        for config in critics() {
            let d = config.init(&device);
            let real = random_images(4, config.image, &device);
            let fake = random_images(4, config.image, &device);
            let alpha = Tensor::random([4, 1, 1, 1], Distribution::Uniform(0.0, 1.0), &device);
            let penalty = gradient_penalty(&d, real, fake, alpha).unwrap();
            assert!(penalty.clone().into_scalar::<f32>().is_finite());
            let grads = penalty.backward();
            let grad = first_layer_weight_grad(&d, &grads).expect("first layer has a gradient");
            let size = grad.abs().sum().into_scalar::<f32>();
            assert!(
                size > 0.0,
                "{:?}: zero first-layer gradient",
                config.architecture
            );
        }
    }

    #[test]
    fn penalty_is_zero_for_a_unit_gradient() {
        // A one-layer critic D(x) = w·x + b has input gradient w everywhere: with ||w|| = 1
        // the penalty vanishes.
        let device = Device::flex();
        let d = DiscriminatorConfig::new(Architecture::Mlp)
            .with_image([1, 2, 2])
            .with_hidden(vec![])
            .init(&device);
        let Discriminator::Mlp(mut mlp) = d else {
            unreachable!()
        };
        mlp.output.weight = burn::module::Param::from_tensor(Tensor::from_floats(
            [[0.5], [0.5], [0.5], [0.5]],
            &device,
        ));
        let d = Discriminator::Mlp(mlp);
        let real = random_images(2, [1, 2, 2], &device);
        let fake = random_images(2, [1, 2, 2], &device);
        let alpha = Tensor::random([2, 1, 1, 1], Distribution::Uniform(0.0, 1.0), &device);
        let penalty = gradient_penalty(&d, real, fake, alpha).unwrap();
        assert!(penalty.into_scalar::<f32>().abs() < 1e-6);
    }

    #[test]
    fn penalty_refuses_mismatched_shapes_and_batch_norm() {
        let device = Device::flex();
        let d = DiscriminatorConfig::new(Architecture::Mlp).init(&device);
        let real = random_images(2, [1, 28, 28], &device);
        let alpha = Tensor::ones([3, 1, 1, 1], &device);
        assert!(gradient_penalty(&d, real.clone(), real.clone(), alpha).is_err());

        let bn = DiscriminatorConfig::new(Architecture::Dcgan).init(&device);
        let alpha = Tensor::ones([2, 1, 1, 1], &device);
        assert!(gradient_penalty(&bn, real.clone(), real, alpha).is_err());
    }
}
