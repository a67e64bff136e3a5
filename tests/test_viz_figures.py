"""Figures for a paper (semiring_lrp.viz): the format a file name asks for,
drawing into a given Axes, percentile clipping, grids of samples x
semirings (rules, thresholds), titles, colour maps and dpi."""
import io
import struct
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # pyplot without a display, for the figures made with plt.subplots
import matplotlib.pyplot as plt  # noqa: E402

import semiring_lrp as sl  # noqa: E402
from semiring_lrp import viz  # noqa: E402
from semiring_lrp.apps.figures import attack_figure, occlusion_figure, pruning_figure  # noqa: E402
from semiring_lrp.cli import main  # noqa: E402

# the first bytes of each format the library writes
SIGNATURES = {"png": (b"\x89PNG\r\n\x1a\n",), "pdf": (b"%PDF",), "svg": (b"<?xml",),
              "eps": (b"%!PS",), "ps": (b"%!PS",), "jpg": (b"\xff\xd8",),
              "jpeg": (b"\xff\xd8",), "tif": (b"II*\x00", b"MM\x00*"),
              "tiff": (b"II*\x00", b"MM\x00*")}


@pytest.fixture(scope="module")
def net():
    return sl.models.mnist_mlp()


@pytest.fixture(scope="module")
def digits():
    images, labels = sl.models.mnist_digits()
    return images[:3] / 255.0, labels[:3]


@pytest.fixture(scope="module")
def real_map(net, digits):
    # float64 throughout, so that percentiles computed here match the library's
    return sl.relevance(net.astype(np.float64), digits[0][0]).reshape(28, 28)


@pytest.fixture
def pyplot_axes():
    """Figures made with pyplot by a test, closed after it."""
    made = []

    def subplots(*shape):
        fig, axes = plt.subplots(*shape)
        made.append(fig)
        return fig, axes

    yield subplots
    for fig in made:
        plt.close(fig)


def assert_format(path, fmt):
    head = path.read_bytes()[:16]
    assert head.startswith(SIGNATURES[fmt]), (path, head)
    if fmt == "svg":
        assert b"<svg" in path.read_bytes()[:2000]


def png_size(data):
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == SIGNATURES["png"][0]
    return struct.unpack(">II", data[16:24])


def the_map(ax):
    """The AxesImage of the relevance in ax: the last drawn (an overlay's input is first)."""
    return ax.images[-1]


# every drawing function, given the path to write
def _draw_alone(path, net, digits, real_map, dpi=None):
    return viz.draw(real_map, path=path, dpi=dpi)


def _draw_beside(path, net, digits, real_map, dpi=None):
    return viz.draw(real_map, digits[0][0], mode="beside", path=path, dpi=dpi)


def _draw_overlay(path, net, digits, real_map, dpi=None):
    return viz.draw(real_map, digits[0][0], mode="overlay", path=path, dpi=dpi)


def _heatmap(path, net, digits, real_map, dpi=None):
    return viz.heatmap(digits[0][0], real_map, "real", path=path, dpi=dpi)


def _grid(path, net, digits, real_map, dpi=None):
    return viz.grid({"a": real_map, "b": -real_map}, path=path, dpi=dpi)


def _compare(path, net, digits, real_map, dpi=None):
    return viz.compare(net, digits[0][:2], semirings=[sl.Real(), sl.Boolean()], path=path,
                       dpi=dpi)


def _class_masks(path, net, digits, real_map, dpi=None):
    return viz.class_masks({"or": np.ones((2, 4, 4), bool), "and": np.zeros((2, 4, 4), bool)},
                           path=path, dpi=dpi)


def _pruning_figure(path, net, digits, real_map, dpi=None):
    curve = {"pruned": [0, 1], "accuracy": [0.9, 0.8], "loss": [0.1, 0.2]}
    return pruning_figure({"l1": curve}, path=path, dpi=dpi)


def _occlusion_figure(path, net, digits, real_map, dpi=None):
    return occlusion_figure(np.arange(9.0).reshape(3, 3), path=path, dpi=dpi)


def _attack_figure(path, net, digits, real_map, dpi=None):
    return attack_figure({"uniform": {"pixels": [0, 5], "accuracy": [1.0, 0.5]}}, path=path,
                         dpi=dpi)


