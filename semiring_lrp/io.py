"""Saving and loading networks.

The native format is one .npz file with no pickled object: a JSON layer
list plus one array per parameter. Files are read with allow_pickle=False
and checked entry by entry before anything is built. PyTorch state_dict
files are read with torch.load(weights_only=True).
"""
from __future__ import annotations

import json
import lzma
import os
import pickle
import pickletools
import tokenize
import warnings
import zipfile
import zlib

import numpy as np

from .network import (AdaptiveAvgPool2d, AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d,
                      Network, ReLU)

__all__ = ["save_network", "load"]

FORMAT = "semiring_lrp.network"
VERSION = 1
_LAYER_TYPES = {cls.__name__: cls for cls in (Linear, Conv2d, ReLU, Flatten, AvgPool2d,
                                                AdaptiveAvgPool2d, MaxPool2d)}
_WEIGHTED = (Linear, Conv2d)

_MAX_HEADER = 1 << 20


def save_network(net, path):
    spec = []
    arrays = {}
    for i, layer in enumerate(net.layers):
        params = layer.params()
        spec.append({"type": type(layer).__name__, "params": sorted(params),
                     "config": layer.config()})
        for name, value in params.items():
            arrays[f"layer{i}.{name}"] = value
    header = {"format": FORMAT, "version": VERSION, "layers": spec,
              "input_shape": list(net.input_shape), "names": list(net.names)}
    with open(path, "wb") as f:
        np.savez(f, header=np.array(json.dumps(header)), **arrays)


# What a damaged or hostile archive can make zipfile, zlib, lzma, json and
# NumPy's reader raise; each becomes a ValueError that names the file.
_BROKEN_FILE = (ValueError, TypeError, KeyError, IndexError, AttributeError, OSError,
                EOFError, SyntaxError, tokenize.TokenError, zipfile.BadZipFile, zlib.error,
                lzma.LZMAError, NotImplementedError, RuntimeError, RecursionError,
                OverflowError, UnicodeDecodeError)


def _fail(path, problem):
    raise ValueError(f"{os.fspath(path)}: {problem}")


def _npy_header(stream):
    """(shape, dtype, claimed data bytes) of the .npy header at the stream's
    position, which is left at the first data byte; nothing is allocated for
    the data. A malformed header raises ValueError."""
    version = np.lib.format.read_magic(stream)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read_header is None:
        raise ValueError(f"unsupported .npy version {version}")
    try:
        shape, _, dtype = read_header(stream)
    except MemoryError as err:
        # NumPy reads at most 10,000 header characters: no header needs
        # memory; Python's parser raises this past its nesting limit (a shape
        # of thousands of nested unary minus signs)
        raise ValueError("malformed .npy header (nested too deeply to parse)") from err
    count = 1
    for dim in shape:
        count *= int(dim)  # Python ints: a product of absurd dimensions stays exact
    return shape, dtype, count * dtype.itemsize


