"""Every ```python block of README.md runs, in order, in one namespace (docs/architecture.md §8)."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_code():
    assert len(_blocks()) >= 3


def test_readme_code_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for index, block in enumerate(_blocks()):
        if "import torch" in block:
            pytest.importorskip("torch")
        try:
            exec(compile(block, f"README.md block {index}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the message is the point
            raise AssertionError(f"README code block {index} failed:\n{block}") from error