DRAWERS = [_draw_alone, _draw_beside, _draw_overlay, _heatmap, _grid, _compare, _class_masks,
           _pruning_figure, _occlusion_figure, _attack_figure]


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg", "eps", "jpg"])
@pytest.mark.parametrize("drawer", DRAWERS, ids=lambda f: f.__name__.strip("_"))
def test_each_figure_writes_the_format_its_name_asks_for(tmp_path, net, digits, real_map,
                                                         drawer, fmt):
    path = tmp_path / f"figure.{fmt}"
    drawer(path, net, digits, real_map)
    assert_format(path, fmt)


@pytest.mark.parametrize("fmt", viz.FORMATS)
def test_every_listed_format_is_written(tmp_path, real_map, fmt):
    path = tmp_path / f"figure.{fmt.upper()}"  # the ending's case does not matter
    viz.draw(real_map, path=path)
    assert_format(path, fmt)


def test_formats_are_those_matplotlib_writes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    assert set(viz.FORMATS) <= set(FigureCanvasAgg.get_supported_filetypes())


def test_no_ending_or_a_file_object_is_png(tmp_path, real_map):
    viz.draw(real_map, path=tmp_path / "figure")
    assert [p.name for p in tmp_path.iterdir()] == ["figure"]
    assert_format(tmp_path / "figure", "png")
    buffer = io.BytesIO()
    viz.draw(real_map, path=buffer)
    assert buffer.getvalue().startswith(SIGNATURES["png"][0])


@pytest.mark.parametrize("drawer", DRAWERS, ids=lambda f: f.__name__.strip("_"))
def test_unknown_ending_is_refused_before_drawing(tmp_path, net, digits, real_map, drawer,
                                                  monkeypatch):
    def no_relevance(*args, **kwargs):
        pytest.fail("a relevance pass ran before the path was checked")

    monkeypatch.setattr(sl.propagation, "relevance", no_relevance)
    path = tmp_path / "figure.xyz"
    with pytest.raises(ValueError) as caught:
        drawer(path, net, digits, real_map)
    assert "'.xyz'" in str(caught.value)
    for fmt in ("png", "pdf", "svg", "eps", "jpg"):
        assert f".{fmt}" in str(caught.value)
    assert not path.exists()


def test_file_format():
    assert viz.file_format("a/b.PDF") == "pdf"
    assert viz.file_format("a.b/c") == "png"
    with pytest.raises(ValueError, match="'.gif'"):
        viz.file_format("x.gif")
    with pytest.raises(TypeError, match="path"):
        viz.file_format(3)


@pytest.mark.parametrize("drawer", DRAWERS,
                         ids=lambda f: f.__name__.strip("_"))
def test_dpi_scales_the_png(tmp_path, net, digits, real_map, drawer):
    sizes = {}
    for dpi in (50, 200):
        path = tmp_path / f"figure{dpi}.png"
        drawer(path, net, digits, real_map, dpi=dpi)
        sizes[dpi] = png_size(path.read_bytes())
    for low, high in zip(sizes[50], sizes[200]):
        assert abs(high - 4 * low) <= 4


def test_dpi_argument(tmp_path, real_map):
    sizes = []
    for dpi in (40, 120):
        viz.draw(real_map, path=tmp_path / "f.png", dpi=dpi)
        sizes.append(png_size((tmp_path / "f.png").read_bytes()))
    assert all(abs(high - 3 * low) <= 3 for low, high in zip(*sizes))
    for bad, error in ((0, ValueError), (-1, ValueError), (float("nan"), ValueError),
                       ("300", TypeError), (True, TypeError)):
        with pytest.raises(error, match="dpi"):
            viz.draw(real_map, path=tmp_path / "g.png", dpi=bad)
    assert not (tmp_path / "g.png").exists()


def test_save_writes_a_figure_or_an_axes_figure(tmp_path, real_map, pyplot_axes):
    fig, ax = pyplot_axes(1, 1)
    viz.draw(real_map, ax=ax)
    assert viz.save(ax, tmp_path / "a.pdf") == tmp_path / "a.pdf"
    assert_format(tmp_path / "a.pdf", "pdf")
    viz.save(viz.draw(real_map), tmp_path / "b.svg", dpi=72)
    assert_format(tmp_path / "b.svg", "svg")
    with pytest.raises(TypeError, match="Figure"):
        viz.save("figure", tmp_path / "c.png")