def _read_npy_file(path):
    """The array in the .npy file `path`, read without pickle.

    The header's claim (shape times item size) is compared with the bytes
    the file holds after the header before anything is allocated for the
    data: a larger claim, a malformed header or an object array raises
    ValueError naming the file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            stored = os.fstat(f.fileno()).st_size
            shape, dtype, claimed = _npy_header(f)
            stored -= f.tell()
            if claimed > stored:
                _fail(path, f"its header claims shape {tuple(shape)} of {dtype} "
                            f"({claimed} bytes) but the file holds {stored} bytes of data")
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except (ValueError, EOFError, SyntaxError, OverflowError, TypeError) as err:
        if str(err).startswith(path):
            raise
        _fail(path, f"cannot be read as a .npy array ({type(err).__name__}: {err})")


def _claimed_bytes(archive, key):
    """The data size a member's .npy header claims, read before anything is
    allocated for it, and the size the archive says the member has."""
    name = key + ".npy"
    try:
        with archive.zip.open(name) as member:
            _, _, claimed = _npy_header(member)
    except MemoryError as err:
        # the first bytes of a member need no memory either: its compression
        # asked for it (an LZMA dictionary of 4 GB in a 1 KB file, found by
        # fuzzing under an address-space cap)
        raise ValueError(f"member {name} asks for more memory than reading its header "
                         "needs (malformed compression header)") from err
    return claimed, archive.zip.getinfo(name).file_size


def _read_array(path, archive, key):
    if key not in archive.files:
        _fail(path, f"missing array {key}")
    try:
        claimed, stored = _claimed_bytes(archive, key)
        if claimed > stored:
            _fail(path, f"array {key} claims {claimed} bytes but holds {stored}")
        value = archive[key]
    except _BROKEN_FILE as err:
        if str(err).startswith(os.fspath(path)):
            raise
        _fail(path, f"array {key} cannot be read without pickle ({type(err).__name__}: {err})")
    if not isinstance(value, np.ndarray):
        _fail(path, f"entry {key} is not an array")
    return value


def _read_header(path, archive):
    if "header" not in archive.files:
        _fail(path, "not a semiring_lrp network file (no header entry)")
    raw = _read_array(path, archive, "header")
    if raw.dtype.kind != "U" or raw.ndim != 0 or raw.itemsize > 4 * _MAX_HEADER:
        _fail(path, "malformed header entry")
    try:
        header = json.loads(str(raw))
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        _fail(path, f"header is not valid JSON ({type(err).__name__}: {err})")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        _fail(path, "not a semiring_lrp network file (wrong format tag)")
    version = header.get("version")
    if type(version) is not int or version != VERSION:  # true and 1.0 equal 1 but are no version
        _fail(path, f"unsupported format version {version!r} "
                    f"(this library reads version {VERSION})")
    layers = header.get("layers")
    shape = header.get("input_shape")
    if not isinstance(layers, list) or not layers:
        _fail(path, "header has no layer list")
    if (not isinstance(shape, list) or not shape or len(shape) > 8
            or not all(d is None or (isinstance(d, int) and not isinstance(d, bool)
                                     and 0 < d < 2**31) for d in shape)):
        _fail(path, f"bad input_shape {shape!r}")
    # files written before layers had names hold none: the default names
    names = header.get("names")
    if names is not None and (not isinstance(names, list) or len(names) != len(layers)
                              or not all(isinstance(n, str) for n in names)):
        _fail(path, f"names must be a list of {len(layers)} strings, one per layer")
    return layers, shape, names


def _load_npz(path):
    try:
        return _read_npz(path)
    except _BROKEN_FILE as err:
        if str(err).startswith(path):
            raise
        _fail(path, f"cannot be read as a network file ({type(err).__name__}: {err})")


def _read_npz(path):
    archive = np.load(path, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        _fail(path, "holds a single array, not a network")
    with archive:
        layers_spec, input_shape, layer_names = _read_header(path, archive)
        expected = {"header"}
        layers = []
        for i, spec in enumerate(layers_spec):
            kind = spec.get("type") if isinstance(spec, dict) else None
            if not isinstance(kind, str) or kind not in _LAYER_TYPES:
                _fail(path, f"layer {i} has unknown type "
                            f"{spec.get('type') if isinstance(spec, dict) else spec!r}")
            cls = _LAYER_TYPES[spec["type"]]
            names = spec.get("params", [])
            config = spec.get("config", {})
            if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
                _fail(path, f"layer {i} has a malformed config")
            wanted = ["bias", "weight"] if cls in _WEIGHTED else []
            if names != wanted:
                _fail(path, f"layer {i} ({spec['type']}) lists parameters {names!r}, "
                            f"expected {wanted!r}")
            params = {}
            for name in names:
                key = f"layer{i}.{name}"
                expected.add(key)
                params[name] = _read_array(path, archive, key)
            try:
                layers.append(cls(**params, **config))
            except (TypeError, ValueError, OverflowError) as err:
                _fail(path, f"layer {i} ({spec['type']}): {err}")
        extra = set(archive.files) - expected
        if extra:
            _fail(path, f"unexpected entries {sorted(extra)}")
    try:
        return Network(layers, tuple(input_shape), layer_names)
    except (TypeError, ValueError) as err:
        _fail(path, str(err))


# the zip magic torch.load looks for: such a file is read as a zip archive
_ZIP_MAGIC = b"PK\x03\x04"


def _check_zip_members(path, size):
    """torch.load allocates each member of a zip-format file at the size the
    archive declares before reading it: the declared sizes, in all, must fit
    in the file (torch stores members uncompressed)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except _BROKEN_FILE as err:
        _fail(path, f"is a damaged zip archive ({type(err).__name__}: {err})")
    declared = sum(member.file_size for member in members)
    if declared > size:
        largest = max(members, key=lambda member: member.file_size)
        _fail(path, f"its zip members declare {declared} bytes in all (member "
                    f"{largest.filename}: {largest.file_size}) but the file has {size}")


def _check_tensor_claims(path, state, size):
    """Converting a tensor to a NumPy array allocates numel * item size bytes;
    a view can claim more than its storage holds (a stride-0 expand of one
    number): each tensor's claim must fit in its storage, and all claims
    together in the file."""
    import torch

    total = 0
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.is_meta:
            continue  # only tensors with data are converted; the reader names the rest
        claimed = value.numel() * value.element_size()
        stored = value.untyped_storage().nbytes()
        if claimed > stored:
            _fail(path, f"tensor {key} of shape {tuple(value.shape)} claims {claimed} bytes "
                        f"but its storage holds {stored} (file size {size})")
        total += claimed
        if total > size:
            _fail(path, f"its tensors claim {total} bytes up to {key} (shape "
                        f"{tuple(value.shape)}) but the file has {size}")


