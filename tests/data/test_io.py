"""Tests for gdmlkit.data.io: readers (sGDML/rMD17 npz, extended XYZ, periodic files), the writer and the
shipped examples."""

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from gdmlkit.data import example_path, load_dataset, load_example, save_dataset

from helpers import CELL, make


# ---------------------------------------------------------------- readers

def test_npz_without_units_needs_them(tmp_path, ethanol):
    """An sGDML npz without e_unit and r_unit (as the MD17 CCSD(T) files): units must be passed."""
    path = tmp_path / "no_units.npz"
    np.savez(path, R=ethanol.R[:5], z=ethanol.z, E=ethanol.E[:5, None], F=ethanol.F[:5])
    with pytest.raises(ValueError, match="declares no energy unit .* and no length unit.*kcal/mol and Ang"):
        load_dataset(path)
    with pytest.raises(ValueError, match=r"no length unit \(key r_unit\)"):
        load_dataset(path, energy_unit="eV")
    ds = load_dataset(path, energy_unit="eV", length_unit="Ang")
    assert (ds.energy_unit, ds.length_unit) == ("eV", "Ang")
    for key in "zREF":
        np.testing.assert_array_equal(getattr(ds, key), getattr(ethanol[:5], key))


def test_sgdml_npz_without_units(shared_data):
    """The MD17 CCSD(T) file itself (not shipped): no unit keys, its name, theory and energies."""
    path = shared_data / "molecules/md17_ccsd_t/ethanol_ccsd_t-train.npz"
    with pytest.raises(ValueError, match="declares no energy unit .* and no length unit.*kcal/mol and Ang"):
        load_dataset(path)
    with pytest.raises(ValueError, match=r"no length unit \(key r_unit\)"):
        load_dataset(path, energy_unit="kcal/mol")
    ds = load_dataset(path, energy_unit="kcal/mol", length_unit="Ang")
    assert ds.shape == (1000, 9, 3) and ds.z.tolist() == [6, 6, 8, 1, 1, 1, 1, 1, 1]
    assert ds.name == "ethanol_ccsd" and ds.theory == "Psi4: CCSD(T), cc-pVTZ"
    assert -97096 < ds.E.min() < ds.E.max() < -97064


def test_declared_units_conflict():
    path = example_path("ethanol_train")  # declares eV and Ang
    with pytest.raises(ValueError, match="declares its energy unit as 'eV'.*to_units"):
        load_dataset(path, energy_unit="kcal/mol")
    ds = load_dataset(path, energy_unit="ev", length_unit="Angstrom")  # aliases of the declared units
    assert (ds.energy_unit, ds.length_unit) == ("eV", "Ang")


def test_extxyz_matches_npz(shared_data, ethanol):
    xyz = load_dataset(shared_data / "molecules/botnet_ethanol/train.xyz")
    assert (xyz.energy_unit, xyz.length_unit, xyz.is_periodic) == ("eV", "Ang", False)  # pbc F F F
    for key in "zREF":
        np.testing.assert_array_equal(getattr(xyz, key), getattr(ethanol, key))
    assert ethanol.name == "ethanol rMD17 train (BOTNet-datasets)"


def test_rmd17_extxyz_in_kcal(shared_data):
    folder = shared_data / "molecules/rmd17"
    xyz = load_dataset(folder / "ethanol_reduced_100.xyz", energy_unit="kcal/mol")
    npz = load_dataset(folder / "ethanol_reduced_100.npz")
    assert xyz.energy_unit == npz.energy_unit == "kcal/mol"
    np.testing.assert_array_equal(xyz.E, npz.E)
    np.testing.assert_array_equal(xyz.F, npz.F)
    assert xyz.z.tolist() == [1] * 6 + [6, 6, 8]


def test_index_argument(ethanol):
    path = example_path("ethanol_train")
    assert np.array_equal(load_dataset(path, index="10:20").E, ethanol.E[10:20])
    assert np.array_equal(load_dataset(path, index=-1).E, ethanol.E[-1:])


