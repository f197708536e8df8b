"""Tensor networks over the axes a group acts on: the symbolic values of :func:`prove_module`.

Every tensor of a traced program is described by an :class:`Expr`: its axes, each a tuple of
*atoms* (a dimension of size n·n made by a ``reshape`` of two group axes is two atoms), and a
sum of :class:`Term`\\ s. A term is a tensor network: *leaves* (tensors already known to be
equivariant — the inputs, the outputs of nonlinear operations, parameters, which are never
acted on) and *constants* (numbers known at trace time: ``torch.eye(3)``, a buffer, a selection
matrix standing for ``x[:, 0]``), wired by index variables. An index variable of a group
factor is a hyperedge: every leaf axis, constant axis and output axis it touches carries the
same index, and it is summed when it is on no output axis.

What is tracked and what is not (the soundness argument):

* Only the indices the group acts on are tracked. Axes nobody acts on (batch, channels) are
  *plain*: whatever happens on them (learned weights, sums, reshapes, channel mixing) is a
  linear map on indices g does not touch, so it commutes with the action. Formally, a term is
  Σ_{plain} Σ_{group} Π leaves · C_group · C_plain where C_plain is any tensor on plain indices;
  if C_group (the network on group indices) is an equivariant map from the leaves' group axes to
  the output's, the term is equivariant. A constant with both kinds of axes is sliced along its
  plain axes, and every slice must make an equivariant network (the term is then a combination,
  with coefficients on plain indices, of equivariant networks).
* Scalar coefficients are not tracked (a multiple of an equivariant map is equivariant), so
  ``x - x`` is two terms, each checked.
* A sum of terms is accepted when every term is (a sufficient condition: a sum of terms that are
  not equivariant one by one but cancel is not recognised, and the prover then says undecided).
* *Flex* atoms are axes whose role is not decided yet (a constant's axes, an ``expand``): they
  become group or plain axes when they meet an axis of known role, and plain when nothing decides.
  A flex index never touches a leaf.

Deciding a term (:func:`check_term`), one group factor at a time: constants are contracted along
their flex indices and sliced along their other axes; each slice is recognised exactly as a
multiple of a partition tensor E_π (δ-blocks: ``eye``, ``ones``, a diagonal), of the group's pair
form (η of O(p, q), J of Sp(n)) or of the Levi-Civita symbol ε (groups whose singletons are free
vertices: SO). δ-blocks merge indices; the remaining network is cut into connected components,
each read as a diagram on its leaf axes (bottom row) and output axes (top row), with pair forms
and ε followed along paths. A component is accepted when the diagram is a morphism of
``group.category`` **and** the group's functor sends it to exactly this tensor up to a scalar
(``group.factors(d)``: δ where the network has an even number of pair forms on the path, the
pair form where it has an odd number, ε on the free vertices). Anything else (an unrecognised
constant, ε contracted with ε, a block of three indices for O(n)) is decided by building the
component's dense integer tensor and proving it with :func:`catlayer.verify.check_matrix`
on the group's exact generators, when it has at most :data:`DENSE_LIMIT` entries; otherwise the
term is undecided.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from ..diagrams import PartitionDiagram
from ..forms import levi_civita
from ..groups.base import Delta, LeviCivita, Pair
from .exact import check_matrix

__all__ = [
    "FLEX",
    "PLAIN",
    "Atom",
    "Conflict",
    "Expr",
    "Term",
    "Unsupported",
    "Verdict",
    "check_term",
]

#: The kind of an axis nobody acts on.
PLAIN: object = "plain"
#: The kind of an axis whose role is not decided yet (constants, broadcasts).
FLEX: object = "flex"
#: Largest dense tensor (entries) a component is built as, to be proved on the generators.
DENSE_LIMIT = 1 << 14
#: Largest constant map (entries) along one axis (a selection, an embedding).
MATRIX_LIMIT = 1 << 22
#: Largest number of slice combinations of the constants of one term.
SLICE_LIMIT = 256

_counter = itertools.count()


def fresh() -> int:
    """A new index variable."""
    return next(_counter)


class Unsupported(Exception):
    """An operation the network cannot express (the prover reports the op as having no rule)."""


class Conflict(Unsupported):
    """Two axes that must be the same index have different roles (e.g. a parameter's axis added
    to an axis the group acts on)."""


@dataclass(frozen=True)
class Atom:
    """One index of an axis: ``kind`` is a group factor (int), PLAIN or FLEX."""

    kind: object
    size: int

    def __repr__(self) -> str:
        return f"{self.kind}:{self.size}"


def join(a: object, b: object) -> object:
    """The kind of two atoms that must be the same index; Conflict when impossible."""
    if a == b:
        return a
    if a == FLEX:
        return b
    if b == FLEX:
        return a
    raise Conflict(f"an axis {describe_kind(a)} meets an axis {describe_kind(b)}")


def describe_kind(kind: object) -> str:
    if kind == PLAIN:
        return "not acted on"
    if kind == FLEX:
        return "of undecided role"
    return f"acted on by factor {kind}"


# -- terms -------------------------------------------------------------------------------------------
class Term:
    """One tensor network (see the module docstring). Immutable by convention: every operation
    returns a new term.

    ``out``: per output axis, the variable of each atom (None for plain atoms). ``leaves``: (leaf
    id, variable per atom of the leaf). ``consts``: (array, variable per axis). ``kinds``: the
    kind (factor or FLEX) of each variable; ``sizes``: its size.
    """

    __slots__ = ("consts", "kinds", "leaves", "out", "sizes")

    def __init__(self, out: Any, leaves: Any, consts: Any, kinds: Any, sizes: Any) -> None:
        self.out = tuple(tuple(d) for d in out)
        self.leaves = tuple((i, tuple(v)) for i, v in leaves)
        self.consts = tuple((a, tuple(v)) for a, v in consts)
        self.kinds = dict(kinds)
        self.sizes = dict(sizes)

    def __repr__(self) -> str:
        return f"Term(out={self.out}, leaves={self.leaves}, consts={[(a.shape, v) for a, v in self.consts]})"

    def variables(self) -> set[int]:
        used = {v for d in self.out for v in d if v is not None}
        used |= {v for _, vs in self.leaves for v in vs if v is not None}
        used |= {v for _, vs in self.consts for v in vs if v is not None}
        return used

    def substitute(self, mapping: dict) -> Term:
        """Replace variables (a variable mapped to None becomes plain there)."""

        def sub(vs: Any) -> Any:
            return tuple(mapping.get(v, v) if v is not None else None for v in vs)

        kinds = {mapping.get(v, v): k for v, k in self.kinds.items() if mapping.get(v, v) is not None}
        sizes = {mapping.get(v, v): s for v, s in self.sizes.items() if mapping.get(v, v) is not None}
        return Term(
            [sub(d) for d in self.out],
            [(i, sub(vs)) for i, vs in self.leaves],
            [(a, sub(vs)) for a, vs in self.consts],
            kinds,
            sizes,
        )

    def renamed(self) -> Term:
        """A copy with fresh variables (to multiply a term with itself)."""
        return self.substitute({v: fresh() for v in self.kinds})

    def with_out(self, out: Any) -> Term:
        return Term(out, self.leaves, self.consts, self.kinds, self.sizes)


def merge_vars(term: Term, variables: list) -> tuple[Term, object]:
    """Identify the variables (all of one kind after join) in ``term``: the merged variable, or
    None when they are plain (then all must be None)."""
    present = [v for v in variables if v is not None]
    if not present:
        return term, None
    if len(present) != len(variables):
        raise Conflict("an axis not acted on meets an axis with an index")
    kind = FLEX
    for v in present:
        kind = join(kind, term.kinds[v])
    target = present[0]
    mapping = {v: target for v in present[1:] if v != target}
    term = term.substitute(mapping) if mapping else term
    term.kinds[target] = kind
    return term, target


# -- symbolic tensors ----------------------------------------------------------------------------------
class Expr:
    """The symbolic value of a tensor: ``dims`` (per axis, its atoms) and a sum of ``terms``.

    ``suspect``: where the value stopped being equivariant (the first op that made one of its
    terms fail; None while every term passes). ``broken``: a rule that failed upstream (the value
    is then tracked on a best-effort basis only, to infer output roles).
    """

    __slots__ = ("broken", "dims", "suspect", "terms", "valid")

    def __init__(self, dims: Any, terms: Any, suspect: Any = None, broken: Any = None, valid: Any = None) -> None:
        self.dims = tuple(tuple(d) for d in dims)
        self.terms = tuple(terms)
        self.suspect = suspect
        self.broken = broken
        self.valid = valid  # True: decided equivariant; False: decided not; None: not decided

    def __repr__(self) -> str:
        return f"Expr(dims={self.dims}, terms={len(self.terms)})"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(math.prod(a.size for a in d) for d in self.dims)

    @property
    def ndim(self) -> int:
        return len(self.dims)

    def positions(self) -> Any:
        return [(d, i) for d, atoms in enumerate(self.dims) for i in range(len(atoms))]

    def has_flex(self) -> bool:
        return any(a.kind == FLEX for d in self.dims for a in d)

    def kinds(self) -> tuple[tuple[object, ...], ...]:
        return tuple(tuple(a.kind for a in d) for d in self.dims)

    def replace(self, dims: Any = None, terms: Any = None) -> Expr:
        return Expr(
            self.dims if dims is None else dims, self.terms if terms is None else terms, self.suspect, self.broken
        )

    # -- retyping ------------------------------------------------------------------------------------
    def retype(self, d: int, i: int, kind: object) -> Expr:
        """The atom (d, i) as ``kind`` (a factor or PLAIN), in the atoms and in every term; FLEX
        atoms sharing a variable with it in some term follow. Conflict when a decided atom or
        variable would change."""
        if kind == FLEX:
            return self
        dims = [list(x) for x in self.dims]
        terms = list(self.terms)
        work = [(d, i)]
        done = set()
        while work:
            d0, i0 = work.pop()
            if (d0, i0) in done:
                continue
            done.add((d0, i0))
            atom = dims[d0][i0]
            dims[d0][i0] = Atom(join(atom.kind, kind), atom.size)
            for t, term in enumerate(terms):
                v = term.out[d0][i0]
                if v is None:
                    if kind != PLAIN:
                        raise Conflict(f"an axis not acted on is used as an axis {describe_kind(kind)}")
                    continue
                vk = term.kinds[v]
                if vk == kind:
                    continue
                join(vk, kind)
                shared = [(d1, i1) for d1, vs in enumerate(term.out) for i1, w in enumerate(vs) if w == v]
                if kind == PLAIN:
                    terms[t] = term.substitute({v: None})
                else:
                    new = Term(term.out, term.leaves, term.consts, term.kinds, term.sizes)
                    new.kinds[v] = kind
                    terms[t] = new
                work += [p for p in shared if p not in done]
        if kind == PLAIN:
            kept = [s for s in (simplify(t) for t in terms) if s is not None]
            return Expr(dims, kept, self.suspect, self.broken)
        return Expr(dims, terms, self.suspect, self.broken)

    def retype_all(self, kinds: Any) -> Expr:
        """Retype every atom to ``kinds`` (same nesting as dims; FLEX entries are left alone)."""
        e = self
        for d, ks in enumerate(kinds):
            for i, k in enumerate(ks):
                if k != FLEX and e.dims[d][i].kind != k:
                    e = e.retype(d, i, k)
        return e

    def settle(self) -> Expr:
        """Every FLEX atom becomes PLAIN (nothing decided its role)."""
        e = self
        for d, atoms in enumerate(self.dims):
            for i, _a in enumerate(atoms):
                if e.dims[d][i].kind == FLEX:
                    e = e.retype(d, i, PLAIN)
        return e

    # -- splitting atoms -------------------------------------------------------------------------------
    def split(self, d: int, i: int, sizes: tuple[int, ...]) -> Expr:
        """Split the atom (d, i) into atoms of ``sizes`` (C order). Group atoms cannot be split."""
        sizes = tuple(s for s in sizes if s != 1)
        atom = self.dims[d][i]
        if math.prod(sizes) != atom.size:
            raise Unsupported("bad split")
        if len(sizes) == 1:
            return self
        if atom.kind not in (PLAIN, FLEX):
            raise Unsupported(f"a reshape splits an axis acted on by factor {atom.kind} (size {atom.size})")
        dims = [list(x) for x in self.dims]
        dims[d][i : i + 1] = [Atom(atom.kind, s) for s in sizes]
        terms = []
        for term in self.terms:
            v = term.out[d][i]
            out = [list(x) for x in term.out]
            if v is None:
                out[d][i : i + 1] = [None] * len(sizes)
                terms.append(term.with_out(out))
                continue
            if sum(w == v for x in term.out for w in x) != 1 or any(v in vs for _, vs in term.leaves):
                raise Unsupported("a reshape splits an axis that is tied to another one")
            new_vars = [fresh() for _ in sizes]
            out[d][i : i + 1] = new_vars
            consts = []
            for a, vs in term.consts:
                while v in vs:
                    k = vs.index(v)
                    a = a.reshape(a.shape[:k] + sizes + a.shape[k + 1 :])
                    vs = vs[:k] + tuple(new_vars) + vs[k + 1 :]
                consts.append((a, vs))
            kinds = {**term.kinds, **{w: term.kinds[v] for w in new_vars}}
            sz = {**term.sizes, **dict(zip(new_vars, sizes, strict=True))}
            kinds.pop(v)
            sz.pop(v)
            terms.append(Term(out, term.leaves, consts, kinds, sz))
        return Expr(dims, terms, self.suspect, self.broken)

    def refine_dim(self, d: int, sizes: tuple[int, ...]) -> Expr:
        """Split the atoms of axis d so that they are exactly ``sizes`` (a refinement)."""
        e = self
        i = 0
        target = list(sizes)
        while i < len(e.dims[d]):
            atom = e.dims[d][i]
            if not target:
                raise Unsupported("axes do not line up")
            if target[0] == atom.size:
                target.pop(0)
                i += 1
                continue
            if atom.size % target[0]:
                raise Unsupported("axes do not line up")
            # split off as many target sizes as the atom covers
            take, prod = [], 1
            while target and prod < atom.size:
                prod *= target[0]
                take.append(target.pop(0))
            if prod != atom.size:
                raise Unsupported("axes do not line up")
            e = e.split(d, i, tuple(take))
            i += len(take)
        if target:
            raise Unsupported("axes do not line up")
        return e


def common_refinement(first: tuple[int, ...], second: tuple[int, ...]) -> tuple[int, ...]:
    """The coarsest sequence of sizes refining both factorisations (C order), or Unsupported.

    >>> common_refinement((6,), (2, 3)), common_refinement((4, 3), (2, 6))
    ((2, 3), (2, 2, 3))
    """
    a, b = list(first), list(second)
    out = []
    while a and b:
        x, y = a[0], b[0]
        if x == y:
            out.append(x)
            a.pop(0)
            b.pop(0)
        elif x % y == 0:
            out.append(y)
            a[0] = x // y
            b.pop(0)
        elif y % x == 0:
            out.append(x)
            b[0] = y // x
            a.pop(0)
        else:
            raise Unsupported(f"axes of sizes {tuple(a)} and {tuple(b)} do not line up")
    if a or b:
        raise Unsupported("axes of different sizes")
    return tuple(s for s in out if s != 1)


# -- building expressions ----------------------------------------------------------------------------
def leaf_expr(leaf: int, dims: Any, suspect: Any = None, broken: Any = None) -> Expr:
    """A leaf tensor with atoms ``dims`` (kinds: factors or PLAIN)."""
    out: list[Any] = []
    flat: list[Any] = []
    kinds: dict[Any, Any] = {}
    sizes: dict[Any, Any] = {}
    for atoms in dims:
        vs: list[Any] = []
        for a in atoms:
            if a.kind in (PLAIN,):
                vs.append(None)
            else:
                if a.kind == FLEX:
                    raise ValueError("a leaf has no undecided axes")
                v = fresh()
                kinds[v], sizes[v] = a.kind, a.size
                vs.append(v)
        out.append(vs)
        flat += vs
    return Expr(dims, [Term(out, [(leaf, flat)], [], kinds, sizes)], suspect, broken, valid=True)


def const_expr(value: np.ndarray) -> Expr:
    """A constant: flex atoms; axes along which it does not vary become broadcasts (so
    ``zeros``/``ones`` are scalars and a zero constant has no terms)."""
    a = np.asarray(value, dtype=np.float64) if value.dtype != np.float64 else np.asarray(value)
    dims = [(Atom(FLEX, s),) if s != 1 else () for s in a.shape]
    if a.size == 0:
        return Expr(dims, [])
    if np.all(a == 0) and not np.isnan(a).any():
        return Expr(dims, [])
    squeezed = a
    broadcast = []
    for axis, s in enumerate(a.shape):
        if s > 1:
            first = np.take(squeezed, [0], axis=axis)
            if _equal(squeezed, first):
                squeezed = first
                broadcast.append(axis)
    out: list[Any] = []
    kinds: dict[Any, Any] = {}
    sizes: dict[Any, Any] = {}
    const_vars: list[Any] = []
    for axis, s in enumerate(a.shape):
        if s == 1:
            out.append(())
            const_vars.append(None)
            continue
        v = fresh()
        kinds[v], sizes[v] = FLEX, s
        out.append((v,))
        const_vars.append(None if axis in broadcast else v)
    keep = [axis for axis, v in enumerate(const_vars) if v is not None]
    array = squeezed.reshape([a.shape[axis] for axis in keep]) if keep else squeezed.reshape(())
    consts = [(array, tuple(const_vars[axis] for axis in keep))]
    if array.ndim == 0 and array == 1:
        consts = []
    return Expr(dims, [Term(out, [], consts, kinds, sizes)])


def _equal(x: np.ndarray, y: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all((x == y) | (np.isnan(x) & np.isnan(y))))


# -- alignment ------------------------------------------------------------------------------------------
def _refine_together(exprs: list[Expr], members: list[tuple[int, int]]) -> Any:
    """Refine the axes ``members`` ((expression, axis) pairs, in place in ``exprs``) to the common
    refinement of their atom sizes, and return it (None when there are no members)."""
    sizes: Any = None
    for j, d in members:
        s = tuple(a.size for a in exprs[j].dims[d])
        sizes = s if sizes is None else common_refinement(sizes, s)
    for j, d in members:
        exprs[j] = exprs[j].refine_dim(d, sizes)
    return sizes


def align(exprs: list[Expr], dim_lists: list[list[int]]) -> tuple[list[Expr], list[tuple[Atom, ...]]]:
    """Line up the axes ``dim_lists[j][m]`` of ``exprs[j]`` for every slot m (axes that must be
    the same indices): refine their atoms to a common factorisation and join their kinds.
    A ``-1`` in a dim list means the operand has no axis there (broadcast); an axis with no atoms
    (size 1) broadcasts too. Returns the retyped expressions and each slot's atoms."""
    exprs = list(exprs)
    slots = len(dim_lists[0]) if dim_lists else 0
    result: list[tuple[Atom, ...]] = []
    for m in range(slots):
        members = [(j, dl[m]) for j, dl in enumerate(dim_lists) if dl[m] >= 0 and exprs[j].dims[dl[m]]]
        if not members:
            result.append(())
            continue
        sizes = _refine_together(exprs, members)
        kinds = []
        for p in range(len(sizes)):
            k = FLEX
            for j, d in members:
                k = join(k, exprs[j].dims[d][p].kind)
            kinds.append(k)
        for j, d in members:
            for p, k in enumerate(kinds):
                if k != FLEX and exprs[j].dims[d][p].kind != k:
                    exprs[j] = exprs[j].retype(d, p, k)
        result.append(tuple(Atom(k, s) for k, s in zip(kinds, sizes, strict=True)))
    return exprs, result


