"""Neuron scores and pruning curves (semiring_lrp.apps.pruning), on the
shipped MNIST MLP and CNN, the 20 shipped digits, and a random VGG-11."""
import sys

import numpy as np
import pytest
from reference import vgg_with_narrow_classifier

import semiring_lrp as sl
from semiring_lrp.apps.pruning import neuron_scores, pruning_curve

SEMIRINGS = {"real": sl.Real(), "boolean": sl.Boolean(1e-9), "counting": sl.Counting(1e-9),
             "viterbi": sl.Viterbi()}


@pytest.fixture(scope="module")
def cnn_digits(digits):
    return digits[0][:, None], digits[1]


def accuracy_and_loss(net, x, labels):
    """Both measures from one direct forward pass, in float64."""
    z = net.forward(x).astype(np.float64)
    log_norm = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
    loss = np.mean(log_norm - z[np.arange(len(z)), labels])
    return np.mean(np.argmax(z, axis=1) == labels), loss


# ---------------------------------------------------------------- scores

@pytest.mark.parametrize("model, layer", [("mlp", "fc1"), ("mlp", "fc3"), ("cnn", "conv1"),
                                          ("cnn", "conv4"), ("cnn", "fc1")])
def test_weight_norms_are_the_norms_of_each_neurons_incoming_weights(request, model, layer):
    net = request.getfixturevalue(model)
    index, _ = net.weighted_index(layer)
    w = net.layers[index].weight.astype(np.float64)
    rows = w.reshape(w.shape[0], -1)  # Linear (out, in); Conv2d (out, in, kh, kw)
    np.testing.assert_allclose(neuron_scores(net, None, layer, "l1"),
                               np.linalg.norm(rows, ord=1, axis=1), rtol=1e-12)
    np.testing.assert_allclose(neuron_scores(net, None, layer, "l2"),
                               np.linalg.norm(rows, axis=1), rtol=1e-12)
    if w.ndim == 4:
        np.testing.assert_allclose(neuron_scores(net, None, layer, "l1"),
                                   np.abs(w).sum(axis=(1, 2, 3)), rtol=1e-12)


def test_weight_norms_leave_the_bias_out(mlp):
    layer = mlp.layers[1]
    changed = sl.Network([sl.Flatten(), sl.Linear(layer.weight, layer.bias + 100)],
                         input_shape=(28, 28))
    for norm in ("l1", "l2"):
        np.testing.assert_array_equal(neuron_scores(changed, None, 1, norm),
                                      neuron_scores(mlp, None, "fc1", norm))


def test_random_scores_are_reproducible_for_a_seed(mlp):
    a = neuron_scores(mlp, None, "fc1", "random", seed=3)
    np.testing.assert_array_equal(a, neuron_scores(mlp, None, "fc1", "random", seed=3))
    np.testing.assert_array_equal(a, np.random.default_rng(3).random(300))
    assert not np.array_equal(a, neuron_scores(mlp, None, "fc1", "random", seed=4))


def hand_layer_relevance(net, x, targets, semiring, layer):
    """Each image's relevance entering the layer after `layer`, one image at
    a time through return_all."""
    index, _ = net.weighted_index(layer)
    maps = []
    for image, target in zip(x, targets):
        _, every = sl.relevance(net, image, target=int(target), semiring=semiring,
                                return_all=True)
        maps.append(np.asarray(every[index + 1]).astype(np.float64))
    return np.stack(maps)


