"""Particle sets of varying size under S_N × O(1, 3): PELICAN's architecture (Bogatskiy et al.
2022) built from catlayer parts, ``EquivariantMLP(S() * O(1, 3), …)`` with its defaults and a
DeepSets baseline on raw four-momenta, on an invariant regression, a covariant regression and a
three-prong vs one-prong classification from the generator below.

    python bench/bench_particles.py              # 10000 training events, 40 epochs, batch 100
    python bench/bench_particles.py --quick      # 2000 training events, 8 epochs (2–3 min in all)
    python bench/bench_particles.py --tasks classification --epochs 60 --threads 2

**PELICAN from catlayer parts** (class ``Pelican``; η = diag(1, −1, −1, −1))::

    G = S() * O(1, 3)
    dots = TypedBilinear(G, {(1, 1): 1}, {(2, 0): 1}, "canonical", reduce="sum")   # d_ij = p_i·p_j
    blocks = [EquivariantLinear(S(), 2, 2, width, width) for _ in range(depth)]      # 15 aggregators
    head = EquivariantLinear(S(), 2, 0, width, 1)                                  # trace and total
    h = log1p(d · e^a)                     # a learned scale per channel: pointwise, so equivariant
    for block in blocks: h = silu(block(h, mask))
    y = head(h, mask) + head_sum(h, mask) / 16²   # PELICAN's mean and sum aggregation (sizes)

The canonical product diagram of (1, 1) × (1, 1) → (2, 0) is exactly the Minkowski dot product
p_i·p_j (its weight is fixed to 1); pair features of type (2, 0) are Lorentz invariant, so any
pointwise function of them is allowed (docs/conventions.md §10). For a covariant output the head is
``EquivariantLinear(S(), 2, 1, width, 1)``, giving invariant weights c_i, and the output is
Σ_i c_i p_i (PELICAN's momentum regression).

**The generator** (``events``; units of the heavy mass scale M_X = 1; tested in
tests/test_bench_products.py). Each event is built at rest and then boosted:

* the event's invariant mass M ~ U(0.8, 1.2) and its multiplicity N = k_1 + k_2 + k_3 with
  k_i ~ U{1, …, 4} (N in 3 … 12) are drawn from the same distributions for both classes;
* **signal (three prongs, label 1):** a heavy particle of mass M decays isotropically into a
  prong b and an intermediate Y of mass m_Y = 0.46; Y decays isotropically into prongs q, q'
  (a top-quark-like cascade t → bW, W → qq'); the prong masses are m_b ~ U(0.02, 0.15),
  m_q, m_q' ~ U(0.02, 0.10) (0 for a prong of one particle), and prong i showers into k_i
  particles;
* **background (one-prong splitting, label 0):** a system of mass M showers into N particles by
  the same successive splitting ``shower`` that the signal's prongs use, with no heavy
  intermediate state: a parent of mass m splits into two children of masses (0.1 + 0.4 u²) m
  (u ~ U(0, 1), lighter masses more likely; 0 for a final particle), the decay axis biased
  towards the parent's direction of flight (cos θ* = ±(1 − 2u²): one hard daughter and a softer
  one, as in a collinear parton splitting);
* every event is then boosted in a uniformly random direction with rapidity ~ U(0, 2)
  (γ up to 3.8), and its particles listed in a random order.

Since M, N and the boost have the same distributions in both classes, the total invariant mass,
the multiplicity and anything that depends on the frame carry no information about the label
(the ``mass only``, ``N only`` and ``rapidity only`` rows show AUC ≈ 0.5): a Lorentz-invariant
classifier can only tell the classes apart by the internal structure of the decay, seen in the
invariants p_i·p_j: three hard prongs sharing the energy (in the rest frame, x_i = p_i·P / M²)
with a subsystem at the mass m_Y, against hard particles carrying most of the energy with
softer emissions and no fixed intermediate mass. (Single invariants are weak alone: the
largest x_i separates the classes with AUC ≈ 0.70, the largest pair mass with ≈ 0.62.)

**Tasks** (on the same kind of events, both classes mixed for the regressions):

* ``invariant``: y = Σ_{i<j} m_ij, the sum of all pair masses (units of M_X; grows with N²);
* ``covariant``: y = Σ_i c_i p_i with c_i = sqrt(x_i) and x_i = p_i·P / P·P (P = Σ_j p_j; x_i
  is particle i's energy fraction in the event's rest frame, Σ_i x_i = 1): a four-vector,
  error in the lab frame (units of M_X);
* ``classification``: signal vs background; accuracy (logit > 0) and ROC AUC (computed here,
  Mann–Whitney).

Reported for regressions: test RMSE in units of M_X and relative to the RMS spread of the
targets; for the classification: test accuracy and AUC. ``equiv. err``: max |f(Λ·x) − Λ·f(x)|
over 200 test events relative to the RMS output (Λ a random element of O(1, 3) from catlayer,
rapidities ≲ 1, and a random relabelling of the particles). Recipe of bench/training.py (Adam
3e-3, cosine decay), batch 100; four-momenta enter every model as they are (units of M_X).
Training time counts optimisation steps only (shared machine). Writes
bench/results/bench_particles.json and bench/results/bench_particles.png.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from set_models import REFERENCE_SIZE, DeepSets, parameters, rmse, roc_auc, trim
from torch import nn
from training import plot, run_tasks, runs_from_json, save_results, task_options, train_task

from catlayer import O, S
from catlayer.nn import EquivariantLinear, EquivariantMLP, TypedBilinear

RESULTS = Path(__file__).resolve().parent / "results"
ETA = np.diag([1.0, -1.0, -1.0, -1.0])
M_Y = 0.46
MAX_PARTICLES = 12


# -- kinematics ---------------------------------------------------------------------------------------
def minkowski(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a·b = a⁰b⁰ − a·b over the last axis."""
    return a[..., 0] * b[..., 0] - (a[..., 1:] * b[..., 1:]).sum(-1)


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The pure boost that takes a particle at rest to velocity beta (3,), applied to p (..., 4)."""
    b2 = float(beta @ beta)
    if b2 == 0.0:
        return p.copy()
    gamma = 1.0 / math.sqrt(1.0 - b2)
    bp = p[..., 1:] @ beta
    energy = gamma * (p[..., 0] + bp)
    space = p[..., 1:] + (((gamma - 1.0) * bp / b2 + gamma * p[..., 0])[..., None]) * beta
    return np.concatenate([energy[..., None], space], axis=-1)


def _frame(axis: np.ndarray) -> np.ndarray:
    """An orthonormal basis (3, 3) whose last row is the unit vector along axis."""
    z = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def two_body(parent: np.ndarray, m1: float, m2: float, cos_theta: float, phi: float) -> tuple[np.ndarray, np.ndarray]:
    """parent (4,) of mass M → daughters of masses m1, m2 (m1 + m2 < M), emitted at polar angle θ*
    (cos_theta) to the parent's direction of flight (the z axis for a parent at rest) in the
    parent's rest frame; both returned in the frame of ``parent``. Four-momentum is conserved."""
    mass = math.sqrt(max(minkowski(parent, parent), 0.0))
    q = math.sqrt(max((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2), 0.0)) / (2 * mass)
    sin_theta = math.sqrt(max(1.0 - cos_theta**2, 0.0))
    local = np.array([sin_theta * math.cos(phi), sin_theta * math.sin(phi), cos_theta])
    momentum = parent[1:]
    axis = momentum if np.linalg.norm(momentum) > 1e-12 * parent[0] else np.array([0.0, 0.0, 1.0])
    direction = local @ _frame(axis)
    p1 = np.concatenate([[math.sqrt(m1**2 + q**2)], q * direction])
    p2 = np.concatenate([[math.sqrt(m2**2 + q**2)], -q * direction])
    beta = momentum / parent[0]
    return boost(p1, beta), boost(p2, beta)


