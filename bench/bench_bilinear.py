"""Bilinear layers against their irreducible contraction: for S_n 2 ⊗ 2 → 2 the batched matrix
product of Provably Powerful Graph Networks (Maron et al. 2019), torch.matmul(x, y) on
(batch, channels, n, n), channel by channel.

    python bench/bench_bilinear.py            # n ∈ {16, 32, 64, 128}, channels 16 and 32, batch 8
    python bench/bench_bilinear.py --quick    # n ∈ {16, 32}, fewer rounds

Candidates, timed in the same run, interleaved round by round (median of the rounds):

* ``canonical`` — ``TypedBilinear(S(n), {2: c}, {2: c}, diagrams="canonical")``: the pointwise
  product and the matrix product (one diagram per orbit under permuting axes), mixed over
  channels and diagrams;
* ``products`` — the same with every product diagram (transposed variants included);
* ``ppgn`` — ``torch.matmul(x, y)``, the irreducible contraction (no channel mixing at all).

Forward, and forward + backward (gradients of x, y and the weights; for ``ppgn`` of x and y).
Float32 on CPU. Writes bench/results/bench_bilinear.json. No assertions: the issue's target
(the bilinear layers within a small factor of their irreducible contraction) is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from catlayer import S
from catlayer.nn import TypedBilinear

RESULTS = Path(__file__).resolve().parent / "results"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(n: int, c: int, batch: int, rounds: int) -> dict:
    torch.manual_seed(0)
    x = torch.randn(batch, c, n, n)
    y = torch.randn(batch, c, n, n)
    layers = {name: TypedBilinear(S(n), {2: c}, {2: c}, diagrams=name) for name in ("canonical", "products")}
    xg, yg = x.clone().requires_grad_(), y.clone().requires_grad_()

    def forward(name):
        if name == "ppgn":
            return lambda: torch.matmul(x, y)
        layer = layers[name]
        return lambda: layer({2: x}, {2: y})

    def training(name):
        def step():
            out = torch.matmul(xg, yg) if name == "ppgn" else layers[name]({2: xg}, {2: yg})[2]
            out.sum().backward()

        return step

    names = ("canonical", "products", "ppgn")
    times = {(name, kind): [] for name in names for kind in ("fwd", "fwd+bwd")}
    with torch.no_grad():
        for name in names:  # warm up
            forward(name)()
    for name in names:
        training(name)()
    for _ in range(rounds):
        for name in names:
            with torch.no_grad():
                times[(name, "fwd")].append(_timed(forward(name)))
            times[(name, "fwd+bwd")].append(_timed(training(name)))
    row = {"n": n, "channels": c, "batch": batch}
    for (name, kind), values in times.items():
        row[f"{name} {kind} ms"] = 1e3 * statistics.median(values)
    row["diagrams"] = {name: len(layer.blocks[(2, 2, 2)]) for name, layer in layers.items()}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = (16, 32) if args.quick else (16, 32, 64, 128)
    rounds = 5 if args.quick else 15
    rows = []
    header = (
        f"{'n':>4s} {'c':>3s}  {'ppgn fwd':>9s} {'canon.':>7s} {'ratio':>6s} {'prod.':>7s} {'ratio':>6s}"
        f"  {'ppgn f+b':>9s} {'canon.':>7s} {'ratio':>6s} {'prod.':>7s} {'ratio':>6s}   (ms, medians)"
    )
    print(f"S_n 2 ⊗ 2 → 2, batch {args.batch}, float32, {args.threads} thread(s)")
    print(header)
    for c in (16, 32):
        for n in sizes:
            row = measure(n, c, args.batch, rounds)
            rows.append(row)
            cells = []
            for kind in ("fwd", "fwd+bwd"):
                base = row[f"ppgn {kind} ms"]
                cells.append(
                    f"{base:9.3f} {row[f'canonical {kind} ms']:7.3f} {row[f'canonical {kind} ms'] / base:5.1f}x "
                    f"{row[f'products {kind} ms']:7.3f} {row[f'products {kind} ms'] / base:5.1f}x"
                )
            print(f"{n:4d} {c:3d}  " + "  ".join(cells), flush=True)
    print(f"diagrams per layer: {rows[0]['diagrams']}")
    RESULTS.mkdir(exist_ok=True)
    meta = {"torch": torch.__version__, "machine": platform.machine(), "threads": args.threads, "rounds": rounds}
    (RESULTS / "bench_bilinear.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
