"""atheris harnesses for the file readers of semiring_lrp.

    python fuzz/fuzz_files.py HARNESS [libFuzzer flags] [corpus dirs]

HARNESS is one of
  load        sl.load on the fuzzed bytes as they are (libFuzzer's own
              mutations of seed .npz and .pt files);
  load_npz    sl.load on a valid saved network .npz mutated with structure:
              JSON header edits (any field, any JSON value, deep nesting,
              huge numbers, text damage), replaced or corrupted .npy members,
              missing and extra entries, other compressions, zip-level byte
              flips, truncation and central-directory edits;
  load_torch  sl.load on a PyTorch state_dict built from the bytes (keys,
              tensors of every dtype and shape, non-tensor values, other
              containers), saved with torch.save and sometimes damaged;
  idx         semiring_lrp.idx.read_idx on raw IDX bytes, on IDX files built
              from the bytes, and on both gzip-compressed (whole, truncated
              or damaged);
  vgg16       sl.models.vgg16(weights=x.npz) on .npz files with VGG-16
              parameter names, and on raw bytes.

Accepted outcomes, from the readers' documentation ("A malformed or hostile
file raises ValueError naming the file" for sl.load; "ValueError (message
starting with the path) if it is malformed" for read_idx):
  * a result: a Network (checked by a save/load round trip) or, for
    read_idx, an array of the header's shape and dtype in native byte
    order holding the file's values;
  * ValueError whose message names the file (read_idx: starts with it).
Nothing else: not TypeError, AttributeError, RecursionError, OverflowError,
MemoryError (a file of a few bytes must not be able to ask for gigabytes: the
idx reader checks claimed sizes for exactly this reason), nor ImportError
(torch is installed where these run). FileNotFoundError is right only for a
missing path, which these harnesses never pass.
"""
from __future__ import annotations

import atexit
import copy
import gzip
import io
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Draw, Finding  # noqa: E402

import semiring_lrp as sl  # noqa: E402
from semiring_lrp import idx as sl_idx  # noqa: E402

_TMP = None


def tmp_path(name):
    """A fixed path per file name in a private directory (in memory where
    the machine has /dev/shm)."""
    global _TMP
    if _TMP is None:
        # run.py passes a folder it removes afterwards: libFuzzer ends the
        # process without running atexit handlers
        base = os.environ.get("FUZZ_TMPDIR") or ("/dev/shm" if os.path.isdir("/dev/shm")
                                                 else None)
        if base:
            os.makedirs(base, exist_ok=True)
        _TMP = tempfile.mkdtemp(prefix="semiring_lrp_fuzz_", dir=base)
        atexit.register(shutil.rmtree, _TMP, True)
    return os.path.join(_TMP, name)


