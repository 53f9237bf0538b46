"""Lazy Hessian-kernel operator against the dense kernel (torch and KeOps backends, CPU and CUDA)."""

import numpy as np
import pytest
import torch

from gdmlkit.kernels import operator
from gdmlkit.kernels.keops import keops_available
from gdmlkit.kernels.operator import HessianKernelOperator
from gdmlkit.symmetry import permutation_desc_index

from helpers import ETHANOL_PERMS


BACKENDS = ["torch", pytest.param("keops", marks=pytest.mark.skipif(not keops_available(),
                                                                     reason="pykeops cannot compile here"))]
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device")])]


@pytest.fixture(scope="module")
def small(ethanol_rmd17):
    return ethanol_rmd17["R"][:25]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_matvec_equals_dense(small, backend, device):
    op = HessianKernelOperator(small, permutation_desc_index(ETHANOL_PERMS), 10.0, lam=1e-4, backend=backend,
                               device=device, tile_rows=7)
    K = HessianKernelOperator(small, permutation_desc_index(ETHANOL_PERMS), 10.0, lam=1e-4,
                              backend="torch").to_dense()
    V = np.random.default_rng(0).normal(size=(K.shape[0], 3))
    np.testing.assert_allclose(op.matvec(V), K @ V, rtol=1e-10, atol=1e-12 * np.abs(K @ V).max())
    np.testing.assert_allclose(op.matvec(V[:, 0]), K @ V[:, 0], rtol=1e-10, atol=1e-12 * np.abs(K).max())


@pytest.mark.parametrize("perms", [ETHANOL_PERMS, ETHANOL_PERMS[[0, 4]]], ids=["group", "not-a-group"])
def test_symmetric_and_plain_products_equal_dense(small, perms):
    """A permutation group takes the symmetric product (each block pair once); a set that is not
    closed under inversion (identity + one 3-cycle) the plain one. Both equal the dense kernel."""
    dp = permutation_desc_index(perms)
    K = HessianKernelOperator(small, dp, 10.0, lam=1e-4, backend="torch").to_dense()
    V = np.random.default_rng(1).normal(size=(K.shape[0], 2))
    for block, symmetry in ((7, True), (None, True), (7, False)):
        op = HessianKernelOperator(small, dp, 10.0, lam=1e-4, backend="torch", tile_rows=block,
                                   pair_symmetry=symmetry)
        assert op.symmetric == (symmetry and len(perms) == 6)
        np.testing.assert_allclose(op.matvec(V), K @ V, rtol=1e-10, atol=1e-12 * np.abs(K @ V).max())


@pytest.mark.parametrize("perms", [ETHANOL_PERMS, ETHANOL_PERMS[[0, 4]]], ids=["group", "not-a-group"])
def test_cached_coefficients_equal_dense(small, perms):
    dp = permutation_desc_index(perms)
    op = HessianKernelOperator(small, dp, 10.0, lam=1e-4, tile_rows=7, cache_coefficients=True)
    K = op.to_dense()
    V = np.random.default_rng(1).normal(size=(K.shape[0], 2))
    for _ in range(2):  # the cache is reused, not consumed
        np.testing.assert_allclose(op.matvec(V), K @ V, rtol=1e-10, atol=1e-12 * np.abs(K @ V).max())
    default = HessianKernelOperator(small, dp, 10.0, cache_coefficients=True)
    assert HessianKernelOperator.coefficient_bytes(25, dp) == default.cached_bytes > 0
    assert HessianKernelOperator(small, dp, 10.0).cached_bytes == 0
    if keops_available():
        with pytest.raises(ValueError, match="cache_coefficients=True needs backend='torch'"):
            HessianKernelOperator(small, dp, 10.0, backend="keops", cache_coefficients=True)


