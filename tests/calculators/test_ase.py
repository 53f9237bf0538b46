"""ASE calculator: units at the boundary, atom checks, finite-difference forces, NVE energy conservation,
periodic (BIGDML) models. Fixtures bcc_cu and models are in conftest.py."""

import numpy as np
import pytest
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.verlet import VelocityVerlet
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation

from gdmlkit import GDMLCalculator, GDMLRegressor, load_example


@pytest.fixture(scope="module")
def ev_model():
    train = load_example("ethanol_train")[::5]  # 200 geometries, eV and Å
    return GDMLRegressor(sigma=10.0).fit(train)


@pytest.fixture(scope="module")
def kcal_model(ethanol_rmd17):
    d = ethanol_rmd17
    return GDMLRegressor(sigma=10.0).fit(d["R"][:100], d["F"][:100], E=d["E"][:100], z=d["z"],
                                         energy_unit="kcal/mol", length_unit="Ang")


def _atoms(R, z):
    from ase import Atoms

    return Atoms(numbers=z, positions=R)


def test_units_converted_to_eV(kcal_model, ethanol_rmd17):
    R = ethanol_rmd17["R"][500]
    atoms = _atoms(R, ethanol_rmd17["z"])
    atoms.calc = GDMLCalculator(kcal_model)
    E, F = kcal_model.predict(R[None])
    assert isinstance(atoms.get_potential_energy(), float)
    np.testing.assert_allclose(atoms.get_potential_energy(), E[0] * units.kcal / units.mol, rtol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), F[0] * units.kcal / units.mol, rtol=1e-12)


def test_bohr_model_gets_converted_lengths(kcal_model, ethanol_rmd17):
    """A model trained in Bohr gives the same eV/Å answers as the Å model.

    In Bohr the kernel scales by b^2 (J by b^2, the Hessian by 1/b^2 at sigma*b), so the
    equivalent problem has lam * b^2.
    """
    d = ethanol_rmd17
    b = units.Bohr
    m_bohr = GDMLRegressor(sigma=10.0 * b, lam=kcal_model.lam * b**2, perms=kcal_model.perms_).fit(
        d["R"][:100] / b, d["F"][:100] * b, E=d["E"][:100], z=d["z"], energy_unit="kcal/mol", length_unit="Bohr")
    atoms = _atoms(d["R"][600], d["z"])
    atoms.calc = GDMLCalculator(kcal_model)
    f_ang = atoms.get_forces()
    atoms.calc = GDMLCalculator(m_bohr)
    np.testing.assert_allclose(atoms.get_forces(), f_ang, rtol=1e-6, atol=1e-8)


def test_forces_are_finite_difference_of_energy(ev_model):
    from ase.calculators.fd import calculate_numerical_forces

    atoms = load_example("ethanol_test").to_atoms()[3]
    atoms.calc = GDMLCalculator(ev_model)
    F = atoms.get_forces()
    np.testing.assert_allclose(calculate_numerical_forces(atoms, eps=1e-4), F, atol=1e-5)


def test_atom_checks_and_missing_units(ev_model, ethanol_rmd17):
    from ase import Atoms

    calc = GDMLCalculator(ev_model)
    atoms = load_example("ethanol_test").to_atoms()[0]
    with pytest.raises(ValueError, match="has 8 atoms but the model was trained on 9"):
        calc.get_potential_energy(atoms[:8])
    swapped = atoms.copy()
    swapped.numbers[[0, 3]] = swapped.numbers[[3, 0]]
    with pytest.raises(ValueError, match="Atom 0 is element Z=1 but the model expects Z=6"):
        calc.get_potential_energy(swapped)
    bare = GDMLRegressor(sigma=10.0).fit(ethanol_rmd17["R"][:10], ethanol_rmd17["F"][:10],
                                         E=ethanol_rmd17["E"][:10], z=ethanol_rmd17["z"])
    with pytest.raises(ValueError, match="does not record its energy unit"):
        GDMLCalculator(bare)
    with pytest.raises(ValueError, match="contradicts"):
        GDMLCalculator(ev_model, energy_unit="kcal/mol")
    with pytest.raises(PropertyNotImplementedError):
        calc.get_stress(Atoms(atoms))


def test_nve_conserves_energy(ev_model):
    atoms = load_example("ethanol_test").to_atoms()[0]
    atoms.calc = GDMLCalculator(ev_model)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    Stationary(atoms)
    ZeroRotation(atoms)
    dyn = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    etot = []
    dyn.attach(lambda: etot.append(atoms.get_total_energy()), interval=10)
    dyn.run(2000)  # 0.5 ps
    etot = np.array(etot)
    ekin_scale = 1.5 * len(atoms) * units.kB * 300
    assert np.ptp(etot) < 0.02 * ekin_scale, f"energy drift {np.ptp(etot):.2e} eV"


def test_calculator_on_periodic_atoms(models, bcc_cu):
    atoms, ds = bcc_cu
    model = models[0]
    a = atoms.copy()
    a.positions = ds.R[6]
    a.calc = GDMLCalculator(model)
    E, F = model.predict(ds.R[6][None])
    assert a.get_potential_energy() == pytest.approx(E[0], rel=1e-12)
    np.testing.assert_allclose(a.get_forces(), F[0], rtol=1e-12)
    with pytest.raises(PropertyNotImplementedError):
        a.get_stress()
    wrong = a.copy()
    wrong.set_cell(a.cell.array * 1.01, scale_atoms=True)
    wrong.calc = GDMLCalculator(model)
    with pytest.raises(ValueError, match="differs from the model's"):
        wrong.get_potential_energy()
    no_cell = a.copy()
    no_cell.pbc = False
    no_cell.calc = GDMLCalculator(model)
    with pytest.raises(ValueError, match="no periodic cell"):
        no_cell.get_potential_energy()
