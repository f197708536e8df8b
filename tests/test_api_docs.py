"""The API reference (Sphinx, ``docs/api``) builds with warnings as errors and documents every name
in the ``__all__`` of each public package.

The build is the one the reference's ``conf.py`` describes: ``python -m sphinx -W --keep-going -b
html docs/api <folder>``, run once for this module into a temporary folder. Warnings raised by the
docstrings of ``catlayer/nn/`` are reported by their own test, so that a list of exactly what to
fix there comes out separately from the rest.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("torch")

from sphinx.util.inventory import InventoryFile

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "docs" / "api"
PACKAGES = (
    "catlayer",
    "catlayer.diagrams",
    "catlayer.groups",
    "catlayer.verify",
    "catlayer.tolerance",
    "catlayer.nn",
    "catlayer.backend",
    "catlayer.testing",
    "catlayer.plan",
    "catlayer.projection",
    "catlayer.functors",
)
#: The first line of one warning in Sphinx's warning file (continuation lines follow it).
_WARNING = re.compile(r"^\S.*\b(WARNING|ERROR|CRITICAL|SEVERE):")


def _records(text: str) -> list[str]:
    """The warnings of a warning file, one string each (a warning may span several lines).

    >>> _records("a.py:1: WARNING: x\\n  more\\nb.py:2: ERROR: y\\n")
    ['a.py:1: WARNING: x\\n  more', 'b.py:2: ERROR: y']
    """
    records: list[str] = []
    for line in text.splitlines():
        if _WARNING.match(line) or not records:
            records.append(line)
        elif line.strip():
            records[-1] += "\n" + line
    return [r for r in records if r.strip()]


class Build:
    def __init__(self, folder: Path) -> None:
        self.html = folder / "html"
        warnings = folder / "warnings.txt"
        command = [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-E",
            "-q",
            "-b",
            "html",
            "-d",
            str(folder / "doctrees"),
            "-w",
            str(warnings),
            str(SOURCE),
            str(self.html),
        ]
        self.result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        records = _records(warnings.read_text()) if warnings.exists() else []
        self.nn = [r.replace(str(ROOT) + "/", "") for r in records if "catlayer/nn/" in r]
        self.others = [r.replace(str(ROOT) + "/", "") for r in records if "catlayer/nn/" not in r]
        self.documented: set[str] = set()
        inventory = self.html / "objects.inv"
        if inventory.exists():
            with inventory.open("rb") as stream:
                for role, objects in InventoryFile.load(stream, "", lambda base, uri: uri).items():
                    if role.startswith("py:"):
                        self.documented |= set(objects)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return Build(tmp_path_factory.mktemp("api-reference"))


def test_the_reference_builds_without_warnings_outside_nn(build: Build) -> None:
    assert (build.html / "index.html").is_file(), build.result.stdout + build.result.stderr
    assert build.others == [], "Sphinx warnings:\n" + "\n".join(build.others)
    if not build.nn:
        assert build.result.returncode == 0, build.result.stdout + build.result.stderr


def test_the_nn_docstrings_build_without_warnings(build: Build) -> None:
    assert build.nn == [], "Sphinx warnings in catlayer/nn/ (file:line and message):\n" + "\n".join(build.nn)


def _documented_as(build: Build, package: str, name: str) -> str | None:
    """The name under which the reference documents ``package.name``: that name itself, or for a
    re-export (``catlayer.S``) the documented name of the same object, when the package's page
    links to it."""
    if f"{package}.{name}" in build.documented:
        return f"{package}.{name}"
    obj = getattr(importlib.import_module(package), name)
    page = (build.html / f"{package.rsplit('.', 1)[-1]}.html").read_text()  # docs/api/<last part>.rst
    for other in PACKAGES:
        if other != package and f"{other}.{name}" in build.documented:
            if getattr(importlib.import_module(other), name, None) is obj and f'#{other}.{name}"' in page:
                return f"{other}.{name}"
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_in_the_reference(build: Build, package: str) -> None:
    names = importlib.import_module(package).__all__
    missing = [name for name in names if _documented_as(build, package, name) is None]
    assert missing == [], f"{package}: not in docs/api: {missing}"
