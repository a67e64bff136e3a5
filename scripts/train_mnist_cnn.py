"""Train a small VGG-style ReLU CNN on MNIST, deterministically, and save it.

Inputs are the 28x28 images as (1, 28, 28), pixel / 255 (see
mnist_training.py). The weights are written to an .npz (float32, torch
layout) under their ``nn.Sequential`` state_dict names (``0.weight``,
``0.bias``, ..., ``14.bias``) with the measured test accuracy and the seed.
The MNIST files are read from --data DIR, by default from the folder named
by SEMIRING_LRP_MNIST.

    SEMIRING_LRP_MNIST=DIR python scripts/train_mnist_cnn.py   # full run, about 4.5 min on 2 cores
    python scripts/train_mnist_cnn.py --data DIR --epochs 1 --limit 3000 --out /tmp/c.npz
"""

import numpy as np
from torch import nn

from mnist_training import REPO_ROOT, parse_args, to_inputs, train_and_save


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


def image_inputs(images):
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32 in [0, 1]."""
    return to_inputs(images).unsqueeze(1)


def state_arrays(model):
    return {name: tensor.detach().numpy().astype(np.float32)
            for name, tensor in model.state_dict().items()}


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], epochs=10, batch_size=64,
                      out=REPO_ROOT / "semiring_lrp" / "data" / "mnist_cnn.npz")
    train_and_save(args, build_model, image_inputs, state_arrays)
