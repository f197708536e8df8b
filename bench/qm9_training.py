"""What bench/bench_qm9.py (catlayer) and bench/qm9_baselines.py (schnetpack's PaiNN and SchNet)
share, so that every model runs under the same command line, data, targets, training loop and
report:

* ``add_arguments`` / ``check_arguments``: the common options (``--target``, ``--train-index``,
  ``--test-index``, ``--budget``, ``--threads``, ``--clock``, ``--predictions``, …) and their
  checks, all made before the data is loaded;
* ``load_task``: the data (``qm9_data.load_qm9``), the split (index files or the default split),
  the target column, the per-element linear baseline and the scale of the residual the network
  learns (per atom for a sum over atoms, as schnetpack's ScaleShift);
* ``train``: Adam, cosine decay of the learning rate to 0 over the budget (wall-clock or CPU
  seconds of the process, and optionally a number of steps), only optimisation steps counted,
  test evaluations at log-spaced times for the curve, peak memory of training;
* ``report``: the test MAE, the ``index,prediction`` CSV (no header), the JSON summary, the plot.

A model is given to ``train`` as two functions: ``make_batches(rows, y, shuffle, generator)``
yields batches with a ``y`` attribute (standardised targets) and ``forward(batch)`` returns the
(B,) standardised predictions; batches may be anything (ragged, padded, with bonds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import qm9_data
import torch

RESULTS = Path(__file__).resolve().parent / "results"

Batches = Callable[..., Iterator[Any]]


def add_arguments(parser: argparse.ArgumentParser, *, batch_size: int, lr: float, curve: int = 0) -> None:
    """The options every QM9 benchmark takes (defaults for batch size, learning rate and the number
    of curve points are the model's)."""
    parser.add_argument("--target", default="HOMO_LUMO_gap_au", help="a numeric column of the QM9 CSV")
    parser.add_argument("--train-index", type=Path, help="QM9 Index values, one per line")
    parser.add_argument("--test-index", type=Path, help="QM9 Index values, one per line")
    parser.add_argument("--n-train", type=int, default=10_000, help="default split only")
    parser.add_argument("--n-test", type=int, default=2_000, help="default split only")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of training (see --clock)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="what the budget counts: wall-clock seconds, or CPU seconds of this process (all threads)",
    )
    parser.add_argument(
        "--max-steps", type=int, help="also stop after this many steps (the schedule follows whichever ends first)"
    )
    parser.add_argument("--predictions", type=Path, help="write index,prediction rows (no header)")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr, help="initial learning rate (cosine decay to 0)")
    parser.add_argument("--loss", choices=["mse", "l1"], default="mse")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--curve", type=int, default=curve, help="test evaluations during training (log-spaced)")
    parser.add_argument("--json", type=Path, help="summary (default bench/results/qm9_<model>_<target>.json)")
    parser.add_argument("--plot", type=Path, help="PNG of test MAE against training time (default: the JSON's name)")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad arguments with a clear message (``parser.error``) before any heavy work."""
    if not math.isfinite(args.budget) or args.budget <= 0:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget:g}")
    for name in ("threads", "batch_size", "n_train", "n_test"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error(f"--max-steps must be at least 1, got {args.max_steps}")
    if args.curve < 0:
        parser.error(f"--curve must be at least 0, got {args.curve}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr must be positive, got {args.lr:g}")
    if bool(args.train_index) != bool(args.test_index):
        parser.error("give both --train-index and --test-index, or neither (the default split)")
    for name in ("train_index", "test_index"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            parser.error(f"--{name.replace('_', '-')}: no such file: {path}")
    for name in ("predictions", "json", "plot"):
        path = getattr(args, name)
        if path is not None and path.exists() and path.is_dir():
            parser.error(f"--{name}: {path} is a directory, not a file")


@dataclass
class Task:
    """A target column on a split: the network learns ``(y − offset) / scale``."""

    data: qm9_data.QM9
    column: str
    train_rows: np.ndarray
    test_rows: np.ndarray
    y: np.ndarray  # (M,) the column over all rows, in its own units
    offset: np.ndarray  # (M,) the per-element baseline (zeros without one)
    scale: float
    baseline: qm9_data.ElementBaseline | None

    @property
    def y_scaled(self) -> np.ndarray:
        return (self.y - self.offset) / self.scale

    def mae(self, predictions: np.ndarray) -> float:
        """Test MAE (column units) of predictions over ``test_rows``."""
        return float(np.mean(np.abs(predictions - self.y[self.test_rows])))


def load_task(parser: argparse.ArgumentParser, args: argparse.Namespace, *, baseline: bool, per_atom: bool) -> Task:
    """The data, the split and the target of ``args``; an unknown column or Index is a parser
    error. ``baseline``: subtract the per-element linear baseline (fitted on the training set);
    ``per_atom``: scale by the spread of the residual per atom (for a sum over atoms), else by
    the spread of the residual."""
    data = qm9_data.load_qm9()
    if args.target not in data.columns:
        parser.error(f"--target: no numeric column {args.target!r}; the columns are: {', '.join(data.columns)}")
    y = data.target(args.target)
    try:
        if args.train_index:
            train = qm9_data.read_index_file(args.train_index, data.index)
            test = qm9_data.read_index_file(args.test_index, data.index)
        else:
            train, test = qm9_data.default_split(data.index, args.n_train, args.n_test, seed=args.seed)
        qm9_data.check_disjoint(train=train, test=test)
    except (KeyError, ValueError) as error:
        parser.error(str(error).strip('"'))
    if not len(train) or not len(test):
        parser.error("the training and the test set need at least one molecule each")
    train_rows, test_rows = data.rows(train), data.rows(test)
    if not np.isfinite(y[train_rows]).all() or not np.isfinite(y[test_rows]).all():
        parser.error(f"--target {args.target}: the column has missing values in the split")
    fit = None
    offset = np.zeros(len(data))
    if baseline:
        counts = data.element_counts()
        fit = qm9_data.ElementBaseline.fit(counts[train_rows], y[train_rows])
        offset = fit(counts)
    residual = y - offset
    spread = residual[train_rows] / (data.n_atoms[train_rows] if per_atom else 1.0)
    scale = float(np.std(spread)) or 1.0
    return Task(data, args.target, train_rows, test_rows, y, offset, scale, fit)


# ----------------------------------------------------------------------------------------------
# Memory


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS of this process to its current RSS (Linux ≥ 4.0: writing 5 to
    /proc/self/clear_refs); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """The peak RSS since the last reset (VmHWM), or since the start (ru_maxrss) without /proc."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# ----------------------------------------------------------------------------------------------
