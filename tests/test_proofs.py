"""The exact certificates in proofs/ run (and pass) as part of the suite; a script that offers a
``--quick`` range (its docstring states it, and the README the full range's result) runs with it."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROOFS = sorted((ROOT / "proofs").glob("*.py"))
#: The scripts import the catlayer of this checkout, not whichever one is installed.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


@pytest.mark.parametrize("script", PROOFS, ids=[p.stem for p in PROOFS])
def test_proof_script(script):
    quick = ["--quick"] if "--quick" in script.read_text(encoding="utf-8") else []
    result = subprocess.run([sys.executable, str(script), *quick], capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert result.stdout.strip(), f"{script.name} printed nothing: a certificate must say what it checked"


def test_there_are_proofs():
    assert len(PROOFS) >= 3
