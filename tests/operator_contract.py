"""A test base class that checks any KernelOperator against its own dense form.

Subclass it in a ``Test...`` class and define ``make_operator()``; every check compares the
operator's lazy products, columns and diagonal with ``to_dense()``, and PCG on the operator
with the Cholesky solution of the dense matrix (as linear_operator's test cases do).
"""

import numpy as np
import pytest
import scipy.linalg
import torch

from gdmlkit.kernels import KernelOperator
from gdmlkit.solvers.pcg import pcg


class KernelOperatorContract:
    rtol = 1e-10

    def make_operator(self):
        raise NotImplementedError

    @pytest.fixture(scope="class")
    def case(self):
        op = self.make_operator()
        return op, op.to_dense()

    def _close(self, got, want):
        got = got.cpu().numpy() if isinstance(got, torch.Tensor) else got
        np.testing.assert_allclose(got, want, rtol=self.rtol, atol=self.rtol * np.abs(want).max())

    def test_shape_dtype_device(self, case):
        op, K = case
        assert isinstance(op, KernelOperator)
        assert op.shape == K.shape == (op.n_train * op.block_size,) * 2
        assert op.dtype == torch.float64 and isinstance(op.device, torch.device) and isinstance(op.lam, float)
        np.testing.assert_allclose(K, K.T, rtol=0, atol=1e-12 * np.abs(K).max())
        assert np.linalg.eigvalsh(K).min() > 0  # K + lam I is positive definite

    def test_matvec(self, case):
        op, K = case
        V = np.random.default_rng(0).normal(size=(K.shape[0], 3))
        self._close(op.matvec(V), K @ V)
        out = op.matvec(V[:, 0])
        assert isinstance(out, np.ndarray) and out.shape == (K.shape[0],)  # numpy in, numpy out
        self._close(out, K @ V[:, 0])
        t = op.matvec(torch.from_numpy(V[:, 1]).to(op.device))  # a tensor stays on the device
        assert isinstance(t, torch.Tensor) and t.device == op.device
        self._close(op @ V[:, 2], K @ V[:, 2])
        with pytest.raises(ValueError, match=f"v must have {K.shape[0]} rows"):
            op.matvec(np.ones(K.shape[0] + 1))

    def test_columns_and_diagonal(self, case):
        op, K = case
        rng = np.random.default_rng(1)
        cols = rng.choice(K.shape[0], 7, replace=False)
        rows = rng.choice(K.shape[0], 11, replace=False)  # unsorted
        self._close(op.columns(cols), K[:, cols])
        self._close(op.columns(cols, rows=rows), K[np.ix_(rows, cols)])
        K0 = K - op.lam * np.eye(K.shape[0])
        self._close(op.columns(cols, with_lam=False, rows=rows), K0[np.ix_(rows, cols)])
        self._close(op.diagonal(), np.diag(K))
        self._close(op.diagonal(with_lam=False), np.diag(K0))
        g = 1 if op.n_train > 1 else 0  # all components of one geometry block
        block = np.arange(g * op.block_size, (g + 1) * op.block_size)
        assert set(op.geometry_of(block).tolist()) == {g}
        self._close(op.columns(block), K[:, block])

    def test_pcg_reaches_the_cholesky_solution(self, case):
        op, K = case
        b = np.random.default_rng(2).normal(size=K.shape[0])
        ref = scipy.linalg.cho_solve(scipy.linalg.cho_factor(K), b)
        res = pcg(op.matvec, torch.from_numpy(b).to(op.device), tol=1e-12, max_iter=20 * K.shape[0])
        assert res.converged and isinstance(res.x, torch.Tensor) and res.x.device == op.device
        np.testing.assert_allclose(res.x.cpu().numpy(), ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
