"""Images of diagrams under a group's functor, as lazy linear maps.

``G.functor(d)`` returns an :class:`EquivariantMap`: nothing is computed until asked for.

* ``to_numpy(dtype)`` — the dense n^l × n^k matrix (rows: output multi-index, columns: input
  multi-index, first factor most significant), size-guarded;
* ``to_sympy()`` — the exact matrix;
* ``apply(x)`` — the matrix-free action, run by the executor that ``catlayer/__init__.py``
  plugs in with :func:`set_executor` (the numba kernels of :mod:`catlayer.backend`, loaded at the
  first call): this module imports nothing above the diagrams;
* ``f >> g`` ("f, then g", the matrix g·f) and ``f @ g`` (Kronecker product), so that the
  functor laws read ``F(d >> e) == F(d) >> F(e)`` and ``F(d @ e) == F(d) @ F(e)``;
  ``==`` is exact.

For a product group G × H (docs/conventions.md §10) ``(G * H).functor(p)`` returns a
:class:`ProductMap`: the same interface on tensors whose axes are the first factor's, then the
second's; its matrix is ``np.kron(F_G(d), F_H(e))`` for a pair p = (d, e).

The entries of each image come from the group (:meth:`catlayer.groups.Group.entries`), which
owns its functor's entry formula (docs/conventions.md lists them for every family).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any, ClassVar, Protocol, Self

import numpy as np
import numpy.typing as npt
import sympy

from .diagrams import Combination, Diagram
from .diagrams.product import ProductCombination, ProductDiagram
from .memory import check_size

__all__ = ["EquivariantMap", "GroupLike", "ProductMap", "diagram_entries", "set_executor"]


class GroupLike(Protocol):
    """What an image needs of its group: every family of :mod:`catlayer.groups` and
    :class:`~catlayer.groups.ProductGroup` has it. The functors sit below the groups (a group
    builds its images) and name them only through this protocol; so does
    :mod:`catlayer.projection`."""

    @property
    def bases(self) -> tuple[str, ...]: ...

    @property
    def n(self) -> Any: ...

    def entries(self, d: Any, basis: str = "diagram") -> tuple[np.ndarray, np.ndarray]: ...

    def check_diagram(self, d: Any) -> None: ...

    def specialise(self, c: Any) -> Any: ...

    def functor(self, d: Any, basis: str = "diagram") -> Any: ...


_INT64_SAFE = 2**62

#: A function returning (apply, apply_layer) of the executor of apply(); see set_executor.
_executor: Callable[[], tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]] | None = None


def set_executor(load: Callable[[], tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]]) -> None:
    """Plug in the executor of :meth:`EquivariantMap.apply`: ``load()`` returns the pair
    ``(apply(group, diagram, x), apply_layer(group, diagrams, weights, x))`` of
    :mod:`catlayer.backend` (called at the first ``apply``, so that the executor's own imports
    are paid only then). ``catlayer/__init__.py`` plugs in the numba backend; the symbolic core
    never imports it."""
    global _executor
    _executor = load


def _execute() -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    if _executor is None:
        raise RuntimeError("no executor for EquivariantMap.apply: import catlayer (it plugs in catlayer.backend)")
    return _executor()


def _apply_terms(group: GroupLike, terms: tuple, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """Σ c·F(d) over the (diagram, coefficient) terms of a leaf, applied to the batch x (the
    executor's single-diagram kernel for one unit term, its layer kernel otherwise)."""
    apply, apply_layer = _execute()
    if not terms:
        return np.zeros((x.shape[0], *out_shape), dtype=np.result_type(x.dtype, np.float32))
    if len(terms) == 1 and terms[0][1] == 1:
        return apply(group, terms[0][0], x)
    diagrams = tuple(d for d, _ in terms)
    weights = np.array([float(c) for _, c in terms], dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    return apply_layer(group, diagrams, weights.reshape(1, 1, -1), x[:, None])[:, 0]


def diagram_entries(group: GroupLike, d: Diagram, basis: str = "diagram") -> tuple[np.ndarray, np.ndarray]:
    """The nonzero entries of the image of one diagram (see :meth:`catlayer.groups.Group.entries`):
    flat indices into the n^(l+k) entries (``row * n**k + column``) and integer values,
    read-only.

    >>> from catlayer import Sp, BrauerDiagram
    >>> flat, values = diagram_entries(Sp(2), BrauerDiagram([[0, 1]], dom=0, cod=2))
    >>> flat.tolist(), values.tolist()            # cap ↦ −ε as a vector
    ([1, 2], [-1, 1])
    """
    return group.entries(d, basis)


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

    def __init__(self, group: GroupLike, kind: str, dom: int, cod: int, *, terms=(), basis="diagram", children=()):
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_dom", dom)
        object.__setattr__(self, "_cod", cod)
        object.__setattr__(self, "_terms", tuple(terms))
        object.__setattr__(self, "_basis", basis)
        object.__setattr__(self, "_children", tuple(children))

    def __setattr__(self, name, value):
        raise AttributeError("EquivariantMap is immutable")

    #: What the functor maps (a diagram, a combination of them) and how a refusal says so.
    _diagram: ClassVar[type] = Diagram
    _combination: ClassVar[type] = Combination
    _maps = "a functor maps diagrams and Combinations"

    @classmethod
    def image(cls, group: GroupLike, subject, basis: str = "diagram") -> Self:
        """The image of a diagram or Combination (for a :class:`ProductMap`, a product diagram or
        combination) under ``group``'s functor (what ``group.functor(subject, basis)`` returns)."""
        if basis not in group.bases:
            raise ValueError(f"{group!r} has the bases {group.bases}, not {basis!r}")
        if isinstance(subject, cls._diagram):
            group.check_diagram(subject)
            return cls(group, "leaf", subject.dom, subject.cod, terms=((subject, sympy.Integer(1)),), basis=basis)
        if isinstance(subject, cls._combination):
            terms = group.specialise(subject)
            for d, _ in terms:
                group.check_diagram(d)
            return cls(group, "leaf", subject.dom, subject.cod, terms=terms, basis=basis)
        raise TypeError(f"{cls._maps}, not {type(subject).__name__}")

    # -- data ------------------------------------------------------------------------------------
    @property
    def group(self) -> GroupLike:
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
        return type(self)(self._group, "compose", self._dom, other._cod, children=(self, other))

    def __rshift__(self, other):
        if not isinstance(other, EquivariantMap):
            return NotImplemented
        return self.then(other)

    def tensor(self, other: EquivariantMap) -> EquivariantMap:
        """Kronecker product: ``self`` on the leading tensor factors, ``other`` on the rest."""
        self._same_group(other, "tensor")
        return type(self)(self._group, "tensor", self._dom + other._dom, self._cod + other._cod, children=(self, other))

    def __matmul__(self, other):
        if not isinstance(other, EquivariantMap):
            return NotImplemented
        return self.tensor(other)

    def _linear(self, pairs) -> EquivariantMap:
        coefficients = tuple(c for c, _ in pairs)
        children = tuple(m for _, m in pairs)
        return type(self)(self._group, "linear", self._dom, self._cod, terms=coefficients, children=children)

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
                flat, value = self._group.entries(d, self._basis)
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
        """The exact matrix (sympy), n^l × n^k in docs/conventions.md §1.1 order.

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
                flat, value = self._group.entries(d, self._basis)
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
        """The dense matrix, shape (n**l, n**k), docs/conventions.md §1.1 index order. Floating dtypes take
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
                flat, value = self._group.entries(d, self._basis)
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
        n, group = self._group.n, self._group
        batch = x.shape[0]
        if self._kind == "leaf":
            terms = self._terms
            if self._basis == "orbit":
                combination = group.orbit_to_diagram(Combination(dict(terms), self._dom, self._cod))
                terms = tuple(combination.terms.items())
            return _apply_terms(group, terms, x, (n,) * self._cod)
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


# -- products of groups ------------------------------------------------------------------------------
def _axis_shape(sizes: tuple[int, ...], orders: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a tensor of type ``orders``: (n_0,)·orders[0] + (n_1,)·orders[1] + …"""
    return tuple(n for n, a in zip(sizes, orders, strict=True) for _ in range(a))


def _kron_order(
    sizes: tuple[int, ...], first: tuple[int, ...], second: tuple[int, ...]
) -> tuple[tuple[int, ...], list[int]]:
    """For the Kronecker product of a map of type ``first`` with one of type ``second``: the axes'
    shape in Kronecker order (all of the first map's axes, then the second's, each factor-major)
    and the permutation taking them to the product's order (per factor: the first map's axes,
    then the second's)."""
    shape: list[int] = []
    mine: list[list[int]] = [[] for _ in sizes]
    position = 0
    for which in (first, second):
        for f, (n, a) in enumerate(zip(sizes, which, strict=True)):
            mine[f].append(list(range(position, position + a)))
            shape += [n] * a
            position += a
    permutation = [axis for f in range(len(sizes)) for part in mine[f] for axis in part]
    return tuple(shape), permutation


class ProductMap(EquivariantMap):
    """A lazy (G_1 × … × G_r)-equivariant map: the image of a product diagram or
    :class:`~catlayer.diagrams.product.ProductCombination`, or a composite (``>>``), a tensor
    product (``@``, componentwise: the factors' axes stay grouped by factor) or a linear
    combination of such images. Build one with ``(G * H).functor(p)``; ``dom`` and ``cod`` are
    order tuples and tensors have the axes (n_0,)·dom[0] + (n_1,)·dom[1] + … (docs/conventions.md §10).

    The matrix of a pair (d, e) is ``np.kron(F_G(d), F_H(e))``; ``apply`` runs the numba plan of
    the pair (the factors' halves side by side on disjoint axes).

    >>> from catlayer import S, O, PartitionDiagram, BrauerDiagram, ProductDiagram
    >>> G = S(3) * O(2)
    >>> d, e = PartitionDiagram([[0], [1]], 1, 1), BrauerDiagram([[0, 1]], 1, 1)
    >>> F = G.functor(ProductDiagram(d, e))
    >>> F.shape, F.dom, F.cod
    ((6, 6), (1, 1), (1, 1))
    >>> bool((F.to_numpy() == np.kron(S(3).functor(d).to_numpy(), O(2).functor(e).to_numpy())).all())
    True
    >>> F >> F == G.functor(G.category.compose(ProductDiagram(d, e), ProductDiagram(d, e)))   # 3 · F
    True
    >>> (F @ F).dom, F.apply(np.ones((3, 2))).tolist()
    ((2, 2), [[3.0, 3.0], [3.0, 3.0], [3.0, 3.0]])
    """

    __slots__ = ()
    _diagram = ProductDiagram
    _combination = ProductCombination
    _maps = "the functor of a product group maps ProductDiagrams and ProductCombinations"

    @property
    def group(self) -> GroupLike:
        """The product group whose functor produced this map."""
        return self._group

    @property
    def sizes(self) -> tuple[int, ...]:
        """The size of each factor's space."""
        return tuple(self._group.n)

    @property
    def dom(self) -> tuple[int, ...]:
        """The input orders, one per factor."""
        return self._dom

    @property
    def cod(self) -> tuple[int, ...]:
        """The output orders, one per factor."""
        return self._cod

    @property
    def in_shape(self) -> tuple[int, ...]:
        """The shape of an input tensor: (n_0,)·dom[0] + (n_1,)·dom[1] + …"""
        return _axis_shape(self.sizes, self._dom)

    @property
    def out_shape(self) -> tuple[int, ...]:
        """The shape of an output tensor."""
        return _axis_shape(self.sizes, self._cod)

    @property
    def shape(self) -> tuple[int, int]:
        """(Π n_f^{l_f}, Π n_f^{k_f}), the shape of the dense matrix."""
        return math.prod(self.out_shape), math.prod(self.in_shape)

    def tensor(self, other: EquivariantMap) -> ProductMap:
        """Componentwise tensor product: in each factor, ``other``'s axes follow ``self``'s."""
        self._same_group(other, "tensor")
        dom = tuple(a + b for a, b in zip(self._dom, other._dom, strict=True))
        cod = tuple(a + b for a, b in zip(self._cod, other._cod, strict=True))
        return ProductMap(self._group, "tensor", dom, cod, children=(self, other))

    def _regroup(self, kron: np.ndarray) -> np.ndarray:
        """The Kronecker product of the two children's matrices with its rows and columns
        permuted from Kronecker order to the product's order (factor by factor)."""
        left, right = self._children
        rows, row_perm = _kron_order(self.sizes, left._cod, right._cod)
        cols, col_perm = _kron_order(self.sizes, left._dom, right._dom)
        t = kron.reshape(rows + cols).transpose(row_perm + [len(rows) + c for c in col_perm])
        return t.reshape(kron.shape)

    def to_exact(self) -> tuple[np.ndarray, int]:
        if self._kind != "tensor":
            return super().to_exact()
        rows, cols = self.shape
        check_size(8 * rows * cols, f"an exact {rows} x {cols} matrix")
        left, right = self._children
        a1, q1 = left.to_exact()
        a2, q2 = right.to_exact()
        return self._regroup(_int_kron(a1, a2)), q1 * q2

    def to_sympy(self) -> sympy.ImmutableMatrix:
        if self._kind != "tensor" or self.is_rational():
            return super().to_sympy()
        left, right = self._children
        a = np.array(left.to_sympy().tolist(), dtype=object)
        b = np.array(right.to_sympy().tolist(), dtype=object)
        return sympy.ImmutableMatrix(self._regroup(np.kron(a, b)).tolist())

    def to_numpy(self, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
        if self._kind != "tensor" or np.issubdtype(np.dtype(dtype), np.integer):
            return super().to_numpy(dtype)
        dtype = np.dtype(dtype)
        rows, cols = self.shape
        check_size(dtype.itemsize * rows * cols, f"a dense {rows} x {cols} matrix of {dtype}")
        left, right = self._children
        return self._regroup(np.kron(left.to_numpy(dtype), right.to_numpy(dtype)))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Apply to x of shape ``in_shape`` or (batch,) + ``in_shape`` without forming the matrix
        (the numba backend, factor by factor on disjoint axes); integer input becomes float64.

        >>> from catlayer import S, SO, PartitionDiagram, BrauerGroodDiagram, ProductDiagram
        >>> cross = BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1)        # a × b in R^3
        >>> F = (S(2) * SO(3)).functor(ProductDiagram(PartitionDiagram([[0, 1]], 1, 1), cross))
        >>> x = np.zeros((2, 3, 3))
        >>> x[0, 0, 1] = 1.0                                  # point 0 holds e_0 ⊗ e_1, point 1 zero
        >>> F.apply(x).tolist()
        [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
        """
        x = np.asarray(x)
        if x.dtype.kind in "biu":
            x = x.astype(np.float64)
        shape = self.in_shape
        if x.shape == shape:
            return self._apply_batch(x[None])[0]
        if x.ndim == len(shape) + 1 and x.shape[1:] == shape:
            return self._apply_batch(x)
        raise ValueError(
            f"expected an array of shape {shape} or (batch,) + {shape} for a map of {self._group!r} from "
            f"type {self._dom}, got {x.shape}"
        )

    def _apply_batch(self, x: np.ndarray) -> np.ndarray:
        batch = x.shape[0]
        if self._kind == "leaf":
            return _apply_terms(self._group, self._terms, x, self.out_shape)
        if self._kind == "compose":
            first, second = self._children
            return second._apply_batch(first._apply_batch(x))
        if self._kind == "tensor":
            left, right = self._children
            sizes = self.sizes
            in_shape, in_perm = _kron_order(sizes, left._dom, right._dom)
            _, out_perm = _kron_order(sizes, left._cod, right._cod)
            split = sum(left._dom)
            # x's axes in Kronecker order: the left map's, then the right map's.
            y = np.transpose(x, [0, *(1 + a for a in np.argsort(in_perm))])
            lead = y.shape[1 : 1 + split]
            y = right._apply_batch(np.ascontiguousarray(y).reshape((-1, *in_shape[split:])))
            y = y.reshape((batch, *lead, *right.out_shape))
            # the left map's input axes last, then apply it
            tail = len(right.out_shape)
            y = np.moveaxis(y, list(range(1, 1 + split)), list(range(1 + tail, 1 + tail + split)))
            y = left._apply_batch(np.ascontiguousarray(y).reshape((-1, *in_shape[:split])))
            y = y.reshape((batch, *right.out_shape, *left.out_shape))
            head = len(left.out_shape)
            y = np.moveaxis(y, list(range(1 + tail, 1 + tail + head)), list(range(1, 1 + head)))
            # now in Kronecker order (left's outputs, then right's): regroup by factor
            return np.ascontiguousarray(np.transpose(y, [0, *(1 + a for a in out_perm)]))
        out = None
        for c, child in zip(self._terms, self._children, strict=True):
            part = float(c) * child._apply_batch(x)
            out = part if out is None else out + part
        return out

    def __repr__(self) -> str:
        group = f"({self._group!r})"
        if self._kind == "leaf":
            if len(self._terms) == 1 and self._terms[0][1] == 1:
                return f"{group}.functor({self._terms[0][0]!r})"
            body = ", ".join(f"{d!r}: {c}" for d, c in self._terms)
            return f"{group}.functor(ProductCombination({{{body}}}, dom={self._dom}, cod={self._cod}))"
        return super().__repr__()

    def __str__(self) -> str:
        def space(orders: tuple[int, ...]) -> str:
            return " ⊗ ".join(f"(R^{n})^⊗{a}" for n, a in zip(self.sizes, orders, strict=True))

        return f"{self._group!r}-equivariant map {space(self._dom)} → {space(self._cod)}"
