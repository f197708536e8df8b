"""catlayer.verify: exact proofs, numeric checks, failure reports, the layer protocol, functor laws."""

from fractions import Fraction
from functools import reduce

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from catlayer import SO, BrauerDiagram, BrauerGroodDiagram, Combination, O, PartitionDiagram, S, Sp
from catlayer.verify import EquivarianceReport, check_equivariance, check_functor_laws

GROUPS = [S(2), S(3), S(4), O(1), O(2), O(3), SO(1), SO(2), SO(3), Sp(2), Sp(4)]
GROUPS += [O(1, 1), SO(1, 1), O(2, 1), SO(1, 2), O(1, 3), SO(1, 3)]  # with boosts: not compact


def rho(g, k):
    return reduce(np.kron, [g] * k, np.eye(1, dtype=g.dtype))


@st.composite
def group_and_basis_diagram(draw):
    G = draw(st.sampled_from(GROUPS))
    size = draw(st.integers(0, 5))
    k = draw(st.integers(0, size))
    basis = G.basis(k, size - k) or G.basis(0, 0)
    return G, draw(st.sampled_from(basis))


@given(group_and_basis_diagram())
def test_basis_images_are_proved_equivariant_in_every_exact_form(case):
    G, d = case
    F = G.functor(d)
    k, l = d.dom, d.cod
    forms = [F, F.to_sympy(), F.to_numpy(np.int64), F.to_numpy(np.int64).astype(object), d, Combination(d)]
    for form in forms:
        report = check_equivariance(G, form, k, l)
        assert report and report.exact and report.failure is None and report.max_residual == 0
    assert check_equivariance(F) and check_equivariance(G, F)


@given(group_and_basis_diagram(), st.integers(0, 2**32 - 1))
def test_numeric_check_of_float_matrices(case, seed):
    G, d = case
    M = G.functor(d).to_numpy()
    report = check_equivariance(G, M, d.dom, d.cod, rng=seed)
    assert report and not report.exact and report.tolerance == 1e-10 and report.max_residual <= 1e-10
    assert "numeric, not a proof" in str(report)
    report32 = check_equivariance(G, M.astype(np.float32), d.dom, d.cod, rng=seed)
    assert report32 and report32.tolerance == 1e-4


def _residual(g, M, k, l):
    return rho(g, l) @ M - M @ rho(g, k)


@given(st.sampled_from(GROUPS), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2**32 - 1))
def test_failure_names_generator_and_largest_entry(G, k, l, seed):
    n = G.n
    rng = np.random.default_rng(seed)
    M = rng.integers(-3, 4, size=(n**l, n**k)).astype(object)
    gens = G.generators()
    expected_failure = None
    for g in gens:  # the independent dense computation of what the report must say
        X = g.matrix.astype(np.int64)
        if g.kind == "group":
            R = _residual(X, M.astype(np.int64), k, l)
        else:
            eye = np.eye(n, dtype=np.int64)

            def derivation(order, X=X, eye=eye):
                one = np.eye(1, dtype=np.int64)
                terms = [reduce(np.kron, [X if b == a else eye for b in range(order)], one) for a in range(order)]
                return sum(terms, np.zeros((n**order, n**order), dtype=np.int64))

            d_l, d_k = derivation(l), derivation(k)
            R = d_l @ M.astype(np.int64) - M.astype(np.int64) @ d_k
        if R.any():
            expected_failure = (g.name, int(np.abs(R).max()))
            break
    report = check_equivariance(G, M, k, l)
    assert isinstance(report, EquivarianceReport) and report.exact
    if expected_failure is None:
        assert report
        return
    name = expected_failure[0]
    assert not report and report.failure.startswith((f"group generator {name}", f"lie generator {name}"))
    assert report.max_residual == expected_failure[1]
    index = report.failure.rsplit("= (", 1)[1].rstrip(")")
    outputs, inputs = index.split(" ; ")
    out_idx = [int(i) for i in outputs.split(", ") if i]
    in_idx = [int(i) for i in inputs.split(", ") if i]
    row = sum(i * n ** (l - 1 - a) for a, i in enumerate(out_idx))
    col = sum(j * n ** (k - 1 - b) for b, j in enumerate(in_idx))
    assert abs(R[row, col]) == expected_failure[1]
    assert "NOT equivariant" in str(report) and expected_failure[0] in str(report)


