"""PCG against the Cholesky solution; preconditioners against dense Woodbury; resume after interrupt."""

import numpy as np
import pytest
import torch

from gdmlkit.exceptions import ConvergenceWarning
from gdmlkit.kernels.operator import HessianKernelOperator
from gdmlkit.preconditioners import MIXED_RATIO, PRECONDITIONERS, make_preconditioner
from gdmlkit.preconditioners.base import add_gram, symmetrized
from gdmlkit.solvers.pcg import pcg
from gdmlkit.symmetry import permutation_desc_index

from conftest import ETHANOL_PERMS


@pytest.fixture(scope="module")
def system(ethanol_ccsd):
    """A real ethanol problem: 60 geometries (n = 1620), sigma 10, lam 1e-6."""
    d = ethanol_ccsd
    op = HessianKernelOperator(d["R"][:60], permutation_desc_index(ETHANOL_PERMS), 10.0, lam=1e-6,
                               backend="torch")
    K = op.to_dense()
    b = d["F"][:60].ravel()
    L = np.linalg.cholesky(K)
    x_ref = np.linalg.solve(L.T, np.linalg.solve(L, b))
    return op, K, b, x_ref


def test_pcg_reaches_cholesky_solution(system):
    op, K, b, x_ref = system
    pc = make_preconditioner("cholesky", 150).fit(op)
    res = pcg(op.matvec, b, precond=pc, tol=1e-10, max_iter=5000)
    assert res.converged
    assert res.residuals[-1] <= 1e-10
    # the recursively updated residual tracks the true one up to rounding
    assert np.linalg.norm(K @ res.x - b) <= 1e-8 * np.linalg.norm(b)
    np.testing.assert_allclose(res.x, x_ref, rtol=1e-5, atol=1e-5 * np.abs(x_ref).max())


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
        assert pc._U32.dtype == torch.float32 and 0 < m == pc._U64.shape[1] < pc.rank_
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


