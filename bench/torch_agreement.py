"""Worst relative error of the real semiring (init="activation") against
PyTorch autograd LRP, over the rules and composites of the tests, on random
MLPs and on the shipped MNIST MLP, in float64 and float32.

    python bench/torch_agreement.py

Relative error: max |R - R_torch| / max |R_torch| over a batch.
"""
import sys
from pathlib import Path

import numpy as np

import semiring_lrp as sl
from semiring_lrp import rules

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference import random_mlp, relative_error, torch_lrp  # noqa: E402


def rule_sets(n_features, weighted):
    top = weighted - 1
    return {
        "LRP-0": [rules.Zero()] * weighted,
        "eps 0.1": [rules.Epsilon(0.1)] * weighted,
        "gamma 0.5": [rules.Gamma(0.5)] * weighted,
        "z^B + gamma + eps + 0": ([rules.ZBox(0.0, 1.0)] + [rules.Gamma(0.25)] * (top - 1)
                                  + [rules.Epsilon(0.05)] * (top > 1) + [rules.Zero()])[:weighted],
    }


def main():
    rng = np.random.default_rng(0)
    images, labels = sl.models.mnist_digits()
    x_mnist = sl.models.mnist_input(images)
    print(f"{'network':<24} {'dtype':<8} {'rules':<24} {'rel. error':>10}")
    worst = {}
    for dtype in (np.float64, np.float32):
        nets = [("random MLP 12-17-9-11-4", random_mlp(rng, (12, 17, 9, 11, 4), dtype),
                 rng.uniform(0, 1, size=(16, 12)).astype(dtype)),
                ("MNIST MLP (shipped)", sl.models.mnist_mlp(dtype), x_mnist.astype(dtype))]
        for name, net, x in nets:
            targets = net.forward(x).argmax(axis=1)
            for rule_name, rule_list in rule_sets(x[0].size, len(net.weighted_layers)).items():
                got = sl.relevance(net, x, target=targets, rule=rule_list, init="activation")
                want = torch_lrp(net, x.reshape(len(x), -1), targets, rule_list).reshape(x.shape)
                error = relative_error(got, want)
                worst[np.dtype(dtype).name] = max(worst.get(np.dtype(dtype).name, 0), error)
                print(f"{name:<24} {np.dtype(dtype).name:<8} {rule_name:<24} {error:10.2e}")
    for dtype, error in worst.items():
        print(f"worst {dtype}: {error:.2e}")


if __name__ == "__main__":
    main()
