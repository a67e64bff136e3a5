"""The block sizes derived from this machine's caches against those that
other cache sizes give, in one process: VGG-16 passes with each.

    python bench/bench_blocks.py [--repeat 5] [--batch 1] [--caches 32K,1M 48K,1M,32M]

VGG-16 (torchvision, random weights, seed 0), float32, 224x224: the real
pass (LRP-0) and the Viterbi pass. Each pass runs with the sizes
`lrp_block_sizes` derives from the detected caches (`sl.show_config()`), and
with those of each --caches entry (L1d,L2 or L1d,L2,L3; L3 unknown where
not given) set through `_core._testing.set_cache_sizes`; each timed right after the detected run
(`timing.paired_ratios`). Results are the same bits either way (tested);
only the time differs.
"""
import argparse

import numpy as np

import semiring_lrp as sl
from semiring_lrp import _core
from bench_paths import random_vgg16
from timing import paired_ratios


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def with_caches(caches, call):
    """call with the cache sizes (l1d, l2, l3) in force."""
    def run():
        _core._testing.set_cache_sizes(*caches)
        try:
            call()
        finally:
            _core._testing.set_cache_sizes(0, 0, 0)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--caches", nargs="+", default=["32K,1M"],
                        help="L1d,L2[,L3] to compare with the detected ones (default 32K,1M: "
                             "L3 unknown)")
    parser.add_argument("--size", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--narrow", action="store_true",
                        help="a 64-wide classifier instead of VGG-16's 4096 (quick check)")
    args = parser.parse_args()
    sl.show_config()
    net = random_vgg16(args.narrow)
    x = np.random.default_rng(0).normal(
        size=(args.batch, 3, args.size, args.size)).astype(np.float32)
    for label, semiring in (("real", sl.Real()), ("viterbi", sl.Viterbi())):
        calls = {"detected": lambda semiring=semiring: sl.relevance(net, x, semiring=semiring)}
        for pair in args.caches:
            sizes = [parse_size(part) for part in pair.split(",")]
            if len(sizes) not in (2, 3):
                parser.error(f"--caches {pair!r}: give L1d,L2 or L1d,L2,L3")
            caches = tuple(sizes + [0] * (3 - len(sizes)))
            _core._testing.set_cache_sizes(*caches)
            blocks = _core.block_sizes()
            _core._testing.set_cache_sizes(0, 0, 0)
            name = (f"{pair} (kc {blocks['product_kc']}, nb {blocks['product_nb']}, "
                    f"one-pass {blocks['winograd_one_pass_bytes'] / 2**20:g} MiB, "
                    f"wide {blocks['winograd_wide_bytes'] / 2**20:g} MiB)")
            calls[name] = with_caches(caches, calls["detected"])
        print(f"VGG-16 {label} pass, batch {args.batch}, {args.repeat} rounds, each beside the "
              f"detected sizes' run:")
        for name, (seconds, ratio, low, high) in paired_ratios(calls, "detected",
                                                               args.repeat).items():
            print(f"  {name:<64} {seconds:8.3f} s   x{ratio:5.2f} [{low:.2f}, {high:.2f}]")


if __name__ == "__main__":
    main()