def shower(rng: np.random.Generator, parent: np.ndarray, count: int) -> list[np.ndarray]:
    """Split ``parent`` into ``count`` particles by successive two-body splittings, as a parton
    shower does: children lighter than the parent, m = (0.1 + 0.4 u²) × the parent's mass (u ~ U(0, 1);
    0 for a child that is a final particle), the decay axis biased towards the parent's direction
    of flight (cos θ* = ±(1 − 2u²)): a hard daughter and a softer one."""
    if count == 1:
        return [parent]
    mass = math.sqrt(max(minkowski(parent, parent), 0.0))
    left = int(rng.integers(1, count))
    m1 = 0.0 if left == 1 else mass * (0.1 + 0.4 * rng.uniform() ** 2)
    m2 = 0.0 if count - left == 1 else mass * (0.1 + 0.4 * rng.uniform() ** 2)
    cos_theta = rng.choice([-1.0, 1.0]) * (1.0 - 2.0 * rng.uniform() ** 2)
    a, b = two_body(parent, m1, m2, cos_theta, rng.uniform(0, 2 * math.pi))
    return shower(rng, a, left) + shower(rng, b, count - left)


def _isotropic(rng: np.random.Generator) -> tuple[float, float]:
    return rng.uniform(-1.0, 1.0), rng.uniform(0.0, 2 * math.pi)


