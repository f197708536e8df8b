"""The catlayer QM9 model (bench/qm9_model.py) trained on the CPU for a wall-clock budget.

    python bench/bench_qm9.py --target COLUMN --train-index FILE --test-index FILE --budget SECONDS \\
        --threads T --predictions OUT.csv

COLUMN is any numeric column of the QM9 CSV (``HOMO_LUMO_gap_au``, ``InternalEnergy_0K_au``,
``Dipole_debye``, …), predicted in its own units. The index files hold one QM9 ``Index`` per line;
without them, the default split: 10,000 training and 2,000 test molecules drawn with seed 0
(``--n-train``, ``--n-test``, ``--seed``). Training runs for ``--budget`` seconds of wall clock
(``--clock cpu``: CPU seconds of the process) on ``--threads`` threads, with Adam and a cosine
schedule fitted to the budget; then the test set is predicted, ``OUT.csv`` gets one
``index,prediction`` row per test molecule (no header), the test MAE is printed, and the JSON
summary and the plot of test MAE against training time go to bench/results/ (``--json``,
``--plot``). The same loop, data and report serve schnetpack's PaiNN and SchNet
(bench/qm9_baselines.py); bench/bench_qm9_table.py runs them side by side.

The readout follows the column: the dipole moment from latent charges, a mean over atoms for the
orbital energies (HOMO, LUMO, gap), a sum over atoms for the rest. ``--graph``: the graph-only
variant (bonds inferred from the geometry, no distances). ``--layout padded``: padded batches with
a mask instead of ragged ones (the same predictions; slower, see the README).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import qm9_data
import qm9_training
import torch
from qm9_model import READOUTS, AtomPairNet

from catlayer.nn import RaggedBatch

INTENSIVE = ("HOMO_au", "LUMO_au", "HOMO_LUMO_gap_au")


@dataclass
class Batch:
    """Molecules for the model: padded (``mask`` set) or ragged (``ragged`` set)."""

    z: torch.Tensor
    pos: torch.Tensor
    y: torch.Tensor | None
    mask: torch.Tensor | None = None
    ragged: RaggedBatch | None = None
    bonds: torch.Tensor | None = None


def default_readout(column: str) -> str:
    """Orbital energies are intensive (a mean over atoms), the dipole moment comes from latent
    charges, every other column is a sum over atoms."""
    if column == "Dipole_debye":
        return "dipole"
    return "mean" if column in INTENSIVE else "sum"


class Molecules:
    """Batches of a data set for the model (padded or ragged, with bonds for the graph model),
    optionally bucketed by size."""

    def __init__(self, data: qm9_data.QM9, *, ragged: bool, graph: bool, bucket: int, dtype: torch.dtype) -> None:
        self.data, self.ragged, self.graph, self.bucket, self.dtype = data, ragged, graph, bucket, dtype
        self._bonds: dict[int, np.ndarray] = {}

    def bonds_of(self, row: int) -> np.ndarray:
        if row not in self._bonds:
            self._bonds[row] = qm9_data.infer_bonds(*self.data.molecule(row))
        return self._bonds[row]

    def order(self, rows: np.ndarray, batch_size: int, shuffle: bool, generator: np.random.Generator | None):
        rows = np.asarray(rows, dtype=np.int64)
        if not shuffle:
            return [rows[s : s + batch_size] for s in range(0, len(rows), batch_size)]
        generator = generator or np.random.default_rng()
        rows = generator.permutation(rows)
        if self.bucket <= 1:
            return [rows[s : s + batch_size] for s in range(0, len(rows), batch_size)]
        # Buckets: chunks of ``bucket`` batches sorted by size, so each batch pads to little.
        out = []
        chunk = batch_size * self.bucket
        for s in range(0, len(rows), chunk):
            part = rows[s : s + chunk]
            part = part[np.argsort(self.data.n_atoms[part], kind="stable")]
            out += [part[t : t + batch_size] for t in range(0, len(part), batch_size)]
        return [out[k] for k in generator.permutation(len(out))]

    def __call__(
        self,
        rows: np.ndarray,
        batch_size: int,
        *,
        y: np.ndarray | None = None,
        shuffle: bool = False,
        generator: np.random.Generator | None = None,
    ) -> Iterator[Batch]:
        for part in self.order(rows, batch_size, shuffle, generator):
            r = qm9_data.ragged_batch(self.data, part, y, self.dtype)
            if self.ragged:
                layout = RaggedBatch(r.n_atoms)
                bonds = None
                if self.graph:
                    bonds = torch.zeros(layout.num_pairs, dtype=self.dtype)
                    for b, row in enumerate(part):
                        e = self.bonds_of(int(row))
                        n, start = int(r.n_atoms[b]), int(layout.pair_ptr[b])
                        bonds[start + e[:, 0] * n + e[:, 1]] = 1.0
                        bonds[start + e[:, 1] * n + e[:, 0]] = 1.0
                yield Batch(r.z, r.pos, r.y, ragged=layout, bonds=bonds)
            else:
                p = qm9_data.ragged_to_padded(r)
                bonds = None
                if self.graph:
                    bonds = torch.zeros(p.mask.shape + p.mask.shape[-1:], dtype=self.dtype)
                    for b, row in enumerate(part):
                        e = self.bonds_of(int(row))
                        bonds[b, e[:, 0], e[:, 1]] = 1.0
                        bonds[b, e[:, 1], e[:, 0]] = 1.0
                yield Batch(p.z, p.pos, p.y, mask=p.mask, bonds=bonds)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    qm9_training.add_arguments(parser, batch_size=32, lr=5e-3, curve=5)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--rbf", type=int, default=20)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--readout", choices=["auto", *READOUTS], default="auto")
    parser.add_argument("--graph", action="store_true", help="bonds and elements only, no geometry")
    parser.add_argument(
        "--layout",
        choices=["ragged", "padded"],
        default="ragged",
        help="ragged batches (concatenated atoms, no padding: the default, 3-4x faster here) or padded with a mask",
    )
    parser.add_argument("--bucket", type=int, default=1, help="sort chunks of this many batches by size")
    parser.add_argument("--name", default="catlayer")
    parser.add_argument("--pair-update", action="store_true")
    parser.add_argument("--products", action="store_true")
    parser.add_argument(
        "--vectors",
        action="store_true",
        help="O(3) vector messages and their norms (3-body terms; not with --graph)",
    )
    parser.add_argument("--reference-size", type=float, default=4.0)
    parser.add_argument("--head-gain", type=float, default=4.0)
    args = parser.parse_args(argv)
    qm9_training.check_arguments(parser, args)
    if args.graph and args.vectors:
        parser.error("--vectors needs positions: the --graph model has none")
    readout = default_readout(args.target) if args.readout == "auto" else args.readout
    if args.graph and readout == "dipole":
        readout = "mean"

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    task = qm9_training.load_task(parser, args, baseline=readout != "dipole", per_atom=readout == "sum")
    model = AtomPairNet(
        width=args.width,
        depth=args.depth,
        n_rbf=args.rbf,
        cutoff=args.cutoff,
        products=args.products,
        vectors=args.vectors,
        pair_update=args.pair_update,
        readout=readout,
        graph=args.graph,
        reference_size=args.reference_size,
        head_gain=args.head_gain,
    )
    molecules = Molecules(
        task.data, ragged=args.layout == "ragged", graph=args.graph, bucket=args.bucket, dtype=torch.float32
    )

    def forward(batch: Batch) -> torch.Tensor:
        pos = None if args.graph else batch.pos
        if batch.ragged is not None:
            return model.forward_ragged(batch.z, batch.ragged, pos=pos, bonds=batch.bonds)
        return model(batch.z, batch.mask, pos=pos, bonds=batch.bonds)

    name = args.name
    qm9_training.describe(task, name, sum(p.numel() for p in model.parameters()), args)
    run = qm9_training.train(model, forward, molecules, task, args)
    return qm9_training.report(name, model, forward, molecules, task, args, run, {"readout": readout})


if __name__ == "__main__":
    main()
