"""The CGnet alanine dipeptide data (../shared/data/coarse_graining/ala2_cgnet, not shipped: no licence is
stated): units, dihedrals, and a small stratified ensemble with its CG dynamics. Skips without the data."""

import numpy as np
import pytest

from gdmlkit.coarse_graining import (CGGDMLRegressor, backbone_dihedrals, boltzmann_kT, langevin,
                                     time_unit_fs)

KT = boltzmann_kT(300, "kcal/mol")


@pytest.fixture(scope="module")
def ala2(shared_data):
    folder = shared_data / "coarse_graining" / "ala2_cgnet"
    if not (folder / "ala2_coordinates.npy").exists():
        pytest.skip(f"{folder} not found")
    R = np.load(folder / "ala2_coordinates.npy").astype(np.float64)
    F = np.load(folder / "ala2_forces.npy").astype(np.float64)
    return R, F


def test_units_are_angstrom_and_kcal_per_mol_per_angstrom(ala2):
    R, F = ala2
    assert R.shape == F.shape == (10000, 5, 3)
    bonds = np.linalg.norm(np.diff(R, axis=1), axis=2).mean(0)
    np.testing.assert_allclose(bonds, [1.33, 1.47, 1.54, 1.34], atol=0.02)  # C-N, N-CA, CA-C, C-N in Å
    assert 15 < F.std() < 40  # instantaneous all-atom forces, kcal/mol/Å
    assert np.linalg.norm(F.sum(1), axis=1).mean() > 10  # the mapped forces are not net-zero


def test_dihedral_populations(ala2):
    phi, psi = backbone_dihedrals(ala2[0])
    assert 0.01 < np.mean(phi > 0) < 0.05  # alpha_L is rare
    beta = (phi < 0) & ((psi > 90) | (psi < -150))
    alpha_r = (phi < 0) & (psi > -90) & (psi < 50)
    assert beta.mean() > 0.4 and alpha_r.mean() > 0.15


def test_small_ensemble_predicts_net_zero_forces_and_simulates(ala2):
    R, F = ala2
    phi, psi = np.radians(backbone_dihedrals(R))
    feats = np.column_stack([np.cos(phi), np.sin(phi), np.cos(psi), np.sin(psi)])
    model = CGGDMLRegressor(n_models=2, n_train=150, n_strata=6, sigma=1.0, lam=100.0, prior="harmonic",
                            kT=KT).fit(R, F, features=feats)
    _, F_pred, F_std = model.predict(R[:50], return_std=True)
    np.testing.assert_allclose(F_pred.sum(1), 0.0, atol=1e-8)  # internal descriptors: no net force
    assert F_std.mean() > 0
    tu = time_unit_fs("kcal/mol")
    t = langevin(model.predict, R[:8], masses=[12.011, 14.007, 12.011, 12.011, 14.007], kT=KT, dt=2.0 / tu,
                 friction=tu / 1000.0, n_steps=300, stride=50)
    bonds = np.linalg.norm(np.diff(t.R[-1], axis=1), axis=2)
    assert np.all((bonds > 1.1) & (bonds < 1.8))  # the prior and the model keep the chain together
