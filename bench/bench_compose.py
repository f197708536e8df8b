"""Composition throughput: the public ``compose``, hom enumeration and the numba
structure-constant tables, against the targets of issue 2 and SageMath's figures.

SageMath (passagemath) was measured in the issue, not here (Sage is not installed): about
6 µs per partition-algebra product, and about 100 s for the full P_4(n) table (4,140² products)
on the same 2-core machine.

Usage: ``python bench/bench_compose.py [--quick]``. ``--quick`` takes one repeat per row and
skips the cold-compile subprocess and B_5.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import sympy

from catlayer import BrauerCategory, PartitionCategory
from catlayer.backend import multiplication_table

SAGE_PER_PRODUCT_S = 6e-6  # issue 2's measurement, passagemath on this machine
SAGE_P4_TABLE_S = 100.0  # issue 2's measurement


def best_of(repeats: int, function) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def fresh_process_table_time(k: int, cache_dir: str | None) -> float:
    """Seconds for the first P_k table in a new process (compile, or load from the cache)."""
    code = textwrap.dedent(
        f"""
        import time
        from catlayer import PartitionCategory
        from catlayer.backend import multiplication_table
        P = PartitionCategory(5)
        P.hom({k}, {k})
        started = time.perf_counter()
        multiplication_table(P, {k})
        print(time.perf_counter() - started)
        """
    )
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat per row, skip slow rows")
    args = parser.parse_args()
    repeats = 1 if args.quick else 5
    rows: list[tuple[str, str, str, str]] = []
    n = sympy.Symbol("n")

    # 1. public compose on all pairs of (3, 3)-diagrams
    for label, category in (("P(n), n symbolic", PartitionCategory(n)), ("P(5)", PartitionCategory(5))):
        hom = category.hom(3, 3)
        compose = category.compose

        def all_pairs(hom=hom, compose=compose):
            for f in hom:
                for g in hom:
                    compose(f, g)

        seconds = best_of(repeats, all_pairs)
        per_call = seconds / len(hom) ** 2
        rows.append(
            (
                f"compose, all 203² (3,3) pairs, {label}",
                f"{seconds:.3f} s ({per_call * 1e6:.2f} µs/call)",
                "< 0.5 s (≤ 10 µs/call)",
                f"{'met' if seconds < 0.5 else 'MISSED'}; Sage ≈ {SAGE_PER_PRODUCT_S * 1e6:.0f} µs/product "
                f"(×{SAGE_PER_PRODUCT_S / per_call:.1f})",
            )
        )

    # 2. hom(4, 4) enumeration, uncached (a fresh category each time)
    seconds = best_of(repeats, lambda: PartitionCategory(5).hom(4, 4))
    rows.append(
        (
            "hom(4, 4) enumeration (4,140 diagrams)",
            f"{seconds * 1e3:.1f} ms",
            "< 0.1 s",
            "met" if seconds < 0.1 else "MISSED",
        )
    )

    # 3. numba multiplication tables
    P, B = PartitionCategory(5), BrauerCategory(5)
    for k in (3, 4):
        P.hom(k, k)
    if not args.quick:
        with tempfile.TemporaryDirectory() as empty_cache:
            cold = fresh_process_table_time(4, empty_cache)
        cached = fresh_process_table_time(4, None)
        rows.append(
            (
                "P_4 table, new process, empty numba cache",
                f"{cold:.2f} s",
                "≤ 5 s",
                f"{'met' if cold <= 5 else 'MISSED'}; includes JIT compile",
            )
        )
        rows.append(
            (
                "P_4 table, new process, numba cache on disk",
                f"{cached:.2f} s",
                "≤ 5 s",
                "met" if cached <= 5 else "MISSED",
            )
        )
    multiplication_table(P, 1)  # compile (or load) once, so the rows below are warm
    tables = [("P_3", P, 3), ("P_4", P, 4), ("B_4", B, 4)] + ([] if args.quick else [("B_5", B, 5)])
    for name, category, k in tables:
        category.hom(k, k)
        seconds = best_of(
            min(repeats, 3) if name == "P_4" else repeats,
            lambda category=category, k=k: multiplication_table(category, k),
        )
        size = len(category.hom(k, k))
        target, verdict = "", ""
        if name == "P_4":
            target = "≤ 5 s"
            verdict = (
                f"{'met' if seconds <= 5 else 'MISSED'}; Sage ≈ {SAGE_P4_TABLE_S:.0f} s "
                f"(×{SAGE_P4_TABLE_S / seconds:.0f})"
            )
        rows.append(
            (
                f"{name} table, warm ({size:,}² = {size * size:,} products)",
                f"{seconds:.3f} s ({seconds / size**2 * 1e9:.0f} ns/product)",
                target,
                verdict,
            )
        )

    header = ("what", "measured", "target", "verdict")
    widths = [max(len(r[i]) for r in [*rows, header]) for i in range(4)]
    print(
        f"catlayer compose benchmark ({'quick' if args.quick else f'best of {repeats}'}; "
        f"{os.cpu_count()} CPUs; Sage figures are issue 2's measurements)"
    )
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