# ---------------------------------------------------------------- ax=

@pytest.mark.parametrize("mode", ["alone", "overlay"])
def test_draw_into_a_given_ax(real_map, digits, pyplot_axes, mode):
    fig, ax = pyplot_axes(1, 1)
    before = plt.get_fignums()
    out = viz.draw(real_map, digits[0][0] if mode == "overlay" else None, mode=mode, ax=ax)
    assert plt.get_fignums() == before
    assert out is ax
    assert len(ax.images) == (2 if mode == "overlay" else 1)
    np.testing.assert_array_equal(np.asarray(the_map(ax).get_array()), real_map)
    assert len(fig.axes) == 2  # ax and its colour bar


def test_heatmap_beside_into_a_pair_of_axes(real_map, digits, pyplot_axes):
    fig, axes = pyplot_axes(1, 2)
    before = plt.get_fignums()
    out = viz.heatmap(digits[0][0], real_map, "real", ax=axes, title="a zero", target=0)
    assert plt.get_fignums() == before
    assert out is axes
    assert axes[0].images and axes[1].images
    assert axes[0].get_title() == "input image"
    assert axes[1].get_title() == "a zero\nrelevance for output neuron 0"
    with pytest.raises(TypeError, match="pair"):
        viz.heatmap(digits[0][0], real_map, "real", ax=axes[0])
    with pytest.raises(TypeError, match="Axes"):
        viz.draw(real_map, ax="left")


def test_grid_and_compare_into_given_axes(net, digits, pyplot_axes):
    fig, axes = pyplot_axes(2, 3)
    before = plt.get_fignums()
    out = viz.compare(net, digits[0][:2], semirings=[sl.Real(), sl.Viterbi()], ax=axes)
    assert plt.get_fignums() == before
    assert out.shape == (2, 3)
    assert all(ax.images for ax in axes.flat)
    with pytest.raises(ValueError, match="2 x 4"):
        viz.compare(net, digits[0][:2], semirings=[sl.Real(), sl.Viterbi(), sl.Boolean()],
                    ax=axes)


def test_class_masks_into_given_axes(pyplot_axes):
    fig, axes = pyplot_axes(2, 3)
    before = plt.get_fignums()
    masks = {"or": np.ones((3, 4, 4), bool), "and": np.zeros((3, 4, 4), bool)}
    out = viz.class_masks(masks, ax=axes)
    assert plt.get_fignums() == before
    assert out.shape == (2, 3) and all(ax.images for ax in axes.flat)
    assert [ax.get_title() for ax in axes[0]] == ["class 0", "class 1", "class 2"]
    assert axes[1, 0].get_ylabel() == "AND"


def test_own_figures_are_not_registered_with_pyplot(real_map):
    before = plt.get_fignums()
    fig = viz.draw(real_map)
    assert plt.get_fignums() == before
    assert isinstance(fig, matplotlib.figure.Figure)


# ---------------------------------------------------------------- modes

def test_modes(real_map, digits):
    image = digits[0][0]
    alone = viz.draw(real_map)
    assert [len(ax.images) for ax in alone.axes] == [1, 0]  # map, colour bar
    beside = viz.draw(real_map, image, mode="beside")
    input_panel = beside.axes[0].images[0]
    np.testing.assert_array_equal(np.asarray(input_panel.get_array()), image)
    assert input_panel.get_cmap().name == "gray"
    overlay = viz.draw(real_map, image, alpha=0.3)  # overlay: the default with an image
    under, over = overlay.axes[0].images
    np.testing.assert_array_equal(np.asarray(under.get_array()), image)
    assert over.get_alpha() == 0.3 and under.get_alpha() is None
    assert len(viz.draw(real_map, image, colorbar=False).axes) == 1


