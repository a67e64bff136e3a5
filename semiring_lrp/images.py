"""Images in and out of a network: reading and ImageNet preprocessing (as
torchvision does it), and folding the channels of an input relevance map
the paper's way (figures 4.1 and 4.2).

Reading images needs Pillow (it comes with matplotlib: pip install
"semiring_lrp[plot]").
"""
from __future__ import annotations

import os

import numpy as np

from .composites import IMAGENET_MEAN, IMAGENET_STD
from .inputs import from_tensor
from .semirings import Boolean, Counting, Real, Semiring, Viterbi

__all__ = ["aggregate_channels", "read_image", "imagenet_input"]

_AGGREGATES = {
    "or": lambda r, axis: np.any(r, axis=axis),
    "and": lambda r, axis: np.all(r, axis=axis),
    "sum": lambda r, axis: np.sum(r, axis=axis),
    "max": lambda r, axis: np.max(r, axis=axis),
}
_DEFAULT_AGGREGATE = ((Boolean, "or"), (Counting, "sum"), (Viterbi, "max"), (Real, "sum"))


def aggregate_channels(relevance, how="sum"):
    """Folds the channel axis of an input relevance map (C, H, W) or a batch
    (N, C, H, W) into (H, W) or (N, H, W).

    how: "or" or "and" (boolean), "sum" (counting, real), "max" (Viterbi),
    or a semiring instance, which picks its own: Boolean "or", Counting and
    Real "sum", Viterbi "max". Counts are summed exactly (OverflowError past
    int64).
    """
    r = np.asarray(from_tensor(relevance, "relevance"))
    if isinstance(how, Semiring):
        how = next((name for cls, name in _DEFAULT_AGGREGATE if isinstance(how, cls)), None)
        if how is None:
            raise ValueError("give how= explicitly for a semiring of your own")
    if how not in _AGGREGATES:
        raise ValueError(f"how must be one of {sorted(_AGGREGATES)} or a semiring, not {how!r}")
    if r.ndim not in (3, 4):
        raise ValueError(f"expected (C, H, W) or (N, C, H, W) relevance, not shape {r.shape}")
    if how == "sum" and r.dtype.kind in "iu":
        total = np.sum(r, axis=-3, dtype=object)  # Python integers cannot wrap
        if np.any(total > np.iinfo(np.int64).max):
            raise OverflowError("a summed count exceeds the int64 range (2**63 - 1)")
        return total.astype(np.int64)
    return _AGGREGATES[how](r, -3)


def read_image(path):
    """An RGB image file (PNG, JPEG, ...) as float32 (H, W, 3) in [0, 1]."""
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError('reading images needs Pillow: pip install "semiring_lrp[plot]"'
                          ) from err
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot be read as an image ({err})") from None
    return rgb / np.float32(255)


def imagenet_input(image, size=224, resize=256):
    """torchvision's ImageNet preprocessing of an image file or an RGB array:
    the shorter side resized to `resize` (bilinear), the centre `size` x
    `size` cropped, scaled to [0, 1] and normalised by the ImageNet mean and
    std. Returns (x float32 (3, size, size), the cropped RGB image (size,
    size, 3) in [0, 1] for display)."""
    from PIL import Image

    image = from_tensor(image, "image")
    rgb = read_image(image) if isinstance(image, (str, os.PathLike)) else np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), not shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        rgb = np.clip(np.round(np.asarray(rgb, dtype=np.float64) * 255), 0, 255).astype(np.uint8)
    pil = Image.fromarray(rgb)
    width, height = pil.size
    if width <= height:
        new_size = (resize, int(resize * height / width))
    else:
        new_size = (int(resize * width / height), resize)
    pil = pil.resize(new_size, Image.BILINEAR)
    left = int(round((new_size[0] - size) / 2.0))
    top = int(round((new_size[1] - size) / 2.0))
    crop = np.asarray(pil.crop((left, top, left + size, top + size)), dtype=np.float32) / 255
    x = (crop - IMAGENET_MEAN.astype(np.float32)) / IMAGENET_STD.astype(np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32), crop
