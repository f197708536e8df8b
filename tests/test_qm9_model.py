"""bench/qm9_model.py on the real molecules of ``tests/data/qm9_sample.json`` (3 to 29 atoms):
predictions invariant under every rotation, reflection, translation and relabelling of the atoms
(float64, to float precision), a padded batch equal to each molecule alone and to the ragged batch,
the graph-only model invariant under relabelling, bad options refused, and bench_qm9.py end to end on a
tiny budget (needs the qm9pack wheel; skipped without it)."""

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
qm9_data = pytest.importorskip("qm9_data")
qm9_model = pytest.importorskip("qm9_model")

from catlayer.nn import RaggedBatch  # noqa: E402

SAMPLE = Path(__file__).resolve().parent / "data" / "qm9_sample.json"
MOLECULES = json.loads(SAMPLE.read_text())["molecules"]
# float64 round-off on molecules of up to 29 atoms through three blocks; a broken symmetry (a
# leaking pad, a term that sees the labels or the frame) moves predictions by O(1).
ATOL = 1e-9

CONFIGS = {
    "sum": {"readout": "sum"},
    "mean": {"readout": "mean"},
    "dipole": {"readout": "dipole"},
    "pairs": {"readout": "sum", "pair_update": True, "products": True},
    "vectors": {"readout": "mean", "vectors": True},
    "vector-dipole": {"readout": "dipole", "vectors": True},
}


def make(seed: int = 0, **options) -> torch.nn.Module:
    torch.manual_seed(seed)
    return qm9_model.AtomPairNet(width=8, depth=2, n_rbf=6, **options).double().eval()


def molecule(m: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(m["z"]), torch.tensor(m["pos"], dtype=torch.float64)


def alone(model, z, pos, bonds=None) -> torch.Tensor:
    mask = torch.ones(1, len(z), dtype=torch.bool)
    return model(z[None], mask, pos=pos[None], bonds=None if bonds is None else bonds[None])[0]


def random_orthogonal(generator: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.rand((), generator=generator) < 0.5:
        q = q @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))  # a reflection too
    return q


@pytest.mark.parametrize("config", CONFIGS)
def test_invariant_under_rotations_reflections_translations_and_relabelling(config):
    model = make(**CONFIGS[config])
    generator = torch.Generator().manual_seed(1)
    values = []
    for m in MOLECULES:
        z, pos = molecule(m)
        with torch.no_grad():
            before = alone(model, z, pos)
            for _ in range(2):
                q = random_orthogonal(generator)
                shift = 3.0 * torch.randn(3, generator=generator, dtype=torch.float64)
                perm = torch.randperm(len(z), generator=generator)
                after = alone(model, z[perm], pos[perm] @ q.T + shift)
                torch.testing.assert_close(after, before, atol=ATOL, rtol=0)
        values.append(before.item())
    # Not trivially invariant: the predictions differ between molecules (methane's dipole is 0).
    assert np.ptp(values) > 1e-3


@pytest.mark.parametrize("config", CONFIGS)
def test_padded_and_ragged_batches_equal_each_molecule_alone(config):
    model = make(seed=2, **CONFIGS[config])
    data = [molecule(m) for m in MOLECULES]
    n = max(len(z) for z, _ in data)
    # Padding in the middle as well as at the end, with garbage in the padded slots.
    b = len(data)
    mask = torch.zeros(b, n + 2, dtype=torch.bool)
    z = torch.full((b, n + 2), 7)
    pos = torch.full((b, n + 2, 3), 123.0, dtype=torch.float64)
    for k, (zk, pk) in enumerate(data):
        slots = torch.randperm(n + 2, generator=torch.Generator().manual_seed(k))[: len(zk)].sort().values
        mask[k, slots], z[k, slots], pos[k, slots] = True, zk, pk
    with torch.no_grad():
        padded = model(z, mask, pos=pos)
        each = torch.stack([alone(model, zk, pk) for zk, pk in data])
        ragged = model.forward_ragged(
            torch.cat([zk for zk, _ in data]),
            RaggedBatch([len(zk) for zk, _ in data]),
            pos=torch.cat([pk for _, pk in data]),
        )
    torch.testing.assert_close(padded, each, atol=ATOL, rtol=0)
    torch.testing.assert_close(ragged, each, atol=ATOL, rtol=0)