def test_overlay_of_an_rgb_image_draws_it_gray(real_map):
    rgb = np.zeros((28, 28, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red: gray 85 of 255
    under = viz.draw(real_map, rgb, mode="overlay").axes[0].images[0]
    np.testing.assert_allclose(np.asarray(under.get_array()), 1 / 3)
    assert under.get_cmap().name == "gray"


@pytest.mark.parametrize("kwargs, error, words", [
    ({"mode": "beside"}, ValueError, ["beside", "image"]),
    ({"mode": "blended"}, ValueError, ["blended", "overlay"]),
    ({"clip": 0}, ValueError, ["clip", "(0, 100]"]),
    ({"clip": 100.5}, ValueError, ["clip"]),
    ({"clip": "99"}, TypeError, ["clip"]),
    ({"sign": "both"}, ValueError, ["both", "positive"]),
    ({"scale": "sqrt"}, ValueError, ["sqrt", "log"]),
    ({"alpha": 2}, ValueError, ["alpha"]),
    ({"cmap": "no_such_map"}, ValueError, ["no_such_map"]),
    ({"cmap": 3}, TypeError, ["cmap"]),
    ({"title": 3}, TypeError, ["title"]),
])
def test_draw_rejects_bad_options(real_map, kwargs, error, words):
    with pytest.raises(error) as caught:
        viz.draw(real_map, **kwargs)
    for word in words:
        assert word in str(caught.value)


# ---------------------------------------------------------------- colour scales

@pytest.mark.parametrize("clip", [99.5, 95, 90])
def test_clip_limits_are_the_percentile_of_abs_r(real_map, clip):
    limit = np.percentile(np.abs(real_map), clip)
    assert 0 < limit < np.max(np.abs(real_map))
    shown = the_map(viz.draw(real_map, clip=clip).axes[0])
    assert shown.norm.vmin == pytest.approx(-limit)
    assert shown.norm.vmax == pytest.approx(limit)
    values = np.asarray(shown.get_array())
    assert values.max() == pytest.approx(limit) and values.min() >= -limit - 1e-12
    inside = np.abs(real_map) <= limit
    np.testing.assert_allclose(values[inside], real_map[inside])
    assert shown.norm(0.0) == pytest.approx(0.5)  # centred at 0


def test_clip_of_a_mostly_zero_map_keeps_the_largest_value():
    r = np.zeros((28, 28))
    r[0, 0], r[3, 4] = 2.0, -5.0  # the 99.5th percentile of |r| is 0
    assert np.percentile(np.abs(r), 99.5) == 0
    shown = the_map(viz.draw(r, clip=99.5).axes[0])
    assert shown.get_clim() == (-5.0, 5.0)


def test_without_clip_the_limits_are_max_abs(real_map):
    shown = the_map(viz.draw(real_map).axes[0])
    top = float(np.max(np.abs(real_map)))
    assert shown.get_clim() == pytest.approx((-top, top))
    assert shown.get_cmap().name == "bwr"


@pytest.mark.parametrize("sign, part, cmap", [
    ("positive", lambda r: np.maximum(r, 0), "Reds"),
    ("negative", lambda r: np.maximum(-r, 0), "Blues"),
    ("absolute", np.abs, "Greens"),
])
def test_sign_draws_one_part_from_zero(real_map, sign, part, cmap):
    shown = the_map(viz.draw(real_map, sign=sign, clip=99).axes[0])
    limit = np.percentile(part(real_map), 99)
    assert shown.get_clim() == pytest.approx((0.0, limit))
    np.testing.assert_allclose(np.asarray(shown.get_array()),
                               np.minimum(part(real_map), limit))
    assert shown.get_cmap().name == cmap


def test_counting_clip_and_log_scale(net, digits):
    counts = sl.relevance(net, digits[0][0], semiring=sl.Counting()).reshape(28, 28)
    assert counts.dtype == np.int64
    linear = the_map(viz.draw(counts, clip=90).axes[0])  # counting from the dtype
    assert linear.get_clim() == pytest.approx((0.0, np.percentile(counts, 90)))
    log = the_map(viz.draw(counts, scale="log").axes[0])
    assert isinstance(log.norm, matplotlib.colors.LogNorm)
    assert log.get_clim() == (1.0, float(counts.max()))
    # a count of 0 is drawn in the colour of the lowest count
    zero = tuple(log.cmap(log.norm(np.ma.masked_less_equal([0.0], 0)))[0])
    assert zero == pytest.approx(tuple(log.cmap(0.0)))
    assert (counts == 0).any()


def test_boolean_colours_from_a_pair_or_a_colour_map():
    mask = np.eye(5, dtype=bool)
    shown = the_map(viz.draw(mask, cmap=("white", "navy")).axes[0])
    assert shown.cmap.N == 2
    assert shown.to_rgba(0.0) == pytest.approx(matplotlib.colors.to_rgba("white"))
    assert shown.to_rgba(1.0) == pytest.approx(matplotlib.colors.to_rgba("navy"))
    gray = the_map(viz.draw(mask, cmap="gray", clip=50).axes[0])  # clip: ignored for boolean
    assert gray.to_rgba(0.0)[:3] == pytest.approx((0, 0, 0))
    assert gray.to_rgba(1.0)[:3] == pytest.approx((1, 1, 1))
    with pytest.raises(ValueError, match="3 colours"):
        viz.draw(mask, cmap=("red", "green", "blue"))


def test_viterbi_is_named_and_drawn_from_zero_to_one(net, digits):
    v = sl.relevance(net, digits[0][0], semiring=sl.Viterbi()).reshape(28, 28)
    by_name = the_map(viz.draw(v, kind="viterbi").axes[0])
    by_semiring = the_map(viz.draw(v, kind=sl.Viterbi()).axes[0])
    assert by_name.get_clim() == by_semiring.get_clim() == (0.0, 1.0)
    assert by_name.get_cmap().name == "hot"
    assert the_map(viz.draw(v).axes[0]).get_cmap().name == "bwr"  # floats default to real


def test_a_colour_map_instance_is_used(real_map):
    cmap = matplotlib.colormaps["PiYG"]
    assert the_map(viz.draw(real_map, cmap=cmap).axes[0]).get_cmap() is cmap
    assert the_map(viz.draw(real_map, cmap="seismic").axes[0]).get_cmap().name == "seismic"


# ---------------------------------------------------------------- titles

def test_titles_name_semiring_threshold_and_target(real_map):
    def title(**kwargs):
        return viz.draw(real_map, **kwargs).axes[0].get_title()

    assert title() == ""
    assert title(title="mine") == "mine"
    assert title(kind=sl.Boolean(0.05, absolute=True), title=True, target=3) == \
        "Boolean, |d| threshold 0.05, target 3"
    assert title(kind=sl.Counting([0.1, 0.2, 0.3]), title=True) == \
        "Counting, thresholds 0.1, 0.2, 0.3 (3 layers)"
    paper = sl.Boolean(sl.composites.PAPER_VGG16_THRESHOLDS, absolute=True)
    assert title(kind=paper, title=True) == \
        "Boolean, |d| thresholds 0.05 ... 0.0145 (16 layers)"
    assert title(kind=sl.Real(), title=True, target=7) == "Real, target 7"
    assert title(kind="viterbi", title=True) == "[0, 1]-relevance"


def test_heatmap_title_true_is_the_suptitle(real_map, digits):
    fig = viz.heatmap(digits[0][0], real_map, sl.Boolean(0.01), title=True, target=4)
    assert fig.get_suptitle() == "Boolean, threshold 0.01, target 4"
    assert fig.axes[1].get_title() == "B-relevance for output neuron 4"


# ---------------------------------------------------------------- grids

def test_compare_semirings_rows_by_columns(net, digits):
    images, _ = digits
    semirings = [sl.Real(), sl.Boolean(), sl.Counting(0.01)]
    fig = viz.compare(net, images, semirings=semirings, title="three digits")
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 3 * 4
    grid = np.asarray(axes, dtype=object).reshape(3, 4)
    assert [ax.get_title() for ax in grid[0]] == [
        "input", "Real", "Boolean, threshold 1e-09", "Counting, threshold 0.01"]
    assert all(ax.get_title() == "" for ax in grid[1:].flat)
    predicted = np.argmax(net.forward(images), axis=-1)
    assert [ax.get_ylabel() for ax in grid[:, 0]] == [f"target {t}" for t in predicted]
    assert fig.get_suptitle() == "three digits"
    for i, image in enumerate(images):
        np.testing.assert_allclose(np.asarray(grid[i, 0].images[0].get_array()), image, rtol=1e-6)
        for j, semiring in enumerate(semirings, start=1):
            expected = sl.relevance(net, image, target=int(predicted[i]), semiring=semiring)
            shown = np.asarray(the_map(grid[i, j]).get_array())
            if isinstance(semiring, sl.Boolean):
                expected = expected.astype(np.float64)
            np.testing.assert_allclose(shown, np.asarray(expected, np.float64).reshape(28, 28))


def test_compare_thresholds_and_rules(net, digits):
    images, _ = digits
    base = sl.Counting(absolute=True)
    fig = viz.compare(net, images[:2], targets=[3, 5], thresholds=[1e-9, 0.05], semiring=base,
                      mode="alone")
    grid = np.asarray([ax for ax in fig.axes if ax.images], dtype=object).reshape(2, 2)
    assert [ax.get_title() for ax in grid[0]] == ["|d| threshold 1e-09", "|d| threshold 0.05"]
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["target 3", "target 5"]
    expected = sl.relevance(net, images[1], target=5,
                            semiring=sl.Counting(0.05, absolute=True)).reshape(28, 28)
    np.testing.assert_array_equal(np.asarray(grid[1, 1].images[0].get_array()), expected)

    rules = {"LRP-0": sl.rules.Zero(), "LRP-eps": sl.rules.Epsilon(0.1)}
    fig = viz.compare(net, images[0], targets=0, rules=rules, init="activation", mode="overlay")
    cells = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in cells] == ["LRP-0", "LRP-eps"]
    assert all(len(ax.images) == 2 for ax in cells)  # each map over its input
    expected = sl.relevance(net, images[0], target=0, rule=sl.rules.Epsilon(0.1),
                            init="activation").reshape(28, 28)
    np.testing.assert_allclose(np.asarray(cells[1].images[1].get_array()), expected)


def test_compare_folds_conv_channels(digits):
    cnn = sl.models.mnist_cnn()
    x = digits[0][:2, None]
    fig = viz.compare(cnn, x, semirings={"B": sl.Boolean(), "N": sl.Counting()})
    grid = np.asarray([ax for ax in fig.axes if ax.images], dtype=object).reshape(2, 3)
    expected = sl.relevance(cnn, x[1], semiring=sl.Boolean())[0]
    np.testing.assert_array_equal(np.asarray(grid[1, 1].images[0].get_array()), expected)
    assert grid[1, 1].images[0].get_clim() == (-0.5, 1.5)  # drawn as boolean


def test_compare_rgb_input_is_rescaled_for_display():
    rng = np.random.default_rng(0)
    net = sl.Network([sl.Conv2d(rng.normal(size=(2, 3, 3, 3)).astype(np.float32), padding=1),
                      sl.ReLU(), sl.Flatten(),
                      sl.Linear(rng.normal(size=(4, 2 * 6 * 6)).astype(np.float32))],
                     input_shape=(3, 6, 6))
    x = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)  # a normalised input, not in [0, 1]
    fig = viz.compare(net, x, semirings=[sl.Real()])
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert shown.shape == (6, 6, 3)
    assert shown.min() == 0.0 and shown.max() == pytest.approx(1.0)
    rgb = np.moveaxis(x[0], 0, -1)
    np.testing.assert_allclose(shown, (rgb - rgb.min()) / np.ptp(rgb), rtol=1e-6)


