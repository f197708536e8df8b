"""Equivariant bilinear layers T(a) × T(b) → T(c).

Every equivariant bilinear map is a linear map on x ⊗ y, i.e. a combination of the images of the
(a + b → c)-diagrams of ``group.basis(a + b, c)`` (input axes 0..a−1 are x's, a..a+b−1 are y's).
Each diagram is evaluated here as a contraction of x and y, never forming x ⊗ y: the bottom
half of the diagram becomes one ``torch.einsum`` of x and y (a letter per block: a block inside x
is a diagonal or a sum of x, a block joining x and y a matched index or a contraction between
them), with the symplectic ε applied to one operand first and the Levi-Civita symbol of SO(n)
as a third operand; channel mixing and the top half are those of the linear layers
(:mod:`catlayer.nn.executor`). Products are taken channel by channel (x's channel i with y's
channel i) and then mixed over channels and diagrams; put linear layers in front to pair other
channels. Everything is deterministic and every weight is a parameter saved in ``state_dict``.

``diagrams="products"`` keeps only the *product diagrams*: every block has at most one vertex
in each of the three rows (output, x, y) and at least two vertices, except the free vertices
of an SO(n) n-diagram (at most one per row). They are the diagrams that are not already a
linear map of x or y alone followed by a product: pointwise products, matrix products (PPGN),
outer products, scalar × tensor, dot products, and for SO(3) the cross product. With linear
layers before and after, they generate the rest. ``diagrams="canonical"`` keeps one product
diagram per orbit under permuting the axes of x, of y and of the output (e.g. for graphs the
pointwise product and the matrix product, not their transposed variants): linear layers that
can permute axes (every group's basis holds the permutation diagrams) supply the others, at a
fraction of the cost.
"""

from __future__ import annotations

from itertools import permutations

import torch
from torch import nn

from ..diagrams import BrauerGroodDiagram, Diagram
from ..memory import check_size
from .checkable import Checkable
from .executor import compile_program
from .features import FeatureType, feature_type, flatten_batch, type_str, unflatten_batch
from .programs import (
    FormTables,
    assemble,
    diagram_scales,
    expansion_tables,
    expansion_terms,
    layer_plan,
    mix,
    mixing_tables,
    register_expansion_indices,
)
from .typed_linear import check_group

__all__ = ["EquivariantBilinear", "TypedBilinear", "canonical_products", "is_product_diagram", "product_diagrams"]

_LETTERS = "cdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def is_product_diagram(d: Diagram, a: int, b: int) -> bool:
    """Whether the (a + b → c)-diagram d is a product diagram (see the module docstring).

    >>> from catlayer import PartitionDiagram
    >>> matmul = PartitionDiagram([[0, 2], [3, 4], [1, 5]], dom=4, cod=2)   # out_ij = Σ_k x_ik y_kj
    >>> is_product_diagram(matmul, 2, 2)
    True
    >>> trace_x = PartitionDiagram([[0, 4], [1, 5], [2, 3]], dom=4, cod=2)  # y_ij · tr x
    >>> is_product_diagram(trace_x, 2, 2)
    False
    """
    c = d.cod

    def row(v: int) -> int:
        return 0 if v < c else (1 if v < c + a else 2)

    free_rows: set[int] = set()
    free_allowed = isinstance(d, BrauerGroodDiagram)
    for block in d.blocks:
        rows = [row(v) for v in block]
        if len(set(rows)) != len(rows):
            return False
        if len(block) == 1:
            if not free_allowed or rows[0] in free_rows:
                return False
            free_rows.add(rows[0])
    return True


def product_diagrams(group, a: int, b: int, c: int) -> tuple[Diagram, ...]:
    """The product diagrams among ``group.basis(a + b, c)``.

    >>> from catlayer import S, SO
    >>> len(S(12).basis(4, 2)), len(product_diagrams(S(12), 2, 2, 2))
    (203, 12)
    >>> product_diagrams(SO(3), 1, 1, 1)                              # the cross product
    (BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1),)
    """
    return tuple(d for d in group.basis(a + b, c) if is_product_diagram(d, a, b))


