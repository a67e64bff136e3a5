"""Models and sample data shipped with the package (no download, no torch),
and torchvision's VGG variants from a weights file the user gives (`vgg`).

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

import os
from importlib import resources

import numpy as np

from .inputs import from_tensor, is_tensor
from .network import (AdaptiveAvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network,
                      ReLU)

__all__ = ["mnist_mlp", "mnist_cnn", "two_digit_mlp", "mnist_digits", "mnist_input", "vgg",
           "vgg16", "vgg_variant", "VGG_VARIANTS"]


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
    """The trained MNIST MLP as a `Network` taking (28, 28) images (or flat 784),
    pixel / 255 (`mnist_input`); dtype float32 (default) or float64."""
    return _shipped_mlp("mnist_mlp.npz", (28, 28), dtype)


def two_digit_mlp(dtype=np.float32):
    """The trained two-digit MLP as a `Network` taking (56, 28) images (or
    flat 1568): `datasets.two_digit_mnist` images through `mnist_input`;
    dtype float32 (default) or float64."""
    return _shipped_mlp("two_digit_mlp.npz", (56, 28), dtype)


def mnist_cnn(dtype=np.float32):
    """The trained MNIST CNN as a `Network` taking (1, 28, 28) images
    (add the channel axis: images[:, None]), pixel / 255 (`mnist_input`);
    dtype float32 (default) or float64."""
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
    images = np.asarray(from_tensor(images, "images"))
    if images.dtype != np.uint8:
        raise TypeError(f"mnist_input expects uint8 pixels, not {images.dtype}")
    return images.astype(np.float32) / np.float32(255)


# torchvision's VGG configurations: output channels of each 3x3 conv, "M" a
# 2x2 max pool (Simonyan and Zisserman's configurations A, B, D and E)
_VGG_FEATURES = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}
#: every VGG variant `vgg` builds: torchvision's names, _bn with batch norm
VGG_VARIANTS = tuple(f"{depth}{bn}" for depth in _VGG_FEATURES for bn in ("", "_bn"))
_BATCHNORM_EPS = 1e-5  # torchvision's VGG builds BatchNorm2d with the default eps
_BATCHNORM_STATS = ("weight", "bias", "running_mean", "running_var")
_CLASSIFIER = ((0, 4096, 25088), (3, 4096, 4096), (6, 1000, 4096))


def _check_variant(variant):
    if variant not in VGG_VARIANTS:
        raise ValueError(f"unknown VGG variant {variant!r}; known: {', '.join(VGG_VARIANTS)}")


def _vgg_parameters(variant):
    """{name: shape} of every tensor a torchvision state_dict of `variant`
    holds (BatchNorm2d's num_batches_tracked aside), in module order."""
    depth, bn = variant.removesuffix("_bn"), variant.endswith("_bn")
    shapes, channels, index = {}, 3, 0
    for spec in _VGG_FEATURES[depth]:
        if spec == "M":
            index += 1
            continue
        shapes[f"features.{index}.weight"] = (spec, channels, 3, 3)
        shapes[f"features.{index}.bias"] = (spec,)
        if bn:
            for stat in _BATCHNORM_STATS:
                shapes[f"features.{index + 1}.{stat}"] = (spec,)
        channels, index = spec, index + (3 if bn else 2)
    for i, fan_out, fan_in in _CLASSIFIER:
        shapes[f"classifier.{i}.weight"] = (fan_out, fan_in)
        shapes[f"classifier.{i}.bias"] = (fan_out,)
    return shapes


def _npz_shapes(path):
    """{name: shape} of an .npz file's arrays, from their headers alone."""
    from .io import _BROKEN_FILE, _fail, _npy_header

    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # np.load would read a lone .npy in full
            _fail(path, "is not an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            shapes = {}
            for key in archive.files:
                with archive.zip.open(key + ".npy") as member:
                    shapes[key] = tuple(_npy_header(member)[0])
            return shapes
    except _BROKEN_FILE as err:
        if str(err).startswith(path):
            raise
        _fail(path, f"cannot be read as an .npz file ({type(err).__name__}: {err})")
    except MemoryError:
        _fail(path, "an array header asks for more memory than reading it needs")


def _weight_shapes(path):
    """{name: shape} of the tensors in a weights file (see `vgg`), read
    without reading any tensor: milliseconds, whatever the file's size."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder, not a weights file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    if path.endswith(".npz"):
        return _npz_shapes(path)
    from .io import state_dict_shapes

    return state_dict_shapes(path)


def vgg_variant(weights):
    """The VGG variant (a name in `VGG_VARIANTS`) whose torchvision
    state_dict has exactly the parameter names of the file `weights`, or
    None. Reads only the file's list of names and shapes, not its tensors."""
    held = {name for name in _weight_shapes(weights) if not name.endswith("num_batches_tracked")}
    return next((v for v in VGG_VARIANTS if held == set(_vgg_parameters(v))), None)


def _check_weights(weights, variant, shapes):
    """Every parameter of `variant` is in the file with its shape: checked
    before any tensor is read. A file holding another variant's names
    says which variant it holds."""
    held = {name for name in shapes if not name.endswith("num_batches_tracked")}
    other = next((v for v in VGG_VARIANTS if held == set(_vgg_parameters(v))), None)
    if other is not None and other != variant:
        raise ValueError(f"{weights}: holds the weights of {other}, not {variant}")
    for name, shape in _vgg_parameters(variant).items():
        if name not in shapes:
            raise ValueError(f"{weights}: missing {name}; is this a {variant} state_dict?")
        if tuple(shapes[name]) != shape:
            raise ValueError(f"{weights}: {name} has shape {tuple(shapes[name])}, expected "
                             f"{shape} for {variant}")


def _vgg_tensors(path):
    """{name: function giving the array}, for a weights file whose names and
    shapes were checked: a PyTorch state_dict (read with weights_only=True,
    a zip-format file memory-mapped so that each tensor is read when it is
    converted; needs torch) or an .npz of the same names. Each tensor is
    refused (ValueError naming the file) when it claims more bytes than the
    file stores, as `io.load` does."""
    path = os.fspath(path)
    if path.endswith(".npz"):
        from .io import _BROKEN_FILE, _fail, _read_array

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

    state = _read_state_dict(path, mmap=True)  # refuses tensors that claim more than it stores
    try:
        return {key: from_tensor(value, key) for key, value in state.items()
                if is_tensor(value)}
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


def vgg(variant, weights, dtype=np.float32, progress=False):
    """torchvision's VGG `variant` as a `Network`, with the weights in file
    `weights`.

    variant: one of `VGG_VARIANTS` (vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16,
    vgg16_bn, vgg19, vgg19_bn). `weights` is torchvision's state_dict of
    that variant (e.g. vgg16-397923af.pth, the file
    torchvision.models.VGG16_Weights.IMAGENET1K_V1 names; this library never
    downloads it), or an .npz holding the same names. The file's names and
    shapes are checked before any tensor is read: a file of another variant
    is refused at once, naming the variant it holds (`vgg_variant` tells it
    without building anything). With batch norm (_bn), each BatchNorm2d is
    folded into the Conv2d before it, as `from_torch` folds it; the layers
    are named by torchvision's module paths, as `from_torch` names them.
    The input is an ImageNet-normalised RGB image, (3, H, W): see
    `images.imagenet_input`.

    dtype: float32 (default) or float64, the network's.
    progress: a bar over the layers read (stderr, tqdm): True, False, or
    None for when stderr is a terminal.
    """
    _check_variant(variant)
    _check_weights(weights, variant, _weight_shapes(weights))
    tensors = _vgg_tensors(weights)

    def param(name, shape, as_dtype=dtype):
        value = np.asarray(tensors[name])
        if value.shape != shape:  # the file changed since its shapes were read
            raise ValueError(f"{weights}: {name} has shape {value.shape}, expected {shape}")
        return value.astype(as_dtype)

    from .apps.progress import progress_bar

    weighted = sum(spec != "M" for spec in _VGG_FEATURES[variant.removesuffix("_bn")]) + 3
    try:
        with progress_bar(weighted, progress, desc=f"reading {variant}", unit="layer") as bar:
            return _vgg_network(variant, param, bar.update)
    except (TypeError, ValueError) as err:
        if str(err).startswith(str(weights)):
            raise
        raise ValueError(f"{weights}: {err}") from None


def vgg16(weights, dtype=np.float32, progress=False):
    """torchvision's VGG-16 as a `Network`: `vgg("vgg16", weights, dtype, progress)`.

    `weights` is torchvision's published state_dict for VGG-16 (the file
    torchvision.models.VGG16_Weights.IMAGENET1K_V1 names, vgg16-397923af.pth;
    this library never downloads it), or an .npz holding the same names.
    """
    return vgg("vgg16", weights, dtype, progress)


def _vgg_network(variant, param, done=lambda: None):
    """Layers named by torchvision's module paths, as `from_torch` names them
    (its Dropout layers are dropped, torch.flatten becomes "flatten", a
    BatchNorm2d is folded into its Conv2d); `param(name, shape[, dtype])`
    gives each tensor, `done()` is called after each weighted layer."""
    from .torch_import import fold_batchnorm

    depth, bn = variant.removesuffix("_bn"), variant.endswith("_bn")
    layers, names, channels, index = [], [], 3, 0
    for spec in _VGG_FEATURES[depth]:
        if spec == "M":
            layers.append(MaxPool2d(2, 2))
            names.append(f"features.{index}")
            index += 1
            continue
        conv = Conv2d(param(f"features.{index}.weight", (spec, channels, 3, 3)),
                      param(f"features.{index}.bias", (spec,)), padding=1)
        if bn:
            stats = [param(f"features.{index + 1}.{stat}", (spec,), np.float64)
                     for stat in _BATCHNORM_STATS]
            gamma, beta, mean, var = stats
            conv = fold_batchnorm(conv, mean, var, gamma, beta, _BATCHNORM_EPS)
        relu = index + (2 if bn else 1)
        layers += [conv, ReLU()]
        names += [f"features.{index}", f"features.{relu}"]
        channels, index = spec, relu + 1
        done()
    layers += [AdaptiveAvgPool2d(7), Flatten()]
    names += ["avgpool", "flatten"]
    for i, fan_out, fan_in in _CLASSIFIER:
        if i:
            layers.append(ReLU())
            names.append(f"classifier.{i - 2}")
        layers.append(Linear(param(f"classifier.{i}.weight", (fan_out, fan_in)),
                             param(f"classifier.{i}.bias", (fan_out,))))
        names.append(f"classifier.{i}")
        done()
    return Network(layers, input_shape=(3, None, None), names=names)