def contract(operands: list[tuple[Expr, tuple[str, ...]]], out_labels: tuple[str, ...]) -> Expr:
    """The einsum of symbolic tensors: axes with the same label are the same indices (a label
    twice in one operand takes a diagonal), labels not in ``out_labels`` are summed. An axis of
    size 1 broadcasts against the others."""
    exprs = [e for e, _ in operands]
    labels = sorted({c for _, ls in operands for c in ls} | set(out_labels))
    occurrences: dict[str, list[tuple[int, int]]] = {c: [] for c in labels}
    for j, (e, ls) in enumerate(operands):
        if len(ls) != e.ndim:
            raise ValueError(f"{len(ls)} labels for an operand with {e.ndim} axes")
        for d, c in enumerate(ls):
            occurrences[c].append((j, d))
    atoms_of: dict[str, tuple[Atom, ...]] = {}
    for c in labels:
        members = [(j, d) for j, d in occurrences[c] if exprs[j].dims[d]]
        sizes = _refine_together(exprs, members)
        atoms_of[c] = tuple(Atom(FLEX, s) for s in sizes) if sizes else ()
    changed = True
    while changed:  # join kinds label by label until stable (a retype can move tied atoms)
        changed = False
        for c in labels:
            members = [(j, d) for j, d in occurrences[c] if exprs[j].dims[d]]
            for p in range(len(atoms_of[c])):
                k = FLEX
                for j, d in members:
                    k = join(k, exprs[j].dims[d][p].kind)
                for j, d in members:
                    if exprs[j].dims[d][p].kind != k:
                        exprs[j] = exprs[j].retype(d, p, k)
                        changed = True
            atoms_of[c] = tuple(
                Atom(exprs[members[0][0]].dims[members[0][1]][p].kind if members else FLEX, a.size)
                for p, a in enumerate(atoms_of[c])
            )
    terms: list[Term] = []
    for combo in itertools.product(*[e.terms for e in exprs]):
        parts = [t.renamed() for t in combo]
        kinds = {v: k for t in parts for v, k in t.kinds.items()}
        sizes = {v: s for t in parts for v, s in t.sizes.items()}
        uf = _UF()
        for c in labels:
            for p in range(len(atoms_of[c])):
                vs = [parts[j].out[d][p] for j, d in occurrences[c] if exprs[j].dims[d]]
                present = [v for v in vs if v is not None]
                if present and len(present) != len(vs):
                    raise Conflict("an axis not acted on meets an axis with an index")
                for v in present[1:]:
                    uf.union(present[0], v)
        mapping: dict[Any, Any] = {}
        root_kind: dict[Any, Any] = {}
        for v in kinds:
            r = uf.find(v)
            if r != v:
                mapping[v] = r
            root_kind[r] = join(root_kind.get(r, FLEX), kinds[v])
        term = Term(
            [],
            [leaf for t in parts for leaf in t.leaves],
            [c for t in parts for c in t.consts],
            kinds,
            sizes,
        )
        term = term.substitute(mapping) if mapping else term
        for r, k in root_kind.items():
            if r in term.kinds:
                term.kinds[r] = k
        out: list[Any] = []
        for c in out_labels:
            j_d = [(j, d) for j, d in occurrences[c] if exprs[j].dims[d]]
            if not j_d:
                out.append(())
                continue
            j, d = j_d[0]
            vs = parts[j].out[d]
            out.append(tuple(None if v is None else uf.find(v) for v in vs))
        kept = simplify(term.with_out(out))
        if kept is not None:
            terms.append(kept)
    result = Expr(
        [atoms_of[c] for c in out_labels],
        terms,
        earliest(*(e.suspect for e in exprs)),
        earliest(*(e.broken for e in exprs)),
    )
    return _repair(result)


