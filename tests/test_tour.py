"""The tour (``python -m catlayer``) runs, writes nothing into the working folder, and draws its
diagram into the temporary folder whose path it prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_tour_runs_and_leaves_the_working_folder_alone(tmp_path):
    pytest.importorskip("torch")
    # One thread per process: under ``pytest -n 2`` on two cores, more would oversubscribe them.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "catlayer"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []
    for title in ("Diagrams", "Matrix-free application", "Graphs of any size", "Point clouds"):
        assert f"== {title}" in result.stdout
    drawn = re.search(r"drew the diagram to (\S+)", result.stdout)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert drawn is None
        return
    assert drawn is not None, result.stdout
    picture = Path(drawn[1])
    assert picture.is_file() and picture.stat().st_size > 0
    assert tmp_path not in picture.parents
    picture.unlink()
    picture.parent.rmdir()
