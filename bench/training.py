"""The training recipe shared by the task benchmarks: plain Adam (lr 3e-3), batch 500, cosine
decay of the learning rate to 0 over all steps, test error recorded against training time.

Training time counts the optimisation steps only (evaluations are excluded); both the wall
time and the process CPU time are kept, since the machine may be shared. Runs report progress
as they go (epoch, step, time since the start, mean training loss of the epoch so far) at least
every ``progress_every`` seconds, and at each evaluation.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class Run:
    name: str
    params: int
    history: list[tuple[float, float, float]] = field(default_factory=list)  # (wall s, cpu s, test error)
    wall: float = 0.0
    cpu: float = 0.0

    @property
    def final(self) -> float:
        return self.history[-1][2]


def _take(x, index):
    if isinstance(x, dict):
        return {k: v[index] for k, v in x.items()}
    return x[index]


def train(
    name: str,
    model: torch.nn.Module,
    loss_fn,
    test_error,
    x_train,
    y_train,
    *,
    epochs: int = 300,
    batch: int = 500,
    lr: float = 3e-3,
    evaluations: int = 30,
    seed: int = 0,
    verbose: bool = True,
    progress_every: float = 10.0,
) -> Run:
    """Train ``model`` with the recipe; ``loss_fn(model, x, y)`` is the training loss on a batch,
    ``test_error(model)`` the reported test error (called under no_grad at ``evaluations``
    evenly spaced epochs and at the end). With ``verbose``, a progress line at least every
    ``progress_every`` seconds (checked after each step) and a line at each evaluation."""
    size = len(y_train) if not isinstance(y_train, dict) else len(next(iter(y_train.values())))
    steps_per_epoch = -(-size // batch)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    run = Run(name, sum(p.numel() for p in model.parameters()))
    checkpoints = {max(1, round(epochs * (i + 1) / evaluations)) for i in range(evaluations)}
    started = last_report = time.perf_counter()
    for epoch in range(1, epochs + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        model.train()
        order = torch.randperm(size, generator=generator)
        loss_sum = torch.zeros((), dtype=torch.float64)
        for step, start in enumerate(range(0, size, batch), 1):
            index = order[start : start + batch]
            loss = loss_fn(model, _take(x_train, index), _take(y_train, index))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            loss_sum += loss.detach().to(loss_sum)
            if verbose and time.perf_counter() - last_report >= progress_every:
                last_report = time.perf_counter()
                print(
                    f"    {name:24s} epoch {epoch:4d}/{epochs}  step {step}/{steps_per_epoch}  "
                    f"loss {float(loss_sum) / step:.4g}  ({last_report - started:.0f} s elapsed)",
                    flush=True,
                )
        run.wall += time.perf_counter() - wall
        run.cpu += time.process_time() - cpu
        if epoch in checkpoints:
            model.eval()
            with torch.no_grad():
                error = float(test_error(model))
            run.history.append((run.wall, run.cpu, error))
            if verbose:
                last_report = time.perf_counter()
                print(
                    f"    {name:24s} epoch {epoch:4d}/{epochs}  loss {float(loss_sum) / steps_per_epoch:.4g}  "
                    f"test {error:.4g}  ({last_report - started:.0f} s elapsed; training {run.wall:.0f} s wall, "
                    f"{run.cpu:.0f} s cpu)",
                    flush=True,
                )
    return run


def _label(row: dict) -> str:
    return row["model"] if "seed" not in row else f"{row['model']} (seed {row['seed']})"


def runs_from_json(results: dict) -> dict[str, list[Run]]:
    """The runs of a benchmark's JSON results (tasks skipped there are left out)."""
    out = {}
    for task, rows in results.items():
        if isinstance(rows, list):
            out[task] = [
                Run(_label(r), r["params"], [tuple(h) for h in r["history"]], r["wall_s"], r["cpu_s"]) for r in rows
            ]
    return out


def plot(runs_by_task: dict[str, list[Run]], path, ylabel: str, references: dict[str, dict[str, float]] = ()) -> None:
    """Test error against training wall time, one panel per task, log-log; horizontal lines for
    published reference errors."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("(matplotlib missing: no plot)")
        return
    tasks = list(runs_by_task)
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for run in runs_by_task[task]:
            ax.plot([h[0] for h in run.history], [h[2] for h in run.history], marker=".", label=run.name)
        for label, value in dict(references).get(task, {}).items():
            ax.axhline(value, linestyle="--", color="grey", linewidth=1)
            ax.annotate(label, (0.02, value), xycoords=("axes fraction", "data"), fontsize=8, va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("training time (s, wall; shared machine)")
        ax.set_ylabel(ylabel)
        ax.set_title(task)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


# -- the command line and results of a task benchmark ---------------------------------------------
def task_options(
    description: str,
    tasks: Sequence[str],
    examples: str,
    *,
    epochs: tuple[int, int],
    train: tuple[int, int],
    evaluations: tuple[int, int],
    more: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: Sequence[str] | None = None,
) -> argparse.Namespace:
    """A task benchmark's options: --quick, --tasks, --epochs, --train (how many training
    ``examples``), what ``more`` adds, --batch (100), --seed, --threads (set in torch here) and
    --quiet. ``epochs``, ``train`` and ``evaluations`` are the (full, quick) defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tasks", nargs="*", default=list(tasks), choices=list(tasks))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--train", type=int, help=f"training {examples} (default {train[0]}, {train[1]} with --quick)")
    if more is not None:
        more(parser)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.epochs = args.epochs or epochs[args.quick]
    args.train = args.train or train[args.quick]
    args.evaluations = evaluations[args.quick]
    return args


def train_task(name: str, model: torch.nn.Module, loss_fn, test_error, x_train, y_train, args, seed: int) -> Run:
    """:func:`train` with the options of :func:`task_options` (epochs, batch, evaluations, quiet)."""
    return train(
        name,
        model,
        loss_fn,
        test_error,
        x_train,
        y_train,
        epochs=args.epochs,
        batch=args.batch,
        evaluations=args.evaluations,
        seed=seed,
        verbose=not args.quiet,
    )


def run_tasks(args: argparse.Namespace, run_task: Callable, examples: str) -> dict:
    """``run_task(task, args, seed)`` for every task asked for, announced as it starts."""
    results = {}
    for task in args.tasks:
        print(f"{task} ({args.train} {examples}, {args.epochs} epochs, batch {args.batch})", flush=True)
        results[task] = run_task(task, args, args.seed)
    return results


def save_results(path: Path, args: argparse.Namespace, results: dict, extra: Sequence[str] = ()) -> None:
    """Write the results as JSON with the run's settings (``extra``: more options to record)."""
    path.parent.mkdir(exist_ok=True)
    meta = {"torch": torch.__version__, "machine": platform.machine(), "threads": args.threads}
    meta |= {"epochs": args.epochs, "train": args.train} | {name: getattr(args, name) for name in extra}
    meta |= {"batch": args.batch, "seed": args.seed, "quick": args.quick}
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