def earliest(*culprits: Any) -> Any:
    """The culprit of the earliest op (by its ``order``) among those given, or None: suspects and
    breaks travel with every value computed from the value they mark."""
    present = [c for c in culprits if c is not None]
    return min(present, key=lambda c: getattr(c, "order", 0)) if present else None


def _repair(e: Expr) -> Expr:
    """Make the atoms' kinds agree with the terms' variables (merging variables can give a FLEX
    variable a factor): every position takes the join of its kinds over the terms."""
    for _ in range(8):
        changed = False
        for d, atoms in enumerate(e.dims):
            for i, a in enumerate(atoms):
                k = a.kind
                for term in e.terms:
                    v = term.out[d][i]
                    k = join(k, PLAIN if v is None else term.kinds[v])
                if k != FLEX and (
                    k != a.kind or any((PLAIN if t.out[d][i] is None else t.kinds[t.out[d][i]]) != k for t in e.terms)
                ):
                    e = e.retype(d, i, k)
                    changed = True
        if not changed:
            return e
    return e


def add(exprs: list[Expr]) -> Expr:
    """The sum of symbolic tensors (numpy broadcasting, trailing axes aligned)."""
    ndim = max(e.ndim for e in exprs)
    dim_lists = [[-1] * (ndim - e.ndim) + list(range(e.ndim)) for e in exprs]
    exprs, atoms = align(exprs, dim_lists)
    terms: list[Term] = []
    for e, dl in zip(exprs, dim_lists, strict=True):
        e = broadcast_to(e, dl, atoms)
        terms += e.terms
    return _repair(Expr(atoms, terms, earliest(*(e.suspect for e in exprs)), earliest(*(e.broken for e in exprs))))