@pytest.mark.parametrize("kwargs, error, words", [
    ({}, ValueError, ["semirings=", "rules=", "thresholds="]),
    ({"semirings": [sl.Real()], "rules": [sl.rules.Zero()]}, ValueError, ["exactly one"]),
    ({"thresholds": [0.1], "semiring": sl.Real()}, TypeError, ["Boolean or Counting"]),
    ({"semirings": ["real"]}, TypeError, ["'real'", "Semiring"]),
    ({"semirings": []}, ValueError, ["empty"]),
    ({"semirings": sl.Real()}, TypeError, ["list or a dict"]),
    ({"semirings": [sl.Real(), sl.Real()]}, ValueError, ["'Real'", "dict"]),
    ({"semirings": [sl.Real()], "targets": [1, 2, 3]}, ValueError, ["3 targets", "2 samples"]),
])
def test_compare_rejects_bad_columns(net, digits, kwargs, error, words):
    with pytest.raises(error) as caught:
        viz.compare(net, digits[0][:2], **kwargs)
    for word in words:
        assert word in str(caught.value)


def test_grid_of_precomputed_maps(real_map, digits):
    maps = {"R": np.stack([real_map, -real_map]), "B": [real_map > 0, real_map < 0]}
    fig = viz.grid(maps, row_titles=["first", "second"], clip=99)
    grid = np.asarray([ax for ax in fig.axes if ax.images], dtype=object).reshape(2, 2)
    assert [ax.get_title() for ax in grid[0]] == ["R", "B"]
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["first", "second"]
    limit = np.percentile(np.abs(real_map), 99)
    assert grid[1, 0].images[0].get_clim() == pytest.approx((-limit, limit))
    assert grid[0, 1].images[0].get_clim() == (-0.5, 1.5)  # bool: boolean
    assert len(fig.axes) == 4  # no colour bars by default
    with_images = viz.grid(maps, images=np.stack([digits[0][0]] * 2), colorbar=True)
    assert len([ax for ax in with_images.axes if ax.images]) == 2 * 3  # an input column
    assert len(with_images.axes) == 2 * 3 + 2 * 2


