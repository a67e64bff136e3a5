"""`semiring-lrp explain`, completed: --rule zbox:LOW:HIGH, --composite NAME,
the shipped models and every VGG variant by name (a weights file of another
variant refused before its tensors are read), JPEG input for the MNIST
models, a folder of images in one call, the one-line summary of each result
and the message for an empty map, and progress that --quiet turns off."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import semiring_lrp as sl
from semiring_lrp import cli, cli_common, composites, models
from semiring_lrp.apps import progress as progress_module
from semiring_lrp.cli import main
from semiring_lrp.rules import Epsilon, Gamma, ZBox, Zero

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys, *args):
    status = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return status, out, err


def last_error_line(status, err, *words):
    """Status 2 and a last stderr line `semiring-lrp: error: ...` holding `words`."""
    assert status == 2, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("semiring-lrp: error: "), err
    for word in words:
        assert word in line, line
    return line


def one_error_line(status, err, *words):
    """Status 2 and exactly one stderr line (a check after parsing prints no usage)."""
    line = last_error_line(status, err, *words)
    assert err.strip() == line, err
    return line


def is_png(path):
    return Path(path).read_bytes()[:8] == PNG_MAGIC


@pytest.fixture
def passes(monkeypatch):
    """Records the arguments of every relevance pass the command makes."""
    calls = []

    def recording(net, x, **kwargs):
        calls.append((net, x, kwargs))
        return sl.relevance(net, x, **kwargs)

    monkeypatch.setattr(cli, "relevance", recording)
    return calls


@pytest.fixture
def no_pass(monkeypatch):
    """Any forward or relevance pass fails the test: errors must come first."""
    def forbidden(*args, **kwargs):
        pytest.fail("a pass ran before the error")

    monkeypatch.setattr(sl.Network, "forward", forbidden)
    monkeypatch.setattr(cli, "relevance", forbidden)


@pytest.fixture
def no_tensor_read(monkeypatch):
    """Reading a weights file's tensors fails the test."""
    from semiring_lrp import io

    def forbidden(*args, **kwargs):
        pytest.fail("the tensors of the weights file were read")

    monkeypatch.setattr(io, "_read_state_dict", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)


