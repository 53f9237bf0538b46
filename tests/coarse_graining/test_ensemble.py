"""CGGDMLRegressor: one member equals the plain estimator, the ensemble is the mean of its members, force
matching recovers a known mean force from very noisy labels, PCG members, bad input."""

import warnings

import numpy as np
import pytest

from gdmlkit import GDMLRegressor
from gdmlkit.coarse_graining import CGGDMLRegressor, ChiralGDMLRegressor, langevin
from gdmlkit.coarse_graining.ensemble import choose_candidate

from helpers import cg_energy_forces, cg_frames


@pytest.fixture(scope="module")
def noisy():
    """2000 training frames whose forces carry Gaussian noise of 3x the force RMS, and 300 clean test frames."""
    R, F = cg_frames(2000, 0)
    noise = 3.0 * np.sqrt(np.mean(F**2))
    Fn = F + np.random.default_rng(2).normal(scale=noise, size=F.shape)
    R_test, F_test = cg_frames(300, 1)
    return R, Fn, R_test, F_test, noise


@pytest.fixture(scope="module")
def ensemble(noisy):
    R, Fn = noisy[:2]
    return CGGDMLRegressor(GDMLRegressor(perms="none"), n_models=8, n_train=200, n_strata=5, sigma=(0.3, 1.0, 3.0),
                           lam=(1e-2, 1.0, 100.0), n_validation=300).fit(R, Fn)


