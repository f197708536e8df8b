"""Benchmark catlayer.nn.EquivariantLinear against the irreducible matmul of its shape, the dense
matrix, and the conventional 15-map S_n layer.

    python bench/bench_nn.py            # full run (tens of minutes)
    python bench/bench_nn.py --quick    # smaller sizes, fewer rounds

Prints six tables and writes bench/results/bench_nn.json and bench/results/bench_nn.png. Every
candidate of a row is timed in the same run, interleaved round by round; the reported time is the
median over rounds of the mean time per call (the JSON also holds the minima). No assertions:
targets are reported, not enforced.

1. **Ratios** (issue 11): forward and forward + backward (input, weight and bias gradients) of
   the layer against the irreducible work of its shape, ``(c_out, K) @ (B, K, n^l)`` for the
   largest channel mixing (K = D_e·c_in stacked channels: 2c for S_n 2 → 2, 6c for 3 → 3, 24c for
   O(n) 4 → 4) and, for forward + backward, the three matmuls of a linear layer of that shape.
   Also the execution chosen (plan or dense) and the forward's peak temporaries as a multiple of
   input + output bytes, measured by ``layer.plan_cost(batch).peak`` (the forward run on meta
   tensors, each tensor's bytes counted from the op that creates it until it is freed).
2. **Small n**: ``execution="auto"`` against forced plan and dense, to check the cost model's
   choice (no size should be slower than dense).
3. **Scaling**: S_n 2 → 2 (32 → 32, batch 8) and 3 → 3 (1 → 1, batch 8) forward time against n,
   with the exponent of a least-squares fit of log t on log n.
4. **Conventional**: S_n 2 → 2 against the 15-map layer (as in Maron et al.'s graph networks).
5. **Dense inference**: a dense layer in eval mode keeps its gathered matrix while the weights
   are unchanged, against the plain ``linear`` with the same matrix (issue 17's target: S(8)
   3 → 3 at batch 32 no slower than the plain matmul).
6. **Masks**: a padded batch (a mask with a quarter of the indices padded) against the same batch
   with every index valid and no mask, forward and forward + backward, for layers of ``S()`` and
   an ``EquivariantMLP`` (issue 17's target: ≤ 1.2×).
The bilinear layers against PPGN's batched matmul are in ``bench/bench_bilinear.py``.

With the default glibc allocator every fresh large tensor costs page faults (the dominant cost
of a functional eager forward on a busy machine); ``--malloc-tune`` raises glibc's mmap and trim
thresholds (``mallopt``) so that freed memory is reused, as jemalloc or tcmalloc would do.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch
from harness import print_head, tune_malloc

from catlayer import O, S, Sp
from catlayer.nn import EquivariantLinear, EquivariantMLP

RESULTS = Path(__file__).resolve().parent / "results"


class Full15(torch.nn.Module):
    """The conventional S_n 2 → 2 layer: 15 full n × n maps per channel, then one einsum."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(c_out, c_in, 15) / math.sqrt(15 * c_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        diag = torch.diagonal(x, 0, -2, -1)  # (B, c, n)
        trace = diag.sum(-1, keepdim=True)  # (B, c, 1)
        rows = x.sum(-1)  # (B, c, n): Σ_j x[i, j]
        cols = x.sum(-2)  # (B, c, n): Σ_i x[i, j]
        total = rows.sum(-1, keepdim=True)  # (B, c, 1)
        full = (x.shape[0], x.shape[1], n, n)
        ops = [
            torch.diag_embed(diag),
            torch.diag_embed(trace.expand(-1, -1, n)),
            torch.diag_embed(rows),
            torch.diag_embed(cols),
            torch.diag_embed(total.expand(-1, -1, n)),
            cols.unsqueeze(-2).expand(full),
            rows.unsqueeze(-2).expand(full),
            cols.unsqueeze(-1).expand(full),
            rows.unsqueeze(-1).expand(full),
            x,
            x.transpose(-2, -1),
            diag.unsqueeze(-2).expand(full),
            diag.unsqueeze(-1).expand(full),
            trace.unsqueeze(-1).expand(full),
            total.unsqueeze(-1).expand(full),
        ]
        stacked = torch.stack(ops, dim=2)  # (B, c, 15, n, n)
        return torch.einsum("ocd,bcdij->boij", self.weight, stacked)