@pytest.fixture
def no_decoding(monkeypatch):
    """Decoding any image's pixels fails the test: sizes come from headers."""
    def forbidden(self, *args, **kwargs):
        pytest.fail(f"pixels of a {self.size[0]}x{self.size[1]} image were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)


@pytest.fixture(scope="module")
def shipped():
    return models.mnist_digits()


# ---------------------------------------------------------------- --rule zbox:LOW:HIGH

@pytest.mark.parametrize("text, low, high", [("zbox:0:1", 0.0, 1.0),
                                             ("zbox:-2.12:2.64", -2.12, 2.64),
                                             (" zbox:1e-3:5 ", 1e-3, 5.0)])
def test_zbox_rule_parses_its_bounds(text, low, high):
    rule = cli_common.rule_list(text)
    assert isinstance(rule, ZBox)
    assert float(rule.low) == low and float(rule.high) == high


def test_zbox_in_a_rule_list_reaches_the_pass(tmp_path, capsys, passes):
    status, _, err = run(capsys, "explain", "--rule", "zbox:0:1,epsilon:0.25,zero",
                         "--init", "activation", "--output", tmp_path / "o.png")
    assert status == 0, err
    (net, x, kwargs), = passes
    first, second, third = kwargs["rule"]
    assert isinstance(first, ZBox) and (float(first.low), float(first.high)) == (0.0, 1.0)
    assert isinstance(second, Epsilon) and second.eps == 0.25
    assert isinstance(third, Zero)
    # z^B with these bounds is what the pass computed
    expected = sl.relevance(net, x, target=0, init="activation",
                            rule=[ZBox(0, 1), Epsilon(0.25), Zero()])
    drawn = sl.relevance(net, x, **kwargs)
    np.testing.assert_array_equal(drawn, expected)


@pytest.mark.parametrize("rule, words", [
    ("zbox", ["zbox:LOW:HIGH"]),
    ("zbox:1", ["zbox:LOW:HIGH"]),
    ("zbox:0:1:2", ["zbox:LOW:HIGH"]),
    ("zbox:1:0", ["LOW (1) must be below HIGH (0)"]),
    ("zbox:1:1", ["must be below"]),
    ("zbox:a:1", ["'a' is not a number"]),
    ("zbox:nan:1", ["finite"]),
    ("zbox:0:inf", ["finite"]),
    ("zbox:0:1,zbox:2:1", ["zbox:2:1"]),
    ("sigma", ["unknown rule 'sigma'", "zbox:LOW:HIGH"]),
])
def test_bad_zbox_rules_are_usage_errors(tmp_path, capsys, rule, words):
    status, _, err = run(capsys, "explain", f"--rule={rule}", "--output", tmp_path / "o.png")
    last_error_line(status, err, "--rule", *words)
    assert not (tmp_path / "o.png").exists()


# ---------------------------------------------------------------- --composite NAME

def test_help_lists_every_composite_and_model(capsys):
    status, out, _ = run(capsys, "explain", "--help")
    assert status == 0
    flat = " ".join(out.split())
    for name in ("epsilon_gamma_box", "lrp_overview_vgg16", "paper_vgg16_boolean",
                 "zbox:LOW:HIGH", "--images", "--quiet", *cli.SHIPPED, *models.VGG_VARIANTS):
        assert name in flat, name


def test_epsilon_gamma_box_on_the_cnn(tmp_path, capsys, passes):
    status, _, err = run(capsys, "explain", "--model", "mnist_cnn", "--composite",
                         "epsilon_gamma_box", "--output", tmp_path / "o.png")
    assert status == 0, err
    (net, _, kwargs), = passes
    rule = kwargs["rule"]
    assert isinstance(rule, composites.Composite) and rule.maxpool == "winner"
    # 4 convs then 2 linear layers: z^B on [0, 1] (pixel / 255), gamma, epsilon
    assert [type(r) for r in rule] == [ZBox, Gamma, Gamma, Gamma, Epsilon, Epsilon]
    assert (float(rule[0].low), float(rule[0].high)) == (0.0, 1.0)


def _vgg16_shaped(path):
    """A network file with VGG-16's weighted layers (13 Conv2d, 3 Linear),
    a few channels each, on (1, 8, 8) inputs: what the VGG-16 presets take."""
    rng = np.random.default_rng(0)
    layers, channels = [], 1
    for i in range(13):
        layers += [sl.Conv2d(rng.normal(size=(2, channels, 3, 3)).astype(np.float32) * 0.5,
                             np.zeros(2, np.float32), padding=1), sl.ReLU()]
        channels = 2
    layers.append(sl.Flatten())
    for fan_in, fan_out in ((128, 16), (16, 16), (16, 10)):
        layers += [sl.Linear(rng.normal(size=(fan_out, fan_in)).astype(np.float32) * 0.3,
                             np.full(fan_out, 0.1, np.float32)), sl.ReLU()]
    sl.Network(layers[:-1], input_shape=(1, 8, 8)).save(path)
    return path


def test_vgg16_presets_on_a_vgg16_shaped_network(tmp_path, capsys, passes):
    model = _vgg16_shaped(tmp_path / "net.npz")
    image = tmp_path / "x.npy"
    np.save(image, np.random.default_rng(1).uniform(size=(8, 8)))
    status, _, err = run(capsys, "explain", "--model", model, "--image", image,
                         "--composite", "lrp_overview_vgg16", "--output", tmp_path / "a.png")
    assert status == 0, err
    status, out, err = run(capsys, "explain", "--model", model, "--image", image,
                           "--composite", "paper_vgg16_boolean", "--rule", "epsilon",
                           "--output", tmp_path / "b.png")
    assert status == 0, err
    (_, _, overview), (_, _, paper) = passes
    assert overview["rule"].maxpool == "average" and len(overview["rule"]) == 16
    assert isinstance(overview["rule"][0], ZBox) and float(overview["rule"][0].high) == 1.0
    # the threshold preset sets the boolean semiring and combines with --rule
    semiring = paper["semiring"]
    assert isinstance(semiring, sl.Boolean) and semiring.absolute
    assert semiring.threshold == composites.PAPER_VGG16_THRESHOLDS
    assert isinstance(paper["rule"], Epsilon)
    assert "boolean: " in out


@pytest.mark.parametrize("options, words", [
    (["--composite", "zennit"], ["invalid choice: 'zennit'", "epsilon_gamma_box",
                                 "lrp_overview_vgg16", "paper_vgg16_boolean"]),
    (["--composite", "epsilon_gamma_box", "--rule", "zero"], ["--rule or --composite"]),
    (["--composite", "paper_vgg16_boolean", "--threshold", "0.1"], ["--threshold"]),
    (["--composite", "paper_vgg16_boolean", "--absolute"], ["--absolute"]),
    (["--composite", "paper_vgg16_boolean", "--semiring", "counting"],
     ["boolean, not --semiring counting"]),
    (["--composite", "lrp_overview_vgg16"], ["--composite lrp_overview_vgg16", "VGG-16",
                                             "not 3 weighted layers"]),
    (["--composite", "paper_vgg16_boolean"], ["--composite paper_vgg16_boolean", "VGG-16"]),
])
def test_composite_errors(tmp_path, capsys, no_pass, options, words):
    status, _, err = run(capsys, "explain", *options, "--output", tmp_path / "o.png")
    last_error_line(status, err, *words)
    assert not (tmp_path / "o.png").exists()


# ---------------------------------------------------------------- models by name

def test_mnist_cnn_by_name(tmp_path, capsys, passes, shipped):
    pixels, labels = shipped
    status, out, err = run(capsys, "explain", "--model", "mnist_cnn", "--digit", 9,
                           "--output", tmp_path / "o.png")
    assert status == 0, err
    (net, x, kwargs), = passes
    assert len(net.weighted_layers) == 6 and x.shape == (1, 28, 28)
    predicted = int(np.argmax(models.mnist_cnn().forward(models.mnist_input(pixels[9])[None])))
    assert f"predicted class {predicted}, target {predicted}" in out
    assert is_png(tmp_path / "o.png")


def test_two_digit_mlp_stacks_two_shipped_digits(tmp_path, capsys, passes, shipped):
    pixels, labels = shipped
    status, out, err = run(capsys, "explain", "--model", "two_digit_mlp", "--digit", 4,
                           "--output", tmp_path / "o.png")
    assert status == 0, err
    (_, x, _), = passes
    expected = models.mnist_input(np.concatenate([pixels[4], pixels[6]]))
    np.testing.assert_array_equal(x, expected)
    assert f"shipped digits 4 over 6 (a {labels[4]} over a {labels[6]})" in out


# ---------------------------------------------------------------- VGG variants

def _meta_state(variant):
    """{name: shape} of torchvision's state_dict of `variant`, built on the
    meta device (no memory, no time)."""
    with torch.device("meta"):
        model = getattr(torchvision.models, variant)()
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def _crafted(path, shapes):
    """A state_dict file with these names and shapes, each tensor one float
    expanded (a few KB in all): its names and shapes are a VGG's, its data not."""
    torch.save({name: torch.ones(1).expand(*shape) if shape else torch.ones(())
                for name, shape in shapes.items()}, path)
    return path


@pytest.mark.parametrize("variant", models.VGG_VARIANTS)
def test_each_variant_has_torchvisions_names_and_shapes(tmp_path, variant):
    shapes = _meta_state(variant)
    expected = {k: v for k, v in shapes.items() if not k.endswith("num_batches_tracked")}
    assert models._vgg_parameters(variant) == expected
    assert models.vgg_variant(_crafted(tmp_path / "w.pth", shapes)) == variant


def test_legacy_format_file_is_identified_too(tmp_path):
    shapes = _meta_state("vgg13_bn")
    path = tmp_path / "legacy.pth"
    torch.save({n: torch.ones(1).expand(*s) if s else torch.ones(()) for n, s in shapes.items()},
               path, _use_new_zipfile_serialization=False)
    assert models.vgg_variant(path) == "vgg13_bn"


def test_a_file_of_no_vgg_is_no_variant(tmp_path):
    path = tmp_path / "mlp.pt"
    torch.save({"fc.weight": torch.zeros(3, 4)}, path)
    assert models.vgg_variant(path) is None


@pytest.mark.parametrize("given, held", [("vgg16", "vgg16_bn"), ("vgg19_bn", "vgg11"),
                                         ("vgg13", "vgg13_bn")])
def test_another_variants_file_is_refused_before_reading(tmp_path, capsys, no_tensor_read,
                                                          given, held):
    weights = _crafted(tmp_path / "w.pth", _meta_state(held))
    with pytest.raises(ValueError, match=f"holds the weights of {held}, not {given}$"):
        models.vgg(given, weights)
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (32, 32)).save(photo)
    status, _, err = run(capsys, "explain", "--model", given, "--weights", weights,
                         "--image", photo, "--output", tmp_path / "o.png")
    one_error_line(status, err, f"{weights}: holds the weights of {held}, not {given}; "
                                f"give --model {held}")
    assert not (tmp_path / "o.png").exists()