def canonical_products(group, a: int, b: int, c: int) -> tuple[Diagram, ...]:
    """One product diagram per orbit under permutations of the output axes, of x's axes and of
    y's axes (the first one in basis order).

    >>> from catlayer import S
    >>> [str(d) for d in canonical_products(S(12), 2, 2, 2)]       # x_ij·y_ij and Σ_k x_ik·y_jk
    ["{1,1',3'} {2,2',4'} : 4 → 2", "{1,1'} {2,3'} {2',4'} : 4 → 2"]
    """
    rows = [list(range(c)), list(range(c, c + a)), list(range(c + a, c + a + b))]
    relabellings = []
    for pt in permutations(rows[0]):
        for px in permutations(rows[1]):
            for py in permutations(rows[2]):
                relabellings.append(dict(zip(rows[0] + rows[1] + rows[2], pt + px + py, strict=True)))
    seen, out = set(), []
    for d in product_diagrams(group, a, b, c):
        key = min(tuple(sorted(tuple(sorted(m[v] for v in block)) for block in d.blocks)) for m in relabellings)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return tuple(out)


def _select(group, a: int, b: int, c: int, diagrams) -> tuple[Diagram, ...]:
    if diagrams == "all":
        return tuple(group.basis(a + b, c))
    if diagrams == "products":
        return product_diagrams(group, a, b, c)
    if diagrams == "canonical":
        return canonical_products(group, a, b, c)
    raise ValueError(f"diagrams must be 'all', 'products' or 'canonical', got {diagrams!r}")


class _Contraction:
    """One reduction of an (a + b → c) plan as a contraction of x and y.

    ``eps_x`` / ``eps_y``: axes of x / y to multiply by ε first (the first vertex of a closed ε
    pair); then ``equation`` contracts the operands in ``operands`` order ("x", "y", "lc")."""

    def __init__(self, reduction, a: int, b: int) -> None:
        labels = reduction.axis_labels
        letter = {}

        def of(label: int) -> str:
            if label not in letter:
                letter[label] = _LETTERS[len(letter)]
            return letter[label]

        slots = [of(i) for i in range(reduction.num_slots)]
        x_letters = "".join(of(labels[i]) for i in range(a))
        y_letters = "".join(of(labels[a + i]) for i in range(b))
        self.eps_x: tuple[int, ...] = ()
        self.eps_y: tuple[int, ...] = ()
        self.weighted_x: tuple[int, ...] = ()
        self.weighted_y: tuple[int, ...] = ()
        if reduction.form_pairs:
            firsts = [block[0] for block in reduction.closed]
            self.eps_x = tuple(p for p in firsts if p < a)
            self.eps_y = tuple(p - a for p in firsts if p >= a)
        terms = {"x": "ab" + x_letters, "y": "ab" + y_letters}
        q = reduction.num_free_slots
        plain = reduction.num_slots - q
        self.num_slots = reduction.num_slots
        self.pairwise = None
        if reduction.free_axes or q:
            lc = "".join(slots[plain:]) + "".join(of(labels[f]) for f in reduction.free_axes)
            # The input indices of the symbol are weighted (lowered by η for SO(p, q)).
            self.weighted_x = tuple(f for f in reduction.free_axes if f < a)
            self.weighted_y = tuple(f - a for f in reduction.free_axes if f >= a)
            in_x = any(f < a for f in reduction.free_axes)
            in_y = any(f >= a for f in reduction.free_axes)
            # Contract the symbol with an operand that shares its letters before meeting the other.
            self.operands = ("y", "lc", "x") if in_y and not in_x else ("x", "lc", "y")
            terms["lc"] = lc
        else:
            self.operands = ("x", "y")
            self.pairwise = _pairwise(x_letters, y_letters, "".join(slots))
        self.equation = ",".join(terms[o] for o in self.operands) + "->ab" + "".join(slots)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, eps, lc, n: int, weights=None) -> torch.Tensor:
        if weights is not None:
            for axis in self.weighted_x:
                x = x * weights.reshape([n if a == 2 + axis else 1 for a in range(x.dim())])
            for axis in self.weighted_y:
                y = y * weights.reshape([n if a == 2 + axis else 1 for a in range(y.dim())])
        # Non-negative axes only: the TorchScript ONNX exporter writes movedim(-1, ...) as an
        # invalid Transpose permutation.
        for axis in self.eps_x:
            last = x.dim() - 1
            x = torch.matmul(x.movedim(2 + axis, last), eps).movedim(last, 2 + axis)
        for axis in self.eps_y:
            last = y.dim() - 1
            y = torch.matmul(y.movedim(2 + axis, last), eps).movedim(last, 2 + axis)
        if self.pairwise is not None:
            out = self.pairwise(x, y, n)
        else:
            tensors = {"x": x, "y": y, "lc": lc}
            out = torch.einsum(self.equation, *(tensors[o] for o in self.operands))
        return out.reshape(out.shape[0], out.shape[1], n**self.num_slots)


