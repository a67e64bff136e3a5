"""semiring_lrp against PyTorch gradient LRP, in one run, on one machine:
VGG-16 (224x224, float32, random weights) at batch 1 and 8 and the MNIST MLP
(784-300-100-10) at batch 1000, every semiring, and the same MLP on dense
random inputs (real eps), same thread count for all.

    python bench/bench_speed.py [--threads 2] [--repeat 3] [--json out.json]

Baselines (built before timing; parameters frozen so autograd forms no
weight gradients): VGG-16, the LRP overview's recipe as gradient LRP, one
layer at a time (z, s = R / z, c = grad(z * s), R = a * c) with every
modified layer (gamma, z^B's clamped copies) made once; and zennit's
EpsilonGammaBox when zennit is installed. MLP: autograd LRP-0 (eps on the
random inputs). Every ratio
is against the first baseline of its block, measured in the same process:
each pass timed right after a run of the baseline, the ratio taken per
pair (bench/timing.py), so that a drift of the machine's speed falls on
both; the table shows the median ratio and the range over the rounds.

semiring_lrp passes: real with the same recipe; boolean with the paper's
VGG-16 thresholds (absolute) and with 1e-9 (absolute: relevance reaches
every pixel); counting with the paper's thresholds; Viterbi. Per semiring,
the slowest layer and its share of the batch-1 pass. GFLOP/s of the real
pass counts the multiply-adds the recipe needs (forward, the gamma and z^B
layers' modified forwards, one transposed pass per weighted layer), against
the FMA peak that bench/fma_peak.c measures with as many threads.
"""
import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import semiring_lrp as sl
from semiring_lrp import composites, layers, pooling, rules
from timing import paired_ratios

ROOT = Path(__file__).resolve().parents[1]
# MLP rounds per --repeat: its passes last about 10 ms, where this machine's
# speed jumps by tens of percent from one to the next (one run with 9 rounds
# gave real 0.58x with a range of 0.38-0.84)
MLP_ROUNDS = 10
sys.path.insert(0, str(ROOT / "tests"))
from reference import torch_lrp  # noqa: E402  (the tests' autograd LRP)


