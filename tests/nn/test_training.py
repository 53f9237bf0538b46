"""The training recipe of NNRegressor: per-element energies (least squares against known constants,
zero residual, predictions that follow the units), the moving average of the weights (against the
average of the recorded weight trajectory; validated and kept), the progress bar's validation
error, and model files of the mean-energy era."""

import json

import numpy as np
import pytest
import torch

from gdmlkit import NNRegressor, load_example, load_model
from gdmlkit.nn.training import element_energies
from gdmlkit.units import energy_units_to_eV

TINY = {"n_features": 16, "n_interactions": 2}


@pytest.fixture(scope="module")
def ethanol():
    return load_example("ethanol_train")  # rMD17 ethanol, eV and Å


def _tiny(**params):
    return NNRegressor("schnet", model_options=TINY, batch_size=4, dtype="float64", **params)


def test_element_energies_recover_the_constants_of_the_compositions():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 8, size=(30, 4))
    e_true = np.array([-13.6, -1029.5, -1484.2, -2041.3])
    np.testing.assert_allclose(element_energies(counts, counts @ e_true), e_true, rtol=1e-10)
    n = np.array([2, 1, 6])  # one molecule: only sum n_Z e_Z (the mean energy) is determined; minimum norm
    E = rng.normal(size=5) - 4200.0
    e = element_energies(np.tile(n, (5, 1)), E)
    np.testing.assert_allclose(n @ e, E.mean(), rtol=1e-12)
    np.testing.assert_allclose(e, E.mean() * n / (n @ n), rtol=1e-12)


def test_energies_that_are_sums_of_element_constants_leave_no_residual(ethanol):
    e_true = {1: -13.6, 6: -1029.5, 8: -2041.3}  # eV
    E = np.full(8, sum(e_true[int(Z)] for Z in ethanol.z))
    data = ethanol[:8]
    model = _tiny(max_epochs=1, validation_fraction=0).fit(data.R, data.F, E=E, z=data.z)
    offset = sum(model.element_energies_[int(Z)] for Z in ethanol.z)
    np.testing.assert_allclose(E - offset, 0.0, atol=1e-12 * abs(E[0]))
    assert sorted(model.element_energies_) == [1, 6, 8]


def test_predictions_follow_the_training_units(ethanol):
    """The same data in eV and in kcal/mol: the same standardised problem, predictions that differ by the factor."""
    ev = ethanol[:12]
    kcal = ev.to_units(energy_unit="kcal/mol")
    f = 1.0 / energy_units_to_eV("kcal/mol")
    a, b = _tiny(max_epochs=3).fit(ev), _tiny(max_epochs=3).fit(kcal)
    R = ethanol.R[200:204]
    (Ea, Fa), (Eb, Fb) = a.predict(R), b.predict(R)
    np.testing.assert_allclose(Eb, f * Ea, rtol=1e-12)
    np.testing.assert_allclose(Fb, f * Fa, rtol=1e-8, atol=1e-10 * np.abs(Fb).max())
    for Z, e in a.element_energies_.items():
        assert b.element_energies_[Z] == pytest.approx(f * e, rel=1e-12)


def test_moving_average_is_the_average_of_the_weight_trajectory(ethanol, monkeypatch):
    """Weights recorded after every Adam step, averaged here with s <- d s + (1 - d) p,
    d = min(decay, (1 + n) / (10 + n)): the fitted network holds the average at the best validation
    epoch, and that epoch's validation force MAE is the averaged network's."""
    trajectory = []
    step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        out = step(self, *args, **kwargs)
        trajectory.append([p.detach().clone() for p in self.param_groups[0]["params"]])
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    train, valid = ethanol[:12], ethanol[500:506]
    decay, epochs = 0.9, 30
    init = [p.detach().clone() for p in _tiny(max_epochs=0).fit(train, valid=valid).module_.parameters()]
    model = _tiny(max_epochs=epochs, learning_rate=1e-2, ema_decay=decay, patience=epochs).fit(train, valid=valid)
    steps = len(trajectory) // epochs
    assert steps == 3 and len(trajectory) == steps * epochs
    losses = [h["valid_loss"] for h in model.history_]
    best = int(np.argmin(losses))
    avg = init
    for n, weights in enumerate(trajectory[:steps * (best + 1)], start=1):
        d = min(decay, (1 + n) / (10 + n))
        avg = [d * s + (1 - d) * p for s, p in zip(avg, weights)]
    for p, ref, last in zip(model.module_.parameters(), avg, trajectory[steps * (best + 1) - 1]):
        np.testing.assert_allclose(p.detach().numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)
    assert max(float((p - q).abs().max()) for p, q in zip(avg, trajectory[steps * (best + 1) - 1])) > 1e-3
    _, F = model.predict(valid)
    assert np.mean(np.abs(F - valid.F)) == pytest.approx(model.history_[best]["valid_force_mae"], rel=1e-10)


def test_progress_bar_shows_validation_error(ethanol, capsys):
    model = _tiny(max_epochs=2, progress=True).fit(ethanol[:10])
    err = capsys.readouterr().err
    assert f"val F MAE={model.history_[-1]['valid_force_mae']:.3g}" in err
    assert "val E MAE=" in err and "loss=" in err


def test_model_file_with_mean_energy_loads(ethanol, tmp_path):
    """Files written before per-element energies hold energy_mean_; they predict as before."""
    model = _tiny(max_epochs=1).fit(ethanol[:8])
    path = tmp_path / "net.npz"
    model.save(path)
    with np.load(path) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["meta"]))
    del meta["element_energies_"]
    meta["energy_mean_"] = sum(model.element_energies_[int(Z)] for Z in model.z_)
    del meta["params"]["ema_decay"]
    arrays["meta"] = np.array(json.dumps(meta))
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    R = ethanol.R[60:63]
    for a, b in zip(model.predict(R), load_model(old).predict(R)):
        np.testing.assert_allclose(b, a, rtol=1e-12)
