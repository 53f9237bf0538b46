"""The pair-structured dense kernel (no dense Jacobians) against the dense-Jacobian reference
(gdmlkit.kernels.dense, itself tested against double autograd in test_dense.py): molecules with a permutation
group, a bcc supercell with its 768 space-group operations, energy rows, rigid-motion-free bases, the lower
triangle, tiles and permutation chunks smaller than the problem; and the closed form that takes it."""

import numpy as np
import pytest
import torch
from ase.build import bulk

import gdmlkit.kernels.dense_pairs as dense_pairs
import gdmlkit.models.solve as solve
from gdmlkit import BIGDMLRegressor, GDMLRegressor, find_spacegroup_symmetry
from gdmlkit.descriptors import InverseDistanceDescriptor, PeriodicInverseDistanceDescriptor
from gdmlkit.kernels.dense import assemble_kernel
from gdmlkit.kernels.dense_pairs import assemble_pair_kernel
from gdmlkit.kernels.radial import GaussianKernel
from gdmlkit.symmetry import permutation_desc_index

from helpers import make

S3 = np.array([[0, 1, 2, 3, 4], [0, 2, 1, 3, 4], [1, 0, 2, 3, 4], [1, 2, 0, 3, 4], [2, 0, 1, 3, 4],
               [2, 1, 0, 3, 4]])  # a group on atoms 0-2


def _molecule(n=11, seed=3):  # 11: tiles of 8 and 3 geometries
    rng = np.random.default_rng(seed)
    R = torch.from_numpy(rng.normal(scale=1.2, size=(5, 3))[None] + 0.2 * rng.normal(size=(n, 5, 3)))
    desc = InverseDistanceDescriptor(5)
    return desc, R, torch.from_numpy(permutation_desc_index(S3))


def _compare(desc, R, dp, sigma, use_E, lower_only, basis, kernel=None):
    x, g = desc.transform(R)
    J = desc.jacobian(g) if basis is None else desc.jacobian(g) @ basis
    ref = assemble_kernel(x, J, dp, sigma, use_E=use_E, kernel=kernel)
    got = assemble_pair_kernel(x, g, desc._pairs("cpu"), dp, sigma, basis=basis, use_E=use_E, lower_only=lower_only,
                               kernel=kernel)
    if lower_only:
        ref, got = np.tril(ref), np.tril(got)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("use_E", [False, True])
@pytest.mark.parametrize("lower_only", [False, True])
@pytest.mark.parametrize("tile_floats", [dense_pairs.TILE_FLOATS, 500])  # one tile; 1-geometry tiles, 2-perm chunks
def test_molecule_with_permutations_equals_the_dense_jacobian_kernel(use_E, lower_only, tile_floats, monkeypatch):
    monkeypatch.setattr(dense_pairs, "TILE_FLOATS", tile_floats)
    desc, R, dp = _molecule()
    _compare(desc, R, dp, 2.0, use_E, lower_only, None)


def test_a_radial_base_kernel_equals_its_dense_jacobian_kernel():
    desc, R, dp = _molecule()
    _compare(desc, R, dp, 2.0, True, False, None, kernel=GaussianKernel())
    x, g = desc.transform(R)  # and differs from the Matérn one: the kernel is used, not ignored
    K_m = assemble_pair_kernel(x, g, desc._pairs("cpu"), dp, 2.0)
    assert np.abs(assemble_pair_kernel(x, g, desc._pairs("cpu"), dp, 2.0, kernel=GaussianKernel()) - K_m).max() > \
        1e-3 * np.abs(K_m).max()


def test_rigid_motion_free_bases_equal_the_projected_dense_kernel():
    desc, R, dp = _molecule()
    Q = desc.internal_frame(R).basis()
    _compare(desc, R, dp, 2.0, True, True, Q)


def test_supercell_with_its_full_space_group_equals_the_dense_jacobian_kernel():
    atoms = bulk("Cu", "bcc", a=2.9, cubic=True).repeat(2)
    group = find_spacegroup_symmetry(atoms.positions, atoms.numbers, atoms.cell[:])
    assert group.size == 768
    rng = np.random.default_rng(0)
    R = torch.from_numpy(atoms.positions[None] + rng.normal(scale=0.08, size=(3, 16, 3)))
    desc = PeriodicInverseDistanceDescriptor(16, atoms.cell[:])
    dp = torch.from_numpy(permutation_desc_index(group.perms))
    _compare(desc, R, dp, 0.5, True, True, desc.internal_frame(R).basis())


def test_the_closed_form_gives_the_same_model_on_either_path(monkeypatch):
    ds = make(n=8, n_atoms=5, seed=1, z=np.array([1, 1, 1, 6, 8]))
    models = []
    for kernel in (None, "gaussian"):
        for threshold in (1, 10**9):  # pair path always, never
            monkeypatch.setattr(solve, "PAIR_KERNEL_PERMS", threshold)
            models.append(GDMLRegressor(sigma=2.0, perms=S3, use_E_cstr=True, kernel=kernel).fit(ds))
    for pair, dense in (models[:2], models[2:]):
        a0, a1 = pair.alphas_, dense.alphas_  # an ill-conditioned random system: relative to the largest
        np.testing.assert_allclose(a0, a1, rtol=0, atol=1e-7 * np.abs(a1).max())
        assert np.abs(a0 - a1).max() > 0  # two computations, not one path twice
    assert np.abs(models[0].alphas_ - models[2].alphas_).max() > 1e-3 * np.abs(models[2].alphas_).max()


def test_bigdml_full_groups_take_the_pair_path(monkeypatch):
    calls = []
    monkeypatch.setattr(solve, "assemble_pair_kernel", lambda *a, **k: calls.append(1) or assemble_pair_kernel(*a, **k))
    atoms = bulk("Cu", "bcc", a=2.9, cubic=True).repeat(2)
    rng = np.random.default_rng(1)
    R = atoms.positions[None] + rng.normal(scale=0.05, size=(2, 16, 3))
    BIGDMLRegressor(sigma=0.5, perms="full", reference=atoms.positions, use_E_cstr=False).fit(
        R, rng.normal(size=R.shape), z=atoms.numbers, cell=atoms.cell[:])
    assert calls


def test_descriptor_permutations_not_induced_by_atom_permutations_are_refused():
    desc, R, dp = _molecule(n=2)
    x, g = desc.transform(R)
    bad = dp.clone()
    bad[1, :2] = bad[1, [1, 0]]  # swaps two descriptor entries only
    with pytest.raises(ValueError, match="not induced by atom permutations"):
        assemble_pair_kernel(x, g, desc._pairs("cpu"), bad, 2.0)
