"""GDMLRegressor: physics (conservative forces, invariances), persistence, scikit-learn protocol, bad input."""

import pickle
import warnings

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gdmlkit import GDMLRegressor, load_model
from gdmlkit.exceptions import ConvergenceWarning, NotFittedError

ETHANOL_PERMS_EXPECTED = 6


@pytest.fixture(scope="module")
def ethanol(ethanol_rmd17):
    """The shipped rMD17 ethanol in kcal/mol and Å (conftest.py)."""
    return ethanol_rmd17


@pytest.fixture(scope="module")
def fitted(ethanol):
    d = ethanol
    return GDMLRegressor(sigma=10.0).fit(d["R"][:60], d["F"][:60], E=d["E"][:60], z=d["z"])


def test_forces_are_negative_energy_gradient(fitted, ethanol):
    R = ethanol["R"][700].copy()
    _, F = fitted.predict(R[None])
    h = 1e-5
    fd = np.zeros_like(R)
    for a in range(R.shape[0]):
        for c in range(3):
            Rp, Rm = R.copy(), R.copy()
            Rp[a, c] += h
            Rm[a, c] -= h
            fd[a, c] = -(fitted.predict(Rp[None])[0][0] - fitted.predict(Rm[None])[0][0]) / (2 * h)
    np.testing.assert_allclose(F[0], fd, rtol=1e-5, atol=1e-5 * np.abs(F).max())


def test_rotation_translation_invariance(fitted, ethanol):
    R = ethanol["R"][800:805]
    E, F = fitted.predict(R)
    rot = Rotation.random(random_state=1).as_matrix()
    E2, F2 = fitted.predict(R @ rot.T + np.array([1.0, -2.0, 3.0]))
    np.testing.assert_allclose(E2, E, rtol=1e-12)
    np.testing.assert_allclose(F2, F @ rot.T, atol=1e-9 * np.abs(F).max())


def test_permutation_invariance(fitted, ethanol):
    assert len(fitted.perms_) == ETHANOL_PERMS_EXPECTED
    R = ethanol["R"][900:903]
    E, F = fitted.predict(R)
    for p in fitted.perms_:
        Ep, Fp = fitted.predict(R[:, p])
        np.testing.assert_allclose(Ep, E, rtol=1e-12)
        np.testing.assert_allclose(Fp, F[:, p], atol=1e-9 * np.abs(F).max())


def test_reproduces_training_forces(fitted, ethanol):
    _, F = fitted.predict(ethanol["R"][:60])
    # lam = 1e-10 interpolates up to the kernel's conditioning
    assert np.abs(F - ethanol["F"][:60]).max() < 2e-3 * np.abs(ethanol["F"][:60]).max()


def test_energy_constraints_fit(ethanol):
    d = ethanol
    m = GDMLRegressor(sigma=10.0, use_E_cstr=True).fit(d["R"][:40], d["F"][:40], E=d["E"][:40], z=d["z"])
    E, F = m.predict(d["R"][:40])
    # energies are labels here: reproduced up to the kernel's conditioning (sgdml: 0.064 kcal/mol too)
    assert np.abs(E - d["E"][:40].ravel()).max() < 0.1
    # still conservative; lam = 1e-6 keeps |alpha| moderate (at 1e-10 it is ~1e9 and the energies carry
    # ~1e-6 rounding noise, too much for a finite difference)
    m = GDMLRegressor(sigma=10.0, lam=1e-6, use_E_cstr=True).fit(d["R"][:40], d["F"][:40], E=d["E"][:40], z=d["z"])
    R = d["R"][500].copy()
    h = 1e-4
    Rp = R.copy()
    Rp[2, 1] += h
    Rm = R.copy()
    Rm[2, 1] -= h
    fd = -(m.predict(Rp[None])[0][0] - m.predict(Rm[None])[0][0]) / (2 * h)
    assert abs(m.predict(R[None])[1][0, 2, 1] - fd) < 1e-5 * np.abs(d["F"]).max()


def test_plain_gdml_has_identity_only(ethanol):
    d = ethanol
    m = GDMLRegressor(perms="none").fit(d["R"][:20], d["F"][:20], E=d["E"][:20], z=d["z"])
    np.testing.assert_array_equal(m.perms_, np.arange(9)[None])


def test_save_load_roundtrip(fitted, ethanol, tmp_path):
    path = tmp_path / "model.npz"
    fitted.save(path)
    with np.load(path, allow_pickle=False) as f:
        assert str(f["format"]) == "gdmlkit-model"
    loaded = load_model(path)
    R = ethanol["R"][950:960]
    E1, F1 = fitted.predict(R)
    E2, F2 = loaded.predict(R)
    np.testing.assert_array_equal(E1, E2)
    np.testing.assert_array_equal(F1, F2)
    assert loaded.get_params()["sigma"] == fitted.sigma


