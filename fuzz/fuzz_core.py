"""atheris harness for every entry point of semiring_lrp._core.

    python fuzz/fuzz_core.py [libFuzzer flags] [corpus dirs]

One target, `test_one_input(data)`: the bytes pick an entry point
(dense_forward, dense_absmax, dense_relevance, conv_forward, conv_absmax,
conv_relevance, pool_forward, pool_relevance, stabilise) and build its
arguments: small shapes (zeros and mismatches included), dtypes (float32,
float64, ints, bool, complex, object, float16, longdouble), layouts (Fortran,
strided, reversed, byte-swapped, unaligned, read-only, broadcast, subclass),
NaN/inf values, rule tuples, geometry tuples, pooling windows, thresholds,
semiring ids and counts, each mostly well-formed and now and then not.

Accepted outcomes: a result, or TypeError, ValueError, OverflowError or
MemoryError. Anything else is a finding (SystemError, any other exception,
a crash, a hang). When a call succeeds the harness also checks:
  * the output's type, shape and dtype are the documented ones;
  * no input array was modified;
  * a second identical call gives bit-identical output;
  * the result does not depend on the memory layout of the inputs (the same
    values as fresh C-contiguous native-endian arrays give the same outcome);
  * counting relevance is >= 0 and at most the sample's total count,
    boolean and counting relevance is empty where r_out is, and Viterbi
    relevance is >= 0 and never NaN;
  * a call the harness built entirely by the documented rules does not
    raise TypeError/ValueError (only OverflowError for counts, MemoryError).
Each array stays below MAX_ELEMENTS elements, so an iteration takes
milliseconds.
"""
from __future__ import annotations

import math
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Draw, Finding  # noqa: E402

from semiring_lrp import _core  # noqa: E402

HARNESS = "core"
ENTRY_POINTS = ("dense_forward", "dense_absmax", "dense_relevance", "conv_forward",
                "conv_absmax", "conv_relevance", "pool_forward", "pool_relevance",
                "stabilise")
ACCEPTED = (TypeError, ValueError, OverflowError, MemoryError)
MAX_ELEMENTS = 100_000
# A valid conv geometry can ask for an output of gigabytes (padding 2**30).
# Outputs above 2**36 bytes cannot be allocated on any machine this runs on
# and are called (they must fail cleanly); between 16 MB and that the call
# would be slow, not wrong, and is skipped.
SLOW_OUTPUT_BYTES = 16 << 20
IMPOSSIBLE_OUTPUT_BYTES = 1 << 36

REAL, BOOLEAN, COUNTING, VITERBI = (_core.SEMIRING_REAL, _core.SEMIRING_BOOLEAN,
                                    _core.SEMIRING_COUNTING, _core.SEMIRING_VITERBI)
SEMIRINGS = (REAL, BOOLEAN, COUNTING, VITERBI)
BAD_SEMIRINGS = (-1, max(SEMIRINGS) + 1, 2 ** 31, 2 ** 64, -(2 ** 70), True, 1.0, "real", None,
                 b"\x00", np.float64(1))
FLOAT_TYPES = (np.float64, np.float32)
OTHER_DTYPES = (np.int64, np.int32, np.bool_, np.complex128, object, np.float16,
                np.longdouble, np.longlong, np.uint8, np.complex64)

# values of eps, gamma and theta: the valid ones first
EPS_VALID = (0.0, 1e-9, 0.25, 1.0, 1e-3, 1e-30, 5e-324, 1e300, 3.4e38, 1e39, 7, True)
EPS_BAD = (-1e-9, -0.0, math.nan, math.inf, -math.inf, -1.0, 10 ** 400, "0.1", None,
           1j, np.float64(math.nan), [])
THETA_VALID = (0.0, 1e-9, -1e-9, 0.5, -1.0, 1.0, math.inf, -math.inf, 1e300, -1e300,
               5e-324, 1e39, 0, 3)
THETA_BAD = (math.nan, 10 ** 400, "0", None, 1j, np.float32(math.nan))
ABSOLUTE = (False, True, 0, 1, 2, None, "yes", [], np.bool_(True))
# geometry values: small valid ones, then extremes
HUGE_INTS = (0, -1, -2, 2 ** 30, 2 ** 30 + 1, 2 ** 31, 2 ** 40, 2 ** 62, 2 ** 63 - 1,
             -(2 ** 63), 2 ** 63, 2 ** 64, 10 ** 30, -(10 ** 30))
