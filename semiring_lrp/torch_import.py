"""From PyTorch to a `Network`: modules and state_dict files.

torch is imported only inside these functions; a converted Network needs
nothing but NumPy. BatchNorm2d (eval) is folded into the convolution before
it, so relevance is that of the folded network (semantics.md section 4).
"""
from __future__ import annotations

import numpy as np

from .inputs import from_tensor
from .network import (AdaptiveAvgPool2d, AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d,
                      Network, ReLU)

__all__ = ["from_torch", "network_from_state_dict"]

_SKIPPED = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
            "FeatureAlphaDropout", "Identity")


def _tensor_to_numpy(tensor, name):
    """A weight's values: float32 or float64 only (a Network computes in its
    weights' dtype), anything else raises TypeError naming the tensor."""
    if str(tensor.dtype) not in ("torch.float32", "torch.float64"):
        raise TypeError(f"{name} has dtype {tensor.dtype}; convert the model to float32 or "
                        "float64 first (model.float() or model.double())")
    return from_tensor(tensor, name)


def _unsupported(path, module, why):
    return TypeError(f"unsupported layer {path}: {module!r}; {why}")


def _linear(module, path):
    weight = _tensor_to_numpy(module.weight, f"{path}.weight")
    bias = None if module.bias is None else _tensor_to_numpy(module.bias, f"{path}.bias")
    return Linear(weight, bias)


def _conv(module, path):
    if module.padding_mode != "zeros":
        raise _unsupported(path, module, "only zero padding is supported")
    padding = module.padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        else:  # "same" (stride 1): PyTorch pads total // 2 before and the rest after
            totals = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size)]
            if any(t % 2 for t in totals):
                raise _unsupported(path, module, "padding='same' with an even receptive "
                                                 "field pads unevenly")
            padding = tuple(t // 2 for t in totals)
    weight = _tensor_to_numpy(module.weight, f"{path}.weight")
    bias = None if module.bias is None else _tensor_to_numpy(module.bias, f"{path}.bias")
    return Conv2d(weight, bias, stride=module.stride, padding=padding,
                  dilation=module.dilation, groups=module.groups)


def _fold_batchnorm(module, path, layers):
    """Conv2d then BatchNorm2d (eval) as one Conv2d, computed in float64:
    w' = w * s and b' = (b - mean) * s + beta, with s = gamma / sqrt(var + eps)."""
    if not layers or not isinstance(layers[-1], Conv2d):
        raise _unsupported(path, module, "a BatchNorm2d is folded into the Conv2d right "
                                         "before it, and there is none")
    if module.running_mean is None or module.running_var is None:
        raise _unsupported(path, module, "folding needs running statistics "
                                         "(track_running_stats=True)")
    conv = layers[-1]

    def as_float64(leaf, default):
        tensor = getattr(module, leaf)
        if tensor is None:
            return default
        return from_tensor(tensor, f"{path}.{leaf}").astype(np.float64)

    mean = as_float64("running_mean", None)
    var = as_float64("running_var", None)
    gamma = as_float64("weight", np.ones_like(mean))
    beta = as_float64("bias", np.zeros_like(mean))
    if mean.shape != (conv.out_channels,):
        raise ValueError(f"{path}: BatchNorm2d has {mean.shape[0]} channels after a Conv2d "
                         f"with {conv.out_channels}")
    layers[-1] = fold_batchnorm(conv, mean, var, gamma, beta, module.eps)


def fold_batchnorm(conv, mean, var, gamma, beta, eps):
    """The Conv2d `conv` followed by an eval BatchNorm2d (running mean and
    var, affine gamma and beta, per channel) as one Conv2d of conv's dtype,
    computed in float64: w' = w * s, b' = (b - mean) * s + beta with
    s = gamma / sqrt(var + eps)."""
    mean, var, gamma, beta = (np.asarray(v, dtype=np.float64) for v in (mean, var, gamma, beta))
    scale = gamma / np.sqrt(var + eps)
    weight = conv.weight.astype(np.float64) * scale[:, None, None, None]
    bias = (conv.bias.astype(np.float64) - mean) * scale + beta
    dtype = conv.weight.dtype
    return Conv2d(weight.astype(dtype), bias.astype(dtype), **conv.config())


def _pool(module, path):
    kind = type(module).__name__
    if kind == "MaxPool2d":
        if module.dilation not in (1, (1, 1)):
            raise _unsupported(path, module, "dilated max pooling")
        if module.return_indices:
            raise _unsupported(path, module, "return_indices=True")
        return MaxPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode)
    if kind == "AvgPool2d":
        return AvgPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode,
                         module.count_include_pad, module.divisor_override)
    return AdaptiveAvgPool2d(module.output_size)


def _is_vgg(module):
    return (type(module).__name__ == "VGG" and hasattr(module, "features")
            and hasattr(module, "avgpool") and hasattr(module, "classifier"))


