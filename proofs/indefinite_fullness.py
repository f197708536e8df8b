"""Certificate: equivariance, fullness and bases of O(p, q) and SO(p, q), exactly.

For η = diag(+1 ×p, −1 ×q), n = p + q, (p, q) ∈ {(1,1), (1,2), (2,1), (1,3), (2,2), (3,1)},
G ∈ {O(p, q), SO(p, q)} and every (k, l) with k + l ≤ 6:

1. generators: the script writes its own generators (docs/conventions.md): the Lie algebra basis
   X_ij = e_i e_jᵀ − η_ii η_jj e_j e_iᵀ (i < j) and, for O(p, q), the reflections of e_0 and of
   e_{n−1}, for SO(p, q) their product. It checks that G.generators() are as good: its Lie
   elements are n(n−1)/2 independent solutions of Xᵀη + ηX = 0 (a basis of the Lie algebra), its
   group elements satisfy gᵀηg = η (and det g = 1 for SO), and their components (the signs of
   det of the "+" and of the "−" diagonal block) generate the whole component group (Z2 × Z2 for
   O(p, q), the diagonal Z2 for SO(p, q)). So equivariance under either set of generators is
   equivariance under G (connected identity component, one element per component);
2. equivariance: every spanning-set image F(d) is proved equivariant twice, by
   catlayer.verify.check_equivariance(G, F(d) as a sympy matrix, k, l) and by an exact int64
   check written here: dρ_l(X)·M − M·dρ_k(X) = 0 for the script's X_ij and
   ρ_l(r)·M − M·ρ_k(r) = 0 for its discrete generators r. Controls (the checks can fail):
   the SO(p, q) n-diagram images are not O(p, q)-equivariant (a reflection breaks them), and the
   Levi-Civita symbol without η on its input indices (plain ε) is not SO(p, q)-equivariant for
   some n-diagram; both checks must reject those;
3. dimension, computed without diagrams: dim((R^n)^{⊗N})^G, N = k + l, is the nullity of the
   generator constraints of 1. on (R^n)^{⊗N}. Since the signed permutation matrices that
   preserve η (with det 1 for SO) lie in G (checked exactly), every invariant lies in their fixed
   space, spanned by the m orbit sums B_j; the nullity of the constraints on span(B) is then
   found exactly: an upper bound m − rank_P(Gram) (the rank modulo the prime P = 2^31 − 1 is at
   most the rank over Q), and as many exact witnesses (kernel vectors mod P lifted by rational
   reconstruction, then checked in exact integer arithmetic to be invariant under every
   generator of 1.). Where n^N ≤ 1024 (--quick: ≤ 256) the nullity is recomputed on the whole
   space without the orbit reduction. Lowering the k input indices with η, M ↦ M·η^{⊗k}, is a
   linear bijection Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) → ((R^n)^{⊗N})^G (as gηgᵀ = η); it is checked
   on the images: each lowered image is an invariant tensor under the generators of 1.;
4. fullness: the exact rank over Q of the spanning-set images (fraction-free elimination of
   their integer Gram matrix) equals that dimension, so with 2. they span Hom_G; and
   G.dim(k, l) == len(G.basis(k, l)) == that dimension, G.basis(k, l) ⊆ spanning set, its images
   independent.

``--quick`` (what the test suite runs): check_equivariance on sympy matrices for N ≤ 4 and on
the exact int64 matrices for N = 5, 6 (the same exact proof, without the sympy conversion); the
unreduced cross-check of 3. only where n^N ≤ 256. Everything else is unchanged.

Run: python proofs/indefinite_fullness.py [--quick]
"""

import itertools
import math
import sys
import time
from fractions import Fraction

import numpy as np
import sympy

from catlayer import SO, BrauerGroodDiagram, O
from catlayer.verify import check_equivariance

SIGNATURES = [(1, 1), (1, 2), (2, 1), (1, 3), (2, 2), (3, 1)]
MAX_N = 6
QUICK = "--quick" in sys.argv[1:]
SYMPY_UP_TO = 4 if QUICK else MAX_N  # largest N checked by check_equivariance on sympy matrices
UNREDUCED_UP_TO = 256 if QUICK else 729  # largest n^N for the nullity without the orbit reduction
PRIME = 2**31 - 1


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


# -- the group, written here -----------------------------------------------------------------------
def metric(p, q):
    return np.diag(np.array([1] * p + [-1] * q, dtype=np.int64))