def test_a_misshapen_tensor_is_refused_before_reading(tmp_path, no_tensor_read):
    shapes = _meta_state("vgg11")
    shapes["classifier.6.weight"] = (10, 4096)
    weights = _crafted(tmp_path / "w.pth", shapes)
    with pytest.raises(ValueError, match=r"classifier\.6\.weight has shape \(10, 4096\), "
                                         r"expected \(1000, 4096\) for vgg11"):
        models.vgg("vgg11", weights)


def test_unknown_variant_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown VGG variant 'vgg15'; known: vgg11, "):
        models.vgg("vgg15", "w.pth")


def test_batch_norm_variant_folds_as_from_torch():
    """vgg11_bn built from a state_dict equals torchvision's model in eval
    mode and from_torch's conversion, names included."""
    torch.manual_seed(0)
    model = torchvision.models.vgg11_bn()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # statistics far from 0 and 1
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    model.eval()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    built = models._vgg_network("vgg11_bn", lambda name, shape, dtype=np.float32:
                                state[name].astype(dtype))
    converted = sl.from_torch(model)
    assert built.names == converted.names
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        expected = model(x).numpy()[0]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(built.forward(x.numpy()[0]), expected, atol=1e-5 * scale)
    np.testing.assert_allclose(built.forward(x.numpy()[0]), converted.forward(x.numpy()[0]),
                               atol=1e-6 * scale)


