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
layers before and after, they generate the rest.
"""

from __future__ import annotations

import torch
from torch import nn

from ..backend.memory import check_size
from ..diagrams import BrauerGroodDiagram, Diagram
from .executor import compile_program
from .features import FeatureType, feature_type, flatten_batch, type_str, unflatten_batch
from .programs import FormTables, diagram_scales, layer_plan, mix_and_expand, mixing_tables, second_moment
from .typed_linear import check_group

__all__ = ["EquivariantBilinear", "TypedBilinear", "is_product_diagram", "product_diagrams"]

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


def _select(group, a: int, b: int, c: int, diagrams) -> tuple[Diagram, ...]:
    if diagrams == "all":
        return tuple(group.basis(a + b, c))
    if diagrams == "products":
        return product_diagrams(group, a, b, c)
    raise ValueError(f"diagrams must be 'all' or 'products', got {diagrams!r}")


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
        if reduction.pair_form == "epsilon":
            firsts = [block[0] for block in reduction.closed]
            self.eps_x = tuple(p for p in firsts if p < a)
            self.eps_y = tuple(p - a for p in firsts if p >= a)
        terms = {"x": "ab" + x_letters, "y": "ab" + y_letters}
        q = reduction.num_free_slots
        plain = reduction.num_slots - q
        if reduction.free_axes or q:
            lc = "".join(slots[plain:]) + "".join(of(labels[f]) for f in reduction.free_axes)
            in_x = any(f < a for f in reduction.free_axes)
            in_y = any(f >= a for f in reduction.free_axes)
            # Contract the symbol with an operand that shares its letters before meeting the other.
            self.operands = ("y", "lc", "x") if in_y and not in_x else ("x", "lc", "y")
            terms["lc"] = lc
        else:
            self.operands = ("x", "y")
        self.equation = ",".join(terms[o] for o in self.operands) + "->ab" + "".join(slots)
        self.num_slots = reduction.num_slots

    def __call__(self, x: torch.Tensor, y: torch.Tensor, eps, lc, n: int) -> torch.Tensor:
        for axis in self.eps_x:
            x = torch.matmul(x.movedim(2 + axis, -1), eps).movedim(-1, 2 + axis)
        for axis in self.eps_y:
            y = torch.matmul(y.movedim(2 + axis, -1), eps).movedim(-1, 2 + axis)
        tensors = {"x": x, "y": y, "lc": lc}
        out = torch.einsum(self.equation, *(tensors[o] for o in self.operands))
        return out.reshape(out.shape[0], out.shape[1], n**self.num_slots)


class TypedBilinear(nn.Module):
    """Channel-wise equivariant products of two features x, y of type ``in_type`` into
    ``out_type``: for every pair of orders (a, b) in ``pairs`` (default: all a ≤ b) and every
    output order c, out[c] += Σ_{i,d} W[o, i, d] · F(d)(x[a]_i ⊗ y[b]_i) / n^{c_d} over the
    diagrams d (a + b → c) selected by ``diagrams`` ("products" or "all", see the module
    docstring); c_d is d's number of closed bottom blocks (sums become means).

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
        tables.register(self, n, device, param_dtype)
        if not uses_lc:
            self._levi_civita = None
        for key, program in self._programs.items():
            order, signs = mixing_tables(program, diagram_scales(self._plans[key], n))
            name = "_".join(map(str, key))
            self.register_buffer(f"_order_{name}", torch.tensor(order, device=device), persistent=False)
            self.register_buffer(
                f"_signs_{name}", torch.tensor(signs, device=device, dtype=param_dtype), persistent=False
            )
        self.reset_parameters()

    def weight(self, a: int, b: int, c: int) -> torch.Tensor:
        """The weight of block (a, b) → c: (out channels, channels, diagrams)."""
        return getattr(self, f"weight_{a}_{b}_{c}")

    def weight_std(self, a: int, b: int, c: int) -> float:
        """Initial standard deviation: every block into order c gets an equal share of unit mean
        second moment of the output when x and y are independent with iid unit-variance entries."""
        into = sum(1 for key in self.blocks if key[2] == c)
        return (1.0 / (into * self.channels * second_moment(self._plans[(a, b, c)], self.n))) ** 0.5

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
            pair: [c(x[pair[0]], y[pair[1]], self._eps, self._levi_civita, n) for c in contractions]
            for pair, contractions in self._contractions.items()
        }
        out: dict[int, torch.Tensor] = {}
        for (a, b, c), program in self._programs.items():
            name = f"{a}_{b}_{c}"
            mine = [reduced[(a, b)][i] for i in self._maps[(a, b, c)]]
            z = mix_and_expand(
                program,
                mine,
                self.weight(a, b, c),
                getattr(self, f"_order_{name}"),
                getattr(self, f"_signs_{name}"),
                self._eps,
            )
            out[c] = z if c not in out else out[c] + z
        return out


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
