"""Certificate: the four functors are strict monoidal functors, exactly, for every composable pair.

For G in {S(n), O(n), Sp(n), SO(n)} with category C = G.category (P(n), B(n), B(−n), BG(n)):

* composition: F(e)·F(d) == F(d >> e) for every d: k → l, e: l → m in the stated range, where
  d >> e = C.compose(d, e) is the exact combination (δ^loops, and the BG sign rules);
* tensor: kron(F(d), F(e)) == F(d ⊗ e) for every pair with k1 + l1 + k2 + l2 ≤ 6.

Matrices are the library's images as int64 arrays (entries 0, ±1; every product and sum below is
bounded by n^6 < 2^62, so int64 arithmetic is exact). Exits non-zero on the first failure.

Run: python proofs/functor_laws.py
"""

import sys
import time

import numpy as np

from catlayer import SO, O, S, Sp

#: (group, composition range: predicate on (k, l, m)) — every diagram has k + l ≤ 6.
COMPOSITION_RANGES = {
    "partition": ("k + l + m ≤ 6", lambda k, l, m: k + l + m <= 6),
    "brauer": ("k + l ≤ 6, l + m ≤ 6, k + l + m ≤ 8", lambda k, l, m: k + l <= 6 and l + m <= 6 and k + l + m <= 8),
    "brauer, n = 5": ("k + l + m ≤ 6", lambda k, l, m: k + l + m <= 6),
}
GROUPS = [
    *(("partition", S(n)) for n in (1, 2, 3, 4)),
    *(("brauer", O(n)) for n in (1, 2, 3, 4)),
    ("brauer, n = 5", O(5)),
    *(("brauer", Sp(n)) for n in (2, 4)),
    *(("brauer", SO(n)) for n in (1, 2, 3, 4)),
    ("brauer, n = 5", SO(5)),
]
TENSOR_MAX_VERTICES = 6


def stack(G, k, l, cache):
    key = (k, l)
    if key not in cache:
        hom = G.spanning_set(k, l)
        n = G.n
        mats = np.zeros((len(hom), n**l, n**k), dtype=np.int64)
        for i, d in enumerate(hom):
            mats[i] = G.functor(d).to_numpy(np.int64)
        cache[key] = ({d: i for i, d in enumerate(hom)}, mats)
    return cache[key]


def combination_matrix(combination, index, mats, shape):
    out = np.zeros(shape, dtype=np.int64)
    for d, c in combination.terms.items():
        out += int(c) * mats[index[d]]
    return out


def check_group(kind, G):
    C, cache = G.category, {}
    range_text, in_range = COMPOSITION_RANGES[kind]
    pairs = tensors = 0
    for k in range(7):
        for l in range(7):
            for m in range(7):
                if not in_range(k, l, m):
                    continue
                index_d, Fd = stack(G, k, l, cache)
                index_e, Fe = stack(G, l, m, cache)
                if not len(Fd) or not len(Fe):
                    continue
                index_c, Fc = stack(G, k, m, cache)
                ds, es = list(index_d), list(index_e)
                for j, e in enumerate(es):
                    products = Fe[j][None] @ Fd  # F(e)·F(d) for every d at once
                    for i, d in enumerate(ds):
                        expected = combination_matrix(C.compose(d, e), index_c, Fc, products[i].shape)
                        if not np.array_equal(products[i], expected):
                            print(f"FAIL {G!r}: F(e)F(d) != F(d >> e) for d = {d!r}, e = {e!r}")
                            sys.exit(1)
                        pairs += 1
    for k1 in range(7):
        for l1 in range(7 - k1):
            for k2 in range(7 - k1 - l1):
                for l2 in range(7 - k1 - l1 - k2):
                    index_d, Fd = stack(G, k1, l1, cache)
                    index_e, Fe = stack(G, k2, l2, cache)
                    if not len(Fd) or not len(Fe):
                        continue
                    index_t, Ft = stack(G, k1 + k2, l1 + l2, cache)
                    for i, d in enumerate(index_d):
                        for j, e in enumerate(index_e):
                            expected = combination_matrix(C.tensor(d, e), index_t, Ft, Ft.shape[1:])
                            if not np.array_equal(np.kron(Fd[i], Fe[j]), expected):
                                print(f"FAIL {G!r}: kron(F(d), F(e)) != F(d @ e) for d = {d!r}, e = {e!r}")
                                sys.exit(1)
                            tensors += 1
    return range_text, pairs, tensors


def main():
    start = time.time()
    print("Functor laws F(e)F(d) = F(d >> e) and kron(F(d), F(e)) = F(d ⊗ e), exact (int64), all pairs:")
    total_pairs = total_tensors = 0
    for kind, G in GROUPS:
        t = time.time()
        range_text, pairs, tensors = check_group(kind, G)
        total_pairs += pairs
        total_tensors += tensors
        print(
            f"  {G!r:6} on {G.category!r:24} composition ({range_text}): {pairs:6} pairs OK; "
            f"tensor (k1+l1+k2+l2 ≤ {TENSOR_MAX_VERTICES}): {tensors:6} pairs OK  [{time.time() - t:.1f} s]"
        )
    print(f"PASS: {total_pairs} composable pairs and {total_tensors} tensor pairs in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
