"""BIGDMLRegressor: the periodic estimator against its closed form, symmetry report, space-group invariance
and equivariance (with a control model without symmetries that must fail the same check), finite-difference
forces, persistence and bad input. Fixtures bcc_cu and models are in conftest.py."""

import numpy as np
import pytest
from ase.build import bulk

from gdmlkit import BIGDMLRegressor, Dataset, find_spacegroup_symmetry, load_model


def test_pcg_with_the_periodic_operator_gives_the_closed_form_model(bcc_cu):
    atoms, ds = bcc_cu
    kw = dict(sigma=0.5, lam=1e-6, perms="full", reference=atoms.positions, use_E_cstr=False)
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


def test_periodic_data_is_refused_where_the_cell_would_be_ignored(bcc_cu):
    from gdmlkit import GDMLRegressor, select_sigma

    _, ds = bcc_cu
    with pytest.raises(ValueError, match="Use BIGDMLRegressor"):
        GDMLRegressor().fit(ds)
    with pytest.raises(ValueError, match="Use BIGDMLRegressor"):
        select_sigma(GDMLRegressor(), ds, sigmas=[1.0])
    with pytest.raises(ValueError, match="pass a Dataset with its cell"):
        select_sigma(BIGDMLRegressor(), ds.R, ds.F, z=ds.z, sigmas=[1.0])


def test_select_sigma_cross_validates_periodic_data_in_its_cell(bcc_cu, tmp_path):
    """Each fold is a BIGDML fit in the dataset's cell with the group found once on all the data: the fold
    errors equal fits made by hand on the same folds; the refit model reports its symmetry."""
    from gdmlkit import save_dataset, select_sigma
    from gdmlkit.cli import main

    atoms, ds = bcc_cu
    est = BIGDMLRegressor(perms="translations")
    res = select_sigma(est, ds, sigmas=[0.3, 1.0], cv=2, random_state=3, progress=False)
    assert res.best_estimator.symmetry_["n_perms"] == 16 and res.best_estimator.symmetry_["used"] == "translations"
    np.testing.assert_array_equal(res.best_estimator.cell_, atoms.cell.array)
    folds = np.array_split(np.random.default_rng(3).permutation(len(ds)), 2)
    perms = res.best_estimator.perms_
    for i, sigma in enumerate([0.3, 1.0]):
        for k in range(2):
            tr, val = folds[1 - k], folds[k]
            model = BIGDMLRegressor(sigma=sigma, perms=perms).fit(ds[tr])
            np.testing.assert_array_equal(model.cell_, atoms.cell.array)
            _, F = model.predict(ds[val])
            assert res.force_mae[i, k] == pytest.approx(np.abs(F - ds.F[val]).mean(), rel=1e-12)
    assert res.best_sigma == [0.3, 1.0][int(np.argmin(res.force_mae.mean(1)))]
    path = save_dataset(ds, tmp_path / "cu.npz")
    assert main(["train", str(path), "--n-train", "6", "--n-test", "2", "--sigmas", "0.3,1", "--cv", "2",
                 "--perms", "none", "-o", str(tmp_path / "m.npz")]) == 0
    assert type(load_model(tmp_path / "m.npz")) is BIGDMLRegressor


