"""Certificate: fullness, dimensions and the basis selection, exactly.

For each group G and (k, l) in the stated range:

1. dim = G.dim(k, l) (∫_G χ^{k+l}: character formula for S_n, Weyl integration for SO/Sp, the two
   components of O(n); no diagrams involved) equals the docs/conventions.md §4 table (n ≤ 4), and, where
   n^{k+l} ≤ 81, the nullity of the exact generator actions on the whole space (a third method);
2. every spanning-set image F(d) is G-equivariant: catlayer.verify.check_equivariance, an exact
   proof on the group's generators;
3. fullness: rank of the spanning-set images = dim (exact rank over Q by fraction-free
   elimination of the integer Gram matrix). With 2., the images span Hom_G;
4. the basis: G.basis(k, l) ⊆ spanning set, its images are exactly independent and it has dim
   elements, so it is a basis of Hom_G; for S_n it is {π : ≤ n blocks}; for O/Sp the whole
   spanning set exactly when the standard independence bound holds (2n ≥ N for O(n), n ≥ N for
   Sp(n)), which is also checked;
5. S_n orbit basis: X_π = 0 iff π has more than n blocks, and the exact change of basis
   (docs/conventions.md §5) maps E_π to Σ X_σ and back.

Run: python proofs/fullness_and_bases.py
"""

import sys
import time
from functools import reduce

import numpy as np

from catlayer import SO, O, S, Sp
from catlayer.bases import exact_rank
from catlayer.verify import check_equivariance

TABLE = {  # docs/conventions.md §4, N = 0..6
    "S(2)": [1, 1, 2, 4, 8, 16, 32],
    "S(3)": [1, 1, 2, 5, 14, 41, 122],
    "S(4)": [1, 1, 2, 5, 15, 51, 187],
    "O(1)": [1, 0, 1, 0, 1, 0, 1],
    "O(2)": [1, 0, 1, 0, 3, 0, 10],
    "O(3)": [1, 0, 1, 0, 3, 0, 15],
    "O(4)": [1, 0, 1, 0, 3, 0, 15],
    "SO(2)": [1, 0, 2, 0, 6, 0, 20],
    "SO(3)": [1, 0, 1, 1, 3, 6, 15],
    "SO(4)": [1, 0, 1, 0, 4, 0, 25],
    "Sp(2)": [1, 0, 1, 0, 2, 0, 5],
    "Sp(4)": [1, 0, 1, 0, 3, 0, 14],
}
GROUPS = [S(n) for n in (1, 2, 3, 4, 5)] + [O(n) for n in (1, 2, 3, 4, 5)] + [Sp(2), Sp(4)]
GROUPS += [SO(n) for n in (1, 2, 3, 4, 5)]
MAX_N = 6


def shapes(G):
    """All (k, l) with k + l ≤ 6; for S(5) the split N = 6 only as (3, 3) (time)."""
    for size in range(MAX_N + 1):
        for k in range(size + 1):
            if G == S(5) and size == 6 and k != 3:
                continue
            yield k, size - k


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def dense_nullity(G, size):
    """dim of the common kernel of the generators acting on (R^n)^{⊗N}, from Kronecker powers."""
    n = G.n
    eye = np.eye(n, dtype=np.int64)
    blocks = []
    for g in G.generators():
        x = g.matrix.astype(np.int64)
        if g.kind == "group":
            op = reduce(np.kron, [x] * size, np.eye(1, dtype=np.int64)) - np.eye(n**size, dtype=np.int64)
        else:
            op = sum(
                reduce(np.kron, [x if b == a else eye for b in range(size)], np.eye(1, dtype=np.int64))
                for a in range(size)
            )
            op = np.asarray(op).reshape(n**size, n**size)
        blocks.append(op)
    if not blocks:
        return n**size
    stacked = np.concatenate(blocks)
    return n**size - exact_rank(stacked.T)


def main():
    start = time.time()
    print("Fullness, dimensions and bases (exact), k + l ≤ 6:")
    for G in GROUPS:
        t = time.time()
        n, cases = G.n, 0
        for k, l in shapes(G):
            size = k + l
            dim = G.dim(k, l)
            if repr(G) in TABLE and TABLE[repr(G)][size] != dim:
                fail(f"{G!r}: dim({k}, {l}) = {dim}, docs/conventions.md §4 says {TABLE[repr(G)][size]}")
            if n**size <= 81 and dense_nullity(G, size) != dim:
                fail(f"{G!r}: dense null space dimension differs from dim({k}, {l}) = {dim}")
            spanning = G.spanning_set(k, l)
            images = [G.functor(d) for d in spanning]
            for d, F in zip(spanning, images, strict=True):
                report = check_equivariance(G, F)
                if not report or not report.exact:
                    fail(f"{G!r}: F({d!r}) is not proved equivariant:\n{report}")
            rows = np.stack([F.to_numpy(np.int64).ravel() for F in images]) if images else np.zeros((0, n**size))
            rank = exact_rank(rows) if images else 0
            if rank != dim:
                fail(f"{G!r} ({k}, {l}): rank of the spanning set {rank} != dim {dim}")
            basis = G.basis(k, l)
            if not set(basis) <= set(spanning) or len(basis) != dim:
                fail(f"{G!r} ({k}, {l}): basis of {len(basis)} diagrams, dim {dim}")
            index = {d: i for i, d in enumerate(spanning)}
            if basis and exact_rank(rows[[index[d] for d in basis]]) != len(basis):
                fail(f"{G!r} ({k}, {l}): basis images are dependent")
            if isinstance(G, S):
                if basis != tuple(d for d in spanning if len(d.blocks) <= n):
                    fail(f"{G!r} ({k}, {l}): basis is not the diagrams with ≤ n blocks")
                if size <= 5:
                    for d in spanning:
                        X = G.orbit_functor(d)
                        if (X.to_numpy(np.int64).any()) != (len(d.blocks) <= n):
                            fail(f"{G!r}: X_π = 0 should hold iff π has > n blocks, π = {d!r}")
                        if G.functor(d) != G.orbit_functor(G.diagram_to_orbit(d)):
                            fail(f"{G!r}: E_π != Σ_σ≥π X_σ for π = {d!r}")
                        if len(d.blocks) <= n and X != G.functor(G.orbit_to_diagram(d)):
                            fail(f"{G!r}: X_π != Σ μ(π, σ) E_σ for π = {d!r}")
            elif not isinstance(G, SO) and spanning:
                bound = 2 * n >= size if isinstance(G, O) else n >= size
                if bound != (rank == len(spanning)):
                    fail(f"{G!r} ({k}, {l}): independence of the spanning set is {rank == len(spanning)}")
            cases += 1
        dims = [G.dim(size, 0) for size in range(MAX_N + 1)]
        print(f"  {G!r:6} dims N=0..6 {dims}: {cases} (k, l) cases OK  [{time.time() - t:.1f} s]")
    print(f"PASS in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
