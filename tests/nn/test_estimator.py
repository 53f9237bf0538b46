"""NNRegressor: overfitting a few geometries, determinism, save/load, checkpoint resume after an
interruption, the ASE calculator (molecules and cells), CUDA, and errors on bad input."""

import os

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.calculators.lj import LennardJones

from gdmlkit import Dataset, GDMLCalculator, NNRegressor, load_example, load_model
from gdmlkit.exceptions import NotFittedError

TINY = {"n_features": 16, "n_interactions": 2}
TINY_OPTIONS = {"schnet": TINY, "spookynet": TINY, "so3krates": {**TINY, "l_max": 2, "n_heads": 2}}


def _kw(name):
    return {"charge": 0} if name == "spookynet" else {}


@pytest.fixture(scope="module")
def ethanol():
    return load_example("ethanol_train")  # rMD17 ethanol, eV and Å


def _tiny(name, **params):
    return NNRegressor(name, model_options=TINY_OPTIONS[name], batch_size=4, **params)


@pytest.mark.parametrize("name", ["schnet", "spookynet", "so3krates"])
def test_overfits_a_handful_of_geometries(ethanol, name):
    train = ethanol[:4]
    model = _tiny(name, max_epochs=800, learning_rate=1e-2, validation_fraction=0.0, energy_weight=0.1,
                  lr_patience=30, lr_factor=0.7)
    model.fit(train, **_kw(name))
    E, F = model.predict(train)
    F_scale = np.sqrt(np.mean(train.F**2))
    # the first epoch's loss is O(1) or more (standardised units); fitting drives it near zero
    assert model.history_[0]["train_loss"] > 0.5
    assert min(h["train_loss"] for h in model.history_) < 1e-3 * model.history_[0]["train_loss"]
    assert np.mean(np.abs(F - train.F)) < 0.08 * F_scale
    assert np.mean(np.abs(E - train.E)) < 0.08 * F_scale


def test_seed_makes_training_deterministic(ethanol):
    a = _tiny("schnet", max_epochs=2, random_state=3).fit(ethanol[:12])
    b = _tiny("schnet", max_epochs=2, random_state=3).fit(ethanol[:12])
    c = _tiny("schnet", max_epochs=2, random_state=4).fit(ethanol[:12])
    R = ethanol.R[20:22]
    np.testing.assert_array_equal(a.predict(R)[1], b.predict(R)[1])
    assert not np.allclose(a.predict(R)[1], c.predict(R)[1])


@pytest.mark.parametrize("name", ["schnet", "spookynet", "so3krates"])
def test_save_load_identical_predictions(ethanol, tmp_path, name):
    model = _tiny(name, max_epochs=1).fit(ethanol[:8], **_kw(name))
    path = tmp_path / "net.npz"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded, NNRegressor)
    assert loaded.get_params() == model.get_params()
    R = ethanol.R[30:33]
    for a, b in zip(model.predict(R), loaded.predict(R)):
        np.testing.assert_array_equal(a, b)
    assert not list(tmp_path.glob(".tmp-*"))


