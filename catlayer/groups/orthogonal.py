"""The orthogonal group O(n) = O(n, 0): category B(n), functor Φ(β) = E_β.

``O(p, q)`` with q > 0 builds the indefinite orthogonal group of the family registered by
:meth:`O.register_indefinite` (:mod:`catlayer.groups.indefinite`).
"""

from __future__ import annotations

import numbers
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import sympy

from ..diagrams import BrauerCategory, Diagram, DiagramCategory
from ..diagrams.validation import short_repr
from ..dimensions import orthogonal_dimension
from ..memory import check_size
from .base import Generator, Group, Seed, check_dimension, int_matrix, read_only
from .loops import loops

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["MetricGroup", "O", "brauer_gram", "check_signature", "haar_orthogonal", "lie_generators", "reflection"]


def check_signature(symbol: str, p: int, q: int) -> tuple[int, int]:
    """(p, q) as ints ≥ 0 with p + q ≥ 1, or a ValueError naming the group."""
    for name, value in (("p", p), ("q", q)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{symbol}(p, q) needs ints p, q >= 0, got {name} = {short_repr(value)}")
    if p + q < 1:
        raise ValueError(f"{symbol}(p, q) needs p + q >= 1, got ({p}, {q})")
    return int(p), int(q)


def _is_zero(q: object) -> bool:
    """Whether q is the integer 0 (so ``O(n, q)`` is ``O(n)``); 0.0 and False are rejected by
    :func:`check_signature` instead of passing as 0."""
    return isinstance(q, numbers.Integral) and not isinstance(q, bool) and q == 0


def lie_generators(metric: np.ndarray, symbol: str) -> tuple[Generator, ...]:
    """The integer basis X_ij = e_i e_jᵀ − η_ii η_jj e_j e_iᵀ (i < j) of the Lie algebra
    {X : Xᵀη + ηX = 0} of {g : gᵀηg = η}: rotations where η_ii = η_jj, boosts elsewhere."""
    n = len(metric)
    count = n * (n - 1) // 2
    check_size(8 * count * n * n, f"{count} exact {n} x {n} Lie algebra generators of {symbol}")
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            m = int_matrix(n)
            m[i, j], m[j, i] = 1, -int(metric[i, i] * metric[j, j])
            kind = "rotation" if metric[i, i] == metric[j, j] else "boost"
            out.append(Generator(f"{kind} L[{i},{j}] in {symbol}", m, "lie"))
    return tuple(out)


def reflection(n: int, axis: int, symbol: str) -> Generator:
    """The reflection e_axis ↦ −e_axis as a group element."""
    m = int_matrix(n)
    for i in range(n):
        m[i, i] = 1
    m[axis, axis] = -1
    return Generator(f"reflection of e_{axis} in {symbol}", m, "group")


def haar_orthogonal(n: int, rng: np.random.Generator, det: int | None = None) -> np.ndarray:
    """A Haar-random orthogonal matrix (QR of a Gaussian matrix with the sign fix), with the
    given determinant when ``det`` is ±1."""
    if n == 0:
        return np.zeros((0, 0))
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    g = q * np.sign(np.diag(r))
    if det is not None and np.linalg.det(g) * det < 0:
        g[:, 0] = -g[:, 0]
    return g


def brauer_gram(group: Group, d: Diagram, e: Diagram) -> int:
    """⟨E^η_d, E^η_e⟩ = trace(E^η_dᵀ E^η_e) for Brauer diagrams of a group with metric η (η = I
    for O(n)): n^(number of loops of d ∪ e). A loop with m same-row pairs (each carrying η) gives
    Σ_i η_i^m, and m is even — a closed loop crosses between the rows an even number of times —
    so every loop gives n whatever the signature.

    >>> from catlayer import BrauerDiagram
    >>> cap_cup = BrauerDiagram([[0, 1], [2, 3]], dom=2, cod=2)
    >>> brauer_gram(O(3), cap_cup, cap_cup), brauer_gram(O(1, 3), cap_cup, BrauerDiagram.identity(2))
    (9, 4)
    """
    return group.n ** len(loops(d, e))


class MetricGroup(Group):
    """A family preserving the integer metric η = diag(+1 ×p, −1 ×q) (O and SO). Its public class
    C builds C(n) = C(n, 0) itself and C(p, q) with q > 0 through the indefinite family registered
    with :meth:`register_indefinite` (:mod:`catlayer.groups.indefinite`)."""

    #: The printed name of the family's groups ("O", "SO").
    symbol: ClassVar[str] = ""
    _indefinite: ClassVar[type[MetricGroup] | None] = None

    def __new__(cls, p: int, q: int = 0) -> Self:
        if "_indefinite" in cls.__dict__ and not _is_zero(q):  # the public class, asked for q > 0
            p, q = check_signature(cls.symbol, p, q)
            if cls._indefinite is None:
                raise ValueError(f"{cls.symbol}(p, q) with q > 0 needs its indefinite family registered")
            return super().__new__(cls._indefinite)  # type: ignore[return-value]
        return super().__new__(cls)

    def __init__(self, p: int, q: int = 0) -> None:
        if q != 0:
            raise ValueError(f"{self.symbol}(n) is {self.symbol}(n, 0); got q = {q!r}")
        self._n = check_dimension(p, f"{self.symbol}(n)")

    @classmethod
    def register_indefinite(cls, family: type[MetricGroup]) -> type[MetricGroup]:
        """Make ``cls(p, q)`` with q > 0 build ``family`` (the registration of a new module)."""
        cls._indefinite = family
        return family

    @property
    def parameters(self) -> tuple[int, ...]:
        return (self._n,)

    @property
    def signature(self) -> tuple[int, int]:
        """(p, q): the metric has p entries +1 and q entries −1."""
        return (self._n, 0)

    @cached_property
    def metric(self) -> np.ndarray:
        """The integer metric η = diag(+1 ×p, −1 ×q) (read-only): the identity for O(n), SO(n).

        >>> O(2).metric.tolist(), O(1, 1).metric.tolist()
        ([[1, 0], [0, 1]], [[1, 0], [0, -1]])
        """
        p, q = self.signature
        return read_only(np.diag(np.array([1] * p + [-1] * q, dtype=np.int64)))


class O(MetricGroup):  # noqa: E742 (the group is called O(n))
    """The orthogonal group O(n) = {g : gᵀg = I}. Category B(n), functor Φ(β) = E_β.

    ``O(p, q)`` gives the indefinite orthogonal group of η = diag(+1 ×p, −1 ×q), and ``O(n, 0)``
    is ``O(n)``.

    >>> O(3) == O(3, 0), O(3).signature
    (True, (3, 0))
    >>> [g.kind for g in O(2).generators()]
    ['lie', 'group']
    """

    preserves_euclidean_norm = True

    family = "orthogonal"
    symbol = "O"
    _indefinite: ClassVar[type[MetricGroup] | None] = None

    def _make_category(self) -> DiagramCategory:
        return BrauerCategory(self._n)

    def _spanning_is_basis(self, k: int, l: int) -> bool:
        return 2 * self._n >= k + l

    def _dimension(self, power: int) -> int:
        return orthogonal_dimension(self._n, power)

    def gram(self, d: Diagram, e: Diagram) -> int:
        """⟨E_d, E_e⟩ (see :func:`catlayer.groups.orthogonal.brauer_gram`)."""
        return brauer_gram(self, d, e)

    def generators(self) -> tuple[Generator, ...]:
        """The Lie algebra basis E_ij − E_ji (i < j) of so(n), and the reflection of e_{n−1} as a
        group element (O(n) = SO(n) ⋊ {1, reflection}).

        >>> O(2).generators()[1].matrix.tolist()
        [[1, 0], [0, -1]]
        """
        return (*lie_generators(self.metric, repr(self)), reflection(self._n, self._n - 1, repr(self)))

    @property
    def num_components(self) -> int:
        return 2

    def random_element(self, rng: Seed = None, component: int | None = None) -> np.ndarray:
        """A Haar-random orthogonal matrix; ``component`` 0 gives det +1, 1 gives det −1.

        >>> g = O(3).random_element(1)
        >>> bool(np.allclose(g.T @ g, np.eye(3)))
        True
        >>> round(float(np.linalg.det(O(3).random_element(1, component=1))), 6)
        -1.0
        """
        det = None if component is None else (1 if component % 2 == 0 else -1)
        return haar_orthogonal(self._n, np.random.default_rng(rng), det)

    def _exact_member(self, g: sympy.Matrix) -> bool:
        return g.T * g == sympy.eye(self._n)

    def _float_member(self, g: np.ndarray, tol: float) -> bool:
        return bool(np.abs(g.T @ g - np.eye(self._n)).max() <= tol)
