"""Coordinates in the diagram basis and the orthogonal projection onto Hom_G, matrix-free.

For a group G, orders k, l and the basis F(d), d ∈ ``G.basis(k, l)``, of
Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}), the orthogonal (Frobenius) projection of any matrix M is

    P(M) = Σ_d c_d F(d),   Gram · c = b,   Gram[d, e] = ⟨F(d), F(e)⟩,   b_d = ⟨F(d), M⟩,

with ⟨A, B⟩ = trace(AᵀB). Nothing here forms an n^(k+l) × dim basis matrix or an SVD:

* **Gram** entries are combinatorial: closing d against e gives loops (and, for SO(n), paths between
  free vertices), and ⟨F(d), F(e)⟩ = n^(#loops) times the family's signs: s(d)s(e) and the ε
  orientation around each loop for Sp(n), the Levi-Civita contraction n!·sgn for two SO(n)
  n-diagrams, Σ_i η_i^m = n or p − q per loop with m same-row pairs under a metric η. Each family
  owns its formula (:meth:`catlayer.groups.Group.gram`).
* **b** is read matrix-free: ⟨F(d), M⟩ is the (k+l → 0) contraction of M (as a tensor with k+l
  axes) by the bent diagram. When F(d) is the indicator of a generalised diagonal (S_n, O(n), the
  Brauer diagrams of SO(n)) it is the sum of a strided diagonal view of M (no copy; n^blocks
  entries); otherwise (Sp(n), SO(n) n-diagrams) a gather of M at the non-zeros of F(d). Each
  pairing reads only the support of its diagram: the off-diagonal entries of M once (by the
  all-singletons diagram of S_n), diagonal entries once per diagram whose support holds them.
* **S_n** is solved in the orbit basis X_σ, which is orthogonal with ⟨X_σ, X_σ⟩ = n(n−1)…(n−|σ|+1):
  the projection is the average of M over each orbit of multi-indices, and the change of basis is
  the Möbius function of the partition lattice (docs/conventions.md), exact and well conditioned.

Exact input (sympy matrices, integer arrays, object arrays of ints / Fractions / sympy Rationals)
gives exact output (sympy Rationals); float input gives floats; torch tensors stay torch tensors
(float64 accumulation, any device, differentiable).

**Layers.** This module sits below the group families (``G.project`` and ``G.coefficients``
call it) and imports neither them nor any numeric layer: a group is used through its members
(``basis``, ``gram``, ``entries``, ``sign``, …, and ``factors`` for a product), and arrays of
another library are handled by the operations registered for them with
:func:`register_array_type` (``catlayer/__init__.py`` registers torch's, loaded from
:mod:`catlayer.nn.arrays` the first time a torch tensor is projected). Tensor methods
(``as_strided``, ``index_add_``, ``new_zeros``, …) are called on the tensors themselves.

>>> import numpy as np
>>> from catlayer import S
>>> G = S(3)
>>> M = np.arange(81.0).reshape(9, 9)
>>> P = project(G, M, 2, 2)
>>> bool(np.allclose(project(G, P, 2, 2), P)), P.shape
(True, (9, 9))
>>> c = coefficients(G, P, 2, 2)
>>> bool(np.allclose(sum(ci * G.functor(d).to_numpy() for ci, d in zip(c, G.basis(2, 2))), P))
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeAlias, cast

import numpy as np
import sympy

from .bases import coarsenings
from .diagrams import Diagram
from .functors import GroupLike
from .tolerance import check_tolerance, default_tolerance

if TYPE_CHECKING:
    from typing_extensions import TypeIs

__all__ = [
    "FamilyLike",
    "NotEquivariantError",
    "ProductLike",
    "coefficients",
    "dense_layer_coordinates",
    "diagram_gram",
    "inner_products",
    "project",
    "register_array_type",
]

#: An array this module reads or writes: a numpy array, or a tensor of a library registered with
#: :func:`register_array_type` (torch). The module imports no array library but numpy and tells
#: them apart at run time (:func:`_is_torch`), calling the tensors' own methods, so an array is
#: typed Any here.
_Array: TypeAlias = Any

#: The orders of a map: ints k, l for a group family, one order per factor for a product group.
_Orders: TypeAlias = int | Sequence[int]


class FamilyLike(GroupLike, Protocol):
    """What a projection needs of a group family (every :class:`~catlayer.groups.Group` has it):
    :class:`~catlayer.functors.GroupLike`, the basis, the Gram entries, the signs and the pair form."""

    @property
    def n(self) -> int: ...

    @property
    def free_singletons(self) -> bool: ...

    @property
    def projects_in_orbit_basis(self) -> bool: ...

    @property
    def pair_form(self) -> np.ndarray | None: ...

    def sign(self, d: Diagram) -> int: ...

    def gram(self, d: Diagram, e: Diagram) -> int: ...

    def basis(self, k: int, l: int) -> Sequence[Diagram]: ...

    def __hash__(self) -> int: ...


class ProductLike(GroupLike, Protocol):
    """What a projection needs of a product group (:class:`~catlayer.groups.ProductGroup` has it):
    :class:`~catlayer.functors.GroupLike`, the factor groups, their sizes and the orders' check."""

    @property
    def factors(self) -> tuple[FamilyLike, ...]: ...

    def check_orders(self, k: object, l: object) -> tuple[tuple[int, ...], tuple[int, ...]]: ...

    def require_sizes(self, what: str) -> tuple[int, ...]: ...