# Training


def predict(
    forward: Callable[[Any], torch.Tensor],
    model: torch.nn.Module,
    task: Task,
    rows: np.ndarray,
    make_batches: Batches,
    batch_size: int,
) -> np.ndarray:
    """Predictions in the column's units for ``rows`` (in that order): the network's output times
    ``scale`` plus the baseline ``offset``."""
    model.eval()
    out = []
    with torch.no_grad():
        for batch in make_batches(rows, batch_size):
            out.append(forward(batch).double().numpy())
    model.train()
    return np.concatenate(out) * task.scale + task.offset[rows]


@dataclass
class Trained:
    steps: int = 0
    elapsed: float = 0.0  # wall seconds of optimisation steps
    cpu: float = 0.0  # process CPU seconds of optimisation steps
    epoch_ends: list[float] = field(default_factory=list)  # wall seconds at each completed epoch
    curve: list[tuple[float, float]] = field(default_factory=list)  # (budget clock, test MAE)
    rss_before: int = 0
    peak_rss: int = 0
    peak_reset: bool = False
    steps_per_epoch: int = 1

    @property
    def epochs(self) -> float:
        return self.steps / self.steps_per_epoch

    @property
    def seconds_per_epoch(self) -> float:
        """Mean wall seconds of the completed epochs (the time over the epochs done if none)."""
        if self.epoch_ends:
            return float(np.mean(np.diff([0.0, *self.epoch_ends])))
        return self.elapsed / max(self.epochs, 1e-12)