class _pairwise:
    """x ⊗ y → out for two operands, as torch ops chosen from the letter pattern (``torch.einsum``
    turns the typical shapes here, many tiny matrices, into slow batched matmuls).

    Letters of the output shared by x and y are *elementwise* (E), shared but summed are
    *contracted* (K), the others belong to x (X) or y (Y) alone (letters of one operand only that
    are summed are summed first, with diagonals, by a one-operand einsum that also orders the
    axes as E, X, K and E, K, Y). Then: no K → a broadcast product; K with X or Y → a batched
    matmul; K alone → a product summed over K.
    """

    def __init__(self, xs: str, ys: str, out: str) -> None:
        self.e = [c for c in out if c in xs and c in ys]
        self.k = sorted({c for c in xs if c in ys and c not in out})
        self.x = [c for c in out if c in xs and c not in ys]
        self.y = [c for c in out if c in ys and c not in xs]
        self.x_equation = f"ab{xs}->ab" + "".join(self.e + self.x + self.k)
        self.y_equation = f"ab{ys}->ab" + "".join(self.e + self.k + self.y)
        produced = self.e + self.x + self.y
        self.permute = tuple(2 + produced.index(c) for c in out)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
        x = torch.einsum(self.x_equation, x)
        y = torch.einsum(self.y_equation, y)
        lead = (x.shape[0], x.shape[1])
        e, nx, nk, ny = n ** len(self.e), n ** len(self.x), n ** len(self.k), n ** len(self.y)
        if not self.k:
            z = x.reshape((*lead, e, nx, 1)) * y.reshape((*lead, e, 1, ny))
        elif self.x or self.y:
            z = torch.matmul(x.reshape((*lead, e, nx, nk)), y.reshape((*lead, e, nk, ny)))
        else:
            z = (x.reshape((*lead, e, nk)) * y.reshape((*lead, e, nk))).sum(-1)
        z = z.reshape(lead + (n,) * (len(self.e) + len(self.x) + len(self.y)))
        return z.permute(0, 1, *self.permute)


