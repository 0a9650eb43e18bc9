use burn::prelude::*;
use zoo_mlp::{Mlp, MlpConfig};

use crate::{Activation, ConvBlock, ConvBlockConfig};

/// Configuration of a [`Cnn`]: convolution blocks, then a dense head (an [`Mlp`]) on the
/// flattened feature map.
#[derive(Config, Debug)]
pub struct CnnConfig {
    /// Input `[channels, height, width]`.
    #[config(default = "[1, 28, 28]")]
    pub input: [usize; 3],
    /// The convolution blocks, input side first.
    pub blocks: Vec<ConvBlockConfig>,
    /// Hidden widths of the dense head.
    #[config(default = "vec![128]")]
    pub dense: Vec<usize>,
    /// Dropout after each hidden dense layer, in `[0, 1)`.
    #[config(default = 0.0)]
    pub dense_dropout: f64,
    /// Number of classes (logits).
    #[config(default = 10)]
    pub num_classes: usize,
    /// Activation used in every block and dense layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
}

/// A convolutional classifier returning logits. Build it with [`CnnConfig::init`].
#[derive(Module, Debug)]
pub struct Cnn {
    /// The convolution blocks.
    pub blocks: Vec<ConvBlock>,
    /// The dense head on the flattened features.
    pub head: Mlp,
}

impl CnnConfig {
    /// The pytorch/examples MNIST network: conv 1->32 3x3, conv 32->64 3x3, max-pool 2,
    /// dropout 0.25, fc 9216->128, dropout 0.5, fc 128->10 (ReLU throughout).
    pub fn classic() -> Self {
        Self::new(vec![
            ConvBlockConfig::new(32),
            ConvBlockConfig::new(64).with_pool(2).with_dropout(0.25),
        ])
        .with_dense(vec![128])
        .with_dense_dropout(0.5)
    }

    /// LeNet-5 in its modern form (ReLU, max-pooling): conv 6 5x5 (padding 2), pool 2,
    /// conv 16 5x5, pool 2, fc 120, fc 84, fc 10.
    pub fn lenet5() -> Self {
        Self::new(vec![
            ConvBlockConfig::new(6)
                .with_kernel_size(5)
                .with_padding(2)
                .with_pool(2),
            ConvBlockConfig::new(16).with_kernel_size(5).with_pool(2),
        ])
        .with_dense(vec![120, 84])
    }

    /// A deeper network with batch norm: two 3x3 blocks of 32, pool, two 3x3 blocks of 64,
    /// pool, dense 256 with dropout 0.4. With augmentation it reaches 99.5%+ on MNIST.
    pub fn deep_bn() -> Self {
        let conv = |channels: usize| {
            ConvBlockConfig::new(channels)
                .with_padding(1)
                .with_batch_norm(true)
        };
        Self::new(vec![
            conv(32),
            conv(32).with_pool(2).with_dropout(0.1),
            conv(64),
            conv(64).with_pool(2).with_dropout(0.1),
        ])
        .with_dense(vec![256])
        .with_dense_dropout(0.4)
    }

    /// `[channels, height, width]` of the last block's output.
    pub fn feature_shape(&self) -> [usize; 3] {
        self.blocks
            .iter()
            .fold(self.input, |shape, block| block.output_shape(shape))
    }

    /// Builds the network with fresh weights on `device`.
    ///
    /// # Panics
    ///
    /// If a kernel or pooling window does not fit the input, or a dropout is outside `[0, 1)`.
    pub fn init(&self, device: &Device) -> Cnn {
        let mut channels = self.input[0];
        let blocks = self
            .blocks
            .iter()
            .map(|block| {
                let layer = block.init(channels, self.activation, device);
                channels = block.channels;
                layer
            })
            .collect();
        let [c, h, w] = self.feature_shape();
        let head = MlpConfig::new()
            .with_input_size(c * h * w)
            .with_hidden(self.dense.clone())
            .with_output_size(self.num_classes)
            .with_activation(self.activation)
            .with_dropout(self.dense_dropout)
            .init(device);
        Cnn { blocks, head }
    }
}

