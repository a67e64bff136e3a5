"""Networks to and from files; hostile files are refused without executing anything."""
import json
import os
import pickle

import numpy as np
import pytest
import torch
from reference import random_mlp

import semiring_lrp as sl


@pytest.fixture
def net():
    return random_mlp(np.random.default_rng(0), (12, 8, 5), np.float32)


def _same_network(a, b):
    x = np.random.default_rng(2).uniform(size=(3,) + a.input_shape)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    np.testing.assert_array_equal(sl.relevance(a, x, semiring=sl.Counting()),
                                  sl.relevance(b, x, semiring=sl.Counting()))
    assert a.dtype == b.dtype and a.input_shape == b.input_shape
    assert [type(layer) for layer in a.layers] == [type(layer) for layer in b.layers]


def test_round_trip(net, tmp_path):
    path = tmp_path / "net.npz"
    net.save(path)
    _same_network(net, sl.load(path))
    mlp = sl.models.mnist_mlp()
    mlp.save(tmp_path / "mlp.npz")
    loaded = sl.load(str(tmp_path / "mlp.npz"))
    assert loaded.input_shape == (28, 28)
    _same_network(mlp, loaded)


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickled_npz_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([_Boom()], dtype=object))
    with pytest.raises(ValueError, match="evil.npz"):
        sl.load(path)
    assert not (tmp_path / "pwned").exists()


def test_pickled_torch_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"0.weight": _Boom()}, f)
    with pytest.raises(ValueError, match="evil.pt"):
        sl.load(path)
    torch.save({"0.weight": _Boom()}, tmp_path / "evil2.pt")
    with pytest.raises(ValueError, match="evil2.pt"):
        sl.load(tmp_path / "evil2.pt")
    assert not (tmp_path / "pwned").exists()


def _write_npz(path, header=None, **arrays):
    if header is not None:
        arrays["header"] = np.array(json.dumps(header))
    np.savez(path, **arrays)
    return path


GOOD = {"format": "semiring_lrp.network", "version": 1, "input_shape": [3],
        "layers": [{"type": "Linear", "params": ["bias", "weight"]}]}


@pytest.mark.parametrize("header,arrays,match", [
    (None, {"x": np.zeros(2)}, "no header"),
    ({**GOOD, "format": "other"}, {}, "wrong format tag"),
    ({**GOOD, "version": 99}, {}, "version 99"),
    ({**GOOD, "layers": []}, {}, "no layer list"),
    ({**GOOD, "input_shape": [-3]}, {}, "input_shape"),
    ({**GOOD, "layers": [{"type": "Conv9d", "params": []}]}, {}, "unknown type"),
    (GOOD, {"layer0.weight": np.ones((2, 3), np.float32)}, "missing array layer0.bias"),
    (GOOD, {"layer0.weight": np.ones((2, 3), np.float32),
            "layer0.bias": np.ones(3, np.float32)}, "bias has shape"),
    (GOOD, {"layer0.weight": np.full((2, 3), np.nan, np.float32),
            "layer0.bias": np.ones(2, np.float32)}, "NaN"),
    (GOOD, {"layer0.weight": np.ones((2, 3), np.int32),
            "layer0.bias": np.ones(2, np.int32)}, "float32 or float64"),
    (GOOD, {"layer0.weight": np.ones((2, 3)), "layer0.bias": np.ones(2),
            "payload": np.ones(1)}, "unexpected entries"),
    ({**GOOD, "input_shape": [4]}, {"layer0.weight": np.ones((2, 3)),
                                    "layer0.bias": np.ones(2)}, "expects 3 inputs"),
])
def test_malformed_network_files(tmp_path, header, arrays, match):
    path = _write_npz(tmp_path / "bad.npz", header, **arrays)
    with pytest.raises(ValueError, match=match) as info:
        sl.load(path)
    assert "bad.npz" in str(info.value)


def test_broken_files(tmp_path, net):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.npz.*empty"):
        sl.load(empty)
    good = tmp_path / "good.npz"
    net.save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.npz"):
        sl.load(truncated)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(1000))
    with pytest.raises(ValueError, match="garbage.bin"):
        sl.load(garbage)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        sl.load(tmp_path / "missing.npz")


