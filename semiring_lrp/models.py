"""Models and sample data shipped with the package (no download, no torch),
and VGG-16 from a weights file the user gives.

mnist_mlp: the paper's 784-300-100-10 ReLU MLP, trained by
scripts/train_mnist_mlp.py (seed 0, 98.56% on the 10,000 MNIST test digits).
mnist_cnn: a small VGG-style CNN (two blocks of two 3x3 convs and a 2x2 max
pool, then 1568-128-10), trained by scripts/train_mnist_cnn.py (seed 0,
99.36%). Both take a 28x28 image scaled to [0, 1] (pixel / 255, no mean/std
normalisation), so a blank pixel has activation 0 and can never be relevant.
two_digit_mlp: the same MLP shape on the paper's two-digit images (56x28,
two digits one above the other, labelled by the upper one; see
`datasets.two_digit_mnist`), 1568-300-100-10, trained by
scripts/train_two_digit_mlp.py (seed 0, 97.91% on the 10,000 two-digit
test images of seed 0); its input is pixel / 255 as well.
"""
from __future__ import annotations

from importlib import resources

import numpy as np

from .network import (AdaptiveAvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network,
                      ReLU)

__all__ = ["mnist_mlp", "mnist_cnn", "two_digit_mlp", "mnist_digits", "mnist_input", "vgg16"]


def _data_file(name):
    return resources.files(__package__).joinpath("data", name)


def _shipped_mlp(file_name, input_shape, dtype):
    """A shipped three-layer ReLU MLP (fc1, fc2, fc3) taking input_shape images."""
    with _data_file(file_name).open("rb") as f, np.load(f, allow_pickle=False) as d:
        layers, names = [Flatten()], ["flatten"]
        for i, name in enumerate(("fc1", "fc2", "fc3")):
            if i:
                layers.append(ReLU())
                names.append(f"relu{i}")
            layers.append(Linear(d[f"{name}.weight"], d[f"{name}.bias"]))
            names.append(name)
    return _pixels_in_unit_range(Network(layers, input_shape=input_shape, names=names)
                                 .astype(dtype))


def _pixels_in_unit_range(net):
    """net, marked as taking pixel / 255 (for the InputRangeWarning)."""
    net.input_range = (0.0, 1.0)
    return net


def mnist_mlp(dtype=np.float32):
    """The trained MNIST MLP as a `Network` taking (28, 28) images (or flat 784)."""
    return _shipped_mlp("mnist_mlp.npz", (28, 28), dtype)


def two_digit_mlp(dtype=np.float32):
    """The trained two-digit MLP as a `Network` taking (56, 28) images (or
    flat 1568): `datasets.two_digit_mnist` images through `mnist_input`."""
    return _shipped_mlp("two_digit_mlp.npz", (56, 28), dtype)


def mnist_cnn(dtype=np.float32):
    """The trained MNIST CNN as a `Network` taking (1, 28, 28) images
    (add the channel axis: images[:, None])."""
    with _data_file("mnist_cnn.npz").open("rb") as f, np.load(f, allow_pickle=False) as d:
        def conv(i):
            return Conv2d(d[f"{i}.weight"], d[f"{i}.bias"], padding=1)

        layers = [conv(0), ReLU(), conv(2), ReLU(), MaxPool2d(2),
                  conv(5), ReLU(), conv(7), ReLU(), MaxPool2d(2), Flatten(),
                  Linear(d["11.weight"], d["11.bias"]), ReLU(),
                  Linear(d["14.weight"], d["14.bias"])]
    names = ["conv1", "relu1", "conv2", "relu2", "pool1", "conv3", "relu3", "conv4", "relu4",
             "pool2", "flatten", "fc1", "relu5", "fc2"]
    return _pixels_in_unit_range(Network(layers, input_shape=(1, 28, 28), names=names)
                                 .astype(dtype))


def mnist_digits():
    """(images uint8 (20, 28, 28), labels uint8 (20,)): two MNIST test digits
    of each class, in class order, for demos and the default command."""
    with _data_file("mnist_digits.npz").open("rb") as f, np.load(f, allow_pickle=False) as d:
        return d["images"].copy(), d["labels"].copy()


