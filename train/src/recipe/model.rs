//! The `[model]` table of a recipe: which network, with which settings. Input and output sizes
//! come from the data, so the same table works for any image size and class count.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use zoo_cnn::{CnnConfig, ConvBlockConfig};
use zoo_gan::{DiscriminatorConfig, GeneratorConfig};
use zoo_lstm::{CharLmConfig, ForecasterConfig, LstmStackConfig, SequenceClassifierConfig};
use zoo_mlp::{Activation, MlpConfig};

use super::data::{DataKind, DataSpec, ImageShape};

pub use zoo_gan::Architecture as GanArchitecture;
pub use zoo_lstm::Pooling;

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
    /// An LSTM reading each image row by row ([`zoo_lstm::SequenceClassifier`]).
    Lstm {
        /// Hidden size of every layer (per direction).
        hidden: usize,
        /// Stacked layers.
        #[serde(default = "one")]
        layers: usize,
        /// Read the rows in both directions.
        #[serde(default)]
        bidirectional: bool,
        /// Dropout between layers, in `[0, 1)`.
        #[serde(default)]
        dropout: f64,
        /// `last` (final hidden state) or `mean` (mean of the outputs over time).
        #[serde(default)]
        pooling: Pooling,
    },
    /// A character language model ([`zoo_lstm::CharLm`]).
    CharLstm {
        /// Width of the character embedding.
        #[serde(default = "sixty_four")]
        embedding: usize,
        /// Hidden size of every layer.
        hidden: usize,
        /// Stacked layers.
        #[serde(default = "one")]
        layers: usize,
        /// Dropout between layers and before the output map, in `[0, 1)`.
        #[serde(default)]
        dropout: f64,
    },
    /// A forecaster of the next values of a series ([`zoo_lstm::Forecaster`]).
    LstmForecaster {
        /// Hidden size of every layer.
        hidden: usize,
        /// Stacked layers.
        #[serde(default = "one")]
        layers: usize,
        /// Dropout between layers, in `[0, 1)`.
        #[serde(default)]
        dropout: f64,
    },
    /// A generator and a discriminator ([`zoo_gan`]), trained adversarially (see `[gan]`).
    Gan {
        /// `mlp` or `dcgan`.
        architecture: GanArchitecture,
        /// Size of the latent vector.
        #[serde(default = "hundred")]
        latent_size: usize,
        /// Hidden widths of the MLP generator (default 256, 512).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generator_hidden: Option<Vec<usize>>,
        /// Hidden widths of the MLP discriminator (default 512, 256).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        discriminator_hidden: Option<Vec<usize>>,
        /// DCGAN feature maps of the widest layer's neighbour (default 64).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<usize>,
        /// Class-conditional GAN: both networks see the class (default false).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conditional: Option<bool>,
        /// Batch norm in the DCGAN discriminator (default true; must be off for WGAN-GP).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        discriminator_batch_norm: Option<bool>,
    },
}

/// What a model learns to do; each task reads one kind of data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Images to classes (MLP, CNN, row-wise LSTM).
    ImageClassification,
    /// Next-character prediction.
    CharLm,
    /// The next values of a series.
    Forecast,
    /// Generating images (GAN).
    Gan,
}

impl Task {
    /// The kind of data this task trains on.
    pub fn reads(self) -> DataKind {
        match self {
            Task::ImageClassification | Task::Gan => DataKind::Images,
            Task::CharLm => DataKind::Text,
            Task::Forecast => DataKind::Series,
        }
    }

    /// The name used in summaries and listings.
    pub fn name(self) -> &'static str {
        match self {
            Task::ImageClassification => "classify",
            Task::CharLm => "language-model",
            Task::Forecast => "forecast",
            Task::Gan => "gan",
        }
    }

    /// What data the task needs, for error messages.
    pub fn expects(self) -> &'static str {
        match self {
            Task::ImageClassification | Task::Gan => {
                "it needs an image dataset: mnist, mnist-mini or fashion-mnist"
            }
            Task::CharLm => "it needs a text corpus: tinyshakespeare",
            Task::Forecast => "it needs a series: sines",
        }
    }
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

fn sixty_four() -> usize {
    64
}

fn hundred() -> usize {
    100
}

fn three() -> usize {
    3
}

