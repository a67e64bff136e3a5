"""`semiring-lrp perturb`: figures 3.5 and 3.6 from the command line."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp.apps import attack_curve, occlusion_map
from semiring_lrp.cli import main
from semiring_lrp.cli_perturb import DRAWS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]
SEMIRINGS = {"real": sl.Real(), "boolean": sl.Boolean(1e-9), "counting": sl.Counting(1e-9),
             "viterbi": sl.Viterbi(), "none": sl.Real()}   # the uniform draw reads none


def run_perturb(tmp_path, capsys, *options):
    status = main(["perturb", "--output-prefix", str(tmp_path / "perturb"), "--no-progress",
                   *options])
    out, err = capsys.readouterr()
    return status, out, err


def read_rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def assert_outputs_equal_the_library(tmp_path, net, test, patch, pixels):
    for name in ("occlusion", "attack"):
        assert (tmp_path / f"perturb_{name}.png").read_bytes()[:8] == PNG_SIGNATURE
    drop = occlusion_map(net, test, patch=patch, by="label", batch_size=500)
    rows = read_rows(tmp_path / "perturb_occlusion.csv")
    written = np.full(drop.shape, np.inf)
    for row in rows:
        written[int(row["class"]), int(row["row"]), int(row["col"])] = float(row["drop"])
    assert len(rows) == drop.size
    np.testing.assert_array_equal(written, drop)
    rows = read_rows(tmp_path / "perturb_attack.csv")
    assert len(rows) == len(DRAWS) * len(pixels)
    for distribution, relevance in DRAWS:
        relevance = relevance or "none"
        mine = [row for row in rows if (row["distribution"], row["relevance"]) ==
                (distribution, relevance)]
        expected = attack_curve(net, test, SEMIRINGS[relevance], pixels=pixels,
                                distribution=distribution, seed=0, batch_size=500)
        assert [int(row["pixels"]) for row in mine] == list(expected["pixels"])
        np.testing.assert_array_equal([float(row["accuracy"]) for row in mine],
                                      expected["accuracy"])


def test_mlp_outputs_equal_the_library(tmp_path, capsys):
    status, out, err = run_perturb(tmp_path, capsys, "--limit", "300", "--pixels",
                                   "0,50,120,200")
    assert status == 0, err
    net, test = sl.models.mnist_mlp(), sl.datasets.MNIST("test")[:300]
    assert_outputs_equal_the_library(tmp_path, net, test, 4, [0, 50, 120, 200])
    assert "300 test images, 4x4 patches" in out
    assert "draw                    50 px   200 px" in out
    assert "softmax(-R) viterbi" in out and "uniform" in out


def test_cnn_with_another_patch(tmp_path, capsys):
    status, out, err = run_perturb(tmp_path, capsys, "--model", "mnist_cnn", "--limit", "60",
                                   "--patch", "7", "--pixels", "0,30")
    assert status == 0, err
    net = sl.models.mnist_cnn()
    test = sl.datasets.shaped_for(net, sl.datasets.MNIST("test"))[:60]
    assert_outputs_equal_the_library(tmp_path, net, test, 7, [0, 30])
    # no 50 or 200 pixel column to show
    assert "px" not in out


@pytest.mark.parametrize("options,words", [
    (["--pixels", "0,50,900"], "pixels [0, 50, 900] go beyond 0 to 784"),
    (["--pixels", "50,10"], "must be increasing"),
    (["--pixels", "10,a"], "is not a list of whole numbers"),
    (["--model", "vgg16"], "--model vgg16 is not supported by semiring-lrp perturb"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--patch", "29"], "patch (29, 29) must be at least 1 and at most the image size"),
    (["--temperature", "0"], "--temperature must be a finite number above 0"),
    (["--seed", "-1"], "--seed must be 0 or more"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, options, words):
    status, out, err = run_perturb(tmp_path, capsys, "--limit", "20", *options)
    assert status == 2
    errors = [line for line in err.splitlines() if line.startswith("semiring-lrp: error: ")]
    assert len(errors) == 1 and words in errors[0], err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_command_in_a_subprocess(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "semiring_lrp", "perturb", "--limit", "200",
                           "--pixels", "0,100", "--no-progress", "--output-prefix", "quick"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "quick_attack.csv" in done.stdout
    rows = read_rows(tmp_path / "quick_attack.csv")
    assert len(rows) == 2 * len(DRAWS)
    before = {float(row["accuracy"]) for row in rows if row["pixels"] == "0"}
    assert len(before) == 1 and before.pop() > 0.9
    assert len(read_rows(tmp_path / "quick_occlusion.csv")) == 10 * 7 * 7
