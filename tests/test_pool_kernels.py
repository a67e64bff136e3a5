"""The real and Viterbi relevance of 2x2 pooling of stride 2 (VGG's pools),
whose windows the core takes in vectors where they cover the input, against
a literal loop over the windows (semantics.md: real z_k = sum_j n_jk, R_j =
sum_k n_jk / z_k R_k, 0 where z_k = 0; Viterbi m_k = max_j |n_jk|, R_j =
max_k |n_jk| / (m_k + 1e-9) R_k), with ties and zeros, on every instruction
set, covering shapes and one with a row and column left out; their forward
pass, in vectors too; pools whose windows are single inputs (an adaptive
pool to its input's size), whose passes are element-wise; and the tier each
pooling pass notes for the shape it gets."""
import contextlib

import numpy as np
import pytest
from reference import ISAS

import semiring_lrp as sl
from semiring_lrp import _core
from semiring_lrp.layers import KernelStep
from semiring_lrp.semiring_specs import spec_named

# (N, C, H, W): windows covering the input, and one row and column left out
SHAPES = [(2, 3, 8, 6), (1, 2, 2, 34), (1, 2, 7, 9)]


def _literal(a, r_out, maxpool, semiring):
    n, c, h, w = a.shape
    r_in = np.zeros(a.shape)
    for i in range(n):
        for ch in range(c):
            for oy in range(h // 2):
                for ox in range(w // 2):
                    window = [(2 * oy + dy, 2 * ox + dx) for dy in (0, 1) for dx in (0, 1)]
                    values = [float(a[i, ch, y, x]) for y, x in window]
                    if maxpool == "winner":
                        first = int(np.argmax(values))  # the first arg-max
                        numerators = [v if q == first else 0.0 for q, v in enumerate(values)]
                    else:
                        numerators = [v * 0.25 for v in values]
                    z = sum(numerators)
                    m = max(abs(nj) for nj in numerators)
                    for (y, x), nj in zip(window, numerators):
                        if semiring == "viterbi":
                            v = abs(nj) / (m + 1e-9) * r_out[i, ch, oy, ox]
                            r_in[i, ch, y, x] = max(r_in[i, ch, y, x], v)
                        else:
                            r_in[i, ch, y, x] += 0.0 if z == 0 else nj / z * r_out[i, ch, oy, ox]
    return r_in


def _inputs(shape, dtype, seed, semiring):
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.normal(size=shape), 0).astype(dtype)
    a.flat[::7] = 0.5  # ties inside windows
    a[:, :, :2, :2] = 0  # a window of zeros
    pool = sl.MaxPool2d(2, 2)
    r = rng.normal(size=pool.forward(a).shape).astype(dtype)
    r.flat[::5] = 0
    return pool, a, np.abs(r) if semiring == "viterbi" else r


@pytest.mark.parametrize("semiring", ["real", "viterbi"])
@pytest.mark.parametrize("maxpool", ["winner", "average"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_2x2_pooling_equals_the_literal_loop(dtype, shape, maxpool, semiring, restore_kernels):
    pool, a, r = _inputs(shape, dtype, sum(shape), semiring)
    want = _literal(a, r.astype(np.float64), maxpool, semiring)
    tolerance = 1e-6 if dtype == np.float32 else 1e-14
    runs = {}
    for isa in ISAS:
        _core.set_isa(isa)
        got = pool.kernel_relevance(KernelStep(spec_named(semiring), maxpool=maxpool), a, r)
        assert got.dtype == dtype and got.shape == a.shape
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
        runs[isa] = got
    for got in runs.values():  # no multiply-add: every set forms the same bits
        np.testing.assert_array_equal(got.view(np.uint8), runs[ISAS[0]].view(np.uint8))


def _literal_forward(a, maxpool):
    """The 2x2 windows' first arg-max or sum 0 + v00 w + v01 w + v10 w + v11 w,
    window by window in a's dtype."""
    n, c, h, w = a.shape
    z = np.zeros((n, c, h // 2, w // 2), a.dtype)
    quarter = a.dtype.type(0.25)
    for index in np.ndindex(z.shape):
        i, ch, oy, ox = index
        values = [a[i, ch, 2 * oy + dy, 2 * ox + dx] for dy in (0, 1) for dx in (0, 1)]
        if maxpool == "winner":
            z[index] = values[int(np.argmax(values))]  # the first arg-max
        else:
            total = a.dtype.type(0)
            for v in values:
                total = total + v * quarter
            z[index] = total
    return z


@pytest.mark.parametrize("maxpool", ["winner", "average"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_2x2_forward_gives_the_bits_of_the_literal_loop(dtype, shape, maxpool, restore_kernels):
    _, a, _ = _inputs(shape, dtype, sum(shape) + 1, "real")
    a[0, 0, 0, 2:4] = [-0.0, 0.0]  # a tie of -0 and +0: the first one is the maximum
    a[0, 0, 1, 2:4] = -1
    layer = sl.MaxPool2d(2, 2) if maxpool == "winner" else sl.AvgPool2d(2, 2)
    want = _literal_forward(a, maxpool)
    for isa in ISAS:
        _core.set_isa(isa)
        got = layer.forward(a)
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    if maxpool == "winner":
        assert np.signbit(got[0, 0, 0, 1])


def _single_inputs_literal(a, weight, r_out, semiring, theta, absolute):
    """Every window one input with weight `weight` (1 for max pooling), in
    a's dtype: n = a w, z = 0 + n, then each semiring's pair step of
    semantics.md on the one pair."""
    dtype = a.dtype.type
    n = a * weight
    z = dtype(0) + n
    ratio = np.where(z != 0, r_out.astype(a.dtype) / np.where(z != 0, z, 1), 0).astype(a.dtype)
    d = np.where(z != 0, n / np.where(z != 0, z, 1), 0)
    passes = (np.abs(d) if absolute else d) >= theta
    if semiring == "real":
        return dtype(0) + n * ratio
    if semiring == "viterbi":
        e = np.abs(n)
        v = e / (e + dtype(1e-9)) * r_out
        return np.where(v > 0, v, dtype(0))
    if semiring == "boolean":
        return (r_out != 0) & passes
    return np.where(passes, r_out, 0).astype(np.int64)


SINGLE_INPUT_POOLS = [
    (sl.AdaptiveAvgPool2d((5, 3)), 1.0, "average"),  # VGG's 7x7 to 7x7, smaller
    (sl.AdaptiveAvgPool2d((None, 3)), 1.0, "average"),
    (sl.AvgPool2d(1), 1.0, "average"),
    (sl.AvgPool2d(1, divisor_override=4), 0.25, "average"),
    (sl.MaxPool2d(1), 1.0, "winner"),
]


@pytest.mark.parametrize("layer, weight, maxpool", SINGLE_INPUT_POOLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_input_windows_give_the_literal_passes(dtype, layer, weight, maxpool,
                                                      restore_kernels):
    rng = np.random.default_rng(7)
    a = rng.normal(size=(2, 3, 5, 3)).astype(dtype)
    a.flat[::4] = 0
    a.flat[1::9] = -0.0
    w = dtype(weight)
    want_z = a.copy() if maxpool == "winner" else dtype(0) + a * w
    r_real = rng.normal(size=a.shape).astype(dtype)
    r_real.flat[::5] = 0
    outputs = {"real": r_real, "viterbi": np.abs(r_real), "boolean": r_real > 0,
               "counting": rng.integers(0, 5, size=a.shape)}
    nonzero = set()
    for isa in ISAS:
        _core.set_isa(isa)
        z = layer.forward(a)
        np.testing.assert_array_equal(z.view(np.uint8), want_z.view(np.uint8))
        for semiring, r_out in outputs.items():
            theta, absolute = (0.5, semiring == "counting") if semiring in (
                "boolean", "counting") else (0.0, False)
            step = KernelStep(spec_named(semiring), theta=theta, absolute=absolute,
                              maxpool=maxpool)
            got = layer.kernel_relevance(step, a, r_out)
            want = _single_inputs_literal(a, w, r_out, semiring, theta, absolute)
            assert got.shape == a.shape and got.dtype == want.dtype
            # the same IEEE operations in the same order: the same bits, -0 and +0 apart
            np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
            nonzero.add((semiring, np.count_nonzero(got) > 0))
    assert nonzero == {(semiring, True) for semiring in outputs}


@contextlib.contextmanager
def _tier_notes():
    """A list that gets the tier notes of the core's passes in the block."""
    start, take, stop = _core.trace_start, _core.trace_take, _core.trace_stop
    notes = []
    start()
    try:
        yield notes
    finally:
        notes.extend(take())
        stop()


# (layer, input shape, tier of the forward, of real/Viterbi, of boolean/counting)
TIER_CASES = [
    (sl.MaxPool2d(2, 2), (2, 3, 8, 6), "rows_2x2", "rows_2x2", "windows_2x2"),  # covering
    (sl.AvgPool2d(2, 2), (1, 2, 7, 9), "rows_2x2", "windows_2x2", "windows_2x2"),  # one left
    (sl.MaxPool2d(3, 2), (1, 2, 9, 9), "windows", "windows", "windows"),
    (sl.AdaptiveAvgPool2d(3), (1, 2, 7, 8), "windows", "windows", "windows"),
    (sl.AdaptiveAvgPool2d((7, 8)), (1, 2, 7, 8), *["single_inputs"] * 3),
    (sl.MaxPool2d(1), (1, 2, 3, 4), *["single_inputs"] * 3),
    (sl.AdaptiveAvgPool2d(1), (1, 2, 1, 1), *["single_inputs"] * 3),
]


@pytest.mark.parametrize("layer, shape, forward, rows, plain", TIER_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_pass_notes_the_tier_of_its_windows(dtype, layer, shape, forward, rows, plain):
    a = np.random.default_rng(1).normal(size=shape).astype(dtype)
    with _tier_notes() as notes:
        z = layer.forward(a)
    assert notes == [f"pool.forward.{forward}"]
    outputs = {"real": z, "viterbi": np.abs(z), "boolean": z > 0,
               "counting": (z > 0).astype(np.int64)}
    for semiring, r_out in outputs.items():
        with _tier_notes() as notes:
            layer.kernel_relevance(KernelStep(spec_named(semiring)), a, r_out)
        tier = rows if semiring in ("real", "viterbi") else plain
        assert notes == [f"pool.{semiring}.{tier}"]


def test_a_failing_pass_notes_no_tier():
    layer = sl.AvgPool2d(3, 1)  # overlapping windows: an input adds up to 9 counts
    a = np.ones((1, 1, 5, 5), np.float32)
    r_out = np.full(layer.forward(a).shape, 2**62, np.int64)
    with _tier_notes() as notes, pytest.raises(OverflowError):
        layer.kernel_relevance(KernelStep(spec_named("counting")), a, r_out)
    assert notes == []


def test_windows_are_kept_per_input_size_read_only_and_not_pickled():
    import pickle

    layer = sl.MaxPool2d(3, 2, padding=1)
    small, large = np.zeros((1, 2, 7, 5), np.float32), np.zeros((1, 2, 9, 9), np.float32)
    mode, windows, weight = layer.relevance_table(small, "average")
    first = layer.relevance_table(small, "winner")
    assert layer.relevance_table(small, "winner")[1] is first[1]  # kept, not made anew
    assert [len(w) for w in first[1]] == [4, 4, 3, 3]
    assert [len(w) for w in layer.relevance_table(large, "winner")[1]] == [5, 5, 5, 5]
    assert layer.relevance_table(small.astype(np.float64), "average")[2].dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        first[1][0][0] = 5
    with pytest.raises(ValueError, match="read-only"):
        weight[0, 0] = 1
    copy = pickle.loads(pickle.dumps(layer))
    assert "_tables" not in vars(copy) and "_tables" not in vars(copy._average)
    a = np.random.default_rng(2).normal(size=small.shape).astype(np.float32)
    np.testing.assert_array_equal(copy.forward(a), layer.forward(a))
    for size in range(10, 30):  # a bounded number of sizes is kept
        layer.forward(np.zeros((1, 1, size, size), np.float32))
    assert 0 < len(vars(layer)["_tables"]) <= 8
