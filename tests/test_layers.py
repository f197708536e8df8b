"""The package's layers hold: what each import loads, who imports whom, and read-only caches."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from catlayer import O, PartitionDiagram, S

PACKAGE = Path(__file__).resolve().parents[1] / "catlayer"


def _loaded_after(code: str) -> set[str]:
    """Top-level modules in sys.modules after running ``code`` in a fresh interpreter."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=PACKAGE.parent
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("code", "forbidden"),
    [
        ("import catlayer", {"numba", "torch"}),
        ("import catlayer.diagrams", {"numba", "torch"}),
        ("import catlayer.nn", {"numba"}),
        ("import catlayer.verify", {"numba", "torch"}),
        # the first dense image of a small matrix needs neither the backend nor torch
        (
            "from catlayer import S, PartitionDiagram\nS(3).functor(PartitionDiagram([[0], [1]], 1, 1)).to_numpy()",
            {"numba", "torch"},
        ),
        ("from catlayer import O\nO(1, 3).basis(2, 2)", {"numba", "torch"}),
    ],
)
def test_imports_load_only_their_layer(code, forbidden):
    loaded = _loaded_after(code)
    assert not loaded & forbidden, f"{code!r} loaded {sorted(loaded & forbidden)}"


def test_the_backend_is_loaded_when_used():
    assert "numba" in _loaded_after("import catlayer.backend")


def _imports(path: Path) -> list[str]:
    """Absolute names of the catlayer modules a file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("diagrams", ("catlayer.backend", "catlayer.nn", "catlayer.groups", "torch", "numba")),
        ("groups", ("catlayer.backend", "catlayer.nn", "torch", "numba")),
        ("nn", ("catlayer.backend", "numba")),
    ],
)
def test_layers_do_not_import_upwards(folder, forbidden):
    for path in sorted((PACKAGE / folder).glob("*.py")):
        bad = [name for name in _imports(path) if name.startswith(forbidden)]
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}"


def _private_uses(path: Path, holders: tuple[str, ...]) -> list[str]:
    """``x._name`` where x is a name (or ``self.``-attribute) in ``holders``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            value = node.value
            holder = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else ""
            if holder in holders:
                out.append(f"{holder}.{node.attr}")
    return out


@pytest.mark.parametrize(
    ("importer", "provider", "holders"),
    [("functors.py", "groups", ("group", "_group", "G")), ("groups", "functors", ("EquivariantMap", "functors"))],
)
def test_groups_and_functors_use_only_public_names(importer, provider, holders):
    paths = sorted((PACKAGE / importer).glob("*.py")) if (PACKAGE / importer).is_dir() else [PACKAGE / importer]
    for path in paths:
        for name in _imports(path):
            parts = name.split(".")
            if len(parts) >= 3 and parts[1] == provider.removesuffix(".py"):
                assert not parts[-1].startswith("_"), f"{path.name} imports the private {name}"
        assert not _private_uses(path, holders), f"{path.name} reaches into {_private_uses(path, holders)}"


def test_cached_entries_are_read_only():
    # Regression: the entry cache once returned writable arrays, so writing into one result
    # changed every later image of that diagram.
    G, d = S(3), PartitionDiagram([[0], [1]], dom=1, cod=1)
    flat, values = G.entries(d)
    with pytest.raises(ValueError, match="read-only"):
        values[0] = 99
    with pytest.raises(ValueError, match="read-only"):
        flat[0] = 0
    first = G.functor(d).to_numpy()
    first[:] = 7.0  # the dense image is the caller's own array
    np.testing.assert_array_equal(G.functor(d).to_numpy(), np.ones((3, 3)))
    with pytest.raises(ValueError, match="read-only"):
        O(1, 3).metric[0, 0] = 5
    assert O(1, 3).metric[0, 0] == 1
