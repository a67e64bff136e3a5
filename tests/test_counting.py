"""Counting is exact: path counts match combinatorics, and a count that does
not fit in int64 raises OverflowError instead of wrapping."""
import numpy as np
import pytest
from reference import on_generic_path

import semiring_lrp as sl


def _all_positive_net(widths, dtype=np.float64):
    """Every weight and input positive: every coefficient passes theta, so
    the count at an input is the number of paths, the product of widths."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        if i:
            layers.append(sl.ReLU())
        layers.append(sl.Linear(np.full((fan_out, fan_in), 0.5, dtype=dtype)))
    return sl.Network(layers)


def test_counts_are_path_counts():
    widths = (6, 7, 11, 13, 2)
    net = _all_positive_net(widths)
    counts = sl.relevance(net, np.ones(6), target=1, semiring=sl.Counting(1e-9))
    assert counts.dtype == np.int64
    assert counts.tolist() == [7 * 11 * 13] * 6


def test_largest_count_below_the_limit_is_exact():
    # 2**62 paths fit in int64; checked against Python's unbounded integers
    widths = (3,) + (4,) * 31 + (1,)
    net = _all_positive_net(widths)
    counts = sl.relevance(net, np.ones(3), target=0, semiring=sl.Counting())
    assert counts.tolist() == [4 ** 31] * 3 == [2 ** 62] * 3


@pytest.mark.parametrize("semiring", [sl.Counting(), on_generic_path(sl.Counting())],
                         ids=["kernel", "generic"])
def test_overflow_raises(semiring):
    widths = (3,) + (4,) * 32 + (1,)  # 4**32 = 2**64 paths
    net = _all_positive_net(widths)
    with pytest.raises(OverflowError, match="int64"):
        sl.relevance(net, np.ones(3), target=0, semiring=semiring)


def test_overflow_on_one_sample_of_a_batch():
    widths = (3,) + (4,) * 32 + (1,)
    net = _all_positive_net(widths)
    x = np.ones((2, 3))
    x[0, :] = 0  # sample 0 has no relevant path at all; sample 1 overflows
    with pytest.raises(OverflowError):
        sl.relevance(net, x, target=0, semiring=sl.Counting())


def test_checked_path_is_exact_when_the_total_overflows():
    """Two hidden neurons with 2**62 paths each: their sum overflows int64,
    but each input reaches only one of them, so its count 2**62 is exact."""
    tower = _all_positive_net((2,) + (4,) * 31 + (1,))
    layers = [sl.Linear(np.eye(2)), sl.ReLU()] + list(tower.layers)
    net = sl.Network(layers)
    _, all_layers = sl.relevance(net, np.array([1.0, 2.0]), target=0,
                                 semiring=sl.Counting(), return_all=True)
    assert all_layers[2].tolist() == [2 ** 62, 2 ** 62]
    assert all_layers[0].tolist() == [2 ** 62, 2 ** 62]


def _positive_conv_tower(depth, channels=64, dtype=np.float64):
    """1x1 convolutions with positive weights on a 1x2 image: every
    coefficient passes, and an input has channels**depth paths per pixel."""
    layers = []
    for i in range(depth):
        if i:
            layers.append(sl.ReLU())
        layers.append(sl.Conv2d(np.full((channels, channels, 1, 1), 0.5, dtype=dtype)))
    layers += [sl.Flatten(), sl.Linear(np.full((1, channels * 2), 0.5, dtype=dtype))]
    return sl.Network(layers)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_counts_past_2_53_are_exact(dtype):
    # 64**9 = 2**54 paths per pixel: past what a double holds exactly
    net = _positive_conv_tower(9, dtype=dtype)
    counts = sl.relevance(net, np.ones((64, 1, 2), dtype=dtype), target=0,
                          semiring=sl.Counting())
    assert counts.dtype == np.int64
    assert set(counts.ravel().tolist()) == {64 ** 9}


def test_conv_count_overflow_raises():
    net = _positive_conv_tower(11)  # 64**11 = 2**66 paths
    with pytest.raises(OverflowError, match="int64"):
        sl.relevance(net, np.ones((64, 1, 2)), target=0, semiring=sl.Counting())
