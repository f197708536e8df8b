"""Certificate: the functors of O(p, q) and SO(p, q) are strict monoidal functors, exactly.

For η = diag(+1 ×p, −1 ×q), n = p + q and (p, q) ∈ {(1,1), (1,2), (2,1), (1,3), (2,2), (3,1)}:

* O(p, q): Φ_η on B(n) (loop value n), E^η_β[x] = Π_{same-row pairs} η[x_u, x_v] · Π_{propagating
  pairs} [x_u = x_v];
* SO(p, q): Ψ_η on BG(n) with det η = (−1)^q multiplying every ε·ε expansion: Brauer diagrams ↦
  E^η_β, an n-diagram α ↦ H^η_α[x] = ε_{x[f_1] … x[f_n]} · Π_{bottom-row free f} η[x_f, x_f] ·
  (pairs as in E^η), free vertices f_1 < … < f_n in vertex-number order (docs/conventions.md).

Checked, in exact int64 arithmetic (entries 0, ±1; every product and sum below is bounded by
n^8 < 2^62):

1. every image the checks below use (every diagram with k + l ≤ 6, and the 8-vertex diagrams the
   n-diagram tensor products of 2. land on) equals the entry formula above, evaluated here
   independently of catlayer; and G.category is B(n), resp. BG(n, det_eta=(−1)^q);
2. composition: F(e)·F(d) == F(d >> e) for every d: k → l, e: l → m with k + l ≤ 6, l + m ≤ 6,
   k + l + m ≤ 8 (d >> e = G.category.compose(d, e): n^loops for Brauer diagrams, the BG sign
   rules and the det η factor for n-diagrams); this includes every composable pair of two
   n-diagrams in that range;
3. tensor: kron(F(d), F(e)) == F(d ⊗ e) for every pair with k1 + l1 + k2 + l2 ≤ 6, and for SO(p, q)
   with n = 4 also every pair of two n-diagrams with 4 vertices each (8 vertices in all: the
   smallest tensor products of two n-diagrams for n = 4);
4. the det η factor is needed: with BG(n, det_eta=−(−1)^q) instead, at least one composition or
   tensor product of two n-diagrams in the range breaks the law (the count is printed), so the
   check in 2. and 3. can fail.

``--quick`` (what the test suite runs): composition for k + l + m ≤ 6 only, the rest unchanged.

Run: python proofs/indefinite_functor_laws.py [--quick]
"""

import itertools
import sys
import time

import numpy as np

from catlayer import SO, BrauerCategory, BrauerGroodCategory, O

SIGNATURES = [(1, 1), (1, 2), (2, 1), (1, 3), (2, 2), (3, 1)]
QUICK = "--quick" in sys.argv[1:]
if QUICK:
    COMPOSITION = ("k + l ≤ 6, l + m ≤ 6, k + l + m ≤ 8", lambda k, l, m: k + l <= 6 and l + m <= 6 and k + l + m <= 8)
else:
    COMPOSITION = ("k + l ≤ 6, l + m ≤ 6, k + m ≤ 8", lambda k, l, m: k + l <= 6 and l + m <= 6 and k + m <= 8)
TENSOR_MAX_VERTICES = 6


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def formula(p, q, d, special):
    """The entry formula of docs/conventions.md for O(p, q) (special=False) or SO(p, q), as an
    n^l × n^k int64 matrix, one entry per index tuple x (written without catlayer's code)."""
    n, l, k = p + q, d.cod, d.dom
    eta = np.array([1] * p + [-1] * q, dtype=np.int64)
    x = np.indices((n,) * d.size, dtype=np.int64).reshape(d.size, n**d.size)
    value = np.ones(n**d.size, dtype=np.int64)
    free = [b[0] for b in d.blocks if len(b) == 1]
    if free:
        if not special or len(free) != n:
            fail(f"{d!r} has {len(free)} singletons: not a diagram of O({p}, {q}) / SO({p}, {q})")
        distinct = np.ones_like(value, dtype=bool)
        inversions = np.zeros_like(value)
        for i, j in itertools.combinations(range(n), 2):
            distinct &= x[free[i]] != x[free[j]]
            inversions += x[free[i]] > x[free[j]]
        value *= np.where(distinct, 1 - 2 * (inversions % 2), 0)
        for f in free:
            if f >= l:  # an input index of ε, lowered with η
                value *= eta[x[f]]
    for block in d.blocks:
        if len(block) == 1:
            continue
        u, v = block
        value *= x[u] == x[v]
        if (u < l) == (v < l):  # same-row pair: η
            value *= eta[x[u]]
    return value.reshape(n**l, n**k)