def bond_matrix(z: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    bonds = torch.zeros(len(z), len(z), dtype=torch.float64)
    for i, j in qm9_data.infer_bonds(z.numpy(), pos.numpy()):
        bonds[i, j] = bonds[j, i] = 1.0
    return bonds


@pytest.mark.parametrize("readout", ["sum", "mean"])
def test_graph_model_invariant_under_relabelling_and_blind_to_geometry(readout):
    model = make(seed=4, readout=readout, graph=True, pair_update=True)
    generator = torch.Generator().manual_seed(5)
    for m in MOLECULES:
        z, pos = molecule(m)
        bonds = bond_matrix(z, pos)
        with torch.no_grad():
            before = alone(model, z, pos, bonds)
            perm = torch.randperm(len(z), generator=generator)
            after = alone(model, z[perm], pos[perm], bonds[perm][:, perm])
            moved = alone(model, z, pos * 1.7, bonds)  # the graph model never reads positions
        torch.testing.assert_close(after, before, atol=ATOL, rtol=0)
        torch.testing.assert_close(moved, before, atol=0, rtol=0)


def test_bad_options_refused():
    with pytest.raises(ValueError, match="readout must be one of"):
        qm9_model.AtomPairNet(readout="max")
    with pytest.raises(ValueError, match="no positions for a dipole"):
        qm9_model.AtomPairNet(readout="dipole", graph=True)
    with pytest.raises(ValueError, match="no positions for vector features"):
        qm9_model.AtomPairNet(graph=True, vectors=True)


def test_gradients_finite_at_coincident_padding():
    # Padded slots all sit at the same point: distances 0 off the diagonal between pads must not
    # give NaN gradients to the real atoms.
    model = make(seed=6, readout="sum").train()
    z, pos = molecule(MOLECULES[1])
    mask = torch.ones(1, len(z) + 3, dtype=torch.bool)
    mask[0, -3:] = False
    zz = torch.cat([z, torch.zeros(3, dtype=z.dtype)])[None]
    pp = torch.cat([pos, torch.zeros(3, 3, dtype=pos.dtype)])[None].requires_grad_()
    model(zz, mask, pos=pp).sum().backward()
    assert torch.isfinite(pp.grad).all()
    assert (pp.grad[0, -3:] == 0).all()


@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None, reason="needs the qm9pack wheel (bench extra)")
@pytest.mark.parametrize("extra", [[], ["--layout", "padded", "--graph"]])
def test_bench_qm9_command_line_end_to_end(tmp_path, extra):
    bench_qm9 = pytest.importorskip("bench_qm9")
    data = qm9_data.load_qm9()
    train, test = data.index[:64], data.index[1000:1020]
    qm9_data.write_index_file(tmp_path / "train.txt", train)
    qm9_data.write_index_file(tmp_path / "test.txt", test)
    out = tmp_path / "pred.csv"
    summary = bench_qm9.main(
        [
            "--target",
            "HOMO_LUMO_gap_au",
            "--train-index",
            str(tmp_path / "train.txt"),
            "--test-index",
            str(tmp_path / "test.txt"),
            "--budget",
            "2",
            "--threads",
            "1",
            "--predictions",
            str(out),
            "--json",
            str(tmp_path / "summary.json"),
            "--plot",
            str(tmp_path / "curve.png"),
            *extra,
        ]
    )
    rows = list(csv.reader(out.open()))
    assert [int(r[0]) for r in rows] == list(test)
    predictions = np.array([float(r[1]) for r in rows])
    truth = data.target("HOMO_LUMO_gap_au")[np.searchsorted(data.index, test)]
    assert np.isfinite(predictions).all()
    # The printed MAE is the one of the file, in the column's own units.
    np.testing.assert_allclose(summary["test_mae"], np.abs(predictions - truth).mean(), rtol=1e-6)


def test_table_script_refuses_bad_arguments_and_formats_rows(tmp_path, capsys):
    table = pytest.importorskip("bench_qm9_table")
    with pytest.raises(SystemExit):
        table.main(["--targets", "Mass", "--out", str(tmp_path)])
    assert "unknown ['Mass']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        table.main(["--jobs", "2", "--out", str(tmp_path)])
    assert "--clock cpu" in capsys.readouterr().err
    summary = {"test_mae_display": [12.345, "meV"], "trained_cpu_s": 32.1, "epochs": 10.0, "peak_rss_mib": 700.4}
    text = table.table({("catlayer", "HOMO_au"): summary}, ["catlayer", "painn"], ["HOMO_au"])
    assert text.splitlines()[-1] == "| HOMO_au | meV | 12.35 | – | 3.2 | – | 700 | – |"
