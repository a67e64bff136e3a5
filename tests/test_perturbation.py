"""Occlusion maps and relevance-guided attacks (semiring_lrp.apps.perturbation),
against slow literal loops: one image, one region, one pixel at a time."""
import math

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp.apps.perturbation import attack_curve, draw_order, invert, occlusion_map


def predicted(net, image):
    return int(np.argmax(net.forward(image)))


# ---------------------------------------------------------------- occlusion

def literal_occlusion(net, x, labels, patch, perturb, classes=10):
    """Per class: correct originals, and correct images with region (i, j)
    perturbed, one image and one region at a time."""
    height, width = x.shape[-2:]
    rows, cols = math.ceil(height / patch), math.ceil(width / patch)
    original = np.zeros(classes)
    occluded = np.zeros((classes, rows, cols))
    for image, label in zip(x, labels):
        original[label] += predicted(net, image) == label
        for i in range(rows):
            for j in range(cols):
                changed = image.copy()
                for r in range(i * patch, min((i + 1) * patch, height)):
                    for c in range(j * patch, min((j + 1) * patch, width)):
                        changed[..., r, c] = perturb(image[..., r, c])
                occluded[label, i, j] += predicted(net, changed) == label
    counts = np.bincount(labels, minlength=classes)
    return original, occluded, counts


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_occlusion_equals_a_literal_loop(request, digits, model):
    net = request.getfixturevalue(model)
    x, labels = digits
    x, labels = (x[::3], labels[::3]) if model == "mlp" else (x[::5, None], labels[::5])
    original, occluded, counts = literal_occlusion(net, x, labels, 5, invert)
    per_class = occlusion_map(net, (x, labels), patch=5, by="label", batch_size=4)
    assert per_class.shape == (10, 6, 6)  # 28 = 5 * 5 + 3: the last regions are 3 wide
    with np.errstate(invalid="ignore"):
        expected = (original[:, None, None] - occluded) / counts[:, None, None]
    np.testing.assert_array_equal(per_class, expected)
    overall = occlusion_map(net, (x, labels), patch=5, batch_size=4)
    np.testing.assert_allclose(overall, (original.sum() - occluded.sum(axis=0)) / len(x),
                               rtol=1e-15)


def test_occlusion_with_a_perturbation_of_ones_own(mlp, digits):
    x, labels = digits[0][:4], digits[1][:4]

    def brighten(values):
        return np.minimum(values + 0.5, 1.0)

    original, occluded, _ = literal_occlusion(mlp, x, labels, 7, brighten)
    result = occlusion_map(mlp, (x, labels), patch=7, perturb=brighten)
    np.testing.assert_allclose(result, (original.sum() - occluded.sum(axis=0)) / 4, rtol=1e-15)


def test_occlusion_does_not_depend_on_batch_size(mlp, digits):
    maps = [occlusion_map(mlp, digits, patch=4, by="label", batch_size=b) for b in (1, 7, 256)]
    for other in maps[1:]:
        np.testing.assert_array_equal(maps[0], other)
    assert maps[0].shape == (10, 7, 7)


def test_occlusion_of_a_class_without_images_is_nan(mlp, digits):
    x, labels = digits[0][:4], digits[1][:4]  # classes 0 and 1 only
    result = occlusion_map(mlp, (x, labels), patch=14, by="label")
    assert result.shape == (10, 2, 2)
    assert np.all(np.isfinite(result[:2])) and np.all(np.isnan(result[2:]))


def test_occlusion_regions_of_a_rectangular_patch(cnn, digits):
    x, labels = digits[0][:3, None], digits[1][:3]
    assert occlusion_map(cnn, (x, labels), patch=(28, 10)).shape == (1, 3)


