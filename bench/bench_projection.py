"""Projection onto Hom_G: catlayer's matrix-free ``G.project`` against a projector built from the
dense basis by an SVD (the approach of EMLP, Finzi et al. 2021, which solves for the equivariant
basis numerically and projects with Q·Qᵀ).

The baseline here starts from the dense diagram basis (n^(k+l) × dim, the images of
``G.basis(k, l)``), so it skips EMLP's own constraint solve: its setup time is a lower bound on
EMLP's. Rows: S_n and O(n), (k, l) = (2, 2) and (3, 3), n = 4, 8, 16. Columns, all measured in
this run on the same random float64 matrix M:

* ``ours`` — ``G.project(M, k, l)`` warm (best of the repeats; the Gram / orbit tables are cached
  per (G, k, l)), and ``ours cold`` — the first call, building those tables;
* ``svd setup`` — dense basis plus its SVD (an orthonormal basis Q of Hom_G); ``svd apply`` —
  Q·(Qᵀ·vec M);
* ``ratio`` — (svd setup + svd apply) / ours cold, and svd apply / ours (warm);
* ``max diff`` — the largest |ours − svd| entry.

The baseline is skipped ("—") when its dense basis would exceed ``--budget`` bytes.

Usage: ``python bench/bench_projection.py [--quick] [--budget BYTES]``. ``--quick`` takes one
repeat per row and a 256 MiB budget. Writes bench/results/bench_projection.json and .png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from harness import print_head

from catlayer import O, S
from catlayer.projection import _gram, _orbit_tables

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(repeats: int, function):
    best, value = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - started)
    return best, value


def svd_projector(group, k: int, l: int):
    basis = np.stack([group.functor(d).to_numpy().ravel() for d in group.basis(k, l)], axis=1)
    u, s, _ = np.linalg.svd(basis, full_matrices=False)
    return u[:, s > s.max() * 1e-10]


def run_row(group, k: int, l: int, repeats: int, budget: int) -> dict:
    n = group.n
    rng = np.random.default_rng(0)
    M = rng.standard_normal((n**l, n**k))
    dim = len(group.basis(k, l))
    _gram.cache_clear()
    _orbit_tables.cache_clear()
    started = time.perf_counter()
    ours = group.project(M, k, l)
    cold = time.perf_counter() - started
    warm, _ = best_of(repeats, lambda: group.project(M, k, l))
    row = {"group": repr(group), "k": k, "l": l, "n": n, "dim": dim, "ours": warm, "ours_cold": cold}
    dense_bytes = 8 * n ** (k + l) * dim
    if dense_bytes > budget:
        row.update(svd_setup=None, svd_apply=None, max_diff=None, skipped=f"dense basis {dense_bytes / 2**20:.0f} MiB")
        return row
    setup, q = best_of(1, lambda: svd_projector(group, k, l))
    apply, theirs = best_of(repeats, lambda: (q @ (q.T @ M.ravel())).reshape(M.shape))
    row.update(svd_setup=setup, svd_apply=apply, max_diff=float(np.abs(theirs - ours).max()), skipped=None)
    return row


def fmt(seconds) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1e3:9.2f} ms" if seconds < 1 else f"{seconds:9.2f} s "


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'group':>6} {'k,l':>4} {'n':>3} {'dim':>4} | {'ours':>12} {'ours cold':>12} | {'svd setup':>12} "
        f"{'svd apply':>12} | {'ratio total':>11} {'ratio apply':>11} | max diff"
    )
    print_head(head)
    for r in rows:
        if r["skipped"]:
            ratio_total = ratio_apply = "—"
            diff = f"skipped: {r['skipped']}"
        else:
            ratio_total = f"{(r['svd_setup'] + r['svd_apply']) / r['ours_cold']:10.1f}x"
            ratio_apply = f"{r['svd_apply'] / r['ours']:10.2f}x"
            diff = f"{r['max_diff']:.1e}"
        print(
            f"{r['group'].split('(')[0]:>6} {r['k']},{r['l']:<2} {r['n']:>3} {r['dim']:>4} | {fmt(r['ours']):>12} "
            f"{fmt(r['ours_cold']):>12} | {fmt(r['svd_setup']):>12} {fmt(r['svd_apply']):>12} | {ratio_total:>11} "
            f"{ratio_apply:>11} | {diff}"
        )


def plot(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, family in zip(axes, ("S", "O"), strict=True):
        for k, style in ((2, "-"), (3, "--")):
            mine = [r for r in rows if r["group"].startswith(family + "(") and r["k"] == k]
            ns = [r["n"] for r in mine]
            ax.plot(ns, [r["ours"] for r in mine], "o" + style, color="C0", label=f"catlayer project ({k},{k})")
            ax.plot(ns, [r["ours_cold"] for r in mine], "s" + style, color="C2", label=f"catlayer cold ({k},{k})")
            done = [r for r in mine if not r["skipped"]]
            ax.plot(
                [r["n"] for r in done],
                [r["svd_setup"] + r["svd_apply"] for r in done],
                "x" + style,
                color="C3",
                label=f"dense basis + SVD ({k},{k})",
            )
        ax.set(xscale="log", yscale="log", xlabel="n", title=f"{family}_n" if family == "S" else "O(n)")
        ax.set_xticks([4, 8, 16], ["4", "8", "16"])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat per row, 256 MiB budget")
    parser.add_argument("--budget", type=int, default=None, help="largest dense basis (bytes) for the baseline")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    budget = args.budget if args.budget is not None else (2**28 if args.quick else 2**31)
    rows = []
    for make in (S, O):
        for k in (2, 3):
            for n in (4, 8, 16):
                rows.append(run_row(make(n), k, k, repeats, budget))
    print_table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_projection.json").write_text(json.dumps(rows, indent=1))
    plot(rows, args.out / "bench_projection.png")


if __name__ == "__main__":
    main()
