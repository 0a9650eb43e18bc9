"""Checks the twins of ``torch_models.py`` against Burn's forward formulas.

For each twin, with random weights: ``to_burn`` gives the tensors in Burn's paths and layouts
(the mapping table of ``torch_models.py``); the forward pass is then recomputed in numpy the way
Burn's modules compute it on those tensors (``Linear``: ``x @ W + b`` with ``W [in, out]``;
``Lstm``: one ``gate_product`` per gate, ``burn-nn-0.22.1/src/modules/rnn/lstm/lstm_module.rs``;
``Conv2d`` weights ``[out, in, kh, kw]``; max-pool stride = window; batch norm with running
statistics) and compared with the twin in ``eval()`` mode. Also checks that ``load_burn``
inverts ``to_burn`` and that a safetensors round trip keeps every key.

    python interop/python/check_twins.py        # prints one line per network, exits 1 on a mismatch
"""

import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models as tm  # noqa: E402


def linear(x, t, path):
    return x @ t[f"{path}.weight"] + t[f"{path}.bias"]


def act(name, x):
    return {
        "relu": lambda v: np.maximum(v, 0),
        "tanh": np.tanh,
        "leaky": lambda v: np.where(v > 0, v, tm.GAN_LEAKY_SLOPE * v),
    }[name](x)


def batch_norm(x, t, path, axis):
    shape = [1] * x.ndim
    shape[axis] = -1
    g = lambda n: t[f"{path}.{n}"].reshape(shape)  # noqa: E731
    return (x - g("running_mean")) / np.sqrt(g("running_var") + 1e-5) * g("gamma") + g("beta")


def burn_mlp(x, t, prefix, n_hidden, batch_norm_on=False):
    x = x.reshape(x.shape[0], -1)
    for i in range(n_hidden):
        x = linear(x, t, f"{prefix}hidden.{i}.linear")
        if batch_norm_on:
            x = batch_norm(x, t, f"{prefix}hidden.{i}.norm", 1)
        x = act("relu", x)
    return linear(x, t, f"{prefix}output")


def conv2d(x, w, b, padding):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    k = w.shape[2]
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # [b, c, oh, ow, k, k]
    return np.einsum("bchwij,ocij->bohw", win, w) + b[None, :, None, None]


def max_pool(x, p):
    b, c, h, w = x.shape
    x = x[:, :, : h // p * p, : w // p * p].reshape(b, c, h // p, p, w // p, p)
    return x.max(axis=(3, 5))


def burn_cnn(x, t, model):
    for i, block in enumerate(model.blocks):
        conv = block.conv
        x = conv2d(x, t[f"blocks.{i}.conv.weight"], t[f"blocks.{i}.conv.bias"], conv.padding[0])
        if block.norm is not None:
            x = batch_norm(x, t, f"blocks.{i}.norm", 1)
        x = act("relu", x)
        if block.pool is not None:
            x = max_pool(x, block.pool.kernel_size)
    return burn_mlp(x.reshape(x.shape[0], -1), t, "head.", len(model.head.hidden))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def burn_lstm_classifier(x, t, model):
    b, c, rows, cols = x.shape
    x = x.transpose(0, 2, 1, 3).reshape(b, rows, c * cols)  # image_rows
    for k in range(model.lstm.num_layers):
        p = f"lstm.layers.{k}.Forward"
        gate = lambda name, xt, ht: (  # noqa: E731  GateController::gate_product
            linear(xt, t, f"{p}.{name}.input_transform") + linear(ht, t, f"{p}.{name}.hidden_transform"))
        h = np.zeros((b, model.lstm.hidden_size), np.float32)
        cell = np.zeros_like(h)
        outs = []
        for step in range(x.shape[1]):
            xt = x[:, step]
            i = sigmoid(gate("input_gate", xt, h))
            f = sigmoid(gate("forget_gate", xt, h))
            o = sigmoid(gate("output_gate", xt, h))
            g = np.tanh(gate("cell_gate", xt, h))
            cell = f * cell + i * g
            h = o * np.tanh(cell)
            outs.append(h)
        x = np.stack(outs, 1)
    pooled = h if model.pooling == "last" else x.mean(1)
    return linear(pooled, t, "output")


def burn_generator(z, t, model):
    x = z
    for i in range(len(model.hidden)):
        x = act("leaky", linear(x, t, f"hidden.{i}"))
    return np.tanh(linear(x, t, "output")).reshape(z.shape[0], *model.image)


def burn_discriminator(x, t, model):
    x = x.reshape(x.shape[0], -1)
    for i in range(len(model.hidden)):
        x = act("leaky", linear(x, t, f"hidden.{i}"))
    return linear(x, t, "output")


def randomize(model, gen):
    """Random weights everywhere (biases and batch-norm statistics included), so that a
    mixed-up slice or a missing transpose cannot hide behind symmetric initial values."""
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if p.dtype.is_floating_point:
                if name.endswith("running_var"):
                    p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
                else:
                    p.copy_(torch.randn(p.shape, generator=gen) * (0.3 if p.dim() < 2 else 1 / p.shape[-1] ** 0.5))
    return model


def main():
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(5, 1, 28, 28, generator=gen)
    cases = [
        ("Mlp", tm.Mlp(dropout=0.2), lambda x, t, m: burn_mlp(x, t, "", 1), images),
        ("Mlp(batch_norm, [64, 32])", tm.Mlp(hidden=[64, 32], batch_norm=True),
         lambda x, t, m: burn_mlp(x, t, "", 2, True), images),
        ("ClassicCnn", tm.ClassicCnn(), burn_cnn, images),
        ("LeNet5", tm.LeNet5(), burn_cnn, images),
        ("DeepBnCnn", tm.DeepBnCnn(), burn_cnn, images),
        ("LstmClassifier", tm.LstmClassifier(), burn_lstm_classifier, images),
        ("LstmClassifier(layers=2, mean)", tm.LstmClassifier(hidden=32, layers=2, pooling="mean"),
         burn_lstm_classifier, images),
        ("MlpGenerator", tm.MlpGenerator(), burn_generator, torch.randn(5, 100, generator=gen)),
        ("MlpDiscriminator", tm.MlpDiscriminator(), burn_discriminator, images),
    ]
    failed = False
    for name, model, reference, x in cases:
        model = randomize(model, gen).eval()
        with torch.no_grad():
            ours = model(x).numpy()
        tensors = tm.to_burn(model)
        theirs = reference(x.numpy().astype(np.float64), {k: v.astype(np.float64) for k, v in tensors.items()}, model)
        err = float(np.abs(ours - theirs).max())
        # The inverse mapping: a fresh twin loaded from the Burn tensors computes the same.
        fresh = randomize(_same_architecture(model), gen).eval()
        tm.load_burn(fresh, tensors)
        with torch.no_grad():
            again = float(np.abs(fresh(x).numpy() - ours).max())
        # A safetensors round trip keeps every key and value.
        from safetensors.torch import load_file, save_file
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
            back = load_file(path)
        same_keys = set(back) == set(model.state_dict())
        ok = err < 1e-4 and again == 0.0 and same_keys
        failed |= not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:32s} max |twin - Burn formulas| = {err:.2e}, "
              f"load_burn(to_burn) diff = {again:.1e}, {len(tensors)} Burn tensors, "
              f"{len(model.state_dict())} PyTorch keys")
    sys.exit(1 if failed else 0)


def _same_architecture(model):
    """A second instance of ``model``'s architecture (fresh weights)."""
    import copy
    return copy.deepcopy(model)


if __name__ == "__main__":
    main()
