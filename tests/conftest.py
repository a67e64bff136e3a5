import sys
from pathlib import Path

import pytest

import semiring_lrp as sl
from semiring_lrp import _core

# tests import their helpers (reference.py) from this folder
sys.path.insert(0, str(Path(__file__).parent))

MNIST_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist").resolve()


@pytest.fixture(scope="session")
def mnist_dir():
    return MNIST_DIR


@pytest.fixture
def restore_kernels():
    """Puts back the thread count and instruction set a test changes."""
    threads, isa = sl.get_num_threads(), _core.isa()
    yield
    sl.set_num_threads(threads)
    _core.set_isa(isa)
