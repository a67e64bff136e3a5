"""The heatmap pictures (semiring_lrp.viz) and the semiring-lrp command."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

import semiring_lrp as sl
from semiring_lrp import viz
from semiring_lrp.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]
SEMIRINGS = {"real": sl.Real(), "boolean": sl.Boolean(threshold=1e-9),
             "counting": sl.Counting(threshold=1e-9), "viterbi": sl.Viterbi()}


@pytest.fixture(scope="module")
def net():
    return sl.models.mnist_mlp()


@pytest.fixture(scope="module")
def digit():
    images, labels = sl.models.mnist_digits()
    return images[0], int(labels[0])


def assert_png(path):
    path = Path(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100


def relevance_image(fig):
    """The AxesImage of the relevance panel (the second panel)."""
    return fig.axes[1].images[0]


# ---------------------------------------------------------------- heatmap

@pytest.mark.parametrize("kind", list(SEMIRINGS))
def test_heatmap_writes_png_for_each_kind(tmp_path, net, digit, kind):
    x = sl.models.mnist_input(digit[0])
    r = sl.relevance(net, x, semiring=SEMIRINGS[kind])
    path = tmp_path / f"{kind}.png"
    fig = viz.heatmap(x, r, kind, path=path, target=0)
    assert_png(path)
    assert len(fig.axes) == 3  # input, relevance, colour bar
    assert "output neuron 0" in fig.axes[1].get_title()


@pytest.mark.parametrize("kind", list(SEMIRINGS))
def test_heatmap_accepts_a_semiring_instance(net, digit, kind):
    x = sl.models.mnist_input(digit[0])
    semiring = SEMIRINGS[kind]
    r = sl.relevance(net, x, semiring=semiring)
    by_instance = relevance_image(viz.heatmap(x, r, semiring))
    by_name = relevance_image(viz.heatmap(x, r, kind))
    assert by_instance.get_clim() == by_name.get_clim()
    assert by_instance.get_cmap().name == by_name.get_cmap().name


def test_real_scale_is_symmetric_so_zero_is_white(net, digit):
    x = sl.models.mnist_input(digit[0])
    r = sl.relevance(net, x)
    shown = relevance_image(viz.heatmap(x, r, "real"))
    vmin, vmax = shown.get_clim()
    assert vmin == -vmax
    assert vmax == pytest.approx(float(np.max(np.abs(r))))
    assert shown.get_cmap().name == "bwr"
    assert shown.norm(0.0) == pytest.approx(0.5)
    red, green, blue, _ = shown.to_rgba(0.0)
    assert min(red, green, blue) > 0.99  # white
    red, _, blue, _ = shown.to_rgba(vmax)
    assert red > 0.9 and blue < 0.1  # positive is red
    red, _, blue, _ = shown.to_rgba(vmin)
    assert blue > 0.9 and red < 0.1  # negative is blue


def test_all_zero_relevance_does_not_crash(tmp_path):
    image = np.zeros((28, 28), dtype=np.uint8)
    zeros = np.zeros((28, 28))
    fig = viz.heatmap(image, zeros, "real", path=tmp_path / "z.png")
    assert relevance_image(fig).get_clim() == (-1.0, 1.0)
    fig = viz.heatmap(image, zeros.astype(np.int64), "counting", path=tmp_path / "c.png")
    assert relevance_image(fig).get_clim() == (0.0, 1.0)
    assert "highest relevance is 0" in fig.axes[1].get_title()
    assert_png(tmp_path / "c.png")


def test_boolean_colour_bar_has_ticks_f_and_t(net, digit):
    x = sl.models.mnist_input(digit[0])
    r = sl.relevance(net, x, semiring=sl.Boolean())
    fig = viz.heatmap(x, r, "boolean")
    bar = fig.axes[2]
    labels = [t.get_text() for t in bar.get_yticklabels()]
    assert labels == ["F", "T"]
    assert list(bar.get_yticks()) == [0, 1]
    shown = relevance_image(fig)
    assert shown.get_cmap().N == 2
    assert shown.to_rgba(0.0) != shown.to_rgba(1.0)


def test_boolean_relevance_lies_on_the_strokes(net, digit):
    """Blank pixels have activation 0, so no path from them is relevant."""
    x = sl.models.mnist_input(digit[0])
    r = sl.relevance(net, x, semiring=sl.Boolean())
    assert r.any()
    assert not r[x == 0].any()


def test_counting_title_gives_the_highest_count(net, digit):
    x = sl.models.mnist_input(digit[0])
    r = sl.relevance(net, x, semiring=sl.Counting())
    highest = int(r.max())
    assert highest > 1
    fig = viz.heatmap(x, r, "counting", title="a zero")
    assert f"highest relevance is {highest}" in fig.axes[1].get_title()
    assert fig.get_suptitle() == "a zero"
    assert relevance_image(fig).get_clim() == (0.0, float(highest))
    ticks = fig.axes[2].get_yticks()
    assert np.all(ticks == np.round(ticks))


def test_viterbi_scale_is_zero_to_one(net, digit):
    x = sl.models.mnist_input(digit[0])
    r = sl.relevance(net, x, semiring=sl.Viterbi())
    assert relevance_image(viz.heatmap(x, r, "viterbi")).get_clim() == (0.0, 1.0)


def test_counting_title_is_exact_past_float_precision():
    r = np.zeros((4, 4), dtype=np.int64)
    r[0, 0] = 2**60 + 1
    fig = viz.heatmap(np.zeros((4, 4)), r, "counting")
    assert str(2**60 + 1) in fig.axes[1].get_title()


class Tropical(sl.Semiring):
    def zero(self):
        return np.inf

    def one(self):
        return 0.0


class Paths(sl.Semiring):
    def zero(self):
        return np.int64(0)

    def one(self):
        return np.int64(1)


def test_kind_of():
    assert [viz.kind_of(s) for s in SEMIRINGS.values()] == list(SEMIRINGS)
    assert viz.kind_of(Tropical()) == "real"
    assert viz.kind_of(Paths()) == "counting"
    with pytest.raises(TypeError, match="Semiring"):
        viz.kind_of("real")


@pytest.mark.parametrize("image, r, error, words", [
    (np.zeros((28, 28)), np.zeros((27, 28)), ValueError, "shape"),
    (np.zeros(784), np.zeros(784), ValueError, "2-D"),
    (np.zeros((28, 28)), np.full((28, 28), np.nan), ValueError, "NaN"),
    (np.zeros((28, 28)), np.full((28, 28), "a"), TypeError, "relevance"),
])
def test_heatmap_rejects_bad_arrays(image, r, error, words):
    with pytest.raises(error, match=words):
        viz.heatmap(image, r, "real")


def test_heatmap_grayscale_input_panel_is_gray(tmp_path, net, digit):
    x = sl.models.mnist_input(digit[0])
    fig = viz.heatmap(x, sl.relevance(net, x), "real", path=tmp_path / "g.png")
    assert fig.axes[0].images[0].get_array().shape == (28, 28)
    assert fig.axes[0].images[0].get_cmap().name == "gray"
    assert channel_spread(left_panel(tmp_path / "g.png")) < 0.01


def left_panel(path):
    """The RGB pixels of the left third of a heatmap PNG: the input panel."""
    pixels = mpimg.imread(path)[..., :3]
    return pixels[:, : pixels.shape[1] // 3]


def channel_spread(pixels):
    """The largest difference between the colour channels of one pixel: 0 for gray."""
    return float(np.max(np.ptp(pixels, axis=-1)))


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("kind", list(SEMIRINGS))
def test_heatmap_rgb_image_is_drawn_in_colour(tmp_path, kind, dtype):
    rng = np.random.default_rng(0)
    crop = rng.uniform(0, 1, size=(32, 40, 3))
    crop = (crop * 255).astype(np.uint8) if dtype == np.uint8 else crop.astype(dtype)
    r = rng.uniform(-1, 1, size=(32, 40))
    if kind != "real":
        r = np.abs(r) if kind == "viterbi" else (r > 0).astype(np.int64)
    path = tmp_path / "rgb.png"
    fig = viz.heatmap(crop, r, kind, path=path, target=5)
    assert_png(path)
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (32, 40, 3)
    np.testing.assert_allclose(np.asarray(shown, dtype=np.float64),
                               np.asarray(crop, dtype=np.float64))
    assert relevance_image(fig).get_array().shape == (32, 40)
    assert len(fig.axes) == 3
    assert channel_spread(left_panel(path)) > 0.5


@pytest.mark.parametrize("image, r, words", [
    (np.zeros((28, 28, 4)), np.zeros((28, 28)), ["RGB", "(28, 28, 4)"]),
    (np.zeros((28, 28, 3)), np.zeros((28, 27)), ["height and width"]),
    (np.zeros((28, 28, 3)), np.zeros((3, 28, 28)), ["aggregate_channels"]),
    (np.full((28, 28, 3), -2.0), np.zeros((28, 28)), ["[0, 1]", "normalised"]),
    (np.full((28, 28, 3), 300), np.zeros((28, 28)), ["0..255"]),
])
def test_heatmap_rejects_bad_rgb(image, r, words):
    with pytest.raises(ValueError) as caught:
        viz.heatmap(image, r, "real")
    for word in words:
        assert word in str(caught.value)


def test_heatmap_rejects_unknown_kind():
    z = np.zeros((28, 28))
    with pytest.raises(ValueError, match="tropical"):
        viz.heatmap(z, z, "tropical")
    with pytest.raises(TypeError, match="kind"):
        viz.heatmap(z, z, 3)


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    z = np.zeros((28, 28))
    with pytest.raises(ImportError, match=r'pip install "semiring_lrp\[plot\]"'):
        viz.heatmap(z, z, "real")


# ---------------------------------------------------------------- command line

def run(capsys, *args):
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def assert_usage_error(status, err, *words):
    assert status == 2
    assert "semiring-lrp: error:" in err
    assert "Traceback" not in err
    for word in words:
        assert word in err


def test_explain_default(tmp_path, capsys):
    out_path = tmp_path / "a.png"
    status, out, _ = run(capsys, "explain", "--output", str(out_path))
    assert status == 0
    assert_png(out_path)
    assert str(out_path) in out
    assert "predicted class 0, target 0" in out


@pytest.mark.parametrize("semiring", list(SEMIRINGS))
def test_explain_each_semiring(tmp_path, capsys, semiring):
    out_path = tmp_path / f"{semiring}.png"
    status, _, err = run(capsys, "explain", "--semiring", semiring, "--output", str(out_path))
    assert status == 0, err
    assert_png(out_path)


@pytest.mark.parametrize("options", [
    ["--semiring", "boolean", "--threshold", "0.1,0.2,0.3"],
    ["--semiring", "counting", "--threshold", "0.01", "--absolute"],
    ["--semiring", "boolean", "--threshold=-1e-3,0,0"],
    ["--rule", "gamma:0.25,epsilon:1e-6,zero"],
    ["--rule", "epsilon", "--init", "activation", "--dtype", "float64"],
    ["--target", "3", "--digit", "7"],
    ["--maxpool", "average"],
])
def test_explain_options(tmp_path, capsys, options):
    out_path = tmp_path / "o.png"
    status, _, err = run(capsys, "explain", *options, "--output", str(out_path))
    assert status == 0, err
    assert_png(out_path)


def test_target_and_digit_are_reported(tmp_path, capsys):
    status, out, _ = run(capsys, "explain", "--digit", "7", "--target", "3",
                         "--output", str(tmp_path / "o.png"))
    assert status == 0
    assert "predicted class 3, target 3" in out  # shipped digit 7 is a 3
    status, out, _ = run(capsys, "explain", "--digit", "7", "--target", "8",
                         "--output", str(tmp_path / "o.png"))
    assert "target 8" in out


@pytest.mark.parametrize("options, words", [
    (["--semiring", "boolean", "--threshold", "0.1,0.2"], ["2 thresholds", "3 weighted"]),
    (["--threshold", "0.1"], ["--threshold", "real"]),
    (["--semiring", "viterbi", "--absolute"], ["--absolute"]),
    (["--semiring", "counting", "--init", "activation"], ["--init activation"]),
    (["--target", "10"], ["target", "10"]),
    (["--target", "-1"], ["target"]),
    (["--digit", "20"], ["--digit", "20"]),
    (["--rule", "gamma:0.25,zero"], ["2 rules", "3 weighted"]),
    (["--rule", "sigma"], ["sigma"]),
    (["--rule", "gamma:-1"], ["gamma"]),
    (["--rule", "zero:1"], ["zero"]),
    (["--threshold", "abc", "--semiring", "boolean"], ["abc"]),
    (["--semiring", "tropical"], ["tropical"]),
    (["--digit", "1", "--image", "x.png"], ["--image", "--digit"]),
    (["--weights", "w.pth"], ["--weights", "vgg16"]),
    (["--channels", "or"], ["--channels", "vgg16"]),
    (["--maxpool", "biggest"], ["--maxpool", "biggest"]),
])
def test_bad_arguments_exit_2(tmp_path, capsys, options, words):
    status, _, err = run(capsys, "explain", *options, "--output", str(tmp_path / "o.png"))
    assert_usage_error(status, err, *words)
    assert not (tmp_path / "o.png").exists()


def test_no_command_exits_2(capsys):
    status, _, err = run(capsys)
    assert_usage_error(status, err)


def test_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0
    assert out.strip() == f"semiring-lrp {sl.__version__}"


def test_image_npy_uint8_and_float(tmp_path, capsys, digit):
    pixels, label = digit
    for name, array in (("u8.npy", pixels), ("f.npy", pixels / 255.0)):
        np.save(tmp_path / name, array)
        status, out, err = run(capsys, "explain", "--image", str(tmp_path / name),
                               "--output", str(tmp_path / "o.png"))
        assert status == 0, err
        assert f"predicted class {label}" in out
        assert_png(tmp_path / "o.png")


@pytest.mark.parametrize("mode", ["imsave RGBA", "L", "RGB"])
def test_image_png(tmp_path, capsys, digit, mode):
    pixels, label = digit
    path = tmp_path / "digit.png"
    if mode == "imsave RGBA":
        mpimg.imsave(path, pixels, cmap="gray", vmin=0, vmax=255)
    else:
        from PIL import Image  # a matplotlib dependency; writes gray and RGB PNGs

        Image.fromarray(pixels).convert(mode).save(path)
    status, out, err = run(capsys, "explain", "--image", str(path),
                           "--output", str(tmp_path / "o.png"))
    assert status == 0, err
    assert f"predicted class {label}" in out


def test_png_image_equals_the_digit(tmp_path, capsys, digit):
    """A gray PNG of the digit gives the same relevance as the shipped digit."""
    from semiring_lrp.cli import _read_image

    pixels, _ = digit
    path = tmp_path / "digit.png"
    mpimg.imsave(path, pixels, cmap="gray", vmin=0, vmax=255)
    read = _read_image(str(path), sl.models.mnist_mlp())
    assert read.shape == (28, 28)
    np.testing.assert_allclose(read, pixels / 255.0, atol=1 / 255)


@pytest.mark.parametrize("array, words", [
    (np.zeros((20, 20), dtype=np.uint8), ["20x20", "784"]),
    (np.zeros((2, 28, 28), dtype=np.uint8), ["shape (2, 28, 28)"]),
    (np.zeros((28, 28), dtype=np.int32), ["int32"]),
])
def test_bad_image_fails_clearly(tmp_path, capsys, array, words):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    status, _, err = run(capsys, "explain", "--image", str(path),
                         "--output", str(tmp_path / "o.png"))
    assert_usage_error(status, err, *words)


@pytest.mark.parametrize("name, content", [
    ("garbage.png", b"not a png at all"),
    ("garbage.npy", b"not an npy file"),
    ("digit.jpg", b""),
])
def test_unreadable_image_file_names_it(tmp_path, capsys, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    status, _, err = run(capsys, "explain", "--image", str(path),
                         "--output", str(tmp_path / "o.png"))
    assert_usage_error(status, err, str(path))


def test_missing_image_file(tmp_path, capsys):
    status, _, err = run(capsys, "explain", "--image", str(tmp_path / "none.png"))
    assert_usage_error(status, err, "none.png")


def test_model_saved_by_network_save(tmp_path, capsys, net):
    model = tmp_path / "net.npz"
    net.astype(np.float64).save(model)
    status, out, err = run(capsys, "explain", "--model", str(model), "--semiring", "counting",
                           "--output", str(tmp_path / "o.png"))
    assert status == 0, err
    assert "predicted class 0" in out
    assert_png(tmp_path / "o.png")


def test_model_from_pytorch_state_dict(tmp_path, capsys, net):
    """A state_dict network takes flat 784 inputs; the 28x28 digit is reshaped."""
    import torch

    state = {}
    for name, i in zip(("0", "2", "4"), net.weighted_layers):
        layer = net.layers[i]
        state[f"{name}.weight"] = torch.from_numpy(np.array(layer.weight))
        state[f"{name}.bias"] = torch.from_numpy(np.array(layer.bias))
    model = tmp_path / "mlp.pt"
    torch.save(state, model)
    status, out, err = run(capsys, "explain", "--model", str(model),
                           "--output", str(tmp_path / "o.png"))
    assert status == 0, err
    assert "predicted class 0, target 0" in out


def test_garbage_model_fails_naming_the_file(tmp_path, capsys):
    model = tmp_path / "garbage.npz"
    model.write_bytes(b"PK\x03\x04 this is not a network")
    status, _, err = run(capsys, "explain", "--model", str(model),
                         "--output", str(tmp_path / "o.png"))
    assert_usage_error(status, err, str(model))
    status, _, err = run(capsys, "explain", "--model", str(tmp_path / "missing.npz"))
    assert_usage_error(status, err, "missing.npz")


def test_model_with_other_input_size(tmp_path, capsys):
    rng = np.random.default_rng(0)
    small = sl.Network([sl.Linear(rng.normal(size=(3, 10)).astype(np.float32))])
    model = tmp_path / "small.npz"
    small.save(model)
    status, _, err = run(capsys, "explain", "--model", str(model))
    assert_usage_error(status, err, "28x28", "10 values")


def test_unwritable_output(tmp_path, capsys):
    status, _, err = run(capsys, "explain", "--output", str(tmp_path / "no" / "dir.png"))
    assert_usage_error(status, err, "dir.png")


# ---------------------------------------------------------------- VGG-16

@pytest.fixture(scope="module")
def vgg16_weights(tmp_path_factory):
    """Random torchvision VGG-16 weights (no download): a real file, ~530 MB."""
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg16") / "w.pth"
    torch.save(torchvision.models.vgg16().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A random RGB JPEG, 256 high and 300 wide: imagenet_input crops its centre 224x224."""
    from PIL import Image

    path = tmp_path_factory.mktemp("photo") / "photo.jpg"
    pixels = np.random.default_rng(0).integers(0, 256, size=(256, 300, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


@pytest.fixture
def no_forward(monkeypatch):
    """Any forward pass fails the test: usage errors must come before one."""
    def forbidden(*args, **kwargs):
        pytest.fail("a forward pass ran before the usage error")

    monkeypatch.setattr(sl.Network, "forward", forbidden)
    monkeypatch.setattr(sl.Network, "activations", forbidden)


@pytest.mark.slow
def test_vgg16_boolean_end_to_end(tmp_path, capsys, monkeypatch, vgg16_weights, photo):
    """The one VGG-16 pass of this file (tens of seconds): the paper's boolean
    thresholds by default, channels folded by or, the crop drawn in colour."""
    from semiring_lrp import cli

    drawn, passes = [], []

    def record_heatmap(image, relevance, kind, **kwargs):
        drawn.append((image, relevance, kind))
        return viz.heatmap(image, relevance, kind, **kwargs)

    def record_relevance(net, x, **kwargs):
        passes.append((net, x, kwargs))
        return sl.relevance(net, x, **kwargs)

    monkeypatch.setattr(cli, "heatmap", record_heatmap)
    monkeypatch.setattr(cli, "relevance", record_relevance)
    out_path = tmp_path / "vgg16.png"
    status, out, err = run(capsys, "explain", "--model", "vgg16", "--weights", str(vgg16_weights),
                           "--image", str(photo), "--semiring", "boolean",
                           "--output", str(out_path))
    assert status == 0, err
    assert_png(out_path)
    assert str(out_path) in out
    assert "predicted class " in out and "relevance pass took " in out

    (net, x, kwargs), = passes
    assert len(net.weighted_layers) == 16 and x.shape == (3, 224, 224)
    semiring = kwargs["semiring"]
    assert isinstance(semiring, sl.Boolean) and semiring.absolute
    assert semiring.threshold == sl.composites.PAPER_VGG16_THRESHOLDS
    assert kwargs["rule"] is None and kwargs["maxpool"] is None
    predicted = int(np.argmax(net.forward(x)))
    assert f"predicted class {predicted}, target {predicted}" in out
    assert kwargs["target"] == predicted

    (image, relevance, kind), = drawn
    assert image.shape == (224, 224, 3) and 0 <= image.min() and image.max() <= 1
    assert relevance.shape == (224, 224) and relevance.dtype == np.bool_
    assert kind == "boolean"
    assert channel_spread(left_panel(out_path)) > 0.5  # the crop, in colour


@pytest.mark.parametrize("options, words", [
    (["--model", "vgg16", "--image", "{photo}"], ["--weights"]),
    (["--weights", "{weights}", "--image", "{photo}"], ["--weights", "vgg16"]),
    (["--model", "vgg16", "--weights", "{weights}", "--digit", "3"], ["--digit"]),
    (["--model", "vgg16", "--weights", "{weights}"], ["--image"]),
    (["--model", "vgg16", "--weights", "{weights}", "--image", "{tmp}/x.npy"], ["x.npy", ".jpg"]),
    (["--model", "vgg16", "--weights", "{weights}", "--image", "{tmp}/none.jpg"], ["none.jpg"]),
    (["--model", "vgg16", "--weights", "{weights}", "--image", "{tmp}/garbage.jpg"],
     ["{tmp}/garbage.jpg"]),
    (["--model", "vgg16", "--weights", "{tmp}/garbage.pth", "--image", "{photo}"],
     ["{tmp}/garbage.pth"]),
    (["--model", "vgg16", "--weights", "{tmp}/garbage.npz", "--image", "{photo}"],
     ["{tmp}/garbage.npz"]),
    (["--model", "vgg16", "--weights", "{tmp}/none.pth", "--image", "{photo}"], ["none.pth"]),
    (["--model", "vgg16", "--weights", "{weights}", "--image", "{photo}", "--rule",
      "gamma:0.25,zero"], ["2 rules", "16 weighted"]),
    (["--model", "vgg16", "--weights", "{weights}", "--image", "{photo}", "--semiring",
      "boolean", "--threshold", "0.1,0.2,0.3"], ["3 thresholds", "16 weighted"]),
    (["--model", "vgg16", "--weights", "{weights}", "--image", "{photo}", "--target", "1000"],
     ["target 1000", "1000 classes"]),
])
def test_vgg16_usage_errors_come_before_the_forward_pass(tmp_path, capsys, no_forward,
                                                         vgg16_weights, photo, options, words):
    (tmp_path / "garbage.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "garbage.pth").write_bytes(b"not a pickle at all")
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not an archive")
    np.save(tmp_path / "x.npy", np.zeros((224, 224, 3)))
    names = {"weights": vgg16_weights, "photo": photo, "tmp": tmp_path}
    options = [option.format(**names) for option in options]
    status, _, err = run(capsys, "explain", *options, "--output", str(tmp_path / "o.png"))
    assert_usage_error(status, err, *(word.format(**names) for word in words))
    assert not (tmp_path / "o.png").exists()


def test_vgg16_weights_of_another_network_name_the_file(tmp_path, capsys, no_forward, photo):
    model = tmp_path / "mlp.npz"
    np.savez(model, **{"features.0.weight": np.zeros((64, 3, 5, 5), dtype=np.float32)})
    status, _, err = run(capsys, "explain", "--model", "vgg16", "--weights", str(model),
                         "--image", str(photo))
    assert_usage_error(status, err, str(model), "features.0.weight")


@pytest.mark.parametrize("semiring, how, dtype, kind", [
    (sl.Boolean(), "or", np.bool_, "boolean"),
    (sl.Boolean(), "sum", np.int64, "counting"),  # how many channels are relevant
    (sl.Counting(), "or", np.bool_, "boolean"),
    (sl.Counting(), "sum", np.int64, "counting"),
    (sl.Viterbi(), "max", np.float32, "viterbi"),
    (sl.Real(), "sum", np.float32, "real"),
])
def test_folded_channels_pick_the_heatmap_kind(semiring, how, dtype, kind):
    from semiring_lrp.cli import _folded

    r = np.zeros((3, 4, 5), dtype={"boolean": np.bool_, "counting": np.int64}.get(
        viz.kind_of(semiring), np.float32))
    folded, shown_kind = _folded(r, semiring, how)
    assert folded.shape == (4, 5) and folded.dtype == dtype
    assert shown_kind == kind


# ---------------------------------------------------------------- real processes

def _subprocess_env():
    # run the checkout under test, wherever the editable install points
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("DISPLAY", None)
    return env


def _console_script():
    # prefer the script installed next to this interpreter over a shim
    return (shutil.which("semiring-lrp", path=os.path.dirname(sys.executable))
            or shutil.which("semiring-lrp"))


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "semiring_lrp"],
    "console script",
])
def test_default_run_in_a_subprocess(tmp_path, command):
    if command == "console script":
        script = _console_script()
        assert script is not None, "the semiring-lrp console script is not installed"
        command = [script]
    done = subprocess.run(command + ["explain"], cwd=tmp_path, env=_subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert_png(tmp_path / "explain.png")
    assert "explain.png" in done.stdout
    assert "predicted class 0, target 0" in done.stdout


def test_usage_error_in_a_subprocess(tmp_path):
    done = subprocess.run([sys.executable, "-m", "semiring_lrp", "explain", "--target", "10"],
                          cwd=tmp_path, env=_subprocess_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("semiring-lrp: error: target 10")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "explain.png").exists()


@pytest.mark.slow
def test_vgg16_masks_over_an_image_folder(tmp_path, capsys, vgg16_weights, photo):
    """semiring-lrp mask on VGG-16: a folder of photos in integer class
    folders, the mask of a hidden layer's input over all of them."""
    import shutil as files

    folder = tmp_path / "photos"
    for label, name in ((3, "a.jpg"), (3, "b.jpg"), (7, "c.jpg")):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        files.copy(photo, folder / str(label) / name)
    output = tmp_path / "vgg.png"
    status = main(["mask", "--model", "vgg16", "--weights", str(vgg16_weights), "--data",
                   str(folder), "--layer", "features.28", "--by", "label", "--combine", "or",
                   "--batch-size", "2", "--output", str(output), "--no-progress"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert_png(output)
    saved = np.load(tmp_path / "vgg_or.npy")
    net = sl.models.vgg16(weights=vgg16_weights)
    expected = sl.apps.class_mask(net, sl.datasets.ImageFolder(folder), layer="features.28",
                                  combine="or", progress=False)
    assert saved.shape == (1000, 512, 14, 14)
    np.testing.assert_array_equal(saved, expected)
    assert saved[3].any() and not saved[0].any()
    assert "3 images in" in out