def broadcast_to(e: Expr, dim_list: list[int], atoms: list[tuple[Atom, ...]]) -> Expr:
    """e with axes ``dim_list`` (−1: missing) broadcast to axes of ``atoms``: a missing or size-1
    axis gets fresh broadcast variables (an index touching only the output)."""
    terms = []
    for term in e.terms:
        out = []
        kinds, sizes = dict(term.kinds), dict(term.sizes)
        for m, d in enumerate(dim_list):
            if d >= 0 and e.dims[d]:
                out.append(term.out[d])
                continue
            vs: list[Any] = []
            for a in atoms[m]:
                if a.kind == PLAIN:
                    vs.append(None)
                else:
                    v = fresh()
                    kinds[v], sizes[v] = a.kind, a.size
                    vs.append(v)
            out.append(tuple(vs))
        terms.append(Term(out, term.leaves, term.consts, kinds, sizes))
    return Expr(atoms, terms, e.suspect, e.broken)


def reshape(e: Expr, shape: tuple[int, ...]) -> Expr:
    """A C-order reshape: atoms regrouped into the new axes (split where needed)."""
    if math.prod(shape) != math.prod(e.shape):
        raise Unsupported("reshape changes the number of entries")
    # flatten to one axis of all atoms, then regroup
    flat_atoms = [a for d in e.dims for a in d]
    flat_terms = [term.with_out([tuple(v for vs in term.out for v in vs)]) for term in e.terms]
    f = Expr([tuple(flat_atoms)], flat_terms, e.suspect, e.broken)
    targets = [s for s in shape if s != 1]
    f = f.refine_dim(0, common_refinement(tuple(a.size for a in flat_atoms), tuple(targets)) if targets else ())
    atoms = list(f.dims[0])
    dims, pos = [], 0
    groups = []
    for s in shape:
        if s == 1:
            groups.append((pos, pos))
            continue
        start, prod = pos, 1
        while prod < s:
            prod *= atoms[pos].size
            pos += 1
        if prod != s:
            raise Unsupported("reshape does not line up with the axes")
        groups.append((start, pos))
    dims = [tuple(atoms[a:b]) for a, b in groups]
    terms = [t.with_out([tuple(t.out[0][a:b]) for a, b in groups]) for t in f.terms]
    return Expr(dims, terms, e.suspect, e.broken)


def permute(e: Expr, order: Any) -> Expr:
    order = [o % e.ndim for o in order] if e.ndim else []
    return Expr(
        [e.dims[o] for o in order], [t.with_out([t.out[o] for o in order]) for t in e.terms], e.suspect, e.broken
    )


def sum_dims(e: Expr, dims: Any, keepdim: bool) -> Expr:
    """Σ over axes: their variables leave the output (summed)."""
    dims = {d % e.ndim for d in dims} if e.ndim else set()
    new_dims: list[Any] = []
    keep: list[Any] = []
    for d in range(e.ndim):
        if d in dims:
            if keepdim:
                new_dims.append(())
                keep.append(None)
        else:
            new_dims.append(e.dims[d])
            keep.append(d)
    terms = [t.with_out([t.out[d] if d is not None else () for d in keep]) for t in e.terms]
    return simplified(Expr(new_dims, terms, e.suspect, e.broken))


def dim_map(e: Expr, d: int, matrix: Any, out_kind: Any = None, force: bool = False) -> Expr:
    """A constant linear map ``matrix`` (out_size × in_size) along axis d (a selection, a slice,
    a permutation, an embedding). Plain axes need no constant (a map on indices nobody acts on);
    otherwise the output axis is one FLEX atom (or ``out_kind`` atoms of the input's sizes when
    given) tied to the input's indices by the constant."""
    out_size = matrix.shape[0]
    atoms = e.dims[d]
    if matrix.size > MATRIX_LIMIT:
        raise Unsupported(f"a constant map of {matrix.shape[0]} × {matrix.shape[1]} entries along an axis")
    if all(a.kind == PLAIN for a in atoms) and not force and _spreads(matrix):
        # Entries repeated (up to a factor) by the map may lie along a group axis later (a dense
        # layer's matrix gathers each learned value into every entry of an orbit): keep the
        # constant and leave the role of the new axis undecided.
        force = True
        if not isinstance(matrix, np.ndarray):
            matrix = matrix.dense()
    if all(a.kind == PLAIN for a in atoms) and not force:
        new_atoms: tuple[Atom, ...] = (Atom(PLAIN, out_size),) if out_size != 1 else ()
        dims = list(e.dims)
        dims[d] = new_atoms
        terms = []
        for t in e.terms:
            out = list(t.out)
            out[d] = (None,) if new_atoms else ()
            terms.append(t.with_out(out))
        return Expr(dims, terms, e.suspect, e.broken)
    if out_kind is not None and not force:
        new_atoms = tuple(Atom(a.kind, a.size) for a in atoms)
    else:
        new_atoms = (Atom(FLEX, out_size),) if out_size != 1 else ()
    in_sizes = tuple(a.size for a in atoms)
    out_sizes = tuple(a.size for a in new_atoms)
    m = np.asarray(matrix, dtype=np.float64).reshape(out_sizes + in_sizes)
    dims = list(e.dims)
    dims[d] = new_atoms
    terms = []
    for t in e.terms:
        kinds, sizes = dict(t.kinds), dict(t.sizes)
        new_vars: list[Any] = []
        for a in new_atoms:
            if a.kind == PLAIN:
                new_vars.append(None)
                continue
            v = fresh()
            kinds[v], sizes[v] = a.kind, a.size
            new_vars.append(v)
        out = list(t.out)
        in_vars = t.out[d]
        out[d] = tuple(new_vars)
        # plain input atoms: slice the matrix along them later (keep None)
        consts = [*t.consts, (m, tuple(new_vars) + tuple(in_vars))]
        term = simplify(Term(out, t.leaves, consts, kinds, sizes))
        if term is not None:
            terms.append(term)
    return _repair(Expr(dims, terms, e.suspect, e.broken))