def mnist_input(images):
    """uint8 MNIST images -> the MLP's input: float32 pixel / 255."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"mnist_input expects uint8 pixels, not {images.dtype}")
    return images.astype(np.float32) / np.float32(255)


# VGG-16 ("configuration D"): output channels of each 3x3 conv, "M" a 2x2 max pool
_VGG16_FEATURES = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                   512, 512, 512, "M", 512, 512, 512, "M")


def _vgg16_tensors(path):
    """The named arrays of a VGG-16 weights file: a PyTorch state_dict
    (read with weights_only=True; needs torch) or an .npz of the same names,
    each refused (ValueError naming the file) when it claims more bytes than
    the file stores, as `io.load` does."""
    import os

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    if path.endswith(".npz"):
        from .io import _BROKEN_FILE, _fail, _read_array

        with open(path, "rb") as f:
            if f.read(2) != b"PK":  # np.load would read a lone .npy in full
                _fail(path, "is not an .npz archive")
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: _read_array(path, archive, key) for key in archive.files}
        except _BROKEN_FILE as err:
            if str(err).startswith(path):
                raise
            _fail(path, f"cannot be read as an .npz file ({type(err).__name__}: {err})")
    try:
        import torch  # noqa: F401  (only to name what is missing)
    except ImportError as err:
        raise ImportError(f"{path}: reading a PyTorch weights file needs torch "
                          "(pip install torch), or convert it to .npz once") from err
    from .io import _read_state_dict

    state = _read_state_dict(path)  # refuses tensors that claim more than the file stores
    return {key: value.detach().cpu().numpy() for key, value in state.items()
            if hasattr(value, "detach")}


def vgg16(weights, dtype=np.float32):
    """torchvision's VGG-16 as a `Network`, with the weights in file `weights`.

    `weights` is torchvision's published state_dict for VGG-16 (the file
    torchvision.models.VGG16_Weights.IMAGENET1K_V1 names, vgg16-397923af.pth;
    this library never downloads it), or an .npz holding the same names.
    The input is an ImageNet-normalised RGB image, (3, H, W): see
    `images.imagenet_input`.
    """
    tensors = _vgg16_tensors(weights)

    def param(name, shape):
        if name not in tensors:
            raise ValueError(f"{weights}: missing {name}; is this a VGG-16 state_dict?")
        value = np.asarray(tensors[name])
        if value.shape != shape:
            raise ValueError(f"{weights}: {name} has shape {value.shape}, expected {shape}")
        return value.astype(dtype)

    try:
        return _vgg16_network(param, dtype)
    except (TypeError, ValueError) as err:
        if str(err).startswith(str(weights)):
            raise
        raise ValueError(f"{weights}: {err}") from None


def _vgg16_network(param, dtype):
    """Layers named by torchvision's module paths, as `from_torch` names them
    (its Dropout layers are dropped, torch.flatten becomes "flatten")."""
    layers, names, channels, index = [], [], 3, 0
    for spec in _VGG16_FEATURES:
        if spec == "M":
            layers.append(MaxPool2d(2, 2))
            names.append(f"features.{index}")
            index += 1
            continue
        layers.append(Conv2d(param(f"features.{index}.weight", (spec, channels, 3, 3)),
                             param(f"features.{index}.bias", (spec,)), padding=1))
        layers.append(ReLU())
        names += [f"features.{index}", f"features.{index + 1}"]
        channels, index = spec, index + 2
    layers += [AdaptiveAvgPool2d(7), Flatten()]
    names += ["avgpool", "flatten"]
    for i, (fan_out, fan_in) in zip((0, 3, 6), ((4096, 25088), (4096, 4096), (1000, 4096))):
        if i:
            layers.append(ReLU())
            names.append(f"classifier.{i - 2}")
        layers.append(Linear(param(f"classifier.{i}.weight", (fan_out, fan_in)),
                             param(f"classifier.{i}.bias", (fan_out,))))
        names.append(f"classifier.{i}")
    return Network(layers, input_shape=(3, None, None), names=names)
