"""Slow, literal references for the tests.

`literal_relevance` evaluates semantics.md sample by sample over each
layer's list of (j, k) pairs, taken one at a time in the list's order in
arithmetic of the network's dtype, sharing no code with the library.
`torch_lrp` is gradient-based LRP in PyTorch autograd (z; s = R/z;
c = grad of sum(z*s); R = a*c), the form zennit and the LRP overview use:
the public `semiring_lrp.torch.gradient_lrp`. `ISAS` lists the kernel
paths this machine runs, for the tests that compare them.
"""
import numpy as np

import semiring_lrp as sl
from semiring_lrp import _core, rules

ISAS = list(_core._testing.isas())  # portable first


def _conv_pairs(layer, in_shape):
    """(out_shape, pairs): every (j, k, w_jk) of a Conv2d, by the definition
    z[co, oy, ox] = sum a[ci, oy*s - p + ky*d, ox*s - p + kx*d] w[co, ci, ky, kx],
    in the order of the loops over (co, oy, ox, ci, ky, kx)."""
    C, H, W = in_shape
    (sh, sw), (ph, pw), (dh, dw), g = layer.stride, layer.padding, layer.dilation, layer.groups
    O, cin_g, KH, KW = layer.weight.shape
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    # one entry per turn of those six nested loops, in row-major (loop) order
    co, oy, ox, cl, ky, kx = (axis.reshape(-1) for axis in np.indices((O, OH, OW, cin_g, KH, KW)))
    ci = (co // (O // g)) * cin_g + cl
    iy, ix = oy * sh - ph + ky * dh, ox * sw - pw + kx * dw
    inside = (0 <= iy) & (iy < H) & (0 <= ix) & (ix < W)
    j = ((ci * H + iy) * W + ix)[inside]
    k = ((co * OH + oy) * OW + ox)[inside]
    return (O, OH, OW), (j, k, layer.weight[co, cl, ky, kx][inside])


def _window_bounds(layer, in_shape):
    """Rows and columns of every pooling window, as PyTorch's documentation gives them."""
    C, H, W = in_shape
    if isinstance(layer, sl.AdaptiveAvgPool2d):
        out = [size if o is None else o for size, o in zip((H, W), layer.output_size)]
        axes = [[(o * size // n, -(-(o + 1) * size // n)) for o in range(n)]
                for size, n in zip((H, W), out)]
        return axes, [[e - s for s, e in axis] for axis in axes]
    axes, divisors = [], []
    for size, k, s, p in zip((H, W), layer.kernel_size, layer.stride, layer.padding):
        n = (size + 2 * p - k) // s + 1
        axes.append([(max(o * s - p, 0), min(o * s - p + k, size)) for o in range(n)])
        divisors.append([k] * n)  # count_include_pad: padding counts
    return axes, divisors


def _pool_pairs(layer, in_shape, a, maxpool):
    """(out_shape, pairs) of a pool: weight 1/divisor per window, or for max
    pooling (winner-take-all) 1 on the first arg-max in row-major order.
    Pairs go channel by channel, window by window, and row-major within a window."""
    C, H, W = in_shape
    (rows, cols), (rdiv, cdiv) = _window_bounds(layer, in_shape)
    windows = [[iy * W + ix for iy in range(r0, r1) for ix in range(c0, c1)]
               for r0, r1 in rows for c0, c1 in cols]
    divisor = np.array([float(rd * cd) for rd in rdiv for cd in cdiv])
    # (window, place in it): -1 past the window's end
    places = np.full((len(windows), max(map(len, windows))), -1)
    for o, window in enumerate(windows):
        places[o, :len(window)] = window
    valid = np.broadcast_to(places >= 0, (C,) + places.shape)
    j = np.arange(C)[:, None, None] * (H * W) + np.maximum(places, 0)[None]
    a = np.asarray(a)
    # the first arg-max: a later entry wins only if strictly greater
    best = j[:, :, 0]
    for e in range(1, places.shape[1]):
        better = valid[:, :, e] & (a[j[:, :, e]] > a[best])
        best = np.where(better, j[:, :, e], best)
    if isinstance(layer, sl.MaxPool2d) and maxpool == "winner":
        w = np.where(j == best[:, :, None], 1.0, 0.0)
    else:
        w = np.broadcast_to(1.0 / divisor[None, :, None], j.shape)
    k = np.broadcast_to(np.arange(C * len(windows)).reshape(C, len(windows), 1), j.shape)
    return (C, len(rows), len(cols)), (j[valid], k[valid], w[valid])


def _linear_pairs(layer, in_shape):
    """(out_shape, pairs) of a Linear: (j, k, w[k, j]) for k, then j."""
    K, J = layer.weight.shape
    return (K,), (np.tile(np.arange(J), K), np.repeat(np.arange(K), J),
                  layer.weight.reshape(-1))


def literal_forward(net, sample, maxpool="winner"):
    """(steps, output) of one sample: the forward pass over each layer's
    pairs in the network's dtype; steps lists (layer, input activations,
    pairs (j, k, w) of the relevance pass, bias per k) of the weighted and
    pooling layers in forward order."""
    T = np.dtype(net.dtype).type
    shape = sample.shape
    a = sample.reshape(-1).astype(T)
    steps = []  # (layer, input activations, pairs, bias per k)
    for layer in net.layers:
        if isinstance(layer, sl.ReLU):
            a = np.where(a > 0, a, T(0))
            continue
        if isinstance(layer, sl.Flatten):
            shape = (len(a),)
            continue
        if isinstance(layer, sl.Linear):
            out_shape, pairs = _linear_pairs(layer, shape)
        elif isinstance(layer, sl.Conv2d):
            out_shape, pairs = _conv_pairs(layer, shape)
        else:
            # the forward pass always takes the max; `maxpool` is the relevance's choice
            out_shape, forward_pairs = _pool_pairs(layer, shape, a, "winner")
            pairs = _pool_pairs(layer, shape, a, maxpool)[1]
        if layer.weighted:
            forward_pairs = pairs
        K = int(np.prod(out_shape))
        per_channel = K // len(layer.bias) if layer.weighted else 1
        bias = (layer.bias.astype(T)[np.arange(K) // per_channel] if layer.weighted
                else np.zeros(K, T))
        steps.append((layer, a, pairs, bias))
        j, k, w = forward_pairs
        z = np.zeros(K, T)
        np.add.at(z, k, a[j] * w.astype(T))
        a = z + bias
        shape = out_shape
    return steps, a


def literal_relevance(net, x, targets, kind, rule_list, thetas=None, absolute=False,
                      init="one", pool_thetas=None, maxpool="winner"):
    """kind in 'real', 'boolean', 'counting', 'viterbi'; x (N, *input).

    Every layer becomes its list of (j, k, w_jk) pairs, built by the layer's
    definition; the forward pass and K-LRP then run over those pairs one by
    one, in the list's order, in arithmetic of the network's dtype: each
    `ufunc.at` below adds (ors, maxes) one pair's term into its entry at a
    time, unbuffered, as the loop `for j, k, w in pairs: z[k] += term` does.
    Pools use LRP-0 and `pool_thetas` (default 1e-9 each)."""
    T = np.dtype(net.dtype).type
    out_dtype = {"boolean": np.bool_, "counting": np.int64}.get(kind, T)
    results = []
    for n in range(x.shape[0]):
        steps, a = literal_forward(net, x[n], maxpool)
        out = a
        R = np.zeros(len(out), out_dtype)
        R[targets[n]] = out[targets[n]] if init == "activation" else 1
        windex = sum(1 for layer, *_ in steps if layer.weighted)
        pindex = len(steps) - windex
        for layer, a, (j, k, w), bias in reversed(steps):
            if layer.weighted:
                windex -= 1
                rule, theta = rule_list[windex], (thetas[windex] if thetas else None)
            else:
                pindex -= 1
                rule = rules.Zero()
                theta = pool_thetas[pindex] if pool_thetas else 1e-9
            R = _pairs_relevance(kind, rule, T, theta, absolute, x.shape[1:], a, j, k,
                                 w.astype(T), bias, R)
        results.append(R)
    return np.array(results, dtype=out_dtype).reshape(x.shape)


def _pairs_relevance(kind, rule, T, theta, absolute, input_shape, a, j, k, w, bias, R):
    """One layer's K-LRP step over its pairs (j, k, w): the relevance of its inputs."""
    numerator, z, m = pair_terms(rule, T, input_shape, a, j, k, w, bias)
    zero = T(0)
    new = np.zeros(len(a), R.dtype)
    if kind == "viterbi":
        np.fmax.at(new, j, np.abs(numerator) / (m[k] + T(1e-9)) * R[k])
        return new
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(z[k] != 0, numerator / z[k], zero)
    if kind == "real":
        np.add.at(new, j, d * R[k])
        return new
    passes = (np.abs(d) if absolute else d) >= T(theta)
    if kind == "boolean":
        np.logical_or.at(new, j, passes & R[k])
        return new
    # counting in int64: the counts of one layer stay below 2**63
    assert np.bincount(j, minlength=len(a)).max() * max(int(R.max()), 1) < 2**63
    np.add.at(new, j, passes * R[k])
    return new


def pair_terms(rule, T, input_shape, a, j, k, w, bias):
    """(n_jk per pair, the stabilised z_k, Viterbi's m_k) of one layer's
    pairs (j, k, w) under `rule`, in arithmetic of dtype T."""
    gamma, eps, plus = _rule_parts(rule, T)
    zero = T(0)

    def rho(v):  # v + gamma * max(v, 0)
        return v + gamma * np.where(zero > v, zero, v) if isinstance(rule, rules.Gamma) else v

    if isinstance(rule, rules.ZBox):
        low = np.broadcast_to(rule.low, input_shape).reshape(-1).astype(T)
        high = np.broadcast_to(rule.high, input_shape).reshape(-1).astype(T)
        # a_j w - low_j max(w, 0) - high_j min(w, 0)
        numerator = (a[j] * w - low[j] * np.where(zero > w, zero, w)
                     - high[j] * np.where(zero < w, zero, w))
        beta = np.zeros(len(bias), T)
    else:
        numerator = a[j] * rho(w)
        beta = rho(bias)
    z = np.zeros(len(bias), T)
    np.add.at(z, k, numerator)
    z = z + beta
    if eps:
        z = z + eps if plus else np.where(z >= 0, z + eps, z + -eps)
    m = np.abs(beta)
    np.fmax.at(m, k, np.abs(numerator))  # max(m_k, |term|); a NaN term leaves m_k
    return numerator, z, m


def _rule_parts(rule, T):
    gamma = T(getattr(rule, "gamma", 0.0))
    eps = T(getattr(rule, "eps", 0.0))
    plus = getattr(rule, "variant", "sign") == "plus"
    return gamma, eps, plus


def torch_lrp(net, x, targets, rule_list, maxpool="winner"):
    """Gradient LRP in PyTorch autograd, starting from the target's score:
    the public `semiring_lrp.torch.gradient_lrp` (tested against
    `literal_relevance` in tests/test_torch_bridge.py), as NumPy."""
    from semiring_lrp.torch import gradient_lrp

    return gradient_lrp(net, np.asarray(x), targets, rule=list(rule_list), maxpool=maxpool)


def vgg_with_narrow_classifier(name, width=64, classes=10):
    """torchvision's VGG `name` with random weights and its classifier's
    layers (Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear) `width`
    units wide instead of 4096, with `classes` outputs: the features, where
    the variants differ, as torchvision builds them, without the 25088 x 4096
    weights that are most of the model's to build, copy and convert."""
    import torch
    import torchvision

    model = getattr(torchvision.models, name)(weights=None)
    model.classifier[0] = torch.nn.Linear(512 * 7 * 7, width)
    model.classifier[3] = torch.nn.Linear(width, width)
    model.classifier[6] = torch.nn.Linear(width, classes)
    return model


class MaxPlus(sl.Semiring):
    """(R u {-inf}, max, +, -inf, 0) over log-coefficients: the log of the
    strongest product of coefficients along any path (the README's own
    semiring)."""

    def zero(self):
        return -np.inf

    def one(self):
        return 0.0

    def add(self, a, b):
        return np.maximum(a, b)

    def mul(self, a, b):
        return np.add(a, b)

    def annotate(self, d, layer):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, np.log(np.where(d > 0, d, 1.0)), -np.inf)


def on_generic_path(semiring):
    """A copy of the built-in `semiring` (its thresholds included) whose
    class overrides `add` with the built-in's own: the same semiring, on
    the generic NumPy path."""
    base = type(semiring)

    def add(self, a, b):
        return base.add(self, a, b)

    user_class = type("User" + base.__name__, (base,), {"add": add})
    user = user_class.__new__(user_class)  # no __init__: a composed one needs its parts
    user.__dict__.update(semiring.__dict__)
    return user


def random_mlp(rng, sizes, dtype=np.float64, bias=True):
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.normal(size=(fan_out, fan_in)) / np.sqrt(fan_in)
        b = rng.normal(size=fan_out) * 0.1 if bias else np.zeros(fan_out)
        layers.append(sl.Linear(w.astype(dtype), b.astype(dtype)))
        if i < len(sizes) - 2:
            layers.append(sl.ReLU())
    return sl.Network(layers)


def relative_error(got, want):
    """max |got - want| / max |want|: relevance maps have elements near 0."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = np.max(np.abs(want))
    error = np.max(np.abs(got - want))
    return float(error / scale) if scale > 0 else float(error)


def perturbed_digits(count, seed):
    """(images float32 (count, 28, 28), labels int64 (count,)): the shipped
    MNIST digits, picked at random, shifted by up to 2 pixels and with 2% of
    their pixels set to random values, as the MNIST models take them."""
    rng = np.random.default_rng(seed)
    digits, labels = sl.models.mnist_digits()
    pick = rng.integers(len(digits), size=count)
    images = digits[pick].copy()
    for i, (dy, dx) in enumerate(rng.integers(-2, 3, size=(count, 2))):
        images[i] = np.roll(images[i], (dy, dx), axis=(0, 1))
    noisy = rng.random(images.shape) < 0.02
    images[noisy] = rng.integers(0, 256, size=int(noisy.sum()), dtype=np.uint8)
    return sl.models.mnist_input(images), labels[pick].astype(np.int64)


def check_trained_file(path, expected_shapes, accuracy_bar):
    """A training script's .npz: the named float32 arrays of the expected
    shapes, a float64 test accuracy above the bar and the int64 seed."""
    with np.load(path, allow_pickle=False) as model:
        assert set(model.files) == set(expected_shapes) | {"test_accuracy", "seed"}
        for name, shape in expected_shapes.items():
            assert model[name].shape == shape and model[name].dtype == np.float32, name
        assert model["test_accuracy"].dtype == np.float64 and model["test_accuracy"].shape == ()
        assert model["test_accuracy"] > accuracy_bar
        assert model["seed"].dtype == np.int64 and model["seed"].shape == ()


class LiteralSemiring:
    """A composed semiring for `literal_composed`, spelled out: add and mul
    on two scalars of the element type, zero and one as such scalars, the
    source ("d" or "viterbi"), the transforms (functions on arrays of the
    network's dtype, applied in order), `element` (a function from one value
    of the network's dtype to one element: np.float32, float, ...), and for
    a threshold step `threshold` (one theta per weighted layer; None: no
    threshold), `absolute` and `pool_threshold`."""

    def __init__(self, add, mul, zero, one, source="d", steps=(), element=None,
                 threshold=None, absolute=False, pool_threshold=1e-9):
        self.add, self.mul, self.zero, self.one = add, mul, zero, one
        self.source, self.steps, self.element = source, tuple(steps), element
        self.threshold, self.absolute, self.pool_threshold = threshold, absolute, pool_threshold


def literal_composed(net, x, targets, semiring, rule_list, maxpool="winner"):
    """K-LRP of a `LiteralSemiring` over every layer's pairs, one pair at a
    time in the list's order (ascending k for each j), as docs/semantics.md
    and issue 21's contract state it: the value of pair (j, k) is d (or
    Viterbi's |n| / (m + 1e-9)) in the network's dtype, then each transform,
    then the threshold (one or zero) or the conversion to an element; then
    R_j = add(R_j, mul(value, R_k)) from zero. No pair is skipped. Returns
    a list of per-sample lists of elements (Python objects)."""
    T = np.dtype(net.dtype).type
    s = semiring
    results = []
    for n in range(x.shape[0]):
        steps, out = literal_forward(net, x[n], maxpool)
        R = [s.zero] * len(out)
        R[targets[n]] = s.one
        windex = sum(1 for layer, *_ in steps if layer.weighted)
        pindex = len(steps) - windex
        for layer, a, (j, k, w), bias in reversed(steps):
            if layer.weighted:
                windex -= 1
                rule = rule_list[windex]
                theta = None if s.threshold is None else s.threshold[windex]
            else:
                pindex -= 1
                rule = rules.Zero()
                theta = None if s.threshold is None else s.pool_threshold
            numerator, z, m = pair_terms(rule, T, x.shape[1:], a, j, k, w.astype(T), bias)
            if s.source == "d":
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    v = np.where(z[k] != 0, numerator / z[k], T(0))
            else:
                v = np.abs(numerator) / (m[k] + T(1e-9))
            with np.errstate(divide="ignore"):
                for step in s.steps:
                    v = step(v)
            if theta is None:
                values = [s.element(value) for value in v]
            else:
                passes = (np.abs(v) if s.absolute else v) >= T(theta)
                values = [s.one if p else s.zero for p in passes]
            new = [s.zero] * len(a)
            for jj, kk, value in zip(j.tolist(), k.tolist(), values):
                new[jj] = s.add(new[jj], s.mul(value, R[kk]))
            R = new
        results.append(R)
    return results
