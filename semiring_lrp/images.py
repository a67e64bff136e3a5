"""Images in and out of a network: reading and ImageNet preprocessing (as
torchvision does it), and folding the channels of an input relevance map
the paper's way (figures 4.1 and 4.2).

Reading images needs Pillow (it comes with matplotlib: pip install
"semiring_lrp[plot]").
"""
from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

from .composites import IMAGENET_MEAN, IMAGENET_STD
from .inputs import from_tensor
from .semirings import Semiring, family_spec

__all__ = ["aggregate_channels", "read_image", "image_size", "imagenet_input",
           "MAX_PIXELS"]

_AGGREGATES = {
    "or": lambda r, axis: np.any(r, axis=axis),
    "and": lambda r, axis: np.all(r, axis=axis),
    "sum": lambda r, axis: np.sum(r, axis=axis),
    "max": lambda r, axis: np.max(r, axis=axis),
    "min": lambda r, axis: np.min(r, axis=axis),
    "logaddexp": lambda r, axis: np.logaddexp.reduce(r, axis=axis),
}


def aggregate_channels(relevance, how="sum"):
    """Folds the channel axis of an input relevance map (C, H, W) or a batch
    (N, C, H, W) into (H, W) or (N, H, W).

    how: "or" or "and" (boolean), "sum" (counting, real), "max" (Viterbi),
    "min", "logaddexp" (log-counting), or a semiring instance, which picks
    its own: Boolean "or", Counting and Real "sum", Viterbi "max", a
    composed semiring its (+). Counts are summed exactly (OverflowError
    past int64).
    """
    r = np.asarray(from_tensor(relevance, "relevance"))
    if isinstance(how, Semiring):
        spec = family_spec(how)
        if spec is None:
            raise ValueError("give how= explicitly for a semiring of your own")
        how = spec.reduction
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


# the most pixels (width * height) an image is decoded at: 8192 x 8192, whose
# float32 RGB array takes 768 MiB; a larger image is refused, or decoded at a
# reduced size where the format allows and a reduced size is all that is needed
MAX_PIXELS = 2**26
# modes whose samples are 16-bit unsigned integers (a 16-bit grey PNG)
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_SIXTEEN_BIT_MAX = 65535


def _pil():
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError('reading images needs Pillow: pip install "semiring_lrp[plot]"'
                          ) from err
    return Image


@contextlib.contextmanager
def _opened(path):
    """The image file `path` opened lazily (its header read, no pixel
    decoded); every failure to read it is a ValueError naming the file."""
    Image = _pil()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with warnings.catch_warnings():
            # MAX_PIXELS, checked before decoding, is below PIL's warning size
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as err:  # PIL's own bound, past 2 * its warning size
        raise ValueError(f"{path}: declares more than {MAX_PIXELS} pixels ({err})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise ValueError(f"{path}: cannot be read as an image ({err})") from None
    with image:
        try:
            yield image
        except (OSError, SyntaxError, EOFError) as err:  # a decoder failing mid-file
            raise ValueError(f"{path}: cannot be read as an image ({err})") from None
        except ValueError as err:
            if str(err).startswith(path):
                raise
            raise ValueError(f"{path}: cannot be read as an image ({err})") from None


def _check_pixels(path, image):
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValueError(f"{path}: declares {width}x{height} pixels ({width * height}), more "
                         f"than the {MAX_PIXELS} an image is decoded at (images.MAX_PIXELS)")


def image_size(path):
    """(width, height) the image file `path` declares, read from its header:
    no pixel is decoded. An unreadable file raises ValueError naming it."""
    path = os.fspath(path)
    with _opened(path) as image:
        return image.size


def _unit_rgb(image, path):
    """The decoded image as float32 (H, W, 3) in [0, 1] (see `read_image`)."""
    mode = image.mode
    if mode in _SIXTEEN_BIT or mode == "I":
        grey = np.asarray(image)
        if mode == "I" and grey.size and (grey.min() < 0 or grey.max() > _SIXTEEN_BIT_MAX):
            raise ValueError(f"{path}: 32-bit integer pixels must lie in 0..65535 (16-bit "
                             f"samples), not {grey.min()}..{grey.max()}")
        grey = grey.astype(np.float32) / np.float32(_SIXTEEN_BIT_MAX)
    elif mode == "F":
        grey = np.asarray(image, dtype=np.float32)
        if grey.size and not (np.all(np.isfinite(grey)) and grey.min() >= 0 and grey.max() <= 1):
            raise ValueError(f"{path}: floating-point pixels must lie in [0, 1], not "
                             f"{grey.min()}..{grey.max()}")
    else:
        return np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255)
    return np.repeat(grey[:, :, None], 3, axis=2)


