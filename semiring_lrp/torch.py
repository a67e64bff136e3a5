"""The bridge back to PyTorch: a `Network` as a `torch.nn.Sequential`, and
classical LRP computed by PyTorch autograd, to compare with `relevance`.

    import semiring_lrp as sl
    from semiring_lrp.torch import gradient_lrp, to_torch

    model = to_torch(net)                                 # nn.Sequential, same weights
    R = gradient_lrp(net, x, target=3, rule=sl.rules.Gamma(0.25))
    # equals sl.relevance(net, x, target=3, rule=sl.rules.Gamma(0.25), init="activation")

torch is imported only inside these functions (importing semiring_lrp
never imports it). This module is `semiring_lrp.torch`; the package imports
absolutely, so `import torch` anywhere in it finds PyTorch.
"""
from __future__ import annotations

import numpy as np

from .inputs import as_batch, as_targets, is_tensor
from .layers import Conv2d, Flatten, Linear, ReLU
from .network import Network
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .propagation import checked_arguments
from .rules import Epsilon, Gamma, ZBox
from .semirings import Real
from .torch_import import from_torch

__all__ = ["to_torch", "torch_names", "gradient_lrp"]


def _torch():
    try:
        import torch
    except ImportError as err:  # pragma: no cover - torch is a test dependency
        raise ImportError("semiring_lrp.torch needs PyTorch: pip install torch") from err
    return torch


def torch_names(names):
    """Layer names as `nn.Sequential` can hold them: each '.' becomes '_'
    ("features.28" -> "features_28"); a name that is then taken by an
    earlier layer, or is an attribute of nn.Sequential ("forward",
    "training"), gets "_" and its layer index appended ("forward_3")."""
    nn = _torch().nn
    reserved = nn.Sequential()
    taken, result = set(), []
    for index, name in enumerate(names):
        candidate = name.replace(".", "_")
        while candidate in taken or hasattr(reserved, candidate):
            candidate = f"{candidate}_{index}"
        taken.add(candidate)
        result.append(candidate)
    return result


def _parameter(array):
    """A copy of a (read-only) weight array as an nn.Parameter."""
    torch = _torch()
    return torch.nn.Parameter(torch.from_numpy(np.array(array, order="C")))


def _module(layer):
    """The torch module computing `layer`, with copies of its weights."""
    nn = _torch().nn
    # weighted modules are made without values ("meta"), then given copies of ours
    if isinstance(layer, Linear):
        module = nn.Linear(layer.in_features, layer.out_features, device="meta")
    elif isinstance(layer, Conv2d):
        module = nn.Conv2d(layer.in_channels, layer.out_channels, tuple(layer.kernel_size),
                           stride=layer.stride, padding=layer.padding,
                           dilation=layer.dilation, groups=layer.groups, device="meta")
    elif isinstance(layer, MaxPool2d):
        return nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding,
                            ceil_mode=layer.ceil_mode)
    elif isinstance(layer, AvgPool2d):
        return nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode,
                            layer.count_include_pad, layer.divisor_override)
    elif isinstance(layer, AdaptiveAvgPool2d):
        return nn.AdaptiveAvgPool2d(layer.output_size)
    elif isinstance(layer, ReLU):
        return nn.ReLU()
    elif isinstance(layer, Flatten):
        return nn.Flatten()
    else:
        raise TypeError(f"to_torch has no PyTorch module for {layer!r} "
                        f"(type {type(layer).__name__})")
    module.weight = _parameter(layer.weight)
    module.bias = _parameter(layer.bias)
    return module


def to_torch(net):
    """`net` as a `torch.nn.Sequential` computing the same function: Linear,
    Conv2d (stride, padding, dilation, groups), ReLU, Flatten, MaxPool2d,
    AvgPool2d, AdaptiveAvgPool2d with all their settings, in the network's
    dtype (float32 or float64), on the CPU, in eval mode. Parameters are
    copies of the network's weights (a Network's arrays are read-only);
    every Linear and Conv2d has a bias (zeros where the layer had none).

    Modules are named by `torch_names(net.names)`: the network's layer names
    with '.' as '_' ("features.28" becomes "features_28"), since torch
    refuses dots in a module name. Like any nn.Sequential, the result takes
    a batch (N, ...), not a single sample.
    """
    if not isinstance(net, Network):
        raise TypeError(f"to_torch needs a semiring_lrp.Network, not {type(net).__name__}")
    torch = _torch()
    from collections import OrderedDict

    modules = OrderedDict(zip(torch_names(net.names), map(_module, net.layers)))
    return torch.nn.Sequential(modules).eval()


