"""The shipped MNIST CNN, on the MNIST test digits shipped with the package."""
import numpy as np
import pytest

import semiring_lrp as sl


@pytest.fixture(scope="module")
def net():
    return sl.models.mnist_cnn()


def test_accuracy_at_least_98_5_percent(net):
    images, labels = sl.datasets.mnist("test")
    x = sl.models.mnist_input(images)[:, None]
    predicted = np.concatenate([net.forward(x[i:i + 2000]).argmax(axis=1)
                                for i in range(0, len(x), 2000)])
    accuracy = float(np.mean(predicted == labels))
    assert accuracy >= 0.985
    with np.load(sl.models._data_file("mnist_cnn.npz")) as d:
        assert accuracy == pytest.approx(float(d["test_accuracy"]), abs=1e-4)


def test_boolean_relevance_lies_on_ink(net):
    images, labels = sl.models.mnist_digits()
    x = sl.models.mnist_input(images)[:, None]
    r = sl.relevance(net, x, target=labels, semiring=sl.Boolean(1e-9))
    assert r.dtype == np.bool_ and r.shape == x.shape
    ink = x > 0
    assert not np.any(r & ~ink)
    share = r.sum(axis=(1, 2, 3)) / ink.sum(axis=(1, 2, 3))
    assert np.all(share > 0.2), share.min()


def test_every_semiring_runs_on_the_cnn(net):
    images, labels = sl.models.mnist_digits()
    x = sl.models.mnist_input(images[:4])[:, None]
    counts = sl.relevance(net, x, target=labels[:4], semiring=sl.Counting(1e-9))
    assert counts.dtype == np.int64 and counts.max() > 0
    v = sl.relevance(net, x, target=labels[:4], semiring=sl.Viterbi())
    assert 0 <= v.min() and v.max() <= 1
    r, layers = sl.relevance(net, x, target=labels[:4], init="activation", return_all=True)
    assert [a.shape for a in layers] == [a.shape for a in net.activations(x)]