def torch_gradient_lrp(model, composite):
    """Gradient LRP of torchvision's VGG-16 for `composite`: run(x, targets)."""
    import copy

    import torch

    for p in model.parameters():
        p.requires_grad_(False)
    stack = list(model.features) + [model.avgpool, torch.nn.Flatten()] + list(model.classifier)
    weighted = [m for m in stack if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    plans = {}
    for module, rule in zip(weighted, composite):
        modified = []
        if isinstance(rule, rules.ZBox):
            for clamp in ({"min": 0}, {"max": 0}):
                m = copy.deepcopy(module)
                m.weight.copy_(m.weight.clamp(**clamp))
                m.bias.copy_(m.bias.clamp(**clamp))
                modified.append(m)
        elif isinstance(rule, rules.Gamma):
            m = copy.deepcopy(module)
            m.weight.add_(rule.gamma * m.weight.clamp(min=0))
            m.bias.add_(rule.gamma * m.bias.clamp(min=0))
            modified.append(m)
        plans[id(module)] = (rule, modified)
    low, high = (torch.tensor(b, dtype=torch.float32) for b in composites.imagenet_bounds())

    def run(x, targets):
        acts = [x]
        with torch.no_grad():
            for m in stack:
                acts.append(m(acts[-1]))
        r = torch.zeros_like(acts[-1])
        rows = torch.arange(len(x))
        r[rows, targets] = acts[-1][rows, targets]
        for m, a in zip(reversed(stack), reversed(acts[:-1])):
            if isinstance(m, (torch.nn.ReLU, torch.nn.Dropout)):
                continue
            if isinstance(m, torch.nn.Flatten):
                r = r.reshape(a.shape)
                continue
            a = a.clone().requires_grad_(True)
            extra = []
            if isinstance(m, torch.nn.MaxPool2d):  # the recipe's "as average pooling"
                z = torch.nn.functional.avg_pool2d(a, 2)
            elif isinstance(m, torch.nn.AdaptiveAvgPool2d):
                z = m(a)
            else:
                rule, modified = plans[id(m)]
                if isinstance(rule, rules.ZBox):
                    lo = (low * torch.ones_like(a)).requires_grad_(True)
                    hi = (high * torch.ones_like(a)).requires_grad_(True)
                    z = m(a) - modified[0](lo) - modified[1](hi) + 1e-9
                    extra = [lo, hi]
                else:
                    z = (modified[0] if modified else m)(a)
                    if getattr(rule, "relative", False):
                        z = z + rule.eps * z.detach().pow(2).mean().sqrt()
                    else:
                        z = z + rule.eps
            (z * (r / z).detach()).sum().backward()
            r = (a * a.grad + sum(b * b.grad for b in extra)).detach()
        return r

    return run


def fma_peak(threads):
    """GFLOP/s of bench/fma_peak.c on `threads` threads, or None without a compiler."""
    with tempfile.TemporaryDirectory() as folder:
        binary = Path(folder) / "fma_peak"
        try:
            subprocess.run(["cc", "-O3", "-pthread", str(ROOT / "bench" / "fma_peak.c"), "-o",
                            str(binary)], check=True, capture_output=True)
            done = subprocess.run([str(binary), str(threads)], check=True, capture_output=True,
                                  text=True)
        except (OSError, subprocess.CalledProcessError):
            return None
    return json.loads(done.stdout)


def recipe_macs(net, composite, x):
    """Multiply-adds of one real pass of `composite` per sample: the forward
    pass, the modified forward of every gamma (1) and z^B (3) layer, and the
    transposed pass of every weighted layer (z^B: 3)."""
    total, acts = 0, net.activations(x[:1])
    index = 0
    for i, layer in enumerate(net.layers):
        if not layer.weighted:
            continue
        out = acts[i + 1]
        per_output = layer.weight[0].size  # inputs per output (per group)
        macs = int(out.size) * per_output
        rule = composite[index]
        index += 1
        extra = {rules.Gamma: 1, rules.ZBox: 3}.get(type(rule), 0)
        transposed = 3 if isinstance(rule, rules.ZBox) else 1
        total += macs * (1 + extra + transposed)
    return total


class LayerClock:
    """Adds up the time spent in each layer's passes while active."""

    def __init__(self):
        self.seconds = collections.defaultdict(float)
        self.saved = []

    def __enter__(self):
        for cls, name in ((layers.WeightedLayer, "weighted_sum"),
                          (layers.WeightedLayer, "absmax"),
                          (layers.WeightedLayer, "kernel_relevance"),
                          (pooling.PoolLayer, "kernel_relevance")):
            original = getattr(cls, name)
            self.saved.append((cls, name, original))

            def timed(layer, *args, _original=original, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(layer, *args, **kwargs)
                finally:
                    self.seconds[id(layer)] += time.perf_counter() - start
            setattr(cls, name, timed)
        return self

    def __exit__(self, *exc):
        for cls, name, original in self.saved:
            setattr(cls, name, original)


def slowest_layer(net, run):
    clock = LayerClock()
    with clock:
        start = time.perf_counter()
        run()
        whole = time.perf_counter() - start
    if not clock.seconds:
        return None
    key, seconds = max(clock.seconds.items(), key=lambda kv: kv[1])
    index = next(i for i, layer in enumerate(net.layers) if id(layer) == key)
    return {"layer": f"layers[{index}] {net.layers[index]!r}", "seconds": seconds,
            "share": seconds / whole}


def vgg_block(args, rows, profile):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.vgg16().eval()
    net = sl.from_torch(model)
    composite = composites.lrp_overview_vgg16(net)
    run_torch = torch_gradient_lrp(model, composite)
    paper = composites.PAPER_VGG16_THRESHOLDS
    cases = [
        ("real, overview recipe", sl.Real()),
        ("boolean, paper thresholds", sl.Boolean(paper, absolute=True)),
        ("boolean, 1e-9 absolute", sl.Boolean(1e-9, absolute=True)),
        ("counting, paper thresholds", sl.Counting(paper, absolute=True)),
        ("viterbi", sl.Viterbi()),
    ]
    rng = np.random.default_rng(0)
    for batch in args.batches:
        pixels = rng.uniform(0, 1, size=(batch, 3, 224, 224))
        x = ((pixels - composites.IMAGENET_MEAN.reshape(3, 1, 1))
             / composites.IMAGENET_STD.reshape(3, 1, 1)).astype(np.float32)
        targets = net.forward(x).argmax(axis=1)
        xt, tt = torch.tensor(x), torch.tensor(targets)
        block = f"VGG-16 batch {batch}"
        baseline_name = "PyTorch gradient LRP, overview recipe (baseline)"
        calls = {baseline_name: lambda: run_torch(xt, tt)}
        try:
            from zennit.attribution import Gradient
            from zennit.composites import EpsilonGammaBox
            low, high = (torch.tensor(np.broadcast_to(b, x.shape), dtype=torch.float32)
                         for b in composites.imagenet_bounds())
            attributor = Gradient(model, EpsilonGammaBox(low=low, high=high))
            one_hot = torch.eye(1000)[tt]

            def zennit_pass():
                # zennit's hooks are on the model only inside the context, which
                # the PyTorch baseline, timed in turn, must not see; registering
                # them is part of this call's time
                with attributor:
                    attributor(xt, one_hot)
            calls["zennit EpsilonGammaBox"] = zennit_pass
        except ImportError:
            pass
        for name, semiring in cases:
            def one_pass(semiring=semiring):
                sl.relevance(net, x, target=targets, semiring=semiring, rule=composite)
            calls[f"semiring_lrp {name}"] = one_pass
        timings = paired_ratios(calls, baseline_name, args.repeat)
        for name, timing in timings.items():
            rows.append((block, name) + timing)
        if batch != 1:
            continue
        for name, _ in cases:
            profile[name] = slowest_layer(net, calls[f"semiring_lrp {name}"])
        real = timings["semiring_lrp " + cases[0][0]][0]
        profile["real GFLOP/s"] = 2 * recipe_macs(net, composite, x) / real / 1e9


def mlp_block(args, rows):
    images, _ = sl.datasets.mnist("test", root=args.data)
    x = sl.models.mnist_input(images[:1000])
    net = sl.models.mnist_mlp()
    targets = net.forward(x).argmax(axis=1)
    block = "MNIST MLP batch 1000"
    baseline_name = "PyTorch autograd LRP-0 (baseline)"
    calls = {baseline_name: lambda: torch_lrp(net, x.reshape(len(x), -1), targets,
                                              [rules.Zero()] * 3)}
    for name, semiring, rule in (
            ("real, LRP-0", sl.Real(), rules.Zero()),
            ("real, gamma 0.25", sl.Real(), rules.Gamma(0.25)),
            ("boolean, 1e-9", sl.Boolean(1e-9), rules.Zero()),
            ("counting, 1e-9", sl.Counting(1e-9), rules.Zero()),
            ("viterbi", sl.Viterbi(), rules.Zero())):
        calls[f"semiring_lrp {name}"] = (
            lambda semiring=semiring, rule=rule:
            sl.relevance(net, x, target=targets, semiring=semiring, rule=rule))
    timings = paired_ratios(calls, baseline_name, args.repeat * MLP_ROUNDS)
    for name, timing in timings.items():
        rows.append((block, name) + timing)


def random_mlp_block(args, rows):
    """The MLP's shape with dense random inputs (no zero pixel for the
    sparse passes to skip), real eps against autograd eps."""
    rng = np.random.default_rng(0)
    net = sl.models.mnist_mlp()
    x = rng.random((1000, 28, 28)).astype(np.float32)  # in [0, 1), as pixels
    targets = net.forward(x).argmax(axis=1)
    block = "MLP random batch 1000"
    baseline_name = "PyTorch autograd LRP eps (baseline)"
    rule = rules.Epsilon(0.01)
    calls = {baseline_name: lambda: torch_lrp(net, x.reshape(len(x), -1), targets, [rule] * 3),
             "semiring_lrp real, eps 0.01":
             lambda: sl.relevance(net, x, target=targets, semiring=sl.Real(), rule=rule)}
    timings = paired_ratios(calls, baseline_name, args.repeat * MLP_ROUNDS)
    for name, timing in timings.items():
        rows.append((block, name) + timing)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=sl.get_num_threads())
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--data", default=None,
                        help="folder with the MNIST test files (default: the split "
                             "shipped with the package)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    sl.set_num_threads(args.threads)
    rows, profile = [], {}
    mlp_block(args, rows)
    random_mlp_block(args, rows)
    vgg_block(args, rows, profile)
    peak = fma_peak(args.threads)

    machine = sl.config()
    print("the machine (sl.show_config()):")
    sl.show_config()
    print(f"float32; {args.threads} threads for torch {torch.__version__} and semiring_lrp "
          f"({sl.instruction_set()} kernels); each pass timed after the baseline {args.repeat} times "
          f"(MLP: {MLP_ROUNDS * args.repeat}); medians")
    print(f"{'block':<22} {'pass':<50} {'seconds':>9} {'x baseline':>11} {'range':>11}")
    for block, name, seconds, ratio, low, high in rows:
        print(f"{block:<22} {name:<50} {seconds:9.4f} {ratio:11.2f} {low:5.2f}-{high:.2f}")
    print("slowest layer of each batch-1 VGG-16 pass:")
    for name, info in profile.items():
        if isinstance(info, dict):
            print(f"  {name:<32} {info['layer']:<52} {info['seconds']:.3f} s "
                  f"({100 * info['share']:.0f}%)")
    if "real GFLOP/s" in profile:
        line = f"real pass, batch 1: {profile['real GFLOP/s']:.0f} GFLOP/s effective"
        if peak:
            line += (f" = {100 * profile['real GFLOP/s'] / peak['gflops_f32']:.0f}% of the "
                     f"measured FMA peak {peak['gflops_f32']:.0f} GFLOP/s ({peak['isa']}, "
                     f"{peak['threads']} threads)")
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "threads": args.threads, "torch": torch.__version__, "isa": sl.instruction_set(),
            "machine": machine,
            "rows": [{"block": b, "pass": n, "seconds": s, "ratio": r, "ratio_low": lo,
                      "ratio_high": hi} for b, n, s, r, lo, hi in rows],
            "slowest_layer": {k: v for k, v in profile.items() if isinstance(v, dict)},
            "real_gflops": profile.get("real GFLOP/s"), "fma_peak": peak}, indent=2))


if __name__ == "__main__":
    main()
