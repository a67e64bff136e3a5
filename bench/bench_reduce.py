"""Images per second of sl.apps.reduce_relevance, each built-in semiring,
against a plain loop of sl.relevance over the same batches (load, relevance,
nothing kept), in the same process.

    python bench/bench_reduce.py [--images 10000] [--repeat 3] [--vgg-images 32]
                                 [--vgg-repeat 1] [--no-mlp] [--no-vgg] [--no-dask]

MNIST MLP: the shipped test split when the datasets module has MNIST, else
the shipped digits shifted and perturbed to --images images; batch 1000;
reduce="semiring" over all images and by label. VGG-16 with random weights
(torchvision's vgg16(weights=None) through from_torch), random 224x224
images, batch 8, reduce="semiring" over all images (counting with the
paper's thresholds: at 1e-9 VGG-16's path counts pass 2**63). Each reduction is timed
right after a run of its baseline and the ratio taken per pair
(bench/timing.py). Dask: the MLP reductions on a LocalCluster of 2 worker
processes of 1 thread each, against the local reduction (2 threads in one
process), bit for bit the same result.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import semiring_lrp as sl
from timing import paired_ratios

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference import perturbed_digits  # noqa: E402  (the tests' MNIST-like images)

SEMIRINGS = {"real": sl.Real(), "boolean 1e-9": sl.Boolean(1e-9),
             "counting 1e-9": sl.Counting(1e-9), "viterbi": sl.Viterbi()}
# VGG-16's path counts at 1e-9 pass 2**63 (counting raises OverflowError): the
# paper's thresholds instead, as bench_speed.py
VGG_SEMIRINGS = {**SEMIRINGS, "counting 1e-9": None,
                 "counting paper": sl.Counting(sl.composites.PAPER_VGG16_THRESHOLDS,
                                               absolute=True)}
VGG_SEMIRINGS = {name: s for name, s in VGG_SEMIRINGS.items() if s is not None}


def mnist_images(count):
    """(dataset, where it came from)."""
    if hasattr(sl.datasets, "MNIST"):
        return sl.datasets.MNIST("test"), "the shipped MNIST test split"
    return (sl.datasets.ArrayDataset(*perturbed_digits(count, seed=0)),
            f"{count} shifted, perturbed copies of the shipped digits")


class RandomImages(sl.datasets.Dataset):
    """Random normal images (3, size, size), made per batch from the index."""

    def __init__(self, count, size=224):
        self.count, self.size = count, size
        self.sample_shape = (3, size, size)

    def __len__(self):
        return self.count

    @property
    def has_labels(self):
        return True

    def _load(self, start, stop):
        rng = np.random.default_rng(start)
        x = rng.standard_normal((stop - start, 3, self.size, self.size), dtype=np.float32)
        return x, rng.integers(1000, size=stop - start)


def relevance_loop(net, dataset, semiring, batch_size):
    """The baseline: the same batches through relevance, nothing reduced."""
    def run():
        for start in range(0, len(dataset), batch_size):
            x, _ = dataset.load(start, min(start + batch_size, len(dataset)))
            sl.relevance(net, x, semiring=semiring)
    return run


def reduction(net, dataset, semiring, batch_size, by, client=None):
    def run():
        return sl.apps.reduce_relevance(net, dataset, semiring=semiring, reduce="semiring",
                                        by=by, batch_size=batch_size, progress=False,
                                        client=client)
    return run


def block(title, net, dataset, semirings, batch_size, repeat, groupings):
    count = len(dataset)
    print(f"\n{title}: {count} images, batch {batch_size}, {repeat} rounds")
    print(f"  {'semiring':<15} {'by':<6} {'loop img/s':>11} {'reduce img/s':>13} "
          f"{'x loop':>7} {'range':>11}")
    for name, semiring in semirings.items():
        calls = {"loop": relevance_loop(net, dataset, semiring, batch_size)}
        for by in groupings:
            calls[by or "all"] = reduction(net, dataset, semiring, batch_size, by)
        timings = paired_ratios(calls, "loop", repeat)
        loop_rate = count / timings["loop"][0]
        for by in groupings:
            seconds, ratio, low, high = timings[by or "all"]
            print(f"  {name:<15} {by or 'all':<6} {loop_rate:11.1f} {count / seconds:13.1f} "
                  f"{ratio:7.2f} {low:5.2f}-{high:.2f}")


def dask_block(net, dataset, batch_size, repeat):
    import distributed

    print(f"\nMNIST MLP on a LocalCluster of 2 worker processes x 1 thread: {len(dataset)} "
          f"images, batch {batch_size}, by label, median of {repeat}")
    print(f"  {'semiring':<15} {'local img/s':>12} {'dask img/s':>11} {'same bits':>10}")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        for name, semiring in SEMIRINGS.items():
            local = reduction(net, dataset, semiring, batch_size, "label")
            remote = reduction(net, dataset, semiring, batch_size, "label", client)
            same = local().tobytes() == remote().tobytes()
            rates = []
            for run in (local, remote):
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    run()
                    times.append(time.perf_counter() - start)
                rates.append(len(dataset) / float(np.median(times)))
            print(f"  {name:<15} {rates[0]:12.1f} {rates[1]:11.1f} {str(same):>10}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--vgg-images", type=int, default=32)
    parser.add_argument("--vgg-repeat", type=int, default=1)
    parser.add_argument("--no-mlp", action="store_true")
    parser.add_argument("--no-vgg", action="store_true")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    print(f"semiring_lrp {sl.__version__}, {sl.get_num_threads()} threads, "
          f"{sl.instruction_set()} kernels")
    mlp = sl.models.mnist_mlp()
    dataset, source = mnist_images(args.images)
    if not args.no_mlp:
        block(f"MNIST MLP, {source}", mlp, dataset, SEMIRINGS, 1000, args.repeat,
              (None, "label"))
    if not args.no_dask:
        dask_block(mlp, dataset, 1000, args.repeat)
    if not args.no_vgg:
        import torch
        import torchvision

        torch.manual_seed(0)
        vgg = sl.from_torch(torchvision.models.vgg16(weights=None).eval())
        block("VGG-16, random weights and images at 224x224", vgg,
              RandomImages(args.vgg_images), VGG_SEMIRINGS, 8, args.vgg_repeat, (None,))


if __name__ == "__main__":
    main()
