"""Regressions from fuzzing (fuzz/), and the fuzz corpus replayed as tests.

* Every input in fuzz/corpus/<harness>/ goes once through its harness's
  target function (no atheris needed): only the outcomes the harness
  accepts may occur. Known library bugs are tolerated there, because each
  is documented below by a strict xfail test with a minimal reproducer;
  when a bug is fixed its xfail test XPASSes (and so fails): then delete
  the `xfail` mark and its entry in fuzz/common.py KNOWN_ISSUES.
* Edge cases the fuzzers hit where the library is right are plain tests.
"""
from __future__ import annotations

import io
import json
import math
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FUZZ = ROOT / "fuzz"
sys.path.insert(0, str(FUZZ))

import common  # noqa: E402
import fuzz_core  # noqa: E402
import fuzz_files  # noqa: E402

import semiring_lrp as sl  # noqa: E402
from semiring_lrp import _core  # noqa: E402
from semiring_lrp import idx as sl_idx  # noqa: E402

RULE0 = (_core.RULE_ZERO, 0.0, _core.EPS_SIGN, 0.0)


def known_bug(ident):
    """Strict xfail for the KNOWN_ISSUES entry `ident` (its summary is the reason)."""
    issue = next(i for i in common.KNOWN_ISSUES if i.ident == ident)
    return pytest.mark.xfail(strict=True, reason=f"library bug found by fuzzing "
                                                 f"[{ident}]: {issue.summary}")


# ---------------------------------------------------------------------------
# the corpus as a regression suite


TARGETS = {
    "core": fuzz_core.test_one_input,
    "load": fuzz_files.test_load,
    "load_npz": fuzz_files.test_load_npz,
    "load_torch": fuzz_files.test_load_torch,
    "idx": fuzz_files.test_idx,
    "vgg16": fuzz_files.test_vgg16,
}


def corpus_files(harness):
    folder = FUZZ / "corpus" / harness
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def test_every_corpus_folder_has_a_harness_and_seeds():
    folders = {p.name for p in (FUZZ / "corpus").iterdir() if p.is_dir()}
    assert folders == set(TARGETS)
    for harness in TARGETS:
        assert any(p.name.startswith("seed-") for p in corpus_files(harness)), harness


