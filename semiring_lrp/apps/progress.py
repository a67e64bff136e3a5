"""The optional progress bar of long reductions: tqdm's, counting images.

tqdm is an optional dependency (the `progress` extra): without it there is
no bar and no error.
"""
from __future__ import annotations

import sys

__all__ = ["progress_bar"]


class _NoBar:
    """Stands in for a bar that is not shown."""

    def update(self, n=1):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def progress_bar(total, enabled=None, desc="relevance", unit="img"):
    """A bar over `total` items (images by default) on stderr, used as a
    context manager with `update(n)`. enabled None: when stderr is a
    terminal; True: always (if tqdm is installed); False: never."""
    if enabled is None:
        enabled = _is_terminal(sys.stderr)
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr,
                dynamic_ncols=True)


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False
