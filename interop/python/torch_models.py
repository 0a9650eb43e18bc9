"""PyTorch twins of burn-zoo's networks, for weight exchange with the Burn models.

Each class below is a ``torch.nn.Module`` whose ``state_dict()`` uses PyTorch's usual tensor
layouts (``nn.Linear`` weights ``[out, in]``, ``nn.Conv2d`` weights ``[out, in, kh, kw]``,
``nn.LSTM``'s fused ``weight_ih_l0`` ...) and whose forward pass in ``eval()`` mode computes what
the zoo's Burn model computes in inference (``model.valid()``). In ``train()`` mode dropout is
on, as in the zoo's training step (inverted dropout, kept values scaled by ``1 / (1 - p)``).

Twins (PyTorch class -> zoo module, Rust, built by):

  Mlp               -> zoo_mlp::Mlp                     MlpConfig (defaults: MlpConfig::new())
  Cnn               -> zoo_cnn::Cnn                     CnnConfig
  ClassicCnn        -> zoo_cnn::Cnn                     CnnConfig::classic()
  LeNet5            -> zoo_cnn::Cnn                     CnnConfig::lenet5()
  DeepBnCnn         -> zoo_cnn::Cnn                     CnnConfig::deep_bn()
  LstmClassifier    -> zoo_lstm::SequenceClassifier     SequenceClassifierConfig (forward LstmStack)
  MlpGenerator      -> zoo_gan::MlpGenerator            GeneratorConfig::new(Architecture::Mlp)
  MlpDiscriminator  -> zoo_gan::MlpDiscriminator        DiscriminatorConfig::new(Architecture::Mlp)

The twins' module names mirror the Burn modules' field names (``hidden.0.linear``, ``blocks.1.conv``,
``head.output`` ...), so a PyTorch key and its Burn parameter path are the same string except
where the table says otherwise: the Rust side needs no key remapping for the dense and
convolutional nets, only burn-store's ``PyTorchToBurnAdapter`` / ``BurnToPyTorchAdapter``
(linear transpose, ``weight``/``bias`` <-> ``gamma``/``beta`` in batch norm). The LSTM is the one
network that needs code: PyTorch fuses the four gates into one tensor, Burn keeps eight ``Linear``
layers per LSTM layer.

Tensor mapping (PyTorch key, shape -> Burn parameter path, shape)
----------------------------------------------------------------

Paths are relative to the family module (``Mlp``, ``Cnn``, ``SequenceClassifier``,
``MlpGenerator``, ``MlpDiscriminator``). A zoo run saves a wrapping module, so its files add a
prefix: ``network.Mlp.`` / ``network.Cnn.`` / ``network.Lstm.`` for a classifier's model file
(``Classifier { network: Network::Mlp(..) }``), ``Mlp.`` for the GAN's generator and
discriminator files (``Generator::Mlp``, ``Discriminator::Mlp``). Burn puts enum variant names
(``Mlp``, ``Forward``) in the paths unless the store is told ``skip_enum_variants(true)``.
``i`` counts hidden/dense layers, ``b`` convolution blocks, ``k`` LSTM layers, all from 0.
``H`` is the LSTM hidden size. "T" means transpose (a 2-d ``[out, in]`` <-> ``[in, out]``).

MLP (``Mlp``; also the dense head of a CNN under ``head.``)::

  hidden.{i}.linear.weight     [out, in]  T  hidden.{i}.linear.weight     [in, out]
  hidden.{i}.linear.bias       [out]         hidden.{i}.linear.bias       [out]
  hidden.{i}.norm.weight       [out]         hidden.{i}.norm.gamma        [out]   (batch_norm only)
  hidden.{i}.norm.bias         [out]         hidden.{i}.norm.beta         [out]
  hidden.{i}.norm.running_mean [out]         hidden.{i}.norm.running_mean [out]
  hidden.{i}.norm.running_var  [out]         hidden.{i}.norm.running_var  [out]
  hidden.{i}.norm.num_batches_tracked []     (none: skip on load; PyTorch accepts it missing)
  output.weight                [classes, w] T output.weight              [w, classes]
  output.bias                  [classes]     output.bias                  [classes]

CNN (``Cnn``: ``ClassicCnn``, ``LeNet5``, ``DeepBnCnn``)::

  blocks.{b}.conv.weight       [out, in, kh, kw]  blocks.{b}.conv.weight  same shape, same layout
  blocks.{b}.conv.bias         [out]              blocks.{b}.conv.bias    [out]
  blocks.{b}.norm.*            as the MLP's norm (deep_bn only)
  head.*                       the MLP rows above with the prefix ``head.``

  ClassicCnn: blocks.0.conv [32, 1, 3, 3], blocks.1.conv [64, 32, 3, 3],
              head.hidden.0.linear [128, 9216] (Burn [9216, 128]), head.output [10, 128].
  LeNet5:     blocks.0.conv [6, 1, 5, 5], blocks.1.conv [16, 6, 5, 5],
              head.hidden.0.linear [120, 400], head.hidden.1.linear [84, 120], head.output [10, 84].

LSTM classifier (``LstmClassifier``; Burn ``lstm.layers.{k}`` is the enum ``Recurrent::Forward(Lstm)``,
so its paths read ``lstm.layers.{k}.Forward.<gate>...``, or ``lstm.layers.{k}.<gate>...`` with
``skip_enum_variants(true)``). PyTorch's gate order in the fused tensors is i, f, g, o; each
slice is a block of ``H`` rows::

  lstm.weight_ih_l{k} [4H, in]  rows [0:H]    T  lstm.layers.{k}.Forward.input_gate.input_transform.weight   [in, H]
                                rows [H:2H]   T  lstm.layers.{k}.Forward.forget_gate.input_transform.weight  [in, H]
                                rows [2H:3H]  T  lstm.layers.{k}.Forward.cell_gate.input_transform.weight    [in, H]
                                rows [3H:4H]  T  lstm.layers.{k}.Forward.output_gate.input_transform.weight  [in, H]
  lstm.weight_hh_l{k} [4H, H]   rows [0:H]    T  lstm.layers.{k}.Forward.input_gate.hidden_transform.weight  [H, H]
                                rows [H:2H]   T  ...forget_gate.hidden_transform.weight
                                rows [2H:3H]  T  ...cell_gate.hidden_transform.weight
                                rows [3H:4H]  T  ...output_gate.hidden_transform.weight
  lstm.bias_ih_l{k}   [4H]      [0:H] [H:2H] [2H:3H] [3H:4H] -> {input,forget,cell,output}_gate.input_transform.bias  [H]
  lstm.bias_hh_l{k}   [4H]      [0:H] [H:2H] [2H:3H] [3H:4H] -> {input,forget,cell,output}_gate.hidden_transform.bias [H]
  output.weight       [classes, H]  T  output.weight  [H, classes]
  output.bias         [classes]        output.bias    [classes]

  (in = 28 for layer 0, H above it.) Burn computes each gate as
  ``x @ input_transform.weight + input_transform.bias + h @ hidden_transform.weight +
  hidden_transform.bias`` (burn-nn 0.22.1 ``modules/rnn/gate_controller.rs``, ``gate_product``),
  exactly PyTorch's ``W_ih x + b_ih + W_hh h + b_hh``; ``forget_gate`` is an ``Option`` (present:
  the zoo never sets ``input_forget``) and adds no path segment. burn-store's adapters transpose
  the ``weight`` of every module of type ``Linear`` (``adapter.rs``, ``adapt_pytorch_tensor``),
  the gates' ``input_transform``/``hidden_transform`` included: hand a gate's rows to
  ``PyTorchToBurnAdapter`` untransposed (``[H, in]``) under the Burn path and it does the "T";
  transpose yourself only when writing Burn tensors without the adapter. Note that the Burn struct
  declares the gates in the order input, forget, *output*, *cell*, while PyTorch's (and the
  zoo's fused kernel's) order is i, f, *g (cell)*, *o*: map by name, not by position.

MLP GAN (``MlpGenerator``, ``MlpDiscriminator``)::

  hidden.{i}.weight  [out, in]  T  hidden.{i}.weight  [in, out]      (Vec<Linear>, no ``.linear``)
  hidden.{i}.bias    [out]         hidden.{i}.bias    [out]
  output.weight      [out, w]   T  output.weight      [w, out]
  output.bias        [out]         output.bias        [out]

  Generator 100-256-512-784: hidden.0 [256, 100], hidden.1 [512, 256], output [784, 512].
  Discriminator 784-512-256-1: hidden.0 [512, 784], hidden.1 [256, 512], output [1, 256].

``burn_mapping(model)`` returns these rows for a built model, ``to_burn(model)`` the tensors as
Burn stores them (numpy, Burn layout and paths) and ``load_burn(model, tensors)`` the inverse;
``interop/python/check_twins.py`` runs the Burn forward formulas in numpy on ``to_burn``'s tensors and
compares them with the twins.

``from_zoo_model(spec)`` builds the twin of a recipe's ``[model]`` table and
``load_zoo_safetensors(path)`` the twin of a ``zoo export --format safetensors`` file, with its
weights (the file's header holds the table): ``interop/python/run_twin.py`` runs it, or the
exported ONNX graph in onnxruntime, on MNIST test images.

Numerics: the zoo's flex kernels compute tanh and sigmoid by a rational approximation within
2e-6 of the exact functions (``kernels/src/approx.rs``), so LSTM and generator outputs agree to
about 1e-5, not bit for bit. Batch norm in training: Burn updates ``running_var`` with the
biased batch variance, PyTorch with the unbiased one (inference is the same formula, eps 1e-5).
Initialization: Burn's ``Linear`` and ``Conv2d`` defaults draw from PyTorch's distributions
(uniform, bound ``1/sqrt(fan_in)``, weights and biases); Burn's ``Lstm`` draws every gate's
weights and biases from Xavier normal (``std = sqrt(2 / (fan_in + fan_out))``), PyTorch's
``nn.LSTM`` from ``U(-1/sqrt(H), 1/sqrt(H))``: ``burn_init_(model)`` redraws the LSTM like Burn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

#: MNIST pixel statistics on the 0..1 scale, as ``zoo_datasets::ImageDatasetKind::Mnist``.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

#: Negative slope of the GAN's LeakyReLU (``models/gan/src/leaky.rs``, ``SLOPE``).
GAN_LEAKY_SLOPE = 0.2

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "Mlp",
    "ConvBlock",
    "Cnn",
    "ClassicCnn",
    "LeNet5",
    "DeepBnCnn",
    "LstmClassifier",
    "MlpGenerator",
    "MlpDiscriminator",
    "image_rows",
    "normalize_mnist",
    "burn_init_",
    "clip_grad_norm_per_burn_tensor_",
    "MappingRow",
    "burn_mapping",
    "to_burn",
    "load_burn",
    "build",
    "NETWORKS",
    "from_zoo_model",
    "load_zoo_safetensors",
]


def activation_layer(name: str) -> nn.Module:
    """The zoo's ``Activation`` (kebab-case, as in a recipe) as a PyTorch layer."""
    layers = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        # Burn's LeakyReluConfig default slope.
        "leaky-relu": lambda: nn.LeakyReLU(0.01),
        # Burn's exact (erf) GELU.
        "gelu": lambda: nn.GELU(approximate="none"),
    }
    if name not in layers:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(layers)}")
    return layers[name]()