def _as_network(model):
    """(the Network, the nn.Sequential computing it) of a Network or a torch module."""
    nn = _torch().nn
    if isinstance(model, Network):
        return model, to_torch(model)
    if isinstance(model, nn.Module):
        net = from_torch(model)
        return net, to_torch(net)
    raise TypeError(f"model must be a torch.nn.Module or a semiring_lrp.Network, "
                    f"not {type(model).__name__}")


def _chosen_rule(net, rule, composite):
    """The rule argument `relevance` takes: `rule`, or the composite (a
    Composite, or a function of the network giving one)."""
    if composite is None:
        return rule
    if rule is not None:
        raise ValueError("give rule or composite, not both")
    if callable(composite):
        composite = composite(net)
    if not isinstance(composite, list):
        raise TypeError(f"composite must be a composites.Composite (a list of rules) or a "
                        f"function of the network returning one, not {composite!r}")
    return composite


def _device(x):
    """The device of a torch x (where the pass runs), the CPU otherwise."""
    return x.device if is_tensor(x) else _torch().device("cpu")


def gradient_lrp(model, x, target=None, rule=None, composite=None, init="activation",
                 maxpool=None):
    """Classical LRP by PyTorch autograd: the gradient-times-input trick
    of the LRP overview (Montavon et al. 2019, section 10.2), one weighted
    or pooling layer at a time from the output down:

        z = stab(layer_rho(a));  s = R / z (0 where z == 0);
        c = grad of sum(z * s) by a;  R = a * c

    with layer_rho the layer under the rule's modified weights: LRP-0
    (`rules.Zero`), LRP-eps (`Epsilon`, also relative and "plus"), LRP-gamma
    (`Gamma`, with its eps), z^B (`ZBox`: R = a*c + low*c_low + high*c_high).
    Pooling layers use LRP-0; max pooling passes R through its gradient
    (winner-take-all) or, with maxpool="average", as average pooling.
    This is what `relevance(net, x, target, rule=rule, init=init)` computes
    (semantics.md), in separate code: use it to check one against the other.

    model      a torch nn.Module that `from_torch` takes (nn.Sequential,
               torchvision VGG; BatchNorm2d is folded, Dropout dropped) or a
               `Network`. Either is converted (`from_torch`, `to_torch`): the
               passes run on a copy of the weights in the network's dtype,
               and the model itself is left as it was (no hooks, no grads).
    x          one sample or a batch, as `relevance` takes it (a NumPy array,
               a list or a torch tensor of any real dtype). It is converted
               to the network's dtype (float32 or float64): a float16,
               bfloat16 or float8 tensor becomes float32 (exactly).
    target     an int or one per sample; default: the predicted class.
    rule       as `relevance` takes it: one rule, a list with one per
               weighted layer, or a dict by layer name or index (names are
               `from_torch`'s module paths, or the Network's own).
    composite  instead of rule: a `composites.Composite`, or a function of
               the network returning one (`composites.lrp_overview_vgg16`;
               `functools.partial(composites.epsilon_gamma_box, low=l, high=h)`).
    init       "activation" (default, classical LRP): R at the output is the
               target's score; "one": 1 at the target.
    maxpool    "winner" or "average"; default: the composite's, else "winner".

    Returns R shaped like x, in the network's dtype: a torch tensor on x's
    device when x is a torch tensor (the pass runs on that device: a CUDA
    x computes on CUDA), a NumPy array otherwise. Bad arguments raise
    the TypeError or ValueError `relevance` raises for them; a layer
    `from_torch` does not support raises TypeError naming it.
    """
    torch = _torch()
    # tensors made under torch.no_grad() or inference_mode() could not be differentiated
    with torch.inference_mode(False), torch.enable_grad():
        return _gradient_lrp(model, x, target, rule, composite, init, maxpool)


def _gradient_lrp(model, x, target, rule, composite, init, maxpool):
    torch = _torch()
    net, sequential = _as_network(model)
    rule = _chosen_rule(net, rule, composite)
    _, rule_list, _, maxpool = checked_arguments(net, Real(), rule, init, maxpool, "input")
    device = _device(x)
    batch, _, x_shape = as_batch(net, x)
    sequential = sequential.to(device)
    a = torch.tensor(batch, device=device)
    acts, modules = _forward(sequential, a)
    if acts[-1].ndim != 2:
        raise ValueError(f"the network's output has shape {tuple(acts[-1].shape[1:])} per "
                         "sample; LRP needs one score per class (end with Flatten and Linear)")
    targets = as_targets(target, acts[-1].cpu().numpy())
    r = _initial(acts[-1], torch.as_tensor(targets, device=device), init)
    r = _backward(net, modules, acts, r, rule_list, maxpool, batch.shape).reshape(x_shape)
    return r if is_tensor(x) else r.cpu().numpy()


