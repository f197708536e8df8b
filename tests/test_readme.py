"""Every ```python block of README.md runs on its own: each in a fresh namespace, in a temporary
working folder, so that a block that needs a name from an earlier one fails here
(docs/architecture.md §8)."""

import pathlib
import re

import pytest

from tests.torch_threads import one_torch_thread  # noqa: F401

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> list[tuple[int, str]]:
    """(first line number, code) of each python block."""
    text = README.read_text()
    return [
        (text.count("\n", 0, match.start(1)) + 1, match[1])
        for match in re.finditer(r"```python\n(.*?)```", text, flags=re.S)
    ]


def test_readme_has_code():
    assert len(_blocks()) >= 3


def test_the_readme_opens_with_the_commands_ci_runs():
    text = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    first_section = text.index("\n## ")
    for command in (
        'python -m pip install -e ".[dev]" && python -m catlayer',
        "HYPOTHESIS_PROFILE=ci python -m pytest -n 2",
    ):
        assert command in text[:first_section], command
    assert "HYPOTHESIS_PROFILE=ci python -m pytest -n 2" in ci
    assert text[first_section:].startswith("\n## Quick start")


@pytest.mark.parametrize(("line", "block"), _blocks(), ids=[f"line{line}" for line, _ in _blocks()])
def test_readme_code_block_runs_on_its_own(line, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "import torch" in block:
        pytest.importorskip("torch")
    namespace: dict = {"__name__": f"readme_line{line}"}
    try:
        exec(compile(block, f"README.md line {line}", "exec"), namespace)
    except Exception as error:  # pragma: no cover - the message is the point
        raise AssertionError(f"README.md code block at line {line} failed:\n{block}") from error
