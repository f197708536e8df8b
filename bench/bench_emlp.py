"""EMLP's regression tasks (Finzi, Welling & Wilson 2021), regenerated here from their
definitions, with EquivariantMLP (defaults) and a plain MLP, trained with one recipe.

    python bench/bench_emlp.py               # 300 epochs per model and task, seeds 0, 1, 2
    python bench/bench_emlp.py --seeds 1     # seed 0 only
    python bench/bench_emlp.py --quick       # 30 epochs, seed 0

Tasks (3000 training and 1000 test samples; each seed draws its own data and initialisation):

* O5Synthetic, O(5): x1, x2 ~ N(0, I_5) → sin|x1| − |x2|³/2 + x1·x2 / (|x1||x2|). Each vector is
  divided by its RMS over the training set (a scalar: equivariant), the target standardised.
* Inertia, O(3): masses m_i = softplus(N(0, 1)), positions r_i ~ N(0, I_3), i = 1..5 →
  Σ_i m_i (|r_i|² I − r_i r_iᵀ). No scaling (as EMLP).
* ParticleInteraction, O(1, 3) (η = diag(1, −1, −1, −1)): four momenta p_i ~ N(0, I_4)/4 →
  4 Σ_{μν} L_e^{μν} L_μ,μν with L_e = p1 p3ᵀ − (p1·p3 − p1·p1) η and
  L_μ = (ηp2)(ηp4)ᵀ − (p2·p4 − p2·p2) η (electron–muon scattering); vectors divided by their
  training RMS, target standardised. Runs once catlayer has the group O(1, 3); until then it
  says so and is skipped.

Recipe (bench/training.py): plain Adam, lr 3e-3, batch 500, cosine decay, 300 epochs. Test MSE
in the task's original units (mean over test samples and output entries), against EMLP's
published test MSE at 3000 samples (mean of 3 seeds): O5Synthetic 0.031, Inertia 0.0282,
ParticleInteraction 2.66e-4; their plain MLP: 0.062, 0.840, 0.0504. Times are training time
only, wall and process CPU, on whatever the machine is doing meanwhile. Writes
bench/results/bench_emlp.json and bench/results/bench_emlp.png.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from training import Run, plot, runs_from_json, train

from catlayer import O
from catlayer.nn import EquivariantMLP

RESULTS = Path(__file__).resolve().parent / "results"
EMLP = {"O5Synthetic": 0.031, "Inertia": 0.0282, "ParticleInteraction": 2.66e-4}
EMLP_MLP = {"O5Synthetic": 0.062, "Inertia": 0.840, "ParticleInteraction": 0.0504}
ETA = np.diag([1.0, -1.0, -1.0, -1.0])


# -- data: targets from their definitions, and samplers returning (feature dict, targets) -------------
def o5_target(x: np.ndarray) -> np.ndarray:
    """x (N, 2, 5) → sin|x1| − |x2|³/2 + x1·x2 / (|x1||x2|), shape (N, 1)."""
    n1, n2 = np.linalg.norm(x[:, 0], axis=1), np.linalg.norm(x[:, 1], axis=1)
    return (np.sin(n1) - 0.5 * n2**3 + (x[:, 0] * x[:, 1]).sum(1) / (n1 * n2))[:, None]


def inertia_target(m: np.ndarray, r: np.ndarray) -> np.ndarray:
    """masses (N, k), positions (N, k, 3) → Σ_i m_i (|r_i|² I − r_i r_iᵀ), shape (N, 1, 3, 3)."""
    r2 = (r**2).sum(-1)[..., None, None]
    return (m[..., None, None] * (r2 * np.eye(3) - r[..., :, None] * r[..., None, :])).sum(1)[:, None]


def particle_target(p: np.ndarray) -> np.ndarray:
    """Four momenta (N, 4, 4) → the amplitude 4 Σ L_e^{μν} L_μ,μν, shape (N, 1)."""
    p1, p2, p3, p4 = (p[:, i] for i in range(4))

    def dot(a, b):
        return ((a @ ETA) * b).sum(-1)

    le = p1[:, :, None] * p3[:, None, :] - (dot(p1, p3) - dot(p1, p1))[:, None, None] * ETA
    lm = (p2 @ ETA)[:, :, None] * (p4 @ ETA)[:, None, :] - (dot(p2, p4) - dot(p2, p2))[:, None, None] * ETA
    return (4 * (le * lm).sum((-1, -2)))[:, None]


def o5_synthetic(rng: np.random.Generator, size: int):
    x = rng.standard_normal((size, 2, 5))
    return {1: x}, o5_target(x)


def inertia(rng: np.random.Generator, size: int, k: int = 5):
    raw = rng.standard_normal((size, 4 * k))
    m = np.log1p(np.exp(raw[:, :k]))
    r = raw[:, k:].reshape(size, k, 3)
    return {0: m, 1: r}, inertia_target(m, r)


def particle_interaction(rng: np.random.Generator, size: int):
    p = rng.standard_normal((size, 4, 4)) / 4
    return {1: p}, particle_target(p)


TASKS = {
    "O5Synthetic": (o5_synthetic, lambda: O(5), {1: 2}, {0: 1}, True),
    "Inertia": (inertia, lambda: O(3), {0: 5, 1: 5}, {2: 1}, False),
    "ParticleInteraction": (particle_interaction, lambda: O(1, 3), {1: 4}, {0: 1}, True),
}


def prepare(x: dict, y: np.ndarray, train_x: dict, train_y: np.ndarray, scale: bool):
    """EMLP's equivariant standardisation: vectors divided by their training RMS (one number per
    vector channel), scalar targets standardised; nothing for Inertia."""
    out = {}
    for k, v in x.items():
        if scale and k == 1:
            rms = np.sqrt((train_x[k] ** 2).mean(axis=(0, 2)))
            v = v / rms[None, :, None]
        out[k] = torch.tensor(v, dtype=torch.float32)
    mean, std = (float(train_y.mean()), float(train_y.std())) if scale else (0.0, 1.0)
    return out, torch.tensor((y - mean) / std, dtype=torch.float32), (mean, std)


class PlainMLP(torch.nn.Module):
    """EMLP's baseline: the flattened inputs through three 384-wide swish layers."""

    def __init__(self, in_size: int, out_shape: tuple[int, ...], width: int = 384):
        super().__init__()
        self.out_shape = out_shape
        layers, size = [], in_size
        for _ in range(3):
            layers += [torch.nn.Linear(size, width), torch.nn.SiLU()]
            size = width
        self.net = torch.nn.Sequential(*layers, torch.nn.Linear(size, int(np.prod(out_shape))))

    def forward(self, features):
        flat = torch.cat([v.flatten(1) for _, v in sorted(features.items())], dim=1)
        return self.net(flat).reshape((-1, *self.out_shape))