@pytest.mark.parametrize("harness", sorted(TARGETS))
def test_corpus_replays_with_accepted_outcomes_only(harness, monkeypatch):
    monkeypatch.setattr(common, "STRICT", False)
    if harness == "load_torch":
        pytest.importorskip("torch")
    failures = []
    with common.address_space_headroom(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's duplicate names, torch's sparse checks...
        for path in corpus_files(harness):
            try:
                TARGETS[harness](path.read_bytes())
            except common.Finding as finding:
                failures.append(f"{path.relative_to(ROOT)}: {finding}")
    assert not failures, "\n".join(failures)


def test_known_issues_each_have_an_xfail_test():
    source = Path(__file__).read_text()
    for issue in common.KNOWN_ISSUES:
        assert f'known_bug("{issue.ident}")' in source, issue.ident


def test_harness_modules_import_without_atheris():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import fuzz_core, fuzz_files, common;"
            " print('atheris' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(FUZZ)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bytes_provider_matches_atheris():
    atheris = pytest.importorskip("atheris")
    rng = np.random.default_rng(0)
    for _ in range(300):
        data = rng.integers(0, 256, int(rng.integers(0, 40))).astype(np.uint8).tobytes()
        mine, theirs = common.BytesProvider(data), atheris.FuzzedDataProvider(data)
        for step in range(30):
            op = int(rng.integers(0, 4))
            if op == 0:
                lo = int(rng.integers(-5, 5))
                deltas = (0, 1, 2, 8, 255, 256, 65535, 2 ** 40, 2 ** 64 - 1)
                hi = lo + deltas[int(rng.integers(0, len(deltas)))]
                assert mine.ConsumeIntInRange(lo, hi) == theirs.ConsumeIntInRange(lo, hi)
            elif op == 1:
                assert mine.ConsumeBool() == theirs.ConsumeBool()
            elif op == 2:
                n = int(rng.integers(0, 6))
                assert mine.ConsumeBytes(n) == theirs.ConsumeBytes(n)
            assert mine.remaining_bytes() == theirs.remaining_bytes()


def test_core_seeds_reach_every_entry_point():
    seen = set()
    for path in corpus_files("core"):
        call = fuzz_core.Builder(common.Draw(common.BytesProvider(path.read_bytes()))).build()
        seen.add(call.name)
    assert seen == set(fuzz_core.ENTRY_POINTS)


def test_repeat_check_counts_every_nan_as_one_value_and_nothing_else():
    plus_nan = np.array([np.nan, 1.0])
    minus_nan = np.array([-np.nan, 1.0])
    assert plus_nan.view(np.uint64)[0] != minus_nan.view(np.uint64)[0]
    assert fuzz_core.same_bits(plus_nan, minus_nan)
    assert fuzz_core.same_bits(plus_nan.astype(">f8"), minus_nan)
    assert not fuzz_core.same_bits(np.array([0.0, 1.0]), np.array([-0.0, 1.0]))
    assert not fuzz_core.same_bits(plus_nan, np.array([np.inf, 1.0]))
    assert not fuzz_core.same_bits(plus_nan, np.array([np.nan, np.nextafter(1.0, 2.0)]))
    assert not fuzz_core.same_bits(plus_nan, plus_nan.astype(np.float32))


# ---------------------------------------------------------------------------
# _core: bugs


def dense_args(dtype=np.float64):
    a = np.arange(6, dtype=dtype).reshape(2, 3)
    w = np.ones((4, 3), dtype=dtype)
    return a, w, np.zeros(4, dtype=dtype)


@pytest.mark.parametrize("rule", [[0, 0.0, 0, 0.0], None, np.array([0, 0.0, 0, 0.0])],
                         ids=["list", "None", "ndarray"])
def test_core_rule_that_is_not_a_tuple_raises_typeerror(rule):
    a, w, b = dense_args()
    with pytest.raises(TypeError):
        _core.dense_forward(a, w, b, rule)


def test_core_geometry_list_raises_typeerror():
    a = np.ones((1, 1, 3, 3))
    w = np.ones((1, 1, 2, 2))
    with pytest.raises(TypeError):
        _core.conv_forward(a, w, np.zeros(1), RULE0, [1, 1, 0, 0, 1, 1, 1])


def test_core_stabilise_rule_list_raises_typeerror():
    with pytest.raises(TypeError):
        _core.stabilise(np.ones(3), [1, 0.1, 0, 0.0])


def test_core_dense_forward_big_endian_inputs():
    a, w, b = dense_args()
    want = _core.dense_forward(a, w, b, RULE0)  # [[3, 3, 3, 3], [12, 12, 12, 12]]
    swapped = [x.astype(x.dtype.newbyteorder(">")) for x in (a, w, b)]
    got = _core.dense_forward(*swapped, RULE0)  # all zeros today
    np.testing.assert_array_equal(got, want)


def test_core_stabilise_big_endian_input():
    z = np.array([1.0, -2.0])
    got, z_finite, finite = _core.stabilise(z.astype(">f8"),
                                            (_core.RULE_EPSILON, 0.5, _core.EPS_SIGN, 0.0))
    np.testing.assert_array_equal(got, [1.5, -2.5])
    assert z_finite and finite


def test_core_pool_big_endian_windows():
    a = np.arange(4.0).reshape(1, 1, 2, 2)
    windows = tuple(np.array([v], dtype=">i8") for v in (0, 2, 0, 2))
    got = _core.pool_forward(a, _core.POOL_MAX, windows)  # ValueError today
    np.testing.assert_array_equal(got, [[[[3.0]]]])


# ---------------------------------------------------------------------------
# _core: edge cases the harness hits, where the core is right


@pytest.mark.parametrize("layout", ["fortran", "strided", "reversed", "unaligned", "readonly",
                                    "subclass"])
def test_core_result_independent_of_memory_layout(layout):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 5))
    w = rng.standard_normal((4, 5))
    want = _core.dense_forward(a, w, np.zeros(4), RULE0)
    if layout == "fortran":
        a2 = np.asfortranarray(a)
    elif layout == "strided":
        big = np.zeros((3, 10))
        big[:, ::2] = a
        a2 = big[:, ::2]
    elif layout == "reversed":
        a2 = np.flip(np.flip(a, 0).copy(), 0)
    elif layout == "unaligned":
        buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
        a2 = buf[1:].view(np.float64).reshape(a.shape)
        a2[...] = a
    elif layout == "readonly":
        a2 = a.copy()
        a2.flags.writeable = False
    else:
        a2 = a.view(fuzz_core.SubArray)
    np.testing.assert_array_equal(_core.dense_forward(a2, w, np.zeros(4), RULE0), want)