class TypedBilinear(Checkable, nn.Module):
    """Channel-wise equivariant products of two features x, y of type ``in_type`` into
    ``out_type``: for every pair of orders (a, b) in ``pairs`` (default: all a ≤ b) and every
    output order c, out[c] += Σ_{i,d} W[o, i, d] · F(d)(x[a]_i ⊗ y[b]_i) / n^{c_d} over the
    diagrams d (a + b → c) selected by ``diagrams`` ("products", "canonical" or "all", see the
    module docstring); c_d is d's number of closed bottom blocks (sums become means).

    Every order of ``in_type`` must have the same number of channels (they are multiplied
    channel by channel). ``weight_{a}_{b}_{c}`` has shape (out_type[c], channels, diagrams).

    >>> import torch
    >>> from catlayer import O
    >>> products = TypedBilinear(O(3), {0: 4, 1: 4}, {0: 2, 1: 3})
    >>> sorted(products.blocks)                       # scalar×scalar, scalar×vector, dot product
    [(0, 0, 0), (0, 1, 1), (1, 1, 0)]
    >>> x = {0: torch.randn(5, 4), 1: torch.randn(5, 4, 3)}
    >>> {k: tuple(v.shape) for k, v in products(x, x).items()}
    {0: (5, 2), 1: (5, 3, 3)}
    """

    def __init__(
        self,
        group,
        in_type,
        out_type,
        diagrams: str = "products",
        pairs=None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_group(group)
        self.group = group
        self.n = n = int(group.n)
        self.in_type: FeatureType = feature_type(in_type, "in_type")
        self.out_type: FeatureType = feature_type(out_type, "out_type")
        widths = set(self.in_type.values())
        if len(widths) != 1:
            raise ValueError(
                f"products are taken channel by channel, so every order of in_type needs the same number of "
                f"channels; got {type_str(self.in_type)}"
            )
        self.channels = widths.pop()
        orders = sorted(self.in_type)
        if pairs is None:
            pairs = [(a, b) for i, a in enumerate(orders) for b in orders[i:]]
        self.pairs = tuple((int(a), int(b)) for a, b in pairs)
        for a, b in self.pairs:
            if a not in self.in_type or b not in self.in_type:
                raise ValueError(f"pair ({a}, {b}) uses an order missing from in_type {type_str(self.in_type)}")
        self.diagram_choice = diagrams
        blocks = {}
        for a, b in self.pairs:
            for c in self.out_type:
                chosen = _select(group, a, b, c, diagrams)
                if chosen:
                    blocks[(a, b, c)] = chosen
        if not blocks:
            raise ValueError(
                f"no {diagrams} diagrams of {group!r} from the pairs {list(self.pairs)} to the orders "
                f"{sorted(self.out_type)}: every such bilinear map is zero"
            )
        self.blocks = blocks
        self._plans = {key: layer_plan(group, d) for key, d in blocks.items()}
        self._programs = {key: compile_program(plan, n) for key, plan in self._plans.items()}
        # One contraction per distinct bottom half, shared by the output orders of a pair.
        self._contractions: dict[tuple[int, int], list[_Contraction]] = {}
        self._maps = {}
        for a, b in self.pairs:
            union: dict = {}
            for key, plan in self._plans.items():
                if key[:2] == (a, b):
                    self._maps[key] = tuple(union.setdefault(r, len(union)) for r in plan.reductions)
            if union:
                self._contractions[(a, b)] = [_Contraction(r, a, b) for r in union]
        uses_lc = any(c.operands != ("x", "y") for cs in self._contractions.values() for c in cs)
        factory = {"device": device, "dtype": dtype}
        for (a, b, c), chosen in blocks.items():
            shape = (self.out_type[c], self.channels, len(chosen))
            self.register_parameter(f"weight_{a}_{b}_{c}", nn.Parameter(torch.empty(shape, **factory)))
        param_dtype = next(self.parameters()).dtype
        if uses_lc:
            check_size(n**n * 8, f"the Levi-Civita symbol of SO({n})")
        tables = FormTables(list(self._programs.values()), full_levi_civita=uses_lc)
        tables.eps = tables.eps or any(c.eps_x or c.eps_y for cs in self._contractions.values() for c in cs)
        tables.register(self, group, device, param_dtype)
        if not uses_lc:
            self._levi_civita = None
        self._tables = {key: expansion_tables(plan) for key, plan in self._plans.items()}
        for key, program in self._programs.items():
            order, signs = mixing_tables(program, diagram_scales(self._plans[key], n))
            name = "_".join(map(str, key))
            register_expansion_indices(self, name, self._tables[key], n, key[2], device)
            self.register_buffer(f"_order_{name}", torch.tensor(order, device=device), persistent=False)
            self.register_buffer(
                f"_signs_{name}", torch.tensor(signs, device=device, dtype=param_dtype), persistent=False
            )
        self.reset_parameters()

    def weight(self, a: int, b: int, c: int) -> torch.Tensor:
        """The weight of block (a, b) → c: (out channels, channels, diagrams)."""
        return getattr(self, f"weight_{a}_{b}_{c}")

    def weight_std(self, a: int, b: int, c: int) -> float:
        """Initial standard deviation 1 / sqrt(B_c · channels · D), B_c the number of blocks into
        order c and D the diagrams of this block (as for :meth:`TypedLinear.weight_std`)."""
        into = sum(1 for key in self.blocks if key[2] == c)
        return (1.0 / (into * self.channels * len(self.blocks[(a, b, c)]))) ** 0.5

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for key in self.blocks:
                nn.init.normal_(self.weight(*key), 0.0, self.weight_std(*key))

    def extra_repr(self) -> str:
        blocks = ", ".join(f"{a}×{b}→{c}: {len(d)}" for (a, b, c), d in self.blocks.items())
        return (
            f"group={self.group!r}, in_type={type_str(self.in_type)}, out_type={type_str(self.out_type)}, "
            f"diagrams={self.diagram_choice!r} {{{blocks}}}"
        )

    def forward(self, x: dict[int, torch.Tensor], y: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        x, batch_shape = flatten_batch(self, x, self.in_type, self.n)
        y, other = flatten_batch(self, y, self.in_type, self.n)
        if other != batch_shape or next(iter(x.values())).shape[0] != next(iter(y.values())).shape[0]:
            raise ValueError(f"{type(self).__name__}: x and y need the same batch shape")
        return unflatten_batch(self.run(x, y), batch_shape)

    def run(self, x: dict[int, torch.Tensor], y: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """The products of checked features with exactly one batch axis."""
        n = self.n
        reduced = {
            pair: [
                c(x[pair[0]], y[pair[1]], self._eps, self._levi_civita, n, getattr(self, "_free_weights", None))
                for c in contractions
            ]
            for pair, contractions in self._contractions.items()
        }
        terms: dict[int, list] = {}
        for (a, b, c), program in self._programs.items():
            name = f"{a}_{b}_{c}"
            mine = [reduced[(a, b)][i] for i in self._maps[(a, b, c)]]
            order, signs = getattr(self, f"_order_{name}"), getattr(self, f"_signs_{name}")
            mixed = mix(program, mine, self.weight(a, b, c), order, signs)
            terms.setdefault(c, []).extend(expansion_terms(self, name, self._tables[(a, b, c)], mixed, n, self._eps))
        batch = next(iter(x.values())).shape[0]
        return {c: assemble(terms[c], n, c, batch) for c in self.out_type if c in terms}


class EquivariantBilinear(TypedBilinear):
    """An equivariant bilinear layer T(a) × T(b) → T(c): x of shape (B, in_channels) + (n,)*a and
    y of shape (B, in_channels) + (n,)*b give (B, out_channels) + (n,)*c, channel by channel
    (see :class:`TypedBilinear`); by default every diagram of ``group.basis(a + b, c)``.

    >>> import torch
    >>> from catlayer import S, SO
    >>> ppgn = EquivariantBilinear(S(6), 2, 2, 2, in_channels=3, out_channels=4, diagrams="products")
    >>> ppgn(torch.randn(5, 3, 6, 6), torch.randn(5, 3, 6, 6)).shape
    torch.Size([5, 4, 6, 6])
    >>> cross = EquivariantBilinear(SO(3), 1, 1, 1, in_channels=1, out_channels=1)
    >>> _ = torch.nn.init.ones_(cross.weight_1_1_1)
    >>> cross(torch.tensor([[[1.0, 0, 0]]]), torch.tensor([[[0, 1.0, 0]]])).tolist()   # e_0 × e_1 = e_2
    [[[0.0, 0.0, 1.0]]]
    """

    def __init__(
        self,
        group,
        left_order: int,
        right_order: int,
        out_order: int,
        in_channels: int,
        out_channels: int,
        diagrams: str = "all",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        in_type = feature_type({left_order: in_channels, right_order: in_channels}, "orders")
        super().__init__(
            group,
            in_type,
            {out_order: out_channels},
            diagrams=diagrams,
            pairs=[(left_order, right_order)],
            device=device,
            dtype=dtype,
        )
        self.left_order, self.right_order, self.out_order = int(left_order), int(right_order), int(out_order)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)

    @property
    def diagrams(self) -> tuple[Diagram, ...]:
        return self.blocks[(self.left_order, self.right_order, self.out_order)]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        a, b, c = self.left_order, self.right_order, self.out_order
        xs, batch_shape = flatten_batch(self, {a: x}, {a: self.channels}, self.n)
        ys, other = flatten_batch(self, {b: y}, {b: self.channels}, self.n)
        if other != batch_shape or xs[a].shape[0] != ys[b].shape[0]:
            raise ValueError(f"{type(self).__name__}: x and y need the same batch shape")
        return unflatten_batch(self.run(xs, ys), batch_shape)[c]