def test_reflection_detects_levi_civita_and_numeric_failure_is_reported():
    H = BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1)
    exact = check_equivariance(O(3), SO(3).functor(H).to_sympy(), 2, 1)
    assert not exact and "reflection" in exact.failure and "(output indices ; input indices)" in exact.failure
    assert check_equivariance(SO(3), SO(3).functor(H).to_sympy(), 2, 1)
    numeric = check_equivariance(O(3), SO(3).functor(H).to_numpy(), 2, 1, rng=0)
    assert not numeric and not numeric.exact and "random element" in numeric.failure
    assert check_equivariance(O(3), np.eye(3) + 1e-3 * np.arange(9.0).reshape(3, 3), rng=1).ok is False


def test_plain_epsilon_fails_a_boost_and_the_metric_repairs_it():
    """n = 2, (1,1): ε without η on its input index is not SO(1, 1)-equivariant. By hand, with the
    boost X = [[0, 1], [1, 0]]: Xε − εX = [[−2, 0], [0, 2]], largest entry −2 at (0 ; 0)."""
    plain = sympy.Matrix([[0, 1], [-1, 0]])
    report = check_equivariance(SO(1, 1), plain, 1, 1)
    assert not report and report.exact and report.max_residual == 2
    assert report.failure == (
        "lie generator boost L[0,1] in SO(1, 1): largest entry of dρ_l(X)·M − M·dρ_k(X) is -2 at "
        "(output indices ; input indices) = (0 ; 0)"
    )
    assert "NOT equivariant" in str(report) and "boost" in str(report)
    H = SO(1, 1).functor(BrauerGroodDiagram([[0], [1]], dom=1, cod=1))
    assert H.to_sympy() == plain * sympy.diag(1, -1)  # ε with its input index lowered by η
    assert check_equivariance(SO(1, 1), H.to_sympy(), 1, 1) and check_equivariance(H)
    assert check_equivariance(SO(2), plain, 1, 1)  # plain ε is right for the definite metric


def test_levi_civita_fails_the_reflections_of_o_p_q():
    H = BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1)
    M = SO(2, 1).functor(H).to_sympy()
    assert check_equivariance(SO(2, 1), M, 2, 1)
    report = check_equivariance(O(2, 1), M, 2, 1)
    assert not report and report.failure.startswith("group generator reflection of e_0 in O(2, 1)")
    assert "(output indices ; input indices) = (" in report.failure
    numeric = check_equivariance(O(2, 1), SO(2, 1).functor(H).to_numpy(), 2, 1, rng=0, samples=4)
    assert not numeric and not numeric.exact and "random element" in numeric.failure


def test_rational_entries_and_shape_inference():
    G = S(3)
    d = G.basis(1, 1)[1]
    M = G.functor(Combination({d: sympy.Rational(1, 3)})).to_sympy()
    assert check_equivariance(G, M)
    fractions = np.array([[Fraction(1, 3)] * 3] * 3, dtype=object)
    assert check_equivariance(G, fractions)
    broken = fractions.copy()
    broken[0, 0] = Fraction(1, 2)
    report = check_equivariance(G, broken)
    assert not report and "1/6" in report.failure
    with pytest.raises(ValueError, match="n = 1"):
        check_equivariance(S(1), np.eye(1, dtype=int))
    assert check_equivariance(S(1), np.eye(1, dtype=int), 3, 3)
    with pytest.raises(ValueError, match="power"):
        check_equivariance(G, np.eye(2, dtype=int))
    with pytest.raises(TypeError, match="exact rational"):
        check_equivariance(G, sympy.Matrix([[sympy.sqrt(2)]]), 0, 0)
    with pytest.raises(TypeError, match="Group"):
        check_equivariance(np.eye(3))