def test_index_argument_extxyz(shared_data, ethanol):
    xyz = shared_data / "molecules/botnet_ethanol/train.xyz"
    assert np.array_equal(load_dataset(xyz, index=-1).E, ethanol.E[-1:])


def test_periodic_npz_lattice_columns(shared_data):
    path = next((shared_data / "periodic/mlearn/Si").glob("*aimd*.npz"))
    ds = load_dataset(path)
    lattice = np.load(path, allow_pickle=False)["lattice"]
    assert ds.is_periodic and ds.shape == (90, 64, 3)
    np.testing.assert_array_equal(ds.cell[0], lattice.T)
    frac = np.einsum("sai,sij->saj", ds.R, np.linalg.inv(ds.cell))
    assert frac.min() > -0.01 and frac.max() < 1.01


def test_sgdml_lattice_is_transposed(tmp_path):
    rng = np.random.default_rng(0)
    R = rng.uniform(size=(4, 3, 3)) @ CELL  # fractional @ rows
    np.savez(tmp_path / "p.npz", R=R, z=[14, 14, 14], E=np.zeros((4, 1)), F=np.zeros((4, 3, 3)),
             lattice=CELL.T, r_unit="Ang", e_unit="eV")
    ds = load_dataset(tmp_path / "p.npz")
    np.testing.assert_array_equal(ds.cell[0], CELL)
    frac = ds.R @ np.linalg.inv(ds.cell[0])
    assert frac.min() >= 0 and frac.max() <= 1


def test_periodic_extxyz_force_array(shared_data):
    path = shared_data / "periodic/carbon_gap17/carbon_reduced_100.xyz"
    ds = load_dataset(path)
    assert ds.shape == (100, 4, 3) and ds.is_periodic and ds.pbc.all()
    np.testing.assert_allclose(ds.cell[0], [[2.321189, 0, 0], [-1.155982, 1.986034, 0],
                                            [-0.37381, -0.001243, 6.457295]])
    first = ase.io.read(path, 0)
    np.testing.assert_array_equal(ds.F[0], first.arrays["force"])
    assert ds.E[0] == pytest.approx(-632.106478)
    assert np.abs(ds.F.sum(axis=1)).max() < 1e-5


def test_rmd17_npz_layout(tmp_path, ethanol):
    np.savez(tmp_path / "rmd17_ethanol.npz", coords=ethanol.R[:5], nuclear_charges=ethanol.z,
             energies=ethanol.E[:5], forces=ethanol.F[:5], old_indices=np.arange(5))
    ds = load_dataset(tmp_path / "rmd17_ethanol.npz")
    assert (ds.energy_unit, ds.length_unit) == ("kcal/mol", "Ang")
    np.testing.assert_array_equal(ds.F, ethanol.F[:5])
    assert load_dataset(tmp_path / "rmd17_ethanol.npz", energy_unit="eV").energy_unit == "eV"


def test_unknown_npz_and_missing_file(tmp_path):
    np.savez(tmp_path / "odd.npz", positions=np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"keys found: \['positions'\].*sGDML.*revised-MD17"):
        load_dataset(tmp_path / "odd.npz")
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_dataset(tmp_path / "nope.npz")


def test_extxyz_frames_must_match(tmp_path):
    frames = [Atoms("H2O", positions=np.eye(3)), Atoms("H2O", positions=2 * np.eye(3)),
              Atoms("OH2", positions=np.eye(3))]
    for atoms in frames:
        atoms.calc = SinglePointCalculator(atoms, energy=1.0)
    ase.io.write(tmp_path / "mixed.xyz", frames)
    with pytest.raises(ValueError, match="frame 2 .*same atoms in the same order"):
        load_dataset(tmp_path / "mixed.xyz")
    ok = load_dataset(tmp_path / "mixed.xyz", index=":2")
    assert ok.E.tolist() == [1.0, 1.0] and ok.F is None
    frames[1].calc = None
    ase.io.write(tmp_path / "partial.xyz", frames[:2])
    with pytest.raises(ValueError, match="frame 1 has no energy"):
        load_dataset(tmp_path / "partial.xyz")