def test_one_member_equals_the_plain_estimator(noisy):
    R, Fn, R_test = noisy[:3]
    cg = CGGDMLRegressor(GDMLRegressor(perms="none"), n_models=1, n_train=100, sampling="random", sigma=1.0,
                         lam=0.5, random_state=4).fit(R, Fn)
    idx = cg.subsets_[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain = GDMLRegressor(1.0, lam=0.5, perms="none").fit(R[idx], Fn[idx], z=np.ones(3, dtype=int))
    E, F = cg.predict(R_test)
    E_ref, F_ref = plain.predict(R_test)
    np.testing.assert_allclose(F, F_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(E, E_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(cg.predict(R_test, return_std=True)[2], 0.0)


def test_ensemble_is_the_mean_of_its_members(ensemble, noisy):
    R_test = noisy[2]
    preds = [m.predict(R_test) for m in ensemble.estimators_]
    E, F = ensemble.predict(R_test)  # one merged predictor
    np.testing.assert_allclose(F, np.mean([p[1] for p in preds], 0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(E, np.mean([p[0] for p in preds], 0), rtol=1e-9, atol=1e-12)
    _, F2, F_std = ensemble.predict(R_test, return_std=True)
    np.testing.assert_allclose(F2, F, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(F_std, np.std([p[1] for p in preds], 0), rtol=1e-12)
    assert len(ensemble.estimators_) == 8 and F_std.mean() > 0


def test_members_are_disjoint_and_stratified(ensemble):
    frames_ = np.concatenate(ensemble.subsets_)
    assert len(np.unique(frames_)) == 8 * 200
    for s in ensemble.subsets_:
        assert set(ensemble.strata_[s]) == set(range(5))


def test_force_matching_recovers_the_mean_force(ensemble, noisy):
    """The labels' error (the noise) is 9.2; the ensemble's error against the true mean force is < 1/10 of it
    and below one member's."""
    R, Fn, R_test, F_test, noise = noisy
    err = np.sqrt(np.mean((ensemble.predict(R_test)[1] - F_test) ** 2))
    err_member = np.sqrt(np.mean((ensemble.estimators_[0].predict(R_test)[1] - F_test) ** 2))
    label_err = np.sqrt(np.mean((Fn - cg_frames(2000, 0)[1]) ** 2))
    assert label_err == pytest.approx(noise, rel=0.02)
    assert err < 0.1 * noise
    assert err < 0.75 * err_member
    assert ensemble.cv_results_["force_mse"].shape == (9, 2)
    cv = ensemble.cv_results_
    assert (ensemble.sigma_, ensemble.lam_) == cv["params"][cv["best_index"]]
    best = int(np.argmin(cv["ensemble_force_mse"]))  # the rule takes the best or a more regularised candidate
    assert cv["member_variance"][cv["best_index"]] <= cv["member_variance"][best]


def test_one_standard_error_rule():
    rng = np.random.default_rng(0)
    base = rng.normal(size=1000)
    scores = np.stack([base + 10.0, base + 9.99 + 0.5 * rng.normal(size=1000), base + 12.0])  # 1 ~ 0; 2 worse
    assert choose_candidate(scores, np.array([1.0, 5.0, 0.1])) == 0  # within one SE: the least variance
    assert choose_candidate(scores, np.array([5.0, 1.0, 0.1])) == 1
    scores[0] -= 1.0  # now clearly best
    assert choose_candidate(scores, np.array([5.0, 1.0, 0.1])) == 0


def test_cv_scores_the_mean_of_the_members(noisy):
    """With n_models == cv the estimated ensemble error is exactly the validation error of the CV members' mean
    (refitted here on the same subsets), below the mean of the members' errors."""
    R, Fn = noisy[:2]
    cg = CGGDMLRegressor(GDMLRegressor(perms="none"), n_models=3, n_train=100, n_strata=4, sigma=(0.5, 2.0),
                         lam=(0.01, 1.0), cv=3, n_validation=200).fit(R, Fn)
    val = np.random.default_rng(cg.random_state + 1).choice(len(R), cg.n_validation, replace=False)
    subsets = cg._draw(len(R), cg.strata_, 3, val, cg.random_state + 2)
    for i, (sigma, lam) in enumerate(cg.cv_results_["params"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            preds = [GDMLRegressor(sigma, lam=lam, perms="none").fit(R[s], Fn[s], z=np.ones(3, dtype=int)).predict(
                R[val])[1] for s in subsets]
        members = [np.mean((f - Fn[val]) ** 2) for f in preds]
        np.testing.assert_allclose(cg.cv_results_["force_mse"][i], members, rtol=1e-8)
        mean_err = np.mean((np.mean(preds, 0) - Fn[val]) ** 2)
        assert cg.cv_results_["ensemble_force_mse"][i] == pytest.approx(mean_err, rel=1e-8)
        assert mean_err < np.mean(members)


def test_integrator_conserves_the_ensemble_energy(ensemble, noisy):
    """Without friction the CG dynamics of the fitted ensemble conserves E_pot + E_kin: its energy and forces
    are consistent (F = -dE/dR of the merged predictor)."""
    R0 = noisy[0][:4]
    t = langevin(ensemble.predict, R0, masses=[12.0, 14.0, 12.0], kT=0.6, dt=0.01, friction=0.0, n_steps=400,
                 stride=10)
    E = t.E_pot + t.E_kin
    assert np.abs(E - E[0]).max() < 1e-2 * 0.6 * 9  # a small fraction of the kinetic energy (3 beads, 9 dof)
    assert np.abs(t.E_pot - t.E_pot[0]).max() > 0.1  # it moved


def test_pcg_members_equal_closed_form(noisy):
    R, Fn, R_test = noisy[:3]
    common = dict(n_models=2, n_train=150, n_strata=3, lam=1.0, sigma=1.0)
    closed = CGGDMLRegressor(ChiralGDMLRegressor(solver="cholesky"), **common).fit(R, Fn)
    pcg = CGGDMLRegressor(ChiralGDMLRegressor(solver="pcg", tol=1e-10, random_state=0), **common).fit(R, Fn)
    assert pcg.estimators_[0].solve_info_["solver"] == "pcg"
    np.testing.assert_allclose(pcg.predict(R_test)[1], closed.predict(R_test)[1], atol=1e-6)


def test_prior_is_added_back(noisy):
    R, Fn, R_test = noisy[:3]
    cg = CGGDMLRegressor(n_models=2, n_train=100, n_strata=3, lam=1.0, prior="harmonic", kT=0.6).fit(R, Fn)
    members = np.mean([m.predict(R_test)[1] for m in cg.estimators_], 0)
    np.testing.assert_allclose(cg.predict(R_test)[1], members + cg.prior_.energy_forces(R_test)[1], rtol=1e-9)


@pytest.mark.parametrize("change, message", [
    ("nan", r"frame\(s\) hold NaN or inf .*first: \[7\]"),
    ("beads", "F has shape .* but R has"),
    ("few", "2 models x 200 frames = 400 frames are needed but only 300"),
    ("strata", "n_strata == 400 but there are only 300 frames"),
    ("validation", "n_validation == 300 but there are only 300 frames"),
    ("prior", "prior='harmonic' needs kT"),
])
def test_bad_input(noisy, change, message):
    R, Fn = noisy[0][:300].copy(), noisy[1][:300].copy()
    est = CGGDMLRegressor(n_models=2, n_train=200, n_strata=5, lam=1.0)
    if change == "nan":
        R[7, 1, 2] = np.nan
    elif change == "beads":
        Fn = Fn[:, :2]
    elif change == "few":
        pass
    elif change == "strata":
        est.set_params(n_strata=400, n_train=100)
    elif change == "validation":
        est.set_params(lam=(1.0, 2.0), n_validation=300, n_train=50)
    elif change == "prior":
        est.set_params(prior="harmonic")
    with pytest.raises(ValueError, match=message):
        est.fit(R, Fn)


def test_clone_and_params():
    from sklearn.base import clone

    est = CGGDMLRegressor(n_models=3, lam=(1.0, 10.0))
    assert clone(est).get_params()["n_models"] == 3


def test_exact_labels_energy_up_to_a_constant():
    """Noise-free labels: the ensemble's energy differences follow the true potential's."""
    R, F = cg_frames(600, 5)
    cg = CGGDMLRegressor(GDMLRegressor(perms="none"), n_models=2, n_train=200, n_strata=4, sigma=1.0,
                         lam=1e-8).fit(R, F)
    R_test = cg_frames(50, 6)[0]
    E = cg.predict(R_test)[0]
    E_true = cg_energy_forces(R_test)[0]
    d = (E - E.mean()) - (E_true - E_true.mean())
    assert np.sqrt(np.mean(d**2)) < 0.05 * E_true.std()