@pytest.fixture(scope="module")
def vgg11(tmp_path_factory):
    """Random torchvision VGG-11 weights (no download) in a real file, ~507 MB,
    and the model."""
    torch.manual_seed(0)
    model = torchvision.models.vgg11().eval()
    path = tmp_path_factory.mktemp("vgg11") / "vgg11.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_vgg11_over_a_folder_of_photos(tmp_path, capsys, monkeypatch, passes, vgg11):
    """The one VGG run of this file: two photos (JPEG, PNG) in a folder, the
    weights read with a progress bar (stderr taken for a terminal), the
    default real composite for VGGs other than VGG-16, and a heatmap each."""
    weights, model = vgg11
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a.jpg", (300, 256)), ("b.png", (256, 256))):
        Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
                        ).save(folder / name)
    monkeypatch.setattr(progress_module, "_is_terminal", lambda stream: True)
    out_dir = tmp_path / "out"
    status, out, err = run(capsys, "explain", "--model", "vgg11", "--weights", weights,
                           "--images", folder, "--output", out_dir)
    assert status == 0, err
    assert "reading vgg11" in err and "11/11" in err and "explaining" in err
    assert sorted(os.listdir(out_dir)) == ["a.png", "b.png"]
    assert all(is_png(out_dir / name) for name in ("a.png", "b.png"))
    assert len(passes) == 2
    net, x, kwargs = passes[0]
    assert net.names == sl.from_torch(model).names and x.shape == (3, 224, 224)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)[None]).numpy()[0]
    np.testing.assert_allclose(net.forward(x), expected, atol=1e-5 * np.abs(expected).max())
    # eight convs and three linear layers: z^B with ImageNet bounds, gamma, epsilon
    rule = kwargs["rule"]
    assert [type(r) for r in rule] == [ZBox] + [Gamma] * 7 + [Epsilon] * 3
    np.testing.assert_allclose(rule[0].low, composites.imagenet_bounds()[0])
    lines = [line for line in out.splitlines() if ": target " in line]
    assert [line.split(":")[0] for line in lines] == ["a.jpg", "b.png"]
    assert all("real (sum over channels): " in line and "of 50176 pixels nonzero" in line
               for line in lines)