@pytest.mark.parametrize("geometry", [
    (2 ** 40, 1, 0, 0, 1, 1, 1), (1, 1, -1, 0, 1, 1, 1), (1, 1, 0, 0, 0, 1, 1),
    (1, 1, 0, 0, 1, 1, 0), (1, 1, 0, 0, 1, 1, 2 ** 63 - 1), (1, 1, 0, 0, 1, 1, -(2 ** 63)),
    (1, 1, 2 ** 62, 0, 1, 1, 1), (1, 1, 0, 0, 2 ** 30 + 1, 1, 1)])
def test_core_conv_extreme_geometry_is_rejected_cleanly(geometry):
    a = np.ones((1, 2, 3, 3))
    w = np.ones((2, 2, 2, 2))
    with pytest.raises(ValueError):
        _core.conv_forward(a, w, np.zeros(2), RULE0, geometry)


@pytest.mark.parametrize("geometry", [(1, 1, 2 ** 64, 0, 1, 1, 1), (1, 1, 0, 0, 1, 1, 10 ** 30)])
def test_core_conv_geometry_beyond_ssize_t_is_overflowerror(geometry):
    a = np.ones((1, 2, 3, 3))
    w = np.ones((2, 2, 2, 2))
    with pytest.raises(OverflowError):
        _core.conv_forward(a, w, np.zeros(2), RULE0, geometry)


def test_core_conv_padding_2_30_asks_for_an_impossible_output():
    a = np.ones((1, 1, 1, 1), dtype=np.float32)
    w = np.ones((1, 1, 1, 1), dtype=np.float32)
    # (2**31 + 1)**2 outputs: numpy refuses the allocation
    with pytest.raises((MemoryError, ValueError)):
        _core.conv_forward(a, w, np.zeros(1, np.float32), RULE0, (1, 1, 2 ** 30, 2 ** 30, 1, 1, 1))


def test_core_conv_padding_2_30_with_empty_batch_is_fine():
    a = np.ones((0, 1, 1, 1), dtype=np.float32)
    w = np.ones((1, 1, 1, 1), dtype=np.float32)
    z = _core.conv_forward(a, w, np.zeros(1, np.float32), RULE0, (1, 1, 2 ** 30, 0, 1, 1, 1))
    assert z.shape == (0, 1, 2 ** 31 + 1, 1)


def test_core_huge_dilation_with_unit_kernel_is_fine():
    a = np.arange(4.0).reshape(1, 1, 2, 2)
    w = np.ones((1, 1, 1, 1))
    z = _core.conv_forward(a, w, np.zeros(1), RULE0, (1, 1, 0, 0, 2 ** 30, 2 ** 30, 1))
    np.testing.assert_array_equal(z, a)


@pytest.mark.parametrize("rule", [(2 ** 63, 0.0, 0, 0.0), (0, 10 ** 400, 0, 0.0),
                                  (0, 0.0, 2 ** 40, 0.0)])
def test_core_rule_numbers_out_of_range_are_overflowerror(rule):
    a, w, b = dense_args()
    with pytest.raises(OverflowError):
        _core.dense_forward(a, w, b, rule)


@pytest.mark.parametrize("rule", [(0, math.nan, 0, 0.0), (0, 0.0, 0, -1e-9), (0, math.inf, 0, 0),
                                  (4, 0.0, 0, 0.0), (0, 0.0, 2, 0.0)])
def test_core_bad_rule_values_are_valueerror(rule):
    a, w, b = dense_args()
    with pytest.raises(ValueError):
        _core.dense_forward(a, w, b, rule)


