"""Certificate: the composition and tensor rules of BG(n) (docs/conventions.md §3.4) agree exactly with the
matrices they stand for, i.e. Ψ: BG(n) → C(SO(n)) is a strict monoidal functor on the stated
range.

Matrices are built here from the entry formulas alone (integers): E_β[x] = Π_pairs [x_u = x_v]
and H_α[x] = ε_{x[f_1] … x[f_n]} · Π_pairs [x_u = x_v] with f_1 < … < f_n the free vertices in
vertex-number order and ε the Levi-Civita symbol (ε_{0…n−1} = +1).

Checked for n = 1, 2, 3, 4:

* Ψ(id_k) = I for k ≤ 3;
* Ψ(compose(f, g)) == Ψ(g) @ Ψ(f) for every composable pair f: k → l, g: l → m, with
  k, l, m ≤ 4 (n ≤ 3) or ≤ 3 (n = 4), and k + l + m ≤ 10 for n = 2, 3;
* Ψ(tensor(f, g)) == kron(Ψ(f), Ψ(g)) for every pair of diagrams with k, l ≤ 2;
* the worked examples of docs/conventions.md §3.4 (H for n = 2, the cross product for n = 3, the sign of
  crossing • H for n = 2).

Run: ``python proofs/brauer_grood_rules.py``; exits 1 on any failure.
"""

import itertools
import sys
import time

import numpy as np

from catlayer import BrauerDiagram, BrauerGroodCategory, BrauerGroodDiagram

failures: list[str] = []


def report(claim: str, count: int, bad: int, started: float) -> None:
    status = "ok" if bad == 0 else f"FAILED ({bad})"
    print(f"  {claim:<58} {count:>8,} checked  {status}  {time.perf_counter() - started:5.1f} s")
    if bad:
        failures.append(claim)


def levi_civita_entries(values: list[np.ndarray]) -> np.ndarray:
    """ε at each column of ``values`` (one row per slot): the sign of the permutation, 0 on a
    repeated index, computed by counting inversions (independent of catlayer)."""
    size = len(values)
    result = np.ones(values[0].shape, dtype=np.int64) if values else np.ones((), dtype=np.int64)
    distinct = np.ones_like(result, dtype=bool)
    inversions = np.zeros_like(result)
    for i, j in itertools.combinations(range(size), 2):
        distinct &= values[i] != values[j]
        inversions += values[i] > values[j]
    return np.where(distinct, np.where(inversions % 2 == 0, result, -result), 0)


class Psi:
    """Dense integer matrices of BG(n) diagrams, cached."""

    def __init__(self, n: int):
        self.n = n
        self.cache: dict = {}

    def __call__(self, d) -> np.ndarray:
        matrix = self.cache.get(d)
        if matrix is None:
            n = self.n
            x = np.indices((n,) * d.size).reshape(d.size, n**d.size)
            entry = np.ones(n**d.size, dtype=np.int64)
            for block in d.blocks:
                if len(block) == 2:
                    entry *= x[block[0]] == x[block[1]]
            free = sorted(b[0] for b in d.blocks if len(b) == 1)
            if free:
                assert len(free) == n, f"{d!r} is not a diagram of BG({n})"
                entry *= levi_civita_entries([x[f] for f in free])
            matrix = entry.reshape(n**d.cod, n**d.dom)
            self.cache[d] = matrix
        return matrix

    def combination(self, c, dom: int, cod: int) -> np.ndarray:
        total = np.zeros((self.n**cod, self.n**dom), dtype=np.int64)
        for d, coefficient in c.terms.items():
            total += int(coefficient) * self(d)
        return total


def check(n: int, max_object: int, max_total: int) -> None:
    print(f"BG({n}):")
    BG, psi = BrauerGroodCategory(n), Psi(n)

    t = time.perf_counter()
    bad = sum(not (psi(BG.identity(k)) == np.eye(n**k, dtype=np.int64)).all() for k in range(4))
    report("Ψ(id_k) = I, k <= 3", 4, bad, t)

    t = time.perf_counter()
    bad = count = 0
    for k, l, m in itertools.product(range(max_object + 1), repeat=3):
        if k + l + m > max_total:
            continue
        for f in BG.hom(k, l):
            for g in BG.hom(l, m):
                count += 1
                product = psi.combination(BG.compose(f, g), k, m)
                bad += not (product == psi(g) @ psi(f)).all()
    report(f"Ψ(f then g) = Ψ(g) Ψ(f), all pairs, k, l, m <= {max_object}, k+l+m <= {max_total}", count, bad, t)

    t = time.perf_counter()
    bad = count = 0
    small = [d for k in range(3) for l in range(3) for d in BG.hom(k, l)]
    for f, g in itertools.product(small, repeat=2):
        count += 1
        product = psi.combination(BG.tensor(f, g), f.dom + g.dom, f.cod + g.cod)
        bad += not (product == np.kron(psi(f), psi(g))).all()
    report("Ψ(f ⊗ g) = kron(Ψ(f), Ψ(g)), all pairs with k, l <= 2", count, bad, t)


def check_examples() -> None:
    print("docs/conventions.md §3.4 examples:")
    t = time.perf_counter()
    ok = Psi(2)(BrauerGroodDiagram([[0], [1]], 1, 1)).tolist() == [[0, 1], [-1, 0]]
    cross = Psi(3)(BrauerGroodDiagram([[0], [1], [2]], 2, 1))
    vectors = list(itertools.product(range(-2, 3), repeat=3))
    ok &= all((cross @ np.kron(a, b)).tolist() == np.cross(a, b).tolist() for a in vectors[:25] for b in vectors[::7])
    H = BrauerGroodDiagram([[0], [1]], 0, 2)
    ok &= BrauerGroodCategory(2).compose(H, BrauerDiagram.swap()).terms == {H: -1}
    report("H (n=2), cross product (n=3), crossing • H = −H (n=2)", 3, int(not ok), t)


def main() -> int:
    started = time.perf_counter()
    for n, max_object, max_total in ((1, 4, 12), (2, 4, 10), (3, 4, 10), (4, 3, 9)):
        check(n, max_object, max_total)
    check_examples()
    total = time.perf_counter() - started
    if failures:
        print(f"FAILED: {len(failures)} claims ({total:.1f} s): " + "; ".join(failures))
        return 1
    print(f"Ψ is a strict monoidal functor on BG(n), n = 1..4, in range ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