NOT_INTS = (1.5, "1", None, True, np.int64(2), np.float64(1.0), [1])
RULE_KINDS = (0, 1, 2, 3)
BAD_RULE_KINDS = (-1, 4, 2 ** 31, 2 ** 63, -(2 ** 63), 1.0, "0", None, True)
EPS_MODES = (0, 1)
BAD_EPS_MODES = (2, -1, 2 ** 40, 1.0, None)
POOL_MODES = (_core.POOL_MAX, _core.POOL_AVERAGE)
BAD_POOL_MODES = (2, -1, 2 ** 31, -(2 ** 31) - 1, 1.5, "max", None, True)
SPECIALS = (math.nan, math.inf, -math.inf, 0.0, -0.0, 1e38, -1e38, 1e308, -1e308, 5e-324,
            1e-45, 3.5e38, 1.0, -1.0)
BIG_COUNTS = (2 ** 62, 2 ** 63 - 1, 2 ** 53, 2 ** 53 + 1, 2 ** 32, 1, 0)


class SubArray(np.ndarray):
    """An ndarray subclass: the core takes any ndarray."""


class Call:
    """One generated call: the entry point, its arguments, and what the
    harness knows about them."""

    def __init__(self, name):
        self.name = name
        self.args = []
        self.kwargs = {}
        self.clean = True        # built by the documented rules only
        self.layout = []         # (label, array) of layout variants applied
        self.semiring = None

    def dirty(self):
        self.clean = False


