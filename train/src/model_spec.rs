//! The `[model]` table of a recipe: which network, with which settings. Input and output sizes
//! come from the data, so the same table works for any image size and class count.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use zoo_cnn::{CnnConfig, ConvBlockConfig};
use zoo_mlp::{Activation, MlpConfig};

use crate::model::ImageShape;

/// Which network to train, with its settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ModelSpec {
    /// A multi-layer perceptron on the flattened image ([`zoo_mlp::Mlp`]).
    Mlp {
        /// Hidden layer widths.
        hidden: Vec<usize>,
        /// Activation after each hidden layer.
        #[serde(default)]
        activation: Activation,
        /// Dropout after each hidden layer, in `[0, 1)`.
        #[serde(default)]
        dropout: f64,
        /// Dropout on the input pixels, in `[0, 1)`.
        #[serde(default)]
        input_dropout: f64,
        /// Batch normalization in each hidden layer.
        #[serde(default)]
        batch_norm: bool,
    },
    /// A convolutional network ([`zoo_cnn::Cnn`]): a preset, or blocks of your own; the other
    /// keys override the preset's.
    Cnn {
        /// `classic`, `lenet5` or `deep-bn`.
        #[serde(default)]
        preset: Option<CnnPreset>,
        /// Convolution blocks, input side first (instead of a preset's).
        #[serde(default)]
        blocks: Option<Vec<ConvBlockSpec>>,
        /// Hidden widths of the dense head.
        #[serde(default)]
        dense: Option<Vec<usize>>,
        /// Dropout after each hidden dense layer, in `[0, 1)`.
        #[serde(default)]
        dense_dropout: Option<f64>,
        /// Activation in every layer.
        #[serde(default)]
        activation: Option<Activation>,
    },
}

/// The CNN presets a recipe can name.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CnnPreset {
    /// [`CnnConfig::classic`]: the pytorch/examples MNIST net.
    Classic,
    /// [`CnnConfig::lenet5`].
    Lenet5,
    /// [`CnnConfig::deep_bn`]: four 3x3 conv layers with batch norm.
    DeepBn,
}

/// One convolution block in a recipe (see [`zoo_cnn::ConvBlockConfig`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConvBlockSpec {
    /// Output channels.
    pub channels: usize,
    /// Square kernel side (default 3).
    #[serde(default = "three")]
    pub kernel_size: usize,
    /// Zero padding (default 0).
    #[serde(default)]
    pub padding: usize,
    /// Stride (default 1).
    #[serde(default = "one")]
    pub stride: usize,
    /// Max-pooling window after the block; 1 (default) is none.
    #[serde(default = "one")]
    pub pool: usize,
    /// Batch normalization.
    #[serde(default)]
    pub batch_norm: bool,
    /// Dropout at the end of the block, in `[0, 1)`.
    #[serde(default)]
    pub dropout: f64,
}

fn one() -> usize {
    1
}

fn three() -> usize {
    3
}

impl ModelSpec {
    /// The MLP configuration for images of `shape`, if this is an MLP.
    pub fn mlp_config(&self, shape: ImageShape) -> Option<MlpConfig> {
        let ModelSpec::Mlp {
            hidden,
            activation,
            dropout,
            input_dropout,
            batch_norm,
        } = self
        else {
            return None;
        };
        Some(
            MlpConfig::new()
                .with_input_size(shape.channels * shape.height * shape.width)
                .with_hidden(hidden.clone())
                .with_output_size(shape.classes)
                .with_activation(*activation)
                .with_dropout(*dropout)
                .with_input_dropout(*input_dropout)
                .with_batch_norm(*batch_norm),
        )
    }

    /// The CNN configuration for images of `shape`, if this is a CNN.
    pub fn cnn_config(&self, shape: ImageShape) -> Option<CnnConfig> {
        let ModelSpec::Cnn {
            preset,
            blocks,
            dense,
            dense_dropout,
            activation,
        } = self
        else {
            return None;
        };
        let mut config = match preset {
            Some(CnnPreset::Classic) | None => CnnConfig::classic(),
            Some(CnnPreset::Lenet5) => CnnConfig::lenet5(),
            Some(CnnPreset::DeepBn) => CnnConfig::deep_bn(),
        };
        if let Some(blocks) = blocks {
            config.blocks = blocks.iter().map(ConvBlockSpec::config).collect();
        }
        if let Some(dense) = dense {
            config.dense = dense.clone();
        }
        if let Some(p) = dense_dropout {
            config.dense_dropout = *p;
        }
        if let Some(a) = activation {
            config.activation = *a;
        }
        Some(
            config
                .with_input([shape.channels, shape.height, shape.width])
                .with_num_classes(shape.classes),
        )
    }

    /// Checks every value; errors name the key. `shape` is the data the model will read.
    pub fn validate(&self, shape: ImageShape) -> Result<()> {
        match self {
            ModelSpec::Mlp {
                hidden,
                dropout,
                input_dropout,
                ..
            } => {
                if hidden.contains(&0) {
                    bail!("key 'model.hidden': widths must be >= 1, got {hidden:?}");
                }
                probability("model.dropout", *dropout)?;
                probability("model.input_dropout", *input_dropout)
            }
            ModelSpec::Cnn {
                preset,
                blocks,
                dense,
                dense_dropout,
                ..
            } => {
                if preset.is_none() && blocks.is_none() {
                    bail!("key 'model': a cnn needs a 'preset' (classic, lenet5, deep-bn) or 'blocks'");
                }
                for (i, block) in blocks.iter().flatten().enumerate() {
                    let key = format!("model.blocks[{i}]");
                    if block.channels == 0
                        || block.kernel_size == 0
                        || block.stride == 0
                        || block.pool == 0
                    {
                        bail!("key '{key}': channels, kernel_size, stride and pool must be >= 1");
                    }
                    probability(&format!("{key}.dropout"), block.dropout)?;
                }
                if dense.as_ref().is_some_and(|d| d.contains(&0)) {
                    bail!("key 'model.dense': widths must be >= 1");
                }
                probability("model.dense_dropout", dense_dropout.unwrap_or(0.0))?;
                // The blocks must fit the image: walk the shapes without building anything.
                let config = self.cnn_config(shape).expect("a cnn spec");
                let mut side = [shape.height, shape.width];
                for (i, block) in config.blocks.iter().enumerate() {
                    for s in &mut side {
                        let padded = *s + 2 * block.padding;
                        if padded < block.kernel_size {
                            bail!("key 'model.blocks[{i}]': a {k}x{k} kernel does not fit the {s}-pixel feature map", k = block.kernel_size);
                        }
                        *s = (padded - block.kernel_size) / block.stride + 1;
                        if *s < block.pool {
                            bail!("key 'model.blocks[{i}]': pool {} does not fit the {s}-pixel feature map", block.pool);
                        }
                        *s /= block.pool;
                    }
                }
                Ok(())
            }
        }
    }
}

impl ConvBlockSpec {
    fn config(&self) -> ConvBlockConfig {
        ConvBlockConfig::new(self.channels)
            .with_kernel_size(self.kernel_size)
            .with_padding(self.padding)
            .with_stride(self.stride)
            .with_pool(self.pool)
            .with_batch_norm(self.batch_norm)
            .with_dropout(self.dropout)
    }
}

/// Checks that `value` is a probability usable for dropout: in `[0, 1)`.
pub fn probability(key: &str, value: f64) -> Result<()> {
    if !(0.0..1.0).contains(&value) {
        bail!("key '{key}': must be in [0, 1), got {value}");
    }
    Ok(())
}
