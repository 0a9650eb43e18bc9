"""Trains a PyTorch twin of a zoo network on MNIST and saves its state_dict.

    python interop/python/train_twin.py NETWORK --data DIR --epochs N --out FILE.safetensors|FILE.pt...
        [--seed S] [--logits-out FILE.npy --logits-images 100]

NETWORK is one of ``mlp`` (784-128-10, dropout 0.2), ``cnn`` (``ClassicCnn``), ``lenet5``,
``lstm`` (row-wise, hidden 128) and ``gan`` (the MLP GAN of gan-mnist; ``--out`` gets the
generator, ``<out stem>.discriminator<ext>`` the discriminator). ``--out`` takes one file or
more: the same weights are saved in each (``.pt`` with ``torch.save(model.state_dict())``,
``.safetensors`` with ``safetensors.torch.save_file``). The optimizer and learning rate
follow the network's zoo recipe (``torch_models.NETWORKS``): Adam (eps 1e-8) at 1e-3 (mlp, cnn,
lenet5) or 2e-3 with per-tensor gradient-norm clipping at 1.0 (lstm), cosine decay to 0 over the
run (Burn's ``CosineAnnealingLrScheduler``, stepped per batch); the GAN uses Adam 2e-4, betas
(0.5, 0.999), constant, one discriminator step and one generator step per batch, the generator
step reusing the discriminator step's fakes (as ``train/src/tasks/gan/train.rs``). Batch 64,
shuffled each epoch, the last partial batch kept. Unlike the recipes (which hold out 10% for
validation) the whole training file is used.

DIR holds the four canonical MNIST files (``train-images-idx3-ubyte.gz``,
``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``).
Pixels are normalized as the zoo's ``ImageBatcher``: ``(x / 255 - 0.1307) / 0.3081``; the GAN's
real images as ``x / 127.5 - 1``.

Prints one JSON line: test accuracy (fraction and %, 4 decimals) and the number of test images
(for the GAN: the last epoch's mean losses and the discriminator's accuracy on the test images
against as many fakes). ``--logits-out`` saves, in eval mode, the logits ``[N, 10]`` (float32)
of the first N test images; for the GAN, the generated images ``[N, 1, 28, 28]`` of N latents
drawn from ``torch.Generator().manual_seed(seed)`` (``torch.randn(N, 100)``), the latents
beside them as ``<stem>.latents.npy``.

Deterministic for a seed on one machine: ``torch.manual_seed``, a seeded shuffle, one thread
(``--threads``).
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models as tm  # noqa: E402

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

#: The recipe settings each network trains with (train/recipes/*.toml).
RECIPES = {
    "mlp": {"lr": 1e-3, "schedule": "cosine", "grad_clip": None},
    "cnn": {"lr": 1e-3, "schedule": "cosine", "grad_clip": None},
    "lenet5": {"lr": 1e-3, "schedule": "cosine", "grad_clip": None},
    "lstm": {"lr": 2e-3, "schedule": "cosine", "grad_clip": 1.0},
    "gan": {"lr": 2e-4, "schedule": "constant", "grad_clip": None},
}


def read_idx(path):
    """An IDX file (gzip): images ``[n, rows, cols]`` uint8 or labels ``[n]`` uint8."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        sys.exit(f"error: {path} not found (the folder needs the four canonical MNIST .gz files)")
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        array = np.frombuffer(data, np.uint8, offset=16)
        if array.size != n * rows * cols:
            sys.exit(f"error: {path}: {array.size} pixels for {n} images of {rows}x{cols}")
        return array.reshape(n, rows, cols)
    if magic == 2049:
        array = np.frombuffer(data, np.uint8, offset=8)
        if array.size != n:
            sys.exit(f"error: {path}: {array.size} labels, header says {n}")
        return array
    sys.exit(f"error: {path}: not an IDX image or label file (magic {magic})")


def load_mnist(folder):
    raw = {k: read_idx(os.path.join(folder, v)) for k, v in FILES.items()}
    for split in ("train", "test"):
        if len(raw[f"{split}_images"]) != len(raw[f"{split}_labels"]):
            sys.exit(f"error: {split}: {len(raw[f'{split}_images'])} images, {len(raw[f'{split}_labels'])} labels")
    return raw


def cosine_lr(base, step, total):
    """Burn's ``CosineAnnealingLrScheduler`` to 0 at optimizer step ``step`` (from 0: the
    first step runs at ``base``)."""
    return 0.5 * base * (1 + math.cos(math.pi * step / total))


def batches(n, batch_size, gen):
    order = torch.randperm(n, generator=gen)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct


