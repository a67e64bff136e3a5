"""Every error a user causes ends `semiring-lrp` with one line
`semiring-lrp: error: ...` on stderr and status 2 (130 for Ctrl-C), for each
subcommand: bad files, lack of memory, malformed archives and pickles. A bug
(AttributeError, AssertionError) keeps its traceback."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from semiring_lrp import cli, cli_mask, cli_perturb, cli_prune
from semiring_lrp.cli import main

REPO = Path(__file__).resolve().parents[1]

# per subcommand: the arguments of a cheap run, and the function of the
# command's module that a failure is injected into (its first costly step)
COMMANDS = {
    "explain": (["explain"], cli, "_mnist_case"),
    "mask": (["mask", "--limit", "5", "--no-progress"], cli_mask, "_model_and_data"),
    "prune": (["prune", "--no-progress"], cli_prune, "mnist_network"),
    "perturb": (["perturb", "--limit", "5", "--no-progress"], cli_perturb, "mnist_network"),
}


def _one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("semiring-lrp: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _raising(exc):
    def fail(*args, **kwargs):
        raise exc
    return fail


def _run(capsys, args):
    status = main(args)
    out, err = capsys.readouterr()
    return status, err


def _huge_allocation(*args, **kwargs):
    # NumPy's own MemoryError: 4 EiB asked for
    return np.empty(2 ** 62, dtype=np.uint8)


def _run_with_failure(tmp_path, monkeypatch, capsys, command, replacement):
    """(status, the one error line) of `command` whose work is `replacement`."""
    args, module, function = COMMANDS[command]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(module, function, replacement)
    status, err = _run(capsys, args)
    return status, _one_error_line(err)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_memory_error_is_one_line_naming_the_command(tmp_path, monkeypatch, capsys, command):
    status, line = _run_with_failure(tmp_path, monkeypatch, capsys, command, _huge_allocation)
    assert status == 2
    assert f"not enough memory for semiring-lrp {command}: Unable to allocate" in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_memory_error_without_a_message_still_says_what(tmp_path, monkeypatch, capsys, command):
    status, line = _run_with_failure(tmp_path, monkeypatch, capsys, command,
                                     _raising(MemoryError()))
    assert status == 2
    assert line == (f"semiring-lrp: error: not enough memory for semiring-lrp "
                    f"{command}: an allocation failed")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_ctrl_c_is_status_130_and_one_line(tmp_path, monkeypatch, capsys, command):
    status, line = _run_with_failure(tmp_path, monkeypatch, capsys, command,
                                     _raising(KeyboardInterrupt()))
    assert status == 130
    assert line == f"semiring-lrp: error: semiring-lrp {command} interrupted"


MALFORMED = [EOFError("Ran out of input"), zipfile.BadZipFile("File is not a zip file"),
             pickle.UnpicklingError("invalid load key, 'x'."),
             UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
             PermissionError(13, "Permission denied", "model.npz"),
             IsADirectoryError(21, "Is a directory", "weights.pth")]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("exc", MALFORMED, ids=lambda e: type(e).__name__)
def test_malformed_file_errors_are_one_line(tmp_path, monkeypatch, capsys, command, exc):
    args, module, function = COMMANDS[command]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(module, function, _raising(exc))
    status, err = _run(capsys, args)
    assert status == 2
    line = _one_error_line(err)
    if isinstance(exc, OSError):
        # the file first, then what is wrong with it
        assert line == f"semiring-lrp: error: {exc.filename}: {exc.strerror}"
    else:
        assert str(exc) in line


def test_image_bomb_error_is_one_line(tmp_path, monkeypatch, capsys):
    from PIL import Image
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_mnist_case", _raising(Image.DecompressionBombError(
        "Image size (400000000 pixels) exceeds limit")))
    status, err = _run(capsys, ["explain"])
    assert status == 2
    assert "exceeds limit" in _one_error_line(err)


@pytest.mark.parametrize("bug", [AttributeError("no attribute 'x'"), AssertionError("bad")],
                         ids=lambda e: type(e).__name__)
def test_bugs_keep_their_traceback(tmp_path, monkeypatch, bug):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_mnist_case", _raising(bug))
    with pytest.raises(type(bug)):
        main(["explain"])


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_folder_as_model_names_it(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "net.npz"
    folder.mkdir()
    args = COMMANDS[command][0] + ["--model", str(folder)]
    status, err = _run(capsys, args)
    assert status == 2
    assert _one_error_line(err) == f"semiring-lrp: error: {folder}: is a folder, not a network file"


def test_unwritable_output_names_the_file_first(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "missing" / "x.png"
    status, err = _run(capsys, ["explain", "--output", str(target)])
    assert status == 2
    assert _one_error_line(err) == f"semiring-lrp: error: {target}: No such file or directory"


# ---------------------------------------------------------------- real processes

def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("DISPLAY", None)
    return env


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_garbage_model_file_in_a_subprocess(tmp_path, command):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"neither a zip archive nor a pickle" * 10)
    args = COMMANDS[command][0] + ["--model", str(bad)]
    done = subprocess.run([sys.executable, "-m", "semiring_lrp", *args], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert _one_error_line(done.stderr).startswith(f"semiring-lrp: error: {bad}: ")


@pytest.mark.parametrize("exc, status", [("MemoryError", 2), ("KeyboardInterrupt", 130)])
def test_memory_error_and_ctrl_c_in_a_subprocess(tmp_path, exc, status):
    code = ("import sys, semiring_lrp.cli as c\n"
            "def fail(*a, **k):\n"
            f"    raise {exc}()\n"
            "c._mnist_case = fail\n"
            "sys.exit(c.main(['explain']))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == status, done.stderr
    _one_error_line(done.stderr)


def test_an_image_that_is_a_folder_is_named_as_a_folder(tmp_path, capsys):
    folder = tmp_path / "digit.png"
    folder.mkdir()
    status, err = _run(capsys, ["explain", "--image", str(folder),
                                "--output", str(tmp_path / "out.png")])
    assert status == 2
    assert _one_error_line(err) == (f"semiring-lrp: error: {folder}: --image is a folder, not a "
                                    "file (--images FOLDER explains every image in a folder)")