@pytest.mark.parametrize("kind", list(SEMIRINGS))
def test_relevance_scores_are_the_mean_absolute_hidden_relevance(mlp, digits, kind):
    x, labels = digits
    hand = hand_layer_relevance(mlp, x, labels, SEMIRINGS[kind], "fc1")
    scores = neuron_scores(mlp, (x, labels), "fc1", semiring=SEMIRINGS[kind], batch_size=7)
    assert scores.shape == (300,) and scores.dtype == np.float64
    np.testing.assert_allclose(scores, np.abs(hand).mean(axis=0), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("kind", ["real", "counting"])
def test_filter_scores_sum_the_positions_of_the_mean_absolute_relevance(cnn, cnn_digits, kind):
    x, labels = cnn_digits[0][:6], cnn_digits[1][:6]
    hand = hand_layer_relevance(cnn, x, labels, SEMIRINGS[kind], "conv2")  # (6, 16, 28, 28)
    scores = neuron_scores(cnn, (x, labels), "conv2", semiring=SEMIRINGS[kind], batch_size=4)
    assert scores.shape == (16,)
    np.testing.assert_allclose(scores, np.abs(hand).sum(axis=(2, 3)).mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize("reduce, fold", [("mean", lambda r: r.mean(axis=0)),
                                          ("sum", lambda r: r.sum(axis=0)),
                                          ("max", lambda r: r.max(axis=0))])
def test_other_reductions(mlp, digits, reduce, fold):
    x, labels = digits
    hand = hand_layer_relevance(mlp, x, labels, sl.Real(), "fc2")
    np.testing.assert_allclose(neuron_scores(mlp, (x, labels), "fc2", reduce=reduce,
                                             batch_size=6), fold(hand), rtol=1e-5, atol=1e-9)


def test_relevance_targets_prediction_and_one_class(mlp, digits):
    x, labels = digits
    predicted = np.argmax(mlp.forward(x), axis=1)
    for target, targets in (("prediction", predicted), (3, np.full(20, 3))):
        hand = hand_layer_relevance(mlp, x, targets, sl.Real(), "fc1")
        np.testing.assert_allclose(neuron_scores(mlp, (x, labels), "fc1", target=target),
                                   np.abs(hand).mean(axis=0), rtol=1e-6, atol=1e-12)
    # the prediction needs no labels
    neuron_scores(mlp, x, "fc1", target="prediction")


def test_score_errors_name_the_problem(mlp, digits):
    with pytest.raises(ValueError, match="no layer is named 'fc9'"):
        neuron_scores(mlp, digits, "fc9")
    with pytest.raises(ValueError, match="has no weights"):
        neuron_scores(mlp, digits, "relu1")
    with pytest.raises(ValueError, match="criterion must be one of"):
        neuron_scores(mlp, digits, "fc1", criterion="l3")
    with pytest.raises(ValueError, match="reduce='mean_abs'"):
        neuron_scores(mlp, digits, "fc1", criterion="mean_abs")
    with pytest.raises(ValueError, match="reduce must be one of"):
        neuron_scores(mlp, digits, "fc1", reduce="median")
    with pytest.raises(ValueError, match="reads data"):
        neuron_scores(mlp, None, "fc1")
    with pytest.raises(ValueError, match="needs labels"):
        neuron_scores(mlp, digits[0], "fc1")
    with pytest.raises(ValueError, match="target must be"):
        neuron_scores(mlp, digits, "fc1", target="labels")
    with pytest.raises(ValueError, match="one label per sample"):
        neuron_scores(mlp, (digits[0], digits[1][:5]), "fc1")
    with pytest.raises(ValueError, match="batch_size must be at least 1, not 0"):
        neuron_scores(mlp, digits, "fc1", batch_size=0)


# ---------------------------------------------------------------- curves

def test_nothing_pruned_gives_the_models_own_accuracy_and_loss(mlp, digits):
    x, labels = digits
    curve = pruning_curve(mlp, np.arange(300.0), "fc1", digits, steps=[0, 10], batch_size=6)
    accuracy, loss = accuracy_and_loss(mlp, x, labels)
    assert curve["pruned"][0] == 0
    assert curve["accuracy"][0] == accuracy
    np.testing.assert_allclose(curve["loss"][0], loss, rtol=1e-12)


@pytest.mark.parametrize("model, layer", [("mlp", "fc1"), ("cnn", "conv4"), ("cnn", "conv1")])
def test_everything_pruned_predicts_one_class(request, model, layer, digits):
    net = request.getfixturevalue(model)
    x = digits[0][:, None] if model == "cnn" else digits[0]
    labels = digits[1]
    index, _ = net.weighted_index(layer)
    n = net.layers[index].weight.shape[0]
    curve = pruning_curve(net, np.zeros(n), layer, (x, labels), steps=2)
    np.testing.assert_array_equal(curve["pruned"], [0, n])
    predictions = np.argmax(net.masked(layer, np.arange(n)).forward(x), axis=1)
    assert np.all(predictions == predictions[0])
    assert curve["accuracy"][-1] == np.mean(labels == predictions[0])


def test_each_step_equals_the_masked_network(cnn, cnn_digits):
    x, labels = cnn_digits
    scores = neuron_scores(cnn, cnn_digits, "conv4")
    curve = pruning_curve(cnn, scores, "conv4", cnn_digits, steps=[0, 5, 17, 30], batch_size=8)
    order = np.argsort(scores, kind="stable")
    for count, accuracy, loss in zip(curve["pruned"], curve["accuracy"], curve["loss"]):
        pruned = cnn.masked("conv4", order[:count])
        acts = pruned.activations(x)
        conv4 = cnn.layer_index("conv4")
        assert np.all(acts[conv4 + 1][:, order[:count]] == 0)  # the filters output 0
        assert np.any(acts[conv4 + 1][:, order[count:]] != 0)
        expected = accuracy_and_loss(pruned, x, labels)
        assert accuracy == expected[0]
        np.testing.assert_allclose(loss, expected[1], rtol=1e-12)


def test_equal_scores_prune_the_lower_index_first(mlp, digits):
    scores = np.zeros(300)
    scores[:5] = 1.0  # neurons 0-4 last; the rest in index order
    curve = pruning_curve(mlp, scores, "fc1", digits, steps=[0, 3, 297])
    for count, accuracy in zip(curve["pruned"], curve["accuracy"]):
        order = np.r_[np.arange(5, 300), np.arange(5)]
        assert accuracy == accuracy_and_loss(mlp.masked("fc1", order[:count]), *digits)[0]


def test_pruning_leaves_the_network_unchanged(mlp, cnn, digits, cnn_digits):
    for net, data, layer in ((mlp, digits, "fc1"), (cnn, cnn_digits, "conv2")):
        weights = [np.copy(layer_.weight) for layer_ in net.layers if layer_.weighted]
        outputs = net.forward(data[0])
        pruning_curve(net, neuron_scores(net, None, layer, "l2"), layer, data, steps=4)
        after = [layer_.weight for layer_ in net.layers if layer_.weighted]
        for before, now in zip(weights, after):
            np.testing.assert_array_equal(before, now)
        np.testing.assert_array_equal(net.forward(data[0]), outputs)


def test_steps_as_an_int_space_counts_evenly_from_none_to_all(mlp, digits):
    curve = pruning_curve(mlp, neuron_scores(mlp, None, "fc1", "l1"), "fc1", digits, steps=7)
    np.testing.assert_array_equal(curve["pruned"], [0, 50, 100, 150, 200, 250, 300])
    assert np.all(np.diff(curve["pruned"]) > 0)
    assert set(curve) == {"pruned", "accuracy", "loss"}
    assert all(isinstance(v, np.ndarray) and len(v) == 7 for v in curve.values())


def test_batch_size_does_not_change_the_curve(mlp, digits):
    scores = neuron_scores(mlp, digits, "fc1", semiring=sl.Viterbi())
    a = pruning_curve(mlp, scores, "fc1", digits, steps=5, batch_size=3)
    b = pruning_curve(mlp, scores, "fc1", digits, steps=5, batch_size=256)
    np.testing.assert_array_equal(a["accuracy"], b["accuracy"])
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-12)


def test_curve_as_a_dataframe(mlp, digits, monkeypatch):
    pandas = pytest.importorskip("pandas")
    scores = neuron_scores(mlp, None, "fc1", "l2")
    frame = pruning_curve(mlp, scores, "fc1", digits, steps=3, as_dataframe=True)
    assert isinstance(frame, pandas.DataFrame)
    curve = pruning_curve(mlp, scores, "fc1", digits, steps=3)
    for column, values in curve.items():
        np.testing.assert_array_equal(frame[column].to_numpy(), values)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="needs pandas"):
        pruning_curve(mlp, scores, "fc1", digits, steps=3, as_dataframe=True)