#: A group a projection handles: a family, or a product of families.
_Group: TypeAlias = FamilyLike | ProductLike

#: The array libraries besides numpy: name → (owns(x), load() → operations), see register_array_type.
_ARRAY_TYPES: dict[str, tuple[Callable[[object], bool], Callable[[], Any]]] = {}


def register_array_type(name: str, owns: Callable[[object], bool], load: Callable[[], Any]) -> None:
    """Project arrays of another library (``name``, e.g. "torch"): ``owns(x)`` says whether x is one of its arrays
    (without importing the library), ``load()`` returns its operations, an object with
    ``accumulator(x)`` (the dtype pairings accumulate in), ``constant(array, like)`` (a numpy
    array as a tensor on like's device, same dtype), ``stack(columns, dim)``, ``solve(a, b)``
    (a: a float64 numpy matrix; solves a·X = b on b's device, differentiably), ``as_float(x)``
    (x itself when floating or complex, else in float64), ``all_finite(x)`` and
    ``float64(x, like)`` (any array-like as a float64 tensor, on like's device when given)."""
    _ARRAY_TYPES[name] = (owns, load)


def _ops(x: object) -> Any:
    """The registered operations of x's library, or None for numpy arrays and everything else."""
    for owns, load in _ARRAY_TYPES.values():
        if owns(x):
            return load()
    return None


def _is_product(group: _Group) -> TypeIs[ProductLike]:
    """A product group: its ``factors`` are its factor groups (a family's ``factors`` is a method)."""
    return isinstance(getattr(group, "factors", None), tuple)


def _family_orders(k: _Orders, l: _Orders) -> tuple[int, int]:
    """The orders of a map of a group family: on a family's path k and l are the ints (or numpy
    integers) that :func:`_check_orders` accepts, as only a product group has one order per factor."""
    # cast: the split between the two paths is made on the group (_is_product), and mypy cannot
    # tie the type of the orders to it
    return cast(int, k), cast(int, l)


def same_row(d: Diagram, u: int, v: int) -> bool:
    """Whether vertices u and v of d lie in the same row."""
    return (u < d.cod) == (v < d.cod)


class NotEquivariantError(ValueError):
    """M is not in Hom_G: ``residual`` is the largest entry of ``|M − P(M)|`` (exact or float),
    ``index`` its (output indices, input indices), ``relative`` the residual over ``max|M|`` (floats).

    >>> from catlayer import S
    >>> try:
    ...     S(3).coefficients(np.arange(9.0).reshape(3, 3), 1, 1)
    ... except NotEquivariantError as error:
    ...     print(error.residual, error.index, error.relative)
    -4.0 ((0,), (0,)) 0.5
    """

    def __init__(
        self, message: str, residual: object, index: tuple[tuple[int, ...], tuple[int, ...]], relative: float
    ) -> None:
        super().__init__(message)
        self.residual, self.index, self.relative = residual, index, relative


def _is_indicator(group: FamilyLike, d: Diagram) -> bool:
    """Whether F(d) is the 0/1 indicator of a generalised diagonal (x constant on every block):
    no sign, no Levi-Civita symbol and no pair form on a same-row pair."""
    if group.sign(d) != 1 or (group.free_singletons and d.free_vertices):
        return False
    return group.pair_form is None or all(not same_row(d, b[0], b[-1]) for b in d.blocks if len(b) == 2)


@lru_cache(maxsize=64)
def _gram(group: FamilyLike, k: int, l: int) -> tuple[tuple[int, ...], ...]:
    basis = group.basis(k, l)
    rows = [[0] * len(basis) for _ in basis]
    for i, d in enumerate(basis):
        for j in range(i, len(basis)):
            rows[i][j] = rows[j][i] = group.gram(d, basis[j])
    return tuple(tuple(r) for r in rows)


def diagram_gram(group: _Group, k: _Orders, l: _Orders) -> np.ndarray:
    """The Gram matrix ⟨F(d), F(e)⟩ = trace(F(d)ᵀF(e)) of ``group.basis(k, l)``, exact (an object
    array of Python ints), computed combinatorially from the closed diagrams (cached).

    >>> from catlayer import O, Sp
    >>> diagram_gram(O(3), 1, 1).tolist()
    [[3]]
    >>> diagram_gram(Sp(4), 2, 2).tolist()                  # the loops carry the ε signs
    [[16, -4, -4], [-4, 16, -4], [-4, -4, 16]]

    For a product group it is the Kronecker product of the factors' Gram matrices (the solves
    never form it: they go factor by factor).
    """
    if _is_product(group):
        return _product_gram(group, k, l)
    k, l = _family_orders(k, l)
    _check_orders(k, l)
    size = len(group.basis(k, l))
    out = np.zeros((size, size), dtype=object)
    for i, row in enumerate(_gram(group, k, l)):
        out[i, :] = row
    return out


