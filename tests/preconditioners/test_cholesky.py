"""Pivoted-Cholesky Nyström preconditioner: greedy pivots against a dense pivoted Cholesky, random pivoting."""

import numpy as np
import pytest

from gdmlkit.preconditioners import make_preconditioner
from gdmlkit.solvers.pcg import pcg


def dense_pivoted_cholesky(Kn, k, c=None):
    """Textbook outer-product pivoted Cholesky of a dense matrix: k greedy pivots, or with c, whole blocks
    of c components (the block holding the largest residual diagonal entry), pivoted within each block;
    residuals below 1e-12 times the largest diagonal entry are dropped."""
    R, piv = Kn.copy(), []
    while len(piv) < k:
        d = np.diag(R).copy()
        i = int(np.argmax(d))
        left = [i] if c is None else list(range(i // c * c, i // c * c + c))
        while left and len(piv) < k:
            j = max(left, key=lambda j: R[j, j])
            left.remove(j)
            if R[j, j] <= 1e-12 * np.diag(Kn).max():
                break
            col = R[:, j] / np.sqrt(R[j, j])
            R -= np.outer(col, col)
            piv.append(j)
    return piv


@pytest.mark.parametrize("by_geometry", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cholesky_equals_dense_pivoted_cholesky(system, dtype, by_geometry):
    """Greedy pivots equal those of a dense pivoted Cholesky of K, and the low-rank matrix is the Nyström
    approximation on them, whether the factor is kept (float64) or rebuilt from the pivots (float32)."""
    op, K, _, _ = system
    Kn, k = K - op.lam * np.eye(len(K)), 60
    ref_piv = dense_pivoted_cholesky(Kn, k, op.block_size if by_geometry else None)
    pc = make_preconditioner("cholesky", k, factor_dtype=dtype, by_geometry=by_geometry).fit(op)
    S = pc.columns_.numpy()
    assert S.tolist() == ref_piv
    if by_geometry:  # whole geometries: few distinct ones
        assert len(set(S // op.block_size)) <= 4
    ref = Kn[:, S] @ np.linalg.solve(Kn[np.ix_(S, S)], Kn[S, :])
    F = pc.factor().numpy() * np.sqrt(pc.eig_.numpy())
    np.testing.assert_allclose(F @ F.T, ref, atol=1e-6 * np.abs(ref).max())


def test_randomly_pivoted_cholesky(system):
    op, _, b, _ = system
    pc = make_preconditioner("cholesky", 100, random_state=0, pivoting="random", block=20).fit(op)
    assert pc.rank_ == 100
    assert pcg(op.matvec, b, precond=pc, tol=1e-4).converged