def normalize_mnist(pixels: torch.Tensor) -> torch.Tensor:
    """Grey levels 0..255 (any dtype) to the zoo's input: ``(x / 255 - 0.1307) / 0.3081``
    (``zoo_datasets::ImageBatcher``), as float32."""
    return (pixels.to(torch.float32) / 255.0 - MNIST_MEAN) / MNIST_STD


def image_rows(images: torch.Tensor) -> torch.Tensor:
    """``[batch, channels, rows, cols] -> [batch, rows, channels * cols]``: an image read row by
    row (``zoo_datasets::image_rows``)."""
    b, c, h, w = images.shape
    return images.permute(0, 2, 1, 3).reshape(b, h, c * w)


# --------------------------------------------------------------------------------------------
# MLP
# --------------------------------------------------------------------------------------------


class HiddenLayer(nn.Module):
    """``linear -> (batch norm) -> activation -> dropout`` (``zoo_mlp::HiddenLayer``)."""

    def __init__(self, d_in: int, d_out: int, activation: str, dropout: float, batch_norm: bool):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.norm = nn.BatchNorm1d(d_out, eps=1e-5, momentum=0.1) if batch_norm else None
        self.activation = activation_layer(activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)  # [batch, out]
        if self.norm is not None:
            x = self.norm(x)
        return self.dropout(self.activation(x))  # [batch, out]


