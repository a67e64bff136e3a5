"""The extension's symbols: the module exports PyInit__core alone, and every
function of the C core with external linkage is spelled out in csrc/, so that
grep finds what a profiler or debugger names (a name pasted together by a
macro is found by neither). Reads the built .so with binutils and its debug
information, through tools/list_symbols.py (which writes csrc/SYMBOLS.txt).
Static functions may differ between compilers and are not checked."""
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import semiring_lrp._core as core
from conftest import SOURCE_TREE

SO = Path(core.__file__)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not (shutil.which("nm") and shutil.which("readelf")),
    reason="reads an ELF shared object with binutils")


@pytest.fixture(scope="module")
def list_symbols():
    """tools/list_symbols.py of the checkout, as a module."""
    if SOURCE_TREE is None:
        pytest.skip("needs the checkout's csrc/ and tools/ (the tests run beside an "
                    "installed package)")
    spec = importlib.util.spec_from_file_location(
        "list_symbols", SOURCE_TREE / "tools" / "list_symbols.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def functions(list_symbols):
    found = list_symbols.dwarf_functions(SO)
    if not found:
        pytest.skip("the extension was built without debug information (-g)")
    return found


def external_names(functions):
    return {name for name, external, _, _ in functions if external}


def test_the_module_exports_only_its_init_function():
    out = subprocess.run(["nm", "-D", "--defined-only", str(SO)], capture_output=True,
                         text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert names == {"PyInit__core"}


def test_every_external_function_is_spelled_out_in_csrc(functions):
    words = set()
    for path in (SOURCE_TREE / "csrc").rglob("*.[ch]"):
        words.update(re.findall(r"\w+", path.read_text()))
    missing = sorted(external_names(functions) - words)
    assert not missing, f"functions whose name no file of csrc/ spells out: {missing}"


def test_the_reader_tells_external_functions_from_static_ones(functions):
    external = external_names(functions)
    static = {name for name, is_external, _, _ in functions if not is_external}
    # every function lrp.h declares is defined with external linkage
    declared = set(re.findall(r"\b(lrp_\w+)\(", (SOURCE_TREE / "csrc" / "lrp.h").read_text()))
    assert declared and declared <= external, sorted(declared - external)
    # the products' entry point is external, their worker task static
    assert {"product_run_f32", "product_run_f64"} <= external
    assert "product_task_f32" in static and "product_task_f32" not in external
