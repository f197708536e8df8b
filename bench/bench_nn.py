"""Benchmark catlayer.nn.EquivariantLinear against the dense matrix, a conventional
"15 full maps + one einsum" S_n layer, and the irreducible channel-mixing matmul.

    python bench/bench_nn.py            # full run (a few minutes)
    python bench/bench_nn.py --quick    # smaller, fewer repetitions

Prints tables and writes bench/results/bench_nn.json and bench/results/bench_nn.png.
All candidates of a row are timed in the same run, interleaved round by round; the reported
time is the best round (the JSON also holds the medians). No assertions: targets are reported, not enforced.

Candidates (S_n, k = l = 2, batch 32, channels c → c, float32):

* layer  — EquivariantLinear (plan executed with torch ops: shared reductions, one matmul per
  group of diagrams on the reduced tensors, diagonal expansions);
* dense  — (a) torch.matmul with the materialised (c·n²) × (c·n²) layer matrix (skipped when it
  would need more than --dense-budget-gb);
* full15 — (b) the conventional layer (as in Maron et al.'s 2→2 graph networks): compute all 15
  basis operations as full n × n maps, stack them, mix channels with one einsum;
* irreducible — (c) one plain matmul of the shape of the channel mixing on the largest reduced
  tensors: (c_out, D_e·c_in) @ (batch, D_e·c_in, n^r).

k = l = 3 (n ∈ {8, 16, 24}, batch 32, channels 1 → 1, 203 diagrams) against dense.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch

from catlayer import S
from catlayer.nn import EquivariantLinear
from catlayer.nn.executor import mixing_shapes

RESULTS = Path(__file__).resolve().parent / "results"


class Full15(torch.nn.Module):
    """The conventional S_n 2 → 2 layer: 15 full n × n maps per channel, then one einsum."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(c_out, c_in, 15) / math.sqrt(15 * c_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        diag = torch.diagonal(x, 0, -2, -1)  # (B, c, n)
        trace = diag.sum(-1, keepdim=True)  # (B, c, 1)
        rows = x.sum(-1)  # (B, c, n): Σ_j x[i, j]
        cols = x.sum(-2)  # (B, c, n): Σ_i x[i, j]
        total = rows.sum(-1, keepdim=True)  # (B, c, 1)
        full = (x.shape[0], x.shape[1], n, n)
        ops = [
            torch.diag_embed(diag),
            torch.diag_embed(trace.expand(-1, -1, n)),
            torch.diag_embed(rows),
            torch.diag_embed(cols),
            torch.diag_embed(total.expand(-1, -1, n)),
            cols.unsqueeze(-2).expand(full),
            rows.unsqueeze(-2).expand(full),
            cols.unsqueeze(-1).expand(full),
            rows.unsqueeze(-1).expand(full),
            x,
            x.transpose(-2, -1),
            diag.unsqueeze(-2).expand(full),
            diag.unsqueeze(-1).expand(full),
            trace.unsqueeze(-1).expand(full),
            total.unsqueeze(-1).expand(full),
        ]
        stacked = torch.stack(ops, dim=2)  # (B, c, 15, n, n)
        return torch.einsum("ocd,bcdij->boij", self.weight, stacked)


class Dense(torch.nn.Module):
    def __init__(self, layer: EquivariantLinear):
        super().__init__()
        linear = layer.to_dense()
        self.weight = torch.nn.Parameter(linear.weight.detach().clone())
        self.bias = torch.nn.Parameter(linear.bias.detach().clone())
        self.out_shape = (layer.out_channels,) + (layer.n,) * layer.out_order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(x.reshape(x.shape[0], -1), self.weight.t()) + self.bias
        return y.reshape((x.shape[0], *self.out_shape))


class Irreducible(torch.nn.Module):
    """One plain matmul (c_out, K) @ (B, K, N) on a pre-stacked input of that shape
    (``torch.matmul``, or ``torch.bmm`` against the expanded weight: both are timed and the
    faster one is reported)."""

    def __init__(self, c_out: int, width: int, use_bmm: bool = False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(c_out, width) / math.sqrt(width))
        self.use_bmm = use_bmm

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        if self.use_bmm:
            return torch.bmm(self.weight.expand(stacked.shape[0], -1, -1), stacked)
        return torch.matmul(self.weight, stacked)


