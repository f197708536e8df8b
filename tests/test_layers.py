"""Layering: what each import loads (``sys.modules`` in a fresh interpreter), who imports whom,
no private names across groups and functors, the memory guard as plain Python shared by every
layer, and read-only caches."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import catlayer.backend
import catlayer.backend.memory
import catlayer.memory
from catlayer import O, PartitionDiagram, S

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "catlayer"
HEAVY = ("numba", "torch", "catlayer.backend")


def loaded_after(code: str) -> set[str]:
    """The heavy modules present in ``sys.modules`` after running ``code`` in a new interpreter
    started in the repository root (so that this checkout is the one imported)."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    ("code", "allowed"),
    [
        ("import catlayer.diagrams", set()),
        ("import catlayer", set()),
        ("import catlayer.memory", set()),
        ("import catlayer.nn", {"torch"}),
        ("import catlayer.verify", set()),
        ("from catlayer import O\nO(1, 3).basis(2, 2)", set()),
        (
            "from catlayer import S, PartitionDiagram\nS(3).functor(PartitionDiagram([[0, 1]], 1, 1)).to_numpy()",
            set(),
        ),
    ],
    ids=["diagrams", "catlayer", "memory", "nn", "verify", "Lorentz basis", "small to_numpy"],
)
def test_import_loads_only_its_layer(code, allowed):
    assert loaded_after(code) <= allowed


def test_catlayer_nn_does_not_load_numba():
    assert "numba" not in loaded_after("import catlayer.nn")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_memory_guard_is_plain_python():
    assert _imported_modules(ROOT / "catlayer" / "memory.py") <= {"__future__", "os", "time", "collections.abc"}


def test_backend_reexports_the_same_guard():
    for name in ("AllocationTooLarge", "check_size", "memory_budget", "set_memory_budget"):
        assert getattr(catlayer.backend.memory, name) is getattr(catlayer.memory, name)
        assert getattr(catlayer.backend, name) is getattr(catlayer.memory, name)
    assert issubclass(catlayer.memory.AllocationTooLarge, MemoryError)
    assert issubclass(catlayer.memory.AllocationTooLarge, ValueError)


def test_budget_set_through_either_name_is_one_budget():
    catlayer.backend.memory.set_memory_budget(12345)
    try:
        assert catlayer.memory.memory_budget() == 12345
        with pytest.raises(catlayer.memory.AllocationTooLarge, match=r"the thing needs 12.1 KiB \(12346 bytes\)"):
            catlayer.memory.check_size(12346, "the thing")
        catlayer.memory.check_size(12345, "the thing")
        # A callable name is only built for the message (forward calls guard on every batch).
        calls = []
        catlayer.memory.check_size(12345, lambda: calls.append(1) or "unused")
        assert calls == []
        with pytest.raises(catlayer.memory.AllocationTooLarge, match="the lazy thing needs"):
            catlayer.memory.check_size(12346, lambda: "the lazy thing")
    finally:
        catlayer.memory.set_memory_budget(None)


@pytest.mark.parametrize("num_bytes", [10**19, 10**400, 2**100000], ids=["1e19", "1e400", "2^100000"])
def test_huge_sizes_give_short_messages(num_bytes):
    with pytest.raises(catlayer.memory.AllocationTooLarge) as info:
        catlayer.memory.check_size(num_bytes, "x")
    assert len(str(info.value)) < 200
    assert f"2^{num_bytes.bit_length() - 1} B" in str(info.value)


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