def write(name, data):
    path = tmp_path(name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------------------
# outcome checks


def names_file(exc, path, at_start=False):
    text = str(exc)
    return text.startswith(path) if at_start else path in text


def run_reader(harness, path, reader, check_result, at_start=False):
    """Runs reader(path) and accepts only a checked result or a ValueError
    naming the file."""
    try:
        result = reader(path)
    except ValueError as exc:
        if not names_file(exc, path, at_start):
            common.report(harness, _unnamed(exc))
        return None
    except Exception as exc:
        common.report(harness, exc)
        return None
    try:
        check_result(path, result)
    except Finding as finding:
        common.report(harness, finding)
    return result


def _unnamed(exc):
    finding = Finding("ValueError without the file name")
    finding.__cause__ = exc
    return finding


def layer_state(layer):
    return (type(layer).__name__, sorted(layer.config().items(), key=lambda kv: kv[0]),
            [(k, v.dtype.str, v.shape, v.tobytes()) for k, v in sorted(layer.params().items())])


def check_network(path, net):
    """A loaded Network must be saved and read back unchanged."""
    if not isinstance(net, sl.Network):
        raise Finding(f"load returned {type(net).__name__}, not a Network")
    copy = tmp_path("roundtrip.npz")
    try:
        net.save(copy)
        again = sl.load(copy)
    except Exception as exc:
        raise Finding(f"a loaded network does not survive save/load: "
                      f"{type(exc).__name__}: {exc}") from exc
    if (again.input_shape != net.input_shape or len(again.layers) != len(net.layers)
            or any(layer_state(a) != layer_state(b) for a, b in zip(again.layers, net.layers))):
        raise Finding("a loaded network changes in a save/load round trip")


# ---------------------------------------------------------------------------
# seeds: small valid networks


def base_networks():
    rng = np.random.default_rng(0)

    def arr(*shape, dtype=np.float32):
        return rng.standard_normal(shape).astype(dtype)

    mlp = sl.Network([sl.Flatten(), sl.Linear(arr(3, 4), arr(3)), sl.ReLU(),
                      sl.Linear(arr(2, 3), arr(2))], input_shape=(2, 2))
    cnn = sl.Network([sl.Conv2d(arr(2, 1, 3, 3), arr(2), padding=1), sl.ReLU(),
                      sl.MaxPool2d(2), sl.Conv2d(arr(2, 1, 1, 1), arr(2), groups=2),
                      sl.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
                      sl.AdaptiveAvgPool2d(1), sl.Flatten(),
                      sl.Linear(arr(2, 2), arr(2))], input_shape=(1, 8, 8))
    conv64 = sl.Network([sl.Conv2d(arr(1, 1, 2, 2, dtype=np.float64), None, stride=2,
                                   dilation=1), sl.ReLU(),
                         sl.AvgPool2d(1, divisor_override=2)])
    return [mlp, cnn, conv64]


def npz_members(net):
    """The .npz a Network saves, as an ordered list of (member name, bytes)."""
    path = tmp_path("base.npz")
    net.save(path)
    with zipfile.ZipFile(path) as zf:
        return [(info.filename, zf.read(info.filename)) for info in zf.infolist()]


_BASES = None


def bases():
    global _BASES
    if _BASES is None:
        _BASES = [npz_members(net) for net in base_networks()]
    return _BASES


# ---------------------------------------------------------------------------
# building blocks of structured mutations


class Raw:
    """JSON text spliced in as it is (deep nesting, 5000-digit numbers...)."""

    def __init__(self, text):
        self.text = text


JSON_KEYS = ("type", "params", "config", "format", "version", "layers", "input_shape",
             "stride", "padding", "dilation", "groups", "kernel_size", "ceil_mode",
             "count_include_pad", "divisor_override", "output_size", "weight", "bias", "x",
             "", "__class__")
LAYER_NAMES = ("Linear", "Conv2d", "ReLU", "Flatten", "AvgPool2d", "AdaptiveAvgPool2d",
               "MaxPool2d", "Network", "Layer", "linear", "")


def json_value(d: Draw, depth=0):
    choice = d.int(0, 27)
    if choice == 0:
        return None
    if choice == 1:
        return d.bool()
    if choice == 2:
        return d.pick((0, 1, -1, 2, 3, 7))
    if choice == 3:
        return d.pick((2 ** 31 - 1, 2 ** 31, 2 ** 62, 2 ** 63, -(2 ** 63), 10 ** 20, 2 ** 64))
    if choice == 4:
        return d.pick((0.5, 1.0, -0.0, 1e308, 5e-324, 2.5))
    if choice == 5:
        return d.pick((math.inf, -math.inf, math.nan))
    if choice == 6:
        return d.pick(LAYER_NAMES)
    if choice == 7:
        return d.pick(("weight", "bias", "semiring_lrp.network", "", "\x00", "\ud800x"))
    if choice == 8:
        return []
    if choice == 9:
        return d.pick(([1], [1, 1], [2, 2], [0, 0], [None, None], [1, 2, 3], [-1, 1],
                       ["bias", "weight"], ["weight", "bias"], ["weight"], [True, 1]))
    if choice == 10:
        return {}
    if choice == 11 and depth < 3:
        return {d.pick(JSON_KEYS): json_value(d, depth + 1) for _ in range(d.int(0, 3))}
    if choice == 12 and depth < 3:
        return [json_value(d, depth + 1) for _ in range(d.int(0, 4))]
    if choice == 13:
        depth_n = d.pick((100, 1000, 5000, 100000))
        return Raw("[" * depth_n + "]" * depth_n)
    if choice == 14:
        return Raw("1" + "0" * d.pick((300, 4299, 4300, 5000)))
    if choice == 15:
        return Raw(d.pick(("1e999", "-1e999", "1E400", "-0", "0.0e-400", '"\\ud800"',
                           '"\\u0000"')))
    if choice == 16:
        return {"type": d.pick(LAYER_NAMES), "params": json_value(d, depth + 1),
                "config": json_value(d, depth + 1)} if depth < 3 else None
    if choice == 17:
        return d.pick(("1", "3", "None", "Infinity", "[1, 1]"))
    return d.pick((1, 2, [1, 1], [2, 2], 0, None, True, False, "x", {}))


def slots(value, out, parent=None, key=None):
    """Every (container, key) in a JSON tree."""
    if parent is not None:
        out.append((parent, key))
    if isinstance(value, dict):
        for k in list(value):
            slots(value[k], out, value, k)
    elif isinstance(value, list):
        for i in range(len(value)):
            slots(value[i], out, value, i)
    return out


def edit_json(d: Draw, header):
    places = slots(header, [])
    containers = [header] + [c[k] for c, k in places if isinstance(c[k], (dict, list))]
    op = d.int(0, 5)
    if op <= 1 and places:  # replace a value
        container, key = d.pick(places)
        container[key] = json_value(d)
    elif op == 2 and places:  # delete
        container, key = d.pick(places)
        del container[key]
    elif op == 3:  # insert
        container = d.pick(containers)
        if isinstance(container, dict):
            container[d.pick(JSON_KEYS)] = json_value(d)
        else:
            container.insert(d.int(0, len(container)), json_value(d))
    elif op == 4:  # shuffle a list
        lists = [c for c in containers if isinstance(c, list) and len(c) > 1]
        if lists:
            lst = d.pick(lists)
            i, j = d.int(0, len(lst) - 1), d.int(0, len(lst) - 1)
            lst[i], lst[j] = lst[j], lst[i]
    else:  # duplicate a list item
        lists = [c for c in containers if isinstance(c, list) and c]
        if lists:
            lst = d.pick(lists)
            lst.append(copy.deepcopy(d.pick(lst)))
    return header


def dump_json(value):
    raws = []

    def encode(v):
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"__RAW{len(raws) - 1}__"
        if isinstance(v, dict):
            return {k: encode(x) for k, x in v.items()}
        if isinstance(v, list):
            return [encode(x) for x in v]
        return v

    text = json.dumps(encode(value))
    for i, raw in enumerate(raws):
        text = text.replace(f'"__RAW{i}__"', raw)
    return text


DTYPES = ("<f4", "<f8", ">f4", ">f8", "<f2", "<i8", "<i4", "|u1", "|b1", "<c8", "<c16",
          "<U5", "|S5", "|V8", "<M8[D]", "<m8[s]", "<f16", "O")


def random_array(d: Draw, like=None):
    if like is not None and like.size > 100_000:
        like = None
    if like is not None and d.bool():
        shape = like.shape
    else:
        shape = tuple(d.pick((1, 2, 3, 0, 4, 5)) for _ in range(d.int(0, 4)))
    dtype = np.dtype(d.pick(DTYPES if like is None or d.bool() else (like.dtype.str,)))
    size = int(np.prod(shape))
    rng = np.random.default_rng(d.int(0, 255))
    values = rng.standard_normal(size)
    if size and d.maybe(3):
        values[d.int(0, size - 1)] = d.pick((math.nan, math.inf, -math.inf, 1e300))
    if dtype.kind == "O":
        arr = np.empty(size, dtype=object)
        arr[:] = list(values)
    elif dtype.kind in "US":
        arr = values.astype(str).astype(dtype)
    elif dtype.kind == "V":
        arr = np.zeros(size, dtype=dtype)
    elif dtype.kind in "Mm":
        arr = np.arange(size).astype(dtype)
    else:
        with np.errstate(all="ignore"):
            arr = values.astype(dtype)
    arr = arr.reshape(shape)
    if arr.ndim >= 2 and d.maybe(4):
        arr = np.asfortranarray(arr)
    return arr


def npy_bytes(arr):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


NPY_SHAPES = ("()", "(0,)", "(3,)", "(1000000000000,)", "(4611686018427387904, 4)",
              "(9223372036854775807,)", "(-1,)", "(2147483648,)", "('a',)", "(1.5,)",
              "(2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2)",
              "(1000000, 1000000)", "(1099511627776,)", "(3, 2)", "(268435456,)")
NPY_DESCRS = ("'<f4'", "'<f8'", "'>f8'", "'|O'", "'<U2147483647'", "'<U1048576'", "'x'",
              "[('a', '<f4')]", "'<f4', 'extra': 1", "1", "'V0'", "'<U0'", "'S0'")


def corrupt_npy(d: Draw, data):
    """A .npy with a hand-edited header (shape, descr, fortran_order, version)."""
    descr = d.pick(NPY_DESCRS)
    shape = d.pick(NPY_SHAPES)
    order = d.pick(("False", "True", "1", "'yes'"))
    text = "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, order, shape)
    header = text.encode("latin1")
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    version = d.pick((1, 2, 3, 0, 9))
    if version == 1 or version not in (2, 3):
        prefix = b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H", len(header))
    else:
        prefix = b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(header))
    body = data[data.find(b"\n") + 1:] if data.startswith(b"\x93NUMPY") else data
    if d.maybe(3):
        body = body[:d.int(0, len(body))]
    return prefix + header + body