# -- S_n: the orbit basis --------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _orbit_tables(group: FamilyLike, k: int, l: int) -> tuple[np.ndarray, np.ndarray]:
    """(μ, sizes): μ[σ, τ] = μ(σ, τ) for τ ≥ σ (coarser) over the basis, so that the orbit-basis
    pairings are u = b·μᵀ and the diagram coordinates of Σ_σ v_σ X_σ are v·μ; sizes[σ] = ⟨X_σ, X_σ⟩
    = n(n−1)…(n−|σ|+1), the number of multi-indices with exactly the pattern σ."""
    basis = group.basis(k, l)
    index = {d: i for i, d in enumerate(basis)}
    mobius = np.zeros((len(basis), len(basis)), dtype=np.int64)
    for i, d in enumerate(basis):
        for coarser, mu in coarsenings(d):
            mobius[i, index[coarser]] = mu
    sizes = np.array([math.perm(group.n, len(d.blocks)) for d in basis], dtype=object)
    return mobius, sizes


# -- reading M and writing the projection ----------------------------------------------------------------------
def _is_torch(x: object) -> bool:
    """Whether x is an array of a registered library (torch): it is then handled by its methods
    and by its registered operations."""
    return _ops(x) is not None


def _strides(group: FamilyLike, d: Diagram) -> tuple[int, ...]:
    size = d.size
    return tuple(sum(group.n ** (size - 1 - v) for v in block) for block in d.blocks)


def _diagonal_view(group: FamilyLike, d: Diagram, flat: _Array, writeable: bool = False) -> _Array:
    """F(d)'s support in ``flat`` (batch, n^(k+l), C-contiguous) as a strided (batch, n, …, n)
    view with one axis per block of d (no copy)."""
    shape = (flat.shape[0],) + (group.n,) * len(d.blocks)
    strides = _strides(group, d)
    if _is_torch(flat):
        return flat.as_strided(shape, (flat.stride(0), *strides))
    itemsize = flat.itemsize
    return np.lib.stride_tricks.as_strided(
        flat, shape, (flat.strides[0], *(s * itemsize for s in strides)), writeable=writeable
    )


def _entries(group: FamilyLike, d: Diagram, like: _Array) -> tuple[_Array, _Array]:
    flat, values = group.entries(d)
    ops = _ops(like)
    if ops is not None:
        return ops.constant(flat, like), ops.constant(values, like)
    return flat, values


def _accumulator(flat: _Array) -> Any:
    """The dtype pairings accumulate in: float64 / complex128 for floats, exact objects otherwise."""
    ops = _ops(flat)
    if ops is not None:
        return ops.accumulator(flat)
    if flat.dtype == object:
        return object
    return np.complex128 if flat.dtype.kind == "c" else np.float64


def _pairings(group: _Group, k: _Orders, l: _Orders, flat: _Array) -> _Array:
    """b[:, d] = ⟨F(d), M⟩ for every basis diagram d, for each row of ``flat`` (batch, n^(k+l))."""
    if _is_product(group):
        return _product_pairings(group, k, l, flat)
    basis = group.basis(*_family_orders(k, l))
    acc = _accumulator(flat)
    columns: list[_Array] = []
    for d in basis:
        if _is_indicator(group, d):
            view = _diagonal_view(group, d, flat)
            axes = tuple(range(1, view.ndim))
            if _is_torch(flat):
                columns.append(view.to(acc).sum(dim=axes) if axes else view.to(acc))
            elif acc is object:
                columns.append(view.sum(axis=axes) if axes else view.copy())
            else:
                columns.append(view.sum(axis=axes, dtype=acc) if axes else view.astype(acc))
        else:
            index, values = _entries(group, d, flat)
            if _is_torch(flat):
                columns.append(flat[:, index].to(acc) @ values.to(acc))
            else:
                picked = flat[:, index]
                columns.append((picked * values).sum(axis=1) if acc is object else picked.astype(acc) @ values)
    if _is_torch(flat):
        return _ops(flat).stack(columns, 1) if columns else flat.new_zeros((flat.shape[0], 0), dtype=acc)
    if not columns:
        return np.zeros((flat.shape[0], 0), dtype=acc)
    return np.stack(columns, axis=1)