def run_task(name: str, epochs: int, seed: int, verbose: bool) -> list[Run] | str:
    make, group_of, in_type, out_type, scale = TASKS[name]
    try:
        group = group_of()
    except (TypeError, ValueError) as error:
        return f"skipped: needs the group O(1, 3) (Lorentz), which this catlayer does not have yet ({error})"
    rng = np.random.default_rng(seed)
    train_x, train_y = make(rng, 3000)
    test_x, test_y = make(rng, 1000)
    x, y, (mean, std) = prepare(train_x, train_y, train_x, train_y, scale)
    xt, _, _ = prepare(test_x, test_y, train_x, train_y, scale)
    yt = torch.tensor(test_y, dtype=torch.float32)
    (order,) = out_type

    def loss_fn(model, xb, yb):
        return (model(xb)[order] - yb).square().mean()

    def test_mse(model):
        return ((model(xt)[order] * std + mean) - yt).square().mean()

    runs = []
    torch.manual_seed(seed)
    model = EquivariantMLP(group, in_type, out_type)
    runs.append(train("EquivariantMLP", model, loss_fn, test_mse, x, y, epochs=epochs, seed=seed, verbose=verbose))
    torch.manual_seed(seed)
    size = sum(int(np.prod(v.shape[1:])) for v in x.values())
    mlp = PlainMLP(size, tuple(y.shape[1:]))
    runs.append(train("MLP", _Dict(mlp, order), loss_fn, test_mse, x, y, epochs=epochs, seed=seed, verbose=verbose))
    return runs


