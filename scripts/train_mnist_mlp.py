"""Train the 784-300-100-10 ReLU MLP on MNIST, deterministically, and save it.

The weights are written to an .npz (float32, torch layout: weight is (out,
in)) as fc1/fc2/fc3 with the measured test accuracy and the seed; inputs
are pixel / 255 (see mnist_training.py). The MNIST files are read from
--data DIR, by default from the folder named by SEMIRING_LRP_MNIST.

    SEMIRING_LRP_MNIST=DIR python scripts/train_mnist_mlp.py   # full run, about 75 s on 2 cores
    python scripts/train_mnist_mlp.py --data DIR --epochs 1 --limit 2000 --out /tmp/m.npz
"""

import numpy as np
from torch import nn

from mnist_training import REPO_ROOT, parse_args, to_inputs, train_and_save

LAYER_NAMES = ("fc1", "fc2", "fc3")


def build_model(n_inputs=28 * 28):
    """The paper's MLP: n_inputs-300-100-10 with ReLUs."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_inputs, 300), nn.ReLU(),
        nn.Linear(300, 100), nn.ReLU(),
        nn.Linear(100, 10),
    )


def named_arrays(model):
    """The Linear layers' weights and biases as fc1, fc2, fc3, float32."""
    arrays = {}
    for name, layer in zip(LAYER_NAMES, [m for m in model if isinstance(m, nn.Linear)]):
        arrays[f"{name}.weight"] = layer.weight.detach().numpy().astype(np.float32)
        arrays[f"{name}.bias"] = layer.bias.detach().numpy().astype(np.float32)
    return arrays


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], epochs=15, batch_size=32,
                      out=REPO_ROOT / "semiring_lrp" / "data" / "mnist_mlp.npz")
    train_and_save(args, build_model, to_inputs, named_arrays)