class Irreducible(torch.nn.Module):
    """One plain matmul (c_out, K) @ (B, K, N) on a pre-stacked input of that shape; its
    forward + backward are the three matmuls of a linear layer of that shape. Two kernels are
    timed and the faster one reported: ``torch.matmul`` (which for 2-D @ 3-D folds the batch into
    one GEMM through transposed copies) and ``torch.bmm`` against the weight expanded over the
    batch (no copy)."""

    def __init__(self, c_out: int, width: int, use_bmm: bool = False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(c_out, width) / math.sqrt(width))
        self.use_bmm = use_bmm

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        if self.use_bmm:
            return torch.bmm(self.weight.expand(stacked.shape[0], -1, -1), stacked)
        return torch.matmul(self.weight, stacked)


def _forward(module, x):
    def run():
        with torch.no_grad():
            module(x)

    return run


def _forward_backward(module, x):
    x = x.detach().requires_grad_(True)
    with torch.no_grad():
        grad = torch.randn_like(module(x))

    def run():
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x).backward(grad)

    return run


#: The clock of every timing: wall-clock by default; ``--clock cpu`` counts this process's CPU
#: time instead, which other processes on a shared machine disturb far less (use with --threads 1).
_clock = time.perf_counter


def _time_interleaved(candidates: dict, rounds: int, min_time: float) -> dict[str, dict[str, float]]:
    """Per candidate, the median and the minimum over ``rounds`` of the mean time per call (each
    round runs every candidate for about ``min_time`` seconds, candidates interleaved)."""
    reps = {}
    for name, fn in candidates.items():
        fn()
        start = _clock()
        fn()
        once = max(_clock() - start, 1e-6)
        reps[name] = max(1, int(min_time / once))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = _clock()
            for _ in range(reps[name]):
                fn()
            samples[name].append((_clock() - start) / reps[name])
    return {name: {"median": statistics.median(v), "min": min(v)} for name, v in samples.items()}


def _ms(seconds: float | None) -> str:
    return "      —" if seconds is None else f"{seconds * 1e3:7.2f}"


def _mixing_shapes(layer: EquivariantLinear) -> list[tuple[int, int]]:
    """(K, n^slots) of each expansion group's channel-mixing matmul: K = D_e·c_in stacked channels."""
    program = layer._program
    return [
        (len(terms) * layer.in_channels, layer.n ** len(step.slot_factor))
        for terms, step in zip(program.terms, program.expansions, strict=True)
    ]


def _irreducible(layer: EquivariantLinear, batch: int) -> tuple[dict, torch.Tensor]:
    """Both irreducible kernels for the layer's largest channel mixing, and a stacked input."""
    width, size = max(_mixing_shapes(layer), key=lambda shape: shape[0] * shape[1])
    kernels = {
        "irreducible": Irreducible(layer.out_channels, width),
        "irreducible_bmm": Irreducible(layer.out_channels, width, True),
    }
    return kernels, torch.randn(batch, width, size)


def _run(candidates: dict, rounds: int, min_time: float) -> dict[str, dict[str, float]]:
    """:func:`_time_interleaved`, with the two irreducible kernels merged into the faster one."""
    stats = _time_interleaved(candidates, rounds, min_time)
    if "irreducible_bmm" in stats:
        bmm = stats.pop("irreducible_bmm")
        if bmm["median"] < stats["irreducible"]["median"]:
            stats["irreducible"] = bmm | {"kernel": "bmm"}
    return stats


def _input(layer: EquivariantLinear, batch: int) -> torch.Tensor:
    return torch.randn((batch, layer.in_channels) + (layer.n,) * layer.in_order)


