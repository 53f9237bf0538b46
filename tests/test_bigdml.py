"""BIGDML: minimum image, spglib symmetries, the periodic estimator and calculator.

References: brute-force image search and ASE's get_distances for the minimum image,
spglib for the space groups, the crystal itself (every operation must map it onto
itself), finite differences for the Jacobian and the forces, and the symmetry
operations for invariance/equivariance (with a control model without symmetries
that must fail the same check).
"""

import itertools

import numpy as np
import pytest
import spglib
import torch
from ase.build import bulk, graphene
from ase.calculators.calculator import PropertyNotImplementedError
from ase.geometry import get_distances

from gdmlkit import BIGDMLRegressor, Dataset, GDMLCalculator, find_spacegroup_symmetry, load_dataset, load_model
from gdmlkit.descriptors import PeriodicInverseDistanceDescriptor, pair_indices

from conftest import emt_bcc_cu

SKEWED = np.array([[9.0, 0.0, 0.0], [7.5, 4.0, 0.0], [2.0, 3.0, 8.5]])


def _crystal_in_cell(cell, n_per_axis=4, noise=0.3, seed=0):
    """A jittered grid of n^3 atoms filling `cell` (so every atom has close neighbours)."""
    rng = np.random.default_rng(seed)
    f = (np.stack(np.meshgrid(*[np.arange(n_per_axis)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) / n_per_axis
    return f @ cell + rng.normal(scale=noise, size=(len(f), 3))


# ------------------------------------------------------------------ minimum image
def test_minimum_image_in_a_skewed_cell_matches_brute_force_and_ase():
    R = _crystal_in_cell(SKEWED)
    R[::5] += 3 * SKEWED[1] - 2 * SKEWED[2]  # some atoms far outside the cell
    desc = PeriodicInverseDistanceDescriptor(len(R), SKEWED)
    x, _ = desc.transform(torch.from_numpy(R[None]))
    a, b = pair_indices(len(R))
    shifts = np.array(list(itertools.product(range(-4, 5), repeat=3))) @ SKEWED
    brute = np.linalg.norm(R[a, None, :] - R[b, None, :] + shifts[None], axis=-1).min(1)
    np.testing.assert_allclose(1.0 / x[0].numpy(), brute, rtol=1e-12)
    ase_d = get_distances(R, cell=SKEWED, pbc=True)[1][a, b]
    np.testing.assert_allclose(1.0 / x[0].numpy(), ase_d, rtol=1e-12)
    # a naive wrap in the unreduced skewed cell would be wrong for some pairs
    frac = (R[a] - R[b]) @ np.linalg.inv(SKEWED)
    naive = np.linalg.norm((frac - np.round(frac)) @ SKEWED, axis=1)
    assert np.any(naive > brute + 1e-6)


def test_slab_is_not_wrapped_along_its_non_periodic_direction():
    cell = np.diag([8.0, 8.0, 6.0])
    R = _crystal_in_cell(np.diag([8.0, 8.0, 4.0]), noise=0.1)
    desc = PeriodicInverseDistanceDescriptor(len(R), cell, pbc=[True, True, False])
    x, _ = desc.transform(torch.from_numpy(R[None]))
    a, b = pair_indices(len(R))
    np.testing.assert_allclose(1.0 / x[0].numpy(), get_distances(R, cell=cell, pbc=[1, 1, 0])[1][a, b], rtol=1e-12)


def test_periodic_jacobian_is_finite_difference_of_descriptor():
    R = _crystal_in_cell(SKEWED, n_per_axis=3, noise=0.2)
    desc = PeriodicInverseDistanceDescriptor(len(R), SKEWED)
    Rt = torch.from_numpy(R[None])
    _, g = desc.transform(Rt)
    J = desc.jacobian(g)[0].numpy()
    h = 1e-6
    for k in np.random.default_rng(1).choice(R.size, 8, replace=False):
        Rp, Rm = R.copy().reshape(-1), R.copy().reshape(-1)
        Rp[k] += h
        Rm[k] -= h
        xp = desc.transform(torch.from_numpy(Rp.reshape(1, -1, 3)))[0][0].numpy()
        xm = desc.transform(torch.from_numpy(Rm.reshape(1, -1, 3)))[0][0].numpy()
        np.testing.assert_allclose(J[:, k], (xp - xm) / (2 * h), atol=1e-7)


def test_cell_too_small_for_a_unique_minimum_image():
    si = bulk("Si", "diamond", a=5.43)  # 2-atom primitive cell: nearest neighbours 2.35 A, half cell 1.92 A
    desc = PeriodicInverseDistanceDescriptor(2, si.cell.array)
    with pytest.raises(ValueError, match="too small for a unique minimum image"):
        desc.transform(torch.from_numpy(si.positions[None]))
    with pytest.raises(ValueError, match="singular"):
        PeriodicInverseDistanceDescriptor(2, np.ones((3, 3)))
    with pytest.raises(ValueError, match="pbc is False"):
        PeriodicInverseDistanceDescriptor(2, np.eye(3), pbc=False)


# ------------------------------------------------------------------ space groups
STRUCTURES = {
    "fcc Pd": (lambda: bulk("Pd", "fcc", a=3.89, cubic=True).repeat(2), 225, 32, 48),
    "bcc Mo": (lambda: bulk("Mo", "bcc", a=3.15, cubic=True).repeat(2), 229, 16, 48),
    "diamond Si": (lambda: bulk("Si", "diamond", a=5.43, cubic=True).repeat(2), 227, 32, 48),
    "graphene": (lambda: graphene(a=2.46, vacuum=7.5).repeat((3, 3, 1)), 191, 9, 24),
}


def _mic_distances(atoms):
    return get_distances(atoms.positions, cell=atoms.cell, pbc=atoms.pbc)[1]


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_spacegroup_permutations_match_spglib_and_map_the_crystal_onto_itself(name):
    build, number, n_transl, n_point = STRUCTURES[name]
    atoms = build()
    sym = find_spacegroup_symmetry(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc)
    ref = spglib.get_symmetry_dataset((atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers))
    assert sym.number == ref.number == number
    assert sym.n_operations == len(ref.rotations) == n_transl * n_point
    assert sym.n_translations == n_transl
    assert np.array_equal(sym.perms[0], np.arange(len(atoms)))
    assert len(np.unique(sym.perms, axis=0)) == sym.size
    D = _mic_distances(atoms)
    for p in sym.perms:
        np.testing.assert_allclose(D[p][:, p], D, atol=1e-9)
    # each operation, atoms relabelled by its permutation, puts every atom on its own site (modulo the
    # lattice; along graphene's vacuum direction the mirror plane moves all atoms by the same c vector)
    R = atoms.positions
    moved = np.stack([(R @ M + t)[p] for p, M, t in
                      zip(sym.perms, sym.cartesian_rotations(), sym.translations @ atoms.cell.array)])
    frac = (moved - R) @ np.linalg.inv(atoms.cell.array)
    assert np.abs((frac - np.round(frac)) @ atoms.cell.array).max() < 1e-8
    # a group: closed under composition
    rows = {tuple(p) for p in sym.perms}
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, sym.size, size=(200, 2)):
        assert tuple(sym.perms[i][sym.perms[j]]) in rows


def test_graphene_mirror_plane_acts_as_the_identity():
    atoms = graphene(a=2.46, vacuum=7.5).repeat((3, 3, 1))
    sym = find_spacegroup_symmetry(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc)
    assert sym.size == sym.n_operations // 2  # sigma_h moves no atom off its site


def test_subgroups_are_closed_and_sized():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
    sym = find_spacegroup_symmetry(atoms.positions, atoms.numbers, atoms.cell.array)
    assert sym.subgroup("translations").size == 32
    assert sym.subgroup("site").size == 24  # Td site symmetry of diamond
    for kind in ("translations", "site"):
        sub = sym.subgroup(kind).perms
        rows = {tuple(p) for p in sub}
        assert all(tuple(p[q]) in rows for p in sub[:10] for q in sub)
    with pytest.raises(ValueError, match="Unknown subgroup"):
        sym.subgroup("point")


# ------------------------------------------------------------------ the estimator
@pytest.fixture(scope="module")
def bcc_cu():
    """16-atom bcc Cu supercell (space group of 768 operations) with EMT labels, eV and Å."""
    atoms, R, E, F = emt_bcc_cu(8)
    ds = Dataset(R, atoms.numbers, E, F, energy_unit="eV", length_unit="Ang", cell=atoms.cell.array, pbc=True)
    return atoms, ds


@pytest.fixture(scope="module")
def models(bcc_cu):
    atoms, ds = bcc_cu
    sym = BIGDMLRegressor(sigma=0.5, perms="full", reference=atoms.positions, max_perms=1000).fit(ds[:5])
    plain = BIGDMLRegressor(sigma=0.5, perms="none").fit(ds[:5])
    return sym, plain


def test_pcg_with_the_periodic_operator_gives_the_closed_form_model(bcc_cu):
    atoms, ds = bcc_cu
    kw = dict(sigma=0.5, lam=1e-6, perms="full", reference=atoms.positions, max_perms=1000)
    exact = BIGDMLRegressor(solver="cholesky", **kw).fit(ds[:5])
    it = BIGDMLRegressor(solver="pcg", preconditioner="cholesky", n_inducing=60, tol=1e-10, **kw).fit(ds[:5])
    assert it.solve_info_["solver"] == "pcg" and it.solve_info_["converged"]
    assert it.solve_info_["size"] == 5 * (16 * 3 - 3)  # only the 3 translations are rigid motions in a cell
    E1, F1 = exact.predict(ds.R[5:])
    E2, F2 = it.predict(ds.R[5:])
    np.testing.assert_allclose(F2, F1, atol=1e-6 * np.abs(F1).max())
    np.testing.assert_allclose(E2, E1, atol=1e-6 * np.ptp(E1) + 1e-9)


def test_symmetry_report(models):
    sym, plain = models
    assert sym.symmetry_["international"] == "Im-3m"
    assert sym.symmetry_["group_size"] == sym.symmetry_["n_perms"] == len(sym.perms_) == 768
    assert sym.symmetry_["n_translations"] == 16 and sym.symmetry_["n_point_operations"] == 48
    assert plain.symmetry_["n_perms"] == 1


def test_invariant_and_equivariant_under_every_space_group_operation(models, bcc_cu):
    atoms, ds = bcc_cu
    sym_model, plain = models
    group = find_spacegroup_symmetry(atoms.positions, atoms.numbers, atoms.cell.array)
    R = ds.R[6]
    moved = np.stack([(R @ M + t)[p] for p, M, t in
                      zip(group.perms, group.cartesian_rotations(), group.translations @ atoms.cell.array)])
    E0, F0 = sym_model.predict(R[None])
    E, F = sym_model.predict(moved)
    F_expected = np.stack([(F0[0] @ M)[p] for p, M in zip(group.perms, group.cartesian_rotations())])
    np.testing.assert_allclose(E, E0[0], rtol=0, atol=1e-9 * abs(E0[0]))
    np.testing.assert_allclose(F, F_expected, rtol=0, atol=1e-8)
    # control: the minimum-image-only model is not symmetric, so the check above can fail
    Ep, Fp = plain.predict(moved)
    assert np.ptp(Ep) > 1e-4
    # lattice translations of all atoms, and any rigid shift, change nothing
    shifted = np.stack([R + n @ atoms.cell.array for n in ([1, 0, 0], [-2, 3, 1])] + [R + [0.3, -1.7, 2.2]])
    E2, F2 = sym_model.predict(shifted)
    np.testing.assert_allclose(E2, E0[0], rtol=0, atol=1e-9 * abs(E0[0]))
    np.testing.assert_allclose(F2, np.broadcast_to(F0, F2.shape), atol=1e-9)


def test_forces_are_minus_energy_gradient_across_the_boundary(models, bcc_cu):
    atoms, ds = bcc_cu
    model = models[0]
    R = ds.R[7] - 0.5 * atoms.positions[1]  # puts atoms on both sides of the cell faces
    _, F = model.predict(R[None])
    h = 1e-5
    for k in [0, 5, 13, 22, 47]:
        Rp, Rm = R.copy().reshape(-1), R.copy().reshape(-1)
        Rp[k] += h
        Rm[k] -= h
        Ep, _ = model.predict(Rp.reshape(1, -1, 3))
        Em, _ = model.predict(Rm.reshape(1, -1, 3))
        np.testing.assert_allclose(-(Ep[0] - Em[0]) / (2 * h), F.reshape(-1)[k], atol=2e-6)


def test_symmetrisation_lowers_the_test_error(models, bcc_cu):
    _, ds = bcc_cu
    errs = [np.abs(m.predict(ds[5:])[1] - ds.F[5:]).mean() for m in models]
    assert errs[0] < 0.7 * errs[1]


def test_save_load_roundtrip(models, bcc_cu, tmp_path):
    _, ds = bcc_cu
    model = models[0]
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert type(loaded) is BIGDMLRegressor
    assert loaded.symmetry_ == model.symmetry_
    np.testing.assert_array_equal(loaded.cell_, model.cell_)
    E, F = model.predict(ds[5:])
    E2, F2 = loaded.predict(ds[5:])
    np.testing.assert_array_equal(E, E2)
    np.testing.assert_array_equal(F, F2)


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


def test_bad_input(models, bcc_cu):
    atoms, ds = bcc_cu
    model = models[0]
    molecule = Dataset(ds.R, ds.z, ds.E, ds.F, energy_unit="eV", length_unit="Ang")
    with pytest.raises(ValueError, match="has no cell"):
        BIGDMLRegressor().fit(molecule)
    with pytest.raises(ValueError, match="cell .3, 3. is required"):
        BIGDMLRegressor().fit(ds.R, ds.F, z=ds.z)
    varying = Dataset(ds.R, ds.z, ds.E, ds.F, energy_unit="eV", length_unit="Ang",
                      cell=np.stack([atoms.cell.array * (1 + 0.01 * i) for i in range(len(ds))]))
    with pytest.raises(ValueError, match="cell changes between geometries"):
        BIGDMLRegressor().fit(varying)
    small = bulk("Cu", "bcc", a=2.9, cubic=True)
    tiny = Dataset(np.repeat(small.positions[None], 3, 0) + 0.01 * np.arange(3)[:, None, None], small.numbers,
                   F=np.zeros((3, 2, 3)), energy_unit="eV", length_unit="Ang", cell=small.cell.array)
    with pytest.raises(ValueError, match="too small"):
        BIGDMLRegressor(perms="none").fit(tiny)
    with pytest.raises(ValueError, match="perms='point'"):
        BIGDMLRegressor(perms="point").fit(ds)
    with pytest.raises(ValueError, match="Unknown solver 'lu'"):
        BIGDMLRegressor(solver="lu").fit(ds)
    with pytest.raises(ValueError, match="atoms per geometry"):
        model.predict(ds.R[:, :10])
    with pytest.raises(ValueError, match="differs from the model's"):
        model.predict(Dataset(ds.R, ds.z, energy_unit="eV", length_unit="Ang", cell=atoms.cell.array * 1.1))


def test_periodic_data_is_refused_where_the_cell_would_be_ignored(bcc_cu, tmp_path):
    from gdmlkit import GDMLRegressor, save_dataset, select_sigma
    from gdmlkit.cli import main

    _, ds = bcc_cu
    with pytest.raises(ValueError, match="Use BIGDMLRegressor"):
        GDMLRegressor().fit(ds)
    with pytest.raises(TypeError, match="periodic estimators"):
        select_sigma(BIGDMLRegressor(), ds, sigmas=[1.0])
    path = save_dataset(ds, tmp_path / "cu.npz")
    assert main(["train", str(path), "--n-train", "4", "--n-test", "2"]) == 2  # --sigma auto refused
    assert main(["train", str(path), "--n-train", "4", "--n-test", "2", "--sigma", "0.5", "--perms", "none",
                 "-o", str(tmp_path / "m.npz")]) == 0
    assert type(load_model(tmp_path / "m.npz")) is BIGDMLRegressor


def test_cli_trains_bigdml_with_a_reference_structure(capsys):
    from gdmlkit.cli import main
    from gdmlkit.data import example_path

    path = str(example_path("pdh_emt"))
    assert main(["train", path, "--n-train", "5", "--n-test", "5", "--sigma", "3.2", "--reference", path]) == 0
    assert "with 48 permutations" in capsys.readouterr().out  # Pm-3m of the ideal PdH supercell
    assert main(["train", str(example_path("ethanol_train")), "--n-train", "5", "--sigma", "10",
                 "--reference", path]) == 2  # molecules have no space group: a clear error, exit code 2


def test_auto_falls_back_to_a_subgroup_with_a_warning(bcc_cu):
    from gdmlkit.exceptions import PerformanceWarning

    atoms, ds = bcc_cu
    with pytest.warns(PerformanceWarning, match="subgroup 'site'"):
        model = BIGDMLRegressor(sigma=0.5, reference=atoms.positions, max_perms=100).fit(ds[:3])
    assert model.symmetry_["used"] == "site" and model.symmetry_["n_perms"] == 48


def test_thermal_reference_warns_about_p1(bcc_cu):
    _, ds = bcc_cu
    with pytest.warns(UserWarning, match="P1"):
        BIGDMLRegressor(sigma=0.5).fit(ds[:3])


# ------------------------------------------------------------------ data
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
