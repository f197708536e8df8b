"""Certificate: the category and monoidal axioms of P(n), B(δ) and BG(n), exhaustively and
exactly (sympy coefficients, symbolic n and δ) for the stated ranges.

Checked, for every diagram / composable tuple in range:

* identity laws: id >> d == d == d >> id, id_0 ⊗ d == d == d ⊗ id_0, all d with k + l ≤ 6;
* associativity of composition with coefficients, all triples with objects ≤ 3 and k+l+m+p ≤ 7
  (P), 8 (BG(1), BG(2)), 10 (BG(3), BG(4)) or 12 (B: all of them); for P(n) and
  B(δ) also every triple of (3, 3)-diagrams (8.4 M for P_3) through the multiplication table,
  after checking that table against ``compose`` on every pair;
* associativity of the tensor product, all triples of diagrams with k, l ≤ 2 (k, l ≤ 1 in BG(1),
  BG(2); in BG(4) the triples of three n-diagrams, whose dense images are too large, are skipped
  and counted);
* the interchange law (d1 ⊗ d2) >> (e1 ⊗ e2) == (d1 >> e1) ⊗ (d2 >> e2), composable pairs with
  objects ≤ 2 against composable pairs with objects ≤ 1;
* naturality of the swap, all d1, d2 with k, l ≤ 2.

BG(n), n = 1..4: the ε·ε rules make the n-diagrams linearly dependent, so associativity and
interchange hold exactly as formal combinations whenever at most two factors are n-diagrams;
with three or more the formal results may differ and are checked (all of them) on the dense
matrices of Ψ at that n (entry formulas of docs/conventions.md §3.2, §3.4). The script reports how many such
cases differ formally.

Run: ``python proofs/category_axioms.py``; exits 1 on any failure.
"""

import itertools
import sys
import time

import numpy as np
import sympy

from catlayer import BrauerCategory, BrauerGroodCategory, BrauerGroodDiagram, PartitionCategory
from catlayer.backend import multiplication_table

n, delta = sympy.symbols("n delta")
failures: list[str] = []


def report(claim: str, count: int, bad: int, started: float, extra: str = "") -> None:
    status = "ok" if bad == 0 else f"FAILED ({bad})"
    print(f"  {claim:<62} {count:>10,} checked  {status}  {time.perf_counter() - started:6.1f} s{extra}")
    if bad:
        failures.append(claim)


def dense(d, size):
    """E_β / E_π, or H_α for an n-diagram (Levi-Civita on the free vertices in vertex order)."""
    x = np.indices((size,) * d.size).reshape(d.size, size**d.size)
    entry = np.ones(x.shape[1], dtype=np.int64)
    for b in d.blocks:
        for u, v in itertools.pairwise(b):
            entry *= x[u] == x[v]
    free = [b[0] for b in d.blocks if len(b) == 1]
    if isinstance(d, BrauerGroodDiagram) and len(free) == size:
        for i, j in itertools.combinations(range(size), 2):
            entry *= np.sign(x[free[j]] - x[free[i]])
    return entry.reshape(size**d.cod, size**d.dom)


def dense_combination(c, size):
    total = np.zeros((size**c.cod, size**c.dom), dtype=np.int64)
    for d, coefficient in c.terms.items():
        total += int(coefficient) * dense(d, size)
    return total


def morphisms(category, max_object):
    return [d for k in range(max_object + 1) for l in range(max_object + 1) for d in category.hom(k, l)]


def composable(category, max_object, length, max_total=None):
    """All composable tuples of ``length`` diagrams with every object ≤ max_object (and the
    objects summing to at most ``max_total`` when given)."""
    objects = range(max_object + 1)
    for chain in itertools.product(objects, repeat=length + 1):
        if max_total is not None and sum(chain) > max_total:
            continue
        homs = [category.hom(a, b) for a, b in itertools.pairwise(chain)]
        yield from itertools.product(*homs)


def law(category, left, right, factors):
    """(failed, formally_different) for ``left == right``; in BG(n) with ≥ 3 n-diagram
    factors the Ψ-images at n are compared instead."""
    if isinstance(category, BrauerGroodCategory) and sum(bool(d.free_vertices) for d in factors) >= 3:
        same = (dense_combination(left, category.n) == dense_combination(right, category.n)).all()
        return (not same), (left != right)
    return (left != right), False


