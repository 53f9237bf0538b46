"""Tests for gdmlkit.data: Dataset, readers/writers, shipped examples and splits."""

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator

from gdmlkit.data import Dataset, example_path, load_dataset, load_example, save_dataset, train_test_split

KCAL = units.kcal / units.mol  # kcal/mol in eV


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def shared_data():
    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"reference data folder {path} not available")
    return path


@pytest.fixture(scope="session")
def ethanol(shared_data):
    return load_dataset(shared_data / "molecules/botnet_ethanol/train.npz")


def make(n=5, n_atoms=3, seed=0, **kw):
    rng = np.random.default_rng(seed)
    args = dict(
        R=rng.normal(size=(n, n_atoms, 3)) * 2,
        z=np.arange(1, n_atoms + 1),
        E=rng.normal(size=n),
        F=rng.normal(size=(n, n_atoms, 3)),
        energy_unit="kcal/mol",
        length_unit="Ang",
    )
    args.update(kw)
    return Dataset(**args)


CELL = np.array([[5.0, 0.0, 0.0], [1.0, 6.0, 0.0], [0.5, 0.3, 7.0]])  # rows, not symmetric


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


# ---------------------------------------------------------------- readers

def test_sgdml_npz_without_units(shared_data):
    path = shared_data / "molecules/md17_ccsd_t/ethanol_ccsd_t-train.npz"
    with pytest.raises(ValueError, match="declares no energy unit .* and no length unit.*kcal/mol and Ang"):
        load_dataset(path)
    with pytest.raises(ValueError, match=r"no length unit \(key r_unit\)"):
        load_dataset(path, energy_unit="kcal/mol")
    ds = load_dataset(path, energy_unit="kcal/mol", length_unit="Ang")
    assert ds.shape == (1000, 9, 3) and ds.z.tolist() == [6, 6, 8, 1, 1, 1, 1, 1, 1]
    assert ds.name == "ethanol_ccsd" and ds.theory == "Psi4: CCSD(T), cc-pVTZ"
    assert -97096 < ds.E.min() < ds.E.max() < -97064


def test_declared_units_conflict(shared_data):
    path = shared_data / "molecules/botnet_ethanol/train.npz"
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


def test_index_argument(shared_data):
    folder = shared_data / "molecules/botnet_ethanol"
    full = load_dataset(folder / "train.npz")
    assert np.array_equal(load_dataset(folder / "train.npz", index="10:20").E, full.E[10:20])
    assert np.array_equal(load_dataset(folder / "train.xyz", index=-1).E, full.E[-1:])


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


def test_save_varying_cells_and_positions_only(tmp_path, shared_data):
    carbon = load_dataset(shared_data / "periodic/carbon_gap17/carbon_reduced_100.xyz")[:10]
    back = load_dataset(save_dataset(carbon, tmp_path / "c.npz"))
    np.testing.assert_array_equal(back.cell, carbon.cell)
    assert "lattice" not in np.load(tmp_path / "c.npz").files
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


def test_example_matches_source(shared_data, ethanol):
    assert load_example("ethanol_train").md5() == ethanol.md5()
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


# ---------------------------------------------------------------- splits

def test_split_random_disjoint_reproducible():
    train, valid, test = train_test_split(100, 50, 20, 10, random_state=3)
    assert (len(train), len(valid), len(test)) == (50, 10, 20)
    assert len(np.unique(np.r_[train, valid, test])) == 80
    again = train_test_split(100, 50, 20, 10, random_state=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, valid, test), again))
    other = train_test_split(100, 50, 20, 10, random_state=4)
    assert not np.array_equal(train, other[0])
    train, valid, test = train_test_split(make(n=10), 6)
    assert len(valid) == 0 and sorted(np.r_[train, test].tolist()) == list(range(10))


@pytest.mark.parametrize(
    "args, kw, match",
    [
        ((100, 80, 30), {}, r"80 \+ 0 \+ 30 = 110 exceeds the 100 samples"),
        ((100, 90), dict(n_valid=20), r"90 \+ 20 \+ 0 = 110"),
        ((100, 0), {}, "n_train == 0, must be >= 1"),
        ((100, 10), dict(strategy="sorted"), "strategy"),
        ((100, 10), dict(strategy="energy"), "only a sample count"),
    ],
)
def test_split_bad_sizes(args, kw, match):
    with pytest.raises(ValueError, match=match):
        train_test_split(*args, **kw)


def test_split_energy_needs_energies():
    with pytest.raises(ValueError, match="E is None"):
        train_test_split(make(n=10, E=None), 3, strategy="energy")


def test_split_energy_stratified(ethanol):
    n, order = 20, np.argsort(ethanol.E)
    lowest, highest = set(order[:50].tolist()), set(order[-50:].tolist())  # bottom/top 1/n of energies
    grid = np.quantile(ethanol.E, np.linspace(0, 1, 101))
    cdf_full = np.searchsorted(np.sort(ethanol.E), grid, side="right") / len(ethanol)

    def ks(idx):
        return np.abs(np.searchsorted(np.sort(ethanol.E[idx]), grid, side="right") / len(idx) - cdf_full).max()

    ks_strat, ks_rand = [], []
    for seed in range(20):
        train, valid, test = train_test_split(ethanol, n, 100, n_valid=10, strategy="energy", random_state=seed)
        assert len(np.unique(np.r_[train, valid, test])) == n + 110
        assert lowest & set(train.tolist()) and highest & set(train.tolist())
        ks_strat.append(ks(train))
        ks_rand.append(ks(train_test_split(ethanol, n, random_state=seed)[0]))
    assert np.mean(ks_strat) < 0.5 * np.mean(ks_rand)
    again = train_test_split(ethanol, n, 100, n_valid=10, strategy="energy", random_state=0)
    assert np.array_equal(again[0], train_test_split(ethanol, n, 100, n_valid=10, strategy="energy",
                                                     random_state=0)[0])
