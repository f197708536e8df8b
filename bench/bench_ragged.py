"""Ragged batches against padded batches with masks on QM9's molecule sizes (issue 17, items 4
and 8; docs/conventions.md §11).

    python bench/bench_ragged.py            # batches of 32 and 128 molecules, 15 rounds
    python bench/bench_ragged.py --quick    # fewer rounds

For each layer ``EquivariantLinear(S(), k, l, c, c)`` (1 → 1 with 32 channels; 2 → 2, 2 → 1 and
1 → 2 with 16) and each batch size, one batch of molecule sizes is drawn from QM9's distribution
(fixed seed) and the same features run three ways:

* **padded**: ``layer(x, mask)`` on (B, c) + (N,) * k with N the batch's largest molecule (what a
  collate function pads to), the mask True on each molecule's atoms;
* **ragged**: :func:`catlayer.nn.ragged.ragged_forward` on (Σ n^k, c) with a
  :class:`~catlayer.nn.ragged.RaggedBatch` built once (its index tables are shared by every
  layer of a network); **ragged cold** builds the ragged batch in the timed call too (a new
  batch, one layer: the worst case for the tables);
* **unmasked**: ``layer(x)`` on the same padded tensor with every index valid: the ratio
  padded / unmasked is the cost of the mask (the issue's target: at most 1.2).

Times are the median over interleaved rounds of the mean time per call (forward under
``torch.no_grad()``; forward + backward with the input requiring a gradient, the loss
Σ y · g for a fixed g, parameter gradients cleared between calls). **Memory** is the peak of the
bytes held by torch's CPU allocator during one call above what was held before it, read off the
profiler's memory events (``torch.profiler.profile(profile_memory=True)``: every allocation and
free of the CPU allocator, in order); tracemalloc does not see torch's allocations. The input
itself is not counted (it exists before the call); the ragged tables are not either (built
before the call, except in the cold time).

**Sizes**: the real QM9 distribution when the ``qm9pack`` package is installed (its CSVs' ``Elements``
column, one entry per atom, hydrogens included: 130,831 molecules of 3–29 atoms, mean 18.03),
else the same histogram hard-coded below (``QM9_SIZES``, counted from qm9pack 1.0.3).

Writes bench/results/bench_ragged.json and bench/results/bench_ragged.png. No assertions
besides a check that both paths agree.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from harness import print_head, tune_malloc
from torch.profiler import ProfilerActivity, profile

from catlayer import S
from catlayer.nn import EquivariantLinear
from catlayer.nn.ragged import RaggedBatch, ragged_forward, to_padded

RESULTS = Path(__file__).resolve().parent / "results"

#: Atoms per molecule (hydrogens included) → molecules, over qm9pack 1.0.3's 130,831 molecules
#: (its CSVs' ``Elements`` column); the fallback when qm9pack is not installed.
QM9_SIZES = {
    3: 2,
    4: 4,
    5: 5,
    6: 12,
    7: 20,
    8: 65,
    9: 172,
    10: 483,
    11: 1053,
    12: 2189,
    13: 4027,
    14: 6758,
    15: 10216,
    16: 13824,
    17: 16969,
    18: 17442,
    19: 18146,
    20: 12403,
    21: 13166,
    22: 4428,
    23: 6362,
    24: 712,
    25: 1923,
    26: 59,
    27: 356,
    29: 35,
}

LAYERS = [(1, 1, 32), (2, 2, 16), (2, 1, 16), (1, 2, 16)]


def qm9_sizes() -> tuple[dict[int, int], str]:
    """The histogram atoms → molecules and where it comes from."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or spec.origin is None:
        return dict(QM9_SIZES), "hard-coded histogram (qm9pack 1.0.3 counts; qm9pack not installed)"
    data = Path(spec.origin).parent / "data"
    files = sorted(data.glob("qm9_part*.csv"))
    if not files:
        return dict(QM9_SIZES), f"hard-coded histogram (no qm9_part*.csv under {data})"
    csv.field_size_limit(sys.maxsize)
    counts: Counter[int] = Counter()
    for path in files:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                counts[row["Elements"].count("'") // 2] += 1  # "['C','H',…]": two quotes per atom
    return dict(sorted(counts.items())), f"qm9pack: {', '.join(p.name for p in files)}"


def draw(histogram: dict[int, int], batch: int, seed: int) -> list[int]:
    return random.Random(seed).choices(list(histogram), weights=list(histogram.values()), k=batch)


# -- measuring -------------------------------------------------------------------------------------
def _per_call(fn: Callable[[], Any], min_time: float) -> float:
    """Mean seconds per call over at least ``min_time`` seconds (one warm-up call first)."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


def timings(candidates: dict[str, Callable[[], Any]], rounds: int, min_time: float) -> dict[str, float]:
    """Median over rounds of each candidate's time per call, the candidates interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            samples[name].append(_per_call(fn, min_time))
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_bytes(fn: Callable[[], Any]) -> int:
    """The peak of the bytes held by torch's CPU allocator during ``fn()``, above what was held
    before (the profiler's memory events: allocations positive, frees negative, in order)."""
    fn()  # warm: lazily built tables are not part of the call
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
        del out
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    held = peak = 0
    for _, nbytes in events:
        held += nbytes
        peak = max(peak, held)
    return peak


def _forward_backward(
    layer: torch.nn.Module, run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor
) -> Callable[[], None]:
    def call() -> None:
        for p in layer.parameters():
            p.grad = None
        x.grad = None
        (run(x) * g).sum().backward()

    return call


def bench_row(k: int, l: int, c: int, sizes: list[int], rounds: int, min_time: float, seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    layer = EquivariantLinear(S(), k, l, c, c)
    ragged = RaggedBatch(sizes)
    x = torch.randn(ragged.num_rows(k), c)
    padded, mask = to_padded(x, ragged, order=k)
    g = torch.randn(ragged.num_rows(l), c)
    g_padded, _ = to_padded(g, ragged, order=l)
    with torch.no_grad():  # both paths agree (and the tables are built)
        expected = layer(padded, mask)
        got, _ = to_padded(ragged_forward(layer, x, ragged), ragged, order=l)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (k, l)

    def padded_forward() -> torch.Tensor:
        return layer(padded, mask)

    def unmasked_forward() -> torch.Tensor:
        return layer(padded)

    def ragged_warm() -> torch.Tensor:
        return ragged_forward(layer, x, ragged)

    def ragged_cold() -> torch.Tensor:
        return ragged_forward(layer, x, RaggedBatch(sizes))

    forward = {
        "padded": padded_forward,
        "unmasked": unmasked_forward,
        "ragged": ragged_warm,
        "ragged_cold": ragged_cold,
    }
    with torch.no_grad():
        fwd = timings(forward, rounds, min_time)
        fwd_mem = {name: peak_bytes(fn) for name, fn in forward.items() if name != "ragged_cold"}
    xp = padded.clone().requires_grad_(True)
    xr = x.clone().requires_grad_(True)
    backward = {
        "padded": _forward_backward(layer, lambda t: layer(t, mask), xp, g_padded),
        "unmasked": _forward_backward(layer, layer, xp, g_padded),
        "ragged": _forward_backward(layer, lambda t: ragged_forward(layer, t, ragged), xr, g),
        "ragged_cold": _forward_backward(layer, lambda t: ragged_forward(layer, t, RaggedBatch(sizes)), xr, g),
    }
    fb = timings(backward, rounds, min_time)
    fb_mem = {name: peak_bytes(fn) for name, fn in backward.items() if name != "ragged_cold"}
    n = max(sizes)
    return {
        "layer": f"{k}→{l}",
        "channels": c,
        "batch": len(sizes),
        "N": n,
        "mean_n": sum(sizes) / len(sizes),
        "entries_padded": len(sizes) * n**k * c,
        "entries_ragged": ragged.num_rows(k) * c,
        "forward_s": fwd,
        "forward_backward_s": fb,
        "forward_peak_bytes": fwd_mem,
        "forward_backward_peak_bytes": fb_mem,
    }


# -- reporting -------------------------------------------------------------------------------------
def _ms(t: float) -> str:
    return f"{1e3 * t:8.3f}"


def _mb(b: int) -> str:
    return f"{b / 2**20:7.2f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    for phase, time_key, mem_key in (
        ("forward", "forward_s", "forward_peak_bytes"),
        ("forward + backward", "forward_backward_s", "forward_backward_peak_bytes"),
    ):
        header = (
            f"{'layer':>5} {'c':>3} {'B':>4} {'N':>3} | {'padded':>8} {'ragged':>8} {'cold':>8} {'unmask':>8} | "
            f"{'pad/rag':>7} {'pad/unm':>7} | {'pad MiB':>7} {'rag MiB':>7} {'unm MiB':>7} | {'pad/rag':>7}"
        )
        print_head(header, f"{phase}: time (ms), peak memory (MiB), ratios padded / ragged and padded / unmasked")
        for row in rows:
            t, m = row[time_key], row[mem_key]
            print(
                f"{row['layer']:>5} {row['channels']:>3} {row['batch']:>4} {row['N']:>3} | "
                f"{_ms(t['padded'])} {_ms(t['ragged'])} {_ms(t['ragged_cold'])} {_ms(t['unmasked'])} | "
                f"{t['padded'] / t['ragged']:7.2f} {t['padded'] / t['unmasked']:7.2f} | "
                f"{_mb(m['padded'])} {_mb(m['ragged'])} {_mb(m['unmasked'])} | "
                f"{m['padded'] / max(m['ragged'], 1):7.2f}"
            )


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['layer']}\nB={r['batch']}" for r in rows]
    positions = list(range(len(rows)))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.27
    for ax, (title, key) in zip(
        axes, (("time padded / ragged", "s"), ("peak memory padded / ragged", "peak_bytes")), strict=True
    ):
        for i, phase in enumerate(("forward", "forward_backward")):
            values = [r[f"{phase}_{key}"]["padded"] / max(r[f"{phase}_{key}"]["ragged"], 1e-30) for r in rows]
            ax.bar([p + (i - 0.5) * width for p in positions], values, width, label=phase.replace("_", " + "))
        if key == "s":
            values = [r["forward_s"]["padded"] / r["forward_s"]["unmasked"] for r in rows]
            ax.bar([p + 1.5 * width for p in positions], values, width, label="mask cost (fwd, padded / unmasked)")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(positions)
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_title(f"{title} (> 1: ragged better)")
        ax.legend(fontsize=7)
    fig.suptitle("EquivariantLinear(S(), k, l, c, c) on QM9-sized batches (CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter calls")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128], help="molecules per batch")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--malloc-tune", action="store_true", help="raise glibc's mmap/trim thresholds first")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.malloc_tune:
        tune_malloc()
    rounds, min_time = (5, 0.02) if args.quick else (15, 0.1)
    histogram, source = qm9_sizes()
    total = sum(histogram.values())
    mean = sum(n * m for n, m in histogram.items()) / total
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}"
        f"{', malloc tuned' if args.malloc_tune else ''}; {rounds} rounds{' (quick)' if args.quick else ''}"
    )
    print(f"sizes: {source}: {total} molecules, {min(histogram)}–{max(histogram)} atoms, mean {mean:.2f}")
    rows = []
    for batch in args.batches:
        sizes = draw(histogram, batch, args.seed + batch)
        print(
            f"batch {batch}: N = {max(sizes)}, mean n = {sum(sizes) / batch:.2f}, Σn² / (B·N²) = "
            f"{sum(n * n for n in sizes) / (batch * max(sizes) ** 2):.3f}"
        )
        for k, l, c in LAYERS:
            rows.append(bench_row(k, l, c, sizes, rounds, min_time, args.seed))
    print_table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "quick": args.quick,
        "rounds": rounds,
        "malloc_tune": args.malloc_tune,
        "device": "cpu",
        "sizes_source": source,
        "sizes_histogram": histogram,
        "statistic": "median over interleaved rounds of the mean time per call",
        "memory": "peak bytes of torch's CPU allocator during one call (profiler memory events)",
    }
    (args.out / "bench_ragged.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    plot(rows, args.out / "bench_ragged.png")
    print(f"\nwrote {args.out / 'bench_ragged.json'} and {args.out / 'bench_ragged.png'}")


if __name__ == "__main__":
    main()
