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
    """Puts back the thread count, instruction set, sparse-input switch and
    Winograd fusion mode a test changes."""
    threads, isa, sparse = sl.get_num_threads(), _core.isa(), _core.sparse_passes()
    fusion = _core.winograd_fusion()
    yield
    sl.set_num_threads(threads)
    _core.set_isa(isa)
    _core.set_sparse_passes(sparse)
    _core.set_winograd_fusion(fusion)
