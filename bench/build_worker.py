"""One build's side of bench/bench_builds.py: builds the benchmark's cases
with the semiring_lrp found on PYTHONPATH and times them on request.

Protocol: one JSON object per line on stdin, one JSON reply per line on
stdout (the process's own stdout goes to stderr, so that nothing the
library or NumPy prints can break a reply).

    {"op": "setup", "threads": T, "groups": ["vgg16", "mlp", "cnn", "strided"] or null for all}
        -> {"package": file, "core": file, "isa": ..., "threads": T,
            "numpy": version, "cases": [built], "failed": {name: error}}
    {"op": "warm", "case": name}
        -> {"seconds": s of this first call, "digest": sha256 of its output}
    {"op": "time", "case": name, "calls": n, "samples": k}
        -> {"seconds": [k floats, each the seconds of one call averaged over n]}
    {"op": "quit"}

Every case is built from fixed seeds and the shipped MNIST test split, so
that every worker, whatever its build, runs the same passes on the same
numbers.
"""
import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np

SEED = 20240607  # any fixed value: both workers draw the same weights and inputs

# torchvision's VGG-16 (configuration D): output channels of each 3x3 conv, "M" a 2x2 max pool
VGG16_FEATURES = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                  512, 512, 512, "M")
VGG16_CLASSIFIER = ((4096, 25088), (4096, 4096), (1000, 4096))


def random_vgg16(sl, rng):
    """VGG-16 with torchvision's initialisation (conv weights normal with std
    sqrt(2 / fan_out), linear weights normal with std 0.01, biases 0), the
    network bench/bench_speed.py builds through torchvision, without torch."""
    layers, channels = [], 3
    for spec in VGG16_FEATURES:
        if spec == "M":
            layers.append(sl.MaxPool2d(2, 2))
            continue
        weight = rng.standard_normal((spec, channels, 3, 3), dtype=np.float32)
        weight *= np.float32(np.sqrt(2.0 / (spec * 9)))
        layers += [sl.Conv2d(weight, np.zeros(spec, np.float32), padding=1), sl.ReLU()]
        channels = spec
    layers += [sl.AdaptiveAvgPool2d(7), sl.Flatten()]
    for i, (fan_out, fan_in) in enumerate(VGG16_CLASSIFIER):
        if i:
            layers.append(sl.ReLU())
        weight = rng.standard_normal((fan_out, fan_in), dtype=np.float32)
        weight *= np.float32(0.01)
        layers.append(sl.Linear(weight, np.zeros(fan_out, np.float32)))
    return sl.Network(layers, input_shape=(3, None, None))


def vgg_cases(sl):
    """{name: pass} for VGG-16 at 224x224, batch 1, as bench_speed.py runs it."""
    from semiring_lrp import composites

    rng = np.random.default_rng(SEED)
    net = random_vgg16(sl, rng)
    pixels = rng.uniform(0, 1, size=(1, 3, 224, 224))
    x = ((pixels - composites.IMAGENET_MEAN.reshape(3, 1, 1))
         / composites.IMAGENET_STD.reshape(3, 1, 1)).astype(np.float32)
    target = rng.integers(0, 1000, size=1)  # fixed, not predicted: both builds start alike
    composite = composites.lrp_overview_vgg16(net)
    paper = list(composites.PAPER_VGG16_THRESHOLDS)
    semirings = {
        "real, overview recipe": sl.Real(),
        "boolean, paper thresholds": sl.Boolean(paper, absolute=True),
        "counting, paper thresholds": sl.Counting(paper, absolute=True),
        # relevance dies at conv5_1 under the paper's thresholds on random
        # weights; at 1e-9 (absolute) every layer's threshold pass runs
        "boolean 1e-9": sl.Boolean(1e-9, absolute=True),
        "viterbi": sl.Viterbi(),
    }
    return {f"vgg16 b1 {name}": (lambda s=semiring: sl.relevance(
        net, x, target=target, semiring=s, rule=composite)) for name, semiring in semirings.items()}


def mnist_semirings(sl):
    from semiring_lrp import rules

    return {"real": (sl.Real(), rules.Zero()), "boolean 1e-9": (sl.Boolean(1e-9), rules.Zero()),
            "counting 1e-9": (sl.Counting(1e-9), rules.Zero()),
            "viterbi": (sl.Viterbi(), rules.Zero())}