def test_nystrom_matches_dense_nystrom(system):
    op, K, _, _ = system
    pc = make_preconditioner("random", 40, random_state=3).fit(op)
    S = pc.columns_.numpy()
    Kn = K - 1e-6 * np.eye(len(K))
    ref = Kn[:, S] @ np.linalg.solve(Kn[np.ix_(S, S)], Kn[S, :])
    approx = pc.factor().numpy() @ np.diag(pc.eig_.numpy()) @ pc.factor().numpy().T
    np.testing.assert_allclose(approx, ref, atol=1e-6 * np.abs(ref).max())


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
    ref_piv = dense_pivoted_cholesky(Kn, k, op.dim_i if by_geometry else None)
    pc = make_preconditioner("cholesky", k, factor_dtype=dtype, by_geometry=by_geometry).fit(op)
    S = pc.columns_.numpy()
    assert S.tolist() == ref_piv
    if by_geometry:  # whole geometries: few distinct ones
        assert len(set(S // op.dim_i)) <= 4
    ref = Kn[:, S] @ np.linalg.solve(Kn[np.ix_(S, S)], Kn[S, :])
    F = pc.factor().numpy() * np.sqrt(pc.eig_.numpy())
    np.testing.assert_allclose(F @ F.T, ref, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("by_geometry", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_leverage_scores_equal_dense_ridge_leverage(system, dtype, by_geometry):
    """Scores l = diag(A (A + mu I)^-1) of the pilot Nyström approximation A = K_nS K_SS^-1 K_Sn, whether
    the pilot factor is held (float64) or streamed twice (float32), on single columns or whole geometries."""
    op, K, _, _ = system
    n, k, c = len(K), 60, op.dim_i
    pc = make_preconditioner("leverage", k, random_state=4, factor_dtype=dtype, by_geometry=by_geometry).fit(op)
    rng = np.random.default_rng(4)  # the pilot's draw
    if by_geometry:
        geoms = rng.permutation(op.n_train)[:-(-k // c)]
        S = (geoms[:, None] * c + np.arange(c)).ravel()[:k]
    else:
        S = rng.choice(n, k, replace=False)
    Kn = K - op.lam * np.eye(n)
    mu = max(op.lam, 1e-6 * np.trace(Kn) / n)
    A = Kn[:, S] @ np.linalg.solve(Kn[np.ix_(S, S)], Kn[S, :])
    ref = np.diag(np.linalg.solve(A + mu * np.eye(n), A))  # A and (A + mu I)^-1 commute
    np.testing.assert_allclose(pc.scores_.numpy(), ref, atol=1e-6 * ref.max())
    chosen = pc.columns_.numpy()
    assert len(np.unique(chosen)) == k
    if by_geometry:  # whole geometries (the last one cut at k), drawn by their summed scores
        assert np.array_equal(chosen[:c * (k // c)] % c, np.tile(np.arange(c), k // c))


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


def test_randomly_pivoted_cholesky(system):
    op, _, b, _ = system
    pc = make_preconditioner("cholesky", 100, random_state=0, pivoting="random", block=20).fit(op)
    assert pc.rank_ == 100
    assert pcg(op.matvec, b, precond=pc, tol=1e-4).converged


def test_torch_tensor_apply(system):
    op, _, b, _ = system
    pc = make_preconditioner("random", 30, random_state=0).fit(op)
    r = torch.from_numpy(b)
    np.testing.assert_allclose(pc.apply(r).numpy(), pc.apply(b))


def test_estimator_pcg_matches_closed_form(ethanol_ccsd):
    from gdmlkit import GDMLRegressor

    d = ethanol_ccsd
    args = (d["R"][:80], d["F"][:80])
    kw = {"E": d["E"][:80], "z": d["z"]}
    exact = GDMLRegressor(sigma=10.0, lam=1e-6, solver="cholesky").fit(*args, **kw)
    it = GDMLRegressor(sigma=10.0, lam=1e-6, solver="pcg", preconditioner="cholesky", n_inducing=200,
                       tol=1e-9, backend="torch").fit(*args, **kw)
    info = it.solve_info_
    assert info["solver"] == "pcg" and info["converged"] and info["rank"] == 200
    assert info["n_iter"] == len(info["residuals"]) - 1 and info["t_preconditioner_s"] > 0
    E1, F1 = exact.predict(d["R"][500:520])
    E2, F2 = it.predict(d["R"][500:520])
    np.testing.assert_allclose(F2, F1, atol=1e-5 * np.abs(F1).max())
    np.testing.assert_allclose(E2, E1, atol=1e-5 * np.ptp(E1))


def test_estimator_coefficient_cache_gives_same_model(ethanol_ccsd):
    from gdmlkit import GDMLRegressor

    d = ethanol_ccsd
    kw = dict(sigma=10.0, lam=1e-6, solver="pcg", n_inducing=100, tol=1e-8, random_state=0)
    fits = [GDMLRegressor(cache_coefficients=c, **kw).fit(d["R"][:40], d["F"][:40], E=d["E"][:40], z=d["z"])
            for c in (False, True)]
    assert [f.solve_info_["cached_coefficients"] for f in fits] == [False, True]
    assert fits[0].solve_info_["n_iter"] == fits[1].solve_info_["n_iter"]
    np.testing.assert_allclose(fits[1].alphas_, fits[0].alphas_, rtol=1e-9, atol=1e-12 * np.abs(fits[0].alphas_).max())
    with pytest.raises(ValueError, match="cache_coefficients='yes'"):
        GDMLRegressor(cache_coefficients="yes").fit(d["R"][:5], d["F"][:5], z=d["z"])


def test_estimator_solver_choice_and_errors(ethanol_ccsd):
    from gdmlkit import GDMLRegressor

    d = ethanol_ccsd
    m = GDMLRegressor()
    assert m._choose_solver(1000) == "cholesky"
    assert m._choose_solver(10**7) == "pcg"  # 800 TB kernel: never closed form
    assert m.auto_rank(21000) == round((36 * 21000**2 / 2) ** (1 / 3))
    assert m.auto_factor_dtype(21000) == "float64"  # k = 1995: 0.34 GB
    assert m.auto_rank(270000) * 270000 * 8 <= 1.5e9
    assert m.auto_factor_dtype(270000) == "float32"  # the rule's k = 11,000 needs 24 GB in float64
    assert m.auto_rank(270000, factor_dtype="float32") == int(1.5e9 // (4 * 270000))
    # a given rank decides the storage by its own size
    assert m.auto_factor_dtype(270000, rank=500) == "float64"  # 1.08 GB
    assert m.auto_factor_dtype(21000, rank=10000) == "float32"  # 1.68 GB
    # a memory budget (GB) moves the solver choice, the cache and the rank cap
    small = GDMLRegressor(max_memory=4)
    assert small._choose_solver(15000) == "cholesky" and small._choose_solver(16000) == "pcg"  # 1.8 / 2.05 GB
    assert small.auto_rank(210000) == int(2.6e9 // (8 * 210000))
    assert small.auto_rank(210000, factor_dtype="float32") == int(2.6e9 // (4 * 210000))  # 3095
    assert small.auto_rank(210000, cache_bytes=1e9) == int(1.6e9 // (8 * 210000))
    tiny = GDMLRegressor(solver="cholesky", max_memory=1e-4)
    with pytest.raises(MemoryError, match="allowed by max_memory. Use solver='pcg'"):
        tiny.fit(d["R"][:20], d["F"][:20], z=d["z"])
    with pytest.warns(ConvergenceWarning):
        lean = GDMLRegressor(solver="pcg", max_memory=1e-4, max_iter=20).fit(d["R"][:20], d["F"][:20], z=d["z"])
    assert not lean.solve_info_["cached_coefficients"]  # 38 kB of coefficients > a quarter of 100 kB
    assert 0 < lean.solve_info_["rank"] <= 0.65e5 // (4 * 20 * 21) == 38
    assert lean.solve_info_["factor_dtype"] == "float32"
    with pytest.warns(ConvergenceWarning):  # greedy pivoting holds a float64 factor: half the rank in the budget
        chol = GDMLRegressor(solver="pcg", preconditioner="cholesky", max_memory=1e-4, max_iter=20).fit(
            d["R"][:20], d["F"][:20], z=d["z"])
    assert chol.solve_info_["factor_dtype"] == "float64"
    assert 0 < chol.solve_info_["rank"] <= 0.65e5 // (8 * 20 * 21) == 19
    with pytest.warns(ConvergenceWarning):
        given = GDMLRegressor(solver="pcg", max_memory=1e-4, max_iter=2, n_inducing=5).fit(d["R"][:20], d["F"][:20],
                                                                                          z=d["z"])
    assert given.solve_info_["rank"] == 5 and given.solve_info_["factor_dtype"] == "float64"  # 17 kB of factor
    with pytest.raises(ValueError, match="max_memory"):
        GDMLRegressor(max_memory=0).fit(d["R"][:5], d["F"][:5], z=d["z"])
    with pytest.raises(ValueError, match="Unknown preconditioner 'levrage'"):
        GDMLRegressor(preconditioner="levrage").fit(d["R"][:5], d["F"][:5], z=d["z"])
    with pytest.raises(ValueError, match="tol == 0"):
        GDMLRegressor(tol=0).fit(d["R"][:5], d["F"][:5], z=d["z"])
    with pytest.raises(ValueError, match="only supported by solver='cholesky'"):
        GDMLRegressor(solver="pcg", use_E_cstr=True).fit(d["R"][:5], d["F"][:5], E=d["E"][:5], z=d["z"])


def test_random_by_geometry_takes_whole_blocks(system):
    op, _, b, _ = system
    pc = make_preconditioner("random", 100, random_state=0, by_geometry=True).fit(op)
    cols = pc.columns_.numpy()
    assert len(cols) == 100 and len(set(cols)) == 100
    assert len(set(cols // 27)) == 4  # ceil(100 / 27) geometries
    res = pcg(op.matvec, b, precond=pc, tol=1e-4, max_iter=3000)
    assert res.converged
