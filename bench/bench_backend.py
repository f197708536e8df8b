"""Benchmark of the numba backend (issue 4): matrix-free application vs dense matrices.

    python bench/bench_backend.py            # full run (a few minutes)
    python bench/bench_backend.py --quick    # short run

Prints three tables and writes ``bench/results/bench_backend.json`` and
``bench/results/bench_backend.png`` (log–log time vs n):

1. one diagram, ``apply`` vs ``x @ M.T`` with the dense n^l × n^k matrix, for
   (k, l) ∈ {(2, 2), (3, 3), (2, 4)}, n from 4 until the dense matrix no longer fits the
   dense budget (``--dense-gib``, checked with the library's memory guard);
2. the whole S_n layer (``apply_layer``) vs the per-diagram path (``apply`` per diagram, then a
   batched matmul per diagram) vs the dense layer matrix, and the layer's ratio to the
   *irreducible matmul*: a plain ``np.matmul`` of shape (c_out, c_in·D) × (batch, c_in·D, n^s),
   with s the largest number of slots (propagating blocks) and D the number of diagrams that
   have s of them — the channel mixing on the largest reduced tensors, which no
   implementation can skip;
3. the fitted exponent p of time ∝ n^p for k = l = 3.

All times are the best (``--stat median``: the median) of ``--repeats`` warm runs (kernels compiled first); the compared
implementations are timed round-robin in the same run so that ratios are side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace


def _threads_from_argv(argv) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return None


# Thread counts must be fixed before numpy (OpenBLAS) and numba start their pools.
_THREADS = _threads_from_argv(sys.argv[1:])
if _THREADS is not None:
    for _key in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_key] = _THREADS

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba  # noqa: E402

from catlayer import PartitionCategory, PartitionDiagram  # noqa: E402
from catlayer.backend import (  # noqa: E402
    AllocationTooLarge,
    apply,
    apply_layer,
    check_size,
    dense_layer_matrix,
    dense_matrix,
    layer_plan,
)

RESULTS = Path(__file__).resolve().parent / "results"


def group(n: int):
    try:
        from catlayer import S

        return S(n)
    except ImportError:  # the groups module is optional for this benchmark
        return SimpleNamespace(n=n, family="partition")


#: How :func:`best_of` summarises the timed rounds ("best" or "median"; set by ``--stat``).
STAT = "best"


def best_of(functions: dict, repeats: int) -> dict:
    """Best (or, with ``--stat median``, median) wall time of each function, timed round-robin
    after one warm-up call each, so that compared functions see the same machine load."""
    for f in functions.values():
        f()
    samples: dict = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            start = time.perf_counter()
            f()
            samples[name].append(time.perf_counter() - start)
    summary = np.median if STAT == "median" else min
    return {name: float(summary(values)) for name, values in samples.items()}


def dense_fits(num_bytes: int, budget: int) -> bool:
    try:
        check_size(num_bytes, "a dense matrix for the benchmark", budget=budget)
    except AllocationTooLarge:
        return False
    return True


def representative(k: int, l: int) -> PartitionDiagram:
    """A diagram that moves every input entry: a permutation for k = l, else propagating
    lines plus a cap (output axes 2, 3 carry the identity matrix)."""
    if (k, l) == (2, 2):
        return PartitionDiagram([[0, 3], [1, 2]], dom=2, cod=2)  # transpose
    if (k, l) == (3, 3):
        return PartitionDiagram([[0, 4], [1, 5], [2, 3]], dom=3, cod=3)  # cyclic shift
    return PartitionDiagram([[0, 5], [1, 4], [2, 3]], dom=2, cod=4)  # transpose ⊗ cap


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1e3:9.3f}"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:7.1f}"


def single_diagram_table(args, dtype, budget) -> list[dict]:
    rows = []
    ns = {(2, 2): [4, 8, 16, 32, 64, 128, 256], (3, 3): [4, 8, 12, 16, 24, 32], (2, 4): [4, 8, 12, 16, 24, 32]}
    if args.quick:
        ns = {(2, 2): [4, 16, 64], (3, 3): [4, 8, 16], (2, 4): [4, 8, 16]}
    batch = args.batch
    print(f"\n1. one diagram: apply vs dense x @ M.T  (batch {batch}, {np.dtype(dtype).name}, times in ms)")
    print(f"{'(k,l)':>6} {'n':>4} {'apply':>9} {'dense':>9} {'dense/apply':>11}")
    for (k, l), n_values in ns.items():
        d = representative(k, l)
        for n in n_values:
            G = group(n)
            x = np.random.default_rng(0).standard_normal((batch,) + (n,) * k).astype(dtype)
            functions = {"apply": lambda G=G, d=d, x=x: apply(G, d, x)}
            if dense_fits(n ** (k + l) * np.dtype(dtype).itemsize, budget):
                try:
                    M = dense_matrix(G, d, dtype=dtype)
                except AllocationTooLarge:  # the library's own budget (free memory) is smaller
                    M = None
                if M is not None:
                    flat = x.reshape(batch, -1)
                    functions["dense"] = lambda M=M, flat=flat: flat @ M.T
            times = best_of(functions, args.repeats)
            dense = times.get("dense")
            rows.append({"k": k, "l": l, "n": n, "batch": batch, "apply_s": times["apply"], "dense_s": dense})
            print(f"{(k, l)!s:>6} {n:>4} {fmt(times['apply'])} {fmt(dense)} {ratio(dense, times['apply']):>11}")
            M = None
    return rows


def per_diagram_layer(G, diagrams, W, X):
    """The layer without shared work: apply each diagram to every (batch, channel), then mix
    its channels with one batched matmul, accumulating the output."""
    batch, c_in = X.shape[:2]
    flat = X.reshape((batch * c_in, *X.shape[2:]))
    Y = None
    for t, d in enumerate(diagrams):
        term = apply(G, d, flat).reshape(batch, c_in, -1)
        part = np.matmul(W[:, :, t], term)
        Y = part if Y is None else Y.__iadd__(part)
    return Y.reshape((batch, W.shape[0]) + (G.n,) * diagrams[0].cod)


def irreducible_shape(G, diagrams, c_in, c_out, batch):
    plan = layer_plan(G, diagrams)
    slots = plan.max_slots
    D = sum(1 for t in range(len(plan)) if plan.reductions[plan.reduction_of[t]].num_slots == slots)
    return (c_out, c_in * D), (batch, c_in * D, G.n**slots), D


def layer_row(G, k, n, batch, c_in, c_out, dtype, budget, repeats, with_dense=True, with_per_diagram=True):
    diagrams = PartitionCategory(n).hom(k, k)
    rng = np.random.default_rng(1)
    W = rng.standard_normal((c_out, c_in, len(diagrams))).astype(dtype)
    X = rng.standard_normal((batch, c_in) + (n,) * k).astype(dtype)
    w_shape, s_shape, D = irreducible_shape(G, diagrams, c_in, c_out, batch)
    Wm = rng.standard_normal(w_shape).astype(dtype)
    Sm = rng.standard_normal(s_shape).astype(dtype)
    functions = {"layer": lambda: apply_layer(G, diagrams, W, X), "irreducible": lambda: np.matmul(Wm, Sm)}
    if with_per_diagram:
        functions["per_diagram"] = lambda: per_diagram_layer(G, diagrams, W, X)
    dense_bytes = c_out * c_in * n ** (2 * k) * np.dtype(dtype).itemsize
    M = None
    if with_dense and dense_fits(dense_bytes, budget):
        try:
            M = dense_layer_matrix(G, diagrams, W)
        except AllocationTooLarge:  # the library's own budget (free memory) is smaller
            M = None
    if M is not None:
        flat = X.reshape(batch, -1)
        functions["dense"] = lambda: flat @ M.T
    times = best_of(functions, repeats)
    return {
        "k": k,
        "n": n,
        "batch": batch,
        "c_in": c_in,
        "c_out": c_out,
        "diagrams": len(diagrams),
        "irreducible_shape": [list(w_shape), list(s_shape)],
        "D": D,
        "layer_s": times["layer"],
        "per_diagram_s": times.get("per_diagram"),
        "dense_s": times.get("dense"),
        "irreducible_s": times["irreducible"],
    }


def print_layer_row(r):
    print(
        f"{r['k']:>2} {r['n']:>4} {r['batch']:>5} {r['c_in']:>3}→{r['c_out']:<3} {r['diagrams']:>4} "
        f"{fmt(r['layer_s'])} {fmt(r['per_diagram_s'])} {fmt(r['dense_s'])} {fmt(r['irreducible_s'])} "
        f"{ratio(r['layer_s'], r['irreducible_s']):>9} {ratio(r['per_diagram_s'], r['layer_s']):>9} "
        f"{ratio(r['dense_s'], r['layer_s']):>9}"
    )


LAYER_HEADER = (
    f"{'k':>2} {'n':>4} {'batch':>5} {'c_in→out':>7} {'#d':>4} {'layer':>9} {'per-diag':>9} {'dense':>9} "
    f"{'irreduc.':>9} {'lay/irr':>9} {'per/lay':>9} {'den/lay':>9}"
)


def layer_table(args, dtype, budget) -> list[dict]:
    configs = [(2, n, 32, 32, 32) for n in (8, 16, 32, 64)]
    configs += [(3, n, 16, 2, 2) for n in (8, 12, 16, 24)]
    configs += [(3, n, 32, 32, 32) for n in (8, 16, 24)]
    if args.quick:
        configs = [(2, 16, 32, 32, 32), (2, 64, 32, 32, 32), (3, 8, 16, 2, 2), (3, 16, 16, 2, 2)]
    print(f"\n2. whole S_n layer (k = l), {np.dtype(dtype).name}, times in ms")
    print(LAYER_HEADER)
    rows = []
    for k, n, batch, c_in, c_out in configs:
        r = layer_row(
            group(n),
            k,
            n,
            batch,
            c_in,
            c_out,
            dtype,
            budget,
            args.repeats,
            with_dense=not args.layer_only,
            with_per_diagram=not args.layer_only,
        )
        print_layer_row(r)
        rows.append(r)
    return rows


def fit_exponent(ns, times) -> float:
    return float(np.polyfit(np.log(ns), np.log(times), 1)[0])


def exponent_table(args, dtype, budget) -> dict:
    ns = [12, 16, 24, 32, 40, 48] if not args.quick else [8, 12, 16, 20]
    per_diagram_up_to = 24  # beyond, the per-diagram path takes seconds per call
    batch, c = 16, 16
    print(f"\n3. time vs n for k = l = 3 (batch {batch}, channels {c}→{c}, {np.dtype(dtype).name}), times in ms")
    print(LAYER_HEADER)
    rows = []
    for n in ns:
        r = layer_row(
            group(n),
            3,
            n,
            batch,
            c,
            c,
            dtype,
            budget,
            max(3, args.repeats // 2),
            with_dense=False,
            with_per_diagram=n <= per_diagram_up_to,
        )
        print_layer_row(r)
        rows.append(r)
    fit_from = [r for r in rows if r["n"] >= (16 if not args.quick else 12)]
    exponents = {}
    for key in ("layer_s", "per_diagram_s", "irreducible_s"):
        points = [(r["n"], r[key]) for r in fit_from if r[key] is not None]
        exponents[key] = fit_exponent([p[0] for p in points], [p[1] for p in points])
    print(
        f"fitted exponent p (time ∝ n^p, least squares over n = {[r['n'] for r in fit_from]}): "
        + ", ".join(f"{key[:-2]} {p:.2f}" for key, p in exponents.items())
    )
    return {"rows": rows, "exponents": exponents, "fit_n": [r["n"] for r in fit_from]}


def plot(single, layers, exponent, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    ax = axes[0]
    for k, l in sorted({(r["k"], r["l"]) for r in single}):
        rows = [r for r in single if (r["k"], r["l"]) == (k, l)]
        (line,) = ax.loglog([r["n"] for r in rows], [r["apply_s"] for r in rows], "o-", label=f"apply ({k},{l})")
        dense = [r for r in rows if r["dense_s"] is not None]
        ax.loglog(
            [r["n"] for r in dense],
            [r["dense_s"] for r in dense],
            "x--",
            color=line.get_color(),
            label=f"dense ({k},{l})",
        )
    ax.set_xlabel("n")
    ax.set_ylabel("time [s]")
    ax.set_title("one diagram")
    ax.legend(fontsize=7)
    ax = axes[1]
    rows = exponent["rows"]
    for key, style in (("layer_s", "o-"), ("per_diagram_s", "s--"), ("irreducible_s", "^:")):
        label = f"{key[:-2]} (p = {exponent['exponents'][key]:.2f})"
        points = [r for r in rows if r[key] is not None]
        ax.loglog([r["n"] for r in points], [r[key] for r in points], style, label=label)
    dense = [r for r in layers if r["k"] == 3 and r["dense_s"] is not None]
    dense = [r for r in dense if r["c_in"] == dense[0]["c_in"]] if dense else []
    if dense:
        ax.loglog(
            [r["n"] for r in dense], [r["dense_s"] for r in dense], "x--", label=f"dense (channels {dense[0]['c_in']})"
        )
        ax.loglog(
            [r["n"] for r in dense], [r["layer_s"] for r in dense], "o-", label=f"layer (channels {dense[0]['c_in']})"
        )
    ax.set_xlabel("n")
    ax.set_title("S_n layer, k = l = 3 (203 diagrams)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (best of)")
    parser.add_argument("--batch", type=int, default=8, help="batch of the single-diagram table")
    parser.add_argument("--dense-gib", type=float, default=4.0, help="largest dense matrix to build, GiB")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for numba and BLAS (sets NUMBA/OPENBLAS/OMP_NUM_THREADS); default: their own defaults",
    )
    parser.add_argument(
        "--layer-only", action="store_true", help="table 2 times only the layer and the irreducible matmul"
    )
    parser.add_argument("--stat", default="best", choices=["best", "median"], help="summary of the timed rounds")
    parser.add_argument(
        "--tables", default="1,2,3", help="comma-separated tables to run (1 single diagram, 2 layer, 3 exponent)"
    )
    args = parser.parse_args(argv)
    global STAT
    STAT = args.stat
    tables = {int(t) for t in args.tables.split(",")}
    if args.repeats is None:
        args.repeats = 5 if args.quick else 9
    dtype = np.dtype(args.dtype).type
    budget = int(args.dense_gib * 2**30)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"catlayer backend benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads), numpy {np.__version__}, "
        f"load average {load}"
    )
    started = time.perf_counter()
    single = single_diagram_table(args, dtype, budget) if 1 in tables else []
    layers = layer_table(args, dtype, budget) if 2 in tables else []
    exponent = exponent_table(args, dtype, budget) if 3 in tables else None
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "dtype": args.dtype,
        "quick": args.quick,
        "repeats": args.repeats,
        "stat": args.stat,
        "layer_only": args.layer_only,
        "tables": sorted(tables),
        "cpus": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "env": {key: os.environ.get(key) for key in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
        "load_average_start": load,
        "load_average_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "single_diagram": single,
        "layer": layers,
        "exponent": exponent,
        "seconds": time.perf_counter() - started,
    }
    suffix = ("_quick" if args.quick else "") + (f"_threads{args.threads}" if args.threads else "")
    if tables != {1, 2, 3}:
        suffix += "_tables" + "".join(str(t) for t in sorted(tables))
    json_path = RESULTS / f"bench_backend{suffix}.json"
    json_path.write_text(json.dumps(result, indent=2))
    png_path = RESULTS / f"bench_backend{suffix}.png"
    plotted = exponent is not None and bool(single) and plot(single, layers, exponent, png_path)
    print(f"\nwrote {json_path}" + (f" and {png_path}" if plotted else "") + f" in {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