def test_reference_found_from_thermal_frames_and_the_model_is_invariant_under_its_group(bcc_cu):
    """Default BIGDMLRegressor() on thermal snapshots: the reference comes from the frames, its group is the
    ideal crystal's (spglib on the ideal positions), and predictions are invariant/equivariant under it."""
    from gdmlkit.exceptions import PerformanceWarning
    from gdmlkit.symmetry import find_reference

    atoms, ds = bcc_cu
    with pytest.warns(PerformanceWarning, match="768 operations"):
        model = BIGDMLRegressor(sigma=0.5).fit(ds[:5])
    sym = model.symmetry_
    assert sym["international"] == "Im-3m" and sym["n_perms"] == 768 and sym["reference_frames"] == 5
    assert sym["reference"] == "mean of 5 of 5 training frames" and sym["max_site_deviation"] < 0.2
    truth = find_spacegroup_symmetry(atoms.positions, atoms.numbers, atoms.cell.array)
    assert np.array_equal(np.unique(model.perms_, axis=0), np.unique(truth.perms, axis=0))
    group = find_reference(ds.R[:5], ds.z, atoms.cell.array).group
    R = ds.R[6]
    M, t = group.cartesian_rotations(), group.translations @ atoms.cell.array
    pick = np.random.default_rng(0).choice(group.size, 40, replace=False)
    moved = np.stack([(R @ M[k] + t[k])[group.perms[k]] for k in pick])
    E0, F0 = model.predict(R[None])
    E, F = model.predict(moved)
    np.testing.assert_allclose(E, E0[0], rtol=0, atol=1e-9 * abs(E0[0]))
    np.testing.assert_allclose(F, np.stack([(F0[0] @ M[k])[group.perms[k]] for k in pick]), rtol=0, atol=1e-8)


def test_no_lattice_symmetry_falls_back_with_the_reason_or_fails_when_one_is_asked_for():
    rng = np.random.default_rng(0)
    cell = np.eye(3) * 7.0
    R = rng.uniform(0, 7, size=(4, 12, 3))  # a liquid: no two frames share sites
    liquid = Dataset(R, np.full(12, 3), rng.normal(size=4), rng.normal(size=(4, 12, 3)), energy_unit="eV",
                     length_unit="Ang", cell=cell)
    with pytest.warns(UserWarning, match="No lattice symmetry: no two of the 4 training frames share atom sites"):
        model = BIGDMLRegressor(sigma=0.5).fit(liquid)
    assert model.symmetry_["used"] == "none" and model.symmetry_["n_perms"] == 1 and len(model.perms_) == 1
    assert "share atom sites" in model.symmetry_["reason"]
    with pytest.raises(ValueError, match="perms='full' needs a lattice symmetry.*perms='none'"):
        BIGDMLRegressor(sigma=0.5, perms="full").fit(liquid)


def test_a_group_larger_than_max_perms_is_an_error_with_the_sizes(bcc_cu):
    atoms, ds = bcc_cu
    with pytest.raises(ValueError, match=r"768 operations, more than max_perms=100.*'translations' 16, 'site' 48"):
        BIGDMLRegressor(sigma=0.5, reference=atoms.positions, max_perms=100).fit(ds[:3])
    model = BIGDMLRegressor(sigma=0.5, reference=atoms.positions, perms="site", max_perms=100).fit(ds[:3])
    assert model.symmetry_["used"] == "site" and model.symmetry_["n_perms"] == 48


def test_energy_constraints_by_default_in_the_closed_form_and_the_constant_with_pcg(bcc_cu):
    atoms, ds = bcc_cu
    kw = dict(sigma=0.5, perms="translations", reference=atoms.positions)
    auto = BIGDMLRegressor(**kw).fit(ds[:4])
    explicit = BIGDMLRegressor(use_E_cstr=True, **kw).fit(ds[:4])
    assert auto.solve_info_["use_E_cstr"] and auto.alphas_E_ is not None
    for a, b in zip(auto.predict(ds[4:]), explicit.predict(ds[4:])):
        np.testing.assert_array_equal(a, b)
    pcg = BIGDMLRegressor(solver="pcg", preconditioner="cholesky", tol=1e-10, **kw).fit(ds[:4])
    plain = BIGDMLRegressor(solver="cholesky", use_E_cstr=False, **kw).fit(ds[:4])
    assert not pcg.solve_info_["use_E_cstr"] and pcg.alphas_E_ is None
    np.testing.assert_allclose(pcg.predict(ds[4:])[0], plain.predict(ds[4:])[0], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="only supported by solver='cholesky'"):
        BIGDMLRegressor(solver="pcg", use_E_cstr=True, **kw).fit(ds[:4])
    with pytest.raises(ValueError, match="use_E_cstr='yes'"):
        BIGDMLRegressor(use_E_cstr="yes", **kw).fit(ds[:4])
