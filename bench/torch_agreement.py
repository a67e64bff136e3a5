"""Worst relative error of the real semiring (init="activation") against
PyTorch autograd LRP, over the rules and composites of the tests, on random
MLPs and on the shipped MNIST MLP, in float64 and float32.

    python bench/torch_agreement.py [--vgg]

With --vgg, also torchvision's VGG-16 (random weights, 224x224) under the
LRP overview's recipe and under zennit's EpsilonGammaBox (against zennit).
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


def vgg16_rows():
    import torch
    import torchvision
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonGammaBox

    from semiring_lrp import composites

    torch.manual_seed(0)
    model = torchvision.models.vgg16().eval()
    rng = np.random.default_rng(0)
    mean = composites.IMAGENET_MEAN.reshape(3, 1, 1)
    std = composites.IMAGENET_STD.reshape(3, 1, 1)
    image = (rng.uniform(0, 1, size=(1, 3, 224, 224)) - mean) / std
    for dtype in (np.float64, np.float32):
        net = sl.from_torch(model).astype(dtype)
        x = image.astype(dtype)
        target = [int(np.argmax(net.forward(x)))]
        recipe = composites.lrp_overview_vgg16(net)
        got = sl.relevance(net, x, target=target, rule=recipe, init="activation")
        want = torch_lrp(net, x, target, recipe, maxpool=recipe.maxpool)
        yield "VGG-16 (random weights)", np.dtype(dtype).name, "overview recipe", relative_error(
            got, want)
    net = sl.from_torch(model)
    x = image.astype(np.float32)
    low, high = composites.imagenet_bounds()
    target = int(np.argmax(net.forward(x)))
    ours = sl.relevance(net, x, target=target, rule=composites.epsilon_gamma_box(net, low, high))
    box = [torch.tensor(np.broadcast_to(b, x.shape), dtype=torch.float32) for b in (low, high)]
    with Gradient(model, EpsilonGammaBox(low=box[0], high=box[1])) as attributor:
        _, theirs = attributor(torch.tensor(x), torch.eye(1000)[[target]])
    yield "VGG-16 (random weights)", "float32", "zennit EpsilonGammaBox", relative_error(
        ours, theirs.numpy())


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vgg", action="store_true", help="also VGG-16 at 224x224")
    args = parser.parse_args()
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
    if args.vgg:
        for name, dtype, rule_name, error in vgg16_rows():
            print(f"{name:<24} {dtype:<8} {rule_name:<24} {error:10.2e}")
    for dtype, error in worst.items():
        print(f"worst {dtype} (MLPs): {error:.2e}")


if __name__ == "__main__":
    main()
