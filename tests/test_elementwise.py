"""The core's element-by-element passes against NumPy: ReLU (np.maximum(a, 0)
bit for bit: NaN stays, -0 becomes 0) and the all-zero test of a relevance array
(np.any: -0 is zero, NaN is not)."""
import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp import _core

SIZES = [0, 1, 63, 64, 65, 65536 * 3 + 17]


def _bits(x):
    return x.view(np.uint32 if x.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_is_numpy_maximum_bit_for_bit(dtype, size, restore_kernels):
    rng = np.random.default_rng(size)
    a = rng.normal(size=size).astype(dtype)
    special = np.array([-0.0, 0.0, np.nan, -np.inf, np.inf, -1e-45, 5e-324], dtype=dtype)
    a[:min(size, special.size)] = special[:min(size, special.size)]
    want = np.maximum(a, 0)
    for threads in (1, 2, 3):
        sl.set_num_threads(threads)
        got = _core.relu(a)
        assert got.dtype == dtype and got.shape == a.shape and got is not a
        np.testing.assert_array_equal(_bits(got), _bits(want))


def test_relu_takes_any_layout_and_keeps_the_shape():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4, 9, 10)).astype(np.float32)
    for view in (a[:, :, ::2, 1::3], a.transpose(0, 2, 3, 1), a.astype(">f4")):
        got = _core.relu(view)
        assert got.shape == view.shape and got.flags.c_contiguous
        np.testing.assert_array_equal(got, np.maximum(view, 0))


def test_relu_layer_refuses_nothing_numpy_takes():
    """Other dtypes still go through NumPy."""
    layer = sl.ReLU()
    np.testing.assert_array_equal(layer.forward(np.array([-2, 3])), [0, 3])
    assert layer.forward(np.array([-1.5], dtype=np.float16)).dtype == np.float16
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.relu(np.array([1, -1]))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        _core.relu([1.0, -1.0])


@pytest.mark.parametrize("size", SIZES[1:])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_, np.int64, np.uint8, ">f8"])
def test_any_nonzero_is_numpy_any(dtype, size):
    x = np.zeros(size + 3, dtype=dtype)
    for offset in range(3):  # views that start off a word's alignment
        view = x[offset:offset + size]
        assert not _core.any_nonzero(view)
        for where in {0, size // 2, size - 1}:
            view[where] = 1
            assert _core.any_nonzero(view)
            view[where] = 0
    assert not _core.any_nonzero(np.zeros(0, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_any_nonzero_on_signed_zeros_and_nan(dtype):
    x = np.full(1000, -0.0, dtype=dtype)
    assert not _core.any_nonzero(x) and not x.any()
    x[999] = np.nan
    assert _core.any_nonzero(x) and x.any()
    tiny = np.finfo(dtype).smallest_subnormal
    assert _core.any_nonzero(np.array([[0.0], [tiny]], dtype=dtype)[::-1])


@pytest.mark.parametrize("columns", [1, 7, 64, 1025])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_, np.int64, np.int8, ">f4"])
def test_rows_any_nonzero_is_numpy_any_per_row(dtype, columns):
    rng = np.random.default_rng(columns)
    rows = np.zeros((9, columns), dtype=dtype)
    for i, where in enumerate(rng.integers(0, columns, size=6)):
        rows[i, where] = 1  # rows 6, 7, 8 stay zero
    for view in (rows, rows[::-1], rows[:, ::-1], np.asfortranarray(rows), rows[2:2]):
        got = _core.rows_any_nonzero(view)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, view.any(axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_any_nonzero_on_signed_zeros_and_nan(dtype):
    rows = np.full((3, 100), -0.0, dtype=dtype)
    rows[1, 50] = np.nan
    rows[2, 99] = np.finfo(dtype).smallest_subnormal
    np.testing.assert_array_equal(_core.rows_any_nonzero(rows), [False, True, True])


def test_rows_any_nonzero_refuses_other_shapes_and_types():
    with pytest.raises(ValueError, match="2-D array, not 1-D"):
        _core.rows_any_nonzero(np.zeros(3))
    with pytest.raises(TypeError, match="float32, float64, bool or integer"):
        _core.rows_any_nonzero(np.zeros((2, 3), dtype=np.complex64))
    with pytest.raises(TypeError, match="NumPy array"):
        _core.rows_any_nonzero([[0.0]])


def test_any_nonzero_refuses_other_types():
    with pytest.raises(TypeError, match="float32, float64, bool or integer"):
        _core.any_nonzero(np.zeros(3, dtype=np.complex64))
    with pytest.raises(TypeError, match="NumPy array"):
        _core.any_nonzero([0.0])


# one value, a vector's block and one past it, work items of 65,536 values
# split over the threads with a partial last one
FINITE_SIZES = [1, 64, 65, 65536 * 5 + 3]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", FINITE_SIZES)
def test_all_finite_is_numpy_isfinite_all(size, dtype, threads, restore_kernels):
    sl.set_num_threads(threads)
    rng = np.random.default_rng(size)
    x = (rng.uniform(-1, 1, size + 1) * np.finfo(dtype).max).astype(dtype)
    view = x[1:]  # off a word's alignment
    assert _core.all_finite(view)
    for bad in (np.nan, np.inf, -np.inf):
        for where in {0, size // 2, size - 1}:
            kept = view[where]
            view[where] = bad
            assert not _core.all_finite(view) and not np.isfinite(view).all()
            view[where] = kept
    assert _core.all_finite(view[::-1]) and _core.all_finite(np.zeros(0, dtype=dtype))


def test_all_finite_refuses_other_types():
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.all_finite(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="NumPy array"):
        _core.all_finite([0.0])