def bench_ratios(configs, rounds, min_time) -> list[dict]:
    header = (
        f"{'layer':>14} {'n':>4} {'c':>3} {'B':>3} {'exec':>5} | {'fwd':>7} {'irr':>7} {'ratio':>5} |"
        f" {'fwd+bwd':>7} {'irr':>7} {'ratio':>5} | {'peak':>4}"
    )
    print_head(
        header, "1. Ratios to the irreducible work (median of interleaved rounds; targets: fwd ≤ 1.5, fwd+bwd ≤ 2)"
    )
    rows = []
    for group, k, l, c, batch in configs:
        torch.manual_seed(0)
        layer = EquivariantLinear(group, k, l, c, c)
        kernels, stacked = _irreducible(layer, batch)
        x = _input(layer, batch)
        cost = layer.dense_cost(batch) if layer.execution == "dense" else layer.plan_cost(batch)
        inputs, outputs = (batch * c * group.n**order * 4 for order in (k, l))
        peak = (cost.peak - outputs) / (inputs + outputs)
        row = {"group": repr(group), "k": k, "l": l, "n": group.n, "channels": c, "batch": batch}
        row |= {"execution": layer.execution, "peak_extra_over_in_plus_out": peak}
        for mode, make in (("fwd", _forward), ("fwd+bwd", _forward_backward)):
            candidates = {"layer": make(layer, x)} | {name: make(k, stacked) for name, k in kernels.items()}
            row[mode] = _run(candidates, rounds, min_time)
        fwd = row["fwd"]["layer"]["median"], row["fwd"]["irreducible"]["median"]
        both = row["fwd+bwd"]["layer"]["median"], row["fwd+bwd"]["irreducible"]["median"]
        rows.append(row)
        name = f"{group!r} {k}→{l}"
        print(
            f"{name:>14} {group.n:>4} {c:>3} {batch:>3} {layer.execution:>5} | {_ms(fwd[0])} {_ms(fwd[1])}"
            f" {fwd[0] / fwd[1]:5.2f} | {_ms(both[0])} {_ms(both[1])} {both[0] / both[1]:5.2f} | {peak:4.2f}"
        )
    return rows


def bench_small(configs, rounds, min_time) -> list[dict]:
    header = f"{'layer':>14} {'n':>4} {'c':>3} | {'auto':>5} {'plan':>7} {'dense':>7} | {'model plan':>10} {'dense':>7}"
    print_head(header, "2. Small n: the cost model's choice (auto) against plan and dense, forward, ms")
    rows = []
    for group, k, l, c, batch in configs:
        torch.manual_seed(0)
        auto = EquivariantLinear(group, k, l, c, c)
        plan = EquivariantLinear(group, k, l, c, c, execution="plan")
        dense = EquivariantLinear(group, k, l, c, c, execution="dense")
        x = _input(plan, batch)
        stats = _time_interleaved({"plan": _forward(plan, x), "dense": _forward(dense, x)}, rounds, min_time)
        model = plan.plan_cost(batch).seconds(), plan.dense_cost(batch).seconds()
        row = {"group": repr(group), "k": k, "l": l, "n": group.n, "channels": c, "batch": batch}
        row |= {"auto": auto.execution, "stats": stats, "model_plan_s": model[0], "model_dense_s": model[1]}
        rows.append(row)
        name = f"{group!r} {k}→{l}"
        print(
            f"{name:>14} {group.n:>4} {c:>3} | {auto.execution:>5} {_ms(stats['plan']['median'])}"
            f" {_ms(stats['dense']['median'])} | {_ms(model[0]):>10} {_ms(model[1])}"
        )
    return rows


