"""The core's element-by-element passes against NumPy: ReLU (np.maximum(a, 0)
bit for bit: NaN stays, -0 becomes 0), the all-zero test of a relevance array
(np.any: -0 is zero, NaN is not), the finiteness test, and the stabiliser of
the denominators with its two finiteness checks against a literal loop."""
import math

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


def literal_stabilise(z, eps, plus, relative):
    """stab(z) value by value as semantics.md writes it: eps (times the
    sample's root mean square of z, summed exactly) added, with the sign of
    z (sign(0) = +1) unless plus; one sample per row of z.reshape(n, -1)."""
    flat = z.reshape(len(z), -1)
    out = np.empty_like(flat)
    for n, row in enumerate(flat):
        scale = math.sqrt(math.fsum(float(v) ** 2 for v in row) / row.size) if relative else 1.0
        e = z.dtype.type(eps * scale)
        for i, v in enumerate(row):
            out[n, i] = v + e if plus or v >= 0 else v - e
    return out.reshape(z.shape)


# samples of one value, of a vector's block and one past it, and of more
# than one sum-of-squares block (65,536 values) split over the threads
STABILISE_SHAPES = [(1, 1), (3, 16), (2, 17, 3), (2, 65536 * 2 + 5)]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("mode", [_core.EPS_SIGN, _core.EPS_PLUS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", STABILISE_SHAPES)
def test_stabilise_is_the_literal_loop(shape, dtype, mode, relative, threads, restore_kernels):
    sl.set_num_threads(threads)
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    z = rng.normal(size=shape).astype(dtype)
    z.flat[:3] = np.array([0.0, -0.0, 1e-30])[:z.size]
    rule = (_core.RULE_EPSILON, 0.25, mode, 0.0)
    before = z.copy()
    out, z_finite, finite = _core.stabilise(z, rule, False, relative)
    assert z_finite and finite and out is not z and out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(z, before)
    want = literal_stabilise(z, 0.25, mode == _core.EPS_PLUS, relative)
    if relative and dtype == np.float64:
        # the core's sums of squares are rounded (the literal's are exact):
        # eps to 1e-14 of itself
        np.testing.assert_allclose(out, want, rtol=5e-16, atol=1e-14 * np.abs(want - z).max())
    else:
        np.testing.assert_array_equal(_bits(out), _bits(want))
    again, _, _ = _core.stabilise(z, rule, True, relative)
    assert again is z
    np.testing.assert_array_equal(_bits(again), _bits(out))


def test_stabilise_relative_eps_is_numpys_mean_of_squares():
    """The recipe's eps in float32 as NumPy computed it before the core did
    (its pairwise sums): the same bits on these layers' shapes."""
    dtype = np.float32
    rng = np.random.default_rng(3)
    for shape in ((4, 512, 14, 14), (2, 64, 56, 56), (3, 4096)):
        z = (rng.normal(size=shape) * rng.uniform(0.1, 10)).astype(dtype)
        flat = z.reshape(shape[0], -1)
        eps = (0.25 * np.sqrt(np.mean(np.square(flat, dtype=np.float64), axis=1))).astype(dtype)
        want = z + eps.reshape((-1,) + (1,) * (z.ndim - 1))
        got, _, _ = _core.stabilise(z, (_core.RULE_EPSILON, 0.25, _core.EPS_PLUS, 0.0), False, True)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stabilise_with_eps_zero_leaves_every_bit(dtype):
    z = np.array([[-0.0, 0.0, -1.5, 2.0, np.inf]], dtype=dtype)
    for mode in (_core.EPS_SIGN, _core.EPS_PLUS):
        out, z_finite, finite = _core.stabilise(z, (_core.RULE_EPSILON, 0.0, mode, 0.0))
        np.testing.assert_array_equal(_bits(out), _bits(z))
        assert not z_finite and not finite
    # a relative eps of 0 still adds it, as the rule defines: -0 + 0 = +0
    out, _, _ = _core.stabilise(z[:, :4], (_core.RULE_EPSILON, 0.0, _core.EPS_PLUS, 0.0), False,
                                True)
    np.testing.assert_array_equal(_bits(out), _bits(z[:, :4] + dtype(0)))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", FINITE_SIZES)
def test_stabilise_reports_what_is_not_finite(size, dtype, threads, restore_kernels):
    """z's own infinity or NaN, wherever it lies, sets the first flag (and
    the second: it stays); a finite z that eps pushes past the largest value
    sets the second alone."""
    sl.set_num_threads(threads)
    rng = np.random.default_rng(size)
    big = np.finfo(dtype).max
    z = rng.uniform(-1, 1, (1, size)).astype(dtype)
    rule = (_core.RULE_EPSILON, 1.0, _core.EPS_SIGN, 0.0)
    assert _core.stabilise(z, rule)[1:] == (True, True)
    for where in {0, size // 2, size - 1}:
        for bad, flags in ((np.nan, (False, False)), (-np.inf, (False, False)),
                           (big, (True, False)), (-big, (True, False))):
            kept = z[0, where]
            z[0, where] = bad
            huge_eps = (_core.RULE_EPSILON, float(big) / 2, _core.EPS_SIGN, 0.0)
            got = _core.stabilise(z, huge_eps if np.isfinite(bad) else rule)
            assert got[1:] == flags, (where, bad)
            z[0, where] = kept


def test_stabilise_relative_overflow_is_reported_on_the_output():
    """float64 squares past the largest double make the scale infinite: z
    was finite, the stabilised z is not."""
    z = np.array([[1e200, -1e200, 3.0]])
    out, z_finite, finite = _core.stabilise(z, (_core.RULE_EPSILON, 0.25, _core.EPS_PLUS, 0.0),
                                            False, True)
    assert z_finite and not finite and np.isinf(out).all()


def test_rule_stabilise_checked_is_stabilise_and_both_checks():
    z = np.array([[1.0, -2.0], [0.0, 3.0]], dtype=np.float32)
    rule = sl.rules.Epsilon(0.5, relative=True)
    out, z_finite, finite = rule.stabilise_checked(z)
    np.testing.assert_array_equal(out, rule.stabilise(z))
    assert z_finite and finite
    want = literal_stabilise(z, 0.5, False, True)
    np.testing.assert_array_equal(out, want)
