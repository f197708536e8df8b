"""Point clouds of varying size under S_N × O(3): an invariant, a covariant vector and a covariant
matrix target, for ``EquivariantMLP(S() * O(3), …)`` (defaults) and a DeepSets baseline (not
O(3)-equivariant), with one training recipe; trained on N ≤ 12 points, tested on N ≤ 12 and on
unseen sizes 13 ≤ N ≤ 20.

    python bench/bench_pointclouds.py            # 4000 training clouds, 60 epochs, batch 100
    python bench/bench_pointclouds.py --quick    # 1000 training clouds, 8 epochs (1–2 min in all)
    python bench/bench_pointclouds.py --tasks dipole --epochs 100 --threads 2

Data (``point_clouds``; each sample independent): N uniform in [n_min, n_max]; positions
r_i = c + Q · diag(s) · z_i with z_i ~ N(0, I_3), axis scales s ~ U(0.5, 1.5)³, a Haar-random
orthogonal Q (rotations and reflections) and a centre c ~ N(0, 0.5² I_3) (a random anisotropic
blob, randomly oriented, off the origin); per-point masses m_i ~ U(0.5, 2) and charges
q_i ~ N(0, 1), given to the models as two scalar channels. Targets (defined below, tested in
tests/test_bench_products.py):

* ``gyration`` (invariant, length): R_g = sqrt(Σ m_i |r_i − R|² / Σ m_i), R = Σ m_i r_i / Σ m_i;
* ``dipole`` (vector, charge × length): d = Σ q_i r_i;
* ``inertia`` (matrix, mass × length²): I = Σ m_i (|r_i|² 1 − r_i r_iᵀ), about the origin.

Training N ∈ [4, 12]; tests: 1000 clouds with N ∈ [4, 12] and 1000 with N ∈ [13, 20]. Targets are
scaled for training by one number (invariant: standardised; vector and matrix: divided by their
training RMS, which commutes with O(3)). Models: ``EquivariantMLP(S() * O(3), {(1, 1): 1,
(1, 0): 2}, {order: 1})`` with every default (its size input and size scaling included), and
``DeepSets`` on the 5 raw numbers (x, y, z, m, q) of each point (bench/set_models.py), which is
permutation invariant but must learn rotations from the data. Recipe of bench/training.py (Adam
3e-3, cosine decay), batch 100. Reported: test RMSE in the task's units, and relative to the RMS
deviation of the test targets from their mean (1 = predicting the mean), on both test sets;
``equiv. err``: max |f(g·x) − g·f(x)| / RMS |f(x)| over a test batch, g a random permutation and
orthogonal matrix; training time (wall and CPU, optimisation steps only; shared machine).
Writes bench/results/bench_pointclouds.json and bench/results/bench_pointclouds.png (relative
test error on N ≤ 12 against training time).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from set_models import DeepSets, masks, parameters, random_orthogonal, rmse, trim
from training import plot, run_tasks, runs_from_json, save_results, task_options, train_task

from catlayer import O, S
from catlayer.nn import EquivariantMLP

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN_SIZES, TEST_SIZES = (4, 12), (13, 20)


# -- data ---------------------------------------------------------------------------------------------
def point_clouds(rng: np.random.Generator, size: int, n_min: int, n_max: int) -> dict[str, np.ndarray]:
    """``size`` clouds padded to n_max points: r (size, n_max, 3), m and q (size, n_max), mask
    (size, n_max); padded entries are 0."""
    n = rng.integers(n_min, n_max + 1, size)
    mask = masks(n, n_max)
    scales = rng.uniform(0.5, 1.5, (size, 1, 3))
    frames = random_orthogonal(rng, size)
    centres = 0.5 * rng.standard_normal((size, 1, 3))
    r = centres + np.einsum("bij,bpj->bpi", frames, scales * rng.standard_normal((size, n_max, 3)))
    m = rng.uniform(0.5, 2.0, (size, n_max))
    q = rng.standard_normal((size, n_max))
    return {"r": r * mask[..., None], "m": m * mask, "q": q * mask, "mask": mask}


def gyration(r: np.ndarray, m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mass-weighted radius of gyration, (B, 1); padded points are ignored."""
    m = m * mask
    total = m.sum(1)
    centre = (m[..., None] * r).sum(1) / total[:, None]
    spread = (m * ((r - centre[:, None]) ** 2).sum(-1)).sum(1) / total
    return np.sqrt(spread)[:, None]


