import sys
from pathlib import Path

import pytest

# tests import their helpers (reference.py) from this folder
sys.path.insert(0, str(Path(__file__).parent))

MNIST_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist").resolve()


@pytest.fixture(scope="session")
def mnist_dir():
    return MNIST_DIR
