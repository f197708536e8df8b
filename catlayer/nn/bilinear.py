"""Equivariant bilinear layers T(a) × T(b) → T(c).

Every equivariant bilinear map is a linear map on x ⊗ y, i.e. a combination of the images of the
(a + b → c)-diagrams of ``group.basis(a + b, c)`` (for each factor of a product, x's axes come
before y's). Each diagram is evaluated here as a contraction of x and y, never forming x ⊗ y:
the bottom half of the diagram becomes one ``torch.einsum`` of x and y (a letter per block: a
block inside x is a diagonal or a sum of x, a block joining x and y a matched index or a
contraction between them), with a pair form applied to one operand first and the Levi-Civita
symbol of SO(n) as a third operand; channel mixing and the top half are those of the linear
layers (one program, :mod:`catlayer.nn.compile`). Products are taken channel by channel (x's
channel i with y's channel i) and then mixed over channels and diagrams; put linear layers in
front to pair other channels. Everything is deterministic and every weight is a parameter.

``diagrams="products"`` keeps only the *product diagrams*: every block has at most one vertex
in each of the three rows (output, x, y) and at least two vertices, except the free vertices of
an SO(n) n-diagram (at most one per row). They are the diagrams that are not already a linear
map of x or y alone followed by a product: pointwise products, matrix products (PPGN), outer
products, scalar × tensor, dot products, and for SO(3) the cross product. With linear layers
before and after, they generate the rest. ``diagrams="canonical"`` keeps one product diagram
per orbit under permuting the axes of x, of y and of the output (e.g. for graphs the pointwise
product and the matrix product, not their transposed variants): linear layers that can permute
axes (every group's basis holds the permutation diagrams) supply the others, at a fraction of
the cost. For a product group each factor is read on its own.

Masks and sizes work as for the linear layers (:mod:`catlayer.nn.core`): padded entries of x
and y are ignored, a contraction over a padded axis sums the valid indices only (a mean divides
by their number), and outputs are 0 wherever they touch a padded index.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from ..diagrams import BrauerGroodDiagram, Diagram
from ..diagrams.product import ProductDiagram
from ..diagrams.validation import short_repr
from ..groups.product import group_factors
from ..memory import check_size
from ..plan import LayerPlan, Reduction, plan_layer
from .compile import Block, compile_program
from .core import Call, EquivariantModule, check_group, feature_type, masked, order_axes, output_mask, type_str
from .run import Forms, gather_weights, mix_units, run_expansions

__all__ = ["EquivariantBilinear", "TypedBilinear", "canonical_products", "is_product_diagram", "product_diagrams"]

_LETTERS = "cdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _is_product(d: Diagram, a: int, b: int) -> bool:
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


def _parts(d: Any, a: Any, b: Any) -> list[tuple[Diagram, int, int]]:
    if isinstance(d, ProductDiagram):
        return list(zip(d.factors, a, b, strict=True))
    return [(d, a, b)]


def is_product_diagram(d: Any, a: Any, b: Any) -> bool:
    """Whether the (a + b → c)-diagram d is a product diagram (see the module docstring; for a
    product group, every factor's diagram is).

    >>> from catlayer import PartitionDiagram
    >>> matmul = PartitionDiagram([[0, 2], [3, 4], [1, 5]], dom=4, cod=2)   # out_ij = Σ_k x_ik y_kj
    >>> is_product_diagram(matmul, 2, 2)
    True
    >>> trace_x = PartitionDiagram([[0, 4], [1, 5], [2, 3]], dom=4, cod=2)  # y_ij · tr x
    >>> is_product_diagram(trace_x, 2, 2)
    False
    """
    return all(_is_product(e, x, y) for e, x, y in _parts(d, a, b))


def _sum(a: Any, b: Any) -> Any:
    return tuple(x + y for x, y in zip(a, b, strict=True)) if isinstance(a, tuple) else a + b


def _row_blocks(rows: list[int]) -> list[list[tuple[int, ...]]]:
    """Every set partition of the vertices whose blocks touch each row (0 output, 1 x, 2 y) at most
    once and have at least two vertices."""
    out: list[list[tuple[int, ...]]] = []

    def grow(remaining: tuple[int, ...], blocks: list[tuple[int, ...]]) -> None:
        if not remaining:
            out.append(sorted(blocks))
            return
        v, rest = remaining[0], remaining[1:]
        others = [r for r in (0, 1, 2) if r != rows[v]]
        choices: list[list[int | None]] = [[None] + [u for u in rest if rows[u] == r] for r in others]
        for first in choices[0]:
            for second in choices[1]:
                partners = [u for u in (first, second) if u is not None]
                if partners:
                    block = tuple(sorted((v, *partners)))
                    grow(tuple(u for u in rest if u not in partners), [*blocks, block])

    grow(tuple(range(len(rows))), [])
    return out


#: The largest Brauer-type spanning set whose basis is chosen to filter the product diagrams
#: (choosing a basis of 945 diagrams, 10 vertices, takes seconds; of 10,395 it would take hours).
_BASIS_FILTER_LIMIT = 1000


def _factor_products(group: Any, a: int, b: int, c: int) -> list[Diagram]:
    """The product diagrams (a + b → c) of one factor's category that are in its basis, in basis
    order. Partition categories list them directly (their hom sets grow like Bell numbers: 4.2
    million for 4 + 4 → 4, of which a few hundred are product diagrams), in the category's order
    (restricted growth strings, which :attr:`Diagram.labels` are). Brauer-type spanning sets,
    (N − 1)!! diagrams, are listed and filtered; where their images are dependent (small n) the
    basis decides which product diagrams stay, as long as choosing it is cheap (at most
    ``_BASIS_FILTER_LIMIT`` diagrams); beyond that every product diagram is kept — a spanning set
    of the product maps, in which some weights are redundant at this n."""
    from ..diagrams import PartitionCategory, PartitionDiagram

    if not isinstance(group.category, PartitionCategory):
        spanning = group.spanning_set(a + b, c)
        products = [d for d in spanning if _is_product(d, a, b)]
        if group._spanning_is_basis(a + b, c) or len(spanning) > _BASIS_FILTER_LIMIT:
            return products
        basis = set(group.basis(a + b, c))
        return [d for d in products if d in basis]
    rows = [0] * c + [1] * a + [2] * b
    found = [PartitionDiagram(blocks, dom=a + b, cod=c) for blocks in _row_blocks(rows)]
    return sorted((d for d in found if group.basis_contains(d)), key=lambda d: d.labels)


def product_diagrams(group: Any, a: Any, b: Any, c: Any) -> tuple[Any, ...]:
    """The product diagrams among ``group.basis(a + b, c)``, listed directly (for a product group,
    the tuples of every factor's product diagrams).

    >>> from catlayer import S, SO
    >>> len(S(12).basis(4, 2)), len(product_diagrams(S(12), 2, 2, 2))
    (203, 12)
    >>> product_diagrams(SO(3), 1, 1, 1)                              # the cross product
    (BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1),)
    """
    factors = group_factors(group)
    if len(factors) == 1:
        return _products_of(factors[0], a, b, c)
    parts = [_products_of(g, x, y, z) for g, x, y, z in zip(factors, a, b, c, strict=True)]
    return tuple(ProductDiagram(*combo) for combo in itertools.product(*parts))


@lru_cache(maxsize=1024)
def _products_of(group: Any, a: int, b: int, c: int) -> tuple[Diagram, ...]:
    return tuple(_factor_products(group, a, b, c))


def _signature(d: Diagram, a: int, b: int) -> tuple[tuple[int, ...], ...]:
    """The multiset of the rows (0 output, 1 x, 2 y) each block of a product diagram touches:
    two product diagrams are related by permutations of the axes within each row exactly when
    their signatures agree (a block touches each row at most once, so blocks of one type can be
    mapped onto each other by permuting within rows)."""
    c = d.cod

    def row(v: int) -> int:
        return 0 if v < c else (1 if v < c + a else 2)

    return tuple(sorted(tuple(sorted(row(v) for v in block)) for block in d.blocks))


def canonical_products(group: Any, a: Any, b: Any, c: Any) -> tuple[Any, ...]:
    """One product diagram per orbit under permutations of the output axes, of x's axes and of
    y's axes (the first one in basis order); for a product group, per factor. The orbit of a
    product diagram is given by which rows each of its blocks touches, so this is linear in the
    number of diagrams (no enumeration of relabellings).

    >>> from catlayer import S
    >>> [str(d) for d in canonical_products(S(12), 2, 2, 2)]       # x_ij·y_ij and Σ_k x_ik·y_jk
    ["{1,1',3'} {2,2',4'} : 4 → 2", "{1,1'} {2,3'} {2',4'} : 4 → 2"]
    """
    seen, out = set(), []
    for d in product_diagrams(group, a, b, c):
        key = tuple(_signature(e, x, y) for e, x, y in _parts(d, a, b))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return tuple(out)


def _select(group: Any, a: Any, b: Any, c: Any, diagrams: str) -> tuple[Any, ...]:
    if diagrams == "all":
        return tuple(group.basis(_sum(a, b), c))
    if diagrams == "products":
        return product_diagrams(group, a, b, c)
    if diagrams == "canonical":
        return canonical_products(group, a, b, c)
    raise ValueError(f"diagrams must be 'all', 'products' or 'canonical', got {short_repr(diagrams)}")


class _Contraction:
    """One reduction of an (a + b → c) plan as a contraction of x and y.

    The reduction's input axes are, factor by factor, x's axes of that factor then y's; each gets
    the letter of its block. Closed pairs with a pair form first multiply the operand holding the
    pair's first vertex by the form on that axis (then the pair is a plain contraction); the
    Levi-Civita symbol of each factor with free vertices (its input slots weighted, from
    :meth:`catlayer.groups.Group.levi_civita`) is a further operand, contracted with the operand
    that shares its letters first."""

    def __init__(self, reduction: Reduction, a: Any, b: Any) -> None:
        a_axes, b_axes = order_axes(a), order_axes(b)
        # Map each input axis of the reduction to (operand, axis of that operand).
        where: list[tuple[str, int]] = []
        x_seen = y_seen = 0
        counts_a = a if isinstance(a, tuple) else (a,)
        counts_b = b if isinstance(b, tuple) else (b,)
        for fa, fb in zip(counts_a, counts_b, strict=True):
            where += [("x", x_seen + i) for i in range(fa)]
            where += [("y", y_seen + i) for i in range(fb)]
            x_seen += fa
            y_seen += fb
        self.factor_x, self.factor_y = a_axes, b_axes
        labels = reduction.axis_labels
        letter: dict[int, str] = {}

        def of(label: int) -> str:
            if label not in letter:
                letter[label] = _LETTERS[len(letter)]
            return letter[label]

        slots = [of(i) for i in range(reduction.num_slots)]
        x_letters = [""] * len(a_axes)
        y_letters = [""] * len(b_axes)
        for axis, (operand, position) in enumerate(where):
            (x_letters if operand == "x" else y_letters)[position] = of(labels[axis])
        # A pair form is applied to the operand axis of the pair's first vertex.
        self.form_x: list[tuple[int, int]] = []  # (axis of x, factor)
        self.form_y: list[tuple[int, int]] = []
        for block, form in zip(reduction.closed, reduction.closed_form, strict=True):
            if form:
                operand, position = where[block[0]]
                factor = reduction.axis_factor[block[0]]
                (self.form_x if operand == "x" else self.form_y).append((position, factor))
        terms = {"x": "ab" + "".join(x_letters), "y": "ab" + "".join(y_letters)}
        self.num_slots = reduction.num_slots
        self.slot_factor = reduction.slot_factor
        self.levi_civita: list[tuple[int, int, str]] = []  # (factor, free slots q, letters)
        self.pairwise: _pairwise | None = None
        free_start = 0
        plain = reduction.num_slots - reduction.num_free_slots
        lc_slot = plain
        operands = ["x", "y"]
        in_x = in_y = False
        for f, num_axes, q in reduction.levi_civita:
            axes = reduction.free_axes[free_start : free_start + num_axes]
            free_start += num_axes
            letters = "".join(slots[lc_slot : lc_slot + q]) + "".join(of(labels[a]) for a in axes)
            lc_slot += q
            self.levi_civita.append((f, q, letters))
            in_x |= any(where[a][0] == "x" for a in axes)
            in_y |= any(where[a][0] == "y" for a in axes)
        if self.levi_civita:
            # Contract the symbol with an operand that shares its letters before meeting the other.
            lcs = [f"lc{i}" for i in range(len(self.levi_civita))]
            operands = ["y", *lcs, "x"] if in_y and not in_x else ["x", *lcs, "y"]
            for i, (_, _, letters) in enumerate(self.levi_civita):
                terms[f"lc{i}"] = letters
        else:
            self.pairwise = _pairwise(terms["x"][2:], terms["y"][2:], "".join(slots))
        self.operands = tuple(operands)
        self.equation = ",".join(terms[o] for o in operands) + "->ab" + "".join(slots)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, forms: Forms, symbols: dict[tuple[int, int], torch.Tensor]
    ) -> torch.Tensor:
        # Non-negative axes only: the TorchScript ONNX exporter writes movedim(-1, ...) as an
        # invalid Transpose permutation.
        for axis, f in self.form_x:
            last = x.dim() - 1
            x = torch.matmul(x.movedim(2 + axis, last), forms.form[f]).movedim(last, 2 + axis)
        for axis, f in self.form_y:
            last = y.dim() - 1
            y = torch.matmul(y.movedim(2 + axis, last), forms.form[f]).movedim(last, 2 + axis)
        if self.pairwise is not None:
            out = self.pairwise(x, y)
        else:
            tensors = {"x": x, "y": y}
            for i, (f, q, _) in enumerate(self.levi_civita):
                tensors[f"lc{i}"] = symbols[(f, q)]
            out = torch.einsum(self.equation, *(tensors[o] for o in self.operands))
        return out.flatten(2) if self.num_slots > 1 else (out if self.num_slots else out.unsqueeze(2))


class _pairwise:
    """x ⊗ y → out for two operands, as torch ops chosen from the letter pattern (``torch.einsum``
    turns the typical shapes here, many tiny matrices, into slow batched matmuls).

    Letters of the output shared by x and y are *elementwise* (E), shared but summed are
    *contracted* (K), the others belong to x (X) or y (Y) alone (letters of one operand only that
    are summed are summed first, with diagonals, by a one-operand einsum that also orders the
    axes as E, X, K and E, K, Y). Then: no K → a broadcast product; K with X or Y → a batched
    matmul; K alone → a product summed over K. Sizes are read off the operands.
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

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = torch.einsum(self.x_equation, x)
        y = torch.einsum(self.y_equation, y)
        ne, nx, nk, ny = len(self.e), len(self.x), len(self.k), len(self.y)
        e_sizes, x_sizes = tuple(x.shape[2 : 2 + ne]), tuple(x.shape[2 + ne : 2 + ne + nx])
        y_sizes = tuple(y.shape[2 + ne + nk :])
        lead = x.shape[:2]
        xe = x.flatten(2 + ne + nx) if nk else x.unsqueeze(-1)
        xe = xe.flatten(2 + ne, 1 + ne + nx) if nx else xe.unsqueeze(2 + ne)
        xe = xe.flatten(2, 1 + ne) if ne else xe.unsqueeze(2)  # (B, c, E, X, K)
        ye = y.flatten(2 + ne + nk) if ny else y.unsqueeze(-1)
        ye = ye.flatten(2 + ne, 1 + ne + nk) if nk else ye.unsqueeze(2 + ne)
        ye = ye.flatten(2, 1 + ne) if ne else ye.unsqueeze(2)  # (B, c, E, K, Y)
        if not self.k:
            z = xe * ye  # (B, c, E, X, 1) * (B, c, E, 1, Y)
        elif self.x or self.y:
            z = torch.matmul(xe, ye)
        else:
            z = (xe.squeeze(-2) * ye.squeeze(-1)).sum(-1)
        z = z.reshape(lead + e_sizes + x_sizes + y_sizes)
        return z.permute(0, 1, *self.permute)


class TypedBilinear(EquivariantModule):
    """Channel-wise equivariant products of two features x, y of type ``in_type`` into ``out_type``.

    For every pair of orders (a, b) in ``pairs`` (default: all a ≤ b) and every output order c,
    out[c] += Σ_{i,d} W[o, i, d] · F(d)(x[a]_i ⊗ y[b]_i) over the diagrams d (a + b → c) selected
    by ``diagrams`` ("products", "canonical" or "all", see the module docstring), each divided by
    the sizes it sums over with ``reduce="mean"``.

    Args:
        group: a catlayer group (``S()``, ``O(3)``, ``S() * O(3)``, …).
        in_type: a dict order → channels; every order needs the same number of channels (they are
            multiplied channel by channel).
        out_type: a dict order → channels.
        diagrams: "products" (default), "canonical" or "all".
        pairs: the pairs of orders (a, b) to multiply (default all a ≤ b).
        reduce: "mean" (default) or "sum".
        execution: "auto" (default) or "plan": products always run their plan (contractions);
            "dense" is refused (see :class:`TypedLinear` for the linear layers' choice).
        device, dtype: of the parameters.

    ``weight_{a}_{b}_{c}`` has shape (out_type[c], channels, diagrams).

    Shape:
        - Input: x and y, dicts order k → ``(*batch, channels) + axes(k)``; ``mask`` optional.
        - Output: a dict order c → ``(*batch, out_type[c]) + axes(c)``.

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
        group: Any,
        in_type: Any,
        out_type: Any,
        diagrams: str = "products",
        pairs: Any = None,
        *,
        reduce: str = "mean",
        execution: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self._open(group, in_type, out_type, reduce=reduce, execution=execution)
        if execution == "dense":
            # The dense form of a block is an n^c × n^a × n^b tensor per channel pair, applied to
            # x ⊗ y: it costs n^(a+b) more than the plan's contractions at every size, so there is
            # no size at which it pays, unlike a linear layer's gathered matrix.
            raise ValueError(
                "TypedBilinear has no dense execution: the dense form of a product is an n^c × n^a × n^b tensor "
                "and always costs more than the plan; use execution='auto' or 'plan'"
            )
        self.execution = "plan"
        widths = set(self.in_type.values())
        if len(widths) != 1:
            raise ValueError(
                f"products are taken channel by channel, so every order of in_type needs the same number of "
                f"channels; got {type_str(self.in_type)}"
            )
        self.channels = widths.pop()
        orders = list(self.in_type)
        if pairs is None:
            pairs = [(a, b) for i, a in enumerate(orders) for b in orders[i:]]
        self.pairs = _check_pairs(pairs, self.in_type, len(self.factors))
        if diagrams not in ("all", "products", "canonical"):
            raise ValueError(f"diagrams must be 'all', 'products' or 'canonical', got {short_repr(diagrams)}")
        self.diagram_choice = diagrams
        blocks: dict[tuple[Any, Any, Any], tuple[Any, ...]] = {}
        for a, b in self.pairs:
            for c in self.out_type:
                chosen = _select(self.group, a, b, c, diagrams)
                if chosen:
                    blocks[(a, b, c)] = chosen
        for c in self.out_type:
            if not any(key[2] == c for key in blocks):
                raise ValueError(
                    f"no {diagrams} diagrams of {self.group!r} from the pairs {list(self.pairs)} to order {c}: "
                    f"output order {c} of {type_str(self.out_type)} would always be zero"
                )
        self.blocks = blocks
        self._plans: dict[tuple[Any, Any, Any], LayerPlan] = {
            key: plan_layer(self.group, d) for key, d in blocks.items()
        }
        self._outputs = list(self.out_type)
        self._pairs_used = [p for p in self.pairs if any(key[:2] == p for key in blocks)]
        self._keys = list(blocks)
        block_list = [
            Block(self._pairs_used.index(key[:2]), self._outputs.index(key[2]), self._plans[key]) for key in self._keys
        ]
        inputs = [order_axes(_sum(a, b)) for a, b in self._pairs_used]
        outputs = [order_axes(c) for c in self._outputs]
        channels = [(self.out_type[key[2]], self.channels) for key in self._keys]
        self._structure_args = (
            block_list,
            inputs,
            outputs,
            channels,
            list(self.fixed_sizes),
            list(self.maskable),
            reduce == "mean",
        )
        self._program = compile_program(*self._structure_args)
        self._contractions = [
            _Contraction(half, *self._pairs_used[step.input])
            for half, step in zip(self._program.halves, self._program.reductions, strict=True)
        ]
        self._symbols = sorted({(f, q) for c in self._contractions for f, q, _ in c.levi_civita})
        factory = {"device": device, "dtype": dtype}
        for (a, b, c), chosen in blocks.items():
            shape = (self.out_type[c], self.channels, len(chosen))
            self.register_parameter(self._name(a, b, c), nn.Parameter(torch.empty(shape, **factory)))
        self._register_tables()
        self._register_identity()
        self.reset_parameters()

    def _certificate_structure(self) -> tuple[Any, ...]:
        """What the program is compiled from (for the certificate: :mod:`catlayer.verify.modules`)."""
        return self._structure_args

    def _entries_per_sample(self, sizes: tuple[int, ...]) -> int:
        """An upper bound on the entries one sample keeps in flight (checked against the memory
        budget before every eager forward): x and y with their masked copies; per contraction
        both operands as reordered (and form-multiplied) copies and the contracted tensor, scaled;
        per expansion group the stacked and mixed tensors; twice the outputs."""
        program = self._program

        def count(factors: tuple[int, ...]) -> int:
            return math.prod(int(sizes[f]) for f in factors)

        inputs = sum(self.channels * count(order_axes(k)) for k in self.in_type)
        total = 4 * inputs
        widths = {}
        for r, reduction in enumerate(program.reductions):
            a, b = self._pairs_used[reduction.input]
            widths[r] = self.channels
            total += 2 * self.channels * (count(order_axes(a)) + count(order_axes(b)))
            total += 2 * self.channels * count(reduction.slot_factor)
        for e, expansion in enumerate(program.expansions):
            stacked = sum(widths[r] for r, _ in program.terms[e])
            total += (stacked + self.out_type[self._outputs[expansion.output]]) * count(expansion.slot_factor)
        return total + 2 * sum(c * count(order_axes(l)) for l, c in self.out_type.items())

    def _fresh(self) -> TypedBilinear:
        return TypedBilinear(
            self.group,
            self.in_type,
            self.out_type,
            self.diagram_choice,
            list(self.pairs),
            reduce=self.reduce,
            dtype=torch.float64,
        )

    @staticmethod
    def _block_orders(key: Any) -> tuple[Any, Any]:
        """(input order a + b, output order c) of a block key (a, b, c)."""
        return _sum(key[0], key[1]), key[2]

    def _like(self) -> torch.Tensor:
        return next(self.parameters())

    @staticmethod
    def _name(a: Any, b: Any, c: Any) -> str:
        from .linear import _key

        return f"weight_{_key(a)}_{_key(b)}_{_key(c)}"

    def _register_tables(self) -> None:
        import numpy as np

        like = next(self.parameters())
        program = self._program
        forms = set(program.uses_forms) | {f for c in self._contractions for _, f in (*c.form_x, *c.form_y)}
        for f in sorted(forms):
            self.register_buffer(
                f"_form_{f}",
                torch.tensor(np.asarray(self.factors[f].pair_form), dtype=like.dtype, device=like.device),
                persistent=False,
            )
        for f in program.uses_diagonals:
            if self.factors[f].n is not None:
                self.register_buffer(
                    f"_eye_{f}", torch.eye(self.factors[f].n, dtype=like.dtype, device=like.device), persistent=False
                )
        for f, q in self._symbols:
            group = self.factors[f]
            check_size(8 * group.n**group.n, f"the Levi-Civita symbol of {group!r}")
            symbol = torch.tensor(
                np.asarray(group.levi_civita(q), dtype=np.float64), dtype=like.dtype, device=like.device
            )
            self.register_buffer(f"_symbol_{f}_{q}", symbol, persistent=False)
        gather = program.gather
        for o in range(len(gather.sources)):
            self.register_buffer(
                f"_fwd_cols_{o}",
                torch.tensor(gather.columns[o], dtype=torch.long, device=like.device),
                persistent=False,
            )
            for name, values in (("coef", gather.coefficients[o]), ("rcoef", gather.runtime_coefficients[o])):
                self.register_buffer(
                    f"_fwd_{name}_{o}", torch.tensor(values, dtype=like.dtype, device=like.device), persistent=False
                )

    def _apply(self, fn: Any, recurse: bool = True) -> TypedBilinear:
        super()._apply(fn, recurse)
        self._register_tables()
        return self

    def weight(self, a: Any, b: Any, c: Any) -> torch.Tensor:
        """The weight of block (a, b) → c: (out channels, channels, diagrams)."""
        return getattr(self, self._name(a, b, c))

    def weight_std(self, a: Any, b: Any, c: Any) -> float:
        """Initial standard deviation 1 / sqrt(B_c · channels · D), B_c the number of blocks into
        order c and D the diagrams of this block (as for :meth:`TypedLinear.weight_std`)."""
        into = sum(1 for key in self.blocks if key[2] == c)
        return (1.0 / (into * self.channels * len(self.blocks[(a, b, c)]))) ** 0.5

    def reset_parameters(self) -> None:
        """Weights ~ N(0, σ²) with σ = :meth:`weight_std`; the tables are rebuilt too."""
        self._register_tables()
        with torch.no_grad():
            for key in self.blocks:
                nn.init.normal_(self.weight(*key), 0.0, self.weight_std(*key))

    def extra_repr(self) -> str:
        blocks = ", ".join(f"{a}×{b}→{c}: {len(d)}" for (a, b, c), d in self.blocks.items())
        text = f"group={self.group!r}, in_type={type_str(self.in_type)}, out_type={type_str(self.out_type)}, "
        text += f"diagrams={self.diagram_choice!r} {{{blocks}}}"
        return text + (f", reduce={self.reduce!r}" if self.reduce != "mean" else "")

    def forward(
        self, x: dict[Any, torch.Tensor], y: dict[Any, torch.Tensor], mask: Any = None
    ) -> dict[Any, torch.Tensor]:
        """The products of x and y (dicts order → tensor, see the class docstring)."""
        call = self.check_inputs(x, mask)
        other = self.check_inputs(y, mask)
        _same(self, call, other)
        return call.restore(self.run(call, other.features))

    def run(self, call: Call, y: dict[Any, torch.Tensor]) -> dict[Any, torch.Tensor]:
        """The products on a checked call (x's features) and y's features (same batch and sizes)."""
        self._check_memory(call)  # refuse a forward that cannot fit before allocating any of it
        x = call.features
        if call.masked:
            x = {k: masked(t, call.masks, order_axes(k)) for k, t in x.items()}
            y = {k: masked(t, call.masks, order_axes(k)) for k, t in y.items()}
        program = self._program
        num = len(self.factors)
        forms = Forms(
            call.sizes,
            {f: getattr(self, f"_form_{f}") for f in range(num) if hasattr(self, f"_form_{f}")},
            {f: getattr(self, f"_eye_{f}") for f in range(num) if hasattr(self, f"_eye_{f}")},
            {},
        )
        symbols = {(f, q): getattr(self, f"_symbol_{f}_{q}") for f, q in self._symbols}
        reduced = []
        for contraction, step in zip(self._contractions, program.reductions, strict=True):
            a, b = self._pairs_used[step.input]
            reduced.append(contraction(x[a], y[b], forms, symbols))
        runtime = self.reduce == "mean" and (call.masked or any(s is None for s in self.fixed_sizes))
        if runtime:
            like = next(iter(x.values()))
            counts = []
            for f, (m, size) in enumerate(zip(call.masks, call.sizes, strict=True)):
                if m is not None:
                    counts.append(m.sum(1, dtype=like.dtype).clamp(min=1).reshape(-1, 1, 1))
                elif self.fixed_sizes[f] is None:
                    counts.append(like.new_ones(size).sum())
                else:
                    counts.append(float(size))
            for r, step in enumerate(program.reductions):
                for f, c in enumerate(step.summed):
                    if c and self.maskable[f]:
                        reduced[r] = reduced[r] * counts[f] ** -c
        tables = []
        for o in range(len(program.gather.sources)):
            coef = getattr(self, f"_fwd_{'rcoef' if runtime else 'coef'}_{o}")
            tables.append((getattr(self, f"_fwd_cols_{o}"), coef))
        weights = [self.weight(*key) for key in self._keys]
        gathered = gather_weights(weights, program.gather, tables)
        mixed = mix_units(program, reduced, gathered, forms, defer_identity=False)[0]
        outputs = run_expansions(program, mixed, forms)
        out = {}
        for c, t in zip(self._outputs, outputs, strict=True):
            if call.masked:
                keep = output_mask(call.masks, order_axes(c), t.dim())
                if keep is not None:
                    t = t * keep
            out[c] = t
        return out


def _same(module: Any, x: Call, y: Call) -> None:
    """x and y of a product need one batch shape and one size per factor."""
    bx = next(iter(x.features.values())).shape[0]
    by = next(iter(y.features.values())).shape[0]
    if x.batch_shape != y.batch_shape or bx != by or x.sizes != y.sizes:
        raise ValueError(f"{type(module).__name__}: x and y need the same batch shape and sizes")


def _check_pairs(pairs: Any, in_type: dict[Any, int], num_factors: int) -> tuple[tuple[Any, Any], ...]:
    """``pairs`` as a tuple of (a, b) with a and b orders of ``in_type``, each pair once; anything
    else is refused naming the pair (an order that is not hashable, a bool, or a pair listed twice
    would otherwise fail deep inside the construction or be dropped without a word)."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, (list, tuple)) or not pairs:
        raise ValueError(f"pairs must be a non-empty list of (order, order) pairs, got {short_repr(pairs)}")
    out: list[tuple[Any, Any]] = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(
                f"each pair must be (a, b), two orders of in_type {type_str(in_type)}; got {short_repr(pair)}"
            )
        a, b = (tuple(o) if isinstance(o, list) else o for o in pair)
        for o in (a, b):
            try:
                known = not isinstance(o, bool) and o in in_type
            except TypeError:  # unhashable
                known = False
            if not known:
                raise ValueError(
                    f"pair {short_repr(pair)} uses the order {short_repr(o)}, which is not an order of in_type "
                    f"{type_str(in_type)}"
                )
        if (a, b) in out:
            raise ValueError(f"pair ({a}, {b}) is listed twice in pairs {short_repr(pairs)}: give each pair once")
        out.append((a, b))
    del num_factors
    return tuple(out)


class EquivariantBilinear(TypedBilinear):
    """An equivariant bilinear layer T(a) × T(b) → T(c) on plain tensors (see :class:`TypedBilinear`);
    by default every diagram of ``group.basis(a + b, c)``.

    Args:
        group: a catlayer group.
        left_order, right_order, out_order: the orders a, b and c.
        in_channels: the channels of x and y (multiplied channel by channel).
        out_channels: the output channels.
        diagrams: "all" (default), "products" or "canonical".
        reduce, device, dtype: as for :class:`TypedBilinear`.

    Shape:
        - Input: x ``(*batch, in_channels) + axes(a)``, y ``(*batch, in_channels) + axes(b)``,
          ``mask`` optional.
        - Output: ``(*batch, out_channels) + axes(c)``.

    >>> import torch
    >>> from catlayer import S, SO
    >>> ppgn = EquivariantBilinear(S(6), 2, 2, 2, in_channels=3, out_channels=4, diagrams="products")
    >>> ppgn(torch.randn(5, 3, 6, 6), torch.randn(5, 3, 6, 6)).shape
    torch.Size([5, 4, 6, 6])
    >>> cross = EquivariantBilinear(SO(3), 1, 1, 1, in_channels=1, out_channels=1, reduce="sum")
    >>> _ = torch.nn.init.ones_(cross.weight_1_1_1)
    >>> cross(torch.tensor([[[1.0, 0, 0]]]), torch.tensor([[[0, 1.0, 0]]])).tolist()   # e_0 × e_1 = e_2
    [[[0.0, 0.0, 1.0]]]
    """

    def __init__(
        self,
        group: Any,
        left_order: Any,
        right_order: Any,
        out_order: Any,
        in_channels: int,
        out_channels: int,
        diagrams: str = "all",
        *,
        reduce: str = "mean",
        execution: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        _, factors = check_group(group)
        orders = feature_type({left_order: in_channels, right_order: in_channels}, factors, "orders")
        del orders
        super().__init__(
            group,
            {left_order: in_channels, right_order: in_channels},
            {out_order: out_channels},
            diagrams=diagrams,
            pairs=[(left_order, right_order)],
            reduce=reduce,
            execution=execution,
            device=device,
            dtype=dtype,
        )
        self.left_order, self.right_order, self.out_order = left_order, right_order, out_order
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)

    @property
    def diagrams(self) -> tuple[Any, ...]:
        return self.blocks[(self.left_order, self.right_order, self.out_order)]

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: Any = None) -> torch.Tensor:  # type: ignore[override]
        """The product of x and y (tensors, see the class docstring)."""
        a, b, c = self.left_order, self.right_order, self.out_order
        xs = self.check_inputs({a: x}, mask, {a: self.channels})
        ys = self.check_inputs({b: y}, mask, {b: self.channels})
        _same(self, xs, ys)
        return xs.restore(self.run(xs, ys.features))[c]
