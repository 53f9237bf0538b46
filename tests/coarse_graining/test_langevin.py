"""BAOAB Langevin: velocity Verlet energy conservation without friction, Boltzmann statistics with it."""

import numpy as np
import pytest
from ase import units

from gdmlkit.coarse_graining import langevin, time_unit_fs


def harmonic(k):
    """U = k/2 |R|^2 per walker, summed over beads."""
    return lambda R: (0.5 * k * (R**2).sum((1, 2)), -k * R)


def chain_springs(R, k=50.0, r0=1.5):
    """Springs between consecutive beads: a molecule with internal (anharmonic in Cartesian) motion."""
    d = R[:, 1:] - R[:, :-1]
    r = np.linalg.norm(d, axis=-1, keepdims=True)
    f = -k * (r - r0) * d / r  # force on bead i+1 from bond i
    F = np.zeros_like(R)
    F[:, 1:] += f
    F[:, :-1] -= f
    return 0.5 * k * ((r - r0) ** 2).sum((1, 2)), F


def test_energy_conserved_without_friction_with_second_order_error():
    R0 = np.array([[[0, 0, 0], [1.7, 0, 0], [2.5, 1.2, 0.3], [3.0, 2.4, -0.5]]], dtype=float)
    drifts = []
    for dt in (0.02, 0.01):
        t = langevin(chain_springs, R0, masses=[12, 14, 12, 12], kT=1.0, dt=dt, friction=0.0,
                     n_steps=int(20 / dt), stride=5, random_state=0)
        E = t.E_pot + t.E_kin
        drifts.append(np.abs(E - E[0]).max())
    assert drifts[0] < 0.02 * 4.0  # kT = 1 in 4 beads
    assert 3.0 < drifts[0] / drifts[1] < 5.0  # O(dt^2)


def test_boltzmann_distribution_in_harmonic_well():
    k, kT, m = 4.0, 0.7, 3.0
    t = langevin(harmonic(k), np.zeros((400, 2, 3)), masses=m, kT=kT, dt=0.05, friction=2.0, n_steps=3000,
                 stride=20, random_state=1)
    R, V = t.R[20:], t.V[20:]
    assert R.var() == pytest.approx(kT / k, rel=0.03)  # <x^2> = kT / k
    assert (m * V**2).mean() == pytest.approx(kT, rel=0.03)  # equipartition
    assert abs(R.mean()) < 0.01


def test_time_unit_against_ase():
    t_ase = np.sqrt(units._amu * 1e-20 / (units.kcal / units.mol * units._e)) * 1e15
    assert time_unit_fs("kcal/mol") == pytest.approx(t_ase, rel=1e-6)
    assert time_unit_fs("eV") == pytest.approx(1 / units.fs, rel=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="masses must be > 0"):
        langevin(harmonic(1.0), np.zeros((1, 2, 3)), masses=[1, 0], kT=1, dt=0.1, friction=0, n_steps=1)
    with pytest.raises(ValueError, match="R0 must have shape"):
        langevin(harmonic(1.0), np.zeros((2, 2, 2)), masses=1, kT=1, dt=0.1, friction=0, n_steps=1)
