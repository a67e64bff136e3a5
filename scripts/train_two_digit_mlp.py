"""Train the 1568-300-100-10 ReLU MLP on two-digit MNIST, deterministically, and save it.

The data is ``sl.datasets.two_digit_mnist(split, seed=0)`` (paper section
3.1, figure 3.2): two digits of an MNIST split one above the other, a
(56, 28) image labelled by the upper digit. The model trains on the
training split's set and is evaluated on the test split's, inputs pixel /
255, with the loop of mnist_training.py. The weights are written as
fc1/fc2/fc3 (float32, torch layout) with the measured test accuracy and the
seed, like train_mnist_mlp.py's. The MNIST files are read from --data DIR,
by default from the folder named by SEMIRING_LRP_MNIST; the set is built by
this checkout's package, so its C extension must be built.

After training, the inputs are pruned by magnitude: the 30% of pixels whose
fc1 weights have the largest norms are kept, the others' weights set to 0,
and the network retrained for 3 epochs with them held at 0. A pixel with no
weight has no path to any output, so boolean relevance can show which half
the network uses; trained without pruning, every pixel keeps small weights
and relevant paths (the paper's figure 3.2 needs a network that discards
the lower digit).

    SEMIRING_LRP_MNIST=DIR python scripts/train_two_digit_mlp.py   # full run, 2-3 min on 2 cores
    python scripts/train_two_digit_mlp.py --data DIR --epochs 1 --limit 500 --out /tmp/t.npz
"""

from functools import partial

import torch

from mnist_training import REPO_ROOT, parse_args, to_inputs, train_and_save
from train_mnist_mlp import build_model, named_arrays

# the two-digit set's own seed: which digits are paired, the same in every run
PAIR_SEED = 0
IMAGE_SHAPE = (56, 28)
# input pruning: the share of pixels kept, by the norm of their fc1 weights,
# and the epochs that retrain the network on them
KEEP_INPUTS = 0.3
RETRAIN_EPOCHS = 3


def two_digit_split(data, split):
    """(images uint8 (N, 56, 28), labels int64) of the two-digit set of a split."""
    from semiring_lrp.datasets import two_digit_mnist

    return two_digit_mnist(split, root=data, seed=PAIR_SEED)


def prune_inputs(model, train, evaluate, keep=KEEP_INPUTS, epochs=RETRAIN_EPOCHS):
    """Keeps the `keep` share of input pixels whose fc1 weights (a column of
    fc1.weight) have the largest norms, sets the others' weights to 0, and
    retrains with them held at 0: magnitude pruning of inputs, which knows
    nothing of the two halves of the image."""
    fc1 = model[1]
    with torch.no_grad():
        norms = fc1.weight.norm(dim=0)
        kept = torch.zeros_like(norms, dtype=torch.bool)
        kept[torch.argsort(norms, descending=True, stable=True)[:round(keep * len(norms))]] = True
    print(f"before pruning: test accuracy {evaluate():.4f}; keeping {int(kept.sum())} of "
          f"{len(kept)} pixels ({int(kept[:len(kept) // 2].sum())} in the upper half)",
          flush=True)

    def hold_pruned(model):
        with torch.no_grad():
            fc1.weight[:, ~kept] = 0

    hold_pruned(model)
    print(f"pruned: test accuracy {evaluate():.4f}", flush=True)
    train(epochs, after_step=hold_pruned)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], epochs=20, batch_size=32,
                      out=REPO_ROOT / "semiring_lrp" / "data" / "two_digit_mlp.npz")
    train_and_save(args, partial(build_model, IMAGE_SHAPE[0] * IMAGE_SHAPE[1]), to_inputs,
                   named_arrays, load_split=two_digit_split, refine=prune_inputs)
