"""Slow, literal references for the tests.

`literal_relevance` evaluates semantics.md by looping over samples and
(j, k) pairs in scalar arithmetic of the network's dtype, sharing no code
with the library. `torch_lrp` is gradient-based LRP in PyTorch autograd
(z; s = R/z; c = grad of sum(z*s); R = a*c), the form zennit and the LRP
overview use: the public `semiring_lrp.torch.gradient_lrp`. `ISAS` lists
the kernel paths this machine runs, for the tests that compare them.
"""
import numpy as np

import semiring_lrp as sl
from semiring_lrp import _core, rules

_PATHS = ["portable", "avx2", "avx512"]  # each runs where the next does
ISAS = _PATHS[: _PATHS.index(_core._testing.best_isa()) + 1]


def _conv_pairs(layer, in_shape):
    """(out_shape, pairs): every (j, k, w_jk) of a Conv2d, by the definition
    z[co, oy, ox] = sum a[ci, oy*s - p + ky*d, ox*s - p + kx*d] w[co, ci, ky, kx]."""
    C, H, W = in_shape
    (sh, sw), (ph, pw), (dh, dw), g = layer.stride, layer.padding, layer.dilation, layer.groups
    O, cin_g, KH, KW = layer.weight.shape
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    pairs = []
    for co in range(O):
        group = co // (O // g)
        for oy in range(OH):
            for ox in range(OW):
                k = (co * OH + oy) * OW + ox
                for cl in range(cin_g):
                    ci = group * cin_g + cl
                    for ky in range(KH):
                        for kx in range(KW):
                            iy, ix = oy * sh - ph + ky * dh, ox * sw - pw + kx * dw
                            if 0 <= iy < H and 0 <= ix < W:
                                pairs.append(((ci * H + iy) * W + ix, k,
                                              layer.weight[co, cl, ky, kx]))
    return (O, OH, OW), pairs


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
    pooling (winner-take-all) 1 on the first arg-max in row-major order."""
    C, H, W = in_shape
    (rows, cols), (rdiv, cdiv) = _window_bounds(layer, in_shape)
    winner = isinstance(layer, sl.MaxPool2d) and maxpool == "winner"
    pairs = []
    for c in range(C):
        for oy, (r0, r1) in enumerate(rows):
            for ox, (c0, c1) in enumerate(cols):
                k = (c * len(rows) + oy) * len(cols) + ox
                window = [(c * H + iy) * W + ix for iy in range(r0, r1) for ix in range(c0, c1)]
                best = window[0]
                for j in window:
                    if a[j] > a[best]:
                        best = j
                for j in window:
                    w = (1.0 if j == best else 0.0) if winner else 1.0 / (rdiv[oy] * cdiv[ox])
                    pairs.append((j, k, w))
    return (C, len(rows), len(cols)), pairs


def _linear_pairs(layer, in_shape):
    K, J = layer.weight.shape
    return (K,), [(j, k, layer.weight[k, j]) for k in range(K) for j in range(J)]


def literal_relevance(net, x, targets, kind, rule_list, thetas=None, absolute=False,
                      init="one", pool_thetas=None, maxpool="winner"):
    """kind in 'real', 'boolean', 'counting', 'viterbi'; x (N, *input).

    Every layer becomes its list of (j, k, w_jk) pairs, built by the layer's
    definition; the forward pass and K-LRP then loop over those pairs.
    Pools use LRP-0 and `pool_thetas` (default 1e-9 each)."""
    T = np.float32 if net.dtype == np.float32 else float
    zero = {"real": T(0), "viterbi": T(0), "boolean": False, "counting": 0}[kind]
    one = {"real": T(1), "viterbi": T(1), "boolean": True, "counting": 1}[kind]
    results = []
    for n in range(x.shape[0]):
        shape = x.shape[1:]
        a = [T(v) for v in x[n].reshape(-1)]
        steps = []  # (layer, input activations, input shape, pairs, bias per k)
        for layer in net.layers:
            if isinstance(layer, sl.ReLU):
                a = [v if v > 0 else T(0) for v in a]
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
            bias = ([T(layer.bias[k // per_channel]) for k in range(K)] if layer.weighted
                    else [T(0)] * K)
            steps.append((layer, a, shape, pairs, bias))
            z = [T(0)] * K
            for j, k, w in forward_pairs:
                z[k] += a[j] * T(w)
            a = [z[k] + bias[k] for k in range(K)]
            shape = out_shape
        out = a
        R = [zero] * len(out)
        R[targets[n]] = out[targets[n]] if init == "activation" else one
        windex = sum(1 for layer, *_ in steps if layer.weighted)
        pindex = len(steps) - windex
        for layer, a, shape, pairs, bias in reversed(steps):
            if layer.weighted:
                windex -= 1
                rule, theta = rule_list[windex], (thetas[windex] if thetas else None)
            else:
                pindex -= 1
                rule = rules.Zero()
                theta = pool_thetas[pindex] if pool_thetas else 1e-9
            gamma, eps, plus = _rule_parts(rule, T)
            zbox = isinstance(rule, rules.ZBox)
            if zbox:
                low = np.broadcast_to(rule.low, x.shape[1:]).reshape(-1)
                high = np.broadcast_to(rule.high, x.shape[1:]).reshape(-1)

            def rho(v):
                return v + gamma * max(v, T(0)) if isinstance(rule, rules.Gamma) else v

            def numerator(j, w):
                w = T(w)
                if zbox:
                    return a[j] * w - T(low[j]) * max(w, T(0)) - T(high[j]) * min(w, T(0))
                return a[j] * rho(w)

            K = len(bias)
            beta = [T(0) if zbox else rho(b) for b in bias]
            z = [T(0)] * K
            for j, k, w in pairs:
                z[k] += numerator(j, w)
            for k in range(K):
                s = z[k] + beta[k]
                if eps:
                    s = s + eps if plus else s + (eps if s >= 0 else -eps)
                z[k] = s
            m = [abs(b) for b in beta]
            for j, k, w in pairs:
                m[k] = max(m[k], abs(numerator(j, w)))
            newR = [zero] * len(a)
            for j, k, w in pairs:
                if kind == "viterbi":
                    newR[j] = max(newR[j], abs(numerator(j, w)) / (m[k] + T(1e-9)) * R[k])
                    continue
                d = numerator(j, w) / z[k] if z[k] != 0 else T(0)
                if kind == "real":
                    newR[j] = newR[j] + d * R[k]
                    continue
                passes = (abs(d) if absolute else d) >= T(theta)
                if kind == "boolean":
                    newR[j] = newR[j] or (passes and R[k])
                else:
                    newR[j] = newR[j] + (1 if passes else 0) * R[k]
            R = newR
        results.append(R)
    dtype = {"boolean": bool, "counting": np.int64}.get(kind, net.dtype)
    return np.array(results, dtype=dtype).reshape(x.shape)


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

    user = type("User" + base.__name__, (base,), {"add": add})()
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
