"""Pixel flipping and AOPC (semiring_lrp.apps.faithfulness): against a
literal loop and against Quantus's PixelFlipping on the shipped MLP."""
import warnings

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp.apps.faithfulness import pixel_flipping
from semiring_lrp.apps.perturbation import invert


@pytest.fixture(scope="module")
def digits():
    """The 20 shipped digits with a channel axis, (20, 1, 28, 28), as Quantus
    wants images; the MLP flattens them."""
    images, labels = sl.models.mnist_digits()
    return sl.models.mnist_input(images)[:, None], labels.astype(np.int64)


@pytest.fixture(scope="module")
def twin(mlp):
    """A torch copy of the shipped MLP."""
    torch = pytest.importorskip("torch")
    fc = [mlp.layers[i] for i in mlp.weighted_layers]
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 300), torch.nn.ReLU(),
                                torch.nn.Linear(300, 100), torch.nn.ReLU(),
                                torch.nn.Linear(100, 10))
    with torch.no_grad():
        for module, layer in zip(model[1::2], fc):
            module.weight.copy_(torch.tensor(layer.weight))
            module.bias.copy_(torch.tensor(layer.bias))
    return model.eval()


def literal_flipping(net, x, labels, relevance, k, order, perturb, measure):
    """Each image alone: features sorted by (relevance, index), flipped k at a
    time, one forward pass per step."""
    curves = []
    for image, label, r in zip(x, labels, relevance):
        values = r.ravel().tolist()
        sign = -1 if order == "most" else 1
        ranked = sorted(range(len(values)), key=lambda i: (sign * values[i], i))
        flat = image.ravel().copy()
        curve = []
        for step in range(0, len(values) + k, k):
            for i in ranked[max(0, step - k):step]:
                flat[i] = perturb(flat[i]) if callable(perturb) else perturb
            z = net.forward(flat.reshape(image.shape)).astype(np.float64).ravel()
            if measure == "score":
                curve.append(z[label])
            elif measure == "probability":
                curve.append(np.exp(z[label] - z.max()) / np.exp(z - z.max()).sum())
            else:
                curve.append(float(np.argmax(z) == label))
            if step >= len(values):
                break
        curves.append(curve)
    return np.array(curves)


