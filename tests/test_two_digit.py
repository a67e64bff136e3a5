"""The shipped two-digit MLP (paper section 3.1) on the two-digit set built
from the shipped MNIST test split, and a tiny run of its training script."""
import os
import subprocess
import sys

import numpy as np
import pytest
from reference import check_trained_file

import semiring_lrp as sl

TRAIN_SCRIPT = "train_two_digit_mlp.py"  # in the checkout's scripts/
EXPECTED_SHAPES = {
    "fc1.weight": (300, 1568), "fc1.bias": (300,),
    "fc2.weight": (100, 300), "fc2.bias": (100,),
    "fc3.weight": (10, 100), "fc3.bias": (10,),
}
# One epoch on 500 images reaches 0.49 with seed 0 (chance: 0.1).
TINY_RUN_BAR = 0.3


@pytest.fixture(scope="module")
def net():
    return sl.models.two_digit_mlp()


@pytest.fixture(scope="module")
def test_set():
    images, labels = sl.datasets.two_digit_mnist("test", seed=0)
    return sl.models.mnist_input(images), labels


def test_accuracy_is_the_recorded_one(net, test_set):
    x, labels = test_set
    assert net.input_shape == (56, 28) and x.shape == (10000, 56, 28)
    accuracy = float(np.mean(net.forward(x).argmax(axis=1) == labels))
    assert accuracy >= 0.95
    with np.load(sl.models._data_file("two_digit_mlp.npz")) as d:
        assert set(d.files) == set(EXPECTED_SHAPES) | {"test_accuracy", "seed"}
        for name, shape in EXPECTED_SHAPES.items():
            assert d[name].shape == shape and d[name].dtype == np.float32, name
        assert accuracy == pytest.approx(float(d["test_accuracy"]), abs=1e-4)
        assert int(d["seed"]) == 0


def test_dataset_objects_feed_the_model(net, test_set):
    x, labels = sl.datasets.TwoDigitMNIST("test", seed=0).load(100, 200)
    np.testing.assert_array_equal(x, test_set[0][100:200])
    np.testing.assert_array_equal(net.forward(x), net.forward(test_set[0][100:200]))


def test_relevance_lies_mostly_on_the_upper_digit(net, test_set):
    """The label is the upper digit's: LRP-0 puts more relevance there than
    on the lower digit in almost every image."""
    x, labels = test_set
    r = sl.relevance(net, x[:200], target=labels[:200])
    upper = np.abs(r[:, :28]).sum(axis=(1, 2))
    lower = np.abs(r[:, 28:]).sum(axis=(1, 2))
    assert np.mean(upper > lower) >= 0.9


def test_float64_copy_agrees(net, test_set):
    x = test_set[0][:20]
    np.testing.assert_allclose(sl.models.two_digit_mlp(np.float64).forward(x),
                               net.forward(x), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_training_script_tiny_run(tmp_path, mnist_dir, source_scripts):
    import torch  # noqa: F401  the script needs it; fail here, not in the subprocess

    out = tmp_path / "t.npz"
    subprocess.run(
        [sys.executable, str(source_scripts / TRAIN_SCRIPT), "--data", str(mnist_dir),
         "--epochs", "1", "--limit", "500", "--out", str(out)],
        check=True, timeout=300, cwd=tmp_path,
    )
    check_trained_file(out, EXPECTED_SHAPES, TINY_RUN_BAR)


def test_training_script_names_the_missing_folder(tmp_path, source_scripts):
    pytest.importorskip("torch")  # the script imports it before reading its arguments
    env = {key: value for key, value in os.environ.items() if key != "SEMIRING_LRP_MNIST"}
    result = subprocess.run([sys.executable, str(source_scripts / TRAIN_SCRIPT),
                             "--out", str(tmp_path / "t.npz")],
                            env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 2
    assert "give --data DIR or set SEMIRING_LRP_MNIST" in result.stderr
    assert "train-images-idx3-ubyte" in result.stderr