# item sizes of torch's storage classes; a class not listed counts 1 byte an
# item, so the claim computed with it is never more than the real one
_STORAGE_ITEM_BYTES = {"DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2,
                       "BFloat16Storage": 2, "LongStorage": 8, "IntStorage": 4,
                       "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
                       "BoolStorage": 1, "ComplexFloatStorage": 8,
                       "ComplexDoubleStorage": 16}
# a legacy file is a sequence of pickles: magic number, protocol version,
# system info, the object (whose persistent ids declare the storages), keys
_LEGACY_PICKLES = 4


class _BoundedReader:
    """A stream's reads cut at the `left` bytes it still holds: a read of n
    bytes allocates n before reading, and a pickle's declared lengths are
    not to be believed."""

    def __init__(self, stream, left):
        self._stream = stream
        self.left = max(left, 0)

    def read(self, n=-1):
        data = self._stream.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return data

    def readline(self):
        line = self._stream.readline(self.left)
        self.left -= len(line)
        return line


# opcodes that store the stack's top in the memo under an index they name
_MEMO_PUTS = frozenset(("PUT", "BINPUT", "LONG_BINPUT"))


def _check_pickle_ops(path, stream, left):
    """Walks one pickle's opcodes from `stream` (pickletools.genops, which
    runs nothing) with reads cut at `left` bytes. Python's C unpickler
    sizes its memo by the largest index a pickle names and reads a frame
    or a string at its declared length before looking: a string must fit
    in the stream (genops reads it), a frame in what is left of it, and a
    memo index must be below the number of opcodes before it, as pickle
    and torch.save number them."""
    reader = _BoundedReader(stream, left)
    for count, (op, arg, _) in enumerate(pickletools.genops(reader)):
        if op.name in _MEMO_PUTS and arg > count:
            _fail(path, f"its pickle stores memo entry {arg} after {count} opcodes")
        if op.name == "FRAME" and arg > reader.left:
            _fail(path, f"its pickle declares a frame of {arg} bytes where "
                        f"{reader.left} are left")


def _checked_load(path, stream, end, unpickler):
    """unpickler(stream).load() for the pickle at the stream's position,
    after `_check_pickle_ops` walked it; `end` is the stream's size."""
    start = stream.tell()
    _check_pickle_ops(path, stream, end - start)
    stream.seek(start)
    return unpickler.load()