def check_category(name, C, assoc_total, tensor_max):
    print(f"{name}:")
    t = time.perf_counter()
    bad = count = 0
    for d in (d for size in range(7) for k in range(size + 1) for d in C.hom(k, size - k)):
        count += 1
        unit = C.identity(0)
        ok = (
            C.compose(C.identity(d.dom), d).terms == {d: 1}
            and C.compose(d, C.identity(d.cod)).terms == {d: 1}
            and C.tensor(unit, d).terms == {d: 1} == C.tensor(d, unit).terms
        )
        bad += not ok
    report("identity laws, all d with k + l <= 6", count, bad, t)

    t = time.perf_counter()
    bad = count = formal = 0
    cache = {}

    def compose(f, g):
        key = (f, g)
        if key not in cache:
            cache[key] = C.compose(f, g)
        return cache[key]

    for f, g, h in composable(C, 3, 3, assoc_total):
        count += 1
        left = C.compose(compose(f, g), h)
        right = C.compose(f, compose(g, h))
        failed, different = law(C, left, right, (f, g, h))
        bad += failed
        formal += different
    note = f"  ({formal:,} differ formally, equal under Ψ)" if formal else ""
    report(f"associativity, all triples, objects <= 3, k+l+m+p <= {assoc_total}", count, bad, t, note)

    t = time.perf_counter()
    bad = count = formal = skipped = 0
    small = morphisms(C, tensor_max)
    for a, b, c in itertools.product(small, repeat=3):
        if isinstance(C, BrauerGroodCategory) and all(d.free_vertices for d in (a, b, c)):
            if C.n ** (a.size + b.size + c.size) > 3**12:  # dense Ψ-image too large to form
                skipped += 1
                continue
        count += 1
        failed, different = law(C, C.tensor(C.tensor(a, b), c), C.tensor(a, C.tensor(b, c)), (a, b, c))
        bad += failed
        formal += different
    note = f"  ({formal:,} differ formally, equal under Ψ)" if formal else ""
    note += f"  ({skipped:,} triples of n-diagrams too large for dense Ψ skipped)" if skipped else ""
    report(f"tensor associativity, all triples with k, l <= {tensor_max}", count, bad, t, note)

    t = time.perf_counter()
    bad = count = formal = 0
    big = list(composable(C, 2, 2))
    tiny = list(composable(C, 1, 2))
    for (d1, e1), (d2, e2) in itertools.chain(itertools.product(big, tiny), itertools.product(tiny, big)):
        count += 1
        left = C.compose(C.tensor(d1, d2), C.tensor(e1, e2))
        right = C.tensor(compose(d1, e1), compose(d2, e2))
        failed, different = law(C, left, right, (d1, e1, d2, e2))
        bad += failed
        formal += different
    note = f"  ({formal:,} differ formally, equal under Ψ)" if formal else ""
    report("interchange law, pairs (objects <= 2) x pairs (objects <= 1)", count, bad, t, note)

    t = time.perf_counter()
    bad = count = 0
    swap = C.diagram_kind.swap
    pieces = morphisms(C, 2)
    for d1, d2 in itertools.product(pieces, repeat=2):
        count += 1
        left = C.compose(C.tensor(d1, d2), swap(d1.cod, d2.cod))
        right = C.compose(swap(d1.dom, d2.dom), C.tensor(d2, d1))
        bad += left != right
    report("naturality of the swap, all d1, d2 with k, l <= 2", count, bad, t)


def check_table(name, C, k):
    """compose == table on every pair, then associativity on every triple via the table."""
    t = time.perf_counter()
    hom = C.hom(k, k)
    idx, loops = multiplication_table(C, k)
    parameter = C.parameter
    bad = sum(
        C.compose(f, g).terms != {hom[idx[i, j]]: sympy.expand(parameter ** int(loops[i, j]))}
        for i, f in enumerate(hom)
        for j, g in enumerate(hom)
    )
    report(f"{name}: table == compose, all pairs of ({k},{k})-diagrams", len(hom) ** 2, bad, t)
    t = time.perf_counter()
    N = len(hom)
    bad = 0
    loops = loops.astype(np.int64)
    for a in range(N):
        ab = idx[a]  # (N,) = a·b for every b
        left_idx = idx[ab]  # (N, N): (a·b)·c
        left_loops = loops[a][:, None] + loops[ab]
        right_idx = idx[a][idx]  # a·(b·c)
        right_loops = loops + loops[a][idx]
        bad += int(((left_idx != right_idx) | (left_loops != right_loops)).sum())
    report(f"{name}: associativity, all triples of ({k},{k})-diagrams", N**3, bad, t)


def main() -> int:
    started = time.perf_counter()
    check_category("P(n), n symbolic", PartitionCategory(n), assoc_total=7, tensor_max=2)
    check_table("P(n)", PartitionCategory(n), 3)
    check_category("B(delta), delta symbolic", BrauerCategory(delta), assoc_total=12, tensor_max=2)
    check_table("B(delta)", BrauerCategory(delta), 3)
    check_table("B(delta)", BrauerCategory(delta), 4)
    for size, total in ((1, 8), (2, 8), (3, 10), (4, 10)):
        check_category(f"BG({size})", BrauerGroodCategory(size), assoc_total=total, tensor_max=1 if size < 3 else 2)
    total = time.perf_counter() - started
    if failures:
        print(f"FAILED: {len(failures)} claims ({total:.1f} s): " + "; ".join(failures))
        return 1
    print(f"all category axioms hold in range ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
