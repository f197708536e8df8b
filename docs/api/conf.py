"""Sphinx configuration of catlayer's API reference, generated from the docstrings.

Build it from the repository root with

    python -m sphinx -W --keep-going -b html docs/api docs/api/_build/html

(``tests/test_api_docs.py`` runs that build, warnings as errors). The pages document every name
of each public package's ``__all__``; cross-references are checked (``nitpicky``), except those
to other libraries and to catlayer's internal modules, which render as plain text.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import catlayer  # noqa: E402

project = "catlayer"
author = "the catlayer developers"
project_copyright = "the catlayer developers"
release = version = catlayer.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
exclude_patterns = ["_build"]
root_doc = "index"
html_theme = "alabaster"

#: The modules the reference documents; every other ``catlayer.*`` module is internal.
DOCUMENTED = (
    "catlayer",
    "catlayer.diagrams",
    "catlayer.groups",
    "catlayer.functors",
    "catlayer.verify",
    "catlayer.projection",
    "catlayer.plan",
    "catlayer.backend",
    "catlayer.nn",
    "catlayer.testing",
    "catlayer.testing.strategies",
)

autodoc_member_order = "bysource"
# torch's extra_repr is an implementation hook, not API.
autodoc_default_options = {"members": True, "show-inheritance": True, "exclude-members": "extra_repr"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# Google-style sections ("Args:", "Returns:", "Raises:") and torch's "Shape:".
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = ["Shape"]

nitpicky = True
# Names in annotations that come from matplotlib (imported for type checking only).
nitpick_ignore = [("py:class", name) for name in ("Axes", "Figure", "SubFigure")]

_EXTERNAL = ("numpy", "np", "torch", "sympy", "hypothesis", "collections", "typing", "os", "random", "abc")


def _lookup(dotted: str) -> Any:
    """The object a dotted name denotes (the longest importable module, then attributes), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def _module_of(dotted: str) -> str:
    """The longest importable module that starts the dotted name."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        if name in sys.modules:
            return name
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        return name
    return ""


def _public_name(env: Any, target: str) -> str | None:
    """The documented name of the object ``target`` denotes under another path (an internal
    module's, or a re-export's), if the reference documents it."""
    obj = _lookup(target)
    if obj is None:
        return None
    cache = env.app.__dict__.setdefault("_catlayer_documented", {})
    objects = env.domains.python_domain.objects
    for name in objects:
        if name not in cache:
            cache[name] = _lookup(name)
        if cache[name] is obj and not objects[name].aliased:
            return name
    return None


def _resolve_elsewhere(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Link a reference to a catlayer object through an internal path (``catlayer.nn.core.X``,
    ``catlayer.S``) to the page that documents that object."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("catlayer."):
        return None
    public = _public_name(env, target)
    if public is None:
        return None
    return env.domains.python_domain.resolve_xref(env, node["refdoc"], app.builder, "obj", public, node, contnode)


def _internal_or_external(app: Any, domain: Any, node: Any) -> bool:
    """Silence references that the reference does not document on purpose: other libraries, and
    catlayer's internal modules (their names render as plain text)."""
    target = node.get("reftarget", "")
    root = target.split(".")[0]
    if root in _EXTERNAL:
        return True
    return root == "catlayer" and _module_of(target) not in DOCUMENTED


#: Napoleon's docstring processor (set in ``setup``), run on everything but attributes.
_napoleon: Any = None


def _google_except_attributes(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    # catlayer's property docstrings are prose ("k: the number of input vertices"), not Google's
    # "type: description" form, which napoleon would read as a type named "k".
    if what not in {"attribute", "data", "property"}:
        _napoleon(app, what, name, obj, options, lines)


def setup(app: Any) -> None:
    global _napoleon
    from sphinx.ext.napoleon import _process_docstring

    _napoleon = _process_docstring
    for listener in list(app.events.listeners["autodoc-process-docstring"]):
        if listener.handler is _process_docstring:
            app.disconnect(listener.id)
    app.connect("autodoc-process-docstring", _google_except_attributes)
    app.connect("missing-reference", _resolve_elsewhere)
    app.connect("warn-missing-reference", _internal_or_external)
