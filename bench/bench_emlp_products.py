"""Equivariant bases of S_N × O(3) (point clouds): EMLP's numerical basis solve (Finzi, Welling &
Wilson 2021) against catlayer's ``G.basis(k, l)``, N = 4 … 8, with the dimensions checked against
each other and the spans compared.

    python bench/bench_emlp_products.py            # N = 4 … 8, every type pair below
    python bench/bench_emlp_products.py --quick    # N = 4 … 6, four type pairs, no joint solve

EMLP is not a dependency of catlayer. Install it (it pulls jax, objax, optax, scikit-learn, …)
with the ``bench-emlp`` extra, into the venv you run this from:

    pip install -e ".[dev,bench-emlp]"        # emlp 1.0.3 with jax 0.10.x (CPU); six for objax

(EMLP's ``import emlp`` imports objax, which needs ``six`` without declaring it; the extra lists
it.) Without EMLP the script prints catlayer's columns only and says why.

A type (a, b) is V^{⊗a} ⊗ W^{⊗b}, V = R^N permuted by S_N and W = R^3 acted on by O(3); a type
pair (a, b) → (c, d) is the space of equivariant linear maps. Columns, measured in this run:

* ``dim`` — catlayer's ``len(G.basis(k, l))`` for G = S(N) * O(3) (exact, from diagrams; at
  N < a + c some S_N diagrams become dependent and the basis is smaller, e.g. 51 instead of 52
  for (3, 1) → (2, 1) at N = 4); ``EMLP dim`` — the rank EMLP finds; they must agree;
* ``catlayer ms`` — the first call of ``G.basis(k, l)`` with every catlayer cache cleared and the
  group built anew (cold); ``dense ms`` — that plus materialising the basis as a dense
  ``(size_out · size_in, dim)`` matrix (what EMLP returns);
* ``EMLP ⊗ ms`` — EMLP's solve on its mixed-group representation ``V(S(N))**a * V(O(3))**b``
  (its ``DirectProduct`` of representations: each factor's constraints are solved on its own
  and the bases combined by a Kronecker product, EMLP's fast path for products), with EMLP's
  solution cache cleared first: the second of two solves (jax code already compiled for these
  shapes); ``EMLP ⊗ 1st`` — the first, which includes jax's compilation;
  rows whose larger factor representation (N^(a+c) for S_N) exceeds ``--max-factor-size`` (default
  10000, i.e. (3, 1) → (2, 1) at N ≥ 7, where EMLP's iterative solver takes many minutes) are
  skipped (—);
* ``EMLP joint ms`` — EMLP's solve for the single matrix group ``emlp.groups.DirectProduct(S(N),
  O(3))`` acting on V ⊗ W = R^{3N} (its generators are kron(σ, 1) and kron(1, A)), so types
  (k, k) → (l, l) only, and only when the representation's size is at most ``--max-size``:
  what a product costs when its structure is not used;
* ``span`` — the largest residual |B − Q Qᵀ B| over catlayer's dense basis B (columns scaled to
  unit norm) with EMLP's orthonormal Q from the ⊗ solve (≈ 0: the same space).

One small EMLP solve runs first, outside the table (jax start-up); both sides run on the CPU,
jax with its default threads.
Times are wall clock on a shared machine. Writes bench/results/bench_emlp_products.json and
bench/results/bench_emlp_products.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from catlayer import O, S

RESULTS = Path(__file__).resolve().parent / "results"

# (in type, out type) pairs, orders (S_N order, O(3) order).
PAIRS = [
    ((1, 1), (1, 1)),  # a vector per point → a vector per point: 2
    ((1, 1), (0, 1)),  # pooling points' vectors: 1
    ((1, 2), (1, 0)),  # a matrix per point → a scalar per point (its trace): 2
    ((2, 0), (2, 0)),  # pair features: 15 (IGN's 2 → 2)
    ((2, 1), (2, 1)),  # a vector per pair: 15
    ((2, 2), (0, 0)),  # a matrix per pair → invariant: 2
    ((2, 2), (2, 2)),  # a matrix per pair → a matrix per pair: 45
    ((3, 1), (2, 1)),  # 52 (51 at N = 4)
]
QUICK_PAIRS = PAIRS[:4]


# -- catlayer -----------------------------------------------------------------------------------------
def clear_catlayer_caches() -> None:
    """Clear every functools cache in catlayer's loaded symbolic modules (bases, categories,
    tables): a cache lives only in a module that is imported, so the loaded ones are all there is."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("catlayer.") or name.startswith("catlayer.nn") or module is None:
            continue
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def catlayer_row(n: int, k: tuple[int, int], l: tuple[int, int], repeats: int) -> dict:
    best_basis = best_dense = float("inf")
    for _ in range(repeats):
        clear_catlayer_caches()
        group = S(n) * O(3)
        started = time.perf_counter()
        basis = group.basis(k, l)
        basis_s = time.perf_counter() - started
        dense = np.stack([group.functor(d).to_numpy().ravel() for d in basis], axis=1) if basis else None
        best_basis = min(best_basis, basis_s)
        best_dense = min(best_dense, time.perf_counter() - started)
    assert len(basis) == group.dim(k, l)
    return {"dim": len(basis), "catlayer_s": best_basis, "dense_s": best_dense, "dense": dense}


