"""The CGnet-like network: features against independent references, force-only training with NNRegressor,
and prior + network."""

import numpy as np
import pytest
import torch

from gdmlkit.coarse_graining import CGNetRegressor, dihedral
from gdmlkit.nn import CGNet, NNRegressor

from helpers import cg_frames


def test_features_are_inverse_distances_angles_and_dihedrals():
    R = np.cumsum(np.random.default_rng(0).normal(size=(6, 5, 3)), axis=1)
    f = CGNet(n_beads=5).features(torch.from_numpy(R)).numpy()
    assert f.shape == (6, 10 + 3 + 4)
    a, b = np.tril_indices(5, -1)
    np.testing.assert_allclose(f[:, :10], 1 / np.linalg.norm(R[:, a] - R[:, b], axis=-1), rtol=1e-12)
    u, v = R[:, 0] - R[:, 1], R[:, 2] - R[:, 1]
    np.testing.assert_allclose(f[:, 10], (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1),
                               rtol=1e-12)
    phi = np.radians(dihedral(R, 0, 1, 2, 3))
    np.testing.assert_allclose(f[:, 13], np.cos(phi), atol=1e-12)
    np.testing.assert_allclose(f[:, 15], np.sin(phi), atol=1e-12)


def test_force_only_training_needs_energy_weight_zero():
    R, F = cg_frames(40, 0)
    z = np.ones(3, dtype=int)
    with pytest.raises(ValueError, match="lacks energies.*energy_weight=0"):
        NNRegressor("cgnet", model_options={"n_beads": 3}, max_epochs=1).fit(R, F, z=z)
    with pytest.raises(ValueError, match="at least 4 beads"):
        NNRegressor("cgnet", model_options={"n_beads": 3}, energy_weight=0.0, max_epochs=1).fit(R, F, z=z)


def test_cgnet_regressor_learns_forces_and_is_conservative():
    R, F = cg_frames(400, 0)
    R4 = np.concatenate([R, R[:, 2:3] + [[[1.2, 0.3, -0.4]]]], axis=1)  # a 4th bead, no force on it
    F4 = np.concatenate([F, np.zeros((400, 1, 3))], axis=1)
    net = NNRegressor("cgnet", model_options={"n_beads": 4, "n_hidden": 32}, energy_weight=0.0, max_epochs=80,
                      batch_size=32, learning_rate=3e-3, dtype="float64", patience=80)
    model = CGNetRegressor(net, prior=None).fit(R4[:200], F4[:200])
    E, F_pred = model.predict(R4[300:])
    err = np.sqrt(np.mean((F_pred - F4[300:]) ** 2))
    assert err < 0.4 * np.sqrt(np.mean(F4[300:] ** 2))  # 0.21 when written
    h = 1e-5
    Rp, Rm = R4[300:301].copy(), R4[300:301].copy()
    Rp[0, 1, 0] += h
    Rm[0, 1, 0] -= h
    assert F_pred[0, 1, 0] == pytest.approx(-(model.predict(Rp)[0] - model.predict(Rm)[0])[0] / (2 * h), rel=1e-5)


def test_prior_needs_kT():
    R, F = cg_frames(20, 0)
    with pytest.raises(ValueError, match="needs kT"):
        CGNetRegressor().fit(R, F)