# ---------------------------------------------------------------- JPEG for the MNIST models

@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_jpeg_digit_on_the_mlp(tmp_path, capsys, passes, shipped, mode):
    pixels, labels = shipped
    path = tmp_path / "digit.jpg"
    Image.fromarray(pixels[6]).convert(mode).save(path, quality=100)
    read = cli._read_image(str(path), models.mnist_mlp())
    assert read.shape == (28, 28)
    np.testing.assert_allclose(read, pixels[6] / 255.0, atol=0.06)  # JPEG's loss, at quality 100
    status, out, err = run(capsys, "explain", "--image", path, "--output", tmp_path / "o.png")
    assert status == 0, err
    assert f"predicted class {labels[6]}" in out


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".JPG"])
def test_jpeg_of_the_wrong_size_is_refused_from_its_header(tmp_path, capsys, no_decoding,
                                                            suffix):
    path = tmp_path / f"digit{suffix}"
    Image.new("L", (20, 24)).save(path, format="JPEG")
    status, _, err = run(capsys, "explain", "--image", path, "--output", tmp_path / "o.png")
    one_error_line(status, err, str(path), "24x20", "784 values")


def test_other_extensions_are_named(tmp_path, capsys):
    path = tmp_path / "digit.gif"
    Image.new("L", (28, 28)).save(path)
    status, _, err = run(capsys, "explain", "--image", path)
    one_error_line(status, err, str(path), ".npy, .png, .jpg or .jpeg")


# ---------------------------------------------------------------- a folder of images

@pytest.fixture
def digit_folder(tmp_path, shipped):
    """Shipped digits 0, 6 and 13 as a.png, b.jpg and c.npy, a text file and a
    subfolder (both skipped)."""
    pixels, labels = shipped
    folder = tmp_path / "digits"
    folder.mkdir()
    Image.fromarray(pixels[0]).save(folder / "a.png")
    Image.fromarray(pixels[6]).save(folder / "b.jpg", quality=100)
    np.save(folder / "c.npy", pixels[13])
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    return folder, [labels[0], labels[6], labels[13]]


def test_folder_writes_one_heatmap_per_image(tmp_path, capsys, passes, digit_folder):
    folder, labels = digit_folder
    out_dir = tmp_path / "maps"
    status, out, err = run(capsys, "explain", "--images", folder, "--output", out_dir,
                           "--semiring", "boolean")
    assert status == 0, err
    assert sorted(os.listdir(out_dir)) == ["a.png", "b.png", "c.png"]
    assert all(is_png(out_dir / name) for name in os.listdir(out_dir))
    assert f"{folder}: 3 images (1 other file skipped)" in out
    lines = [line for line in out.splitlines() if ": target " in line]
    assert [line.split(":")[0] for line in lines] == ["a.png", "b.jpg", "c.npy"]
    for line, label, (net, x, kwargs) in zip(lines, labels, passes):
        relevant = int(np.count_nonzero(sl.relevance(net, x, **kwargs)))
        assert f"predicted {label}; boolean: {relevant} of 784 pixels relevant" in line
    assert f"wrote 3 heatmaps to {out_dir}" in out


