"""Write the MNIST test digits shipped for the package's default demo.

Takes the first two test images of each class 0..9, in class order, and saves
them to semiring_lrp/data/mnist_digits.npz with keys ``images`` (uint8,
20x28x28), ``labels`` (uint8) and ``indices`` (int64, position in the test set).

    python scripts/make_digits.py [--data DIR] [--out PATH]

--data defaults to the test split shipped in the package.
"""

import argparse
from pathlib import Path

import numpy as np

from mnist_training import REPO_ROOT, SHIPPED_TEST_DIR, import_idx_module

DEFAULT_OUT = REPO_ROOT / "semiring_lrp" / "data" / "mnist_digits.npz"
PER_CLASS = 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHIPPED_TEST_DIR,
                        help="directory with the MNIST test files (default: the split "
                             "shipped in the package, %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    images, labels = import_idx_module().load_mnist(args.data, "test")
    indices = np.concatenate(
        [np.flatnonzero(labels == digit)[:PER_CLASS] for digit in range(10)]
    ).astype(np.int64)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images[indices], labels=labels[indices],
                        indices=indices)
    print(f"wrote {len(indices)} test digits (indices {indices.tolist()}) to {args.out}")


if __name__ == "__main__":
    main()