class Images:
    """The library's images F(d) = G.functor(d) as int64 matrices, each checked against the
    formula the first time it is used."""

    def __init__(self, G, p, q):
        self.G, self.p, self.q = G, p, q
        self.special = isinstance(G, SO)
        self.cache = {}

    def __call__(self, d):
        image = self.cache.get(d)
        if image is None:
            image = self.G.functor(d).to_numpy(np.int64)
            if not np.array_equal(image, formula(self.p, self.q, d, self.special)):
                fail(f"{self.G!r}: F({d!r}) differs from the entry formula")
            self.cache[d] = image
        return image

    def combination(self, c, shape):
        out = np.zeros(shape, dtype=np.int64)
        for d, coefficient in c.terms.items():
            out += int(coefficient) * self(d)
        return out


def is_n_diagram(d):
    return any(len(b) == 1 for b in d.blocks)


def check_group(G, p, q):
    """Steps 1–3 for one group; returns (pairs, tensors, n-diagram pairs) and, for SO, the
    number of failures under the wrong det η sign (step 4)."""
    n, special = p + q, isinstance(G, SO)
    expected_category = BrauerGroodCategory(n, det_eta=(-1) ** q) if special else BrauerCategory(n)
    if G.category != expected_category:
        fail(f"{G!r} has the category {G.category!r}, expected {expected_category!r}")
    wrong = BrauerGroodCategory(n, det_eta=-((-1) ** q)) if special else None
    C, F = G.category, Images(G, p, q)
    pairs = tensors = nn_pairs = wrong_failures = 0
    in_range = COMPOSITION[1]
    for k, l, m in itertools.product(range(7), repeat=3):
        if not in_range(k, l, m):
            continue
        first, second = G.spanning_set(k, l), G.spanning_set(l, m)
        if not first or not second:
            continue
        for e in second:
            Fe = F(e)
            for d in first:
                product = Fe @ F(d)
                if not np.array_equal(product, F.combination(C.compose(d, e), product.shape)):
                    fail(f"{G!r}: F(e)F(d) != F(d >> e) for d = {d!r}, e = {e!r}")
                pairs += 1
                if special and is_n_diagram(d) and is_n_diagram(e):
                    nn_pairs += 1
                    if not np.array_equal(product, F.combination(wrong.compose(d, e), product.shape)):
                        wrong_failures += 1

    def tensor_pairs():
        for k1, l1, k2, l2 in itertools.product(range(7), repeat=4):
            if k1 + l1 + k2 + l2 <= TENSOR_MAX_VERTICES:
                for d in G.spanning_set(k1, l1):
                    for e in G.spanning_set(k2, l2):
                        yield d, e
        if special and n == 4:  # two n-diagrams need 8 vertices
            for k1, k2 in itertools.product(range(5), repeat=2):
                for d in G.spanning_set(k1, 4 - k1):
                    for e in G.spanning_set(k2, 4 - k2):
                        if is_n_diagram(d) and is_n_diagram(e):
                            yield d, e

    for d, e in tensor_pairs():
        product = np.kron(F(d), F(e))
        if not np.array_equal(product, F.combination(C.tensor(d, e), product.shape)):
            fail(f"{G!r}: kron(F(d), F(e)) != F(d ⊗ e) for d = {d!r}, e = {e!r}")
        tensors += 1
        if special and is_n_diagram(d) and is_n_diagram(e):
            nn_pairs += 1
            if not np.array_equal(product, F.combination(wrong.tensor(d, e), product.shape)):
                wrong_failures += 1
    if special and wrong_failures == 0:
        fail(f"{G!r}: no pair distinguishes det_eta = {(-1) ** q} from {-((-1) ** q)}: the check cannot fail")
    return pairs, tensors, nn_pairs, wrong_failures, len(F.cache)


def main():
    start = time.time()
    mode = " (--quick)" if QUICK else ""
    print(f"Functor laws of O(p, q) on B(n) and SO(p, q) on BG(n, det η), exact (int64){mode}:")
    print(f"  composition {COMPOSITION[0]}; tensor k1+l1+k2+l2 ≤ {TENSOR_MAX_VERTICES} (+ n-diagram pairs, n = 4)")
    totals = [0, 0, 0]
    for p, q in SIGNATURES:
        for G in (O(p, q), SO(p, q)):
            t = time.time()
            pairs, tensors, nn_pairs, wrong, images = check_group(G, p, q)
            totals = [totals[0] + pairs, totals[1] + tensors, totals[2] + images]
            control = ""
            if isinstance(G, SO):
                control = f"; {nn_pairs} n-diagram pairs, {wrong} fail with det η = {-((-1) ** q)}"
            print(
                f"  {G!r:9} on {G.category!r:34} {images:5} images = formula; {pairs:6} compositions OK; "
                f"{tensors:6} tensors OK{control}  [{time.time() - t:.1f} s]"
            )
    print(
        f"PASS: {totals[2]} images, {totals[0]} composable pairs and {totals[1]} tensor pairs "
        f"in {time.time() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
