"""What a pass tells about itself: RelevanceWarning when relevance dies in a
layer or saturates, LayerRelevance.density(), InputRangeWarning for raw
pixels."""
import warnings

import numpy as np
import pytest

import semiring_lrp as sl


def two_layer_net():
    """x (2) -> Linear(I) -> ReLU -> Linear([[1, 1], [0, 0]]): for target 0
    and x >= 0, the first layer's d_jj = 1, the second's d_j0 = h_j / (h_0 + h_1)."""
    first = sl.Linear(np.eye(2), np.zeros(2))
    second = sl.Linear(np.array([[1.0, 1.0], [0.0, 0.0]]), np.zeros(2))
    return sl.Network([first, sl.ReLU(), second], names=["lin1", "relu", "lin2"])


def recorded(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [w for w in caught if issubclass(w.category, sl.RelevanceWarning)]


@pytest.fixture(scope="module")
def mnist():
    images, labels = sl.models.mnist_digits()
    return sl.models.mnist_input(images), labels


def test_relevance_dying_in_a_layer_names_it_and_its_samples():
    net = two_layer_net()
    x = np.array([[1.0, 1.0], [3.0, 1.0], [2.0, 2.0]])
    # lin2: d = (0.5, 0.5) for samples 0 and 2, under 0.6; (0.75, 0.25) for sample 1.
    # lin1: d = 1 < 2, so sample 1 dies there.
    for return_all in (False, True):
        _, caught = recorded(lambda: sl.relevance(net, x, target=0, return_all=return_all,
                                                  semiring=sl.Boolean([2.0, 0.6])))
        assert [(w.message.kind, w.message.layer, w.message.index) for w in caught] == [
            ("dies", "lin2", 2), ("dies", "lin1", 0)]
        assert caught[0].message.samples.tolist() == [0, 2]
        assert caught[1].message.samples.tolist() == [1]
        assert caught[0].message.threshold == 0.6 and caught[0].message.batch == 3
        assert "'lin2' (2, Linear(2, 2))" in str(caught[0].message)
        assert "2 of 3 samples" in str(caught[0].message)
        assert "threshold 0.6" in str(caught[0].message)
        assert caught[0].filename == __file__


def test_a_threshold_too_high_in_the_mlp_kills_relevance_at_that_layer(mlp, mnist):
    x, _ = mnist
    R, caught = recorded(lambda: sl.relevance(mlp, x, semiring=sl.Boolean([1e-9, 1e-9, 0.9])))
    assert not R.any()
    assert len(caught) == 1
    warning = caught[0].message
    assert (warning.kind, warning.layer, warning.index) == ("dies", "fc3", 5)
    assert warning.samples.tolist() == list(range(20))
    assert "relevance dies at layer 'fc3' (5, Linear(100, 10)): for 20 of 20 samples" in \
        str(warning)
    # the samples a warning names are those whose relevance entering fc2 is
    # all 0 while that entering relu2 is not
    _, caught = recorded(lambda: sl.relevance(mlp, x, semiring=sl.Boolean([1e-9, 10, 1e-9])))
    with pytest.warns(sl.RelevanceWarning):
        _, layers = sl.relevance(mlp, x, semiring=sl.Boolean([1e-9, 10, 1e-9]),
                                 return_all=True)
    dead_at_fc2 = [i for i in range(20)
                   if not layers["fc2"][i].any() and layers["relu2"][i].any()]
    assert 0 < len(dead_at_fc2) < 20
    assert [(w.message.layer, w.message.samples.tolist()) for w in caught] == [
        ("fc2", dead_at_fc2)]


def test_a_real_pass_on_a_blank_image_dies_at_the_first_layer(mlp):
    # every pixel is 0, so every d_jk of fc1 is 0
    _, caught = recorded(lambda: sl.relevance(mlp, np.zeros((28, 28), np.float32), target=3))
    assert [(w.message.kind, w.message.layer, w.message.threshold) for w in caught] == [
        ("dies", "fc1", None)]
    assert "under Real()" in str(caught[0].message)


def test_a_zero_absolute_threshold_saturates_every_pixel(mlp, cnn, mnist):
    x, _ = mnist
    for net, sample in ((mlp, x), (cnn, x[:, None])):
        R, caught = recorded(lambda: sl.relevance(net, sample,
                                                  semiring=sl.Boolean(0.0, absolute=True)))
        assert R.all()
        assert [(w.message.kind, w.message.layer, w.message.index) for w in caught] == [
            ("saturates", "input", 0)]
        assert caught[0].message.samples.tolist() == list(range(20))
        assert "nonzero for 20 of 20 samples" in str(caught[0].message)
    # one sample in, one sample counted
    _, caught = recorded(lambda: sl.relevance(mlp, x[0], semiring=sl.Counting(0.0,
                                                                             absolute=True)))
    assert [(w.message.kind, w.message.samples.tolist()) for w in caught] == [
        ("saturates", [0])]


def test_saturation_of_a_hidden_layer_asked_for_names_it(mlp, mnist):
    x, _ = mnist
    _, caught = recorded(lambda: sl.relevance(mlp, x, layer="fc3",
                                              semiring=sl.Boolean(0.0, absolute=True)))
    assert [(w.message.kind, w.message.layer, w.message.index) for w in caught] == [
        ("saturates", "fc3", 5)]


def test_healthy_passes_are_silent(mlp, cnn, mnist):
    x, labels = mnist
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for semiring in (sl.Real(), sl.Boolean(1e-9), sl.Counting(1e-9), sl.Viterbi()):
            sl.relevance(mlp, x, target=labels, semiring=semiring)
            sl.relevance(mlp, x, semiring=semiring, return_all=True)
            sl.relevance(mlp, x[3], semiring=semiring, layer="fc2")
            sl.relevance(cnn, x[:, None], semiring=semiring)
        sl.relevance(mlp, x, init="activation", rule=sl.rules.Epsilon(1e-6))


def test_relevance_warnings_can_be_filtered_by_their_class(mlp, mnist):
    x, _ = mnist
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", sl.RelevanceWarning)
        sl.relevance(mlp, x, semiring=sl.Boolean([1e-9, 1e-9, 0.9]))
        sl.relevance(mlp, x, semiring=sl.Boolean(0.0, absolute=True))


def test_density_is_the_share_of_nonzero_relevance_per_layer():
    net = two_layer_net()
    x = np.array([[1.0, 1.0], [3.0, 1.0]])
    # thresholds 0.5 and 0.6: sample 0's d at lin2 are (0.5, 0.5), nothing
    # passes; sample 1's are (0.75, 0.25): h_0 relevant, then x_0 (d = 1)
    with pytest.warns(sl.RelevanceWarning, match="'lin2'"):
        R, layers = sl.relevance(net, x, target=0, semiring=sl.Boolean([0.5, 0.6]),
                                 return_all=True)
    density = layers.density()
    assert list(density) == [1 / 4, 1 / 4, 1 / 4, 2 / 4]
    assert density["input"] == density["lin1"] == 0.25 and density["output"] == 0.5
    assert density.as_dict() == {"input": 0.25, "relu": 0.25, "lin2": 0.25, "output": 0.5}
    per_sample = layers.density(per_sample=True)
    assert [row.tolist() for row in per_sample] == [[0, 0.5], [0, 0.5], [0, 0.5], [0.5, 0.5]]
    assert "lin2" in repr(density)


def test_density_matches_a_literal_count_on_the_mlp(mlp, mnist):
    x, _ = mnist
    for semiring in (sl.Boolean(1e-3), sl.Real()):
        _, layers = sl.relevance(mlp, x, semiring=semiring, return_all=True)
        density = layers.density()
        per_sample = layers.density(per_sample=True)
        for i, r in enumerate(layers):
            values = np.asarray(r).ravel().tolist()
            assert density[i] == sum(1 for v in values if v != 0) / len(values)
            rows = np.asarray(r).reshape(20, -1).tolist()
            assert per_sample[i].tolist() == [sum(1 for v in row if v != 0) / len(row)
                                              for row in rows]
    # one sample: fractions, no sample axis
    _, layers = sl.relevance(mlp, x[0], semiring=sl.Boolean(1e-3), return_all=True)
    assert layers.density(per_sample=True)["output"] == 0.1


def test_raw_uint8_pixels_warn_and_scaled_ones_do_not(mlp, cnn):
    images, _ = sl.models.mnist_digits()
    for call in (lambda: sl.relevance(mlp, images), lambda: mlp.forward(images),
                 lambda: sl.relevance(cnn, images[:, None])):
        with pytest.warns(sl.InputRangeWarning, match="uint8 with values up to 255") as caught:
            call()
        assert caught[0].filename == __file__
    # floats 0 to 255 for the shipped models (which take [0, 1])
    with pytest.warns(sl.InputRangeWarning, match=r"values from 0 to 255.*\[0, 1\]"):
        sl.relevance(mlp, images.astype(np.float32))
    with pytest.warns(sl.InputRangeWarning):
        sl.relevance(mlp.astype(np.float64).masked("fc1", [0]), images.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sl.relevance(mlp, sl.models.mnist_input(images))
        sl.relevance(mlp, (images > 127).astype(np.uint8))  # binary images, 0 and 1
        sl.relevance(mlp, images > 127)
        # a network that states no range takes any float
        plain = sl.Network(mlp.layers, mlp.input_shape, mlp.names)
        assert plain.input_range is None and mlp.input_range == (0.0, 1.0)
        sl.relevance(plain, images.astype(np.float32))
    # but integer pixels above 1 warn for any network
    with pytest.warns(sl.InputRangeWarning):
        sl.relevance(plain, images)
