"""Pass times while another process keeps one CPU busy: the threads' work
cut into pieces that they claim as they come (the default) against one
fixed share per thread (`_core._testing.set_pieces_per_thread(1)`), in the
same process.

    python bench/bench_busy_cpu.py [--repeat 8] [--threads 2] [--no-vgg]

Passes: the MNIST MLP's real eps pass over 1000 random inputs, and VGG-16
(torchvision, random weights, seed 0) real at batch 1 with the overview
composite. Each is timed first on a quiet machine, then with a child
process spinning on one CPU this process may use (the first) for as long
as the timing runs. Each pass with pieces is timed right after one with
fixed shares (`timing.paired_ratios`), and the ratio taken per pair. Both
give the same bits (tests/test_parallel.py).
"""
import argparse
import os
import subprocess
import sys
import warnings

import numpy as np

import semiring_lrp as sl
from semiring_lrp import _core, composites, rules
from timing import paired_ratios

SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def mlp_pass():
    net = sl.models.mnist_mlp()
    x = np.random.default_rng(0).random((1000, 28, 28)).astype(np.float32)
    target = net.forward(x).argmax(axis=1)
    rule = rules.Epsilon(0.01)
    return lambda: sl.relevance(net, x, target=target, semiring=sl.Real(), rule=rule)


def vgg_pass():
    import torch
    import torchvision

    torch.manual_seed(0)
    net = sl.from_torch(torchvision.models.vgg16(weights=None).eval())
    composite = composites.lrp_overview_vgg16(net)
    pixels = np.random.default_rng(0).uniform(0, 1, size=(1, 3, 224, 224))
    x = ((pixels - composites.IMAGENET_MEAN.reshape(3, 1, 1))
         / composites.IMAGENET_STD.reshape(3, 1, 1)).astype(np.float32)
    target = net.forward(x).argmax(axis=1)
    return lambda: sl.relevance(net, x, target=target, semiring=sl.Real(), rule=composite)


def with_pieces(count, run):
    def call():
        _core._testing.set_pieces_per_thread(count)
        run()
    return call


def compare(run, repeat):
    """{name: (median s, median ratio, lowest, highest)} of both ways."""
    default = _core._testing.pieces_per_thread()
    calls = {"one share per thread": with_pieces(1, run), "pieces": with_pieces(default, run)}
    try:
        return paired_ratios(calls, "one share per thread", repeat)
    finally:
        _core._testing.set_pieces_per_thread(default)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-vgg", action="store_true", help="the MLP only (no torchvision)")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        sys.exit("needs 2 CPUs or more: one for the busy process, one for the passes")
    sl.set_num_threads(args.threads)
    warnings.simplefilter("ignore", sl.RelevanceWarning)
    passes = {"MNIST MLP b1000 real eps, random inputs": mlp_pass()}
    if not args.no_vgg:
        passes["VGG-16 b1 real, overview composite"] = vgg_pass()
    print(f"{sl.instruction_set()}, {args.threads} threads, "
          f"{_core._testing.pieces_per_thread()} pieces per thread; busy CPU {cpus[0]}")
    print("| pass | machine | one share per thread | pieces | ratio [range] |")
    print("|---|---|---:|---:|---:|")
    for name, run in passes.items():
        for machine in ("quiet", "one CPU busy"):
            spinner = None
            if machine != "quiet":
                spinner = subprocess.Popen([sys.executable, "-c", SPIN, str(cpus[0])])
            try:
                rows = compare(run, args.repeat)
            finally:
                if spinner:
                    spinner.kill()
                    spinner.wait()
            fixed, pieces = rows["one share per thread"], rows["pieces"]
            print(f"| {name} | {machine} | {1e3 * fixed[0]:.1f} ms | {1e3 * pieces[0]:.1f} ms "
                  f"| {pieces[1]:.2f}x [{pieces[2]:.2f}, {pieces[3]:.2f}] |")


if __name__ == "__main__":
    main()
