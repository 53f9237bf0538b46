"""PCG against the Cholesky solution; resume after interrupt, warm start, non-convergence, numpy callables."""

import numpy as np
import pytest

from gdmlkit.exceptions import ConvergenceWarning
from gdmlkit.preconditioners import make_preconditioner
from gdmlkit.solvers.pcg import pcg


def test_pcg_reaches_cholesky_solution(system):
    op, K, b, x_ref = system
    pc = make_preconditioner("cholesky", 150).fit(op)
    res = pcg(op.matvec, b, precond=pc, tol=1e-10, max_iter=5000)
    assert res.converged
    assert res.residuals[-1] <= 1e-10
    # the recursively updated residual tracks the true one up to rounding
    assert np.linalg.norm(K @ res.x - b) <= 1e-8 * np.linalg.norm(b)
    np.testing.assert_allclose(res.x, x_ref, rtol=1e-5, atol=1e-5 * np.abs(x_ref).max())


def test_resume_after_interrupt_gives_same_solution(system, tmp_path):
    op, _, b, _ = system
    pc = make_preconditioner("random", 60, random_state=0).fit(op)
    full = pcg(op.matvec, b, precond=pc, tol=1e-8)
    ck = tmp_path / "cg.npz"

    def interrupt(it, x, rel):
        if it == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pcg(op.matvec, b, precond=pc, tol=1e-8, callback=interrupt, checkpoint=ck, checkpoint_every=10)
    assert ck.exists()
    resumed = pcg(op.matvec, b, precond=pc, tol=1e-8, checkpoint=ck)
    assert resumed.n_iter == full.n_iter
    np.testing.assert_allclose(resumed.x, full.x, rtol=1e-12, atol=1e-14)
    assert not ck.exists()  # removed once converged


def test_warm_start_and_nonconvergence_warning(system):
    op, _, b, x_ref = system
    res = pcg(op.matvec, b, x0=x_ref, tol=1e-6)
    assert res.n_iter <= 2
    with pytest.warns(ConvergenceWarning, match="did not converge in 3 iterations"):
        res = pcg(op.matvec, b, tol=1e-12, max_iter=3)
    assert not res.converged and len(res.residuals) == 4


def test_numpy_callables_and_aliasing_preconditioner():
    """A plain numpy matvec, and a preconditioner returning its own input (the identity), give
    the dense solution and the unpreconditioned iterates: the solver copies what it keeps."""
    rng = np.random.default_rng(3)
    Q = rng.standard_normal((60, 60))
    A = Q @ Q.T + 60 * np.eye(60)
    b = rng.standard_normal(60)
    plain = pcg(lambda v: A @ v, b, tol=1e-10)
    ident = pcg(lambda v: A @ v, b, precond=lambda r: r, tol=1e-10)
    assert isinstance(plain.x, np.ndarray) and plain.converged
    np.testing.assert_allclose(plain.x, np.linalg.solve(A, b), rtol=1e-8)
    assert ident.n_iter == plain.n_iter
    np.testing.assert_allclose(ident.residuals, plain.residuals, rtol=1e-10)


def test_checkpoint_of_another_system_is_refused(tmp_path):
    """A checkpoint whose fingerprint differs is an error naming what differs; the same one resumes;
    one without a fingerprint cannot be checked and is refused too."""
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((80, 80))
    A = Q @ Q.T + np.eye(80)
    b = rng.standard_normal(80)
    ck = tmp_path / "cg.npz"

    def stop(it, x, rel):
        if it == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pcg(lambda v: A @ v, b, tol=1e-10, callback=stop, checkpoint=ck, checkpoint_every=5,
            fingerprint={"sigma": 10.0, "data": "abc"})
    with pytest.raises(ValueError, match=r"another system \(sigma: 10.0 there, 20.0 here\)"):
        pcg(lambda v: A @ v, b, tol=1e-10, checkpoint=ck, fingerprint={"sigma": 20.0, "data": "abc"})
    res = pcg(lambda v: A @ v, b, tol=1e-10, checkpoint=ck, fingerprint={"sigma": 10.0, "data": "abc"})
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), rtol=1e-7)
    with pytest.raises(KeyboardInterrupt):
        pcg(lambda v: A @ v, b, tol=1e-10, callback=stop, checkpoint=ck, checkpoint_every=5)
    with pytest.raises(ValueError, match="records no fingerprint"):
        pcg(lambda v: A @ v, b, tol=1e-10, checkpoint=ck, fingerprint={"sigma": 10.0})