def train(
    model: torch.nn.Module,
    forward: Callable[[Any], torch.Tensor],
    make_batches: Batches,
    task: Task,
    args: argparse.Namespace,
) -> Trained:
    """Adam on the standardised target, the learning rate ``args.lr`` cosine-decayed to 0 over the
    budget (``args.clock`` seconds) or ``args.max_steps``, whichever ends first; stops when either
    is spent (checked after every step). Only optimisation counts (batching, forward, backward,
    step); the ``args.curve`` test evaluations (log-spaced in the budget) do not. Epochs run over
    the training rows shuffled by a generator seeded with ``args.seed``."""
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.functional.mse_loss if args.loss == "mse" else torch.nn.functional.l1_loss
    generator = np.random.default_rng(args.seed)
    factor, shown_unit = qm9_data.display_units(task.column)
    checkpoints = [args.budget * 2.0 ** (k - args.curve) for k in range(1, args.curve)] if args.curve > 1 else []
    y_scaled = task.y_scaled
    run = Trained(steps_per_epoch=math.ceil(len(task.train_rows) / args.batch_size))
    run.rss_before = rss_bytes()
    run.peak_reset = reset_peak_rss()
    spent = 0.0
    train_error, train_seen = 0.0, 0
    done = False
    while not done:
        for batch in make_batches(task.train_rows, args.batch_size, y=y_scaled, shuffle=True, generator=generator):
            start, start_cpu = time.perf_counter(), time.process_time()
            progress = max(spent / args.budget, run.steps / args.max_steps if args.max_steps else 0.0)
            for group in optimiser.param_groups:
                group["lr"] = args.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
            output = forward(batch)
            loss = loss_fn(output, batch.y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            run.steps += 1
            run.elapsed += time.perf_counter() - start
            run.cpu += time.process_time() - start_cpu
            spent = run.cpu if args.clock == "cpu" else run.elapsed
            train_error += float((output.detach() - batch.y).abs().sum()) * task.scale
            train_seen += len(batch.y)
            if checkpoints and spent >= checkpoints[0]:
                while checkpoints and spent >= checkpoints[0]:
                    checkpoints.pop(0)
                predicted = predict(forward, model, task, task.test_rows, make_batches, args.batch_size)
                mae = task.mae(predicted)
                run.curve.append((spent, mae))
                print(f"  {spent:7.1f} s  step {run.steps}  test MAE {mae * factor:.5g} {shown_unit}", flush=True)
            if spent >= args.budget or (args.max_steps and run.steps >= args.max_steps):
                done = True
                break
        else:
            run.epoch_ends.append(run.elapsed)
            print(
                f"  epoch {len(run.epoch_ends)}: {run.elapsed:7.1f} s, training MAE "
                f"{train_error / train_seen * factor:.5g} {shown_unit} (during the epoch)",
                flush=True,
            )
            train_error, train_seen = 0.0, 0
    run.peak_rss = peak_rss_bytes()
    return run


def describe(task: Task, name: str, parameters: int, args: argparse.Namespace) -> None:
    """The opening line: model, target, split, size, threads, budget and the baseline's MAE."""
    factor, shown_unit = qm9_data.display_units(task.column)
    column_unit = qm9_data.unit(task.column)
    baseline_mae = task.mae(task.offset[task.test_rows])
    print(
        f"{name} on {task.column} ({column_unit}): {len(task.train_rows)} train / {len(task.test_rows)} test, "
        f"{parameters:,} parameters, {args.threads} threads, budget {args.budget:g} {args.clock} s; "
        f"per-element baseline test MAE {baseline_mae:.6g} {column_unit}"
        + (f" = {baseline_mae * factor:.4g} {shown_unit}" if factor != 1.0 else ""),
        flush=True,
    )


def write_predictions(path: Path, index: np.ndarray, predictions: np.ndarray) -> None:
    """``index,prediction`` rows, no header, 12 significant digits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        handle.writelines(f"{int(i)},{p:.12g}\n" for i, p in zip(index, predictions, strict=True))


def report(
    name: str,
    model: torch.nn.Module,
    forward: Callable[[Any], torch.Tensor],
    make_batches: Batches,
    task: Task,
    args: argparse.Namespace,
    run: Trained,
    extra: dict[str, Any],
    *,
    predict_batch_size: int = 500,
) -> dict[str, Any]:
    """Predict the test set, write ``--predictions``, the JSON summary (``--json``, default
    ``bench/results/qm9_<name>_<target>.json``) and the plot (``--plot``, default the JSON's path with
    ``.png``); print and return the summary."""
    predictions = predict(forward, model, task, task.test_rows, make_batches, predict_batch_size)
    mae = task.mae(predictions)
    run.curve.append((run.cpu if args.clock == "cpu" else run.elapsed, mae))
    if args.predictions:
        write_predictions(args.predictions, task.data.index[task.test_rows], predictions)
    factor, shown_unit = qm9_data.display_units(task.column)
    column_unit = qm9_data.unit(task.column)
    summary = {
        "model": name,
        "target": task.column,
        "unit": column_unit,
        "test_mae": mae,
        "test_mae_display": [mae * factor, shown_unit],
        "baseline_test_mae": task.mae(task.offset[task.test_rows]),
        "n_train": len(task.train_rows),
        "n_test": len(task.test_rows),
        "budget_s": args.budget,
        "trained_s": run.elapsed,
        "trained_cpu_s": run.cpu,
        "load_average": os.getloadavg(),
        "steps": run.steps,
        "epochs": run.epochs,
        "seconds_per_epoch": run.seconds_per_epoch,
        "peak_rss_mib": run.peak_rss / 2**20,
        "peak_rss_above_pretraining_mib": (run.peak_rss - run.rss_before) / 2**20,
        "peak_rss_measured_from": "training start (VmHWM reset)" if run.peak_reset else "process start (ru_maxrss)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": args.threads,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "element_baseline": None
        if task.baseline is None
        else {"coef_HCNOF": task.baseline.coef.tolist(), "intercept": task.baseline.intercept},
        "scale": task.scale,
        "curve": run.curve,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        **extra,
    }
    out = args.json or RESULTS / f"qm9_{name}_{task.column}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    plot = args.plot or out.with_suffix(".png")
    plot.parent.mkdir(parents=True, exist_ok=True)
    qm9_data.plot_curves({name: run.curve}, plot, column=task.column)
    print(
        f"{name} {task.column}: test MAE {mae:.6g} {column_unit}"
        + (f" = {mae * factor:.4g} {shown_unit}" if factor != 1.0 else "")
        + f"; {run.epochs:.2f} epochs in {run.elapsed:.1f} s, {run.cpu:.0f} CPU s ({run.seconds_per_epoch:.1f} "
        f"s/epoch, {run.steps} steps); peak RSS {run.peak_rss / 2**20:.0f} MiB "
        f"({(run.peak_rss - run.rss_before) / 2**20:.0f} MiB above the RSS before training)",
        flush=True,
    )
    return summary
