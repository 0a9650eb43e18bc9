"""Runs a model that ``zoo export`` wrote, in PyTorch or in onnxruntime, on MNIST test images.

    python interop/python/run_twin.py FILE.safetensors|FILE.onnx --data DIR --out OUT.npy
        [--images N] [--latents LATENTS.npy]

- ``FILE.safetensors`` (``zoo export RUN --format safetensors``): the PyTorch twin named by the
  file's header (``torch_models.load_zoo_safetensors``: the recipe's ``[model]`` table; the
  state_dict is loaded strictly), in ``eval()`` mode.
- ``FILE.onnx`` (``zoo export RUN --format onnx``): an ``onnxruntime`` CPU session.

A classifier reads the test images of DIR (the four canonical MNIST ``.gz`` files, normalized as
the zoo does: ``(x / 255 - 0.1307) / 0.3081``): OUT gets the logits ``[N, classes]`` (float32)
of the first N, and the JSON line printed says how many of all the test images it classifies
right. A GAN generator reads the latents ``[N, latent]`` in LATENTS and OUT gets its images.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models as tm  # noqa: E402
import train_twin  # noqa: E402


def test_images(data):
    """The test images of ``data``, normalized ``[n, 1, 28, 28]``, and their labels ``[n]``."""
    images = train_twin.read_idx(os.path.join(data, train_twin.FILES["test_images"]))
    labels = train_twin.read_idx(os.path.join(data, train_twin.FILES["test_labels"]))
    x = tm.normalize_mnist(torch.from_numpy(images.copy())).unsqueeze(1)
    return x.numpy(), labels.astype(np.int64)


def torch_runner(path):
    model, metadata = tm.load_zoo_safetensors(path)

    def run(x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    generator = json.loads(metadata["model"]).get("kind") == "gan"
    return run, generator, {"runtime": "torch " + torch.__version__, "twin": type(model).__name__,
                            "recipe": metadata.get("recipe")}


def onnx_runner(path):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (input_,) = session.get_inputs()

    def run(x):
        return session.run(None, {input_.name: x})[0]

    generator = len(input_.shape) == 2
    return run, generator, {"runtime": "onnxruntime " + ort.__version__, "input": input_.name,
                            "input_shape": [str(d) for d in input_.shape]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="FILE.safetensors or FILE.onnx from `zoo export`")
    parser.add_argument("--data", help="folder with the MNIST .gz files (classifiers)")
    parser.add_argument("--images", type=int, default=100, help="test images whose logits OUT gets")
    parser.add_argument("--latents", help="LATENTS.npy, [n, latent] float32 (generators)")
    parser.add_argument("--out", required=True, help="OUT.npy")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.file.endswith(".onnx"):
        run, generator, report = onnx_runner(args.file)
    else:
        run, generator, report = torch_runner(args.file)
    if generator:
        if not args.latents:
            parser.error(f"{args.file} is a generator: pass --latents")
        outputs = run(np.load(args.latents).astype(np.float32))
    else:
        if not args.data:
            parser.error(f"{args.file} is a classifier: pass --data")
        x, y = test_images(args.data)
        logits = np.concatenate([run(x[i:i + 500]) for i in range(0, len(x), 500)])
        report.update(test_images=len(x), test_correct=int((logits.argmax(1) == y).sum()))
        outputs = logits[: args.images]
    np.save(args.out, np.ascontiguousarray(outputs, dtype=np.float32))
    report.update(file=args.file, out=args.out, shape=list(outputs.shape))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