def try_load(data):
    """The array in .npy bytes, or None."""
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        return arr if isinstance(arr, np.ndarray) else None
    except Exception:
        return None


def zip_bytes(members, compression):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


COMPRESSIONS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


def damage_bytes(d: Draw, data: bytes, rounds=None):
    """Byte-level damage: flips, overwrites, truncation, junk, edits of the
    zip headers' compression-method and size fields."""
    data = bytearray(data)
    for _ in range(rounds if rounds is not None else d.int(1, 3)):
        op = d.int(0, 5)
        if not data:
            break
        if op == 0:
            i = d.int(0, len(data) - 1)
            data[i] ^= 1 << d.int(0, 7)
        elif op == 1:
            i = d.int(0, len(data) - 1)
            chunk = d.bytes(d.int(1, 8)) or b"\xff"
            data[i:i + len(chunk)] = chunk
        elif op == 2:
            del data[d.int(0, len(data) - 1):]
        elif op == 3:
            data += d.bytes(d.int(1, 32)) or b"PK\x05\x06"
        else:
            # zip structures: local (PK\3\4) and central (PK\1\2) headers
            marks = [i for i in range(len(data) - 4)
                     if data[i:i + 2] == b"PK" and data[i + 2:i + 4] in (b"\x03\x04", b"\x01\x02")]
            if marks:
                i = d.pick(marks)
                central = data[i + 2:i + 4] == b"\x01\x02"
                field = d.pick(("method", "csize", "usize", "namelen", "offset", "flags"))
                offset = {"method": 10 if central else 8, "csize": 20 if central else 18,
                          "usize": 24 if central else 22, "namelen": 28 if central else 26,
                          "offset": 42 if central else 14, "flags": 8 if central else 6}[field]
                width = 2 if field in ("method", "namelen", "flags") else 4
                value = d.pick((0, 1, 8, 9, 12, 14, 99, 0xFFFF, 0xFFFFFFFF, 1 << 20, 5))
                if i + offset + width <= len(data):
                    data[i + offset:i + offset + width] = (value % (1 << (8 * width))).to_bytes(
                        width, "little")
    return bytes(data)