def bench_dense_inference(configs, rounds, min_time) -> list[dict]:
    header = f"{'layer':>14} {'n':>4} {'c':>3} {'B':>3} | {'layer':>7} {'matmul':>7} {'ratio':>5}"
    print_head(
        header, "5. Dense inference: the gathered matrix is kept while the weights are unchanged (target: ≤ 1× matmul)"
    )
    rows = []
    for group, k, l, c, batch in configs:
        torch.manual_seed(0)
        layer = EquivariantLinear(group, k, l, c, c, execution="dense").eval()
        x = _input(layer, batch)
        linear = layer.to_dense()
        flat = x.reshape(batch, -1)

        def plain(linear=linear, flat=flat):
            return torch.nn.functional.linear(flat, linear.weight, linear.bias)

        def ours(layer=layer, x=x):
            return layer(x)

        with torch.no_grad():
            stats = _time_interleaved({"layer": ours, "matmul": plain}, rounds, min_time)
        ratio = stats["layer"]["median"] / stats["matmul"]["median"]
        rows.append(
            {"group": repr(group), "k": k, "l": l, "channels": c, "batch": batch, "stats": stats, "ratio": ratio}
        )
        name = f"{group!r} {k}→{l}"
        print(
            f"{name:>14} {group.n:>4} {c:>3} {batch:>3} | {_ms(stats['layer']['median'])} "
            f"{_ms(stats['matmul']['median'])} {ratio:5.2f}"
        )
    return rows


def bench_scaling(k, ns, c, batch, rounds, min_time) -> dict:
    print(f"\n3. Scaling: S_n {k}→{k}, {c}→{c}, batch {batch}, forward, ms")
    times, irreducible_times = [], []
    for n in ns:
        torch.manual_seed(0)
        layer = EquivariantLinear(S(n), k, k, c, c)
        kernels, stacked = _irreducible(layer, batch)
        candidates = {"layer": _forward(layer, _input(layer, batch))}
        stats = _run(candidates | {name: _forward(k, stacked) for name, k in kernels.items()}, rounds, min_time)
        times.append(stats["layer"]["median"])
        irreducible_times.append(stats["irreducible"]["median"])
        print(f"  n = {n:>4}: {_ms(times[-1])}  (irreducible {_ms(irreducible_times[-1])}, {layer.execution})")
    logs = [(math.log(n), math.log(t)) for n, t in zip(ns, times, strict=True)]
    mean_x = sum(a for a, _ in logs) / len(logs)
    mean_y = sum(b for _, b in logs) / len(logs)
    slope = sum((a - mean_x) * (b - mean_y) for a, b in logs) / sum((a - mean_x) ** 2 for a, _ in logs)
    print(f"  fitted exponent: t ∝ n^{slope:.2f} (the input has n^{k} entries)")
    return {
        "k": k,
        "ns": list(ns),
        "channels": c,
        "batch": batch,
        "layer_s": times,
        "irreducible_s": irreducible_times,
        "exponent": slope,
    }


def bench_conventional(ns, c, batch, rounds, min_time) -> list[dict]:
    print(f"\n4. S_n 2→2, {c}→{c}, batch {batch}: ours against the conventional 15-map layer, forward, ms")
    rows = []
    for n in ns:
        torch.manual_seed(0)
        layer = EquivariantLinear(S(n), 2, 2, c, c)
        full15 = Full15(c, c)
        kernels, stacked = _irreducible(layer, batch)
        x = _input(layer, batch)
        candidates = {"layer": _forward(layer, x), "full15": _forward(full15, x)}
        stats = _run(candidates | {name: _forward(k, stacked) for name, k in kernels.items()}, rounds, min_time)
        times = {name: value["median"] for name, value in stats.items()}
        rows.append({"n": n, "channels": c, "batch": batch, "stats": stats})
        print(
            f"  n = {n:>4}: ours {_ms(times['layer'])}  conventional {_ms(times['full15'])}"
            f"  irreducible {_ms(times['irreducible'])}  conventional/ours {times['full15'] / times['layer']:5.1f}"
        )
    return rows


