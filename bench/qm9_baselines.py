"""schnetpack's PaiNN and SchNet on QM9, trained on the CPU for a wall-clock budget: the baselines
that ``bench/bench_qm9.py`` is compared with, under the same command line.

    python bench/qm9_baselines.py --model painn --target HOMO_LUMO_gap_au \\
        [--train-index FILE --test-index FILE] --budget 300 --threads 2 --predictions OUT.csv

Data (bench/qm9_data.py): index files hold one QM9 Index per line; without them the default split
(10,000 training / 2,000 test molecules, seed 0). The target is any numeric column of the CSV,
predicted in that column's own units. A per-element linear baseline (least squares on the H, C, N,
O, F counts plus a constant, fitted on the training set) is subtracted, and the network learns the
residual divided by its training standard deviation (per atom for a sum over atoms, as
schnetpack's ScaleShift). ``Dipole_debye`` is predicted as schnetpack's
``DipoleMoment`` magnitude (latent charges times positions, plus PaiNN's atomic dipoles), as in the
PaiNN paper, without the baseline; every other column by an ``Atomwise`` sum over atoms.

Models (schnetpack 2.0.4, its own modules; the input dicts are built here from padded/ragged
batches, neighbour pairs within the cutoff, no ASE database): PaiNN as in Schütt et al. 2021 (3
interactions, 20 Gaussian radial functions, cosine cutoff 5 Å), SchNet as in schnetpack's QM9
configuration (6 interactions, 20 Gaussians, cutoff 5 Å), with 64 features instead of 128.

Training: Adam, MSE loss (``--loss l1`` for MAE), batch 32, learning rate 2e-3 at the start,
cosine-decayed to 0 over the wall-clock ``--budget``; training stops when the budget is spent
(checked after every step). Only optimisation counts (batching, neighbour pairs, forward, backward,
step); the test evaluations of ``--curve`` points and the final prediction do not.

Why not the papers' 128 features, batch 100 and 5e-4 (measured on HOMO_LUMO_gap_au, 10,000 /
2,000 molecules, one thread, step-matched so that the machine's load does not matter): a PaiNN step
costs 0.10 CPU s with 64 features and batch 32, 0.21 s with 128 features; with batch 100 and 128
features about 1 s (the pair filters, pairs × 1,152 floats, leave the caches), so 120 s on two
threads is about one epoch. At 1,200 steps PaiNN-64 reaches 319 / 243 / 205 / 206 meV with
learning rate 5e-4 / 1e-3 / 2e-3 / 5e-3 (a mean over atoms instead of a sum: 326 / 247 meV at
5e-4 / 1e-3); PaiNN-128 with 2e-3 reaches 220 meV after 730 steps, which cost more CPU time than
PaiNN-64's 1,200. SchNet at 1,200 steps, 2e-3: 272 meV with 128 features (0.16 CPU s a step),
275 meV with 64 (0.06 s a step).

On a shared machine the wall clock is only as good as the machine is quiet: the summary keeps
the process CPU time of training and the load average too. ``--clock cpu`` counts the budget in
CPU seconds of the process instead (robust to other load with ``--threads 1``; with more threads
it also counts the time threads spin while waiting for each other, which grows with the load), and
``--max-steps`` also stops (and ends the schedule) after a number of steps, for comparisons that do
not depend on the load.

Reported: test MAE (column units; meV too for Hartree columns), epochs done, seconds per epoch
(the mean over complete epochs; the budget over the epochs done if there is none), steps, and
memory: the peak resident set size of the process during training (the kernel's VmHWM, reset to the
current RSS just before training by writing 5 to ``/proc/self/clear_refs``, read right after
training; where that is not possible ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the peak since
the process started): torch, the data set and training together; and that peak less the RSS just
before training (``/proc/self/statm``), which is what training itself added. ``--curve``
evaluations run in training-sized batches under ``no_grad``, so they do not raise the peak. Writes
``--predictions`` (``index,prediction`` rows, no header), a JSON summary (``--json``, default
``bench/results/qm9_<model>_<target>.json``) and, with ``--plot``, the test MAE against training
time (``--curve K`` log-spaced evaluation points; 0 evaluates only at the end; the time is the
budget's clock).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import resource
import time
import typing
from pathlib import Path

import numpy as np
import qm9_data
import torch
import torch.utils.data.dataloader

# schnetpack 2.0.4 imports T_co from torch.utils.data.dataloader, which torch 2.13 no longer defines.
if not hasattr(torch.utils.data.dataloader, "T_co"):
    torch.utils.data.dataloader.T_co = typing.TypeVar("T_co", covariant=True)  # type: ignore[attr-defined]

import schnetpack as spk
import schnetpack.properties as props

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_INTERACTIONS = {"painn": 3, "schnet": 6}


class Baseline(torch.nn.Module):
    """A schnetpack representation and output head on input dicts built from a ``RaggedBatch``:
    ``forward(batch)`` returns the (B,) standardised prediction."""

    def __init__(
        self,
        model: str,
        *,
        features: int = 128,
        interactions: int | None = None,
        cutoff: float = 5.0,
        n_rbf: int = 20,
        dipole: bool = False,
        aggregation: str = "sum",
    ) -> None:
        super().__init__()
        self.cutoff = cutoff
        radial = spk.nn.GaussianRBF(n_rbf=n_rbf, cutoff=cutoff)
        cut = spk.nn.CosineCutoff(cutoff)
        n = interactions or DEFAULT_INTERACTIONS[model]
        if model == "painn":
            self.representation: torch.nn.Module = spk.representation.PaiNN(
                n_atom_basis=features, n_interactions=n, radial_basis=radial, cutoff_fn=cut
            )
        elif model == "schnet":
            self.representation = spk.representation.SchNet(
                n_atom_basis=features, n_interactions=n, radial_basis=radial, cutoff_fn=cut
            )
        else:
            raise ValueError(f"unknown model {model!r}: painn or schnet")
        self.output_key = props.dipole_moment if dipole else "y"
        self.head: torch.nn.Module = (
            spk.atomistic.DipoleMoment(features, predict_magnitude=True, use_vector_representation=model == "painn")
            if dipole
            else spk.atomistic.Atomwise(features, aggregation_mode=aggregation, output_key="y")
        )

    def inputs(self, batch: qm9_data.RaggedBatch) -> dict[str, torch.Tensor]:
        """schnetpack's input dict for a batch: Z, R, n_atoms, idx_m, and the neighbour pairs
        within the cutoff with their vectors R_j − R_i."""
        idx_i, idx_j = qm9_data.neighbour_pairs(batch, self.cutoff)
        return {
            props.Z: batch.z,
            props.R: batch.pos,
            props.n_atoms: batch.n_atoms,
            props.idx_m: batch.batch,
            props.idx_i: idx_i,
            props.idx_j: idx_j,
            props.Rij: batch.pos[idx_j] - batch.pos[idx_i],
        }

    def forward(self, batch: qm9_data.RaggedBatch) -> torch.Tensor:
        inputs = self.representation(self.inputs(batch))
        return self.head(inputs)[self.output_key]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS of this process to its current RSS (Linux ≥ 4.0: writing 5 to
    /proc/self/clear_refs); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    """The peak RSS since the last reset (VmHWM), or since the start (ru_maxrss) without /proc."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def predict(
    model: Baseline, data: qm9_data.QM9, rows: np.ndarray, offset: np.ndarray, scale: float, batch_size: int = 500
) -> np.ndarray:
    """Predictions in the column's units for ``rows``: the network's output times ``scale`` plus
    the baseline ``offset`` (an (M,) array over all rows)."""
    model.eval()
    out = []
    with torch.no_grad():
        for batch in qm9_data.batches(data, rows, batch_size):
            assert isinstance(batch, qm9_data.RaggedBatch)
            out.append(model(batch).double().numpy())
    model.train()
    return np.concatenate(out) * scale + offset[rows]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", choices=["painn", "schnet"], default="painn")
    parser.add_argument("--target", default="HOMO_LUMO_gap_au", help="a numeric column of the QM9 CSV")
    parser.add_argument("--train-index", type=Path, help="QM9 Index values, one per line")
    parser.add_argument("--test-index", type=Path, help="QM9 Index values, one per line")
    parser.add_argument("--n-train", type=int, default=10_000, help="default split only")
    parser.add_argument("--n-test", type=int, default=2_000, help="default split only")
    parser.add_argument("--budget", type=float, default=300.0, help="wall-clock seconds of training")
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
    parser.add_argument("--features", type=int, default=64, help="the papers' 128 is slower for no gain here")
    parser.add_argument("--interactions", type=int, help="default: 3 for PaiNN, 6 for SchNet")
    parser.add_argument("--cutoff", type=float, default=5.0, help="Å")
    parser.add_argument("--rbf", type=int, default=20, help="Gaussian radial functions")
    parser.add_argument("--batch-size", type=int, default=32, help="the paper's 100 is slower per molecule")
    parser.add_argument("--lr", type=float, default=2e-3, help="initial; the paper's 5e-4 is for days")
    parser.add_argument("--loss", choices=["mse", "l1"], default="mse")
    parser.add_argument("--aggregation", choices=["sum", "avg"], default="sum", help="Atomwise head over atoms")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--curve", type=int, default=0, help="test evaluations during training (log-spaced)")
    parser.add_argument("--json", type=Path, help="summary (default bench/results/qm9_<model>_<target>.json)")
    parser.add_argument("--plot", type=Path, help="PNG of test MAE against training time")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = qm9_data.load_qm9()
    y_all = data.target(args.target)
    if args.train_index or args.test_index:
        if not (args.train_index and args.test_index):
            parser.error("give both --train-index and --test-index, or neither (the default split)")
        train = qm9_data.read_index_file(args.train_index, data.index)
        test = qm9_data.read_index_file(args.test_index, data.index)
    else:
        train, test = qm9_data.default_split(data.index, args.n_train, args.n_test, seed=args.seed)
    qm9_data.check_disjoint(train=train, test=test)
    train_rows, test_rows = data.rows(train), data.rows(test)

    dipole = args.target == "Dipole_debye"
    counts = data.element_counts()
    if dipole:
        offset = np.zeros(len(data))
        baseline = None
    else:
        baseline = qm9_data.ElementBaseline.fit(counts[train_rows], y_all[train_rows])
        offset = baseline(counts)
    residual = y_all - offset
    # As schnetpack's ScaleShift: a sum over atoms learns per-atom contributions, so it is scaled
    # by the spread of the residual per atom; a mean (and the dipole magnitude) by the residual's.
    per_atom = args.aggregation == "sum" and not dipole
    spread = residual[train_rows] / (data.n_atoms[train_rows] if per_atom else 1.0)
    scale = float(np.std(spread)) or 1.0
    y_scaled = residual / scale

    model = Baseline(
        args.model,
        features=args.features,
        interactions=args.interactions,
        cutoff=args.cutoff,
        n_rbf=args.rbf,
        dipole=dipole,
        aggregation=args.aggregation,
    )
    parameters = sum(p.numel() for p in model.parameters())
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.functional.mse_loss if args.loss == "mse" else torch.nn.functional.l1_loss
    generator = np.random.default_rng(args.seed)
    factor, shown_unit = qm9_data.display_units(args.target)
    column_unit = qm9_data.unit(args.target)
    checkpoints = [args.budget * 2.0 ** (k - args.curve) for k in range(1, args.curve)] if args.curve > 1 else []
    curve: list[tuple[float, float]] = []
    baseline_mae = float(np.mean(np.abs(offset[test_rows] - y_all[test_rows])))
    print(
        f"{args.model} on {args.target} ({column_unit}): {len(train)} train / {len(test)} test, "
        f"{parameters:,} parameters, {args.threads} threads, budget {args.budget:g} s; "
        f"per-element baseline test MAE {baseline_mae:.6g} {column_unit}"
        + (f" = {baseline_mae * factor:.4g} {shown_unit}" if factor != 1.0 else ""),
        flush=True,
    )

    rss_before = _rss_bytes()
    peak_reset = _reset_peak_rss()
    elapsed = cpu = spent = 0.0
    steps = 0
    train_error, train_seen = 0.0, 0
    epoch_ends: list[float] = []
    steps_per_epoch = math.ceil(len(train_rows) / args.batch_size)
    done = False
    while not done:
        for batch in qm9_data.batches(data, train_rows, args.batch_size, y=y_scaled, shuffle=True, generator=generator):
            start, start_cpu = time.perf_counter(), time.process_time()
            assert isinstance(batch, qm9_data.RaggedBatch) and batch.y is not None
            progress = max(spent / args.budget, steps / args.max_steps if args.max_steps else 0.0)
            for group in optimiser.param_groups:
                group["lr"] = args.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
            output = model(batch)
            loss = loss_fn(output, batch.y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            steps += 1
            elapsed += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
            spent = cpu if args.clock == "cpu" else elapsed
            train_error += float((output.detach() - batch.y).abs().sum()) * scale
            train_seen += len(batch.y)
            if checkpoints and spent >= checkpoints[0]:
                while checkpoints and spent >= checkpoints[0]:
                    checkpoints.pop(0)
                predicted = predict(model, data, test_rows, offset, scale, args.batch_size)
                mae = float(np.mean(np.abs(predicted - y_all[test_rows])))
                curve.append((spent, mae))
                print(f"  {spent:7.1f} s  step {steps}  test MAE {mae * factor:.5g} {shown_unit}", flush=True)
            if spent >= args.budget or (args.max_steps and steps >= args.max_steps):
                done = True
                break
        else:
            epoch_ends.append(elapsed)
            print(
                f"  epoch {len(epoch_ends)}: {elapsed:7.1f} s, training MAE {train_error / train_seen * factor:.5g} "
                f"{shown_unit} (during the epoch)",
                flush=True,
            )
            train_error, train_seen = 0.0, 0
    peak_rss = _peak_rss_bytes()

    predictions = predict(model, data, test_rows, offset, scale)
    mae = float(np.mean(np.abs(predictions - y_all[test_rows])))
    curve.append((spent, mae))
    epochs = steps / steps_per_epoch
    per_epoch = float(np.mean(np.diff([0.0, *epoch_ends]))) if epoch_ends else elapsed / epochs
    if args.predictions:
        args.predictions.parent.mkdir(parents=True, exist_ok=True)
        with open(args.predictions, "w") as handle:
            handle.writelines(f"{i},{p:.12g}\n" for i, p in zip(data.index[test_rows], predictions, strict=True))
    summary = {
        "model": args.model,
        "target": args.target,
        "unit": column_unit,
        "test_mae": mae,
        "test_mae_display": [mae * factor, shown_unit],
        "baseline_test_mae": baseline_mae,
        "n_train": len(train),
        "n_test": len(test),
        "budget_s": args.budget,
        "trained_s": elapsed,
        "trained_cpu_s": cpu,
        "load_average": os.getloadavg(),
        "steps": steps,
        "epochs": epochs,
        "seconds_per_epoch": per_epoch,
        "peak_rss_mib": peak_rss / 2**20,
        "peak_rss_above_pretraining_mib": (peak_rss - rss_before) / 2**20,
        "peak_rss_measured_from": "training start (VmHWM reset)" if peak_reset else "process start (ru_maxrss)",
        "parameters": parameters,
        "threads": args.threads,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "element_baseline": None
        if baseline is None
        else {"coef_HCNOF": baseline.coef.tolist(), "intercept": baseline.intercept},
        "curve": curve,
        "torch": torch.__version__,
        "schnetpack": importlib.metadata.version("schnetpack"),
        "machine": platform.processor() or platform.machine(),
    }
    out = args.json or RESULTS / f"qm9_{args.model}_{args.target}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    if args.plot:
        qm9_data.plot_curves({args.model: curve}, args.plot, column=args.target)
    print(
        f"{args.model} {args.target}: test MAE {mae:.6g} {column_unit}"
        + (f" = {mae * factor:.4g} {shown_unit}" if factor != 1.0 else "")
        + f"; {epochs:.2f} epochs in {elapsed:.1f} s, {cpu:.0f} CPU s ({per_epoch:.1f} s/epoch, {steps} steps); "
        f"peak RSS {peak_rss / 2**20:.0f} MiB ({(peak_rss - rss_before) / 2**20:.0f} MiB above the RSS before "
        "training)",
        flush=True,
    )
    return summary


if __name__ == "__main__":
    main()
