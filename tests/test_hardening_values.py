"""Values that do not fit: every layer configuration value is checked for
type and range when a layer is built (by hand or from a network file, whose
error names the file and the layer); integer arguments across the package
take NumPy integers and refuse bools and floats; the C core refuses ints it
cannot hold, naming the argument; a bad thread count in the environment is a
warning at import, not a failure."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp import _core
from semiring_lrp.apps.perturbation import occlusion_map
from semiring_lrp.apps.pruning import neuron_scores
from semiring_lrp.datasets import as_dataset
from semiring_lrp.layers import Conv2d, Flatten, Linear, ReLU
from semiring_lrp.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

REPO = Path(__file__).resolve().parents[1]
RULE0 = (_core.RULE_ZERO, 0.0, _core.EPS_SIGN, 0.0)


# ---------------------------------------------------------------- layer constructors

def _conv(**config):
    return Conv2d(np.ones((2, 1, 3, 3)), **config)


BAD_LAYERS = [
    # (build, exception, words the message holds)
    (lambda: AvgPool2d(2, ceil_mode="no"), TypeError, "AvgPool2d ceil_mode"),
    (lambda: AvgPool2d(2, ceil_mode=1), TypeError, "AvgPool2d ceil_mode"),
    (lambda: AvgPool2d(2, count_include_pad="yes"), TypeError, "AvgPool2d count_include_pad"),
    (lambda: AvgPool2d(2, divisor_override=2.9), TypeError, "AvgPool2d divisor_override"),
    (lambda: AvgPool2d(2, divisor_override=True), TypeError, "AvgPool2d divisor_override"),
    (lambda: AvgPool2d(2, divisor_override=0), ValueError, "AvgPool2d divisor_override"),
    (lambda: AvgPool2d(2, divisor_override=2 ** 61), ValueError, "AvgPool2d divisor_override"),
    (lambda: AvgPool2d(2.0), TypeError, "AvgPool2d kernel_size"),
    (lambda: AvgPool2d(True), TypeError, "AvgPool2d kernel_size"),
    (lambda: AvgPool2d("2"), TypeError, "AvgPool2d kernel_size"),
    (lambda: AvgPool2d((2, 2, 2)), TypeError, "AvgPool2d kernel_size"),
    (lambda: AvgPool2d(0), ValueError, "AvgPool2d kernel_size"),
    (lambda: AvgPool2d(2 ** 32, padding=2 ** 31), ValueError, "AvgPool2d kernel_size"),
    (lambda: AvgPool2d(2, stride=0), ValueError, "AvgPool2d stride"),
    (lambda: AvgPool2d(2, stride=(1, 1.5)), TypeError, "AvgPool2d stride"),
    (lambda: AvgPool2d(3, padding=2), ValueError, "AvgPool2d padding"),
    (lambda: AvgPool2d(2, padding=-1), ValueError, "AvgPool2d padding"),
    (lambda: MaxPool2d(2, ceil_mode="no"), TypeError, "MaxPool2d ceil_mode"),
    (lambda: MaxPool2d(2.5), TypeError, "MaxPool2d kernel_size"),
    (lambda: MaxPool2d(3, padding=2), ValueError, "MaxPool2d padding"),
    (lambda: MaxPool2d(2 ** 40), ValueError, "MaxPool2d kernel_size"),
    (lambda: AdaptiveAvgPool2d(0), ValueError, "AdaptiveAvgPool2d output_size"),
    (lambda: AdaptiveAvgPool2d(2.5), TypeError, "AdaptiveAvgPool2d output_size"),
    (lambda: AdaptiveAvgPool2d(True), TypeError, "AdaptiveAvgPool2d output_size"),
    (lambda: AdaptiveAvgPool2d((1, 2, 3)), TypeError, "AdaptiveAvgPool2d output_size"),
    (lambda: _conv(stride=1.5), TypeError, "Conv2d stride"),
    (lambda: _conv(stride=True), TypeError, "Conv2d stride"),
    (lambda: _conv(stride=2 ** 31), ValueError, "Conv2d stride"),
    (lambda: _conv(padding=-1), ValueError, "Conv2d padding"),
    (lambda: _conv(padding=2 ** 40), ValueError, "Conv2d padding"),
    (lambda: _conv(dilation=0), ValueError, "Conv2d dilation"),
    (lambda: _conv(groups=2.0), TypeError, "Conv2d groups"),
    (lambda: _conv(groups=True), TypeError, "Conv2d groups"),
    (lambda: _conv(groups=3), ValueError, "Conv2d groups"),
]


@pytest.mark.parametrize("build, error, words", BAD_LAYERS,
                         ids=[f"{i}-{w}" for i, (_, _, w) in enumerate(BAD_LAYERS)])
def test_a_layer_refuses_a_value_that_does_not_fit(build, error, words):
    with pytest.raises(error, match=words):
        build()


def test_numpy_integers_give_the_same_layers_as_ints():
    pool = AvgPool2d(np.int64(3), stride=np.array([1, 2]), padding=np.int32(1),
                     ceil_mode=np.bool_(True), divisor_override=np.uint8(4))
    assert pool.config() == AvgPool2d(3, (1, 2), 1, True, divisor_override=4).config()
    conv = _conv(stride=np.int64(2), padding=(np.int16(1), 0), groups=np.int64(1))
    assert conv.config() == _conv(stride=2, padding=(1, 0)).config()
    # the values saved are JSON's: plain ints and bools
    for layer in (pool, conv, MaxPool2d(np.int64(2)), AdaptiveAvgPool2d((np.int64(7), None))):
        config = layer.config()
        assert json.loads(json.dumps(config)) == config


def test_the_largest_average_pool_keeps_its_divisor():
    """A 2**30 kernel padded by 2**29 on a 1x1 input: two windows per axis,
    each 2**30 cells with the padding, so every output is 1 / 2**60. A
    kernel of 2**32 made the divisor 2**64, which wrapped to 0 in int64."""
    pool = AvgPool2d(2 ** 30, stride=1, padding=2 ** 29)
    out = pool.forward(np.ones((1, 1, 1, 1)))
    assert out.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 2.0 ** -60))


def test_network_input_shape_takes_sizes_only():
    layer = Linear(np.ones((2, 4)))
    with pytest.raises(TypeError, match="input_shape must be a tuple"):
        sl.Network([layer], "4")
    with pytest.raises(TypeError, match=r"input_shape\[0\] must be an int"):
        sl.Network([layer], (4.5,))
    with pytest.raises(TypeError, match=r"input_shape\[0\] must be an int"):
        sl.Network([layer], (True,))
    with pytest.raises(ValueError, match=r"input_shape\[1\]"):
        sl.Network([layer], (1, 2 ** 40))
    assert sl.Network([layer], (np.int64(4),)).input_shape == (4,)
    assert sl.Network([layer], np.array([2, 2])).input_shape == (2, 2)


# ---------------------------------------------------------------- network files

def _pool_net():
    conv = Conv2d(np.ones((2, 1, 3, 3)), padding=1)
    layers = [conv, ReLU(), AvgPool2d(2), Flatten(), Linear(np.ones((3, 8)))]
    return sl.Network(layers, (1, 4, 4))


def _tampered(tmp_path, net, change):
    """The file of `net` with its header changed by change(header)."""
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    header = json.loads(str(arrays.pop("header")))
    change(header)
    bad = tmp_path / "bad.npz"
    np.savez(bad, header=np.array(json.dumps(header)), **arrays)
    return bad


def _set_pool(**values):
    def change(header):
        header["layers"][2]["config"].update(values)
    return change


@pytest.mark.parametrize("values, words", [
    ({"ceil_mode": "no"}, "ceil_mode"),
    ({"count_include_pad": 1}, "count_include_pad"),
    ({"divisor_override": 2.9}, "divisor_override"),
    ({"kernel_size": [2 ** 32, 2 ** 32], "padding": [2 ** 31, 2 ** 31]}, "kernel_size"),
    ({"kernel_size": [2.0, 2.0]}, "kernel_size"),
    ({"stride": [True, 1]}, "stride"),
    ({"padding": [2, 2]}, "padding"),
])
def test_a_file_with_a_bad_pool_value_names_the_file_and_layer(tmp_path, values, words):
    bad = _tampered(tmp_path, _pool_net(), _set_pool(**values))
    with pytest.raises(ValueError, match="AvgPool2d") as info:
        sl.load(bad)
    message = str(info.value)
    assert message.startswith(f"{bad}: layer 2 (AvgPool2d): ") and words in message


@pytest.mark.parametrize("values, words", [
    ({"stride": [1.5, 1]}, "stride"), ({"groups": True}, "groups"),
    ({"dilation": [2 ** 40, 1]}, "dilation"), ({"padding": "1"}, "padding")])
def test_a_file_with_a_bad_conv_value_names_the_file_and_layer(tmp_path, values, words):
    def change(header):
        header["layers"][0]["config"].update(values)
    bad = _tampered(tmp_path, _pool_net(), change)
    with pytest.raises(ValueError) as info:
        sl.load(bad)
    assert str(info.value).startswith(f"{bad}: layer 0 (Conv2d): ") and words in str(info.value)


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_a_file_version_must_be_the_int_1(tmp_path, version):
    bad = _tampered(tmp_path, _pool_net(), lambda header: header.update(version=version))
    with pytest.raises(ValueError, match="unsupported format version"):
        sl.load(bad)


def test_a_file_with_good_values_still_loads(tmp_path):
    net = _pool_net()
    path = tmp_path / "net.npz"
    net.save(path)
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(sl.load(path).forward(x), net.forward(x))


# ---------------------------------------------------------------- integer arguments

@pytest.fixture
def restore_threads():
    before = sl.get_num_threads()
    yield
    sl.set_num_threads(before)


@pytest.mark.parametrize("count", [np.int64(3), np.int32(2), np.uint16(1)])
def test_set_num_threads_takes_numpy_integers(restore_threads, count):
    sl.set_num_threads(count)
    assert sl.get_num_threads() == int(count)


@pytest.mark.parametrize("bad, error", [
    (True, TypeError), (np.bool_(True), TypeError), (2.0, TypeError), (np.float64(2), TypeError),
    ("2", TypeError), (0, ValueError), (1025, ValueError), (np.int64(-1), ValueError),
    (2 ** 70, ValueError)])
def test_set_num_threads_names_the_value_it_refuses(restore_threads, bad, error):
    before = sl.get_num_threads()
    with pytest.raises(error, match="thread count") as info:
        sl.set_num_threads(bad)
    if error is ValueError:
        assert "from 1 to 1024" in str(info.value) and str(int(bad)) in str(info.value)
    assert sl.get_num_threads() == before


def test_array_pool_limit_takes_numpy_integers():
    before = sl.memory.array_pool_limit()
    try:
        sl.memory.set_array_pool_limit(np.int64(12345))
        assert sl.memory.array_pool_limit() == 12345
        for bad, error in ((True, TypeError), (1.0, TypeError), (-1, ValueError)):
            with pytest.raises(error, match="the array pool's limit"):
                sl.memory.set_array_pool_limit(bad)
    finally:
        sl.memory.set_array_pool_limit(before)


def test_a_seed_is_an_int_at_least_0(mlp):
    scores = neuron_scores(mlp, None, "fc1", criterion="random", seed=np.int64(3))
    np.testing.assert_array_equal(scores, neuron_scores(mlp, None, "fc1", criterion="random",
                                                        seed=3))
    for bad, error in ((True, TypeError), (1.5, TypeError), (-1, ValueError)):
        with pytest.raises(error, match="seed"):
            neuron_scores(mlp, None, "fc1", criterion="random", seed=bad)


def test_a_patch_of_bools_is_refused(mlp, digits):
    images, labels = digits
    data = (images[:2], labels[:2])
    with pytest.raises(TypeError, match="patch"):
        occlusion_map(mlp, data, patch=(True, 2))
    with pytest.raises(TypeError, match="batch_size"):
        occlusion_map(mlp, data, patch=4, batch_size=True)
    assert occlusion_map(mlp, data, patch=(np.int64(14), 14),
                         batch_size=np.int64(2)).shape == (2, 2)


def test_dataset_load_refuses_bools():
    dataset = as_dataset((np.zeros((4, 3)), np.zeros(4, dtype=np.int64)))
    with pytest.raises(TypeError, match="load's start"):
        dataset.load(True, 2)
    assert dataset.load(np.int64(1), np.int32(3))[0].shape == (2, 3)


# ---------------------------------------------------------------- the C core's ints

def test_core_thread_count_refuses_bools_and_names_itself():
    before = _core.num_threads()
    with pytest.raises(TypeError, match="the thread count must be an int, not the bool"):
        _core.set_num_threads(True)
    with pytest.raises(OverflowError, match="the thread count must be 1 to 1024"):
        _core.set_num_threads(2 ** 70)
    assert _core.num_threads() == before


@pytest.mark.parametrize("position, value, error, words", [
    (0, 2 ** 40, ValueError, "stride_h"), (2, 2 ** 40, ValueError, "pad_h"),
    (5, 2 ** 31, ValueError, "dil_w"), (3, 2 ** 64, OverflowError, "pad_w"),
    (6, True, TypeError, "groups"), (1, 1.0, TypeError, "stride_w")])
def test_core_geometry_names_the_value_it_refuses(position, value, error, words):
    geometry = [1, 1, 0, 0, 1, 1, 1]
    geometry[position] = value
    with pytest.raises(error, match=f"geometry's {words}"):
        _core.conv_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1), RULE0,
                           tuple(geometry))


@pytest.mark.parametrize("mode, error", [(2 ** 40, ValueError), (2 ** 70, OverflowError),
                                         (True, TypeError), (5, ValueError)])
def test_core_pool_mode_names_itself(mode, error):
    windows = (np.zeros(1, np.int64), np.ones(1, np.int64)) * 2
    a = np.ones((1, 1, 1, 1))
    with pytest.raises(error, match="the pooling mode"):
        _core.pool_forward(a, mode, windows, np.ones((1, 1)))
    with pytest.raises(error, match="the pooling mode"):
        _core.pool_relevance(_core.SEMIRING_REAL, a, np.ones((1, 1, 1, 1)), mode, windows,
                             np.ones((1, 1)))


# ---------------------------------------------------------------- the environment

def _import_with(variables):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SEMIRING_LRP_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(variables)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    code = "import semiring_lrp as sl; print(sl.get_num_threads())"
    return subprocess.run([sys.executable, "-W", "always", "-c", code], env=env,
                          capture_output=True, text=True, timeout=120)


def _default_threads():
    return min(len(os.sched_getaffinity(0)), 1024)


@pytest.mark.parametrize("name", ["OMP_NUM_THREADS", "SEMIRING_LRP_NUM_THREADS"])
@pytest.mark.parametrize("value", ["0", "-3", "many", "100000", "2.5"])
def test_import_warns_about_a_bad_thread_count_and_uses_the_default(name, value):
    done = _import_with({name: value})
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == _default_threads()
    assert "RuntimeWarning" in done.stderr and f"{name}={value!r}" in done.stderr


def test_import_reads_a_good_thread_count_silently():
    done = _import_with({"OMP_NUM_THREADS": "3"})
    assert done.returncode == 0 and int(done.stdout) == 3
    assert "Warning" not in done.stderr
