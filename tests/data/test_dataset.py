"""Tests for gdmlkit.data.dataset: construction and checks, indexing, scikit-learn, units, md5, atoms,
concatenation."""

import numpy as np
import pytest
from ase import units

from gdmlkit.data import Dataset, load_dataset

from helpers import CELL, make

KCAL = units.kcal / units.mol  # kcal/mol in eV


# ---------------------------------------------------------------- construction

def test_construction_and_properties():
    ds = make(E=np.arange(5.0)[:, None])
    assert ds.R.dtype == np.float64 and ds.z.dtype == np.int64
    assert ds.E.shape == (5,)
    assert (ds.n_samples, ds.n_atoms, ds.shape, len(ds)) == (5, 3, (5, 3, 3), 5)
    assert ds.energy_unit == "kcal/mol" and not ds.is_periodic and ds.cell is None and ds.pbc is None
    assert "n_samples=5" in repr(ds) and "HHeLi" in repr(ds) and "kcal/mol" in repr(ds)


def test_positions_only_and_single_geometry():
    ds = Dataset(np.eye(3), [1, 1, 8], energy_unit="eV", length_unit="Bohr")
    assert ds.shape == (1, 3, 3) and ds.E is None and ds.F is None
    assert ds.length_unit == "Bohr"


def test_cell_broadcast_and_default_pbc():
    ds = make(cell=CELL)
    assert ds.cell.shape == (5, 3, 3) and np.array_equal(ds.cell[3], CELL)
    assert ds.pbc.tolist() == [True, True, True] and ds.is_periodic
    slab = make(cell=CELL, pbc=[True, True, False])
    assert slab.pbc.tolist() == [True, True, False] and slab.is_periodic


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        (dict(R=np.zeros((5, 3, 2))), ValueError, "shape"),
        (dict(R=np.full((5, 3, 3), np.nan)), ValueError, "non-finite"),
        (dict(F=np.full((5, 3, 3), np.inf)), ValueError, "F contains"),
        (dict(E=np.array([0, 1, np.nan, 3, 4.0])), ValueError, "E contains"),
        (dict(E=np.zeros(4)), ValueError, r"\(5,\)"),
        (dict(z=[1, 2]), ValueError, "z has 2 atoms but R has 3"),
        (dict(F=np.zeros((5, 2, 3))), ValueError, "F has 2 atoms but R has 3"),
        (dict(z=[1, 2, 200]), ValueError, "1..118"),
        (dict(energy_unit="furlong"), ValueError, "Unknown energy unit"),
        (dict(length_unit="parsec"), ValueError, "Unknown length unit"),
        (dict(cell=np.diag([1.0, 1.0, 0.0])), ValueError, "singular"),
        (dict(cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1.0]]), ValueError, "singular"),
        (dict(cell=np.eye(3)[None].repeat(4, 0)), ValueError, r"\(5, 3, 3\)"),
        (dict(cell=np.full((3, 3), np.inf)), ValueError, "cell contains"),
        (dict(pbc=True), ValueError, "pbc was given without a cell"),
        (dict(cell=np.eye(3), pbc=[True, False]), ValueError, "three bools"),
    ],
)
def test_bad_input(kw, exc, match):
    with pytest.raises(exc, match=match):
        make(**kw)


def test_units_are_required():
    with pytest.raises(TypeError, match="energy_unit"):
        Dataset(np.zeros((1, 2, 3)), [1, 1], length_unit="Ang")


# ---------------------------------------------------------------- indexing / sklearn

def test_indexing():
    ds = make(n=10, cell=CELL)
    one = ds[3]
    assert len(one) == 1 and np.array_equal(one.R[0], ds.R[3]) and one.cell.shape == (1, 3, 3)
    assert np.array_equal(ds[-1].E, ds.E[-1:])
    assert np.array_equal(ds[2:8:2].F, ds.F[2:8:2])
    assert np.array_equal(ds[np.array([7, 1])].E, ds.E[[7, 1]])
    mask = ds.E > 0
    assert np.array_equal(ds[mask].R, ds.R[mask])
    assert np.array_equal(ds.subset([0, 2]).R, ds[[0, 2]].R)
    assert ds[1:3].energy_unit == "kcal/mol" and ds[1:3].is_periodic
    with pytest.raises(IndexError, match="no samples"):
        ds[5:5]
    with pytest.raises(IndexError):
        ds[10]