# ---------------------------------------------------------------------------
# load: raw bytes


def test_load(data: bytes) -> None:
    """sl.load on the bytes as they are."""
    path = write("net.npz", data)
    run_reader("load", path, sl.load, check_network)


# ---------------------------------------------------------------------------
# load_npz: structured mutations of a valid network file


def test_load_npz(data: bytes) -> None:
    d = Draw(common.provider(data))
    members = [list(m) for m in d.pick(bases())]
    header = json.loads(str(np.load(io.BytesIO(dict(members)["header.npy"]),
                                    allow_pickle=False)))
    header_text = None
    header_member = None
    for _ in range(d.int(1, 4)):
        op = d.int(0, 11)
        if op <= 3:
            header = edit_json(d, header)
        elif op == 4:  # damage the JSON text itself
            text = dump_json(header)
            i = d.int(0, len(text))
            header_text = text[:i] + d.bytes(d.int(0, 4)).decode("latin1") + text[i + d.int(0, 3):]
        elif op == 5:  # the header entry stored differently
            text = header_text or dump_json(header)
            how = d.int(0, 4)
            if how == 0:
                header_member = npy_bytes(np.array(text.encode()))
            elif how == 1:
                header_member = npy_bytes(np.array([text]))
            elif how == 2:
                header_member = text.encode()
            elif how == 3:
                header_member = npy_bytes(np.array(text, dtype=f"U{len(text) + 2 ** 20}"))
            else:
                header_member = npy_bytes(np.array(1.5))
        elif op == 6 and len(members) > 1:  # replace a parameter array
            i = d.int(1, len(members) - 1)
            members[i][1] = npy_bytes(random_array(d, try_load(members[i][1])))
        elif op == 7:  # corrupt a member's .npy header
            i = d.int(0, len(members) - 1)
            members[i][1] = corrupt_npy(d, members[i][1])
        elif op == 8 and len(members) > 1:  # drop an entry
            del members[d.int(1, len(members) - 1)]
        elif op == 9:  # an extra or renamed entry
            name = d.pick(("extra.npy", "layer9.weight.npy", "header.npy", "layer0.weight",
                           "data.pkl", "../x.npy", "layer0.bias.npy", "layer1.weight.npy"))
            content = npy_bytes(random_array(d)) if d.bool() else d.bytes(d.int(0, 16))
            if d.bool() or len(members) < 2:
                members.append([name, content])
            else:
                members[d.int(1, len(members) - 1)][0] = name
        elif op == 10:  # a member's raw bytes
            i = d.int(0, len(members) - 1)
            members[i][1] = d.bytes(d.int(0, 64))
        else:  # a parameter with the right shape and NaN, another dtype...
            if len(members) > 1:
                i = d.int(1, len(members) - 1)
                members[i][1] = npy_bytes(random_array(d, try_load(members[i][1])))
    if header_member is None:
        header_member = npy_bytes(np.array(header_text if header_text is not None
                                           else dump_json(header)))
    for m in members:
        if m[0] == "header.npy":
            m[1] = header_member
            break
    blob = zip_bytes(members, d.pick(COMPRESSIONS))
    if d.maybe(3):
        blob = damage_bytes(d, blob)
    path = write("net.npz", blob)
    run_reader("load_npz", path, sl.load, check_network)


