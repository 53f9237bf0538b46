"""Nyström preconditioners in general (gdmlkit.preconditioners.base and the factory): the inverse against
dense Woodbury for every kind, Gram accumulation, float32 factors, fewer PCG iterations, bad input."""

import numpy as np
import pytest
import torch

from gdmlkit.preconditioners import MIXED_RATIO, PRECONDITIONERS, make_preconditioner
from gdmlkit.preconditioners.base import add_gram, symmetrized
from gdmlkit.solvers.pcg import pcg


def dense_preconditioner(pc, n):
    """Dense P from the stored factor: F F^T = U2 Λ2 U2^T with F = Ũ Λ^1/2, then
    P = U2 diag(Λ2 + mu) U2^T / (λ2_k + mu) + I - U2 U2^T."""
    F = pc.factor().numpy() * np.sqrt(pc.eig_.numpy())
    U2, s, _ = np.linalg.svd(F, full_matrices=False)
    lam2, mu = s**2, pc.mu_
    return U2 @ np.diag((lam2 + mu) / (lam2[-1] + mu)) @ U2.T + np.eye(n) - U2 @ U2.T


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(PRECONDITIONERS))
def test_preconditioner_inverse_equals_dense_woodbury(system, name, dtype):
    op, K, b, _ = system
    pc = make_preconditioner(name, 80, random_state=1, factor_dtype=dtype).fit(op)
    if dtype == "float32":  # the leading eigenvectors stay float64, the others are stored in float32
        m = int((pc.eig_ > MIXED_RATIO * pc.eig_[-1]).sum())
        assert 0 < m < pc.rank_ and pc.factor_nbytes == len(b) * (8 * m + 4 * (pc.rank_ - m))
    else:
        assert pc.factor_nbytes == 8 * len(b) * pc.rank_
    r = np.random.default_rng(2).normal(size=len(b))
    P = dense_preconditioner(pc, len(b))
    np.testing.assert_allclose(pc.apply(r), np.linalg.solve(P, r), rtol=1e-8, atol=1e-10 * np.abs(r).max())
    assert pc.rank_ <= 80


def test_gram_accumulation_equals_full_product():
    """add_gram (BLAS syrk, upper triangle) over row blocks, contiguous or transposed views, = B^T B."""
    B = torch.from_numpy(np.random.default_rng(0).normal(size=(50, 7)))
    Bt = B.T.contiguous().T  # same values, column-major (not contiguous)
    G = None
    for block in (B[:20], Bt[20:35], B[35:]):
        G = add_gram(G, block)
    np.testing.assert_allclose(symmetrized(G).numpy(), (B.T @ B).numpy(), rtol=1e-13, atol=1e-13)


def test_float32_factor_keeps_the_low_rank_approximation_and_iterations(system):
    """A float32 factor moves F F^T by float32 rounding only, and PCG needs about as many iterations."""
    op, _, b, _ = system
    res, approx = {}, {}
    for dtype in ("float64", "float32"):
        pc = make_preconditioner("random", 150, random_state=0, factor_dtype=dtype).fit(op)
        F = pc.factor().numpy() * np.sqrt(pc.eig_.numpy())
        approx[dtype] = F @ F.T
        res[dtype] = pcg(op.matvec, b, precond=pc, tol=1e-6, max_iter=3000)
    scale = np.abs(approx["float64"]).max()
    np.testing.assert_allclose(approx["float32"], approx["float64"], atol=1e-6 * scale)
    assert res["float32"].converged and abs(res["float32"].n_iter - res["float64"].n_iter) <= 3


@pytest.mark.parametrize("name", sorted(PRECONDITIONERS))
def test_every_preconditioner_cuts_iterations(system, name):
    op, _, b, _ = system
    plain = pcg(op.matvec, b, tol=1e-4, max_iter=3000)
    pc = make_preconditioner(name, 100, random_state=0).fit(op)
    res = pcg(op.matvec, b, precond=pc, tol=1e-4, max_iter=3000)
    assert res.converged and res.n_iter < 0.7 * plain.n_iter


def test_bad_input(system):
    op, _, b, _ = system
    with pytest.raises(ValueError, match="tol == 0, must be > 0"):
        pcg(op.matvec, b, tol=0)
    with pytest.raises(ValueError, match="tol == -1"):
        pcg(op.matvec, b, tol=-1.0)
    with pytest.raises(ValueError, match="rank == 5000 exceeds the system size n == 1620"):
        make_preconditioner("random", 5000).fit(op)
    with pytest.raises(ValueError, match="Unknown preconditioner 'levrage'"):
        make_preconditioner("levrage", 10)
    with pytest.raises(ValueError, match="Unknown factor_dtype 'float16'"):
        make_preconditioner("random", 10, factor_dtype="float16").fit(op)
    with pytest.raises(ValueError, match="Unknown pivoting"):
        make_preconditioner("cholesky", 10, pivoting="max").fit(op)


def test_torch_tensor_apply(system):
    op, _, b, _ = system
    pc = make_preconditioner("random", 30, random_state=0).fit(op)
    r = torch.from_numpy(b)
    np.testing.assert_allclose(pc.apply(r).numpy(), pc.apply(b))
