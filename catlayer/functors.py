"""The functors Θ: P(n) → C(S_n), Φ: B(n) → C(O(n)), X: B(−n) → C(Sp(n)) (signed) and
Ψ: BG(n) → C(SO(n)), with images as lazy linear maps (math.md §3).

``G.functor(d)`` returns an :class:`EquivariantMap`: nothing is computed until asked for.

* ``to_numpy(dtype)`` — the dense n^l × n^k matrix (math.md §1 index order), size-guarded;
* ``to_sympy()`` — the exact matrix;
* ``apply(x)`` — the matrix-free action, delegated to :mod:`catlayer.backend`;
* ``f >> g`` ("f, then g", the matrix g·f) and ``f @ g`` (Kronecker product), so that the
  functor laws read ``F(d >> e) == F(d) >> F(e)`` and ``F(d @ e) == F(d) @ F(e)``;
  ``==`` is exact.

Entry formulas (x = (i_0..i_{l−1}, j_0..j_{k−1}) is the index on the vertices 0..l+k−1):

* E_π[x] = [x constant on every block] (S_n, O(n), Brauer diagrams of SO(n));
* X_π[x] = [x constant on every block, distinct blocks distinct] (S_n orbit basis);
* F′_β[x] = s(β) Π_{same-row {r<u}} ε[x_r, x_u] Π_{propagating {u,v}} [x_u = x_v] with
  ε = block-diag([[0, 1], [−1, 0]] × n/2) and s the sign of :func:`catlayer.plan.symplectic_sign`;
* H_α[x] = ε_{x[f_1]…x[f_n]} Π_{pairs} [x_u = x_v], free vertices f_1 < … < f_n.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache, partial
from itertools import permutations
from typing import TYPE_CHECKING

import numpy as np
import sympy

from .diagrams import Combination, Diagram
from .forms import levi_civita_nonzeros
from .plan import symplectic_sign

if TYPE_CHECKING:
    from .groups import Group

__all__ = ["EquivariantMap", "diagram_entries", "entry_evaluator"]


def check_size(num_bytes: int, what: str) -> None:
    """The shared memory guard (:func:`catlayer.backend.memory.check_size`), imported on first use
    so that importing catlayer does not load the numeric backend."""
    from .backend.memory import check_size as guard

    guard(num_bytes, what)


_INT64_SAFE = 2**62
BASES = ("diagram", "orbit")


# -- entries of one diagram ------------------------------------------------------------------------
def _cartesian(size: int, n: int, blocks) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices and values of Σ over independent choices per block. ``blocks`` lists
    (vertices, candidates (c × len(vertices)) int array, weights (c,) int array)."""
    powers = np.array([n ** (size - 1 - v) for v in range(size)], dtype=np.int64)
    count = math.prod(len(w) for _, _, w in blocks)
    check_size(16 * count, f"the {count} nonzero entries of a diagram's matrix")
    flat = np.zeros(1, dtype=np.int64)
    value = np.ones(1, dtype=np.int64)
    for vertices, candidates, weights in blocks:
        contribution = candidates.astype(np.int64) @ powers[list(vertices)]
        flat = (flat[:, None] + contribution[None, :]).ravel()
        value = (value[:, None] * weights[None, :]).ravel()
    return flat, value


def _delta_block(vertices, n: int):
    values = np.arange(n, dtype=np.int64)
    return vertices, np.repeat(values[:, None], len(vertices), axis=1), np.ones(n, dtype=np.int64)


def _epsilon_pair(vertices, n: int):
    m = n // 2
    firsts = np.arange(m, dtype=np.int64) * 2
    candidates = np.concatenate([np.stack([firsts, firsts + 1], 1), np.stack([firsts + 1, firsts], 1)])
    weights = np.concatenate([np.ones(m, dtype=np.int64), -np.ones(m, dtype=np.int64)])
    return vertices, candidates, weights


