"""A user semiring written the paper's way runs on the generic path."""
import math

import numpy as np
import pytest
from reference import MaxPlus

import semiring_lrp as sl


def _tiny_net():
    w1 = np.array([[1.0, 1.0], [3.0, -1.0]])
    w2 = np.array([[1.0, 2.0]])
    return sl.Network([sl.Linear(w1), sl.ReLU(), sl.Linear(w2)])


def test_max_plus_hand_computed():
    # x = (1, 2): hidden z = (3, 1); output z = 3 + 2 = 5.
    # d1: x0->h0 1/3, x1->h0 2/3, x0->h1 3, x1->h1 -2;  d2: h0 3/5, h1 2/5.
    # best paths: x0 via h1 (3 * 2/5 = 6/5), x1 via h0 (2/3 * 3/5 = 2/5).
    r = sl.relevance(_tiny_net(), np.array([1.0, 2.0]), target=0, semiring=MaxPlus())
    np.testing.assert_allclose(r, [math.log(6 / 5), math.log(2 / 5)], rtol=1e-12)


def test_layer_index_reaches_annotate():
    seen = []

    class Recording(sl.Real):
        def annotate(self, d, layer):
            seen.append((layer, d.shape))
            return d

    sl.relevance(_tiny_net(), np.array([[1.0, 2.0]] * 3), target=0, semiring=Recording())
    # one group of pairs per output neuron: (samples, inputs)
    assert seen == [(1, (3, 2)), (0, (3, 2)), (0, (3, 2))]


def test_incomplete_semiring_names_the_missing_method():
    class NoAdd(sl.Semiring):
        def zero(self):
            return 0.0

        def one(self):
            return 1.0

        def annotate(self, d, layer):
            return d

    with pytest.raises(NotImplementedError, match=r"NoAdd must define add\(\), mul\(\)"):
        sl.relevance(_tiny_net(), np.array([1.0, 2.0]), target=0, semiring=NoAdd())
