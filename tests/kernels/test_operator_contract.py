"""Every kernel operator against its dense form, through the shared contract (tests/operator_contract.py)."""

import numpy as np
import pytest
import torch

from gdmlkit import find_permutations, find_spacegroup_symmetry, load_example
from gdmlkit.data import example_path
from gdmlkit.descriptors import PeriodicInverseDistanceDescriptor, inverse_distance
from gdmlkit.kernels import DenseKernelOperator, HessianKernelOperator, operator
from gdmlkit.kernels.keops import keops_available
from gdmlkit.symmetry import permutation_desc_index

from operator_contract import KernelOperatorContract

needs_keops = pytest.mark.skipif(not keops_available(), reason="pykeops cannot compile here")
needs_cuda = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def ethanol(n=12):
    """Shipped rMD17 ethanol geometries (Å) and their descriptor permutations."""
    train = load_example("ethanol_train")[:n]
    return train.R, permutation_desc_index(find_permutations(train.R, train.z))


class TestDenseOperator(KernelOperatorContract):
    rtol = 1e-12

    def make_operator(self):
        A = np.random.default_rng(0).normal(size=(40, 40))
        return DenseKernelOperator(A @ A.T, lam=1e-3, block_size=4)


class TestHessianTorchSymmetric(KernelOperatorContract):
    def make_operator(self):
        R, dp = ethanol()
        return HessianKernelOperator(R, dp, 10.0, lam=1e-4, backend="torch", tile_rows=5)


class TestHessianTorchPlainInternal(KernelOperatorContract):
    def make_operator(self):
        R, dp = ethanol()
        return HessianKernelOperator(R, dp, 10.0, lam=1e-4, backend="torch", coordinates="internal",
                                     pair_symmetry=False)


def cluster(n_atoms=36, n=5, seed=0):
    """n noisy copies of a 36-atom cluster on a jittered grid (Å): a molecule with D = 630."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n_atoms] * 1.5
    return grid + rng.normal(scale=0.2, size=(n, n_atoms, 3))


class TestHessianLargerMoleculeInternal(KernelOperatorContract):
    """36 atoms, internal coordinates from Householder frames: the Jacobian-free paths of every method
    (more than DENSE_JACOBIAN_ATOMS atoms, more than DENSE_BLOCK_RATIO x P unknowns per geometry)."""

    def make_operator(self):
        op = HessianKernelOperator(cluster(), np.arange(630)[None], 30.0, lam=1e-4, backend="torch",
                                   coordinates="internal")
        assert op.n_atoms > inverse_distance.DENSE_JACOBIAN_ATOMS and op.block_size > operator.DENSE_BLOCK_RATIO
        return op


class TestHessianTorchCached(KernelOperatorContract):
    def make_operator(self):
        R, dp = ethanol()
        return HessianKernelOperator(R, dp, 10.0, lam=1e-4, backend="torch", cache_coefficients=True)


@needs_keops
class TestHessianKeops(KernelOperatorContract):
    def make_operator(self):
        R, dp = ethanol()
        return HessianKernelOperator(R, dp, 10.0, lam=1e-4, backend="keops", coordinates="internal")


class TestHessianPeriodic(KernelOperatorContract):
    def make_operator(self):
        data = load_example("pdh_emt")[:6]
        ideal = np.load(example_path("pdh_emt"))["R_ideal"]
        group = find_spacegroup_symmetry(ideal, data.z, data.cell[0], data.pbc)  # Pm-3m, 48 operations
        desc = PeriodicInverseDistanceDescriptor(data.R.shape[1], data.cell[0], data.pbc)
        return HessianKernelOperator(data.R, permutation_desc_index(group.perms), 3.2, lam=1e-4, backend="torch",
                                     descriptor=desc)


class TestHessianCudaTorch(KernelOperatorContract):
    pytestmark = needs_cuda

    def make_operator(self):
        R, dp = ethanol()
        return HessianKernelOperator(R, dp, 10.0, lam=1e-4, backend="torch", device="cuda")


@needs_keops
class TestHessianCudaKeops(KernelOperatorContract):
    pytestmark = needs_cuda

    def make_operator(self):
        R, dp = ethanol()
        return HessianKernelOperator(R, dp, 10.0, lam=1e-4, backend="keops", device="cuda", coordinates="internal")