def plot(scaling, conventional, path: Path) -> None:
    if not scaling or not conventional:
        print("tables 3 and 4 not run: no plot")
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    ns = [r["n"] for r in conventional]
    for name, style, label in (
        ("layer", "o-", "ours"),
        ("irreducible", "x:", "irreducible matmul"),
        ("full15", "^-.", "conventional (15 maps)"),
    ):
        ax.loglog(ns, [r["stats"][name]["median"] for r in conventional], style, label=label)
    c, batch = conventional[0]["channels"], conventional[0]["batch"]
    ax.set_title(f"S_n 2→2, {c}→{c}, batch {batch}, forward")
    ax.set_xlabel("n")
    ax.set_ylabel("time [s]")
    ax.legend(fontsize=8)
    ax = axes[1]
    for result in scaling:
        ax.loglog(
            result["ns"],
            result["layer_s"],
            "o-",
            label=f"ours {result['k']}→{result['k']} (n^{result['exponent']:.2f})",
        )
        ax.loglog(result["ns"], result["irreducible_s"], "x:", label=f"irreducible {result['k']}→{result['k']}")
    ax.set_title("S_n scaling, forward")
    ax.set_xlabel("n")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _mask_runs(module, x: torch.Tensor, k: int):
    """(forward(mask), backward(mask)): closures running ``module`` on ``x`` (with ``mask``, or
    none), an MLP on the dict {k: x}."""
    feed = (lambda t: {k: t}) if isinstance(module, EquivariantMLP) else (lambda t: t)

    def call(t, m):
        out = module(feed(t)) if m is None else module(feed(t), m)
        return sum(v.sum() for v in out.values()) if isinstance(out, dict) else out.sum()

    def forward(m):
        def run():
            with torch.no_grad():
                call(x, m)

        return run

    def backward(m):
        leaf = x.detach().requires_grad_(True)

        def run():
            module.zero_grad(set_to_none=True)
            leaf.grad = None
            call(leaf, m).backward()

        return run

    return forward, backward


def bench_masks(configs, rounds, min_time) -> list[dict]:
    """Padded batches (a mask, a quarter of the indices padded) against the same batch with every
    index valid and no mask, forward and forward + backward, for S() layers and an MLP."""
    header = f"{'module':>22} {'N':>4} {'c':>3} {'B':>3} | {'full':>7} {'padded':>7} {'ratio':>5} | "
    header += f"{'full':>7} {'padded':>7} {'ratio':>5}  (fwd | fwd+bwd)"
    print_head(header, "6. Masks: a padded batch against the same batch with every index valid (target: ≤ 1.2×), ms")
    rows = []
    for name, make, k, c, n, batch in configs:
        torch.manual_seed(0)
        module = make()
        x = torch.randn((batch, c) + (n,) * k)
        mask = torch.rand(batch, n, generator=torch.Generator().manual_seed(1)) < 0.75
        forward, backward = _mask_runs(module, x, k)
        fwd = _time_interleaved({"full": forward(None), "padded": forward(mask)}, rounds, min_time)
        both = _time_interleaved({"full": backward(None), "padded": backward(mask)}, rounds, min_time)
        ratios = [t["padded"]["median"] / t["full"]["median"] for t in (fwd, both)]
        rows.append({"module": name, "n": n, "channels": c, "batch": batch, "forward": fwd, "backward": both})
        rows[-1]["ratios"] = ratios
        print(
            f"{name:>22} {n:>4} {c:>3} {batch:>3} | {_ms(fwd['full']['median'])} {_ms(fwd['padded']['median'])} "
            f"{ratios[0]:5.2f} | {_ms(both['full']['median'])} {_ms(both['padded']['median'])} {ratios[1]:5.2f}"
        )
    return rows


