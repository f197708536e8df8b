"""Every documentation reference resolves: each ``*.md`` file cited by README.md, docs/*.md or the
code (catlayer/, tests/, proofs/, bench/) exists in the repository, and each section cited as
``docs/<file>.md §N`` (or ``§N`` inside a docs file, meaning that file) is a numbered heading of
that file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: A path ending in ``.md``, then any closing quotes/brackets, then a run of ``§N`` references.
CITATION = re.compile(
    r"(?P<path>[\w./-]*\w\.md)\b[`'\")\]]*(?P<refs>(?:\s*(?:,|/|and)?\s*§\s*\d+(?:\.\d+)*)*)",
)
SECTION_REF = re.compile(r"§\s*(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", re.MULTILINE)


def sections(text: str) -> set[str]:
    """The section numbers of a markdown text: headings like ``## 3. Title`` or ``### 3.5 Title``.

    >>> sorted(sections("# Title\\n## 1. A\\n### 1.2 B\\n#### 10.3.1 C\\n"))
    ['1', '1.2', '10.3.1']
    """
    return set(HEADING.findall(text))


def resolve(cited: str, source: Path) -> Path | None:
    """The file a citation names: relative to the citing file, else to the repository root."""
    for base in (source.parent, ROOT):
        candidate = (base / cited).resolve()
        if candidate.is_file() and ROOT in candidate.parents:
            return candidate
    return None


def problems(text: str, source: Path) -> list[str]:
    """Citations in ``text`` (found in ``source``) that do not resolve."""
    out = []
    cited_spans = []
    own_sections = sections(text) if source.suffix == ".md" and source.parent == ROOT / "docs" else None
    for match in CITATION.finditer(text):
        cited_spans.append(match.span("refs"))
        target = resolve(match["path"], source)
        if target is None:
            out.append(f"{match['path']}: no such file")
            continue
        refs = SECTION_REF.findall(match["refs"])
        if not refs:
            continue
        if target.parent != ROOT / "docs":
            out.append(f"{match['path']} §{refs[0]}: only files in docs/ have numbered sections")
            continue
        known = sections(target.read_text())
        out += [f"{match['path']} §{ref}: no such section" for ref in refs if ref not in known]
    if own_sections is not None:  # a bare §N inside a docs file refers to that file
        for match in SECTION_REF.finditer(text):
            inside = any(start <= match.start() < end for start, end in cited_spans)
            if not inside and match[1] not in own_sections:
                out.append(f"§{match[1]}: no such section in this file")
    return out


def sources() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("catlayer", "tests", "proofs", "bench"):
        files += sorted((ROOT / folder).rglob("*.py"))
    files += sorted((ROOT / "proofs").glob("*.md"))
    return [f for f in files if f != Path(__file__).resolve()]


def test_the_docs_exist_and_have_sections():
    for name in ("conventions", "architecture", "adding-a-group", "limits"):
        path = ROOT / "docs" / f"{name}.md"
        assert path.is_file(), path
        assert len(sections(path.read_text())) >= 3, path


@pytest.mark.parametrize("source", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_citation_resolves(source):
    assert problems(source.read_text(), source) == []


def test_the_readme_and_the_code_cite_the_docs():
    cited = {m["path"] for f in sources() for m in CITATION.finditer(f.read_text())}
    assert {"docs/conventions.md", "docs/limits.md"} <= cited


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see docs/conventions.md §3.4", []),
        ("see ``docs/conventions.md`` §3.2, §3.4 and §8", []),
        ("see docs/nowhere.md", ["docs/nowhere.md: no such file"]),
        ("see docs/conventions.md §3.9", ["docs/conventions.md §3.9: no such section"]),
        ("(docs/conventions.md §1.3/§77)", ["docs/conventions.md §77: no such section"]),
        ("see proofs/README.md §2", ["proofs/README.md §2: only files in docs/ have numbered sections"]),
        ("the README.md of the project", []),
    ],
)
def test_the_checker_catches_broken_citations(text, expected):
    assert problems(text, ROOT / "catlayer" / "example.py") == expected


def test_bare_sections_in_a_docs_file_refer_to_that_file():
    source = ROOT / "docs" / "limits.md"
    text = "## 1. One\n## 2. Two\nAs in §2 and §1; not §3. See conventions.md §3.4.\n"
    assert problems(text, source) == ["§3: no such section in this file"]