def _spreads(matrix: Any) -> bool:
    """Whether a constant map on plain indices sends some input entry to several output entries
    along with other ones, i.e. whether two non-zero rows are proportional. When no two are, the
    outputs are independent linear functions of values nobody acts on, which no group axis can
    carry (an orbit of a group index has at least two entries, related by a signed permutation
    of the index values, so an equivariant map puts proportional rows at them): the new axis is
    plain. Otherwise its role is left to the ops that use it (a broadcast of a learned value over
    an orbit, as in a dense layer's gathered matrix, is equivariant)."""
    indices = getattr(matrix, "indices", None)
    if indices is not None:  # a selection: one 1 per row
        return len(set(indices)) < len(indices)
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 2:
        return False
    m = m[np.any(m != 0, axis=1)]
    if len(m) < 2:
        return False
    lead = m[np.arange(len(m)), np.argmax(m != 0, axis=1)]
    normalised = np.round(m / lead[:, None], 12)
    return len(np.unique(normalised, axis=0)) < len(normalised)


def diagonal(e: Expr, d1: int, d2: int) -> Expr:
    """torch.diagonal(x, 0, d1, d2): the two axes become one (same indices), appended last."""
    d1, d2 = d1 % e.ndim, d2 % e.ndim
    others = [d for d in range(e.ndim) if d not in (d1, d2)]
    labels = [chr(97 + i) for i in range(e.ndim)]
    labels[d2] = labels[d1]
    out = (*tuple(labels[d] for d in others), labels[d1])
    return contract([(e, tuple(labels))], out)


def diag_embed(e: Expr, d1: int, d2: int) -> Expr:
    """torch.diag_embed(x, 0, d1, d2): the last axis becomes two axes with the same indices."""
    nd = e.ndim + 1
    d1, d2 = d1 % nd, d2 % nd
    if d1 > d2:
        d1, d2 = d2, d1
    last = e.ndim - 1
    order = []
    it = iter(range(e.ndim - 1))
    for d in range(nd):
        if d in (d1, d2):
            order.append(last)
        else:
            order.append(next(it))
    dims = [e.dims[o] for o in order]
    terms = [t.with_out([t.out[o] for o in order]) for t in e.terms]
    return Expr(dims, terms, e.suspect, e.broken)


def expand(e: Expr, shape: tuple[int, ...]) -> Expr:
    """Broadcast to ``shape`` (−1 keeps an axis): new or size-1 axes get FLEX broadcast atoms."""
    lead = len(shape) - e.ndim
    dims = [()] * lead + list(e.dims)
    terms = [t.with_out([()] * lead + list(t.out)) for t in e.terms]
    e = Expr(dims, terms, e.suspect, e.broken)
    new_dims = list(e.dims)
    targets = []
    for d, s in enumerate(shape):
        cur = math.prod(a.size for a in e.dims[d])
        if s == -1 or s == cur:
            continue
        if cur != 1:
            raise Unsupported(f"expand of an axis of size {cur} to {s}")
        targets.append((d, s))
        new_dims[d] = (Atom(FLEX, s),)
    if not targets:
        return e
    out_terms = []
    for t in e.terms:
        kinds, sizes = dict(t.kinds), dict(t.sizes)
        out = list(t.out)
        for d, s in targets:
            v = fresh()
            kinds[v], sizes[v] = FLEX, s
            out[d] = (v,)
        out_terms.append(Term(out, t.leaves, t.consts, kinds, sizes))
    return Expr(new_dims, out_terms, e.suspect, e.broken)


def unsqueeze(e: Expr, d: int) -> Expr:
    d = d % (e.ndim + 1)
    dims = list(e.dims)
    dims.insert(d, ())
    terms = []
    for t in e.terms:
        out = list(t.out)
        out.insert(d, ())
        terms.append(t.with_out(out))
    return Expr(dims, terms, e.suspect, e.broken)


def squeeze(e: Expr, dims: Any = None) -> Expr:
    if dims is None:
        dims = [d for d in range(e.ndim) if e.shape[d] == 1]
    dims = {d % e.ndim for d in dims} if e.ndim else set()
    drop = [d for d in dims if e.shape[d] == 1]
    for d in drop:
        if e.dims[d]:
            raise Unsupported("squeeze of an axis of size 1 acted on by a group")
    keep = [d for d in range(e.ndim) if d not in drop]
    return Expr([e.dims[d] for d in keep], [t.with_out([t.out[d] for d in keep]) for t in e.terms], e.suspect, e.broken)