@pytest.mark.parametrize("kind, k, order, perturb, measure", [
    ("real", 16, "most", 0.0, "score"),
    ("boolean", 49, "least", 0.0, "score"),      # ties everywhere: by feature index
    ("counting", 100, "most", invert, "probability"),  # 784 = 7 * 100 + 84
    ("viterbi", 28, "least", 0.5, "accuracy"),
])
def test_flipping_equals_a_literal_loop(mlp, digits, kind, k, order, perturb, measure):
    x, labels = digits[0][::4], digits[1][::4]
    semiring = {"real": sl.Real(), "boolean": sl.Boolean(), "counting": sl.Counting(),
                "viterbi": sl.Viterbi()}[kind]
    r = sl.relevance(mlp, x, target=labels, semiring=semiring)
    expected = literal_flipping(mlp, x, labels, r, k, order, perturb, measure)
    for relevance in (r, semiring):
        result = pixel_flipping(mlp, (x, labels), relevance, features_in_step=k, order=order,
                                perturb=perturb, measure=measure, batch_size=2, per_image=True)
        steps = np.minimum(np.arange(expected.shape[1]) * k, 784)
        np.testing.assert_array_equal(result["steps"], steps)
        np.testing.assert_allclose(result["per_image"], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(result["score"], result["per_image"].mean(axis=0),
                                   rtol=1e-12)
        curves = result["per_image"]
        aopc = np.mean([np.mean(curves[:, 0] - curves[:, step])
                        for step in range(curves.shape[1])])
        np.testing.assert_allclose(result["aopc"], aopc, rtol=1e-10, atol=1e-12)


def test_steps_stop_early_and_batch_size_changes_nothing(mlp, digits):
    r = sl.relevance(mlp, digits[0], target=digits[1])
    whole = pixel_flipping(mlp, digits, r, features_in_step=8, per_image=True, batch_size=3)
    first = pixel_flipping(mlp, digits, r, features_in_step=8, steps=5, per_image=True)
    np.testing.assert_array_equal(first["steps"], [0, 8, 16, 24, 32, 40])
    np.testing.assert_allclose(first["per_image"], whole["per_image"][:, :6], rtol=1e-6)
    assert whole["per_image"].shape == (20, 99)
    # removing the most relevant pixels first hurts more than the least relevant
    least = pixel_flipping(mlp, digits, r, features_in_step=8, steps=5, order="least")
    assert first["aopc"] > least["aopc"]


def test_target_prediction_and_a_class(mlp, digits):
    x = digits[0][:6]
    scores = mlp.forward(x).astype(np.float64)
    for target, classes in (("prediction", np.argmax(scores, axis=1)), (7, np.full(6, 7))):
        result = pixel_flipping(mlp, x, sl.Real(), steps=1, target=target, per_image=True)
        np.testing.assert_allclose(result["per_image"][:, 0], scores[np.arange(6), classes],
                                   rtol=1e-6)


def test_agrees_with_quantus_pixel_flipping(mlp, digits, twin):
    quantus = pytest.importorskip("quantus")
    x, labels = digits
    # real relevance (ties only among blank pixels, whose flip changes nothing), and
    # random attributions with no ties at all
    maps = [sl.relevance(mlp, x, target=labels),
            np.random.default_rng(0).normal(size=x.shape).astype(np.float32)]
    for a, k in zip(maps, (16, 49)):
        for softmax, measure in ((False, "score"), (True, "probability")):
            metric = quantus.PixelFlipping(features_in_step=k, perturb_baseline=0.0,
                                           normalise=False, abs=False, disable_warnings=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = np.asarray(metric(model=twin, x_batch=x, y_batch=labels, a_batch=a,
                                           softmax=softmax, device="cpu"))
            ours = pixel_flipping(mlp, (x, labels), a, features_in_step=k, perturb=0.0,
                                  measure=measure, per_image=True)
            assert theirs.shape == (20, 784 // k)
            np.testing.assert_allclose(ours["per_image"][:, 1:], theirs, rtol=1e-5, atol=1e-5)
    # least relevant first is Quantus's order for the negated map
    metric = quantus.PixelFlipping(features_in_step=16, perturb_baseline=0.0, normalise=False,
                                   abs=False, disable_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(metric(model=twin, x_batch=x, y_batch=labels, a_batch=-maps[1],
                                   softmax=False, device="cpu"))
    ours = pixel_flipping(mlp, (x, labels), maps[1], features_in_step=16, order="least",
                          per_image=True)
    np.testing.assert_allclose(ours["per_image"][:, 1:], theirs, rtol=1e-5, atol=1e-5)


def test_flipping_errors_name_the_problem(mlp, digits):
    r = np.zeros(digits[0].shape)
    for kwargs, error, match in (
            ({"order": "most relevant"}, ValueError, "order must be"),
            ({"measure": "loss"}, ValueError, "measure must be"),
            ({"features_in_step": 0}, ValueError, "at least 1"),
            ({"features_in_step": 785}, ValueError, "more than the 784 features"),
            ({"features_in_step": 2.0}, TypeError, "features_in_step must be"),
            ({"steps": 393}, ValueError, "at most 392 steps"),
            ({"perturb": "black"}, TypeError, "baseline value"),
            ({"perturb": lambda v: v[:, :1]}, ValueError, "keep the shape"),
            ({"target": -1}, ValueError, "out of range"),
            ({"batch_size": 1.5}, TypeError, "batch_size")):
        with pytest.raises(error, match=match):
            pixel_flipping(mlp, digits, r, features_in_step=kwargs.pop("features_in_step", 2),
                           **kwargs)
    with pytest.raises(ValueError, match="shaped like the images"):
        pixel_flipping(mlp, digits, r[:, 0])
    with pytest.raises(ValueError, match="one map per image"):
        pixel_flipping(mlp, digits, r[:3])
    with pytest.raises(ValueError, match="needs labels"):
        pixel_flipping(mlp, digits[0], r, measure="accuracy")
