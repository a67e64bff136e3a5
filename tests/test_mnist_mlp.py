"""The shipped MNIST MLP, on the MNIST test digits shipped with the package."""
import numpy as np
import pytest

import semiring_lrp as sl


@pytest.fixture(scope="module")
def test_set():
    images, labels = sl.datasets.mnist("test")
    return sl.models.mnist_input(images), labels


@pytest.fixture(scope="module")
def net():
    return sl.models.mnist_mlp()


def test_accuracy_at_least_97_percent(net, test_set):
    x, labels = test_set
    assert x.shape == (10000, 28, 28)
    predicted = net.forward(x).argmax(axis=1)
    accuracy = float(np.mean(predicted == labels))
    assert accuracy >= 0.97
    # the figure recorded at training time is what we measure here
    with np.load(sl.models._data_file("mnist_mlp.npz")) as d:
        assert accuracy == pytest.approx(float(d["test_accuracy"]), abs=1e-4)


def test_boolean_relevance_of_zeros_lies_on_the_strokes(net, test_set):
    """Paper figure 2.1: B-relevance for class 0, theta = 1e-9."""
    x, labels = test_set
    zeros = x[labels == 0][:50]
    r = sl.relevance(net, zeros, target=0, semiring=sl.Boolean(1e-9))
    assert r.dtype == np.bool_ and r.shape == zeros.shape
    ink = zeros > 0
    # a blank pixel has activation 0, so no coefficient from it passes theta
    assert not np.any(r & ~ink)
    # and most of each digit is relevant
    share = r.sum(axis=(1, 2)) / ink.sum(axis=(1, 2))
    assert np.all(share > 0.3), share.min()


def test_counting_and_viterbi_shapes_and_ranges(net):
    images, labels = sl.models.mnist_digits()
    x = sl.models.mnist_input(images)
    counts = sl.relevance(net, x, target=labels, semiring=sl.Counting(1e-9))
    assert counts.dtype == np.int64 and counts.min() >= 0
    # at most 300 * 100 paths run from a pixel to one output
    assert 0 < counts.max() <= 300 * 100
    np.testing.assert_array_equal(counts > 0, sl.relevance(net, x, target=labels,
                                                           semiring=sl.Boolean(1e-9)))
    v = sl.relevance(net, x, target=labels, semiring=sl.Viterbi())
    assert v.dtype == np.float32 and 0 <= v.min() and v.max() <= 1


def test_shipped_digits_are_classified(net):
    images, labels = sl.models.mnist_digits()
    assert images.shape == (20, 28, 28) and sorted(set(labels.tolist())) == list(range(10))
    predicted = net.forward(sl.models.mnist_input(images)).argmax(axis=1)
    assert np.mean(predicted == labels) >= 0.9


def test_float64_copy_agrees(net):
    images, labels = sl.models.mnist_digits()
    x = sl.models.mnist_input(images)
    r32 = sl.relevance(net, x, target=labels)
    r64 = sl.relevance(sl.models.mnist_mlp(np.float64), x, target=labels)
    assert r64.dtype == np.float64
    np.testing.assert_allclose(r32, r64, atol=2e-4 * np.abs(r64).max())