# ---------------------------------------------------------------------------
# load_torch: state_dicts through torch.save


def setup_torch():
    import torch  # noqa: F401  (imported before fuzzing starts: it is slow)


TORCH_KEYS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "0.weight", "0.bias",
              "2.weight", "weight", "bias", "a.b.weight", "x.running_mean", ".weight",
              "fc1.", "fc1.Weight", "", 1, None, ("fc", "weight"))


def torch_value(d: Draw, torch, depth=0):
    choice = d.int(0, 15)
    if choice <= 7:
        dtype = d.pick((torch.float32, torch.float64, torch.float32, torch.float16,
                        torch.bfloat16, torch.int64, torch.int32, torch.uint8, torch.bool,
                        torch.complex64, torch.float64))
        shape = tuple(d.pick((2, 3, 1, 0, 4)) for _ in range(d.pick((2, 2, 1, 0, 3, 4))))
        g = torch.Generator().manual_seed(d.int(0, 255))
        t = torch.randn(shape, generator=g, dtype=torch.float64)
        if t.numel() and d.maybe(4):
            t.view(-1)[d.int(0, t.numel() - 1)] = d.pick((math.nan, math.inf, -math.inf))
        t = t.to(dtype)
        how = d.int(0, 6)
        if how == 1 and t.dim() == 2:
            t = t.t()
        elif how == 2 and t.dim() >= 1 and t.shape[0] > 1:
            t = t[::2]
        elif how == 3:
            t = torch.nn.Parameter(t, requires_grad=t.is_floating_point())
        elif how == 4 and t.dim() == 2 and t.is_floating_point():
            t = t.to_sparse()
        return t
    if choice == 8:
        return d.pick((0, 1, -1, 2 ** 70, 1.5, math.nan, "x", b"x", None, True))
    if choice == 9 and depth < 2:
        return [torch_value(d, torch, depth + 1) for _ in range(d.int(0, 2))]
    if choice == 10 and depth < 2:
        return {d.pick(TORCH_KEYS): torch_value(d, torch, depth + 1) for _ in range(d.int(0, 2))}
    if choice == 11:
        return torch.Size([d.int(0, 3), 2])
    if choice == 12 and depth < 2:
        return tuple(torch_value(d, torch, depth + 1) for _ in range(d.int(0, 2)))
    return torch.zeros(d.pick((2, 3)), d.pick((2, 3)))