def test_folder_output_defaults_to_explain(tmp_path, capsys, monkeypatch, digit_folder):
    folder, _ = digit_folder
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "explain", "--images", folder)
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / "explain")) == ["a.png", "b.png", "c.png"]


def test_folder_errors_come_before_any_pass(tmp_path, capsys, no_pass, digit_folder):
    folder, _ = digit_folder
    out_dir = tmp_path / "maps"
    Image.new("L", (20, 20)).save(folder / "d.png")  # the wrong size, found from its header
    status, _, err = run(capsys, "explain", "--images", folder, "--output", out_dir)
    one_error_line(status, err, str(folder / "d.png"), "20x20")
    assert not out_dir.exists()
    (folder / "d.png").unlink()

    np.save(folder / "a.npy", np.zeros((28, 28), np.uint8))  # a.png and a.npy: one a.png
    status, _, err = run(capsys, "explain", "--images", folder, "--output", out_dir)
    one_error_line(status, err, str(folder / "a.npy"), str(folder / "a.png"), "rename one")
    assert not out_dir.exists()


@pytest.mark.parametrize("case, words", [
    ("output is a file", ["--output is a file", "names the folder"]),
    ("no folder", ["no such folder"]),
    ("a file", ["--images is a file, not a folder"]),
    ("no image", ["holds no .npy, .png, .jpg, .jpeg file"]),
])
def test_folder_usage_errors(tmp_path, capsys, no_pass, case, words):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "readme.txt").write_text("no image here")
    output = tmp_path / "out"
    if case == "output is a file":
        np.save(folder / "x.npy", np.zeros((28, 28), np.uint8))
        output.write_text("a file")
    elif case == "no folder":
        folder = tmp_path / "missing"
    elif case == "a file":
        folder = folder / "readme.txt"
    status, _, err = run(capsys, "explain", "--images", folder, "--output", output)
    one_error_line(status, err, *words)


def test_image_naming_a_folder_points_to_images(tmp_path, capsys):
    status, _, err = run(capsys, "explain", "--image", tmp_path)
    one_error_line(status, err, f"{tmp_path}: --image is a folder", "--images FOLDER")


# ---------------------------------------------------------------- progress and --quiet

@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_turns_the_folder_progress_off(tmp_path, capsys, monkeypatch, digit_folder,
                                             quiet):
    folder, _ = digit_folder
    monkeypatch.setattr(progress_module, "_is_terminal", lambda stream: True)
    args = ["explain", "--images", folder, "--output", tmp_path / "maps"]
    status, out, err = run(capsys, *args, *(["--quiet"] if quiet else []))
    assert status == 0, err
    assert ("explaining" in err) is not quiet
    assert ("3/3" in err) is not quiet
    assert out.count(": target ") == 3  # the results print either way


def test_no_progress_is_quiet_too(tmp_path, capsys, monkeypatch, digit_folder):
    folder, _ = digit_folder
    monkeypatch.setattr(progress_module, "_is_terminal", lambda stream: True)
    status, _, err = run(capsys, "explain", "--images", folder, "--output", tmp_path / "m",
                         "--no-progress")
    assert status == 0 and "explaining" not in err


# ---------------------------------------------------------------- the summary line

def _result(shown, kind):
    return cli._Result(np.asarray(shown), kind, target=7, predicted=3, score=12.25, seconds=0.1)


def test_summary_of_a_boolean_map():
    shown = np.zeros(784, dtype=bool)
    shown[:84] = True
    assert cli.summary("digit.png", _result(shown, "boolean"), "boolean") == (
        "digit.png: target 7 (score 12.25), predicted 3; boolean: 84 of 784 pixels "
        "relevant (10.7%)")


