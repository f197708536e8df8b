"""A short tour of catlayer: ``python -m catlayer``.

Diagrams and their categories, the planar factorisation, the functors to equivariant matrices
with an exact equivariance proof, the matrix-free numba backend, a trainable torch layer, and
whole equivariant networks for graphs of any size (``S()`` with masks) and point clouds
(``S() * O(3)``). The picture of a diagram goes to a new temporary folder, whose path is printed;
nothing is written to the working folder.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 72 - len(text)))


def diagrams_tour() -> None:
    from catlayer import BrauerGroodCategory, BrauerGroodDiagram, PartitionCategory, PartitionDiagram, factorise

    _title("Diagrams")
    d = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)
    print("a (5, 3)-partition diagram:", d)
    print(d.draw_ascii())
    print("planar?", d.is_planar(), "| propagating blocks:", d.propagating_blocks())

    _title("Composition in P(n), n symbolic: loops become powers of n")
    n = sympy.Symbol("n")
    P = PartitionCategory(n)
    e = PartitionDiagram([[0, 1, 2], [3], [4]], dom=3, cod=2)
    print("d, then e =", P.compose(d, e))
    print("d ⊗ e     =", P.tensor(d, e))
    print("|Hom_P(2, 2)| =", len(P.hom(2, 2)), " |Hom_P(4, 4)| =", len(P.hom(4, 4)))

    _title("Brauer–Grood: two n-diagrams compose to a signed sum (ε·ε = det δ)")
    BG = BrauerGroodCategory(2)
    h = BrauerGroodDiagram([[0], [1]], dom=1, cod=1)
    print("H, then H =", BG.compose(h, h))

    _title("Planar factorisation d = σ_l ∘ planar ∘ σ_k (docs/conventions.md §6)")
    f = factorise(d)
    print("input permutation :", f.input_permutation)
    print("planar            :", f.planar)
    print("output permutation:", f.output_permutation)
    print("planar = " + " ⊗ ".join(str(x).split(" : ")[0] for x in f.elementary))
    try:
        path = Path(tempfile.mkdtemp(prefix="catlayer-tour-")) / "diagram.png"
        d.draw(str(path))
        print(f"drew the diagram to {path}")
    except ImportError:
        print("(install catlayer[draw] to draw diagrams with matplotlib)")


def groups_tour() -> None:
    from catlayer import SO, O, S, Sp
    from catlayer.verify import check_equivariance

    _title("The S_5 layer space for k = l = 2")
    G = S(5)
    basis = G.basis(2, 2)
    print(f"{len(basis)} diagrams; the first three and their 25 x 25 matrices' nonzeros:")
    for d in basis[:3]:
        matrix = G.functor(d).to_numpy()
        print(f"  {d}  ->  {int(matrix.sum())} ones")
    layer = sum((i + 1) * G.functor(d) for i, d in enumerate(basis))
    report = check_equivariance(G, layer.to_sympy(), 2, 2)
    print("exact proof that Σ_d (i+1)·E_d is S_5-equivariant:", bool(report))
    print(report)

    _title("dim Hom_G((R^n)^⊗k, (R^n)^⊗l) depends on N = k + l")
    groups = [S(2), S(3), S(4), O(2), O(3), SO(2), SO(3), Sp(2), Sp(4), O(1, 3), SO(1, 3)]
    print("G        " + "".join(f"N={N:<5}" for N in range(7)))
    for group in groups:
        print(f"{group!r:9}" + "".join(f"{group.dim(N, 0):<7}" for N in range(7)))

    _title("The Lorentz group O(1, 3): caps and cups carry the metric η = diag(1, -1, -1, -1)")
    L = O(1, 3)
    cap = L.basis(0, 2)[0]
    print("the invariant tensor (cap):", L.functor(cap).to_numpy().reshape(4, 4).astype(int).tolist())
    maps = [L.functor(d) for d in L.basis(2, 2)]  # the three Brauer diagrams 2 -> 2
    M = sum(maps[1:], maps[0])
    print("exact proof on boosts, rotations and reflections:", bool(check_equivariance(L, M.to_sympy(), 2, 2)))


def backend_tour() -> None:
    from catlayer import S
    from catlayer.backend import apply, apply_layer

    _title("Matrix-free application with numba (never forms the n^l x n^k matrix)")
    G = S(24)
    diagrams = G.basis(3, 3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2) + (24,) * 3)
    weights = rng.standard_normal((2, 2, len(diagrams)))
    apply_layer(G, diagrams, weights, x)  # compile once
    start = time.perf_counter()
    y = apply_layer(G, diagrams, weights, x)
    elapsed = time.perf_counter() - start
    print(
        f"S_24 layer, k = l = 3, {len(diagrams)} diagrams, batch 4, 2 -> 2 channels: "
        f"{elapsed * 1e3:.1f} ms, output {y.shape}"
    )
    print(f"(the dense matrix would be {24**3} x {24**3} per channel pair)")
    single = apply(G, diagrams[5], x[:, 0])
    print("one diagram:", diagrams[5], "->", single.shape)


def torch_tour() -> None:
    try:
        import torch
    except ImportError:
        print("\n(install catlayer[torch] for the torch layers)")
        return
    from catlayer import S
    from catlayer.nn import EquivariantLinear
    from catlayer.verify import check_equivariance

    _title("A trainable S_5-equivariant layer (torch)")
    torch.manual_seed(0)
    layer = EquivariantLinear(S(5), in_order=2, out_order=2, in_channels=3, out_channels=4)
    print(layer)
    optimiser = torch.optim.Adam(layer.parameters(), lr=0.05)
    x = torch.randn(16, 3, 5, 5)
    target = x.sum(dim=1, keepdim=True).transpose(-1, -2).expand(16, 4, 5, 5)
    for step in range(5):
        loss = torch.nn.functional.mse_loss(layer(x), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        print(f"  step {step}: loss {loss.item():.4f}")
    print("exact certificate of the layer + numeric check of its forward:", bool(check_equivariance(layer)))

    networks_tour(torch)


def networks_tour(torch: ModuleType) -> None:
    from catlayer import O, S
    from catlayer.nn import EquivariantMLP
    from catlayer.verify import check_equivariance

    _title("Graphs of any size: S() (S_n for every n) and a mask for padded batches")
    torch.manual_seed(0)
    sizes = torch.tensor([4, 7, 10, 6])
    mask = torch.arange(10) < sizes[:, None]  # (graph, node): True on real nodes
    A = (torch.rand(4, 10, 10) < 0.4).float().triu(1)
    A = (A + A.transpose(1, 2)) * mask[:, :, None] * mask[:, None, :]
    net = EquivariantMLP(S(), in_type={2: 1}, out_type={0: 1})  # adjacency matrix -> one number
    y = net({2: A[:, None]}, mask)[0]
    print(f"EquivariantMLP(S(), {{2: 1}} -> {{0: 1}}), hidden type {net.hidden}")
    print(f"graphs of {sizes.tolist()} nodes, padded to 10 -> output {tuple(y.shape)}")
    print("every part proved, forward checked at several sizes with padding:", bool(check_equivariance(net)))

    _title("Point clouds: S() * O(3), one vector per point")
    cloud = EquivariantMLP(S() * O(3), in_type={(1, 1): 1}, out_type={(0, 0): 1})
    points = torch.randn(4, 10, 3) * mask[..., None]  # (cloud, point, xyz), 0 on padding
    y = cloud({(1, 1): points[:, None]}, mask)[(0, 0)]
    weights = sum(p.numel() for p in cloud.parameters())
    print(f"hidden type {cloud.hidden} ({weights} weights), output {tuple(y.shape)}")
    print("every part proved, forward checked:", bool(check_equivariance(cloud, rng=0)))


def main() -> None:
    print("catlayer: equivariant layers from diagram categories")
    diagrams_tour()
    groups_tour()
    backend_tour()
    torch_tour()


if __name__ == "__main__":
    main()