def torch_state(d: Draw, torch):
    from collections import OrderedDict

    state = OrderedDict() if d.bool() else {}
    widths = [d.pick((3, 2, 4, 1, 5)) for _ in range(4)]
    for i in range(d.int(0, 4)):
        # mostly a consistent MLP, so that the reader gets far
        prefix = d.pick((f"fc{i + 1}", f"{2 * i}", f"layer.{i}", "fc1"))
        w = torch.randn(widths[i + 1] if i + 1 < len(widths) else 2, widths[i])
        state[f"{prefix}.weight"] = w
        if d.bool():
            state[f"{prefix}.bias"] = torch.randn(w.shape[0])
    for _ in range(d.int(0, 3)):
        state[d.pick(TORCH_KEYS)] = torch_value(d, torch)
    wrap = d.int(0, 9)
    if wrap == 0:
        return list(state.values())
    if wrap == 1:
        return {"state_dict": state}
    if wrap == 2:
        return torch_value(d, torch)
    return state


def test_load_torch(data: bytes) -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a test dependency
        return
    d = Draw(common.provider(data))
    state = torch_state(d, torch)
    buf = io.BytesIO()
    try:
        torch.save(state, buf, _use_new_zipfile_serialization=not d.maybe(4))
    except Exception:
        return  # something torch itself will not write: not the reader's problem
    blob = buf.getvalue()
    if d.maybe(4):
        blob = damage_bytes(d, blob)
    path = write("state.pt", blob)
    run_reader("load_torch", path, sl.load, check_network)


# ---------------------------------------------------------------------------
# idx


IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def check_idx(expected):
    def check(path, array):
        if not isinstance(array, np.ndarray):
            raise Finding(f"read_idx returned {type(array).__name__}")
        if not array.dtype.isnative:
            raise Finding(f"read_idx returned byte order {array.dtype.str}, not native")
        if expected is None:
            return
        dtype, shape, payload = expected
        if array.shape != shape:
            raise Finding(f"read_idx returned shape {array.shape}, header says {shape}")
        if array.dtype != np.dtype(dtype).newbyteorder("="):
            raise Finding(f"read_idx returned dtype {array.dtype}, header says {dtype}")
        want = np.frombuffer(payload, dtype=dtype).reshape(shape)
        if array.tobytes() != want.astype(array.dtype).tobytes():
            raise Finding("read_idx returned other values than the file holds")
    return check


