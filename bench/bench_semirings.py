"""The ready-made composed semirings on VGG-16 beside the built-in Viterbi
pass, and the README's own MaxPlus semiring (NumPy path) beside
`sl.MaxPlus()` (C).

    python bench/bench_semirings.py [--repeat 5] [--generic] [--numpy-vgg]
                                    [--size 224] [--narrow]

VGG-16: torchvision's, random weights (seed 0), float32, batch 1. In one
process, each pass timed right after a Viterbi pass (`timing.paired_ratios`):
MaxPlus, MinMax, LogCounting(1e-9, absolute) and FloatCounting(1e-9,
absolute), each on its fastest tier. --generic also times each once on the
generic C tier (`_core._testing.set_composed_fast_tiers(False)`), beside a
Viterbi pass. The README's "Your own semiring" MaxPlus, a `sl.Semiring`
subclass, takes the NumPy path: timed against `sl.MaxPlus()` on the
shipped MNIST MLP (batch 100, random pixels), and with --numpy-vgg once on
VGG-16 (minutes). --size and --narrow (a 64-wide classifier) make a quick
check that the script runs, not a measurement.
"""
import argparse
import time

import numpy as np

import semiring_lrp as sl
from semiring_lrp import _core
from bench_paths import random_vgg16
from timing import paired_ratios

THRESHOLD = 1e-9


class ReadmeMaxPlus(sl.Semiring):
    """The README's "Your own semiring" example: sl.MaxPlus() on the NumPy path."""
    def zero(self): return -np.inf
    def one(self): return 0.0
    def add(self, a, b): return np.maximum(a, b)
    def mul(self, a, b): return a + b
    def annotate(self, d, layer):
        with np.errstate(divide="ignore"):
            return np.log(np.abs(d))


def semirings():
    return {"max-plus": sl.MaxPlus(), "min-max": sl.MinMax(),
            "log-counting": sl.LogCounting(THRESHOLD, absolute=True),
            "float-counting": sl.FloatCounting(THRESHOLD, absolute=True)}


def once(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--generic", action="store_true",
                        help="also time each semiring once on the generic C tier")
    parser.add_argument("--numpy-vgg", action="store_true",
                        help="also time the README's MaxPlus once on VGG-16 (minutes)")
    parser.add_argument("--size", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--narrow", action="store_true",
                        help="a 64-wide classifier instead of VGG-16's 4096 (quick check)")
    args = parser.parse_args()
    net = random_vgg16(args.narrow)
    x = np.random.default_rng(0).normal(size=(1, 3, args.size, args.size)).astype(np.float32)
    viterbi = lambda: sl.relevance(net, x, semiring=sl.Viterbi())  # noqa: E731
    calls = {"viterbi": viterbi}
    for name, semiring in semirings().items():
        calls[name] = lambda semiring=semiring: sl.relevance(net, x, semiring=semiring)
    sl.show_config()
    print(f"VGG-16{' (narrow classifier)' if args.narrow else ''}, random weights, float32, "
          f"batch 1, {args.size}x{args.size}, {sl.get_num_threads()} threads, "
          f"{args.repeat} rounds, each pass beside a Viterbi pass:")
    for name, (seconds, ratio, low, high) in paired_ratios(calls, "viterbi",
                                                           args.repeat).items():
        print(f"  {name:<16} {seconds:8.3f} s   x{ratio:5.2f} of Viterbi [{low:.2f}, {high:.2f}]")
    if args.generic:
        print("the same on the generic C tier (fast tiers off), once each:")
        _core._testing.set_composed_fast_tiers(False)
        try:
            for name in semirings():
                base, spent = once(viterbi), once(calls[name])
                print(f"  {name:<16} {spent:8.3f} s   x{spent / base:6.2f} of Viterbi "
                      f"({base:.3f} s)")
        finally:
            _core._testing.set_composed_fast_tiers(True)

    mlp = sl.models.mnist_mlp()
    pixels = np.random.default_rng(1).random((100, 784)).astype(np.float32)
    readme = {"sl.MaxPlus() (C)": lambda: sl.relevance(mlp, pixels, semiring=sl.MaxPlus()),
              "README MaxPlus (NumPy)": lambda: sl.relevance(mlp, pixels,
                                                             semiring=ReadmeMaxPlus())}
    print(f"the README's MaxPlus on the MNIST MLP, batch 100, {args.repeat} rounds:")
    for name, (seconds, ratio, low, high) in paired_ratios(readme, "sl.MaxPlus() (C)",
                                                           args.repeat).items():
        print(f"  {name:<24} {seconds:8.4f} s   x{ratio:6.1f} [{low:.1f}, {high:.1f}]")
    if args.numpy_vgg:
        numpy_s = once(lambda: sl.relevance(net, x, semiring=ReadmeMaxPlus()))
        c_s = once(calls["max-plus"])
        print(f"the README's MaxPlus on VGG-16, once: NumPy path {numpy_s:.1f} s, "
              f"sl.MaxPlus() {c_s:.3f} s")


if __name__ == "__main__":
    main()