def test_occlusion_errors_name_the_problem(mlp, digits):
    with pytest.raises(ValueError, match="by must be"):
        occlusion_map(mlp, digits, by="class")
    with pytest.raises(ValueError, match="patch"):
        occlusion_map(mlp, digits, patch=0)
    with pytest.raises(ValueError, match="image size"):
        occlusion_map(mlp, digits, patch=29)
    with pytest.raises(TypeError, match="patch must be"):
        occlusion_map(mlp, digits, patch=2.5)
    with pytest.raises(TypeError, match="perturb must be a function"):
        occlusion_map(mlp, digits, perturb=0.0)
    with pytest.raises(ValueError, match="keep the shape"):
        occlusion_map(mlp, digits, perturb=lambda v: v[..., :1])
    with pytest.raises(ValueError, match="height and a width"):
        occlusion_map(mlp, (digits[0].reshape(20, 784), digits[1]))
    with pytest.raises(ValueError, match="needs labels"):
        occlusion_map(mlp, digits[0])
    with pytest.raises(ValueError, match="out of range"):
        occlusion_map(mlp, (digits[0], digits[1] + 5))


# ---------------------------------------------------------------- attacks

def literal_order(relevance, seed, index, distribution, temperature, count):
    """Pixels drawn one at a time: each step takes, among the pixels left,
    the one whose exponential clock E_i / p_i rings first, p the softmax
    written out with math.exp."""
    r = [float(v) for v in np.asarray(relevance, dtype=np.float64).ravel()]
    sign = {"softmax(-R)": -1.0, "softmax(R)": 1.0, "uniform": 0.0}[distribution]
    top = max(sign * v / temperature for v in r)
    weights = [math.exp(sign * v / temperature - top) for v in r]
    p = [w / sum(weights) for w in weights]
    clocks = np.random.default_rng([seed, index]).standard_exponential(len(r))
    left, drawn = set(range(len(r))), []
    for _ in range(count):
        pick = min(left, key=lambda i: (clocks[i] / p[i], i))
        drawn.append(pick)
        left.remove(pick)
    return drawn


def literal_attack(net, x, labels, relevance, pixels, distribution, temperature, seed):
    correct = np.zeros(len(pixels))
    for index, (image, label, r) in enumerate(zip(x, labels, relevance)):
        drawn = literal_order(r, seed, index, distribution, temperature, max(pixels))
        for k, count in enumerate(pixels):
            changed = image.copy()
            for pixel in drawn[:count]:
                row, col = divmod(pixel, image.shape[-1])
                changed[..., row, col] = 1 - image[..., row, col]
            correct[k] += predicted(net, changed) == label
    return correct / len(x)


@pytest.mark.parametrize("distribution, temperature", [("softmax(-R)", 1.0),
                                                       ("softmax(R)", 0.05),
                                                       ("uniform", 1.0)])
def test_attack_equals_a_literal_loop(mlp, digits, distribution, temperature):
    x, labels = digits[0][::2], digits[1][::2]
    r = sl.relevance(mlp, x, target=labels)
    pixels = [0, 30, 100, 250]
    expected = literal_attack(mlp, x, labels, r, pixels, distribution, temperature, seed=5)
    for relevance in (r, sl.Real()):
        curve = attack_curve(mlp, (x, labels), relevance, pixels=pixels, seed=5,
                             distribution=distribution, temperature=temperature, batch_size=3)
        np.testing.assert_array_equal(curve["pixels"], pixels)
        np.testing.assert_array_equal(curve["accuracy"], expected)


def test_attack_on_a_conv_net_sums_channels(cnn, digits):
    x, labels = digits[0][:6, None], digits[1][:6]
    r = sl.relevance(cnn, x, target=labels, semiring=sl.Viterbi())
    pixels = [0, 60, 200]
    expected = literal_attack(cnn, x, labels, r[:, 0], pixels, "softmax(-R)", 0.1, seed=1)
    for relevance in (r, r[:, 0], sl.Viterbi()):
        curve = attack_curve(cnn, (x, labels), relevance, pixels=pixels, temperature=0.1,
                             seed=1)
        np.testing.assert_array_equal(curve["accuracy"], expected)


