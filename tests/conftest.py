import os
import sys
from pathlib import Path

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp import _core

# tests import their helpers (reference.py) from this folder
sys.path.insert(0, str(Path(__file__).parent))

# The folder holding the four MNIST IDX files, for the tests that need the
# training split or the original files (CI sets it); None when unset. Tests
# that need the test split alone read the copy shipped in the package.
MNIST_DIR = Path(os.environ["SEMIRING_LRP_MNIST"]) if os.environ.get("SEMIRING_LRP_MNIST") \
    else None
MNIST_SKIP_REASON = ("needs the MNIST training split: set SEMIRING_LRP_MNIST to a folder "
                     "holding the MNIST IDX files")


# SEMIRING_LRP_NO_SKIPS=1 (CI sets it) turns every skip into a failure that
# gives the skip's reason: there, a test that cannot run is a broken setup.
NO_SKIPS = os.environ.get("SEMIRING_LRP_NO_SKIPS") == "1"


def _skip_reason(report):
    """The reason given to the skip; pytest keeps (path, line, "Skipped: reason")."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _fail_skip(report, what):
    """Makes a skipped report a failed one naming the skip's reason
    (expected failures, which pytest also reports as skipped, stay)."""
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (f"SEMIRING_LRP_NO_SKIPS=1 and {what} was skipped: "
                           f"{_skip_reason(report)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip(outcome.get_result(), f"test {item.nodeid}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip(outcome.get_result(), f"module {collector.nodeid}")


# The source checkout around tests/, or None when the tests run from a copy
# beside an installed package (.ci/wheel_tests): scripts/ are tools of the
# checkout, which read semiring_lrp/ and write semiring_lrp/data there.
_ROOT = Path(__file__).resolve().parents[1]
SOURCE_TREE = _ROOT if (_ROOT / "semiring_lrp" / "__init__.py").is_file() else None


@pytest.fixture(scope="session")
def source_scripts():
    """The checkout's scripts/ folder; the test is skipped outside a checkout."""
    if SOURCE_TREE is None:
        pytest.skip("needs the source checkout's scripts/, which read and write "
                    "semiring_lrp/ there (the tests run beside an installed package)")
    return SOURCE_TREE / "scripts"


@pytest.fixture(scope="session")
def mnist_dir():
    """The folder named by SEMIRING_LRP_MNIST; the test is skipped when it is unset."""
    if MNIST_DIR is None:
        pytest.skip(MNIST_SKIP_REASON)
    return MNIST_DIR


@pytest.fixture
def restore_kernels():
    """Puts back the thread count, pieces per thread, instruction set,
    sparse-input switch, sparse max products' first-pass share, Winograd
    fusion mode, composed fast-tier switch, short-tile switch and cache sizes
    a test changes."""
    threads, isa, sparse = sl.get_num_threads(), _core.isa(), _core._testing.sparse_passes()
    pieces = _core._testing.pieces_per_thread()
    lead = _core._testing.sparse_max_lead()
    fusion = _core._testing.winograd_fusion()
    fast = _core._testing.composed_fast_tiers()
    short = _core._testing.short_tiles()
    yield
    sl.set_num_threads(threads)
    _core._testing.set_pieces_per_thread(pieces)
    _core.set_isa(isa)
    _core._testing.set_sparse_passes(sparse)
    _core._testing.set_sparse_max_lead(lead)
    _core._testing.set_winograd_fusion(fusion)
    _core._testing.set_composed_fast_tiers(fast)
    _core._testing.set_short_tiles(short)
    _core._testing.set_cache_sizes(0, 0, 0)


# the shipped models and digits most test files use; a module's own fixture of
# the same name takes precedence
@pytest.fixture(scope="module")
def mlp():
    return sl.models.mnist_mlp()


@pytest.fixture(scope="module")
def cnn():
    return sl.models.mnist_cnn()


@pytest.fixture(scope="module")
def digits():
    """The 20 shipped test digits as the MLP's input (20, 28, 28), and their labels."""
    images, labels = sl.models.mnist_digits()
    return sl.models.mnist_input(images), labels.astype(np.int64)
