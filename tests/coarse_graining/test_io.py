"""The CG estimators in the gdmlkit model file: save and load give the same predictions and fitted
attributes, without pickle; `gdmlkit info` describes them; a failed save leaves no file."""

import numpy as np
import pytest

from gdmlkit import GDMLRegressor, load_model
from gdmlkit.cli import main
from gdmlkit.coarse_graining import CGGDMLRegressor, CGNetRegressor, ChiralGDMLRegressor
from gdmlkit.nn import NNRegressor

from helpers import cg_frames


def _chain(n, seed):
    """5-bead chains (random walks with bonds near 1.5) and noisy forces."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(n, 4, 3))
    steps *= 1.5 / np.linalg.norm(steps, axis=-1, keepdims=True)
    R = np.concatenate([np.zeros((n, 1, 3)), np.cumsum(steps, axis=1)], axis=1)
    return R, rng.normal(size=R.shape)


def _no_pickle(path):
    with np.load(path, allow_pickle=False) as f:  # raises if any entry needed pickle
        return {k: f[k] for k in f.files}


def test_ensemble_round_trip_with_prior_strata_and_cv(tmp_path):
    R, F = _chain(400, 0)
    model = CGGDMLRegressor(n_models=3, n_train=40, n_strata=4, sigma=(1.0, 2.0), lam=(1.0, 10.0), n_validation=100,
                            prior="harmonic", kT=0.6).fit(R, F)
    path = tmp_path / "cg.npz"
    model.save(path)
    assert "member2/R_d_desc_alpha_" in _no_pickle(path)
    loaded = load_model(path)
    assert type(loaded) is CGGDMLRegressor and type(loaded.estimators_[0]) is ChiralGDMLRegressor
    R_test = _chain(20, 1)[0]
    for a, b in zip(model.predict(R_test, return_std=True), loaded.predict(R_test, return_std=True)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.strata_, loaded.strata_)
    for a, b in zip(model.subsets_, loaded.subsets_):
        np.testing.assert_array_equal(a, b)
    assert loaded.cv_results_["params"] == model.cv_results_["params"]
    assert loaded.cv_results_["best_index"] == model.cv_results_["best_index"]
    for key in ("force_mse", "ensemble_force_mse", "member_variance"):
        np.testing.assert_array_equal(loaded.cv_results_[key], model.cv_results_[key])
    assert (loaded.sigma_, loaded.lam_) == (model.sigma_, model.lam_)
    np.testing.assert_array_equal(loaded.prior_.k_angle_, model.prior_.k_angle_)
    assert loaded.get_params() == model.get_params()
    assert CGGDMLRegressor.load(path).describe() == model.describe()


def test_ensemble_with_a_template_and_no_prior(tmp_path):
    R, F = cg_frames(300, 0)
    model = CGGDMLRegressor(GDMLRegressor(perms="none", solver="pcg"), n_models=2, n_train=50, sampling="random",
                            sigma=1.0, lam=1.0).fit(R, F)
    model.save(tmp_path / "cg.npz")
    loaded = load_model(tmp_path / "cg.npz")
    assert loaded.prior_ is None and loaded.strata_ is None and loaded.cv_results_ is None
    assert isinstance(loaded.estimator, GDMLRegressor) and loaded.estimator.solver == "pcg"
    R_test = cg_frames(10, 1)[0]
    np.testing.assert_array_equal(model.predict(R_test)[1], loaded.predict(R_test)[1])


def test_cgnet_round_trip_and_info(tmp_path, capsys):
    R, F = _chain(120, 0)
    net = NNRegressor("cgnet", model_options={"n_beads": 5, "n_hidden": 16}, energy_weight=0.0, max_epochs=3,
                      batch_size=32, dtype="float64")
    model = CGNetRegressor(net, kT=0.6).fit(R, F)
    path = tmp_path / "net.npz"
    model.save(path)
    assert any(k.startswith("network/state/") for k in _no_pickle(path))
    loaded = load_model(path)
    assert type(loaded) is CGNetRegressor and loaded.network.model_options == net.model_options
    R_test = _chain(10, 1)[0]
    for a, b in zip(model.predict(R_test), loaded.predict(R_test)):
        np.testing.assert_array_equal(a, b)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "CGNetRegressor" in out and "beads: 5" in out and "harmonic" in out


def test_unfitted_save_raises_and_writes_nothing(tmp_path):
    with pytest.raises(Exception, match="not fitted"):
        CGGDMLRegressor().save(tmp_path / "cg.npz")
    with pytest.raises(Exception, match="not fitted"):
        CGNetRegressor().save(tmp_path / "net.npz")
    assert list(tmp_path.iterdir()) == []
