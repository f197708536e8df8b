"""The diagram categories P(n), B(δ) and BG(n) (math.md §2 and §3.4).

Objects are 0, 1, 2, … (object k stands for (R^n)^{⊗k}); morphisms k → l are spans of
(k, l)-diagrams. ``compose(f, g)`` is "f, then g" (the paper's g • f).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import cache
from itertools import combinations

import sympy

from .combination import Combination
from .diagram import BrauerDiagram, BrauerGroodDiagram, Diagram, PartitionDiagram
from .permutations import permutation_sign, signed_permutations

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


def _bell(size: int) -> int:
    return sum(_stirling2(size, t) for t in range(size + 1))


@cache
def _stirling2(size: int, parts: int) -> int:
    if size == parts:
        return 1
    if parts == 0 or parts > size:
        return 0
    return parts * _stirling2(size - 1, parts) + _stirling2(size - 1, parts - 1)


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


def _stack_paths(stack: _Stack, extra_edges: list[tuple[int, int]], free: list[int]):
    """Read off a stacked Brauer–Grood picture whose components are paths and loops.

    ``free`` lists the global ids of free vertices (path ends that are not outer vertices
    count as free). Returns None when a path joins two free vertices, else
    (pairs, end_of_free, loops): the outer-to-outer pairs (result numbering), for each free
    vertex the outer vertex its path reaches (result numbering), and the number of loops.
    """
    edges = stack.edges + extra_edges
    degree = [0] * stack.size
    for u, v in edges:
        degree[u] += 1
        degree[v] += 1
    free_set = set(free)
    pairs: list[tuple[int, int]] = []
    reached: dict[int, int] = {}
    loops = 0
    for component in _pair_graph_components(stack.size, edges):
        ends = [g for g in component if stack.is_outer(g) or g in free_set]
        if not ends:
            loops += 1
            continue
        if len(ends) == 1:  # a free outer vertex, standing alone
            g = ends[0]
            reached[g] = stack.result_vertex(g)
            continue
        a, b = ends
        a_free, b_free = a in free_set, b in free_set
        if a_free and b_free:
            return None
        if a_free or b_free:
            f, o = (a, b) if a_free else (b, a)
            reached[f] = stack.result_vertex(o)
        else:
            pairs.append((stack.result_vertex(a), stack.result_vertex(b)))
    return pairs, reached, loops


# -- categories ---------------------------------------------------------------------------------
def _check_parameter(value, name: str):
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{name} must be an int or a sympy expression, got {value!r}")
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, sympy.Basic):
        if isinstance(value, sympy.Float) or value.atoms(sympy.Float):
            raise TypeError(f"{name} must be exact, got the float {value}")
        return value
    raise TypeError(f"{name} must be an int or a sympy expression, got {type(value).__name__}")


class DiagramCategory(ABC):
    """Common machinery of the diagram categories; use a concrete one."""

    diagram_kind: type[Diagram] = PartitionDiagram
    _parameter_name = "n"

    def __init__(self, parameter):
        self._parameter = _check_parameter(parameter, self._parameter_name)
        self._powers: dict[int, sympy.Expr] = {}
        self._hom_cache: dict[tuple[int, int], tuple[Diagram, ...]] = {}

    @property
    def parameter(self):
        """The loop value δ: a closed loop in a composite contributes a factor δ."""
        return self._parameter

    @property
    def delta(self):
        return self._parameter

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._parameter})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._parameter == other._parameter

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._parameter))

    def __reduce__(self):
        return (type(self), (self._parameter,))

    def subs(self, *args, **kwargs):
        """The same category with the parameter substituted (sympy ``subs``)."""
        value = self._parameter.subs(*args, **kwargs)
        return type(self)(int(value) if value.is_Integer else value)

    def _power(self, loops: int):
        power = self._powers.get(loops)
        if power is None:
            power = sympy.expand(self._parameter**loops)
            self._powers[loops] = power
        return power

    # -- morphisms ---------------------------------------------------------------------------
    def contains(self, d: Diagram) -> bool:
        """True when ``d`` is a diagram of this category."""
        return isinstance(d, Diagram)

    def _check(self, d, role: str) -> None:
        if not isinstance(d, (Diagram, Combination)):
            raise TypeError(f"{role} must be a diagram or a Combination, got {type(d).__name__}")
        diagrams = [d] if isinstance(d, Diagram) else list(d.terms)
        for diagram in diagrams:
            if not self.contains(diagram):
                raise ValueError(f"{role} {diagram!r} is not a morphism of {self!r}: {self._why_not(diagram)}")

    def _why_not(self, d: Diagram) -> str:
        return "not a diagram"

    def identity(self, k: int) -> Diagram:
        """The identity diagram on k points."""
        return self.diagram_kind.identity(k)

    @abstractmethod
    def iter_hom(self, k: int, l: int) -> Iterator[Diagram]:
        """Lazily generate the diagrams k → l in canonical order."""

    def hom(self, k: int, l: int) -> tuple[Diagram, ...]:
        """All (k, l)-diagrams of this category, in canonical order (cached).

        >>> len(PartitionCategory(5).hom(2, 2))
        15
        """
        _check_object(k, "k")
        _check_object(l, "l")
        cached = self._hom_cache.get((k, l))
        if cached is None:
            cached = tuple(self.iter_hom(k, l))
            self._hom_cache[(k, l)] = cached
        return cached

    @abstractmethod
    def count(self, k: int, l: int) -> int:
        """The exact number of (k, l)-diagrams, from a closed formula."""

    def empty_reason(self, k: int, l: int) -> str | None:
        """Why there is no (k, l)-diagram, or None when there is one."""
        return None

    def compose(self, f, g) -> Combination:
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

    def tensor(self, f, g) -> Combination:
        """f ⊗ g, side by side (f on the left), bilinear in f and g."""
        self._check(f, "f")
        self._check(g, "g")
        if isinstance(f, Diagram) and isinstance(g, Diagram):
            return Combination._trusted(self._tensor_diagrams(f, g), f.dom + g.dom, f.cod + g.cod, self)
        return self._bilinear(f, g, self._tensor_diagrams, f.dom + g.dom, f.cod + g.cod)

    def _bilinear(self, f, g, product, dom: int, cod: int) -> Combination:
        f_terms = {f: sympy.Integer(1)} if isinstance(f, Diagram) else f.terms
        g_terms = {g: sympy.Integer(1)} if isinstance(g, Diagram) else g.terms
        total: dict[Diagram, object] = {}
        for d1, c1 in f_terms.items():
            for d2, c2 in g_terms.items():
                for d, c in product(d1, d2).items():
                    total[d] = total.get(d, 0) + c1 * c2 * c
        return Combination(total, dom, cod, self)

    def _compose_diagrams(self, d1: Diagram, d2: Diagram) -> dict[Diagram, object]:
        outer, loops = _concatenate_partitions(d1, d2)
        return {self.diagram_kind._from_labels(outer, d1.dom, d2.cod): self._power(loops)}

    def _tensor_diagrams(self, d1: Diagram, d2: Diagram) -> dict[Diagram, object]:
        d = d1.tensor(d2)
        return {self.diagram_kind._from_canonical(d.blocks, d.dom, d.cod): sympy.Integer(1)}

    def multiplication_table(self, k: int):
        """Structure constants of the endomorphism algebra of object k: int arrays
        ``(idx, loops)`` of shape (N, N), N = len(hom(k, k)), such that
        ``compose(H[i], H[j]) = delta**loops[i, j] * H[idx[i, j]]``. Computed in one numba
        batch over small integer arrays.
        """
        from ..backend.structure_constants import multiplication_table

        return multiplication_table(self.hom(k, k), k)


def _check_object(k, name: str) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"{name} must be an int >= 0 (an object of the category), got {k!r}")


def _check_composable(f, g) -> None:
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

    def iter_hom(self, k: int, l: int) -> Iterator[Diagram]:
        for rgs in _restricted_growth_strings(k + l):
            yield PartitionDiagram._from_labels(rgs, k, l)

    def count(self, k: int, l: int) -> int:
        return _bell(k + l)


class BrauerCategory(DiagramCategory):
    """The Brauer category B(δ): diagrams whose blocks are pairs, loops worth δ.

    O(n) uses B(n); Sp(n) uses B(−n) (math.md §3.3).

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

    def iter_hom(self, k: int, l: int) -> Iterator[Diagram]:
        if (k + l) % 2:
            return
        for matching in _perfect_matchings(tuple(range(k + l))):
            yield BrauerDiagram._from_canonical(tuple(matching), k, l)

    def count(self, k: int, l: int) -> int:
        return _double_factorial_odd(k + l)

    def empty_reason(self, k: int, l: int) -> str | None:
        if (k + l) % 2:
            return f"k + l = {k + l} is odd: no Brauer diagrams"
        return None