class Mlp(nn.Module):
    """``zoo_mlp::Mlp``: ``input dropout -> [linear -> (batch norm) -> activation -> dropout]* ->
    linear``. Takes ``[batch, input_size]`` or images ``[batch, 1, 28, 28]`` (flattened, as the
    zoo's classifier does). Defaults are ``MlpConfig::new()``'s: 784-128-10, ReLU, no dropout."""

    def __init__(
        self,
        hidden: Sequence[int] = (128,),
        classes: int = 10,
        activation: str = "relu",
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        batch_norm: bool = False,
        input_size: int = 784,
    ):
        super().__init__()
        self.input_dropout = nn.Dropout(input_dropout)
        layers = []
        width = input_size
        for out in hidden:
            layers.append(HiddenLayer(width, out, activation, dropout, batch_norm))
            width = out
        self.hidden = nn.ModuleList(layers)
        self.output = nn.Linear(width, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations ``[batch, last width]``."""
        if x.dim() > 2:
            x = x.flatten(1)  # [batch, c*h*w]
        x = self.input_dropout(x)
        for layer in self.hidden:
            x = layer(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x))  # [batch, classes]


# --------------------------------------------------------------------------------------------
# CNN
# --------------------------------------------------------------------------------------------


@dataclass
class BlockSpec:
    """``zoo_cnn::ConvBlockConfig`` (same defaults)."""

    channels: int
    kernel_size: int = 3
    padding: int = 0
    stride: int = 1
    pool: int = 1
    batch_norm: bool = False
    dropout: float = 0.0

    def output_side(self, side: int) -> int:
        conv = (side + 2 * self.padding - self.kernel_size) // self.stride + 1
        return conv // self.pool


class ConvBlock(nn.Module):
    """``conv -> (batch norm) -> activation -> (max-pool, stride = window) -> dropout``
    (``zoo_cnn::ConvBlock``)."""

    def __init__(self, in_channels: int, spec: BlockSpec, activation: str):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, spec.channels, spec.kernel_size, stride=spec.stride, padding=spec.padding
        )
        self.norm = nn.BatchNorm2d(spec.channels, eps=1e-5, momentum=0.1) if spec.batch_norm else None
        self.activation = activation_layer(activation)
        self.pool = nn.MaxPool2d(spec.pool) if spec.pool > 1 else None
        self.dropout = nn.Dropout(spec.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)  # [batch, channels, conv_h, conv_w]
        if self.norm is not None:
            x = self.norm(x)
        x = self.activation(x)
        if self.pool is not None:
            x = self.pool(x)  # [batch, channels, conv_h / pool, conv_w / pool]
        return self.dropout(x)


class Cnn(nn.Module):
    """``zoo_cnn::Cnn``: convolution blocks, then an ``Mlp`` head on the features flattened in
    ``[channels, height, width]`` order."""

    def __init__(
        self,
        blocks: Sequence[BlockSpec],
        dense: Sequence[int] = (128,),
        dense_dropout: float = 0.0,
        classes: int = 10,
        activation: str = "relu",
        input: Tuple[int, int, int] = (1, 28, 28),
    ):
        super().__init__()
        channels, height, width = input
        layers = []
        for spec in blocks:
            layers.append(ConvBlock(channels, spec, activation))
            channels = spec.channels
            height, width = spec.output_side(height), spec.output_side(width)
        self.blocks = nn.ModuleList(layers)
        self.feature_shape = (channels, height, width)
        self.head = Mlp(
            hidden=dense,
            classes=classes,
            activation=activation,
            dropout=dense_dropout,
            input_size=channels * height * width,
        )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The dense head's last hidden activations (``[batch, 128]`` for the classic net)."""
        x = images
        for block in self.blocks:
            x = block(x)  # [batch, c, h, w]
        return self.head.features(x.flatten(1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head.output(self.features(images))  # [batch, classes]


class ClassicCnn(Cnn):
    """``CnnConfig::classic()``, the pytorch/examples MNIST net: conv 1->32 3x3, ReLU; conv
    32->64 3x3, ReLU, max-pool 2, dropout 0.25; fc 9216->128, ReLU, dropout 0.5; fc 128->10.
    No padding. 1,199,882 parameters."""

    def __init__(self, classes: int = 10, input: Tuple[int, int, int] = (1, 28, 28)):
        super().__init__(
            [BlockSpec(32), BlockSpec(64, pool=2, dropout=0.25)],
            dense=(128,),
            dense_dropout=0.5,
            classes=classes,
            input=input,
        )


class LeNet5(Cnn):
    """``CnnConfig::lenet5()``: conv 1->6 5x5 padding 2, ReLU, max-pool 2; conv 6->16 5x5,
    ReLU, max-pool 2; fc 400->120, ReLU; fc 120->84, ReLU; fc 84->10. No dropout. 61,706
    parameters."""

    def __init__(self, classes: int = 10, input: Tuple[int, int, int] = (1, 28, 28)):
        super().__init__(
            [BlockSpec(6, kernel_size=5, padding=2, pool=2), BlockSpec(16, kernel_size=5, pool=2)],
            dense=(120, 84),
            classes=classes,
            input=input,
        )


class DeepBnCnn(Cnn):
    """``CnnConfig::deep_bn()``: [conv 32 3x3 pad 1, BN, ReLU] x2 (pool 2, dropout 0.1 after
    the second), [conv 64 3x3 pad 1, BN, ReLU] x2 (pool 2, dropout 0.1), fc 256 (dropout 0.4),
    fc 10."""

    def __init__(self, classes: int = 10, input: Tuple[int, int, int] = (1, 28, 28)):
        conv = lambda c, **kw: BlockSpec(c, padding=1, batch_norm=True, **kw)  # noqa: E731
        super().__init__(
            [conv(32), conv(32, pool=2, dropout=0.1), conv(64), conv(64, pool=2, dropout=0.1)],
            dense=(256,),
            dense_dropout=0.4,
            classes=classes,
            input=input,
        )


# --------------------------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------------------------


class LstmClassifier(nn.Module):
    """``zoo_lstm::SequenceClassifier`` with a forward ``LstmStack``: ``nn.LSTM(input, hidden,
    num_layers=layers, batch_first=True)``, then ``output`` (linear) on the last layer's final
    hidden state (``pooling="last"``, the zoo's default) or on the mean of its outputs over time
    (``"mean"``). Takes sequences ``[batch, time, features]`` or images ``[batch, c, rows, cols]``
    (read row by row: 28 steps of 28 pixels for MNIST). ``dropout`` acts between layers, as in
    both ``LstmStack`` and ``nn.LSTM``."""

    def __init__(
        self,
        hidden: int = 128,
        layers: int = 1,
        input_size: int = 28,
        classes: int = 10,
        dropout: float = 0.0,
        pooling: str = "last",
    ):
        super().__init__()
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be 'last' or 'mean', got {pooling!r}")
        self.pooling = pooling
        self.lstm = nn.LSTM(
            input_size, hidden, num_layers=layers, batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.output = nn.Linear(hidden, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = image_rows(x)  # [batch, rows, c*cols]
        outputs, (h_n, _) = self.lstm(x)  # [batch, time, hidden], [layers, batch, hidden]
        if self.pooling == "last":
            return h_n[-1]  # [batch, hidden]
        return outputs.mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x))  # [batch, classes]


# --------------------------------------------------------------------------------------------
# MLP GAN
# --------------------------------------------------------------------------------------------


def _image_shape(image: Union[int, Sequence[int]]) -> Tuple[int, int, int]:
    if isinstance(image, int):
        side = math.isqrt(image)
        if side * side != image:
            raise ValueError(f"image={image} is not a square number of pixels: pass (c, h, w)")
        return (1, side, side)
    c, h, w = image
    return (int(c), int(h), int(w))


class MlpGenerator(nn.Module):
    """``zoo_gan::MlpGenerator`` (``GeneratorConfig::new(Architecture::Mlp)``): latent ``[batch,
    latent]`` -> [linear -> LeakyReLU 0.2]* -> linear -> tanh, reshaped to ``[batch, c, h, w]``.
    Defaults: 100-256-512-784, images ``[1, 28, 28]`` in [-1, 1]. ``image`` is the number of
    pixels of a square one-channel image, or ``(c, h, w)``."""

    def __init__(
        self,
        latent: int = 100,
        hidden: Sequence[int] = (256, 512),
        image: Union[int, Sequence[int]] = 784,
    ):
        super().__init__()
        self.image = _image_shape(image)
        layers, width = [], latent
        for out in hidden:
            layers.append(nn.Linear(width, out))
            width = out
        self.hidden = nn.ModuleList(layers)
        c, h, w = self.image
        self.output = nn.Linear(width, c * h * w)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = latent
        for layer in self.hidden:
            x = F.leaky_relu(layer(x), GAN_LEAKY_SLOPE)
        pixels = torch.tanh(self.output(x))  # [batch, c*h*w]
        return pixels.reshape(latent.shape[0], *self.image)  # [batch, c, h, w]


class MlpDiscriminator(nn.Module):
    """``zoo_gan::MlpDiscriminator``: images flattened -> [linear -> LeakyReLU 0.2]* -> linear
    to one logit ``[batch, 1]``. Defaults: 784-512-256-1."""

    def __init__(self, pixels: int = 784, hidden: Sequence[int] = (512, 256)):
        super().__init__()
        layers, width = [], pixels
        for out in hidden:
            layers.append(nn.Linear(width, out))
            width = out
        self.hidden = nn.ModuleList(layers)
        self.output = nn.Linear(width, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.flatten(1)  # [batch, c*h*w]
        for layer in self.hidden:
            x = F.leaky_relu(layer(x), GAN_LEAKY_SLOPE)
        return self.output(x)  # [batch, 1]


# --------------------------------------------------------------------------------------------
# Training helpers that follow the zoo
# --------------------------------------------------------------------------------------------


def _lstms(model: nn.Module) -> Iterable[nn.LSTM]:
    return (m for m in model.modules() if isinstance(m, nn.LSTM))


@torch.no_grad()
def burn_init_(model: nn.Module, generator: Optional[torch.Generator] = None) -> nn.Module:
    """Redraws every ``nn.LSTM`` in ``model`` as Burn's ``LstmConfig`` default does: each gate's
    input and hidden ``Linear`` (weights and biases) from a normal of std ``sqrt(2 / (fan_in +
    fan_out))`` (Xavier normal, gain 1). ``Linear`` and ``Conv2d`` are left alone: PyTorch's
    default draw is Burn's (``KaimingUniform`` with gain ``1/sqrt(3)``: ``U(-1/sqrt(fan_in),
    1/sqrt(fan_in))`` for weights and biases)."""
    for lstm in _lstms(model):
        if lstm.bidirectional or lstm.proj_size:
            raise NotImplementedError("burn_init_ handles forward LSTMs without projection")
        h = lstm.hidden_size
        for k in range(lstm.num_layers):
            d_in = lstm.input_size if k == 0 else h
            std_ih = math.sqrt(2.0 / (d_in + h))
            std_hh = math.sqrt(2.0 / (h + h))
            for name, std in (("weight_ih", std_ih), ("bias_ih", std_ih),
                              ("weight_hh", std_hh), ("bias_hh", std_hh)):
                p = getattr(lstm, f"{name}_l{k}")
                p.copy_(torch.randn(p.shape, generator=generator) * std)
    return model


@torch.no_grad()
def clip_grad_norm_per_burn_tensor_(model: nn.Module, max_norm: float) -> None:
    """The zoo's ``grad_clip`` (Burn's ``GradientClipping::Norm``): each parameter tensor *as
    Burn stores it* has its gradient scaled by ``min(1, max_norm / (||g|| + 1.1754944e-38))``.
    Burn clips per tensor, not over the global norm, and stores an LSTM layer as eight
    ``Linear``s, so each gate's block of ``weight_ih``/``weight_hh``/``bias_ih``/``bias_hh`` is
    clipped on its own norm here (a transpose does not change a norm)."""
    tiny = torch.finfo(torch.float32).tiny  # f32::MIN_POSITIVE, Burn's guard
    lstm_params = {id(p) for m in _lstms(model) for p in m.parameters()}
    for p in model.parameters():
        g = p.grad
        if g is None:
            continue
        if id(p) in lstm_params:
            blocks = g.view(4, -1)  # one row per gate: i, f, g, o
            norms = torch.linalg.vector_norm(blocks, dim=1)
            blocks.mul_((max_norm / (norms + tiny)).clamp(max=1.0).unsqueeze(1))
        else:
            norm = torch.linalg.vector_norm(g)
            g.mul_((max_norm / (norm + tiny)).clamp(max=1.0))


# --------------------------------------------------------------------------------------------
# The PyTorch <-> Burn tensor mapping, executable
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingRow:
    """One Burn tensor: ``burn_path`` holds ``state_dict()[torch_key][rows[0]:rows[1]]``
    (all of it when ``rows`` is None), transposed when ``transpose``."""

    torch_key: str
    rows: Optional[Tuple[int, int]]
    burn_path: str
    transpose: bool


_BURN_GATES = ("input_gate", "forget_gate", "cell_gate", "output_gate")  # PyTorch order i, f, g, o


def burn_mapping(model: nn.Module, enum_variants: bool = True) -> List[MappingRow]:
    """The rows of the module docstring's table for ``model`` (paths relative to the family
    module; ``enum_variants=False`` drops the LSTM's ``Forward`` segment, as burn-store's
    ``skip_enum_variants(true)`` does). ``num_batches_tracked`` has no Burn counterpart and is
    left out."""
    rows: List[MappingRow] = []
    modules = dict(model.named_modules())
    for key, tensor in model.state_dict().items():
        owner, _, name = key.rpartition(".")
        module = modules[owner]
        if isinstance(module, nn.LSTM):
            kind, layer = name.rsplit("_l", 1)  # weight_ih, 0
            h = module.hidden_size
            variant = ".Forward" if enum_variants else ""
            transform = {"weight_ih": "input_transform.weight", "weight_hh": "hidden_transform.weight",
                         "bias_ih": "input_transform.bias", "bias_hh": "hidden_transform.bias"}[kind]
            for g, gate in enumerate(_BURN_GATES):
                rows.append(MappingRow(
                    key, (g * h, (g + 1) * h),
                    f"{owner}.layers.{layer}{variant}.{gate}.{transform}",
                    kind.startswith("weight"),
                ))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            burn_name = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean",
                         "running_var": "running_var"}.get(name)
            if burn_name is not None:
                rows.append(MappingRow(key, None, f"{owner}.{burn_name}", False))
        elif isinstance(module, nn.Linear):
            rows.append(MappingRow(key, None, key, name == "weight"))
        elif isinstance(module, nn.Conv2d):
            rows.append(MappingRow(key, None, key, False))
        else:
            raise NotImplementedError(f"no Burn mapping for {key} ({type(module).__name__})")
    return rows


def to_burn(model: nn.Module, enum_variants: bool = True) -> Dict[str, np.ndarray]:
    """``model``'s tensors as the Burn model stores them: ``{burn path: numpy array in Burn's
    layout}`` (float32; ``[in, out]`` linear weights, one tensor per LSTM gate and map)."""
    state = model.state_dict()
    out = {}
    for row in burn_mapping(model, enum_variants):
        t = state[row.torch_key].detach().cpu()
        if row.rows is not None:
            t = t[row.rows[0]:row.rows[1]]
        if row.transpose:
            t = t.t()
        out[row.burn_path] = t.contiguous().numpy().copy()
    return out


@torch.no_grad()
def load_burn(model: nn.Module, tensors: Dict[str, np.ndarray], enum_variants: bool = True) -> nn.Module:
    """The inverse of :func:`to_burn`: fills ``model`` from Burn-layout tensors. Every Burn
    tensor of the mapping must be present, with its Burn shape."""
    state = model.state_dict()
    for row in burn_mapping(model, enum_variants):
        if row.burn_path not in tensors:
            raise KeyError(f"missing Burn tensor {row.burn_path} (for {row.torch_key})")
        t = torch.as_tensor(tensors[row.burn_path])
        if row.transpose:
            t = t.t()
        target = state[row.torch_key]
        if row.rows is not None:
            target = target[row.rows[0]:row.rows[1]]
        if tuple(t.shape) != tuple(target.shape):
            raise ValueError(f"{row.burn_path}: shape {tuple(t.shape)} does not fit {row.torch_key}{list(target.shape)}")
        target.copy_(t)  # state_dict tensors share storage with the parameters
    return model


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

#: Network names accepted by :func:`build` (and ``train_twin.py``), with their zoo recipe.
NETWORKS = {
    "mlp": "mlp-mnist",
    "cnn": "cnn-mnist",
    "lenet5": "lenet5-mnist",
    "lstm": "lstm-seqmnist",
    "gan": "gan-mnist",
}


def build(name: str, **kwargs) -> nn.Module:
    """A twin by network name, with the architecture of its zoo recipe (``NETWORKS``): ``mlp``
    is ``Mlp(dropout=0.2)`` as mlp-mnist (dropout changes nothing in eval mode), ``gan`` the
    generator."""
    if name == "mlp":
        return Mlp(**{"dropout": 0.2, **kwargs})
    if name == "cnn":
        return ClassicCnn(**kwargs)
    if name == "lenet5":
        return LeNet5(**kwargs)
    if name == "lstm":
        return LstmClassifier(**kwargs)
    if name == "gan":
        return MlpGenerator(**kwargs)
    raise ValueError(f"unknown network {name!r}; expected one of {sorted(NETWORKS)}")


# --------------------------------------------------------------------------------------------
# From a zoo recipe's [model] table (what `zoo export --format safetensors` writes in its header)
# --------------------------------------------------------------------------------------------


def _cnn_presets() -> Dict[str, Tuple[List[BlockSpec], Tuple[int, ...], float]]:
    """``CnnConfig::classic()``, ``lenet5()``, ``deep_bn()``: blocks, dense widths, dense dropout."""
    bn = lambda c, **kw: BlockSpec(c, padding=1, batch_norm=True, **kw)  # noqa: E731
    return {
        "classic": ([BlockSpec(32), BlockSpec(64, pool=2, dropout=0.25)], (128,), 0.5),
        "lenet5": ([BlockSpec(6, kernel_size=5, padding=2, pool=2), BlockSpec(16, kernel_size=5, pool=2)],
                   (120, 84), 0.0),
        "deep-bn": ([bn(32), bn(32, pool=2, dropout=0.1), bn(64), bn(64, pool=2, dropout=0.1)], (256,), 0.4),
    }


def from_zoo_model(
    spec: Dict, image: Tuple[int, int, int] = (1, 28, 28), classes: int = 10
) -> nn.Module:
    """The twin of a zoo recipe's ``[model]`` table (as a dict: ``tomllib`` on the recipe, or the
    JSON in the ``model`` entry of a ``zoo export`` safetensors header), for images ``image``
    ``(c, h, w)`` in ``classes`` classes; a GAN table gives its generator. Covers the networks
    with a twin: ``mlp``, ``cnn`` (presets or blocks), ``lstm`` (one direction) and ``gan`` with
    ``architecture = "mlp"``; anything else is a ``NotImplementedError``."""
    kind = spec.get("kind")
    if kind == "mlp":
        return Mlp(
            hidden=spec["hidden"], classes=classes, activation=spec.get("activation") or "relu",
            dropout=spec.get("dropout") or 0.0, input_dropout=spec.get("input_dropout") or 0.0,
            batch_norm=bool(spec.get("batch_norm")), input_size=image[0] * image[1] * image[2],
        )
    if kind == "cnn":
        blocks, dense, dense_dropout = _cnn_presets()[spec.get("preset") or "classic"]
        if spec.get("blocks") is not None:
            blocks = [BlockSpec(**b) for b in spec["blocks"]]
        if spec.get("dense") is not None:
            dense = spec["dense"]
        if spec.get("dense_dropout") is not None:
            dense_dropout = spec["dense_dropout"]
        return Cnn(blocks, dense=dense, dense_dropout=dense_dropout, classes=classes,
                   activation=spec.get("activation") or "relu", input=image)
    if kind == "lstm":
        if spec.get("bidirectional"):
            raise NotImplementedError("the LSTM twin reads in one direction (bidirectional = false)")
        return LstmClassifier(hidden=spec["hidden"], layers=spec.get("layers", 1),
                              input_size=image[0] * image[2], classes=classes,
                              dropout=spec.get("dropout") or 0.0, pooling=spec.get("pooling") or "last")
    if kind == "gan" and spec.get("architecture") == "mlp":
        latent = spec.get("latent_size", 100) + (classes if spec.get("conditional") else 0)
        return MlpGenerator(latent=latent, hidden=spec.get("generator_hidden") or (256, 512), image=image)
    raise NotImplementedError(f"no PyTorch twin for the zoo model {spec}")


def load_zoo_safetensors(
    path: str, image: Tuple[int, int, int] = (1, 28, 28), classes: int = 10
) -> Tuple[nn.Module, Dict[str, str]]:
    """The twin of a ``zoo export --format safetensors`` file, with its weights, in ``eval()``
    mode, and the file's header metadata (``recipe``, ``model``). The twin comes from the
    header's ``model`` table (:func:`from_zoo_model`); ``load_state_dict`` is strict, so every
    tensor must be there with its shape."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, "pt") as f:
        metadata = f.metadata() or {}
    if "model" not in metadata:
        raise ValueError(f"{path}: no 'model' in the header (not written by `zoo export`?)")
    model = from_zoo_model(json.loads(metadata["model"]), image, classes)
    model.load_state_dict(load_file(path), strict=True)
    return model.eval(), metadata


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Print a twin's PyTorch -> Burn tensor mapping.")
    parser.add_argument("network", choices=sorted(NETWORKS))
    parser.add_argument("--skip-enum-variants", action="store_true")
    args = parser.parse_args()
    net = build(args.network)
    state = net.state_dict()
    burn = to_burn(net, not args.skip_enum_variants)
    for row in burn_mapping(net, not args.skip_enum_variants):
        shape = list(state[row.torch_key].shape)
        rows = f"[{row.rows[0]}:{row.rows[1]}]" if row.rows else ""
        print(f"{row.torch_key}{rows} {shape} {'T ' if row.transpose else ''}-> "
              f"{row.burn_path} {list(burn[row.burn_path].shape)}")