# -- EMLP ---------------------------------------------------------------------------------------------
def load_emlp():
    """(emlp.groups, emlp.reps) or the reason EMLP cannot be used here."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        import emlp.groups
        import emlp.reps
    except Exception as error:  # any import failure (missing jax, objax, six, …) is reported
        return f"EMLP unavailable ({type(error).__name__}: {error}); install it with pip install -e '.[bench-emlp]'"
    import logging

    logging.getLogger().setLevel(logging.ERROR)
    return emlp.groups, emlp.reps


def _tensor(reps, vs, vw, a: int, b: int):
    rep = reps.Scalar
    if a:
        rep = rep * vs**a
    if b:
        rep = rep * vw**b
    return rep


def _dense(q) -> np.ndarray:
    return np.asarray(q.to_dense() if hasattr(q, "to_dense") else q)


def _solve(reps, rep, repeats: int) -> tuple[list[float], np.ndarray]:
    """EMLP's basis of ``rep``, solved ``repeats`` times with its solution cache cleared before
    each (the first call compiles jax code for new shapes, later ones reuse it): the times."""
    times = []
    for _ in range(repeats):
        reps.Rep.solcache.clear()
        started = time.perf_counter()
        q = _dense(rep.equivariant_basis())
        times.append(time.perf_counter() - started)
    return times, q


def factor_size(n: int, k, l) -> int:
    """The size of the largest factor representation EMLP's ⊗ path solves: V^{⊗(a+c)} (n^(a+c))
    for S_N or W^{⊗(b+d)} (3^(b+d)) for O(3)."""
    return max(n ** (k[0] + l[0]), 3 ** (k[1] + l[1]))


def emlp_factored(emlp, n: int, k, l, repeats: int = 1) -> tuple[list[float], np.ndarray]:
    groups, reps = emlp
    vs, vw = reps.V(groups.S(n)), reps.V(groups.O(3))
    return _solve(reps, _tensor(reps, vs, vw, *k) >> _tensor(reps, vs, vw, *l), repeats)


def joint_size(n: int, k, l) -> int | None:
    """The size of the joint representation (V ⊗ W)^{⊗(k+l)}, or None for an unbalanced type."""
    if k[0] != k[1] or l[0] != l[1]:
        return None
    return (3 * n) ** (k[0] + l[0])


def emlp_joint(emlp, n: int, k, l) -> tuple[list[float], np.ndarray]:
    groups, reps = emlp
    v = reps.V(groups.DirectProduct(groups.S(n), groups.O(3)))
    return _solve(reps, v ** k[0] >> v ** l[0], 1)


def span_residual(q: np.ndarray, b: np.ndarray | None) -> float:
    if b is None or q.shape[1] == 0:
        return 0.0
    b = b / np.linalg.norm(b, axis=0)
    return float(np.abs(b - q @ (q.T @ b)).max())


# -- main ---------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="*", help="N values (default 4 … 8, 4 … 6 with --quick)")
    parser.add_argument("--repeats", type=int, default=3, help="catlayer: best of (default 3, 1 with --quick)")
    parser.add_argument("--max-size", type=int, help="largest joint rep solved (default 20000; 0 with --quick)")
    parser.add_argument(
        "--max-factor-size",
        type=int,
        default=10000,
        help="skip EMLP's ⊗ solve when a factor's representation is larger (default 10000: N^5 for N ≥ 7)",
    )
    parser.add_argument("--no-emlp", action="store_true", help="catlayer's columns only")
    args = parser.parse_args()
    sizes = args.sizes or (list(range(4, 7)) if args.quick else list(range(4, 9)))
    pairs = QUICK_PAIRS if args.quick else PAIRS
    repeats = 1 if args.quick else args.repeats
    max_size = args.max_size if args.max_size is not None else (0 if args.quick else 20000)
    emlp = "skipped (--no-emlp)" if args.no_emlp else load_emlp()
    if isinstance(emlp, str):
        print(emlp)
    else:
        emlp_factored(emlp, 2, (1, 1), (1, 1))  # jax warm-up, outside the table
    (S(3) * O(3)).basis((1, 1), (1, 1))  # catlayer warm-up (lazy imports), outside the table

    rows = []
    print(
        f"{'N':>2} {'in → out':>14} {'dim':>4} {'EMLP dim':>8} {'catlayer ms':>11} {'dense ms':>9} {'EMLP ⊗ 1st':>10} "
        f"{'EMLP ⊗ ms':>10} {'ratio':>7} {'EMLP joint ms':>13} {'span':>8}"
    )
    for n in sizes:
        for k, l in pairs:
            row = {"n": n, "in": k, "out": l}
            ours = catlayer_row(n, k, l, repeats)
            dense = ours.pop("dense")
            row.update(ours)
            if not isinstance(emlp, str) and factor_size(n, k, l) > args.max_factor_size:
                row["emlp_skipped"] = f"factor representation of size {factor_size(n, k, l)} > --max-factor-size"
            elif not isinstance(emlp, str):
                times, q = emlp_factored(emlp, n, k, l, 2)
                row["emlp_first_s"], row["emlp_s"] = times[0], min(times)
                row["emlp_dim"] = int(q.shape[1])
                row["span_residual"] = span_residual(q, dense)
                size = joint_size(n, k, l)
                if size is not None and size <= max_size:
                    (row["emlp_joint_s"],), qj = emlp_joint(emlp, n, k, l)
                    row["emlp_joint_dim"] = int(qj.shape[1])
            rows.append(row)
            emlp_dim = str(row.get("emlp_dim", "—"))
            if "emlp_joint_dim" in row and row["emlp_joint_dim"] != row["dim"]:
                emlp_dim += f"/{row['emlp_joint_dim']}!"
            joint = f"{row['emlp_joint_s'] * 1e3:13.0f}" if "emlp_joint_s" in row else f"{'—':>13}"
            emlp_ms = (
                f"{row['emlp_first_s'] * 1e3:10.0f} {row['emlp_s'] * 1e3:10.0f}"
                if "emlp_s" in row
                else f"{'—':>10} {'—':>10}"
            )
            ratio = f"{row['emlp_s'] / row['dense_s']:6.0f}x" if "emlp_s" in row else f"{'—':>7}"
            span = f"{row['span_residual']:8.1e}" if "span_residual" in row else f"{'—':>8}"
            print(
                f"{n:2d} {str(k) + '→' + str(l):>14} {row['dim']:4d} {emlp_dim:>8} {row['catlayer_s'] * 1e3:11.2f} "
                f"{row['dense_s'] * 1e3:9.2f} {emlp_ms} {ratio} {joint} {span}",
                flush=True,
            )
    mismatched = [
        r
        for r in rows
        if ("emlp_dim" in r and r["dim"] != r["emlp_dim"]) or r.get("emlp_joint_dim", r["dim"]) != r["dim"]
    ]
    if not isinstance(emlp, str):
        print(
            f"dimensions: {'all agree' if not mismatched else f'{len(mismatched)} MISMATCHES'}; "
            f"largest span residual {max(r.get('span_residual', 0.0) for r in rows):.1e}"
        )
    print("ratio: EMLP ⊗ (second solve) / catlayer dense basis; catlayer ms: best of", repeats, "cold calls")
    RESULTS.mkdir(exist_ok=True)
    meta = {"machine": platform.machine(), "quick": args.quick, "repeats": repeats, "max_size": max_size}
    if isinstance(emlp, str):
        meta["emlp"] = emlp
    else:
        import emlp as emlp_package
        import jax

        meta.update(emlp=emlp_package.__version__, jax=jax.__version__)
    (RESULTS / "bench_emlp_products.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    plot(rows, RESULTS / "bench_emlp_products.png")


def plot(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no plot)")
        return
    pairs = list(dict.fromkeys((tuple(r["in"]), tuple(r["out"])) for r in rows))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (k, l) in enumerate(pairs):
        mine = [r for r in rows if (tuple(r["in"]), tuple(r["out"])) == (k, l)]
        c = colours[i % len(colours)]
        label = f"{k}→{l}"
        ax.plot([r["n"] for r in mine], [r["dense_s"] * 1e3 for r in mine], "o-", color=c, label=f"catlayer {label}")
        if any("emlp_s" in r for r in mine):
            ax.plot(
                [r["n"] for r in mine if "emlp_s" in r],
                [r["emlp_s"] * 1e3 for r in mine if "emlp_s" in r],
                "s--",
                color=c,
                label=f"EMLP {label}",
            )
    ax.set_yscale("log")
    ax.set_xlabel("N (S_N × O(3))")
    ax.set_ylabel("basis time (ms, wall; catlayer: dense basis, cold)")
    ax.set_title("equivariant bases of S_N × O(3): catlayer (—) vs EMLP (--)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
