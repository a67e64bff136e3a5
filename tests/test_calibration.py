"""sl.calibrate_thresholds: per-layer thresholds for a target density, met
within the stated tolerance on the data they were calibrated on."""
import warnings

import numpy as np
import pytest

import semiring_lrp as sl


@pytest.fixture(scope="module")
def test_digits():
    images, labels = sl.datasets.mnist("test")
    return sl.models.mnist_input(images[:300]), labels[:300].astype(np.int64)


def densities_of_a_pass(net, x, semiring, **kwargs):
    """{weighted layer name: density of the relevance entering it}, from a
    relevance pass of its own. The density is a mean over the samples: a
    few samples' relevance may die (a RelevanceWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.RelevanceWarning)
        _, layers = sl.relevance(net, x, semiring=semiring, return_all=True, **kwargs)
    density = layers.density()
    return {net.names[i]: density[i] for i in net.weighted_layers}


def assert_met(net, x, calibrated, goal, semiring, **kwargs):
    achieved = densities_of_a_pass(net, x, semiring, **kwargs)
    assert achieved == pytest.approx(calibrated.density, abs=1e-12)
    for name, value in achieved.items():
        assert abs(value - goal) <= calibrated.rtol * goal, (name, value, goal)


def test_calibrated_thresholds_meet_their_density_on_the_mlp(mlp, test_digits):
    x, _ = test_digits
    for goal in (0.05, 0.1):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            calibrated = sl.calibrate_thresholds(mlp, x, sl.Boolean(), density=goal)
        assert list(calibrated) == ["fc1", "fc2", "fc3"]
        assert calibrated.rtol == 0.01 and calibrated.samples == 300
        assert calibrated.target == {"fc1": goal, "fc2": goal, "fc3": goal}
        # a plain dict of the thresholds, in Boolean and in Counting
        assert_met(mlp, x, calibrated, goal, sl.Boolean(threshold=dict(calibrated)))
        assert_met(mlp, x, calibrated, goal, sl.Counting(threshold=calibrated))
        assert_met(mlp, x, calibrated, goal, calibrated.semiring)
        assert isinstance(calibrated.semiring, sl.Boolean)


def test_a_higher_density_needs_lower_thresholds(mlp, test_digits):
    x, _ = test_digits
    sparse = sl.calibrate_thresholds(mlp, x, density=0.03)
    dense = sl.calibrate_thresholds(mlp, x, density=0.15)
    assert all(dense[name] < sparse[name] for name in sparse)


def test_counting_absolute_labels_and_a_dataset(cnn):
    data = sl.datasets.MNIST("test")[:96]  # (28, 28) digits, reshaped for the CNN
    x, labels = data.load(0, 96)
    semiring = sl.Counting(absolute=True, pool_threshold=0.3)
    calibrated = sl.calibrate_thresholds(cnn, data, semiring, density=0.08, target="label",
                                         batch_size=40)
    assert isinstance(calibrated.semiring, sl.Counting)
    assert calibrated.semiring.absolute and calibrated.semiring.pool_threshold == 0.3
    assert list(calibrated) == ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2"]
    assert_met(cnn, x[:, None], calibrated, 0.08, calibrated.semiring, target=labels)


def test_batches_do_not_change_the_thresholds(mlp, test_digits):
    x, labels = test_digits
    whole = sl.calibrate_thresholds(mlp, (x[:100], labels[:100]), density=0.1,
                                    target="label", batch_size=100)
    pieces = sl.calibrate_thresholds(mlp, (x[:100], labels[:100]), density=0.1,
                                     target=labels[:100], batch_size=7)
    assert dict(whole) == dict(pieces)


def test_layers_left_out_keep_the_semirings_threshold(mlp, test_digits):
    x, _ = test_digits
    semiring = sl.Boolean(threshold=[1e-9, 1e-3, 1e-2])
    calibrated = sl.calibrate_thresholds(mlp, x, semiring, density={"fc1": 0.05})
    assert (calibrated["fc2"], calibrated["fc3"]) == (1e-3, 1e-2)
    assert calibrated.target == {"fc1": 0.05, "fc2": None, "fc3": None}
    achieved = densities_of_a_pass(mlp, x, calibrated.semiring)
    assert abs(achieved["fc1"] - 0.05) <= 0.01 * 0.05
    assert achieved == pytest.approx(calibrated.density, abs=1e-12)
    listed = sl.calibrate_thresholds(mlp, x, semiring, density=[0.05, None, None])
    assert dict(listed) == dict(calibrated)


def test_a_density_beyond_reach_warns_and_takes_the_closest(mlp, test_digits):
    x, _ = test_digits
    # under a positive threshold only pixels that are not blank can be relevant
    lit = np.count_nonzero(x) / x.size
    with pytest.warns(sl.CalibrationWarning, match=r"'fc1' \(1, Linear\(784, 300\)\)"):
        calibrated = sl.calibrate_thresholds(mlp, x, density={"fc1": 0.5})
    assert calibrated.density["fc1"] <= lit < 0.5
    assert calibrated.density["fc1"] > 0.95 * lit


def test_vgg16_random_weights():
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = sl.from_torch(torchvision.models.vgg16(weights=None).eval())
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    calibrated = sl.calibrate_thresholds(net, x, sl.Boolean(absolute=True), density=0.1)
    assert len(calibrated) == 16 and list(calibrated)[0] == "features.0"
    assert_met(net, x, calibrated, 0.1, calibrated.semiring)


def test_bad_arguments_name_the_problem(mlp, test_digits):
    x, _ = test_digits
    with pytest.raises(TypeError, match="Boolean and Counting thresholds; Real"):
        sl.calibrate_thresholds(mlp, x, sl.Real())
    with pytest.raises(TypeError, match="Viterbi"):
        sl.calibrate_thresholds(mlp, x, sl.Viterbi())
    with pytest.raises(TypeError, match="the class Boolean; give an instance"):
        sl.calibrate_thresholds(mlp, x, sl.Boolean)
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"density is .*fraction in \(0, 1\]"):
            sl.calibrate_thresholds(mlp, x, density=bad)
    with pytest.raises(TypeError, match="density must be a fraction"):
        sl.calibrate_thresholds(mlp, x, density="0.1")
    with pytest.raises(ValueError, match="got 2 densities for 3 weighted layers"):
        sl.calibrate_thresholds(mlp, x, density=[0.1, 0.1])
    with pytest.raises(ValueError, match="no layer is named 'fc9'"):
        sl.calibrate_thresholds(mlp, x, density={"fc9": 0.1})
    with pytest.raises(ValueError, match="has no weights"):
        sl.calibrate_thresholds(mlp, x, density={"relu1": 0.1})
    with pytest.raises(ValueError, match="target='label' needs labels"):
        sl.calibrate_thresholds(mlp, x, target="label")
    with pytest.raises(ValueError, match="target has shape"):
        sl.calibrate_thresholds(mlp, x, target=[1, 2])
    with pytest.raises(ValueError, match="rtol is 0"):
        sl.calibrate_thresholds(mlp, x, rtol=0)
    with pytest.raises(ValueError, match="batch_size"):
        sl.calibrate_thresholds(mlp, x, batch_size=0)
    with pytest.raises(ValueError, match="the network takes"):
        sl.calibrate_thresholds(mlp, np.zeros((3, 5, 5), np.float32))