@pytest.mark.parametrize("maps, kwargs, error, words", [
    ([np.zeros((4, 4))], {}, TypeError, ["dict"]),
    ({"a": np.zeros((2, 4, 4)), "b": np.zeros((3, 4, 4))}, {}, ValueError, ["differ in shape"]),
    ({"a": np.zeros(4)}, {}, ValueError, ["(N, H, W)"]),
    ({"a": np.zeros((2, 4, 4))}, {"images": np.zeros((3, 4, 4))}, ValueError, ["3 images"]),
    ({"a": np.zeros((2, 4, 4))}, {"row_titles": ["x"]}, ValueError, ["row_titles"]),
    ({"a": np.zeros((2, 4, 4))}, {"kind": {"b": "real"}}, ValueError, ["'a'"]),
    ({"a": np.zeros((2, 4, 4))}, {"mode": "overlay"}, ValueError, ["image"]),
])
def test_grid_rejects_bad_input(maps, kwargs, error, words):
    with pytest.raises(error) as caught:
        viz.grid(maps, **kwargs)
    for word in words:
        assert word in str(caught.value)


# ---------------------------------------------------------------- without matplotlib

@pytest.mark.parametrize("call", [
    lambda: viz.draw(np.zeros((4, 4))),
    lambda: viz.grid({"a": np.zeros((1, 4, 4))}),
    lambda: viz.class_masks(np.zeros((1, 4, 4), bool)),
])
def test_missing_matplotlib_says_how_to_install(monkeypatch, call):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "semiring_lrp\[plot\]"'):
        call()