class _Dict(torch.nn.Module):
    def __init__(self, module, order):
        super().__init__()
        self.module, self.order = module, order

    def forward(self, features):
        return {self.order: self.module(features)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 3, 1 with --quick)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--replot", action="store_true", help="redraw the plot from results/bench_emlp.json")
    args = parser.parse_args()
    if args.replot:
        results = json.loads((RESULTS / "bench_emlp.json").read_text())["results"]
        runs = runs_from_json(results)
        plot(
            runs,
            RESULTS / "bench_emlp.png",
            "test MSE",
            {t: {"EMLP": EMLP[t], "EMLP's MLP": EMLP_MLP[t]} for t in runs},
        )
        return
    torch.set_num_threads(args.threads)
    epochs = args.epochs or (30 if args.quick else 300)
    seeds = range(args.seed, args.seed + (args.seeds or (1 if args.quick else 3)))
    results, runs_by_task = {}, {}
    for name in args.tasks:
        for seed in seeds:
            print(f"{name} ({epochs} epochs, seed {seed})", flush=True)
            runs = run_task(name, epochs, seed, not args.quiet)
            if isinstance(runs, str):
                print("  " + runs)
                results[name] = runs
                break
            results.setdefault(name, []).extend(
                {
                    "model": r.name,
                    "seed": seed,
                    "params": r.params,
                    "test_mse": r.final,
                    "wall_s": r.wall,
                    "cpu_s": r.cpu,
                    "history": r.history,
                }
                for r in runs
            )
            for r in runs:
                r.name = f"{r.name} (seed {seed})"
            runs_by_task.setdefault(name, []).extend(runs)
    print(
        f"\ntest MSE after {epochs} epochs (original units), mean over seeds {list(seeds)}; "
        "training time per run (max over seeds) on a shared machine"
    )
    columns = ("params", "test MSE", "EMLP", "vs EMLP", "wall s", "cpu s")
    print(
        f"{'task':20s} {'model':15s} "
        + " ".join(f"{c:>{w}s}" for c, w in zip(columns, (8, 10, 8, 8, 7, 7), strict=True))
        + "  per seed"
    )
    for name, rows in results.items():
        if isinstance(rows, str):
            print(f"{name:20s} {rows}")
            continue
        for model in dict.fromkeys(r["model"] for r in rows):
            mine = [r for r in rows if r["model"] == model]
            mse = float(np.mean([r["test_mse"] for r in mine]))
            reference = EMLP[name] if model == "EquivariantMLP" else EMLP_MLP[name]
            print(
                f"{name:20s} {model:15s} {mine[0]['params']:8d} {mse:10.4g} {reference:8.4g} "
                f"{mse / reference:7.3f}x {max(r['wall_s'] for r in mine):7.0f} {max(r['cpu_s'] for r in mine):7.0f}  "
                + " ".join(f"{r['test_mse']:.3g}" for r in mine)
            )
    print("(EMLP column: EMLP's published MSE for EquivariantMLP rows, EMLP's plain MLP for MLP rows)")
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": args.threads,
        "epochs": epochs,
        "seeds": list(seeds),
    }
    (RESULTS / "bench_emlp.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    references = {t: {"EMLP": EMLP[t], "EMLP's MLP": EMLP_MLP[t]} for t in runs_by_task}
    plot(runs_by_task, RESULTS / "bench_emlp.png", "test MSE", references)


if __name__ == "__main__":
    main()