def test_periodic_readers(shared_data):
    npz = shared_data / "periodic/mlearn/Si/Si_training_aimd_nvt_0_64atoms.npz"
    xyz = shared_data / "periodic/mlearn/Si/training.extxyz"
    if not (npz.exists() and xyz.exists()):
        pytest.skip("mlearn Si files not found")
    ds = load_dataset(npz)
    with np.load(npz) as f:
        np.testing.assert_array_equal(ds.cell[0], f["lattice"].T)
    assert ds.is_periodic and ds.cell.shape == (len(ds), 3, 3)
    frames = load_dataset(xyz, index="0:3")
    assert frames.is_periodic and frames.pbc.all() and frames.cell.shape == (3, 3, 3)


# ---------------------------------------------------------------- writer

def test_save_load_round_trip(tmp_path):
    ds = make(n=6, cell=CELL, name="toy", theory="none")
    path = save_dataset(ds, tmp_path / "toy.npz")
    raw = np.load(path, allow_pickle=False)
    assert raw["E"].shape == (6, 1) and raw["type"].item() == "d" and raw["md5"].item() == ds.md5()
    np.testing.assert_array_equal(raw["lattice"], CELL.T)
    back = load_dataset(path)
    for key in ("R", "z", "E", "F", "cell", "pbc"):
        np.testing.assert_array_equal(getattr(back, key), getattr(ds, key))
    assert (back.name, back.theory, back.energy_unit, back.length_unit) == ("toy", "none", "kcal/mol", "Ang")
    assert back.md5() == ds.md5()


def test_save_varying_cells(tmp_path, shared_data):
    carbon = load_dataset(shared_data / "periodic/carbon_gap17/carbon_reduced_100.xyz")[:10]
    back = load_dataset(save_dataset(carbon, tmp_path / "c.npz"))
    np.testing.assert_array_equal(back.cell, carbon.cell)
    assert "lattice" not in np.load(tmp_path / "c.npz").files


def test_save_positions_only(tmp_path):
    bare = make(E=None, F=None)
    back = load_dataset(save_dataset(bare, tmp_path / "bare.npz"))
    assert back.E is None and back.F is None and np.array_equal(back.R, bare.R)


@pytest.mark.sgdml
def test_saved_md5_matches_sgdml(tmp_path, ethanol):
    sgdml_io = pytest.importorskip("sgdml.utils.io")
    save_dataset(ethanol[:50], tmp_path / "e.npz")
    data = dict(np.load(tmp_path / "e.npz", allow_pickle=False))
    assert sgdml_io.dataset_md5(data).decode() == data["md5"].item()


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    old = make(n=3)
    save_dataset(old, path)

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="disk full"):
        save_dataset(make(n=4, seed=1), path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]
    assert load_dataset(path).md5() == old.md5()


# ---------------------------------------------------------------- shipped examples

@pytest.mark.parametrize("name", ["ethanol_train", "ethanol_test"])
def test_load_example(name):
    ds = load_example(name)
    assert ds.shape == (1000, 9, 3) and (ds.energy_unit, ds.length_unit) == ("eV", "Ang")
    assert "PBE/def2-SVP" in ds.theory and ds.F is not None


def test_example_matches_source(shared_data):
    source = load_dataset(shared_data / "molecules/botnet_ethanol/train.npz")
    assert load_example("ethanol_train").md5() == source.md5()
    test_md = load_dataset(shared_data / "molecules/botnet_ethanol/test_MD.npz")[:1000]
    assert load_example("ethanol_test").md5() == test_md.md5()


def test_unknown_example():
    with pytest.raises(ValueError, match="ethanol_test"):
        load_example("benzene")
    with pytest.raises(ValueError, match="pdh_emt"):
        example_path("benzene")


def test_example_path_gives_the_file_load_example_reads():
    path = example_path("pdh_emt")
    with np.load(path) as f:
        ideal = f["R_ideal"]
    ds = load_example("pdh_emt")
    assert ideal.shape == (ds.n_atoms, 3) and np.allclose(ds.R[0], ideal, atol=1.0)
