"""Slow, literal references for the tests.

`literal_relevance` evaluates semantics.md by looping over samples and
(j, k) pairs in scalar arithmetic of the network's dtype, sharing no code
with the library. `torch_lrp` is gradient-based LRP in PyTorch autograd
(z; s = R/z; c = grad of sum(z*s); R = a*c), the form zennit and the LRP
overview use.
"""
import numpy as np

import semiring_lrp as sl
from semiring_lrp import rules


def _layers(net):
    out = []
    for layer in net.layers:
        if isinstance(layer, sl.Linear):
            out.append(("linear", layer.weight, layer.bias))
        elif isinstance(layer, sl.ReLU):
            out.append(("relu",))
    return out


def _rule_parts(rule, T):
    gamma = T(getattr(rule, "gamma", 0.0))
    eps = T(getattr(rule, "eps", 0.0))
    plus = getattr(rule, "variant", "sign") == "plus"
    return gamma, eps, plus


def literal_relevance(net, x, targets, kind, rule_list, thetas=None, absolute=False,
                      init="one"):
    """kind in 'real', 'boolean', 'counting', 'viterbi'; x (N, features)."""
    T = np.float32 if net.dtype == np.float32 else float
    layers = _layers(net)
    results = []
    for n in range(x.shape[0]):
        a = [T(v) for v in x[n].reshape(-1)]
        acts = []
        for layer in layers:
            acts.append(a)
            if layer[0] == "linear":
                _, w, b = layer
                z = []
                for k in range(w.shape[0]):
                    s = T(0)
                    for j in range(w.shape[1]):
                        s += a[j] * T(w[k, j])
                    z.append(s + T(b[k]))
                a = z
            else:
                a = [v if v > 0 else T(0) for v in a]
        out = a
        zero = {"real": T(0), "viterbi": T(0), "boolean": False, "counting": 0}[kind]
        one = {"real": T(1), "viterbi": T(1), "boolean": True, "counting": 1}[kind]
        R = [zero] * len(out)
        R[targets[n]] = out[targets[n]] if init == "activation" else one
        windex = sum(1 for layer in layers if layer[0] == "linear")
        for li in reversed(range(len(layers))):
            if layers[li][0] != "linear":
                continue
            windex -= 1
            _, w, b = layers[li]
            a = acts[li]
            rule = rule_list[windex]
            gamma, eps, plus = _rule_parts(rule, T)
            zbox = isinstance(rule, rules.ZBox)
            if zbox:
                low = np.broadcast_to(rule.low, x.shape[1:]).reshape(-1)
                high = np.broadcast_to(rule.high, x.shape[1:]).reshape(-1)
            J, K = w.shape[1], w.shape[0]

            def rho(v):
                return v + gamma * max(v, T(0)) if isinstance(rule, rules.Gamma) else v

            def numerator(j, k):
                v = T(w[k, j])
                if zbox:
                    return a[j] * v - T(low[j]) * max(v, T(0)) - T(high[j]) * min(v, T(0))
                return a[j] * rho(v)

            beta = [T(0) if zbox else rho(T(b[k])) for k in range(K)]
            z = []
            for k in range(K):
                s = T(0)
                for j in range(J):
                    s += numerator(j, k)
                s = s + beta[k]
                if eps:
                    s = s + eps if plus else s + (eps if s >= 0 else -eps)
                z.append(s)
            if kind == "viterbi":
                m = [max(max(abs(numerator(j, k)) for j in range(J)), abs(beta[k]))
                     for k in range(K)]
            newR = [zero] * J
            for j in range(J):
                acc = zero
                for k in range(K):
                    if kind == "viterbi":
                        theta = abs(numerator(j, k)) / (m[k] + T(1e-9))
                        acc = max(acc, theta * R[k])
                        continue
                    d = numerator(j, k) / z[k] if z[k] != 0 else T(0)
                    if kind == "real":
                        acc = acc + d * R[k]
                    else:
                        th = T(thetas[windex])
                        passes = (abs(d) if absolute else d) >= th
                        if kind == "boolean":
                            acc = acc or (passes and R[k])
                        else:
                            acc = acc + (1 if passes else 0) * R[k]
                newR[j] = acc
            R = newR
        results.append(R)
    dtype = {"boolean": bool, "counting": np.int64}.get(kind, net.dtype)
    return np.array(results, dtype=dtype).reshape(x.shape)


def torch_lrp(net, x, targets, rule_list):
    """Gradient LRP in PyTorch autograd, starting from the target's score."""
    import torch

    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    layers = _layers(net)
    a = torch.tensor(np.asarray(x).reshape(x.shape[0], -1), dtype=dtype)
    acts = []
    for layer in layers:
        acts.append(a)
        if layer[0] == "linear":
            a = a @ torch.tensor(layer[1]).T + torch.tensor(layer[2])
        else:
            a = torch.relu(a)
    R = torch.zeros_like(a)
    rows = torch.arange(a.shape[0])
    t = torch.as_tensor(targets)
    R[rows, t] = a[rows, t]
    windex = sum(1 for layer in layers if layer[0] == "linear")
    for li in reversed(range(len(layers))):
        if layers[li][0] != "linear":
            continue
        windex -= 1
        rule = rule_list[windex]
        w, b = torch.tensor(layers[li][1]), torch.tensor(layers[li][2])
        a = acts[li].clone().requires_grad_(True)
        if isinstance(rule, rules.ZBox):
            low = torch.tensor(np.broadcast_to(rule.low, x.shape[1:]).reshape(1, -1),
                               dtype=dtype).expand_as(a).clone().requires_grad_(True)
            high = torch.tensor(np.broadcast_to(rule.high, x.shape[1:]).reshape(1, -1),
                                dtype=dtype).expand_as(a).clone().requires_grad_(True)
            z = (a @ w.T + b) - (low @ w.clamp(min=0).T + b.clamp(min=0)) \
                - (high @ w.clamp(max=0).T + b.clamp(max=0))
        else:
            gamma = getattr(rule, "gamma", 0.0) if isinstance(rule, rules.Gamma) else 0.0
            z = a @ (w + gamma * w.clamp(min=0)).T + (b + gamma * b.clamp(min=0))
            eps = getattr(rule, "eps", 0.0)
            if eps:
                z = z + eps * ((z >= 0).to(dtype) * 2 - 1)
        s = torch.where(z != 0, R / torch.where(z != 0, z, torch.ones_like(z)),
                        torch.zeros_like(z)).detach()
        (z * s).sum().backward()
        if isinstance(rule, rules.ZBox):
            R = (a * a.grad + low * low.grad + high * high.grad).detach()
        else:
            R = (a * a.grad).detach()
    return R.numpy().reshape(x.shape)


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
