"""An independent dense oracle for the backend tests, and tests of the oracle itself.

``oracle_matrix`` evaluates the entry formulas (docs/conventions.md) one index tuple at a time (no
plans, no factorisation, no numpy tricks), including its own crossing count for the signed
symplectic functor. It is checked here against worked examples, against
equivariance under random group elements, and against ``catlayer.backend.dense_matrix`` (a
second, vectorised implementation); the other backend test modules import it.
"""

from __future__ import annotations

from functools import cache
from itertools import combinations, product

import numpy as np
import pytest

from catlayer import (
    SO,
    BrauerDiagram,
    BrauerGroodDiagram,
    O,
    PartitionDiagram,
    S,
    Sp,
)
from catlayer.backend import dense_matrix

# The oracle's own names for the functor families (test-local: the oracle is written
# independently of catlayer's group classes). "lorentz" is O(1, n−1), "special_lorentz" SO(1, n−1),
# both with η = diag(1, −1, …, −1).
FAMILIES = ("partition", "orthogonal", "symplectic", "special_orthogonal", "lorentz", "special_lorentz")


def group(family: str, n: int):
    """The catlayer group the oracle's family name stands for."""
    return {
        "partition": S,
        "orthogonal": O,
        "symplectic": Sp,
        "special_orthogonal": SO,
        "lorentz": lambda n: O(1, n - 1),
        "special_lorentz": lambda n: SO(1, n - 1),
    }[family](n)


def groups_up_to(n_max: int):
    for family in FAMILIES:
        for n in range(1, n_max + 1):
            if (family == "symplectic" and n % 2) or (family.endswith("lorentz") and n < 2):
                continue
            yield family, n


def hom(family: str, n: int, k: int, l: int):
    return group(family, n).category.hom(k, l)


def _eta(family: str, a: int) -> int:
    """The metric diagonal: −1 on every index but 0 for the Lorentz families, else 1."""
    return -1 if family.endswith("lorentz") and a > 0 else 1


def _eps(a: int, b: int) -> int:
    if a % 2 == 0 and b == a + 1:
        return 1
    if a % 2 == 1 and b == a - 1:
        return -1
    return 0


def _levi_civita(values) -> int:
    if len(set(values)) != len(values):
        return 0
    inversions = sum(1 for i, j in combinations(range(len(values)), 2) if values[i] > values[j])
    return -1 if inversions % 2 else 1


def _boundary(v: int, l: int, k: int) -> int:
    return v if v < l else l + (k - 1 - (v - l))


def _signed_sign(blocks, k: int, l: int) -> int:
    """s(β) = (−1)^(#top pairs + #crossing pairs of pairs) of the signed symplectic functor."""
    caps = sum(1 for b in blocks if b[-1] < l)
    crossings = 0
    for p, q in combinations(blocks, 2):
        a, b = sorted(_boundary(v, l, k) for v in p)
        c, d = sorted(_boundary(v, l, k) for v in q)
        if a < c < b < d or c < a < d < b:
            crossings += 1
    return -1 if (caps + crossings) % 2 else 1


def _entry(family: str, n: int, d, x) -> int:
    l = d.cod
    value = 1
    special = family in ("special_orthogonal", "special_lorentz")
    if special:
        free = sorted(b[0] for b in d.blocks if len(b) == 1)
        if free:
            value *= _levi_civita([x[v] for v in free])
            for v in free:  # the input indices of ε are lowered by η
                if v >= l:
                    value *= _eta(family, x[v])
    for block in d.blocks:
        if special and len(block) == 1:
            continue
        same_row = block[-1] < l or block[0] >= l
        if family == "symplectic" and same_row:
            value *= _eps(x[block[0]], x[block[1]])
        elif any(x[v] != x[block[0]] for v in block):
            return 0
        elif same_row and len(block) == 2:
            value *= _eta(family, x[block[0]])
    return value


@cache
def oracle_matrix(family: str, n: int, d) -> np.ndarray:
    """The n^l × n^k matrix of d, entry by entry from the formulas (float64)."""
    k, l = d.dom, d.cod
    M = np.zeros((n**l, n**k))
    for x in product(range(n), repeat=l + k):
        row = sum(x[a] * n ** (l - 1 - a) for a in range(l))
        col = sum(x[l + j] * n ** (k - 1 - j) for j in range(k))
        M[row, col] = _entry(family, n, d, x)
    if family == "symplectic":
        M *= _signed_sign(d.blocks, k, l)
    M.setflags(write=False)
    return M


def oracle_apply(family: str, n: int, d, x: np.ndarray) -> np.ndarray:
    """(batch,) + (n,)*k → (batch,) + (n,)*l in float64 via the oracle matrix."""
    batch = x.shape[0]
    flat = np.asarray(x, dtype=np.float64).reshape(batch, n**d.dom)
    return (flat @ oracle_matrix(family, n, d).T).reshape((batch,) + (n,) * d.cod)


