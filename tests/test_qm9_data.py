"""bench/qm9_data.py without the QM9 wheel: CSV parsing of the wheel's encodings on a tiny file,
padded/ragged batches and their round trip, neighbour pairs, index files and their errors, the
splits, the per-element baseline on synthetic data, and the real molecules of
``tests/data/qm9_sample.json``. The tests that need qm9pack or schnetpack skip without them."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
qm9_data = pytest.importorskip("qm9_data")

SAMPLE = Path(__file__).resolve().parent / "data" / "qm9_sample.json"


def sample() -> "qm9_data.QM9":
    """The 8 molecules of the fixture as a ``QM9``."""
    molecules = json.loads(SAMPLE.read_text())["molecules"]
    n = [len(m["z"]) for m in molecules]
    return qm9_data.QM9(
        index=np.array([m["Index"] for m in molecules]),
        offsets=np.concatenate([[0], np.cumsum(n)]),
        z=np.concatenate([m["z"] for m in molecules]).astype(np.int64),
        pos=np.concatenate([m["pos"] for m in molecules]),
        columns={c: np.array([m[c] for m in molecules]) for c in ("HOMO_LUMO_gap_au", "InternalEnergy_0K_au")},
    )


def test_sample_fixture():
    data = sample()
    assert len(data) == 8 and list(data.index) == sorted(data.index)
    assert set(np.unique(data.z)) == {1, 6, 7, 8, 9}
    assert data.n_atoms.max() == 29  # the largest QM9 molecule is in the sample
    z, pos = data.molecule(0)  # methane: four C-H bonds of 1.09 Å
    assert list(z) == [6, 1, 1, 1, 1]
    np.testing.assert_allclose(np.linalg.norm(pos[1:] - pos[0], axis=1), 1.092, atol=2e-3)
    assert len(qm9_data.infer_bonds(z, pos)) == 4
    z, pos = data.molecule(2)  # water
    assert sorted(map(tuple, qm9_data.infer_bonds(z, pos))) == [(0, 1), (0, 2)]


CSV_HEADER = (
    "XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,Harmonic_Freq_cmi,"
    "Dipole_debye,HOMO_au\n"
)


def test_parse_csv_encodings(tmp_path):
    # The wheel's encodings: "0." and "1." without decimals, E exponents; rows out of Index order.
    rows = [
        '"dsgdb9nsd_000004.xyz",4,"C#C","x",4,"[2,2,0,0,0]","[\'C\',\'C\',\'H\',\'H\']",'
        '"[[0.5995394918,0.,1.],[-0.5995394918,0.,1.],[-1.6616385861,0.,1.],[1.6616385861,0.,1.]]",'
        '"[0,0,0,0]","[1,2]",0.,-0.2841',
        '"dsgdb9nsd_000001.xyz",1,"C","x",2,"[1,1,0,0,0]","[\'C\',\'H\']",'
        '"[[-1.2E-5,1.0858041578,0.0080009958],[0.002150416,-0.0060313176,1.5e+00]]","[0,0]","[1]",1.5,-0.3877',
    ]
    file = tmp_path / "qm9_part1.csv"
    file.write_text(CSV_HEADER + "\n".join(rows) + "\n")
    data = qm9_data.parse_csv([file])
    assert list(data.index) == [1, 4] and list(data.n_atoms) == [2, 4]
    assert list(data.z) == [6, 1, 6, 6, 1, 1]
    np.testing.assert_array_equal(data.pos[0], [-1.2e-5, 1.0858041578, 0.0080009958])
    np.testing.assert_array_equal(data.pos[1, 2], 1.5)
    np.testing.assert_array_equal(data.pos[2:, 1:], [[0.0, 1.0]] * 4)
    assert list(data.columns) == ["N_atoms", "Dipole_debye", "HOMO_au"]
    np.testing.assert_array_equal(data.target("HOMO_au"), [-0.3877, -0.2841])
    with pytest.raises(KeyError, match="no numeric column 'Gap'"):
        data.target("Gap")
    file.write_text(CSV_HEADER + rows[0].replace(",1.]]", "]]") + "\n")
    with pytest.raises(ValueError, match="4 elements but 11 coordinates"):
        qm9_data.parse_csv([file])


def test_ragged_padded_round_trip():
    data = sample()
    rows = np.array([5, 0, 7, 2])
    y = np.arange(len(data), dtype=float) * 10
    ragged = qm9_data.ragged_batch(data, rows, y, dtype=torch.float64)
    assert ragged.batch.tolist() == [b for b, r in enumerate(rows) for _ in range(data.n_atoms[r])]
    assert ragged.index.tolist() == data.index[rows].tolist() and ragged.y.tolist() == [50.0, 0.0, 70.0, 20.0]
    padded = qm9_data.ragged_to_padded(ragged)
    assert padded.mask.shape == (4, data.n_atoms[rows].max()) and padded.pos.shape == (*padded.mask.shape, 3)
    assert padded.mask.sum(1).tolist() == data.n_atoms[rows].tolist()
    assert (padded.z[~padded.mask] == 0).all() and (padded.pos[~padded.mask] == 0).all()
    for b, r in enumerate(rows):
        z, pos = data.molecule(r)
        np.testing.assert_array_equal(padded.z[b, : len(z)], z)
        np.testing.assert_array_equal(padded.pos[b, : len(z)], pos)
    back = qm9_data.padded_to_ragged(padded)
    for name in ("z", "pos", "batch", "n_atoms", "index", "y"):
        assert torch.equal(getattr(back, name), getattr(ragged, name)), name
    direct = qm9_data.padded_batch(data, rows, y, dtype=torch.float64)
    assert torch.equal(direct.mask, padded.mask) and torch.equal(direct.pos, padded.pos)


def test_batches_cover_rows_once():
    data = sample()
    seen = []
    for batch in qm9_data.batches(data, np.arange(8), 3, shuffle=True, generator=np.random.default_rng(1)):
        seen += batch.index.tolist()
    assert sorted(seen) == sorted(data.index.tolist()) and seen != data.index.tolist()
    sizes = [len(b.index) for b in qm9_data.batches(data, np.arange(8), 3, padded=True)]
    assert sizes == [3, 3, 2]


def test_neighbour_pairs_match_brute_force():
    data = sample()
    rows = np.array([6, 1, 7])
    batch = qm9_data.ragged_batch(data, rows, dtype=torch.float64)
    i, j = qm9_data.neighbour_pairs(batch, cutoff=3.0)
    expected = [
        (a, b)
        for a in range(len(batch.z))
        for b in range(len(batch.z))
        if a != b and batch.batch[a] == batch.batch[b] and torch.dist(batch.pos[a], batch.pos[b]) < 3.0
    ]
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected


def test_rows_and_index_files(tmp_path):
    data = sample()
    assert data.rows([57518, 1]).tolist() == [5, 0]
    with pytest.raises(KeyError, match="2 unknown QM9 Index value"):
        data.rows([1, 5, 10**6])
    file = tmp_path / "train.txt"
    qm9_data.write_index_file(file, [4, 1, 184])
    assert qm9_data.read_index_file(file, data.index).tolist() == [4, 1, 184]
    file.write_text("# comment\n4\n\n  1  # methane\n")
    assert qm9_data.read_index_file(file).tolist() == [4, 1]
    file.write_text("4\n1.5\n")
    with pytest.raises(ValueError, match=r"train\.txt:2: expected one QM9 Index .* got '1.5'"):
        qm9_data.read_index_file(file)
    file.write_text("4\n1\n4\n")
    with pytest.raises(ValueError, match=r"train\.txt:3: Index 4 repeats line 1"):
        qm9_data.read_index_file(file)
    file.write_text("4\n5\n133886\n")
    with pytest.raises(KeyError, match=r"2 Index value.* not in QM9: 5, 133886"):
        qm9_data.read_index_file(file, data.index)


def test_splits():
    indices = np.arange(1, 1001)
    train, test = qm9_data.default_split(indices, 100, 20, seed=0)
    assert len(train) == 100 and len(test) == 20 and not set(train) & set(test)
    again, _ = qm9_data.default_split(indices[::-1], 100, 20, seed=0)  # input order does not matter
    assert train.tolist() == again.tolist()
    assert qm9_data.default_split(indices, 100, 20, seed=1)[0].tolist() != train.tolist()
    a, b, c = qm9_data.full_split(indices, 800, 100)
    assert (len(a), len(b), len(c)) == (800, 100, 100) and a[:100].tolist() == train.tolist()
    qm9_data.check_disjoint(train=a, val=b, test=c)
    with pytest.raises(ValueError, match="train and test share 1 molecule"):
        qm9_data.check_disjoint(train=a, test=np.array([a[5], 10**6]))
    with pytest.raises(ValueError, match="available"):
        qm9_data.default_split(indices, 1000, 1)


def test_element_baseline_recovers_linear_targets():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 10, size=(200, 5)).astype(float)
    coef = np.array([-0.5, -38.0, -54.7, -75.2, -99.8])
    y = counts @ coef + 3.0
    fit = qm9_data.ElementBaseline.fit(counts, y)
    np.testing.assert_allclose(fit.coef, coef, atol=1e-9)
    assert fit.intercept == pytest.approx(3.0)
    np.testing.assert_allclose(fit(counts), y, atol=1e-9)
    counts[:, 4] = 0  # no F in the training set: its coefficient is left at 0 (minimum norm)
    fit = qm9_data.ElementBaseline.fit(counts, counts @ coef, intercept=False)
    assert fit.intercept == 0.0 and fit.coef[4] == 0.0
    np.testing.assert_allclose(fit.coef[:4], coef[:4], atol=1e-9)


def test_element_counts_and_units():
    data = sample()
    counts = data.element_counts()
    assert counts[0].tolist() == [4, 1, 0, 0, 0] and counts[2].tolist() == [2, 0, 0, 1, 0]
    assert counts.sum(1).tolist() == data.n_atoms.tolist()
    assert qm9_data.unit("HOMO_LUMO_gap_au") == "Ha" and qm9_data.unit("Heatcapacity_Cv_cal_mol_K") == "cal/(mol K)"
    assert qm9_data.unit("A_xy") == "bohr^3" and qm9_data.unit("N_atoms") == "1"
    assert qm9_data.display_units("ZPVE_au") == (pytest.approx(27211.386), "meV")
    assert qm9_data.display_units("Dipole_debye") == (1.0, "D")


def test_installed_wheel_files():
    if importlib.util.find_spec("qm9pack") is None:  # found, never imported (its __init__ needs pkg_resources)
        pytest.skip("qm9pack is not installed (the bench extra)")
    files = qm9_data.csv_files()
    assert [f.name for f in files] == ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"]
    assert (files[0].parent / "qm9_polarizability.csv").exists()


def test_baseline_models_are_invariant_on_real_molecules():
    """schnetpack's PaiNN and SchNet as built by bench/qm9_baselines.py: rotating, translating and
    permuting the atoms of the sample molecules leaves the (untrained) predictions unchanged."""
    if importlib.util.find_spec("schnetpack") is None:
        pytest.skip("schnetpack is not installed (the bench extra)")
    import qm9_baselines  # patches torch for schnetpack 2.0.4 before importing it

    data = sample()
    rows = np.arange(len(data))
    batch = qm9_data.ragged_batch(data, rows, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    moved = qm9_data.ragged_batch(data, rows, dtype=torch.float64)
    moved.pos = moved.pos @ q.T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    order = torch.cat([torch.flip(torch.nonzero(batch.batch == b)[:, 0], [0]) for b in range(len(rows))])
    moved.z, moved.pos = moved.z[order], moved.pos[order]
    torch.manual_seed(0)
    for name in ("painn", "schnet"):
        model = qm9_baselines.Baseline(name, features=16, interactions=2).double()
        with torch.no_grad():
            torch.testing.assert_close(model(moved), model(batch), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("model", ["painn", "schnet"])
def test_baseline_script_end_to_end(tmp_path, monkeypatch, model):
    """bench/qm9_baselines.py's command line on the sample molecules (two steps): index files in,
    one ``index,prediction`` row per test molecule out, no header."""
    if importlib.util.find_spec("schnetpack") is None:
        pytest.skip("schnetpack is not installed (the bench extra)")
    import qm9_baselines

    monkeypatch.setattr(qm9_data, "load_qm9", sample)
    qm9_data.write_index_file(tmp_path / "train.txt", [1, 2, 3, 4, 184, 67093])
    qm9_data.write_index_file(tmp_path / "test.txt", [132745, 57518])
    out = tmp_path / "predictions.csv"
    summary = qm9_baselines.main(
        [
            *("--model", model, "--target", "InternalEnergy_0K_au", "--budget", "60", "--max-steps", "2"),
            *("--threads", "1", "--features", "8", "--interactions", "1", "--batch-size", "3"),
            *("--train-index", str(tmp_path / "train.txt"), "--test-index", str(tmp_path / "test.txt")),
            *("--predictions", str(out), "--json", str(tmp_path / "summary.json")),
        ]
    )
    rows = [line.split(",") for line in out.read_text().splitlines()]
    assert [int(i) for i, _ in rows] == [132745, 57518]
    predictions = np.array([float(p) for _, p in rows])
    assert np.isfinite(predictions).all() and summary["steps"] == 2
    truth = sample().target("InternalEnergy_0K_au")[[7, 5]]
    assert summary["test_mae"] == pytest.approx(np.mean(np.abs(predictions - truth)), abs=1e-8)  # 12 digits
    assert json.loads((tmp_path / "summary.json").read_text())["n_train"] == 6