def test_columns_and_diagonal(small):
    op = HessianKernelOperator(small, permutation_desc_index(ETHANOL_PERMS), 10.0, lam=1e-3, backend="torch")
    K = op.to_dense()
    cols = [0, 26, 27, 300, 301, 674]
    np.testing.assert_allclose(op.columns(cols).numpy(), K[:, cols], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(op.columns(cols, with_lam=False).numpy()[cols, range(6)], K[cols, cols] - 1e-3,
                               rtol=1e-12)
    np.testing.assert_allclose(op.diagonal().numpy(), np.diag(K), rtol=1e-12)


def test_column_blocks_in_small_chunks(small, monkeypatch):
    """Arbitrary rows x columns blocks equal the dense kernel, also when evaluated in many chunks."""
    op = HessianKernelOperator(small, permutation_desc_index(ETHANOL_PERMS), 10.0, lam=1e-3, backend="torch")
    K = op.to_dense()
    rows, cols = [674, 3, 0, 27, 28, 400, 26], [301, 0, 26, 27, 300, 674, 5]
    for chunk in (operator.COLUMN_CHUNK, 2000):  # 2000: one row and one column geometry at a time
        monkeypatch.setattr(operator, "COLUMN_CHUNK", chunk)
        np.testing.assert_allclose(op.columns(cols, rows=rows).numpy(), K[np.ix_(rows, cols)], rtol=1e-12,
                                   atol=1e-15)
        np.testing.assert_allclose(op.columns(cols).numpy(), K[:, cols], rtol=1e-12, atol=1e-15)


def test_bad_input(small):
    dp = permutation_desc_index(ETHANOL_PERMS)
    with pytest.raises(ValueError, match="Unknown backend 'gpu'"):
        HessianKernelOperator(small, dp, 10.0, backend="gpu")
    op = HessianKernelOperator(small, dp, 10.0, backend="torch")
    with pytest.raises(ValueError, match="v must have 675 rows"):
        op.matvec(np.ones(10))


@pytest.mark.parametrize("backend", BACKENDS)
def test_internal_coordinates_are_projected_cartesian(small, backend):
    dp = permutation_desc_index(ETHANOL_PERMS)
    cart = HessianKernelOperator(small, dp, 10.0, lam=0.0, backend="torch")
    intl = HessianKernelOperator(small, dp, 10.0, lam=1e-4, coordinates="internal", backend=backend)
    assert intl.coordinates == "internal" and intl.shape == (25 * 21, 25 * 21)
    Q = torch.block_diag(*intl.frame.basis()).numpy()  # (25*27, 25*21), orthonormal columns
    np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-12)
    K_ref = Q.T @ cart.to_dense() @ Q + 1e-4 * np.eye(Q.shape[1])
    v = np.random.default_rng(1).normal(size=intl.shape[0])
    np.testing.assert_allclose(intl.matvec(v), K_ref @ v, rtol=1e-10, atol=1e-12 * np.abs(K_ref @ v).max())
    np.testing.assert_allclose(intl.diagonal().numpy(), np.diag(K_ref), rtol=1e-10)
    np.testing.assert_allclose(intl.columns([3, 200]).numpy(), K_ref[:, [3, 200]], rtol=1e-10, atol=1e-15)
    # project/lift: lift(project(F)) removes exactly the rigid-motion part
    F = np.random.default_rng(2).normal(size=(25, 9, 3))
    back = intl.lift(intl.project(F))
    np.testing.assert_allclose(intl.project(back), intl.project(F), atol=1e-12)


def _tensor_bytes(obj, seen=None):
    """Bytes of every tensor reachable from obj's attributes (and lists/tuples of them)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.element_size() * obj.numel()
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(o, seen) for o in obj)
    if hasattr(obj, "__dict__"):
        return sum(_tensor_bytes(v, seen) for v in vars(obj).values())
    return 0


def test_operator_holds_no_dense_jacobians():
    """60 atoms (D = 1770, 3N = 180): everything the operator keeps is O(n D) (descriptors, Jacobian
    factors, permuted points, Householder frames), far below one dense (n, D, 3N) Jacobian."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3)[:60] * 1.5
    R = grid + rng.normal(scale=0.2, size=(8, 60, 3))
    n, D = 8, 1770
    for coordinates in ("internal", "cartesian"):
        op = HessianKernelOperator(R, np.arange(D)[None], 30.0, lam=1e-4, coordinates=coordinates)
        held = _tensor_bytes(op)
        assert held < 12 * 8 * n * D < 8 * n * D * 180 / 10, held
        v = rng.normal(size=op.shape[0])
        assert np.isfinite(op.matvec(v)).all()


def test_device_and_backend_errors_name_the_fix(small, monkeypatch):
    dp = permutation_desc_index(ETHANOL_PERMS)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch finds no CUDA device.*use device='cpu'"):
            HessianKernelOperator(small, dp, 10.0, device="cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        HessianKernelOperator(small, dp, 10.0, device="gpu0")
    monkeypatch.setattr(operator, "keops_available", lambda: False)
    with pytest.raises(ImportError, match="backend='keops' on cpu takes KeOps.*or pass backend='torch'"):
        HessianKernelOperator(small, dp, 10.0, backend="keops")
