"""The diagram categories P(n), B(δ) and BG(n) (docs/conventions.md §2, §3.4).

Objects are 0, 1, 2, … (object k stands for (R^n)^{⊗k}); morphisms k → l are spans of
(k, l)-diagrams. ``compose(f, g)`` is "f, then g" (the paper's g • f).
"""

from __future__ import annotations

import math
import operator
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import combinations, permutations
from typing import TYPE_CHECKING

import sympy

from ..memory import AllocationTooLarge, check_size, memory_budget
from .combination import Combination
from .diagram import BrauerDiagram, BrauerGroodDiagram, Diagram, PartitionDiagram
from .permutations import _cycle_sign
from .validation import check_loop_value, check_order, short_repr

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "BrauerCategory",
    "BrauerGroodCategory",
    "DiagramCategory",
    "PartitionCategory",
    "natural_category",
]


# -- enumeration ------------------------------------------------------------------------------
def _restricted_growth_strings(size: int) -> Iterator[tuple[int, ...]]:
    """All set partitions of range(size) as restricted growth strings, lexicographically."""
    if size == 0:
        yield ()
        return
    a = [0] * size
    prefix_max = [0] * size
    while True:
        yield tuple(a)
        i = size - 1
        while i > 0 and a[i] == prefix_max[i - 1] + 1:
            i -= 1
        if i == 0:
            return
        a[i] += 1
        prefix_max[i] = max(prefix_max[i - 1], a[i])
        for j in range(i + 1, size):
            a[j] = 0
            prefix_max[j] = prefix_max[i]


def _perfect_matchings(vertices: tuple[int, ...]) -> Iterator[list[tuple[int, int]]]:
    """Perfect matchings of sorted ``vertices``, lexicographically by their sorted pairs."""
    if not vertices:
        yield []
        return
    first = vertices[0]
    for index in range(1, len(vertices)):
        rest = vertices[1:index] + vertices[index + 1 :]
        for matching in _perfect_matchings(rest):
            yield [(first, vertices[index]), *matching]


def _double_factorial_odd(size: int) -> int:
    """(size − 1)!! for even size, 0 for odd size."""
    if size % 2:
        return 0
    return math.prod(range(size - 1, 0, -2))


#: Bell numbers computed so far, and the last row of the Bell triangle (row i starts with B(i)).
_BELL = [1]
_BELL_ROW = [1]
_BELL_LOCK = threading.Lock()


def _bell(size: int) -> int:
    """The Bell number B(size) from the Bell triangle (each row starts with the last entry of
    the previous one and adds that row entry by entry), extended and cached as needed."""
    global _BELL_ROW
    with _BELL_LOCK:
        while len(_BELL) <= size:
            row = [_BELL_ROW[-1]]
            for x in _BELL_ROW:
                row.append(row[-1] + x)
            _BELL_ROW = row
            _BELL.append(row[0])
        return _BELL[size]


#: Counts and enumerations are offered for hom spaces with at most this many vertices; beyond
#: it the exact Bell numbers alone take seconds and every non-trivial hom space is far larger
#: than any memory.
MAX_COUNT_VERTICES = 512


#: Estimated bytes held per enumerated diagram of ``size`` vertices (object, canonical blocks,
#: labels and the slot in the hom tuple): tracemalloc measured 370–600 bytes for 4–10 vertices,
#: about 100 + 62 per vertex; this rounds both up.
def _bytes_per_diagram(size: int) -> int:
    return 128 + 64 * size


def _count_text(count: int) -> str:
    """``count`` in digits, or as ``about 1.23e45`` when long."""
    if count < 10**12:
        return str(count)
    digits = str(count)
    return f"about {digits[0]}.{digits[1:3]}e{len(digits) - 1}"