def test_trivial_group_and_protocol():
    report = check_equivariance(SO(1), np.array([[5]], dtype=object), 2, 3)
    assert report and "trivial group" in " ".join(report.checked)

    class Layer:
        def _catlayer_check_equivariance(self, **kwargs):
            return kwargs

    assert check_equivariance(Layer(), tolerance=1e-3, rng=5, samples=2) == {"tolerance": 1e-3, "rng": 5, "samples": 2}


def test_report_string_lists_parts():
    part = EquivarianceReport(ok=True, exact=True, group="S(2)", subject="diagram", checked=("group generator t",))
    whole = EquivarianceReport(
        ok=True, exact=False, group="S(2)", subject="layer", max_residual=1e-12, tolerance=1e-10, parts=(part,)
    )
    text = str(whole)
    assert "numeric, not a proof" in text and "exact proof" in text.splitlines()[-2]


def test_one_report_type_built_with_keywords():
    from catlayer.verify import ForwardCheck, FunctorLawReport

    assert FunctorLawReport is EquivarianceReport and ForwardCheck is EquivarianceReport
    with pytest.raises(TypeError, match="positional"):
        EquivarianceReport(True, True)
    cap, cup = BrauerDiagram([[0, 1]], 0, 2), BrauerDiagram([[0, 1]], 2, 0)
    report = check_functor_laws(Sp(2), cap, cup)
    assert isinstance(report, EquivarianceReport) and report.exact
    assert str(report).startswith(f"d = {cap}, e = {cup} under Sp(2): the functor laws hold")


def test_one_tolerance_table():
    import catlayer.projection
    from catlayer.tolerance import DEFAULT_TOLERANCE, default_tolerance

    assert DEFAULT_TOLERANCE["float64"] == 1e-10 and DEFAULT_TOLERANCE["float32"] == 1e-4
    assert default_tolerance(np.float32) == default_tolerance(np.dtype("float32")) == default_tolerance("float32")
    torch = pytest.importorskip("torch")
    assert DEFAULT_TOLERANCE[torch.float32] == DEFAULT_TOLERANCE[np.float32]  # one table, any spelling
    from catlayer.testing.equivariance import DEFAULT_TOLERANCE as exported

    assert exported is DEFAULT_TOLERANCE
    report = check_equivariance(SO(3), np.eye(3, dtype=np.float32), 1, 1, rng=0)
    assert report.tolerance == DEFAULT_TOLERANCE["float32"]
    assert not hasattr(catlayer.projection, "DEFAULT_TOLERANCE") or (
        catlayer.projection.DEFAULT_TOLERANCE is DEFAULT_TOLERANCE
    )


# -- functor laws ------------------------------------------------------------------------------------------------
@given(st.sampled_from(GROUPS), st.data())
def test_functor_laws_hold(G, data):
    k, l, m = (data.draw(st.integers(0, 2)) for _ in range(3))
    first, second = G.spanning_set(k, l), G.spanning_set(l, m)
    if not first or not second:
        first = second = G.spanning_set(1, 1)
    d, e = data.draw(st.sampled_from(first)), data.draw(st.sampled_from(second))
    report = check_functor_laws(G, d, e)
    assert report and len(report.checked) == 2 and "hold" in str(report)
    assert len(check_functor_laws(G, d, G.spanning_set(0, 0)[0] if d.cod else d).checked) >= 1


def test_functor_laws_fail_for_the_unsigned_symplectic_matrices(monkeypatch):
    cap, cup, one = BrauerDiagram([[0, 1]], 0, 2), BrauerDiagram([[0, 1]], 2, 0), BrauerDiagram.identity(1)

    class UnsignedSp(Sp):  # the product formula F_β without the sign s(β): not a functor
        def sign(self, d):
            return 1

    report = check_functor_laws(UnsignedSp(2), cap @ one, one @ cup)
    assert not report and report.failure.startswith("composition")
    assert check_functor_laws(Sp(2), cap @ one, one @ cup)
    assert check_functor_laws(S(2), PartitionDiagram([[0, 1]], 1, 1), PartitionDiagram([[0], [1]], 1, 1))
