"""Train a small VGG-style ReLU CNN on MNIST, deterministically, and save it.

Inputs are the 28x28 images as (1, 28, 28), pixel / 255 in [0, 1] with no
mean/std normalisation, exactly as for the MLP (see train_mnist_mlp.py).  The
weights are written to an .npz (float32, torch layout) under their
``nn.Sequential`` state_dict names (``0.weight``, ``0.bias``, ..., ``14.bias``)
together with the measured test accuracy and the seed.

    python scripts/train_mnist_cnn.py                # full run, about 4.5 min on 2 cores
    python scripts/train_mnist_cnn.py --epochs 1 --limit 3000 --out /tmp/c.npz
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from train_mnist_mlp import (DEFAULT_DATA_DIR, REPO_ROOT, accuracy, import_idx_module,
                             to_inputs)

DEFAULT_OUT = REPO_ROOT / "semiring_lrp" / "data" / "mnist_cnn.npz"
EVAL_CHUNK = 1000  # test images per forward pass, to bound the activations' memory


def build_model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(128, 10),
    )


def to_image_inputs(images):
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32 in [0, 1]."""
    return to_inputs(images).unsqueeze(1)


def chunked_accuracy(model, inputs, labels):
    """``accuracy`` over the whole set, computed EVAL_CHUNK images at a time."""
    correct = 0
    for start in range(0, len(inputs), EVAL_CHUNK):
        chunk = slice(start, start + EVAL_CHUNK)
        correct += round(accuracy(model, inputs[chunk], labels[chunk]) * len(inputs[chunk]))
    return correct / len(inputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR,
                        help="directory with the MNIST IDX files (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N training images only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if args.epochs < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--epochs and --limit must be at least 1")

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    shuffle_generator = torch.Generator().manual_seed(args.seed)

    idx = import_idx_module()
    train_images, train_labels = idx.load_mnist(args.data, "train")
    test_images, test_labels = idx.load_mnist(args.data, "test")
    train_x = to_image_inputs(train_images[:args.limit])
    train_y = torch.from_numpy(train_labels[:args.limit].astype(np.int64))
    test_x = to_image_inputs(test_images)
    test_y = torch.from_numpy(test_labels.astype(np.int64))

    model = build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # Annealing the step size to zero over the run steadies the final weights.
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train_x), generator=shuffle_generator)
        for batch in order.split(args.batch_size):
            optimizer.zero_grad()
            loss_fn(model(train_x[batch]), train_y[batch]).backward()
            optimizer.step()
        scheduler.step()
        test_accuracy = chunked_accuracy(model, test_x, test_y)
        print(f"epoch {epoch:2d}/{args.epochs}: test accuracy {test_accuracy:.4f} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)

    arrays = {name: tensor.detach().numpy().astype(np.float32)
              for name, tensor in model.state_dict().items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays,
                        test_accuracy=np.array(test_accuracy, dtype=np.float64),
                        seed=np.array(args.seed, dtype=np.int64))
    print(f"final test accuracy {test_accuracy:.4f} on {len(test_x)} test digits, "
          f"{args.epochs} epochs in {time.perf_counter() - start:.1f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
