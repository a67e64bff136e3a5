"""What the MNIST training scripts share: where the data is, how images
become inputs, the deterministic training loop, and the saved file.

The training split is not in the repository: the scripts read the MNIST IDX
files (both splits) from --data, by default from the folder named by the
environment variable SEMIRING_LRP_MNIST, and stop with a message naming
both when neither is given. They train the models of the checkout they lie
in, so its package is imported ahead of any other installed copy.

Inputs are pixel / 255 in [0, 1] with no mean/std normalisation, so that a
blank pixel has exactly zero activation, as the LRP library assumes.
"""

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
DATA_ENV = "SEMIRING_LRP_MNIST"
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# the test split shipped in the package, for scripts that need no more
SHIPPED_TEST_DIR = REPO_ROOT / "semiring_lrp" / "data" / "mnist"
EVAL_CHUNK = 1000  # test images per forward pass, to bound the activations' memory


def import_idx_module():
    """Return this checkout's ``semiring_lrp.idx``, through its package or
    straight from its file."""
    try:
        from semiring_lrp import idx
        return idx
    except ImportError:
        pass
    # Not installed, or its __init__ needs the C extension that is not built
    # yet; the reader itself is NumPy-only, so load its file on its own.
    spec = importlib.util.spec_from_file_location(
        "semiring_lrp_idx", REPO_ROOT / "semiring_lrp" / "idx.py"
    )
    idx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(idx)
    return idx


def load_mnist_split(data, split):
    """(images uint8 (N, 28, 28), labels) of an MNIST split in folder ``data``."""
    return import_idx_module().load_mnist(data, split)


def to_inputs(images):
    """(N, ...) uint8 -> float32 in [0, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 255.0)


@torch.no_grad()
def accuracy(model, inputs, labels):
    """The share of correct predictions, EVAL_CHUNK images at a time."""
    model.eval()
    correct = 0
    for start in range(0, len(inputs), EVAL_CHUNK):
        chunk = slice(start, start + EVAL_CHUNK)
        correct += int((model(inputs[chunk]).argmax(dim=1) == labels[chunk]).sum())
    return correct / len(inputs)


def default_data_dir():
    """The folder SEMIRING_LRP_MNIST names, or None when it is unset or empty."""
    folder = os.environ.get(DATA_ENV)
    return Path(folder) if folder else None


def parse_args(description, epochs, batch_size, out):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=default_data_dir(),
                        help=f"directory with the four MNIST IDX files, both splits "
                             f"(default: ${DATA_ENV}, now %(default)s)")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N training images only")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args()
    if args.data is None:
        parser.error(f"no MNIST folder: give --data DIR or set {DATA_ENV}=DIR, where DIR "
                     f"holds the MNIST IDX files {', '.join(MNIST_FILES)} (each .gz or not)")
    if args.epochs < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--epochs and --limit must be at least 1")
    return args


def train_and_save(args, build_model, inputs, arrays, load_split=load_mnist_split,
                   refine=None):
    """Trains build_model() with Adam and a cosine schedule, deterministically,
    on load_split(args.data, "train") (uint8 images, labels), printing the
    accuracy on load_split(args.data, "test") after every epoch; then writes
    arrays(model) (float32) with the measured test accuracy and the seed to
    args.out. inputs(images) makes the model's input tensor.

    refine(model, train, evaluate), when given, runs after the last epoch:
    train(epochs, after_step) runs more epochs on a fresh cosine schedule,
    calling after_step(model) after each optimizer step; evaluate() is the
    test accuracy. The saved accuracy is measured after it."""
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    shuffle_generator = torch.Generator().manual_seed(args.seed)

    train_images, train_labels = load_split(args.data, "train")
    test_images, test_labels = load_split(args.data, "test")
    train_x = inputs(train_images[:args.limit])
    train_y = torch.from_numpy(train_labels[:args.limit].astype(np.int64))
    test_x = inputs(test_images)
    test_y = torch.from_numpy(test_labels.astype(np.int64))

    model = build_model()
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()

    def train(epochs, after_step=None):
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        # Annealing the step size to zero over the run steadies the final weights.
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(train_x), generator=shuffle_generator)
            for batch in order.split(args.batch_size):
                optimizer.zero_grad()
                loss_fn(model(train_x[batch]), train_y[batch]).backward()
                optimizer.step()
                if after_step is not None:
                    after_step(model)
            scheduler.step()
            print(f"epoch {epoch:2d}/{epochs}: test accuracy {evaluate():.4f} "
                  f"({time.perf_counter() - start:.1f} s)", flush=True)

    def evaluate():
        return accuracy(model, test_x, test_y)

    train(args.epochs)
    if refine is not None:
        refine(model, train, evaluate)
    test_accuracy = evaluate()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays(model),
                        test_accuracy=np.array(test_accuracy, dtype=np.float64),
                        seed=np.array(args.seed, dtype=np.int64))
    print(f"final test accuracy {test_accuracy:.4f} on {len(test_x)} test images, "
          f"{time.perf_counter() - start:.1f} s in all; wrote {args.out}")
