"""`semiring-lrp prune`: figure 3.4 from the command line."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp.apps import neuron_scores, pruning_curve
from semiring_lrp.cli import main
from semiring_lrp.cli_prune import CRITERIA

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]
SMALL = ["--train-limit", "300", "--test-limit", "300"]


def run_prune(tmp_path, capsys, *options):
    status = main(["prune", "--output", str(tmp_path / "prune.png"), "--no-progress", *options])
    out, err = capsys.readouterr()
    return status, out, err


def read_rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def curves_of(rows):
    """{criterion: {"pruned", "accuracy", "loss"}} from the CSV's rows."""
    curves = {}
    for row in rows:
        curve = curves.setdefault(row["criterion"], {"pruned": [], "accuracy": [], "loss": []})
        curve["pruned"].append(int(row["pruned"]))
        curve["accuracy"].append(float(row["accuracy"]))
        curve["loss"].append(float(row["loss"]))
    return curves


def expected_curves(net, layer, train, test, steps, names):
    """What the library gives for the same criteria, data, steps and batch
    size (the command's default 500; the loss's last bit depends on it)."""
    curves = {}
    for name in names:
        scores = neuron_scores(net, train, layer, batch_size=500, progress=False,
                               **CRITERIA[name])
        curves[name] = pruning_curve(net, scores, layer, test, steps=steps, batch_size=500)
    return curves


def assert_same_curves(written, expected):
    assert list(written) == list(expected)
    for name, curve in expected.items():
        for key in ("pruned", "accuracy", "loss"):
            np.testing.assert_array_equal(written[name][key], curve[key], err_msg=name)


def test_every_criterion_on_the_mlp_equals_the_library(tmp_path, capsys, mnist_dir):
    status, out, err = run_prune(tmp_path, capsys, *SMALL, "--steps", "0,100,200,250,300")
    assert status == 0, err
    assert (tmp_path / "prune.png").read_bytes()[:8] == PNG_SIGNATURE
    rows = read_rows(tmp_path / "prune.csv")
    assert len(rows) == 7 * 5
    net = sl.models.mnist_mlp()
    expected = expected_curves(net, "fc1", sl.datasets.MNIST("train")[:300],
                               sl.datasets.MNIST("test")[:300], [0, 100, 200, 250, 300],
                               CRITERIA)
    assert_same_curves(curves_of(rows), expected)
    # the table: the counts nearest 1/3, 2/3 and 5/6 of the 300 neurons
    assert "criterion     100     200     250" in out
    assert f"real       {expected['real']['accuracy'][1]:6.4f}" in out


def test_cnn_filters_with_evenly_spaced_steps(tmp_path, capsys, mnist_dir):
    status, out, err = run_prune(tmp_path, capsys, "--model", "mnist_cnn", "--train-limit",
                                 "40", "--test-limit", "100", "--steps", "3", "--criteria",
                                 "viterbi,l2", "--data", str(mnist_dir))
    assert status == 0, err
    net = sl.models.mnist_cnn()
    shaped = [sl.datasets.shaped_for(net, sl.datasets.MNIST(split)) for split in
              ("train", "test")]
    expected = expected_curves(net, "conv4", shaped[0][:40], shaped[1][:100], 3,
                               ["viterbi", "l2"])
    written = curves_of(read_rows(tmp_path / "prune.csv"))
    assert written["l2"]["pruned"] == [0, 16, 32]
    assert_same_curves(written, expected)
    assert "conv4: 32 neurons ranked on 40 training images" in out


@pytest.mark.parametrize("options,words", [
    (["--criteria", "real,l3"], "unknown criterion 'l3' in --criteria"),
    (["--criteria", "l1,l1"], "names a criterion twice"),
    (["--steps", "0,100,400"], "--steps: steps [0, 100, 400] go beyond 0 to 300"),
    (["--steps", "1"], "--steps: steps=1"),
    (["--steps", "0,x"], "is not a list of whole numbers"),
    (["--layer", "relu1"], "has no weights"),
    (["--model", "vgg16"], "--model vgg16 is not supported by semiring-lrp prune"),
    (["--train-limit", "0"], "--train-limit must be at least 1"),
    (["--model", "no_such_file.npz"], "no such file"),
    (["--data", "no_such_folder"], "no_such_folder"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, options, words):
    status, out, err = run_prune(tmp_path, capsys, *options)
    assert status == 2
    # one error line naming the problem (argparse's usage lines may precede it)
    errors = [line for line in err.splitlines() if line.startswith("semiring-lrp: error: ")]
    assert len(errors) == 1 and words in errors[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "prune.png").exists()


def test_missing_training_split_names_the_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEMIRING_LRP_MNIST", raising=False)
    status, out, err = run_prune(tmp_path, capsys, *SMALL)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("semiring-lrp: error: ")
    assert "SEMIRING_LRP_MNIST" in err and "--data DIR" in err
    assert not (tmp_path / "prune.png").exists()


def test_command_in_a_subprocess(tmp_path, mnist_dir):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "semiring_lrp", "prune", *SMALL, "--steps",
                           "0,150,300", "--criteria", "boolean,random", "--no-progress"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = read_rows(tmp_path / "prune.csv")
    assert [(row["criterion"], row["pruned"]) for row in rows] == [
        (name, count) for name in ("boolean", "random") for count in ("0", "150", "300")]
    assert all(float(row["accuracy"]) <= 0.2 for row in rows if row["pruned"] == "300")
    assert (tmp_path / "prune.png").read_bytes()[:8] == PNG_SIGNATURE