@pytest.mark.parametrize("semiring", [-1, 4, 2 ** 64, -(2 ** 70)])
def test_core_unknown_semiring_ids_are_valueerror(semiring):
    a, w, _ = dense_args()
    z = np.ones((2, 4))
    with pytest.raises(ValueError, match=rf"unknown semiring {semiring}\b"):
        _core.dense_relevance(semiring, a, w, z, z, RULE0)


@pytest.mark.parametrize("semiring", ["real", None, True, 1.0])
def test_core_semirings_that_are_no_int_are_typeerror(semiring):
    a, w, _ = dense_args()
    z = np.ones((2, 4))
    with pytest.raises(TypeError, match="the semiring must be an int"):
        _core.dense_relevance(semiring, a, w, z, z, RULE0)


@pytest.mark.parametrize("start,end", [(-1, 1), (0, 3), (1, 1), (2, 1), (2 ** 62, 2 ** 63 - 1),
                                       (-(2 ** 63), 0)])
def test_core_pool_windows_out_of_range_are_valueerror(start, end):
    a = np.ones((1, 1, 2, 2))
    windows = (np.array([start]), np.array([end]), np.array([0]), np.array([2]))
    with pytest.raises(ValueError):
        _core.pool_forward(a, _core.POOL_MAX, windows)


def test_core_counting_overflow_is_overflowerror():
    a = np.ones((1, 2))
    w = np.ones((2, 2))
    z = _core.dense_forward(a, w, np.zeros(2), RULE0)
    r_out = np.full((1, 2), 2 ** 62 + 2 ** 61, dtype=np.int64)
    with pytest.raises(OverflowError):
        _core.dense_relevance(_core.SEMIRING_COUNTING, a, w, z, r_out, RULE0, 0.0)


def test_core_negative_count_is_valueerror():
    a = np.ones((1, 2))
    w = np.ones((2, 2))
    z = np.ones((1, 2))
    with pytest.raises(ValueError):
        _core.dense_relevance(_core.SEMIRING_COUNTING, a, w, z, np.array([[1, -1]]), RULE0)


def test_core_viterbi_relevance_is_never_nan_or_negative():
    a = np.array([[np.nan, -1.0, np.inf]])
    w = np.array([[1.0, -np.inf, 2.0], [np.nan, 1.0, -1.0]])
    m = np.array([[-1e-9, 0.0]])
    r = _core.dense_relevance(_core.SEMIRING_VITERBI, a, w, m, np.array([[1.0, -2.0]]), RULE0)
    assert not np.isnan(r).any() and (r >= 0).all()


# ---------------------------------------------------------------------------
# file readers: helpers


def network_file(tmp_path):
    net = sl.Network([sl.Flatten(), sl.Linear(np.ones((2, 3), np.float32))], input_shape=(3,))
    path = tmp_path / "net.npz"
    net.save(path)
    with zipfile.ZipFile(path) as zf:
        members = [(info.filename, zf.read(info.filename)) for info in zf.infolist()]
    header = json.loads(str(np.load(io.BytesIO(members[0][1]))))
    return path, members, header


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def npy_bytes(arr):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr)
    return buf.getvalue()


def npy_with_header(text, body=b""):
    header = text.encode("latin1")
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def with_header_text(tmp_path, text):
    _, members, _ = network_file(tmp_path)
    members[0] = ("header.npy", npy_bytes(np.array(text)))
    return write_zip(tmp_path / "edited.npz", members)


