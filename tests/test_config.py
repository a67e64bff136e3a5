"""sl.config() and sl.show_config(): the machine the C core runs on, its
caches (read once by runtime/caches.c) and its block sizes."""
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
    assert c["best_isa"] in ("portable", "avx2", "avx512")
    assert c["block_sizes"]["product_kc"] > 0 and c["block_sizes"]["product_nb"] > 0
    out = io.StringIO()
    sl.show_config(file=out)
    text = out.getvalue()
    assert f"semiring_lrp {sl.__version__}" in text
    assert "caches           L1d 48 KiB, L2 2 MiB per core, L3 480 MiB (from set)" in text
    assert f"instruction set  {c['isa']} (best: {c['best_isa']})" in text
    assert "product_shared_b 64 MiB" in text and "winograd_one_pass_bytes 1 MiB" in text
    _core._testing.set_cache_sizes(32768, 1 << 20, 0)
    out = io.StringIO()
    sl.show_config(file=out)
    assert "L1d 32 KiB, L2 1 MiB per core, L3 unknown (from set)" in out.getvalue()