impl Cnn {
    /// Every convolution kernel and dense weight matrix, flattened, input side first: what
    /// weight penalties (L1, L2) act on. Biases and batch-norm parameters are not included.
    pub fn weights(&self) -> Vec<Tensor<1>> {
        let kernels = self
            .blocks
            .iter()
            .map(|b| b.conv.weight.val().flatten(0, 3)); // [out * in * k * k]
        kernels.chain(self.head.weights()).collect()
    }

    /// Logits: `[batch, channels, height, width] -> [batch, num_classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self.blocks.iter().fold(images, |x, block| block.forward(x)); // [batch, c, h, w]
        self.head.forward(features.flatten(1, 3)) // [batch, c*h*w] -> [batch, classes]
    }

    /// The dense head's last hidden activations: `[batch, channels, height, width] ->
    /// [batch, last dense width]` (128 for the classic net). An embedding of the images, e.g.
    /// for the Fréchet distance between two sets.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self.blocks.iter().fold(images, |x, block| block.forward(x)); // [batch, c, h, w]
        self.head.features(features.flatten(1, 3)) // [batch, c*h*w] -> [batch, last dense width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(config: &CnnConfig, batch: usize) -> [usize; 2] {
        let device = Device::flex();
        let [c, h, w] = config.input;
        config
            .init(&device)
            .forward(Tensor::<4>::zeros([batch, c, h, w], &device))
            .dims()
    }

    #[test]
    fn classic_matches_the_pytorch_example() {
        let config = CnnConfig::classic();
        assert_eq!(config.feature_shape(), [64, 12, 12]); // 9216 features into fc1
        let cnn = config.init(&Device::flex());
        assert_eq!(cnn.head.hidden[0].linear.weight.dims(), [9216, 128]);
        // 320 + 18,496 + 1,179,776 + 1,290 parameters, as in PyTorch.
        assert_eq!(cnn.num_params(), 1_199_882);
        assert_eq!(logits(&config, 3), [3, 10]);
        let features = cnn.features(Tensor::<4>::zeros([3, 1, 28, 28], &Device::flex()));
        assert_eq!(features.dims(), [3, 128]); // the fc1 activations
    }

    #[test]
    fn lenet5_has_the_classic_shapes() {
        let config = CnnConfig::lenet5();
        assert_eq!(config.feature_shape(), [16, 5, 5]);
        assert_eq!(config.init(&Device::flex()).num_params(), 61_706);
        assert_eq!(logits(&config, 2), [2, 10]);
    }

    #[test]
    fn presets_work_on_colour_images_of_another_size() {
        for config in [
            CnnConfig::classic(),
            CnnConfig::lenet5(),
            CnnConfig::deep_bn(),
        ] {
            let config = config.with_input([3, 32, 32]).with_num_classes(100);
            assert_eq!(logits(&config, 2), [2, 100]);
        }
    }

    #[test]
    fn deep_bn_keeps_resolution_until_pooling() {
        let config = CnnConfig::deep_bn();
        assert_eq!(config.feature_shape(), [64, 7, 7]);
        // Trainable: convolutions 64,576 + batch-norm scales and shifts 384 + head 805,642;
        // num_params also counts the 384 batch-norm running means and variances.
        assert_eq!(config.init(&Device::flex()).num_params(), 871_018 + 384);
        assert_eq!(logits(&config, 4), [4, 10]);
    }

    #[test]
    fn weights_are_kernels_and_dense_matrices() {
        let cnn = CnnConfig::classic().init(&Device::flex());
        let sizes: Vec<usize> = cnn.weights().iter().map(|w| w.dims()[0]).collect();
        assert_eq!(sizes, vec![32 * 9, 64 * 32 * 9, 9216 * 128, 128 * 10]);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_kernel_larger_than_the_input_is_refused() {
        CnnConfig::new(vec![ConvBlockConfig::new(8).with_kernel_size(7)])
            .with_input([1, 4, 4])
            .feature_shape();
    }
}