def lie_algebra(p, q):
    eta = metric(p, q).diagonal()
    out = []
    for i, j in itertools.combinations(range(p + q), 2):
        X = np.zeros((p + q, p + q), dtype=np.int64)
        X[i, j], X[j, i] = 1, -eta[i] * eta[j]
        out.append(X)
    return out


def flip(n, *axes):
    r = np.eye(n, dtype=np.int64)
    for a in axes:
        r[a, a] = -1
    return r


def discrete(p, q, special):
    n = p + q
    return [flip(n, 0, n - 1)] if special else [flip(n, 0), flip(n, n - 1)]


def int_det(g):
    """The exact determinant of an integer matrix."""
    return int(sympy.Matrix(np.asarray(g).tolist()).det()) if len(g) else 1


def component(g, p):
    """(sign det of the "+" block, sign det of the "−" block) of g ∈ O(p, q): which component."""
    return (1 if int_det(g[:p, :p]) > 0 else -1), (1 if int_det(g[p:, p:]) > 0 else -1)


def generated(components):
    """The subgroup of Z2 × Z2 that the given components generate."""
    reached = {(1, 1)}
    while True:
        more = reached | {(a * c, b * d) for a, b in reached for c, d in components}
        if more == reached:
            return reached
        reached = more


def check_library_generators(G, p, q, special):
    n, eta = p + q, metric(p, q)
    if any(not all(type(v) is int for v in g.matrix.flat) for g in G.generators()):
        fail(f"{G!r}: generators must hold Python ints")
    lie = [g.matrix.astype(np.int64) for g in G.generators() if g.kind == "lie"]
    group = [g.matrix.astype(np.int64) for g in G.generators() if g.kind == "group"]
    if len(lie) != n * (n - 1) // 2 or exact_rank(np.stack([X.ravel() for X in lie])) != len(lie):
        fail(f"{G!r}: the Lie generators are not n(n−1)/2 independent matrices")
    for X in lie:
        if (X.T @ eta + eta @ X).any():
            fail(f"{G!r}: a Lie generator violates Xᵀη + ηX = 0:\n{X}")
    for g in group:
        if not np.array_equal(g.T @ eta @ g, eta) or (special and int_det(g) != 1):
            fail(f"{G!r}: a group generator is not in the group:\n{g}")
    wanted = {(1, 1), (-1, -1)} if special else {(1, 1), (-1, 1), (1, -1), (-1, -1)}
    for name, elements in (("G.generators()", group), ("the script's generators", discrete(p, q, special))):
        reached = generated({component(g, p) for g in elements})
        if reached != wanted:
            fail(f"{G!r}: {name} reach the components {sorted(reached)}, not {sorted(wanted)}")
    return len(lie), len(group)


# -- exact linear algebra --------------------------------------------------------------------------
def bareiss_rank(a):
    """Rank over Q of an integer matrix by fraction-free (Bareiss) elimination in Python ints."""
    a = np.array(a, dtype=object)
    if a.size == 0:
        return 0
    rows, cols = a.shape
    rank, previous = 0, 1
    for c in range(cols):
        nonzero = [r for r in range(rank, rows) if a[r, c] != 0]
        if not nonzero:
            continue
        a[[rank, nonzero[0]]] = a[[nonzero[0], rank]]
        pivot = a[rank, c]
        a[rank + 1 :] = (pivot * a[rank + 1 :] - a[rank + 1 :, c : c + 1] * a[rank]) // previous
        previous, rank = pivot, rank + 1
        if rank == rows:
            break
    return rank


def exact_rank(rows):
    """rank_Q of integer rows = rank_Q of their Gram matrix (real vectors). The rows used here
    have entries 0, ±1 and at most 4096 columns, so the int64 Gram matrix is exact."""
    rows = np.asarray(rows, dtype=np.int64)
    return bareiss_rank((rows @ rows.T).astype(object)) if len(rows) else 0


def rref_mod_p(a):
    a = np.array(np.asarray(a, dtype=object) % PRIME, dtype=np.int64)
    rows, cols = a.shape
    pivots = []
    for c in range(cols):
        r = len(pivots)
        if r == rows:
            break
        nonzero = np.nonzero(a[r:, c])[0]
        if not nonzero.size:
            continue
        a[[r, r + nonzero[0]]] = a[[r + nonzero[0], r]]
        a[r] = (a[r] * pow(int(a[r, c]), PRIME - 2, PRIME)) % PRIME
        factor = a[:, c].copy()
        factor[r] = 0
        a = (a - (factor[:, None] * a[r][None, :]) % PRIME) % PRIME
        pivots.append(c)
    return a[: len(pivots)], pivots


