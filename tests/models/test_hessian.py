"""Hessian predictions against finite differences of the predicted forces, and harmonic frequencies against an
analytic diatomic and against ASE's Vibrations on the GDMLCalculator."""

import warnings

import numpy as np
import pytest
from ase.data import atomic_masses
from ase.vibrations import Vibrations

from gdmlkit import GDMLCalculator, GDMLRegressor, load_example
from gdmlkit.descriptors import MorseDescriptor
from gdmlkit.models.hessian import harmonic_frequencies, model_frequencies, predict_hessian


@pytest.fixture(scope="module")
def train():
    return load_example("ethanol_train")[:40]


def fit(train, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GDMLRegressor(lam=1e-6, **kw).fit(train)


def force_differences(model, R, h=1e-4):
    """-dF/dR by central differences of the predicted forces at one geometry: (3N, 3N)."""
    n = R.size
    H = np.empty((n, n))
    for i in range(n):
        step = np.zeros(n)
        step[i] = h
        Fp = model.predict((R.ravel() + step).reshape(1, *R.shape))[1].ravel()
        Fm = model.predict((R.ravel() - step).reshape(1, *R.shape))[1].ravel()
        H[:, i] = -(Fp - Fm) / (2 * h)
    return H


@pytest.mark.parametrize("kw", [dict(sigma=10.0), dict(sigma=10.0, use_E_cstr=True),
                                dict(sigma=4.0, kernel="gaussian", morse=True)],
                         ids=["default", "energy-constraints", "morse-gaussian"])
def test_hessian_is_symmetric_and_equals_force_differences(train, kw):
    kw = dict(kw)
    if kw.pop("morse", False):
        kw["descriptor"] = MorseDescriptor(train.z)
    model = fit(train, **kw)
    test = load_example("ethanol_test")[:2]
    R = np.concatenate([test.R, train.R[:1]])  # the last one on a training point (r = 0 pairs)
    H = predict_hessian(model, R)
    assert H.shape == (3, 27, 27)
    scale = np.abs(H).max()
    np.testing.assert_allclose(H, H.transpose(0, 2, 1), rtol=0, atol=1e-10 * scale)
    for s in range(3):
        np.testing.assert_allclose(H[s], force_differences(model, R[s]), rtol=0, atol=1e-6 * scale)
    np.testing.assert_array_equal(model.predict_hessian(R[:1], batch_size=1)[0], H[0])


def test_frequencies_of_a_diatomic_equal_the_analytic_ones():
    """E = k/2 (|R_1 - R_0| - r0)^2 at r = r0: one mode at sqrt(k / mu), five rigid ones."""
    k, masses = 30.0, atomic_masses[[1, 9]]  # eV/Å^2, HF
    u = np.array([0.6, 0.0, 0.8])
    block = k * np.outer(u, u)
    H = np.block([[block, -block], [-block, block]])
    mu = masses[0] * masses[1] / masses.sum()
    from ase import units
    ref = np.sqrt(k / mu) * units._hbar * 1e10 / np.sqrt(units._e * units._amu) / units.invcm
    f = harmonic_frequencies(H, masses, positions=np.array([[0, 0, 0], 0.92 * u]))
    np.testing.assert_allclose(f, [ref], rtol=1e-12)
    full = harmonic_frequencies(H, masses)
    np.testing.assert_allclose(full[-1], ref, rtol=1e-12)
    np.testing.assert_allclose(full[:-1], 0, atol=1e-3)  # rigid motions: square roots of rounding errors
    kcal = harmonic_frequencies(H / 0.0433641043, masses, positions=np.array([[0, 0, 0], 0.92 * u]),
                                energy_unit="kcal/mol")
    np.testing.assert_allclose(kcal, [ref], rtol=1e-6)


def test_frequencies_equal_ase_vibrations(train, tmp_path):
    """ASE's Vibrations (4-point differences of the calculator's forces) against the predicted Hessian at a
    geometry of the model; both without projecting rigid motions, the internal modes compared."""
    model = fit(train, sigma=10.0)
    atoms = load_example("ethanol_test").to_atoms()[0]
    atoms.calc = GDMLCalculator(model)
    vib = Vibrations(atoms, name=str(tmp_path / "vib"), delta=1e-3, nfree=4)
    vib.run()
    ase_f = vib.get_frequencies()
    ase_f = np.sort(np.where(np.abs(ase_f.imag) > 0, -np.abs(ase_f), ase_f.real))
    R = atoms.positions / model_length_to_A(model)
    H = predict_hessian(model, R[None])[0]
    ours = harmonic_frequencies(H, atoms.get_masses(), energy_unit=model.energy_unit_, length_unit=model.length_unit_)
    np.testing.assert_allclose(ours[6:], ase_f[6:], rtol=1e-4, atol=0.05)
    internal = model_frequencies(model, R)
    assert internal.shape == (21,)
    np.testing.assert_allclose(internal[-10:], ours[-10:], rtol=2e-3)  # high modes barely mix with rigid ones


def model_length_to_A(model):
    from gdmlkit.units import length_units_to_A
    return length_units_to_A(model.length_unit_)