def _forward(module, x):
    def run():
        with torch.no_grad():
            module(x)

    return run


def _forward_backward(module, x):
    x = x.detach().requires_grad_(True)
    grad = torch.randn_like(module(x).detach())

    def run():
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x).backward(grad)

    return run


def _time_interleaved(candidates: dict, rounds: int, min_time: float) -> dict[str, dict[str, float]]:
    """Per candidate, the minimum and the median over ``rounds`` of the mean time per call
    (each round runs every candidate for about ``min_time`` seconds, candidates interleaved).
    The minimum is the figure least disturbed by other processes on a shared machine."""
    reps = {}
    for name, fn in candidates.items():
        fn()
        start = time.perf_counter()
        fn()
        once = max(time.perf_counter() - start, 1e-6)
        reps[name] = max(1, int(min_time / once))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(reps[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / reps[name])
    return {name: {"min": min(v), "median": statistics.median(v)} for name, v in samples.items()}


def _fmt(seconds: float | None) -> str:
    return "      —" if seconds is None else f"{seconds * 1e3:7.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "    —" if a is None or b is None else f"{a / b:5.2f}"


def bench_k2(ns, channels, batch, rounds, min_time, dense_budget):
    rows = []
    print("\nS_n, k = l = 2, batch", batch, "float32; times in ms (best of", rounds, "interleaved rounds)")
    header = (
        f"{'n':>3} {'c':>3} {'mode':>8} | {'layer':>7} {'dense':>7} {'full15':>7} {'irred.':>7} |"
        f" {'full15/layer':>12} {'dense/layer':>11} {'layer/irred.':>12}"
    )
    print(header)
    print("-" * len(header))
    for c in channels:
        for n in ns:
            torch.manual_seed(0)
            layer = EquivariantLinear(S(n), 2, 2, c, c)
            x = torch.randn(batch, c, n, n)
            full15 = Full15(c, c)
            width, size = max(mixing_shapes(layer._program, c), key=lambda shape: shape[0] * shape[1])
            irreducible = Irreducible(c, width)
            irreducible_bmm = Irreducible(c, width, use_bmm=True)
            stacked = torch.randn(batch, width, size)
            dense = None
            dense_bytes = (c * n * n) ** 2 * 4
            if dense_bytes <= dense_budget:
                dense = Dense(layer)
            for mode, make in (("fwd", _forward), ("fwd+bwd", _forward_backward)):
                candidates = {
                    "layer": make(layer, x),
                    "full15": make(full15, x),
                    "irreducible": make(irreducible, stacked),
                    "irreducible_bmm": make(irreducible_bmm, stacked),
                }
                if dense is not None:
                    candidates["dense"] = make(dense, x)
                stats = _time_interleaved(candidates, rounds, min_time)
                times = {name: value["min"] for name, value in stats.items()}
                times["irreducible"] = min(times["irreducible"], times.pop("irreducible_bmm"))
                row = {
                    "n": n,
                    "channels": c,
                    "batch": batch,
                    "mode": mode,
                    "stats": stats,
                    "layer_s": times["layer"],
                    "dense_s": times.get("dense"),
                    "full15_s": times["full15"],
                    "irreducible_s": times["irreducible"],
                    "irreducible_shape": [c, width, batch, size],
                    "dense_matrix_bytes": dense_bytes,
                }
                rows.append(row)
                print(
                    f"{n:>3} {c:>3} {mode:>8} | {_fmt(row['layer_s'])} {_fmt(row['dense_s'])} {_fmt(row['full15_s'])}"
                    f" {_fmt(row['irreducible_s'])} | {_ratio(row['full15_s'], row['layer_s']):>12}"
                    f" {_ratio(row['dense_s'], row['layer_s']):>11} {_ratio(row['layer_s'], row['irreducible_s']):>12}"
                )
            del dense
    return rows


def bench_k3(ns, c, batch, rounds, min_time, dense_budget):
    rows = []
    print(f"\nS_n, k = l = 3, batch {batch}, channels {c} → {c}, float32; times in ms")
    header = f"{'n':>3} {'D':>4} {'mode':>8} | {'layer':>8} {'dense':>8} | {'dense/layer':>11}"
    print(header)
    print("-" * len(header))
    for n in ns:
        torch.manual_seed(0)
        layer = EquivariantLinear(S(n), 3, 3, c, c)
        x = torch.randn(batch, c, n, n, n)
        dense_bytes = (c * n**3) ** 2 * 4
        dense = Dense(layer) if dense_bytes <= dense_budget else None
        for mode, make in (("fwd", _forward), ("fwd+bwd", _forward_backward)):
            candidates = {"layer": make(layer, x)}
            if dense is not None:
                candidates["dense"] = make(dense, x)
            stats = _time_interleaved(candidates, rounds, min_time)
            times = {name: value["min"] for name, value in stats.items()}
            row = {
                "n": n,
                "channels": c,
                "batch": batch,
                "mode": mode,
                "stats": stats,
                "diagrams": len(layer.diagrams),
                "layer_s": times["layer"],
                "dense_s": times.get("dense"),
                "dense_matrix_bytes": dense_bytes,
            }
            rows.append(row)
            print(
                f"{n:>3} {len(layer.diagrams):>4} {mode:>8} | {_fmt(row['layer_s']):>8} {_fmt(row['dense_s']):>8} |"
                f" {_ratio(row['dense_s'], row['layer_s']):>11}"
            )
        del dense
    return rows


def plot(k2, k3, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    styles = {"layer_s": "o-", "dense_s": "s--", "full15_s": "^-.", "irreducible_s": "x:"}
    for c in sorted({r["channels"] for r in k2}):
        rows = [r for r in k2 if r["channels"] == c and r["mode"] == "fwd"]
        for key, style in styles.items():
            pts = [(r["n"], r[key]) for r in rows if r[key] is not None]
            if pts:
                ax.loglog(*zip(*pts, strict=True), style, label=f"{key[:-2]} c={c}")
    ax.set_xlabel("n")
    ax.set_ylabel("forward time [s]")
    ax.set_title("S_n, k = l = 2, batch 32")
    ax.legend(fontsize=7)
    ax = axes[1]
    for key, style in (("layer_s", "o-"), ("dense_s", "s--")):
        for mode in ("fwd", "fwd+bwd"):
            pts = [(r["n"], r[key]) for r in k3 if r["mode"] == mode and r[key] is not None]
            if pts:
                ax.loglog(*zip(*pts, strict=True), style, label=f"{key[:-2]} {mode}")
    ax.set_xlabel("n")
    ax.set_title("S_n, k = l = 3 (203 diagrams), batch 32, 1 channel")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    parser.add_argument("--dense-budget-gb", type=float, default=4.5, help="largest dense matrix to materialise")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    budget = int(args.dense_budget_gb * 2**30)
    if args.quick:
        ns2, chans, ns3, rounds, min_time = (16, 32), (16,), (8, 16), 3, 0.1
    else:
        ns2, chans, ns3, rounds, min_time = (16, 32, 64), (16, 32), (8, 16, 24), 5, 0.3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    k2 = bench_k2(ns2, chans, 32, rounds, min_time, budget)
    k3 = bench_k3(ns3, 1, 32, rounds, min_time, budget)

    summary = []
    for r in k2:
        if r["n"] == max(ns2):
            summary.append(
                f"n={r['n']} c={r['channels']} {r['mode']}: full15/layer = {r['full15_s'] / r['layer_s']:.2f} "
                f"(target ≥ 5), layer/irreducible = {r['layer_s'] / r['irreducible_s']:.2f} (target ≤ 1.5)"
            )
    print("\nTargets at the largest n:")
    for line in summary:
        print("  " + line)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "quick": args.quick, "device": "cpu"}
    (args.out / "bench_nn.json").write_text(
        json.dumps({"meta": meta, "k2": k2, "k3": k3, "summary": summary}, indent=1)
    )
    plot(k2, k3, args.out / "bench_nn.png")
    print(f"\nwrote {args.out / 'bench_nn.json'} and {args.out / 'bench_nn.png'}")


if __name__ == "__main__":
    main()