def test_save_is_atomic(fitted, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    fitted.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        fitted.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_pickle(fitted, ethanol):
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.predict(ethanol["R"][:3])[1], fitted.predict(ethanol["R"][:3])[1])


def test_sklearn_clone_gridsearch_cross_val(ethanol):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

    from gdmlkit.metrics import force_mae_scorer

    d = ethanol
    est = GDMLRegressor(sigma=7.0, lam=1e-9)
    c = clone(est)
    assert c.get_params() == est.get_params() and c is not est
    R, F, E = d["R"][:40], d["F"][:40], d["E"][:40].ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scores = cross_val_score(GDMLRegressor(), R, F, params={"z": d["z"], "E": E}, cv=KFold(2),
                                 scoring=force_mae_scorer)
        assert scores.shape == (2,) and np.all(scores < 0)
        gs = GridSearchCV(GDMLRegressor(), {"sigma": [0.05, 10.0]}, scoring=force_mae_scorer, cv=KFold(2))
        gs.fit(R, F, z=d["z"], E=E)
    assert gs.best_params_["sigma"] == 10.0  # sigma 0.05 (1/Å) is far too narrow for ethanol
    assert hasattr(gs.best_estimator_, "alphas_")


def test_select_sigma_one_line(ethanol):
    from gdmlkit import select_sigma

    d = ethanol
    res = select_sigma(GDMLRegressor(), d["R"][:60], d["F"][:60], d["E"][:60], z=d["z"], sigmas=[0.05, 10.0],
                       cv=2, progress=False)
    assert res.best_sigma == 10.0
    assert res.force_mae.shape == (2, 2) and res.best_estimator.sigma == 10.0
    assert "best" in res.table()


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("params, match", [
    ({"sigma": -1.0}, "sigma == -1.0, must be > 0"),
    ({"sigma": 0.0}, "sigma == 0.0, must be > 0"),
    ({"lam": 0.0}, "lam == 0.0, must be > 0"),
    ({"solver": "lu"}, "Unknown solver 'lu'"),
    ({"perms": "some"}, "perms='some'"),
])
def test_bad_hyperparameters(ethanol, params, match):
    d = ethanol
    with pytest.raises(ValueError, match=match):
        GDMLRegressor(**params).fit(d["R"][:5], d["F"][:5], z=d["z"])


