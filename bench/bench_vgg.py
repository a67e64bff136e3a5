"""Time one VGG-16 relevance pass at 224x224, float32, batch 1, per semiring,
beside PyTorch gradient LRP with the same rules in the same process (the
baseline of every ratio), and zennit's EpsilonGammaBox when zennit is
installed; then the peak memory of one pass in a fresh process.

    python bench/bench_vgg.py [--weights vgg16.pth] [--repeat 3] [--json out.json]

Random weights unless --weights names torchvision's VGG-16 state_dict file.
Rules: the LRP overview's recipe (z^B, gamma 0.25, eps 0.25 std, LRP-0) for
real; the paper's absolute thresholds for boolean, 1e-9 absolute for
counting (which overflows int64 on VGG-16 and is timed to the error).
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

import semiring_lrp as sl
from semiring_lrp import composites, rules
from timing import median_seconds


def torch_gradient_lrp(model, composite):
    """PyTorch gradient LRP of torchvision's VGG-16 for `composite`, every
    modified layer built once, before timing: returns run(x, target)."""
    import copy

    import torch

    layers = list(model.features) + [model.avgpool, torch.nn.Flatten()] + list(model.classifier)
    weighted = [m for m in layers if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    plans = {}
    for module, rule in zip(weighted, composite):
        modified = []
        if isinstance(rule, rules.ZBox):
            for clamp in ({"min": 0}, {"max": 0}):
                m = copy.deepcopy(module)
                with torch.no_grad():
                    m.weight.copy_(m.weight.clamp(**clamp))
                    m.bias.copy_(m.bias.clamp(**clamp))
                modified.append(m)
        elif isinstance(rule, rules.Gamma):
            m = copy.deepcopy(module)
            with torch.no_grad():
                m.weight.add_(rule.gamma * m.weight.clamp(min=0))
                m.bias.add_(rule.gamma * m.bias.clamp(min=0))
            modified.append(m)
        plans[id(module)] = (rule, modified)
    low, high = (torch.tensor(b, dtype=torch.float32) for b in composites.imagenet_bounds())

    def run(x, target):
        acts = [x]
        with torch.no_grad():
            for m in layers:
                acts.append(m(acts[-1]))
        r = torch.zeros_like(acts[-1])
        r[0, target] = acts[-1][0, target]
        for m, a in zip(reversed(layers), reversed(acts[:-1])):
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


def peak_memory(path, semiring):
    script = textwrap.dedent(f"""
        import numpy as np
        import semiring_lrp as sl
        net = sl.load({str(path)!r})
        x = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
        semiring = {semiring}
        try:
            sl.relevance(net, x, semiring=semiring, rule=sl.composites.lrp_overview_vgg16(net))
        except OverflowError:
            pass
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
        status = open('/proc/self/status').read()
        print(int(status.split('VmHWM:')[1].split()[0]) * 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="torchvision's VGG-16 state_dict file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.vgg16().eval()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    net = sl.from_torch(model)
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 1, size=(1, 3, 224, 224))
    x = ((pixels - composites.IMAGENET_MEAN.reshape(3, 1, 1))
         / composites.IMAGENET_STD.reshape(3, 1, 1)).astype(np.float32)
    target = int(np.argmax(net.forward(x)))
    composite = composites.lrp_overview_vgg16(net)
    rows = []

    run_torch = torch_gradient_lrp(model, composite)
    xt = torch.tensor(x)
    run_torch(xt, target)
    baseline = median_seconds(lambda: run_torch(xt, target), args.repeat)
    rows.append(("PyTorch gradient LRP, overview recipe (baseline)", baseline))
    try:
        from zennit.attribution import Gradient
        from zennit.composites import EpsilonGammaBox
        low, high = (torch.tensor(np.broadcast_to(b, x.shape), dtype=torch.float32)
                     for b in composites.imagenet_bounds())
        with Gradient(model, EpsilonGammaBox(low=low, high=high)) as attributor:
            one_hot = torch.eye(1000)[[target]]
            rows.append(("zennit EpsilonGammaBox", median_seconds(
                lambda: attributor(xt, one_hot), args.repeat)))
    except ImportError:
        pass

    cases = [
        ("real, overview recipe", sl.Real(), "sl.Real()"),
        ("boolean, paper thresholds", composites.paper_vgg16_boolean(net),
         "sl.composites.paper_vgg16_boolean(net)"),
        ("counting, 1e-9 absolute (overflows)", sl.Counting(1e-9, absolute=True),
         "sl.Counting(1e-9, absolute=True)"),
        ("viterbi", sl.Viterbi(), "sl.Viterbi()"),
    ]

    def one_pass(semiring):
        try:
            sl.relevance(net, x, target=target, semiring=semiring, rule=composite)
        except OverflowError:
            pass

    memory = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vgg16.npz"
        net.save(path)
        for name, semiring, source in cases:
            rows.append((f"semiring_lrp {name}",
                         median_seconds(lambda: one_pass(semiring), args.repeat)))
            memory[name] = peak_memory(path, source)

    print(f"VGG-16, 224x224, float32, batch 1; torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads; semiring_lrp single-threaded; median of "
          f"{args.repeat}")
    print(f"{'pass':<52} {'s':>8} {'x baseline':>11}")
    for name, seconds in rows:
        print(f"{name:<52} {seconds:8.2f} {seconds / baseline:11.2f}")
    print("peak resident memory of one pass in a fresh process (weights included):")
    for name, peak in memory.items():
        print(f"  {name:<50} {peak / 1e9:6.2f} GB")
    print(f"this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"rows": [{"pass": n, "seconds": s, "ratio": s / baseline} for n, s in rows],
             "peak_bytes": memory}, indent=2))


if __name__ == "__main__":
    main()
