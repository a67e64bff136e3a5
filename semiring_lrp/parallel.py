"""Threads and instruction sets of the C core.

Every pass splits its work over `get_num_threads()` threads, started for the
call and joined before it returns (the core keeps no threads between calls,
so `os.fork` stays safe). Results do not depend on the count: each output is
computed by one thread, in one fixed order.

The default count comes from the environment, first match wins:
SEMIRING_LRP_NUM_THREADS, then OMP_NUM_THREADS (as PyTorch and NumPy's BLAS
read it), then the CPUs this process may run on.

SEMIRING_LRP_ISA=portable|avx2|avx512 forces the kernels' instruction set
(default: the best the CPU supports); `instruction_set()` tells which runs.
"""
from __future__ import annotations

import os

from . import _core

__all__ = ["set_num_threads", "get_num_threads", "instruction_set"]

_ENV_THREADS = ("SEMIRING_LRP_NUM_THREADS", "OMP_NUM_THREADS")
_ENV_ISA = "SEMIRING_LRP_ISA"


def set_num_threads(n):
    """Use n threads (1 to 1024) in every later pass."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"the thread count must be an int, not {n!r}")
    _core.set_num_threads(n)


def get_num_threads():
    """The number of threads a pass uses."""
    return _core.num_threads()


def instruction_set():
    """'avx512', 'avx2' or 'portable': the kernels in use."""
    return _core.isa()


def _available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _threads_from_environment(environ):
    for name in _ENV_THREADS:
        value = environ.get(name, "").strip()
        if not value:
            continue
        # OMP_NUM_THREADS may list counts per nesting level ("4,2"): the first applies
        first = value.split(",")[0].strip()
        try:
            count = int(first)
        except ValueError:
            raise ValueError(f"{name}={value!r} is not a thread count") from None
        if not 1 <= count <= 1024:
            raise ValueError(f"{name}={value!r}: the thread count must be 1 to 1024")
        return count
    return min(_available_cpus(), 1024)


def _configure(environ=os.environ):
    _core.set_num_threads(_threads_from_environment(environ))
    isa = environ.get(_ENV_ISA, "").strip()
    if isa:
        try:
            _core.set_isa(isa)
        except ValueError as error:
            raise ValueError(f"{_ENV_ISA}={isa!r}: {error}") from None


_configure()
