"""The estimator end to end on a CUDA device (KeOps and torch backends) against the CPU fit. Skipped without CUDA."""

import numpy as np
import pytest
import torch

from gdmlkit import GDMLRegressor, load_example, load_model
from gdmlkit.kernels.keops import keops_available

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.mark.parametrize("backend", ["torch", pytest.param("keops", marks=pytest.mark.skipif(
    not keops_available(), reason="pykeops cannot compile here"))])
@pytest.mark.parametrize("preconditioner", ["random", "cholesky"])
def test_cuda_fit_predict_save_equal_the_cpu(tmp_path, backend, preconditioner):
    train, test = load_example("ethanol_train")[:100], load_example("ethanol_test")[:50]
    kw = dict(sigma=10.0, lam=1e-8, solver="pcg", tol=1e-10, preconditioner=preconditioner, random_state=0)
    cpu = GDMLRegressor(**kw, backend="torch").fit(train)
    gpu = GDMLRegressor(**kw, backend=backend, device="cuda").fit(train)
    assert gpu.solve_info_["backend"] == backend and gpu.solve_info_["converged"]
    np.testing.assert_allclose(gpu.alphas_, cpu.alphas_, rtol=1e-6, atol=1e-6 * np.abs(cpu.alphas_).max())
    E_cpu, F_cpu = cpu.predict(test)
    E_gpu, F_gpu = gpu.predict(test)
    np.testing.assert_allclose(F_gpu, F_cpu, atol=1e-7 * np.abs(F_cpu).max())
    np.testing.assert_allclose(E_gpu, E_cpu, atol=1e-7 * np.ptp(E_cpu))
    gpu.save(tmp_path / "m.npz")
    again = load_model(tmp_path / "m.npz", device="cuda")
    np.testing.assert_array_equal(again.predict(test)[1], F_gpu)


def test_cuda_pcg_keeps_vectors_on_the_device(monkeypatch):
    """No host round trip per iteration: every vector PCG hands the operator is a CUDA tensor."""
    from gdmlkit.kernels.operator import HessianKernelOperator

    seen = []
    real = HessianKernelOperator.matvec

    def spy(self, v):
        seen.append(isinstance(v, torch.Tensor) and v.is_cuda)
        return real(self, v)

    monkeypatch.setattr(HessianKernelOperator, "matvec", spy)
    GDMLRegressor(solver="pcg", device="cuda", backend="torch", tol=1e-6).fit(load_example("ethanol_train")[:40])
    assert seen and all(seen)
