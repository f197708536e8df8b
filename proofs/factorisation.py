"""Certificate: the planar factorisation (docs/conventions.md §6) and the bottom/top split are exact.

For every diagram d with k + l ≤ 8 (partition diagrams in P(n), Brauer diagrams in B(n),
n-diagrams of BG(1), BG(2), BG(3) in BG(n); n symbolic where the category allows):

* input_permutation, then planar, then output_permutation == d, coefficient exactly 1 (no
  loops, no sign), and both permutations are permutation diagrams given by the index tables;
* the planar diagram is planar, checked by an independent stack test on the boundary word, and
  is laid out as docs/conventions.md §6 says (top-only blocks first, then propagating tops; propagating
  bottoms first, then bottom-only blocks; each block on consecutive positions in each row);
* the tensor product of the elementary one-block diagrams is the planar diagram;
* split: bottom, then the slot permutation, then top == d with coefficient 1;
* docs/conventions.md §8 worked example, table by table.

Run: ``python proofs/factorisation.py``; exits 1 on any failure.
"""

import sys
import time
from functools import reduce
from operator import matmul

import sympy

from catlayer import (
    BrauerCategory,
    BrauerGroodCategory,
    BrauerGroodDiagram,
    PartitionCategory,
    PartitionDiagram,
    factorise,
)
from catlayer.diagrams.factorisation import split

n = sympy.Symbol("n")
failures: list[str] = []


def report(claim: str, count: int, bad: int, started: float) -> None:
    status = "ok" if bad == 0 else f"FAILED ({bad})"
    print(f"  {claim:<60} {count:>7,} checked  {status}  {time.perf_counter() - started:5.1f} s")
    if bad:
        failures.append(claim)


def noncrossing(d) -> bool:
    """Walk the boundary (top left→right, bottom right→left); a partition is non-crossing iff
    a block, once left, is only re-entered after every block opened inside it has closed."""
    walk = list(range(d.cod)) + list(range(d.size - 1, d.cod - 1, -1))
    remaining = [len(b) for b in d.blocks]
    stack: list[int] = []
    for v in walk:
        b = d.labels[v]
        if not stack or stack[-1] != b:
            if b in stack:
                return False
            stack.append(b)
        remaining[b] -= 1
        if remaining[b] == 0:
            stack.pop()
    return True


def layout_ok(f) -> bool:
    d, planar, l = f.diagram, f.planar, f.diagram.cod
    rows_ok = all(
        row == list(range(row[0], row[0] + len(row)))
        for b in planar.blocks
        for row in ([v for v in b if v < l], [v for v in b if v >= l])
        if row
    )
    top_only = [b for b in planar.blocks if b[-1] < l]
    prop = sorted((b for b in planar.blocks if b[0] < l <= b[-1]), key=lambda b: b[0])
    bottom_only = [b for b in planar.blocks if b[0] >= l]
    tops_first = all(max(b) < min(v for p in prop for v in p) for b in top_only) if prop else True
    bottoms_last = all(min(b) > max(v for p in prop for v in p) for b in bottom_only) if prop else True
    order_kept = all(
        [f.pos_top[v] for v in b if v < l] == sorted(f.pos_top[v] for v in b if v < l)
        and [f.pos_bottom[v - l] for v in b if v >= l] == sorted(f.pos_bottom[v - l] for v in b if v >= l)
        for b in d.blocks
    )
    original = sorted(d.propagating_blocks(), key=lambda b: b[0])  # by smallest top vertex
    prop_order = (
        original
        == sorted(original, key=lambda b: f.pos_top[b[0]])
        == sorted(original, key=lambda b: f.pos_bottom[next(v for v in b if v >= l) - l])
    )
    tables = (
        f.input_permutation.permutation_of() == f.pos_bottom
        and f.output_permutation.permutation_of() == f.top_order
        and all(f.pos_top[f.top_order[a]] == a for a in range(l))
        and all(f.pos_bottom[f.bottom_order[a]] == a for a in range(d.dom))
    )
    return rows_ok and tops_first and bottoms_last and order_kept and prop_order and tables


def check(name, category, diagrams) -> None:
    print(f"{name}:")
    diagrams = list(diagrams)
    t = time.perf_counter()
    bad_compose = bad_planar = bad_layout = bad_elementary = bad_split = 0
    for d in diagrams:
        f = factorise(d)
        step = category.compose(category.compose(f.input_permutation, f.planar), f.output_permutation)
        bad_compose += step.terms != {d: 1}
        bad_planar += not (noncrossing(f.planar) and f.planar.is_planar())
        bad_layout += not layout_ok(f)
        bad_elementary += reduce(matmul, f.elementary, type(d).identity(0)) != f.planar
        s = split(d)
        bad_split += category.compose(category.compose(s.bottom, s.permutation), s.top).terms != {d: 1}
    count = len(diagrams)
    report("sigma_k, then planar, then sigma_l == d (coefficient 1)", count, bad_compose, t)
    report("planar is planar (independent stack test)", count, bad_planar, t)
    report("canonical layout and index tables of docs/conventions.md §6", count, bad_layout, t)
    report("tensor of elementary diagrams == planar", count, bad_elementary, t)
    report("split: bottom, then permutation, then top == d", count, bad_split, t)


def check_worked_example() -> None:
    print("docs/conventions.md §8 worked example:")
    t = time.perf_counter()
    d = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)
    f = factorise(d)
    ok = (
        f.top_order == (1, 0, 2)
        and f.bottom_order == (2, 0, 4, 1, 3)
        and f.pos_top == (1, 0, 2)
        and f.pos_bottom == (1, 3, 0, 4, 2)
        and f.planar == PartitionDiagram([[0], [1, 3], [2, 4, 5], [6, 7]], dom=5, cod=3)
    )
    report("top_order, bottom_order, pos_top, pos_bottom, planar", 5, int(not ok), t)


def main() -> int:
    started = time.perf_counter()
    P, B = PartitionCategory(n), BrauerCategory(n)
    shapes = [(k, size - k) for size in range(9) for k in range(size + 1)]
    check("P(n): all partition diagrams, k + l <= 8", P, (d for k, l in shapes for d in P.hom(k, l)))
    check("B(n): all Brauer diagrams, k + l <= 8", B, (d for k, l in shapes for d in B.hom(k, l)))
    for size in (1, 2, 3):
        BG = BrauerGroodCategory(size)
        check(
            f"BG({size}): all {size}-diagrams, k + l <= 8",
            BG,
            (d for k, l in shapes for d in BG.hom(k, l) if isinstance(d, BrauerGroodDiagram)),
        )
    check_worked_example()
    total = time.perf_counter() - started
    if failures:
        print(f"FAILED: {len(failures)} claims ({total:.1f} s): " + "; ".join(failures))
        return 1
    print(f"planar factorisation and split are exact in range ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