def read_image(path):
    """An image file (PNG, JPEG, ...) as float32 (H, W, 3) in [0, 1].

    [0, 1] by mode: 8-bit modes (L, RGB, P, 1, LA, RGBA, CMYK, YCbCr, ...)
    are converted to RGB by PIL and divided by 255 (alpha is dropped, not
    composited; a 16-bit colour PNG is read by PIL at 8 bits per sample);
    16-bit grey (I;16) is divided by 65535; 32-bit integer grey (I) is read
    as 16-bit samples, divided by 65535 (values outside 0..65535 are
    refused); floating-point grey (F) is taken as it is and must lie in
    [0, 1]. Grey is repeated into the three channels.

    An image that declares more than `MAX_PIXELS` pixels (width * height)
    is refused from its header, before any pixel is decoded. Every failure
    raises ValueError naming the file (FileNotFoundError if there is none).
    """
    path = os.fspath(path)
    with _opened(path) as image:
        _check_pixels(path, image)
        return _unit_rgb(image, path)


def _reduced(path, image, resize):
    """The opened image, or where it declares more than MAX_PIXELS a JPEG
    decoded at 1/2, 1/4 or 1/8 scale whose shorter side stays at least
    `resize`; what remains above MAX_PIXELS is refused."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        shorter = min(width, height)
        image.draft("RGB", (-(-width * resize // shorter), -(-height * resize // shorter)))
    _check_pixels(path, image)
    return image


def _resized_crop(pil, size, resize):
    """torchvision's Resize(resize) (bilinear) then CenterCrop(size) of a PIL
    image, as an array (size, size, ...)."""
    from PIL import Image

    width, height = pil.size
    if width <= height:
        new_size = (resize, int(resize * height / width))
    else:
        new_size = (int(resize * width / height), resize)
    pil = pil.resize(new_size, Image.BILINEAR)
    left = int(round((new_size[0] - size) / 2.0))
    top = int(round((new_size[1] - size) / 2.0))
    return np.asarray(pil.crop((left, top, left + size, top + size)))


def _file_crop(path, size, resize):
    """The (size, size, 3) float32 crop in [0, 1] of an image file: 8-bit
    modes resized as RGB bytes (as torchvision does), other modes as [0, 1]
    floats per channel, so that no 16-bit sample is rounded to 8 bits."""
    Image = _pil()
    with _opened(path) as image:
        image = _reduced(path, image, resize)
        if image.mode not in _SIXTEEN_BIT + ("I", "F"):
            rgb = image.convert("RGB")
            return _resized_crop(rgb, size, resize).astype(np.float32) / np.float32(255)
        unit = _unit_rgb(image, path)
    channels = [_resized_crop(Image.fromarray(unit[:, :, c], mode="F"), size, resize)
                for c in range(3)]
    return np.clip(np.stack(channels, axis=2), 0, 1).astype(np.float32)


def imagenet_input(image, size=224, resize=256):
    """torchvision's ImageNet preprocessing of an image file or an RGB array:
    the shorter side resized to `resize` (bilinear), the centre `size` x
    `size` cropped, scaled to [0, 1] and normalised by the ImageNet mean and
    std. Returns (x float32 (3, size, size), the cropped RGB image (size,
    size, 3) in [0, 1] for display).

    A file is scaled to [0, 1] as `read_image` says; one that declares more
    than `MAX_PIXELS` pixels is decoded at a reduced size where the format
    allows (JPEG, at 1/2, 1/4 or 1/8 with the shorter side kept at least
    `resize`) and refused with ValueError naming the file otherwise."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        crop = _file_crop(os.fspath(image), size, resize)
    else:
        rgb = np.asarray(from_tensor(image, "image"))
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB image (H, W, 3), not shape {rgb.shape}")
        if rgb.dtype != np.uint8:
            rgb = np.clip(np.round(np.asarray(rgb, dtype=np.float64) * 255), 0, 255
                          ).astype(np.uint8)
        crop = _resized_crop(Image.fromarray(rgb), size, resize).astype(np.float32) / 255
    x = (crop - IMAGENET_MEAN.astype(np.float32)) / IMAGENET_STD.astype(np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32), crop
