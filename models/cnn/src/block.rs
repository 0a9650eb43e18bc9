use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::Activation;

/// One convolution block: `conv -> (batch norm) -> activation -> (max-pool) -> (dropout)`.
#[derive(Config, Debug)]
pub struct ConvBlockConfig {
    /// Output channels of the convolution.
    pub channels: usize,
    /// Square kernel side.
    #[config(default = 3)]
    pub kernel_size: usize,
    /// Zero padding on every side.
    #[config(default = 0)]
    pub padding: usize,
    /// Convolution stride.
    #[config(default = 1)]
    pub stride: usize,
    /// Side of the max-pooling window after the activation; 1 means no pooling.
    #[config(default = 1)]
    pub pool: usize,
    /// Batch normalization between the convolution and the activation.
    #[config(default = false)]
    pub batch_norm: bool,
    /// Dropout probability at the end of the block, in `[0, 1)`.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// A convolution block built from a [`ConvBlockConfig`].
#[derive(Module, Debug)]
pub struct ConvBlock {
    /// The convolution.
    pub conv: Conv2d,
    /// Batch normalization over the output channels, when configured.
    pub norm: Option<BatchNorm>,
    /// The non-linearity.
    pub activation: burn::nn::activation::Activation,
    /// Max-pooling, when configured.
    pub pool: Option<MaxPool2d>,
    /// Dropout at the end of the block.
    pub dropout: Dropout,
}

impl ConvBlockConfig {
    /// Output `[channels, height, width]` for an input of `[_, height, width]`.
    ///
    /// # Panics
    ///
    /// If the kernel or the pooling window does not fit the input.
    pub fn output_shape(&self, [_, height, width]: [usize; 3]) -> [usize; 3] {
        let conv = |side: usize| {
            let padded = side + 2 * self.padding;
            assert!(
                padded >= self.kernel_size && self.stride > 0,
                "a {k}x{k} kernel does not fit a side of {side} (padding {p})",
                k = self.kernel_size,
                p = self.padding
            );
            (padded - self.kernel_size) / self.stride + 1
        };
        let pool = |side: usize| {
            assert!(
                side >= self.pool && self.pool > 0,
                "pool {} does not fit a side of {side}",
                self.pool
            );
            side / self.pool
        };
        [self.channels, pool(conv(height)), pool(conv(width))]
    }

    /// Builds the block for `in_channels` input channels.
    pub fn init(&self, in_channels: usize, activation: Activation, device: &Device) -> ConvBlock {
        let p = self.padding;
        ConvBlock {
            conv: Conv2dConfig::new([in_channels, self.channels], [self.kernel_size; 2])
                .with_stride([self.stride; 2])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(device),
            norm: self
                .batch_norm
                .then(|| BatchNormConfig::new(self.channels).init(device)),
            activation: activation.layer_config().init(device),
            pool: (self.pool > 1).then(|| MaxPool2dConfig::new([self.pool; 2]).init()),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl ConvBlock {
    /// `[batch, in_channels, h, w] -> [batch, channels, h', w']`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = crate::conv2d(&self.conv, input); // [batch, channels, conv_h, conv_w]
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        let x = self.activation.forward(x);
        let x = match &self.pool {
            Some(pool) => crate::max_pool2d(pool, x), // [batch, channels, conv_h / pool, conv_w / pool]
            None => x,
        };
        zoo_kernels::dropout(&self.dropout, x)
    }
}