def test_state_dict_of_an_mlp(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(10, 7), torch.nn.ReLU(),
                                torch.nn.Dropout(), torch.nn.Linear(7, 3)).eval()
    torch.save(model.state_dict(), tmp_path / "mlp.pt")
    net = sl.load(tmp_path / "mlp.pt")
    x = torch.rand(4, 10)
    np.testing.assert_allclose(net.forward(x), model(x).detach().numpy(), rtol=1e-6)
    _same_network(net, sl.from_torch(model))


def test_state_dict_that_is_not_an_mlp(tmp_path):
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))
    torch.save(conv.state_dict(), tmp_path / "conv.pt")
    with pytest.raises(ValueError, match="conv.pt.*0.weight has shape"):
        sl.load(tmp_path / "conv.pt")
    torch.save({"running_mean": torch.zeros(3)}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="odd.pt"):
        sl.load(tmp_path / "odd.pt")


def test_from_torch_names_unsupported_layers():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 2))
    with pytest.raises(TypeError, match="unsupported layer 1: Sigmoid"):
        sl.from_torch(model)
    nested = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh()))
    with pytest.raises(TypeError, match=r"unsupported layer 0\.1"):
        sl.from_torch(nested)
    with pytest.raises(TypeError, match="Flatten"):
        sl.from_torch(torch.nn.Sequential(torch.nn.Flatten(0), torch.nn.Linear(4, 2)))
    with pytest.raises(TypeError, match="float32 or float64"):
        sl.from_torch(torch.nn.Sequential(torch.nn.Linear(4, 2).half()))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        sl.from_torch([1, 2])


def test_from_torch_copies_weights():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    net = sl.from_torch(model)
    before = net.forward(np.ones(3))
    with torch.no_grad():
        model[0].weight.add_(1.0)
    np.testing.assert_array_equal(net.forward(np.ones(3)), before)


def test_lzma_member_asking_for_gigabytes_is_a_malformed_file(tmp_path, net):
    """An LZMA member whose properties claim a 4 GB dictionary (found by
    fuzzing: a 1 KB file): where the memory is not there, opening the member
    fails with MemoryError, which must come out as a malformed file. The
    address space is capped in a child process so that it is not there."""
    import struct
    import subprocess
    import sys
    import zipfile

    good = tmp_path / "good.npz"
    net.save(good)
    bad = tmp_path / "dictionary.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w", zipfile.ZIP_LZMA) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    raw = bytearray(bad.read_bytes())
    with zipfile.ZipFile(bad) as archive:
        info = archive.getinfo("header.npy")
    offset = info.header_offset
    name_len, extra_len = struct.unpack("<HH", raw[offset + 26:offset + 30])
    props = offset + 30 + name_len + extra_len + 4  # zipfile's 4-byte LZMA prefix
    raw[props + 1:props + 5] = struct.pack("<I", 0xFF000000)
    bad.write_bytes(bytes(raw))
    child = (
        "import resource, sys\n"
        "import semiring_lrp as sl\n"
        "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "hard = resource.getrlimit(resource.RLIMIT_AS)[1]\n"
        "resource.setrlimit(resource.RLIMIT_AS, (used + (1 << 30), hard))\n"
        "try:\n"
        "    sl.load(sys.argv[1])\n"
        "except ValueError as err:\n"
        "    print('ValueError', err)\n"
    )
    done = subprocess.run([sys.executable, "-c", child, str(bad)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ValueError {bad}")
    assert "asks for more memory than reading its header needs" in done.stdout


def test_header_nested_past_the_parsers_limit(tmp_path, net):
    """A .npy header of a few kilobytes whose shape nests 7,000 unary minus
    signs makes Python's parser raise MemoryError (found by fuzzing): a
    malformed file, reported as one."""
    import zipfile

    good = tmp_path / "good.npz"
    net.save(good)
    header = ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "-" * 7000
              + "1,), }").encode("latin1")
    header += b" " * (-(len(header) + 13) % 64) + b"\n"
    member = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header
    bad = tmp_path / "nested.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, member if name == "header.npy" else src.read(name))
    with pytest.raises(ValueError, match="nested.npz.*nested too deeply"):
        sl.load(bad)
