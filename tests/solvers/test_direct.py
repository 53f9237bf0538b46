"""In-place Cholesky against numpy's solve."""

import numpy as np
import pytest

from gdmlkit.solvers import cholesky_factor_inplace, cholesky_solve


def test_inplace_cholesky_solves_and_ignores_upper_triangle():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(40, 25))
    K = A @ A.T + 0.1 * np.eye(40)
    y = rng.normal(size=(40, 2))
    ref = np.linalg.solve(K, y)
    work = K.copy()
    work[np.triu_indices(40, 1)] = np.nan  # never read
    assert cholesky_factor_inplace(work) == 0
    np.testing.assert_allclose(cholesky_solve(work, y), ref, rtol=1e-9)
    np.testing.assert_allclose(np.tril(work), np.linalg.cholesky(K), rtol=1e-10, atol=1e-12)


def test_indefinite_matrix_reports_failure():
    K = np.diag([1.0, -1.0, 2.0])
    assert cholesky_factor_inplace(K) == 2


def test_rejects_wrong_layout():
    with pytest.raises(TypeError, match="C-contiguous float64"):
        cholesky_factor_inplace(np.eye(3, dtype=np.float32))
