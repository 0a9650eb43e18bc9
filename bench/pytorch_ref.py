"""PyTorch reference throughput for the zoo's four benchmark networks (training samples/s).

    python bench/pytorch_ref.py [--models mlp,cnn,lstm,gan] [--batch-size 64] [--batches 200]
        [--warmup 10] [--threads 1,2] [--device cpu|cuda] [--json FILE]

What is measured, per network: a bare training loop over pre-batched tensors (the data is made
once, before the clock starts, and the loop cycles over it): forward, loss, backward and
optimizer step, ``--warmup`` untimed batches first, then ``--batches`` timed ones; samples/s =
timed batches x batch size / seconds. Each thread count of ``--threads`` is measured on a fresh
model (``torch.set_num_threads``) and the best is reported (on a small VM one thread is often
fastest for small nets). On CUDA the device is synchronized before each clock reading.

The networks are the zoo's, built from ``interop/python/torch_models.py`` (the PyTorch twins of the
Burn modules), trained as the zoo's recipes train them:

- ``mlp``: mlp-mnist, MLP 784-128-10, ReLU, dropout 0.2 after the hidden layer, Adam 1e-3
  (eps 1e-8), cross-entropy.
- ``cnn``: cnn-mnist, the pytorch/examples MNIST CNN as ``CnnConfig::classic()`` builds it (conv
  32 3x3, conv 64 3x3, max-pool 2, dropout 0.25, fc 128, dropout 0.5, fc 10), Adam 1e-3.
- ``lstm``: lstm-seqmnist, each image read row by row (28 steps of 28 pixels), LSTM hidden 128,
  the last hidden state -> linear 10, Adam 2e-3, gradients clipped at norm 1.0 per tensor as
  Burn stores them (``GradientClipping::Norm``: each LSTM gate's block clipped on its own).
- ``gan``: gan-mnist, G 100-256-512-784 (LeakyReLU 0.2, tanh), D 784-512-256-1 (LeakyReLU 0.2),
  non-saturating BCE with logits, Adam 2e-4 betas (0.5, 0.999) for both. As in the zoo's GAN
  loop (train/src/tasks/gan/train.rs) one training sample is one real image through one
  discriminator step (real and fake batches through D separately, fakes detached) and one
  generator step that reuses that step's fakes, D's weights frozen (no gradients for them).

The learning-rate schedule (cosine in the recipes) is left out: it costs nothing per step, and
``zoo bench`` steps at the recipe's base rate too.

Input data: random tensors of MNIST's shapes, not MNIST itself: throughput does not depend on
the pixel values. Grey levels are drawn uniformly from 0..255 and normalized as the zoo's
``ImageBatcher`` does, ``(x / 255 - 0.1307) / 0.3081``, the GAN's real images as
``x / 127.5 - 1``; labels uniform over the 10 classes; latents standard normal (drawn each step,
as the zoo does).

Compare with ``zoo bench`` only within one session, one right after the other: this kind of
machine is noisy (see bench/README.md).
"""

import argparse
import json
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "interop", "python"))
import torch_models as tm  # noqa: E402

#: What each network is, for the table and the JSON.
DESCRIPTIONS = {
    "mlp": "MLP 784-128-10, ReLU, dropout 0.2, Adam 1e-3 (mlp-mnist)",
    "cnn": "classic CNN (pytorch/examples), Adam 1e-3 (cnn-mnist)",
    "lstm": "row-wise LSTM 128, Adam 2e-3, clip 1.0 (lstm-seqmnist)",
    "gan": "MLP GAN 100-256-512-784 / 784-512-256-1, Adam 2e-4 (gan-mnist)",
}

#: Distinct pre-made batches the loop cycles over.
POOL = 16


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mnist_like(batch, device, gen):
    """A batch of random grey levels normalized like MNIST ``[batch, 1, 28, 28]`` and labels."""
    pixels = torch.randint(0, 256, (batch, 1, 28, 28), generator=gen)
    labels = torch.randint(0, 10, (batch,), generator=gen)
    return tm.normalize_mnist(pixels).to(device), labels.to(device)


