"""Harmonic prior: Boltzmann inversion recovers known force constants; forces are -dU/dR."""

import numpy as np
import pytest

from gdmlkit.coarse_graining import HarmonicPrior, langevin


def test_boltzmann_inversion_recovers_a_harmonic_chain():
    """Sample a 3-bead chain with known harmonic bonds and angle by Langevin dynamics; the fitted prior has
    their force constants, and their lengths and angle shifted by the Jacobians the Gaussian fit neglects
    (p(r) ~ r^2 exp(-U/kT): <r> = r0 + 2 kT / (k r0); p(theta) ~ sin(theta) exp(-U/kT): <theta> = theta0 +
    kT cot(theta0) / k, to first order)."""
    true = HarmonicPrior(1.0)
    true.bonds_, true.angles_ = np.array([[0, 1], [1, 2]]), np.array([[0, 1, 2]])
    true.r0_, true.k_bond_ = np.array([1.5, 1.4]), np.array([400.0, 300.0])
    true.theta0_, true.k_angle_ = np.array([np.radians(115.0)]), np.array([60.0])
    R0 = np.array([[0, 0, 0], [1.5, 0, 0], [2.1, 1.27, 0.0]])
    t = langevin(true.energy_forces, np.repeat(R0[None], 120, 0), masses=12.0, kT=1.0, dt=0.01, friction=5.0,
                 n_steps=3000, stride=10, random_state=0)
    fitted = HarmonicPrior(1.0).fit(t.R[50:].reshape(-1, 3, 3))
    np.testing.assert_allclose(fitted.r0_, true.r0_ + 2.0 / (true.k_bond_ * true.r0_), atol=5e-4)
    np.testing.assert_allclose(fitted.theta0_, true.theta0_ + 1.0 / np.tan(true.theta0_) / true.k_angle_, atol=2e-3)
    np.testing.assert_allclose(fitted.k_bond_, true.k_bond_, rtol=0.08)
    np.testing.assert_allclose(fitted.k_angle_, true.k_angle_, rtol=0.08)


def test_forces_are_minus_the_gradient():
    rng = np.random.default_rng(0)
    R = np.cumsum(rng.normal(size=(50, 5, 3)), axis=1)
    prior = HarmonicPrior(0.6).fit(R)
    E, F = prior.energy_forces(R[:2])
    h = 1e-6
    for a, c in [(0, 0), (2, 1), (4, 2)]:
        Rp, Rm = R[:2].copy(), R[:2].copy()
        Rp[:, a, c] += h
        Rm[:, a, c] -= h
        np.testing.assert_allclose(F[:, a, c], -(prior.energy_forces(Rp)[0] - prior.energy_forces(Rm)[0]) / (2 * h),
                                   rtol=1e-6)
    assert np.allclose(F.sum(1), 0.0, atol=1e-9)  # internal forces: no net force


def test_bad_kT():
    with pytest.raises(ValueError, match="kT"):
        HarmonicPrior(0.0)
