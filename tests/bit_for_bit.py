"""Digests of every C pass's outputs on a fixed set of cases.

The kernels may be restructured, retuned or moved between files, but the
numbers they give must not change: `digests()` runs every case (networks
whose layers reach every tier of the dense, conv and pooling passes, every
rule, semiring, dtype and instruction set this CPU has, with the tier
switches on and off) and returns the SHA-256 of each output's bytes. The
reference digests in tests/data/bit_for_bit.json were written by the build
before such a change:

    python tests/bit_for_bit.py --write

Inputs and weights come from integer arithmetic, not from a random number
generator, so that they are the same bits under every NumPy version.
"""
import hashlib
import json
import os
import sys

import numpy as np

import semiring_lrp as sl
from semiring_lrp import _core, layers, pooling, rules

DIGESTS_FILE = os.path.join(os.path.dirname(__file__), "data", "bit_for_bit.json")
ISAS = ("portable", "avx2", "avx512")  # those with digests: an AVX-512 CPU wrote them
# NEON's outputs are held to AVX2's digests: its micro-kernels fuse the same
# multiply-adds in the same order, and tests/c/kernel_check.c (.ci/aarch64)
# finds it gives AVX2's bits under qemu-aarch64
STORED_AS = {"neon": "avx2"}


def values(shape, seed, scale=1.0, zeros=0.0):
    """Deterministic values in [-scale, scale): a 64-bit linear congruential
    sequence, with a `zeros` share of exact zeros."""
    count = int(np.prod(shape))
    state = (np.arange(count, dtype=np.uint64) + np.uint64(seed * 7919 + 1)) \
        * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
    state ^= state >> np.uint64(29)
    state *= np.uint64(0xBF58476D1CE4E5B9)
    state ^= state >> np.uint64(32)
    unit = (state >> np.uint64(11)).astype(np.float64) / float(2 ** 53)
    out = (unit * 2.0 - 1.0) * scale
    if zeros:
        out[((state >> np.uint64(3)) % np.uint64(1000)).astype(np.float64) < zeros * 1000] = 0.0
    return out.reshape(shape)


def dense_net(sizes, seed, dtype):
    net = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = values((n_out, n_in), seed + i, 2.0 / np.sqrt(n_in)).astype(dtype)
        b = values(n_out, seed + 50 + i, 0.1).astype(dtype)
        net.append(layers.Linear(w, b))
        if i + 2 < len(sizes):
            net.append(layers.ReLU())
    return sl.Network(net)


