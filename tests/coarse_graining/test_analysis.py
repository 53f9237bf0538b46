"""Dihedrals against ASE, free-energy surfaces and their error."""

import numpy as np
import pytest
from ase import Atoms

from gdmlkit.coarse_graining import (backbone_dihedrals, boltzmann_kT, dihedral, fes_error, fes_kl_divergence,
                                     free_energy_surface)


def test_dihedral_matches_ase():
    R = np.random.default_rng(0).normal(size=(20, 5, 3)) * 1.5
    phi, psi = backbone_dihedrals(R)
    for r, p, s in zip(R, phi, psi):
        atoms = Atoms("C5", positions=r)
        assert np.isclose(p % 360, atoms.get_dihedral(0, 1, 2, 3), atol=1e-8)
        assert np.isclose(s % 360, atoms.get_dihedral(1, 2, 3, 4), atol=1e-8)


def test_dihedral_of_a_known_geometry():
    # trans (180) and a +90 degree rotation of the last bead about the 1-2 axis
    R = np.array([[[1.0, 1, 0], [0, 0, 0], [0, 0, 1], [-1, -1, 1]], [[1.0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 1, 1]]])
    np.testing.assert_allclose(np.abs(dihedral(R, 0, 1, 2, 3)[0]), 180.0, atol=1e-10)
    np.testing.assert_allclose(dihedral(R, 0, 1, 2, 3)[1], 90.0, atol=1e-10)


def test_backbone_dihedrals_need_five_beads():
    with pytest.raises(ValueError, match=r"shape \(n, 5, 3\)"):
        backbone_dihedrals(np.zeros((3, 4, 3)))


def test_fes_error_is_shift_invariant_and_positive():
    rng = np.random.default_rng(1)
    phi, psi = rng.normal(-70, 20, 5000), rng.normal(140, 20, 5000)
    F, counts, edges = free_energy_surface(phi, psi, bins=12)
    assert F.min() == 0 and len(edges) == 13 and counts.sum() == 5000
    assert fes_error(F + 3.0, F, counts) == pytest.approx(0.0, abs=1e-20)
    F2, _, _ = free_energy_surface(phi + 40, psi, bins=12)
    assert fes_error(F2, F, counts) > 1.0


def test_kT_at_300K():
    assert boltzmann_kT(300, "kcal/mol") == pytest.approx(0.5962, abs=1e-4)
    assert boltzmann_kT(300, "eV") == pytest.approx(0.025852, abs=1e-6)


def test_kl_divergence_of_two_known_distributions():
    p, q = np.array([[0.5, 0.5], [0.0 + 1e-300, 0.0 + 1e-300]]), np.array([[0.25, 0.25], [0.25, 0.25]])
    F_p, F_q = -np.log(p), -np.log(q)
    assert fes_kl_divergence(F_q, F_p) == pytest.approx(np.log(2.0), rel=1e-12)  # sum p ln(p / q)
    assert fes_kl_divergence(F_p + 5.0, F_p) == pytest.approx(0.0, abs=1e-12)  # constant shifts do not count