# ---------------------------------------------------------------- the command line

def run(capsys, *args):
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("fmt", ["pdf", "svg", "eps", "jpg", "png"])
def test_explain_output_format_follows_the_name(tmp_path, capsys, fmt):
    path = tmp_path / f"explain.{fmt}"
    status, out, err = run(capsys, "explain", "--output", str(path))
    assert status == 0, err
    assert_format(path, fmt)
    assert f"wrote {path}" in out


def test_explain_dpi(tmp_path, capsys):
    sizes = []
    for dpi in ("50", "150"):
        status, _, err = run(capsys, "explain", "--dpi", dpi, "--output", str(tmp_path / "a.png"))
        assert status == 0, err
        sizes.append(png_size((tmp_path / "a.png").read_bytes()))
    assert all(abs(high - 3 * low) <= 3 for low, high in zip(*sizes))
    status, _, err = run(capsys, "explain", "--dpi", "0", "--output", str(tmp_path / "b.png"))
    assert status == 2 and "dots per inch" in err


def test_mask_output_format_follows_the_name(tmp_path, capsys):
    path = tmp_path / "masks.pdf"
    status, _, err = run(capsys, "mask", "--limit", "50", "--no-progress", "--output", str(path))
    assert status == 0, err
    assert_format(path, "pdf")
    assert (tmp_path / "masks_or.npy").exists()


@pytest.mark.parametrize("command", [["explain"], ["mask"], ["prune"]])
def test_unknown_output_ending_is_a_usage_error_before_any_work(tmp_path, capsys, monkeypatch,
                                                                 command):
    def forbidden(*args, **kwargs):
        pytest.fail("a forward pass ran before the usage error")

    monkeypatch.setattr(sl.Network, "forward", forbidden)
    monkeypatch.setattr(sl.Network, "activations", forbidden)
    status, _, err = run(capsys, *command, "--output", str(tmp_path / "out.gif"))
    assert status == 2
    assert "--output" in err and "'.gif'" in err and ".pdf" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.gif").exists()
