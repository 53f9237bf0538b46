"""Dense Hessian kernel against double autograd of the scalar symmetrised kernel."""

import math

import numpy as np
import pytest
import torch

from gdmlkit.descriptors import InverseDistanceDescriptor
from gdmlkit.kernels.dense import assemble_kernel, kernel_blocks
from gdmlkit.symmetry import permutation_desc_index

SIGMA = 2.0


def _matern(d):
    r = math.sqrt(5.0) * d / SIGMA
    return (1 + r + r * r / 3) * torch.exp(-r)


def _k_sym(R1, R2, perms, desc):
    """Symmetrised scalar kernel sum_P k(x(R1), x(R2[p])) written directly with autograd-able ops."""
    x1 = desc.transform(R1[None])[0][0]
    out = 0.0
    for p in perms:
        x2 = desc.transform(R2[p][None])[0][0]
        out = out + _matern(torch.sqrt(((x1 - x2) ** 2).sum()))
    return out


@pytest.fixture
def problem():
    rng = np.random.default_rng(3)
    base = rng.normal(scale=1.2, size=(5, 3))
    R = torch.from_numpy(base[None] + 0.1 * rng.normal(size=(4, 5, 3)))
    perms = np.array([[0, 1, 2, 3, 4], [0, 2, 1, 3, 4], [1, 0, 2, 3, 4], [1, 2, 0, 3, 4],
                      [2, 0, 1, 3, 4], [2, 1, 0, 3, 4]])  # S3 on atoms 0-2: a group
    return R, perms


def _blocks(R, perms, use_E=True):
    desc = InverseDistanceDescriptor(R.shape[1])
    x, g = desc.transform(R)
    J = desc.jacobian(g)
    dp = torch.from_numpy(permutation_desc_index(perms))
    return kernel_blocks(x, J, x[:, dp], J[:, dp, :], SIGMA, use_E=use_E), desc


def test_force_force_block_is_mixed_hessian(problem):
    R, perms = problem
    blocks, desc = _blocks(R, perms)
    n, N = R.shape[:2]
    for i, j in [(0, 2), (3, 1), (1, 3)]:  # i != j: autograd of |d| is undefined at d = 0
        H = torch.autograd.functional.hessian(
            lambda r: _k_sym(r[:N], r[N:], perms, desc), torch.cat([R[i], R[j]]))
        ref = H[:N, :, N:, :].reshape(3 * N, 3 * N)
        got = blocks["FF"][i * 3 * N:(i + 1) * 3 * N, j * 3 * N:(j + 1) * 3 * N]
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-9, atol=1e-12)


def test_energy_blocks_are_kernel_gradients(problem):
    R, perms = problem
    blocks, desc = _blocks(R, perms)
    N = R.shape[1]
    i, j = 1, 2
    Ri, Rj = R[i].clone().requires_grad_(True), R[j].clone().requires_grad_(True)
    k = _k_sym(Ri, Rj, perms, desc)
    gi, gj = torch.autograd.grad(k, (Ri, Rj))
    assert abs(float(blocks["EE"][i, j] - k)) < 1e-12
    # cov(F_i, E_j) = -dk/dR_i ; cov(E_i, F_j) = -dk/dR_j
    np.testing.assert_allclose(blocks["FE"][i * 3 * N:(i + 1) * 3 * N, j].numpy(), -gi.reshape(-1).numpy(), atol=1e-12)
    np.testing.assert_allclose(blocks["EF"][i, j * 3 * N:(j + 1) * 3 * N].numpy(), -gj.reshape(-1).numpy(), atol=1e-12)


@pytest.mark.parametrize("use_E", [False, True])
def test_kernel_symmetric_and_psd(problem, use_E):
    R, perms = problem
    desc = InverseDistanceDescriptor(R.shape[1])
    x, g = desc.transform(R)
    dp = torch.from_numpy(permutation_desc_index(perms))
    K = assemble_kernel(x, desc.jacobian(g), dp, SIGMA, use_E=use_E)
    np.testing.assert_allclose(K, K.T, rtol=1e-10, atol=1e-12)
    assert np.linalg.eigvalsh(K).min() > -1e-10 * np.abs(K).max()


def test_lower_only_fills_the_lower_triangle(problem):
    R, perms = problem
    desc = InverseDistanceDescriptor(R.shape[1])
    x, g = desc.transform(R)
    dp = torch.from_numpy(permutation_desc_index(perms))
    full = assemble_kernel(x, desc.jacobian(g), dp, SIGMA)
    low = assemble_kernel(x, desc.jacobian(g), dp, SIGMA, out=np.full_like(full, np.nan), lower_only=True,
                          block_size=1)
    idx = np.tril_indices(len(full))
    np.testing.assert_allclose(low[idx], full[idx], rtol=1e-13)


@pytest.mark.parametrize("use_E", [False, True])
def test_permutations_summed_in_chunks_equal_one_pass(problem, use_E):
    R, perms = problem
    desc = InverseDistanceDescriptor(R.shape[1])
    x, g = desc.transform(R)
    dp = torch.from_numpy(permutation_desc_index(perms))
    one = assemble_kernel(x, desc.jacobian(g), dp, SIGMA, use_E=use_E)
    chunked = assemble_kernel(x, desc.jacobian(g), dp, SIGMA, use_E=use_E, perms_per_chunk=4, block_size=3)
    np.testing.assert_allclose(chunked, one, rtol=1e-12, atol=1e-14)
