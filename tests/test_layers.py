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
HEAVY = ("numba", "torch", "catlayer.backend", "catlayer.nn")


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
        ("import catlayer.nn", {"torch", "catlayer.nn"}),
        ("import catlayer.verify", set()),
        ("import catlayer.verify.prove, catlayer.verify.modules, catlayer.verify.forward", set()),
        (
            "from catlayer import S\nfrom catlayer.verify import check_equivariance\n"
            "check_equivariance(S(3), S(3).basis(1, 1)[0])",
            set(),
        ),
        (
            "import numpy as np\nfrom catlayer import S\n"
            "S(3).project(np.eye(3), 1, 1)\nS(3).coefficients(np.eye(3), 1, 1)",
            set(),
        ),
        ("from catlayer import O\nO(1, 3).basis(2, 2)", set()),
        (
            "from catlayer import S, PartitionDiagram\nS(3).functor(PartitionDiagram([[0, 1]], 1, 1)).to_numpy()",
            set(),
        ),
    ],
    ids=[
        "diagrams",
        "catlayer",
        "memory",
        "nn",
        "verify",
        "verify modules",
        "exact check",
        "projection",
        "Lorentz basis",
        "small to_numpy",
    ],
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
    assert _imported_modules(ROOT / "catlayer" / "tolerance.py") <= {"__future__", "math", "collections.abc"}


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


# -- the layers: every import points down ---------------------------------------------------------------
#: The layers of the package, bottom first (docs/architecture.md §4). A module may import modules of
#: its own layer and of lower ones, never of a higher one: not at the top of a file, not inside a
#: function. Imports under ``if TYPE_CHECKING:`` are annotations, never run, and are not counted.
LAYERS = (
    ("plain Python", ("catlayer.memory", "catlayer.tolerance")),
    ("diagrams", ("catlayer.diagrams",)),
    ("tables", ("catlayer.dimensions", "catlayer.forms", "catlayer.bases")),
    ("functors", ("catlayer.functors",)),
    ("projection", ("catlayer.projection",)),
    ("groups", ("catlayer.groups",)),
    ("plan", ("catlayer.plan",)),
    ("backend", ("catlayer.backend",)),
    ("verify", ("catlayer.verify",)),
    ("nn", ("catlayer.nn",)),
    ("testing", ("catlayer.testing",)),
    ("the package's face", ("catlayer.__init__", "catlayer.__main__")),
)
#: The symbolic core: the layers up to the plan. It imports no numeric layer and no torch or numba.
CORE = ("plain Python", "diagrams", "tables", "functors", "projection", "groups", "plan")
#: Inside catlayer.verify, in order (prove_module's modules reach the checks, never the other way).
VERIFY = ("report", "exact", "products", "forward", "modules", "check", "network", "rules", "prove", "__init__")


def _layer(module: str) -> int | None:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > len(best[1])):
                best = (i, p)
    return best[0] if best else None


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    return ".".join(path.relative_to(root.parent).with_suffix("").parts)


def _runtime_imports(path: Path, root: Path = PACKAGE) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement of the file, in functions too, except
    under ``if TYPE_CHECKING:``; relative imports resolved, ``from X import name`` read as X.name
    when that is a module of the package and as X otherwise."""
    tree = ast.parse(path.read_text())
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                target = root.parent / full.replace(".", "/")
                is_module = target.with_suffix(".py").exists() or target.is_dir()
                out.append((full if is_module else module, node.lineno))
    return out


def upward_imports(root: Path = PACKAGE) -> list[str]:
    """Every import of a catlayer module from a higher layer, and every numeric import of the core."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        here = _layer(
            _module_name(path).removesuffix(".__init__") if path.name != "__init__.py" else _module_name(path)
        )
        if here is None:
            continue
        for target, line in _runtime_imports(path):
            there = _layer(target) if target.startswith("catlayer") else None
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if there is not None and there > here:
                bad.append(f"{where} ({LAYERS[here][0]} → {LAYERS[there][0]})")
            if LAYERS[here][0] in CORE and target.split(".")[0] in ("torch", "numba"):
                bad.append(f"{where} (the symbolic core imports a numeric library)")
    return bad


def test_every_import_points_down():
    assert upward_imports() == []


def test_the_layers_cover_the_package():
    for path in PACKAGE.rglob("*.py"):
        assert _layer(_module_name(path)) is not None, f"{path} belongs to no layer: add it to LAYERS"


def test_verify_modules_import_in_order():
    for path in sorted((PACKAGE / "verify").glob("*.py")):
        here = VERIFY.index(path.stem)
        for target, line in _runtime_imports(path):
            if target.startswith("catlayer.verify."):
                there = VERIFY.index(target.split(".")[2])
                assert there <= here, f"verify/{path.name}:{line} imports {target}, which comes later"


def test_the_layer_check_sees_upward_imports(tmp_path):
    # The check itself: an import inside a function, relative, from a core module to nn is caught;
    # one under TYPE_CHECKING is not.
    fake = tmp_path / "catlayer"
    (fake / "groups").mkdir(parents=True)
    (fake / "groups" / "bad.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..nn import TypedLinear\n"
        "def f():\n    from ..nn import linear\n    import torch\n"
    )
    names = [target for target, _ in _runtime_imports(fake / "groups" / "bad.py", fake)]
    assert "torch" in names and "catlayer.nn" in names and not any("TypedLinear" in n for n in names)
