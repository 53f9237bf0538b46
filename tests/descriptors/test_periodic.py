"""Periodic inverse-distance descriptor: the minimum image against a brute-force image search and ASE's
get_distances, slabs, the Jacobian against finite differences, cells too small for a unique image."""

import itertools

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.geometry import get_distances

from gdmlkit.descriptors import PeriodicInverseDistanceDescriptor, pair_indices

SKEWED = np.array([[9.0, 0.0, 0.0], [7.5, 4.0, 0.0], [2.0, 3.0, 8.5]])


def _crystal_in_cell(cell, n_per_axis=4, noise=0.3, seed=0):
    """A jittered grid of n^3 atoms filling `cell` (so every atom has close neighbours)."""
    rng = np.random.default_rng(seed)
    f = (np.stack(np.meshgrid(*[np.arange(n_per_axis)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) / n_per_axis
    return f @ cell + rng.normal(scale=noise, size=(len(f), 3))


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


def test_periodic_null_motions_are_the_translations():
    """In a fixed cell only the 3 translations leave minimum-image distances unchanged: J T = 0 and
    J has rank 3N - 3 (rotations are not null motions)."""
    R = _crystal_in_cell(SKEWED, n_per_axis=3, noise=0.2)
    desc = PeriodicInverseDistanceDescriptor(len(R), SKEWED)
    Rt = torch.from_numpy(R[None])
    J = desc.jacobian(desc.transform(Rt)[1])[0].numpy()
    T = desc.null_motions(Rt)[0].numpy()
    assert T.shape == (3 * len(R), 3)
    np.testing.assert_allclose(J @ T, 0.0, atol=1e-12 * np.abs(J).max())
    assert np.linalg.matrix_rank(J) == 3 * len(R) - 3
    assert desc.internal_frame(Rt).rank == 3 * len(R) - 3


def test_cell_too_small_for_a_unique_minimum_image():
    si = bulk("Si", "diamond", a=5.43)  # 2-atom primitive cell: nearest neighbours 2.35 A, half cell 1.92 A
    desc = PeriodicInverseDistanceDescriptor(2, si.cell.array)
    with pytest.raises(ValueError, match="too small for a unique minimum image"):
        desc.transform(torch.from_numpy(si.positions[None]))
    with pytest.raises(ValueError, match="singular"):
        PeriodicInverseDistanceDescriptor(2, np.ones((3, 3)))
    with pytest.raises(ValueError, match="pbc is False"):
        PeriodicInverseDistanceDescriptor(2, np.eye(3), pbc=False)
