"""catlayer against schnetpack's PaiNN and SchNet on QM9, side by side in one run: every model on
every target with the same split, budget, clock and threads; prints the table of test MAEs (and
CPU seconds per epoch, peak memory), writes it (a Markdown table) to ``table.txt`` and plots the
MAE-against-time curves.

    python bench/bench_qm9_table.py --targets all --models catlayer painn schnet \\
        --budget 300 --threads 2 [--clock cpu] [--jobs 1] [--out bench/results/qm9_table]

Each run is a separate process (bench/bench_qm9.py or bench/qm9_baselines.py) with its own JSON
summary and prediction file under ``--out``; runs already there with the same configuration are
reused (``--fresh`` to redo them), so a long table can be built over several sessions. ``--jobs 2``
runs two processes at a time (use it with ``--threads 1 --clock cpu`` only: on a 2-core machine
the wall clock of concurrent runs is not comparable).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import qm9_data

HERE = Path(__file__).resolve().parent
TARGETS = qm9_data.TARGETS  # the 12 targets of the QM9 benchmark tables
SCRIPTS = {
    "catlayer": ["bench_qm9.py"],
    "catlayer-padded": ["bench_qm9.py", "--layout", "padded", "--name", "catlayer-padded"],
    "catlayer-graph": ["bench_qm9.py", "--graph", "--name", "catlayer-graph"],
    "painn": ["qm9_baselines.py", "--model", "painn"],
    "schnet": ["qm9_baselines.py", "--model", "schnet"],
}


def command(model: str, target: str, args: argparse.Namespace) -> tuple[list[str], Path]:
    stem = args.out / f"{model}_{target}"
    argv = [sys.executable, str(HERE / SCRIPTS[model][0]), *SCRIPTS[model][1:]]
    argv += ["--target", target, "--budget", str(args.budget), "--threads", str(args.threads)]
    argv += ["--clock", args.clock, "--seed", str(args.seed), "--curve", str(args.curve)]
    if args.train_index:
        argv += ["--train-index", str(args.train_index), "--test-index", str(args.test_index)]
    argv += ["--predictions", str(stem.with_suffix(".csv")), "--json", str(stem.with_suffix(".json"))]
    return argv, stem


def same_run(summary: dict, args: argparse.Namespace) -> bool:
    config = summary.get("config", {})
    return (
        config.get("budget") == args.budget
        and config.get("threads") == args.threads
        and config.get("clock") == args.clock
        and config.get("seed") == args.seed
        and str(config.get("train_index")) == str(args.train_index)
    )


def run(model: str, target: str, args: argparse.Namespace) -> dict:
    argv, stem = command(model, target, args)
    summary_path = stem.with_suffix(".json")
    if summary_path.exists() and not args.fresh:
        summary = json.loads(summary_path.read_text())
        if same_run(summary, args):
            print(f"reusing {summary_path}", flush=True)
            return summary
    with stem.with_suffix(".log").open("w") as log:
        print(" ".join(argv), flush=True)
        subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=True)
    return json.loads(summary_path.read_text())


def table(results: dict[tuple[str, str], dict], models: list[str], targets: list[str]) -> str:
    head = "| target | unit | " + " | ".join(f"{m} MAE" for m in models)
    head += " | " + " | ".join(f"{m} CPU s/epoch" for m in models) + " | " + " | ".join(f"{m} MiB" for m in models)
    lines = [head + " |", "|" + "---|" * (2 + 3 * len(models))]
    for target in targets:
        row = [target]
        shown = [results[m, target]["test_mae_display"] for m in models if (m, target) in results]
        row.append(shown[0][1] if shown else "")
        for m in models:
            r = results.get((m, target))
            row.append(f"{r['test_mae_display'][0]:.4g}" if r else "–")
        for m in models:
            r = results.get((m, target))
            # CPU seconds of the process per epoch: comparable on a shared machine, unlike the wall clock.
            row.append(f"{r['trained_cpu_s'] / r['epochs']:.1f}" if r else "–")
        for m in models:
            r = results.get((m, target))
            row.append(f"{r['peak_rss_mib']:.0f}" if r else "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="+", default=["HOMO_LUMO_gap_au", "InternalEnergy_0K_au"])
    parser.add_argument("--models", nargs="+", choices=list(SCRIPTS), default=["catlayer", "painn", "schnet"])
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--curve", type=int, default=5)
    parser.add_argument("--train-index", type=Path)
    parser.add_argument("--test-index", type=Path)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "qm9_table")
    parser.add_argument("--fresh", action="store_true", help="rerun even where a summary exists")
    args = parser.parse_args(argv)
    targets = list(TARGETS) if args.targets == ["all"] else args.targets
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"--targets: unknown {unknown}; the 12 standard targets are {', '.join(TARGETS)} (or 'all')")
    if (args.train_index is None) != (args.test_index is None):
        parser.error("--train-index and --test-index go together")
    if args.jobs > 1 and args.clock != "cpu":
        parser.error("--jobs > 1 shares the cores between runs: use --clock cpu (and --threads 1)")
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(m, t) for t in targets for m in args.models]
    with ThreadPoolExecutor(args.jobs) as pool:
        done = dict(zip(jobs, pool.map(lambda job: run(*job, args), jobs), strict=True))
    text = table(done, args.models, targets)
    setting = f"budget {args.budget:g} {args.clock} s, {args.threads} thread(s), seed {args.seed}"
    print(f"\nQM9 test MAE ({setting})\n\n{text}")
    (args.out / "table.txt").write_text(f"QM9 test MAE ({setting})\n\n{text}\n")
    for target in targets:
        curves = {m: done[m, target]["curve"] for m in args.models}
        qm9_data.plot_curves(curves, args.out / f"curves_{target}.png", column=target)


if __name__ == "__main__":
    main()