def classifier_step(name, batch, device, gen):
    """The training step of a classifier and the data it cycles over."""
    model = {"mlp": lambda: tm.Mlp(dropout=0.2), "cnn": tm.ClassicCnn, "lstm": tm.LstmClassifier}[name]()
    if name == "lstm":
        tm.burn_init_(model, gen)
    model = model.to(device).train()
    lr = 2e-3 if name == "lstm" else 1e-3
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    data = [mnist_like(batch, device, gen) for _ in range(POOL)]
    clip = name == "lstm"

    def step(i):
        images, labels = data[i % POOL]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        if clip:
            tm.clip_grad_norm_per_burn_tensor_(model, 1.0)
        opt.step()

    return step


def gan_step(batch, device, gen):
    generator = tm.MlpGenerator().to(device).train()
    discriminator = tm.MlpDiscriminator().to(device).train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    reals = [(torch.randint(0, 256, (batch, 1, 28, 28), generator=gen).float() / 127.5 - 1).to(device)
             for _ in range(POOL)]
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)
    bce = F.binary_cross_entropy_with_logits

    def step(i):
        real = reals[i % POOL]
        fake = generator(torch.randn(batch, 100, device=device))  # [batch, 1, 28, 28]
        d_loss = bce(discriminator(real), ones) + bce(discriminator(fake.detach()), zeros)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        discriminator.requires_grad_(False)
        g_loss = bce(discriminator(fake), ones)  # through the updated D, reusing the fakes
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        discriminator.requires_grad_(True)

    return step


def measure(name, threads, args, device):
    """Training samples/s of ``name`` with ``threads`` threads."""
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    step = gan_step(args.batch_size, device, gen) if name == "gan" else classifier_step(
        name, args.batch_size, device, gen)
    for i in range(args.warmup):
        step(i)
    sync(device)
    start = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.batches):
        step(i)
    sync(device)
    seconds = time.perf_counter() - start
    return args.batches * args.batch_size / seconds


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def backend_line(device):
    if device.type == "cuda":
        return f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(device)}"
    parts = []
    if torch.backends.mkl.is_available():
        parts.append("MKL")
    if torch.backends.mkldnn.is_available():
        # The build line reads "Intel(R) MKL-DNN v3.13.3 (Git Hash ...)".
        config = torch.__config__.show()
        version = next((w for line in config.splitlines() if "MKL-DNN" in line
                        for w in line.split() if w.startswith("v") and w[1:2].isdigit()), "")
        parts.append(f"oneDNN {version}".strip())
    parts.append(f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    return ", ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mlp,cnn,lstm,gan", help="comma-separated: mlp,cnn,lstm,gan")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=200, help="timed batches per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed batches before them")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts; the best is reported")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in DESCRIPTIONS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {','.join(DESCRIPTIONS)}")
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads must be comma-separated integers, got {args.threads!r}")
    if any(t < 1 for t in threads) or args.batches < 1 or args.batch_size < 1 or args.warmup < 0:
        parser.error("--threads, --batches and --batch-size must be >= 1, --warmup >= 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False")
    device = torch.device(args.device)

    header = (f"PyTorch {torch.__version__} on {args.device} ({backend_line(device)}; {cpu_name()}, "
              f"{os.cpu_count()} CPUs): training samples/s, batch {args.batch_size}, "
              f"{args.batches} timed batches after {args.warmup} warm-up, best of threads {args.threads}")
    print(header, flush=True)
    columns = "".join(f"{f'{t} thr':>11}" for t in threads)
    print(f"{'network':<8}{columns}{'best':>11}  description", flush=True)
    results = []
    for name in models:
        by_threads = {}
        for t in threads:
            by_threads[t] = measure(name, t, args, device)
        best_threads = max(by_threads, key=by_threads.get)
        cells = "".join(f"{by_threads[t]:>11,.0f}" for t in threads)
        print(f"{name:<8}{cells}{by_threads[best_threads]:>11,.0f}  {DESCRIPTIONS[name]}", flush=True)
        results.append({
            "network": name,
            "description": DESCRIPTIONS[name],
            "train_samples_per_second": round(by_threads[best_threads], 1),
            "best_threads": best_threads,
            "by_threads": {str(t): round(v, 1) for t, v in by_threads.items()},
        })
    if args.json:
        report = {
            "torch": torch.__version__,
            "device": args.device,
            "backend": backend_line(device),
            "cpu": cpu_name(),
            "cpus": os.cpu_count(),
            "batch_size": args.batch_size,
            "batches": args.batches,
            "warmup": args.warmup,
            "threads": threads,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "results": results,
        }
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