@lru_cache(maxsize=8192)
def _entries(family: str, n: int, d: Diagram, basis: str) -> tuple[np.ndarray, np.ndarray]:
    size = d.size
    if family == "partition" and basis == "orbit":
        count = len(d.blocks)
        if count > n:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        total = math.perm(n, count)
        check_size(16 * total, f"the {total} nonzero entries of an orbit-basis matrix")
        assignment = np.array(list(permutations(range(n), count)), dtype=np.int64).reshape(total, count)
        powers = np.array([n ** (size - 1 - v) for v in range(size)], dtype=np.int64)
        flat = assignment[:, list(d.labels)] @ powers if size else np.zeros(total, dtype=np.int64)
        return flat, np.ones(total, dtype=np.int64)
    blocks = []
    if family == "symplectic":
        for b in d.blocks:
            same_row = (b[1] < d.cod) or (b[0] >= d.cod)
            blocks.append(_epsilon_pair(b, n) if same_row else _delta_block(b, n))
        flat, value = _cartesian(size, n, blocks)
        return flat, value * symplectic_sign(d)
    if family == "special_orthogonal" and d.free_vertices:
        perms, signs = levi_civita_nonzeros(n)
        blocks.append((d.free_vertices, perms, signs))
        blocks += [_delta_block(b, n) for b in d.blocks if len(b) == 2]
        return _cartesian(size, n, blocks)
    return _cartesian(size, n, [_delta_block(b, n) for b in d.blocks])


