"""The array pool: memory of the arrays a pass makes, kept for the next.

A pass writes many large arrays (activations, denominators, relevance of
every layer) and drops most of them again. Freed, their memory went back to
the operating system, and the next pass paid for fresh pages: page faults
and the kernel zeroing each page, 7-9% of a real VGG-16 pass at batch 1. While
a pass of semiring_lrp runs, NumPy allocates from a pool instead, which
keeps freed blocks of 1 MiB or more, up to a limit in all, and hands them out
again. Unless set, the limit is an eighth of the memory the process may use
(the physical memory, or its cgroup's limit where that is less), 512 MiB at
least: a VGG-16 pass at batch 8 frees about 1.7 GiB that the next pass
needs again. Blocks of 4 MiB and more ask Linux for huge pages, as NumPy's
own allocator does. Arrays made in a pass and kept by you
(relevance, hidden-layer relevance) return their memory to the pool when
freed. Memory held by the pool is not available to the rest of the
process: lower the limit or clear the pool to give it back.
"""
import contextlib
import sys

from . import _core
from ._integers import as_int


def array_pool_bytes():
    """Bytes the pool keeps for reuse now."""
    return _core.array_pool_held()


def array_pool_limit():
    """The most bytes the pool keeps."""
    return _core.array_pool_limit()


def default_array_pool_limit():
    """The limit until one is set: `usable_memory()` // 8, 512 MiB at least."""
    return _core.array_pool_default_limit()


def usable_memory():
    """Bytes of memory this process may use: the physical memory, or the
    limit of its cgroup (a container's) where that is less; 0 where neither
    is known."""
    return _core.usable_memory()


def set_array_pool_limit(nbytes):
    """Keep at most `nbytes` (an int, 0 for none); frees kept blocks past it."""
    _core.set_array_pool_limit(as_int(nbytes, "the array pool's limit", 0, sys.maxsize))


def clear_array_pool():
    """Frees every block the pool keeps."""
    _core.clear_array_pool()


@contextlib.contextmanager
def pooled_arrays():
    """NumPy allocates from the pool inside this block (in this thread or
    task only: the handler is a context variable)."""
    previous = _core.use_array_pool()
    try:
        yield
    finally:
        _core.restore_array_handler(previous)
