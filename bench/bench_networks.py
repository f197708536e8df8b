"""Output size of EquivariantMLP at initialisation: is it O(1) for any n and depth?

    python bench/bench_networks.py            # n ∈ {5, 20, 60}, depths 2–6, 4 seeds
    python bench/bench_networks.py --quick    # n ∈ {5, 20}, depths 2, 4, 2 seeds

For each network (group, input type → output type, default hidden types), n, depth and input
kind (entries ~ N(0, 1), or 0/1 with probability 1/2, e.g. adjacency matrices), prints the output
RMS (root mean square over all output entries of a batch of 16 and over the seeds' models, each
initialised by its own seed) and writes bench/results/bench_networks.json. Forward only, no
assertions (tests/test_nn_mlp.py bounds a small part of this table).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from catlayer import SO, O, S, Sp
from catlayer.nn import EquivariantMLP

RESULTS = Path(__file__).resolve().parent / "results"


def lorentzian(n: int):
    """O(1, n − 1): an indefinite metric, no Euclidean norm preserved."""
    return O(1, n - 1)


def symplectic(n: int):
    return Sp(n + n % 2)


NETWORKS = [
    ("graph → scalar", S, {2: 1}, {0: 1}),
    ("graph → graph", S, {2: 1}, {2: 1}),
    ("scalars, vectors → matrix", O, {0: 5, 1: 5}, {2: 1}),
    ("two vectors → scalar", O, {1: 2}, {0: 1}),
    ("vectors → vector, scalar", SO, {1: 3}, {0: 1, 1: 1}),
    ("vectors → matrix, scalar", symplectic, {1: 3}, {0: 1, 2: 1}),
    ("four vectors → scalar", lorentzian, {1: 4}, {0: 1}),
]


def _input(group, in_type, kind: str, batch: int, generator: torch.Generator):
    out = {}
    for k, c in in_type.items():
        shape = (batch, c) + (group.n,) * k
        if kind == "normal":
            out[k] = torch.randn(shape, generator=generator)
        else:
            out[k] = (torch.rand(shape, generator=generator) < 0.5).float()
    return out


def measure(group, in_type, out_type, depth: int, kind: str, seeds: int, batch: int = 16) -> float:
    total, count = 0.0, 0
    for seed in range(seeds):
        torch.manual_seed(seed)
        model = EquivariantMLP(group, in_type, out_type, depth=depth)
        generator = torch.Generator().manual_seed(1000 + seed)
        with torch.no_grad():
            out = model(_input(group, in_type, kind, batch, generator))
        total += sum(float(v.square().sum()) for v in out.values())
        count += sum(v.numel() for v in out.values())
    return (total / count) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = (5, 20) if args.quick else (5, 20, 60)
    depths = (2, 4) if args.quick else (2, 3, 4, 5, 6)
    seeds = 2 if args.quick else 4
    rows = []
    start = time.time()
    print(f"output RMS at initialisation (mean over {seeds} seeds; inputs N(0,1) | 0/1)")
    header = f"{'network':27s} {'group':12s} " + "".join(f"  depth {d:<10}" for d in depths)
    print(header)
    for name, family, in_type, out_type in NETWORKS:
        for n in sizes:
            group = family(n)
            cells = []
            for depth in depths:
                values = {k: measure(group, in_type, out_type, depth, k, seeds) for k in ("normal", "binary")}
                rows.append({"network": name, "group": repr(group), "n": group.n, "depth": depth, **values})
                cells.append(f"{values['normal']:6.3f} | {values['binary']:6.3f}")
            print(f"{name:27s} {group!r:12s} " + "".join(f"  {c:16s}" for c in cells), flush=True)
    values = [r[k] for r in rows for k in ("normal", "binary")]
    print(f"range over the table: {min(values):.3g} to {max(values):.3g} ({time.time() - start:.0f} s)")
    RESULTS.mkdir(exist_ok=True)
    meta = {"torch": torch.__version__, "machine": platform.machine(), "threads": args.threads, "seeds": seeds}
    (RESULTS / "bench_networks.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