def assert_valueerror_naming(path, fn):
    with pytest.raises(ValueError) as info:
        fn(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------
# sl.load (.npz): bugs


def test_load_header_member_without_npy_magic(tmp_path):
    _, members, _ = network_file(tmp_path)
    members[0] = ("header.npy", b"not an npy file")
    assert_valueerror_naming(write_zip(tmp_path / "x.npz", members), sl.load)


def test_load_deeply_nested_json_header(tmp_path):
    path = with_header_text(tmp_path, "[" * 100000 + "]" * 100000)
    assert_valueerror_naming(path, sl.load)


def test_load_json_header_with_a_5000_digit_integer(tmp_path):
    path = with_header_text(tmp_path, '{"format": 1' + "0" * 5000 + "}")
    assert_valueerror_naming(path, sl.load)


def test_load_layer_type_that_is_a_list(tmp_path):
    _, _, header = network_file(tmp_path)
    header["layers"][0]["type"] = ["Linear"]
    assert_valueerror_naming(with_header_text(tmp_path, json.dumps(header)), sl.load)


def test_load_avgpool_divisor_override_infinity(tmp_path):
    _, _, header = network_file(tmp_path)
    header["layers"].append({"type": "AvgPool2d", "params": [],
                             "config": {"kernel_size": 1, "divisor_override": math.inf}})
    text = json.dumps(header)  # writes Infinity, which json.loads reads back
    assert_valueerror_naming(with_header_text(tmp_path, text), sl.load)


def patched(tmp_path, offset_from, field_offset, value, width=2):
    path, _, _ = network_file(tmp_path)
    data = bytearray(path.read_bytes())
    at = data.find(offset_from) + field_offset
    data[at:at + width] = value.to_bytes(width, "little")
    out = tmp_path / "patched.npz"
    out.write_bytes(bytes(data))
    return out


CENTRAL = b"PK\x01\x02"


@pytest.mark.parametrize("field,offset,value", [
    ("compression method 99 (NotImplementedError)", 10, 99),
    ("encryption flag (RuntimeError)", 8, 1),
    ("zip version 9.9 (NotImplementedError in ZipFile())", 6, 99)],
    ids=["method", "encrypted", "version"])
def test_load_damaged_central_directory(tmp_path, field, offset, value):
    assert_valueerror_naming(patched(tmp_path, CENTRAL, offset, value), sl.load)


def test_load_utf8_flag_on_an_undecodable_name(tmp_path):
    path, _, _ = network_file(tmp_path)
    data = bytearray(path.read_bytes())
    at = data.find(CENTRAL)
    data[at + 8:at + 10] = (0x800).to_bytes(2, "little")
    data[at + 46] = 0xFF  # first byte of the name
    path.write_bytes(bytes(data))
    assert_valueerror_naming(path, sl.load)  # UnicodeDecodeError without the path today


def test_load_corrupt_deflate_stream(tmp_path):
    _, members, _ = network_file(tmp_path)
    path = write_zip(tmp_path / "deflated.npz", members, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    data[30 + len("header.npy") + 2] ^= 0xFF  # inside header.npy's deflate data
    path.write_bytes(bytes(data))
    assert_valueerror_naming(path, sl.load)  # zlib.error today


def test_load_member_claiming_a_terabyte(tmp_path):
    _, members, _ = network_file(tmp_path)
    members[1] = (members[1][0], npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }"))
    assert_valueerror_naming(write_zip(tmp_path / "huge.npz", members), sl.load)


# ---------------------------------------------------------------------------
# sl.load (.npz): edge cases where the reader is right


def test_load_roundtrip_of_the_seed_networks(tmp_path):
    for net in fuzz_files.base_networks():
        net.save(tmp_path / "n.npz")
        again = sl.load(tmp_path / "n.npz")
        assert [fuzz_files.layer_state(x) for x in again.layers] == \
               [fuzz_files.layer_state(x) for x in net.layers]


@pytest.mark.parametrize("edit", ["bad-crc", "object-array", "truncated", "shape-overflow",
                                  "wrong-format", "extra-entry", "nan-weight", "big-endian"])
def test_load_malformed_npz_is_valueerror_naming_the_file(tmp_path, edit):
    path, members, header = network_file(tmp_path)
    if edit == "bad-crc":
        data = bytearray(path.read_bytes())
        data[len(data) // 3] ^= 0xFF
        path.write_bytes(bytes(data))
    elif edit == "object-array":
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.array([1.0, None], dtype=object), allow_pickle=True)
        members[1] = (members[1][0], buf.getvalue())
        write_zip(path, members)
    elif edit == "truncated":
        path.write_bytes(path.read_bytes()[:-40])
    elif edit == "shape-overflow":
        members[1] = (members[1][0], npy_with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 2), }"))
        write_zip(path, members)
    elif edit == "wrong-format":
        header["format"] = "something else"
        path = with_header_text(tmp_path, json.dumps(header))
    elif edit == "extra-entry":
        members.append(("extra.npy", npy_bytes(np.zeros(2))))
        write_zip(path, members)
    elif edit == "nan-weight":
        names = [name for name, _ in members]
        members[names.index("layer1.weight.npy")] = (
            "layer1.weight.npy", npy_bytes(np.full((2, 3), np.nan, np.float32)))
        write_zip(path, members)
    else:
        names = [name for name, _ in members]
        members[names.index("layer1.weight.npy")] = (
            "layer1.weight.npy", npy_bytes(np.ones((2, 3), ">f4")))
        write_zip(path, members)
    assert_valueerror_naming(path, sl.load)


def test_load_empty_and_garbage_files(tmp_path):
    for data in (b"", b"PK", b"PK\x05\x06" + bytes(18), b"\x93NUMPY"):
        path = tmp_path / "f.npz"
        path.write_bytes(data)
        assert_valueerror_naming(path, sl.load)


# ---------------------------------------------------------------------------
# sl.load (PyTorch state_dict)


def torch_file(tmp_path, state):
    torch = pytest.importorskip("torch")
    path = tmp_path / "state.pt"
    torch.save(state, path)
    return path


def test_load_state_dict_with_a_non_tensor_weight(tmp_path):
    assert_valueerror_naming(torch_file(tmp_path, {"fc.weight": 3}), sl.load)


@pytest.mark.parametrize("dtype", ["int64", "bfloat16", "bool"])
def test_load_state_dict_with_a_non_float_weight(tmp_path, dtype):
    torch = pytest.importorskip("torch")
    state = {"fc.weight": torch.ones(2, 3, dtype=getattr(torch, dtype))}
    assert_valueerror_naming(torch_file(tmp_path, state), sl.load)


def test_load_state_dict_mixing_float32_and_float64(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"a.weight": torch.ones(2, 3), "b.weight": torch.ones(2, 2, dtype=torch.float64)}
    assert_valueerror_naming(torch_file(tmp_path, state), sl.load)


@pytest.mark.parametrize("case", ["bias-shape", "chain", "nan"])
def test_load_state_dict_with_inconsistent_linear_layers(tmp_path, case):
    torch = pytest.importorskip("torch")
    state = {"bias-shape": {"fc.weight": torch.ones(2, 3), "fc.bias": torch.ones(3)},
             "chain": {"a.weight": torch.ones(2, 3), "b.weight": torch.ones(2, 5)},
             "nan": {"a.weight": torch.full((2, 3), float("nan"))}}[case]
    assert_valueerror_naming(torch_file(tmp_path, state), sl.load)


def test_load_state_dict_of_an_mlp(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"fc1.weight": torch.ones(3, 4), "fc1.bias": torch.zeros(3),
             "fc2.weight": torch.ones(2, 3)}
    net = sl.load(torch_file(tmp_path, state))
    assert [type(layer).__name__ for layer in net.layers] == ["Flatten", "Linear", "ReLU",
                                                              "Linear"]


@pytest.mark.parametrize("state", ["list", "unexpected-key", "no-weights"])
def test_load_state_dict_wrong_shape_is_valueerror(tmp_path, state):
    torch = pytest.importorskip("torch")
    obj = {"list": [torch.ones(2)], "unexpected-key": {"fc1.running_mean": torch.ones(2)},
           "no-weights": {}}[state]
    assert_valueerror_naming(torch_file(tmp_path, obj), sl.load)


# ---------------------------------------------------------------------------
# read_idx


def idx_header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


@pytest.mark.parametrize("dims", [(0, 2 ** 32 - 1, 2 ** 32 - 1), (0,) + (65536,) * 7],
                         ids=["too-big", "cannot-reshape"])
def test_idx_zero_dimension_with_huge_others(tmp_path, dims):
    path = tmp_path / "zero.idx"
    path.write_bytes(idx_header(0x08, dims))
    with pytest.raises(ValueError, match=f"^{path}"):
        sl_idx.read_idx(path)


def test_idx_zero_dimension_with_small_others_is_an_empty_array(tmp_path):
    path = tmp_path / "zero.idx"
    path.write_bytes(idx_header(0x0D, (0, 3)))
    array = sl_idx.read_idx(path)
    assert array.shape == (0, 3) and array.dtype == np.float32 and array.dtype.isnative


@pytest.mark.parametrize("blob", [
    idx_header(0x08, (2 ** 32 - 1,) * 8),                       # claims 2**256 bytes
    idx_header(0x0E, (3,)) + bytes(23),                         # truncated
    idx_header(0x08, (3,)) + bytes(4),                          # trailing garbage
    idx_header(0x07, (1,)) + bytes(1),                          # unknown type
    bytes([0, 0, 8, 9]) + bytes(36),                            # 9 dimensions
    bytes([0, 1, 8, 1]),                                        # bad magic
    b"\x1f\x8b",                                                # gzip magic only
    b"\x00",
], ids=["huge-claim", "truncated", "trailing", "type", "ndim", "magic", "gzip-magic", "short"])
def test_idx_malformed_is_valueerror_starting_with_the_path(tmp_path, blob):
    path = tmp_path / "bad.idx"
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=f"^{path}"):
        sl_idx.read_idx(path)


