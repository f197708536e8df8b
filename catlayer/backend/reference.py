"""Plain numpy twins of the numba path, written to be obviously correct rather than fast.

* :func:`apply_reference` / :func:`apply_layer_reference` execute the same plans as
  :func:`catlayer.backend.apply` with ``np.einsum`` (repeated subscripts extract diagonals,
  omitted ones are summed, the group's pair form and the Levi-Civita symbol are explicit dense
  operands) and
  writable ``as_strided`` diagonal views for the expansions; the layer is a plain sum over its
  diagrams, without any sharing.
* :func:`dense_matrix` / :func:`dense_layer_matrix` build the n^l × n^k matrices straight
  from the entry formulas of docs/conventions.md §3 (they do not use plans): every block of the diagram
  becomes one index of a diagonal view of the (n,)*(l+k) tensor (a same-row pair of a group
  with a pair form two indices carrying it, the free vertices of an n-diagram indices carrying the Levi-Civita
  symbol), so building costs n^(#labels), and the memory guard is checked first.

Product groups (docs/conventions.md §10): the plan executors read each axis', slot's and closed
block's factor (its size, its pair form, its Levi-Civita symbol); the dense builders take the
Kronecker product of the factors' dense matrices (first factor outermost), so they do not use
plans either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from ..diagrams.diagram import Diagram
from ..diagrams.product import ProductDiagram
from ..groups import Group, ProductGroup
from ..groups.product import group_factors
from ..memory import check_size
from ..plan import Expansion, LayerPlan, Reduction, plan_diagram
from .program import pair_form

__all__ = [
    "apply_layer_reference",
    "apply_reference",
    "dense_layer_matrix",
    "dense_matrix",
    "expand_reference",
    "reduce_reference",
]


def reduce_reference(red: Reduction, group: Group | ProductGroup, x: np.ndarray) -> np.ndarray:
    """Step 1 of a plan: x of shape (batch,) + (input axes) → (batch,) + (one axis per slot)."""
    factors = group_factors(group)
    labels = list(red.axis_labels)
    operands: list[Any] = []  # einsum's interleaved (operand, labels) arguments
    fresh = red.num_slots + len(red.closed) + len(red.free_axes)
    for c, (block, form, f) in enumerate(zip(red.closed, red.closed_form, red.closed_factor, strict=True)):
        if form:
            b = block[1]
            labels[b] = fresh
            operands += [pair_form(factors[f]).astype(x.dtype), [red.num_slots + c, fresh]]
            fresh += 1
    # one Levi-Civita symbol per contraction: the next free slots and the next free input axes
    next_axis, next_slot = 0, red.num_slots - red.num_free_slots
    for f, num_axes, q in red.levi_civita:
        free_slot_labels = list(range(next_slot, next_slot + q))
        free_axis_labels = [labels[a] for a in red.free_axes[next_axis : next_axis + num_axes]]
        symbol = factors[f].levi_civita(q).astype(x.dtype)
        operands += [symbol, free_slot_labels + free_axis_labels]
        next_axis += num_axes
        next_slot += q
    return np.einsum(x, [Ellipsis, *labels], *operands, [Ellipsis, *range(red.num_slots)])


def expand_reference(exp: Expansion, group: Group | ProductGroup, z: np.ndarray) -> np.ndarray:
    """Step 3 of a plan: z of shape (batch,) + (one axis per slot) → (batch,) + (output axes)."""
    factors = group_factors(group)
    sizes = [g.n for g in factors]
    batch = z.shape[0]
    y = np.zeros((batch, *(sizes[f] for f in exp.axis_factor)), dtype=z.dtype)
    axis_stride = y.strides[1:]
    shape, strides = [batch], [y.strides[0]]
    for axes, f in zip(exp.slot_axes, exp.slot_factor, strict=True):
        shape.append(sizes[f])
        strides.append(sum(axis_stride[a] for a in axes))
    value = z
    delta_blocks = []
    for block, form, f in zip(exp.closed, exp.closed_form, exp.closed_factor, strict=True):
        if form:
            a, b = block
            shape += [sizes[f], sizes[f]]
            strides += [axis_stride[a], axis_stride[b]]
            value = value[..., None, None] * pair_form(factors[f]).astype(z.dtype)
        else:
            delta_blocks.append((block, f))
    for block, f in delta_blocks:
        shape.append(sizes[f])
        strides.append(sum(axis_stride[a] for a in block))
        value = value[..., None]
    as_strided(y, shape=shape, strides=strides)[...] = value
    return y


def apply_reference(G: Group | ProductGroup, d: Diagram | ProductDiagram, x: np.ndarray) -> np.ndarray:
    """Reference for :func:`catlayer.backend.apply` (same arguments and result).

    >>> from catlayer import S, PartitionDiagram
    >>> apply_reference(S(2), PartitionDiagram([[0], [1]], dom=1, cod=1), np.array([[1.0, 2.0]]))
    array([[3., 3.]])
    """
    plan = plan_diagram(G, d)
    return _apply_term(plan, 0, x)


def _apply_term(plan: LayerPlan, t: int, x: np.ndarray) -> np.ndarray:
    reduced = reduce_reference(plan.reductions[plan.reduction_of[t]], plan.group, x)
    permuted = reduced.transpose([0, *(1 + j for j in plan.matching[t])])
    return plan.sign[t] * expand_reference(plan.expansions[plan.expansion_of[t]], plan.group, permuted)


def apply_layer_reference(
    G: Group | ProductGroup, diagrams: Sequence[Diagram | ProductDiagram], W: np.ndarray, X: np.ndarray
) -> np.ndarray:
    """Reference for :func:`catlayer.backend.apply_layer`: Σ_t Σ_c W[o, c, t] F(d_t) X[b, c],
    one diagram at a time (no shared work).

    >>> from catlayer import S
    >>> from catlayer.backend import apply_layer
    >>> G = S(4)
    >>> W, X = np.ones((2, 3, len(G.basis(1, 1)))), np.arange(24.0).reshape(2, 3, 4)
    >>> Y = apply_layer_reference(G, G.basis(1, 1), W, X)    # (batch, c_out, n)
    >>> Y.shape, np.allclose(Y, apply_layer(G, G.basis(1, 1), W, X))
    ((2, 2, 4), True)
    """
    from .execute import layer_plan

    plan = layer_plan(G, diagrams)
    sizes = [g.n for g in group_factors(G)]
    out_shape = tuple(sizes[f] for f in plan.expansions[0].axis_factor)
    batch, c_in = X.shape[:2]
    Y = np.zeros((batch, W.shape[0], *out_shape), dtype=X.dtype)
    flat = X.reshape((batch * c_in, *X.shape[2:]))
    for t in range(len(plan)):
        term = _apply_term(plan, t, flat).reshape((batch, c_in, *out_shape))
        Y += np.einsum("oc,bc...->bo...", W[:, :, t], term)
    return Y


def _labels(group: Group, d: Diagram) -> tuple[list[int], int, list[tuple[np.ndarray, list[int]]], int]:
    """Index labels of the (l+k) vertices for the dense builders and the factor tensors that
    multiply them (the group's pair form on same-row pairs, the weighted Levi-Civita symbol on
    free vertices), plus the scalar sign."""
    n, l = group.n, d.cod
    vertex_label = [0] * d.size
    factors: list[tuple[np.ndarray, list[int]]] = []
    count = 0
    free = list(d.free_vertices) if group.free_singletons else []
    for block in d.blocks:
        if group.pair_form is not None and len(block) == 2 and (block[-1] < l or block[0] >= l):
            vertex_label[block[0]], vertex_label[block[1]] = count, count + 1
            factors.append((group.pair_form, [count, count + 1]))
            count += 2
        elif free and len(block) == 1:
            vertex_label[block[0]] = count
            count += 1
        else:
            for v in block:
                vertex_label[v] = count
            count += 1
    if free:
        if len(free) != n:
            raise ValueError(f"{d!r} has {len(free)} free vertices; {group!r} needs 0 or {n}")
        symbol = group.levi_civita(sum(1 for v in free if v < l))
        factors.append((symbol, [vertex_label[v] for v in sorted(free)]))
    return vertex_label, count, factors, group.sign(d)


def dense_layer_matrix(
    G: Group | ProductGroup, diagrams: Sequence[Diagram | ProductDiagram], W: np.ndarray
) -> np.ndarray:
    """The dense matrix of the layer Σ_t W[o, c, t] F(d_t): shape (c_out·n^l, c_in·n^k), row
    (o, i_0..i_{l−1}) and column (c, j_0..j_{k−1}) in C order; built from docs/conventions.md §3.

    >>> from catlayer import S
    >>> G = S(2)
    >>> dense_layer_matrix(G, G.category.hom(1, 1), np.array([[[1.0, 10.0]]]))
    array([[11., 10.],
           [10., 11.]])

    For a product group, the term of a product diagram is the Kronecker product of its factors'
    dense matrices (first factor outermost).
    """
    # The morphisms of a product group are ProductDiagrams, those of a group Diagrams:
    # check_diagram verifies each term before it is used.
    if isinstance(G, ProductGroup):
        return _dense_product_layer(G, cast("tuple[ProductDiagram, ...]", tuple(diagrams)), W)
    n = G.n
    terms = cast("tuple[Diagram, ...]", tuple(diagrams))
    c_out, c_in = W.shape[:2]
    k, l = terms[0].dom, terms[0].cod
    check_size(c_out * c_in * n ** (k + l) * W.itemsize, f"a dense layer matrix ({c_out}·{n}^{l}) x ({c_in}·{n}^{k})")
    M = np.zeros((c_out,) + (n,) * l + (c_in,) + (n,) * k, dtype=W.dtype)
    axis_stride = M.strides[1 : 1 + l] + M.strides[2 + l :]
    for t, d in enumerate(terms):
        G.check_diagram(d)
        if (d.dom, d.cod) != (k, l):
            raise ValueError(f"all diagrams must be ({k}, {l})-diagrams; {d!r} is not")
        vertex_label, count, factors, sign = _labels(G, d)
        strides = [0] * count
        for v, label in enumerate(vertex_label):
            strides[label] += axis_stride[v]
        value = np.ones((1,) * count)
        for tensor, labels in factors:  # tensor axis j carries label labels[j]
            shape = [n if i in labels else 1 for i in range(count)]
            value = value * tensor.transpose(np.argsort(labels)).reshape(shape)
        view = as_strided(M, shape=(c_out, c_in) + (n,) * count, strides=(M.strides[0], M.strides[1 + l], *strides))
        view += (sign * W[:, :, t]).reshape((c_out, c_in) + (1,) * count) * value
    return M.reshape(c_out * n**l, c_in * n**k)


def dense_matrix(G: Group | ProductGroup, d: Diagram | ProductDiagram, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """The dense n^l × n^k matrix of diagram d for G (docs/conventions.md §3 entry formulas), built in
    ``dtype`` (its entries are 0, ±1, exact in any float type).

    >>> from catlayer import SO, BrauerGroodDiagram
    >>> dense_matrix(SO(2), BrauerGroodDiagram([[0], [1]], dom=1, cod=1))
    array([[ 0.,  1.],
           [-1.,  0.]])
    """
    return dense_layer_matrix(G, (d,), np.ones((1, 1, 1), dtype=dtype))


def _dense_product_layer(G: ProductGroup, diagrams: Sequence[ProductDiagram], W: np.ndarray) -> np.ndarray:
    """Σ_t W[o, c, t] kron(F_1(d_t,1), …, F_r(d_t,r)) as a (c_out·rows, c_in·columns) matrix."""
    G.require_sizes("a dense layer matrix")
    c_out, c_in = W.shape[:2]
    k, l = diagrams[0].dom, diagrams[0].cod
    rows = int(np.prod([g.n**c for g, c in zip(G.factors, l, strict=True)]))
    cols = int(np.prod([g.n**a for g, a in zip(G.factors, k, strict=True)]))
    check_size(c_out * c_in * rows * cols * W.itemsize, f"a dense layer matrix ({c_out}·{rows}) x ({c_in}·{cols})")
    M = np.zeros((c_out, rows, c_in, cols), dtype=W.dtype)
    for t, p in enumerate(diagrams):
        G.check_diagram(p)
        if (p.dom, p.cod) != (k, l):
            raise ValueError(f"all diagrams must be {k} → {l}; {p!r} is not")
        term = np.ones((1, 1), dtype=W.dtype)
        for g, d in zip(G.factors, p.factors, strict=True):
            term = np.kron(term, dense_matrix(g, d, W.dtype))
        M += W[:, None, :, None, t] * term[None, :, None, :]
    return M.reshape(c_out * rows, c_in * cols)
