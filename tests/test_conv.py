"""Convolutional networks: every semiring against the literal reference, the
real semiring against autograd LRP, BatchNorm folding, the generic path."""
import numpy as np
import pytest
import torch
from reference import literal_relevance, on_generic_path, relative_error, torch_lrp

import semiring_lrp as sl
from semiring_lrp import rules

nn = torch.nn


def _net_strided():
    """stride 2, padding, dilation 2, groups 2, a non-square kernel, max pooling."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, (3, 2), padding=(2, 1), dilation=2, groups=2), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 5))


def _net_pooled():
    """average, adaptive average and padded max pooling, odd sizes."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(4, 6, 2), nn.ReLU(), nn.MaxPool2d(3, stride=1, padding=1),
        nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(), nn.Linear(6 * 2 * 3, 4))


def _net_single_windows():
    """pools whose windows are single inputs: an adaptive pool to its input's
    size (as VGG's 7x7 one) and max pooling of kernel 1; a covering 2x2 pool."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((4, 3)),
        nn.MaxPool2d(1), nn.Flatten(), nn.Linear(5 * 4 * 3, 4))


def _net_strided_wide():
    """strided layers of 4 input channels per group and more, whose real
    pass spreads the ratios to the layer at unit stride: stride 2, strides
    (2, 1), dilation 2 and groups 2 of 4 channels, a 1x1 of stride 2 whose
    input's last row no window reads."""
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(),
        nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=(2, 1), padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=2), nn.ReLU(),
        nn.Conv2d(8, 6, 1, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 1 * 2, 5))


CASES = {"strided": (_net_strided, (2, 9, 7)), "pooled": (_net_pooled, (3, 11, 10)),
         "single windows": (_net_single_windows, (2, 8, 6)),
         "strided wide": (_net_strided_wide, (3, 13, 11))}
RULES = {"zero": rules.Zero(), "eps": rules.Epsilon(0.05), "gamma": rules.Gamma(0.25)}


def _case(name, dtype, seed=0):
    make, shape = CASES[name]
    torch.manual_seed(seed)
    model = make().eval()
    with torch.no_grad():
        for p in model.parameters():  # biases of both signs, of a size that matters
            if p.ndim == 1:
                p.copy_(torch.randn_like(p) * 0.1)
    net = sl.from_torch(model).astype(dtype)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(2,) + shape).astype(dtype)
    targets = rng.integers(0, net.layers[-1].out_features, size=2)
    return model, net, x, targets


@pytest.mark.parametrize("maxpool", ["winner", "average"])
@pytest.mark.parametrize("rule_name", list(RULES))
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_real_and_viterbi_equal_reference(case, rule_name, maxpool, dtype):
    _, net, x, targets = _case(case, dtype)
    rule_list = [RULES[rule_name]] * len(net.weighted_layers)
    for semiring, kind in ((sl.Real(), "real"), (sl.Viterbi(), "viterbi")):
        got = sl.relevance(net, x, target=targets, semiring=semiring, rule=rule_list,
                           maxpool=maxpool)
        want = literal_relevance(net, x, targets, kind, rule_list, maxpool=maxpool)
        assert got.dtype == want.dtype and got.shape == x.shape
        assert np.abs(want).max() > 0
        tol = 1e-9 if dtype == np.float64 else 2e-4
        assert relative_error(got, want) < tol, kind


@pytest.mark.parametrize("maxpool", ["winner", "average"])
@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("theta", [1e-9, 0.02, 0.2])
@pytest.mark.parametrize("case", list(CASES))
def test_boolean_and_counting_equal_reference_exactly(case, theta, absolute, maxpool):
    _, net, x, targets = _case(case, np.float64, seed=1)
    for rule_name in RULES:
        rule_list = [RULES[rule_name]] * len(net.weighted_layers)
        thetas = [theta] * len(net.weighted_layers)
        pool_thetas = [theta / 2] * len(net.pooling_layers)
        for cls, kind in ((sl.Boolean, "boolean"), (sl.Counting, "counting")):
            semiring = cls(theta, absolute, pool_threshold=theta / 2)
            got = sl.relevance(net, x, target=targets, semiring=semiring, rule=rule_list,
                               maxpool=maxpool)
            want = literal_relevance(net, x, targets, kind, rule_list, thetas, absolute,
                                     pool_thetas=pool_thetas, maxpool=maxpool)
            np.testing.assert_array_equal(got, want)


def test_float32_boolean_and_counting_equal_reference():
    _, net, x, targets = _case("strided", np.float32, seed=2)
    rule_list = [rules.Gamma(0.25)] * 3
    for cls, kind in ((sl.Boolean, "boolean"), (sl.Counting, "counting")):
        got = sl.relevance(net, x, target=targets, semiring=cls(0.01), rule=rule_list)
        want = literal_relevance(net, x, targets, kind, rule_list, [0.01] * 3)
        np.testing.assert_array_equal(got, want)
        assert got.any()


def _composite(net, x):
    box = rules.ZBox(low=np.zeros(x.shape[1:]), high=np.ones(x.shape[1:]))
    count = len(net.weighted_layers)
    return [box] + [rules.Gamma(0.25)] * (count - 2) + [rules.Epsilon(0.01)]