def test_attack_is_reproducible_and_independent_of_batch_size(mlp, digits):
    r = sl.relevance(mlp, digits[0], target=digits[1], semiring=sl.Counting())
    curves = [attack_curve(mlp, digits, r, temperature=3.0, seed=11, batch_size=b)["accuracy"]
              for b in (1, 6, 256, 256)]
    for other in curves[1:]:
        np.testing.assert_array_equal(curves[0], other)


def test_the_uniform_draw_ignores_the_relevance(mlp, digits):
    rng = np.random.default_rng(0)
    given = [sl.Real(), sl.Boolean(), rng.normal(size=(20, 28, 28)),
             rng.normal(size=(20, 28, 28)) * 1e6, np.zeros((20, 28, 28))]
    curves = [attack_curve(mlp, digits, r, distribution="uniform", seed=2)["accuracy"]
              for r in given]
    for other in curves[1:]:
        np.testing.assert_array_equal(curves[0], other)
    # a relevance-guided draw does depend on it
    spare = attack_curve(mlp, digits, given[3], seed=2)["accuracy"]
    hit = attack_curve(mlp, digits, given[3], distribution="softmax(R)", seed=2)["accuracy"]
    assert not np.array_equal(spare, hit)


def test_draws_follow_equation_3_3_1():
    """The first pixel drawn is i with probability exp(-R_i) / sum_j exp(-R_j),
    the second in proportion to the same weights among the others."""
    r = np.array([0.0, 0.5, 1.0, 2.0, -1.0])
    p = np.exp(-r) / np.exp(-r).sum()
    draws = np.array([draw_order(-r, np.random.default_rng([4, i]), 2) for i in range(20000)])
    first = np.bincount(draws[:, 0], minlength=5) / len(draws)
    np.testing.assert_allclose(first, p, atol=0.012)
    after_last = draws[draws[:, 0] == 4, 1]
    rest = np.where(np.arange(5) == 4, 0, p) / (1 - p[4])
    np.testing.assert_allclose(np.bincount(after_last, minlength=5) / len(after_last), rest,
                               atol=0.02)


def test_smaller_counts_draw_a_prefix_and_huge_relevance_still_draws():
    log_weights = -np.random.default_rng(0).normal(size=(28, 28)) * 1e9  # exp underflows
    whole = draw_order(log_weights, np.random.default_rng([7, 3]), 784)
    np.testing.assert_array_equal(np.sort(whole), np.arange(784))
    for count in (0, 1, 50, 783):
        np.testing.assert_array_equal(
            draw_order(log_weights, np.random.default_rng([7, 3]), count), whole[:count])
    # weights this far apart leave no room for chance: the heaviest go first
    np.testing.assert_array_equal(whole, np.argsort(-log_weights.ravel()))


def test_attack_errors_name_the_problem(mlp, digits):
    r = np.zeros((20, 28, 28))
    for kwargs, error, match in (
            ({"temperature": 0}, ValueError, "above 0"),
            ({"temperature": -1.0}, ValueError, "above 0"),
            ({"temperature": float("nan")}, ValueError, "above 0"),
            ({"pixels": [0, 785]}, ValueError, "784, the number of pixels"),
            ({"pixels": [50, 10]}, ValueError, "increasing"),
            ({"pixels": [0.5]}, TypeError, "pixel counts"),
            ({"distribution": "softmax"}, ValueError, "distribution must be"),
            ({"seed": -1}, ValueError, "seed"),
            ({"target": "labels"}, ValueError, "target must be")):
        with pytest.raises(error, match=match):
            attack_curve(mlp, digits, r, **kwargs)
    with pytest.raises(ValueError, match="one map per image"):
        attack_curve(mlp, digits, r[:5])
    with pytest.raises(ValueError, match="per pixel"):
        attack_curve(mlp, digits, np.zeros((20, 28, 27)))
    with pytest.raises(ValueError, match="NaN"):
        attack_curve(mlp, digits, np.full((20, 28, 28), np.nan))
    with pytest.raises(TypeError, match="give an instance"):
        attack_curve(mlp, digits, sl.Real)
    with pytest.raises(ValueError, match="needs labels"):
        attack_curve(mlp, digits[0], r)
