"""QM9 for the benchmarks: the 130,831 molecules of the ``qm9pack`` wheel as numpy arrays, index
files, the default splits, padded and ragged batches, neighbour pairs and a per-element linear
baseline. Plain numpy and torch; nothing here imports catlayer.

Data. ``pip install -e ".[bench]"`` installs ``qm9pack==1.0.3``, whose package folder holds
``data/qm9_part{1,2,3}.csv`` (one row per molecule) and ``data/qm9_polarizability.csv`` (the
polarizability tensor, joined on ``XYZ_file``). The files are located with
``importlib.util.find_spec("qm9pack")``; the package itself is never imported (its ``__init__``
needs ``pkg_resources``, which recent setuptools no longer ships). In the CSV, ``Elements`` is a
Python list literal (``"['C','H','H','H','H']"``) and ``XYZ_Ang`` a nested list of numbers
in Å, written as ``-0.0126981359``, ``0.`` / ``1.`` (no digits after the point, for the planar and
linear molecules) or ``1.2E-5``; both are parsed with regular expressions, not ``eval``.

Units. Every numeric column is kept, and predicted, in its own units (the column name says which:
``_au`` is Hartree, ``_debye``, ``_bohr3``, ``_bohr2``, ``_GHz``, ``_cal_mol_K``); ``UNITS`` maps
a column to its unit and ``display_units`` gives a friendlier unit for printing only (Hartree →
meV). ``Polarizability_bohr3`` is the isotropic polarizability (the mean of ``A_xx``, ``A_yy``,
``A_zz``, to the rounding of the CSV: within 0.006).

Cache. Parsing takes ~10 s; the parsed arrays are cached in
``$CATLAYER_CACHE/qm9pack-<version>.npz`` (default ``~/.cache/catlayer``, about 100 MB), keyed on
qm9pack's version and the sizes of its CSV files, and rebuilt when either changes.

Splits. ``default_split()``: the 130,831 Index values, sorted, permuted by
``numpy.random.default_rng(seed)`` (seed 0); the first 10,000 are the training set, the next 2,000
the test set and the rest unused. ``full_split()``: the same permutation cut into 110,000 training,
10,000 validation and 10,831 test molecules (the usual QM9 split sizes).
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F")
ATOMIC_NUMBER: dict[str, int] = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
N_MOLECULES = 130_831
HARTREE_TO_MEV = 27_211.386_245_988

# The 12 targets of the QM9 benchmark tables (μ, α, ε_HOMO, ε_LUMO, Δε, ⟨R²⟩, ZPVE, U0, U, H, G, c_v).
TARGETS: tuple[str, ...] = (
    "Dipole_debye",
    "Polarizability_bohr3",
    "HOMO_au",
    "LUMO_au",
    "HOMO_LUMO_gap_au",
    "R2_bohr2",
    "ZPVE_au",
    "InternalEnergy_0K_au",
    "InternalEnergy_298K_au",
    "Enthalphy_298K_au",
    "GibbsFreeEnergy_298K_au",
    "Heatcapacity_Cv_cal_mol_K",
)

_UNIT_SUFFIXES = {
    "_au": "Ha",
    "_debye": "D",
    "_bohr3": "bohr^3",
    "_bohr2": "bohr^2",
    "_GHz": "GHz",
    "_cal_mol_K": "cal/(mol K)",
}
# Columns of the CSV that are not numbers (or are the Index itself).
_TEXT_COLUMNS = {"XYZ_file", "Index", "SMILES", "InChi", "Stoichiometry", "Elements", "XYZ_Ang"}
_LIST_COLUMNS = {"Mulliken_pop", "Harmonic_Freq_cmi"}  # per-atom / per-mode lists: not targets
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ELEMENT = re.compile(r"[A-Z][a-z]?")


def unit(column: str) -> str:
    """The unit of a numeric column, read off its name (``"1"`` for a count such as ``N_atoms``,
    ``"bohr^3"`` for the polarizability tensor components ``A_xx`` …)."""
    if column.startswith("A_"):
        return "bohr^3"
    for suffix, name in _UNIT_SUFFIXES.items():
        if column.endswith(suffix):
            return name
    return "1"


def display_units(column: str) -> tuple[float, str]:
    """(factor, unit) to print a value of ``column``: Hartree columns in meV, the rest as they are.
    For printing only; predictions are written in the column's own units."""
    if unit(column) == "Ha":
        return HARTREE_TO_MEV, "meV"
    return 1.0, unit(column)


# ----------------------------------------------------------------------------------------------
# The data set