def rational(u):
    """The fraction a/b ≡ u (mod P) with |a|, b ≤ √(P/2) (rational reconstruction)."""
    bound = math.isqrt(PRIME // 2)
    r0, r1, s0, s1 = PRIME, u % PRIME, 0, 1
    while r1 > bound:
        quotient = r0 // r1
        r0, r1, s0, s1 = r1, r0 - quotient * r1, s1, s0 - quotient * s1
    if s1 == 0 or abs(s1) > bound or math.gcd(r1, abs(s1)) != 1:
        raise ArithmeticError(f"no small fraction is {u} mod {PRIME}")
    return Fraction(r1, s1)


# -- group actions on tensors (exact: int64 or Python ints) ------------------------------------------
def on_axis(X, t, axis):
    """The n × n matrix X applied to one axis of t, by a loop over the nonzeros of X."""
    out = np.zeros_like(t)
    source, target = np.moveaxis(t, axis, 0), np.moveaxis(out, axis, 0)  # views
    for r, c in zip(*np.nonzero(X), strict=True):
        target[r] += X[r, c] * source[c]
    return out


def derivation(X, t, axes, transposed_axes=()):
    """Σ_a X on axis a − Σ_b Xᵀ on axis b: dρ_l(X)·M − M·dρ_k(X) when t is M as a tensor."""
    out = np.zeros_like(t)
    for a in axes:
        out += on_axis(X, t, a)
    for b in transposed_axes:
        out -= on_axis(X.T, t, b)
    return out


def group_residual(g, t, axes, transposed_axes=()):
    """ρ_l(g)·M − M·ρ_k(g) when t is M as a tensor."""
    left, right = t, t
    for a in axes:
        left = on_axis(g, left, a)
    for b in transposed_axes:
        right = on_axis(g.T, right, b)
    return left - right


def independent_failures(p, q, special, stack, k, l):
    """For each matrix of ``stack`` (shape (count, n^l, n^k)): the first of the script's
    generators it is not equivariant under, or None (exact int64 arithmetic: entries are
    0, ±1 and the residuals at most 2·(k + l))."""
    n, count = p + q, len(stack)
    t = np.asarray(stack, dtype=np.int64).reshape((count,) + (n,) * (l + k))
    out, inp = range(1, l + 1), range(l + 1, l + k + 1)
    residuals = [(f"Lie generator {X.tolist()}", derivation(X, t, out, inp)) for X in lie_algebra(p, q)]
    for r in discrete(p, q, special):
        residuals.append((f"reflection {r.diagonal().tolist()}", group_residual(r, t, out, inp)))
    first = [None] * count
    for name, residual in residuals:
        for i in np.nonzero(np.any(residual.reshape(count, n ** (l + k)) != 0, axis=1))[0]:
            first[i] = first[i] or name
    return first


# -- dimension without diagrams ----------------------------------------------------------------------
def signed_permutations(p, q, special):
    """Every signed permutation matrix that preserves η (det 1 for SO): a finite subgroup of G."""
    n, eta = p + q, metric(p, q)
    for plus in itertools.permutations(range(p)):
        for minus in itertools.permutations(range(p, n)):
            order = list(plus) + list(minus)
            for signs in itertools.product((1, -1), repeat=n):
                h = np.zeros((n, n), dtype=np.int64)
                h[order, range(n)] = signs
                if not np.array_equal(h.T @ eta @ h, eta):
                    fail("a block signed permutation does not preserve η")
                if not special or int_det(h) == 1:
                    yield h


def orbit_sums(p, q, special, N, reduce):
    """Rows spanning the fixed space of the signed permutations in G on (R^n)^{⊗N}: the nonzero
    orbit sums Σ_h ρ(h) e_x (disjoint supports, so independent); the identity when not reduce."""
    n = p + q
    size = n**N
    if not reduce:
        return np.eye(size, dtype=np.int64)
    x = np.indices((n,) * N).reshape(N, size)
    moves = []
    first = np.arange(size)
    for h in signed_permutations(p, q, special):
        target = np.argmax(np.abs(h), axis=0)  # h e_i = s_i e_target[i]
        signs = h[target, np.arange(n)]
        flat = np.ravel_multi_index(tuple(target[x]), (n,) * N) if N else np.zeros(1, dtype=np.int64)
        moves.append((flat, np.prod(signs[x], axis=0)))
        first = np.minimum(first, flat)
    representatives = np.unique(first)
    rows = np.zeros((len(representatives), size), dtype=np.int64)
    for flat, sign in moves:
        np.add.at(rows, (np.arange(len(representatives)), flat[representatives]), sign[representatives])
    return rows[np.any(rows != 0, axis=1)]


def invariant_dimension(p, q, special, N, reduce=True):
    """dim((R^n)^{⊗N})^G from the constraints of 1. alone, exactly; and the size m of the space
    it was found in (the orbit sums, or all of (R^n)^{⊗N} when not reduce)."""
    n = p + q
    B = orbit_sums(p, q, special, N, reduce)
    m = len(B)
    T = B.reshape((m,) + (n,) * N)
    axes = range(1, N + 1)
    constraints = [("lie", X) for X in lie_algebra(p, q)] + [("group", r) for r in discrete(p, q, special)]
    if reduce:
        # On H-invariant tensors the constraints of X and of hXh⁻¹ = ±X' (h ∈ H) vanish together,
        # as dρ(hXh⁻¹) = ρ(h)dρ(X)ρ(h)⁻¹; and the discrete generators lie in H. Keep one Lie
        # generator per H-orbit.
        H = list(signed_permutations(p, q, special))
        kept = []
        for _, X in constraints[: len(lie_algebra(p, q))]:
            if not any(np.array_equal(h @ X @ h.T, s * Y) for h in H for Y in kept for s in (1, -1)):
                kept.append(X)
        constraints = [("lie", X) for X in kept]
    # Gram = Σ Cᵀ C over the constraints C restricted to span(B): |entries of B| ≤ 96, of C ≤ 2N·96,
    # so every entry of Gram is below 8 · 4096 · 1152² < 2^46 and int64 is exact.
    gram = np.zeros((m, m), dtype=np.int64)
    for kind, X in constraints:
        C = (derivation(X, T, axes) if kind == "lie" else group_residual(X, T, axes)).reshape(m, n**N)
        gram += C @ C.T
    R, pivots = rref_mod_p(gram)  # rank_P(gram) ≤ rank_Q(gram): the nullity over Q is ≤ m − len(pivots)
    exact = gram.astype(object)
    free = sorted(set(range(m)) - set(pivots))
    for f in free:  # one witness per free column, independent by its 1 there; Gram·w = 0 ⇔ C·w = 0
        v = [Fraction(0)] * m
        v[f] = Fraction(1)
        for row, c in zip(R, pivots, strict=True):
            v[c] = -rational(int(row[f]))
        scale = math.lcm(*(x.denominator for x in v))
        if np.any(exact.dot(np.array([int(x * scale) for x in v], dtype=object))):
            fail(f"O/SO({p}, {q}), N = {N}: a lifted kernel vector is not in the kernel")
    return len(free), m


# -- the certificate ---------------------------------------------------------------------------------
def input_signs(p, q, k, axes):
    """Π_{j in axes} η[x_j] over the input multi-index x (a vector of length n^k)."""
    eta = metric(p, q).diagonal()
    signs = np.ones(1, dtype=np.int64)
    for j in range(k):
        signs = np.kron(signs, eta if j in axes else np.ones_like(eta))
    return signs


def controls(G, p, q, special, k, l):
    """(checked, rejected): for O(p, q) the SO(p, q) n-diagram images k → l, which a reflection
    must break (ρ(r)H = det r · Hρ(r)); for SO(p, q) its n-diagram images with plain ε (η removed
    from the input indices of ε), some of which must fail. The library's check (run where
    N ≤ SYMPY_UP_TO) must agree with the independent one on each."""
    diagrams = [d for d in SO(p, q).spanning_set(k, l) if any(len(b) == 1 for b in d.blocks)]
    if not diagrams:
        return 0, 0
    stack = np.stack([SO(p, q).functor(d).to_numpy(np.int64) for d in diagrams])
    if special:
        for i, d in enumerate(diagrams):
            free_inputs = [b[0] - l for b in d.blocks if len(b) == 1 and b[0] >= l]
            stack[i] *= input_signs(p, q, k, free_inputs)[None, :]  # η² = 1: this removes the η factor
    failures = independent_failures(p, q, special, stack, k, l)
    for d, M, failure in zip(diagrams, stack, failures, strict=True):
        if k + l <= SYMPY_UP_TO and (failure is None) != bool(check_equivariance(G, M, k, l)):
            fail(f"{G!r}: the two checks disagree on the control {d!r}")
        if not special and failure is None:
            fail(f"{G!r}: the SO({p}, {q}) image of {d!r} passed as O({p}, {q})-equivariant")
    return len(diagrams), sum(f is not None for f in failures)


def main():
    start = time.time()
    mode = " (--quick)" if QUICK else ""
    print(f"Equivariance, dimensions and bases of O(p, q), SO(p, q), exact, k + l ≤ {MAX_N}{mode}:")
    H = SO(1, 1).functor(BrauerGroodDiagram([[0], [1]], dom=1, cod=1)).to_numpy(np.int64)
    report = check_equivariance(SO(1, 1), H * np.array([[1, -1]]), 1, 1)  # η removed from the input: plain ε
    if report or "boost" not in (report.failure or ""):
        fail(f"plain ε should fail SO(1, 1) under a boost:\n{report}")
    for p, q in SIGNATURES:
        for special in (False, True):
            G = SO(p, q) if special else O(p, q)
            t = time.time()
            n = p + q
            lie, group = check_library_generators(G, p, q, special)
            dims, proved, reduced_sizes = [], 0, []
            controlled = rejected = 0
            for N in range(MAX_N + 1):
                dim, m = invariant_dimension(p, q, special, N)
                reduced_sizes.append(m)
                if n**N <= UNREDUCED_UP_TO and invariant_dimension(p, q, special, N, reduce=False)[0] != dim:
                    fail(f"{G!r}, N = {N}: the nullity with and without the orbit reduction differ")
                dims.append(dim)
                for k in range(N + 1):
                    l = N - k
                    spanning = G.spanning_set(k, l)
                    if not spanning:
                        stack = np.zeros((0, n**l, n**k), dtype=np.int64)
                    else:
                        stack = np.stack([G.functor(d).to_numpy(np.int64) for d in spanning])
                    if N <= SYMPY_UP_TO:
                        for d in spanning:
                            report = check_equivariance(G, G.functor(d).to_sympy(), k, l)
                            if not report or not report.exact:
                                fail(f"{G!r}: F({d!r}) is not proved equivariant:\n{report}")
                    for d, failure in zip(spanning, independent_failures(p, q, special, stack, k, l), strict=True):
                        if failure:
                            fail(f"{G!r}: F({d!r}) fails the independent check under the {failure}")
                    lowered = stack * input_signs(p, q, k, range(k))[None, None, :]
                    if any(independent_failures(p, q, special, lowered.reshape(-1, n**N, 1), 0, N)):
                        fail(f"{G!r} ({k}, {l}): an image with its inputs lowered by η is not an invariant tensor")
                    proved += len(spanning)
                    checked, bad = controls(G, p, q, special, k, l)
                    controlled, rejected = controlled + checked, rejected + bad
                    rows = stack.reshape(len(spanning), n**N)
                    rank = exact_rank(rows)
                    if rank != dim:
                        fail(f"{G!r} ({k}, {l}): rank of the spanning images {rank} != dim {dim}")
                    if G.dim(k, l) != dim:
                        fail(f"{G!r}: G.dim({k}, {l}) = {G.dim(k, l)}, the null space has dimension {dim}")
                    basis = G.basis(k, l)
                    index = {d: i for i, d in enumerate(spanning)}
                    if len(basis) != dim or not set(basis) <= set(index):
                        fail(f"{G!r} ({k}, {l}): basis of {len(basis)} diagrams, dim {dim}")
                    if basis and exact_rank(rows[[index[d] for d in basis]]) != dim:
                        fail(f"{G!r} ({k}, {l}): the basis images are dependent")
            if not rejected:
                fail(f"{G!r}: no control was rejected: the equivariance checks cannot fail")
            what = "plain-ε images" if special else "SO n-diagram images"
            twice = "" if QUICK else " twice"
            print(
                f"  {G!r:9} generators ({lie} Lie, {group} discrete) OK; dims N=0..6 {dims} "
                f"(orbit-reduced sizes {reduced_sizes}); {proved} images proved{twice}; "
                f"{rejected} of {controlled} {what} rejected  [{time.time() - t:.1f} s]"
            )
    print(f"PASS in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