class _Converted:
    """The layers converted so far and their names (module paths)."""

    def __init__(self):
        self.layers, self.names = [], []

    def append(self, layer, name):
        self.layers.append(layer)
        self.names.append(name)


def _convert(module, path, out):
    import torch.nn as nn

    kind = type(module).__name__
    name = path or kind.lower()

    def child(suffix):
        return f"{path}.{suffix}" if path else suffix

    if isinstance(module, nn.Sequential):
        for key, sub in module.named_children():
            _convert(sub, child(key), out)
    elif _is_vgg(module):
        # torchvision's VGG.forward: features, avgpool, flatten(1), classifier
        _convert(module.features, child("features"), out)
        _convert(module.avgpool, child("avgpool"), out)
        out.append(Flatten(), child("flatten"))
        _convert(module.classifier, child("classifier"), out)
    elif isinstance(module, nn.Linear):
        out.append(_linear(module, name), name)
    elif isinstance(module, nn.Conv2d):
        out.append(_conv(module, name), name)
    elif isinstance(module, nn.BatchNorm2d):
        _fold_batchnorm(module, name, out.layers)  # the conv keeps its own name
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        out.append(_pool(module, name), name)
    elif isinstance(module, nn.ReLU):
        out.append(ReLU(), name)
    elif isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise _unsupported(name, module, "only Flatten(start_dim=1, end_dim=-1) is supported")
        out.append(Flatten(), name)
    elif kind in _SKIPPED:
        pass  # the identity in eval mode
    else:
        raise TypeError(f"unsupported layer {name}: {module!r} (type {kind}); supported: "
                        "Sequential, torchvision VGG, Linear, Conv2d, BatchNorm2d (folded), "
                        "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, ReLU, Flatten, Dropout")


def from_torch(module, input_shape=None):
    """A `Network` from a PyTorch `nn.Sequential` (or a single layer, or a
    torchvision VGG) of Linear, Conv2d, BatchNorm2d, MaxPool2d, AvgPool2d,
    AdaptiveAvgPool2d, ReLU, Flatten and Dropout. Dropout is dropped (eval
    semantics); BatchNorm2d is folded into the Conv2d before it, with its
    running statistics.

    input_shape: the shape of one sample, when the model starts with Flatten
    and the sample is not flat (e.g. (28, 28)); conv nets take any image size
    by default. An unsupported layer raises TypeError naming it.

    Each layer is named by its module path, as `model.named_modules()` gives
    it ("features.28", "classifier.0", "0" in a Sequential); a folded
    BatchNorm2d leaves its Conv2d's name, and torchvision VGG's flatten step
    is "flatten".
    """
    try:
        import torch.nn as nn
    except ImportError as err:  # pragma: no cover - torch is a test dependency
        raise ImportError("from_torch needs PyTorch: pip install torch") from err
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch needs a torch.nn.Module, not {type(module).__name__}")
    out = _Converted()
    _convert(module, "", out)
    if not out.layers:
        raise ValueError("the module has no layers to convert")
    return Network(out.layers, input_shape, out.names)


def network_from_state_dict(state, source="state_dict"):
    """An MLP from a bare state_dict: each `<name>.weight` (out, in) with an
    optional `<name>.bias`, in the dict's order, becomes Linear named <name>,
    with ReLU between them ("relu1", ...) and Flatten first ("flatten"): the
    layout of nn.Sequential MLPs.
    Anything else raises ValueError naming `source`."""
    import torch

    groups = {}
    for key, value in state.items():
        if not isinstance(key, str) or "." not in key:
            raise ValueError(f"{source}: unexpected key {key!r}; expected '<layer>.weight' "
                             "and '<layer>.bias'")
        prefix, _, leaf = key.rpartition(".")
        if leaf not in ("weight", "bias"):
            raise ValueError(f"{source}: unexpected entry {key!r} (only Linear weights and "
                             "biases can be read without the model's code; use from_torch)")
        if not isinstance(value, torch.Tensor) or value.layout != torch.strided:
            raise ValueError(f"{source}: {key} is a {type(value).__name__}, not a dense tensor")
        groups.setdefault(prefix, {})[leaf] = value
    layers, names = [Flatten()], ["flatten"]
    try:
        for prefix, params in groups.items():
            if "weight" not in params:
                raise ValueError(f"{prefix}.bias has no {prefix}.weight")
            weight = _tensor_to_numpy(params["weight"], f"{prefix}.weight")
            if weight.ndim != 2:
                raise ValueError(f"{prefix}.weight has shape {weight.shape}; a state_dict "
                                 "without the model's code is read as an MLP of Linear layers")
            bias = params.get("bias")
            bias = None if bias is None else _tensor_to_numpy(bias, f"{prefix}.bias")
            if len(layers) > 1:
                layers.append(ReLU())
                names.append(f"relu{len(names) // 2}")
            layers.append(Linear(weight, bias))
            names.append(prefix)
        if len(layers) == 1:
            raise ValueError("no weights found")
        return Network(layers, names=names)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: {err}") from None