@pytest.mark.parametrize("maxpool", ["winner", "average"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-8), (np.float32, 1e-3)])
def test_real_equals_autograd_lrp(case, dtype, tol, maxpool):
    _, net, x, targets = _case(case, dtype)
    for rule_list in ([rules.Zero()] * len(net.weighted_layers), _composite(net, x)):
        got = sl.relevance(net, x, target=targets, rule=rule_list, init="activation",
                           maxpool=maxpool)
        want = torch_lrp(net, x, targets, rule_list, maxpool=maxpool)
        assert relative_error(got, want) < tol


def test_maxpool_winner_is_the_gradient_of_max_pooling():
    """Through a max pool alone, winner-take-all real relevance is a * dz/da * R / z."""
    rng = np.random.default_rng(5)
    pool = sl.MaxPool2d(3, stride=2, padding=1)
    net = sl.Network([pool, sl.Flatten(), sl.Linear(np.eye(2 * 4 * 3))], input_shape=(2, 7, 5))
    x = rng.uniform(0.1, 1, size=(1, 2, 7, 5))
    _, layers = sl.relevance(net, x, target=3, return_all=True)
    r_out = layers[1]
    a = torch.tensor(x, requires_grad=True)
    z = torch.nn.functional.max_pool2d(a, 3, 2, 1)
    (z * torch.tensor(r_out) / z.detach()).sum().backward()
    np.testing.assert_allclose(layers[0], (a * a.grad).detach().numpy(), rtol=1e-12)
    assert np.count_nonzero(layers[0]) == 1


def test_batchnorm_is_folded():
    torch.manual_seed(3)
    conv, bn = nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    model = nn.Sequential(conv, bn, nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 5, 4)).double()
    model.eval()
    net = sl.from_torch(model)
    assert [type(layer).__name__ for layer in net.layers] == ["Conv2d", "ReLU", "Flatten",
                                                              "Linear"]
    x = torch.rand(3, 2, 6, 5, dtype=torch.float64)
    np.testing.assert_allclose(net.forward(x), model(x).detach().numpy(), rtol=1e-10)
    # the hand-folded network
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
    folded = nn.Conv2d(2, 3, 3, padding=1).double()
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale[:, None, None, None])
        folded.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
    hand = sl.from_torch(nn.Sequential(folded, nn.ReLU(), nn.Flatten(), model[4]))
    for semiring in (sl.Real(), sl.Boolean(0.01), sl.Viterbi()):
        np.testing.assert_allclose(sl.relevance(net, x, semiring=semiring, rule=rules.Gamma()),
                                   sl.relevance(hand, x, semiring=semiring, rule=rules.Gamma()),
                                   rtol=1e-9, atol=1e-12)


def test_batchnorm_without_conv_is_refused():
    with pytest.raises(TypeError, match="unsupported layer 0.*BatchNorm2d"):
        sl.from_torch(nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 2, 1)))


def test_unsupported_conv_layers_are_named():
    with pytest.raises(TypeError, match=r"unsupported layer 1: .*reflect"):
        sl.from_torch(nn.Sequential(nn.ReLU(), nn.Conv2d(1, 1, 3, padding_mode="reflect")))
    with pytest.raises(TypeError, match="unsupported layer 2.*GELU"):
        sl.from_torch(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.GELU()))


@pytest.mark.parametrize("case", list(CASES))
def test_generic_path_on_conv_nets(case):
    _, net, x, targets = _case(case, np.float64, seed=4)
    rule_list = [rules.Gamma(0.25)] * len(net.weighted_layers)
    for semiring in (sl.Real(), sl.Boolean(0.02), sl.Counting(0.02), sl.Viterbi()):
        user = on_generic_path(semiring)
        for maxpool in ("winner", "average"):
            want = sl.relevance(net, x, target=targets, semiring=semiring, rule=rule_list,
                                maxpool=maxpool)
            got = sl.relevance(net, x, target=targets, semiring=user, rule=rule_list,
                               maxpool=maxpool)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_return_all_on_conv_nets():
    _, net, x, targets = _case("pooled", np.float64)
    r, layers = sl.relevance(net, x, target=targets, semiring=sl.Counting(), return_all=True)
    assert len(layers) == len(net.layers) + 1
    acts = net.activations(x)
    assert [a.shape for a in layers] == [a.shape for a in acts]
    assert layers[0] is r and layers[-1].sum() == 2


def test_conv_net_input_checks():
    _, net, x, _ = _case("strided", np.float64)
    with pytest.raises(ValueError, match=r"expected one sample of shape 2x\*x\*"):
        sl.relevance(net, x[:, :1])
    with pytest.raises(ValueError, match="pooling window of 2 .* does not fit an input of size 1"):
        sl.relevance(net, np.ones((1, 2, 1, 1)))
    conv = sl.Network([sl.Conv2d(np.ones((1, 1, 5, 5))), sl.Flatten(), sl.Linear(np.ones((2, 1)))])
    with pytest.raises(ValueError, match="3x3 input has no output under a 5x5 kernel"):
        sl.relevance(conv, np.ones((1, 1, 3, 3)))