class Builder:
    def __init__(self, draw: Draw):
        self.d = draw

    # --- numbers ------------------------------------------------------------

    def float_value(self, valid, bad, call):
        if self.d.maybe(8):
            call.dirty()
            return self.d.pick(bad)
        return self.d.pick(valid)

    def raw_double(self):
        raw = self.d.bytes(8)
        return struct.unpack("<d", raw.ljust(8, b"\0"))[0]

    def dim(self, allow_zero=True):
        table = (1, 2, 3, 1, 2, 4, 5, 3, 0, 1, 2, 6, 7, 8, 12, 16)
        value = table[self.d.int(0, len(table) - 1)]
        if value == 0 and not allow_zero:
            return 1
        return value

    # --- arrays ---------------------------------------------------------------

    def values(self, shape, dtype):
        """An array of `shape` and float `dtype` with fuzzed values."""
        size = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        mode = self.d.int(0, 8)
        if mode == 0:
            rng = np.random.default_rng(self.d.int(0, 65535))
            out = rng.standard_normal(size)
        elif mode == 1:
            out = np.zeros(size)
        elif mode == 2:
            out = np.ones(size)
        elif mode == 3:
            rng = np.random.default_rng(self.d.int(0, 65535))
            out = rng.integers(-3, 4, size).astype(np.float64)
        elif mode == 4:
            rng = np.random.default_rng(self.d.int(0, 65535))
            out = rng.standard_normal(size)
            for _ in range(self.d.int(1, 4)):
                if size:
                    out[self.d.int(0, size - 1)] = self.d.pick(SPECIALS)
        elif mode == 5:
            width = np.dtype(dtype).itemsize
            raw = self.d.bytes(min(size * width, 64))
            if not raw:
                raw = b"\0"
            raw = (raw * (size * width // len(raw) + 1))[:size * width]
            with np.errstate(all="ignore"):
                out = (np.frombuffer(raw, dtype=dtype).astype(np.float64) if size
                       else np.zeros(0))
        elif mode == 6:
            out = np.full(size, self.d.pick(SPECIALS))
        elif mode == 7:
            rng = np.random.default_rng(self.d.int(0, 65535))
            out = rng.random(size) * self.d.pick((1.0, 1e30, 1e-30, 1e38, 1e300))
        else:
            out = np.full(size, self.raw_double())
        with np.errstate(all="ignore"):
            return out.astype(dtype).reshape(shape)

    def counts(self, shape, call):
        size = int(np.prod(shape, dtype=np.int64))
        mode = self.d.int(0, 4)
        rng = np.random.default_rng(self.d.int(0, 65535))
        if mode == 0:
            out = rng.integers(0, 4, size)
        elif mode == 1:
            out = np.ones(size, dtype=np.int64)
        elif mode == 2:
            out = np.zeros(size, dtype=np.int64)
        elif mode == 3:
            out = rng.integers(0, 3, size)
            for _ in range(self.d.int(1, 3)):
                if size:
                    out[self.d.int(0, size - 1)] = self.d.pick(BIG_COUNTS)
        else:
            out = np.full(size, self.d.pick(BIG_COUNTS), dtype=np.int64)
        out = out.astype(np.int64)
        if size and self.d.maybe(10):
            out[self.d.int(0, size - 1)] = self.d.pick((-1, -(2 ** 63), -5))
            call.dirty()
        return out.reshape(shape)

    def flags(self, shape):
        size = int(np.prod(shape, dtype=np.int64))
        mode = self.d.int(0, 3)
        rng = np.random.default_rng(self.d.int(0, 65535))
        if mode == 0:
            return rng.random(size).reshape(shape) < 0.5
        if mode == 1:
            return np.ones(shape, dtype=bool)
        if mode == 2:
            return np.zeros(shape, dtype=bool)
        # bytes other than 0 and 1 viewed as bool
        return rng.integers(0, 256, size).astype(np.uint8).view(np.bool_).reshape(shape)

    def layout(self, arr, name, call, structural=False):
        """The same values in another memory layout (recorded for the
        metamorphic check), now and then. Broadcasting changes the values,
        so it is kept off arrays whose values make a call valid."""
        if not isinstance(arr, np.ndarray) or not self.d.maybe(3):
            return arr
        choice = self.d.int(0, 8)
        out, label = arr, None
        if choice == 0 and arr.ndim >= 2:
            out, label = np.asfortranarray(arr), "fortran"
        elif choice == 1 and arr.ndim >= 1:
            big = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1] + 1,), dtype=arr.dtype)
            big[..., 1::2] = arr
            out, label = big[..., 1::2], "strided"
        elif choice == 2 and arr.ndim >= 1:
            out, label = np.flip(np.flip(arr, 0).copy(), 0), "reversed"
        elif choice == 3 and arr.dtype.byteorder not in ("|",) and arr.dtype.itemsize > 1:
            out, label = arr.astype(arr.dtype.newbyteorder()), "byteswap"
        elif choice == 4 and arr.dtype.itemsize > 1 and arr.dtype != object:
            buf = np.zeros(arr.nbytes + arr.dtype.itemsize + 1, dtype=np.uint8)
            out = buf[1:1 + arr.nbytes].view(arr.dtype).reshape(arr.shape)
            out[...] = arr
            label = "unaligned"
        elif choice == 5:
            out = arr.copy()
            out.flags.writeable = False
            label = "readonly"
        elif choice == 6 and arr.ndim >= 1 and arr.shape[-1] > 1 and not structural:
            out, label = np.broadcast_to(arr[..., :1], arr.shape), "broadcast"
        elif choice == 7:
            out, label = arr.view(SubArray), "subclass"
        elif choice == 8 and arr.ndim >= 2:
            out, label = np.swapaxes(np.swapaxes(arr, 0, 1).copy(), 0, 1), "transposed"
        if label is not None:
            call.layout.append((f"{name}:{label}", out))
        return out

    def spoil(self, arr, name, call):
        """Now and then, make an argument wrong: another dtype, ndim or
        shape, or not an array at all."""
        if not self.d.maybe(12):
            return arr
        call.dirty()
        how = self.d.int(0, 6)
        if not isinstance(arr, np.ndarray):
            return None
        if how == 0:
            dtype = self.d.pick(OTHER_DTYPES + FLOAT_TYPES)
            with np.errstate(all="ignore"):
                return arr.astype(dtype)
        if how == 1:
            return arr.reshape((1,) + arr.shape)
        if how == 2:
            return arr.reshape(-1) if arr.ndim != 1 else arr.reshape(1, -1)
        if how == 3:
            shape = tuple(max(0, s + self.d.int(-1, 1)) for s in arr.shape)
            if math.prod(shape) > MAX_ELEMENTS:
                shape = tuple(min(s, 4) for s in shape)
            return np.zeros(shape, dtype=arr.dtype)
        if how == 4:
            return arr.tolist()
        if how == 5:
            return self.d.pick((None, 1.0, "a", np.float64(1.0), b"", object()))
        return np.zeros((), dtype=arr.dtype)

    def array_arg(self, arr, name, call, structural=False):
        arr = self.spoil(arr, name, call)
        return self.layout(arr, name, call, structural)

    # --- tuples ---------------------------------------------------------------

    def rule(self, call):
        kind = self.d.pick(RULE_KINDS)
        eps = self.float_value(EPS_VALID, EPS_BAD, call)
        mode = self.d.pick(EPS_MODES)
        gamma = self.float_value(EPS_VALID, EPS_BAD, call)
        if self.d.maybe(10):
            kind = self.d.pick(BAD_RULE_KINDS)
            call.dirty()
        if self.d.maybe(10):
            mode = self.d.pick(BAD_EPS_MODES)
            call.dirty()
        rule = (kind, eps, mode, gamma)
        return self.container(rule, call), kind

    def container(self, items, call):
        """A tuple as documented, or now and then another container."""
        if not self.d.maybe(10):
            return tuple(items)
        call.dirty()
        how = self.d.int(0, 5)
        if how == 0:
            return list(items)
        if how == 1:
            return tuple(items[:-1])
        if how == 2:
            return tuple(items) + (0,)
        if how == 3:
            try:
                return np.array(items, dtype=object)
            except Exception:
                return None
        if how == 4:
            return None
        return (tuple(items),)

    # --- entry points ---------------------------------------------------------

    def build(self):
        name = ENTRY_POINTS[self.d.int(0, len(ENTRY_POINTS) - 1)]
        call = Call(name)
        if name.startswith("dense"):
            self.dense(call)
        elif name.startswith("conv"):
            self.conv(call)
        elif name.startswith("pool"):
            self.pool(call)
        else:
            self.stabilise(call)
        return call

    def float_type(self):
        return self.d.pick(FLOAT_TYPES)

    def semiring(self, call):
        if self.d.maybe(12):
            call.dirty()
            return self.d.pick(BAD_SEMIRINGS)
        return self.d.pick(SEMIRINGS)

    def relevance_out(self, semiring, shape, dtype, call):
        if semiring == BOOLEAN:
            return self.flags(shape)
        if semiring == COUNTING:
            return self.counts(shape, call)
        return self.values(shape, dtype)

    def bounds(self, a, dtype, call):
        shape = a.shape if isinstance(a, np.ndarray) else (1,)
        low = self.values(shape, dtype)
        high = self.values(shape, dtype)
        if self.d.maybe(10):
            call.dirty()
            return None, high
        return self.array_arg(low, "low", call), self.array_arg(high, "high", call)

    def threshold(self, call):
        theta = self.float_value(THETA_VALID, THETA_BAD, call)
        absolute = self.d.pick(ABSOLUTE)
        return theta, absolute  # "p" takes the truth of any object

    def dense(self, call):
        dtype = self.float_type()
        n, inp, out = self.dim(), self.dim(), self.dim()
        a = self.values((n, inp), dtype)
        w = self.values((out, inp), dtype)
        rule, kind = self.rule(call)
        zbox = kind == 3
        low = high = None
        if zbox:
            low, high = self.bounds(a, dtype, call)
        elif self.d.maybe(6):
            low, high = self.values(a.shape, dtype), self.values(a.shape, dtype)
        a_arg = self.array_arg(a, "a", call)
        w_arg = self.array_arg(w, "w", call)
        if call.name == "dense_relevance":
            semiring = self.semiring(call)
            z = self.values((n, out), dtype)
            r_out = self.relevance_out(semiring, (n, out), dtype, call)
            theta, absolute = self.threshold(call)
            call.semiring = semiring
            call.args = [semiring, a_arg, w_arg, self.array_arg(z, "z", call),
                         self.array_arg(r_out, "r_out", call), rule]
            self.optional(call, [("theta", theta), ("absolute", absolute), ("low", low),
                                 ("high", high)], needed=2 if zbox else 0)
        else:
            b = self.array_arg(self.values((out,), dtype), "b", call)
            call.args = [a_arg, w_arg, b, rule]
            self.optional(call, [("low", low), ("high", high)], needed=2 if zbox else 0)

    def optional(self, call, pairs, needed=0):
        """Optional arguments: positional, by keyword, or the last ones left
        out. Returns the names left out. (A z^B call needs its bounds: leaving
        them out makes the call unclean.)"""
        style = self.d.int(0, 2)
        omitted = []
        if style == 0:
            call.args.extend(v for _, v in pairs)
        elif style == 1:
            call.kwargs.update(pairs)
        else:
            keep = self.d.int(0, len(pairs))
            call.args.extend(v for _, v in pairs[:keep])
            omitted = [k for k, _ in pairs[keep:]]
        if needed and ("low" in omitted or "high" in omitted):
            call.dirty()
        if self.d.maybe(40):
            call.dirty()
            call.kwargs[self.d.pick(("bogus", "rule", "a", "semiring"))] = 1
        return omitted

    def conv(self, call):
        dtype = self.float_type()
        groups = self.d.pick((1, 1, 2, 3, 1, 4))
        cin_g, cout_g = self.dim(allow_zero=False), self.dim(allow_zero=False)
        n = self.d.pick((1, 2, 0, 3, 1))
        in_c, out_c = groups * cin_g, groups * cout_g
        h, w_ = self.dim(allow_zero=False), self.dim(allow_zero=False)
        kh, kw = self.d.pick((1, 2, 3, 1, 4, 5)), self.d.pick((1, 2, 3, 1, 4, 5))
        geometry = [self.d.pick((1, 2, 3, 1)), self.d.pick((1, 2, 3, 1)),
                    self.d.pick((0, 1, 2, 0, 3)), self.d.pick((0, 1, 2, 0, 3)),
                    self.d.pick((1, 2, 1, 3)), self.d.pick((1, 2, 1, 3)), groups]
        # keep the documented geometry valid: the kernel must fit the padded input
        for axis, size, k in ((0, h, kh), (1, w_, kw)):
            while size + 2 * geometry[2 + axis] - geometry[4 + axis] * (k - 1) - 1 < 0:
                if geometry[4 + axis] > 1:
                    geometry[4 + axis] -= 1
                elif k > 1:
                    k -= 1
                else:
                    geometry[2 + axis] += 1
            if axis == 0:
                kh = k
            else:
                kw = k
        if self.d.maybe(6):
            call.dirty()
            for _ in range(self.d.int(1, 3)):
                i = self.d.int(0, 6)
                geometry[i] = self.d.pick(HUGE_INTS if self.d.bool() else NOT_INTS)
        if self.d.maybe(8):  # channels that do not match
            call.dirty()
            in_c = max(0, in_c + self.d.int(-1, 1))
        while n * in_c * h * w_ > MAX_ELEMENTS:
            h = max(1, h // 2)
            w_ = max(1, w_ // 2)
            if n * in_c * h * w_ > MAX_ELEMENTS:
                n = max(0, n - 1)
        a = self.values((n, in_c, h, w_), dtype)
        w = self.values((out_c, cin_g, kh, kw), dtype)
        rule, kind = self.rule(call)
        zbox = kind == 3
        out_hw = conv_output_hw(h, w_, kh, kw, geometry)
        geometry_arg = self.container(geometry, call)
        low = high = None
        if zbox:
            low, high = self.bounds(a, dtype, call)
        a_arg = self.array_arg(a, "a", call)
        w_arg = self.array_arg(w, "w", call)
        planned = None if out_hw is None else (n, out_c) + out_hw
        if call.name == "conv_relevance":
            semiring = self.semiring(call)
            out_shape = planned or (n, out_c, 1, 1)
            if (int(np.prod(out_shape, dtype=object)) > MAX_ELEMENTS
                    or math.prod(d for d in out_shape if d) > 2 ** 40):
                call.dirty()
                out_shape = (n, out_c, 1, 1)
            z = self.values(out_shape, dtype)
            r_out = self.relevance_out(semiring, out_shape, dtype, call)
            theta, absolute = self.threshold(call)
            call.semiring = semiring
            call.args = [semiring, a_arg, w_arg, self.array_arg(z, "z", call),
                         self.array_arg(r_out, "r_out", call), rule, geometry_arg]
            self.optional(call, [("theta", theta), ("absolute", absolute), ("low", low),
                                 ("high", high)], needed=2 if zbox else 0)
        else:
            b = self.array_arg(self.values((out_c,), dtype), "b", call)
            call.args = [a_arg, w_arg, b, rule, geometry_arg]
            self.optional(call, [("low", low), ("high", high)], needed=2 if zbox else 0)

    def windows(self, size, count, call):
        start = np.zeros(count, dtype=np.int64)
        end = np.zeros(count, dtype=np.int64)
        for i in range(count):
            s = self.d.int(0, size - 1)
            e = self.d.int(s + 1, size)
            start[i], end[i] = s, e
        if count and self.d.maybe(6):
            call.dirty()
            i = self.d.int(0, count - 1)
            bad = (-1, size, size + 1, 2 ** 62, -(2 ** 63), 2 ** 63 - 1, 0)
            if self.d.bool():
                start[i] = self.d.pick(bad)
            else:
                end[i] = self.d.pick(bad + (start[i], start[i] - 1))
        return start, end

    def pool(self, call):
        dtype = self.float_type()
        n, c = self.d.pick((1, 2, 0, 3)), self.dim()
        h, w_ = self.dim(allow_zero=False), self.dim(allow_zero=False)
        out_h, out_w = self.dim(allow_zero=False), self.dim(allow_zero=False)
        mode = self.d.pick(POOL_MODES)
        if self.d.maybe(12):
            call.dirty()
            mode = self.d.pick(BAD_POOL_MODES)
        a = self.values((n, c, h, w_), dtype)
        rs, re_ = self.windows(h, out_h, call)
        cs, ce = self.windows(w_, out_w, call)
        bounds = [self.array_arg(arr, label, call, structural=True)
                  for arr, label in ((rs, "row_start"), (re_, "row_end"),
                                     (cs, "col_start"), (ce, "col_end"))]
        windows = self.container(bounds, call)
        weight = None
        if mode == _core.POOL_AVERAGE or self.d.maybe(4):
            weight = self.array_arg(self.values((out_h, out_w), dtype), "weight", call)
        if self.d.maybe(16):
            call.dirty()
            a = np.zeros((n, c, 0, w_), dtype=dtype)
        a_arg = self.array_arg(a, "a", call)
        if call.name == "pool_relevance":
            semiring = self.semiring(call)
            r_out = self.relevance_out(semiring, (a.shape[0], c, out_h, out_w), dtype, call)
            theta, absolute = self.threshold(call)
            call.semiring = semiring
            call.args = [semiring, a_arg, self.array_arg(r_out, "r_out", call), mode, windows]
            omitted = self.optional(call, [("weight", weight), ("theta", theta),
                                           ("absolute", absolute)])
        else:
            call.args = [a_arg, mode, windows]
            omitted = self.optional(call, [("weight", weight)])
        if mode == _core.POOL_AVERAGE and (weight is None or "weight" in omitted):
            call.dirty()

    def stabilise(self, call):
        dtype = self.float_type()
        ndim = self.d.int(0, 4)
        shape = tuple(self.dim() for _ in range(ndim))
        z = self.values(shape, dtype)
        rule, _ = self.rule(call)
        call.args = [self.array_arg(z, "z", call), rule]
        if self.d.int(0, 1):
            call.args += [False, bool(self.d.int(0, 1))]  # a copy, eps absolute or relative


def relevance_dtype(semiring, dtype):
    """The r_in dtype of a semiring: bool, int64, or the layer's float."""
    if semiring == BOOLEAN:
        return np.dtype(np.bool_)
    if semiring == COUNTING:
        return np.dtype(np.int64)
    return np.dtype(dtype)


def conv_output_hw(h, w, kh, kw, geometry):
    """PyTorch's output size, or None where the geometry has none."""
    try:
        sh, sw, ph, pw, dh, dw, _ = (int(v) for v in geometry)
        # the core takes bool as an int (True: 1), as Python's int() does
        if any(type(v) not in (int, bool, np.int64) for v in geometry):
            return None
    except (TypeError, ValueError):
        return None
    sizes = []
    for size, k, s, p, d in ((h, kh, sh, ph, dh), (w, kw, sw, pw, dw)):
        if s < 1 or p < 0 or d < 1:
            return None
        span = size + 2 * p - d * (k - 1) - 1
        if span < 0:
            return None
        sizes.append(span // s + 1)
    return tuple(sizes)


# ---------------------------------------------------------------------------
# running a call and checking it


def arrays_in(values):
    for v in values:
        if isinstance(v, np.ndarray):
            yield v
        elif isinstance(v, (tuple, list)):
            yield from arrays_in(v)


def snapshot(arr):
    return arr.shape, arr.dtype, arr.tobytes(order="A") if arr.dtype != object else list(arr.flat)


def invoke(call, args=None, kwargs=None):
    """(result, None) or (None, exception)."""
    fn = getattr(_core, call.name)
    try:
        return fn(*(call.args if args is None else args),
                  **(call.kwargs if kwargs is None else kwargs)), None
    except Exception as exc:  # classified by the caller
        return None, exc


def same_bits(x, y):
    if type(x) is tuple:  # stabilise's (array, z finite, out finite)
        return (type(y) is tuple and len(x) == len(y) and same_bits(x[0], y[0])
                and x[1:] == y[1:])
    return (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.shape == y.shape
            and x.dtype.num == y.dtype.num
            and one_nan(normalise(x)).tobytes() == one_nan(normalise(y)).tobytes())


def one_nan(arr):
    """arr with every NaN made the same NaN: IEEE 754 leaves open which NaN
    an operation returns when it meets several (x86 returns its first
    operand's), so a NaN's sign and payload are not part of a result."""
    if arr.dtype.kind != "f" or not np.isnan(arr).any():
        return arr
    return np.where(np.isnan(arr), np.array(np.nan, dtype=arr.dtype), arr)


def normalise(arr):
    """The same values in a fresh, aligned, C-ordered, native-endian ndarray."""
    if not isinstance(arr, np.ndarray) or arr.dtype == object:
        return arr
    return np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C", subok=False)


def replace_arrays(value, mapping):
    if isinstance(value, np.ndarray):
        return mapping.get(id(value), value)
    if type(value) is tuple:
        return tuple(replace_arrays(v, mapping) for v in value)
    if type(value) is list:
        return [replace_arrays(v, mapping) for v in value]
    return value


def rerun_with(call, arrays):
    mapping = {id(a): normalise(a) for a in arrays}
    args = [replace_arrays(v, mapping) for v in call.args]
    kwargs = {k: replace_arrays(v, mapping) for k, v in call.kwargs.items()}
    return invoke(call, args, kwargs)


def outcome(result, exc):
    return ("raise", type(exc)) if exc is not None else ("ok", result)


def same_outcome(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "raise":
        return a[1] is b[1]
    return same_bits(a[1], b[1])


def describe(call):
    def short(v):
        if isinstance(v, np.ndarray):
            return (f"ndarray{v.shape} {v.dtype.str} C={v.flags.c_contiguous} "
                    f"aligned={v.flags.aligned} {type(v).__name__}")
        text = repr(v)
        return text if len(text) < 80 else text[:77] + "..."
    args = ", ".join(short(v) for v in call.args)
    kwargs = ", ".join(f"{k}={short(v)}" for k, v in call.kwargs.items())
    return f"_core.{call.name}({args}{', ' if kwargs else ''}{kwargs})"


def documented_output(call):
    """(shape, dtype) the docstrings promise for the arguments as passed, or
    (None, None) where they do not say."""
    args = call.args
    name = call.name
    try:
        if name == "stabilise":
            return args[0].shape, args[0].dtype
        if name.endswith("_relevance"):
            a = args[1]
            semiring = args[0]
            return a.shape, relevance_dtype(semiring, a.dtype)
        a = args[0]
        if name.startswith("dense"):
            return (a.shape[0], args[1].shape[0]), a.dtype
        if name.startswith("conv"):
            w = args[1]
            hw = conv_output_hw(a.shape[2], a.shape[3], w.shape[2], w.shape[3], args[4])
            return (None if hw is None else (a.shape[0], w.shape[0]) + hw), a.dtype
        windows = args[2]
        return (a.shape[0], a.shape[1], len(windows[0]), len(windows[2])), a.dtype
    except (AttributeError, IndexError, TypeError):
        return None, None


def too_slow(call):
    """A conv forward/absmax whose documented output lies between 16 MB and
    64 GB: valid, but slow to compute, so not run."""
    if call.name not in ("conv_forward", "conv_absmax"):
        return False
    shape, dtype = documented_output(call)
    if shape is None or dtype is None:
        return False
    size = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
    return SLOW_OUTPUT_BYTES < size < IMPOSSIBLE_OUTPUT_BYTES


def check_result(call, result):
    if call.name == "stabilise":
        if not (isinstance(result, tuple) and len(result) == 3
                and all(type(flag) is bool for flag in result[1:])):
            raise Finding(f"{describe(call)} returned {result!r}, not (array, bool, bool)")
        result = result[0]
    if not isinstance(result, np.ndarray):
        raise Finding(f"{describe(call)} returned {type(result).__name__}, not an ndarray")
    shape, dtype = documented_output(call)
    if shape is not None and result.shape != tuple(shape):
        raise Finding(f"{describe(call)} returned shape {result.shape}, documented "
                      f"{tuple(shape)}")
    if dtype is not None and result.dtype.num != np.dtype(dtype).num:
        raise Finding(f"{describe(call)} returned dtype {result.dtype}, expected {dtype}")
    if not call.name.endswith("_relevance") or call.args[0] not in SEMIRINGS:
        return
    semiring = call.args[0]
    r_out = call.args[2] if call.name == "pool_relevance" else call.args[4]
    if not isinstance(r_out, np.ndarray):
        return
    r_out = normalise(r_out)
    r_in = normalise(result)
    if (r_in.ndim == 0 or r_out.ndim == 0 or r_in.shape[0] != r_out.shape[0]
            or r_in.shape[0] == 0):
        return
    n = r_in.shape[0]
    flat_in, flat_out = r_in.reshape(n, -1), r_out.reshape(n, -1)
    if semiring in (BOOLEAN, COUNTING):
        for i in range(n):
            if not flat_out[i].any() and flat_in[i].any():
                raise Finding(f"{describe(call)}: sample {i} has relevance below the layer "
                              f"but none above it ({semiring})")
    if semiring == COUNTING:
        if (flat_in < 0).any():
            raise Finding(f"{describe(call)}: negative count in r_in")
        for i in range(n):
            total = sum(int(v) for v in flat_out[i])
            if flat_in.shape[1] and int(flat_in[i].max()) > total:
                raise Finding(f"{describe(call)}: a count of r_in exceeds the sample's "
                              f"total count {total}")
    if semiring == VITERBI and r_in.size:
        if np.isnan(r_in).any() or (r_in < 0).any():
            raise Finding(f"{describe(call)}: Viterbi relevance must be >= 0 and never NaN")


def test_one_input(data: bytes) -> None:
    """The fuzz target: build one call from `data`, run it, check it."""
    call = Builder(Draw(common.provider(data))).build()
    if too_slow(call):
        return
    inputs = list(arrays_in(call.args + list(call.kwargs.values())))
    before = [snapshot(a) for a in inputs]
    result, exc = invoke(call)
    try:
        if exc is not None and not isinstance(exc, ACCEPTED):
            raise Finding(f"{describe(call)} raised {type(exc).__name__}: {exc}") from exc
        for arr, old in zip(inputs, before):
            if not _same_snapshot(snapshot(arr), old):
                raise Finding(f"{describe(call)} modified an input array")
        if call.layout:
            check_layout(call, (result, exc))
        if exc is not None:
            if call.clean and not isinstance(exc, (OverflowError, MemoryError)):
                raise Finding(f"{describe(call)} rejected a call built by the documented "
                              f"rules: {type(exc).__name__}: {exc}") from exc
            if isinstance(exc, OverflowError) and call.clean and call.semiring != COUNTING:
                raise Finding(f"{describe(call)}: OverflowError outside the counting "
                              f"semiring: {exc}") from exc
            return
        check_result(call, result)
        again, exc2 = invoke(call)
        if exc2 is not None or not same_bits(result, again):
            raise Finding(f"{describe(call)}: a second identical call gave another "
                          f"outcome ({exc2!r})")
    except Finding as finding:
        if exc is not None and finding.__cause__ is None:
            finding.__cause__ = exc
        common.report(HARNESS, finding)


def _same_snapshot(a, b):
    if a[0] != b[0] or a[1] != b[1]:
        return False
    if a[1] == object:
        return len(a[2]) == len(b[2]) and all(x is y or x == y for x, y in zip(a[2], b[2]))
    return a[2] == b[2]


def check_layout(call, first):
    """The outcome must not depend on how the input values lie in memory."""
    arrays = [arr for _, arr in call.layout]
    base = outcome(*rerun_with(call, arrays))
    got = outcome(*first)
    if same_outcome(got, base):
        return
    labels = [label for label, _ in call.layout]
    swapped = [arr for label, arr in call.layout if label.endswith(":byteswap")]
    if swapped:
        # undo only the byte order: if that is enough, byte order is the cause
        only = outcome(*rerun_with(call, swapped))
        if same_outcome(only, base):
            raise Finding(f"result depends on the byte order of the inputs ({labels}): "
                          f"{describe(call)}: {got[0]} vs {base[0]} with native copies")
    raise Finding(f"result depends on the memory layout of the inputs ({labels}): "
                  f"{describe(call)}: {got} vs {base} with C-contiguous copies")


def main():
    common.fuzz_main({HARNESS: (test_one_input, None)}, default=HARNESS,
                     instrument=[__name__ if __name__ != "__main__" else "__main__"])


if __name__ == "__main__":
    main()
