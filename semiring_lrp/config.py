"""What machine the C core runs on and how it is set up: `config()` as a
dict (the benchmarks record it beside their figures), `show_config()` as
text.

    >>> sl.show_config()
    semiring_lrp 0.1.0, NumPy 2.4.6, Python 3.11.7
    CPU              Intel(R) Xeon(R) Processor (x86_64)
    instruction set  avx512 (best: avx512)
    threads          2
    caches           L1d 48 KiB, L2 2 MiB per core, L3 480 MiB (from sysfs)
    block sizes      product_kc 256, product_nb 256, product_shared_b 64 MiB, ...
    array pool       up to 2.94 GiB of 23.5 GiB usable memory

The cache sizes come from Linux's sysfs, else glibc's sysconf, else
CPUID (x86), else a default of 32 KiB, 512 KiB and 8 MiB ("default").
"""
from __future__ import annotations

import platform
import sys

import numpy as np

from . import _core
from .parallel import get_num_threads, instruction_set

__all__ = ["config", "show_config"]


def _cpu_model():
    """The CPU's model name as the OS gives it ('' where it does not)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor()


def config():
    """{'version', 'numpy', 'python', 'machine' (as `platform.machine()`),
    'cpu' (the model name, '' if the OS gives none), 'isa' (in use),
    'best_isa', 'threads', 'caches' ({'l1d', 'l2', 'l3': bytes, 0 where
    unknown; 'source'}), 'block_sizes' (the C core's), 'usable_memory' and
    'array_pool_limit' (bytes; `semiring_lrp.memory`)}."""
    from . import __version__

    return {"version": __version__, "numpy": np.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "cpu": _cpu_model(), "isa": instruction_set(), "best_isa": _core._testing.best_isa(),
            "threads": get_num_threads(), "caches": _core.cache_sizes(),
            "block_sizes": _core.block_sizes(), "usable_memory": _core.usable_memory(),
            "array_pool_limit": _core.array_pool_limit()}


def _bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:g} B"


def show_config(file=None):
    """Prints `config()` to `file` (default: sys.stdout)."""
    c = config()
    caches = c["caches"]
    l3 = _bytes(caches["l3"]) if caches["l3"] else "unknown"
    blocks = ", ".join(f"{name} {_bytes(value) if name.endswith(('_b', '_bytes')) else value}"
                       for name, value in c["block_sizes"].items())
    lines = [f"semiring_lrp {c['version']}, NumPy {c['numpy']}, Python {c['python']}",
             f"CPU              {c['cpu'] or 'unknown'} ({c['machine']})",
             f"instruction set  {c['isa']} (best: {c['best_isa']})",
             f"threads          {c['threads']}",
             f"caches           L1d {_bytes(caches['l1d'])}, L2 {_bytes(caches['l2'])} per core, "
             f"L3 {l3} (from {caches['source']})",
             f"block sizes      {blocks}",
             f"array pool       up to {_bytes(c['array_pool_limit'])} of "
             f"{_bytes(c['usable_memory']) if c['usable_memory'] else 'unknown'} usable memory"]
    print("\n".join(lines), file=file if file is not None else sys.stdout)
