use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;
use zoo_kernels::tanh;

use crate::leaky;

/// Kernel side of every (transposed) convolution.
const KERNEL: usize = 4;
/// Stride of every (transposed) convolution: each one halves or doubles the resolution.
const STRIDE: usize = 2;
/// Zero padding of every (transposed) convolution.
const PADDING: usize = 1;
/// Why a discriminator with batch norm has no input gradient.
const BATCH_NORM_ERROR: &str = "the input gradient (and the WGAN-GP penalty) is not defined per \
    sample with batch norm: build the DCGAN discriminator with batch_norm = false";

/// DCGAN generator: `latent -> linear -> [2*base, h/4, w/4] -> BN -> ReLU -> deconv -> [base,
/// h/2, w/2] -> BN -> ReLU -> deconv -> [c, h, w] -> tanh`.
/// Built by [`GeneratorConfig::init`](crate::GeneratorConfig::init).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use zoo_gan::{Architecture, Generator, GeneratorConfig};
///
/// let device = Device::flex();
/// let config = GeneratorConfig::new(Architecture::Dcgan).with_image([3, 32, 32]).with_base(8);
/// let Generator::Dcgan(g) = config.init(&device) else { unreachable!() };
/// assert_eq!(g.start, [16, 8, 8]); // [2*base, h/4, w/4]
/// let images = g.forward(Tensor::<2>::zeros([2, 100], &device)); // [batch, 3, 32, 32]
/// assert_eq!(images.dims(), [2, 3, 32, 32]);
/// ```
#[derive(Module, Debug)]
pub struct DcganGenerator {
    /// Projection of the latent vector to the `[2*base, h/4, w/4]` feature map (no bias: batch
    /// norm follows).
    pub project: Linear,
    /// Batch norm of the projected feature map.
    pub project_norm: BatchNorm,
    /// Transposed convolution `2*base -> base`, doubling the resolution.
    pub up1: ConvTranspose2d,
    /// Batch norm after `up1`.
    pub up1_norm: BatchNorm,
    /// Transposed convolution `base -> channels`, doubling the resolution again.
    pub up2: ConvTranspose2d,
    /// Shape `[2*base, h/4, w/4]` of the projected feature map.
    pub start: [usize; 3],
}

/// DCGAN discriminator: `conv -> LeakyReLU(0.2) -> conv -> (BN) -> LeakyReLU(0.2) -> flatten ->
/// linear` to one score. Built by [`DiscriminatorConfig::init`](crate::DiscriminatorConfig::init).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use zoo_gan::{Architecture, Discriminator, DiscriminatorConfig};
///
/// let device = Device::flex();
/// let config = DiscriminatorConfig::new(Architecture::Dcgan).with_base(8);
/// let Discriminator::Dcgan(d) = config.init(&device) else { unreachable!() };
/// let images = Tensor::<4>::zeros([2, 1, 28, 28], &device);
/// assert_eq!(d.forward(images.clone()).dims(), [2, 1]); // [batch, 1]
/// assert!(d.input_gradient(images).is_err()); // batch norm: no per-sample gradient
/// ```
#[derive(Module, Debug)]
pub struct DcganDiscriminator {
    /// Convolution `channels -> base`, halving the resolution.
    pub down1: Conv2d,
    /// Convolution `base -> 2*base`, halving the resolution again.
    pub down2: Conv2d,
    /// Batch norm after `down2`, when configured.
    pub down2_norm: Option<BatchNorm>,
    /// The linear map from the flattened `[2*base, h/4, w/4]` features to one raw score.
    pub output: Linear,
}

/// Weights drawn from N(0, 0.02), as in the DCGAN paper (Radford et al. 2016).
const DCGAN_INIT: burn::nn::Initializer = burn::nn::Initializer::Normal {
    mean: 0.0,
    std: 0.02,
};

impl DcganGenerator {
    /// A generator from `latent_size` noise to `image`; height and width must divide by 4.
    pub(crate) fn new(latent_size: usize, base: usize, image: [usize; 3], device: &Device) -> Self {
        let [c, h, w] = image;
        let start = [2 * base, h / 4, w / 4];
        let up = |channels| {
            ConvTranspose2dConfig::new(channels, [KERNEL; 2])
                .with_stride([STRIDE; 2])
                .with_padding([PADDING; 2])
                .with_initializer(DCGAN_INIT)
        };
        Self {
            project: LinearConfig::new(latent_size, start.iter().product())
                .with_bias(false)
                .with_initializer(DCGAN_INIT)
                .init(device),
            project_norm: BatchNormConfig::new(2 * base).init(device),
            up1: up([2 * base, base]).with_bias(false).init(device),
            up1_norm: BatchNormConfig::new(base).init(device),
            up2: up([base, c]).init(device),
            start,
        }
    }