def _synthesise(group: _Group, k: _Orders, l: _Orders, coords: _Array, like: _Array) -> _Array:
    """Σ_d coords[:, d]·F(d), shaped and typed like ``like`` (batch, n^(k+l))."""
    if _is_product(group):
        return _product_synthesise(group, k, l, coords, like)
    basis = group.basis(*_family_orders(k, l))
    if _is_torch(like):
        out = like.new_zeros(like.shape)
        coords = coords.to(like.dtype)
    elif like.dtype == object:
        out = np.empty(like.shape, dtype=object)
        out[...] = Fraction(0)
    else:
        out = np.zeros(like.shape, dtype=like.dtype)
        coords = coords.astype(like.dtype)
    for t, d in enumerate(basis):
        c = coords[:, t]
        if _is_indicator(group, d):
            view = _diagonal_view(group, d, out, writeable=True)
            c = c.reshape((-1,) + (1,) * (view.ndim - 1))
            if _is_torch(out):
                view.add_(c)
            else:
                np.add(view, c, out=view)  # not `view += c`: numpy would copy the overlapping strided view
        else:
            index, values = _entries(group, d, like)
            if _is_torch(out):
                out.index_add_(1, index, c[:, None] * values.to(out.dtype)[None, :])
            else:
                out[:, index] += c[:, None] * values[None, :]
    return out


# -- solving ---------------------------------------------------------------------------------------------------
def _bareiss_solve(gram: Sequence[Sequence[int]], rhs: np.ndarray) -> np.ndarray:
    """Exact solution X of gram·X = rhs (object arrays; gram integer, positive definite) by
    fraction-free elimination: integers stay integers until the back substitution."""
    size = len(gram)
    if size == 0:
        return np.zeros(rhs.shape, dtype=object)
    fractions = [[Fraction(x) for x in row] for row in rhs]
    q = math.lcm(1, *(f.denominator for row in fractions for f in row))
    a = np.empty((size, size + rhs.shape[1]), dtype=object)
    a[:, :size] = [list(row) for row in gram]
    a[:, size:] = [[int(f * q) for f in row] for row in fractions]
    previous = 1
    for i in range(size - 1):
        pivot = a[i, i]
        if pivot == 0:
            raise ArithmeticError("the Gram matrix of the basis is singular")
        a[i + 1 :, i + 1 :] = (pivot * a[i + 1 :, i + 1 :] - np.outer(a[i + 1 :, i], a[i, i + 1 :])) // previous
        a[i + 1 :, i] = 0
        previous = pivot
    x = np.empty(rhs.shape, dtype=object)
    for i in range(size - 1, -1, -1):
        for c in range(rhs.shape[1]):
            total = Fraction(a[i, size + c]) - sum((a[i, j] * x[j, c] for j in range(i + 1, size)), Fraction(0))
            x[i, c] = total / a[i, i]
    return x / q


def _solve(group: _Group, k: _Orders, l: _Orders, b: _Array) -> _Array:
    """The basis coordinates c (batch, D) of the projection, from the pairings b (batch, D)."""
    if _is_product(group):
        return _product_solve(group, k, l, b)
    k, l = _family_orders(k, l)
    if not group.basis(k, l):
        return b
    if group.projects_in_orbit_basis:
        mobius, sizes = _orbit_tables(group, k, l)
        if _is_torch(b):
            ops = _ops(b)
            m = ops.constant(np.asarray(mobius, dtype=np.float64), b).to(b.dtype)
            s = ops.constant(np.array([float(x) for x in sizes]), b).to(b.dtype)
            return ((b @ m.T) / s) @ m
        if b.dtype == object:
            orbit = b.dot(mobius.T.astype(object)) / np.array([Fraction(x) for x in sizes], dtype=object)
            return orbit.dot(mobius.astype(object))
        return ((b @ mobius.T) / sizes.astype(np.float64)) @ mobius
    gram = _gram(group, k, l)
    if _is_torch(b):
        g = np.array(gram, dtype=np.float64).reshape(len(gram), -1)
        return _ops(b).solve(g, b.T).T if len(gram) else b
    if b.dtype == object:
        return _bareiss_solve(gram, b.T).T
    g = np.array(gram, dtype=np.float64).reshape(len(gram), -1)
    return np.linalg.solve(g, b.T).T if len(gram) else b


