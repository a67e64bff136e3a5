"""The worked examples of docs/examples.md run, and their assert lines hold:
every ```python block of the page is executed in order in one namespace.
README.md's python blocks are fragments (they name the user's files and
models) except those marked runnable by the line `<!-- runnable -->` just
before them; those run too, in order in a namespace of their own."""
import os
import re
from pathlib import Path

import matplotlib
import pytest

from conftest import SOURCE_TREE

matplotlib.use("Agg")   # the examples draw figures: no display needed

RUNNABLE_MARK = "<!-- runnable -->"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
MARKED_BLOCK = re.compile(r"^" + re.escape(RUNNABLE_MARK) + r"\n```python\n(.*?)^```",
                          re.S | re.M)


@pytest.fixture(scope="module")
def source_tree():
    """The checkout holding docs/ and README.md; skipped beside an installed package."""
    if SOURCE_TREE is None:
        pytest.skip("needs the source checkout's docs/ and README.md (the tests run beside "
                    "an installed package)")
    return SOURCE_TREE


def python_blocks(text, marked_only=False):
    return (MARKED_BLOCK if marked_only else BLOCK).findall(text)


def run_blocks(blocks, source_name, folder):
    """Executes the blocks in order in one namespace, from `folder` (files
    the examples write land there); a failing block's traceback names it
    as <source_name block i>."""
    namespace = {"__name__": "__docs__"}
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"<{source_name} block {i}>", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def test_examples_page_runs(source_tree, tmp_path):
    blocks = python_blocks((source_tree / "docs" / "examples.md").read_text())
    # explain a digit, its figure, gradient LRP, to_torch, VGG-16 twice, hidden layer, semiring x2
    assert len(blocks) >= 9
    namespace = run_blocks(blocks, "docs/examples.md", tmp_path)
    # the page reached its end: the last example's result exists
    assert "best" in namespace and "MaxPlus" in namespace


def test_readme_runnable_blocks_run(source_tree, tmp_path):
    blocks = python_blocks((source_tree / "README.md").read_text(), marked_only=True)
    assert blocks, f"README.md marks no block {RUNNABLE_MARK}"
    run_blocks(blocks, "README.md", tmp_path)


def test_block_extraction():
    text = ("intro\n```python\na = 1\n```\n\n" + RUNNABLE_MARK +
            "\n```python\nb = 2\nassert b == 2\n```\n```bash\nls\n```\n")
    assert python_blocks(text) == ["a = 1\n", "b = 2\nassert b == 2\n"]
    assert python_blocks(text, marked_only=True) == ["b = 2\nassert b == 2\n"]


def test_a_false_assert_in_a_block_fails(tmp_path):
    # what makes the page's assert lines count: a false one raises, naming its block
    with pytest.raises(AssertionError) as caught:
        run_blocks(["x = 1\n", "assert x == 2\n"], "page", tmp_path)
    assert any("<page block 1>" in entry.frame.code.raw.co_filename for entry in caught.traceback)