    /// `[batch, latent_size] -> [batch, channels, height, width]`, in `[-1, 1]`.
    pub fn forward(&self, latent: Tensor<2>) -> Tensor<4> {
        let [batch, _] = latent.dims();
        let [channels, h4, w4] = self.start;
        let x = self.project.forward(latent); // [batch, 2*base * h/4 * w/4]
        let x: Tensor<4> = x.reshape([batch, channels, h4, w4]); // [batch, 2*base, h/4, w/4]
        let x = relu(self.project_norm.forward(x));
        let x = relu(self.up1_norm.forward(self.up1.forward(x))); // [batch, base, h/2, w/2]
        tanh(self.up2.forward(x)) // [batch, c, h, w]
    }
}

impl DcganDiscriminator {
    /// A discriminator for `image`; height and width must divide by 4.
    pub(crate) fn new(base: usize, batch_norm: bool, image: [usize; 3], device: &Device) -> Self {
        let [c, h, w] = image;
        let down = |channels| {
            Conv2dConfig::new(channels, [KERNEL; 2])
                .with_stride([STRIDE; 2])
                .with_padding(PaddingConfig2d::Explicit(
                    PADDING, PADDING, PADDING, PADDING,
                ))
                .with_initializer(DCGAN_INIT)
        };
        Self {
            down1: down([c, base]).init(device),
            down2: down([base, 2 * base]).with_bias(!batch_norm).init(device),
            down2_norm: batch_norm.then(|| BatchNormConfig::new(2 * base).init(device)),
            output: LinearConfig::new(2 * base * (h / 4) * (w / 4), 1)
                .with_initializer(DCGAN_INIT)
                .init(device),
        }
    }

    /// Raw scores: `[batch, channels, height, width] -> [batch, 1]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = leaky::activate(zoo_kernels::conv2d(&self.down1, images, None)); // [batch, base, h/2, w/2]
        let x = zoo_kernels::conv2d(&self.down2, x, None); // [batch, 2*base, h/4, w/4]
        let x = match &self.down2_norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        let x = leaky::activate(x).flatten(1, 3); // [batch, 2*base * h/4 * w/4]
        self.output.forward(x) // [batch, 1]
    }

    /// Gradient of `sum(forward(images))` with respect to `images`, written with forward ops.
    ///
    /// The all-ones output gradient goes back through the linear (times its transposed
    /// weight), each LeakyReLU (times its derivative mask) and each convolution (a transposed
    /// convolution with the same weight, stride and padding).
    ///
    /// # Errors
    ///
    /// With batch norm, whose batch statistics mix the samples: the gradient for one image
    /// would depend on the others.
    pub fn input_gradient(&self, images: Tensor<4>) -> Result<Tensor<4>, String> {
        if self.down2_norm.is_some() {
            return Err(BATCH_NORM_ERROR.to_string());
        }
        let input_dims = images.dims();
        let pre1 = self.down1.forward(images); // [batch, base, h/2, w/2]
        let pre2 = self.down2.forward(leaky::activate(pre1.clone())); // [batch, 2*base, h/4, w/4]
        let [batch, ..] = input_dims;
        let ones = Tensor::<2>::ones([batch, 1], &pre2.device()); // [batch, 1]
        let grad = ones.matmul(self.output.weight.val().transpose()); // [batch, 2*base * h/4 * w/4]
        let grad: Tensor<4> = grad.reshape(pre2.dims()); // [batch, 2*base, h/4, w/4]
        let grad = grad * leaky::derivative(pre2);
        let grad = conv_input_gradient(grad, &self.down2, pre1.dims()); // [batch, base, h/2, w/2]
        let grad = grad * leaky::derivative(pre1);
        Ok(conv_input_gradient(grad, &self.down1, input_dims)) // [batch, c, h, w]
    }
}

/// Gradient with respect to the input of `conv` (of shape `input_dims`), given the gradient
/// `grad` of its output: a transposed convolution with the same weight, stride and padding.
/// The output padding recovers the input rows and columns that the stride skipped.
fn conv_input_gradient(grad: Tensor<4>, conv: &Conv2d, input_dims: [usize; 4]) -> Tensor<4> {
    let [_, _, out_h, out_w] = grad.dims();
    let covered = |out: usize| (out - 1) * STRIDE + KERNEL - 2 * PADDING;
    let padding_out = [
        input_dims[2] - covered(out_h),
        input_dims[3] - covered(out_w),
    ];
    let options = ConvTransposeOptions::new([STRIDE; 2], [PADDING; 2], padding_out, [1, 1], 1);
    conv_transpose2d(grad, conv.weight.val(), None, options)
}
