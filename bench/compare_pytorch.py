"""The zoo against PyTorch on the CPU, in back-to-back rounds: training samples/s and their ratio.

    python bench/compare_pytorch.py [--zoo PATH] [--rounds 3] [--threads 1,2] [--batches 200]
        [--warmup 10] [--batch-size 64] [--out runs/compare]

Run it with the Python that has PyTorch (see bench/README.md), on an idle machine. Each round
runs, one right after the other:

1. ``zoo bench mlp-mnist cnn-mnist lstm-seqmnist gan-mnist --backends flex`` once per thread
   count (``RAYON_NUM_THREADS``), and keeps each network's best;
2. ``bench/pytorch_ref.py`` over the same thread counts (``torch.set_num_threads``), best kept.

It prints each round's table (zoo, PyTorch, zoo / PyTorch) as it ends and, at the end, every
round's ratios side by side with the worst of them, and writes everything to
``OUT/compare.json``. ``ZOO_DATA_DIR`` must point at the folder that holds ``mnist/``.

Both sides train the same networks with the same optimizers at batch 64 (bench/README.md, "What
is measured"); the zoo's figure includes its data pipeline, PyTorch's does not.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
#: PyTorch reference name -> the zoo recipe it mirrors.
RECIPES = {"mlp": "mlp-mnist", "cnn": "cnn-mnist", "lstm": "lstm-seqmnist", "gan": "gan-mnist"}


def run_zoo(zoo, threads, args, out):
    """Best training samples/s per network over the thread counts, and every figure."""
    by_threads = {}
    for t in threads:
        folder = os.path.join(out, f"zoo-{t}-threads")
        command = [zoo, "bench", *RECIPES.values(), "--backends", "flex",
                   "--batch-size", str(args.batch_size), "--batches", str(args.batches),
                   "--warmup", str(args.warmup), "--out", folder]
        env = dict(os.environ, RAYON_NUM_THREADS=str(t))
        subprocess.run(command, env=env, check=True, stdout=sys.stderr)
        with open(os.path.join(folder, "bench.json")) as f:
            rows = json.load(f)
        rows = rows["rows"] if isinstance(rows, dict) else rows
        by_threads[t] = {row["recipe"]: row["train_samples_per_second"] for row in rows}
    best = {}
    for name, recipe in RECIPES.items():
        figures = {t: by_threads[t][recipe] for t in threads if recipe in by_threads[t]}
        if not figures:
            sys.exit(f"error: zoo bench wrote no row for {recipe}")
        best_threads = max(figures, key=figures.get)
        best[name] = {"train_samples_per_second": figures[best_threads], "best_threads": best_threads,
                      "by_threads": {str(t): v for t, v in figures.items()}}
    return best


def run_torch(threads, args, out):
    """PyTorch's best training samples/s per network, from bench/pytorch_ref.py's JSON."""
    path = os.path.join(out, "pytorch-ref.json")
    command = [sys.executable, os.path.join(HERE, "pytorch_ref.py"), "--models", ",".join(RECIPES),
               "--threads", ",".join(map(str, threads)), "--batch-size", str(args.batch_size),
               "--batches", str(args.batches), "--warmup", str(args.warmup), "--json", path]
    subprocess.run(command, check=True, stdout=sys.stderr)
    with open(path) as f:
        report = json.load(f)
    return {r["network"]: r for r in report["results"]}, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "zoo"),
                        help="the zoo binary (default: $CARGO_TARGET_DIR/release/zoo, else target/release/zoo)")
    parser.add_argument("--rounds", type=int, default=3, help="back-to-back rounds (zoo, then PyTorch)")
    parser.add_argument("--threads", default="1,2", help="thread counts for both sides; the best of each is used")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=200, help="timed batches per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed batches before them")
    parser.add_argument("--out", default=os.path.join("runs", "compare"), help="folder for compare.json")
    args = parser.parse_args()
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads must be comma-separated integers, got {args.threads!r}")
    if args.rounds < 1 or any(t < 1 for t in threads) or args.batches < 1 or args.batch_size < 1:
        parser.error("--rounds, --threads, --batches and --batch-size must be >= 1")
    if not os.access(args.zoo, os.X_OK):
        parser.error(f"no zoo binary at {args.zoo} (build it with `cargo build --release`, or pass --zoo)")
    if not os.environ.get("ZOO_DATA_DIR"):
        parser.error("set ZOO_DATA_DIR to the folder that holds mnist/")

    rounds = []
    for index in range(1, args.rounds + 1):
        out = os.path.join(args.out, f"round-{index}")
        os.makedirs(out, exist_ok=True)
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        zoo = run_zoo(args.zoo, threads, args, out)
        torch_best, torch_report = run_torch(threads, args, out)
        ratios = {n: zoo[n]["train_samples_per_second"] / torch_best[n]["train_samples_per_second"] for n in RECIPES}
        rounds.append({"round": index, "started": started, "zoo": zoo, "pytorch": torch_best, "ratio": ratios,
                       "torch": torch_report["torch"], "cpu": torch_report["cpu"]})
        print(f"\nround {index} ({started}, PyTorch {torch_report['torch']}, threads {args.threads}, "
              f"batch {args.batch_size}): training samples/s, best thread count each side")
        print(f"{'network':<8}{'zoo':>11}{'thr':>5}{'PyTorch':>11}{'thr':>5}{'zoo/PT':>9}")
        for n in RECIPES:
            z, p = zoo[n], torch_best[n]
            print(f"{n:<8}{z['train_samples_per_second']:>11,.0f}{z['best_threads']:>5}"
                  f"{p['train_samples_per_second']:>11,.0f}{p['best_threads']:>5}{ratios[n]:>9.2f}", flush=True)

    print(f"\nzoo / PyTorch over {args.rounds} rounds")
    labels = "".join(f"{'round ' + str(r['round']):>9}" for r in rounds)
    print(f"{'network':<8}{labels}{'worst':>9}")
    for n in RECIPES:
        values = [r["ratio"][n] for r in rounds]
        print(f"{n:<8}" + "".join(f"{v:>9.2f}" for v in values) + f"{min(values):>9.2f}")
    path = os.path.join(args.out, "compare.json")
    with open(path, "w") as f:
        json.dump({"threads": threads, "batch_size": args.batch_size, "batches": args.batches,
                   "warmup": args.warmup, "rounds": rounds}, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