def dipole(r: np.ndarray, q: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ_i q_i r_i, (B, 3)."""
    return ((q * mask)[..., None] * r).sum(1)


def inertia(r: np.ndarray, m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ_i m_i (|r_i|² 1 − r_i r_iᵀ) about the origin, (B, 3, 3)."""
    m = m * mask
    r2 = (r**2).sum(-1)
    return (m * r2).sum(1)[:, None, None] * np.eye(3) - np.einsum("bp,bpi,bpj->bij", m, r, r)


TASKS = {
    # name: (target of a cloud, catlayer output order, unit)
    "gyration": (lambda c: gyration(c["r"], c["m"], c["mask"]), (0, 0), "length"),
    "dipole": (lambda c: dipole(c["r"], c["q"], c["mask"]), (0, 1), "charge·length"),
    "inertia": (lambda c: inertia(c["r"], c["m"], c["mask"]), (0, 2), "mass·length²"),
}


def as_batch(cloud: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {
        "r": torch.tensor(cloud["r"], dtype=torch.float32),
        "s": torch.tensor(np.stack([cloud["m"], cloud["q"]], -1), dtype=torch.float32),
        "mask": torch.tensor(cloud["mask"]),
    }


# -- models -------------------------------------------------------------------------------------------
class Equivariant(torch.nn.Module):
    """EquivariantMLP(S() * O(3)) with its defaults on positions (type (1, 1)) and masses and
    charges (two channels of type (1, 0))."""

    def __init__(self, order: tuple[int, int]):
        super().__init__()
        self.order = order
        self.net = EquivariantMLP(S() * O(3), {(1, 1): 1, (1, 0): 2}, {order: 1})

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = trim(batch)
        features = {(1, 1): batch["r"][:, None], (1, 0): batch["s"].transpose(1, 2)}
        out = self.net(features, batch["mask"])[self.order][:, 0]
        return out[:, None] if self.order == (0, 0) else out


class Baseline(torch.nn.Module):
    def __init__(self, order: tuple[int, int]):
        super().__init__()
        shape = {(0, 0): (1,), (0, 1): (3,), (0, 2): (3, 3)}[order]
        self.net = DeepSets(5, shape)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = trim(batch)
        return self.net(torch.cat([batch["r"], batch["s"]], -1), batch["mask"])


MODELS = {"EquivariantMLP": Equivariant, "DeepSets": Baseline}


# -- evaluation ---------------------------------------------------------------------------------------
def transform(batch: dict[str, torch.Tensor], seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The batch under a random orthogonal matrix g and a random relabelling of each sample's
    valid points (padding stays last), and g."""
    rng = np.random.default_rng(seed)
    g = torch.tensor(random_orthogonal(rng, 1)[0], dtype=torch.float32)
    sizes = batch["mask"].sum(1)
    width = batch["mask"].shape[1]
    order = torch.stack(
        [torch.cat([torch.tensor(rng.permutation(int(n))), torch.arange(int(n), width)]) for n in sizes]
    )
    moved = {k: torch.take_along_dim(v, order.reshape(order.shape + (1,) * (v.dim() - 2)), 1) for k, v in batch.items()}
    moved["r"] = moved["r"] @ g.T
    return moved, g


def act(g: torch.Tensor, y: torch.Tensor, order: tuple[int, int]) -> torch.Tensor:
    if order == (0, 0):
        return y
    if order == (0, 1):
        return y @ g.T
    return g @ y @ g.T


def equivariance_error(model: torch.nn.Module, batch: dict[str, torch.Tensor], order: tuple[int, int]) -> float:
    with torch.no_grad():
        y = model(batch)
        moved, g = transform(batch, 1)
        return float((model(moved) - act(g, y, order)).abs().max() / y.square().mean().sqrt())


def run_task(name: str, args, seed: int) -> list[dict]:
    target_of, order, unit = TASKS[name]
    rng = np.random.default_rng(seed)
    clouds = {
        "train": point_clouds(rng, args.train, *TRAIN_SIZES),
        "test": point_clouds(rng, 1000, *TRAIN_SIZES),
        "unseen": point_clouds(rng, 1000, *TEST_SIZES),
    }
    x = {k: as_batch(c) for k, c in clouds.items()}
    y = {k: torch.tensor(target_of(c), dtype=torch.float32) for k, c in clouds.items()}
    if order == (0, 0):
        shift, scale = float(y["train"].mean()), float(y["train"].std())
    else:
        shift, scale = 0.0, float(y["train"].square().mean().sqrt())
    spread = {k: float((v - v.mean(0)).square().mean().sqrt()) for k, v in y.items()}

    def predict(model, part):
        return model(x[part]) * scale + shift

    def loss_fn(model, xb, yb):
        return (model(xb) - (yb - shift) / scale).square().mean()

    def relative_error(model):
        return rmse(predict(model, "test"), y["test"]) / spread["test"]

    rows = []
    for model_name, make in MODELS.items():
        torch.manual_seed(seed)
        model = make(order)
        run = train_task(model_name, model, loss_fn, relative_error, x["train"], y["train"], args, seed)
        model.eval()
        with torch.no_grad():
            started = time.perf_counter()
            errors = {part: rmse(predict(model, part), y[part]) for part in ("test", "unseen")}
            inference = time.perf_counter() - started
        rows.append(
            {
                "model": model_name,
                "params": parameters(model),
                "unit": unit,
                "rmse": errors["test"],
                "relative": errors["test"] / spread["test"],
                "rmse_unseen": errors["unseen"],
                "relative_unseen": errors["unseen"] / spread["unseen"],
                "equivariance_error": equivariance_error(model, {k: v[:200] for k, v in x["unseen"].items()}, order),
                "wall_s": run.wall,
                "cpu_s": run.cpu,
                "inference_s": inference,
                "history": run.history,
            }
        )
    return rows


def main() -> None:
    args = task_options(
        __doc__.splitlines()[0], TASKS, "clouds", epochs=(60, 8), train=(4000, 1000), evaluations=(30, 8)
    )
    results = run_tasks(args, run_task, "clouds")
    print(
        f"\npoint clouds under S_N × O(3): trained on N in {list(TRAIN_SIZES)} ({args.train} clouds, {args.epochs} "
        f"epochs{', QUICK RUN' if args.quick else ''}); test RMSE in the task's units and relative to the targets' "
        "spread; training time on a shared machine"
    )
    header = (
        f"{'task':9s} {'model':15s} {'params':>7s} {'RMSE N≤12':>10s} {'rel.':>6s} {'RMSE 13-20':>10s} {'rel.':>6s} "
        f"{'equiv. err':>10s} {'wall s':>7s} {'cpu s':>7s}  unit"
    )
    print(header)
    for name, rows in results.items():
        for r in rows:
            print(
                f"{name:9s} {r['model']:15s} {r['params']:7d} {r['rmse']:10.4g} {r['relative']:6.3f} "
                f"{r['rmse_unseen']:10.4g} {r['relative_unseen']:6.3f} {r['equivariance_error']:10.1e} "
                f"{r['wall_s']:7.0f} {r['cpu_s']:7.0f}  {r['unit']}"
            )
    save_results(RESULTS / "bench_pointclouds.json", args, results)
    plot(runs_from_json(results), RESULTS / "bench_pointclouds.png", "test RMSE / target spread (N ≤ 12)")


if __name__ == "__main__":
    main()
