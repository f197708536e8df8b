"""Layering: what each import loads, checked in a fresh interpreter (``sys.modules`` after the
import), and the memory guard as plain Python shared by every layer."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import catlayer.backend
import catlayer.backend.memory
import catlayer.memory

ROOT = Path(__file__).resolve().parents[1]
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
        (
            "from catlayer import S, PartitionDiagram\nS(3).functor(PartitionDiagram([[0, 1]], 1, 1)).to_numpy()",
            set(),
        ),
    ],
    ids=["diagrams", "catlayer", "memory", "nn", "small to_numpy"],
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
    assert _imported_modules(ROOT / "catlayer" / "memory.py") <= {"__future__", "os"}


def test_symbolic_core_never_imports_the_backend():
    for path in (ROOT / "catlayer" / "diagrams").glob("*.py"):
        names = _imported_modules(path)
        assert not any("backend" in name or name in ("numba", "torch") for name in names), path.name


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
    finally:
        catlayer.memory.set_memory_budget(None)


@pytest.mark.parametrize("num_bytes", [10**19, 10**400, 2**100000], ids=["1e19", "1e400", "2^100000"])
def test_huge_sizes_give_short_messages(num_bytes):
    with pytest.raises(catlayer.memory.AllocationTooLarge) as info:
        catlayer.memory.check_size(num_bytes, "x")
    assert len(str(info.value)) < 200
    assert f"2^{num_bytes.bit_length() - 1} B" in str(info.value)
