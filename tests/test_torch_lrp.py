"""The real semiring with init="activation" is classical LRP: it equals
gradient LRP in PyTorch autograd, rule by rule and for composites."""
import numpy as np
import pytest
import torch
from reference import random_mlp, relative_error, torch_lrp

import semiring_lrp as sl
from semiring_lrp import rules

SIZES = (12, 17, 9, 11, 4)


def _composite(n_features):
    return [rules.ZBox(low=-1.0, high=np.linspace(1.0, 2.0, n_features)),
            rules.Gamma(0.25), rules.Epsilon(0.05), rules.Zero()]


CASES = {
    "zero": lambda n: [rules.Zero()] * 4,
    "eps": lambda n: [rules.Epsilon(0.1)] * 4,
    "gamma": lambda n: [rules.Gamma(0.5)] * 4,
    "gamma-eps": lambda n: [rules.Gamma(0.25, eps=1e-3)] * 4,
    "zbox-then-zero": lambda n: [rules.ZBox(-1.0, 1.0)] + [rules.Zero()] * 3,
    "composite": _composite,
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_real_equals_autograd_lrp(case, dtype, tol):
    rng = np.random.default_rng(7)
    net = random_mlp(rng, SIZES, dtype)
    x = rng.uniform(-1, 1, size=(5, SIZES[0])).astype(dtype)
    targets = rng.integers(0, SIZES[-1], size=5)
    rule_list = CASES[case](SIZES[0])
    got = sl.relevance(net, x, target=targets, rule=rule_list, init="activation")
    want = torch_lrp(net, x, targets, rule_list)
    assert np.abs(want).max() > 0
    assert relative_error(got, want) < tol


def test_from_torch_module_matches_autograd():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 15), torch.nn.ReLU(),
                                torch.nn.Dropout(0.5), torch.nn.Linear(15, 6)).double().eval()
    net = sl.from_torch(model)
    x = torch.rand(4, 4, 5, dtype=torch.float64)
    np.testing.assert_allclose(net.forward(x), model(x).detach().numpy(), rtol=1e-12)
    rule_list = [rules.Gamma(0.25), rules.Epsilon(0.01)]
    targets = np.array([0, 3, 5, 1])
    got = sl.relevance(net, x, target=targets, rule=rule_list, init="activation")
    want = torch_lrp(net, x.numpy().reshape(4, -1), targets, rule_list).reshape(4, 4, 5)
    assert got.shape == (4, 4, 5)
    assert relative_error(got, want) < 1e-10


def test_conservation_lrp0_without_bias():
    rng = np.random.default_rng(3)
    net = random_mlp(rng, (30, 20, 10, 5), np.float64, bias=False)
    x = rng.uniform(0, 1, size=(6, 30))
    r, layers = sl.relevance(net, x, init="activation", return_all=True)
    totals = [layer.reshape(6, -1).sum(axis=1) for layer in layers]
    for total in totals[1:]:
        np.testing.assert_allclose(total, totals[0], rtol=1e-10)
    # and the total is the predicted class's score
    np.testing.assert_allclose(totals[0], net.forward(x).max(axis=1), rtol=1e-10)


def test_init_one_is_activation_scaled():
    rng = np.random.default_rng(4)
    net = random_mlp(rng, (8, 6, 3), np.float64)
    x = rng.uniform(0, 1, size=8)
    score = net.forward(x)[1]
    one = sl.relevance(net, x, target=1)
    act = sl.relevance(net, x, target=1, init="activation")
    np.testing.assert_allclose(act, one * score, rtol=1e-12)
