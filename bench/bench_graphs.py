"""Graph tasks where products matter: triangle counts of random graphs (n = 12), graph-level and
node-level, for EquivariantMLP on S_12 (defaults), an IGN-style network (2 → 2 linear layers with
ReLU, Maron et al. 2019) and a plain MLP on the flattened adjacency matrix, with one recipe.

    python bench/bench_graphs.py            # 300 epochs per model and task
    python bench/bench_graphs.py --quick    # 20 epochs

Data (3000 training and 1000 test graphs, fixed seed): G(12, p) with p uniform in [0.1, 0.5] per
graph (symmetric 0/1 adjacency, empty diagonal). Targets: the number of triangles trace(A³)/6
(graph-level, order 0) and the number of triangles through each node (A³)_ii / 2 (node-level,
order 1), standardised with the training mean and standard deviation (one number each: an
equivariant rescaling). Reported: test MSE / variance of the test targets (1 = predicting the
mean). Recipe of bench/training.py (Adam 3e-3, batch 500, cosine decay); times are training time
on a shared machine, preliminary. Writes bench/results/bench_graphs.json and .png.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
from training import plot, train

from catlayer import S
from catlayer.nn import EquivariantMLP, TypedLinear

RESULTS = Path(__file__).resolve().parent / "results"
N = 12


def graphs(generator: torch.Generator, size: int) -> torch.Tensor:
    p = 0.1 + 0.4 * torch.rand(size, 1, 1, generator=generator)
    upper = (torch.rand(size, N, N, generator=generator) < p).float().triu(1)
    return upper + upper.transpose(1, 2)


def targets(a: torch.Tensor) -> dict[int, torch.Tensor]:
    cube = torch.diagonal(a @ a @ a, 0, -2, -1)
    return {0: cube.sum(-1, keepdim=True) / 6, 1: cube[:, None, :] / 2}


class IGN(torch.nn.Module):
    """Invariant/equivariant graph network: 2 → 2 linear layers with ReLU, then a linear readout to
    the output order. The layers are TypedLinear (sums used as means, as in Maron et al.'s
    normalised basis): with raw sums (EquivariantLinear) the 0/1 inputs blow up the first
    epochs (test MSE ~10^5 times the target variance after one epoch)."""

    def __init__(self, out_order: int, width: int = 16, depth: int = 3):
        super().__init__()
        layers, c = [], 1
        for _ in range(depth):
            layers.append(TypedLinear(S(N), {2: c}, {2: width}))
            c = width
        self.layers = torch.nn.ModuleList(layers)
        self.readout = TypedLinear(S(N), {2: width}, {out_order: 1})
        self.out_order = out_order

    def forward(self, x):
        h = x
        for layer in self.layers:
            h = {2: torch.relu(layer(h)[2])}
        return self.readout(h)[self.out_order]


class PlainMLP(torch.nn.Module):
    def __init__(self, out_size: int, width: int = 256):
        super().__init__()
        self.out_size = out_size
        self.net = torch.nn.Sequential(
            torch.nn.Linear(N * N, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, out_size),
        )

    def forward(self, x):
        return self.net(x[2].flatten(1))


def run_task(order: int, epochs: int, seed: int, verbose: bool):
    generator = torch.Generator().manual_seed(seed)
    train_a, test_a = graphs(generator, 3000), graphs(generator, 1000)
    train_y, test_y = targets(train_a)[order], targets(test_a)[order]
    mean, std = float(train_y.mean()), float(train_y.std())
    x, xt = {2: train_a[:, None]}, {2: test_a[:, None]}
    y = (train_y - mean) / std
    variance = float(test_y.var())

    shape = tuple(train_y.shape[1:])
    models = {
        "EquivariantMLP": (lambda: EquivariantMLP(S(N), {2: 1}, {order: 1}), lambda m, x: m(x)[order]),
        "IGN (2→2 + ReLU)": (lambda: IGN(order), lambda m, x: m(x)),
        "MLP (flattened)": (lambda: PlainMLP(1 if order == 0 else N), lambda m, x: m(x).reshape(-1, *shape)),
    }
    runs = []
    for name, (make, call) in models.items():
        torch.manual_seed(seed)
        model = make()

        def loss_fn(m, xb, yb, call=call):
            return (call(m, xb) - yb).square().mean()

        def test_error(m, call=call):
            return ((call(m, xt) * std + mean) - test_y).square().mean() / variance

        runs.append(train(name, model, loss_fn, test_error, x, y, epochs=epochs, seed=seed, verbose=verbose))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    epochs = args.epochs or (20 if args.quick else 300)
    runs_by_task, results = {}, {}
    for order, task in ((0, "triangles (graph)"), (1, "triangles per node")):
        print(f"{task} ({epochs} epochs)", flush=True)
        runs = run_task(order, epochs, args.seed, not args.quiet)
        runs_by_task[task] = runs
        results[task] = [
            {"model": r.name, "params": r.params, "relative_mse": r.final, "wall_s": r.wall, "cpu_s": r.cpu}
            | {"history": r.history}
            for r in runs
        ]
    print(f"\ntest MSE / target variance after {epochs} epochs; training time on a shared machine, preliminary")
    print(f"{'task':20s} {'model':18s} {'params':>8s} {'rel. MSE':>10s} {'wall s':>7s} {'cpu s':>7s}")
    for task, rows in results.items():
        for r in rows:
            print(
                f"{task:20s} {r['model']:18s} {r['params']:8d} {r['relative_mse']:10.4g} "
                f"{r['wall_s']:7.0f} {r['cpu_s']:7.0f}"
            )
    RESULTS.mkdir(exist_ok=True)
    meta = {"torch": torch.__version__, "machine": platform.machine(), "threads": args.threads, "epochs": epochs}
    (RESULTS / "bench_graphs.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    plot(runs_by_task, RESULTS / "bench_graphs.png", "test MSE / target variance")


if __name__ == "__main__":
    main()