impl ModelSpec {
    /// What the model learns to do.
    pub fn task(&self) -> Task {
        match self {
            ModelSpec::Mlp { .. } | ModelSpec::Cnn { .. } | ModelSpec::Lstm { .. } => {
                Task::ImageClassification
            }
            ModelSpec::CharLstm { .. } => Task::CharLm,
            ModelSpec::LstmForecaster { .. } => Task::Forecast,
            ModelSpec::Gan { .. } => Task::Gan,
        }
    }

    /// The `kind` key's value.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ModelSpec::Mlp { .. } => "mlp",
            ModelSpec::Cnn { .. } => "cnn",
            ModelSpec::Lstm { .. } => "lstm",
            ModelSpec::CharLstm { .. } => "char-lstm",
            ModelSpec::LstmForecaster { .. } => "lstm-forecaster",
            ModelSpec::Gan { .. } => "gan",
        }
    }

    /// The row-wise LSTM classifier for images of `shape`, if this is an LSTM classifier.
    pub fn lstm_config(&self, shape: ImageShape) -> Option<SequenceClassifierConfig> {
        let ModelSpec::Lstm {
            hidden,
            layers,
            bidirectional,
            dropout,
            pooling,
        } = self
        else {
            return None;
        };
        let stack = LstmStackConfig::new(shape.channels * shape.width, *hidden)
            .with_num_layers(*layers)
            .with_bidirectional(*bidirectional)
            .with_dropout(*dropout);
        Some(SequenceClassifierConfig::new(stack, shape.classes).with_pooling(*pooling))
    }

    /// The language model for a vocabulary of `vocab_size`, if this is a char LSTM.
    pub fn char_lm_config(&self, vocab_size: usize) -> Option<CharLmConfig> {
        let ModelSpec::CharLstm {
            embedding,
            hidden,
            layers,
            dropout,
        } = self
        else {
            return None;
        };
        Some(
            CharLmConfig::new(vocab_size)
                .with_embedding_size(*embedding)
                .with_hidden_size(*hidden)
                .with_num_layers(*layers)
                .with_dropout(*dropout),
        )
    }

    /// The forecaster of `horizon` values, if this is a forecaster.
    pub fn forecaster_config(&self, horizon: usize) -> Option<ForecasterConfig> {
        let ModelSpec::LstmForecaster {
            hidden,
            layers,
            dropout,
        } = self
        else {
            return None;
        };
        let stack = LstmStackConfig::new(1, *hidden)
            .with_num_layers(*layers)
            .with_dropout(*dropout);
        Some(ForecasterConfig::new(stack).with_horizon(horizon))
    }

    /// The generator and discriminator for images of `shape`, if this is a GAN.
    pub fn gan_configs(&self, shape: ImageShape) -> Option<(GeneratorConfig, DiscriminatorConfig)> {
        let ModelSpec::Gan {
            architecture,
            latent_size,
            generator_hidden,
            discriminator_hidden,
            base,
            discriminator_batch_norm,
            ..
        } = self
        else {
            return None;
        };
        let image = [shape.channels, shape.height, shape.width];
        let classes = self.gan_classes(shape)?;
        let mut generator = GeneratorConfig::new(*architecture)
            .with_image(image)
            .with_latent_size(*latent_size + classes);
        let mut discriminator = DiscriminatorConfig::new(*architecture).with_image([
            shape.channels + classes,
            shape.height,
            shape.width,
        ]);
        if let Some(hidden) = generator_hidden {
            generator.hidden = hidden.clone();
        }
        if let Some(hidden) = discriminator_hidden {
            discriminator.hidden = hidden.clone();
        }
        if let Some(base) = base {
            generator.base = *base;
            discriminator.base = *base;
        }
        if let Some(bn) = discriminator_batch_norm {
            discriminator.batch_norm = *bn;
        }
        Some((generator, discriminator))
    }

    /// The classes a GAN's networks are conditioned on, if this is a GAN: the one-hot class is
    /// appended to the generator's latent vector and to the discriminator's image when
    /// `conditional`, so this is `shape.classes`, or 0 for an unconditional GAN.
    pub fn gan_classes(&self, shape: ImageShape) -> Option<usize> {
        let ModelSpec::Gan { conditional, .. } = self else {
            return None;
        };
        Some(if conditional.unwrap_or(false) {
            shape.classes
        } else {
            0
        })
    }

    /// The size of a GAN's noise vector (without the one-hot class), if this is a GAN.
    pub fn gan_latent_size(&self) -> Option<usize> {
        match self {
            ModelSpec::Gan { latent_size, .. } => Some(*latent_size),
            _ => None,
        }
    }

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

    /// Checks the model against the data it reads (its task reads that kind of data, see
    /// [`Task::reads`]) through the model crates' own `validate()`; the error names the recipe
    /// key of the offending field.
    pub fn validate(&self, data: &DataSpec) -> Result<()> {
        let image = data.dataset.image_shape();
        let shape = || image.expect("checked: an image model reads images");
        match self {
            ModelSpec::Mlp { .. } => {
                let config = self.mlp_config(shape()).expect("an mlp spec");
                config
                    .validate()
                    .map_err(|e| key_error(e.field(), e.message(), None))
            }
            ModelSpec::Cnn { preset, blocks, .. } => {
                if preset.is_none() && blocks.is_none() {
                    bail!("key 'model': a cnn needs a 'preset' (classic, lenet5, deep-bn) or 'blocks'");
                }
                let config = self.cnn_config(shape()).expect("a cnn spec");
                config
                    .validate()
                    .map_err(|e| key_error(e.field(), e.message(), None))
            }
            ModelSpec::Lstm { .. } => {
                let config = self.lstm_config(shape()).expect("an lstm spec");
                config
                    .validate()
                    .map_err(|e| key_error(e.field(), e.message(), None))
            }
            // The vocabulary is known once the corpus is read; its size does not change what
            // is valid.
            ModelSpec::CharLstm { .. } => {
                let config = self.char_lm_config(1).expect("a char-lstm spec");
                config
                    .validate()
                    .map_err(|e| key_error(e.field(), e.message(), None))
            }
            ModelSpec::LstmForecaster { .. } => {
                let config = self
                    .forecaster_config(data.series_window().1)
                    .expect("a forecaster spec");
                config
                    .validate()
                    .map_err(|e| key_error(e.field(), e.message(), None))
            }
            ModelSpec::Gan { latent_size, .. } => {
                // The generator reads the latent vector and the one-hot class: check the first
                // alone.
                if *latent_size == 0 {
                    bail!("key 'model.latent_size': must be >= 1");
                }
                let (generator, discriminator) = self.gan_configs(shape()).expect("a gan spec");
                generator
                    .validate()
                    .map_err(|e| key_error(e.field(), e.message(), Some("generator")))?;
                discriminator
                    .validate()
                    .map_err(|e| key_error(e.field(), e.message(), Some("discriminator")))
            }
        }
    }
}