def signal_prongs(rng: np.random.Generator, mass: float, counts) -> list[np.ndarray]:
    """The three prongs (b, q, q') of a heavy particle of the given mass at rest: X → b Y (isotropic),
    Y → q q' (isotropic in Y's frame), m_Y = 0.46; a prong of one particle is massless."""
    m_b = 0.0 if counts[0] == 1 else rng.uniform(0.02, 0.15)
    m_q = 0.0 if counts[1] == 1 else rng.uniform(0.02, 0.10)
    m_r = 0.0 if counts[2] == 1 else rng.uniform(0.02, 0.10)
    at_rest = np.array([mass, 0.0, 0.0, 0.0])
    b, y = two_body(at_rest, m_b, M_Y, *_isotropic(rng))
    q, r = two_body(y, m_q, m_r, *_isotropic(rng))
    return [b, q, r]


def events(rng: np.random.Generator, size: int, max_particles: int = MAX_PARTICLES) -> dict[str, np.ndarray]:
    """``size`` events, half signal (label 1) and half background (label 0), in a random order:
    p (size, max_particles, 4) four-momenta (padded with 0), mask, label, mass (the event's
    invariant mass before any rounding) and rapidity (of the boost)."""
    p = np.zeros((size, max_particles, 4))
    mask = np.zeros((size, max_particles), dtype=bool)
    labels = rng.permutation(np.arange(size) % 2)
    masses = rng.uniform(0.8, 1.2, size)
    rapidities = rng.uniform(0.0, 2.0, size)
    for e in range(size):
        counts = rng.integers(1, 5, 3)
        if labels[e]:
            prongs = signal_prongs(rng, masses[e], counts)
            particles = [x for prong, k in zip(prongs, counts, strict=True) for x in shower(rng, prong, int(k))]
        else:
            particles = shower(rng, np.array([masses[e], 0.0, 0.0, 0.0]), int(counts.sum()))
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        moved = boost(np.stack(particles), math.tanh(rapidities[e]) * direction)
        n = len(particles)
        p[e, :n] = moved[rng.permutation(n)]
        mask[e, :n] = True
    return {"p": p, "mask": mask, "label": labels, "mass": masses, "rapidity": rapidities}


