"""Certificate: the symplectic sign correction of docs/conventions.md §3.3, exactly.

With J = block-diag([[0, 1], [−1, 0]] × n/2) and the unsigned product-formula matrices F_β
(same-row pair {r < u} ↦ J[x_r, x_u], propagating pair ↦ δ), computed here directly from that
formula (not by catlayer):

1. the unsigned F violate the snake identities: (id ⊗ cup)∘(cap ⊗ id) = −I ≠ id, for n = 2, 4, 6;
2. the exact rule F_{d2}F_{d1} = s(d2) s(d1) s(d2∘d1) (−1)^c n^c F_{d2∘d1} holds for every composable
   pair with k + l ≤ 6, l + m ≤ 6, k + l + m ≤ 8 (n = 2, 4), while the naive F_{d2}F_{d1} = n^c F_{d2∘d1} fails for a
   positive fraction of them (printed);
3. catlayer's Sp(n) images are F′_β = s(β) F_β, s(β) = (−1)^{#caps + #crossings}, with s
   recomputed here from boundary positions;
4. F′ is a strict monoidal functor from B(−n): snakes, loop = −n, crossing ↦ −swap, every
   permutation σ ↦ sgn(σ)·P_σ (k ≤ 4), F′_{d2}F′_{d1} = (−n)^c F′_{d2∘d1} and F′ ⊗ = kron on all
   pairs in range, s(d1 ⊗ d2) = s(d1)s(d2); and F′ is *not* a functor from B(n).

Run: python proofs/symplectic_correction.py
"""

import sys
import time
from itertools import permutations

import numpy as np

from catlayer import BrauerCategory, BrauerDiagram, Sp


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def form(n):
    j = np.zeros((n, n), dtype=np.int64)
    for a in range(0, n, 2):
        j[a, a + 1], j[a + 1, a] = 1, -1
    return j


def unsigned(beta, n):
    """F_β from the product formula, as an n^l × n^k int64 matrix."""
    size, l = beta.size, beta.cod
    x = np.indices((n,) * size).reshape(size, n**size)
    value = np.ones(x.shape[1], dtype=np.int64)
    j = form(n)
    for u, v in beta.blocks:
        same_row = (v < l) or (u >= l)
        value *= j[x[u], x[v]] if same_row else (x[u] == x[v]).astype(np.int64)
    return value.reshape(n**l, n**beta.dom)


def sign(beta):
    """s(β) = (−1)^(#caps + #crossings), crossings from boundary positions (docs/conventions.md §1.3)."""
    l, k = beta.cod, beta.dom

    def position(v):
        return v if v < l else l + (k - 1 - (v - l))

    pairs = [tuple(sorted(map(position, b))) for b in beta.blocks]
    crossings = sum(1 for i, (a, b) in enumerate(pairs) for (c, d) in pairs[i + 1 :] if a < c < b < d or c < a < d < b)
    caps = sum(1 for b in beta.blocks if b[1] < l)
    return (-1) ** (caps + crossings)


CAP = BrauerDiagram([[0, 1]], dom=0, cod=2)
CUP = BrauerDiagram([[0, 1]], dom=2, cod=0)
ID = BrauerDiagram.identity(1)
SWAP = BrauerDiagram.swap()


