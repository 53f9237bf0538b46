"""Every kernel operator against its dense form, through the shared contract (tests/operator_contract.py)."""

import numpy as np
import pytest
import torch

from gdmlkit import find_permutations, find_spacegroup_symmetry, load_example
from gdmlkit.data import example_path
from gdmlkit.descriptors import PeriodicInverseDistanceDescriptor
from gdmlkit.kernels import DenseKernelOperator, HessianKernelOperator
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