def test_sklearn_compatibility():
    from sklearn.model_selection import KFold
    from sklearn.utils import _safe_indexing

    ds = make(n=10)
    sub = _safe_indexing(ds, np.array([1, 4, 5]))
    assert isinstance(sub, Dataset) and np.array_equal(sub.E, ds.E[[1, 4, 5]])
    folds = list(KFold(n_splits=5).split(ds))
    assert len(folds) == 5
    train, test = folds[0]
    assert len(ds[train]) == 8 and len(ds[test]) == 2


# ---------------------------------------------------------------- units, md5, atoms, concatenate

def test_to_units_round_trip_and_scaling():
    ds = make(cell=CELL)
    ev_bohr = ds.to_units("eV", "Bohr")
    assert (ev_bohr.energy_unit, ev_bohr.length_unit) == ("eV", "Bohr")
    np.testing.assert_allclose(ev_bohr.E, ds.E * KCAL)
    np.testing.assert_allclose(ev_bohr.R, ds.R / units.Bohr)
    np.testing.assert_allclose(ev_bohr.cell, ds.cell / units.Bohr)
    np.testing.assert_allclose(ev_bohr.F, ds.F * KCAL * units.Bohr)
    back = ev_bohr.to_units(energy_unit="kcal mol-1", length_unit="angstrom")
    for key in "REF":
        np.testing.assert_allclose(getattr(back, key), getattr(ds, key), rtol=1e-13)
    assert ds.to_units(length_unit="nm").energy_unit == "kcal/mol"
    with pytest.raises(ValueError, match="Unknown energy unit"):
        ds.to_units("erg")


def test_md5_matches_sgdml_file(shared_data):
    path = shared_data / "molecules/md17_ccsd_t/ethanol_ccsd_t-train.npz"
    ds = load_dataset(path, energy_unit="kcal/mol", length_unit="Ang")
    assert ds.md5() == np.load(path, allow_pickle=False)["md5"].item().decode()
    assert ds[:10].md5() != ds.md5()


def test_to_atoms_in_ev():
    ds = make(n=2, cell=CELL).to_units(length_unit="Bohr")
    atoms = ds.to_atoms()
    assert len(atoms) == 2
    np.testing.assert_allclose(atoms[1].get_potential_energy(), ds.E[1] * KCAL)
    np.testing.assert_allclose(atoms[1].get_forces(), ds.F[1] * KCAL / units.Bohr)
    np.testing.assert_allclose(atoms[0].positions, ds.R[0] * units.Bohr)
    np.testing.assert_allclose(atoms[0].cell.array, CELL, rtol=1e-12)
    assert atoms[0].pbc.all()
    bare = Dataset(np.zeros((1, 2, 3)) + [[0, 0, 0], [0, 0, 1]], [1, 1], energy_unit="eV", length_unit="Ang")
    assert bare.to_atoms()[0].calc is None and not bare.to_atoms()[0].pbc.any()


def test_concatenate():
    a, b = make(n=3, name="a"), make(n=4, seed=1, name="b")
    ab = Dataset.concatenate([a, b])
    assert len(ab) == 7 and np.array_equal(ab.E, np.r_[a.E, b.E]) and ab.name == "a + b"
    with pytest.raises(ValueError, match="same atoms"):
        Dataset.concatenate([a, make(z=[3, 2, 1])])
    with pytest.raises(ValueError, match="to_units"):
        Dataset.concatenate([a, b.to_units("eV")])
    with pytest.raises(ValueError, match="lacks E"):
        Dataset.concatenate([a, make(E=None)])
    with pytest.raises(ValueError, match="periodic"):
        Dataset.concatenate([a, make(cell=CELL)])
    with pytest.raises(ValueError, match="empty"):
        Dataset.concatenate([])