# -- entries at given index tuples (no dense image) -------------------------------------------------
# One evaluator and one witness rule per family, dispatched by group class in :func:`entry_evaluator`.
# An evaluator maps a tuple of M diagrams and an (m, l + k) int array x of index tuples to the (M, m)
# int64 array of their entries, in a few numpy calls for all diagrams at once (padded tables); a
# witness is an index tuple where F(d) ≠ 0.
@lru_cache(maxsize=64)
def _equalities(diagrams: tuple[Diagram, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(M, q) tables u, v: x[u] == x[v] for every block (chains b[0] = b[j]), padded with 0 = 0."""
    chains = [[(b[0], v) for b in d.blocks for v in b[1:]] for d in diagrams]
    width = max((len(c) for c in chains), default=0)
    table = np.zeros((len(diagrams), width, 2), dtype=np.intp)
    for i, chain in enumerate(chains):
        if chain:
            table[i, : len(chain)] = chain
    return table[:, :, 0], table[:, :, 1]


@lru_cache(maxsize=64)
def _pairs(diagrams: tuple[Diagram, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(M, p) tables of the pairs (u < v) of Brauer diagrams, whether each lies in one row, and the
    sign s(d) of the signed Sp functor."""
    left = np.array([[b[0] for b in d.blocks] for d in diagrams], dtype=np.intp).reshape(len(diagrams), -1)
    right = np.array([[b[1] for b in d.blocks] for d in diagrams], dtype=np.intp).reshape(len(diagrams), -1)
    cod = np.array([d.cod for d in diagrams], dtype=np.intp)[:, None]
    same_row = (left < cod) == (right < cod)
    return left, right, same_row, np.array([symplectic_sign(d) for d in diagrams], dtype=np.int64)


def _all_equal(diagrams: tuple[Diagram, ...], x: np.ndarray) -> np.ndarray:
    first, other = _equalities(diagrams)
    return np.all(x[:, first] == x[:, other], axis=2).T.astype(np.int64)


def _levi_civita_sign(a: np.ndarray) -> np.ndarray:
    """ε_{a_1…a_n} along the last axis of ``a`` (values in 0..n−1) as Π_{i<j} sign(a_j − a_i): 0 when
    two indices agree, else (−1)^(number of inversions). O(n²) per tuple, no table of permutations."""
    first, second = np.triu_indices(a.shape[-1], 1)
    a = a.astype(np.int32)
    differences = a[..., second] - a[..., first]
    inversions = np.count_nonzero(differences < 0, axis=-1)
    return np.where(np.all(differences != 0, axis=-1), 1 - 2 * (inversions % 2), 0).astype(np.int64)


def _evaluate_partition(n: int, diagrams: tuple[Diagram, ...], x: np.ndarray) -> np.ndarray:
    return _all_equal(diagrams, x)


def _evaluate_symplectic(n: int, diagrams: tuple[Diagram, ...], x: np.ndarray) -> np.ndarray:
    left, right, same_row, sign = _pairs(diagrams)
    a, b = x[:, left], x[:, right]
    # same-row pair (u < v): ε[x_u, x_v] = +1 on (2c, 2c+1), −1 on (2c+1, 2c); propagating pair: δ
    factors = np.where(same_row, (b == (a ^ 1)) * (1 - 2 * (a & 1)), a == b)
    return sign[:, None] * np.prod(factors, axis=2, dtype=np.int64).T


@lru_cache(maxsize=64)
def _free_vertices(diagrams: tuple[Diagram, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the diagrams with free vertices, and their free vertices (one row each)."""
    free = [d.free_vertices for d in diagrams]
    rows = [i for i, f in enumerate(free) if f]
    width = len(free[rows[0]]) if rows else 0
    return np.array(rows, dtype=np.intp), np.array([free[i] for i in rows], dtype=np.intp).reshape(len(rows), width)


def _evaluate_special_orthogonal(n: int, diagrams: tuple[Diagram, ...], x: np.ndarray) -> np.ndarray:
    value = _all_equal(diagrams, x)
    rows, free = _free_vertices(diagrams)
    if rows.size:
        value[rows] *= _levi_civita_sign(x[:, free]).T
    return value


def _first_appearance(values: list[int]) -> list[int]:
    """Relabel values 0, 1, 2, … in order of first appearance (the entries of E_π and, up to one
    sign per tuple, of H_α do not change under a permutation of the index values)."""
    names: dict[int, int] = {}
    return [names.setdefault(v, len(names)) for v in values]


def _shuffled(colours: list[int], rng: random.Random) -> list[int]:
    """Half the random witnesses permute the canonical colours (as many distinct values as
    possible), the other half draw uniform ones (coarser tuples)."""
    if rng.random() < 0.5:
        return rng.sample(colours, len(colours))
    top = max(colours, default=0) + 1
    return [rng.randrange(top) for _ in colours]


def _witness_partition(n: int, d: Diagram, rng: random.Random | None) -> np.ndarray:
    colours = [i % n for i in range(len(d.blocks))]
    if rng is not None:
        colours = _first_appearance(_shuffled(colours, rng))
    return np.array([colours[b] for b in d.labels], dtype=np.int64)


def _witness_symplectic(n: int, d: Diagram, rng: random.Random | None) -> np.ndarray:
    """Pair i gets the colour c = 2·plane + bit (planes 0, 1, …, n/2 − 1 first, then the other
    bit); a same-row pair (u < v) carries (c, c ^ 1), where ε = ±1, a propagating one (c, c)."""
    m = n // 2
    colours = [2 * (i % m) + (i // m) % 2 for i in range(len(d.blocks))]
    if rng is not None:
        colours = [c ^ rng.getrandbits(1) for c in _shuffled(colours, rng)]
        planes = _first_appearance([c // 2 for c in colours])
        colours = [2 * plane + (c & 1) for plane, c in zip(planes, colours, strict=True)]
    x = [0] * d.size
    for (u, v), c in zip(d.blocks, colours, strict=True):
        x[u], x[v] = c, (c ^ 1 if (u < d.cod) == (v < d.cod) else c)
    return np.array(x, dtype=np.int64)


def _witness_special_orthogonal(n: int, d: Diagram, rng: random.Random | None) -> np.ndarray:
    """As for E_π, and the free vertices of an n-diagram get distinct values."""
    pairs = [b for b in d.blocks if len(b) == 2]
    colours = [i % n for i in range(len(pairs))]
    free_vertices = [b[0] for b in d.blocks if len(b) == 1]
    free = list(range(len(free_vertices)))
    if rng is not None:
        colours, free = _shuffled(colours, rng), rng.sample(free, len(free))
    x = [0] * d.size
    for v, value in zip(free_vertices, free, strict=True):
        x[v] = value
    for (u, v), c in zip(pairs, colours, strict=True):
        x[u] = x[v] = c
    return np.array(_first_appearance(x) if rng is not None else x, dtype=np.int64)


@lru_cache(maxsize=1)
def _entry_rules() -> dict:
    from .groups import SO, O, S, Sp

    return {
        S: (_evaluate_partition, _witness_partition),
        O: (_evaluate_partition, _witness_partition),
        SO: (_evaluate_special_orthogonal, _witness_special_orthogonal),
        Sp: (_evaluate_symplectic, _witness_symplectic),
    }


def entry_evaluator(group: Group) -> tuple[Callable, Callable]:
    """``(evaluate, witness)``: the diagram-basis images of ``group`` at chosen index tuples,
    without dense matrices.

    ``evaluate(diagrams, x)``: the (len(diagrams), m) int64 array of the entries F(d)[x_j] of the
    images of a tuple of diagrams at the rows x_j of an (m, l + k) int array, straight from the
    entry formulas (docs/conventions.md; the Levi-Civita sign by Π_{i<j} sign(a_j − a_i)).
    ``witness(d, rng)``: an index tuple where F(d) ≠ 0, one value per block: block i gets i mod n
    (Sp: pairs fill the n/2 symplectic planes first) for ``rng=None``; with a ``random.Random``,
    those values permuted or drawn uniformly, then relabelled in order of first appearance.

    >>> from catlayer import SO, BrauerGroodDiagram
    >>> evaluate, witness = entry_evaluator(SO(3))
    >>> d = BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1)      # the cross product
    >>> evaluate((d,), np.array([[0, 1, 2], [2, 1, 0], [0, 0, 1]])).tolist()
    [[1, -1, 0]]
    >>> witness(d, None).tolist()
    [0, 1, 2]
    """
    try:
        evaluate, witness = _entry_rules()[type(group)]
    except KeyError:
        raise TypeError(f"no entry formula for {type(group).__name__}") from None
    return partial(evaluate, group.n), partial(witness, group.n)


def diagram_entries(group: Group, d: Diagram, basis: str = "diagram") -> tuple[np.ndarray, np.ndarray]:
    """The nonzero entries of the image of one diagram: flat indices into the n^(l+k) entries
    (row-major over the vertices 0..l+k−1, i.e. ``row * n**k + column``) and integer values.

    >>> from catlayer import Sp, BrauerDiagram
    >>> flat, values = diagram_entries(Sp(2), BrauerDiagram([[0, 1]], dom=0, cod=2))
    >>> flat.tolist(), values.tolist()            # cap ↦ −ε as a vector
    ([1, 2], [-1, 1])
    """
    group._check_diagram(d)
    if basis not in BASES:
        raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
    if basis == "orbit" and group.family != "partition":
        raise ValueError(f"the orbit basis belongs to S_n; {group!r} has only the diagram basis")
    return _entries(group.family, group.n, d, basis)


# -- exact integer helpers ---------------------------------------------------------------------------
def _max_abs(a: np.ndarray) -> int:
    if a.size == 0:
        return 0
    if a.dtype == object:
        return max(abs(int(x)) for x in a.flat)
    return int(np.abs(a).max())


def _int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype != object and b.dtype != object and _max_abs(a) * _max_abs(b) * max(a.shape[1], 1) < _INT64_SAFE:
        return a @ b
    return a.astype(object).dot(b.astype(object))


def _int_kron(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype != object and b.dtype != object and _max_abs(a) * _max_abs(b) < _INT64_SAFE:
        return np.kron(a, b)
    return np.kron(a.astype(object), b.astype(object))


def _as_fraction(c) -> Fraction | None:
    c = sympy.sympify(c)
    if c.is_Rational:
        return Fraction(int(c.p), int(c.q))
    return None


# -- lazy maps -----------------------------------------------------------------------------------------
class EquivariantMap:
    """A lazy linear map (R^n)^{⊗k} → (R^n)^{⊗l}: the image of a diagram or a combination under
    a group's functor, or a composite (``>>``), Kronecker product (``@``) or linear combination
    of such images. Build one with ``G.functor(d)``.

    >>> from catlayer import S, PartitionDiagram
    >>> G = S(3)
    >>> d = PartitionDiagram([[0], [1]], dom=1, cod=1)          # the all-ones 3 × 3 matrix
    >>> F = G.functor(d)
    >>> F.to_numpy().tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    >>> F >> F == G.functor(G.category.compose(d, d))          # = 3 · F(d)
    True
    >>> (F @ F).dom, (F @ F).cod
    (2, 2)
    """

    __slots__ = ("_basis", "_children", "_cod", "_dom", "_group", "_kind", "_terms")

    def __init__(self, group: Group, kind: str, dom: int, cod: int, *, terms=(), basis="diagram", children=()):
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_dom", dom)
        object.__setattr__(self, "_cod", cod)
        object.__setattr__(self, "_terms", tuple(terms))
        object.__setattr__(self, "_basis", basis)
        object.__setattr__(self, "_children", tuple(children))

    def __setattr__(self, name, value):
        raise AttributeError("EquivariantMap is immutable")

    @classmethod
    def _leaf(cls, group: Group, subject, basis: str = "diagram") -> EquivariantMap:
        if basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
        if basis == "orbit" and group.family != "partition":
            raise ValueError(f"the orbit basis belongs to S_n; {group!r} has only the diagram basis")
        if isinstance(subject, Diagram):
            group._check_diagram(subject)
            return cls(group, "leaf", subject.dom, subject.cod, terms=((subject, sympy.Integer(1)),), basis=basis)
        if isinstance(subject, Combination):
            terms = group._evaluate_coefficients(subject)
            for d, _ in terms:
                group._check_diagram(d)
            return cls(group, "leaf", subject.dom, subject.cod, terms=terms, basis=basis)
        raise TypeError(f"a functor maps diagrams and Combinations, not {type(subject).__name__}")

    # -- data ------------------------------------------------------------------------------------
    @property
    def group(self) -> Group:
        """The group whose functor produced this map."""
        return self._group

    @property
    def dom(self) -> int:
        """k: the map acts on (R^n)^{⊗k}."""
        return self._dom

    @property
    def cod(self) -> int:
        """l: the map lands in (R^n)^{⊗l}."""
        return self._cod

    @property
    def shape(self) -> tuple[int, int]:
        """(n**l, n**k), the shape of the dense matrix."""
        n = self._group.n
        return n**self._cod, n**self._dom

    @property
    def terms(self) -> tuple[tuple[Diagram, sympy.Expr], ...]:
        """For the image of a diagram or combination: its (diagram, exact coefficient) pairs;
        empty for a composite."""
        return self._terms if self._kind == "leaf" else ()

    @property
    def basis(self) -> str:
        """ "diagram" (E_π, F′_β, H_α) or "orbit" (X_π, S_n only)."""
        return self._basis

    # -- algebra -----------------------------------------------------------------------------------
    def _same_group(self, other: EquivariantMap, what: str) -> None:
        if not isinstance(other, EquivariantMap):
            raise TypeError(f"cannot {what} an EquivariantMap with {type(other).__name__}")
        if other._group != self._group:
            raise ValueError(f"cannot {what} maps of different groups: {self._group!r} and {other._group!r}")

    def then(self, other: EquivariantMap) -> EquivariantMap:
        """ "self, then other": the matrix ``other · self``."""
        self._same_group(other, "compose")
        if self._cod != other._dom:
            raise ValueError(
                f"cannot compose: the first map ends at {self._cod} tensor factors, the second starts at {other._dom}"
            )
        return EquivariantMap(self._group, "compose", self._dom, other._cod, children=(self, other))

    def __rshift__(self, other):
        if not isinstance(other, EquivariantMap):
            return NotImplemented
        return self.then(other)

    def tensor(self, other: EquivariantMap) -> EquivariantMap:
        """Kronecker product: ``self`` on the leading tensor factors, ``other`` on the rest."""
        self._same_group(other, "tensor")
        return EquivariantMap(
            self._group, "tensor", self._dom + other._dom, self._cod + other._cod, children=(self, other)
        )

    def __matmul__(self, other):
        if not isinstance(other, EquivariantMap):
            return NotImplemented
        return self.tensor(other)

    def _linear(self, pairs) -> EquivariantMap:
        coefficients = tuple(c for c, _ in pairs)
        children = tuple(m for _, m in pairs)
        return EquivariantMap(self._group, "linear", self._dom, self._cod, terms=coefficients, children=children)

    def __add__(self, other):
        if not isinstance(other, EquivariantMap):
            return NotImplemented
        self._same_group(other, "add")
        if (self._dom, self._cod) != (other._dom, other._cod):
            raise ValueError(f"cannot add maps {self._dom} → {self._cod} and {other._dom} → {other._cod}")
        return self._linear([(sympy.Integer(1), self), (sympy.Integer(1), other)])

    def __radd__(self, other):
        if isinstance(other, int) and other == 0:  # sum() of maps
            return self
        return NotImplemented

    def __neg__(self):
        return self._linear([(sympy.Integer(-1), self)])

    def __sub__(self, other):
        if not isinstance(other, EquivariantMap):
            return NotImplemented
        return self + (-other)

    def __mul__(self, scalar):
        if isinstance(scalar, (EquivariantMap, np.ndarray)):
            return NotImplemented
        if isinstance(scalar, float):
            raise TypeError("scalars of an EquivariantMap are exact: use an int, Fraction or sympy number")
        return self._linear([(sympy.sympify(scalar), self)])

    __rmul__ = __mul__

    # -- exact values ------------------------------------------------------------------------------
    def _leaf_coefficients(self):
        return [(d, _as_fraction(c)) for d, c in self._terms]

    def is_rational(self) -> bool:
        """True when every coefficient involved is rational (then :meth:`to_exact` works)."""
        if self._kind == "leaf":
            return all(f is not None for _, f in self._leaf_coefficients())
        if self._kind == "linear" and any(_as_fraction(c) is None for c in self._terms):
            return False
        return all(child.is_rational() for child in self._children)

    def to_exact(self) -> tuple[np.ndarray, int]:
        """``(A, q)`` with A an integer matrix (int64, or Python ints in an object array when
        int64 could overflow) and q ≥ 1 an int, such that the map's matrix is exactly A / q.

        >>> from catlayer import Sp, BrauerDiagram
        >>> A, q = Sp(2).functor(BrauerDiagram([[0, 1]], dom=2, cod=0)).to_exact()   # cup ↦ ε
        >>> A.tolist(), q
        ([[0, 1, -1, 0]], 1)
        """
        rows, cols = self.shape
        check_size(8 * rows * cols, f"an exact {rows} x {cols} matrix")
        if self._kind == "leaf":
            coefficients = self._leaf_coefficients()
            if any(f is None for _, f in coefficients):
                raise ValueError("the map has irrational or symbolic coefficients: use to_sympy()")
            q = math.lcm(1, *(f.denominator for _, f in coefficients))
            scaled = [(d, f.numerator * (q // f.denominator)) for d, f in coefficients]
            bound = sum(abs(c) for _, c in scaled)
            a = np.zeros(rows * cols, dtype=np.int64 if bound < _INT64_SAFE else object)
            for d, c in scaled:
                flat, value = _entries(self._group.family, self._group.n, d, self._basis)
                if a.dtype == object:
                    for i, v in zip(flat.tolist(), value.tolist(), strict=True):
                        a[i] += c * v
                else:
                    np.add.at(a, flat, value * c)
            return a.reshape(rows, cols), q
        if self._kind == "compose":
            first, second = self._children
            a1, q1 = first.to_exact()
            a2, q2 = second.to_exact()
            return _int_matmul(a2, a1), q1 * q2
        if self._kind == "tensor":
            left, right = self._children
            a1, q1 = left.to_exact()
            a2, q2 = right.to_exact()
            return _int_kron(a1, a2), q1 * q2
        fractions = [_as_fraction(c) for c in self._terms]
        if any(f is None for f in fractions):
            raise ValueError("the map has irrational or symbolic coefficients: use to_sympy()")
        parts = [child.to_exact() for child in self._children]
        q = math.lcm(1, *(f.denominator * qi for f, (_, qi) in zip(fractions, parts, strict=True)))
        total = np.zeros((rows, cols), dtype=object)
        for f, (a, qi) in zip(fractions, parts, strict=True):
            total = total + a.astype(object) * (f.numerator * (q // (f.denominator * qi)))
        if _max_abs(total) < _INT64_SAFE:
            total = total.astype(np.int64)
        return total, q

    def to_sympy(self) -> sympy.ImmutableMatrix:
        """The exact matrix (sympy), n^l × n^k in math.md §1 order.

        >>> from catlayer import SO, BrauerGroodDiagram
        >>> SO(2).functor(BrauerGroodDiagram([[0], [1]], dom=1, cod=1)).to_sympy()
        Matrix([
        [ 0, 1],
        [-1, 0]])
        """
        rows, cols = self.shape
        if self.is_rational():
            a, q = self.to_exact()
            if q == 1:
                entries = [sympy.Integer(int(x)) for x in a.flat]
            else:
                entries = [sympy.Rational(int(x), q) for x in a.flat]
            return sympy.ImmutableMatrix(rows, cols, entries)
        if self._kind == "leaf":
            total = sympy.zeros(rows, cols)
            for d, c in self._terms:
                flat, value = _entries(self._group.family, self._group.n, d, self._basis)
                for i, v in zip(flat.tolist(), value.tolist(), strict=True):
                    total[i // cols, i % cols] += c * v
            return sympy.ImmutableMatrix(total)
        if self._kind == "compose":
            first, second = self._children
            return sympy.ImmutableMatrix(second.to_sympy() * first.to_sympy())
        if self._kind == "tensor":
            from sympy.physics.quantum import TensorProduct

            left, right = self._children
            return sympy.ImmutableMatrix(TensorProduct(left.to_sympy(), right.to_sympy()))
        total = sympy.zeros(rows, cols)
        for c, child in zip(self._terms, self._children, strict=True):
            total += c * child.to_sympy()
        return sympy.ImmutableMatrix(total)

    def to_numpy(self, dtype=np.float64) -> np.ndarray:
        """The dense matrix, shape (n**l, n**k), math.md §1 index order. Floating dtypes take
        float values of the coefficients; integer dtypes are exact (the map must have integer
        entries). The size is checked before allocating.

        >>> from catlayer import O, BrauerDiagram
        >>> O(2).functor(BrauerDiagram([[0, 1]], dom=0, cod=2)).to_numpy().tolist()   # cap ↦ vec(I)
        [[1.0], [0.0], [0.0], [1.0]]
        """
        dtype = np.dtype(dtype)
        rows, cols = self.shape
        check_size(dtype.itemsize * rows * cols, f"a dense {rows} x {cols} matrix of {dtype}")
        if np.issubdtype(dtype, np.integer):
            a, q = self.to_exact()
            if q != 1:
                a = a.astype(object)
                if any(x % q for x in a.flat):
                    raise ValueError(f"the map has non-integer entries: cannot convert to {dtype}")
                a = a // q
            info = np.iinfo(dtype)
            if _max_abs(np.asarray(a)) > min(info.max, -info.min - 1):
                raise OverflowError(f"entries do not fit in {dtype}")
            return np.asarray(a).astype(dtype)
        if self._kind == "leaf":
            out = np.zeros(rows * cols, dtype=dtype)
            for d, c in self._terms:
                flat, value = _entries(self._group.family, self._group.n, d, self._basis)
                np.add.at(out, flat, (value * float(c)).astype(dtype))
            return out.reshape(rows, cols)
        if self._kind == "compose":
            first, second = self._children
            return second.to_numpy(dtype) @ first.to_numpy(dtype)
        if self._kind == "tensor":
            left, right = self._children
            return np.kron(left.to_numpy(dtype), right.to_numpy(dtype))
        out = np.zeros((rows, cols), dtype=dtype)
        for c, child in zip(self._terms, self._children, strict=True):
            out += float(c) * child.to_numpy(dtype)
        return out

    def __array__(self, dtype=None, copy=None):
        return self.to_numpy(np.float64 if dtype is None else dtype)

    # -- application -------------------------------------------------------------------------------
    def apply(self, x: np.ndarray) -> np.ndarray:
        """Apply to x of shape (n,)*k or (batch,)+(n,)*k without forming the matrix; returns
        the same leading shape with l trailing axes. Delegates to the numba backend
        (:func:`catlayer.backend.apply` / :func:`catlayer.backend.apply_layer`). Integer and
        boolean input is converted to float64; float32 and float64 keep their dtype.

        >>> from catlayer import S, PartitionDiagram
        >>> transpose = PartitionDiagram([[0, 3], [1, 2]], dom=2, cod=2)
        >>> S(2).functor(transpose).apply(np.array([[1, 2], [3, 4]]))
        array([[1., 3.],
               [2., 4.]])
        """
        x = np.asarray(x)
        if x.dtype.kind in "biu":
            x = x.astype(np.float64)
        n, k = self._group.n, self._dom
        if x.shape == (n,) * k:
            return self._apply_batch(x[None])[0]
        if x.ndim == k + 1 and x.shape[1:] == (n,) * k:
            return self._apply_batch(x)
        raise ValueError(
            f"expected an array of shape {(n,) * k} or (batch,) + {(n,) * k} for a map on (R^{n})^⊗{k}, got {x.shape}"
        )

    def _apply_batch(self, x: np.ndarray) -> np.ndarray:
        from .backend import apply, apply_layer

        n, group = self._group.n, self._group
        batch = x.shape[0]
        if self._kind == "leaf":
            terms = self._terms
            if self._basis == "orbit":
                from .bases import orbit_to_diagram

                combination = orbit_to_diagram(Combination(dict(terms), self._dom, self._cod), n)
                terms = tuple(combination.terms.items())
            if not terms:
                return np.zeros((batch,) + (n,) * self._cod, dtype=np.result_type(x.dtype, np.float32))
            if len(terms) == 1 and terms[0][1] == 1:
                return apply(group, terms[0][0], x)
            diagrams = tuple(d for d, _ in terms)
            weights = np.array([float(c) for _, c in terms], dtype=x.dtype if x.dtype.kind == "f" else np.float64)
            return apply_layer(group, diagrams, weights.reshape(1, 1, -1), x[:, None])[:, 0]
        if self._kind == "compose":
            first, second = self._children
            return second._apply_batch(first._apply_batch(x))
        if self._kind == "tensor":
            left, right = self._children
            k1, k2, l1, l2 = left._dom, right._dom, left._cod, right._cod
            y = right._apply_batch(x.reshape((batch * n**k1,) + (n,) * k2))
            y = y.reshape((batch,) + (n,) * (k1 + l2))
            y = np.moveaxis(y, list(range(1, 1 + k1)), list(range(1 + l2, 1 + l2 + k1)))
            y = left._apply_batch(np.ascontiguousarray(y).reshape((batch * n**l2,) + (n,) * k1))
            y = y.reshape((batch,) + (n,) * (l2 + l1))
            return np.moveaxis(y, list(range(1 + l2, 1 + l2 + l1)), list(range(1, 1 + l1)))
        out = None
        for c, child in zip(self._terms, self._children, strict=True):
            part = float(c) * child._apply_batch(x)
            out = part if out is None else out + part
        return out

    # -- comparison and printing ---------------------------------------------------------------------
    def __eq__(self, other) -> bool:
        if not isinstance(other, EquivariantMap):
            return NotImplemented
        if other._group != self._group or (self._dom, self._cod) != (other._dom, other._cod):
            return False
        if self.is_rational() and other.is_rational():
            a1, q1 = self.to_exact()
            a2, q2 = other.to_exact()
            if q1 == q2:
                return bool(np.array_equal(a1, a2))
            return bool(np.array_equal(a1.astype(object) * q2, a2.astype(object) * q1))
        difference = sympy.Matrix(self.to_sympy() - other.to_sympy()).applyfunc(sympy.simplify)
        return difference.is_zero_matrix is True

    __hash__ = None

    def __repr__(self) -> str:
        group = repr(self._group)
        if self._kind == "leaf":
            suffix = ', basis="orbit"' if self._basis == "orbit" else ""
            if len(self._terms) == 1 and self._terms[0][1] == 1:
                return f"{group}.functor({self._terms[0][0]!r}{suffix})"
            body = ", ".join(f"{d!r}: {c}" for d, c in self._terms)
            return f"{group}.functor(Combination({{{body}}}, dom={self._dom}, cod={self._cod}){suffix})"
        if self._kind == "compose":
            return f"({self._children[0]!r} >> {self._children[1]!r})"
        if self._kind == "tensor":
            return f"({self._children[0]!r} @ {self._children[1]!r})"
        return " + ".join(f"({c})*{child!r}" for c, child in zip(self._terms, self._children, strict=True))

    def __str__(self) -> str:
        return f"{self._group!r}-equivariant map (R^{self._group.n})^⊗{self._dom} → (R^{self._group.n})^⊗{self._cod}"