def mnist_cases(sl, net_name, batches, extra_f64):
    """{name: pass} of a shipped MNIST network on the first digits of the
    shipped test split, targets their labels; every semiring at every batch,
    and real in float64 at the batches in `extra_f64`."""
    images, labels = sl.datasets.mnist("test")
    build = getattr(sl.models, net_name)
    nets = {np.float32: build(), np.float64: build(np.float64)}
    cases = {}
    for batch in batches:
        x = sl.models.mnist_input(images[:batch])
        if net_name == "mnist_cnn":
            x = x[:, None]
        target = labels[:batch]
        short = net_name.removeprefix("mnist_")
        plans = [(name, s, r, np.float32) for name, (s, r) in mnist_semirings(sl).items()]
        if batch in extra_f64:
            plans.append(("real float64", sl.Real(), mnist_semirings(sl)["real"][1], np.float64))
        for name, semiring, rule, dtype in plans:
            xd = x.astype(dtype)
            cases[f"{short} b{batch} {name}"] = (
                lambda n=nets[dtype], xd=xd, t=target, s=semiring, r=rule:
                sl.relevance(n, xd, target=t, semiring=s, rule=r))
    return cases


# the strided network: (in, out, stride) of its 3x3 layers, padding 1
STRIDED_CONVS = ((3, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
                 (256, 512, 2))


def strided_cases(sl):
    """{name: pass} for a network that halves its size by strided
    convolutions, not pools (as all-convolutional networks do), at 64x64,
    batch 8, He-initialised: real (LRP-0) and Viterbi."""
    rng = np.random.default_rng(SEED)
    layers = []
    for in_c, out_c, stride in STRIDED_CONVS:
        weight = rng.standard_normal((out_c, in_c, 3, 3), dtype=np.float32)
        weight *= np.float32(np.sqrt(2.0 / (in_c * 9)))
        layers += [sl.Conv2d(weight, np.zeros(out_c, np.float32), stride=stride, padding=1),
                   sl.ReLU()]
    weight = rng.standard_normal((10, 512 * 8 * 8), dtype=np.float32) * np.float32(0.01)
    net = sl.Network(layers + [sl.Flatten(), sl.Linear(weight, np.zeros(10, np.float32))],
                     input_shape=(3, 64, 64))
    x = rng.uniform(0, 1, size=(8, 3, 64, 64)).astype(np.float32)
    target = rng.integers(0, 10, size=8)
    return {f"strided b8 {name}": (lambda s=semiring: sl.relevance(net, x, target=target,
                                                                   semiring=s))
            for name, semiring in (("real", sl.Real()), ("viterbi", sl.Viterbi()))}


GROUPS = (  # (prefix of the group's case names, builder)
    ("vgg16", vgg_cases),
    ("mlp", lambda sl: mnist_cases(sl, "mnist_mlp", (1000, 1, 3), (1000, 1))),
    ("cnn", lambda sl: mnist_cases(sl, "mnist_cnn", (16,), ())),
    ("strided", strided_cases),
)


def setup(request):
    import semiring_lrp as sl
    from semiring_lrp import _core

    sl.set_num_threads(request["threads"])
    wanted = request.get("groups") or [prefix for prefix, _ in GROUPS]
    unknown = set(wanted) - {prefix for prefix, _ in GROUPS}
    if unknown:
        raise ValueError(f"unknown case groups {sorted(unknown)}")
    cases, failed = {}, {}
    for prefix, builder in GROUPS:
        if prefix not in wanted:
            continue
        try:
            cases.update(builder(sl))
        except (AttributeError, ImportError, OSError, TypeError, ValueError) as err:
            # an older build may lack a model or an argument: its cases are left out
            failed[prefix] = f"{type(err).__name__}: {err}"
    return cases, {"package": sl.__file__, "core": _core.__file__, "isa": sl.instruction_set(),
                   "threads": sl.get_num_threads(), "numpy": np.__version__,
                   "cases": list(cases), "failed": failed}


def digest(result):
    """sha256 of a pass's output: its dtype, shape and bytes."""
    array = np.ascontiguousarray(np.asarray(result))
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(array.tobytes())
    return h.hexdigest()


def timed(fn):
    """(seconds of one call of fn, its result)"""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def serve(requests, replies):
    cases = {}
    for line in requests:
        request = json.loads(line)
        op = request["op"]
        if op == "quit":
            return
        if op == "setup":
            cases, reply = setup(request)
        elif op == "warm":
            fn = cases[request["case"]]
            seconds, result = timed(fn)
            reply = {"seconds": seconds, "digest": digest(result)}
        elif op == "time":
            fn, calls = cases[request["case"]], request["calls"]
            if calls > 1:
                fn()  # a short pass: its data back in this core's caches after the other worker
            seconds = []
            for _ in range(request["samples"]):
                start = time.perf_counter()
                for _ in range(calls):
                    fn()
                seconds.append((time.perf_counter() - start) / calls)
            reply = {"seconds": seconds}
        else:
            raise ValueError(f"unknown request {op!r}")
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main():
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else writes to stdout lands on stderr
    sys.stdout = sys.stderr
    warnings.simplefilter("ignore")  # a pass's warnings are computed either way; not shown
    serve(sys.stdin, replies)  # an error ends the worker with its traceback on stderr


if __name__ == "__main__":
    main()