def test_curve_errors_name_the_problem(mlp, digits):
    scores = np.zeros(300)
    for steps, error, match in ((1, ValueError, "at least 2"), ([0, 301], ValueError, "beyond"),
                                ([10, 5], ValueError, "increasing"),
                                ([0.5, 1], TypeError, "steps must be"),
                                ("all", TypeError, "steps must be")):
        with pytest.raises(error, match=match):
            pruning_curve(mlp, scores, "fc1", digits, steps=steps)
    with pytest.raises(ValueError, match="300 neurons"):
        pruning_curve(mlp, np.zeros(100), "fc1", digits)
    with pytest.raises(ValueError, match="NaN"):
        pruning_curve(mlp, np.full(300, np.nan), "fc1", digits)
    with pytest.raises(ValueError, match="has no weights"):
        pruning_curve(mlp, scores, "relu2", digits)
    with pytest.raises(ValueError, match="needs labels"):
        pruning_curve(mlp, scores, "fc1", digits[0])


def test_vgg_filters(digits):
    pytest.importorskip("torchvision")
    import torch

    torch.manual_seed(0)
    # conv filters pruned: the classifier's width does not matter
    net = sl.from_torch(vgg_with_narrow_classifier("vgg11").eval())
    x = np.random.default_rng(0).random((4, 3, 32, 32)).astype(np.float32)
    labels = np.array([1, 2, 3, 4])
    w = net.layers[net.layer_index("features.3")].weight.astype(np.float64)
    np.testing.assert_allclose(neuron_scores(net, None, "features.3", "l2"),
                               np.sqrt((w ** 2).sum(axis=(1, 2, 3))), rtol=1e-12)
    scores = neuron_scores(net, (x, labels), "features.3", batch_size=2)
    assert scores.shape == (128,) and np.all(scores >= 0)
    curve = pruning_curve(net, scores, "features.3", (x, labels), steps=[0, 64, 128])
    z = net.forward(x).astype(np.float64)
    assert curve["accuracy"][0] == np.mean(np.argmax(z, axis=1) == labels)
    emptied = np.argmax(net.masked("features.3", np.arange(128)).forward(x), axis=1)
    assert np.all(emptied == emptied[0])
    assert curve["accuracy"][-1] == np.mean(labels == emptied[0])