def oracle_layer(family: str, n: int, diagrams, W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Σ_t Σ_c W[o, c, t] M_t X[b, c] in float64."""
    batch, c_in = X.shape[:2]
    l = diagrams[0].cod
    Y = np.zeros((batch, W.shape[0]) + (n,) * l)
    flat = np.asarray(X, dtype=np.float64).reshape(batch, c_in, n ** diagrams[0].dom)
    for t, d in enumerate(diagrams):
        term = flat @ oracle_matrix(family, n, d).T  # (batch, c_in, n^l)
        Y += np.einsum("oc,bcj->boj", np.asarray(W[:, :, t], dtype=np.float64), term).reshape(Y.shape)
    return Y


def relative_error(y: np.ndarray, ref: np.ndarray) -> float:
    """max|y − ref| / max|ref| (max-abs-scaled); 0 when both vanish."""
    scale = np.abs(ref).max() if ref.size else 0.0
    err = np.abs(np.asarray(y, dtype=np.float64) - ref).max() if ref.size else 0.0
    return err / scale if scale else err


# ------------------------------------------------------------------------------------------
# tests of the oracle


def test_worked_example_five_to_three():
    n = 3
    d = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)
    v = np.random.default_rng(0).standard_normal((n,) * 5)
    w = oracle_apply("partition", n, d, v[None])[0]
    expected = np.empty((n,) * 3)
    for i0, i1, i2 in product(range(n), repeat=3):
        expected[i0, i1, i2] = sum(v[i2, a, i0, a, i2] for a in range(n))
    np.testing.assert_allclose(w, expected, atol=1e-12)


def test_levi_civita_examples():
    H = oracle_matrix("special_orthogonal", 2, BrauerGroodDiagram([[0], [1]], dom=1, cod=1))
    np.testing.assert_array_equal(H, [[0, 1], [-1, 0]])
    cross = BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1)
    a, b = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 2.0])
    out = oracle_apply("special_orthogonal", 3, cross, np.outer(a, b)[None])[0]
    np.testing.assert_allclose(out, np.cross(a, b))


def test_symplectic_generators():
    n = 4
    eps = np.array([[_eps(a, b) for b in range(n)] for a in range(n)], dtype=float)
    cup = BrauerDiagram([[0, 1]], dom=2, cod=0)
    cap = BrauerDiagram([[0, 1]], dom=0, cod=2)
    crossing = BrauerDiagram([[0, 3], [1, 2]], dom=2, cod=2)
    np.testing.assert_array_equal(oracle_matrix("symplectic", n, cup).reshape(n, n), eps)
    np.testing.assert_array_equal(oracle_matrix("symplectic", n, cap).reshape(n, n), -eps)
    swap = np.eye(n * n).reshape(n, n, n, n).transpose(0, 1, 3, 2).reshape(n * n, n * n)
    np.testing.assert_array_equal(oracle_matrix("symplectic", n, crossing), -swap)


def _random_element(family: str, n: int, rng) -> np.ndarray:
    if family.endswith("lorentz"):
        eta = np.array([_eta(family, a) for a in range(n)])
        g = np.eye(n)
        for _ in range(6):  # plane rotations and boosts in random coordinate planes
            i, j = sorted(rng.choice(n, 2, replace=False))
            t = rng.uniform(-1.0, 1.0)
            c, s = (np.cosh(t), np.sinh(t)) if eta[i] != eta[j] else (np.cos(t), np.sin(t))
            r = np.eye(n)
            r[i, i], r[j, j] = c, c
            r[i, j], r[j, i] = s, (s if eta[i] != eta[j] else -s)
            g = r @ g
        if family == "lorentz":
            g = np.diag(rng.choice([-1.0, 1.0], n)) @ g
        elif rng.random() < 0.5:  # SO(1, n−1): flip time and one space direction together
            g = np.diag([-1.0, -1.0] + [1.0] * (n - 2)) @ g
        assert np.allclose(g.T @ np.diag(eta) @ g, np.diag(eta))
        return g
    if family == "partition":
        return np.eye(n)[:, rng.permutation(n)]
    if family == "symplectic":
        J = np.array([[_eps(a, b) for b in range(n)] for a in range(n)], dtype=float)
        g = np.eye(n)
        for _ in range(4):  # symplectic transvections x ↦ x + c (vᵀJx) v
            v = rng.standard_normal(n)
            g = (np.eye(n) + 0.5 * np.outer(v, v) @ J) @ g
        assert np.allclose(g.T @ J @ g, J)
        return g
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q = q * np.sign(np.diag(r))
    if family == "special_orthogonal" and np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def _power(g: np.ndarray, k: int) -> np.ndarray:
    out = np.ones((1, 1))
    for _ in range(k):
        out = np.kron(out, g)
    return out


@pytest.mark.parametrize(
    "family, n",
    [
        ("partition", 3),
        ("orthogonal", 3),
        ("symplectic", 2),
        ("special_orthogonal", 2),
        ("special_orthogonal", 3),
        ("lorentz", 2),
        ("lorentz", 4),
        ("special_lorentz", 2),
        ("special_lorentz", 3),
    ],
)
def test_oracle_is_equivariant(family, n):
    rng = np.random.default_rng(1)
    for k, l in [(0, 2), (1, 1), (2, 1), (1, 2), (2, 2), (3, 1)]:
        for d in hom(family, n, k, l):
            M = oracle_matrix(family, n, d)
            for _ in range(2):
                g = _random_element(family, n, rng)
                np.testing.assert_allclose(_power(g, l) @ M, M @ _power(g, k), atol=1e-9, err_msg=repr(d))


def test_oracle_matches_vectorised_dense_builder():
    for family, n in groups_up_to(3):
        for k, l in [(0, 1), (1, 1), (2, 1), (0, 3), (2, 2), (3, 1), (1, 3)]:
            for d in hom(family, n, k, l):
                np.testing.assert_array_equal(
                    dense_matrix(group(family, n), d), oracle_matrix(family, n, d), err_msg=repr(d)
                )


def test_oracle_against_group_functors():
    for family, n in [
        ("partition", 3),
        ("orthogonal", 3),
        ("symplectic", 2),
        ("special_orthogonal", 3),
        ("lorentz", 4),
        ("special_lorentz", 3),
    ]:
        G = group(family, n)
        for k, l in [(1, 1), (2, 1), (2, 2), (3, 0)]:
            for d in hom(family, n, k, l):
                np.testing.assert_allclose(
                    np.asarray(G.functor(d).to_numpy(), dtype=float), oracle_matrix(family, n, d), err_msg=repr(d)
                )