def _mask_configs(quick: bool) -> list:
    """(name, constructor, input order, channels, N, batch) for :func:`bench_masks`."""
    configs = []
    for k, l, c, ns in ((1, 1, 32, (64, 256)), (2, 2, 16, (32, 64)), (3, 3, 4, (16, 24))):
        for n in ns[:1] if quick else ns:
            configs.append((f"S() {k}→{l}", lambda k=k, l=l, c=c: EquivariantLinear(S(), k, l, c, c), k, c, n, 32))
    mlp = lambda: EquivariantMLP(S(), {2: 1}, {0: 1})  # noqa: E731
    configs.append(("EquivariantMLP S() 2→0", mlp, 2, 1, 16 if quick else 32, 32))
    return configs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--malloc-tune", action="store_true", help="raise glibc's mmap/trim thresholds first")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="cpu: process CPU time (shared machine)"
    )
    parser.add_argument("--only", type=int, nargs="*", help="run only these tables (1–6)")
    args = parser.parse_args(argv)
    global _clock
    _clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.malloc_tune:
        tune_malloc()
    if args.quick:
        rounds, min_time = 3, 0.05
        ratios = [(S(32), 2, 2, 16, 32), (S(64), 2, 2, 16, 32), (S(16), 3, 3, 8, 32), (O(16), 4, 4, 2, 8)]
        ratios += [(Sp(64), 2, 2, 16, 32)]
        small = [(S(8), 3, 3, 1, 32), (S(6), 3, 3, 1, 32), (S(8), 2, 2, 16, 32), (S(16), 2, 2, 16, 32)]
        scaling = [(2, (32, 64, 128), 32, 8), (3, (8, 16, 24), 1, 8)]
        conventional = (16, 32, 64)
        dense = [(S(8), 3, 3, 1, 32)]
    else:
        rounds, min_time = 7, 0.3
        ratios = [(S(n), 2, 2, c, 32) for c in (16, 32) for n in (32, 64, 128)]
        ratios += [(S(n), 3, 3, 8, 32) for n in (16, 24, 32)] + [(O(16), 4, 4, 4, 32), (Sp(64), 2, 2, 16, 32)]
        small = [(S(n), 3, 3, 1, 32) for n in (4, 6, 8, 10, 12, 16)]
        small += [(S(n), 2, 2, 16, 32) for n in (4, 8, 12, 16, 24)] + [(O(n), 4, 4, 1, 32) for n in (3, 4, 6, 8)]
        scaling = [(2, (32, 64, 128, 256, 512), 32, 8), (3, (8, 16, 24, 32, 48, 64), 1, 8)]
        conventional = (16, 32, 64, 128)
        dense = [(S(8), 3, 3, 1, 32), (S(6), 3, 3, 2, 32), (S(12), 2, 2, 4, 32), (O(4), 4, 4, 1, 32)]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
        f"{', malloc tuned' if args.malloc_tune else ''}"
    )
    only = set(args.only or range(1, 7))
    ratio_rows = bench_ratios(ratios, rounds, min_time) if 1 in only else []
    small_rows = bench_small(small, rounds, min_time) if 2 in only else []
    scaling_rows = (
        [bench_scaling(k, ns, c, batch, rounds, min_time) for k, ns, c, batch in scaling] if 3 in only else []
    )
    conventional_rows = bench_conventional(conventional, 16, 32, rounds, min_time) if 4 in only else []
    dense_rows = bench_dense_inference(dense, rounds, min_time) if 5 in only else []
    mask_rows = bench_masks(_mask_configs(args.quick), rounds, min_time) if 6 in only else []
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "quick": args.quick,
        "malloc_tune": args.malloc_tune,
        "device": "cpu",
        "statistic": "median of interleaved rounds",
        "clock": args.clock,
    }
    result = {"meta": meta, "ratios": ratio_rows, "small": small_rows, "scaling": scaling_rows}
    result["conventional"] = conventional_rows
    result["dense_inference"] = dense_rows
    result["masks"] = mask_rows
    (args.out / "bench_nn.json").write_text(json.dumps(result, indent=1))
    plot(scaling_rows, conventional_rows, args.out / "bench_nn.png")
    print(f"\nwrote {args.out / 'bench_nn.json'} and {args.out / 'bench_nn.png'}")


if __name__ == "__main__":
    main()