def idx_file(d: Draw):
    """(bytes of an IDX file built from the input, what a correct reader returns
    for it or None when it must be rejected)."""
    code = d.pick((0x08, 0x0D, 0x0E, 0x09, 0x0B, 0x0C, 0x00, 0x0A, 0x0F, 0xFF))
    ndim = d.pick((1, 2, 3, 0, 4, 8, 9, 255))
    dims = [d.pick((2, 3, 1, 0, 4, 28, 255, 2 ** 32 - 1, 2 ** 31, 65536)) for _ in range(ndim)]
    header = bytes([0, 0, code, ndim]) + b"".join(struct.pack(">I", v) for v in dims)
    if d.maybe(8):
        header = bytes([d.pick((1, 0x1F)), d.pick((0, 0x8B))]) + header[2:]
    valid = code in IDX_TYPES and 1 <= ndim <= 8 and header[:2] == b"\0\0"
    itemsize = np.dtype(IDX_TYPES.get(code, "u1")).itemsize
    claimed = itemsize * math.prod(dims)
    delta = d.pick((0, 0, -1, 1, 7, -itemsize))
    length = claimed + delta if claimed <= 4096 else d.int(0, 64)
    length = max(0, length)
    raw = d.bytes(length)
    payload = (raw * (length // max(1, len(raw)) + 1))[:length] if raw else bytes(length)
    expected = None
    if valid and delta == 0 and claimed <= 4096 and len(payload) == claimed:
        expected = (IDX_TYPES[code], tuple(dims), payload)
    return header + payload, expected


def test_idx(data: bytes) -> None:
    d = Draw(common.provider(data))
    mode = d.int(0, 5)
    expected = None
    if mode <= 1:  # bytes as they are (seeds include valid and gzip files)
        blob = d.rest()
    else:
        blob, expected = idx_file(d)
    if mode in (1, 3, 4, 5):
        level = d.pick((9, 1, 0))
        blob = gzip.compress(blob, compresslevel=level, mtime=0)
        if mode == 4:
            blob = blob[:d.int(0, len(blob))]
            expected = None
        elif mode == 5:
            if d.bool():
                blob += d.pick((b"\0\0\0\0", gzip.compress(b"\0\0\x08\x01\0\0\0\0", mtime=0),
                                b"\x1f\x8b", b"junk"))
            else:
                blob = damage_bytes(d, blob, rounds=1)
            expected = None
    path = write("data.idx", blob)
    run_reader("idx", path, sl_idx.read_idx, check_idx(expected), at_start=True)


# ---------------------------------------------------------------------------
# vgg16


# the first two convolutions (37k parameters): enough to pass the first
# checks, small enough to write thousands of times
VGG_NAMES = [(f"features.{i}.weight", (o, c, 3, 3)) for i, o, c in ((0, 64, 3), (2, 64, 64))]
VGG_NAMES = [pair for name, shape in VGG_NAMES
             for pair in ((name, shape), (name.replace("weight", "bias"), shape[:1]))]


def check_vgg(path, net):
    if not isinstance(net, sl.Network):
        raise Finding(f"vgg16 returned {type(net).__name__}")


def test_vgg16(data: bytes) -> None:
    d = Draw(common.provider(data))
    mode = d.int(0, 3)
    if mode == 0:
        blob = d.rest()
    else:
        arrays = {}
        rng = np.random.default_rng(d.int(0, 255))
        for name, shape in VGG_NAMES[:d.int(0, len(VGG_NAMES))]:
            arrays[name] = rng.standard_normal(shape).astype(np.float32)
        names = list(arrays)
        for _ in range(d.int(0, 2)):
            op = d.int(0, 3)
            if op == 0 and names:
                name = d.pick(names)
                arrays[name] = random_array(d, arrays[name])
            elif op == 1 and names:
                del arrays[d.pick(names)]
                names = list(arrays)
            elif op == 2:
                arrays[d.pick(("classifier.0.weight", "features.0.weight", "x",
                               "features.28.bias"))] = random_array(d)
            elif names:
                name = d.pick(names)
                if arrays[name].ndim:
                    arrays[name] = arrays[name][..., :1]
        members = [(f"{k}.npy", npy_bytes(v)) for k, v in arrays.items()]
        if mode == 2 and members:
            i = d.int(0, len(members) - 1)
            members[i] = (members[i][0], corrupt_npy(d, members[i][1]))
        small = sum(len(m[1]) for m in members) < 32768
        blob = zip_bytes(members, d.pick(COMPRESSIONS if small else COMPRESSIONS[:2]))
        if mode == 3:
            blob = damage_bytes(d, blob)
    path = write("vgg16.npz", blob)
    run_reader("vgg16", path, lambda p: sl.models.vgg16(weights=p), check_vgg)


HARNESSES = {
    "load": (test_load, None),
    "load_npz": (test_load_npz, None),
    "load_torch": (test_load_torch, setup_torch),
    "idx": (test_idx, None),
    "vgg16": (test_vgg16, None),
}
INSTRUMENT = ["__main__", "semiring_lrp.io", "semiring_lrp.idx", "semiring_lrp.models",
              "semiring_lrp.torch_import", "semiring_lrp.network", "semiring_lrp.layers",
              "semiring_lrp.pooling", "zipfile", "gzip", "json.decoder", "numpy.lib.format",
              "numpy.lib._npyio_impl", "numpy.lib.npyio"]


def main():
    common.fuzz_main(HARNESSES, instrument=INSTRUMENT)


if __name__ == "__main__":
    main()
