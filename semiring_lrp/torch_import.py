"""From PyTorch to a `Network`: modules and state_dict files.

torch is imported only inside these functions; a converted Network needs
nothing but NumPy.
"""
from __future__ import annotations

import numpy as np

from .network import Flatten, Linear, Network, ReLU

__all__ = ["from_torch", "network_from_state_dict"]

_SKIPPED = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
            "FeatureAlphaDropout", "Identity")


def _tensor_to_numpy(tensor, name):
    array = tensor.detach().cpu().numpy()
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} has dtype {array.dtype}; convert the model to float32 or "
                        "float64 first (model.float() or model.double())")
    return array


def _convert(module, path, layers):
    kind = type(module).__name__
    import torch.nn as nn

    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            _convert(child, f"{path}.{name}" if path else name, layers)
    elif isinstance(module, nn.Linear):
        weight = _tensor_to_numpy(module.weight, f"{path}.weight")
        bias = None if module.bias is None else _tensor_to_numpy(module.bias, f"{path}.bias")
        layers.append(Linear(weight, bias))
    elif isinstance(module, nn.ReLU):
        layers.append(ReLU())
    elif isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise TypeError(f"unsupported layer {path or kind}: {module!r}; only "
                            "Flatten(start_dim=1, end_dim=-1) is supported")
        layers.append(Flatten())
    elif kind in _SKIPPED:
        pass  # the identity in eval mode
    else:
        raise TypeError(f"unsupported layer {path or kind}: {module!r} (type {kind}); "
                        "supported: Sequential, Linear, ReLU, Flatten, Dropout")


def from_torch(module, input_shape=None):
    """A `Network` from a PyTorch `nn.Sequential` (or a single layer) of
    Linear, ReLU, Flatten and Dropout; Dropout is dropped (eval semantics).

    input_shape: the shape of one sample, when the model starts with Flatten
    and the sample is not flat (e.g. (1, 28, 28)). An unsupported layer
    raises TypeError naming it.
    """
    try:
        import torch.nn as nn
    except ImportError as err:  # pragma: no cover - torch is a test dependency
        raise ImportError("from_torch needs PyTorch: pip install torch") from err
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch needs a torch.nn.Module, not {type(module).__name__}")
    layers = []
    _convert(module, "", layers)
    if not layers:
        raise ValueError("the module has no layers to convert")
    return Network(layers, input_shape)


def network_from_state_dict(state, source="state_dict"):
    """An MLP from a bare state_dict: each `<name>.weight` (out, in) with an
    optional `<name>.bias`, in the dict's order, becomes Linear, with ReLU
    between them and Flatten first (the layout of nn.Sequential MLPs)."""
    groups = {}
    for key, value in state.items():
        if not isinstance(key, str) or "." not in key:
            raise ValueError(f"{source}: unexpected key {key!r}; expected '<layer>.weight' "
                             "and '<layer>.bias'")
        prefix, _, leaf = key.rpartition(".")
        if leaf not in ("weight", "bias"):
            raise ValueError(f"{source}: unexpected entry {key!r} (only Linear weights and "
                             "biases can be read without the model's code; use from_torch)")
        groups.setdefault(prefix, {})[leaf] = value
    layers = [Flatten()]
    for prefix, params in groups.items():
        if "weight" not in params:
            raise ValueError(f"{source}: {prefix}.bias has no {prefix}.weight")
        weight = _tensor_to_numpy(params["weight"], f"{prefix}.weight")
        if weight.ndim != 2:
            raise ValueError(f"{source}: {prefix}.weight has shape {weight.shape}; a state_dict "
                             "without the model's code is read as an MLP of Linear layers")
        bias = params.get("bias")
        bias = None if bias is None else _tensor_to_numpy(bias, f"{prefix}.bias")
        if len(layers) > 1:
            layers.append(ReLU())
        layers.append(Linear(weight, bias))
    if len(layers) == 1:
        raise ValueError(f"{source}: no weights found")
    return Network(layers)
