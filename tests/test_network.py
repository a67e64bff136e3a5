"""The Network model: masking neurons, dtype copies."""
import numpy as np
import pytest
import torch
from reference import random_mlp

import semiring_lrp as sl


@pytest.fixture
def net():
    return random_mlp(np.random.default_rng(0), (10, 8, 6, 3), np.float64)


def test_masked_neurons_output_zero_and_carry_no_relevance(net):
    x = np.random.default_rng(1).uniform(size=(5, 10))
    masked = net.masked(2, [0, 4])  # layers[2], the second Linear
    _, layers = sl.relevance(masked, x, semiring=sl.Counting(), return_all=True)
    # layers[3] is the input of layer 3 (ReLU after the second Linear): its relevance
    assert np.all(layers[3][:, [0, 4]] == 0)
    acts = masked.activations(x)
    assert np.all(acts[3][:, [0, 4]] == 0)
    # the same as the PyTorch model with those rows and biases zeroed
    model = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.ReLU(), torch.nn.Linear(8, 6),
                                torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for module, layer in zip(model[::2], [net.layers[i] for i in net.weighted_layers]):
            module.weight.copy_(torch.tensor(layer.weight))
            module.bias.copy_(torch.tensor(layer.bias))
        model[2].weight[[0, 4]] = 0
        model[2].bias[[0, 4]] = 0
    np.testing.assert_allclose(masked.forward(x), model(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12)
    # the original is untouched
    assert np.any(net.activations(x)[3][:, [0, 4]] != 0)


def test_boolean_mask_equals_indices(net):
    x = np.random.default_rng(2).uniform(size=(4, 10))
    mask = np.zeros(8, dtype=bool)
    mask[[1, 2]] = True
    np.testing.assert_array_equal(net.masked(0, mask).forward(x),
                                  net.masked(0, [1, 2]).forward(x))
    np.testing.assert_array_equal(net.masked(-1, []).forward(x), net.forward(x))


@pytest.mark.parametrize("layer,neurons,error", [
    (3, [0], ValueError), (1, [0], ValueError), (5, [0], ValueError), (0, [8], ValueError),
    (0, np.ones(3, bool), ValueError), (0, [0.5], TypeError), ("fc1", [0], ValueError),
    (1.0, [0], TypeError), (True, [0], TypeError),
])
def test_bad_masks(net, layer, neurons, error):
    with pytest.raises(error):
        net.masked(layer, neurons)


def test_astype(net):
    net32 = net.astype(np.float32)
    assert net32.dtype == np.float32 and net.dtype == np.float64
    with pytest.raises(TypeError, match="float32 or float64"):
        net.astype(np.int32)