def conv_net(seed, dtype):
    def conv(cin, cout, k=3, groups=1, **geometry):
        nonlocal seed
        seed += 1
        w = values((cout, cin // groups, k, k), seed, 1.5 / np.sqrt(cin // groups * k * k))
        return layers.Conv2d(w.astype(dtype), values(cout, seed + 100, 0.1).astype(dtype),
                             groups=groups, **geometry)
    # a 3-channel first layer (direct loops), Winograd's 3x3 layers (32+
    # channels on 16x16), a 5x5, a dilated, a grouped, a strided and a 1x1
    # layer, pools of every kind, a dense head
    return sl.Network([
        conv(3, 8, padding=1), layers.ReLU(),
        conv(8, 32, padding=1), layers.ReLU(),
        conv(32, 33, padding=1), layers.ReLU(),
        pooling.MaxPool2d(2),
        conv(33, 16, k=5, padding=2), layers.ReLU(),
        conv(16, 16, dilation=2, padding=2, groups=4), layers.ReLU(),
        conv(16, 12, stride=2, padding=1), layers.ReLU(),
        pooling.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
        conv(12, 10, k=1), layers.ReLU(),
        pooling.AdaptiveAvgPool2d((3, 3)),
        layers.Flatten(),
        layers.Linear(values((7, 90), seed + 500, 0.3).astype(dtype)),
    ])


def semirings(conv):
    """Each semiring, with thresholds at which relevance neither dies nor
    saturates on these networks (a test of all-False outputs tests little)."""
    absolute = 0.03 if conv else 0.004
    return {
        "real": sl.Real(),
        "boolean": sl.Boolean(1e-3),
        "boolean_abs": sl.Boolean(absolute, absolute=True, pool_threshold=0.1),
        "counting": sl.Counting(1e-3, pool_threshold=1e-3),
        "counting_abs": sl.Counting(absolute, absolute=True),
        "viterbi": sl.Viterbi(),
    }


def rule_sets(net):
    count = len(net.weighted_layers)
    return {
        "zero": rules.Zero(),
        "epsilon": rules.Epsilon(0.25),
        "epsilon_plus": rules.Epsilon(0.01, variant="plus"),
        "gamma": rules.Gamma(0.25, eps=1e-4),
        "zbox_mixed": ([rules.ZBox(-1.0, 1.0)]
                       + [rules.Gamma(0.1), rules.Epsilon(1e-3)] * count)[:count],
    }


def cases(dtype):
    """(name, network, input, target) for each network and batch."""
    mnistlike = dense_net([196, 64, 33, 10], 11, dtype)
    yield "dense_n1", mnistlike, values((1, 196), 1).astype(dtype), [3]
    yield "dense_n3", mnistlike, values((3, 196), 2).astype(dtype), [0, 9, 4]
    yield "dense_n40", mnistlike, values((40, 196), 3).astype(dtype), np.arange(40) % 10
    sparse = np.abs(values((24, 196), 4, zeros=0.8)).astype(dtype)
    yield "dense_sparse_n24", mnistlike, sparse, np.arange(24) % 10
    # enough samples for the sparse-input tier of the forward and real passes
    sparse = np.abs(values((300, 196), 6, zeros=0.8)).astype(dtype)
    yield "dense_sparse_n300", mnistlike, sparse, np.arange(300) % 10
    conv = conv_net(21, dtype)
    yield "conv_n2", conv, values((2, 3, 16, 16), 5).astype(dtype), [1, 6]


def _testing():
    """The core's test-only switches (_core._testing; on _core itself in
    builds before the module had that namespace, which wrote the digests)."""
    return getattr(_core, "_testing", _core)


def _isas_here():
    """The instruction sets this CPU runs (in builds before _testing.isas(),
    which knew only x86's, those up to the best)."""
    if hasattr(_testing(), "isas"):
        return list(_testing().isas())
    return list(ISAS[: ISAS.index(_testing().best_isa()) + 1])


def _digest(array):
    array = np.ascontiguousarray(array)
    head = f"{array.dtype.str}{array.shape}".encode()
    return hashlib.sha256(head + array.tobytes()).hexdigest()[:24]


def _switches():
    """Tier switches and their settings: the default, and each tier off or forced."""
    yield "default", lambda: None
    yield "no_sparse", lambda: _testing().set_sparse_passes(False)
    yield "winograd_never", lambda: _testing().set_winograd_fusion("never")
    yield "winograd_always", lambda: _testing().set_winograd_fusion("always")


def _restore():
    _testing().set_sparse_passes(True)
    _testing().set_winograd_fusion("auto")


def digests(isas=None, threads=(1, 2)):
    """{case key: digest} for every case on the instruction sets given (all
    this CPU has by default), keyed by the set whose digests hold them
    (STORED_AS)."""
    isas = _isas_here() if isas is None else isas
    out = {}
    before_isa, before_threads = _core.isa(), sl.get_num_threads()
    try:
        for isa in isas:
            _core.set_isa(isa)
            for dtype in (np.float32, np.float64):
                for case, net, x, target in cases(dtype):
                    for switch, apply in _switches():
                        if switch != "default" and not _switch_matters(switch, case):
                            continue
                        apply()
                        try:
                            for count in threads:
                                sl.set_num_threads(count)
                                key = (f"{STORED_AS.get(isa, isa)}/{np.dtype(dtype).name}"
                                       f"/{case}/{switch}")
                                _run_case(out, key, net, x, target, count)
                        finally:
                            _restore()
    finally:
        _core.set_isa(before_isa)
        sl.set_num_threads(before_threads)
    return out


def _switch_matters(switch, case):
    if switch == "no_sparse":
        return case.startswith("dense")
    return case.startswith("conv")


def _run_case(out, key, net, x, target, threads):
    """Every semiring under every rule set; thread counts must agree with each
    other, so only the first count's digests are stored and the others
    checked against them here."""
    forward = _digest(net.forward(x))
    _put(out, f"{key}/forward", forward, threads)
    for rule_name, rule in rule_sets(net).items():
        for name, semiring in semirings(isinstance(net.layers[0], layers.Conv2d)).items():
            r, every = sl.relevance(net, x, target=target, semiring=semiring, rule=rule,
                                    return_all=True)
            digest = hashlib.sha256("".join(_digest(layer) for layer in every).encode()
                                    + _digest(r).encode()).hexdigest()[:24]
            _put(out, f"{key}/{rule_name}/{name}", digest, threads)


def _put(out, key, digest, threads):
    if key in out and out[key] != digest:
        raise AssertionError(f"{key}: {threads} threads give {digest}, fewer gave {out[key]}")
    out[key] = digest


def main(argv):
    got = digests()
    if "--write" in argv:
        with open(DIGESTS_FILE, "w") as f:
            json.dump(got, f, indent=0, sort_keys=True)
            f.write("\n")
        print(f"wrote {len(got)} digests to {DIGESTS_FILE}")
    else:
        with open(DIGESTS_FILE) as f:
            want = json.load(f)
        bad = [k for k in got if want.get(k) != got[k]]
        print(f"{len(got)} digests, {len(bad)} differ")
        for k in bad[:20]:
            print("  ", k)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