@dataclass(frozen=True)
class QM9:
    """Molecules as flat arrays. Molecule ``m`` (a row, 0-based) has QM9 Index ``index[m]`` and
    atoms ``offsets[m]:offsets[m + 1]`` of ``z`` (atomic numbers) and ``pos`` (Å). ``columns`` maps
    each numeric column name to a float64 array over the molecules."""

    index: np.ndarray  # (M,) int64, increasing
    offsets: np.ndarray  # (M + 1,) int64
    z: np.ndarray  # (A,) int64
    pos: np.ndarray  # (A, 3) float64
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def n_atoms(self) -> np.ndarray:
        """(M,) number of atoms of each molecule."""
        return np.diff(self.offsets)

    def molecule(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(z, pos) of the molecule in ``row`` (0-based row, not the QM9 Index)."""
        a, b = self.offsets[row], self.offsets[row + 1]
        return self.z[a:b], self.pos[a:b]

    def rows(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """The rows of the molecules with these QM9 Index values; raises ``KeyError`` naming the
        unknown ones (QM9 has 3,054 gaps in 1..133,885: molecules whose geometry failed)."""
        indices = np.asarray(indices, dtype=np.int64)
        rows = np.searchsorted(self.index, indices)
        known = (rows < len(self.index)) & (self.index[np.minimum(rows, len(self.index) - 1)] == indices)
        if not known.all():
            unknown = indices[~known]
            shown = ", ".join(str(i) for i in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise KeyError(f"{len(unknown)} unknown QM9 Index value(s): {shown}{more}")
        return rows

    def target(self, column: str) -> np.ndarray:
        """(M,) values of a numeric column, in its own units; a ``KeyError`` lists the columns."""
        if column not in self.columns:
            raise KeyError(f"no numeric column {column!r}; the columns are: {', '.join(self.columns)}")
        return self.columns[column]

    def element_counts(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), 5) float64: how many H, C, N, O, F atoms each molecule has."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows)
        slot = np.full(max(ATOMIC_NUMBER.values()) + 1, -1)
        for k, e in enumerate(ELEMENTS):
            slot[ATOMIC_NUMBER[e]] = k
        molecule = np.repeat(np.arange(len(self)), self.n_atoms)
        counts = np.zeros((len(self), len(ELEMENTS)))
        np.add.at(counts, (molecule, slot[self.z]), 1.0)
        return counts[rows]


def csv_files() -> list[Path]:
    """The part CSV files of the installed qm9pack, found without importing it; a clear error
    when the bench extra is not installed."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError('qm9pack is not installed: pip install -e ".[bench]" (it holds the QM9 CSV files)')
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = sorted(folder.glob("qm9_part*.csv"))
    if not files:
        raise FileNotFoundError(f"no qm9_part*.csv in {folder}")
    return files


def parse_csv(files: Sequence[Path], polarizability: Path | None = None) -> QM9:
    """Parse the part CSV files (and, if given, the polarizability tensor file) into a ``QM9``
    sorted by Index. Every numeric column is kept; the per-atom/per-mode list columns are not."""
    csv.field_size_limit(1 << 28)
    index: list[int] = []
    names: list[str] = []
    z: list[int] = []
    pos: list[float] = []
    n_atoms: list[int] = []
    values: list[list[float]] = []
    keys: list[str] = []
    for file in files:
        with open(file, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            numeric = [c for c in header if c not in _TEXT_COLUMNS | _LIST_COLUMNS]
            if not names:
                names = numeric
            elif numeric != names:
                raise ValueError(f"{file}: columns {numeric} differ from {names}")
            at = {c: k for k, c in enumerate(header)}
            for line, row in enumerate(reader, start=2):
                elements = _ELEMENT.findall(row[at["Elements"]])
                xyz = [float(x) for x in _NUMBER.findall(row[at["XYZ_Ang"]].replace("*^", "e"))]
                if len(xyz) != 3 * len(elements) or not elements:
                    raise ValueError(f"{file}:{line}: {len(elements)} elements but {len(xyz)} coordinates")
                index.append(int(row[at["Index"]]))
                keys.append(row[at["XYZ_file"]])
                z.extend(ATOMIC_NUMBER[e] for e in elements)
                pos.extend(xyz)
                n_atoms.append(len(elements))
                values.append([float(row[at[c]]) for c in names])
    table = np.array(values, dtype=np.float64).reshape(len(index), len(names))
    columns = {c: table[:, k] for k, c in enumerate(names)}
    if polarizability is not None:
        with open(polarizability, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            tensor = {row[0]: [float(x) for x in row[1:]] for row in reader}
        for k, c in enumerate(header[1:]):
            columns[c] = np.array([tensor[key][k] if key in tensor else np.nan for key in keys])
    offsets = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(n_atoms, out=offsets[1:])
    data = QM9(
        index=np.array(index, dtype=np.int64),
        offsets=offsets,
        z=np.array(z, dtype=np.int64),
        pos=np.array(pos, dtype=np.float64).reshape(-1, 3),
        columns=columns,
    )
    order = np.argsort(data.index, kind="stable")
    if (order != np.arange(len(order))).any():
        data = subset(data, order)
    if (np.diff(data.index) <= 0).any():
        raise ValueError("duplicate Index values in the CSV files")
    return data


def _atoms(data: QM9, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(atoms per molecule, the atom positions in the flat arrays) of ``rows``, in row order."""
    n = data.n_atoms[rows]
    atoms = np.repeat(data.offsets[rows] - np.cumsum(n) + n, n) + np.arange(n.sum())
    return n, atoms.astype(np.int64)


def subset(data: QM9, rows: np.ndarray) -> QM9:
    """The molecules in ``rows`` (in that order) as a new ``QM9``."""
    rows = np.asarray(rows, dtype=np.int64)
    n, atoms = _atoms(data, rows)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(n, out=offsets[1:])
    return QM9(data.index[rows], offsets, data.z[atoms], data.pos[atoms], {c: v[rows] for c, v in data.columns.items()})


def cache_path() -> Path:
    """Where ``load_qm9`` keeps the parsed arrays: ``$CATLAYER_CACHE`` or ``~/.cache/catlayer``."""
    root = (
        os.environ.get("CATLAYER_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "catlayer"
    )
    return Path(root) / f"qm9pack-{importlib.metadata.version('qm9pack')}.npz"


def load_qm9(cache: Path | None = None, *, refresh: bool = False) -> QM9:
    """All 130,831 molecules, parsed from qm9pack's CSV files once and then read from the cache
    (``cache_path()`` unless ``cache`` is given); ``refresh`` re-parses."""
    files = csv_files()
    polarizability = files[0].parent / "qm9_polarizability.csv"
    sources = [*files, polarizability] if polarizability.exists() else files
    key = ";".join(f"{p.name}:{p.stat().st_size}" for p in sources)
    cache = cache_path() if cache is None else Path(cache)
    if cache.exists() and not refresh:
        with np.load(cache, allow_pickle=False) as stored:
            if str(stored["key"]) == key:
                names = [str(c) for c in stored["names"]]
                table = stored["table"]
                return QM9(
                    stored["index"],
                    stored["offsets"],
                    stored["z"],
                    stored["pos"],
                    {c: table[:, k] for k, c in enumerate(names)},
                )
    data = parse_csv(files, polarizability if polarizability.exists() else None)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.name + f".{os.getpid()}.tmp.npz")
    np.savez(
        partial,
        key=np.array(key),
        index=data.index,
        offsets=data.offsets,
        z=data.z.astype(np.int64),
        pos=data.pos,
        names=np.array(list(data.columns)),
        table=np.stack(list(data.columns.values()), axis=1),
    )
    os.replace(partial, cache)
    return data


# ----------------------------------------------------------------------------------------------
# Index files and splits


def read_index_file(path: str | Path, known: np.ndarray | None = None) -> np.ndarray:
    """The QM9 Index values in a file, one per line (blank lines and ``#`` comments are skipped),
    in file order. Raises ``ValueError`` for a line that is not an integer and for a repeated
    value, and ``KeyError`` for values not in ``known`` (e.g. ``QM9.index``) when it is given."""
    values: list[int] = []
    seen: dict[int, int] = {}
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"{path}:{number}: expected one QM9 Index (an integer), got {text!r}") from None
            if value in seen:
                raise ValueError(f"{path}:{number}: Index {value} repeats line {seen[value]}")
            seen[value] = number
            values.append(value)
    indices = np.array(values, dtype=np.int64)
    if known is not None:
        unknown = indices[~np.isin(indices, known)]
        if len(unknown):
            shown = ", ".join(str(i) for i in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise KeyError(f"{path}: {len(unknown)} Index value(s) not in QM9: {shown}{more}")
    return indices


def write_index_file(path: str | Path, indices: Sequence[int] | np.ndarray) -> None:
    """Write QM9 Index values one per line (the format ``read_index_file`` reads)."""
    Path(path).write_text("".join(f"{int(i)}\n" for i in indices))


def check_disjoint(**sets: np.ndarray) -> None:
    """Raise ``ValueError`` if any two of the named Index sets share a molecule."""
    names = list(sets)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            common = np.intersect1d(sets[names[a]], sets[names[b]])
            if len(common):
                raise ValueError(f"{names[a]} and {names[b]} share {len(common)} molecule(s), e.g. Index {common[0]}")


def _permuted(indices: np.ndarray, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.sort(np.asarray(indices, dtype=np.int64)))


def default_split(
    indices: np.ndarray, n_train: int = 10_000, n_test: int = 2_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) Index arrays: the sorted ``indices`` (normally ``QM9.index``) permuted by
    ``numpy.random.default_rng(seed)``, the first ``n_train`` for training, the next ``n_test`` for
    testing, the rest unused. The benchmarks' default: 10,000 / 2,000, seed 0."""
    order = _permuted(indices, seed)
    if n_train + n_test > len(order):
        raise ValueError(f"{n_train} + {n_test} molecules asked for, {len(order)} available")
    return order[:n_train], order[n_train : n_train + n_test]


def full_split(
    indices: np.ndarray, n_train: int = 110_000, n_val: int = 10_000, seed: int = 0
) -> tuple[np.ndarray, ...]:
    """(train, validation, test) Index arrays over all of QM9: the permutation of ``default_split``
    cut into ``n_train``, ``n_val`` and the rest (10,831 with the defaults)."""
    order = _permuted(indices, seed)
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


# ----------------------------------------------------------------------------------------------
# Batches


@dataclass
class PaddedBatch:
    """B molecules padded to the largest: ``z`` (B, N) int64 (0 for padding), ``pos`` (B, N, 3)
    (0 for padding), ``mask`` (B, N) bool (True for real atoms), ``y`` (B,) targets or None,
    ``index`` (B,) QM9 Index."""

    z: torch.Tensor
    pos: torch.Tensor
    mask: torch.Tensor
    index: torch.Tensor
    y: torch.Tensor | None = None


@dataclass
class RaggedBatch:
    """B molecules as concatenated atoms (PyG convention): ``z`` (A,) int64, ``pos`` (A, 3),
    ``batch`` (A,) int64 molecule of each atom (0..B-1, non-decreasing), ``n_atoms`` (B,),
    ``y`` (B,) or None, ``index`` (B,) QM9 Index."""

    z: torch.Tensor
    pos: torch.Tensor
    batch: torch.Tensor
    n_atoms: torch.Tensor
    index: torch.Tensor
    y: torch.Tensor | None = None


def _gather(data: QM9, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, atoms = _atoms(data, rows)
    return n, data.z[atoms], data.pos[atoms]


def ragged_batch(
    data: QM9, rows: np.ndarray, y: np.ndarray | None = None, dtype: torch.dtype = torch.float32
) -> RaggedBatch:
    """The molecules in ``rows`` as a ``RaggedBatch``; ``y`` is an (M,) array over all rows (e.g.
    ``data.target(c)`` less a baseline), of which ``y[rows]`` is taken."""
    rows = np.asarray(rows, dtype=np.int64)
    n, z, pos = _gather(data, rows)
    return RaggedBatch(
        z=torch.from_numpy(z),
        pos=torch.from_numpy(pos).to(dtype),
        batch=torch.repeat_interleave(torch.arange(len(rows)), torch.from_numpy(n)),
        n_atoms=torch.from_numpy(n),
        index=torch.from_numpy(data.index[rows]),
        y=None if y is None else torch.from_numpy(np.asarray(y)[rows]).to(dtype),
    )


def ragged_to_padded(batch: RaggedBatch) -> PaddedBatch:
    """Pad a ``RaggedBatch`` to the largest molecule of the batch."""
    b, n = len(batch.n_atoms), int(batch.n_atoms.max()) if len(batch.n_atoms) else 0
    start = torch.cumsum(batch.n_atoms, 0) - batch.n_atoms
    slot = torch.arange(len(batch.z)) - start[batch.batch]
    mask = torch.zeros(b, n, dtype=torch.bool)
    mask[batch.batch, slot] = True
    z = torch.zeros(b, n, dtype=batch.z.dtype)
    z[batch.batch, slot] = batch.z
    pos = torch.zeros(b, n, 3, dtype=batch.pos.dtype)
    pos[batch.batch, slot] = batch.pos
    return PaddedBatch(z=z, pos=pos, mask=mask, index=batch.index, y=batch.y)


def padded_to_ragged(batch: PaddedBatch) -> RaggedBatch:
    """Drop the padding of a ``PaddedBatch`` (atoms keep their order)."""
    molecule, _ = batch.mask.nonzero(as_tuple=True)
    return RaggedBatch(
        z=batch.z[batch.mask],
        pos=batch.pos[batch.mask],
        batch=molecule,
        n_atoms=batch.mask.sum(1),
        index=batch.index,
        y=batch.y,
    )


def padded_batch(
    data: QM9, rows: np.ndarray, y: np.ndarray | None = None, dtype: torch.dtype = torch.float32
) -> PaddedBatch:
    """The molecules in ``rows`` padded to the largest of them, with a (B, N) bool mask."""
    return ragged_to_padded(ragged_batch(data, rows, y, dtype))


def batches(
    data: QM9,
    rows: np.ndarray,
    batch_size: int,
    *,
    y: np.ndarray | None = None,
    padded: bool = False,
    shuffle: bool = False,
    generator: np.random.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Iterator[RaggedBatch | PaddedBatch]:
    """Batches of ``batch_size`` molecules over ``rows`` (the last one may be smaller), in order or
    shuffled by ``generator``; ragged, or padded if ``padded``."""
    rows = np.asarray(rows, dtype=np.int64)
    if shuffle:
        rows = (generator or np.random.default_rng()).permutation(rows)
    make = padded_batch if padded else ragged_batch
    for start in range(0, len(rows), batch_size):
        yield make(data, rows[start : start + batch_size], y, dtype)


def neighbour_pairs(batch: RaggedBatch, cutoff: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(idx_i, idx_j): every ordered pair of distinct atoms of the same molecule closer than
    ``cutoff`` Å, as indices into the batch's atoms, sorted by i then j (no periodic images)."""
    padded = ragged_to_padded(batch)
    n = padded.mask.shape[1]
    distance = torch.cdist(padded.pos, padded.pos)
    keep = padded.mask[:, :, None] & padded.mask[:, None, :] & (distance < cutoff)
    keep &= ~torch.eye(n, dtype=torch.bool)
    molecule, i, j = keep.nonzero(as_tuple=True)
    start = torch.cumsum(batch.n_atoms, 0) - batch.n_atoms
    return start[molecule] + i, start[molecule] + j


# Covalent radii (Å) of Cordero et al. 2008, for bonds inferred from the geometry.
COVALENT_RADIUS: dict[int, float] = {1: 0.31, 6: 0.76, 7: 0.71, 8: 0.66, 9: 0.57}


def infer_bonds(z: np.ndarray, pos: np.ndarray, tolerance: float = 0.4) -> np.ndarray:
    """(E, 2) int64 pairs i < j of one molecule whose distance is below the sum of their covalent
    radii plus ``tolerance`` Å: the bond graph of the graph-only variant."""
    radius = np.array([COVALENT_RADIUS[int(a)] for a in z])
    distance = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    i, j = np.nonzero(np.triu(distance < radius[:, None] + radius[None] + tolerance, k=1))
    return np.stack([i, j], axis=1).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Per-element linear baseline


@dataclass(frozen=True)
class ElementBaseline:
    """y ≈ counts · coef + intercept, with ``counts`` the (M, 5) H, C, N, O, F counts: schnetpack's
    atom references (plus a constant), fitted by least squares on the training set only. Models
    learn the residual, in the column's own units."""

    coef: np.ndarray  # (5,) per H, C, N, O, F atom
    intercept: float

    @classmethod
    def fit(cls, counts: np.ndarray, y: np.ndarray, *, intercept: bool = True) -> ElementBaseline:
        """Least squares (minimum norm where an element is absent from ``counts``)."""
        design = np.concatenate([counts, np.ones((len(counts), 1))], axis=1) if intercept else counts
        solution = np.linalg.lstsq(design, y, rcond=None)[0]
        return cls(coef=solution[: counts.shape[1]], intercept=float(solution[-1]) if intercept else 0.0)

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """The baseline's prediction for each row of ``counts``."""
        return counts @ self.coef + self.intercept


# ----------------------------------------------------------------------------------------------
# Curves


def plot_curves(curves: dict[str, list[tuple[float, float]]], path: str | Path, *, column: str) -> None:
    """Plot test MAE (column units, or meV for Hartree columns) against training seconds, one line
    per named curve of (seconds, MAE) points, log-log, to ``path`` (PNG or SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    factor, name = display_units(column)
    figure, axes = plt.subplots(figsize=(5, 3.5))
    for label, points in curves.items():
        if points:
            t, mae = zip(*points, strict=True)
            axes.plot(t, [m * factor for m in mae], marker="o", markersize=3, label=label)
    axes.set(xscale="log", yscale="log", xlabel="training time (s)", ylabel=f"test MAE ({name})", title=column)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