# -- concatenation --------------------------------------------------------------------------------
def _concatenate_partitions(d1: Diagram, d2: Diagram) -> tuple[list[int], int]:
    """Stack d1 (k→l) below d2 (l→m). Returns a block label for each outer vertex of the
    result (top 0..m−1, then bottom) and the number c of components inside the middle row."""
    l, k, m = d1._cod, d1._dom, d2._cod
    labels1, labels2 = d1._labels, d2._labels
    offset = len(d1._blocks)
    parent = list(range(offset + len(d2._blocks)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for j in range(l):
        a, b = find(labels1[j]), find(offset + labels2[m + j])
        if a != b:
            parent[a] = b
    outer = [find(offset + labels2[v]) for v in range(m)]
    outer += [find(labels1[l + j]) for j in range(k)]
    roots = {find(x) for x in range(len(parent))}
    return outer, len(roots) - len(set(outer))


def _pair_graph_components(size: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    """Connected components (vertex lists) of a graph whose vertices have degree ≤ 2."""
    parent = list(range(size))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        a, b = find(u), find(v)
        if a != b:
            parent[a] = b
    groups: dict[int, list[int]] = {}
    for x in range(size):
        groups.setdefault(find(x), []).append(x)
    return list(groups.values())


class _Stack:
    """d1 (k→l) below d2 (l→m) as one graph: vertex ids 0..m−1 top, m..m+l−1 middle,
    m+l..m+l+k−1 bottom. Each pair of either diagram is an edge."""

    def __init__(self, d1: Diagram, d2: Diagram):
        self.m, self.l, self.k = d2.cod, d1.cod, d1.dom
        m, l = self.m, self.l
        self.size = m + l + self.k
        self.from1 = [m + v if v < l else m + l + (v - l) for v in range(d1.size)]
        self.from2 = [v if v < m else m + (v - m) for v in range(d2.size)]
        self.edges = [(self.from1[b[0]], self.from1[b[1]]) for b in d1.blocks if len(b) == 2]
        self.edges += [(self.from2[b[0]], self.from2[b[1]]) for b in d2.blocks if len(b) == 2]
        self.free1 = [self.from1[v] for v in d1.free_vertices]
        self.free2 = [self.from2[v] for v in d2.free_vertices]

    def is_outer(self, g: int) -> bool:
        return g < self.m or g >= self.m + self.l

    def result_vertex(self, g: int) -> int:
        return g if g < self.m else g - self.l


class _Paths:
    """The components of a stacked Brauer–Grood picture. Every vertex meets exactly two
    "ends": pair edges, free-vertex marks (``(1, i)`` for the i-th free vertex of d1, ``(2, j)``
    for d2, in each diagram's own order) and, for an outer vertex, the outer mark. So each
    component is a loop (no marks) or a path between two marks, read off as:

    * ``pairs``: outer-to-outer paths (result numbering);
    * ``reached[s][i]``: the outer vertex (result numbering) reached from free vertex i of side s;
    * ``contracted``: (i, j) for each path from free vertex i of d1 to free vertex j of d2;
    * ``vanishes``: some path joins two free vertices of one diagram (ε against a symmetric δ).
    """

    def __init__(self, stack: _Stack):
        marks: dict[int, list[tuple[int, int]]] = {}
        for side, free in ((1, stack.free1), (2, stack.free2)):
            for i, g in enumerate(free):
                marks.setdefault(g, []).append((side, i))
        self.pairs: list[tuple[int, int]] = []
        self.reached: dict[int, dict[int, int]] = {1: {}, 2: {}}
        self.contracted: list[tuple[int, int]] = []
        self.vanishes = False
        self.loops = 0
        outer = 0
        for component in _pair_graph_components(stack.size, stack.edges):
            ends = []
            for g in component:
                ends += marks.get(g, [])
                if stack.is_outer(g):
                    ends.append((outer, stack.result_vertex(g)))
            if not ends:
                self.loops += 1
                continue
            (s1, x1), (s2, x2) = ends
            if s1 == outer and s2 == outer:
                self.pairs.append((x1, x2))
            elif s1 == outer or s2 == outer:
                (side, i), g = ((s2, x2), x1) if s1 == outer else ((s1, x1), x2)
                self.reached[side][i] = g
            elif s1 == s2:
                self.vanishes = True
                return
            else:
                self.contracted.append((x1, x2) if s1 == 1 else (x2, x1))


def _factorial_at_most(m: int, cap: int) -> int | None:
    """m!, or None when it exceeds ``cap`` (without computing a huge factorial)."""
    value = 1
    for i in range(2, m + 1):
        value *= i
        if value > cap:
            return None
    return value


def _rank_sign(ends: list[int]) -> int:
    """The sign of the permutation sending i to the rank of ``ends[i]`` among the ``ends``."""
    order = sorted(range(len(ends)), key=ends.__getitem__)
    rank = [0] * len(ends)
    for position, i in enumerate(order):
        rank[i] = position
    return _cycle_sign(rank)


# -- categories ---------------------------------------------------------------------------------
class DiagramCategory(ABC):
    """Common machinery of the diagram categories; use a concrete one.

    >>> P = PartitionCategory(3)
    >>> isinstance(P, DiagramCategory), P.parameter, len(P.hom(1, 1))
    (True, 3, 2)
    """

    diagram_kind: type[Diagram] = PartitionDiagram
    _parameter_name = "n"

    def __init__(self, parameter: object) -> None:
        self._parameter = check_loop_value(parameter, self._parameter_name)
        self._powers: dict[int, sympy.Expr] = {}
        self._hom_cache: dict[tuple[int, int], tuple[Diagram, ...]] = {}

    @property
    def parameter(self) -> sympy.Expr:
        """The loop value δ: a closed loop in a composite contributes a factor δ."""
        return self._parameter

    @property
    def delta(self) -> sympy.Expr:
        """The loop value δ (the same as :attr:`parameter`)."""
        return self._parameter

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._parameter})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DiagramCategory) and type(self) is type(other) and self._parameter == other._parameter

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._parameter))

    def __reduce__(self) -> tuple[type[Self], tuple[object, ...]]:
        return (type(self), (self._parameter,))

    def subs(self, *args: object, **kwargs: object) -> Self:
        """The same category with the parameter substituted (sympy ``subs``)."""
        value = self._parameter.subs(*args, **kwargs)
        return type(self)(int(value) if value.is_Integer else value)

    def _power(self, loops: int) -> sympy.Expr:
        power = self._powers.get(loops)
        if power is None:
            power = sympy.expand(self._parameter**loops)
            self._powers[loops] = power
        return power

    # -- morphisms ---------------------------------------------------------------------------
    def contains(self, d: Diagram) -> bool:
        """True when ``d`` is a diagram of this category."""
        return isinstance(d, Diagram)

    def _check(self, d: object, role: str) -> None:
        if not isinstance(d, (Diagram, Combination)):
            raise TypeError(f"{role} must be a diagram or a Combination, got {type(d).__name__}")
        diagrams = [d] if isinstance(d, Diagram) else list(d.terms)
        for diagram in diagrams:
            if not self.contains(diagram):
                raise ValueError(
                    f"{role} {short_repr(diagram)} is not a morphism of {self!r}: {self._why_not(diagram)}"
                )

    def _why_not(self, d: Diagram) -> str:
        return "not a diagram"

    def identity(self, k: int) -> Diagram:
        """The identity diagram on k points."""
        return self.diagram_kind.identity(k)

    def iter_hom(self, k: int, l: int) -> Iterator[Diagram]:
        """Lazily generate the diagrams k → l in canonical order (the orders are checked at
        the call, the diagrams are made one at a time).

        >>> next(PartitionCategory(5).iter_hom(2, 1))
        PartitionDiagram([[0, 1, 2]], dom=2, cod=1)
        """
        return self._iter_hom(check_order(k, "k"), check_order(l, "l"))

    @abstractmethod
    def _iter_hom(self, k: int, l: int) -> Iterator[Diagram]:
        """The diagrams k → l in canonical order (orders already checked)."""

    def hom(self, k: int, l: int) -> tuple[Diagram, ...]:
        """All (k, l)-diagrams of this category, in canonical order (cached). Their number is
        checked against the memory budget before any is made.

        >>> len(PartitionCategory(5).hom(2, 2))
        15
        >>> PartitionCategory(5).hom(9, 9)
        Traceback (most recent call last):
        ...
        catlayer.memory.AllocationTooLarge: hom(9, 9) of PartitionCategory(5), 682076806159 diagrams, needs ...
        """
        k, l = check_order(k, "k"), check_order(l, "l")
        cached = self._hom_cache.get((k, l))
        if cached is None:
            size = k + l
            if self._is_empty(k, l):
                return ()
            if size > MAX_COUNT_VERTICES:
                raise AllocationTooLarge(
                    f"hom({short_repr(k)}, {short_repr(l)}) of {self!r}: diagrams with k + l = {short_repr(size)} "
                    "vertices are not enumerated "
                    f"(at most {MAX_COUNT_VERTICES}; there are more than any memory holds)"
                )
            count = self.count(k, l)
            check_size(count * _bytes_per_diagram(size), f"hom({k}, {l}) of {self!r}, {_count_text(count)} diagrams,")
            cached = tuple(self._iter_hom(k, l))
            self._hom_cache[(k, l)] = cached
        return cached

    def count(self, k: int, l: int) -> int:
        """The exact number of (k, l)-diagrams, from a closed formula (for k + l up to
        ``MAX_COUNT_VERTICES`` = 512).

        >>> PartitionCategory(3).count(7, 7)
        190899322
        """
        k, l = check_order(k, "k"), check_order(l, "l")
        if k + l > MAX_COUNT_VERTICES:
            raise ValueError(
                f"count({short_repr(k)}, {short_repr(l)}): k + l = {short_repr(k + l)} vertices; exact counts are "
                "computed for at most "
                f"{MAX_COUNT_VERTICES} vertices"
            )
        return self._count(k, l)

    @abstractmethod
    def _count(self, k: int, l: int) -> int:
        """The exact number of (k, l)-diagrams (orders already checked)."""

    def _is_empty(self, k: int, l: int) -> bool:
        return False

    def empty_reason(self, k: int, l: int) -> str | None:
        """Why there is no (k, l)-diagram, or None when there is one."""
        check_order(k, "k")
        check_order(l, "l")
        return None

    def compose(self, f: Diagram | Combination, g: Diagram | Combination) -> Combination:
        """ "f, then g": f: k → l, g: l → m, giving k → m, bilinear in f and g.

        >>> P = PartitionCategory(3)
        >>> d = PartitionDiagram([[0], [1]], dom=1, cod=1)
        >>> P.compose(d, d)
        Combination({PartitionDiagram([[0], [1]], dom=1, cod=1): 3}, dom=1, cod=1, category=PartitionCategory(3))
        """
        self._check(f, "f")
        self._check(g, "g")
        _check_composable(f, g)
        if isinstance(f, Diagram) and isinstance(g, Diagram):
            return Combination._trusted(self._compose_diagrams(f, g), f.dom, g.cod, self)
        return self._bilinear(f, g, self._compose_diagrams, f.dom, g.cod)

    def tensor(self, f: Diagram | Combination, g: Diagram | Combination) -> Combination:
        """f ⊗ g, side by side (f on the left), bilinear in f and g.

        >>> P = PartitionCategory(3)
        >>> P.tensor(PartitionDiagram([[0, 1]], 1, 1), PartitionDiagram([[0]], 0, 1))
        Combination({PartitionDiagram([[0, 2], [1]], dom=1, cod=2): 1}, dom=1, cod=2, category=PartitionCategory(3))
        """
        self._check(f, "f")
        self._check(g, "g")
        if isinstance(f, Diagram) and isinstance(g, Diagram):
            return Combination._trusted(self._tensor_diagrams(f, g), f.dom + g.dom, f.cod + g.cod, self)
        return self._bilinear(f, g, self._tensor_diagrams, f.dom + g.dom, f.cod + g.cod)

    def _bilinear(
        self,
        f: Diagram | Combination,
        g: Diagram | Combination,
        product: Callable[[Diagram, Diagram], dict[Diagram, sympy.Expr]],
        dom: int,
        cod: int,
    ) -> Combination:
        f_terms = {f: sympy.Integer(1)} if isinstance(f, Diagram) else f.terms
        g_terms = {g: sympy.Integer(1)} if isinstance(g, Diagram) else g.terms
        total: dict[Diagram, sympy.Expr] = {}
        for d1, c1 in f_terms.items():
            for d2, c2 in g_terms.items():
                for d, c in product(d1, d2).items():
                    total[d] = total.get(d, 0) + c1 * c2 * c
        return Combination(total, dom, cod, self)

    def _compose_diagrams(self, d1: Diagram, d2: Diagram) -> dict[Diagram, sympy.Expr]:
        outer, loops = _concatenate_partitions(d1, d2)
        return {self.diagram_kind._from_labels(outer, d1.dom, d2.cod): self._power(loops)}

    def _tensor_diagrams(self, d1: Diagram, d2: Diagram) -> dict[Diagram, sympy.Expr]:
        d = d1.tensor(d2)
        return {self.diagram_kind._from_canonical(d.blocks, d.dom, d.cod): sympy.Integer(1)}


