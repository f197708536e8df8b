"""A QM9 model built from catlayer parts: ``AtomPairNet``, S_N on atoms and on pairs of atoms.

Why pairs. A molecule is a set of N atoms (S_N) with positions in R^3 (O(3) and translations). By
the first fundamental theorem of invariant theory for O(3), every invariant of the relative
positions is a function of their inner products, and the S_N × O(3) equivariant maps from the
position vectors (order (1, 1)) to invariant pair quantities (order (2, 0)) go through the Brauer
pairing of the two vector indices: the Gram matrix, hence the distances d_ij. So the model reads the
geometry once, as the distances, and everything after is S_N on atoms (order 1) and pairs (order
2): rotations, reflections and translations leave the prediction unchanged exactly, and the
permutation symmetry is that of catlayer's ``S()`` layers, which take every molecule size (3 to 29
atoms) in one padded or ragged batch.

Inputs. Atom features: an embedding of the atomic number. Pair features: the distances in 20
Gaussians on [0, 5 Å] times a cosine cutoff (0 at and beyond 5 Å, and on the diagonal).

Blocks (``depth`` of them, width 32 by default). Continuous-filter message passing written with
catlayer layers: a ``1 → 2`` layer spreads the atom features over the pairs (every partition
diagram: x_i, x_j, the diagonal, the total Σ_k x_k), a filter network of the pair features
multiplies them pointwise, a ``2 → 1`` layer gathers them back (row sums, column sums, the
diagonal, the total), and a per-atom MLP updates the atoms with a residual. Optionally
(``pair_update``) a ``{1, 2} → 2`` layer updates the pair features, and (``products``) PPGN's
products Σ_k u_ik v_kj (a ``TypedBilinear`` 2 × 2 → 2), which see triangles, hence angles. The
catlayer layers use ``reduce="sum"`` (sums over atoms, so that extensive quantities add up) with
each diagram scaled by 4^(−c), c its number of sums (``scaled_sums``): the scale of a mean over
4 atoms at initialisation, the exact functor image up to that constant.

Readout. A catlayer ``1 → 0`` layer: a sum over atoms for extensive targets (energies, ZPVE, α,
⟨R²⟩, C_v), a mean for the orbital energies; the dipole moment as |Σ_i q_i r_i| with latent charges
q_i (a ``1 → 1`` layer) made neutral, so it is translation invariant. The training loop
(bench/qm9_training.py) subtracts a per-element linear baseline (least squares on the H, C, N, O, F
counts, fitted on the training set; schnetpack's atom references do the same) and learns the
residual, scaled per atom for sums.

The graph-only variant (``graph=True``) replaces the distances by the bond indicator (bonds
inferred from the geometry by covalent radii, bench/qm9_data.py): the same S_N model on the
adjacency matrix, to show what geometry adds.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn.functional import silu
from torch.nn.utils import parametrize

from catlayer import S
from catlayer.nn import (
    EquivariantLinear,
    RaggedBatch,
    TypedBilinear,
    TypedLinear,
    from_padded,
    ragged_forward,
    to_padded,
)

N_ELEMENTS = 10  # embedding rows: atomic numbers 0..9 (H, C, N, O, F in QM9)
READOUTS = ("sum", "mean", "dipole")


def cosine_cutoff(d: torch.Tensor, cutoff: float) -> torch.Tensor:
    """½ (cos(π d / cutoff) + 1) below the cutoff, 0 beyond (smooth to first order at the cutoff)."""
    return torch.where(d < cutoff, 0.5 * (torch.cos(d * (math.pi / cutoff)) + 1.0), torch.zeros_like(d))


class RadialBasis(nn.Module):
    """Gaussians exp(−(d − μ_k)² / 2σ²) at ``n_rbf`` centres evenly spaced on [0, cutoff] (σ their
    spacing) times the cosine cutoff: (...) → (..., n_rbf). Scaled by sqrt(n_rbf / 3) (a distance
    excites about three of them) so that a linear map with unit-variance rows gives O(1) entries."""

    def __init__(self, n_rbf: int = 20, cutoff: float = 5.0) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, cutoff, n_rbf))
        self.cutoff, self.width, self.gain = cutoff, cutoff / max(n_rbf - 1, 1), math.sqrt(n_rbf / 3.0)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        gauss = torch.exp(-0.5 * ((d[..., None] - self.centres) / self.width) ** 2)
        return gauss * (cosine_cutoff(d, self.cutoff) * self.gain)[..., None]


class _DiagramScale(nn.Module):
    """weight (out, in, diagrams) ↦ weight · factor per diagram."""

    def __init__(self, factors: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("factors", factors)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.factors


def scaled_sums(layer: nn.Module, reference: float) -> nn.Module:
    """Make a ``reduce="sum"`` catlayer layer apply diagram d as F(d) / reference^c(d), c(d) its
    closed bottom blocks: sums over atoms (extensive: twice the neighbours, twice the sum), with
    the scale of means at ``reference`` atoms for the initialisation and for Adam's steps alike
    (a fixed reparametrisation of the weights by ``torch.nn.utils.parametrize``)."""
    if layer.reduce != "sum":
        raise ValueError(f"scaled_sums needs a layer with reduce='sum', got {layer.reduce!r}")
    for key, diagrams in layer.blocks.items():
        # The weights' documented names: ``weight`` (EquivariantLinear), ``weight_{k}_{l}``
        # (TypedLinear), ``weight_{a}_{b}_{c}`` (TypedBilinear).
        name = "weight" if isinstance(layer, EquivariantLinear) else "weight_" + "_".join(map(str, key))
        # The blocks with no output vertex are the indices the diagram sums over.
        factors = torch.tensor([reference ** -len(d.bottom_only_blocks()) for d in diagrams])
        parametrize.register_parametrization(layer, name, _DiagramScale(factors))
    return layer


class Layout:
    """How a batch of molecules is laid out: padded (``mask`` (B, N), features (B, C) + (N,) * k)
    or ragged (``ragged``, features (rows, C)). Runs catlayer's linear layers either way and moves
    the channel axis so that the per-atom / per-pair maps (plain ``nn.Linear``) see it last."""

    def __init__(self, mask: torch.Tensor | None = None, ragged: RaggedBatch | None = None) -> None:
        self.mask, self.ragged = mask, ragged

    def linear(self, layer: nn.Module, x: Any) -> Any:
        """A catlayer linear layer (EquivariantLinear: a tensor; TypedLinear: a dict)."""
        if self.ragged is not None:
            return ragged_forward(layer, x, self.ragged)
        return layer(x, self.mask)

    def pointwise(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The same map at every atom or pair (so it commutes with relabelling the atoms)."""
        if self.ragged is not None or x.dim() == 2:
            return module(x)
        return module(x.movedim(1, -1)).movedim(-1, 1)

    def bilinear(self, layer: TypedBilinear, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """PPGN products of two pair features (order 2 → 2): ragged batches go through padding, as
        TypedBilinear has no ragged path."""
        if self.ragged is None:
            return layer({2: u}, {2: v}, self.mask)[2]
        both, mask = to_padded(torch.cat([u, v], 1), self.ragged, order=2)
        pu, pv = both.chunk(2, dim=1)
        return from_padded(layer({2: pu}, {2: pv}, mask)[2], mask)[0]


class Block(nn.Module):
    """One interaction (see the module docstring): message passing x ← x + f(Σ_j W(e_ij) ⊙ g(x)_j)
    written with catlayer's 1 → 2 and 2 → 1 layers, then optionally a pair update 1 + 2 → 2 and
    PPGN products of the pairs."""

    def __init__(self, width: int, sums: Any, pair_update: bool, products: bool, vectors: bool) -> None:
        super().__init__()
        self.filter = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.spread = sums(EquivariantLinear(S(), 1, 2, width, width, reduce="sum"))
        self.gather = sums(EquivariantLinear(S(), 2, 1, width, width, reduce="sum"))
        self.vector_filter = self.vector_gather = None
        if vectors:
            # No bias: a constant added to a vector component would not rotate with it.
            self.vector_filter = nn.Linear(width, width)
            self.vector_gather = sums(EquivariantLinear(S(), 2, 1, width, width, reduce="sum", bias=False))
        inputs = 2 * width if vectors else width
        self.atom_out = nn.Sequential(nn.SiLU(), nn.Linear(inputs, width), nn.SiLU(), nn.Linear(width, width))
        self.pair = sums(TypedLinear(S(), {1: width, 2: width}, {2: width}, reduce="sum")) if pair_update else None
        self.products = None
        if products:
            self.project = nn.Linear(width, 2 * width)
            self.products = sums(TypedBilinear(S(), {2: width}, {2: width}, "canonical", reduce="sum"))
        self.pair_norm = nn.LayerNorm(width) if pair_update or products else None

    def forward(
        self,
        x: torch.Tensor,
        e: torch.Tensor,
        envelope: torch.Tensor,
        layout: Layout,
        directions: tuple[torch.Tensor, ...] = (),
    ) -> tuple[torch.Tensor, torch.Tensor]:
        w = layout.pointwise(self.filter, e) * envelope
        m = layout.linear(self.gather, w * layout.linear(self.spread, x))
        if self.vector_gather is not None and self.vector_filter is not None:
            # O(3) vectors per atom, v_i = Σ_j f(e_ij) (r_j − r_i) / d_ij, one component at a time
            # (the S_N layer mixes channels, never components), and their pairing |v_i|²: a sum of
            # f(e_ij) f(e_ik) cos θ_jik over pairs of neighbours, the angles of 3-body terms.
            f = layout.pointwise(self.vector_filter, e) * envelope
            v = [layout.linear(self.vector_gather, f * u) for u in directions]
            m = torch.cat([m, sum(c.square() for c in v)], dim=1)
        x = x + layout.pointwise(self.atom_out, m)
        if self.pair_norm is None:
            return x, e
        en = silu(layout.pointwise(self.pair_norm, e))
        update = 0.0
        if self.pair is not None:
            update = layout.linear(self.pair, {1: silu(x), 2: en})[2]
        if self.products is not None:
            u, v = layout.pointwise(self.project, en).chunk(2, dim=1)
            update = update + layout.bilinear(self.products, u, v)
        return x, e + update


class AtomPairNet(nn.Module):
    """Atom features (order 1) and pair features (order 2) under S_N (see the module docstring).

    >>> model = AtomPairNet(width=8, depth=1)
    >>> z = torch.tensor([[6, 1, 1, 1, 1], [8, 1, 1, 0, 0]])  # methane, water (two padded slots)
    >>> mask = z > 0
    >>> model(z, mask, pos=torch.randn(2, 5, 3)).shape
    torch.Size([2])
    """

    def __init__(
        self,
        *,
        width: int = 32,
        depth: int = 3,
        n_rbf: int = 20,
        cutoff: float = 5.0,
        pair_update: bool = False,
        products: bool = False,
        vectors: bool = False,
        readout: str = "sum",
        graph: bool = False,
        reference_size: float = 4.0,
        head_gain: float = 4.0,
    ) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if graph and readout == "dipole":
            raise ValueError("the graph-only model has no positions for a dipole readout: use 'mean' or 'sum'")
        if graph and vectors:
            raise ValueError("the graph-only model has no positions for vector features: vectors=False")

        def sums(layer: nn.Module) -> nn.Module:
            return scaled_sums(layer, reference_size)

        self.graph, self.readout, self.cutoff, self.gain = graph, readout, cutoff, head_gain
        self.radial = None if graph else RadialBasis(n_rbf, cutoff)
        self.embed = nn.Embedding(N_ELEMENTS, width)
        self.pair_embed = nn.Linear(1 if graph else n_rbf, width)
        self.vectors = vectors
        self.blocks = nn.ModuleList(Block(width, sums, pair_update, products, vectors) for _ in range(depth))
        self.atom_mlp = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU())
        if readout == "dipole":
            self.head = EquivariantLinear(S(), 1, 1, width, 1, bias=False)
        else:
            self.head = EquivariantLinear(S(), 1, 0, width, 1, reduce=readout)

    def _pairs(self, d: torch.Tensor | None, bonds: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(pair inputs (..., K), envelope (...)) from distances d (no diagonal: d > 0 off it) or
        bonds (graph): the radial basis and the cosine cutoff, or the bond indicator twice."""
        if self.graph:
            assert bonds is not None, "the graph model takes bonds"
            b = bonds.to(self.embed.weight.dtype)
            return b[..., None], b
        assert d is not None, "the geometric model takes positions"
        assert self.radial is not None
        return self.radial(d), cosine_cutoff(d, self.cutoff)

    def _run(
        self,
        z: torch.Tensor,
        pairs: torch.Tensor,
        envelope: torch.Tensor,
        layout: Layout,
        directions: tuple[torch.Tensor, ...] = (),
    ) -> torch.Tensor:
        x = layout.pointwise(self.embed, z) if layout.ragged is not None else self.embed(z).movedim(-1, 1)
        e = layout.pointwise(self.pair_embed, pairs)
        for block in self.blocks:
            x, e = block(x, e, envelope, layout, directions)
        return layout.linear(self.head, layout.pointwise(self.atom_mlp, x)) * self.gain

    def forward(
        self, z: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor | None = None, bonds: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B,) predictions for padded molecules: ``z`` (B, N) atomic numbers (any value on padding),
        ``mask`` (B, N) bool, ``pos`` (B, N, 3) in Å (geometric model) or ``bonds`` (B, N, N) 0/1
        (graph model)."""
        n = z.shape[1]
        off_diagonal = ~torch.eye(n, dtype=torch.bool, device=z.device)
        d, directions = None, ()
        if pos is not None and not self.graph:
            diff = pos[:, None, :, :] - pos[:, :, None, :]  # [b, i, j] = r_j − r_i
            # Between two real atoms only: the gradient of |r| at 0 is undefined, the diagonal is
            # not a distance, and padded slots may coincide.
            real = off_diagonal & mask[:, :, None] & mask[:, None, :]
            d = torch.where(real, diff.square().sum(-1), 1.0).sqrt()
            if self.vectors:
                directions = tuple((diff[..., x] / d * real)[:, None] for x in range(3))
        pairs, envelope = self._pairs(d, bonds)
        envelope = (envelope * off_diagonal)[:, None]
        out = self._run(z.clamp(0, N_ELEMENTS - 1), pairs.movedim(-1, 1), envelope, Layout(mask=mask), directions)
        if self.readout != "dipole":
            return out[:, 0]
        assert pos is not None
        q = out[:, 0] * mask  # latent charges, made neutral below so that the dipole is translation invariant
        q = q - (q.sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1)) * mask
        return _norm(torch.einsum("bn,bnx->bx", q, pos * mask[..., None]))

    def forward_ragged(
        self, z: torch.Tensor, ragged: RaggedBatch, pos: torch.Tensor | None = None, bonds: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The same model on concatenated atoms: ``z`` (A,), ``ragged`` the layout (catlayer's
        RaggedBatch), ``pos`` (A, 3) or ``bonds`` (Σ n²,) 0/1 over ``ragged.pair_index``."""
        i, j = ragged.pair_index
        off_diagonal = i != j
        d, directions = None, ()
        if pos is not None and not self.graph:
            diff = pos[j] - pos[i]
            d = torch.where(off_diagonal, diff.square().sum(-1), 1.0).sqrt()
            if self.vectors:
                directions = tuple((diff[:, x] / d)[:, None] for x in range(3))
        pairs, envelope = self._pairs(d, bonds)
        envelope = (envelope * off_diagonal)[:, None]
        out = self._run(z, pairs, envelope, Layout(ragged=ragged), directions)
        if self.readout != "dipole":
            return out[:, 0]
        assert pos is not None
        q = out[:, 0]
        batch = ragged.batch
        total = torch.zeros(ragged.num_samples, dtype=q.dtype, device=q.device).index_add_(0, batch, q)
        q = q - (total / ragged.sizes.clamp_min(1))[batch]
        dipole = torch.zeros(ragged.num_samples, 3, dtype=q.dtype, device=q.device).index_add_(
            0, batch, q[:, None] * pos
        )
        return _norm(dipole)


def _norm(v: torch.Tensor) -> torch.Tensor:
    """|v| over the last axis, with a finite gradient at 0."""
    return v.square().sum(-1).clamp_min(1e-12).sqrt()