def main():
    start = time.time()
    print("Symplectic sign correction (docs/conventions.md §3.3), exact:")
    for n in (2, 4, 6):
        eye = np.eye(n, dtype=np.int64)
        snake1 = unsigned(ID @ CUP, n) @ unsigned(CAP @ ID, n)
        snake2 = unsigned(CUP @ ID, n) @ unsigned(ID @ CAP, n)
        if not (np.array_equal(snake1, -eye) and np.array_equal(snake2, -eye)):
            fail(f"n = {n}: the unsigned snakes should be −I")
        G = Sp(n)
        F = G.functor
        if not ((F(CAP @ ID) >> F(ID @ CUP)) == F(ID) and (F(ID @ CAP) >> F(CUP @ ID)) == F(ID)):
            fail(f"{G!r}: the signed snakes are not the identity")
        if F(CAP).then(F(CUP)).to_sympy()[0, 0] != -n:
            fail(f"{G!r}: the loop cup∘cap is not −n")
        if not np.array_equal(F(SWAP).to_numpy(np.int64), -unsigned(SWAP, n)):
            fail(f"{G!r}: crossing is not −swap")
    print("  n = 2, 4, 6: unsigned snakes = −I ≠ id; signed snakes = id, loop = −n, crossing ↦ −swap: OK")
    for n in (2, 4):
        G = Sp(n)
        for k in range(1, 5):
            for p in permutations(range(k)):
                sigma = BrauerDiagram.permutation(p)
                parity = sum(1 for i in range(k) for j in range(i + 1, k) if p[i] > p[j]) % 2
                if not np.array_equal(G.functor(sigma).to_numpy(np.int64), (-1) ** parity * unsigned(sigma, n)):
                    fail(f"{G!r}: permutation {p} does not map to sgn·P")
    print("  n = 2, 4: every permutation σ ∈ S_k (k ≤ 4) ↦ sgn(σ)·P_σ: OK")
    for n in (2, 4):
        G, B_plus, B_minus = Sp(n), BrauerCategory(n), BrauerCategory(-n)
        cache, signed = {}, {}

        def load(d, G=G, n=n, cache=cache, signed=signed):
            if d not in cache:
                cache[d] = unsigned(d, n)
                signed[d] = G.functor(d).to_numpy(np.int64)
                if not np.array_equal(signed[d], sign(d) * cache[d]):
                    fail(f"{G!r}: F′ != s·F for {d!r}")
            return cache[d], signed[d]

        pairs = naive_failures = wrong_category = 0
        for k in range(7):
            for l in range(7 - k):
                for m in range(min(6 - l, 8 - k - l) + 1):
                    for d1 in B_plus.hom(k, l):
                        for d2 in B_plus.hom(l, m):
                            ((composite, power),) = B_plus.compose(d1, d2).terms.items()
                            c = 0
                            while n**c != power:
                                c += 1
                            (f1, g1), (f2, g2), (fc, gc) = load(d1), load(d2), load(composite)
                            product = f2 @ f1
                            rule = sign(d2) * sign(d1) * sign(composite) * (-1) ** c * n**c
                            if not np.array_equal(product, rule * fc):
                                fail(f"n = {n}: unsigned composition rule fails for {d1!r}, {d2!r}")
                            naive_failures += not np.array_equal(product, n**c * fc)
                            signed_product = g2 @ g1
                            ((composite_minus, coefficient),) = B_minus.compose(d1, d2).terms.items()
                            if composite_minus != composite or not np.array_equal(
                                signed_product, int(coefficient) * gc
                            ):
                                fail(f"{G!r}: F′ is not a functor from B(−n) on {d1!r}, {d2!r}")
                            wrong_category += not np.array_equal(signed_product, n**c * gc)
                            pairs += 1
        tensors = 0
        for k1 in range(7):
            for l1 in range(7 - k1):
                for k2 in range(7 - k1 - l1):
                    for l2 in range(7 - k1 - l1 - k2):
                        for d1 in B_plus.hom(k1, l1):
                            for d2 in B_plus.hom(k2, l2):
                                t = d1 @ d2
                                if sign(t) != sign(d1) * sign(d2) or not np.array_equal(
                                    load(t)[1], np.kron(load(d1)[1], load(d2)[1])
                                ):
                                    fail(f"{G!r}: monoidality fails for {d1!r} ⊗ {d2!r}")
                                tensors += 1
        if not naive_failures or not wrong_category:
            fail(f"n = {n}: expected failures of the naive rules")
        print(
            f"  n = {n}: {pairs} composable pairs (k+l ≤ 6, l+m ≤ 6, k+l+m ≤ 8): exact unsigned rule OK; "
            "naive B(n) rule fails on "
            f"{naive_failures} ({naive_failures / pairs:.0%}); F′ functor from B(−n) OK, from B(n) fails on "
            f"{wrong_category}; {tensors} tensor pairs: s multiplicative, F′ monoidal OK"
        )
    print(f"PASS in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
