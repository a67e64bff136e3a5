"""`semiring-lrp mask`: class masks of a dataset from the command line."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp.apps import class_mask
from semiring_lrp.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mlp_masks():
    """The masks the default command computes, from the library."""
    return class_mask(sl.models.mnist_mlp(), sl.datasets.MNIST("test"), combine=("or", "and"),
                      progress=False)


def run_mask(tmp_path, capsys, *options):
    status = main(["mask", "--output", str(tmp_path / "mask.png"), "--no-progress", *options])
    out, err = capsys.readouterr()
    return status, out, err


def test_default_run_masks_the_10000_test_digits(tmp_path, capsys, mlp_masks):
    status, out, err = run_mask(tmp_path, capsys)
    assert status == 0, err
    assert (tmp_path / "mask.png").read_bytes()[:8] == PNG_SIGNATURE
    for combine in ("or", "and"):
        saved = np.load(tmp_path / f"mask_{combine}.npy")
        assert saved.dtype == np.bool_ and saved.shape == (10, 28, 28)
        np.testing.assert_array_equal(saved, mlp_masks[combine])
        assert f"mask_{combine}.npy" in out
    assert "10000 images in" in out
    counts = np.bincount(sl.datasets.mnist("test")[1], minlength=10)
    assert "images per class: " + ", ".join(f"{k}: {n}" for k, n in enumerate(counts)) in out


def test_one_class_one_combine_a_hidden_layer(tmp_path, capsys):
    status, out, err = run_mask(tmp_path, capsys, "--class", "3", "--combine", "and",
                                "--layer", "fc2", "--limit", "400", "--semiring", "counting",
                                "--by", "prediction")
    assert status == 0, err
    saved = np.load(tmp_path / "mask_and.npy")
    assert not (tmp_path / "mask_or.npy").exists()
    net = sl.models.mnist_mlp()
    expected = class_mask(net, sl.datasets.MNIST("test")[:400], semiring=sl.Counting(1e-9),
                          combine="and", by="prediction", layer="fc2", progress=False)[3]
    assert saved.shape == (300,)
    np.testing.assert_array_equal(saved, expected)
    assert "400 images in" in out


def test_two_digit_model_over_all_images(tmp_path, capsys):
    status, out, err = run_mask(tmp_path, capsys, "--model", "two_digit_mlp", "--by", "all",
                                "--combine", "or", "--limit", "1000")
    assert status == 0, err
    mask = np.load(tmp_path / "mask_or.npy")
    assert mask.shape == (56, 28)
    assert mask[:28].sum() > 20 * mask[28:].sum()


def test_cnn_reads_the_digits_with_a_channel_axis(tmp_path, capsys):
    status, out, err = run_mask(tmp_path, capsys, "--model", "mnist_cnn", "--limit", "50",
                                "--combine", "or")
    assert status == 0, err
    assert np.load(tmp_path / "mask_or.npy").shape == (10, 1, 28, 28)


def test_idx_folder_and_training_split(tmp_path, capsys, mnist_dir):
    status, out, err = run_mask(tmp_path, capsys, "--data", str(mnist_dir), "--split",
                                "train", "--limit", "300", "--combine", "or")
    assert status == 0, err
    images, labels = sl.datasets.mnist("train", root=mnist_dir)
    expected = class_mask(sl.models.mnist_mlp(), (sl.models.mnist_input(images[:300]),
                                                  labels[:300]), combine="or", progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "mask_or.npy"), expected)


@pytest.mark.parametrize("options,words", [
    (["--model", "vgg16"], "--model vgg16 needs --weights FILE and --data DIR"),
    (["--weights", "w.pth"], "--weights applies to --model vgg16 only"),
    (["--semiring", "real", "--threshold", "0.1"], "--threshold applies to"),
    (["--class", "10"], "--class 10 is out of range"),
    (["--class", "1", "--by", "all"], "--class picks one class"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--layer", "fc9"], "no layer is named 'fc9'"),
    (["--model", "no_such_file.npz"], "no such file"),
    (["--data", "no_such_folder"], "no_such_folder"),
    (["--workers", "1", "--scheduler", "tcp://x:1"], "not allowed with argument"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, options, words):
    status, out, err = run_mask(tmp_path, capsys, *options)
    assert status == 2
    assert words in err
    assert "Traceback" not in err
    assert not (tmp_path / "mask.png").exists()


def test_local_dask_cluster_gives_the_same_masks(tmp_path):
    """--workers 2 in a real process: a local cluster of two workers."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "semiring_lrp", "mask", "--workers", "2",
                           "--limit", "3000", "--no-progress"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = class_mask(sl.models.mnist_mlp(), sl.datasets.MNIST("test")[:3000],
                          combine=("or", "and"), progress=False)
    for combine in ("or", "and"):
        np.testing.assert_array_equal(np.load(tmp_path / f"mask_{combine}.npy"),
                                      expected[combine])
