"""The real and Viterbi relevance of 2x2 pooling of stride 2 (VGG's pools),
whose windows the core takes in vectors where they cover the input, against
a literal loop over the windows (semantics.md: real z_k = sum_j n_jk, R_j =
sum_k n_jk / z_k R_k, 0 where z_k = 0; Viterbi m_k = max_j |n_jk|, R_j =
max_k |n_jk| / (m_k + 1e-9) R_k), with ties and zeros, on every instruction
set, covering shapes and one with a row and column left out; and the tier
each pooling pass notes for the shape it gets."""
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


# (layer, input shape, tier of forward/boolean/counting, tier of real/Viterbi)
TIER_CASES = [
    (sl.MaxPool2d(2, 2), (2, 3, 8, 6), "windows_2x2", "rows_2x2"),  # 2x2 covering
    (sl.AvgPool2d(2, 2), (1, 2, 7, 9), "windows_2x2", "windows_2x2"),  # one row, column left
    (sl.MaxPool2d(3, 2), (1, 2, 9, 9), "windows", "windows"),
    (sl.AdaptiveAvgPool2d(3), (1, 2, 7, 8), "windows", "windows"),
]


@pytest.mark.parametrize("layer, shape, plain, rows", TIER_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_pass_notes_the_tier_of_its_windows(dtype, layer, shape, plain, rows):
    a = np.random.default_rng(1).normal(size=shape).astype(dtype)
    with _tier_notes() as notes:
        z = layer.forward(a)
    assert notes == [f"pool.forward.{plain}"]
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
