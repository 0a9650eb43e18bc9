use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::{Activation, ConfigError};
use zoo_kernels::activation::Pointwise;
use zoo_model_core::{positive, probability};

/// One convolution block: `conv -> (batch norm) -> activation -> (max-pool) -> (dropout)`.
///
/// ```
/// use zoo_cnn::ConvBlockConfig;
///
/// let block = ConvBlockConfig::new(32).with_padding(1).with_pool(2);
/// assert!(block.validate().is_ok());
/// assert_eq!(block.output_shape([1, 28, 28]), [32, 14, 14]); // 3x3, padding 1, pool 2
/// ```
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
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use zoo_cnn::{Activation, ConvBlockConfig};
///
/// let device = Device::flex();
/// let block = ConvBlockConfig::new(8).with_pool(2).init(1, Activation::Relu, &device);
/// let x = block.forward(Tensor::<4>::zeros([2, 1, 28, 28], &device)); // [batch, 8, 13, 13]
/// assert_eq!(x.dims(), [2, 8, 13, 13]);
/// ```
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
    /// Checks the block on its own: `channels`, `kernel_size`, `stride` and `pool` at least 1,
    /// `dropout` in `[0, 1)`. Whether the kernel and the pooling window fit the feature map
    /// depends on the input: [`CnnConfig::validate`](crate::CnnConfig::validate) checks that.
    ///
    /// ```
    /// use zoo_cnn::ConvBlockConfig;
    ///
    /// assert_eq!(ConvBlockConfig::new(16).validate(), Ok(()));
    /// let error = ConvBlockConfig::new(16).with_stride(0).validate().unwrap_err();
    /// assert_eq!(error.to_string(), "stride: must be >= 1");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("channels", self.channels)?;
        positive("kernel_size", self.kernel_size)?;
        positive("stride", self.stride)?;
        positive("pool", self.pool)?;
        probability("dropout", self.dropout)
    }

    /// The side of the block's output map for an input map of side `side`, or why the block
    /// does not fit it.
    pub(crate) fn output_side(&self, side: usize) -> Result<usize, String> {
        let k = self.kernel_size;
        let padded = side + 2 * self.padding;
        if self.stride == 0 {
            return Err("stride must be >= 1".to_string());
        }
        if padded < k {
            return Err(format!(
                "a {k}x{k} kernel does not fit the {side}-pixel feature map"
            ));
        }
        let conv = (padded - k) / self.stride + 1;
        if self.pool == 0 {
            return Err("pool must be >= 1".to_string());
        }
        if conv < self.pool {
            return Err(format!(
                "pool {} does not fit the {conv}-pixel feature map",
                self.pool
            ));
        }
        Ok(conv / self.pool)
    }

    /// Output `[channels, height, width]` for an input of `[_, height, width]`.
    ///
    /// ```
    /// use zoo_cnn::ConvBlockConfig;
    ///
    /// let block = ConvBlockConfig::new(64).with_pool(2); // 3x3, no padding
    /// assert_eq!(block.output_shape([32, 26, 26]), [64, 12, 12]);
    /// ```
    ///
    /// # Panics
    ///
    /// If the kernel or the pooling window does not fit the input, or the stride or the pooling
    /// window is zero.
    pub fn output_shape(&self, [_, height, width]: [usize; 3]) -> [usize; 3] {
        let side = |side: usize| {
            self.output_side(side)
                .unwrap_or_else(|message| panic!("{message}"))
        };
        [self.channels, side(height), side(width)]
    }

    /// Builds the block for `in_channels` input channels.
    ///
    /// ```
    /// use burn::tensor::Device;
    /// use zoo_cnn::{Activation, ConvBlockConfig};
    ///
    /// let block = ConvBlockConfig::new(6).with_batch_norm(true).init(3, Activation::Relu, &Device::flex());
    /// assert_eq!(block.conv.weight.dims(), [6, 3, 3, 3]); // [out, in, kernel, kernel]
    /// assert!(block.norm.is_some() && block.pool.is_none());
    /// ```
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) when the configuration is invalid.
    pub fn init(&self, in_channels: usize, activation: Activation, device: &Device) -> ConvBlock {
        if let Err(error) = self.validate() {
            panic!("invalid ConvBlockConfig: {error}");
        }
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
    ///
    /// The convolution, the pooling and the dropout run through [`zoo_kernels::conv2d`],
    /// [`zoo_kernels::max_pool2d`] and [`zoo_kernels::dropout()`]: one kernel each on flex,
    /// Burn's layers elsewhere. A ReLU right after the convolution (no batch norm) is fused
    /// into it.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match (&self.norm, &self.activation) {
            (None, burn::nn::activation::Activation::Relu(_)) => {
                zoo_kernels::conv2d(&self.conv, input, Some(Pointwise::Relu)) // [batch, channels, conv_h, conv_w]
            }
            (norm, activation) => {
                let x = zoo_kernels::conv2d(&self.conv, input, None); // [batch, channels, conv_h, conv_w]
                let x = match norm {
                    Some(norm) => norm.forward(x),
                    None => x,
                };
                activation.forward(x)
            }
        };
        let x = match &self.pool {
            Some(pool) => zoo_kernels::max_pool2d(pool, x), // [batch, channels, conv_h / pool, conv_w / pool]
            None => x,
        };
        zoo_kernels::dropout(&self.dropout, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_block_is_valid() {
        assert_eq!(ConvBlockConfig::new(1).validate(), Ok(()));
        let block = ConvBlockConfig::new(8)
            .with_kernel_size(5)
            .with_padding(2)
            .with_stride(2)
            .with_pool(2)
            .with_batch_norm(true)
            .with_dropout(0.5);
        assert_eq!(block.validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |block: ConvBlockConfig| block.validate().unwrap_err().field().to_string();
        let block = ConvBlockConfig::new(8);
        assert_eq!(field(ConvBlockConfig::new(0)), "channels");
        assert_eq!(field(block.clone().with_kernel_size(0)), "kernel_size");
        assert_eq!(field(block.clone().with_stride(0)), "stride");
        assert_eq!(field(block.clone().with_pool(0)), "pool");
        assert_eq!(field(block.clone().with_dropout(1.0)), "dropout");
        assert_eq!(field(block.with_dropout(-0.5)), "dropout");
    }

    #[test]
    fn output_side_says_what_does_not_fit() {
        let block = ConvBlockConfig::new(8).with_kernel_size(5).with_pool(2);
        assert_eq!(block.output_side(28), Ok(12));
        assert_eq!(
            block.output_side(4),
            Err("a 5x5 kernel does not fit the 4-pixel feature map".to_string())
        );
        assert_eq!(
            block.clone().with_pool(16).output_side(9),
            Err("pool 16 does not fit the 5-pixel feature map".to_string())
        );
        // Padding makes room for the kernel.
        assert_eq!(block.with_padding(1).output_side(4), Ok(1));
    }

    #[test]
    #[should_panic(expected = "invalid ConvBlockConfig: dropout: must be in [0, 1)")]
    fn init_panics_with_the_validation_message() {
        ConvBlockConfig::new(4)
            .with_dropout(1.0)
            .init(1, Activation::Relu, &Device::flex());
    }
}
