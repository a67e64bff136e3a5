"""Time one `relevance` call on the MNIST MLP (784-300-100-10) for a batch of
1000 test digits, per semiring, beside PyTorch autograd LRP measured in the
same process (the baseline of every ratio).

    python bench/bench_mlp.py [--batch 1000] [--repeat 5] [--json out.json]

Each figure is the median of --repeat runs after one warm-up run.
"""
import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

import semiring_lrp as sl
from semiring_lrp.idx import load_mnist
from timing import median_seconds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from reference import torch_lrp  # noqa: E402  (the tests' autograd LRP)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "data" / "mnist"))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    import torch

    images, _ = load_mnist(args.data, "test")
    x = sl.models.mnist_input(images[: args.batch])
    net = sl.models.mnist_mlp()
    targets = net.forward(x).argmax(axis=1)
    rows = []

    baseline = median_seconds(
        lambda: torch_lrp(net, x.reshape(len(x), -1), targets, [sl.rules.Zero()] * 3),
        args.repeat, warmup=True)
    rows.append(("PyTorch autograd LRP-0 (baseline)", baseline))
    cases = [
        ("real, LRP-0", sl.Real(), sl.rules.Zero()),
        ("real, gamma 0.25", sl.Real(), sl.rules.Gamma(0.25)),
        ("boolean, theta 1e-9", sl.Boolean(1e-9), sl.rules.Zero()),
        ("counting, theta 1e-9", sl.Counting(1e-9), sl.rules.Zero()),
        ("viterbi", sl.Viterbi(), sl.rules.Zero()),
    ]
    for name, semiring, rule in cases:
        seconds = median_seconds(
            lambda: sl.relevance(net, x, target=targets, semiring=semiring, rule=rule),
            args.repeat, warmup=True)
        rows.append((f"semiring_lrp {name}", seconds))

    print(f"MNIST MLP 784-300-100-10, float32, batch {len(x)}; "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"semiring_lrp single-threaded; {platform.processor() or platform.machine()}")
    print(f"{'pass':<40} {'ms':>9} {'x baseline':>11}")
    for name, seconds in rows:
        print(f"{name:<40} {seconds * 1e3:9.1f} {seconds / baseline:11.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"batch": len(x), "torch": torch.__version__,
             "rows": [{"pass": n, "seconds": s, "ratio": s / baseline} for n, s in rows]},
            indent=2))


if __name__ == "__main__":
    main()
