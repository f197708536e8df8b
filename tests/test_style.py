"""Style is part of the suite: ruff (lint and format) over the repository, and mypy over the files
configured in pyproject.toml. The tools are development dependencies (``pip install -e .[dev]``), so
a missing tool fails these tests rather than skipping them."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["catlayer", "tests", "bench", "proofs", "docs"]


def _run(*args: str) -> None:
    """Run ``python -m <args>`` from the repository root; fail with the tool's output unless it
    exits with status 0."""
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        pytest.fail(f"`{' '.join(args)}` exited with status {result.returncode}:\n{output}", pytrace=False)


def test_ruff_check():
    _run("ruff", "check", *PATHS)


def test_ruff_format():
    _run("ruff", "format", "--check", *PATHS)


def test_mypy():
    _run("mypy")