# -- deciding a term ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """The verdict on one term: ``ok`` True (equivariant), False (the network is not a morphism),
    or None (undecided: too large, or constants that are not exact numbers)."""

    ok: bool | None
    reason: str = ""


OK = Verdict(True)


def check_term(term: Term, groups: Any, leaf_names: Any = None) -> Verdict:
    """Whether the network ``term`` is equivariant, factor by factor (see the module docstring).
    ``groups``: the factor groups (index = factor). ``leaf_names``: leaf id → name (messages)."""
    if not term.consts and not any(k != FLEX for k in term.kinds.values()):
        return OK
    try:
        consts = _contract_flex(term)
    except _Zero:
        return OK
    factors = sorted({k for k in term.kinds.values() if k != FLEX})
    for f in factors:
        verdict = _check_factor(term, consts, f, groups[f], leaf_names)
        if verdict.ok is not True:
            return verdict
    return OK


class _Zero(Exception):
    pass


class _UF:
    """Union-find over hashable items (an item is its own class until joined)."""

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Any, b: Any) -> Any:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[b] = a


def _linked(variables: list[tuple], through: set) -> list[list[int]]:
    """The constants (given by their variables) in classes joined by shared variables of ``through``,
    each class in increasing order, the classes in order of their first member."""
    uf = _UF()
    owner: dict = {}
    for c, vs in enumerate(variables):
        for v in vs:
            if v in through:
                if v in owner:
                    uf.union(owner[v], c)
                else:
                    owner[v] = c
    classes: dict[int, list[int]] = {}
    for c in range(len(variables)):
        classes.setdefault(uf.find(c), []).append(c)
    return list(classes.values())


def _contract_flex(term: Term) -> list[tuple[np.ndarray, tuple]]:
    """The term's constants with every FLEX index summed (constants sharing one are contracted
    into one); a zero constant raises _Zero."""
    flex = {v for v, k in term.kinds.items() if k == FLEX}
    on_out = {v for d in term.out for v in d if v is not None}
    if flex & on_out:
        raise Unsupported("internal: undecided output axes in a check")
    consts = [(np.asarray(a, dtype=np.float64), tuple(vs)) for a, vs in term.consts]
    out = []
    for members in _linked([vs for _, vs in consts], flex):
        arrays = [consts[c] for c in members]
        if len(arrays) == 1 and not any(v in flex for v in arrays[0][1]):
            a, vs = arrays[0]
        else:
            a, vs = _einsum_flex(arrays, flex)
        if a.size and not np.isnan(a).any() and np.all(a == 0):
            raise _Zero
        out.append((a, vs))
    return out


def _einsum_flex(arrays: Any, flex: Any) -> Any:
    """Contract constants over their flex variables; plain axes (None) stay separate axes."""
    letters: dict = {}
    next_letter = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    specs: list[Any] = []
    keep_vars: list[Any] = []
    keep_letters: list[Any] = []
    for _a, vs in arrays:
        spec = ""
        for v in vs:
            if v is None:
                c = next(next_letter)
                keep_vars.append(None)
                keep_letters.append(c)
            else:
                if v not in letters:
                    letters[v] = next(next_letter)
                    if v not in flex:
                        keep_vars.append(v)
                        keep_letters.append(letters[v])
                c = letters[v]
            spec += c
        specs.append(spec)
    equation = ",".join(specs) + "->" + "".join(keep_letters)
    with np.errstate(invalid="ignore", over="ignore"):
        result = np.einsum(equation, *[a for a, _ in arrays], optimize="greedy")
    return np.asarray(result), tuple(keep_vars)


def _normalised_slices(a: np.ndarray, f_axes: list[int]) -> list[np.ndarray]:
    """The distinct non-zero slices of ``a`` over its non-f axes, each up to a scalar."""
    other = [i for i in range(a.ndim) if i not in f_axes]
    moved = np.moveaxis(a, f_axes + other, list(range(a.ndim)))
    inner = moved.shape[: len(f_axes)]
    flat = moved.reshape((*inner, -1))
    seen, out = set(), []
    for j in range(flat.shape[-1]):
        s = flat[..., j]
        nz = np.flatnonzero(s)
        if not len(nz):
            continue
        first = s.flat[nz[0]]
        norm = s / first if np.isfinite(first) else s
        key = norm.tobytes()
        if key in seen:
            continue
        seen.add(key)
        out.append(norm)
    return out


def _check_factor(term: Term, consts: Any, f: int, group: Any, leaf_names: Any) -> Verdict:
    n = int(group.n)
    # ends: top (output atoms of factor f), bottom (leaf atoms of factor f)
    tops = [v for d in term.out for v in d if v is not None and term.kinds.get(v) == f]
    bottoms = []
    for leaf, vs in term.leaves:
        for v in vs:
            if v is not None and term.kinds.get(v) == f:
                bottoms.append((leaf, v))
    relevant = []
    for a, vs in consts:
        f_axes = [i for i, v in enumerate(vs) if v is not None and term.kinds.get(v) == f]
        if f_axes:
            slices = _normalised_slices(a, f_axes)
            if not slices:
                return OK  # a zero constant: the term is zero
            relevant.append(([vs[i] for i in f_axes], slices))
    for v in {v for v in term.kinds if term.kinds[v] == f}:
        if term.sizes[v] != n:
            return Verdict(False, f"an index of factor {f} has size {term.sizes[v]}, not n = {n}")
    combos = math.prod(len(s) for _, s in relevant)
    if combos > SLICE_LIMIT:
        return Verdict(None, f"{combos} combinations of constant slices on the axes of {group!r}")
    for choice in itertools.product(*[range(len(s)) for _, s in relevant]):
        pieces = [(vs, slices[c]) for (vs, slices), c in zip(relevant, choice, strict=True)]
        verdict = _check_network(tops, bottoms, pieces, group, leaf_names)
        if verdict.ok is not True:
            return verdict
    return OK


def _check_network(tops: Any, bottoms: Any, pieces: Any, group: Any, leaf_names: Any) -> Verdict:
    """One factor's network: ends on the output (tops) and on leaves (bottoms), constant slices
    (pieces: (variables, array)). Structural reading first, dense proof as the fallback."""
    uf = _UF()
    nodes = []  # (kind, variables, array): kind in "form", "eps", "opaque"
    for vs, s in pieces:
        cls = _classify(s, group)
        if cls[0] == "delta":
            for block in cls[1]:
                for i in block[1:]:
                    uf.union(vs[block[0]], vs[i])
                for i in block:
                    uf.find(vs[i])
        else:
            nodes.append((cls[0], vs, s))
    for v in tops:
        uf.find(v)
    for _, v in bottoms:
        uf.find(v)
    # incidence of merged variables
    ends: dict = {}
    for t, v in enumerate(tops):
        ends.setdefault(uf.find(v), []).append(("top", t))
    for b, (_, v) in enumerate(bottoms):
        ends.setdefault(uf.find(v), []).append(("bottom", b))
    for k, (_, vs, _) in enumerate(nodes):
        for i, v in enumerate(vs):
            ends.setdefault(uf.find(v), []).append(("node", k, i))
    # connected components over variables and nodes
    comp = _UF()
    for r, es in ends.items():
        comp.find(("var", r))
        for e in es:
            if e[0] == "node":
                comp.union(("var", r), ("node", e[1]))
    members: dict = {}
    for r in ends:
        members.setdefault(comp.find(("var", r)), []).append(r)
    for roots in members.values():
        root_ends = [e for r in roots for e in ends[r]]
        node_ids = sorted({e[1] for e in root_ends if e[0] == "node"})
        comp_tops = sorted(e[1] for e in root_ends if e[0] == "top")
        comp_bottoms = sorted(e[1] for e in root_ends if e[0] == "bottom")
        if not comp_tops and not comp_bottoms:
            continue  # a closed network: a scalar
        structural = None
        if not any(nodes[k][0] == "opaque" for k in node_ids):
            structural = _structural(roots, ends, nodes, node_ids, comp_tops, comp_bottoms, group)
        if structural is not None and structural.ok:
            continue
        dense = _dense(roots, ends, nodes, node_ids, comp_tops, comp_bottoms, group, uf, tops, bottoms)
        if dense.ok:
            continue
        if structural is not None:
            return Verdict(dense.ok, structural.reason)  # the structural reading explains better
        return dense
    return OK


def _classify(s: np.ndarray, group: Any) -> Any:
    """("delta", blocks) when s = c·E_π, ("form",) for c·pair form, ("eps",) for c·ε, else
    ("opaque",). Non-finite multiples are read only for groups acting by permutations."""
    r = s.ndim
    n = s.shape[0] if r else 1
    finite = bool(np.all(np.isfinite(s)))
    permutations = _acts_by_permutations(group)
    if not finite and not permutations:
        return ("opaque",)
    nz = np.argwhere((s != 0) | np.isnan(s))
    if len(nz) == 0:
        return ("delta", [[i] for i in range(r)])
    # partition of axes: equal on every non-zero
    blocks: list[Any] = []
    assigned = [-1] * r
    for i in range(r):
        if assigned[i] >= 0:
            continue
        block = [i]
        assigned[i] = len(blocks)
        for j in range(i + 1, r):
            if assigned[j] < 0 and np.all(nz[:, i] == nz[:, j]):
                block.append(j)
                assigned[j] = len(blocks)
        blocks.append(block)
    c = s[tuple(nz[0])]
    expected = _partition_tensor(blocks, r, n)
    with np.errstate(invalid="ignore"):
        candidate = np.where(expected, c, 0.0)
    if _equal(candidate, s):
        return ("delta", blocks)
    if not finite:
        return ("opaque",)
    form = getattr(group, "pair_form", None)
    if form is not None and r == 2 and _proportional(s, np.asarray(form, dtype=np.float64)):
        return ("form",)
    if getattr(group, "free_singletons", False) and r == n and n <= 6:
        if _proportional(s, levi_civita(n).astype(np.float64)):
            return ("eps",)
    return ("opaque",)


def _proportional(s: np.ndarray, t: np.ndarray) -> bool:
    if s.shape != t.shape:
        return False
    nz = np.flatnonzero(t)
    if not len(nz) or s.flat[nz[0]] == 0:
        return False
    c = s.flat[nz[0]] / t.flat[nz[0]]
    return bool(np.array_equal(s, c * t))


@lru_cache(maxsize=256)
def _partition_tensor_cached(blocks: tuple, r: int, n: int) -> np.ndarray:
    index = np.indices((n,) * r).reshape(r, -1)
    ok = np.ones(n**r, dtype=bool)
    for block in blocks:
        for j in block[1:]:
            ok &= index[block[0]] == index[j]
    return ok.reshape((n,) * r)


def _partition_tensor(blocks: Any, r: Any, n: Any) -> Any:
    return _partition_tensor_cached(tuple(tuple(b) for b in blocks), r, n)


@lru_cache(maxsize=64)
def _acts_by_permutations(group: Any) -> bool:
    """Whether the group permutes entries: the family's flag where it has one, else its generators."""
    flag = getattr(type(group), "acts_by_permutations", None)
    if isinstance(flag, bool):
        return flag
    return generators_permute(group)