def test_bad_inputs(ethanol):
    d = ethanol
    R, F, z = d["R"][:5], d["F"][:5], d["z"]
    with pytest.raises(ValueError, match=r"R must have shape \(n_samples, n_atoms, 3\); got \(5, 27\)"):
        GDMLRegressor().fit(R.reshape(5, -1), F, z=z)
    with pytest.raises(ValueError, match="F has 8 atoms but R has 9"):
        GDMLRegressor().fit(R, F[:, :8], z=z)
    with pytest.raises(ValueError, match="z has 8 atoms but R has 9"):
        GDMLRegressor().fit(R, F, z=z[:8])
    Rn = R.copy()
    Rn[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        GDMLRegressor().fit(Rn, F, z=z)
    Fi = F.copy()
    Fi[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="F contains 1 non-finite"):
        GDMLRegressor().fit(R, Fi, z=z)
    with pytest.raises(ValueError, match="E must have shape"):
        GDMLRegressor().fit(R, F, E=np.zeros(4), z=z)
    with pytest.raises(ValueError, match="Too few training geometries: got 1"):
        GDMLRegressor().fit(R[:1], F[:1], z=z)
    with pytest.raises(ValueError, match="z .* is required"):
        GDMLRegressor().fit(R, F)
    with pytest.raises(ValueError, match="Unknown energy unit 'kcal'"):
        GDMLRegressor().fit(R, F, z=z, energy_unit="kcal")


def test_predict_bad_input(fitted, ethanol):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        GDMLRegressor().predict(ethanol["R"][:2])
    with pytest.raises(ValueError, match="has 8 atoms per geometry but 9 were expected"):
        fitted.predict(ethanol["R"][:2, :8])


def test_failed_factorisation_retries_with_jitter(ethanol, monkeypatch):
    from gdmlkit.exceptions import PerformanceWarning
    from gdmlkit.models import solve

    calls = []
    real = solve.cholesky_factor_inplace

    def fail_once(K, **kw):  # first attempt reports a non-positive pivot, as LAPACK would
        calls.append(K[0, 0])
        return 3 if len(calls) == 1 else real(K, **kw)

    monkeypatch.setattr(solve, "cholesky_factor_inplace", fail_once)
    d = ethanol
    with pytest.warns(PerformanceWarning, match="retrying with jitter"):
        m = GDMLRegressor(perms="none").fit(d["R"][:10], d["F"][:10], E=d["E"][:10], z=d["z"])
    assert m.solve_info_["attempts"] == 2 and m.solve_info_["jitter"] > 0
    assert calls[1] > calls[0]  # the kernel was rebuilt with the jitter on its diagonal


def test_indefinite_kernel_raises_not_psd(ethanol, monkeypatch):
    from gdmlkit.exceptions import NotPSDError
    from gdmlkit.models import solve

    def indefinite(x, J, dp, sigma, out, **kw):  # a kernel no jitter can repair
        out[...] = 0.0
        out[np.diag_indices_from(out)] = -1.0
        return out

    monkeypatch.setattr(solve, "assemble_kernel", indefinite)
    d = ethanol
    with pytest.warns(UserWarning), pytest.raises(NotPSDError, match="not positive definite even with jitter"):
        GDMLRegressor().fit(d["R"][:3], d["F"][:3], z=d["z"])


def test_internal_subspace_gives_cartesian_predictions(ethanol, monkeypatch):
    """Solving in the rigid-motion-free subspace (n (3N-6) unknowns) predicts as the full 3N n system."""
    from gdmlkit.descriptors import InverseDistanceDescriptor

    d = ethanol
    args, kw = (d["R"][:50], d["F"][:50]), {"E": d["E"][:50], "z": d["z"]}
    reduced = GDMLRegressor(sigma=10.0, lam=1e-8).fit(*args, **kw)
    assert reduced.solve_info_["internal_dof"] == 21 and reduced.solve_info_["size"] == 50 * 21
    monkeypatch.setattr(InverseDistanceDescriptor, "internal_frame", lambda self, R: None)
    full = GDMLRegressor(sigma=10.0, lam=1e-8).fit(*args, **kw)
    assert full.solve_info_["size"] == 50 * 27
    E1, F1 = reduced.predict(d["R"][600:620])
    E2, F2 = full.predict(d["R"][600:620])
    np.testing.assert_allclose(F1, F2, atol=1e-6 * np.abs(F2).max())
    np.testing.assert_allclose(E1, E2, atol=1e-6 * np.ptp(E2))


# ------------------------------------------------------------------ iterative solver (PCG)
def test_estimator_pcg_matches_closed_form(ethanol_rmd17):
    from gdmlkit import GDMLRegressor

    d = ethanol_rmd17
    args = (d["R"][:80], d["F"][:80])
    kw = {"E": d["E"][:80], "z": d["z"]}
    exact = GDMLRegressor(sigma=10.0, lam=1e-6, solver="cholesky").fit(*args, **kw)
    it = GDMLRegressor(sigma=10.0, lam=1e-6, solver="pcg", preconditioner="cholesky", n_inducing=200,
                       tol=1e-9, backend="torch").fit(*args, **kw)
    info = it.solve_info_
    assert info["solver"] == "pcg" and info["converged"] and info["rank"] == 200
    assert info["n_iter"] == len(info["residuals"]) - 1 and info["t_preconditioner_s"] > 0
    assert info["factor_bytes"] == 8 * info["size"] * 200 and info["size"] == 80 * 21  # float64 n x k factor
    E1, F1 = exact.predict(d["R"][500:520])
    E2, F2 = it.predict(d["R"][500:520])
    np.testing.assert_allclose(F2, F1, atol=1e-5 * np.abs(F1).max())
    np.testing.assert_allclose(E2, E1, atol=1e-5 * np.ptp(E1))


def test_estimator_coefficient_cache_gives_same_model(ethanol_rmd17):
    from gdmlkit import GDMLRegressor

    d = ethanol_rmd17
    kw = dict(sigma=10.0, lam=1e-6, solver="pcg", n_inducing=100, tol=1e-8, random_state=0)
    fits = [GDMLRegressor(cache_coefficients=c, **kw).fit(d["R"][:40], d["F"][:40], E=d["E"][:40], z=d["z"])
            for c in (False, True)]
    assert [f.solve_info_["cached_coefficients"] for f in fits] == [False, True]
    assert fits[0].solve_info_["cache_bytes"] == 0 < fits[1].solve_info_["cache_bytes"]
    assert fits[0].solve_info_["n_iter"] == fits[1].solve_info_["n_iter"]
    np.testing.assert_allclose(fits[1].alphas_, fits[0].alphas_, rtol=1e-9, atol=1e-12 * np.abs(fits[0].alphas_).max())
    with pytest.raises(ValueError, match="cache_coefficients='yes'"):
        GDMLRegressor(cache_coefficients="yes").fit(d["R"][:5], d["F"][:5], z=d["z"])


def test_estimator_solver_choice_and_errors(ethanol_rmd17):
    from gdmlkit import GDMLRegressor

    d = ethanol_rmd17
    assert GDMLRegressor(max_memory=4, rank_constant=20).fit_policy().rule_rank(1000) == round((10**7) ** (1 / 3))
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