/// A model configuration's error as a recipe error naming the recipe key of the field
/// (`lstm.hidden_size` is `model.hidden`; a GAN network's `hidden` is
/// `model.generator_hidden` or `model.discriminator_hidden`).
fn key_error(field: &str, message: &str, network: Option<&str>) -> anyhow::Error {
    let field = field.strip_prefix("lstm.").unwrap_or(field);
    let (name, index) = match field.find(['[', '.']) {
        Some(i) => field.split_at(i),
        None => (field, ""),
    };
    let name = match (name, network) {
        ("hidden_size", _) => "hidden".to_string(),
        ("num_layers", _) => "layers".to_string(),
        ("embedding_size", _) => "embedding".to_string(),
        ("horizon", _) => return anyhow::anyhow!("key 'data.horizon': {message}"),
        ("hidden", Some(network)) => format!("{network}_hidden"),
        ("batch_norm", Some(network)) => format!("{network}_batch_norm"),
        (name, _) => name.to_string(),
    };
    anyhow::anyhow!("key 'model.{name}{index}': {message}")
}

impl ConvBlockSpec {
    /// The spec that builds `config`: a preset's block written out, to edit it.
    pub fn from_config(config: &ConvBlockConfig) -> Self {
        Self {
            channels: config.channels,
            kernel_size: config.kernel_size,
            padding: config.padding,
            stride: config.stride,
            pool: config.pool,
            batch_norm: config.batch_norm,
            dropout: config.dropout,
        }
    }

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