def generators_permute(group: Any) -> bool:
    """Whether every exact generator is a permutation matrix, decided on the generators alone (the
    tests hold the families' ``acts_by_permutations`` flags against it)."""
    for g in group.generators():
        m = np.asarray(g.matrix)
        if g.kind != "group" or not all(v in (0, 1) for v in m.flat):
            return False
        if any(sum(int(v) for v in row) != 1 for row in m) or any(sum(int(v) for v in col) != 1 for col in m.T):
            return False
    return True


@lru_cache(maxsize=64)
def _form_properties(group: Any) -> Any:
    """(form, form·form ∝ I and formᵀ ∝ form, weights consistent with the form) for path parities."""
    form = getattr(group, "pair_form", None)
    if form is None:
        return None, True, getattr(group, "free_weights", None) is None
    f = np.asarray(form, dtype=np.int64)
    n = f.shape[0]
    square = f @ f
    good = bool(
        (np.array_equal(square, np.eye(n, dtype=np.int64)) or np.array_equal(square, -np.eye(n, dtype=np.int64)))
        and (np.array_equal(f.T, f) or np.array_equal(f.T, -f))
    )
    weights = getattr(group, "free_weights", None)
    consistent = weights is None or np.array_equal(np.diag(np.asarray(weights, dtype=np.int64)), f)
    return f, good, consistent


def _structural(
    roots: Any, ends: Any, nodes: Any, node_ids: Any, comp_tops: Any, comp_bottoms: Any, group: Any
) -> Verdict | None:
    """Read one component as a diagram and ask the category and the functor's entry formula.
    None when the component is not of a shape read here (then the dense proof decides)."""

    l, k = len(comp_tops), len(comp_bottoms)
    top_pos = {t: i for i, t in enumerate(comp_tops)}
    bottom_pos = {b: l + i for i, b in enumerate(comp_bottoms)}

    def vertex(e: Any) -> Any:
        return top_pos[e[1]] if e[0] == "top" else bottom_pos[e[1]]

    if not node_ids:
        blocks = [[vertex(e) for e in ends[r]] for r in roots]
        blocks = [b for b in blocks if b]
        parity = None
        free: list[Any] = []
    else:
        _, good, consistent = _form_properties(group)
        if not good or not consistent:
            return None
        # every variable joins exactly two ends: follow paths through forms and ε nodes
        for r in roots:
            if len(ends[r]) != 2:
                return None
        other_end = {}
        for r in roots:
            a, b = ends[r]
            other_end[a] = b
            other_end[b] = a
        eps_nodes = [k_ for k_ in node_ids if nodes[k_][0] == "eps"]
        if len(eps_nodes) > 1:
            return None
        blocks, parity, free, seen = [], {}, [], set()
        starts: list[Any] = [("top", t) for t in comp_tops] + [("bottom", b) for b in comp_bottoms]
        starts += [("node", e, i) for e in eps_nodes for i in range(len(nodes[e][1]))]
        for s in starts:
            if s in seen:
                continue
            count, cur = 0, s
            seen.add(cur)
            while True:
                nxt = other_end[cur]
                if nxt[0] == "node" and nodes[nxt[1]][0] == "form":
                    count += 1
                    cur = ("node", nxt[1], 1 - nxt[2])
                    seen.add(nxt)
                    seen.add(cur)
                    continue
                end = nxt
                seen.add(end)
                break
            a_is_eps = s[0] == "node"
            b_is_eps = end[0] == "node"
            if a_is_eps and b_is_eps:
                return None  # ε contracted with ε: decided densely
            if a_is_eps or b_is_eps:
                outer = end if a_is_eps else s
                free.append((vertex(outer), count))
                blocks.append([vertex(outer)])
            else:
                u, w = vertex(s), vertex(end)
                blocks.append([u, w])
                parity[tuple(sorted((u, w)))] = count
    try:
        d = PartitionDiagram(blocks, dom=k, cod=l)
    except ValueError:
        return None
    category = group.category
    if not category.contains(d):
        return Verdict(False, _why(d, group, category))
    try:
        factors = group.factors(d)
    except Exception:
        return None
    free_set = {v for v, _ in free}
    free_count = dict(free)
    for factor in factors:
        if isinstance(factor, Delta):
            if node_ids:
                key = tuple(sorted(factor.vertices))
                if len(factor.vertices) != 2 or key not in parity or parity[key] % 2:
                    return Verdict(False, _why(d, group, category))
            elif any(v in free_set for v in factor.vertices):
                return None
        elif isinstance(factor, Pair):
            key = tuple(sorted(factor.vertices))
            if not node_ids or key not in parity or parity[key] % 2 == 0:
                return Verdict(False, _why(d, group, category, form=True))
        elif isinstance(factor, LeviCivita):
            if set(factor.vertices) != free_set or len(free_set) != len(free):
                return Verdict(False, _why(d, group, category))
            weighted = {factor.vertices[j] for j in factor.weighted} if factor.weights is not None else set()
            for v in factor.vertices:
                want = 1 if v in weighted else 0
                if free_count[v] % 2 != want:
                    return Verdict(False, _why(d, group, category, form=True))
        else:
            return None
    if free and not any(isinstance(x, LeviCivita) for x in factors):
        return None
    return OK


def _why(d: Any, group: Any, category: Any, form: bool = False) -> str:
    blocks = d.blocks
    sizes = sorted({len(b) for b in blocks})
    text = f"the {group!r} indices form the diagram {d} ({d.dom} leaf axes → {d.cod} output axes)"
    if not category.contains(d):
        return f"{text}, which is not a morphism of {category!r}"
    if form:
        return f"{text}, but the pair forms along its paths do not match {group!r}'s invariant form"
    if 1 in sizes:
        return f"{text}: a broadcast or a sum along an axis of {group!r} (a singleton block) is not equivariant"
    return f"{text}: the functor of {group!r} does not send it to this tensor"