def train_classifier(args, raw):
    settings = RECIPES[args.network]
    lr = args.lr if args.lr is not None else settings["lr"]
    schedule = args.schedule or settings["schedule"]
    model = tm.build(args.network)
    if args.init == "burn":
        tm.burn_init_(model)
    x = tm.normalize_mnist(torch.from_numpy(raw["train_images"].copy())).unsqueeze(1)  # [n, 1, 28, 28]
    y = torch.from_numpy(raw["train_labels"].astype(np.int64))
    xt = tm.normalize_mnist(torch.from_numpy(raw["test_images"].copy())).unsqueeze(1)
    yt = torch.from_numpy(raw["test_labels"].astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = math.ceil(len(x) / args.batch_size)
    total = steps_per_epoch * args.epochs
    step = 0
    start = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        for idx in batches(len(x), args.batch_size, gen):
            if schedule == "cosine":
                for group in opt.param_groups:
                    group["lr"] = cosine_lr(lr, step, total)
            step += 1
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            if settings["grad_clip"] is not None:
                tm.clip_grad_norm_per_burn_tensor_(model, settings["grad_clip"])
            opt.step()
    seconds = time.perf_counter() - start
    correct = evaluate(model, xt, yt)
    report = {
        "network": args.network,
        "epochs": args.epochs,
        "seed": args.seed,
        "train_images": len(x),
        "test_images": len(xt),
        "test_correct": correct,
        "test_accuracy": round(correct / len(xt), 4),
        "test_accuracy_percent": round(100 * correct / len(xt), 2),
        "train_seconds": round(seconds, 1),
    }
    if args.logits_out:
        model.eval()
        with torch.no_grad():
            logits = model(xt[: args.logits_images]).numpy().astype(np.float32)
        np.save(args.logits_out, logits)
        report["logits_out"] = args.logits_out
    return {"": model}, report


def train_gan(args, raw):
    lr = args.lr if args.lr is not None else RECIPES["gan"]["lr"]
    generator, discriminator = tm.MlpGenerator(), tm.MlpDiscriminator()
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999), eps=1e-8)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999), eps=1e-8)
    real_all = torch.from_numpy(raw["train_images"].copy()).to(torch.float32).unsqueeze(1) / 127.5 - 1
    gen = torch.Generator().manual_seed(args.seed)
    bce = F.binary_cross_entropy_with_logits
    start = time.perf_counter()
    for _ in range(args.epochs):
        d_sum = g_sum = 0.0
        chunks = [b for b in batches(len(real_all), args.batch_size, gen) if len(b) > 1]
        for idx in chunks:
            real = real_all[idx]
            n = len(idx)
            ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
            fake = generator(torch.randn(n, 100, generator=gen))  # [n, 1, 28, 28]
            d_loss = bce(discriminator(real), ones) + bce(discriminator(fake.detach()), zeros)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            discriminator.requires_grad_(False)  # the zoo steps G through D's weights as constants
            g_loss = bce(discriminator(fake), ones)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            discriminator.requires_grad_(True)
            d_sum += d_loss.item()
            g_sum += g_loss.item()
    seconds = time.perf_counter() - start
    generator.eval()
    discriminator.eval()
    test = torch.from_numpy(raw["test_images"].copy()).to(torch.float32).unsqueeze(1) / 127.5 - 1
    with torch.no_grad():
        fakes = generator(torch.randn(len(test), 100, generator=gen))
        right = (discriminator(test) > 0).sum().item() + (discriminator(fakes) <= 0).sum().item()
    report = {
        "network": "gan",
        "epochs": args.epochs,
        "seed": args.seed,
        "train_images": len(real_all),
        "d_loss": round(d_sum / len(chunks), 4),
        "g_loss": round(g_sum / len(chunks), 4),
        "test_images": len(test),
        "discriminator_accuracy": round(right / (2 * len(test)), 4),
        "train_seconds": round(seconds, 1),
        "train_samples_per_second": round(args.epochs * len(real_all) / seconds, 1),
    }
    if args.logits_out:
        latents = torch.randn(args.logits_images, 100, generator=torch.Generator().manual_seed(args.seed))
        with torch.no_grad():
            images = generator(latents).numpy().astype(np.float32)
        np.save(args.logits_out, images)
        stem = args.logits_out[:-4] if args.logits_out.endswith(".npy") else args.logits_out
        np.save(stem + ".latents.npy", latents.numpy().astype(np.float32))
        report["logits_out"] = args.logits_out
        report["latents_out"] = stem + ".latents.npy"
    return {"": generator, ".discriminator": discriminator}, report


def save(model, path):
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if path.endswith(".safetensors"):
        from safetensors.torch import save_file
        save_file(state, path, metadata={"format": "pt"})
    else:
        torch.save(state, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("network", choices=sorted(tm.NETWORKS))
    parser.add_argument("--data", required=True, help="folder with the four MNIST .gz files")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--out", required=True, nargs="+",
                        help="FILE.safetensors or FILE.pt (a state_dict); several: one of each")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, help="instead of the recipe's")
    parser.add_argument("--schedule", choices=["cosine", "constant"], help="instead of the recipe's")
    parser.add_argument("--init", choices=["burn", "torch"], default="burn",
                        help="burn: draw the LSTM's weights as Burn does (default); torch: PyTorch's draw")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--logits-out", help="FILE.npy: logits (or GAN images) of the first test images")
    parser.add_argument("--logits-images", type=int, default=100)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    for out in args.out:
        if not (out.endswith(".safetensors") or out.endswith(".pt")):
            parser.error(f"--out {out}: must end in .safetensors or .pt")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    raw = load_mnist(args.data)
    models, report = (train_gan if args.network == "gan" else train_classifier)(args, raw)
    outs = []
    for out in args.out:
        stem, ext = os.path.splitext(out)
        for suffix, model in models.items():
            path = stem + suffix + ext if suffix else out
            save(model, path)
            outs.append(path)
    report["out"] = outs if len(outs) > 1 else outs[0]
    report["torch"] = torch.__version__
    print(json.dumps(report))


if __name__ == "__main__":
    main()
