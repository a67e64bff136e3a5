"""What machine the C core runs on and how it is set up: `config()` as a
dict (the benchmarks record it beside their figures), `show_config()` as
text.

    >>> sl.show_config()
    semiring_lrp 0.1.0, NumPy 2.4.6, Python 3.11.7
    CPU              AMD EPYC (x86_64; family 25, model 17, stepping 1)
    instruction set  avx512 (best: avx512)
    threads          2
    caches           L1d 32 KiB, L2 1 MiB per core, L3 32 MiB (from sysfs)
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


# the fields of /proc/cpuinfo that tell one CPU design from another where the
# model name does not (a virtual machine's "AMD EPYC" names several): x86's
# family, model and stepping; ARM's implementer, part and variant
_CPU_ID_FIELDS = (("cpu family", "family"), ("model", "model"), ("stepping", "stepping"),
                  ("CPU implementer", "implementer"), ("CPU part", "part"),
                  ("CPU variant", "variant"))


def _read_cpuinfo():
    """Each field of /proc/cpuinfo at its first appearance, which is the first
    processor's ({} where there is no such file). The whole file is read:
    ARM lists "Hardware" once, after every processor."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, colon, value = line.partition(":")
                if colon:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def _cpu_model(fields):
    """The CPU's model name as the OS gives it ('' where it does not)."""
    for key in ("model name", "Model", "Hardware"):
        if fields.get(key):
            return fields[key]
    return platform.processor()


def _cpu_id(fields):
    """'family 25, model 17, stepping 1' (x86) or 'implementer 0x41, part
    0xd0c, variant 0x3' (ARM): the identity fields the OS gives, '' if none."""
    return ", ".join(f"{name} {fields[key]}" for key, name in _CPU_ID_FIELDS if fields.get(key))


def config():
    """{'version', 'numpy', 'python', 'machine' (as `platform.machine()`),
    'cpu' (the model name, '' if the OS gives none), 'cpu_id' (family,
    model and stepping on x86, implementer, part and variant on ARM, as
    /proc/cpuinfo gives them; '' elsewhere), 'isa' (in use),
    'best_isa', 'threads', 'caches' ({'l1d', 'l2', 'l3': bytes, 0 where
    unknown; 'source'}), 'block_sizes' (the C core's), 'usable_memory' and
    'array_pool_limit' (bytes; `semiring_lrp.memory`)}."""
    from . import __version__

    cpuinfo = _read_cpuinfo()
    return {"version": __version__, "numpy": np.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "cpu": _cpu_model(cpuinfo), "cpu_id": _cpu_id(cpuinfo), "isa": instruction_set(),
            "best_isa": _core._testing.best_isa(),
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
             f"CPU              {c['cpu'] or 'unknown'} "
             f"({'; '.join(filter(None, (c['machine'], c['cpu_id'])))})",
             f"instruction set  {c['isa']} (best: {c['best_isa']})",
             f"threads          {c['threads']}",
             f"caches           L1d {_bytes(caches['l1d'])}, L2 {_bytes(caches['l2'])} per core, "
             f"L3 {l3} (from {caches['source']})",
             f"block sizes      {blocks}",
             f"array pool       up to {_bytes(c['array_pool_limit'])} of "
             f"{_bytes(c['usable_memory']) if c['usable_memory'] else 'unknown'} usable memory"]
    print("\n".join(lines), file=file if file is not None else sys.stdout)