def _exact_integers(a: np.ndarray) -> np.ndarray:
    """A float array as exact Python ints, scaled by a common positive factor."""
    fr = [Fraction(float(x)) for x in a.flat]
    q = math.lcm(1, *(f.denominator for f in fr))
    return np.array([int(f * q) for f in fr], dtype=object).reshape(a.shape)


def _dense(
    roots: Any,
    ends: Any,
    nodes: Any,
    node_ids: Any,
    comp_tops: Any,
    comp_bottoms: Any,
    group: Any,
    uf: Any,
    tops: Any,
    bottoms: Any,
) -> Verdict:
    """Build the component's tensor exactly and prove or refute it on the group's generators."""
    n = int(group.n)
    l, k = len(comp_tops), len(comp_bottoms)
    if n ** (l + k) > DENSE_LIMIT:
        return Verdict(None, f"a network on {l + k} axes of {group!r} is too large to decide exactly")
    for kk in node_ids:
        if not np.all(np.isfinite(nodes[kk][2])):
            return Verdict(None, "a constant with non-finite entries on a non-permutation axis")
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    var_letter = {}

    def letter(v: Any) -> Any:
        r = uf.find(v)
        if r not in var_letter:
            var_letter[r] = next(letters)
        return var_letter[r]

    operands, specs = [], []
    for kk in node_ids:
        _, vs, s = nodes[kk]
        operands.append(_exact_integers(s))
        specs.append("".join(letter(v) for v in vs))
    eye = np.eye(n, dtype=np.int64).astype(object)
    out_letters = []
    for t in comp_tops:
        c = next(letters)
        operands.append(eye)
        specs.append(c + letter(tops[t]))
        out_letters.append(c)
    for b in comp_bottoms:
        c = next(letters)
        operands.append(eye)
        specs.append(c + letter(bottoms[b][1]))
        out_letters.append(c)
    equation = ",".join(specs) + "->" + "".join(out_letters)
    tensor = np.einsum(equation, *operands, optimize="greedy") if operands else np.array(1, dtype=object)
    tensor = np.asarray(tensor, dtype=object).reshape((n,) * (l + k))
    matrix = tensor.reshape(n**l, n**k)
    report = check_matrix(group, matrix, k, l)
    if report.ok:
        return OK
    return Verdict(
        False,
        f"the network on the {group!r} axes ({k} leaf axes → {l} output axes) is not equivariant "
        f"(exact check on the generators: {report.failure})",
    )


# -- deciding an expression ------------------------------------------------------------------------------
def check_expr(e: Expr, groups: Any, leaf_names: Any = None) -> Verdict:
    """Every term of ``e`` (no FLEX atoms) checked; the first failing verdict, else OK."""
    worst = OK
    for term in e.terms:
        verdict = check_term(term, groups, leaf_names)
        if verdict.ok is False:
            return verdict
        if verdict.ok is None and worst.ok:
            worst = verdict
    return worst


def readings(sizes: Sequence[int], groups: Any) -> list[list[object]]:
    """The kinds an undecided atom of each size may take: PLAIN first, then every factor of its size."""
    return [[PLAIN] + [f for f, g in enumerate(groups) if int(g.n) == size] for size in sizes]


def read_as(e: Expr, positions: list[tuple[int, int]], kinds: Sequence[object]) -> Expr:
    """``e`` with the FLEX atoms at ``positions`` read as ``kinds``; Conflict when an atom there
    already has another kind (retyping a tied atom decided it)."""
    for (d, i), k in zip(positions, kinds, strict=True):
        if e.dims[d][i].kind == FLEX:
            e = e.retype(d, i, k)
        elif e.dims[d][i].kind != k:
            raise Conflict("tied atoms")
    return e


def decide(e: Expr, groups: Any, leaf_names: Any = None, max_choices: int = 64) -> tuple[Expr, Verdict]:
    """Settle the FLEX atoms of ``e`` and check it. An undecided atom of size n_f may be read as
    an axis of factor f or as plain: plain is tried first, then the assignments with the fewest
    group atoms; the first that makes every term equivariant wins (both readings are checked, so
    the choice only decides which roles the value is proved to have)."""
    flex = [(d, i) for d, atoms in enumerate(e.dims) for i, a in enumerate(atoms) if a.kind == FLEX]
    if not flex:
        return e, check_expr(e, groups, leaf_names)
    first: tuple[Expr, Verdict] | None = None
    options = readings([e.dims[d][i].size for d, i in flex], groups)
    choices = sorted(itertools.product(*options), key=lambda c: sum(k != PLAIN for k in c))[:max_choices]
    for choice in choices:
        try:
            s = read_as(e, flex, choice)
        except Conflict:
            continue
        verdict = check_expr(s, groups, leaf_names)
        if verdict.ok:
            return s, verdict
        if first is None:
            first = (s, verdict)
    if first is None:
        s = e.settle()
        return s, check_expr(s, groups, leaf_names)
    return first


# -- simplifying terms ------------------------------------------------------------------------------------
#: Largest constant (entries) that simplification builds by contracting constants together.
SIMPLIFY_LIMIT = 1 << 20


def simplify(term: Term) -> Term | None:
    """An equal term with fewer constants, or None when the term is zero.

    Constants joined by FLEX indices that touch no leaf and no output (internal indices of the
    constant part) are contracted into one constant; a constant with only plain axes is part of
    the plain structure and is dropped (the term is zero when it is); a zero constant makes the
    term zero. Plain axes stay separate axes of the contracted constant, so every slice along
    them is still checked on its own."""
    if not term.consts:
        return term
    out_vars = {v for d in term.out for v in d if v is not None}
    leaf_vars = {v for _, vs in term.leaves for v in vs if v is not None}
    internal = {v for v, k in term.kinds.items() if k == FLEX and v not in out_vars and v not in leaf_vars}
    consts = []
    for a, vs in term.consts:
        a = np.asarray(a)
        if a.size and not np.isnan(a).any() and not np.any(a):
            return None
        consts.append((a, vs))
    new = []
    changed = False
    for members in _linked([vs for _, vs in consts], internal):
        arrays = [consts[c] for c in members]
        touches = any(v in internal for _, vs in arrays for v in vs)
        if touches:
            size = math.prod(s for a, vs in arrays for s, v in zip(a.shape, vs, strict=True) if v is None) * math.prod(
                {v: term.sizes[v] for _, vs in arrays for v in vs if v is not None and v not in internal}.values()
            )
            if size <= SIMPLIFY_LIMIT:
                a, vs = _einsum_flex(arrays, internal)
                changed = True
                if a.size and not np.isnan(a).any() and not np.any(a):
                    return None
                arrays = [(a, vs)]
        for a, vs in arrays:
            if all(v is None for v in vs):
                changed = True
                continue  # plain structure only
            new.append((a, vs))
    if not changed:
        return term
    used = out_vars | leaf_vars | {v for _, vs in new for v in vs if v is not None}
    kinds = {v: k for v, k in term.kinds.items() if v in used}
    sizes = {v: s for v, s in term.sizes.items() if v in used}
    return Term(term.out, term.leaves, new, kinds, sizes)


def simplified(e: Expr) -> Expr:
    terms = []
    for t in e.terms:
        s = simplify(t)
        if s is not None:
            terms.append(s)
    return Expr(e.dims, terms, e.suspect, e.broken, e.valid)
