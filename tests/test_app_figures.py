"""The section 3 figures (semiring_lrp.apps.figures) drawn from real results
of the applications on the shipped MLP and digits."""
import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp.apps.figures import attack_figure, occlusion_figure, pruning_figure
from semiring_lrp.apps.perturbation import attack_curve, occlusion_map
from semiring_lrp.apps.pruning import neuron_scores, pruning_curve

pytest.importorskip("matplotlib")

SIGNATURES = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF", ".svg": b"<?xml"}


def test_pruning_figure(mlp, digits, tmp_path):
    curves = {name: pruning_curve(mlp, neuron_scores(mlp, digits, "fc1", criterion), "fc1",
                                  digits, steps=4)
              for name, criterion in (("real", "relevance"), ("l1", "l1"), ("l2", "l2"))}
    for suffix, signature in SIGNATURES.items():
        path = tmp_path / f"pruning{suffix}"
        fig = pruning_figure(curves, path=path)
        assert path.read_bytes().startswith(signature)
    accuracy, loss = fig.axes
    assert [line.get_label() for line in accuracy.get_lines()] == ["real", "l1", "l2"]
    np.testing.assert_array_equal(loss.get_lines()[1].get_ydata(), curves["l1"]["loss"])
    np.testing.assert_array_equal(accuracy.get_lines()[0].get_xdata(), [0, 100, 200, 300])


def test_occlusion_figure(mlp, digits, tmp_path):
    per_class = occlusion_map(mlp, (digits[0][:8], digits[1][:8]), patch=7, by="label")
    fig = occlusion_figure(per_class, path=tmp_path / "occlusion.png")
    assert (tmp_path / "occlusion.png").read_bytes().startswith(SIGNATURES[".png"])
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 10  # classes 4 to 9 have no images: blank panels
    np.testing.assert_array_equal(panels[2].images[0].get_array(), per_class[2])
    one = occlusion_figure(occlusion_map(mlp, digits, patch=7))
    assert len([ax for ax in one.axes if ax.images]) == 1
    with pytest.raises(ValueError, match="rows, cols"):
        occlusion_figure(np.zeros(7))


def test_attack_figure(mlp, digits, tmp_path):
    pixels = [0, 50, 200]
    curves = {"real": attack_curve(mlp, digits, sl.Real(), pixels=pixels, temperature=0.01),
              "softmax(R)": attack_curve(mlp, digits, sl.Real(), pixels=pixels,
                                         distribution="softmax(R)", temperature=0.01),
              "uniform": attack_curve(mlp, digits, sl.Real(), pixels=pixels,
                                      distribution="uniform")}
    fig = attack_figure(curves, path=tmp_path / "attack.pdf")
    assert (tmp_path / "attack.pdf").read_bytes().startswith(SIGNATURES[".pdf"])
    top, bottom = fig.axes
    assert len(top.get_lines()) == 3
    differences = [line for line in bottom.get_lines() if line.get_label() == "real"]
    np.testing.assert_allclose(differences[0].get_ydata(),
                               curves["real"]["accuracy"] - curves["uniform"]["accuracy"])
    assert len(attack_figure(curves, baseline=None).axes) == 1
    with pytest.raises(ValueError, match="baseline 'random' is not one of the curves"):
        attack_figure(curves, baseline="random")
    with pytest.raises(ValueError, match="different pixel counts"):
        attack_figure({"uniform": curves["uniform"],
                       "other": {"pixels": [0, 1, 2], "accuracy": [1, 1, 1]}})
    with pytest.raises(ValueError, match="not a result of attack_curve"):
        attack_figure({"uniform": {"accuracy": [1.0]}})
    with pytest.raises(TypeError, match="non-empty dict"):
        pruning_figure([])
