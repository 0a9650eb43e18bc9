use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use zoo_kernels::activation::Pointwise;
use zoo_kernels::linear;

use crate::leaky;

/// Fully connected generator: `latent -> [linear -> LeakyReLU(0.2)]* -> linear -> tanh`,
/// reshaped to images. Built by [`GeneratorConfig::init`](crate::GeneratorConfig::init).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use zoo_gan::{Architecture, Generator, GeneratorConfig};
///
/// let device = Device::flex();
/// let Generator::Mlp(g) = GeneratorConfig::new(Architecture::Mlp).init(&device) else {
///     unreachable!()
/// };
/// assert_eq!(g.hidden.len(), 2); // 100 -> 256 -> 512 -> 784
/// let images = g.forward(Tensor::<2>::zeros([3, 100], &device)); // [batch, 1, 28, 28]
/// assert_eq!(images.dims(), [3, 1, 28, 28]);
/// ```
#[derive(Module, Debug)]
pub struct MlpGenerator {
    /// The hidden layers, latent side first.
    pub hidden: Vec<Linear>,
    /// The last layer, to `channels * height * width` pixels.
    pub output: Linear,
    /// Output image shape `[channels, height, width]`.
    pub image: [usize; 3],
}

/// Fully connected discriminator: `pixels -> [linear -> LeakyReLU(0.2)]* -> linear` to one
/// score. Built by [`DiscriminatorConfig::init`](crate::DiscriminatorConfig::init).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use zoo_gan::{Architecture, Discriminator, DiscriminatorConfig};
///
/// let device = Device::flex();
/// let config = DiscriminatorConfig::new(Architecture::Mlp).with_hidden(vec![32]);
/// let Discriminator::Mlp(d) = config.init(&device) else { unreachable!() };
/// let images = Tensor::<4>::zeros([3, 1, 28, 28], &device);
/// assert_eq!(d.forward(images.clone()).dims(), [3, 1]); // [batch, 1]
/// assert_eq!(d.input_gradient(images).dims(), [3, 1, 28, 28]);
/// ```
#[derive(Module, Debug)]
pub struct MlpDiscriminator {
    /// The hidden layers, image side first.
    pub hidden: Vec<Linear>,
    /// The last layer, to one raw score.
    pub output: Linear,
}

/// Linear layers `input -> hidden[0] -> ... -> hidden[last]`, and the width of the last one.
fn hidden_layers(input: usize, hidden: &[usize], device: &Device) -> (Vec<Linear>, usize) {
    let mut width = input;
    let layers = hidden
        .iter()
        .map(|&out| {
            let layer = LinearConfig::new(width, out).init(device);
            width = out;
            layer
        })
        .collect();
    (layers, width)
}

impl MlpGenerator {
    /// A generator from `latent_size` noise to `image` (`[channels, height, width]`).
    pub(crate) fn new(
        latent_size: usize,
        hidden: &[usize],
        image: [usize; 3],
        device: &Device,
    ) -> Self {
        let (hidden, width) = hidden_layers(latent_size, hidden, device);
        let [c, h, w] = image;
        Self {
            hidden,
            output: LinearConfig::new(width, c * h * w).init(device),
            image,
        }
    }

    /// `[batch, latent_size] -> [batch, channels, height, width]`, in `[-1, 1]`.
    pub fn forward(&self, latent: Tensor<2>) -> Tensor<4> {
        let [batch, _] = latent.dims();
        let [c, h, w] = self.image;
        let x = self.hidden.iter().fold(latent, |x, layer| {
            linear(layer, x, Some(leaky::POINTWISE)) // [batch, width]
        }); // [batch, last hidden]
        let pixels = linear(&self.output, x, Some(Pointwise::Tanh)); // [batch, c*h*w]
        pixels.reshape([batch, c, h, w])
    }
}

impl MlpDiscriminator {
    /// A discriminator for images of `pixels = channels * height * width` values.
    pub(crate) fn new(pixels: usize, hidden: &[usize], device: &Device) -> Self {
        let (hidden, width) = hidden_layers(pixels, hidden, device);
        Self {
            hidden,
            output: LinearConfig::new(width, 1).init(device),
        }
    }

    /// Raw scores: `[batch, channels, height, width] -> [batch, 1]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = images.flatten(1, 3); // [batch, c*h*w]
        let x = self.hidden.iter().fold(x, |x, layer| {
            linear(layer, x, Some(leaky::POINTWISE)) // [batch, width]
        }); // [batch, last hidden]
        linear(&self.output, x, None) // [batch, 1]
    }

    /// Gradient of `sum(forward(images))` with respect to `images`, written with forward ops.
    ///
    /// The forward pass keeps every pre-activation; the all-ones output gradient then goes back
    /// through each linear (times its transposed weight) and each LeakyReLU (times its
    /// derivative mask).
    pub fn input_gradient(&self, images: Tensor<4>) -> Tensor<4> {
        let dims = images.dims();
        let mut x = images.flatten(1, 3); // [batch, c*h*w]
        let mut pre_activations = Vec::with_capacity(self.hidden.len());
        for layer in &self.hidden {
            let pre = layer.forward(x); // [batch, width]
            x = leaky::activate(pre.clone());
            pre_activations.push(pre);
        }
        let ones = Tensor::<2>::ones([dims[0], 1], &x.device()); // [batch, 1]
        let mut grad = ones.matmul(self.output.weight.val().transpose()); // [batch, last hidden]
        for (layer, pre) in self.hidden.iter().zip(pre_activations).rev() {
            let grad_pre = grad * leaky::derivative(pre); // [batch, width]
            grad = grad_pre.matmul(layer.weight.val().transpose()); // [batch, width before]
        }
        grad.reshape(dims) // [batch, c, h, w]
    }
}
