"""Walking the loops and paths of two perfect matchings on the same vertices: the combinatorics
behind the inner products ⟨F(d), F(e)⟩ = trace(F(d)ᵀ F(e)) of the Brauer-type families."""

from __future__ import annotations

from collections.abc import Iterator

from ..diagrams import Diagram

__all__ = ["loops", "loops_avoiding", "partners", "same_row"]


def partners(d: Diagram) -> dict[int, int]:
    """Each vertex of a pair of d mapped to the other vertex of its pair."""
    out = {}
    for block in d.blocks:
        if len(block) == 2:
            out[block[0]], out[block[1]] = block[1], block[0]
    return out


def same_row(d: Diagram, u: int, v: int) -> bool:
    """Whether vertices u and v of d lie in the same row."""
    return (u < d.cod) == (v < d.cod)


def loops(d: Diagram, e: Diagram) -> list[list[tuple[int, int, bool]]]:
    """The loops of two perfect matchings on the same vertices (every vertex in a pair of d and of
    e): each loop as its list of steps (u, v, from_d), walking alternately d's and e's pairs.

    >>> from catlayer import BrauerDiagram
    >>> cap_cup = BrauerDiagram([[0, 1], [2, 3]], dom=2, cod=2)
    >>> len(loops(cap_cup, BrauerDiagram.identity(2)))        # ⟨E_d, I⟩ = trace(E_d) = n
    1
    """
    return list(loops_avoiding(d, e, set()))


def loops_avoiding(d: Diagram, e: Diagram, seen: set[int]) -> Iterator[list[tuple[int, int, bool]]]:
    """The loops of the pairs of d and e through vertices not in ``seen`` (the vertices already
    walked, e.g. on the paths between free vertices); ``seen`` grows as they are walked."""
    pd, pe = partners(d), partners(e)
    for start in range(d.size):
        if start in seen or start not in pd:
            continue
        steps, u, use_d = [], start, True
        while True:
            v = pd[u] if use_d else pe[u]
            steps.append((u, v, use_d))
            seen.add(u)
            u, use_d = v, not use_d
            if u == start and use_d:
                break
        yield steps
