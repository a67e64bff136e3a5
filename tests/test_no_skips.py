"""SEMIRING_LRP_NO_SKIPS=1 turns every skip into a failure naming its reason
(tests/conftest.py): pytest runs on tiny test files beside a copy of the
suite's conftest.py, once with the variable and once without."""
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

SKIPPING_TESTS = '''
import pytest

def test_skips_in_its_body():
    pytest.skip("reason one")

@pytest.mark.skipif(True, reason="reason two")
def test_marked_to_skip():
    pass

@pytest.fixture
def missing_data():
    pytest.skip("reason three")

def test_with_a_skipping_fixture(missing_data):
    pass

@pytest.mark.xfail(strict=True, reason="an expected failure is no skip")
def test_expected_to_fail():
    assert False

def test_passes():
    pass
'''
SKIPPING_MODULE = '''
import pytest

pytest.importorskip("no_module_of_this_name")

def test_never_collected():
    pass
'''


def run_pytest(folder, test_file, no_skips):
    env = {key: value for key, value in os.environ.items() if key != "SEMIRING_LRP_NO_SKIPS"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if no_skips:
        env["SEMIRING_LRP_NO_SKIPS"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", test_file],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def write_folder(folder):
    (folder / "conftest.py").write_text((REPO_ROOT / "tests" / "conftest.py").read_text())
    (folder / "test_skipping.py").write_text(SKIPPING_TESTS)
    (folder / "test_skipping_module.py").write_text(SKIPPING_MODULE)


def test_skips_fail_with_their_reasons(tmp_path):
    write_folder(tmp_path)
    status, output = run_pytest(tmp_path, "test_skipping.py", no_skips=True)
    assert status == 1, output
    for reason in ("reason one", "reason two", "reason three"):
        assert f"was skipped: {reason}" in output, output
    assert "SEMIRING_LRP_NO_SKIPS=1 and test test_skipping.py::test_marked_to_skip" in output
    # a skip in the test's body fails it; one in its setup is an error of the setup
    assert "1 failed, 1 passed, 1 xfailed, 2 errors" in output, output

    status, output = run_pytest(tmp_path, "test_skipping_module.py", no_skips=True)
    assert status != 0, output
    assert "module test_skipping_module.py was skipped" in output, output
    assert "no_module_of_this_name" in output, output


def test_skips_stay_skips_without_the_variable(tmp_path):
    write_folder(tmp_path)
    status, output = run_pytest(tmp_path, "test_skipping.py", no_skips=False)
    assert status == 0, output
    assert "1 passed, 3 skipped, 1 xfailed" in output, output
    status, output = run_pytest(tmp_path, "test_skipping_module.py", no_skips=False)
    assert status == 5 and "1 skipped" in output, output  # 5: no test ran