def test_resume_after_interruption_gives_identical_model(ethanol, tmp_path, monkeypatch):
    """Network, optimiser, schedule, batch order and the moving average of the weights all resume."""
    train = ethanol[:12]
    straight = _tiny("schnet", max_epochs=4).fit(train)
    ckpt = tmp_path / "run.pt"
    write = NNRegressor._write_checkpoint
    calls = []

    def interrupted_write(self, *args):
        write(self, *args)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C after epoch 2 was saved

    monkeypatch.setattr(NNRegressor, "_write_checkpoint", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        _tiny("schnet", max_epochs=4, checkpoint=str(ckpt)).fit(train)
    monkeypatch.setattr(NNRegressor, "_write_checkpoint", write)
    resumed = _tiny("schnet", max_epochs=4, checkpoint=str(ckpt)).fit(train)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    R = ethanol.R[40:43]
    for a, b in zip(straight.predict(R), resumed.predict(R)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="other parameters or data"):
        _tiny("schnet", max_epochs=4, checkpoint=str(ckpt), learning_rate=1e-2).fit(train)


class _Payload:
    """Unpickling this would run code (os.system) -- what a weights-only load must refuse."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_checkpoint_with_code_is_refused_unrun(ethanol, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "run.pt"
    torch.save({"fingerprint": "x", "state": _Payload()}, ckpt)
    with pytest.raises(ValueError, match="objects other than tensors"):
        _tiny("schnet", max_epochs=2, checkpoint=str(ckpt)).fit(ethanol[:6])
    assert not (tmp_path / "pwned").exists()


def test_describe_a_network_model(ethanol, tmp_path):
    """`gdmlkit info` prints describe(): a saved network is described, not an AttributeError."""
    from gdmlkit.cli import main

    path = tmp_path / "net.npz"
    _tiny("schnet", max_epochs=2).fit(ethanol[:6]).save(path)
    text = load_model(path).describe()
    assert "network: schnet" in text
    assert "epochs: 2" in text and "best validation (epoch" in text
    assert main(["info", str(path)]) == 0


def test_early_stopping_and_schedule(ethanol):
    model = _tiny("schnet", max_epochs=200, patience=2, lr_patience=0, learning_rate=0.5).fit(ethanol[:10])
    assert model.stopped_early_ and model.n_epochs_ < 200
    lrs = [h["lr"] for h in model.history_]
    assert lrs[-1] < lrs[0]
    assert {"valid_loss", "valid_force_mae", "valid_energy_mae"} <= set(model.history_[-1])


def test_ase_calculator_converts_units(ethanol):
    kcal = ethanol[:8].to_units(energy_unit="kcal/mol")
    model = _tiny("schnet", max_epochs=1).fit(kcal)
    atoms = Atoms(numbers=kcal.z, positions=ethanol.R[50])
    atoms.calc = GDMLCalculator(model)
    E, F = model.predict(ethanol.R[50])
    f = units.kcal / units.mol
    np.testing.assert_allclose(atoms.get_potential_energy(), E[0] * f, rtol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), F[0] * f, rtol=1e-12)


@pytest.fixture(scope="module")
def lj_cells():
    """Periodic argon-like cells labelled by ASE's Lennard-Jones calculator (eV, Å)."""
    rng = np.random.default_rng(0)
    cell = np.diag([5.2, 5.4, 5.6])
    base = np.array([[i, j, k] for i in (0, 0.5) for j in (0, 0.5) for k in (0, 0.5)]) @ cell
    R, E, F = [], [], []
    for _ in range(12):
        a = Atoms("Ar8", positions=base + rng.normal(scale=0.15, size=base.shape), cell=cell, pbc=True)
        a.calc = LennardJones(sigma=2.3, epsilon=0.01, rc=4.0, smooth=True)
        R.append(a.positions), E.append(a.get_potential_energy()), F.append(a.get_forces())
    return Dataset(np.array(R), [18] * 8, np.array(E), np.array(F), energy_unit="eV", length_unit="Ang",
                   cell=cell)


def test_periodic_fit_predict_and_calculator(lj_cells):
    model = _tiny("so3krates", max_epochs=2, cutoff=4.0, dtype="float64").fit(lj_cells)
    assert model.is_periodic
    with pytest.raises(ValueError, match="pass cell="):
        model.predict(lj_cells.R)
    E, F = model.predict(lj_cells)
    atoms = lj_cells.to_atoms()[3]
    shifted = atoms.copy()
    shifted.positions[2] += atoms.cell[0]  # same crystal, atom in another image
    for a in (atoms, shifted):
        a.calc = GDMLCalculator(model)
        np.testing.assert_allclose(a.get_potential_energy(), E[3], rtol=1e-12)
        np.testing.assert_allclose(a.get_forces(), F[3], atol=1e-10)


def test_errors_on_bad_input(ethanol):
    with pytest.raises(ValueError, match="Unknown model 'schnett'; expected one of"):
        NNRegressor("schnett").fit(ethanol[:4])
    with pytest.raises(ValueError, match="empty"):
        NNRegressor().fit(np.zeros((0, 9, 3)), np.zeros((0, 9, 3)), E=np.zeros(0), z=ethanol.z)
    with pytest.raises(ValueError, match="none is left for training"):
        NNRegressor().fit(ethanol[:1])
    with pytest.raises(ValueError, match="SpookyNet embeds the total charge of each geometry: pass charge="):
        NNRegressor("spookynet").fit(ethanol[:4])
    with pytest.raises(ValueError, match="only used by model='spookynet'"):
        NNRegressor("schnet").fit(ethanol[:4], charge=1)
    with pytest.raises(ValueError, match="need units"):
        NNRegressor("spookynet").fit(ethanol.R[:4], ethanol.F[:4], E=ethanol.E[:4], z=ethanol.z, charge=0)
    with pytest.raises(ValueError, match="lacks energies"):
        NNRegressor().fit(ethanol.R[:4], ethanol.F[:4], z=ethanol.z)
    with pytest.raises(ValueError, match="NaN"):
        R = ethanol.R[:4].copy()
        R[1, 2, 0] = np.nan
        NNRegressor().fit(R, ethanol.F[:4], E=ethanol.E[:4], z=ethanol.z)
    with pytest.raises(ValueError, match="cutoff == -1.0, must be > 0"):
        NNRegressor(cutoff=-1.0).fit(ethanol[:4])
    with pytest.raises(ValueError, match="ema_decay == 1.0, must be < 1"):
        NNRegressor(ema_decay=1.0).fit(ethanol[:4])
    with pytest.raises(TypeError, match="Invalid model_options for 'schnet'"):
        NNRegressor(model_options={"n_layers": 3}).fit(ethanol[:4])
    with pytest.raises(NotFittedError):
        NNRegressor().predict(ethanol.R[:1])
    model = _tiny("schnet", max_epochs=1).fit(ethanol[:4])
    with pytest.raises(ValueError, match="has 8 atoms per geometry but 9"):
        model.predict(ethanol.R[:1, :8])
    with pytest.raises(ValueError, match="trained on molecules"):
        model.predict(ethanol.R[:1], cell=np.eye(3) * 10)


def test_sklearn_clone_round_trip():
    from sklearn.base import clone

    model = NNRegressor("so3krates", model_options={"l_max": 2}, max_epochs=5)
    assert clone(model).get_params() == model.get_params()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(ethanol):
    cpu = _tiny("so3krates", max_epochs=2, dtype="float64").fit(ethanol[:8])
    gpu = _tiny("so3krates", max_epochs=2, dtype="float64", device="cuda").fit(ethanol[:8])
    for a, b in zip(cpu.predict(ethanol.R[:3]), gpu.predict(ethanol.R[:3])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_cuda_request_without_gpu_is_a_clear_error(ethanol):
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        NNRegressor(device="cuda").fit(ethanol[:4])