# -- targets ------------------------------------------------------------------------------------------
def pair_mass_sum(p: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ_{i<j} sqrt((p_i + p_j)²) over valid pairs, (B, 1)."""
    total = p[:, :, None, :] + p[:, None, :, :]
    masses = np.sqrt(np.clip(minkowski(total, total), 0.0, None))
    valid = mask[:, :, None] & mask[:, None, :]
    return (np.triu(masses * valid, 1)).sum((1, 2))[:, None]


def weighted_momentum(p: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ_i sqrt(x_i) p_i with x_i = p_i·P / P·P, P = Σ_j p_j, (B, 4)."""
    p = p * mask[..., None]
    total = p.sum(1)
    x = minkowski(p, total[:, None, :]) / minkowski(total, total)[:, None]
    return (np.sqrt(np.clip(x, 0.0, None))[..., None] * p).sum(1)


TASKS = {
    # name: (target, output order of catlayer models, output shape)
    "invariant": (lambda ev: pair_mass_sum(ev["p"], ev["mask"]), (0, 0), (1,)),
    "covariant": (lambda ev: weighted_momentum(ev["p"], ev["mask"]), (0, 1), (4,)),
    "classification": (lambda ev: ev["label"][:, None].astype(np.float64), (0, 0), (1,)),
}


# -- models -------------------------------------------------------------------------------------------
class Pelican(nn.Module):
    """PELICAN from catlayer parts (see the module docstring): Minkowski dot products into a pair
    tensor, a learned log embedding, ``depth`` 2 → 2 blocks with SiLU, a 2 → 0 head (mean and sum
    aggregation) or, for a four-vector output, a 2 → 1 head giving c_i and Σ_i c_i p_i."""

    def __init__(self, covariant: bool = False, width: int = 16, depth: int = 3):
        super().__init__()
        self.covariant = covariant
        self.dots = TypedBilinear(S() * O(1, 3), {(1, 1): 1}, {(2, 0): 1}, "canonical", reduce="sum")
        nn.init.ones_(self.dots.weight((1, 1), (1, 1), (2, 0)))
        self.dots.requires_grad_(False)  # exactly p_i·p_j
        self.log_scales = nn.Parameter(torch.linspace(-2.0, 4.0, width))
        self.blocks = nn.ModuleList(EquivariantLinear(S(), 2, 2, width, width) for _ in range(depth))
        if covariant:
            self.head = EquivariantLinear(S(), 2, 1, width, 1)
        else:
            self.head = EquivariantLinear(S(), 2, 0, width, 1)
            self.head_sum = EquivariantLinear(S(), 2, 0, width, 1, bias=False, reduce="sum")

    def forward(self, p: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        d = self.dots({(1, 1): p[:, None]}, {(1, 1): p[:, None]}, mask)[(2, 0)]  # (B, 1, N, N)
        h = torch.log1p(d.clamp(min=0) * self.log_scales.exp()[:, None, None])
        for block in self.blocks:
            h = torch.nn.functional.silu(block(h, mask))
        if self.covariant:
            c = self.head(h, mask)[:, 0]  # (B, N): invariant weights, 0 on padding
            return torch.einsum("bn,bnm->bm", c, p)
        return self.head(h, mask) + self.head_sum(h, mask) / REFERENCE_SIZE**2


class Equivariant(nn.Module):
    """EquivariantMLP(S() * O(1, 3)) with its defaults on the four-momenta (type (1, 1))."""

    def __init__(self, order: tuple[int, int]):
        super().__init__()
        self.order = order
        self.net = EquivariantMLP(S() * O(1, 3), {(1, 1): 1}, {order: 1})

    def forward(self, p: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net({(1, 1): p[:, None]}, mask)[self.order][:, 0].reshape(len(p), -1)


class Baseline(nn.Module):
    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.net = DeepSets(4, shape)

    def forward(self, p: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(p, mask)


def make_models(task: str) -> dict:
    _, order, shape = TASKS[task]
    return {
        "PELICAN (catlayer)": lambda: Pelican(covariant=order == (0, 1)),
        "EquivariantMLP": lambda: Equivariant(order),
        "DeepSets": lambda: Baseline(shape),
    }


class _Batch(nn.Module):
    """A model taking (p, mask) as a module taking the training batch dict (trimmed)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = trim(batch)
        return self.module(batch["p"], batch["mask"])


# -- evaluation ---------------------------------------------------------------------------------------
def random_lorentz(seed: int) -> np.ndarray:
    return np.asarray(O(1, 3).random_element(seed), dtype=np.float64)


def equivariance_error(model: nn.Module, batch: dict[str, torch.Tensor], covariant: bool) -> float:
    """max |f(Λx, σ) − Λ f(x)| / RMS f(x) over the batch, Λ ∈ O(1, 3) random, σ a relabelling."""
    rng = np.random.default_rng(3)
    lorentz = torch.tensor(random_lorentz(3), dtype=torch.float32)
    sizes = batch["mask"].sum(1)
    width = batch["mask"].shape[1]
    order = torch.stack(
        [torch.cat([torch.tensor(rng.permutation(int(n))), torch.arange(int(n), width)]) for n in sizes]
    )
    moved = {
        "p": torch.take_along_dim(batch["p"], order[..., None], 1) @ lorentz.T,
        "mask": torch.take_along_dim(batch["mask"], order, 1),
    }
    with torch.no_grad():
        y = model(batch)
        expected = y @ lorentz.T if covariant else y
        return float((model(moved) - expected).abs().max() / y.square().mean().sqrt())


def as_batch(ev: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {"p": torch.tensor(ev["p"], dtype=torch.float32), "mask": torch.tensor(ev["mask"])}


def run_task(task: str, args, seed: int) -> dict:
    target_of, order, _ = TASKS[task]
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    data = {"train": events(rng, args.train), "test": events(rng, args.test)}
    print(f"  generated {args.train + args.test} events in {time.perf_counter() - started:.1f} s", flush=True)
    x = {k: as_batch(v) for k, v in data.items()}
    y = {k: torch.tensor(target_of(v), dtype=torch.float32) for k, v in data.items()}
    classify = task == "classification"
    if classify or order == (0, 1):
        shift, scale = 0.0, (1.0 if classify else float(y["train"].square().mean().sqrt()))
    else:
        shift, scale = float(y["train"].mean()), float(y["train"].std())
    spread = float((y["test"] - y["test"].mean(0)).square().mean().sqrt())

    def loss_fn(model, xb, yb):
        out = model(xb)
        if classify:
            return nn.functional.binary_cross_entropy_with_logits(out, yb)
        return (out - (yb - shift) / scale).square().mean()

    def test_error(model):
        out = model(x["test"])
        if classify:
            return 1.0 - roc_auc(out[:, 0].numpy(), data["test"]["label"])
        return rmse(out * scale + shift, y["test"]) / spread

    rows = []
    for name, make in make_models(task).items():
        torch.manual_seed(seed)
        model = _Batch(make())
        run = train_task(name, model, loss_fn, test_error, x["train"], y["train"], args, seed)
        model.eval()
        with torch.no_grad():
            out = model(x["test"])
        row = {"model": name, "params": parameters(model), "wall_s": run.wall, "cpu_s": run.cpu, "history": run.history}
        if classify:
            row["accuracy"] = float(((out[:, 0] > 0).numpy() == data["test"]["label"].astype(bool)).mean())
            row["auc"] = roc_auc(out[:, 0].numpy(), data["test"]["label"])
        else:
            row["rmse"] = rmse(out * scale + shift, y["test"])
            row["relative"] = row["rmse"] / spread
        small = {k: v[:200] for k, v in x["test"].items()}
        row["equivariance_error"] = equivariance_error(model, small, order == (0, 1))
        rows.append(row)
    result = {"rows": rows}
    if classify:
        test = data["test"]
        total = (test["p"] * test["mask"][..., None]).sum(1)
        mass = np.sqrt(minkowski(total, total))
        result["references"] = {
            "mass only (|M − 1|)": roc_auc(-np.abs(mass - 1.0), test["label"]),
            "N only": roc_auc(test["mask"].sum(1), test["label"]),
            "rapidity only": roc_auc(test["rapidity"], test["label"]),
        }
    return result


def main() -> None:
    args = task_options(
        __doc__.splitlines()[0],
        TASKS,
        "events",
        epochs=(40, 8),
        train=(10000, 2000),
        evaluations=(20, 8),
        more=lambda parser: parser.add_argument("--test", type=int, default=2000),
    )
    results = run_tasks(args, run_task, "events")
    quick = ", QUICK RUN" if args.quick else ""
    print(
        f"\nparticle sets under S_N × O(1, 3), N in 3 … 12 ({args.train} training events, {args.epochs} "
        f"epochs{quick}); training time on a shared machine"
    )
    print(
        f"{'task':15s} {'model':19s} {'params':>7s} {'RMSE (M_X)':>10s} {'rel.':>6s} {'acc.':>6s} {'AUC':>6s} "
        f"{'equiv. err':>10s} {'wall s':>7s} {'cpu s':>7s}"
    )
    for task, result in results.items():
        for r in result["rows"]:
            numbers = (
                f"{'':>10s} {'':>6s} {r['accuracy']:6.3f} {r['auc']:6.3f}"
                if "auc" in r
                else f"{r['rmse']:10.4g} {r['relative']:6.3f} {'':>6s} {'':>6s}"
            )
            print(
                f"{task:15s} {r['model']:19s} {r['params']:7d} {numbers} {r['equivariance_error']:10.1e} "
                f"{r['wall_s']:7.0f} {r['cpu_s']:7.0f}"
            )
        for name, auc in result.get("references", {}).items():
            print(f"{task:15s} {name:19s} {'':>7s} {'':>10s} {'':>6s} {'':>6s} {auc:6.3f}   (no training)")
    save_results(RESULTS / "bench_particles.json", args, results, extra=("test",))
    runs = runs_from_json({task: result["rows"] for task, result in results.items()})
    plot(runs, RESULTS / "bench_particles.png", "test error (relative RMSE; 1 − AUC for classification)")


if __name__ == "__main__":
    main()