def _forward(sequential, a):
    """(activations entering each module, then the output; the modules)."""
    torch = _torch()
    modules = list(sequential)
    acts = [a]
    with torch.no_grad():
        for module in modules:
            acts.append(module(acts[-1]))
    return acts, modules


def _initial(scores, targets, init):
    torch = _torch()
    r = torch.zeros_like(scores)
    rows = torch.arange(scores.shape[0], device=scores.device)
    r[rows, targets] = scores[rows, targets] if init == "activation" else 1
    return r


def _backward(net, modules, acts, r, rule_list, maxpool, batch_shape):
    """R at the network input, walking the layers backwards."""
    index = len(rule_list)
    for layer, module, a in zip(reversed(net.layers), reversed(modules), reversed(acts[:-1])):
        if layer.weighted:
            index -= 1
            r = _weighted_step(module, rule_list[index], a, r, batch_shape)
        elif layer.pooling:
            r = _pooling_step(module, a, r, maxpool)
        else:  # ReLU and Flatten pass R unchanged
            r = r.reshape(a.shape)
    return r


def _apply(module, a, weight, bias):
    """The module's function with other parameters."""
    F = _torch().nn.functional
    if isinstance(module, _torch().nn.Linear):
        return F.linear(a, weight, bias)
    return F.conv2d(a, weight, bias, module.stride, module.padding, module.dilation,
                    module.groups)


def _redistributed(z, r, inputs):
    """sum over the inputs of input * grad(sum(z * s)), s = r / z (0 where z == 0)."""
    torch = _torch()
    nonzero = z != 0
    s = torch.where(nonzero, r / torch.where(nonzero, z, torch.ones_like(z)),
                    torch.zeros_like(z)).detach()
    grads = torch.autograd.grad((z * s).sum(), inputs)
    return sum(leaf.detach() * grad for leaf, grad in zip(inputs, grads))


def _weighted_step(module, rule, a, r, batch_shape):
    a = a.detach().requires_grad_(True)
    w, b = module.weight.detach(), module.bias.detach()
    if isinstance(rule, ZBox):
        low, high = _bounds(rule, a, batch_shape)
        z = (_apply(module, a, w, b) - _apply(module, low, w.clamp(min=0), b.clamp(min=0))
             - _apply(module, high, w.clamp(max=0), b.clamp(max=0)))
        inputs = (a, low, high)
    else:
        if isinstance(rule, Gamma) and rule.gamma:
            w, b = w + rule.gamma * w.clamp(min=0), b + rule.gamma * b.clamp(min=0)
        z = _apply(module, a, w, b)
        inputs = (a,)
    if rule.eps:
        z = z + _stabiliser(rule, z.detach())
    return _redistributed(z, r, inputs)


def _stabiliser(rule, z):
    """What the rule adds to z: eps * sign(z) (sign(0) = +1), or eps for
    variant "plus"; a relative eps is scaled by each sample's sqrt(mean(z^2))."""
    torch = _torch()
    eps = rule.eps
    if isinstance(rule, Epsilon) and rule.relative:  # the mean in float64, as `relevance`
        scale = z.to(torch.float64).reshape(len(z), -1).pow(2).mean(1).sqrt()
        eps = (eps * scale).to(z.dtype).reshape((-1,) + (1,) * (z.ndim - 1))
    if getattr(rule, "variant", "sign") == "plus":
        return eps * torch.ones_like(z)
    return eps * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


def _bounds(rule, a, batch_shape):
    """z^B's low and high as leaves shaped like a: broadcast against the
    network input when a is a reshaped network input, else against a."""
    torch = _torch()
    shapes = [tuple(a.shape)]
    if a.numel() == int(np.prod(batch_shape)):
        shapes.insert(0, tuple(batch_shape))
    for shape in shapes:
        try:
            bounds = [np.broadcast_to(bound, shape) for bound in (rule.low, rule.high)]
        except ValueError:
            continue
        return [torch.tensor(bound, dtype=a.dtype, device=a.device).reshape(a.shape)
                .requires_grad_(True) for bound in bounds]
    raise ValueError(f"ZBox bounds of shapes {rule.low.shape} and {rule.high.shape} do not "
                     f"broadcast to the layer input {tuple(a.shape)}")


def _pooling_step(module, a, r, maxpool):
    F = _torch().nn.functional
    a = a.detach().requires_grad_(True)
    if isinstance(module, _torch().nn.MaxPool2d) and maxpool == "average":
        z = F.avg_pool2d(a, module.kernel_size, module.stride, module.padding,
                         module.ceil_mode)
    else:
        z = module(a)
    return _redistributed(z, r, (a,))