class BrauerGroodCategory(DiagramCategory):
    """The Brauer–Grood category BG(n) of SO(n) (math.md §3.4): Brauer diagrams and
    (l+k)\\n-diagrams (exactly n free vertices, all other blocks pairs).

    The n-diagrams are not linearly independent in BG(n): ε⊗ε = Σ_σ sgn(σ) δ_σ relates them.
    ``compose`` and ``tensor`` return one representative of the result, with the rules of
    math.md §3.4. Products with at most two n-diagram factors are associative on the nose.
    With three or more, two bracketings can give different representatives of the same
    morphism, and these agree once mapped to matrices by Ψ (``SO(n).functor``). The smallest
    example is BG(1) with H = {0}: 0 → 1: (H⊗H)⊗H = cap⊗H and H⊗(H⊗H) = H⊗cap.

    >>> BG = BrauerGroodCategory(2)
    >>> H = BrauerGroodDiagram([[0], [1]], dom=1, cod=1)
    >>> BG.compose(H, H)            # ε·ε contracted on one index: −identity
    Combination({BrauerDiagram([[0, 1]], dom=1, cod=1): -1}, dom=1, cod=1, category=BrauerGroodCategory(2))
    >>> BG.count(1, 1), BG.count(2, 2)
    (2, 9)
    """

    diagram_kind = BrauerDiagram

    def __init__(self, n):
        if isinstance(n, sympy.Integer):
            n = int(n)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(
                f"BrauerGroodCategory needs a positive int n (its n-diagrams have exactly n free vertices), got {n!r}"
            )
        super().__init__(n)
        self.n = n
        self._signed_permutations = signed_permutations(n)

    def contains(self, d: Diagram) -> bool:
        if not isinstance(d, Diagram) or any(len(b) > 2 for b in d.blocks):
            return False
        return len(d.free_vertices) in (0, self.n)

    def _why_not(self, d: Diagram) -> str:
        if any(len(b) > 2 for b in d.blocks):
            return "blocks must be pairs or free vertices"
        return f"it has {len(d.free_vertices)} free vertices; BG({self.n}) allows 0 or {self.n}"

    def iter_hom(self, k: int, l: int) -> Iterator[Diagram]:
        size = k + l
        yield from BrauerCategory(self.n).iter_hom(k, l)
        if size < self.n or (size - self.n) % 2:
            return
        for free in combinations(range(size), self.n):
            rest = tuple(v for v in range(size) if v not in free)
            for matching in _perfect_matchings(rest):
                blocks = tuple(sorted([(v,) for v in free] + matching))
                yield BrauerGroodDiagram._from_canonical(blocks, k, l)

    def count(self, k: int, l: int) -> int:
        size = k + l
        free = 0
        if size >= self.n and (size - self.n) % 2 == 0:
            free = math.comb(size, self.n) * _double_factorial_odd(size - self.n)
        return _double_factorial_odd(size) + free

    def empty_reason(self, k: int, l: int) -> str | None:
        if self.count(k, l) == 0:
            return (
                f"k + l = {k + l} is odd and {k + l} − n = {k + l - self.n} is not an even "
                "number ≥ 0: no Brauer diagrams and no n-diagrams"
            )
        return None

    @staticmethod
    def _make(pairs, singles, dom: int, cod: int) -> Diagram:
        blocks = tuple(sorted([tuple(sorted(p)) for p in pairs] + [(v,) for v in singles]))
        kind = BrauerGroodDiagram if singles else BrauerDiagram
        return kind._from_canonical(blocks, dom, cod)

    def _compose_diagrams(self, d1: Diagram, d2: Diagram) -> dict[Diagram, object]:
        free1, free2 = d1.free_vertices, d2.free_vertices
        if not free1 and not free2:
            return super()._compose_diagrams(d1, d2)
        stack = _Stack(d1, d2)
        dom, cod = d1.dom, d2.cod
        if free1 and free2:
            # ε_a ε_b = Σ_σ sgn(σ) Π_i δ(a_i, b_σ(i)): join free vertices pairwise.
            result: dict[Diagram, object] = {}
            for sigma, sign in self._signed_permutations:
                extra = [(stack.free1[i], stack.free2[sigma[i]]) for i in range(self.n)]
                pairs, _, loops = _stack_paths(stack, extra, [])
                d = self._make(pairs, (), dom, cod)
                result[d] = result.get(d, 0) + sign * self._power(loops)
            return {d: c for d, c in result.items() if c != 0}
        free = stack.free1 or stack.free2
        read = _stack_paths(stack, [], free)
        if read is None:  # ε contracted with a symmetric δ
            return {}
        pairs, reached, loops = read
        ends = [reached[f] for f in free]
        order = sorted(range(self.n), key=lambda i: ends[i])
        rank = [0] * self.n
        for position, i in enumerate(order):
            rank[i] = position
        sign = permutation_sign(rank)
        return {self._make(pairs, ends, dom, cod): sign * self._power(loops)}

    def _tensor_diagrams(self, d1: Diagram, d2: Diagram) -> dict[Diagram, object]:
        side = d1.tensor(d2)
        if not (d1.free_vertices and d2.free_vertices):
            kind = BrauerGroodDiagram if side.free_vertices else BrauerDiagram
            return {kind._from_canonical(side.blocks, side.dom, side.cod): sympy.Integer(1)}
        n = self.n
        l1, l2, k1 = d1.cod, d2.cod, d1.dom
        top = l1 + l2

        def left(v: int) -> int:
            return v if v < l1 else top + (v - l1)

        def right(v: int) -> int:
            return l1 + v if v < l2 else top + k1 + (v - l2)

        f1 = [left(v) for v in d1.free_vertices]
        f2 = [right(v) for v in d2.free_vertices]
        pairs = [b for b in side.blocks if len(b) == 2]
        result: dict[Diagram, object] = {}
        for sigma, sign in self._signed_permutations:
            extra = [(f1[i], f2[sigma[i]]) for i in range(n)]
            d = self._make(pairs + extra, (), side.dom, side.cod)
            result[d] = result.get(d, 0) + sign
        return {d: sympy.Integer(c) for d, c in result.items() if c != 0}

    def multiplication_table(self, k: int):
        raise TypeError(
            "BG(n) has no single-diagram multiplication table: a product of two n-diagrams is "
            "a signed sum of Brauer diagrams; use compose() for its exact value"
        )


def natural_category(first: Diagram, second: Diagram) -> DiagramCategory:
    """The category in which a pair of bare diagrams is composed by ``>>``: BG(n) for Brauer–Grood
    diagrams where one has n > 0 free vertices (the other 0 or n), B(n) for Brauer diagrams, else
    P(n), with n the sympy symbol ``n`` where no number is implied.

    >>> natural_category(BrauerDiagram([[0, 1]], 1, 1), BrauerGroodDiagram([[0], [1]], 1, 1))
    BrauerGroodCategory(2)
    """
    brauer_like = all(isinstance(d, (BrauerDiagram, BrauerGroodDiagram)) for d in (first, second))
    if brauer_like:
        free = {len(first.free_vertices), len(second.free_vertices)} - {0}
        if len(free) > 1:
            raise ValueError(f"diagrams with {sorted(free)} free vertices belong to no common BG(n)")
        if free:
            return BrauerGroodCategory(free.pop())
        return BrauerCategory(sympy.Symbol("n"))
    return PartitionCategory(sympy.Symbol("n"))