# -- input and output ------------------------------------------------------------------------------------------
def _check_orders(k: object, l: object) -> None:
    for name, value in (("k", k), ("l", l)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")


def _exact(x: object) -> Fraction:
    if isinstance(x, (bool, np.bool_, int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, Fraction):
        return x
    if isinstance(x, sympy.Basic) and x.is_Rational:
        return Fraction(int(x.p), int(x.q))
    raise TypeError(f"entry {x!r} ({type(x).__name__}) is neither an exact rational nor a float")


def _number(x: Any) -> complex:
    """x as a complex number (x is any entry of M: complex() itself says whether it is a number)."""
    try:
        return complex(x)
    except (TypeError, ValueError):
        raise TypeError(f"entry {x!r} ({type(x).__name__}) is not a number") from None


@dataclass(frozen=True)
class _Input:
    flat: _Array  # (1, n^(k+l)): numpy (float, complex or object of Fractions) or torch
    kind: str  # "numpy", "exact", "sympy" or "torch"
    shape: tuple[int, ...]
    sympy_type: type[sympy.MatrixBase] | None = None


def _shapes(group: _Group, k: _Orders, l: _Orders) -> tuple[tuple[int, int], tuple[int, ...], int, str]:
    """(matrix shape, tensor shape, number of output axes, a description of the space of maps)."""
    if _is_product(group):
        return _product_shapes(group, k, l)
    k, l = _family_orders(k, l)
    _check_orders(k, l)
    n = group.n
    return (n**l, n**k), (n,) * (k + l), l, f"(R^{n})^⊗{k} → (R^{n})^⊗{l}"


def _read(group: _Group, M: object, k: _Orders, l: _Orders) -> _Input:
    matrix_shape, tensor_shape, _, what = _shapes(group, k, l)
    size = math.prod(tensor_shape)
    if _is_torch(M):
        tensor = _ops(M).as_float(M)
        shape, flat, kind, sympy_type = tuple(tensor.shape), tensor.reshape(1, -1).contiguous(), "torch", None
    elif isinstance(M, sympy.MatrixBase):
        shape, sympy_type = tuple(M.shape), type(M)
        entries = np.array(M.tolist(), dtype=object).reshape(-1)
        if any(isinstance(x, sympy.Basic) and not x.is_Rational for x in entries):
            flat, kind = np.array([_number(x) for x in entries]).reshape(1, -1), "numpy"
            if not np.iscomplex(flat).any():
                flat = flat.real.copy()
        else:
            flat, kind = np.array([_exact(x) for x in entries], dtype=object).reshape(1, -1), "sympy"
    else:
        array = np.asarray(M)
        shape, sympy_type = array.shape, None
        if array.dtype.kind in "fc":
            flat, kind = np.ascontiguousarray(array).reshape(1, -1), "numpy"
        elif array.dtype.kind in "biu":
            flat, kind = np.array([Fraction(int(x)) for x in array.flat], dtype=object).reshape(1, -1), "exact"
        elif array.dtype == object:
            if any(isinstance(x, (float, complex, np.inexact, sympy.Float)) for x in array.flat):
                flat = np.array([_number(x) for x in array.flat]).reshape(1, -1)
                flat, kind = (flat if np.iscomplex(flat).any() else flat.real.copy()), "numpy"
            else:
                flat, kind = np.array([_exact(x) for x in array.flat], dtype=object).reshape(1, -1), "exact"
        else:
            raise TypeError(f"cannot project an array of dtype {array.dtype}")
    if shape not in (matrix_shape, tensor_shape) or flat.shape[1] != size:
        raise ValueError(
            f"a map {what} is a {matrix_shape[0]} x {matrix_shape[1]} matrix or a tensor of "
            f"shape {tensor_shape}; got shape {shape}"
        )
    if kind == "numpy" and not np.isfinite(flat).all():
        raise ValueError("the matrix has NaN or infinite entries")
    if kind == "torch" and not _ops(flat).all_finite(flat):
        raise ValueError("the matrix has NaN or infinite entries")
    return _Input(flat, kind, shape, sympy_type)


def _write(data: _Input, flat: _Array) -> Any:
    sympy_type = data.sympy_type
    if data.kind == "numpy" and sympy_type is not None:  # a sympy matrix with float entries
        return sympy_type(data.shape[0], data.shape[1], [sympy.sympify(x.item()) for x in flat.reshape(-1)])
    if data.kind in ("numpy", "torch"):
        return flat.reshape(data.shape)
    rationals = [sympy.Rational(f.numerator, f.denominator) for f in flat.reshape(-1)]
    if data.kind == "sympy" and sympy_type is not None:  # (_read gives the kind "sympy" with the type)
        return sympy_type(data.shape[0], data.shape[1], rationals)
    return np.array(rationals, dtype=object).reshape(data.shape)


def _coordinates(group: _Group, k: _Orders, l: _Orders, flat: _Array) -> _Array:
    return _solve(group, k, l, _pairings(group, k, l, flat))


def inner_products(group: _Group, M: object, k: _Orders, l: _Orders) -> Any:
    """⟨F(d), M⟩ = trace(F(d)ᵀM) for every d in ``group.basis(k, l)``, read matrix-free (see the
    module docstring): a tuple of sympy Rationals for exact M, else a numpy / torch vector
    (float64 or complex128).

    >>> from catlayer import O
    >>> inner_products(O(2), np.array([[1, 2], [3, 4]]), 1, 1)          # ⟨I, M⟩ = trace M
    (5,)
    """
    data = _read(group, M, k, l)
    b = _pairings(group, k, l, data.flat)[0]
    if data.kind in ("exact", "sympy"):
        return tuple(sympy.Rational(f.numerator, f.denominator) for f in b)
    return b


def project(group: _Group, M: object, k: _Orders, l: _Orders) -> Any:
    """The orthogonal (Frobenius) projection of M: (R^n)^{⊗k} → (R^n)^{⊗l} onto Hom_G, the
    nearest G-equivariant matrix. M is an n^l × n^k matrix or a tensor of shape (n,)*(k+l)
    (numpy, torch or sympy); the result has the same type and shape: exact (sympy Rationals) for
    exact input, float for float input (accumulated in float64), torch for torch. Integer torch
    tensors are projected in float64.

    >>> import sympy
    >>> from catlayer import S
    >>> project(S(2), sympy.Matrix([[1, 2], [3, 4]]), 1, 1)      # a·I + b·(all ones)
    Matrix([
    [5/2, 5/2],
    [5/2, 5/2]])
    """
    data = _read(group, M, k, l)
    coords = _coordinates(group, k, l, data.flat)
    return _write(data, _synthesise(group, k, l, coords, data.flat))


def coefficients(group: _Group, M: object, k: _Orders, l: _Orders, *, tolerance: float | None = None) -> Any:
    """The coordinates c of an equivariant M in the basis ``group.basis(k, l)``:
    M = Σ_t c[t]·F(basis[t]). A tuple of sympy Rationals for exact input, a numpy float array for
    numpy float input, a torch tensor for torch input.

    Raises :class:`NotEquivariantError` (a ValueError) with the residual when M is not in Hom_G:
    exactly when any entry of M − project(M) is non-zero (exact input), or when
    max|M − project(M)| > ``tolerance``·max|M| (floats; default 1e-10 in float64 / complex128,
    1e-4 in float32 / complex64).

    >>> import numpy as np
    >>> from catlayer import O
    >>> coefficients(O(2), np.array([[2, 0], [0, 2]]), 1, 1)
    (2,)
    >>> coefficients(O(2), np.array([[1, 2], [3, 4]]), 1, 1)
    Traceback (most recent call last):
    ...
    catlayer.projection.NotEquivariantError: M is not O(2)-equivariant (k = 1, l = 1): the residual M − project(M)
    has the entry 3 at (output indices ; input indices) = (1 ; 0); G.project(M, k, l) is the nearest ...
    """
    tolerance = check_tolerance(tolerance)
    data = _read(group, M, k, l)
    coords = _coordinates(group, k, l, data.flat)
    residual = data.flat - _synthesise(group, k, l, coords, data.flat)
    n = group.n
    if data.kind in ("exact", "sympy"):
        nonzero = np.flatnonzero(residual[0] != 0)
        if nonzero.size:
            flat = int(max(nonzero, key=lambda i: abs(residual[0, i])))
            _raise(
                group,
                k,
                l,
                sympy.Rational(residual[0, flat].numerator, residual[0, flat].denominator),
                flat,
                n,
                None,
                None,
            )
        return tuple(sympy.Rational(f.numerator, f.denominator) for f in coords[0])
    if data.kind == "torch":
        magnitudes = residual.abs().reshape(-1)
        flat = int(magnitudes.argmax()) if magnitudes.numel() else 0
        largest, scale = float(magnitudes.max()) if magnitudes.numel() else 0.0, float(data.flat.abs().max())
        dtype = str(data.flat.dtype).replace("torch.", "")
        entry = residual.reshape(-1)[flat].item() if magnitudes.numel() else 0.0
    else:
        magnitudes = np.abs(residual).reshape(-1)
        flat = int(np.argmax(magnitudes)) if magnitudes.size else 0
        largest, scale = float(magnitudes.max(initial=0)), float(np.abs(data.flat).max(initial=0))
        dtype = str(data.flat.dtype)
        entry = residual.reshape(-1)[flat].item() if magnitudes.size else 0.0
    bound = default_tolerance(dtype, fallback="float64") if tolerance is None else tolerance
    relative = largest / scale if scale > 0 else 0.0
    if relative > bound:
        _raise(group, k, l, entry, flat, n, relative, bound)
    return coords[0].to(data.flat.dtype) if data.kind == "torch" else coords[0]


def _raise(
    group: _Group, k: _Orders, l: _Orders, entry: Any, flat: int, n: object, relative: float | None, bound: float | None
) -> NoReturn:
    _, tensor_shape, out_axes, _ = _shapes(group, k, l)
    index = tuple(int(i) for i in np.unravel_index(flat, tensor_shape)) if tensor_shape else ()
    outputs, inputs = index[:out_axes], index[out_axes:]
    where = f"({', '.join(map(str, outputs))} ; {', '.join(map(str, inputs))})"
    value = f"{entry:.3g}" if relative is not None else str(entry)
    size = f" (relative {relative:.3g} > tolerance {bound:.3g})" if relative is not None else ""
    raise NotEquivariantError(
        f"M is not {group!r}-equivariant (k = {k}, l = {l}): the residual M − project(M) has the entry {value} at "
        f"(output indices ; input indices) = {where}{size}; G.project(M, k, l) is the nearest equivariant matrix",
        entry,
        (outputs, inputs),
        relative if relative is not None else math.inf,
    )


def dense_layer_coordinates(
    group: FamilyLike, weight: object, k: int, l: int, bias: object = None
) -> tuple[_Array, _Array | None]:
    """The coordinates of the orthogonal projection of a dense layer onto the equivariant layers,
    channel pair by channel pair: ``(weights (c_out, c_in, D), bias (c_out, D_bias) or None)`` as
    float64 torch tensors on the weight's device, aligned with ``group.basis(k, l)`` and
    ``group.basis(0, l)``.

    ``weight`` (torch, numpy or array-like) has shape (c_out·n^l, c_in·n^k), as the weight of a
    ``torch.nn.Linear`` acting on flattened tensors (channel axis most significant, C order), or
    (c_out, c_in, n^l, n^k); ``bias`` has shape (c_out·n^l,) or (c_out, n^l).

    >>> import torch
    >>> from catlayer import S
    >>> w, b = dense_layer_coordinates(S(3), torch.eye(6), 1, 1)      # c_in = c_out = 2
    >>> tuple(w.shape), b
    ((2, 2, 2), None)
    """
    _check_orders(k, l)
    n = group.n
    rows, cols = n**l, n**k
    if "torch" not in _ARRAY_TYPES:
        raise TypeError("dense_layer_coordinates gives torch tensors: import catlayer (it registers torch's arrays)")
    ops = _ARRAY_TYPES["torch"][1]()
    w = ops.float64(weight)
    if w.dim() == 2 and w.shape[0] % rows == 0 and w.shape[1] % cols == 0:
        c_out, c_in = w.shape[0] // rows, w.shape[1] // cols
        w = w.reshape(c_out, rows, c_in, cols).permute(0, 2, 1, 3)
    elif w.dim() == 4 and tuple(w.shape[2:]) == (rows, cols):
        c_out, c_in = w.shape[0], w.shape[1]
    else:
        raise ValueError(
            f"a dense weight for (R^{n})^⊗{k} → (R^{n})^⊗{l} has shape (c_out·{rows}, c_in·{cols}) or "
            f"(c_out, c_in, {rows}, {cols}); got {tuple(w.shape)}"
        )
    if c_in < 1 or c_out < 1:
        raise ValueError(f"the weight has no channels: shape {tuple(w.shape)}")
    if not ops.all_finite(w):
        raise ValueError("the weight has NaN or infinite entries")
    flat = w.reshape(c_out * c_in, rows * cols).contiguous()
    coords = _coordinates(group, k, l, flat).reshape(c_out, c_in, -1)
    if bias is None:
        return coords, None
    b = ops.float64(bias, w)
    if b.numel() != c_out * rows or b.dim() not in (1, 2) or (b.dim() == 2 and tuple(b.shape) != (c_out, rows)):
        raise ValueError(f"the bias must have shape ({c_out * rows},) or ({c_out}, {rows}); got {tuple(b.shape)}")
    if not ops.all_finite(b):
        raise ValueError("the bias has NaN or infinite entries")
    return coords, _coordinates(group, 0, l, b.reshape(c_out, rows).contiguous())


# -- products of groups: everything factor by factor ----------------------------------------------------------
# A map of a product group (docs/conventions.md §10) has the output axes of every factor, then
# the input axes of every factor. Grouping each factor's output and input axes together makes it
# a tensor with one axis of n_f^(k_f + l_f) entries per factor, in which F(d_1) ⊗ … ⊗ F(d_r) is an
# outer product: pairings, solves (the Gram matrix is the Kronecker product of the factors') and
# syntheses are the factors' own, applied along one axis at a time.
def _product_orders(group: ProductLike, k: _Orders, l: _Orders) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return group.check_orders(k, l)


def _product_shapes(group: ProductLike, k: _Orders, l: _Orders) -> tuple[tuple[int, int], tuple[int, ...], int, str]:
    k_, l_ = _product_orders(group, k, l)
    sizes = group.require_sizes("a projection")
    out_shape = tuple(n for n, a in zip(sizes, l_, strict=True) for _ in range(a))
    in_shape = tuple(n for n, a in zip(sizes, k_, strict=True) for _ in range(a))

    def space(orders: Sequence[int]) -> str:
        return " ⊗ ".join(f"(R^{n})^⊗{a}" for n, a in zip(sizes, orders, strict=True))

    return (
        (math.prod(out_shape), math.prod(in_shape)),
        out_shape + in_shape,
        len(out_shape),
        (f"{space(k_)} → {space(l_)}"),
    )


def _by_factor(group: ProductLike, k: _Orders, l: _Orders) -> tuple[list[int], tuple[int, ...]]:
    """The permutation of a map's axes (outputs, then inputs) that groups each factor's output
    and input axes, and the sizes n_f^(l_f + k_f) of the groups."""
    k_, l_ = _product_orders(group, k, l)
    sizes = group.require_sizes("a projection")
    out_start = list(itertools.accumulate(l_, initial=0))
    in_start = list(itertools.accumulate(k_, initial=sum(l_)))
    order: list[int] = []
    for f in range(len(sizes)):
        order += list(range(out_start[f], out_start[f] + l_[f]))
        order += list(range(in_start[f], in_start[f] + k_[f]))
    return order, tuple(n ** (a + c) for n, a, c in zip(sizes, k_, l_, strict=True))


def _permute(x: _Array, axes: Sequence[int]) -> _Array:
    return x.permute(*axes) if _is_torch(x) else x.transpose(axes)


def _contiguous_rows(x: _Array, width: int) -> _Array:
    """x as a C-contiguous (rows, width) array or tensor."""
    if _is_torch(x):
        return x.reshape(-1, width).contiguous()
    return np.ascontiguousarray(x).reshape(-1, width)


def _along_factors(
    group: ProductLike, k: _Orders, l: _Orders, t: _Array, step: Callable[[FamilyLike, int, int, _Array], _Array]
) -> _Array:
    """Apply ``step(factor group, k_f, l_f, rows)`` along axis 1 + f of t (batch, …) for every
    factor f, one factor at a time: rows is t with that axis last, flattened to (−1, width)."""
    k_, l_ = _product_orders(group, k, l)
    for f, g in enumerate(group.factors):
        moved = _permute(t, [a for a in range(t.ndim) if a != 1 + f] + [1 + f])
        shape = tuple(moved.shape)
        rows = step(g, k_[f], l_[f], _contiguous_rows(moved, shape[-1]))
        moved = rows.reshape(*shape[:-1], rows.shape[-1])
        t = _permute(moved, [*range(1 + f), moved.ndim - 1, *range(1 + f, moved.ndim - 1)])
    return t


def _product_dims(group: ProductLike, k: _Orders, l: _Orders) -> tuple[int, ...]:
    k_, l_ = _product_orders(group, k, l)
    return tuple(len(g.basis(a, c)) for g, a, c in zip(group.factors, k_, l_, strict=True))


def _product_pairings(group: ProductLike, k: _Orders, l: _Orders, flat: _Array) -> _Array:
    order, widths = _by_factor(group, k, l)
    _, tensor_shape, _, _ = _product_shapes(group, k, l)
    batch = flat.shape[0]
    dims = _product_dims(group, k, l)
    if math.prod(dims) == 0:
        acc = _accumulator(flat)
        if _is_torch(flat):
            return flat.new_zeros((batch, 0), dtype=acc)
        return np.zeros((batch, 0), dtype=acc)
    t = _permute(flat.reshape(batch, *tensor_shape), [0, *(1 + a for a in order)]).reshape(batch, *widths)
    t = _along_factors(group, k, l, t, _pairings)
    return t.reshape(batch, -1)


def _product_solve(group: ProductLike, k: _Orders, l: _Orders, b: _Array) -> _Array:
    dims = _product_dims(group, k, l)
    if math.prod(dims) == 0:
        return b
    t = _along_factors(group, k, l, b.reshape(b.shape[0], *dims), _solve)
    return t.reshape(b.shape[0], -1)


def _product_synthesise(group: ProductLike, k: _Orders, l: _Orders, coords: _Array, like: _Array) -> _Array:
    order, _ = _by_factor(group, k, l)
    _, tensor_shape, _, _ = _product_shapes(group, k, l)
    batch = like.shape[0]
    dims = _product_dims(group, k, l)
    if math.prod(dims) == 0:
        if _is_torch(like):
            return like.new_zeros(like.shape)
        out = np.zeros(like.shape, dtype=like.dtype)
        if like.dtype == object:
            out[...] = Fraction(0)
        return out

    def step(g: FamilyLike, a: int, c: int, rows: _Array) -> _Array:
        template = (
            like.new_empty((rows.shape[0], g.n ** (a + c)))
            if _is_torch(like)
            else np.empty((rows.shape[0], g.n ** (a + c)), dtype=like.dtype)
        )
        return _synthesise(g, a, c, rows, template)

    t = _along_factors(group, k, l, coords.reshape(batch, *dims), step)
    # back from factor-grouped axes to the map's order (outputs, then inputs)
    grouped = tuple(tensor_shape[a] for a in order)
    t = _permute(t.reshape(batch, *grouped), [0, *(1 + a for a in np.argsort(order))])
    return t.reshape(batch, -1) if _is_torch(t) else np.ascontiguousarray(t).reshape(batch, -1)


def _product_gram(group: ProductLike, k: _Orders, l: _Orders) -> np.ndarray:
    k_, l_ = _product_orders(group, k, l)
    group.require_sizes("the Gram matrix")
    out = np.ones((1, 1), dtype=object)
    for g, a, c in zip(group.factors, k_, l_, strict=True):
        out = np.kron(out, diagram_gram(g, a, c))
    return out
