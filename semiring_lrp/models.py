"""Models and sample data shipped with the package (no download, no torch).

mnist_mlp: the paper's 784-300-100-10 ReLU MLP, trained by
scripts/train_mnist_mlp.py (seed 0, 98.56% on the 10,000 MNIST test digits).
Its input is a 28x28 image scaled to [0, 1] (pixel / 255, no mean/std
normalisation), so a blank pixel has activation 0 and can never be relevant.
"""
from __future__ import annotations

from importlib import resources

import numpy as np

from .network import Flatten, Linear, Network, ReLU

__all__ = ["mnist_mlp", "mnist_digits", "mnist_input"]


def _data_file(name):
    return resources.files(__package__).joinpath("data", name)


def mnist_mlp(dtype=np.float32):
    """The trained MNIST MLP as a `Network` taking (28, 28) images (or flat 784)."""
    with _data_file("mnist_mlp.npz").open("rb") as f, np.load(f, allow_pickle=False) as d:
        layers = [Flatten()]
        for i, name in enumerate(("fc1", "fc2", "fc3")):
            if i:
                layers.append(ReLU())
            layers.append(Linear(d[f"{name}.weight"], d[f"{name}.bias"]))
    return Network(layers, input_shape=(28, 28)).astype(dtype)


def mnist_digits():
    """(images uint8 (20, 28, 28), labels uint8 (20,)): two MNIST test digits
    of each class, in class order, for demos and the default command."""
    with _data_file("mnist_digits.npz").open("rb") as f, np.load(f, allow_pickle=False) as d:
        return d["images"].copy(), d["labels"].copy()


def mnist_input(images):
    """uint8 MNIST images -> the MLP's input: float32 pixel / 255."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"mnist_input expects uint8 pixels, not {images.dtype}")
    return images.astype(np.float32) / np.float32(255)