class _Stub:
    """Stands for every global a scanned pickle names: nothing is imported
    or run, the pickle's structure is only walked."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


class _StorageScan(pickle.Unpickler):
    """Records the storages a legacy torch pickle declares, by key:
    (storage class name, element count)."""

    def __init__(self, file):
        super().__init__(file)
        self.storages = {}

    def find_class(self, module, name):
        return type(str(name), (_Stub,), {})

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage":
            _, storage_type, key, _, numel, _ = pid
            if not isinstance(numel, int) or numel < 0:
                raise ValueError(f"storage {key!r} declares {numel!r} elements")
            self.storages[repr(key)] = (getattr(storage_type, "__name__", ""), numel)
        return _Stub()


def _check_legacy_storages(path, size):
    """torch.load allocates the storages a legacy (non-zip) file declares
    before reading their bytes: the declared sizes, in all, must fit in
    the file."""
    storages = {}
    try:
        with open(path, "rb") as f:
            for _ in range(_LEGACY_PICKLES):
                scan = _StorageScan(f)
                _checked_load(path, f, size, scan)
                storages.update(scan.storages)
    except (pickle.UnpicklingError, MemoryError, *_BROKEN_FILE) as err:
        if str(err).startswith(os.fspath(path)):
            raise
        _fail(path, f"cannot be read as a PyTorch state_dict ({type(err).__name__}: {err})")
    declared = sum(numel * _STORAGE_ITEM_BYTES.get(kind, 1) for kind, numel in storages.values())
    if declared > size:
        _fail(path, f"its storages declare {declared} bytes in all but the file has {size}")


class _ScannedDict(dict):
    """A dict a scanned pickle builds (a state_dict's OrderedDict); the
    attributes the pickle sets on it (`_metadata`) are dropped."""

    def __setstate__(self, state):
        pass


def _scanned_tensor(storage, offset, size, *rest):
    """What a scanned pickle's tensor becomes: its shape, as a tuple."""
    if not isinstance(size, tuple) or not all(type(d) is int and d >= 0 for d in size):
        raise ValueError(f"a tensor declares the shape {size!r}")
    return _TensorShape(size)


def _scanned_meta_tensor(dtype, size, *rest):
    """A meta tensor (a shape and no values) as a scanned pickle gives it."""
    return _scanned_tensor(None, 0, size)


class _TensorShape(tuple):
    """The shape of a tensor found by `state_dict_shapes` (nothing read)."""


class _ShapeScan(pickle.Unpickler):
    """Walks a torch state_dict pickle into {key: shape}: the dict and
    torch's tensor builders are stood in for, every other global is a
    stub, and no storage is read."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return _ScannedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _scanned_tensor
        if (module, name) == ("torch._utils", "_rebuild_meta_tensor_no_storage"):
            return _scanned_meta_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, *rest: data
        return type(str(name), (_Stub,), {})

    def persistent_load(self, pid):
        return _Stub()


def _scan_shapes(path, stream, end):
    state = _checked_load(path, stream, end, _ShapeScan(stream))
    if not isinstance(state, dict):
        _fail(path, f"holds a {type(state).__name__}, not a state_dict")
    return {key: tuple(value) for key, value in state.items()
            if isinstance(value, _TensorShape)}


def state_dict_shapes(path):
    """{key: shape} of the tensors a PyTorch state_dict file holds, read from
    its pickle alone (the zip archive's data.pkl, or a legacy file's leading
    pickles): no tensor's bytes are read and nothing the pickle names is
    imported, so it takes milliseconds whatever the file's size. A file that
    is no state_dict raises ValueError naming it."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        magic = f.read(len(_ZIP_MAGIC))
    try:
        if magic == _ZIP_MAGIC:
            with zipfile.ZipFile(path) as archive:
                pickles = [name for name in archive.namelist()
                           if name.endswith("/data.pkl") and name.count("/") == 1]
                if len(pickles) != 1:
                    _fail(path, "is a zip archive but not a PyTorch file (no data.pkl)")
                with archive.open(pickles[0]) as stream:
                    return _scan_shapes(path, stream, archive.getinfo(pickles[0]).file_size)
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            for _ in range(_LEGACY_PICKLES - 1):  # magic number, protocol, system info
                _checked_load(path, f, size, _StorageScan(f))
            return _scan_shapes(path, f, size)
    except (pickle.UnpicklingError, MemoryError, *_BROKEN_FILE) as err:
        if str(err).startswith(path):
            raise
        _fail(path, f"cannot be read as a PyTorch state_dict ({type(err).__name__}: {err})")


def _read_state_dict(path, mmap=False):
    """The dict a PyTorch file holds, read with torch.load(weights_only=True)
    after its declared sizes were checked against the file's size, and whose
    tensors claim no more bytes than the file stores (see `load`). mmap:
    a zip-format file's tensors are mapped, their bytes read when used."""
    try:
        import torch
    except ImportError:
        _fail(path, "is not an .npz network; reading PyTorch files needs torch installed")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        magic = f.read(len(_ZIP_MAGIC))
    if magic == _ZIP_MAGIC:
        _check_zip_members(path, size)
    else:
        _check_legacy_storages(path, size)
    try:
        with warnings.catch_warnings():
            # a file of another pickle protocol loads or fails; either way it is not news
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True,
                               mmap=mmap and magic == _ZIP_MAGIC)
    except Exception as err:  # torch raises many types for a bad file
        _fail(path, f"cannot be read as a PyTorch state_dict ({type(err).__name__}: "
                    f"{_torch_load_reason(err)})")
    if hasattr(state, "state_dict") and not isinstance(state, dict):
        state = state.state_dict()
    if not isinstance(state, dict):
        _fail(path, f"holds a {type(state).__name__}, not a state_dict")
    _check_tensor_claims(path, state, size)
    return state


def _torch_load_reason(err):
    """The line of torch.load's message that says what failed: a refusal by
    its weights-only unpickler spans a paragraph of advice around it."""
    message = str(err)
    marker = "WeightsUnpickler error:"
    if marker in message:
        reason = message.split(marker, 1)[1].strip().split("\n\n", 1)[0]
        return " ".join(reason.split())
    return message


def _load_state_dict(path):
    from .torch_import import network_from_state_dict

    return network_from_state_dict(_read_state_dict(path), source=os.fspath(path))


def load(path):
    """A `Network` from the file `path`, written by `Network.save` (.npz),
    or a PyTorch state_dict of an MLP (read with weights_only=True; needs torch).

    A malformed or hostile file raises ValueError naming the file; nothing
    in it is executed or unpickled. No array is allocated beyond what the
    file stores: an .npz array whose header claims more bytes than its
    member holds, and a state_dict tensor whose element count times item
    size exceeds its storage (or all of whose tensors together exceed the
    file's size, so tied weights are refused too), are refused before
    they are built.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder, not a network file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if not magic:
        _fail(path, "is empty")
    if magic.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except _BROKEN_FILE as err:
            _fail(path, f"is a damaged zip archive ({type(err).__name__}: {err})")
        if "header.npy" in names or all(n.endswith(".npy") for n in names):
            return _load_npz(path)
    return _load_state_dict(path)
