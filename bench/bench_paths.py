"""The time and extra memory of `strongest_paths` for 10 pixels on VGG-16
(random weights, float32, batch 1) beside the plain Viterbi pass.

    python bench/bench_paths.py [--repeat 5] [--size 224] [--narrow]

Times: in one process, each call timed right after a Viterbi pass
(`timing.paired_ratios`): strongest_paths with top=10 and k=1, and with
k=3. Memory: the peak resident size (VmHWM) of a fresh process that loads
the network and runs one Viterbi pass, and of one that runs
strongest_paths(top=10) instead; their difference is the search's extra
memory. --size and --narrow (a 64-wide classifier) make a quick check
that the script runs, not a measurement.
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np

import semiring_lrp as sl
from bench_memory import peak_memory
from timing import paired_ratios

PIXELS = 10
CALLS = {
    "viterbi pass": "sl.relevance(net, x, semiring=sl.Viterbi())",
    "strongest_paths top=10": f"sl.strongest_paths(net, x, top={PIXELS})",
}


def random_vgg16(narrow):
    """torchvision's VGG-16 with random weights (seed 0); with narrow, the
    classifier 64 units wide (as tests/reference.py builds it)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None)
    if narrow:
        model.classifier[0] = torch.nn.Linear(512 * 7 * 7, 64)
        model.classifier[3] = torch.nn.Linear(64, 64)
        model.classifier[6] = torch.nn.Linear(64, 10)
    return sl.from_torch(model.eval())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--size", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--narrow", action="store_true",
                        help="a 64-wide classifier instead of VGG-16's 4096 (quick check)")
    args = parser.parse_args()
    net = random_vgg16(args.narrow)
    x = np.random.default_rng(0).normal(size=(1, 3, args.size, args.size)).astype(np.float32)
    calls = {
        "viterbi pass": lambda: sl.relevance(net, x, semiring=sl.Viterbi()),
        f"strongest_paths top={PIXELS}, k=1": lambda: sl.strongest_paths(net, x, top=PIXELS),
        f"strongest_paths top={PIXELS}, k=3": lambda: sl.strongest_paths(net, x, top=PIXELS,
                                                                         k=3),
    }
    sl.show_config()
    print(f"VGG-16{' (narrow classifier)' if args.narrow else ''}, random weights, float32, "
          f"batch 1, {args.size}x{args.size}, {sl.get_num_threads()} threads, "
          f"{args.repeat} rounds:")
    for name, (seconds, ratio, low, high) in paired_ratios(calls, "viterbi pass",
                                                           args.repeat).items():
        print(f"  {name:<32} {seconds:8.3f} s   x{ratio:5.2f} of the pass "
              f"[{low:.2f}, {high:.2f}]")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vgg16.npz"
        net.save(path)
        peaks = {name: peak_memory(path, call, args.size) for name, call in CALLS.items()}
    print("peak resident memory of a fresh process (weights included):")
    for name, peak in peaks.items():
        print(f"  {name:<32} {peak / 1e9:6.2f} GB")
    extra = peaks["strongest_paths top=10"] - peaks["viterbi pass"]
    print(f"  extra for strongest_paths        {extra / 1e6:+8.1f} MB")


if __name__ == "__main__":
    main()
