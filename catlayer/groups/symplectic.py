"""The symplectic group Sp(n) = {g : gᵀJg = J}, n even: category B(−n), the signed functor
X(β) = s(β)·F_β whose same-row pairs carry ε = J (orientation: the smaller vertex is the first
index) and whose sign is s(β) = (−1)^(#caps + #crossings)."""

from __future__ import annotations

import numpy as np
import sympy

from ..diagrams import BrauerCategory, Diagram, DiagramCategory
from ..dimensions import symplectic_dimension
from ..forms import symplectic_form
from ..memory import check_size
from .base import Generator, Group, Seed, check_dimension, int_matrix, read_only
from .loops import loops, same_row
from .relabelling import restricted_growth

__all__ = ["Sp", "symplectic_sign"]


def symplectic_sign(d: Diagram) -> int:
    """s(d) = (−1)^(#caps + #crossings) of the signed functor F′ = s·F.

    >>> from catlayer import BrauerDiagram
    >>> symplectic_sign(BrauerDiagram([[0, 3], [1, 2]], dom=2, cod=2))   # crossing ↦ −swap
    -1
    >>> symplectic_sign(BrauerDiagram([[0, 1]], dom=0, cod=2))           # cap ↦ −ε
    -1
    """
    parity = len(d.top_only_blocks()) + d.crossings()
    return -1 if parity % 2 else 1


class Sp(Group):
    """The symplectic group Sp(n) = {g : gᵀJg = J}, n even, J of :func:`~catlayer.forms.symplectic_form`
    (basis order 1, 1′, 2, 2′, …). Category B(−n), signed functor X(β) = s(β)F_β.

    >>> Sp(3)
    Traceback (most recent call last):
    ...
    ValueError: Sp(n) needs an even n (the symplectic form pairs basis vectors 2a, 2a+1), got n = 3
    """

    family = "symplectic"

    def __init__(self, n: int):
        self._n = check_dimension(n, "Sp(n)")
        if self._n % 2:
            raise ValueError(
                f"Sp(n) needs an even n (the symplectic form pairs basis vectors 2a, 2a+1), got n = {self._n}"
            )

    @property
    def parameters(self) -> tuple[int, ...]:
        return (self._n,)

    def _make_category(self) -> DiagramCategory:
        return BrauerCategory(-self._n)

    @property
    def form(self) -> np.ndarray:
        """The symplectic form J (exact: Python ints).

        >>> Sp(2).form.tolist()
        [[0, 1], [-1, 0]]
        """
        return symplectic_form(self._n).astype(object)

    @property
    def pair_form(self) -> np.ndarray:
        """ε = J: every same-row pair {u < v} carries J[x_u, x_v]."""
        return read_only(symplectic_form(self._n))

    def sign(self, d: Diagram) -> int:
        """s(d) (see :func:`symplectic_sign`)."""
        return symplectic_sign(d)

    def _spanning_is_basis(self, k: int, l: int) -> bool:
        return self._n >= k + l

    def _dimension(self, power: int) -> int:
        return symplectic_dimension(self._n, power)

    def gram(self, d: Diagram, e: Diagram) -> int:
        """⟨F′_d, F′_e⟩ = s(d)s(e)·Π_loops trace(W_1⋯W_m): walking a loop, a propagating pair is I and
        a same-row pair {a < b} is J walked from a to b, −J from b to a (ε[x_a, x_b] with the smaller
        vertex first); J² = −I, so a loop with c same-row pairs gives 0 (c odd) or ±(−1)^(c/2)·n."""
        value = self.sign(d) * self.sign(e)
        for loop in loops(d, e):
            sign, count = 1, 0
            for u, v, _ in loop:
                if same_row(d, u, v):
                    count += 1
                    sign *= 1 if u < v else -1
            if count % 2:
                return 0
            value *= sign * (-1) ** (count // 2) * self.n
        return value

    def relabelling_orbits(self, size: int, uses_levi_civita: bool = False) -> tuple[np.ndarray, str]:
        """One multi-index per orbit of the permutations of the pairs (2a, 2a + 1) of basis
        vectors (they fix ε = J).

        >>> len(Sp(4).relabelling_orbits(2)[0])
        8
        """
        # Permuting the pairs (2a, 2a + 1) of basis vectors fixes ε: an orbit is a set partition of
        # the positions by pair, with a parity (which member of the pair) per position.
        pairs = restricted_growth(size, self.n // 2)
        parities = (np.arange(2**size)[:, None] >> np.arange(size - 1, -1, -1)[None, :]) & 1
        points = (2 * pairs[:, None, :] + parities[None, :, :]).reshape(-1, size)
        return points, f"the (n/2)! permutations of the pairs (2a, 2a+1), which fix ε; {len(points)} orbits"

    def generators(self) -> tuple[Generator, ...]:
        """A basis of sp(n) = {X : XᵀJ + JX = 0} = {J⁻¹S : S symmetric}: X = J⁻¹S for
        S = E_ii and S = E_ij + E_ji (i < j), as Lie algebra elements (Sp(n) is connected).

        >>> [g.matrix.tolist() for g in Sp(2).generators()]
        [[[0, 0], [1, 0]], [[-1, 0], [0, 1]], [[0, -1], [0, 0]]]
        """
        n = self._n
        count = n * (n + 1) // 2
        check_size(8 * count * n * n, f"{count} exact {n} x {n} Lie algebra generators of {self!r}")
        j_inverse = -symplectic_form(n).astype(object)
        out = []
        for i in range(n):
            for j in range(i, n):
                s = int_matrix(n)
                s[i, j] = s[j, i] = 1
                name = f"J⁻¹E_{i}{i}" if i == j else f"J⁻¹(E_{i}{j} + E_{j}{i})"
                out.append(Generator(f"{name} in sp({n})", j_inverse.dot(s), "lie"))
        return tuple(out)

    def random_element(self, rng: Seed = None, component: int | None = None) -> np.ndarray:
        """A random symplectic matrix K₁·A·K₂ (Cartan decomposition): K₁, K₂ Haar-random in the
        maximal compact subgroup U(n/2) (a unitary U = P + iQ acting on the pairs (2a, 2a+1) as
        [[P, −Q], [Q, P]]), A = diag(e^t, e^−t) on each pair with t uniform in [−1, 1], so
        ‖g‖₂ ≤ e. Sp(n) is connected: ``component`` is ignored.

        >>> G = Sp(4)
        >>> G.is_element(G.random_element(0))
        True
        """
        rng = np.random.default_rng(rng)
        m = self._n // 2

        def compact() -> np.ndarray:
            z = rng.standard_normal((m, m)) + 1j * rng.standard_normal((m, m))
            q, r = np.linalg.qr(z)
            u = q * (np.diag(r) / np.abs(np.diag(r)))
            g = np.zeros((self._n, self._n))
            g[0::2, 0::2], g[0::2, 1::2] = u.real, -u.imag
            g[1::2, 0::2], g[1::2, 1::2] = u.imag, u.real
            return g

        t = rng.uniform(-1.0, 1.0, m)
        stretch = np.diag(np.ravel(np.stack([np.exp(t), np.exp(-t)], 1)))
        return compact() @ stretch @ compact()

    def _exact_member(self, g: sympy.Matrix) -> bool:
        j = sympy.Matrix(symplectic_form(self._n).tolist())
        return g.T * j * g == j

    def _float_member(self, g: np.ndarray, tol: float) -> bool:
        j = symplectic_form(self._n).astype(np.float64)
        return bool(np.abs(g.T @ j @ g - j).max() <= tol * max(1.0, float(np.abs(g).max()) ** 2))