def _as_int(value: object) -> object:
    """numpy and sympy integers as int; anything else (bools included) unchanged, for the caller
    to refuse with its own message."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        return value
    try:
        return operator.index(value)
    except TypeError:
        return value


def _check_composable(f: Diagram | Combination, g: Diagram | Combination) -> None:
    if f.cod != g.dom:
        raise ValueError(
            f"cannot compose: f ends at {f.cod} points but g starts at {g.dom} "
            f"(f: {f.dom} → {f.cod}, g: {g.dom} → {g.cod})"
        )


class PartitionCategory(DiagramCategory):
    """The partition category P(n): all set-partition diagrams, loops worth n.

    >>> P = PartitionCategory(5)
    >>> [P.count(k, k) for k in range(4)]
    [1, 2, 15, 203]
    """

    diagram_kind = PartitionDiagram

    def _iter_hom(self, k: int, l: int) -> Iterator[Diagram]:
        for rgs in _restricted_growth_strings(k + l):
            yield PartitionDiagram._from_labels(rgs, k, l)

    def _count(self, k: int, l: int) -> int:
        return _bell(k + l)


class BrauerCategory(DiagramCategory):
    """The Brauer category B(δ): diagrams whose blocks are pairs, loops worth δ.

    O(n) uses B(n); Sp(n) uses B(−n) (docs/conventions.md §3.3).

    >>> import sympy
    >>> n = sympy.Symbol("n")
    >>> B = BrauerCategory(-n)
    >>> B.count(2, 2), B.count(1, 2)
    (3, 0)
    >>> B.empty_reason(1, 2)
    'k + l = 3 is odd: no Brauer diagrams'
    """

    diagram_kind = BrauerDiagram
    _parameter_name = "delta"

    def contains(self, d: Diagram) -> bool:
        return isinstance(d, Diagram) and all(len(b) == 2 for b in d.blocks)

    def _why_not(self, d: Diagram) -> str:
        return "a Brauer diagram has only blocks of size 2"

    def _iter_hom(self, k: int, l: int) -> Iterator[Diagram]:
        if (k + l) % 2:
            return
        for matching in _perfect_matchings(tuple(range(k + l))):
            yield BrauerDiagram._from_canonical(tuple(matching), k, l)

    def _count(self, k: int, l: int) -> int:
        return _double_factorial_odd(k + l)

    def _is_empty(self, k: int, l: int) -> bool:
        return (k + l) % 2 == 1

    def empty_reason(self, k: int, l: int) -> str | None:
        k, l = check_order(k, "k"), check_order(l, "l")
        if (k + l) % 2:
            return f"k + l = {short_repr(k + l)} is odd: no Brauer diagrams"
        return None


class BrauerGroodCategory(DiagramCategory):
    """The Brauer–Grood category BG(n) of SO(n) (docs/conventions.md §3.4): Brauer diagrams and
    (l+k)\\n-diagrams (exactly n free vertices, all other blocks pairs).

    The n-diagrams are not linearly independent in BG(n): ε⊗ε = Σ_σ sgn(σ) δ_σ relates them.
    ``compose`` and ``tensor`` return one representative of the result, with the rules of
    docs/conventions.md §3.4. Products with at most two n-diagram factors are associative on the nose.
    With three or more, two bracketings can give different representatives of the same
    morphism, and these agree once mapped to matrices by Ψ (``SO(n).functor``). The smallest
    example is BG(1) with H = {0}: 0 → 1: (H⊗H)⊗H = cap⊗H and H⊗(H⊗H) = H⊗cap.

    ``det_eta`` (+1 or −1) multiplies every ε·ε expansion (two n-diagrams composed or
    tensored): SO(p, q) with the metric η = diag(+1 ×p, −1 ×q) uses det η = (−1)^q, SO(n) uses +1.

    >>> BG = BrauerGroodCategory(2)
    >>> H = BrauerGroodDiagram([[0], [1]], dom=1, cod=1)
    >>> BG.compose(H, H)            # ε·ε contracted on one index: −identity
    Combination({BrauerDiagram([[0, 1]], dom=1, cod=1): -1}, dom=1, cod=1, category=BrauerGroodCategory(2))
    >>> BrauerGroodCategory(2, det_eta=-1).compose(H, H).terms
    {BrauerDiagram([[0, 1]], dom=1, cod=1): 1}
    >>> BG.count(1, 1), BG.count(2, 2)
    (2, 9)
    """

    diagram_kind = BrauerDiagram

    def __init__(self, n: int, det_eta: int = 1) -> None:
        size = _as_int(n)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                f"BrauerGroodCategory needs a positive int n (its n-diagrams have exactly n free "
                f"vertices), got {short_repr(size)}"
            )
        sign = _as_int(det_eta)
        if isinstance(sign, bool) or not isinstance(sign, int) or sign not in (1, -1):
            raise ValueError(
                f"det_eta must be +1 or -1 (the determinant of the metric, (-1)^q for SO(p, q)), got {short_repr(sign)}"
            )
        super().__init__(size)
        self.n: int = size
        self.det_eta: int = sign

    def __repr__(self) -> str:
        tail = ", det_eta=-1" if self.det_eta == -1 else ""
        return f"BrauerGroodCategory({self.n}{tail})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BrauerGroodCategory)
            and type(self) is type(other)
            and (self.n, self.det_eta) == (other.n, other.det_eta)
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.n, self.det_eta))

    def __reduce__(self) -> tuple[type[Self], tuple[object, ...]]:
        return (type(self), (self.n, self.det_eta))

    def subs(self, *args: object, **kwargs: object) -> Self:
        """BG(n) has an integer parameter: nothing to substitute, the category itself."""
        return self

    def contains(self, d: Diagram) -> bool:
        if not isinstance(d, Diagram) or any(len(b) > 2 for b in d.blocks):
            return False
        return len(d.free_vertices) in (0, self.n)

    def _why_not(self, d: Diagram) -> str:
        if any(len(b) > 2 for b in d.blocks):
            return "blocks must be pairs or free vertices"
        return f"it has {len(d.free_vertices)} free vertices; BG({self.n}) allows 0 or {self.n}"

    def _has_n_diagrams(self, size: int) -> bool:
        return size >= self.n and (size - self.n) % 2 == 0

    def _iter_hom(self, k: int, l: int) -> Iterator[Diagram]:
        size = k + l
        yield from BrauerCategory(self.n)._iter_hom(k, l)
        if not self._has_n_diagrams(size):
            return
        for free in combinations(range(size), self.n):
            rest = tuple(v for v in range(size) if v not in free)
            for matching in _perfect_matchings(rest):
                blocks = tuple(sorted([(v,) for v in free] + [tuple(pair) for pair in matching]))
                yield BrauerGroodDiagram._from_canonical(blocks, k, l)

    def _count(self, k: int, l: int) -> int:
        size = k + l
        free = 0
        if self._has_n_diagrams(size):
            free = math.comb(size, self.n) * _double_factorial_odd(size - self.n)
        return _double_factorial_odd(size) + free

    def _is_empty(self, k: int, l: int) -> bool:
        return (k + l) % 2 == 1 and not self._has_n_diagrams(k + l)

    def empty_reason(self, k: int, l: int) -> str | None:
        k, l = check_order(k, "k"), check_order(l, "l")
        if self._is_empty(k, l):
            size = short_repr(k + l)
            return (
                f"k + l = {size} is odd and {size} − n = {short_repr(k + l - self.n)} is not an even "
                "number ≥ 0: no Brauer diagrams and no n-diagrams"
            )
        return None

    @staticmethod
    def _make(pairs: Iterable[Sequence[int]], singles: Sequence[int], dom: int, cod: int) -> Diagram:
        blocks = tuple(sorted([tuple(sorted(p)) for p in pairs] + [(v,) for v in singles]))
        kind = BrauerGroodDiagram if singles else BrauerDiagram
        return kind._from_canonical(blocks, dom, cod)

    def _epsilon_pairings(
        self, pairs: list[tuple[int, int]], left: list[int], right: list[int], factor: int, dom: int, cod: int
    ) -> dict[Diagram, sympy.Expr]:
        """``factor`` · det η · Σ_{τ ∈ S_m} sgn(τ) E_{pairs ∪ {(left[t], right[τ(t)])}}: the
        generalised Kronecker delta left by two ε's once their shared indices are summed. The
        m! terms are distinct diagrams; their number is checked against the memory budget
        first, and each sign comes from its permutation's cycles."""
        m = len(left)
        per_term = _bytes_per_diagram(dom + cod) + 128
        terms = _factorial_at_most(m, memory_budget() // per_term)
        if terms is None:
            raise AllocationTooLarge(
                f"an ε·ε expansion in {self!r} with {m} uncontracted indices has {m}! terms, more than "
                "the memory budget holds"
            )
        check_size(terms * per_term, f"an ε·ε expansion in {self!r} with {terms} terms")
        factor = factor * self.det_eta
        result: dict[Diagram, object] = {}
        for tau in permutations(range(m)):
            extra = [(left[t], right[tau[t]]) for t in range(m)]
            result[self._make(pairs + extra, (), dom, cod)] = sympy.Integer(factor * _cycle_sign(tau))
        return result

    def _compose_diagrams(self, d1: Diagram, d2: Diagram) -> dict[Diagram, sympy.Expr]:
        free1, free2 = d1.free_vertices, d2.free_vertices
        if not free1 and not free2:
            return super()._compose_diagrams(d1, d2)
        paths = _Paths(_Stack(d1, d2))
        if paths.vanishes:  # ε contracted with a symmetric δ
            return {}
        dom, cod = d1.dom, d2.cod
        loops = self._power(paths.loops)
        if not (free1 and free2):
            side = 1 if free1 else 2
            ends = [paths.reached[side][i] for i in range(self.n)]
            return {self._make(paths.pairs, ends, dom, cod): _rank_sign(ends) * loops}
        # ε_a ε_b with the j contracted indices c last in both: ε_{a' c} ε_{b' c} summed over c
        # is j! · Σ_τ sgn(τ) Π δ(a'_t, b'_τ(t)); moving c last costs the sign of each reordering.
        open1, open2 = sorted(paths.reached[1]), sorted(paths.reached[2])
        contracted = sorted(paths.contracted)
        sign = _cycle_sign(open1 + [i for i, _ in contracted]) * _cycle_sign(open2 + [j for _, j in contracted])
        return {
            d: c * loops
            for d, c in self._epsilon_pairings(
                paths.pairs,
                [paths.reached[1][i] for i in open1],
                [paths.reached[2][j] for j in open2],
                sign * math.factorial(len(contracted)),
                dom,
                cod,
            ).items()
        }

    def _tensor_diagrams(self, d1: Diagram, d2: Diagram) -> dict[Diagram, sympy.Expr]:
        side = d1.tensor(d2)
        if not (d1.free_vertices and d2.free_vertices):
            kind = BrauerGroodDiagram if side.free_vertices else BrauerDiagram
            return {kind._from_canonical(side.blocks, side.dom, side.cod): sympy.Integer(1)}
        l1, l2, k1 = d1.cod, d2.cod, d1.dom
        top = l1 + l2

        def left(v: int) -> int:
            return v if v < l1 else top + (v - l1)

        def right(v: int) -> int:
            return l1 + v if v < l2 else top + k1 + (v - l2)

        pairs = [b for b in side.blocks if len(b) == 2]
        return self._epsilon_pairings(
            pairs,
            [left(v) for v in d1.free_vertices],
            [right(v) for v in d2.free_vertices],
            1,
            side.dom,
            side.cod,
        )


def natural_category(first: Diagram, second: Diagram) -> DiagramCategory:
    """The category in which a pair of bare diagrams is composed by ``>>``: BG(n) for Brauer–Grood
    diagrams where one has n > 0 free vertices (the other 0 or n), B(n) for Brauer diagrams, else
    P(n), with n the sympy symbol ``n`` where no number is implied.

    >>> natural_category(BrauerDiagram([[0, 1]], 1, 1), BrauerGroodDiagram([[0], [1]], 1, 1))
    BrauerGroodCategory(2)
    """
    for role, d in (("first", first), ("second", second)):
        if not isinstance(d, Diagram):
            raise TypeError(f"{role} must be a diagram, got {type(d).__name__}")
    brauer_like = all(isinstance(d, (BrauerDiagram, BrauerGroodDiagram)) for d in (first, second))
    if brauer_like:
        free = {len(first.free_vertices), len(second.free_vertices)} - {0}
        if len(free) > 1:
            raise ValueError(f"diagrams with {sorted(free)} free vertices belong to no common BG(n)")
        if free:
            return BrauerGroodCategory(free.pop())
        return BrauerCategory(sympy.Symbol("n"))
    return PartitionCategory(sympy.Symbol("n"))