def test_idx_gzip_bomb_claim_is_rejected_before_decompressing(tmp_path):
    import gzip

    path = tmp_path / "bomb.idx.gz"
    path.write_bytes(gzip.compress(idx_header(0x08, (2 ** 31,)) + bytes(1000)))
    with pytest.raises(ValueError, match=f"^{path}"):
        sl_idx.read_idx(path)


# ---------------------------------------------------------------------------
# vgg16(weights=x.npz)


@pytest.mark.parametrize("case", ["bad-crc", "lone-npy", "huge-claim"])
def test_vgg16_damaged_npz_is_valueerror(tmp_path, case):
    path = tmp_path / "vgg.npz"
    if case == "bad-crc":
        write_zip(path, [("features.0.weight.npy", npy_bytes(np.ones((64, 3, 3, 3), np.float32)))])
        data = bytearray(path.read_bytes())
        data[200] ^= 0xFF
        path.write_bytes(bytes(data))  # BadZipFile today
    elif case == "lone-npy":
        path.write_bytes(npy_bytes(np.zeros(3, np.float32)))  # TypeError today
    else:
        write_zip(path, [("features.0.weight.npy", npy_with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }"))])
    assert_valueerror_naming(path, sl.models.vgg16)


@pytest.mark.parametrize("case", ["not-a-zip", "nan-weights"])
def test_vgg16_bad_npz_valueerror_names_the_file(tmp_path, case):
    path = tmp_path / "vgg.npz"
    if case == "not-a-zip":
        path.write_bytes(b"garbage!")
    else:
        write_zip(path, [
            ("features.0.weight.npy", npy_bytes(np.full((64, 3, 3, 3), np.nan, np.float32))),
            ("features.0.bias.npy", npy_bytes(np.zeros(64, np.float32)))])
    assert_valueerror_naming(path, sl.models.vgg16)


def test_vgg16_missing_and_misshapen_parameters_name_the_file(tmp_path):
    path = write_zip(tmp_path / "vgg.npz", [
        ("features.0.weight.npy", npy_bytes(np.ones((64, 3, 3, 3), np.float32))),
        ("features.0.bias.npy", npy_bytes(np.zeros(64, np.float32)))])
    assert_valueerror_naming(path, sl.models.vgg16)  # features.2.weight missing
    write_zip(path, [("features.0.weight.npy", npy_bytes(np.ones((64, 3, 3), np.float32)))])
    assert_valueerror_naming(path, sl.models.vgg16)


def test_vgg16_missing_file_is_filenotfounderror(tmp_path):
    with pytest.raises(FileNotFoundError):
        sl.models.vgg16(tmp_path / "absent.npz")


def test_readers_missing_file_is_filenotfounderror(tmp_path):
    with pytest.raises(FileNotFoundError):
        sl.load(tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError):
        sl_idx.read_idx(tmp_path / "absent.idx")


def test_fuzz_out_dir_is_ignored_by_git():
    assert "out/" in (FUZZ / ".gitignore").read_text().split()


def test_run_py_help_works_without_fuzzing():
    out = subprocess.run([sys.executable, str(FUZZ / "run.py"), "--help"], capture_output=True,
                         text=True, check=True)
    assert "--time" in out.stdout and "--update-corpus" in out.stdout

