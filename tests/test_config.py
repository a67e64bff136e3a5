"""sl.config() and sl.show_config(): the machine the C core runs on, its
caches (read once by runtime/caches.c) and its block sizes."""
import importlib
import io
from pathlib import Path

import pytest

import semiring_lrp as sl
from semiring_lrp import _core

SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")


def sysfs_caches():
    """cpu0's data caches as Linux lists them, read here independently."""
    found = {}
    for index in sorted(SYSFS.glob("index*")):
        level = (index / "level").read_text().strip()
        kind = (index / "type").read_text().strip()
        size = (index / "size").read_text().strip()
        if kind == "Instruction":
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        bytes_ = int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
        found[{"1": "l1d", "2": "l2", "3": "l3"}[level]] = bytes_
    return found


@pytest.fixture
def restore_caches():
    yield
    _core._testing.set_cache_sizes(0, 0, 0)


@pytest.mark.skipif(not SYSFS.is_dir(), reason="no /sys/devices/system/cpu/cpu0/cache (not Linux)")
def test_the_caches_are_linuxs():
    caches = _core.cache_sizes()
    want = sysfs_caches()
    assert caches["source"] == "sysfs"
    assert {key: caches[key] for key in want} == want
    assert caches["l1d"] >= 4096 and caches["l2"] > caches["l1d"]


def test_set_cache_sizes_reports_them_and_zero_reads_the_cpu_again(restore_caches):
    detected = _core.cache_sizes()
    _core._testing.set_cache_sizes(32768, 1 << 20, 0)
    assert _core.cache_sizes() == {"l1d": 32768, "l2": 1 << 20, "l3": 0, "source": "set"}
    _core._testing.set_cache_sizes(0, 0, 0)
    assert _core.cache_sizes() == detected
    with pytest.raises(ValueError, match="at least 0"):
        _core._testing.set_cache_sizes(-1, 0, 0)


def test_config_and_show_config_say_the_same(restore_caches):
    _core._testing.set_cache_sizes(49152, 2 << 20, 480 << 20)
    c = sl.config()
    assert c["isa"] == sl.instruction_set() and c["threads"] == sl.get_num_threads()
    assert c["best_isa"] in ("portable", "avx2", "avx512", "neon")
    assert c["block_sizes"]["product_kc"] > 0 and c["block_sizes"]["product_nb"] > 0
    out = io.StringIO()
    sl.show_config(file=out)
    text = out.getvalue()
    assert f"semiring_lrp {sl.__version__}" in text
    assert "caches           L1d 48 KiB, L2 2 MiB per core, L3 480 MiB (from set)" in text
    assert f"instruction set  {c['isa']} (best: {c['best_isa']})" in text
    assert ("block sizes      product_kc 256, product_nb 256, product_shared_b 64 MiB, "
            "winograd_one_pass_bytes 2 MiB, winograd_wide_bytes 60 MiB, "
            "sparse_max_chunk 32") in text
    assert c["usable_memory"] == sl.memory.usable_memory()
    assert c["array_pool_limit"] == sl.memory.array_pool_limit()
    limit = sl.memory.array_pool_limit()
    try:
        sl.memory.set_array_pool_limit(3 << 29)
        out = io.StringIO()
        sl.show_config(file=out)
    finally:
        sl.memory.set_array_pool_limit(limit)
    assert "\narray pool       up to 1.5 GiB of " in out.getvalue()
    _core._testing.set_cache_sizes(32768, 1 << 20, 0)
    out = io.StringIO()
    sl.show_config(file=out)
    assert "L1d 32 KiB, L2 1 MiB per core, L3 unknown (from set)" in out.getvalue()


# (L1d, L2) -> (inner chunk, columns per item, Winograd one-pass bytes),
# with L1d counted up to 32 KiB and L2 up to 1 MiB for the products: chunk =
# L1d / 128 (a B panel of an AVX-512 float tile's 32 columns fills L1d) in
# steps of 16 within [64, 1024]; columns = L2 / (16 chunk) (a float panel
# fills a quarter of L2) in steps of 32 within [64, 4096]; one-pass bytes =
# the whole L2, at least 256 KiB; a wide Winograd block's bytes = L3 / 8, 0
# where L3 is unknown
@pytest.mark.parametrize("l1d, l2, l3, want", [
    (32768, 1 << 20, 32 << 20, (256, 256, 1 << 20, 4 << 20, 16)),  # an AMD EPYC
    (49152, 2 << 20, 480 << 20, (256, 256, 2 << 20, 60 << 20, 32)),  # an Intel Xeon
    (32768, 512 << 10, 0, (256, 128, 512 << 10, 0, 16)),
    (16384, 256 << 10, 8 << 20, (128, 128, 256 << 10, 1 << 20, 16)),
    (4096, 64 << 10, 1 << 20, (64, 64, 256 << 10, 128 << 10, 16)),  # below every floor
])
def test_block_sizes_follow_the_caches(l1d, l2, l3, want, restore_caches):
    _core._testing.set_cache_sizes(l1d, l2, l3)
    blocks = _core.block_sizes()
    assert (blocks["product_kc"], blocks["product_nb"], blocks["winograd_one_pass_bytes"],
            blocks["winograd_wide_bytes"], blocks["sparse_max_chunk"]) == want


def test_cpu_id_names_the_design_beside_the_model_name():
    config_module = importlib.import_module("semiring_lrp.config")  # sl.config is the function
    x86 = {"processor": "0", "cpu family": "25", "model": "17", "model name": "AMD EPYC",
           "stepping": "1"}
    assert config_module._cpu_id(x86) == "family 25, model 17, stepping 1"
    assert config_module._cpu_model(x86) == "AMD EPYC"
    arm = {"processor": "0", "CPU implementer": "0x41", "CPU architecture": "8",
           "CPU variant": "0x3", "CPU part": "0xd0c"}
    assert config_module._cpu_id(arm) == "implementer 0x41, part 0xd0c, variant 0x3"
    assert config_module._cpu_id({}) == ""


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="no /proc/cpuinfo (not Linux)")
def test_config_reads_the_first_processors_identity():
    first = {}
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "processor" and first:
            break
        first.setdefault(key, value)
    c = sl.config()
    if "cpu family" in first:
        want = f"family {first['cpu family']}, model {first['model']}, stepping {first['stepping']}"
    else:
        want = ", ".join(f"{name} {first[key]}" for key, name in (
            ("CPU implementer", "implementer"), ("CPU part", "part"), ("CPU variant", "variant"))
            if first.get(key))
    assert c["cpu_id"] == want
    out = io.StringIO()
    sl.show_config(file=out)
    shown = f"({c['machine']}; {want})" if want else f"({c['machine']})"
    assert f"CPU              {c['cpu'] or 'unknown'} {shown}\n" in out.getvalue()
