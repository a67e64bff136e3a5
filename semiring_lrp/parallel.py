"""Threads and instruction sets of the C core.

Every pass splits its work over `get_num_threads()` threads: the calling
thread and workers of a pool the C core starts on first use and keeps
asleep between passes. The pool runs one caller's pass at a time; a pass
another Python thread makes meanwhile gets threads of its own, joined before
it returns. A forked child starts with an empty pool, so `os.fork` stays
safe. Results do not depend on the count: each output is computed by one
thread, in one fixed order.

The default count comes from the environment, first match wins:
SEMIRING_LRP_NUM_THREADS, then OMP_NUM_THREADS (as PyTorch and NumPy's BLAS
read it), then the CPUs this process may run on. A variable that holds no
count from 1 to 1024 (0, "-2", "many") gives a RuntimeWarning naming it and
the default is used, as NumPy and PyTorch import with such values.

SEMIRING_LRP_ISA forces the kernels' instruction set: portable, avx2 or
avx512 on x86-64, portable or neon on aarch64 (default: the best the CPU
supports); `instruction_set()` tells which runs.
"""
from __future__ import annotations

import os
import warnings

from . import _core
from ._integers import as_int

__all__ = ["set_num_threads", "get_num_threads", "instruction_set"]

_ENV_THREADS = ("SEMIRING_LRP_NUM_THREADS", "OMP_NUM_THREADS")
_ENV_ISA = "SEMIRING_LRP_ISA"
MAX_THREADS = 1024  # the C core's limit


def set_num_threads(n):
    """Use n threads (an int from 1 to 1024; NumPy integers too) in every
    later pass. A bool or float is a TypeError, a count outside the range a
    ValueError."""
    _core.set_num_threads(as_int(n, "the thread count", 1, MAX_THREADS))


def get_num_threads():
    """The number of threads a pass uses."""
    return _core.num_threads()


def instruction_set():
    """'avx512', 'avx2', 'neon' or 'portable': the kernels in use."""
    return _core.isa()


def _available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _default_threads():
    return min(_available_cpus(), MAX_THREADS)


def _env_count(name, value):
    """The thread count a variable's value gives, or None (with a
    RuntimeWarning naming the variable) if it gives none."""
    # OMP_NUM_THREADS may list counts per nesting level ("4,2"): the first applies
    first = value.split(",")[0].strip()
    try:
        count = int(first)
    except ValueError:
        count = None
    if count is None or not 1 <= count <= MAX_THREADS:
        # NumPy and torch import with such a value: so does this package
        warnings.warn(f"{name}={value!r} is not a thread count from 1 to {MAX_THREADS}; "
                      f"semiring_lrp uses {_default_threads()} threads (the CPUs available)",
                      RuntimeWarning, stacklevel=2)
        return None
    return count


def _threads_from_environment(environ):
    """The first set variable of _ENV_THREADS decides; one that gives no
    valid count is warned about and the default used."""
    for name in _ENV_THREADS:
        value = environ.get(name, "").strip()
        if value:
            count = _env_count(name, value)
            return _default_threads() if count is None else count
    return _default_threads()


def _configure(environ=os.environ):
    _core.set_num_threads(_threads_from_environment(environ))
    isa = environ.get(_ENV_ISA, "").strip()
    if isa:
        try:
            _core.set_isa(isa)
        except ValueError as error:
            raise ValueError(f"{_ENV_ISA}={isa!r}: {error}") from None


_configure()