def test_summary_of_a_counting_map_gives_the_highest_count():
    shown = np.zeros((28, 28), dtype=np.int64)
    shown[0, :3] = [1, 5, 2]
    assert cli.summary("x", _result(shown, "counting"), "counting").endswith(
        "counting: 3 of 784 pixels relevant (0.4%), max count 5")


def test_summary_of_a_real_map_gives_max_and_min():
    shown = np.zeros((4, 5), dtype=np.float32)
    shown[1, 1], shown[2, 3] = 0.5, -0.25
    assert cli.summary("x", _result(shown, "real"), "real").endswith(
        "real: 2 of 20 pixels nonzero (10.0%), max 0.5, min -0.25")


def test_the_command_prints_the_summary_of_its_pass(tmp_path, capsys, passes):
    status, out, err = run(capsys, "explain", "--semiring", "counting", "--digit", 3,
                           "--output", tmp_path / "o.png")
    assert status == 0, err
    (net, x, kwargs), = passes
    r = sl.relevance(net, x, **kwargs)
    score = net.forward(x)[kwargs["target"]]
    assert (f"shipped digit 3 (a 1): target {kwargs['target']} (score {score:.4g})" in out)
    assert f"{np.count_nonzero(r)} of 784 pixels relevant" in out
    assert f"max count {r.max()}" in out
    assert "warning" not in err


@pytest.mark.parametrize("options, advice", [
    (["--semiring", "boolean", "--threshold", "1e6"],
     "no pixel is relevant: lower --threshold (now 1e+06), or add --absolute"),
    (["--semiring", "counting", "--threshold=1e6,0,0", "--absolute"],
     "no pixel is relevant: lower --threshold (now 1e+06,0,0)"),
])
def test_an_empty_map_says_which_option_to_change(tmp_path, capsys, options, advice):
    status, out, err = run(capsys, "explain", *options, "--output", tmp_path / "o.png")
    assert status == 0, err
    assert is_png(tmp_path / "o.png")
    assert "0 of 784 pixels relevant (0.0%)" in out
    assert err.strip() == f"semiring-lrp: warning: shipped digit 0 (a 0): {advice}"


def test_an_empty_real_map_suggests_target_or_rule():
    warning = cli._empty_map_warning("x.png", _result(np.zeros(4), "real"), sl.Real())
    assert warning == ("semiring-lrp: warning: x.png: no pixel has nonzero relevance: try "
                       "another --target or --rule")
    assert cli._empty_map_warning("x.png", _result(np.ones(4), "real"), sl.Real()) is None


# ---------------------------------------------------------------- real processes

def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("DISPLAY", None)
    return env


def _command(cwd, *args):
    return subprocess.run([sys.executable, "-m", "semiring_lrp", *map(str, args)], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=300)


def test_folder_in_a_subprocess(tmp_path, digit_folder):
    folder, labels = digit_folder
    done = _command(tmp_path, "explain", "--images", folder, "--model", "mnist_cnn", "--quiet")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path / "explain")) == ["a.png", "b.png", "c.png"]
    assert done.stdout.count(": target ") == 3 and done.stderr == ""


def test_variant_mismatch_in_a_subprocess(tmp_path):
    weights = _crafted(tmp_path / "w.pth", _meta_state("vgg16_bn"))
    Image.new("RGB", (32, 32)).save(tmp_path / "p.jpg")
    done = _command(tmp_path, "explain", "--model", "vgg16", "--weights", weights,
                    "--image", "p.jpg")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"semiring-lrp: error: {weights}: holds the weights of "
                                   "vgg16_bn, not vgg16; give --model vgg16_bn")


def test_zbox_error_in_a_subprocess(tmp_path):
    done = _command(tmp_path, "explain", "--rule", "zbox:3:-3")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "semiring-lrp: error: argument --rule: rule 'zbox:3:-3': LOW (3) must be below HIGH (-3)")
    assert not (tmp_path / "explain.png").exists()
